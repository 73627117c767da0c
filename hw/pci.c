#include "hw/pci.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>

#define PCI_NUM_SLOTS (PCI_NUM_BARS + 1) /* BARs 0-5 and the ROM */
#define PCI_BAR_MEM_MIN 16
#define PCI_BAR_IO_MIN 4
#define PCI_ROM_MIN 2048
#define PCI_IO_SPACE_END 0x10000ull

typedef struct PciBar {
    uint64_t size; /* 0: not declared */
    unsigned flags;
    uint64_t addr; /* decoded address, or PCI_BAR_UNMAPPED */
    bool upper;    /* this register is the high dword of a 64-bit BAR */
    PciBarMapFn map;
    void *opaque;
} PciBar;

struct PciDevice {
    PciBus *bus;
    unsigned devfn;
    char *name;
    uint8_t config[PCI_CONFIG_SPACE_SIZE];
    uint8_t wmask[PCI_CONFIG_SPACE_SIZE];
    uint8_t w1cmask[PCI_CONFIG_SPACE_SIZE];
    PciBar bar[PCI_NUM_SLOTS];
    PciConfigWriteFn write_fn;
    void *write_opaque;
    int irq_level;     /* what the device drives */
    int irq_forwarded; /* what the router was told (level gated by INTX_DISABLE) */
};

struct PciBus {
    uint32_t confadd;
    PciDevice *dev[256];
    const IoOps *pass_ops;
    void *pass_dev;
    PciIrqRouteFn route;
    void *route_opaque;
};

static inline uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static unsigned bar_reg(int bar)
{
    return bar == PCI_ROM_SLOT ? PCI_ROM_ADDRESS : PCI_BASE_ADDRESS_0 + 4u * (unsigned)bar;
}

/* ---- BAR decoding ---------------------------------------------------------------------- */

static uint64_t bar_decode(const PciDevice *d, int bar)
{
    const PciBar *b = &d->bar[bar];
    uint16_t cmd = get16(d->config + PCI_COMMAND);
    uint32_t lo = get32(d->config + bar_reg(bar));
    uint64_t addr, last;

    if (b->flags & PCI_BAR_IO) {
        if (!(cmd & PCI_COMMAND_IO))
            return PCI_BAR_UNMAPPED;
        addr = lo & ~(uint32_t)(b->size - 1);
        last = addr + b->size - 1;
        /* the I/O space is 64 KiB; address 0 means "not assigned" */
        if (addr == 0 || last >= PCI_IO_SPACE_END)
            return PCI_BAR_UNMAPPED;
        return addr;
    }
    if (!(cmd & PCI_COMMAND_MEMORY))
        return PCI_BAR_UNMAPPED;
    if (bar == PCI_ROM_SLOT && !(lo & PCI_ROM_ADDRESS_ENABLE))
        return PCI_BAR_UNMAPPED;
    addr = lo & ~(uint64_t)(b->size - 1) & 0xffffffffull;
    if (b->flags & PCI_BAR_MEM64) {
        addr |= (uint64_t)get32(d->config + bar_reg(bar) + 4) << 32;
        addr &= ~(b->size - 1);
        if (addr == 0 || addr + (b->size - 1) < addr)
            return PCI_BAR_UNMAPPED;
        return addr;
    }
    last = addr + b->size - 1;
    /* all ones (sizing) would put the BAR over the top of 4 GiB: not mapped, as QEMU */
    if (addr == 0 || last >= 0xffffffffull)
        return PCI_BAR_UNMAPPED;
    return addr;
}

static void update_bars(PciDevice *d)
{
    for (int i = 0; i < PCI_NUM_SLOTS; i++) {
        PciBar *b = &d->bar[i];
        if (!b->size || b->upper)
            continue;
        uint64_t now = bar_decode(d, i);
        if (now == b->addr)
            continue;
        uint64_t old = b->addr;
        b->addr = now;
        if (b->map)
            b->map(b->opaque, d, i, old, now);
    }
}

/* ---- interrupts ------------------------------------------------------------------------- */

