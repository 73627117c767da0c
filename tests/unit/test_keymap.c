/* ui/keymap: every key of a PC-105 keyboard (and the extra keys the map has) gives the guest
 * the scan code set 1 bytes IBM's and Microsoft's documentation give for it.
 *
 * The expectations below are written by key name from that documentation (IBM's Enhanced
 * Keyboard set 1 table, Microsoft's "Keyboard Scan Code Specification" appendix C), as the
 * bytes a guest reads, not as keymap.c's numbers: each key goes from its SDL name through
 * keymap_from_sdl() into a real i8042 and the bytes come out of port 0x60, once with the
 * keyboard in its default set 2 and the controller translating (as every PC runs it) and once
 * with the keyboard switched to set 1 and no translation. Both must give the documented bytes.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include <SDL.h>

#include "hw/i8042.h"
#include "ui/keymap.h"

typedef struct KeyDoc {
    const char *key;  /* as the documentation names it */
    const char *sdl;  /* SDL's name for the key position, or NULL: then sdl_code */
    int sdl_code;     /* for positions SDL 2 gives no name */
    const char *make; /* bytes, hex, as the guest reads them */
    const char *brk;  /* NULL: the make bytes with bit 7 set on the last one */
} KeyDoc;

/* The PC-105 layout, row by row, then the extra keys. */
static const KeyDoc pc105[] = {
    {"Esc", "Escape", 0, "01", NULL},
    {"F1", "F1", 0, "3B", NULL},
    {"F2", "F2", 0, "3C", NULL},
    {"F3", "F3", 0, "3D", NULL},
    {"F4", "F4", 0, "3E", NULL},
    {"F5", "F5", 0, "3F", NULL},
    {"F6", "F6", 0, "40", NULL},
    {"F7", "F7", 0, "41", NULL},
    {"F8", "F8", 0, "42", NULL},
    {"F9", "F9", 0, "43", NULL},
    {"F10", "F10", 0, "44", NULL},
    {"F11", "F11", 0, "57", NULL},
    {"F12", "F12", 0, "58", NULL},
    {"Print Screen", "PrintScreen", 0, "E0 2A E0 37", "E0 B7 E0 AA"},
    {"Scroll Lock", "ScrollLock", 0, "46", NULL},
    {"Pause/Break", "Pause", 0, "E1 1D 45 E1 9D C5", ""},

    {"` ~", "`", 0, "29", NULL},
    {"1 !", "1", 0, "02", NULL},
    {"2 @", "2", 0, "03", NULL},
    {"3 #", "3", 0, "04", NULL},
    {"4 $", "4", 0, "05", NULL},
    {"5 %", "5", 0, "06", NULL},
    {"6 ^", "6", 0, "07", NULL},
    {"7 &", "7", 0, "08", NULL},
    {"8 *", "8", 0, "09", NULL},
    {"9 (", "9", 0, "0A", NULL},
    {"0 )", "0", 0, "0B", NULL},
    {"- _", "-", 0, "0C", NULL},
    {"= +", "=", 0, "0D", NULL},
    {"Backspace", "Backspace", 0, "0E", NULL},

    {"Tab", "Tab", 0, "0F", NULL},
    {"Q", "Q", 0, "10", NULL},
    {"W", "W", 0, "11", NULL},
    {"E", "E", 0, "12", NULL},
    {"R", "R", 0, "13", NULL},
    {"T", "T", 0, "14", NULL},
    {"Y", "Y", 0, "15", NULL},
    {"U", "U", 0, "16", NULL},
    {"I", "I", 0, "17", NULL},
    {"O", "O", 0, "18", NULL},
    {"P", "P", 0, "19", NULL},
    {"[ {", "[", 0, "1A", NULL},
    {"] }", "]", 0, "1B", NULL},
    {"\\ | (US)", "\\", 0, "2B", NULL},
    {"Enter", "Return", 0, "1C", NULL},

    {"Caps Lock", "CapsLock", 0, "3A", NULL},
    {"A", "A", 0, "1E", NULL},
    {"S", "S", 0, "1F", NULL},
    {"D", "D", 0, "20", NULL},
    {"F", "F", 0, "21", NULL},
    {"G", "G", 0, "22", NULL},
    {"H", "H", 0, "23", NULL},
    {"J", "J", 0, "24", NULL},
    {"K", "K", 0, "25", NULL},
    {"L", "L", 0, "26", NULL},
    {"; :", ";", 0, "27", NULL},
    {"' \"", "'", 0, "28", NULL},
    {"# ~ (ISO, left of Enter)", "#", 0, "2B", NULL},

    {"Left Shift", "Left Shift", 0, "2A", NULL},
    {"< > | (ISO 102nd key)", NULL, SDL_SCANCODE_NONUSBACKSLASH, "56", NULL},
    {"Z", "Z", 0, "2C", NULL},
    {"X", "X", 0, "2D", NULL},
    {"C", "C", 0, "2E", NULL},
    {"V", "V", 0, "2F", NULL},
    {"B", "B", 0, "30", NULL},
    {"N", "N", 0, "31", NULL},
    {"M", "M", 0, "32", NULL},
    {", <", ",", 0, "33", NULL},
    {". >", ".", 0, "34", NULL},
    {"/ ?", "/", 0, "35", NULL},
    {"Right Shift", "Right Shift", 0, "36", NULL},

    {"Left Ctrl", "Left Ctrl", 0, "1D", NULL},
    {"Left Windows", "Left GUI", 0, "E0 5B", NULL},
    {"Left Alt", "Left Alt", 0, "38", NULL},
    {"Space", "Space", 0, "39", NULL},
    {"Right Alt (AltGr)", "Right Alt", 0, "E0 38", NULL},
    {"Right Windows", "Right GUI", 0, "E0 5C", NULL},
    {"Application (Menu)", "Application", 0, "E0 5D", NULL},
    {"Right Ctrl", "Right Ctrl", 0, "E0 1D", NULL},

    {"Insert", "Insert", 0, "E0 52", NULL},
    {"Home", "Home", 0, "E0 47", NULL},
    {"Page Up", "PageUp", 0, "E0 49", NULL},
    {"Delete", "Delete", 0, "E0 53", NULL},
    {"End", "End", 0, "E0 4F", NULL},
    {"Page Down", "PageDown", 0, "E0 51", NULL},
    {"Up Arrow", "Up", 0, "E0 48", NULL},
    {"Left Arrow", "Left", 0, "E0 4B", NULL},
    {"Down Arrow", "Down", 0, "E0 50", NULL},
    {"Right Arrow", "Right", 0, "E0 4D", NULL},

    {"Num Lock", "Numlock", 0, "45", NULL},
    {"Keypad /", "Keypad /", 0, "E0 35", NULL},
    {"Keypad *", "Keypad *", 0, "37", NULL},
    {"Keypad -", "Keypad -", 0, "4A", NULL},
    {"Keypad 7 Home", "Keypad 7", 0, "47", NULL},
    {"Keypad 8 Up", "Keypad 8", 0, "48", NULL},
    {"Keypad 9 PgUp", "Keypad 9", 0, "49", NULL},
    {"Keypad +", "Keypad +", 0, "4E", NULL},
    {"Keypad 4 Left", "Keypad 4", 0, "4B", NULL},
    {"Keypad 5", "Keypad 5", 0, "4C", NULL},
    {"Keypad 6 Right", "Keypad 6", 0, "4D", NULL},
    {"Keypad 1 End", "Keypad 1", 0, "4F", NULL},
    {"Keypad 2 Down", "Keypad 2", 0, "50", NULL},
    {"Keypad 3 PgDn", "Keypad 3", 0, "51", NULL},
    {"Keypad 0 Ins", "Keypad 0", 0, "52", NULL},
    {"Keypad . Del", "Keypad .", 0, "53", NULL},
    {"Keypad Enter", "Keypad Enter", 0, "E0 1C", NULL},
};

