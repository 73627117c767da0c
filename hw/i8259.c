#include "hw/i8259.h"

#include <glib.h>

/* Where the next write to the data port (A0=1) goes. */
enum { EXPECT_OCW1 = 0, EXPECT_ICW2, EXPECT_ICW3, EXPECT_ICW4 };

typedef struct Pic {
    I8259State *owner;
    bool is_master;
    uint8_t irr, isr, imr;
    uint8_t lines; /* input pin levels, for edge detection and level-mode IRR */
    uint8_t elcr, elcr_mask;
    uint8_t icw1, icw2, icw3, icw4;
    uint8_t prio_add; /* IR number with the highest priority (lowest is prio_add - 1) */
    int expect;
    bool read_isr;     /* OCW3: command port reads ISR rather than IRR */
    bool poll;         /* OCW3.P: the next command port read is a poll */
    bool special_mask; /* OCW3 special mask mode */
    bool rotate_aeoi;  /* OCW2: rotate priority on automatic EOI */
} Pic;

struct I8259State {
    Pic chip[2]; /* master, slave */
    IrqLine intr;
    int intr_level;
};

static uint8_t level_mask(const Pic *p)
{
    return (p->icw1 & ICW1_LTIM) ? 0xff : p->elcr;
}

static bool auto_eoi(const Pic *p)
{
    return p->icw4 & ICW4_AEOI;
}

/* The highest-priority IR among bits, or -1. */
static int highest(const Pic *p, uint8_t bits)
{
    for (int k = 0; k < 8; k++) {
        int ir = (k + p->prio_add) & 7;
        if (bits & (1u << ir))
            return ir;
    }
    return -1;
}

static int priority(const Pic *p, int ir)
{
    return (ir - p->prio_add) & 7; /* 0 is the highest */
}

/* The request this chip would put on INT: the highest unmasked IRR bit that beats everything
 * in service. In special mask mode an in-service level only blocks itself; in special fully
 * nested mode the master lets a new slave request through while IR2 is in service (the slave
 * does its own priority resolution). */
static int pending_ir(const Pic *p)
{
    uint8_t req = p->irr & ~p->imr;
    if (p->special_mask)
        return highest(p, req & ~p->isr);
    int ir = highest(p, req);
    if (ir < 0)
        return -1;
    int cur = highest(p, p->isr);
    if (cur < 0 || priority(p, ir) < priority(p, cur))
        return ir;
    if (p->is_master && (p->icw4 & ICW4_SFNM) && ir == I8259_CASCADE_IRQ &&
        cur == I8259_CASCADE_IRQ)
        return ir;
    return -1;
}

static void set_input(Pic *p, int ir, int level)
{
    uint8_t bit = (uint8_t)(1u << ir);
    if (level_mask(p) & bit) {
        if (level)
            p->irr |= bit;
        else
            p->irr &= (uint8_t)~bit;
    } else if (level && !(p->lines & bit)) {
        p->irr |= bit; /* rising edge: latched until acknowledged */
    }
    if (level)
        p->lines |= bit;
    else
        p->lines &= (uint8_t)~bit;
}

/* Propagate the slave's INT to the master's IR2 and the master's INT to the board. */
static void update(I8259State *s)
{
    Pic *m = &s->chip[0], *sl = &s->chip[1];
    set_input(m, I8259_CASCADE_IRQ, pending_ir(sl) >= 0);
    int level = pending_ir(m) >= 0;
    if (level != s->intr_level) {
        s->intr_level = level;
        irq_set(&s->intr, level);
    }
}

/* The acknowledge on one chip: move the winning request from IRR to ISR (AEOI: not to ISR).
 * Returns the IR, or -1 when nothing is pending (the caller gives the spurious IR7). */
static int ack_chip(Pic *p)
{
    int ir = pending_ir(p);
    if (ir < 0)
        return -1;
    uint8_t bit = (uint8_t)(1u << ir);
    if (!(level_mask(p) & bit))
        p->irr &= (uint8_t)~bit; /* a level input keeps requesting while its line is high */
    if (auto_eoi(p)) {
        if (p->rotate_aeoi)
            p->prio_add = (uint8_t)((ir + 1) & 7);
    } else {
        p->isr |= bit;
    }
    return ir;
}

