#include <criterion/criterion.h>

#include "hw/i8259.h"

#define MBASE 0x20 /* vector bases the tests program */
#define SBASE 0x28

static IoBus *bus;
static I8259State *pic;
static int intr_level, intr_rises, intr_changes;

static void intr_handler(void *opaque, int n, int level)
{
    cr_assert_eq(opaque, &intr_level);
    if (level && !intr_level)
        intr_rises++;
    if (level != intr_level)
        intr_changes++;
    intr_level = level;
}

static void out(uint16_t port, uint8_t v)
{
    io_write(bus, port, v, 1);
}

static uint8_t in(uint16_t port)
{
    return (uint8_t)io_read(bus, port, 1);
}

static void irq(int n, int level)
{
    i8259_set_irq(pic, n, level);
}

/* The PC BIOS's initialisation: edge, cascade, 8086 mode. icw4 extra bits for AEOI etc. */
static void init_pics(uint8_t icw1_extra, uint8_t icw4_extra)
{
    out(0x20, ICW1_INIT | ICW1_IC4 | icw1_extra);
    out(0x21, MBASE);
    out(0x21, 1 << I8259_CASCADE_IRQ);
    out(0x21, ICW4_UPM | icw4_extra);
    out(0xa0, ICW1_INIT | ICW1_IC4 | icw1_extra);
    out(0xa1, SBASE);
    out(0xa1, I8259_CASCADE_IRQ);
    out(0xa1, ICW4_UPM | icw4_extra);
}

static uint8_t read_irr(uint16_t cmd)
{
    out(cmd, OCW3_SEL | OCW3_RR);
    return in(cmd);
}

static uint8_t read_isr(uint16_t cmd)
{
    out(cmd, OCW3_SEL | OCW3_RR | OCW3_RIS);
    return in(cmd);
}

static void eoi(uint16_t cmd)
{
    out(cmd, OCW2_NONSPECIFIC_EOI);
}

static void setup(void)
{
    bus = io_bus_new();
    intr_level = intr_rises = intr_changes = 0;
    pic = i8259_init(bus, irq_line(intr_handler, &intr_level, 0));
    cr_assert_not_null(pic);
}

static void teardown(void)
{
    i8259_free(pic);
    io_bus_free(bus);
}

TestSuite(i8259, .init = setup, .fini = teardown);

Test(i8259, ports_are_claimed_once)
{
    cr_assert_null(i8259_init(bus, irq_line(NULL, NULL, 0)));
}

Test(i8259, init_sequence_and_vector)
{
    init_pics(0, 0);
    cr_assert_eq(in(0x21), 0x00);
    cr_assert_not(i8259_intr_pending(pic));
    irq(1, 1);
    cr_assert(i8259_intr_pending(pic));
    cr_assert_eq(intr_level, 1);
    cr_assert_eq(read_irr(0x20), 0x02);
    cr_assert_eq(i8259_intr_ack(pic), MBASE + 1);
    cr_assert_eq(read_isr(0x20), 0x02);
    cr_assert_eq(read_irr(0x20), 0x00);
    cr_assert_not(i8259_intr_pending(pic));
    cr_assert_eq(intr_level, 0);
    eoi(0x20);
    cr_assert_eq(read_isr(0x20), 0x00);
    /* the vector base comes from ICW2 alone: a different one moves the vectors */
    out(0x20, ICW1_INIT | ICW1_IC4);
    out(0x21, 0x08);
    out(0x21, 0x04);
    out(0x21, ICW4_UPM);
    irq(1, 0);
    irq(1, 1);
    cr_assert_eq(i8259_intr_ack(pic), 0x09);
}

Test(i8259, icw1_resets_mask_and_service)
{
    init_pics(0, 0);
    out(0x21, 0xf0);
    cr_assert_eq(in(0x21), 0xf0);
    irq(3, 1);
    cr_assert_eq(i8259_intr_ack(pic), MBASE + 3);
    cr_assert_eq(i8259_isr(pic, 0), 0x08);
    init_pics(0, 0);
    cr_assert_eq(in(0x21), 0x00);
    cr_assert_eq(i8259_isr(pic, 0), 0x00);
    /* the edge sense latch was reset: a line that is still high does not request */
    cr_assert_eq(i8259_irr(pic, 0) & 0x08, 0);
    cr_assert_not(i8259_intr_pending(pic));
    irq(3, 0);
    irq(3, 1);
    cr_assert(i8259_intr_pending(pic));
}

