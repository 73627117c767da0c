#include <criterion/criterion.h>

#include "hw/i8254.h"

static IoBus *bus;
static Clock *clk;
static I8254State *pit;
static int level, rises, falls;

static void irq_handler(void *opaque, int n, int lvl)
{
    cr_assert_eq(n, 0);
    if (lvl && !level)
        rises++;
    if (!lvl && level)
        falls++;
    level = lvl;
}

/* The first nanosecond at which PIT clock c has ticked. */
static int64_t ns_at(int64_t c)
{
    return (c * 1000000000LL + I8254_FREQ - 1) / I8254_FREQ;
}

static int64_t t0; /* clock index the test starts from */

static void at(int64_t c) /* move virtual time to PIT clock t0 + c and run the timers */
{
    clock_set_test_time(clk, ns_at(t0 + c));
    clock_run_timers(clk);
}

static void out(uint16_t port, uint8_t v)
{
    io_write(bus, port, v, 1);
}

static uint8_t in(uint16_t port)
{
    return (uint8_t)io_read(bus, port, 1);
}

static void program(int ch, int mode, int rw, bool bcd, uint16_t count)
{
    out(0x43, (uint8_t)(ch << PIT_CW_SC_SHIFT | rw << PIT_CW_RW_SHIFT | mode << PIT_CW_MODE_SHIFT |
                        (bcd ? PIT_CW_BCD : 0)));
    if (rw & PIT_RW_LSB)
        out(0x40 + ch, (uint8_t)count);
    if (rw & PIT_RW_MSB)
        out(0x40 + ch, (uint8_t)(count >> 8));
}

static uint16_t read16(int ch)
{
    uint8_t lo = in(0x40 + ch);
    return (uint16_t)(lo | in(0x40 + ch) << 8);
}

static uint16_t latch_read(int ch)
{
    out(0x43, (uint8_t)(ch << PIT_CW_SC_SHIFT));
    return read16(ch);
}

static void setup(void)
{
    bus = io_bus_new();
    clk = clock_new();
    t0 = 1000000; /* not at 0: nothing may depend on time starting there */
    clock_set_test_time(clk, ns_at(t0));
    level = rises = falls = 0;
    pit = i8254_init(bus, I8254_BASE, clk, irq_line(irq_handler, NULL, 0));
    cr_assert_not_null(pit);
    cr_assert_eq(i8254_init_port61(pit, bus, I8254_PORT61), 0);
    rises = falls = 0;
}

static void teardown(void)
{
    i8254_free(pit);
    clock_free(clk);
    io_bus_free(bus);
}

TestSuite(i8254, .init = setup, .fini = teardown);

Test(i8254, power_on_runs_channel0_at_18hz)
{
    cr_assert_eq(level, 1); /* mode 3, high half */
    cr_assert(i8254_get_out(pit, 0));
    at(32768);
    cr_assert_not(i8254_get_out(pit, 0));
    cr_assert_eq(rises, 0);
    at(65535);
    cr_assert_eq(rises, 0);
    at(65536);
    cr_assert_eq(level, 1);
    cr_assert_eq(rises, 1);
    /* channel 2 waits for its gate */
    cr_assert(i8254_get_out(pit, 2));
}

Test(i8254, mode2_counter_reads_follow_virtual_time)
{
    program(0, 2, PIT_RW_LSB_MSB, false, 1000);
    cr_assert_eq(latch_read(0), 1000);
    at(100);
    cr_assert_eq(latch_read(0), 900);
    cr_assert_eq(read16(0), 900); /* unlatched read, same moment */
    at(999);
    cr_assert_eq(latch_read(0), 1);
    at(1000);
    cr_assert_eq(latch_read(0), 1000); /* reloaded */
    at(1250);
    cr_assert_eq(latch_read(0), 750);
}

Test(i8254, mode2_irq_pulses_on_timer)
{
    program(0, 2, PIT_RW_LSB_MSB, false, 1193);
    cr_assert_eq(level, 1);
    cr_assert_eq(clock_deadline(clk), ns_at(t0 + 1193)); /* one timer per period */
    at(1192);
    cr_assert_not(i8254_get_out(pit, 0)); /* OUT's low clock, count 1 */
    cr_assert_eq(rises, 0);
    at(1193);
    cr_assert(i8254_get_out(pit, 0));
    cr_assert_eq(level, 1);
    cr_assert_eq(rises, 1);
    cr_assert_eq(falls, 1);
    at(4 * 1193 - 1);
    cr_assert_eq(rises, 3); /* missed periods are caught up */
    at(4 * 1193);
    cr_assert_eq(rises, 4);
    cr_assert_eq(falls, 4);
    cr_assert_eq(level, 1);
    /* more than a second late: the lost periods are dropped, the next one comes */
    at(4 * 1193 + 3 * I8254_FREQ);
    cr_assert_lt(rises, 10);
    int r = rises;
    at(4 * 1193 + 3 * I8254_FREQ + 1193);
    cr_assert_eq(rises, r + 1);
}