static uint8_t vector_base(const Pic *p)
{
    return p->icw2 & 0xf8;
}

int i8259_intr_ack(I8259State *s)
{
    Pic *m = &s->chip[0], *sl = &s->chip[1];
    int vec;
    int ir = ack_chip(m);
    if (ir < 0) {
        vec = vector_base(m) | 7;
    } else if (ir == I8259_CASCADE_IRQ && !(m->icw1 & ICW1_SNGL)) {
        /* the slave drives the vector; its request may have gone since it raised INT */
        int sir = ack_chip(sl);
        vec = vector_base(sl) | (sir < 0 ? 7 : sir);
    } else {
        vec = vector_base(m) | ir;
    }
    update(s);
    return vec;
}

bool i8259_intr_pending(I8259State *s)
{
    return s->intr_level;
}

void i8259_set_irq(void *opaque, int n, int level)
{
    I8259State *s = opaque;
    if (n < 0 || n > 15 || n == I8259_CASCADE_IRQ)
        return;
    set_input(&s->chip[n >> 3], n & 7, level);
    update(s);
}

static void write_icw1(Pic *p, uint8_t v)
{
    p->icw1 = v;
    p->expect = EXPECT_ICW2;
    /* Datasheet: the mask is cleared, IR7 gets the lowest priority, special mask mode is
     * cleared, status read is set to IRR, and the edge sense latches are reset (an edge input
     * that is high must go low and high again to request). */
    p->imr = 0;
    p->isr = 0;
    p->irr = p->lines & level_mask(p);
    p->prio_add = 0;
    p->special_mask = false;
    p->read_isr = false;
    p->poll = false;
    p->rotate_aeoi = false;
    if (!(v & ICW1_IC4))
        p->icw4 = 0;
}

static void write_ocw2(Pic *p, uint8_t v)
{
    int lvl = v & OCW2_LEVEL_MASK, ir;
    switch (v & OCW2_CMD_MASK) {
    case OCW2_NONSPECIFIC_EOI:
    case OCW2_ROTATE_NONSPECIFIC_EOI:
        ir = highest(p, p->isr);
        if (ir >= 0) {
            p->isr &= (uint8_t) ~(1u << ir);
            if ((v & OCW2_CMD_MASK) == OCW2_ROTATE_NONSPECIFIC_EOI)
                p->prio_add = (uint8_t)((ir + 1) & 7);
        }
        break;
    case OCW2_SPECIFIC_EOI:
        p->isr &= (uint8_t) ~(1u << lvl);
        break;
    case OCW2_ROTATE_SPECIFIC_EOI:
        p->isr &= (uint8_t) ~(1u << lvl);
        p->prio_add = (uint8_t)((lvl + 1) & 7);
        break;
    case OCW2_SET_PRIORITY:
        p->prio_add = (uint8_t)((lvl + 1) & 7); /* lvl becomes the lowest */
        break;
    case OCW2_ROTATE_AEOI_SET:
        p->rotate_aeoi = true;
        break;
    case OCW2_ROTATE_AEOI_CLEAR:
        p->rotate_aeoi = false;
        break;
    default: /* OCW2_NOP */
        break;
    }
}

static void write_ocw3(Pic *p, uint8_t v)
{
    if (v & OCW3_P)
        p->poll = true;
    if (v & OCW3_RR)
        p->read_isr = v & OCW3_RIS;
    if (v & OCW3_ESMM)
        p->special_mask = v & OCW3_SMM;
}

static void pic_write(Pic *p, unsigned port, uint8_t v)
{
    if (port == 0) {
        if (v & ICW1_INIT)
            write_icw1(p, v);
        else if (v & OCW3_SEL)
            write_ocw3(p, v);
        else
            write_ocw2(p, v);
    } else {
        switch (p->expect) {
        case EXPECT_ICW2:
            p->icw2 = v;
            if (!(p->icw1 & ICW1_SNGL))
                p->expect = EXPECT_ICW3;
            else
                p->expect = (p->icw1 & ICW1_IC4) ? EXPECT_ICW4 : EXPECT_OCW1;
            break;
        case EXPECT_ICW3:
            p->icw3 = v; /* the PC's cascade is fixed: master IR2 */
            p->expect = (p->icw1 & ICW1_IC4) ? EXPECT_ICW4 : EXPECT_OCW1;
            break;
        case EXPECT_ICW4:
            p->icw4 = v;
            p->expect = EXPECT_OCW1;
            break;
        default:
            p->imr = v;
            break;
        }
    }
    update(p->owner);
}

