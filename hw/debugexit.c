#include "hw/debugexit.h"

#include <glib.h>

struct DebugExit {
    DebugExitFn on_exit;
    void *opaque;
};

static uint32_t debugexit_read(void *dev, uint16_t off, unsigned size)
{
    /* QEMU returns 0 here; guests use it to tell the device is there (a bare bus gives ones). */
    return 0;
}

static void debugexit_write(void *dev, uint16_t off, uint32_t val, unsigned size)
{
    DebugExit *d = dev;
    if (d->on_exit)
        d->on_exit(d->opaque, debugexit_status(val));
}

static const IoOps debugexit_ops = {debugexit_read, debugexit_write};

DebugExit *debugexit_init(IoBus *bus, uint16_t port, unsigned size, DebugExitFn on_exit,
                          void *opaque)
{
    DebugExit *d = g_new0(DebugExit, 1);
    d->on_exit = on_exit;
    d->opaque = opaque;
    if (io_register(bus, port, size, &debugexit_ops, d) < 0) {
        g_free(d);
        return NULL;
    }
    return d;
}

void debugexit_free(DebugExit *d)
{
    g_free(d);
}
