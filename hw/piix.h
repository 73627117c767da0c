/* hw/piix.h: the Intel 82371SB PIIX3 PCI-to-ISA bridge, as QEMU's i440FX board has it at
 * 00:01: function 0 the ISA bridge (8086:7000), function 1 the IDE controller (8086:7010).
 *
 * Function 0 carries the PIRQ route control registers (PIRQRC[A:D], 0x60-0x63): PCI INTx
 * lines, rotated by slot as on QEMU's board and SeaBIOS's tables (PIRQ = (pin + slot - 1) mod
 * 4), are steered onto the ISA IRQ the register names, unless IRQROUTEEN (bit 7) disables it or
 * the IRQ is one the datasheet reserves (0-2, 8, 13). The edge/level control registers (ELCR,
 * ports 0x4d0/0x4d1) belong to the interrupt controller, not here. Function 0 also owns the
 * reset control register (RCR) at I/O port 0xcf9, inside the PCI host's 0xcf8-0xcfb.
 *
 * Function 1 is configuration space only for now: class 01:01, programming interface 0x80
 * (both channels in legacy mode at 0x1f0/0x3f6 and 0x170/0x376, IRQ 14/15; bus master capable),
 * the IDETIM decode enables at 0x40/0x42 and the bus master base (BMIBA, BAR 4, 16 ports). The
 * IDE controller model attaches through piix3_ide_set_hooks().
 *
 * There is no function 3 (PIIX4 ACPI/PM 8086:7113): SeaBIOS boots without it (it then skips
 * the ACPI PM timer, SMM setup and the PM/SMBus I/O bases).
 */
#ifndef DUALVM_HW_PIIX_H
#define DUALVM_HW_PIIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hw/irq.h"
#include "hw/pci.h"

#define PIIX3_VENDOR_ID 0x8086
#define PIIX3_ISA_DEVICE_ID 0x7000
#define PIIX3_IDE_DEVICE_ID 0x7010
#define PIIX3_ISA_CLASS 0x060100 /* bridge, ISA */
#define PIIX3_IDE_CLASS 0x010180 /* mass storage, IDE, bus master + legacy */
#define PIIX3_SLOT 1

/* Function 0 (ISA bridge) registers */
enum {
    PIIX_IORT = 0x4c,   /* ISA I/O recovery timer */
    PIIX_XBCS = 0x4e,   /* X-bus chip select */
    PIIX_PIRQRC = 0x60, /* PIRQRC[A:D] at 0x60-0x63 */
    PIIX_TOM = 0x69,    /* top of memory */
    PIIX_MBIRQ0 = 0x70,
    PIIX_MBIRQ1 = 0x71,
    PIIX_MBDMA = 0x76, /* 0x76-0x77 */
    PIIX_PCSC = 0x78,  /* 0x78-0x79 */
    PIIX_APICBASE = 0x80,
    PIIX_DLC = 0x82,
    PIIX_SMICNTL = 0xa0,
    PIIX_SMIEN = 0xa2,
    PIIX_SEE = 0xa4,
    PIIX_FTMR = 0xa8,
    PIIX_SMIREQ = 0xaa,
    PIIX_CTLTMR = 0xac,
    PIIX_CTHTMR = 0xae,
};

#define PIIX_PIRQRC_IRQROUTEEN 0x80 /* 1: routing disabled */
#define PIIX_PIRQRC_IRQ_MASK 0x0f
#define PIIX_PIRQRC_WMASK 0x8f
#define PIIX_NUM_PIRQS 4
#define PIIX_NUM_ISA_IRQS 16

/* Reset control register at I/O 0xcf9 */
#define PIIX_RCR_PORT 0xcf9
#define PIIX_RCR_SRST 0x02 /* system (hard) reset rather than CPU-only */
#define PIIX_RCR_RCPU 0x04 /* 0 -> 1 starts the reset */

/* Function 1 (IDE) registers */
enum {
    PIIX_IDE_BMIBA = 0x20, /* BAR 4 */
    PIIX_IDE_IDETIM_PRI = 0x40,
    PIIX_IDE_IDETIM_SEC = 0x42,
    PIIX_IDE_SIDETIM = 0x44,
};
#define PIIX_IDE_IDETIM_IDE 0x8000 /* IDE decode enable for the channel */
#define PIIX_IDE_BMDMA_BAR 4
#define PIIX_IDE_BMDMA_SIZE 16

typedef struct Piix3 Piix3;

/* RCR: the guest asked for a reset (hard: SRST was set). */
typedef void (*PiixResetFn)(void *opaque, bool hard);

/* What the IDE controller model plugs in. Either may be NULL. */
typedef struct PiixIdeHooks {
    PciConfigWriteFn config_write; /* after any write to function 1's configuration space */
    PciBarMapFn bmdma_map;         /* BMIBA decoded at a new address (or unmapped) */
} PiixIdeHooks;

/* Functions 0 and 1 of slot on bus; takes the bus's 0xcf8-0xcfb pass-through for the RCR.
 * NULL with the reason in err. */
Piix3 *piix3_new(PciBus *bus, unsigned slot, char *err, size_t errlen);
/* Before pci_bus_free. */
void piix3_free(Piix3 *p);
void piix3_reset(Piix3 *p);

/* Where routed PCI interrupts go: the interrupt controller's 16 ISA inputs (copied). */
void piix3_set_isa_irqs(Piix3 *p, const IrqLine lines[PIIX_NUM_ISA_IRQS]);
void piix3_set_reset_handler(Piix3 *p, PiixResetFn fn, void *opaque);
void piix3_ide_set_hooks(Piix3 *p, const PiixIdeHooks *hooks, void *opaque);

/* The ISA IRQ PIRQ n (0-3 = A-D) is routed to, or -1. */
int piix3_pirq_irq(Piix3 *p, unsigned pirq);

PciDevice *piix3_isa(Piix3 *p);
PciDevice *piix3_ide(Piix3 *p);

#endif
