/* The legacy devices as hw/pc.c wires them: CMOS contents, IRQ routing to the PIC and the
 * CPU's INTR, the A20 gate's two sources, reset requests. */
#include <criterion/criterion.h>

#include "hw/i8042.h"
#include "hw/i8254.h"
#include "hw/i8259.h"
#include "hw/mc146818.h"
#include "hw/pc.h"
#include "hw/port92.h"
#include "hw/serial.h"

static Machine *m;
static int intr_changes;

static void on_intr_changed(void *opaque)
{
    cr_assert_eq(opaque, &intr_changes);
    intr_changes++;
}

static void out(uint16_t port, uint8_t v)
{
    io_write(m->io, port, v, 1);
}

static uint8_t in(uint16_t port)
{
    return (uint8_t)io_read(m->io, port, 1);
}

static uint8_t cmos(uint8_t idx)
{
    out(RTC_BASE, idx);
    return in(RTC_BASE + 1);
}

static void make(uint64_t ram)
{
    MachineConfig cfg = {.ram_size = ram, .serial = "none"};
    char err[256] = "";
    m = pc_new(&cfg, err, sizeof(err));
    cr_assert_not_null(m, "pc_new: %s", err);
    intr_changes = 0;
    m->intr_changed = on_intr_changed;
    m->intr_changed_opaque = &intr_changes;
}

static void init_pics(void)
{
    out(0x20, 0x11);
    out(0x21, 0x20);
    out(0x21, 0x04);
    out(0x21, 0x01);
    out(0xa0, 0x11);
    out(0xa1, 0x28);
    out(0xa1, 0x02);
    out(0xa1, 0x01);
}

static void teardown(void)
{
    pc_free(m);
    m = NULL;
}

TestSuite(pc_legacy, .fini = teardown);

Test(pc_legacy, cmos_memory_sizes_128m)
{
    make(128u << 20);
    cr_assert_eq(cmos(0x15) | cmos(0x16) << 8, 640);
    cr_assert_eq(cmos(0x17) | cmos(0x18) << 8, 0xffff); /* 127 MiB does not fit */
    cr_assert_eq(cmos(0x30) | cmos(0x31) << 8, 0xffff);
    cr_assert_eq(cmos(0x34) | cmos(0x35) << 8, (128 - 16) * 16); /* 64 KiB units */
    cr_assert_eq(cmos(0x5b) | cmos(0x5c) << 8 | cmos(0x5d) << 16, 0);
    cr_assert_eq(cmos(0x5f), 0);
    cr_assert_eq(cmos(0x10), 0);
    cr_assert_eq(cmos(0x14), 0x06);
    cr_assert_eq(cmos(0x0f), 0);
    cr_assert_eq(cmos(0x3d), 0x32);
    cr_assert_eq(cmos(0x38), 0x10);
    uint8_t c = cmos(RTC_CENTURY);
    cr_assert(c == 0x20 || c == 0x21);
    cr_assert_eq(cmos(RTC_REG_D), RTC_D_VRT);
}

Test(pc_legacy, cmos_memory_sizes_small)
{
    make(8u << 20);
    cr_assert_eq(cmos(0x17) | cmos(0x18) << 8, 7 * 1024);
    cr_assert_eq(cmos(0x30) | cmos(0x31) << 8, 7 * 1024);
    cr_assert_eq(cmos(0x34) | cmos(0x35) << 8, 0);
}

Test(pc_legacy, com1_irq4_reaches_intr)
{
    make(16u << 20);
    init_pics(); /* ICW1 drops what the uninitialised PIC had (the PIT's first edge) */
    cr_assert_not(m->intr_pending(m->intr_opaque));
    intr_changes = 0;
    out(PC_COM1_BASE + UART_MCR, UART_MCR_OUT2);
    out(PC_COM1_BASE + UART_IER, UART_IER_ETBEI); /* THR is empty: interrupt at once */
    cr_assert(m->intr_pending(m->intr_opaque));
    cr_assert_eq(intr_changes, 1);
    cr_assert_eq(m->intr_ack(m->intr_opaque), 0x24);
    cr_assert_eq(intr_changes, 2);
    cr_assert_not(m->intr_pending(m->intr_opaque));
}

