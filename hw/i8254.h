/* hw/i8254.h: the 8254 programmable interval timer and the PC's system control port B.
 *
 * Three counters at base..base+2 and the control word register at base+3, clocked at
 * 1.193182 MHz from the virtual clock. Counter values and OUT levels are computed from virtual
 * time when they are looked at, never by ticking. A counter whose OUT pin is connected
 * (channel 0 -> IRQ 0) arms a timer for the next edge of its line: in modes 0, 1, 4 and 5 the
 * line follows OUT exactly; in modes 2 and 3 it stays high and each period's rising edge of
 * OUT is sent as a low-high pulse (one timer per period, the same edges for an edge-triggered
 * PIC), while status and port 0x61 reads show the datasheet's waveform (mode 2's low clock,
 * mode 3's square wave). Edges the run loop was late for are caught up (a few of them; more
 * than a second behind, the missed periods are dropped). Gates: channels 0 and 1 are tied
 * high; channel 2's gate is bit 0 of port 0x61.
 *
 * Port 0x61 (system control port B), registered by i8254_init_port61():
 *   write: bit 0 timer 2 gate, bit 1 speaker data enable, bits 2-3 parity/IOCHK NMI disables
 *   read:  those four bits, bit 4 refresh request toggle (every 15.085 us of virtual time),
 *          bit 5 timer 2 OUT, bits 6-7 NMI sources (never set here).
 * Everything is read-computed, so a calibration loop polling OUT2 needs no timers.
 *
 * Simplifications: a count takes effect at the write rather than one CLK later; in modes 2
 * and 3 a new count written while counting takes effect at the end of the current period
 * (the datasheet's mode 3 uses the end of the half period).
 */
#ifndef DUALVM_HW_I8254_H
#define DUALVM_HW_I8254_H

#include <stdbool.h>
#include <stdint.h>

#include "hw/clock.h"
#include "hw/ioport.h"
#include "hw/irq.h"

#define I8254_BASE 0x40
#define I8254_PORT61 0x61
#define I8254_FREQ 1193182 /* Hz: 14.31818 MHz / 12 */

/* Port offsets */
#define PIT_COUNTER0 0
#define PIT_COUNTER1 1
#define PIT_COUNTER2 2
#define PIT_CONTROL 3

/* Control word: SC1 SC0 RW1 RW0 M2 M1 M0 BCD */
#define PIT_CW_BCD 0x01
#define PIT_CW_MODE_SHIFT 1
#define PIT_CW_MODE_MASK 0x0e
#define PIT_CW_RW_SHIFT 4
#define PIT_CW_RW_MASK 0x30
#define PIT_CW_SC_SHIFT 6
#define PIT_CW_SC_MASK 0xc0
#define PIT_SC_READBACK 3 /* SC = 11 */

/* RW field */
#define PIT_RW_LATCH 0 /* counter latch command */
#define PIT_RW_LSB 1
#define PIT_RW_MSB 2
#define PIT_RW_LSB_MSB 3

/* Read-back command: 11 !COUNT !STATUS CNT2 CNT1 CNT0 0 */
#define PIT_RB_NOT_COUNT 0x20
#define PIT_RB_NOT_STATUS 0x10
#define PIT_RB_CNT2 0x08
#define PIT_RB_CNT1 0x04
#define PIT_RB_CNT0 0x02

/* Status byte: OUT, NULL COUNT, then the counter's RW, mode and BCD */
#define PIT_STATUS_OUT 0x80
#define PIT_STATUS_NULL_COUNT 0x40

/* Port 0x61 */
#define PORT61_GATE2 0x01
#define PORT61_SPEAKER 0x02
#define PORT61_PARITY_DISABLE 0x04
#define PORT61_IOCHK_DISABLE 0x08
#define PORT61_REFRESH 0x10
#define PORT61_OUT2 0x20
#define PORT61_IOCHK 0x40
#define PORT61_PARITY 0x80
#define PORT61_WRITABLE 0x0f
#define PORT61_REFRESH_NS 15085 /* DRAM refresh request period */

typedef struct I8254State I8254State;

/* Claim base..base+3. irq0 is channel 0's OUT (IRQ 0 on a PC). NULL if the ports are taken. */
I8254State *i8254_init(IoBus *bus, uint16_t base, Clock *clock, IrqLine irq0);
/* Claim port (0x61) for system control port B. Returns 0 or the io_register error. */
int i8254_init_port61(I8254State *pit, IoBus *bus, uint16_t port);
void i8254_free(I8254State *pit);

/* Power-on state, as QEMU's: every counter in mode 3 (LSB then MSB, binary) with count 65536
 * and counting, so IRQ 0 runs at 18.2 Hz until the guest programs channel 0; channel 2 waits
 * for its gate. */
void i8254_reset(I8254State *pit);

/* Gate inputs (channel 2's also follows port 0x61 bit 0) and OUT levels at this moment. */
void i8254_set_gate(I8254State *pit, int channel, bool level);
bool i8254_get_out(I8254State *pit, int channel);

#endif