Test(i8259, mask_holds_request_in_irr)
{
    init_pics(0, 0);
    out(0x21, 0x08);
    irq(3, 1);
    cr_assert_eq(read_irr(0x20), 0x08);
    cr_assert_not(i8259_intr_pending(pic));
    cr_assert_eq(intr_rises, 0);
    out(0x21, 0x00);
    cr_assert(i8259_intr_pending(pic));
    cr_assert_eq(intr_rises, 1);
    cr_assert_eq(i8259_intr_ack(pic), MBASE + 3);
}

Test(i8259, fully_nested_priorities)
{
    init_pics(0, 0);
    irq(5, 1);
    irq(3, 1);
    cr_assert_eq(i8259_intr_ack(pic), MBASE + 3);
    /* IRQ 5 waits while 3 is in service */
    cr_assert_not(i8259_intr_pending(pic));
    /* a higher one nests */
    irq(1, 1);
    cr_assert(i8259_intr_pending(pic));
    cr_assert_eq(i8259_intr_ack(pic), MBASE + 1);
    cr_assert_eq(read_isr(0x20), 0x0a);
    eoi(0x20); /* non-specific: the highest in service, IRQ 1 */
    cr_assert_eq(read_isr(0x20), 0x08);
    cr_assert_not(i8259_intr_pending(pic));
    eoi(0x20);
    cr_assert_eq(read_isr(0x20), 0x00);
    cr_assert(i8259_intr_pending(pic));
    cr_assert_eq(i8259_intr_ack(pic), MBASE + 5);
}

Test(i8259, specific_eoi)
{
    init_pics(0, 0);
    irq(3, 1);
    cr_assert_eq(i8259_intr_ack(pic), MBASE + 3);
    irq(1, 1);
    cr_assert_eq(i8259_intr_ack(pic), MBASE + 1);
    out(0x20, OCW2_SPECIFIC_EOI | 3);
    cr_assert_eq(read_isr(0x20), 0x02);
    out(0x20, OCW2_SPECIFIC_EOI | 1);
    cr_assert_eq(read_isr(0x20), 0x00);
}

Test(i8259, rotation)
{
    init_pics(0, 0);
    irq(0, 1);
    cr_assert_eq(i8259_intr_ack(pic), MBASE + 0);
    out(0x20, OCW2_ROTATE_NONSPECIFIC_EOI); /* IRQ 0 becomes the lowest */
    cr_assert_eq(read_isr(0x20), 0x00);
    irq(0, 0);
    irq(0, 1);
    irq(7, 1);
    cr_assert_eq(i8259_intr_ack(pic), MBASE + 7);
    out(0x20, OCW2_ROTATE_SPECIFIC_EOI | 7); /* now 7 is the lowest: order 0, 1, ..., 7 */
    irq(7, 0);
    irq(7, 1);
    cr_assert_eq(i8259_intr_ack(pic), MBASE + 0);
    eoi(0x20);
    cr_assert_eq(i8259_intr_ack(pic), MBASE + 7);
    eoi(0x20);
    /* set priority: 4 lowest, so 5 highest */
    out(0x20, OCW2_SET_PRIORITY | 4);
    irq(3, 1);
    irq(6, 1);
    cr_assert_eq(i8259_intr_ack(pic), MBASE + 6);
    /* 3 comes after 6 (order 5, 6, 7, 0, 1, 2, 3, 4) and is blocked while 6 is in service */
    cr_assert_not(i8259_intr_pending(pic));
    eoi(0x20);
    cr_assert_eq(i8259_intr_ack(pic), MBASE + 3);
}

Test(i8259, auto_eoi_and_rotate_in_aeoi)
{
    init_pics(0, ICW4_AEOI);
    irq(4, 1);
    cr_assert_eq(i8259_intr_ack(pic), MBASE + 4);
    cr_assert_eq(read_isr(0x20), 0x00);
    irq(6, 1); /* nothing in service, so a lower one is taken at once */
    cr_assert(i8259_intr_pending(pic));
    cr_assert_eq(i8259_intr_ack(pic), MBASE + 6);
    out(0x20, OCW2_ROTATE_AEOI_SET);
    irq(2 + 0, 0); /* no-op on the cascade input */
    irq(1, 1);
    cr_assert_eq(i8259_intr_ack(pic), MBASE + 1); /* 1 becomes the lowest */
    irq(1, 0);
    irq(1, 1);
    irq(5, 1);
    cr_assert_eq(i8259_intr_ack(pic), MBASE + 5);
}