static void update_irq(PciDevice *d)
{
    uint8_t pin = d->config[PCI_INTERRUPT_PIN];
    if (pin < 1 || pin > 4)
        return;
    int level = d->irq_level && !(get16(d->config + PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE);
    if (level == d->irq_forwarded)
        return;
    d->irq_forwarded = level;
    PciBus *bus = d->bus;
    if (bus->route)
        bus->route(bus->route_opaque, d->devfn, pin - 1u, level);
}

void pci_set_irq(PciDevice *d, int level)
{
    level = !!level;
    if (!d->config[PCI_INTERRUPT_PIN])
        return;
    d->irq_level = level;
    uint16_t st = get16(d->config + PCI_STATUS);
    st = level ? (st | PCI_STATUS_INTERRUPT) : (st & ~PCI_STATUS_INTERRUPT);
    put16(d->config + PCI_STATUS, st);
    update_irq(d);
}

/* ---- register access -------------------------------------------------------------------- */

uint32_t pci_config_read(PciDevice *d, unsigned off, unsigned size)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < size && i < 4; i++) {
        unsigned o = off + i;
        uint8_t b = o < PCI_CONFIG_SPACE_SIZE ? d->config[o] : 0xff;
        v |= (uint32_t)b << (8 * i);
    }
    return v;
}

void pci_config_write(PciDevice *d, unsigned off, uint32_t val, unsigned size)
{
    if (size > 4)
        size = 4;
    for (unsigned i = 0; i < size; i++) {
        unsigned o = off + i;
        if (o >= PCI_CONFIG_SPACE_SIZE)
            break;
        uint8_t b = (uint8_t)(val >> (8 * i));
        uint8_t wm = d->wmask[o], w1c = d->w1cmask[o];
        d->config[o] = (uint8_t)((d->config[o] & ~wm) | (b & wm));
        d->config[o] &= (uint8_t) ~(b & w1c);
    }
    unsigned end = off + size;
    /* the command register (decode and INTx enables) or a base address register changed */
    bool cmd = off < PCI_COMMAND + 2 && end > PCI_COMMAND;
    bool bars = (off < PCI_BASE_ADDRESS_0 + 24 && end > PCI_BASE_ADDRESS_0) ||
                (off < PCI_ROM_ADDRESS + 4 && end > PCI_ROM_ADDRESS);
    if (cmd || bars)
        update_bars(d);
    if (cmd)
        update_irq(d);
    if (d->write_fn)
        d->write_fn(d->write_opaque, d, off, val, size);
}

/* ---- the host bridge's two registers ---------------------------------------------------- */

static PciDevice *addressed(PciBus *bus)
{
    uint32_t a = bus->confadd;
    if (!(a & PCI_CONFADD_ENABLE) || ((a >> PCI_CONFADD_BUS_SHIFT) & 0xff) != 0)
        return NULL;
    return bus->dev[(a >> PCI_CONFADD_DEVFN_SHIFT) & 0xff];
}

static uint32_t pci_io_read(void *opaque, uint16_t port, unsigned size)
{
    PciBus *bus = opaque;
    if (port < 4) {
        if (port == 0 && size == 4)
            return bus->confadd;
        return bus->pass_ops && bus->pass_ops->read ? bus->pass_ops->read(bus->pass_dev, port, size)
                                                    : 0xffffffffu;
    }
    unsigned k = port - 4u;
    PciDevice *d = addressed(bus);
    if (!d)
        return 0xffffffffu;
    /* bytes past 0xcff belong to other (unclaimed) ports */
    unsigned n = size <= 4 - k ? size : 4 - k;
    uint32_t v = pci_config_read(d, (bus->confadd & PCI_CONFADD_REG_MASK) + k, n);
    if (n < 4)
        v |= 0xffffffffu << (8 * n);
    return v;
}

static void pci_io_write(void *opaque, uint16_t port, uint32_t val, unsigned size)
{
    PciBus *bus = opaque;
    if (port < 4) {
        if (port == 0 && size == 4)
            bus->confadd = val & PCI_CONFADD_MASK;
        else if (bus->pass_ops && bus->pass_ops->write)
            bus->pass_ops->write(bus->pass_dev, port, val, size);
        return;
    }
    unsigned k = port - 4u;
    PciDevice *d = addressed(bus);
    if (!d)
        return;
    unsigned n = size <= 4 - k ? size : 4 - k;
    pci_config_write(d, (bus->confadd & PCI_CONFADD_REG_MASK) + k, val, n);
}

