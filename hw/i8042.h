/* hw/i8042.h: the 8042 keyboard controller with a PS/2 keyboard and a PS/2 mouse behind it.
 *
 * Data port 0x60, status/command port 0x64. The controller has the one-byte output buffer of
 * the real part: it takes the next byte from its own replies, then the keyboard, then the
 * mouse, only when the guest has read the previous one, and raises IRQ 1 (keyboard data and
 * controller replies, if the command byte's KIE is set) or IRQ 12 (mouse data, MIE) while the
 * buffer is full. With the command byte's XLATE bit the controller translates the keyboard's
 * bytes from scan code set 2 to set 1 (0xF0 prefixes folded into bit 7), as every PC does.
 *
 * The devices keep their own queues: 16 bytes of key or movement data, with replies to
 * commands sent ahead of them. A device whose interface is disabled in the command byte keeps
 * its bytes until it is enabled again.
 *
 * The output port drives the A20 gate (bit 1) and the system reset line (bit 0, active low):
 * the board's callbacks are told of each A20 change and of each reset pulse (command 0xFE,
 * 0xF0-0xFF with bit 0 clear, or an output port write with bit 0 clear).
 *
 * Input from the UI: i8042_key_event() for a key going down or up, i8042_kbd_put() for raw
 * bytes in the keyboard's current scan code set, i8042_mouse_event() for motion and buttons.
 * Like every device call they must come from the thread that runs the devices (the run loop's
 * poll hook, for instance).
 */
#ifndef DUALVM_HW_I8042_H
#define DUALVM_HW_I8042_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hw/ioport.h"
#include "hw/irq.h"

#define I8042_DATA_PORT 0x60
#define I8042_CMD_PORT 0x64
#define I8042_KBD_IRQ 1
#define I8042_AUX_IRQ 12

/* Status register (read 0x64) */
#define I8042_STR_OBF 0x01     /* output buffer full */
#define I8042_STR_IBF 0x02     /* input buffer full (never: writes are taken at once) */
#define I8042_STR_SYS 0x04     /* system flag */
#define I8042_STR_CMD 0x08     /* last write was to the command port */
#define I8042_STR_INH 0x10     /* 1 = keyboard not inhibited (key lock open) */
#define I8042_STR_AUXDATA 0x20 /* the output buffer holds mouse data */
#define I8042_STR_TIMEOUT 0x40
#define I8042_STR_PARITY 0x80

/* Command byte (controller RAM byte 0) */
#define I8042_CTR_KBDINT 0x01 /* IRQ 1 on keyboard output */
#define I8042_CTR_AUXINT 0x02 /* IRQ 12 on mouse output */
#define I8042_CTR_SYS 0x04
#define I8042_CTR_IGNKEYLOCK 0x08
#define I8042_CTR_KBDDIS 0x10
#define I8042_CTR_AUXDIS 0x20
#define I8042_CTR_XLATE 0x40

/* Controller commands (write 0x64) */
#define I8042_CMD_READ_RAM 0x20  /* 0x20-0x3f: read RAM byte n (0 = command byte) */
#define I8042_CMD_WRITE_RAM 0x60 /* 0x60-0x7f: write RAM byte n */
#define I8042_CMD_PASSWORD_TEST 0xa4
#define I8042_CMD_AUX_DISABLE 0xa7
#define I8042_CMD_AUX_ENABLE 0xa8
#define I8042_CMD_AUX_TEST 0xa9
#define I8042_CMD_SELF_TEST 0xaa
#define I8042_CMD_KBD_TEST 0xab
#define I8042_CMD_KBD_DISABLE 0xad
#define I8042_CMD_KBD_ENABLE 0xae
#define I8042_CMD_READ_INPUT 0xc0
#define I8042_CMD_READ_OUTPUT 0xd0
#define I8042_CMD_WRITE_OUTPUT 0xd1
#define I8042_CMD_WRITE_KBD_OBUF 0xd2
#define I8042_CMD_WRITE_AUX_OBUF 0xd3
#define I8042_CMD_WRITE_AUX 0xd4
#define I8042_CMD_A20_DISABLE 0xdd /* HP Vectra style, as QEMU */
#define I8042_CMD_A20_ENABLE 0xdf
#define I8042_CMD_READ_TEST 0xe0
#define I8042_CMD_PULSE 0xf0 /* 0xf0-0xff: pulse output port bits 0-3 where clear */
#define I8042_CMD_RESET 0xfe

#define I8042_SELF_TEST_OK 0x55
#define I8042_PASSWORD_NONE 0xf1

/* Output port */
#define I8042_OUT_RESET 0x01 /* 0 = system reset asserted */
#define I8042_OUT_A20 0x02
#define I8042_OUT_KBD_OBF 0x10 /* IRQ 1 */
#define I8042_OUT_AUX_OBF 0x20 /* IRQ 12 */
#define I8042_OUT_LINES 0xcc   /* clock and data lines, idle high */