Test(i8254, mode3_square_wave)
{
    program(0, 3, PIT_RW_LSB_MSB, false, 100);
    cr_assert_eq(level, 1);
    cr_assert_eq(latch_read(0), 100);
    at(10);
    cr_assert_eq(latch_read(0), 80); /* counts down by two */
    at(49);
    cr_assert(i8254_get_out(pit, 0));
    at(50);
    cr_assert_not(i8254_get_out(pit, 0));
    cr_assert_eq(latch_read(0), 100); /* reloaded for the low half */
    at(99);
    cr_assert_not(i8254_get_out(pit, 0));
    cr_assert_eq(rises, 0);
    at(100);
    cr_assert(i8254_get_out(pit, 0));
    cr_assert_eq(rises, 1);
    at(1000);
    cr_assert_eq(rises, 10);
    cr_assert_eq(level, 1);
}

Test(i8254, mode3_odd_count)
{
    program(0, 3, PIT_RW_LSB_MSB, false, 5);
    /* high for 3 clocks, low for 2: reads 5, 4, 2 | 5, 2 */
    cr_assert_eq(latch_read(0), 5);
    at(1);
    cr_assert_eq(latch_read(0), 4);
    at(2);
    cr_assert_eq(latch_read(0), 2);
    cr_assert(i8254_get_out(pit, 0));
    at(3);
    cr_assert_not(i8254_get_out(pit, 0));
    cr_assert_eq(latch_read(0), 5);
    at(4);
    cr_assert_eq(latch_read(0), 2);
    at(5);
    cr_assert(i8254_get_out(pit, 0));
    cr_assert_eq(rises, 1);
}

Test(i8254, mode0_one_shot)
{
    program(0, 0, PIT_RW_LSB_MSB, false, 500);
    cr_assert_eq(level, 0); /* the control word sets OUT low */
    cr_assert_eq(falls, 1);
    at(499);
    cr_assert_eq(level, 0);
    cr_assert_eq(latch_read(0), 1);
    at(500);
    cr_assert_eq(level, 1);
    at(5000);
    cr_assert_eq(level, 1);
    cr_assert_eq(rises, 1);
    cr_assert_eq(clock_deadline(clk), INT64_MAX); /* nothing more to come */
    cr_assert_eq(latch_read(0), (uint16_t)(500 - 5000));
    /* a new count restarts it, OUT low from the first byte */
    out(0x40, 0x10);
    cr_assert_eq(level, 0);
    out(0x40, 0x00);
    at(5015);
    cr_assert_eq(level, 0);
    at(5016);
    cr_assert_eq(level, 1);
}

Test(i8254, mode4_strobe)
{
    program(0, 4, PIT_RW_LSB_MSB, false, 20);
    cr_assert_eq(level, 1);
    at(19);
    cr_assert_eq(level, 1);
    at(20);
    cr_assert_eq(level, 0);
    at(21);
    cr_assert_eq(level, 1);
    at(100);
    cr_assert_eq(rises, 1);
    cr_assert_eq(falls, 1);
}

Test(i8254, latch_holds_until_read)
{
    program(0, 2, PIT_RW_LSB_MSB, false, 1000);
    at(10);
    out(0x43, 0x00); /* latch channel 0 */
    at(300);
    out(0x43, 0x00); /* ignored: the first latch is still unread */
    cr_assert_eq(in(0x40), (uint8_t)990);
    at(400);
    cr_assert_eq(in(0x40), 990 >> 8);
    cr_assert_eq(latch_read(0), 600);
}

Test(i8254, readback_status_and_count)
{
    out(0x43, 0x34); /* channel 0, LSB/MSB, mode 2 */
    out(0x43, PIT_SC_READBACK << PIT_CW_SC_SHIFT | PIT_RB_NOT_COUNT | PIT_RB_CNT0);
    uint8_t st = in(0x40);
    cr_assert_eq(st, PIT_STATUS_OUT | PIT_STATUS_NULL_COUNT | 0x34);
    out(0x40, 0x00);
    out(0x40, 0x10);
    at(0x10);
    /* status and count together: status first */
    out(0x43, PIT_SC_READBACK << PIT_CW_SC_SHIFT | PIT_RB_CNT0 | PIT_RB_CNT2);
    cr_assert_eq(in(0x40), PIT_STATUS_OUT | 0x34);
    cr_assert_eq(read16(0), 0x1000 - 0x10);
    /* channel 2 latched too (power-on mode 3, gate low) */
    cr_assert_eq(in(0x42), PIT_STATUS_OUT | PIT_RW_LSB_MSB << PIT_CW_RW_SHIFT | 3 << 1);
    cr_assert_eq(read16(2), 0);
}