/* Keys beyond PC-105 that the map carries (Microsoft's table). */
static const KeyDoc extra[] = {
    {"Keypad =", "Keypad =", 0, "59", NULL},
    {"Keypad , (Brazil)", "Keypad ,", 0, "7E", NULL},
    {"F13", "F13", 0, "64", NULL},
    {"F14", "F14", 0, "65", NULL},
    {"F15", "F15", 0, "66", NULL},
    {"F16", "F16", 0, "67", NULL},
    {"F17", "F17", 0, "68", NULL},
    {"F18", "F18", 0, "69", NULL},
    {"F19", "F19", 0, "6A", NULL},
    {"F20", "F20", 0, "6B", NULL},
    {"F21", "F21", 0, "6C", NULL},
    {"F22", "F22", 0, "6D", NULL},
    {"F23", "F23", 0, "6E", NULL},
    {"International 1 (Ro)", NULL, SDL_SCANCODE_INTERNATIONAL1, "73", NULL},
    {"International 2 (Katakana/Hiragana)", NULL, SDL_SCANCODE_INTERNATIONAL2, "70", NULL},
    {"International 3 (Yen)", NULL, SDL_SCANCODE_INTERNATIONAL3, "7D", NULL},
    {"International 4 (Henkan)", NULL, SDL_SCANCODE_INTERNATIONAL4, "79", NULL},
    {"International 5 (Muhenkan)", NULL, SDL_SCANCODE_INTERNATIONAL5, "7B", NULL},
    {"International 6 (PC-98 keypad ,)", NULL, SDL_SCANCODE_INTERNATIONAL6, "5C", NULL},
    {"LANG3 (Katakana)", NULL, SDL_SCANCODE_LANG3, "78", NULL},
    {"LANG4 (Hiragana)", NULL, SDL_SCANCODE_LANG4, "77", NULL},
    {"LANG5 (Zenkaku/Hankaku)", NULL, SDL_SCANCODE_LANG5, "76", NULL},
    {"Scan Next Track", "AudioNext", 0, "E0 19", NULL},
    {"Scan Previous Track", "AudioPrev", 0, "E0 10", NULL},
    {"Stop", "AudioStop", 0, "E0 24", NULL},
    {"Play/Pause", "AudioPlay", 0, "E0 22", NULL},
    {"Mute", "AudioMute", 0, "E0 20", NULL},
    {"Mute (keyboard page)", "Mute", 0, "E0 20", NULL},
    {"Volume Up", "VolumeUp", 0, "E0 30", NULL},
    {"Volume Down", "VolumeDown", 0, "E0 2E", NULL},
    {"Media Select", "MediaSelect", 0, "E0 6D", NULL},
    {"Mail", "Mail", 0, "E0 6C", NULL},
    {"Calculator", "Calculator", 0, "E0 21", NULL},
    {"My Computer", "Computer", 0, "E0 6B", NULL},
    {"WWW Search", "AC Search", 0, "E0 65", NULL},
    {"WWW Home", "AC Home", 0, "E0 32", NULL},
    {"WWW Back", "AC Back", 0, "E0 6A", NULL},
    {"WWW Forward", "AC Forward", 0, "E0 69", NULL},
    {"WWW Stop", "AC Stop", 0, "E0 68", NULL},
    {"WWW Refresh", "AC Refresh", 0, "E0 67", NULL},
    {"WWW Favorites", "AC Bookmarks", 0, "E0 66", NULL},
    {"System Power", "Power", 0, "E0 5E", NULL},
    {"System Sleep", "Sleep", 0, "E0 5F", NULL},
    {"SysRq (Alt+Print Screen)", "SysReq", 0, "54", NULL},
};