Test(i8259, edge_request_latched_until_ack)
{
    init_pics(0, 0);
    irq(4, 1);
    irq(4, 0); /* a pulse */
    cr_assert(i8259_intr_pending(pic));
    cr_assert_eq(i8259_intr_ack(pic), MBASE + 4);
    eoi(0x20);
    /* staying high is not a new edge */
    irq(4, 1);
    cr_assert_eq(i8259_intr_ack(pic), MBASE + 4);
    eoi(0x20);
    irq(4, 1);
    cr_assert_not(i8259_intr_pending(pic));
}

Test(i8259, level_irr_follows_line)
{
    init_pics(0, 0);
    out(0x4d0, 0xff);
    cr_assert_eq(in(0x4d0), I8259_ELCR1_MASK); /* IRQ 0-2 are always edge */
    out(0x4d1, 0xff);
    cr_assert_eq(in(0x4d1), I8259_ELCR2_MASK); /* IRQ 8 and 13 too */
    out(0x4d0, 0x08);
    irq(3, 1);
    cr_assert(i8259_intr_pending(pic));
    irq(3, 0);
    cr_assert_not(i8259_intr_pending(pic));
    cr_assert_eq(read_irr(0x20), 0x00);
    irq(3, 1);
    cr_assert_eq(i8259_intr_ack(pic), MBASE + 3);
    cr_assert_eq(read_irr(0x20), 0x08); /* still requesting */
    cr_assert_not(i8259_intr_pending(pic));
    eoi(0x20);
    cr_assert(i8259_intr_pending(pic)); /* line still high: again */
    irq(3, 0);
    cr_assert_not(i8259_intr_pending(pic));
}

Test(i8259, ltim_makes_whole_chip_level)
{
    init_pics(ICW1_LTIM, 0);
    irq(5, 1);
    cr_assert(i8259_intr_pending(pic));
    irq(5, 0);
    cr_assert_not(i8259_intr_pending(pic));
}

Test(i8259, spurious_irq7_when_request_goes)
{
    init_pics(0, 0);
    out(0x4d0, 0x20);
    irq(5, 1);
    cr_assert(i8259_intr_pending(pic)); /* the CPU sees INTR ... */
    irq(5, 0);                          /* ... the request goes before the acknowledge */
    cr_assert_eq(i8259_intr_ack(pic), MBASE + 7);
    cr_assert_eq(read_isr(0x20), 0x00); /* no ISR bit for a spurious IRQ 7 */
}

Test(i8259, spurious_irq15_from_slave)
{
    init_pics(0, 0);
    out(0x4d1, 0x04); /* IRQ 10 level */
    irq(10, 1);
    cr_assert(i8259_intr_pending(pic));
    irq(10, 0); /* the master's IR2 had latched the slave's edge */
    cr_assert(i8259_intr_pending(pic));
    cr_assert_eq(i8259_intr_ack(pic), SBASE + 7);
    cr_assert_eq(read_isr(0x20), 0x04); /* the master acknowledged its cascade input */
    cr_assert_eq(read_isr(0xa0), 0x00);
}

Test(i8259, cascade_through_slave)
{
    init_pics(0, 0);
    irq(12, 1);
    cr_assert(i8259_intr_pending(pic));
    cr_assert_eq(read_irr(0xa0), 0x10);
    cr_assert_eq(i8259_intr_ack(pic), SBASE + 4);
    cr_assert_eq(read_isr(0x20), 0x04);
    cr_assert_eq(read_isr(0xa0), 0x10);
    /* the slave's requests sit at IRQ 2's priority on the master */
    irq(3, 1);
    cr_assert_not(i8259_intr_pending(pic));
    irq(1, 1);
    cr_assert(i8259_intr_pending(pic));
    cr_assert_eq(i8259_intr_ack(pic), MBASE + 1);
    eoi(0x20);
    eoi(0xa0);
    eoi(0x20);
    cr_assert_eq(i8259_intr_ack(pic), MBASE + 3);
    /* masking IRQ 2 on the master masks the whole slave */
    eoi(0x20);
    out(0x21, 0x04);
    irq(9, 1);
    cr_assert_not(i8259_intr_pending(pic));
    cr_assert_eq(read_irr(0xa0), 0x02);
    out(0x21, 0x00);
    cr_assert_eq(i8259_intr_ack(pic), SBASE + 1);
    /* slave priorities among themselves */
    eoi(0xa0);
    eoi(0x20);
    irq(15, 1);
    irq(8, 1);
    cr_assert_eq(i8259_intr_ack(pic), SBASE + 0);
    eoi(0xa0);
    eoi(0x20);
    cr_assert_eq(i8259_intr_ack(pic), SBASE + 7);
}