Test(i8254, lsb_only_and_msb_only_access)
{
    program(0, 2, PIT_RW_LSB, false, 0x50);
    at(0x10);
    cr_assert_eq(in(0x40), 0x40);
    cr_assert_eq(in(0x40), 0x40); /* every read is the LSB */
    program(0, 2, PIT_RW_MSB, false, 0x0200);
    cr_assert_eq(in(0x40), 0x02);
    at(0x10 + 0x101);
    cr_assert_eq(in(0x40), 0x00); /* 0x200 - 0x101 = 0xff */
}

Test(i8254, bcd_counting)
{
    program(0, 2, PIT_RW_LSB_MSB, true, 0x1000); /* 1000 decimal */
    at(1);
    cr_assert_eq(latch_read(0), 0x0999);
    at(1000);
    cr_assert_eq(latch_read(0), 0x1000);
    cr_assert_eq(rises, 1);
    program(0, 0, PIT_RW_LSB_MSB, true, 0x0000); /* 0 = 10000 */
    at(1000 + 9999);
    cr_assert_eq(level, 0);
    cr_assert_eq(latch_read(0), 0x0001);
    at(1000 + 10000);
    cr_assert_eq(level, 1);
    at(1000 + 10001);
    cr_assert_eq(latch_read(0), 0x9999);
}

Test(i8254, new_count_in_mode2_waits_for_period_end)
{
    program(0, 2, PIT_RW_LSB_MSB, false, 1000);
    at(300);
    out(0x40, 0xf4);
    out(0x40, 0x01); /* 500 */
    cr_assert_eq(latch_read(0), 700);
    at(999);
    cr_assert_eq(latch_read(0), 1);
    at(1000);
    cr_assert_eq(rises, 1);
    cr_assert_eq(latch_read(0), 500);
    at(1500);
    cr_assert_eq(rises, 2);
    at(2000);
    cr_assert_eq(rises, 3);
}

Test(i8254, channel2_out_through_port61_without_timers)
{
    /* as Linux and SeaBIOS calibrate: mode 0 on channel 2, then poll bit 5 */
    out(0x61, (in(0x61) & ~PORT61_SPEAKER) & ~PORT61_GATE2);
    out(0x43, 0xb0);
    out(0x42, 0xe8);
    out(0x42, 0x03); /* 1000 */
    at(5000);
    cr_assert_eq(in(0x61) & PORT61_OUT2, 0); /* gate low holds the count */
    cr_assert_eq(latch_read(2), 1000);
    out(0x61, PORT61_GATE2);
    int64_t dl = clock_deadline(clk);
    at(5999);
    cr_assert_eq(in(0x61) & PORT61_OUT2, 0);
    cr_assert_eq(latch_read(2), 1);
    at(6000);
    cr_assert_eq(in(0x61) & PORT61_OUT2, PORT61_OUT2);
    cr_assert_eq(clock_deadline(clk), dl); /* channel 2 armed nothing */
    /* gate low pauses mode 0 mid-count, gate high resumes */
    out(0x43, 0xb0);
    out(0x42, 100);
    out(0x42, 0);
    at(6050);
    out(0x61, 0);
    at(9000);
    cr_assert_eq(latch_read(2), 50);
    out(0x61, PORT61_GATE2);
    at(9049);
    cr_assert_eq(in(0x61) & PORT61_OUT2, 0);
    at(9050);
    cr_assert_eq(in(0x61) & PORT61_OUT2, PORT61_OUT2);
}