static const IoOps pci_io_ops = {pci_io_read, pci_io_write};

PciBus *pci_bus_new(IoBus *io, char *err, size_t errlen)
{
    PciBus *bus = g_new0(PciBus, 1);
    if (io_register(io, PCI_CONFIG_ADDRESS, 8, &pci_io_ops, bus) < 0) {
        snprintf(err, errlen, "pci: cannot claim ports 0x%x-0x%x", PCI_CONFIG_ADDRESS,
                 PCI_CONFIG_DATA + 3);
        g_free(bus);
        return NULL;
    }
    return bus;
}

void pci_bus_free(PciBus *bus)
{
    if (!bus)
        return;
    for (unsigned i = 0; i < 256; i++) {
        if (bus->dev[i]) {
            g_free(bus->dev[i]->name);
            g_free(bus->dev[i]);
        }
    }
    g_free(bus);
}

void pci_bus_set_passthrough(PciBus *bus, const IoOps *ops, void *dev)
{
    bus->pass_ops = ops;
    bus->pass_dev = dev;
}

void pci_bus_set_irq_router(PciBus *bus, PciIrqRouteFn fn, void *opaque)
{
    bus->route = fn;
    bus->route_opaque = opaque;
}

/* ---- registry --------------------------------------------------------------------------- */

static void mark_multifunction(PciBus *bus, unsigned devfn)
{
    unsigned slot0 = devfn & ~7u;
    PciDevice *f0 = bus->dev[slot0];
    if (!f0)
        return;
    for (unsigned f = 1; f < 8; f++) {
        if (bus->dev[slot0 + f]) {
            f0->config[PCI_HEADER_TYPE] |= PCI_HEADER_TYPE_MULTI_FUNCTION;
            return;
        }
    }
}

PciDevice *pci_register(PciBus *bus, unsigned devfn, const char *name, uint16_t vendor,
                        uint16_t device, uint8_t revision, uint32_t class_code)
{
    if (devfn > 255 || bus->dev[devfn])
        return NULL;
    PciDevice *d = g_new0(PciDevice, 1);
    d->bus = bus;
    d->devfn = devfn;
    d->name = g_strdup(name ? name : "");
    for (int i = 0; i < PCI_NUM_SLOTS; i++)
        d->bar[i].addr = PCI_BAR_UNMAPPED;

    uint8_t *c = d->config;
    put16(c + PCI_VENDOR_ID, vendor);
    put16(c + PCI_DEVICE_ID, device);
    c[PCI_REVISION_ID] = revision;
    c[PCI_CLASS_PROG] = (uint8_t)class_code;
    put16(c + PCI_CLASS_DEVICE, (uint16_t)(class_code >> 8));
    c[PCI_HEADER_TYPE] = PCI_HEADER_TYPE_NORMAL;
    put16(c + PCI_SUBSYSTEM_VENDOR_ID, PCI_SUBVENDOR_ID_REDHAT_QUMRANET);
    put16(c + PCI_SUBSYSTEM_ID, PCI_SUBDEVICE_ID_QEMU);

    /* Standard header: only these are the guest's to change (BARs once declared). */
    put16(d->wmask + PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
                                      PCI_COMMAND_PARITY | PCI_COMMAND_SERR |
                                      PCI_COMMAND_INTX_DISABLE);
    d->wmask[PCI_CACHE_LINE_SIZE] = 0xff;
    d->wmask[PCI_INTERRUPT_LINE] = 0xff;
    put16(d->w1cmask + PCI_STATUS, PCI_STATUS_W1C);
    memset(d->wmask + PCI_CONFIG_HEADER_SIZE, 0xff, PCI_CONFIG_SPACE_SIZE - PCI_CONFIG_HEADER_SIZE);

    bus->dev[devfn] = d;
    mark_multifunction(bus, devfn);
    return d;
}

