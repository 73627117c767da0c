#include "hw/debugcon.h"

#include <glib.h>

struct DebugCon {
    CharDev *chr;
};

static uint32_t debugcon_read(void *dev, uint16_t off, unsigned size)
{
    return DEBUGCON_READBACK;
}

static void debugcon_write(void *dev, uint16_t off, uint32_t val, unsigned size)
{
    DebugCon *d = dev;
    /* QEMU's port is one byte wide: a wider write outputs its low byte */
    uint8_t c = (uint8_t)val;
    if (d->chr)
        chr_write(d->chr, &c, 1);
}

static const IoOps debugcon_ops = {debugcon_read, debugcon_write};

DebugCon *debugcon_init(IoBus *bus, uint16_t port, CharDev *chr)
{
    DebugCon *d = g_new0(DebugCon, 1);
    d->chr = chr;
    if (io_register(bus, port, 1, &debugcon_ops, d) < 0) {
        g_free(d);
        return NULL;
    }
    return d;
}

int debugcon_add_port(DebugCon *d, IoBus *bus, uint16_t port)
{
    return io_register(bus, port, 1, &debugcon_ops, d);
}

void debugcon_free(DebugCon *d)
{
    g_free(d);
}
