#include <criterion/criterion.h>

#include <errno.h>

#include "hw/ioport.h"

typedef struct Dev {
    uint32_t regs[16];
    uint16_t last_off;
    unsigned last_size;
    int reads, writes;
} Dev;

static uint32_t dev_read(void *opaque, uint16_t off, unsigned size)
{
    Dev *d = opaque;
    d->reads++;
    d->last_off = off, d->last_size = size;
    return d->regs[off] | 0xabcd0000u; /* high garbage: the bus must mask it to the size */
}

static void dev_write(void *opaque, uint16_t off, uint32_t val, unsigned size)
{
    Dev *d = opaque;
    d->writes++;
    d->last_off = off, d->last_size = size;
    d->regs[off] = val;
}

static const IoOps ops = {dev_read, dev_write};

static IoBus *bus;
static Dev a, b;

static void setup(void)
{
    bus = io_bus_new();
    a = (Dev){0};
    b = (Dev){0};
}

static void teardown(void)
{
    io_bus_free(bus);
}

TestSuite(ioport, .init = setup, .fini = teardown);

Test(ioport, unclaimed_reads_all_ones)
{
    cr_assert_eq(io_read(bus, 0x80, 1), 0xff);
    cr_assert_eq(io_read(bus, 0x80, 2), 0xffff);
    cr_assert_eq(io_read(bus, 0x80, 4), 0xffffffffu);
    cr_assert_eq(io_read(bus, 0xffff, 4), 0xffffffffu);
    io_write(bus, 0x80, 1, 1); /* dropped, no crash */
}

Test(ioport, ranges_and_offsets)
{
    cr_assert_eq(io_register(bus, 0x3f8, 8, &ops, &a), 0);
    cr_assert_eq(io_register(bus, 0x2f8, 8, &ops, &b), 0);
    io_write(bus, 0x3fb, 0x83, 1);
    cr_assert_eq(a.regs[3], 0x83);
    cr_assert_eq(a.last_off, 3);
    cr_assert_eq(b.writes, 0);
    cr_assert_eq(io_read(bus, 0x3fb, 1), 0x83);
    cr_assert_eq(io_read(bus, 0x3fb, 2), 0x0083);
    cr_assert_eq(a.last_size, 2);
    io_write(bus, 0x2ff, 0x12345678, 2);
    cr_assert_eq(b.regs[7], 0x5678);
    cr_assert_eq(b.last_off, 7);
    cr_assert_eq(io_read(bus, 0x3f7, 1), 0xff);
    cr_assert_eq(io_read(bus, 0x400, 1), 0xff);
    cr_assert_eq(a.reads, 2);
}

Test(ioport, last_port_and_bounds)
{
    cr_assert_eq(io_register(bus, 0xfff0, 16, &ops, &a), 0);
    io_write(bus, 0xffff, 0x42, 1);
    cr_assert_eq(a.regs[15], 0x42);
    cr_assert_eq(io_register(bus, 0xfff0, 17, &ops, &b), -EINVAL);
    cr_assert_eq(io_register(bus, 0, 0, &ops, &b), -EINVAL);
    cr_assert_eq(io_register(bus, 0, 0x10001, &ops, &b), -EINVAL);
    cr_assert_eq(io_register(bus, 0x10, 1, NULL, &b), -EINVAL);
}

Test(ioport, overlap_refused_without_side_effects)
{
    cr_assert_eq(io_register(bus, 0x60, 1, &ops, &a), 0);
    cr_assert_eq(io_register(bus, 0x64, 1, &ops, &a), 0);
    cr_assert_eq(io_register(bus, 0x5f, 2, &ops, &b), -EEXIST);
    cr_assert_eq(io_register(bus, 0x61, 4, &ops, &b), -EEXIST);
    /* the refused ranges claimed nothing */
    cr_assert_eq(io_read(bus, 0x5f, 1), 0xff);
    cr_assert_eq(io_read(bus, 0x61, 1), 0xff);
    cr_assert_eq(io_register(bus, 0x61, 3, &ops, &b), 0);
    io_write(bus, 0x63, 7, 1);
    cr_assert_eq(b.regs[2], 7);
    cr_assert_eq(io_register(bus, 0, 0x10000, &ops, &b), -EEXIST);
}

Test(ioport, whole_space)
{
    cr_assert_eq(io_register(bus, 0, 0x10000, &ops, &a), 0);
    cr_assert_eq(io_register(bus, 0xffff, 1, &ops, &b), -EEXIST);
}
