/* hw/pc.h: the PC board. pc_new() builds a Machine: guest RAM, the firmware ROMs, the I/O bus,
 * the virtual clock and the devices, wired as on a PC; pc_free() undoes it.
 *
 * Memory map: RAM at 0-0x9ffff and 0x100000-ram_size (the hole between belongs to VGA and
 * option ROMs), a 64 KiB ROM "bios" at 0xf0000 and a second 64 KiB ROM "bios-high" at
 * 0xffff0000. Both ROMs start as 0xff; a firmware loader fills them with as_load() (the same
 * image in both: the CPU starts at 0xfffffff0, real-mode code runs at 0xf0000).
 * Devices: COM1 16550A at 0x3f8 (IRQ 4 once an interrupt controller exists), QEMU's
 * isa-debug-exit at 0xf4 (4 ports) which stops the machine with STOP_EXIT_DEVICE.
 */
#ifndef DUALVM_HW_PC_H
#define DUALVM_HW_PC_H

#include <stddef.h>

#include "hw/machine.h"

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

/* NULL on error with the reason in err (bad RAM size, no memory, serial backend). cfg->serial
 * NULL means "none". ram_size is rounded up to 4 KiB; m->ram_size holds the result. */
Machine *pc_new(const MachineConfig *cfg, char *err, size_t errlen);

/* Called by the run loop between guest slices: pulls serial input, and turns the user's
 * Ctrl-A x into machine_request_stop(STOP_SIGNAL, 0). */
void pc_poll(Machine *m);

void pc_free(Machine *m);

#endif