static IoBus *bus;
static I8042State *kbc;

static uint8_t status(void)
{
    return (uint8_t)io_read(bus, I8042_CMD_PORT, 1);
}

/* Everything the guest can read now, as "XX XX ..." */
static void drain(char *out, size_t len)
{
    size_t n = 0;
    out[0] = 0;
    for (int i = 0; i < 64 && (status() & I8042_STR_OBF); i++) {
        unsigned b = io_read(bus, I8042_DATA_PORT, 1) & 0xff;
        n += (size_t)snprintf(out + n, len - n, "%s%02X", n ? " " : "", b);
    }
}

static void write_cmd_byte(uint8_t v)
{
    io_write(bus, I8042_CMD_PORT, I8042_CMD_WRITE_RAM, 1);
    io_write(bus, I8042_DATA_PORT, v, 1);
}

/* The machine as a PC BIOS leaves it: keyboard in set 2, controller translating to set 1. */
static void setup_translated(void)
{
    bus = io_bus_new();
    kbc = i8042_init(bus, irq_line(NULL, NULL, 0), irq_line(NULL, NULL, 0), NULL);
    cr_assert_not_null(kbc);
    write_cmd_byte(I8042_CTR_KBDINT | I8042_CTR_SYS | I8042_CTR_XLATE);
}

