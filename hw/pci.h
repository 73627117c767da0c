/* hw/pci.h: PCI bus 0 behind configuration mechanism #1 (PCI Local Bus Spec 3.0, 3.2.2.3.2).
 *
 * The host bridge decodes CONFIG_ADDRESS at 0xcf8 (32-bit accesses only) and CONFIG_DATA at
 * 0xcfc-0xcff (8/16/32-bit at any of the four ports: byte k of the data window is register
 * (CONFIG_ADDRESS.register + k)). Byte and word accesses to 0xcf8-0xcfb are not the host
 * bridge's: they go to a pass-through handler if one is set (the PIIX3's reset control register
 * at 0xcf9), else read all ones. With the enable bit clear, or for a bus other than 0, or a
 * device/function nobody registered, reads give all ones and writes are dropped: that is how
 * software finds out there is no device there.
 *
 * Each function has its 256-byte configuration space, a write mask (which bits the guest may
 * change) and a write-1-to-clear mask (the status register's error bits). Registration sets
 * the standard header; the device-specific area 0x40-0xff starts writable, as in QEMU, and a
 * device narrows its masks to what its datasheet says. After every guest write the core
 * re-evaluates BARs (sizing through the write mask: writing all ones reads back ~(size-1) | the
 * type bits) and the command register's decode enables, tells the BAR's owner when a BAR's
 * decoded address changes, then calls the function's config-write callback.
 */
#ifndef DUALVM_HW_PCI_H
#define DUALVM_HW_PCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hw/ioport.h"

#define PCI_CONFIG_ADDRESS 0xcf8
#define PCI_CONFIG_DATA 0xcfc
#define PCI_CONFIG_SPACE_SIZE 256
#define PCI_CONFIG_HEADER_SIZE 0x40

/* CONFIG_ADDRESS fields */
#define PCI_CONFADD_ENABLE 0x80000000u
#define PCI_CONFADD_BUS_SHIFT 16
#define PCI_CONFADD_DEVFN_SHIFT 8
#define PCI_CONFADD_REG_MASK 0xfcu
#define PCI_CONFADD_MASK 0x80fffffcu /* bits 30:24 and 1:0 are reserved and read as 0 */

#define PCI_DEVFN(slot, func) ((((slot)&0x1f) << 3) | ((func)&7))
#define PCI_SLOT(devfn) (((devfn) >> 3) & 0x1f)
#define PCI_FUNC(devfn) ((devfn)&7)

/* Type 0 configuration header */
enum {
    PCI_VENDOR_ID = 0x00,
    PCI_DEVICE_ID = 0x02,
    PCI_COMMAND = 0x04,
    PCI_STATUS = 0x06,
    PCI_REVISION_ID = 0x08,
    PCI_CLASS_PROG = 0x09,
    PCI_CLASS_DEVICE = 0x0a, /* subclass at 0x0a, base class at 0x0b */
    PCI_CACHE_LINE_SIZE = 0x0c,
    PCI_LATENCY_TIMER = 0x0d,
    PCI_HEADER_TYPE = 0x0e,
    PCI_BIST = 0x0f,
    PCI_BASE_ADDRESS_0 = 0x10, /* BARs 0-5 at 0x10-0x27 */
    PCI_CARDBUS_CIS = 0x28,
    PCI_SUBSYSTEM_VENDOR_ID = 0x2c,
    PCI_SUBSYSTEM_ID = 0x2e,
    PCI_ROM_ADDRESS = 0x30,
    PCI_CAPABILITY_LIST = 0x34,
    PCI_INTERRUPT_LINE = 0x3c,
    PCI_INTERRUPT_PIN = 0x3d,
    PCI_MIN_GNT = 0x3e,
    PCI_MAX_LAT = 0x3f,
};

#define PCI_COMMAND_IO 0x0001
#define PCI_COMMAND_MEMORY 0x0002
#define PCI_COMMAND_MASTER 0x0004
#define PCI_COMMAND_SPECIAL 0x0008
#define PCI_COMMAND_PARITY 0x0040
#define PCI_COMMAND_SERR 0x0100
#define PCI_COMMAND_INTX_DISABLE 0x0400

#define PCI_STATUS_INTERRUPT 0x0008
#define PCI_STATUS_DEVSEL_MEDIUM 0x0200
#define PCI_STATUS_W1C 0xf900 /* parity, target/master aborts, SERR, detected parity */

#define PCI_HEADER_TYPE_NORMAL 0x00
#define PCI_HEADER_TYPE_MULTI_FUNCTION 0x80

#define PCI_BASE_ADDRESS_SPACE_IO 0x01
#define PCI_BASE_ADDRESS_MEM_TYPE_64 0x04
#define PCI_BASE_ADDRESS_MEM_PREFETCH 0x08
#define PCI_ROM_ADDRESS_ENABLE 0x01

