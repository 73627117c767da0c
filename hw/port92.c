#include "hw/port92.h"

#include <glib.h>

struct Port92State {
    Port92Board board;
    uint8_t val;
};

static uint32_t port92_read(void *dev, uint16_t off, unsigned size)
{
    Port92State *s = dev;
    return s->val | (size > 1 ? 0xffffff00u : 0);
}

static void port92_write(void *dev, uint16_t off, uint32_t v, unsigned size)
{
    Port92State *s = dev;
    uint8_t old = s->val, val = (uint8_t)v;
    s->val = val;
    if (((old ^ val) & PORT92_A20) && s->board.a20)
        s->board.a20(s->board.opaque, val & PORT92_A20);
    if ((val & PORT92_FAST_RESET) && !(old & PORT92_FAST_RESET) && s->board.reset)
        s->board.reset(s->board.opaque);
}

static const IoOps port92_ops = {port92_read, port92_write};

Port92State *port92_init(IoBus *bus, uint16_t port, const Port92Board *board)
{
    Port92State *s = g_new0(Port92State, 1);
    if (board)
        s->board = *board;
    if (io_register(bus, port, 1, &port92_ops, s) < 0) {
        g_free(s);
        return NULL;
    }
    return s;
}

void port92_free(Port92State *s)
{
    g_free(s);
}

void port92_reset(Port92State *s)
{
    s->val = 0;
}

bool port92_a20(Port92State *s)
{
    return s->val & PORT92_A20;
}