static uint8_t pic_read(Pic *p, unsigned port)
{
    if (port == 1)
        return p->imr;
    if (p->poll) {
        /* The poll read acts as the acknowledge on this chip alone. */
        p->poll = false;
        int ir = ack_chip(p);
        update(p->owner);
        return ir < 0 ? 0 : (uint8_t)(I8259_POLL_INT | ir);
    }
    return p->read_isr ? p->isr : p->irr;
}

/* 16- and 32-bit accesses become byte cycles on consecutive ports; past the chip's two ports
 * they read as all ones. */
static uint32_t pic_io_read(void *dev, uint16_t off, unsigned size)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < size; i++) {
        uint8_t b = off + i < 2 ? pic_read(dev, off + i) : 0xff;
        v |= (uint32_t)b << (8 * i);
    }
    return v;
}

static void pic_io_write(void *dev, uint16_t off, uint32_t val, unsigned size)
{
    for (unsigned i = 0; i < size && off + i < 2; i++)
        pic_write(dev, off + i, (uint8_t)(val >> (8 * i)));
}

static const IoOps pic_ops = {pic_io_read, pic_io_write};

static void elcr_write(I8259State *s, int chip, uint8_t v)
{
    Pic *p = &s->chip[chip];
    p->elcr = v & p->elcr_mask;
    /* inputs now level-triggered request exactly while their line is high */
    uint8_t lm = level_mask(p);
    p->irr = (uint8_t)((p->irr & ~lm) | (p->lines & lm));
    update(s);
}

static uint32_t elcr_io_read(void *dev, uint16_t off, unsigned size)
{
    I8259State *s = dev;
    uint32_t v = 0;
    for (unsigned i = 0; i < size; i++) {
        uint8_t b = off + i < 2 ? s->chip[off + i].elcr : 0xff;
        v |= (uint32_t)b << (8 * i);
    }
    return v;
}

static void elcr_io_write(void *dev, uint16_t off, uint32_t val, unsigned size)
{
    for (unsigned i = 0; i < size && off + i < 2; i++)
        elcr_write(dev, off + i, (uint8_t)(val >> (8 * i)));
}

static const IoOps elcr_ops = {elcr_io_read, elcr_io_write};

static void chip_reset(Pic *p)
{
    I8259State *owner = p->owner;
    bool master = p->is_master;
    uint8_t lines = p->lines;
    *p = (Pic){0};
    p->owner = owner;
    p->is_master = master;
    p->lines = lines;
    p->elcr_mask = master ? I8259_ELCR1_MASK : I8259_ELCR2_MASK;
}

void i8259_reset(I8259State *s)
{
    chip_reset(&s->chip[0]);
    chip_reset(&s->chip[1]);
    update(s);
}

I8259State *i8259_init(IoBus *bus, IrqLine intr)
{
    I8259State *s = g_new0(I8259State, 1);
    s->intr = intr;
    for (int i = 0; i < 2; i++) {
        s->chip[i].owner = s;
        s->chip[i].is_master = i == 0;
    }
    if (io_register(bus, I8259_MASTER_BASE, 2, &pic_ops, &s->chip[0]) < 0 ||
        io_register(bus, I8259_SLAVE_BASE, 2, &pic_ops, &s->chip[1]) < 0 ||
        io_register(bus, I8259_ELCR_BASE, 2, &elcr_ops, s) < 0) {
        g_free(s);
        return NULL;
    }
    i8259_reset(s);
    return s;
}

void i8259_free(I8259State *s)
{
    g_free(s);
}

uint8_t i8259_irr(I8259State *s, int chip)
{
    return s->chip[chip & 1].irr;
}

uint8_t i8259_isr(I8259State *s, int chip)
{
    return s->chip[chip & 1].isr;
}

uint8_t i8259_imr(I8259State *s, int chip)
{
    return s->chip[chip & 1].imr;
}
