/* PCI configuration mechanism #1, the function registry (masks, BARs, INTx) and the PIIX3
 * functions on it, all driven through the I/O ports as a guest would. */
#include <criterion/criterion.h>

#include <errno.h>
#include <string.h>

#include "hw/pci.h"
#include "hw/piix.h"

static IoBus *io;
static PciBus *bus;

static void setup(void)
{
    char err[128] = "";
    io = io_bus_new();
    bus = pci_bus_new(io, err, sizeof(err));
    cr_assert_not_null(bus, "%s", err);
}

static void teardown(void)
{
    pci_bus_free(bus);
    io_bus_free(io);
}

TestSuite(pci, .init = setup, .fini = teardown);
TestSuite(piix, .init = setup, .fini = teardown);

static uint32_t addr(unsigned b, unsigned devfn, unsigned reg)
{
    return PCI_CONFADD_ENABLE | b << 16 | devfn << 8 | (reg & 0xfc);
}

/* Guest-style config read of size at reg (any alignment inside the dword window). */
static uint32_t cfg_read(unsigned devfn, unsigned reg, unsigned size)
{
    io_write(io, PCI_CONFIG_ADDRESS, addr(0, devfn, reg), 4);
    return io_read(io, (uint16_t)(PCI_CONFIG_DATA + (reg & 3)), size);
}

static void cfg_write(unsigned devfn, unsigned reg, uint32_t val, unsigned size)
{
    io_write(io, PCI_CONFIG_ADDRESS, addr(0, devfn, reg), 4);
    io_write(io, (uint16_t)(PCI_CONFIG_DATA + (reg & 3)), val, size);
}

static PciDevice *dev(unsigned devfn)
{
    PciDevice *d = pci_register(bus, devfn, "test", 0x1234, 0x5678, 0x9a, 0x0c0330);
    cr_assert_not_null(d);
    return d;
}

Test(pci, ports_are_claimed_once)
{
    char err[128] = "";
    cr_assert_null(pci_bus_new(io, err, sizeof(err)));
    cr_assert_not_null(strstr(err, "0xcf8"), "%s", err);
}

Test(pci, config_address_register)
{
    cr_assert_eq(io_read(io, PCI_CONFIG_ADDRESS, 4), 0);
    io_write(io, PCI_CONFIG_ADDRESS, 0x80001234, 4);
    cr_assert_eq(io_read(io, PCI_CONFIG_ADDRESS, 4), 0x80001234);
    /* reserved bits 30:24 and 1:0 read as 0 */
    io_write(io, PCI_CONFIG_ADDRESS, 0xffffffff, 4);
    cr_assert_eq(io_read(io, PCI_CONFIG_ADDRESS, 4), 0x80fffffc);
    /* byte and word accesses are not CONFIG_ADDRESS: they leave it alone and read the bus */
    io_write(io, PCI_CONFIG_ADDRESS, 0, 1);
    io_write(io, PCI_CONFIG_ADDRESS + 2, 0, 2);
    cr_assert_eq(io_read(io, PCI_CONFIG_ADDRESS, 4), 0x80fffffc);
    cr_assert_eq(io_read(io, PCI_CONFIG_ADDRESS, 1), 0xff);
    cr_assert_eq(io_read(io, PCI_CONFIG_ADDRESS + 1, 1), 0xff);
}

Test(pci, enable_bit_gates_the_data_window)
{
    PciDevice *d = dev(0);
    pci_config(d)[0x40] = 0x11;
    io_write(io, PCI_CONFIG_ADDRESS, addr(0, 0, 0) & ~PCI_CONFADD_ENABLE, 4);
    cr_assert_eq(io_read(io, PCI_CONFIG_DATA, 4), 0xffffffff);
    io_write(io, PCI_CONFIG_ADDRESS, addr(0, 0, 0x40) & ~PCI_CONFADD_ENABLE, 4);
    io_write(io, PCI_CONFIG_DATA, 0x77, 1);
    cr_assert_eq(pci_config(d)[0x40], 0x11, "a write with the enable bit clear reached the device");
    cr_assert_eq(cfg_read(0, 0, 4), 0x56781234);
}

