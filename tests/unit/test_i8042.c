#include <criterion/criterion.h>

#include "hw/i8042.h"
#include "hw/port92.h"

static IoBus *bus;
static I8042State *kbc;
static int kbd_level, kbd_rises, aux_level, aux_rises;
static int a20_calls, a20_state, resets;

static void irq_handler(void *opaque, int n, int lvl)
{
    if (n == I8042_KBD_IRQ) {
        kbd_rises += lvl && !kbd_level;
        kbd_level = lvl;
    } else {
        cr_assert_eq(n, I8042_AUX_IRQ);
        aux_rises += lvl && !aux_level;
        aux_level = lvl;
    }
}

static void on_a20(void *opaque, bool on)
{
    cr_assert_eq(opaque, &a20_calls);
    a20_calls++;
    a20_state = on;
}

static void on_reset(void *opaque)
{
    resets++;
}

static void cmd(uint8_t c)
{
    io_write(bus, I8042_CMD_PORT, c, 1);
}

static void data(uint8_t v)
{
    io_write(bus, I8042_DATA_PORT, v, 1);
}

static uint8_t status(void)
{
    return (uint8_t)io_read(bus, I8042_CMD_PORT, 1);
}

/* Read the output buffer, which must be full. */
static uint8_t rd(void)
{
    cr_assert(status() & I8042_STR_OBF, "output buffer empty");
    return (uint8_t)io_read(bus, I8042_DATA_PORT, 1);
}

static void expect(const uint8_t *bytes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t b = rd();
        cr_assert_eq(b, bytes[i], "byte %zu: 0x%02x, expected 0x%02x", i, b, bytes[i]);
    }
    cr_assert_eq(status() & I8042_STR_OBF, 0, "more bytes than expected");
}

#define EXPECT(...)                                                                                \
    do {                                                                                           \
        const uint8_t e_[] = {__VA_ARGS__};                                                        \
        expect(e_, sizeof(e_));                                                                    \
    } while (0)

static void set_cmd_byte(uint8_t v)
{
    cmd(I8042_CMD_WRITE_RAM);
    data(v);
}

static void aux(uint8_t v)
{
    cmd(I8042_CMD_WRITE_AUX);
    data(v);
}

static void setup(void)
{
    bus = io_bus_new();
    kbd_level = kbd_rises = aux_level = aux_rises = 0;
    a20_calls = resets = 0;
    a20_state = 1;
    I8042Board board = {on_a20, on_reset, &a20_calls};
    kbc = i8042_init(bus, irq_line(irq_handler, NULL, I8042_KBD_IRQ),
                     irq_line(irq_handler, NULL, I8042_AUX_IRQ), &board);
    cr_assert_not_null(kbc);
}

static void teardown(void)
{
    i8042_free(kbc);
    io_bus_free(bus);
}

TestSuite(i8042, .init = setup, .fini = teardown);

Test(i8042, self_test_and_status)
{
    cr_assert_eq(status(), I8042_STR_INH);
    cmd(I8042_CMD_SELF_TEST);
    cr_assert_eq(status(), I8042_STR_INH | I8042_STR_OBF | I8042_STR_CMD | I8042_STR_SYS);
    cr_assert_eq(kbd_level, 1); /* KBDINT is on at power up */
    cr_assert_eq(rd(), I8042_SELF_TEST_OK);
    cr_assert_eq(kbd_level, 0);
    cr_assert_eq(status() & I8042_STR_OBF, 0);
    cmd(I8042_CMD_KBD_TEST);
    EXPECT(0x00);
    cmd(I8042_CMD_AUX_TEST);
    EXPECT(0x00);
    cmd(I8042_CMD_PASSWORD_TEST);
    EXPECT(I8042_PASSWORD_NONE);
    cr_assert_eq(kbd_rises, 4);
    cr_assert_eq(aux_rises, 0);
    /* an empty buffer reads as its last byte */
    cr_assert_eq(io_read(bus, I8042_DATA_PORT, 1), I8042_PASSWORD_NONE);
}

