/* ui/keymap.h: host keys (SDL scancodes, i.e. USB HID usages: key positions, not the
 * characters a layout puts on them) to the keys of a PC keyboard, as i8042_key_event() takes
 * them: the key's scan code set 1 make code, | I8042_KEY_E0 for the 0xE0-prefixed keys,
 * I8042_KEY_PAUSE and I8042_KEY_PRINT for the two keys with sequences of their own.
 *
 * Covers the whole PC-105 layout (the 104 keys of a US PC keyboard and the 102nd key "<>|" of
 * ISO keyboards, which SDL calls NONUSBACKSLASH; the ISO "#~" key is the US backslash key's
 * position, 0x2B), plus the keypad "=" and ",", F13-F23, the Japanese keys (Ro, Yen, Henkan,
 * Muhenkan, Katakana/Hiragana) and the Microsoft multimedia and ACPI power keys, with the codes
 * of Microsoft's "Keyboard Scan Code Specification" (rev. 1.3a, appendix C). A guest sees these
 * codes whatever the host's layout: the guest's own keyboard layout gives them meaning.
 */
#ifndef DUALVM_UI_KEYMAP_H
#define DUALVM_UI_KEYMAP_H

#include <SDL_scancode.h>

/* The PC key at SDL scancode sc, or 0 if a PC keyboard has no such key. */
unsigned keymap_from_sdl(SDL_Scancode sc);

#endif
