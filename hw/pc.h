/* hw/pc.h: the PC board. pc_new() builds a Machine: guest RAM, the firmware ROMs, the I/O bus,
 * the virtual clock and the devices, wired as on a PC; pc_free() undoes it.
 *
 * Memory map: RAM at 0-0x9ffff and 0x100000-ram_size (the hole between belongs to VGA and
 * option ROMs), the 256 KiB BIOS flash "bios" at 0xfffc0000-0xffffffff (starts as 0xff;
 * load_bios() puts an image of up to 256 KiB at its top, where the CPU starts at 0xfffffff0).
 * 0xC0000-0xFFFFF is the i440FX's PAM area: per segment either ROM (0xC0000-0xDFFFF a 128 KiB
 * option ROM space "pc.rom", zeroed, as QEMU's; 0xE0000-0xFFFFF the flash's last 128 KiB, the
 * same host memory) or the shadow RAM behind it (m->ram at the same offsets), as the guest
 * programs PAM0-6; each change goes to the engine through machine_mem_changed().
 * Chipset (as QEMU's "pc" machine): PCI configuration mechanism #1 at 0xcf8/0xcfc, the i440FX
 * host bridge at 00:00.0, the PIIX3 at 00:01.0 (ISA bridge, PIRQ routing, reset control at
 * 0xcf9) and 00:01.1 (IDE: hw/ide.h, legacy channels on IRQ 14/15 with bus-master DMA, the
 * drives of cfg->ide; CMOS 0x12/0x19-0x2c/0x39 describe the disks as QEMU's board does, and
 * cfg->boot_order goes to the CMOS boot flags SeaBIOS reads). QEMU's fw_cfg at 0x510/0x511
 * with DMA at 0x514, carrying the signature, RAM size, CPU counts, "etc/e820", "bootorder" and
 * "etc/boot-fail-wait"; QEMU's debugcon at 0x402 and 0xe9 when cfg->debugcon names a backend.
 * VGA (hw/vga.h): ports 0x3b0-0x3df and 0x1ce-0x1d0, the 0xA0000-0xBFFFF window, and PCI
 * 00:02.0 as QEMU's stdvga (1234:1111; BAR0 the 16 MiB linear framebuffer, unmapped until the
 * firmware or guest assigns it and enables memory decode).
 * Devices: COM1 16550A at 0x3f8 (IRQ 4 once an interrupt controller exists), QEMU's
 * isa-debug-exit at 0xf4 (4 ports) which stops the machine with STOP_EXIT_DEVICE, the ACPI
 * PM registers at 0x600 (hw/acpi.h: entering S5 stops the machine with STOP_POWEROFF).
 */
#ifndef DUALVM_HW_PC_H
#define DUALVM_HW_PC_H

#include <stddef.h>

#include "hw/fw_cfg.h"
#include "hw/i440fx.h"
#include "hw/i8042.h"
#include "hw/machine.h"
#include "hw/pci.h"
#include "hw/piix.h"
#include "hw/vga.h"

#define PC_RAM_MIN (2ull << 20)
#define PC_RAM_MAX (3584ull << 20) /* 3.5 GiB: above needs RAM split around the PCI hole */

#define PC_LOWMEM_END 0xa0000ull
#define PC_HIGHMEM_START 0x100000ull
#define PC_BIOS_SIZE 0x10000ull
#define PC_BIOS_BASE 0xf0000ull
#define PC_BIOS_HIGH_BASE 0xffff0000ull
#define PC_COM1_BASE 0x3f8
#define PC_COM1_IRQ 4
#define PC_DEBUGEXIT_PORT 0xf4
#define PC_DEBUGEXIT_SIZE 4
#define PC_FLASH_SIZE 0x40000ull /* the largest BIOS image (FIRMWARE_MAX_SIZE) */
#define PC_FLASH_BASE (0x100000000ull - PC_FLASH_SIZE)
#define PC_ISA_BIOS_SIZE 0x20000ull /* the flash's last 128 KiB, shown at 0xE0000 too */
#define PC_OPTION_ROM_BASE 0xc0000ull
#define PC_OPTION_ROM_SIZE 0x20000ull
#define PC_PIIX3_SLOT 1
#define PC_VGA_SLOT 2 /* 00:02.0, as QEMU */
/* The APICs (unless cfg->no_apic): the CPU's local APIC, ID 0, at 0xFEE00000 (hw/apic.h);
 * the IOAPIC, ID 1, at 0xFEC00000 (hw/ioapic.h). Every ISA IRQ line goes to the 8259 and to
 * the IOAPIC pin of the same number, but IRQ 0 (the PIT) to pin 2 and IRQ 2 (cascade) to
 * none; the 8259's INTR goes to LINT0 and to pin 0. Machine.intr_pending/intr_ack then ask
 * the local APIC, which passes the 8259 on while it is disabled (its reset state) or in
 * virtual wire mode. */