Test(i8042, command_byte)
{
    cmd(I8042_CMD_READ_RAM);
    EXPECT(I8042_CTR_KBDINT | I8042_CTR_AUXINT);
    set_cmd_byte(0x65);
    cr_assert_eq(status() & (I8042_STR_SYS | I8042_STR_CMD), I8042_STR_SYS); /* data write */
    cmd(I8042_CMD_READ_RAM);
    EXPECT(0x65);
    /* other RAM bytes */
    cmd(I8042_CMD_WRITE_RAM + 5);
    data(0x77);
    cmd(I8042_CMD_READ_RAM + 5);
    EXPECT(0x77);
    /* interface enables */
    cmd(I8042_CMD_KBD_DISABLE);
    cmd(I8042_CMD_AUX_DISABLE);
    cmd(I8042_CMD_READ_RAM);
    EXPECT(0x65 | I8042_CTR_KBDDIS | I8042_CTR_AUXDIS);
    cmd(I8042_CMD_KBD_ENABLE);
    cmd(I8042_CMD_AUX_ENABLE);
    cmd(I8042_CMD_READ_RAM);
    EXPECT(0x65 & ~(I8042_CTR_KBDDIS | I8042_CTR_AUXDIS));
    /* no IRQ 1 with KBDINT clear */
    set_cmd_byte(0x00);
    int before = kbd_rises;
    cmd(I8042_CMD_READ_RAM);
    cr_assert_eq(kbd_level, 0);
    EXPECT(0x00);
    cr_assert_eq(kbd_rises, before);
}

Test(i8042, keyboard_reset_sequence)
{
    data(KBD_CMD_RESET);
    cr_assert_eq(kbd_level, 1);
    EXPECT(KBD_REPLY_ACK, KBD_REPLY_BAT_OK);
    cr_assert_eq(kbd_rises, 2); /* one per byte */
    data(KBD_CMD_ECHO);
    EXPECT(KBD_CMD_ECHO);
    data(0x42); /* not a command */
    EXPECT(KBD_REPLY_RESEND);
    data(KBD_CMD_SET_LEDS);
    data(0x07);
    EXPECT(KBD_REPLY_ACK, KBD_REPLY_ACK);
    data(KBD_CMD_TYPEMATIC);
    data(0x20);
    EXPECT(KBD_REPLY_ACK, KBD_REPLY_ACK);
    data(KBD_CMD_RESEND);
    EXPECT(KBD_REPLY_ACK);
}

Test(i8042, identify_raw_and_translated)
{
    data(KBD_CMD_IDENTIFY);
    EXPECT(KBD_REPLY_ACK, KBD_REPLY_ID, KBD_REPLY_ID2);
    set_cmd_byte(I8042_CTR_KBDINT | I8042_CTR_XLATE);
    data(KBD_CMD_IDENTIFY);
    EXPECT(KBD_REPLY_ACK, KBD_REPLY_ID, 0x41); /* 0x83 goes through the translation */
    data(KBD_CMD_SCANCODE);
    data(0);
    EXPECT(KBD_REPLY_ACK, KBD_REPLY_ACK, 0x41); /* both bytes acknowledged, set 2 translated */
    set_cmd_byte(I8042_CTR_KBDINT);
    data(KBD_CMD_SCANCODE);
    data(0);
    EXPECT(KBD_REPLY_ACK, KBD_REPLY_ACK, 0x02);
}