Test(pci, bus_device_function_register_decoding)
{
    dev(PCI_DEVFN(0, 0));
    PciDevice *b = pci_register(bus, PCI_DEVFN(3, 2), "b", 0x8086, 0xabcd, 1, 0x020000);
    cr_assert_not_null(b);
    pci_config(b)[0x80] = 0x5a;
    cr_assert_eq(cfg_read(PCI_DEVFN(3, 2), PCI_VENDOR_ID, 4), 0xabcd8086);
    cr_assert_eq(cfg_read(PCI_DEVFN(3, 2), 0x80, 1), 0x5a);
    cr_assert_eq(cfg_read(PCI_DEVFN(3, 2), PCI_CLASS_DEVICE, 2), 0x0200);
    /* neighbours are absent */
    cr_assert_eq(cfg_read(PCI_DEVFN(3, 1), 0, 4), 0xffffffff);
    cr_assert_eq(cfg_read(PCI_DEVFN(2, 2), 0, 4), 0xffffffff);
    cr_assert_eq(cfg_read(PCI_DEVFN(31, 7), 0, 2), 0xffff);
    /* bus 1 does not exist, even for a devfn that is present on bus 0 */
    io_write(io, PCI_CONFIG_ADDRESS, addr(1, PCI_DEVFN(3, 2), 0), 4);
    cr_assert_eq(io_read(io, PCI_CONFIG_DATA, 4), 0xffffffff);
    io_write(io, PCI_CONFIG_ADDRESS, addr(1, PCI_DEVFN(3, 2), 0x80), 4);
    io_write(io, PCI_CONFIG_DATA, 0, 1);
    cr_assert_eq(pci_config(b)[0x80], 0x5a);
    /* writes to an absent function are dropped without harm */
    cfg_write(PCI_DEVFN(9, 0), 0x40, 0x12345678, 4);
    cr_assert_eq(cfg_read(PCI_DEVFN(9, 0), 0x40, 4), 0xffffffff);
    cr_assert_eq(pci_find(bus, PCI_DEVFN(3, 2)), b);
    cr_assert_null(pci_find(bus, PCI_DEVFN(3, 3)));
    cr_assert_null(pci_register(bus, PCI_DEVFN(3, 2), "dup", 1, 2, 3, 4));
}

Test(pci, access_sizes_at_each_data_port)
{
    PciDevice *d = dev(PCI_DEVFN(1, 0));
    cfg_write(PCI_DEVFN(1, 0), 0x40, 0x44332211, 4);
    cr_assert_eq(memcmp(pci_config(d) + 0x40, "\x11\x22\x33\x44", 4), 0);
    io_write(io, PCI_CONFIG_ADDRESS, addr(0, PCI_DEVFN(1, 0), 0x40), 4);
    cr_assert_eq(io_read(io, 0xcfc, 1), 0x11);
    cr_assert_eq(io_read(io, 0xcfd, 1), 0x22);
    cr_assert_eq(io_read(io, 0xcfe, 1), 0x33);
    cr_assert_eq(io_read(io, 0xcff, 1), 0x44);
    cr_assert_eq(io_read(io, 0xcfc, 2), 0x2211);
    cr_assert_eq(io_read(io, 0xcfd, 2), 0x3322);
    cr_assert_eq(io_read(io, 0xcfe, 2), 0x4433);
    cr_assert_eq(io_read(io, 0xcfc, 4), 0x44332211);
    /* bytes past 0xcff are other ports: all ones */
    cr_assert_eq(io_read(io, 0xcfe, 4), 0xffff4433);
    cr_assert_eq(io_read(io, 0xcff, 2), 0xff44);
    /* writes at each offset hit register (reg & ~3) + offset */
    io_write(io, 0xcfd, 0xaa, 1);
    io_write(io, 0xcfe, 0xccbb, 2);
    cr_assert_eq(memcmp(pci_config(d) + 0x40, "\x11\xaa\xbb\xcc", 4), 0);
    /* the low two address bits are ignored: 0x43 is register 0x40 */
    io_write(io, PCI_CONFIG_ADDRESS, addr(0, PCI_DEVFN(1, 0), 0x40) | 3, 4);
    cr_assert_eq(io_read(io, 0xcfc, 4), 0xccbbaa11);
    /* a dword at 0xcfe writes only the two bytes that are in the window */
    io_write(io, 0xcfe, 0x99887766, 4);
    cr_assert_eq(memcmp(pci_config(d) + 0x40, "\x11\xaa\x66\x77\x00", 5), 0);
}

