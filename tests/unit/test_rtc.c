#include <criterion/criterion.h>

#include <time.h>

#include "hw/mc146818.h"

#define SEC 1000000000LL
#define T0 (1000 * SEC) /* virtual time the tests start at */

static IoBus *bus;
static Clock *clk;
static RtcState *rtc;
static int level, rises;

static void irq_handler(void *opaque, int n, int lvl)
{
    cr_assert_eq(n, RTC_IRQ);
    if (lvl && !level)
        rises++;
    level = lvl;
}

static void at(int64_t ns) /* virtual time T0 + ns, timers run */
{
    clock_set_test_time(clk, T0 + ns);
    clock_run_timers(clk);
}

static uint8_t rd(uint8_t idx)
{
    io_write(bus, RTC_BASE, idx, 1);
    return (uint8_t)io_read(bus, RTC_BASE + 1, 1);
}

static void wr(uint8_t idx, uint8_t v)
{
    io_write(bus, RTC_BASE, idx, 1);
    io_write(bus, RTC_BASE + 1, v, 1);
}

static int64_t utc(int y, int mo, int d, int h, int mi, int s)
{
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = s};
    return (int64_t)timegm(&tm);
}

static void setup(void)
{
    bus = io_bus_new();
    clk = clock_new();
    clock_set_test_time(clk, T0);
    level = rises = 0;
    rtc = rtc_init(bus, RTC_BASE, clk, irq_line(irq_handler, NULL, RTC_IRQ));
    cr_assert_not_null(rtc);
    rtc_set_time(rtc, utc(2024, 2, 29, 23, 59, 58)); /* a Thursday */
}

static void teardown(void)
{
    rtc_free(rtc);
    clock_free(clk);
    io_bus_free(bus);
}

TestSuite(rtc, .init = setup, .fini = teardown);

Test(rtc, power_on_registers)
{
    cr_assert_eq(rd(RTC_REG_A), 0x26);
    cr_assert_eq(rd(RTC_REG_B), RTC_B_24H);
    cr_assert_eq(rd(RTC_REG_C), 0);
    cr_assert_eq(rd(RTC_REG_D), RTC_D_VRT);
    cr_assert_eq(level, 0);
}

Test(rtc, host_time_at_start)
{
    RtcState *r2;
    IoBus *b2 = io_bus_new();
    time_t before = time(NULL);
    r2 = rtc_init(b2, RTC_BASE, clk, irq_line(NULL, NULL, 0));
    io_write(b2, RTC_BASE, RTC_YEAR, 1);
    uint8_t yy = (uint8_t)io_read(b2, RTC_BASE + 1, 1);
    struct tm tm;
    gmtime_r(&before, &tm);
    int y = tm.tm_year % 100;
    cr_assert(yy == (((y / 10) << 4) | (y % 10)) || tm.tm_yday == 0 /* new year's race */);
    rtc_free(r2);
    io_bus_free(b2);
}

Test(rtc, bcd_24h_time)
{
    cr_assert_eq(rd(RTC_SECONDS), 0x58);
    cr_assert_eq(rd(RTC_MINUTES), 0x59);
    cr_assert_eq(rd(RTC_HOURS), 0x23);
    cr_assert_eq(rd(RTC_DAY_OF_WEEK), 5); /* Sunday = 1 */
    cr_assert_eq(rd(RTC_DAY_OF_MONTH), 0x29);
    cr_assert_eq(rd(RTC_MONTH), 0x02);
    cr_assert_eq(rd(RTC_YEAR), 0x24);
    cr_assert_eq(rd(RTC_CENTURY), 0x20);
}

Test(rtc, binary_12h_time)
{
    wr(RTC_REG_B, RTC_B_DM);
    cr_assert_eq(rd(RTC_SECONDS), 58);
    cr_assert_eq(rd(RTC_HOURS), RTC_HOUR_PM | 11);
    cr_assert_eq(rd(RTC_DAY_OF_MONTH), 29);
    cr_assert_eq(rd(RTC_YEAR), 24);
    cr_assert_eq(rd(RTC_CENTURY), 20);
    wr(RTC_REG_B, RTC_B_DM | RTC_B_24H);
    cr_assert_eq(rd(RTC_HOURS), 23);
    at(2 * SEC); /* midnight: 12 AM in 12-hour form */
    wr(RTC_REG_B, RTC_B_DM);
    cr_assert_eq(rd(RTC_HOURS), 12);
}

Test(rtc, time_advances_across_leap_day)
{
    at(SEC - 1);
    cr_assert_eq(rd(RTC_SECONDS), 0x58);
    at(SEC);
    cr_assert_eq(rd(RTC_SECONDS), 0x59);
    at(2 * SEC);
    cr_assert_eq(rd(RTC_SECONDS), 0x00);
    cr_assert_eq(rd(RTC_MINUTES), 0x00);
    cr_assert_eq(rd(RTC_HOURS), 0x00);
    cr_assert_eq(rd(RTC_DAY_OF_MONTH), 0x01);
    cr_assert_eq(rd(RTC_MONTH), 0x03);
    cr_assert_eq(rd(RTC_DAY_OF_WEEK), 6);
}