Test(i8042, scancodes_translated_to_set1)
{
    set_cmd_byte(I8042_CTR_KBDINT | I8042_CTR_XLATE | I8042_CTR_SYS);
    i8042_key_event(kbc, 0x1e, true); /* A */
    i8042_key_event(kbc, 0x1e, false);
    EXPECT(0x1e, 0x9e);
    i8042_key_event(kbc, I8042_KEY_E0 | 0x48, true); /* cursor up */
    i8042_key_event(kbc, I8042_KEY_E0 | 0x48, false);
    EXPECT(0xe0, 0x48, 0xe0, 0xc8);
    i8042_key_event(kbc, 0x41, true); /* F7, set 2 0x83 */
    EXPECT(0x41);
    i8042_key_event(kbc, 0x01, false); /* Esc */
    EXPECT(0x81);
    i8042_key_event(kbc, I8042_KEY_PAUSE, true);
    EXPECT(0xe1, 0x1d, 0x45, 0xe1, 0x9d, 0xc5);
}

Test(i8042, scancodes_raw_set2_and_set1)
{
    i8042_key_event(kbc, 0x1e, true);
    i8042_key_event(kbc, 0x1e, false);
    EXPECT(0x1c, 0xf0, 0x1c);
    i8042_key_event(kbc, I8042_KEY_E0 | 0x48, false);
    EXPECT(0xe0, 0xf0, 0x75);
    i8042_key_event(kbc, 0x41, true);
    EXPECT(0x83);
    i8042_key_event(kbc, I8042_KEY_PRINT, true);
    EXPECT(0xe0, 0x12, 0xe0, 0x7c);
    data(KBD_CMD_SCANCODE);
    data(1);
    EXPECT(KBD_REPLY_ACK, KBD_REPLY_ACK);
    i8042_key_event(kbc, 0x1e, false);
    EXPECT(0x9e);
}

Test(i8042, one_byte_output_buffer)
{
    i8042_key_event(kbc, 0x10, true);
    i8042_key_event(kbc, 0x11, true);
    cr_assert_eq(kbd_rises, 1);
    cr_assert_eq(rd(), 0x15);   /* q */
    cr_assert_eq(kbd_rises, 2); /* refilled: a new edge */
    cr_assert_eq(rd(), 0x1d);   /* w */
    cr_assert_eq(kbd_level, 0);
}

Test(i8042, disabled_interface_holds_keys)
{
    cmd(I8042_CMD_KBD_DISABLE);
    i8042_key_event(kbc, 0x1e, true);
    cr_assert_eq(status() & I8042_STR_OBF, 0);
    cmd(I8042_CMD_KBD_ENABLE);
    EXPECT(0x1c);
    /* a byte sent to the keyboard enables the interface as well */
    cmd(I8042_CMD_KBD_DISABLE);
    data(KBD_CMD_ECHO);
    EXPECT(KBD_CMD_ECHO);
    cmd(I8042_CMD_READ_RAM);
    EXPECT(I8042_CTR_KBDINT | I8042_CTR_AUXINT);
}

Test(i8042, scanning_disable_drops_keys)
{
    data(KBD_CMD_DISABLE);
    EXPECT(KBD_REPLY_ACK);
    i8042_key_event(kbc, 0x1e, true);
    cr_assert_eq(status() & I8042_STR_OBF, 0);
    data(KBD_CMD_ENABLE);
    EXPECT(KBD_REPLY_ACK);
    i8042_key_event(kbc, 0x1e, true);
    EXPECT(0x1c);
}

Test(i8042, keyboard_buffer_overrun)
{
    uint8_t b[PS2_QUEUE_SIZE];
    for (int i = 0; i < PS2_QUEUE_SIZE; i++)
        b[i] = (uint8_t)(0x15 + i);
    /* the first byte goes straight to the output buffer, 15 more wait in the keyboard */
    cr_assert(i8042_kbd_put(kbc, b, 1));
    cr_assert(i8042_kbd_put(kbc, b + 1, PS2_QUEUE_SIZE - 1));
    cr_assert_not(i8042_kbd_put(kbc, b, 2)); /* room for one: the overrun code instead */
    cr_assert_not(i8042_kbd_put(kbc, b, 1)); /* full */
    for (int i = 0; i < PS2_QUEUE_SIZE; i++)
        cr_assert_eq(rd(), b[i]);
    EXPECT(0x00); /* set 2 overrun */
}

