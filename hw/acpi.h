/* hw/acpi.h: ACPI for a PC booted without firmware (-kernel bzImage): the fixed-hardware
 * power-management register block and the tables that describe it, enough for an OS to find
 * the APICs and to power the machine off the ACPI way (S5), as it does on QEMU's PC.
 *
 * The register block sits at I/O ACPI_PM_BASE, where QEMU's PIIX4 PM function has it once
 * SeaBIOS programs its PMBASE, but as fixed ISA ports (there is no PCI function 00:01.3 here):
 *   +0  PM1a_STS (16 bits)   write 1 to clear; no event ever sets a bit
 *   +2  PM1a_EN  (16 bits)   stored
 *   +4  PM1a_CNT (16 bits)   SCI_EN reads 1 (the machine is always in ACPI mode: the FADT has
 *                            no SMI_CMD); writing SLP_EN with SLP_TYP = ACPI_S5_SLP_TYP (the
 *                            value the DSDT's _S5 gives, 0 as on the PIIX4) powers off
 *   +8  PM_TMR   (32 bits)   the ACPI PM timer: 3.579545 MHz from the virtual clock, 32 bits
 *                            (FADT TMR_VAL_EXT), read only
 * There are no events, so the SCI (IRQ 9) is never raised; there are no sleep states but S5.
 *
 * The tables (ACPI 1.0 layouts, which every ACPI OS reads): RSDP -> RSDT -> FADT (-> FACS,
 * DSDT) and, with APICs, MADT. The DSDT holds the PCI host bridge \_SB.PCI0 (with the bus
 * number, I/O and memory windows of QEMU's PC in _CRS, no _PRT) and \_S5. The MADT lists the local
 * APIC, the IOAPIC (GSI base 0), the overrides ISA IRQ 0 -> GSI 2 and SCI IRQ 9 level/active high,
 * and LINT1 as NMI, as the board's MP table does.
 */
#ifndef DUALVM_HW_ACPI_H
#define DUALVM_HW_ACPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hw/clock.h"
#include "hw/ioport.h"

#define ACPI_PM_BASE 0x600
#define ACPI_PM_LEN 12
#define ACPI_PM1_EVT_OFF 0
#define ACPI_PM1_CNT_OFF 4
#define ACPI_PM_TMR_OFF 8
#define ACPI_PM_TIMER_HZ 3579545ull
#define ACPI_SCI_IRQ 9
#define ACPI_S5_SLP_TYP 0

#define ACPI_PM1_CNT_SCI_EN 0x0001
#define ACPI_PM1_CNT_SLP_TYP_SHIFT 10
#define ACPI_PM1_CNT_SLP_TYP_MASK (7u << ACPI_PM1_CNT_SLP_TYP_SHIFT)
#define ACPI_PM1_CNT_SLP_EN 0x2000

typedef struct AcpiPm AcpiPm;

/* Called when the guest enters S5 (soft off). */
typedef void (*AcpiPowerOffFn)(void *opaque);

/* Claims [base, base + ACPI_PM_LEN). NULL if the ports are taken. */
AcpiPm *acpi_pm_init(IoBus *io, uint16_t base, Clock *clock, AcpiPowerOffFn poweroff, void *opaque);
void acpi_pm_reset(AcpiPm *pm);
void acpi_pm_free(AcpiPm *pm);

/* What the tables describe. */
typedef struct AcpiConfig {
    uint16_t pm_base;        /* the register block above */
    uint32_t pci_hole_start; /* PCI memory window: from here to 0xfebfffff */
    uint8_t sci_irq;         /* ISA IRQ of the SCI */
    bool apic;               /* a local APIC and an IOAPIC: a MADT */
    uint32_t lapic_addr, ioapic_addr;
    uint8_t apic_id, ioapic_id;
} AcpiConfig;

/* Build the tables into buf, laid out for guest-physical address base (16-byte aligned; the
 * RSDP comes first, so an OS that scans 0xE0000-0xFFFFF finds it when base is in there).
 * Returns the bytes used, or 0 if len is too small (ACPI_TABLES_MAX always suffices). */
#define ACPI_TABLES_MAX 1024
size_t acpi_build_tables(uint8_t *buf, size_t len, uint64_t base, const AcpiConfig *cfg);

#endif