#define PCI_NUM_BARS 6
#define PCI_ROM_SLOT 6 /* "BAR" index of the expansion ROM base address register */

/* The subsystem IDs QEMU gives every device it emulates; SeaBIOS takes them on the host bridge
 * as the sign it runs on QEMU's board (and then uses fw_cfg). */
#define PCI_SUBVENDOR_ID_REDHAT_QUMRANET 0x1af4
#define PCI_SUBDEVICE_ID_QEMU 0x1100

/* A decoded BAR address that is not mapped (decode disabled, zero, or being sized). */
#define PCI_BAR_UNMAPPED UINT64_MAX

/* pci_register_bar() flags */
enum {
    PCI_BAR_IO = 1 << 0,
    PCI_BAR_MEM64 = 1 << 1,
    PCI_BAR_PREFETCH = 1 << 2,
};

typedef struct PciBus PciBus;
typedef struct PciDevice PciDevice;

/* After a guest config write, once masks are applied and BARs re-evaluated. */
typedef void (*PciConfigWriteFn)(void *opaque, PciDevice *d, unsigned off, uint32_t val,
                                 unsigned size);
/* A BAR's decoded address moved (old or new may be PCI_BAR_UNMAPPED): unmap old, map new. */
typedef void (*PciBarMapFn)(void *opaque, PciDevice *d, int bar, uint64_t old_addr,
                            uint64_t new_addr);
/* INTx routing to the interrupt controller: pin 0..3 is INTA#..INTD#. */
typedef void (*PciIrqRouteFn)(void *opaque, unsigned devfn, unsigned pin, int level);

/* Claims ports 0xcf8-0xcff on io. NULL with the reason in err if they are taken. */
PciBus *pci_bus_new(IoBus *io, char *err, size_t errlen);
/* Frees the devices too. Only once the I/O bus is no longer used. */
void pci_bus_free(PciBus *bus);

/* Non-32-bit accesses to 0xcf8-0xcfb (offset 0-3 from 0xcf8). */
void pci_bus_set_passthrough(PciBus *bus, const IoOps *ops, void *dev);
void pci_bus_set_irq_router(PciBus *bus, PciIrqRouteFn fn, void *opaque);

/* Add a function at devfn on bus 0: vendor/device, revision, class_code = base class << 16 |
 * subclass << 8 | programming interface. Header type 0; function 0 of a slot gets the
 * multi-function bit as soon as the slot has another function. NULL if devfn is taken. */
PciDevice *pci_register(PciBus *bus, unsigned devfn, const char *name, uint16_t vendor,
                        uint16_t device, uint8_t revision, uint32_t class_code);
PciDevice *pci_find(PciBus *bus, unsigned devfn);
/* Take a function off the bus (its BARs are not unmapped: that is the owner's business). */
void pci_unregister(PciDevice *d);

/* The function's registers and masks; a device may set reset values and narrow or widen the
 * masks (wmask: bit writable; w1cmask: writing 1 clears it). */
uint8_t *pci_config(PciDevice *d);
uint8_t *pci_wmask(PciDevice *d);
uint8_t *pci_w1cmask(PciDevice *d);
unsigned pci_devfn(const PciDevice *d);
const char *pci_name(const PciDevice *d);

void pci_set_config_write(PciDevice *d, PciConfigWriteFn fn, void *opaque);

/* Declare BAR bar (0-5, or PCI_ROM_SLOT) of size bytes: a power of two, at least 4 for I/O and
 * 16 for memory (2 KiB for the ROM). MEM64 takes bar and bar+1. map may be NULL. -EINVAL on a
 * bad size/index, -EBUSY if the BAR (or its upper half) is declared already. */
int pci_register_bar(PciDevice *d, int bar, uint64_t size, unsigned flags, PciBarMapFn map,
                     void *opaque);
/* Replace a declared BAR's map callback (for a device model that attaches later). */
void pci_set_bar_map(PciDevice *d, int bar, PciBarMapFn map, void *opaque);
/* Where BAR bar decodes now, or PCI_BAR_UNMAPPED. */
uint64_t pci_bar_addr(const PciDevice *d, int bar);

/* Register access as the guest does it, for devices and tests: off + size must stay within the
 * 256 bytes (bytes past the end read 0xff and are not written). */
uint32_t pci_config_read(PciDevice *d, unsigned off, unsigned size);
void pci_config_write(PciDevice *d, unsigned off, uint32_t val, unsigned size);

/* Drive the function's INTx# pin (the one in PCI_INTERRUPT_PIN); ignored if that is 0. The
 * status register's interrupt bit follows the pin; COMMAND.INTX_DISABLE masks it. */
void pci_set_irq(PciDevice *d, int level);

#endif