void pci_unregister(PciDevice *d)
{
    if (!d)
        return;
    PciBus *bus = d->bus;
    if (d->irq_forwarded && bus->route)
        bus->route(bus->route_opaque, d->devfn, d->config[PCI_INTERRUPT_PIN] - 1u, 0);
    bus->dev[d->devfn] = NULL;
    unsigned slot0 = d->devfn & ~7u;
    if (bus->dev[slot0]) {
        bus->dev[slot0]->config[PCI_HEADER_TYPE] &= (uint8_t)~PCI_HEADER_TYPE_MULTI_FUNCTION;
        mark_multifunction(bus, slot0);
    }
    g_free(d->name);
    g_free(d);
}

PciDevice *pci_find(PciBus *bus, unsigned devfn)
{
    return devfn < 256 ? bus->dev[devfn] : NULL;
}

uint8_t *pci_config(PciDevice *d)
{
    return d->config;
}

uint8_t *pci_wmask(PciDevice *d)
{
    return d->wmask;
}

uint8_t *pci_w1cmask(PciDevice *d)
{
    return d->w1cmask;
}

unsigned pci_devfn(const PciDevice *d)
{
    return d->devfn;
}

const char *pci_name(const PciDevice *d)
{
    return d->name;
}

void pci_set_config_write(PciDevice *d, PciConfigWriteFn fn, void *opaque)
{
    d->write_fn = fn;
    d->write_opaque = opaque;
}

int pci_register_bar(PciDevice *d, int bar, uint64_t size, unsigned flags, PciBarMapFn map,
                     void *opaque)
{
    if (bar < 0 || bar >= PCI_NUM_SLOTS || size == 0 || (size & (size - 1)))
        return -EINVAL;
    bool io = flags & PCI_BAR_IO, m64 = flags & PCI_BAR_MEM64;
    if (bar == PCI_ROM_SLOT && (io || m64 || size < PCI_ROM_MIN || size > (1ull << 31)))
        return -EINVAL;
    if (io && (m64 || size < PCI_BAR_IO_MIN || size > PCI_IO_SPACE_END))
        return -EINVAL;
    if (!io && size < PCI_BAR_MEM_MIN)
        return -EINVAL;
    if (!io && !m64 && size > (1ull << 31))
        return -EINVAL;
    if (m64 && bar == PCI_NUM_BARS - 1)
        return -EINVAL;
    if (d->bar[bar].size || d->bar[bar].upper ||
        (m64 && (d->bar[bar + 1].size || d->bar[bar + 1].upper)))
        return -EBUSY;

    PciBar *b = &d->bar[bar];
    b->size = size;
    b->flags = flags;
    b->map = map;
    b->opaque = opaque;
    b->addr = PCI_BAR_UNMAPPED;
    unsigned reg = bar_reg(bar);
    uint32_t type, mask;
    if (bar == PCI_ROM_SLOT) {
        type = 0;
        mask = (uint32_t) ~(size - 1) | PCI_ROM_ADDRESS_ENABLE;
    } else if (io) {
        type = PCI_BASE_ADDRESS_SPACE_IO;
        mask = (uint32_t) ~(size - 1) & ~3u;
    } else {
        type = (m64 ? PCI_BASE_ADDRESS_MEM_TYPE_64 : 0) |
               ((flags & PCI_BAR_PREFETCH) ? PCI_BASE_ADDRESS_MEM_PREFETCH : 0);
        mask = (uint32_t) ~(size - 1) & ~0xfu;
    }
    put32(d->config + reg, type);
    put32(d->wmask + reg, mask);
    if (m64) {
        d->bar[bar + 1].upper = true;
        put32(d->config + reg + 4, 0);
        put32(d->wmask + reg + 4, (uint32_t)(~(size - 1) >> 32));
    }
    return 0;
}

void pci_set_bar_map(PciDevice *d, int bar, PciBarMapFn map, void *opaque)
{
    if (bar < 0 || bar >= PCI_NUM_SLOTS || !d->bar[bar].size)
        return;
    d->bar[bar].map = map;
    d->bar[bar].opaque = opaque;
}

uint64_t pci_bar_addr(const PciDevice *d, int bar)
{
    if (bar < 0 || bar >= PCI_NUM_SLOTS || !d->bar[bar].size)
        return PCI_BAR_UNMAPPED;
    return d->bar[bar].addr;
}
