#include "hw/ioapic.h"

#include <stdio.h>

#include <glib.h>

#define RTE_LO_WRITABLE                                                                            \
    (IOAPIC_RTE_VECTOR | IOAPIC_RTE_DM_MASK | IOAPIC_RTE_DEST_LOGICAL | IOAPIC_RTE_POLARITY_LOW |  \
     IOAPIC_RTE_LEVEL | IOAPIC_RTE_MASKED)
#define RTE_HI_WRITABLE (0xffu << IOAPIC_RTE_DEST_SHIFT)

struct IoapicState {
    AddressSpace *as;
    uint64_t base;
    IoapicBoard board;
    uint8_t reset_id;

    uint8_t ioregsel;
    uint32_t id; /* as the register reads: bits 24-27 */
    uint32_t arb;
    uint32_t lo[IOAPIC_NUM_PINS], hi[IOAPIC_NUM_PINS];
    uint32_t levels; /* pin inputs, bit n = pin n asserted */
};

static bool asserted(const IoapicState *s, int pin)
{
    return s->levels & (1u << pin);
}

/* Send pin's message if its entry lets it go now. */
static void service(IoapicState *s, int pin)
{
    uint32_t lo = s->lo[pin];
    bool level = lo & IOAPIC_RTE_LEVEL;
    if ((lo & IOAPIC_RTE_MASKED) || (level && (!asserted(s, pin) || (lo & IOAPIC_RTE_REMOTE_IRR))))
        return;
    unsigned dm = (lo & IOAPIC_RTE_DM_MASK) >> IOAPIC_RTE_DM_SHIFT;
    if (dm == 3 || dm == 6)
        return; /* reserved delivery modes */
    ApicMsg msg = {
        .vector = (uint8_t)(lo & IOAPIC_RTE_VECTOR),
        .delivery_mode = (uint8_t)dm,
        .logical = lo & IOAPIC_RTE_DEST_LOGICAL,
        .level = level,
        .dest = (uint8_t)(s->hi[pin] >> IOAPIC_RTE_DEST_SHIFT),
    };
    bool taken = s->board.deliver && s->board.deliver(s->board.opaque, &msg);
    if (taken && level && (dm == APIC_DM_FIXED || dm == APIC_DM_LOWEST))
        s->lo[pin] |= IOAPIC_RTE_REMOTE_IRR;
}

void ioapic_set_irq(void *opaque, int n, int level)
{
    IoapicState *s = opaque;
    if (n < 0 || n >= IOAPIC_NUM_PINS)
        return;
    bool was = asserted(s, n);
    if (level)
        s->levels |= 1u << n;
    else
        s->levels &= ~(1u << n);
    if (!level)
        return;
    if (s->lo[n] & IOAPIC_RTE_LEVEL)
        service(s, n);
    else if (!was)
        service(s, n);
}

void ioapic_eoi(IoapicState *s, uint8_t vector)
{
    for (int pin = 0; pin < IOAPIC_NUM_PINS; pin++) {
        uint32_t lo = s->lo[pin];
        if ((lo & IOAPIC_RTE_REMOTE_IRR) && (lo & IOAPIC_RTE_VECTOR) == vector) {
            s->lo[pin] &= ~IOAPIC_RTE_REMOTE_IRR;
            service(s, pin);
        }
    }
}

static uint32_t read_indexed(IoapicState *s)
{
    unsigned idx = s->ioregsel;
    switch (idx) {
    case IOAPIC_REG_ID:
        return s->id;
    case IOAPIC_REG_VER:
        return IOAPIC_VERSION_VALUE;
    case IOAPIC_REG_ARB:
        return s->arb;
    }
    if (idx >= IOAPIC_REG_REDTBL && idx < IOAPIC_REG_REDTBL + 2 * IOAPIC_NUM_PINS) {
        int pin = (int)(idx - IOAPIC_REG_REDTBL) / 2;
        return (idx & 1) ? s->hi[pin] : s->lo[pin];
    }
    return 0;
}

static void write_indexed(IoapicState *s, uint32_t val)
{
    unsigned idx = s->ioregsel;
    if (idx == IOAPIC_REG_ID) {
        s->id = val & IOAPIC_ID_MASK;
        s->arb = s->id; /* the arbitration ID is loaded from the ID */
        return;
    }
    if (idx < IOAPIC_REG_REDTBL || idx >= IOAPIC_REG_REDTBL + 2 * IOAPIC_NUM_PINS)
        return; /* version, arbitration: read-only; the rest reserved */
    int pin = (int)(idx - IOAPIC_REG_REDTBL) / 2;
    if (idx & 1) {
        s->hi[pin] = val & RTE_HI_WRITABLE;
        return;
    }
    uint32_t lo = (val & RTE_LO_WRITABLE) | (s->lo[pin] & IOAPIC_RTE_REMOTE_IRR);
    if (!(lo & IOAPIC_RTE_LEVEL))
        lo &= ~IOAPIC_RTE_REMOTE_IRR;
    s->lo[pin] = lo;
    if (lo & IOAPIC_RTE_LEVEL)
        service(s, pin); /* an asserted level input goes once it is unmasked */
}

static uint64_t ioapic_mmio_read(void *dev, uint64_t offset, unsigned size)
{
    IoapicState *s = dev;
    uint64_t v;
    if (offset == IOAPIC_IOREGSEL)
        v = s->ioregsel;
    else if (offset >= IOAPIC_IOWIN && offset < IOAPIC_IOWIN + 4)
        v = read_indexed(s) >> ((offset - IOAPIC_IOWIN) * 8);
    else
        return 0;
    return size >= 4 ? v : v & ((1ull << (size * 8)) - 1);
}

static void ioapic_mmio_write(void *dev, uint64_t offset, uint64_t val, unsigned size)
{
    IoapicState *s = dev;
    if (offset == IOAPIC_IOREGSEL)
        s->ioregsel = (uint8_t)val;
    else if (offset == IOAPIC_IOWIN && size >= 4)
        write_indexed(s, (uint32_t)val);
}

static const MmioOps ioapic_mmio_ops = {
    .read = ioapic_mmio_read,
    .write = ioapic_mmio_write,
};

IoapicState *ioapic_init(AddressSpace *as, uint64_t base, uint8_t id, const IoapicBoard *board,
                         char *err, size_t errlen)
{
    IoapicState *s = g_new0(IoapicState, 1);
    s->as = as;
    s->base = base;
    if (board)
        s->board = *board;
    s->reset_id = id;
    ioapic_reset(s);
    int rc = as_add_mmio(as, base, IOAPIC_MMIO_SIZE, &ioapic_mmio_ops, s, "ioapic");
    if (rc) {
        snprintf(err, errlen, "IOAPIC: cannot map its registers at 0x%llx: %s",
                 (unsigned long long)base, g_strerror(-rc));
        g_free(s);
        return NULL;
    }
    return s;
}

void ioapic_free(IoapicState *s)
{
    if (!s)
        return;
    as_remove(s->as, s->base);
    g_free(s);
}

void ioapic_reset(IoapicState *s)
{
    s->ioregsel = 0;
    s->id = ((uint32_t)s->reset_id << IOAPIC_ID_SHIFT) & IOAPIC_ID_MASK;
    s->arb = s->id;
    for (int i = 0; i < IOAPIC_NUM_PINS; i++) {
        s->lo[i] = IOAPIC_RTE_MASKED;
        s->hi[i] = 0;
    }
}
