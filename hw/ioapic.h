/* hw/ioapic.h: the I/O APIC (Intel 82093AA), 24 interrupt input pins turned into APIC bus
 * messages for the local APIC (hw/apic.h).
 *
 * Registers: IOREGSEL at base+0x00 (the index, 8 bits, reads back) and IOWIN at base+0x10 (the
 * selected register), base 0xFEC00000 on a PC, 4 KiB decoded. Indexed registers: ID (bits
 * 24-27), version 0x00170011 (version 0x11, 24 entries), arbitration ID (loaded from the ID),
 * and the 24 redirection entries, low dword at 0x10+2n, high dword at 0x11+2n: vector,
 * delivery mode (fixed, lowest priority, SMI, NMI, INIT, ExtINT), destination mode and
 * destination (bits 56-63), polarity, trigger mode, mask (set after reset), and the read-only
 * delivery status (always idle: delivery is immediate) and Remote IRR.
 *
 * Pins (ioapic_set_irq): the level given is the logical one, 1 = asserted, whatever the
 * entry's polarity says (the board's lines are active high; the polarity bit is kept for the
 * guest to read back, as QEMU does). Edge-triggered: a message on each rising edge of an
 * unmasked pin; an edge on a masked pin is lost (datasheet). Level-triggered: a message while
 * the pin is asserted and Remote IRR is clear; a fixed or lowest-priority message the local
 * APIC takes sets Remote IRR, which the local APIC's EOI of that vector clears
 * (ioapic_eoi), and if the pin is still asserted the interrupt goes again. Unmasking an
 * asserted level-triggered pin sends it. Changing an entry to edge clears its Remote IRR.
 */
#ifndef DUALVM_HW_IOAPIC_H
#define DUALVM_HW_IOAPIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hw/apic.h"
#include "hw/memory.h"

#define IOAPIC_DEFAULT_BASE 0xfec00000ull
#define IOAPIC_MMIO_SIZE 0x1000ull
#define IOAPIC_NUM_PINS 24

/* Direct registers (offsets in the window) */
#define IOAPIC_IOREGSEL 0x00
#define IOAPIC_IOWIN 0x10

/* Indirect registers (IOREGSEL values) */
#define IOAPIC_REG_ID 0x00
#define IOAPIC_REG_VER 0x01
#define IOAPIC_REG_ARB 0x02
#define IOAPIC_REG_REDTBL 0x10 /* entry n: 0x10 + 2n (low), 0x11 + 2n (high) */

#define IOAPIC_ID_SHIFT 24
#define IOAPIC_ID_MASK 0x0f000000u
#define IOAPIC_VERSION_VALUE 0x00170011u /* max redirection entry 23, version 0x11 */

/* Redirection entry, low dword (delivery modes are APIC_DM_*) */
#define IOAPIC_RTE_VECTOR 0x000000ffu
#define IOAPIC_RTE_DM_MASK 0x00000700u
#define IOAPIC_RTE_DM_SHIFT 8
#define IOAPIC_RTE_DEST_LOGICAL 0x00000800u
#define IOAPIC_RTE_DELIVS 0x00001000u
#define IOAPIC_RTE_POLARITY_LOW 0x00002000u
#define IOAPIC_RTE_REMOTE_IRR 0x00004000u
#define IOAPIC_RTE_LEVEL 0x00008000u
#define IOAPIC_RTE_MASKED 0x00010000u
/* ... and high dword */
#define IOAPIC_RTE_DEST_SHIFT 24

/* Where the messages go; deliver returns whether a local APIC took it. */
typedef struct IoapicBoard {
    bool (*deliver)(void *opaque, const ApicMsg *msg);
    void *opaque;
} IoapicBoard;

typedef struct IoapicState IoapicState;

/* Map the registers at base in as, with ID id after reset. NULL with the reason in err if the
 * range is taken. */
IoapicState *ioapic_init(AddressSpace *as, uint64_t base, uint8_t id, const IoapicBoard *board,
                         char *err, size_t errlen);
void ioapic_free(IoapicState *s);

/* Every entry masked (and otherwise zero), IOREGSEL 0, ID back to the one given at init. Pin
 * levels are inputs and stay. */
void ioapic_reset(IoapicState *s);

/* IrqHandler for the pins: opaque the IoapicState, n 0-23. */
void ioapic_set_irq(void *opaque, int n, int level);

/* The local APIC's EOI of a level-triggered vector (broadcast to every IOAPIC). */
void ioapic_eoi(IoapicState *s, uint8_t vector);

#endif