Test(i8259, special_fully_nested_mode)
{
    init_pics(0, 0);
    out(0x20, ICW1_INIT | ICW1_IC4);
    out(0x21, MBASE);
    out(0x21, 0x04);
    out(0x21, ICW4_UPM | ICW4_SFNM);
    irq(13, 1);
    cr_assert_eq(i8259_intr_ack(pic), SBASE + 5);
    /* a higher slave request gets through although the master's IR2 is in service */
    irq(9, 1);
    cr_assert(i8259_intr_pending(pic));
    cr_assert_eq(i8259_intr_ack(pic), SBASE + 1);
    /* but not a lower one on the master */
    irq(4, 1);
    cr_assert_not(i8259_intr_pending(pic));
}

Test(i8259, poll_command)
{
    init_pics(0, 0);
    out(0x20, OCW3_SEL | OCW3_P);
    cr_assert_eq(in(0x20), 0x00); /* nothing */
    irq(6, 1);
    out(0x20, OCW3_SEL | OCW3_P);
    cr_assert_eq(in(0x20), I8259_POLL_INT | 6);
    cr_assert_eq(read_isr(0x20), 0x40); /* the poll acknowledged it */
    cr_assert_not(i8259_intr_pending(pic));
    /* the next read is a plain register read again */
    cr_assert_eq(in(0x20), 0x40);
}

Test(i8259, special_mask_mode)
{
    init_pics(0, 0);
    irq(3, 1);
    cr_assert_eq(i8259_intr_ack(pic), MBASE + 3);
    irq(5, 1);
    cr_assert_not(i8259_intr_pending(pic));
    out(0x21, 0x08);                            /* mask the level in service */
    out(0x20, OCW3_SEL | OCW3_ESMM | OCW3_SMM); /* special mask mode on */
    cr_assert(i8259_intr_pending(pic));         /* lower levels are enabled */
    cr_assert_eq(i8259_intr_ack(pic), MBASE + 5);
    irq(5, 0);
    irq(5, 1);
    cr_assert_not(i8259_intr_pending(pic)); /* a level in service still blocks itself */
    out(0x20, OCW2_SPECIFIC_EOI | 5);
    cr_assert_eq(i8259_intr_ack(pic), MBASE + 5);
    out(0x20, OCW2_SPECIFIC_EOI | 5);
    out(0x20, OCW3_SEL | OCW3_ESMM); /* off again */
    irq(6, 1);
    cr_assert_not(i8259_intr_pending(pic)); /* 3 in service blocks 6 again */
}

Test(i8259, output_line_follows_intr)
{
    init_pics(0, 0);
    cr_assert_eq(intr_changes, 0);
    irq(1, 1);
    cr_assert_eq(intr_level, 1);
    cr_assert_eq(intr_changes, 1);
    irq(3, 1); /* already asserted: no change */
    cr_assert_eq(intr_changes, 1);
    i8259_intr_ack(pic);
    cr_assert_eq(intr_level, 0);
    cr_assert_eq(intr_changes, 2);
    eoi(0x20);
    cr_assert_eq(intr_level, 1);
    cr_assert_eq(intr_rises, 2);
}

Test(i8259, reset_state)
{
    init_pics(0, 0);
    out(0x21, 0x55);
    out(0x4d0, 0x08);
    irq(3, 1);
    i8259_reset(pic);
    cr_assert_eq(in(0x21), 0);
    cr_assert_eq(in(0x4d0), 0);
    cr_assert_eq(i8259_isr(pic, 0), 0);
    cr_assert_eq(i8259_irr(pic, 0), 0);
}

Test(i8259, word_access_splits_into_bytes)
{
    init_pics(0, 0);
    io_write(bus, 0x20, 0xff00 | OCW2_NOP, 2); /* OCW2 no-op at 0x20, mask 0xff at 0x21 */
    cr_assert_eq(in(0x21), 0xff);
    cr_assert_eq(io_read(bus, 0x4d0, 2), 0x0000);
    out(0x4d1, 0x80);
    cr_assert_eq(io_read(bus, 0x4d0, 2), 0x8000);
}
