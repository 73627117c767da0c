#include "hw/ioport.h"

#include <errno.h>

#include <glib.h>

typedef struct IoRange {
    uint16_t base;
    uint32_t count;
    const IoOps *ops;
    void *dev;
} IoRange;

/* One pointer per port makes dispatch a single load on the hot path (guests hammer the UART,
 * PIT and PIC ports); 512 KiB per bus is a fair price. */
struct IoBus {
    IoRange *port[65536];
    GPtrArray *ranges; /* owns the IoRange structs */
    uint64_t accesses;
};

static uint32_t size_mask(unsigned size)
{
    return size >= 4 ? 0xffffffffu : (1u << (8 * size)) - 1;
}

IoBus *io_bus_new(void)
{
    IoBus *bus = g_new0(IoBus, 1);
    bus->ranges = g_ptr_array_new_with_free_func(g_free);
    return bus;
}

void io_bus_free(IoBus *bus)
{
    if (!bus)
        return;
    g_ptr_array_free(bus->ranges, TRUE);
    g_free(bus);
}

int io_register(IoBus *bus, uint16_t port, uint32_t count, const IoOps *ops, void *dev)
{
    if (count == 0 || count > 0x10000u - port || !ops)
        return -EINVAL;
    for (uint32_t i = 0; i < count; i++)
        if (bus->port[port + i])
            return -EEXIST;
    IoRange *r = g_new0(IoRange, 1);
    *r = (IoRange){port, count, ops, dev};
    g_ptr_array_add(bus->ranges, r);
    for (uint32_t i = 0; i < count; i++)
        bus->port[port + i] = r;
    return 0;
}

uint64_t io_accesses(const IoBus *bus)
{
    return bus->accesses;
}

uint32_t io_read(IoBus *bus, uint16_t port, unsigned size)
{
    bus->accesses++;
    if (size != 1 && size != 2 && size != 4)
        return 0xffffffffu;
    const IoRange *r = bus->port[port];
    if (!r || !r->ops->read)
        return size_mask(size);
    /* Mask so stray high bits from a device never reach the guest's wider register. */
    return r->ops->read(r->dev, (uint16_t)(port - r->base), size) & size_mask(size);
}

void io_write(IoBus *bus, uint16_t port, uint32_t val, unsigned size)
{
    bus->accesses++;
    if (size != 1 && size != 2 && size != 4)
        return;
    const IoRange *r = bus->port[port];
    if (r && r->ops->write)
        r->ops->write(r->dev, (uint16_t)(port - r->base), val & size_mask(size), size);
}