Test(i8042, replies_go_ahead_of_key_data)
{
    i8042_key_event(kbc, 0x10, true);
    i8042_key_event(kbc, 0x11, true);
    data(KBD_CMD_ECHO);
    EXPECT(0x15, KBD_CMD_ECHO, 0x1d); /* the buffered q was already out */
}

Test(i8042, mouse_reset_and_id)
{
    aux(AUX_CMD_RESET);
    cr_assert_eq(status() & I8042_STR_AUXDATA, I8042_STR_AUXDATA);
    cr_assert_eq(aux_level, 1);
    cr_assert_eq(kbd_level, 0);
    EXPECT(KBD_REPLY_ACK, KBD_REPLY_BAT_OK, AUX_ID_PS2);
    cr_assert_eq(aux_rises, 3);
    aux(AUX_CMD_GET_ID);
    EXPECT(KBD_REPLY_ACK, AUX_ID_PS2);
    /* the IntelliMouse knock */
    const uint8_t knock[] = {200, 100, 80};
    for (int i = 0; i < 3; i++) {
        aux(AUX_CMD_SET_RATE);
        aux(knock[i]);
        EXPECT(KBD_REPLY_ACK, KBD_REPLY_ACK);
    }
    aux(AUX_CMD_GET_ID);
    EXPECT(KBD_REPLY_ACK, AUX_ID_IMPS2);
    const uint8_t knock2[] = {200, 200, 80};
    for (int i = 0; i < 3; i++) {
        aux(AUX_CMD_SET_RATE);
        aux(knock2[i]);
        EXPECT(KBD_REPLY_ACK, KBD_REPLY_ACK);
    }
    aux(AUX_CMD_GET_ID);
    EXPECT(KBD_REPLY_ACK, AUX_ID_IMEX);
    aux(AUX_CMD_RESET);
    EXPECT(KBD_REPLY_ACK, KBD_REPLY_BAT_OK, AUX_ID_PS2);
    aux(AUX_CMD_GET_ID);
    EXPECT(KBD_REPLY_ACK, AUX_ID_PS2);
}

Test(i8042, mouse_status_and_settings)
{
    aux(AUX_CMD_STATUS);
    EXPECT(KBD_REPLY_ACK, 0x00, 2, 100);
    aux(AUX_CMD_SET_RES);
    aux(3);
    aux(AUX_CMD_SET_RATE);
    aux(40);
    aux(AUX_CMD_SCALE21);
    aux(AUX_CMD_ENABLE);
    EXPECT(KBD_REPLY_ACK, KBD_REPLY_ACK, KBD_REPLY_ACK, KBD_REPLY_ACK, KBD_REPLY_ACK,
           KBD_REPLY_ACK);
    i8042_mouse_event(kbc, 0, 0, 0, I8042_BTN_LEFT);
    EXPECT(AUX_PKT_ALWAYS1 | AUX_PKT_LEFT, 0, 0);
    aux(AUX_CMD_STATUS);
    EXPECT(KBD_REPLY_ACK, AUX_STATUS_ENABLED | AUX_STATUS_SCALE21 | AUX_STATUS_LEFT, 3, 40);
    aux(AUX_CMD_DEFAULTS);
    aux(AUX_CMD_STATUS);
    EXPECT(KBD_REPLY_ACK, KBD_REPLY_ACK, AUX_STATUS_LEFT, 2, 100);
}

