/* hw/irq.h: interrupt lines between devices and interrupt controllers.
 *
 * A line is a callback plus its target; devices hold the line they were given at init and call
 * irq_set() on it. A line with no target (handler NULL) is a valid, unconnected pin.
 */
#ifndef DUALVM_HW_IRQ_H
#define DUALVM_HW_IRQ_H

typedef void (*IrqHandler)(void *opaque, int n, int level);

typedef struct IrqLine {
    IrqHandler handler;
    void *opaque;
    int n;
} IrqLine;

static inline IrqLine irq_line(IrqHandler h, void *opaque, int n)
{
    IrqLine l = {h, opaque, n};
    return l;
}

static inline void irq_set(const IrqLine *l, int level)
{
    if (l && l->handler)
        l->handler(l->opaque, l->n, level);
}

static inline void irq_pulse(const IrqLine *l)
{
    irq_set(l, 1);
    irq_set(l, 0);
}

#endif