/* The keyboard itself in set 1, translation off. */
static void setup_native(void)
{
    setup_translated();
    write_cmd_byte(I8042_CTR_KBDINT | I8042_CTR_SYS);
    char got[128];
    io_write(bus, I8042_DATA_PORT, KBD_CMD_SCANCODE, 1);
    io_write(bus, I8042_DATA_PORT, 1, 1);
    drain(got, sizeof(got));
    cr_assert_str_eq(got, "FA FA", "select set 1: %s", got);
}

static void teardown(void)
{
    i8042_free(kbc);
    io_bus_free(bus);
}

static SDL_Scancode doc_scancode(const KeyDoc *k)
{
    if (!k->sdl)
        return (SDL_Scancode)k->sdl_code;
    SDL_Scancode sc = SDL_GetScancodeFromName(k->sdl);
    cr_assert_neq(sc, SDL_SCANCODE_UNKNOWN, "%s: SDL has no key named '%s'", k->key, k->sdl);
    return sc;
}

static void expected_break(const KeyDoc *k, char *out, size_t len)
{
    if (k->brk) {
        snprintf(out, len, "%s", k->brk);
        return;
    }
    snprintf(out, len, "%s", k->make);
    size_t n = strlen(out);
    unsigned last = (unsigned)strtoul(out + n - 2, NULL, 16);
    snprintf(out + n - 2, len - (n - 2), "%02X", last | 0x80);
}

static void check_keys(const KeyDoc *keys, size_t n)
{
    char got[128], want[64];
    for (size_t i = 0; i < n; i++) {
        const KeyDoc *k = &keys[i];
        unsigned key = keymap_from_sdl(doc_scancode(k));
        cr_assert_neq(key, 0, "%s: not mapped", k->key);
        i8042_key_event(kbc, key, true);
        drain(got, sizeof(got));
        cr_expect_str_eq(got, k->make, "%s pressed: guest reads '%s', documented '%s'", k->key, got,
                         k->make);
        i8042_key_event(kbc, key, false);
        drain(got, sizeof(got));
        expected_break(k, want, sizeof(want));
        cr_expect_str_eq(got, want, "%s released: guest reads '%s', documented '%s'", k->key, got,
                         want);
    }
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

Test(keymap, pc105_translated, .init = setup_translated, .fini = teardown)
{
    /* 105 keys, and the US keyboard's "\ |" key, which is the ISO "# ~" key's position and code
     * under another SDL scancode: both are listed */
    cr_assert_eq(N(pc105), 105 + 1, "the table has %zu keys", N(pc105));
    check_keys(pc105, N(pc105));
}

Test(keymap, pc105_native_set1, .init = setup_native, .fini = teardown)
{
    check_keys(pc105, N(pc105));
}

Test(keymap, extra_keys, .init = setup_translated, .fini = teardown)
{
    check_keys(extra, N(extra));
}

Test(keymap, extra_keys_native_set1, .init = setup_native, .fini = teardown)
{
    check_keys(extra, N(extra));
}

/* Two host keys give one PC key only where the documentation says they are one key. */
Test(keymap, distinct_codes)
{
    static unsigned char seen[0x10000];
    memset(seen, 0, sizeof(seen));
    for (int sc = 0; sc < SDL_NUM_SCANCODES; sc++) {
        unsigned key = keymap_from_sdl((SDL_Scancode)sc);
        if (!key)
            continue;
        cr_assert_lt(key, 0x10000u);
        if (seen[key]) {
            bool alias = (key == 0x2b && (sc == SDL_SCANCODE_NONUSHASH)) ||
                         (key == (I8042_KEY_E0 | 0x20) && sc == SDL_SCANCODE_AUDIOMUTE);
            cr_expect(alias, "SDL scancode %d (%s) repeats PC key 0x%x", sc,
                      SDL_GetScancodeName((SDL_Scancode)sc), key);
        }
        seen[key] = 1;
    }
}

Test(keymap, unmapped_keys)
{
    cr_expect_eq(keymap_from_sdl(SDL_SCANCODE_UNKNOWN), 0);
    cr_expect_eq(keymap_from_sdl(SDL_SCANCODE_KP_HEXADECIMAL), 0);
    cr_expect_eq(keymap_from_sdl(SDL_SCANCODE_MODE), 0);
    cr_expect_eq(keymap_from_sdl((SDL_Scancode)SDL_NUM_SCANCODES), 0);
    cr_expect_eq(keymap_from_sdl((SDL_Scancode)-1), 0);
}