Test(pci, header_and_write_masks)
{
    PciDevice *d = dev(PCI_DEVFN(2, 0));
    unsigned f = PCI_DEVFN(2, 0);
    cr_assert_eq(cfg_read(f, PCI_REVISION_ID, 4), 0x0c03309a);
    cr_assert_eq(cfg_read(f, PCI_SUBSYSTEM_VENDOR_ID, 4),
                 PCI_SUBDEVICE_ID_QEMU << 16 | PCI_SUBVENDOR_ID_REDHAT_QUMRANET);
    /* IDs, class, header type and pin are read-only */
    cfg_write(f, PCI_VENDOR_ID, 0, 4);
    cfg_write(f, PCI_REVISION_ID, 0, 4);
    cfg_write(f, PCI_HEADER_TYPE, 0xff, 1);
    cfg_write(f, PCI_INTERRUPT_PIN, 0xff, 1);
    cr_assert_eq(cfg_read(f, PCI_VENDOR_ID, 4), 0x56781234);
    cr_assert_eq(cfg_read(f, PCI_REVISION_ID, 4), 0x0c03309a);
    cr_assert_eq(cfg_read(f, PCI_HEADER_TYPE, 1), 0);
    cr_assert_eq(cfg_read(f, PCI_INTERRUPT_PIN, 1), 0);
    /* command: only the enables */
    cfg_write(f, PCI_COMMAND, 0xffff, 2);
    cr_assert_eq(cfg_read(f, PCI_COMMAND, 2), 0x0547);
    /* status: error bits are write-1-to-clear, the rest read-only */
    pci_config(d)[PCI_STATUS] = 0x10;
    pci_config(d)[PCI_STATUS + 1] = 0xfa;
    cfg_write(f, PCI_STATUS, 0x0000, 2);
    cr_assert_eq(cfg_read(f, PCI_STATUS, 2), 0xfa10);
    cfg_write(f, PCI_STATUS, 0x8110, 2);
    cr_assert_eq(cfg_read(f, PCI_STATUS, 2), 0x7a10);
    /* a dword write over command+status changes both as their masks say */
    cfg_write(f, PCI_COMMAND, 0xffff0000, 4);
    cr_assert_eq(cfg_read(f, PCI_COMMAND, 4), 0x02100000);
    /* cache line size and interrupt line are writable; unused BARs are not */
    cfg_write(f, PCI_CACHE_LINE_SIZE, 0x10, 1);
    cfg_write(f, PCI_INTERRUPT_LINE, 0x0b, 1);
    cfg_write(f, PCI_BASE_ADDRESS_0, 0xffffffff, 4);
    cr_assert_eq(cfg_read(f, PCI_CACHE_LINE_SIZE, 1), 0x10);
    cr_assert_eq(cfg_read(f, PCI_INTERRUPT_LINE, 1), 0x0b);
    cr_assert_eq(cfg_read(f, PCI_BASE_ADDRESS_0, 4), 0);
    /* the device-specific area starts writable; a device can narrow it */
    cfg_write(f, 0xfc, 0xdeadbeef, 4);
    cr_assert_eq(cfg_read(f, 0xfc, 4), 0xdeadbeef);
    pci_wmask(d)[0xfd] = 0x0f;
    cfg_write(f, 0xfc, 0, 4);
    cr_assert_eq(cfg_read(f, 0xfc, 4), 0x0000b000);
}