#define PC_APIC_ID 0
#define PC_IOAPIC_ID 1
#define PC_IOAPIC_PIN_EXTINT 0
#define PC_IOAPIC_PIN_IRQ0 2
/* pc_write_mp_table's place: the last KiB of base memory, the EBDA the multiboot loader's
 * memory map reserves (0xF0000-0xFFFFF is the BIOS ROM / PAM area here) */
#define PC_MPTABLE_BASE 0x9fc00ull
#define PC_MPTABLE_SIZE 0x400

/* NULL on error with the reason in err (bad RAM size, no memory, serial backend). cfg->serial
 * NULL means "none". ram_size is rounded up to 4 KiB; m->ram_size holds the result. */
Machine *pc_new(const MachineConfig *cfg, char *err, size_t errlen);

/* For a kernel booted without firmware (multiboot, Linux, raw): the Intel MP 1.4 tables a
 * BIOS would leave, at PC_MPTABLE_BASE: floating pointer, then the configuration table with
 * the processor (APIC ID 0, BSP), buses PCI 0 and ISA 1, the IOAPIC (ID 1), an interrupt
 * entry per ISA IRQ (IRQ 0 on pin 2, the 8259 as ExtINT on pin 0) and LINT0 ExtINT / LINT1
 * NMI. Nothing to do (returns 0) without an APIC; with firmware do not call it (SeaBIOS makes
 * its own). -1 with the reason in err if that memory is not RAM. */
int pc_write_mp_table(Machine *m, char *err, size_t errlen);

/* The e820 map a BIOS would report for this board, for a kernel booted without firmware:
 * RAM 0-PC_EBDA_BASE, reserved PC_EBDA_BASE-0xA0000 (the EBDA, where the MP table is), reserved
 * PC_ACPI_BASE-1 MiB (BIOS area: the ACPI tables), RAM from 1 MiB to the top, reserved the
 * flash below 4 GiB. Fills at most max entries of e; returns how many. */
#define PC_EBDA_BASE PC_MPTABLE_BASE
#define PC_ACPI_BASE 0xe0000ull
#define PC_E820_MAX 8
size_t pc_e820(Machine *m, E820Entry *e, size_t max);

/* For a kernel booted without firmware: the ACPI tables (hw/acpi.h: RSDP, RSDT, FADT with the
 * board's PM registers, FACS, a DSDT with \_S5, and a MADT when there are APICs) at
 * PC_ACPI_BASE, in the BIOS area an OS scans for the RSDP (the PAM area's ROM, which holds
 * no firmware then). *rsdp = the RSDP's address. -1 with the reason in err. */
int pc_write_acpi_tables(Machine *m, uint64_t *rsdp, char *err, size_t errlen);

/* Called by the run loop between guest slices: pulls serial input, and turns the user's
 * Ctrl-A x into machine_request_stop(STOP_SIGNAL, 0). */
void pc_poll(Machine *m);

void pc_free(Machine *m);

/* System reset of the board's devices (the run loop resets the CPU). Machine.reset points here. */
void pc_reset(Machine *m);

/* The board's chipset pieces, for what the command line adds (fw_cfg items such as the
 * kernel or FW_CFG_NOGRAPHIC for -nographic, "bootorder") and devices that plug in later (IDE
 * on the PIIX3's function 1, PCI cards). */
FwCfg *pc_fw_cfg(Machine *m);
PciBus *pc_pci_bus(Machine *m);
I440fx *pc_i440fx(Machine *m);
Piix3 *pc_piix3(Machine *m);
/* The display (hw/vga.h): what ui/ draws and screenshots. */
VgaState *pc_vga(Machine *m);
/* The IDE controller (hw/ide.h). */
struct IdeController *pc_ide(Machine *m);
/* The keyboard controller (hw/i8042.h): where ui/ sends keys and mouse motion, from the
 * thread that runs the devices. */
I8042State *pc_i8042(Machine *m);

#endif