Test(i8254, channel2_unlatched_reads_as_linux_fast_calibration)
{
    /* Linux's quick_pit_calibrate: gate high, mode 0 from 0xffff, then pairs of unlatched
     * reads (LSB, MSB) of channel 2 whose MSB must step down by exactly one every 256 clocks
     * while the guest polls, and no MSB value may be missed or come back */
    out(0x61, (uint8_t)((in(0x61) & ~PORT61_SPEAKER) | PORT61_GATE2));
    out(0x43, 0xb0);
    out(0x42, 0xff);
    out(0x42, 0xff);
    int expect = 0xff, steps = 0;
    for (int64_t c = 0; c < 256 * 40; c += 7) {
        at(c);
        uint8_t lsb = in(0x42), msb = in(0x42); /* both at clock c: the pair is one count */
        cr_assert_eq((msb << 8 | lsb), 0xffff - c, "clock %lld: count 0x%04x", (long long)c,
                     msb << 8 | lsb);
        if (msb != expect) {
            cr_assert_eq(msb, expect - 1, "clock %lld: MSB 0x%02x after 0x%02x", (long long)c, msb,
                         expect);
            expect = msb;
            steps++;
        }
        cr_assert_eq(in(0x61) & PORT61_OUT2, 0, "OUT2 low while counting");
    }
    cr_assert_eq(steps, 39);
    /* the LSB/MSB flip-flop: an odd read leaves the next read on the MSB */
    at(256 * 40 + 3);
    (void)in(0x42);
    cr_assert_eq(in(0x42), (uint8_t)((0xffff - (256 * 40 + 3)) >> 8));
    at(0xffff);
    cr_assert_eq(in(0x61) & PORT61_OUT2, PORT61_OUT2, "OUT2 high at terminal count");
}

Test(i8254, port61_bits)
{
    out(0x61, 0xff);
    uint8_t v = in(0x61);
    cr_assert_eq(v & 0xcf, PORT61_WRITABLE); /* bits 6-7 never set */
    clock_set_test_time(clk, 0);
    cr_assert_eq(in(0x61) & PORT61_REFRESH, 0);
    clock_set_test_time(clk, PORT61_REFRESH_NS);
    cr_assert_eq(in(0x61) & PORT61_REFRESH, PORT61_REFRESH);
    clock_set_test_time(clk, 2 * PORT61_REFRESH_NS);
    cr_assert_eq(in(0x61) & PORT61_REFRESH, 0);
}

Test(i8254, mode1_gate_triggered_one_shot)
{
    program(2, 1, PIT_RW_LSB_MSB, false, 100);
    cr_assert(i8254_get_out(pit, 2)); /* high until triggered */
    at(500);
    cr_assert(i8254_get_out(pit, 2));
    out(0x61, PORT61_GATE2);
    cr_assert_not(i8254_get_out(pit, 2));
    at(599);
    cr_assert_not(i8254_get_out(pit, 2));
    cr_assert_eq(latch_read(2), 1);
    at(600);
    cr_assert(i8254_get_out(pit, 2));
    /* retrigger */
    out(0x61, 0);
    out(0x61, PORT61_GATE2);
    cr_assert_not(i8254_get_out(pit, 2));
    at(700);
    cr_assert(i8254_get_out(pit, 2));
}

Test(i8254, mode5_gate_triggered_strobe)
{
    program(2, 5, PIT_RW_LSB_MSB, false, 10);
    at(100);
    cr_assert(i8254_get_out(pit, 2));
    out(0x61, PORT61_GATE2);
    at(109);
    cr_assert(i8254_get_out(pit, 2));
    at(110);
    cr_assert_not(i8254_get_out(pit, 2));
    at(111);
    cr_assert(i8254_get_out(pit, 2));
}

Test(i8254, mode2_gate_low_forces_out_high_and_reloads)
{
    out(0x61, PORT61_GATE2);
    program(2, 2, PIT_RW_LSB_MSB, false, 10);
    at(9);
    cr_assert_not(i8254_get_out(pit, 2));
    out(0x61, 0);
    cr_assert(i8254_get_out(pit, 2));
    at(100);
    cr_assert_eq(latch_read(2), 1); /* held */
    out(0x61, PORT61_GATE2);
    cr_assert_eq(latch_read(2), 10); /* reloaded */
    at(109);
    cr_assert_not(i8254_get_out(pit, 2));
}

Test(i8254, control_word_alone_stops_counting)
{
    program(0, 2, PIT_RW_LSB_MSB, false, 1000);
    at(10);
    out(0x43, 0x30); /* mode 0, no count yet */
    cr_assert_eq(level, 0);
    at(100000);
    cr_assert_eq(level, 0);
    cr_assert_eq(clock_deadline(clk), INT64_MAX);
}

Test(i8254, status_null_count)
{
    out(0x43, 0x30);
    out(0x43, 0xe2); /* read-back status of channel 0 */
    cr_assert_eq(in(0x40) & PIT_STATUS_NULL_COUNT, PIT_STATUS_NULL_COUNT);
    out(0x40, 5);
    out(0x40, 0);
    out(0x43, 0xe2);
    uint8_t st = in(0x40);
    cr_assert_eq(st & PIT_STATUS_NULL_COUNT, 0);
    cr_assert_eq(st & PIT_STATUS_OUT, 0);
    at(5);
    out(0x43, 0xe2);
    cr_assert_eq(in(0x40) & PIT_STATUS_OUT, PIT_STATUS_OUT);
}