Test(rtc, update_in_progress_window)
{
    at(SEC / 2);
    cr_assert_eq(rd(RTC_REG_A) & RTC_A_UIP, 0);
    at(SEC - 2300000); /* more than 244 + 1984 us before the update */
    cr_assert_eq(rd(RTC_REG_A) & RTC_A_UIP, 0);
    at(SEC - 2000000);
    cr_assert_eq(rd(RTC_REG_A) & RTC_A_UIP, RTC_A_UIP);
    at(SEC - 1);
    cr_assert_eq(rd(RTC_REG_A) & RTC_A_UIP, RTC_A_UIP);
    at(SEC);
    cr_assert_eq(rd(RTC_REG_A) & RTC_A_UIP, 0);
    /* writes cannot set it, and SET clears it */
    wr(RTC_REG_A, 0xa6);
    cr_assert_eq(rd(RTC_REG_A), 0x26);
    at(2 * SEC - 1000);
    wr(RTC_REG_B, RTC_B_24H | RTC_B_SET);
    cr_assert_eq(rd(RTC_REG_A) & RTC_A_UIP, 0);
}

Test(rtc, set_bit_stops_and_restarts_the_clock)
{
    wr(RTC_REG_B, RTC_B_24H | RTC_B_SET | RTC_B_UIE);
    cr_assert_eq(rd(RTC_REG_B), RTC_B_24H | RTC_B_SET); /* SET clears UIE */
    wr(RTC_HOURS, 0x12);
    wr(RTC_MINUTES, 0x34);
    wr(RTC_SECONDS, 0x56);
    wr(RTC_DAY_OF_MONTH, 0x15);
    wr(RTC_MONTH, 0x06);
    wr(RTC_YEAR, 0x99);
    wr(RTC_CENTURY, 0x19);
    at(5 * SEC);
    cr_assert_eq(rd(RTC_SECONDS), 0x56);
    cr_assert_eq(rd(RTC_HOURS), 0x12);
    wr(RTC_REG_B, RTC_B_24H);
    cr_assert_eq(rd(RTC_SECONDS), 0x56);
    at(6 * SEC);
    cr_assert_eq(rd(RTC_SECONDS), 0x57);
    at(9 * SEC);
    cr_assert_eq(rd(RTC_MINUTES), 0x35);
    cr_assert_eq(rd(RTC_SECONDS), 0x00);
    cr_assert_eq(rd(RTC_YEAR), 0x99);
    cr_assert_eq(rd(RTC_CENTURY), 0x19);
    cr_assert_eq(rd(RTC_MONTH), 0x06);
}

Test(rtc, write_while_running)
{
    at(SEC / 4);
    wr(RTC_MINUTES, 0x10);
    cr_assert_eq(rd(RTC_MINUTES), 0x10);
    cr_assert_eq(rd(RTC_HOURS), 0x23);
    at(SEC); /* the update phase is kept */
    cr_assert_eq(rd(RTC_SECONDS), 0x59);
    cr_assert_eq(rd(RTC_MINUTES), 0x10);
}

Test(rtc, periodic_interrupt)
{
    /* 0x26: 1024 Hz, 976562.5 ns */
    wr(RTC_REG_B, RTC_B_24H | RTC_B_PIE);
    cr_assert_eq(clock_deadline(clk), T0 + 976563);
    at(976562);
    cr_assert_eq(level, 0);
    at(976563);
    cr_assert_eq(level, 1);
    cr_assert_eq(clock_deadline(clk), INT64_MAX); /* nothing to do until C is read */
    at(5 * 976563);
    cr_assert_eq(rises, 1);
    cr_assert_eq(rd(RTC_REG_C), RTC_C_IRQF | RTC_C_PF);
    cr_assert_eq(level, 0);
    cr_assert_eq(rd(RTC_REG_C), 0);
    at(6 * 976563);
    cr_assert_eq(level, 1);
    cr_assert_eq(rises, 2);
    /* 2 Hz */
    rd(RTC_REG_C);
    wr(RTC_REG_A, RTC_A_DV_32K | 0x0f);
    at(6 * 976563 + SEC / 4);
    cr_assert_eq(level, 0);
    at(SEC / 2);
    cr_assert_eq(level, 1);
}

Test(rtc, periodic_flag_without_interrupt)
{
    at(SEC / 100);
    cr_assert_eq(rd(RTC_REG_C), RTC_C_PF);
    cr_assert_eq(level, 0);
    cr_assert_eq(rises, 0);
    wr(RTC_REG_A, RTC_A_DV_32K); /* rate 0: none */
    rd(RTC_REG_C);
    at(SEC / 10);
    cr_assert_eq(rd(RTC_REG_C) & RTC_C_PF, 0);
}