Test(pci, multifunction_bit)
{
    PciDevice *f0 = dev(PCI_DEVFN(4, 0));
    cr_assert_eq(pci_config(f0)[PCI_HEADER_TYPE], 0);
    PciDevice *f5 = dev(PCI_DEVFN(4, 5));
    cr_assert_eq(cfg_read(PCI_DEVFN(4, 0), PCI_HEADER_TYPE, 1), PCI_HEADER_TYPE_MULTI_FUNCTION);
    cr_assert_eq(cfg_read(PCI_DEVFN(4, 5), PCI_HEADER_TYPE, 1), 0);
    pci_unregister(f5);
    cr_assert_eq(cfg_read(PCI_DEVFN(4, 0), PCI_HEADER_TYPE, 1), 0);
    cr_assert_eq(cfg_read(PCI_DEVFN(4, 5), 0, 4), 0xffffffff);
    /* function 0 registered after the others still gets it */
    dev(PCI_DEVFN(6, 1));
    dev(PCI_DEVFN(6, 0));
    cr_assert_eq(cfg_read(PCI_DEVFN(6, 0), PCI_HEADER_TYPE, 1), PCI_HEADER_TYPE_MULTI_FUNCTION);
    (void)f0;
}

typedef struct MapLog {
    int calls, bar;
    uint64_t old_addr, new_addr;
} MapLog;

static void on_map(void *opaque, PciDevice *d, int bar, uint64_t old_addr, uint64_t new_addr)
{
    MapLog *l = opaque;
    l->calls++;
    l->bar = bar;
    l->old_addr = old_addr;
    l->new_addr = new_addr;
}

Test(pci, bar_sizing)
{
    PciDevice *d = dev(PCI_DEVFN(5, 0));
    unsigned f = PCI_DEVFN(5, 0);
    cr_assert_eq(pci_register_bar(d, 0, 0x1000, 0, NULL, NULL), 0);
    cr_assert_eq(pci_register_bar(d, 1, 0x20, PCI_BAR_IO, NULL, NULL), 0);
    cr_assert_eq(pci_register_bar(d, 2, 1 << 20, PCI_BAR_MEM64 | PCI_BAR_PREFETCH, NULL, NULL), 0);
    cr_assert_eq(pci_register_bar(d, PCI_ROM_SLOT, 0x10000, 0, NULL, NULL), 0);
    /* type bits before sizing */
    cr_assert_eq(cfg_read(f, 0x10, 4), 0x0);
    cr_assert_eq(cfg_read(f, 0x14, 4), 0x1);
    cr_assert_eq(cfg_read(f, 0x18, 4), 0xc);
    cr_assert_eq(cfg_read(f, 0x1c, 4), 0x0);
    for (unsigned r = 0x10; r <= 0x1c; r += 4)
        cfg_write(f, r, 0xffffffff, 4);
    cfg_write(f, PCI_ROM_ADDRESS, 0xfffffffe, 4); /* SeaBIOS sizes ROMs with the enable off */
    cr_assert_eq(cfg_read(f, 0x10, 4), 0xfffff000);
    cr_assert_eq(cfg_read(f, 0x14, 4), 0xffffffe1);
    cr_assert_eq(cfg_read(f, 0x18, 4), 0xfff0000c);
    cr_assert_eq(cfg_read(f, 0x1c, 4), 0xffffffff);
    cr_assert_eq(cfg_read(f, PCI_ROM_ADDRESS, 4), 0xffff0000);
    /* unused BAR 4 stays 0 */
    cfg_write(f, 0x20, 0xffffffff, 4);
    cr_assert_eq(cfg_read(f, 0x20, 4), 0);
    /* address bits below the size are not writable */
    cfg_write(f, 0x10, 0xfebf1234, 4);
    cr_assert_eq(cfg_read(f, 0x10, 4), 0xfebf1000);
    cfg_write(f, 0x14, 0xc05f, 4);
    cr_assert_eq(cfg_read(f, 0x14, 4), 0xc041);

    /* bad declarations */
    cr_assert_eq(pci_register_bar(d, 0, 0x1000, 0, NULL, NULL), -EBUSY);
    cr_assert_eq(pci_register_bar(d, 3, 0x1000, 0, NULL, NULL), -EBUSY); /* upper half of 2 */
    cr_assert_eq(pci_register_bar(d, 4, 0x3000, 0, NULL, NULL), -EINVAL);
    cr_assert_eq(pci_register_bar(d, 4, 8, 0, NULL, NULL), -EINVAL);
    cr_assert_eq(pci_register_bar(d, 4, 2, PCI_BAR_IO, NULL, NULL), -EINVAL);
    cr_assert_eq(pci_register_bar(d, 5, 0x1000, PCI_BAR_MEM64, NULL, NULL), -EINVAL);
    cr_assert_eq(pci_register_bar(d, 7, 0x1000, 0, NULL, NULL), -EINVAL);
}