Test(i8042, mouse_packets)
{
    i8042_mouse_event(kbc, 5, 5, 0, 0); /* reporting is off after power on */
    cr_assert_eq(status() & I8042_STR_OBF, 0);
    aux(AUX_CMD_ENABLE);
    EXPECT(KBD_REPLY_ACK);
    i8042_mouse_event(kbc, 5, 3, 0, I8042_BTN_LEFT | I8042_BTN_MIDDLE);
    /* y goes up in PS/2 terms: 3 down is -3 */
    EXPECT(AUX_PKT_ALWAYS1 | AUX_PKT_LEFT | AUX_PKT_MIDDLE | AUX_PKT_YSIGN, 0x05, 0xfd);
    i8042_mouse_event(kbc, -300, 0, 0, I8042_BTN_RIGHT);
    EXPECT(AUX_PKT_ALWAYS1 | AUX_PKT_RIGHT | AUX_PKT_XSIGN, 0x00, 0x00, /* -256 */
           AUX_PKT_ALWAYS1 | AUX_PKT_RIGHT | AUX_PKT_XSIGN, (uint8_t)-44, 0x00);
    cr_assert(aux_rises >= 6);
    cr_assert_eq(kbd_rises, 0);
    /* the wheel, once the knock made it an IntelliMouse */
    const uint8_t knock[] = {200, 100, 80};
    for (int i = 0; i < 3; i++) {
        aux(AUX_CMD_SET_RATE);
        aux(knock[i]);
        EXPECT(KBD_REPLY_ACK, KBD_REPLY_ACK);
    }
    i8042_mouse_event(kbc, 1, -1, 1, 0); /* scroll up */
    EXPECT(AUX_PKT_ALWAYS1, 0x01, 0x01, 0xff);
    /* the aux interface disabled holds the packet back */
    cmd(I8042_CMD_AUX_DISABLE);
    i8042_mouse_event(kbc, 2, 0, 0, 0);
    cr_assert_eq(status() & I8042_STR_OBF, 0);
    cmd(I8042_CMD_AUX_ENABLE);
    EXPECT(AUX_PKT_ALWAYS1, 0x02, 0x00, 0x00);
    aux(AUX_CMD_DISABLE);
    EXPECT(KBD_REPLY_ACK);
    i8042_mouse_event(kbc, 2, 0, 0, 0);
    cr_assert_eq(status() & I8042_STR_OBF, 0);
}

Test(i8042, mouse_remote_mode_and_wrap)
{
    aux(AUX_CMD_REMOTE);
    EXPECT(KBD_REPLY_ACK);
    i8042_mouse_event(kbc, 7, 0, 0, 0);
    cr_assert_eq(status() & I8042_STR_OBF, 0); /* nothing until asked */
    aux(AUX_CMD_READ_DATA);
    EXPECT(KBD_REPLY_ACK, AUX_PKT_ALWAYS1, 0x07, 0x00);
    aux(AUX_CMD_READ_DATA);
    EXPECT(KBD_REPLY_ACK, AUX_PKT_ALWAYS1, 0x00, 0x00);
    aux(AUX_CMD_WRAP);
    EXPECT(KBD_REPLY_ACK);
    aux(0x12);
    EXPECT(0x12);
    aux(AUX_CMD_RESET_WRAP);
    EXPECT(KBD_REPLY_ACK);
    aux(0x12);
    EXPECT(0xfe); /* a command again, and not a valid one */
}

Test(i8042, controller_writes_output_buffers)
{
    cmd(I8042_CMD_WRITE_KBD_OBUF);
    data(0x42);
    cr_assert_eq(status() & (I8042_STR_OBF | I8042_STR_AUXDATA), I8042_STR_OBF);
    cr_assert_eq(kbd_level, 1);
    EXPECT(0x42);
    cmd(I8042_CMD_WRITE_AUX_OBUF);
    data(0x43);
    cr_assert_eq(status() & (I8042_STR_OBF | I8042_STR_AUXDATA), I8042_STR_OBF | I8042_STR_AUXDATA);
    cr_assert_eq(aux_level, 1);
    EXPECT(0x43);
}