Test(pc_legacy, keyboard_and_rtc_irqs)
{
    make(16u << 20);
    init_pics();
    out(I8042_CMD_PORT, I8042_CMD_SELF_TEST);
    cr_assert(m->intr_pending(m->intr_opaque));
    cr_assert_eq(m->intr_ack(m->intr_opaque), 0x21);
    out(0x20, 0x20);
    cr_assert_eq(in(I8042_DATA_PORT), I8042_SELF_TEST_OK);
    /* RTC periodic interrupt through the slave (IRQ 0 masked: the PIT runs too) */
    out(0x21, 0x01);
    int64_t t = clock_ns(m->clock) + 1000000000;
    clock_set_test_time(m->clock, t);
    clock_run_timers(m->clock);
    cmos(RTC_REG_C);
    out(RTC_BASE, RTC_REG_B);
    out(RTC_BASE + 1, RTC_B_24H | RTC_B_PIE);
    cr_assert_not(m->intr_pending(m->intr_opaque));
    clock_set_test_time(m->clock, t + 1000000);
    clock_run_timers(m->clock);
    cr_assert(m->intr_pending(m->intr_opaque));
    cr_assert_eq(m->intr_ack(m->intr_opaque), 0x28);
}

Test(pc_legacy, pit_irq0_reaches_intr)
{
    make(16u << 20);
    int64_t t = clock_ns(m->clock) + 1000000;
    clock_set_test_time(m->clock, t);
    clock_run_timers(m->clock);
    init_pics();
    out(0x43, 0x34);
    out(0x40, 0xa9);
    out(0x40, 0x04); /* 1193: about 1 ms */
    cr_assert_not(m->intr_pending(m->intr_opaque));
    clock_set_test_time(m->clock, t + 1000000);
    clock_run_timers(m->clock);
    cr_assert(m->intr_pending(m->intr_opaque));
    cr_assert_eq(m->intr_ack(m->intr_opaque), 0x20);
}

Test(pc_legacy, a20_from_both_sources)
{
    make(16u << 20);
    cr_assert(m->a20);
    uint32_t gen = m->a20_gen;
    cr_assert_eq(in(PORT92_PORT)&PORT92_A20, 0);
    out(I8042_CMD_PORT, I8042_CMD_WRITE_OUTPUT);
    out(I8042_DATA_PORT, 0xdd); /* keyboard controller: off */
    cr_assert_not(m->a20);
    cr_assert_eq(m->a20_gen, gen + 1);
    out(PORT92_PORT, PORT92_A20); /* port 0x92: on */
    cr_assert(m->a20);
    cr_assert_eq(m->a20_gen, gen + 2);
    out(I8042_CMD_PORT, I8042_CMD_A20_ENABLE);
    cr_assert(m->a20);
    cr_assert_eq(m->a20_gen, gen + 2); /* no change */
    out(PORT92_PORT, 0);
    cr_assert(m->a20); /* the keyboard controller still has it on */
    out(I8042_CMD_PORT, I8042_CMD_A20_DISABLE);
    cr_assert_not(m->a20);
    cr_assert_eq(m->a20_gen, gen + 3);
    cr_assert_eq(m->stop, STOP_NONE);
}

Test(pc_legacy, keyboard_controller_reset_stops_the_run)
{
    make(16u << 20);
    out(I8042_CMD_PORT, I8042_CMD_RESET);
    cr_assert_eq(m->stop, STOP_RESET);
    cr_assert_eq(m->exit_status, 0);
}

Test(pc_legacy, port92_fast_reset_stops_the_run)
{
    make(16u << 20);
    out(PORT92_PORT, PORT92_FAST_RESET);
    cr_assert_eq(m->stop, STOP_RESET);
}

Test(pc_legacy, port61_and_nmi_mask_present)
{
    make(16u << 20);
    out(I8254_PORT61, PORT61_GATE2);
    cr_assert_eq(in(I8254_PORT61)&PORT61_WRITABLE, PORT61_GATE2);
}