Test(pci, bar_mapping_follows_command_and_address)
{
    PciDevice *d = dev(PCI_DEVFN(5, 0));
    unsigned f = PCI_DEVFN(5, 0);
    MapLog mem = {0}, io_log = {0}, rom = {0};
    cr_assert_eq(pci_register_bar(d, 0, 0x1000, 0, on_map, &mem), 0);
    cr_assert_eq(pci_register_bar(d, 1, 0x20, PCI_BAR_IO, on_map, &io_log), 0);
    cr_assert_eq(pci_register_bar(d, PCI_ROM_SLOT, 0x10000, 0, on_map, &rom), 0);
    cfg_write(f, 0x10, 0xfebf0000, 4);
    cfg_write(f, 0x14, 0xc000, 4);
    cfg_write(f, PCI_ROM_ADDRESS, 0xfeb00000, 4);
    cr_assert_eq(mem.calls + io_log.calls + rom.calls, 0, "mapped with decode off");
    cr_assert_eq(pci_bar_addr(d, 0), PCI_BAR_UNMAPPED);

    cfg_write(f, PCI_COMMAND, PCI_COMMAND_IO, 2);
    cr_assert_eq(io_log.calls, 1);
    cr_assert_eq(io_log.old_addr, PCI_BAR_UNMAPPED);
    cr_assert_eq(io_log.new_addr, 0xc000);
    cr_assert_eq(mem.calls, 0);
    cfg_write(f, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY, 2);
    cr_assert_eq(mem.calls, 1);
    cr_assert_eq(mem.new_addr, 0xfebf0000);
    cr_assert_eq(pci_bar_addr(d, 0), 0xfebf0000);
    cr_assert_eq(rom.calls, 0, "ROM decodes only with its enable bit");
    cfg_write(f, PCI_ROM_ADDRESS, 0xfeb00001, 4);
    cr_assert_eq(rom.calls, 1);
    cr_assert_eq(rom.new_addr, 0xfeb00000);

    /* sizing with decode on unmaps, restoring maps again */
    cfg_write(f, 0x10, 0xffffffff, 4);
    cr_assert_eq(mem.calls, 2);
    cr_assert_eq(mem.old_addr, 0xfebf0000);
    cr_assert_eq(mem.new_addr, PCI_BAR_UNMAPPED);
    cfg_write(f, 0x10, 0xfebf0000, 4);
    cr_assert_eq(mem.calls, 3);
    cr_assert_eq(mem.new_addr, 0xfebf0000);
    /* moving */
    cfg_write(f, 0x10, 0xfe000000, 4);
    cr_assert_eq(mem.calls, 4);
    cr_assert_eq(mem.old_addr, 0xfebf0000);
    cr_assert_eq(mem.new_addr, 0xfe000000);
    /* rewriting the same value is no change */
    cfg_write(f, 0x10, 0xfe000000, 4);
    cr_assert_eq(mem.calls, 4);
    /* an I/O BAR at the top of the 64 KiB is fine, one past it or at 0 is not mapped */
    cfg_write(f, 0x14, 0xffe0, 4);
    cr_assert_eq(io_log.new_addr, 0xffe0);
    cfg_write(f, 0x14, 0x10000, 4);
    cr_assert_eq(io_log.new_addr, PCI_BAR_UNMAPPED);
    cfg_write(f, 0x14, 0x1000, 4);
    cr_assert_eq(io_log.new_addr, 0x1000);
    cfg_write(f, 0x14, 0, 4);
    cr_assert_eq(io_log.new_addr, PCI_BAR_UNMAPPED);
    cfg_write(f, 0x14, 0x1000, 4);
    cr_assert_eq(io_log.new_addr, 0x1000);
    /* decode off unmaps everything */
    cfg_write(f, PCI_COMMAND, 0, 2);
    cr_assert_eq(mem.new_addr, PCI_BAR_UNMAPPED);
    cr_assert_eq(io_log.new_addr, PCI_BAR_UNMAPPED);
    cr_assert_eq(rom.new_addr, PCI_BAR_UNMAPPED);
}