Test(i8042, a20_through_output_port)
{
    cr_assert(i8042_a20(kbc));
    cmd(I8042_CMD_READ_OUTPUT);
    EXPECT(I8042_OUT_RESET | I8042_OUT_A20 | I8042_OUT_LINES);
    cmd(I8042_CMD_WRITE_OUTPUT);
    data(0xdd); /* A20 off */
    cr_assert_eq(a20_calls, 1);
    cr_assert_eq(a20_state, 0);
    cr_assert_not(i8042_a20(kbc));
    cmd(I8042_CMD_WRITE_OUTPUT);
    data(0xdd); /* no change, no call */
    cr_assert_eq(a20_calls, 1);
    cmd(I8042_CMD_WRITE_OUTPUT);
    data(0xdf);
    cr_assert_eq(a20_calls, 2);
    cr_assert_eq(a20_state, 1);
    cmd(I8042_CMD_A20_DISABLE);
    cr_assert_eq(a20_state, 0);
    cmd(I8042_CMD_A20_ENABLE);
    cr_assert_eq(a20_state, 1);
    cr_assert_eq(resets, 0);
    /* the output port shows the interrupt lines of a full buffer */
    i8042_key_event(kbc, 0x1e, true);
    cmd(I8042_CMD_READ_OUTPUT); /* queued behind the key */
    cr_assert_eq(rd(), 0x1c);
    cr_assert_eq(rd() & (I8042_OUT_KBD_OBF | I8042_OUT_AUX_OBF), I8042_OUT_KBD_OBF);
}

Test(i8042, reset_pulses)
{
    cmd(I8042_CMD_RESET);
    cr_assert_eq(resets, 1);
    cmd(0xff); /* pulses nothing */
    cr_assert_eq(resets, 1);
    cmd(0xf0); /* all four lines */
    cr_assert_eq(resets, 2);
    cmd(I8042_CMD_WRITE_OUTPUT);
    data(0xde);
    cr_assert_eq(resets, 3);
}

Test(i8042, command_abandons_pending_data)
{
    cmd(I8042_CMD_WRITE_OUTPUT);
    cmd(I8042_CMD_READ_RAM);
    EXPECT(I8042_CTR_KBDINT | I8042_CTR_AUXINT);
    data(0x00); /* goes to the keyboard, not the output port */
    cr_assert_eq(resets, 0);
    EXPECT(KBD_REPLY_RESEND);
}

/* Port 0x92 lives with the A20 tests. */
static int p92_a20_calls, p92_a20, p92_resets;

static void p92_on_a20(void *opaque, bool on)
{
    p92_a20_calls++;
    p92_a20 = on;
}

static void p92_on_reset(void *opaque)
{
    p92_resets++;
}

Test(port92, a20_and_fast_reset)
{
    IoBus *b = io_bus_new();
    Port92Board board = {p92_on_a20, p92_on_reset, NULL};
    Port92State *p = port92_init(b, PORT92_PORT, &board);
    cr_assert_not_null(p);
    cr_assert_null(port92_init(b, PORT92_PORT, &board));
    cr_assert_eq(io_read(b, PORT92_PORT, 1), 0);
    io_write(b, PORT92_PORT, PORT92_A20, 1);
    cr_assert_eq(p92_a20_calls, 1);
    cr_assert_eq(p92_a20, 1);
    cr_assert(port92_a20(p));
    cr_assert_eq(io_read(b, PORT92_PORT, 1), PORT92_A20);
    io_write(b, PORT92_PORT, PORT92_A20 | PORT92_FAST_RESET, 1);
    cr_assert_eq(p92_resets, 1);
    cr_assert_eq(p92_a20_calls, 1);
    io_write(b, PORT92_PORT, PORT92_A20 | PORT92_FAST_RESET, 1); /* no new 0 -> 1 */
    cr_assert_eq(p92_resets, 1);
    io_write(b, PORT92_PORT, 0, 1);
    cr_assert_eq(p92_a20, 0);
    cr_assert_eq(p92_resets, 1);
    io_write(b, PORT92_PORT, PORT92_FAST_RESET, 1);
    cr_assert_eq(p92_resets, 2);
    port92_reset(p);
    cr_assert_eq(io_read(b, PORT92_PORT, 1), 0);
    port92_free(p);
    io_bus_free(b);
}