/* Keyboard commands and replies */
#define KBD_CMD_SET_LEDS 0xed
#define KBD_CMD_ECHO 0xee
#define KBD_CMD_SCANCODE 0xf0
#define KBD_CMD_IDENTIFY 0xf2
#define KBD_CMD_TYPEMATIC 0xf3
#define KBD_CMD_ENABLE 0xf4
#define KBD_CMD_DISABLE 0xf5 /* defaults, scanning off */
#define KBD_CMD_DEFAULTS 0xf6
#define KBD_CMD_RESEND 0xfe
#define KBD_CMD_RESET 0xff
#define KBD_REPLY_BAT_OK 0xaa
#define KBD_REPLY_ID 0xab /* then 0x83: MF2 keyboard */
#define KBD_REPLY_ID2 0x83
#define KBD_REPLY_ACK 0xfa
#define KBD_REPLY_RESEND 0xfe

/* Mouse commands */
#define AUX_CMD_SCALE11 0xe6
#define AUX_CMD_SCALE21 0xe7
#define AUX_CMD_SET_RES 0xe8
#define AUX_CMD_STATUS 0xe9
#define AUX_CMD_STREAM 0xea
#define AUX_CMD_READ_DATA 0xeb
#define AUX_CMD_RESET_WRAP 0xec
#define AUX_CMD_WRAP 0xee
#define AUX_CMD_REMOTE 0xf0
#define AUX_CMD_GET_ID 0xf2
#define AUX_CMD_SET_RATE 0xf3
#define AUX_CMD_ENABLE 0xf4
#define AUX_CMD_DISABLE 0xf5
#define AUX_CMD_DEFAULTS 0xf6
#define AUX_CMD_RESEND 0xfe
#define AUX_CMD_RESET 0xff
#define AUX_ID_PS2 0x00
#define AUX_ID_IMPS2 0x03 /* wheel: after rates 200, 100, 80 */
#define AUX_ID_IMEX 0x04  /* wheel and buttons 4/5: then 200, 200, 80 */

/* Mouse status byte (reply to 0xE9) */
#define AUX_STATUS_RIGHT 0x01
#define AUX_STATUS_MIDDLE 0x02
#define AUX_STATUS_LEFT 0x04
#define AUX_STATUS_SCALE21 0x10
#define AUX_STATUS_ENABLED 0x20
#define AUX_STATUS_REMOTE 0x40

/* First byte of a movement packet */
#define AUX_PKT_LEFT 0x01
#define AUX_PKT_RIGHT 0x02
#define AUX_PKT_MIDDLE 0x04
#define AUX_PKT_ALWAYS1 0x08
#define AUX_PKT_XSIGN 0x10
#define AUX_PKT_YSIGN 0x20
#define AUX_PKT_XOVF 0x40
#define AUX_PKT_YOVF 0x80

/* Buttons for i8042_mouse_event */
#define I8042_BTN_LEFT 0x01
#define I8042_BTN_RIGHT 0x02
#define I8042_BTN_MIDDLE 0x04
#define I8042_BTN_4 0x08
#define I8042_BTN_5 0x10

/* Keys for i8042_key_event: the key's scan code set 1 make code, | I8042_KEY_E0 for the
 * 0xE0-prefixed keys (e.g. 0xe048 cursor up). Pause has no set 1 single code of its own. */
#define I8042_KEY_E0 0xe000
#define I8042_KEY_PRINT 0xe037
#define I8042_KEY_PAUSE 0xe11d

#define PS2_QUEUE_SIZE 16 /* a device's data buffer */

typedef struct I8042State I8042State;

typedef struct I8042Board {
    void (*a20)(void *opaque, bool enabled); /* output port bit 1 changed */
    void (*reset)(void *opaque);             /* the reset line was pulsed */
    void *opaque;
} I8042Board;

/* Claim 0x60 and 0x64. NULL if taken. board may have NULL callbacks. */
I8042State *i8042_init(IoBus *bus, IrqLine kbd_irq, IrqLine aux_irq, const I8042Board *board);
void i8042_free(I8042State *s);

/* Power-on state: command byte KBDINT|AUXINT (QEMU's), output port with A20 enabled, both
 * devices reset and empty. Does not call the board back. */
void i8042_reset(I8042State *s);

/* The output port's A20 bit. */
bool i8042_a20(I8042State *s);

/* Key down/up (see I8042_KEY_*), sent in the keyboard's current scan code set. Dropped while
 * scanning is disabled; an overrun code is sent if the keyboard's buffer has no room. */
void i8042_key_event(I8042State *s, unsigned key, bool down);

/* Raw bytes from the keyboard, as is. Returns false (and sends the overrun code, if there is
 * room for it) when they do not all fit, or when scanning is disabled. */
bool i8042_kbd_put(I8042State *s, const uint8_t *bytes, size_t n);

/* Relative motion in screen terms (dx right, dy down) and wheel clicks (dz > 0 away from the
 * user, i.e. scroll up), with the buttons now held (I8042_BTN_*). In stream mode with
 * reporting enabled packets go out at once (split when large, as long as the buffer has
 * room); in remote mode the motion waits for a 0xEB read; otherwise it is dropped. */
void i8042_mouse_event(I8042State *s, int dx, int dy, int dz, unsigned buttons);

#endif
