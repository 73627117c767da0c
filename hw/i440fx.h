/* hw/i440fx.h: the Intel 82441FX PCI and Memory Controller (PMC), host bridge 8086:1237 at
 * 00:00.0, as far as firmware sees it: its configuration space, the Programmable Attribute Map
 * (PAM) that shadows 0xC0000-0xFFFFF, and the SMRAM control register.
 *
 * PAM (82441FX datasheet, 3.2.18): PAM0[7:4] covers 0xF0000-0xFFFFF (64 KiB); PAM1-PAM6 have two
 * nibbles each, for the 16 KiB segments 0xC0000-0xEFFFF in address order (low nibble first).
 * In each nibble, RE (bit 0) sends reads to DRAM and WE (bit 1) sends writes to DRAM; what DRAM
 * does not take goes to PCI, where the board's ROM answers (ROM ignores writes):
 *     RE=0 WE=0  read ROM, write dropped   (power-on: the CPU runs the BIOS from ROM)
 *     RE=1 WE=0  read RAM, write dropped   (shadow locked)
 *     RE=0 WE=1  read ROM, write RAM       (copying ROM into its shadow)
 *     RE=1 WE=1  read RAM, write RAM
 * Each state is a plain region of the address space, so the translator's TLB and KVM's slots
 * see RAM or ROM directly; only the write-only state is an MMIO region. Adjacent segments in
 * the same state whose backing memory is contiguous share one region. After a change the board
 * is told which guest-physical range now reads or writes differently (mem_changed), and relays
 * it to the engine.
 *
 * SMRAM (0x72): stored with its datasheet semantics (D_LCK makes it read-only and closes
 * D_OPEN), but there is no SMM: the 0xA0000-0xBFFFF window never shows SMRAM.
 */
#ifndef DUALVM_HW_I440FX_H
#define DUALVM_HW_I440FX_H

#include <stddef.h>
#include <stdint.h>

#include "hw/memory.h"
#include "hw/pci.h"

#define I440FX_VENDOR_ID 0x8086
#define I440FX_DEVICE_ID 0x1237
#define I440FX_REVISION 0x02
#define I440FX_CLASS 0x060000 /* bridge, host bridge */
#define I440FX_DEVFN PCI_DEVFN(0, 0)

/* Configuration registers */
enum {
    I440FX_PMCCFG = 0x50,
    I440FX_DRAMC = 0x57,
    I440FX_DRAMT = 0x58,
    I440FX_PAM0 = 0x59, /* PAM0-PAM6: 0x59-0x5f */
    I440FX_DRB0 = 0x60,
    I440FX_SMRAM = 0x72,
};

#define I440FX_PAM_COUNT 7
#define I440FX_PAM_RE 0x1 /* per nibble */
#define I440FX_PAM_WE 0x2
#define I440FX_PAM0_WMASK 0x30 /* PAM0[3:0] and [7:6] are reserved */
#define I440FX_PAM_WMASK 0x33  /* PAM1-6: bits 3:2 and 7:6 are reserved */

#define I440FX_SMRAM_C_BASE_SEG 0x07 /* fixed 010b: the SMRAM window is at 0xA0000 */
#define I440FX_SMRAM_G_SMRAME 0x08
#define I440FX_SMRAM_D_LCK 0x10
#define I440FX_SMRAM_D_CLS 0x20
#define I440FX_SMRAM_D_OPEN 0x40
#define I440FX_SMRAM_DEFAULT 0x02

/* The shadowed area and its segments */
#define PAM_BASE 0xC0000ull
#define PAM_END 0x100000ull
#define PAM_SIZE (PAM_END - PAM_BASE)
#define PAM_ROM_HALF 0x20000ull /* each of the two ROM backings covers 128 KiB */
#define PAM_SEGMENTS 13         /* 12 x 16 KiB (0xC0000-0xEFFFF) + 64 KiB (0xF0000) */

typedef struct I440fx I440fx;

/* Tells the board that guest-physical [gpa, gpa+len) changed meaning. */
typedef void (*MemChangedFn)(void *opaque, uint64_t gpa, uint64_t len);

/* Registers the host bridge at 00:00.0 and maps 0xC0000-0xFFFFF in its reset state (all ROM).
 * shadow: the 256 KiB of RAM behind 0xC0000-0xFFFFF; rom_c: 128 KiB the PCI side shows at
 * 0xC0000-0xDFFFF; rom_e: 128 KiB at 0xE0000-0xFFFFF (the BIOS's last 128 KiB). All stay owned
 * by the caller and must outlive the bridge. NULL with the reason in err. */
I440fx *i440fx_new(PciBus *bus, AddressSpace *as, uint8_t *shadow, uint8_t *rom_c, uint8_t *rom_e,
                   MemChangedFn changed, void *opaque, char *err, size_t errlen);
/* Removes the PAM regions from the address space; before pci_bus_free (the PCI function goes
 * with the bus). */
void i440fx_free(I440fx *s);

/* Back to power-on: PAM all 0 (ROM), SMRAM 0x02. */
void i440fx_reset(I440fx *s);

PciDevice *i440fx_pci(I440fx *s);

/* The state of the PAM segment holding gpa (I440FX_PAM_RE|WE bits), -1 outside the area. */
int i440fx_pam_state(I440fx *s, uint64_t gpa);

#endif