typedef struct WriteLog {
    int calls;
    unsigned off, size;
    uint32_t val;
} WriteLog;

static void on_write(void *opaque, PciDevice *d, unsigned off, uint32_t val, unsigned size)
{
    WriteLog *l = opaque;
    l->calls++;
    l->off = off;
    l->val = val;
    l->size = size;
}

Test(pci, config_write_callback)
{
    PciDevice *d = dev(PCI_DEVFN(7, 0));
    WriteLog l = {0};
    pci_set_config_write(d, on_write, &l);
    cfg_write(PCI_DEVFN(7, 0), 0x62, 0xabcd, 2);
    cr_assert_eq(l.calls, 1);
    cr_assert_eq(l.off, 0x62);
    cr_assert_eq(l.size, 2);
    cr_assert_eq(l.val, 0xabcd);
    /* the callback sees the register already written */
    cr_assert_eq(pci_config(d)[0x63], 0xab);
    cfg_read(PCI_DEVFN(7, 0), 0x62, 2);
    cr_assert_eq(l.calls, 1, "reads do not call it");
}

typedef struct IrqLog {
    int calls;
    unsigned devfn, pin;
    int level;
} IrqLog;

static void on_route(void *opaque, unsigned devfn, unsigned pin, int level)
{
    IrqLog *l = opaque;
    l->calls++;
    l->devfn = devfn;
    l->pin = pin;
    l->level = level;
}

