/* hw/i8259.h: the PC's pair of 8259A programmable interrupt controllers.
 *
 * Master at 0x20/0x21, slave at 0xa0/0xa1 with its INT output on the master's IR2, and the
 * PIIX edge/level control registers (ELCR) at 0x4d0/0x4d1. Inputs are IRQ 0-15: device lines
 * made with irq_line(i8259_set_irq, pic, n). The output is the master's INT pin: the board
 * passes an IrqLine that sees every change of it, and the CPU side asks
 * i8259_intr_pending() ("is INTR asserted") and runs the acknowledge cycle with
 * i8259_intr_ack(), which returns the vector (a spurious IRQ 7/15 vector when the request went
 * away before the acknowledge, as the 8259A gives).
 *
 * Triggering: an edge-triggered input latches its request in IRR on the rising edge and keeps
 * it until the acknowledge, even if the line drops again first (devices here pulse their
 * lines; the datasheet's "IR must stay high until INTA" is not modelled for edges). A
 * level-triggered input (ELCR bit, or ICW1.LTIM for a whole chip) has IRR follow the line.
 */
#ifndef DUALVM_HW_I8259_H
#define DUALVM_HW_I8259_H

#include <stdbool.h>
#include <stdint.h>

#include "hw/ioport.h"
#include "hw/irq.h"

#define I8259_MASTER_BASE 0x20
#define I8259_SLAVE_BASE 0xa0
#define I8259_ELCR_BASE 0x4d0 /* ELCR1 (IRQ 0-7), ELCR2 (IRQ 8-15) */
#define I8259_CASCADE_IRQ 2

/* ICW1: written to the command port (A0=0) with D4 set */
#define ICW1_IC4 0x01  /* ICW4 follows */
#define ICW1_SNGL 0x02 /* single chip: no ICW3 */
#define ICW1_ADI 0x04  /* call address interval (MCS-80 only) */
#define ICW1_LTIM 0x08 /* level-triggered inputs */
#define ICW1_INIT 0x10

/* ICW4 */
#define ICW4_UPM 0x01  /* 8086 mode (else MCS-80/85) */
#define ICW4_AEOI 0x02 /* automatic end of interrupt */
#define ICW4_MS 0x04   /* buffered master/slave */
#define ICW4_BUF 0x08  /* buffered mode */
#define ICW4_SFNM 0x10 /* special fully nested mode */

/* OCW2: command port, D4=D3=0; R SL EOI in D7-D5, level in D2-D0 */
#define OCW2_LEVEL_MASK 0x07
#define OCW2_CMD_MASK 0xe0
#define OCW2_ROTATE_AEOI_CLEAR 0x00
#define OCW2_NONSPECIFIC_EOI 0x20
#define OCW2_NOP 0x40
#define OCW2_SPECIFIC_EOI 0x60
#define OCW2_ROTATE_AEOI_SET 0x80
#define OCW2_ROTATE_NONSPECIFIC_EOI 0xa0
#define OCW2_SET_PRIORITY 0xc0
#define OCW2_ROTATE_SPECIFIC_EOI 0xe0

/* OCW3: command port, D4=0 D3=1 */
#define OCW3_RIS 0x01  /* read ISR (else IRR) ... */
#define OCW3_RR 0x02   /* ... if RR is set */
#define OCW3_P 0x04    /* poll command */
#define OCW3_SEL 0x08  /* marks an OCW3 */
#define OCW3_SMM 0x20  /* special mask mode on/off ... */
#define OCW3_ESMM 0x40 /* ... if ESMM is set */

/* Poll word read after OCW3.P: I (an interrupt was pending) and W2-W0 (its level) */
#define I8259_POLL_INT 0x80

/* ELCR bits that are always edge (PIIX): IRQ 0, 1, 2 on the master, 8 and 13 on the slave */
#define I8259_ELCR1_MASK 0xf8
#define I8259_ELCR2_MASK 0xde

typedef struct I8259State I8259State;

/* Claim 0x20-0x21, 0xa0-0xa1 and 0x4d0-0x4d1. NULL if they are taken. intr sees the master's
 * INT output (may be unconnected). */
I8259State *i8259_init(IoBus *bus, IrqLine intr);
void i8259_free(I8259State *pic);

/* Back to the power-on state (both chips uninitialised, all masks open, ELCR all edge). */
void i8259_reset(I8259State *pic);

/* IrqHandler for the 16 inputs: opaque is the I8259State, n 0-15. IRQ 2 is the cascade input
 * and ignores outside callers. */
void i8259_set_irq(void *opaque, int n, int level);

/* The master's INT output. */
bool i8259_intr_pending(I8259State *pic);

/* The interrupt acknowledge cycle: the vector the CPU is to take. With nothing pending it is
 * the master's IR7 vector (spurious, no ISR bit set). */
int i8259_intr_ack(I8259State *pic);

/* Read-only views for tests and debugging: chip 0 = master, 1 = slave. */
uint8_t i8259_irr(I8259State *pic, int chip);
uint8_t i8259_isr(I8259State *pic, int chip);
uint8_t i8259_imr(I8259State *pic, int chip);

#endif