Test(rtc, update_ended_interrupt)
{
    wr(RTC_REG_A, RTC_A_DV_32K); /* no periodic flag to confuse things */
    rd(RTC_REG_C);
    wr(RTC_REG_B, RTC_B_24H | RTC_B_UIE);
    cr_assert_eq(clock_deadline(clk), T0 + SEC);
    at(SEC - 1);
    cr_assert_eq(level, 0);
    at(SEC);
    cr_assert_eq(level, 1);
    cr_assert_eq(rd(RTC_REG_C), RTC_C_IRQF | RTC_C_UF);
    cr_assert_eq(level, 0);
    at(2 * SEC);
    cr_assert_eq(rises, 2);
}

Test(rtc, alarm_interrupt)
{
    wr(RTC_REG_A, RTC_A_DV_32K);
    wr(RTC_HOURS_ALARM, 0x00);
    wr(RTC_MINUTES_ALARM, 0x00);
    wr(RTC_SECONDS_ALARM, 0x01);
    rd(RTC_REG_C);
    wr(RTC_REG_B, RTC_B_24H | RTC_B_AIE);
    at(2 * SEC); /* 00:00:00: the update flag, not the alarm */
    cr_assert_eq(level, 0);
    at(3 * SEC); /* 00:00:01 */
    cr_assert_eq(level, 1);
    cr_assert_eq(rd(RTC_REG_C), RTC_C_IRQF | RTC_C_AF | RTC_C_UF);
    /* don't-care bytes: every second */
    wr(RTC_SECONDS_ALARM, RTC_ALARM_DONTCARE);
    wr(RTC_MINUTES_ALARM, 0xff);
    wr(RTC_HOURS_ALARM, 0xc5);
    at(4 * SEC);
    cr_assert_eq(level, 1);
    cr_assert_eq(rd(RTC_REG_C), RTC_C_IRQF | RTC_C_AF | RTC_C_UF);
}

Test(rtc, alarm_flag_found_lazily)
{
    wr(RTC_HOURS_ALARM, 0x00);
    wr(RTC_MINUTES_ALARM, 0x30);
    wr(RTC_SECONDS_ALARM, 0x00);
    rd(RTC_REG_C);
    at(3600 * SEC); /* passed 00:30:00 long ago, no timer was running */
    cr_assert_eq(rd(RTC_REG_C) & (RTC_C_AF | RTC_C_UF), RTC_C_AF | RTC_C_UF);
    at(3601 * SEC);
    cr_assert_eq(rd(RTC_REG_C) & (RTC_C_AF | RTC_C_UF), RTC_C_UF);
}

Test(rtc, enabling_with_flag_set_raises_irq)
{
    at(SEC / 100); /* PF is set by now */
    cr_assert_eq(level, 0);
    wr(RTC_REG_B, RTC_B_24H | RTC_B_PIE);
    cr_assert_eq(level, 1);
    wr(RTC_REG_B, RTC_B_24H); /* IRQF is PF & PIE: it follows */
    cr_assert_eq(level, 0);
}

Test(rtc, divider_reset_holds_time)
{
    wr(RTC_REG_A, RTC_A_DV_RESET | 6);
    at(10 * SEC);
    cr_assert_eq(rd(RTC_SECONDS), 0x58);
    cr_assert_eq(rd(RTC_REG_C) & RTC_C_PF, 0);
    wr(RTC_REG_A, RTC_A_DV_32K | 6); /* first update half a second later */
    at(10 * SEC + SEC / 2 - 1);
    cr_assert_eq(rd(RTC_SECONDS), 0x58);
    at(10 * SEC + SEC / 2);
    cr_assert_eq(rd(RTC_SECONDS), 0x59);
}

Test(rtc, cmos_ram_and_nmi_bit)
{
    wr(0x40, 0xa5);
    cr_assert_eq(rd(0x40), 0xa5);
    cr_assert_eq(rtc_cmos_get(rtc, 0x40), 0xa5);
    rtc_cmos_set(rtc, 0x7f, 0x5a);
    cr_assert_eq(rd(0x7f), 0x5a);
    cr_assert_not(rtc_nmi_disabled(rtc));
    io_write(bus, RTC_BASE, RTC_NMI_DISABLE | 0x40, 1);
    cr_assert(rtc_nmi_disabled(rtc));
    cr_assert_eq(io_read(bus, RTC_BASE + 1, 1), 0xa5); /* bit 7 is not part of the index */
    cr_assert_eq(io_read(bus, RTC_BASE, 1), 0xff);     /* the index port is write-only */
    wr(RTC_REG_C, 0xff);
    wr(RTC_REG_D, 0x00);
    cr_assert_eq(rd(RTC_REG_D), RTC_D_VRT);
}