Test(pci, intx_goes_to_the_router)
{
    IrqLog l = {0};
    pci_bus_set_irq_router(bus, on_route, &l);
    PciDevice *d = dev(PCI_DEVFN(3, 0));
    pci_set_irq(d, 1); /* no pin: nothing */
    cr_assert_eq(l.calls, 0);
    pci_config(d)[PCI_INTERRUPT_PIN] = 2; /* INTB# */
    pci_set_irq(d, 1);
    cr_assert_eq(l.calls, 1);
    cr_assert_eq(l.devfn, PCI_DEVFN(3, 0));
    cr_assert_eq(l.pin, 1);
    cr_assert_eq(l.level, 1);
    cr_assert(cfg_read(PCI_DEVFN(3, 0), PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
    pci_set_irq(d, 1); /* no change, no call */
    cr_assert_eq(l.calls, 1);
    /* INTX_DISABLE masks the pin but the status bit still shows the device's request */
    cfg_write(PCI_DEVFN(3, 0), PCI_COMMAND, PCI_COMMAND_INTX_DISABLE, 2);
    cr_assert_eq(l.calls, 2);
    cr_assert_eq(l.level, 0);
    cr_assert(cfg_read(PCI_DEVFN(3, 0), PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
    cfg_write(PCI_DEVFN(3, 0), PCI_COMMAND, 0, 2);
    cr_assert_eq(l.calls, 3);
    cr_assert_eq(l.level, 1);
    pci_set_irq(d, 0);
    cr_assert_eq(l.calls, 4);
    cr_assert_eq(l.level, 0);
    cr_assert_eq(cfg_read(PCI_DEVFN(3, 0), PCI_STATUS, 2) & PCI_STATUS_INTERRUPT, 0);
}

/* ---- PIIX3 ------------------------------------------------------------------------------- */

static int isa_level[16], isa_calls;

static void on_isa_irq(void *opaque, int n, int level)
{
    isa_level[n] = level;
    isa_calls++;
}

static Piix3 *piix(void)
{
    char err[128] = "";
    Piix3 *p = piix3_new(bus, PIIX3_SLOT, err, sizeof(err));
    cr_assert_not_null(p, "%s", err);
    IrqLine lines[16];
    for (int i = 0; i < 16; i++)
        lines[i] = irq_line(on_isa_irq, NULL, i);
    memset(isa_level, 0, sizeof(isa_level));
    isa_calls = 0;
    piix3_set_isa_irqs(p, lines);
    return p;
}

Test(piix, identity_and_reset_values)
{
    Piix3 *p = piix();
    unsigned isa = PCI_DEVFN(PIIX3_SLOT, 0), ide = PCI_DEVFN(PIIX3_SLOT, 1);
    cr_assert_eq(cfg_read(isa, 0, 4), 0x70008086);
    cr_assert_eq(cfg_read(isa, PCI_CLASS_DEVICE, 2), 0x0601);
    cr_assert_eq(cfg_read(isa, PCI_HEADER_TYPE, 1), PCI_HEADER_TYPE_MULTI_FUNCTION);
    cr_assert_eq(cfg_read(isa, PIIX_PIRQRC, 4), 0x80808080);
    cr_assert_eq(cfg_read(isa, PIIX_IORT, 1), 0x4d);
    cr_assert_eq(cfg_read(isa, PIIX_TOM, 1), 0x02);
    cr_assert_eq(cfg_read(ide, 0, 4), 0x70108086);
    cr_assert_eq(cfg_read(ide, PCI_CLASS_PROG, 4) & 0xffffff, 0x010180);
    cr_assert_eq(cfg_read(ide, PCI_INTERRUPT_PIN, 1), 0);
    /* BMIBA is BAR 4, 16 I/O ports */
    cfg_write(ide, PIIX_IDE_BMIBA, 0xffffffff, 4);
    cr_assert_eq(cfg_read(ide, PIIX_IDE_BMIBA, 4), 0xfffffff1);
    /* SeaBIOS's IDE enable */
    cfg_write(ide, PIIX_IDE_IDETIM_PRI, PIIX_IDE_IDETIM_IDE, 2);
    cr_assert_eq(cfg_read(ide, PIIX_IDE_IDETIM_PRI, 2), PIIX_IDE_IDETIM_IDE);
    cr_assert_eq(pci_find(bus, isa), piix3_isa(p));
    cr_assert_eq(pci_find(bus, ide), piix3_ide(p));
    piix3_free(p);
}

typedef struct IdeLog {
    int writes, maps;
    uint64_t addr;
} IdeLog;

static void ide_write(void *opaque, PciDevice *d, unsigned off, uint32_t val, unsigned size)
{
    ((IdeLog *)opaque)->writes++;
}

static void ide_map(void *opaque, PciDevice *d, int bar, uint64_t old_addr, uint64_t new_addr)
{
    IdeLog *l = opaque;
    l->maps++;
    l->addr = new_addr;
}

Test(piix, ide_hooks)
{
    Piix3 *p = piix();
    unsigned ide = PCI_DEVFN(PIIX3_SLOT, 1);
    IdeLog l = {0};
    PiixIdeHooks h = {ide_write, ide_map};
    piix3_ide_set_hooks(p, &h, &l);
    cfg_write(ide, PIIX_IDE_BMIBA, 0xc040, 4);
    cfg_write(ide, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MASTER, 2);
    cr_assert_eq(l.writes, 2);
    cr_assert_eq(l.maps, 1);
    cr_assert_eq(l.addr, 0xc040);
    piix3_free(p);
}

Test(piix, pirq_routing)
{
    Piix3 *p = piix();
    unsigned isa = PCI_DEVFN(PIIX3_SLOT, 0);
    /* a card in slot 3 on INTA#: PIRQ (0 + 3 - 1) mod 4 = C */
    PciDevice *card = dev(PCI_DEVFN(3, 0));
    pci_config(card)[PCI_INTERRUPT_PIN] = 1;
    pci_set_irq(card, 1);
    cr_assert_eq(isa_calls, 0, "routing is disabled at reset");
    cr_assert_eq(piix3_pirq_irq(p, 2), -1);

    cfg_write(isa, PIIX_PIRQRC + 2, 11, 1);
    cr_assert_eq(piix3_pirq_irq(p, 2), 11);
    cr_assert_eq(isa_level[11], 1);
    pci_set_irq(card, 0);
    cr_assert_eq(isa_level[11], 0);
    pci_set_irq(card, 1);
    cr_assert_eq(isa_level[11], 1);

    /* rerouting moves the level */
    cfg_write(isa, PIIX_PIRQRC + 2, 10, 1);
    cr_assert_eq(isa_level[11], 0);
    cr_assert_eq(isa_level[10], 1);
    /* reserved IRQs and IRQROUTEEN disable the route */
    cfg_write(isa, PIIX_PIRQRC + 2, 13, 1);
    cr_assert_eq(isa_level[10], 0);
    cr_assert_eq(isa_level[13], 0);
    cr_assert_eq(piix3_pirq_irq(p, 2), -1);
    cfg_write(isa, PIIX_PIRQRC + 2, 0x8b, 1);
    cr_assert_eq(isa_level[11], 0);
    /* reserved bits 6:4 do not stick */
    cfg_write(isa, PIIX_PIRQRC + 2, 0x7b, 1);
    cr_assert_eq(cfg_read(isa, PIIX_PIRQRC + 2, 1), 0x0b);
    cr_assert_eq(isa_level[11], 1);

    /* two cards sharing one PIRQ: the line stays up until both let go. Slot 7 INTC#:
     * (2 + 7 - 1) mod 4 = 0 = A; slot 4 INTB#: (1 + 4 - 1) mod 4 = 0 = A. */
    cfg_write(isa, PIIX_PIRQRC + 0, 5, 1);
    PciDevice *c7 = dev(PCI_DEVFN(7, 0)), *c4 = dev(PCI_DEVFN(4, 0));
    pci_config(c7)[PCI_INTERRUPT_PIN] = 3;
    pci_config(c4)[PCI_INTERRUPT_PIN] = 2;
    pci_set_irq(c7, 1);
    pci_set_irq(c4, 1);
    cr_assert_eq(isa_level[5], 1);
    pci_set_irq(c7, 0);
    cr_assert_eq(isa_level[5], 1);
    pci_set_irq(c4, 0);
    cr_assert_eq(isa_level[5], 0);
    /* SeaBIOS's setup: a dword write of all four */
    cfg_write(isa, PIIX_PIRQRC, 0x0b0b0a0a, 4);
    cr_assert_eq(piix3_pirq_irq(p, 0), 10);
    cr_assert_eq(piix3_pirq_irq(p, 3), 11);
    piix3_free(p);
}

static int resets, last_hard;

static void on_reset(void *opaque, bool hard)
{
    resets++;
    last_hard = hard;
}

Test(piix, reset_control_register)
{
    Piix3 *p = piix();
    resets = 0;
    piix3_set_reset_handler(p, on_reset, NULL);
    cr_assert_eq(io_read(io, PIIX_RCR_PORT, 1), 0);
    io_write(io, PIIX_RCR_PORT, PIIX_RCR_SRST, 1);
    cr_assert_eq(resets, 0);
    cr_assert_eq(io_read(io, PIIX_RCR_PORT, 1), PIIX_RCR_SRST);
    io_write(io, PIIX_RCR_PORT, PIIX_RCR_SRST | PIIX_RCR_RCPU, 1);
    cr_assert_eq(resets, 1);
    cr_assert_eq(last_hard, 1);
    io_write(io, PIIX_RCR_PORT, PIIX_RCR_RCPU, 1);
    cr_assert_eq(resets, 2);
    cr_assert_eq(last_hard, 0);
    /* CONFIG_ADDRESS next to it is untouched, and a dword at 0xcf8 is not the RCR */
    io_write(io, PCI_CONFIG_ADDRESS, 0x80000000, 4);
    cr_assert_eq(resets, 2);
    cr_assert_eq(io_read(io, PCI_CONFIG_ADDRESS, 4), 0x80000000);
    piix3_free(p);
}
