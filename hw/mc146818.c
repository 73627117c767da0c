#include "hw/mc146818.h"

#include <string.h>
#include <time.h>

#include <glib.h>

#define NS_PER_SEC 1000000000LL
#define RTC_TIMEBASE 32768 /* Hz */
/* UIP: 244 us of warning (8 time-base cycles) plus the 1984 us update cycle */
#define UIP_NS (244141LL + 1984375LL)
#define DIVIDER_RELEASE_NS (NS_PER_SEC / 2) /* first update after the divider leaves reset */
#define ALARM_SCAN_MAX 86400                /* seconds: every alarm pattern matches in a day */

struct RtcState {
    Clock *clock;
    IrqLine irq;
    Timer *timer;
    int irq_level;

    uint8_t cmos[RTC_CMOS_SIZE];
    uint8_t index;
    bool nmi_disabled;

    /* While the clock runs: the time is base_time at sec_base_ns and one second more at each
     * update, i.e. at sec_base_ns + k s. While stopped the registers in cmos[] are the time. */
    int64_t base_time; /* seconds since 1970 (UTC calendar) */
    int64_t sec_base_ns;
    int64_t div_base_ns; /* when the divider chain started: the periodic rate's phase */
    int wday_offset;     /* the guest's day of week minus the calendar's */
    int64_t flags_ns;    /* register C flags are up to date to this virtual time */
};

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static bool divider_running(const RtcState *s)
{
    return (s->cmos[RTC_REG_A] & RTC_A_DV_MASK) <= RTC_A_DV_32K;
}

static bool clock_running(const RtcState *s)
{
    return divider_running(s) && !(s->cmos[RTC_REG_B] & RTC_B_SET);
}

/* Index of the last update at or before ns (update k happens at sec_base_ns + k s). */
static int64_t update_index(const RtcState *s, int64_t ns)
{
    return floor_div(ns - s->sec_base_ns, NS_PER_SEC);
}

static int64_t now_seconds(const RtcState *s, int64_t ns)
{
    return s->base_time + update_index(s, ns);
}

/* --- register formats --------------------------------------------------------------------- */

static bool binary(const RtcState *s)
{
    return s->cmos[RTC_REG_B] & RTC_B_DM;
}

static uint8_t to_reg(const RtcState *s, int v)
{
    return binary(s) ? (uint8_t)v : (uint8_t)(((v / 10) << 4) | (v % 10));
}

static int from_reg(const RtcState *s, uint8_t b)
{
    return binary(s) ? b : (b >> 4) * 10 + (b & 15);
}

static uint8_t hour_to_reg(const RtcState *s, int h)
{
    if (s->cmos[RTC_REG_B] & RTC_B_24H)
        return to_reg(s, h);
    int h12 = h % 12 ? h % 12 : 12;
    return (uint8_t)(to_reg(s, h12) | (h >= 12 ? RTC_HOUR_PM : 0));
}

static int hour_from_reg(const RtcState *s, uint8_t b)
{
    if (s->cmos[RTC_REG_B] & RTC_B_24H)
        return from_reg(s, b);
    return from_reg(s, b & (uint8_t)~RTC_HOUR_PM) % 12 + ((b & RTC_HOUR_PM) ? 12 : 0);
}

/* Fill the time registers with time t. */
static void time_to_regs(RtcState *s, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    int year = tm.tm_year + 1900;
    s->cmos[RTC_SECONDS] = to_reg(s, tm.tm_sec);
    s->cmos[RTC_MINUTES] = to_reg(s, tm.tm_min);
    s->cmos[RTC_HOURS] = hour_to_reg(s, tm.tm_hour);
    s->cmos[RTC_DAY_OF_WEEK] = to_reg(s, (tm.tm_wday + s->wday_offset + 7) % 7 + 1);
    s->cmos[RTC_DAY_OF_MONTH] = to_reg(s, tm.tm_mday);
    s->cmos[RTC_MONTH] = to_reg(s, tm.tm_mon + 1);
    s->cmos[RTC_YEAR] = to_reg(s, year % 100);
    s->cmos[RTC_CENTURY] = to_reg(s, year / 100);
}

/* The time the registers hold (out-of-range fields are normalised by timegm). */
static int64_t regs_to_time(RtcState *s)
{
    struct tm tm = {0};
    int century = from_reg(s, s->cmos[RTC_CENTURY]);
    if (century < 19 || century > 99)
        century = 20;
    tm.tm_sec = from_reg(s, s->cmos[RTC_SECONDS]);
    tm.tm_min = from_reg(s, s->cmos[RTC_MINUTES]);
    tm.tm_hour = hour_from_reg(s, s->cmos[RTC_HOURS]);
    tm.tm_mday = from_reg(s, s->cmos[RTC_DAY_OF_MONTH]);
    tm.tm_mon = from_reg(s, s->cmos[RTC_MONTH]) - 1;
    tm.tm_year = century * 100 + from_reg(s, s->cmos[RTC_YEAR]) - 1900;
    time_t t = timegm(&tm);
    struct tm check;
    gmtime_r(&t, &check);
    s->wday_offset = ((from_reg(s, s->cmos[RTC_DAY_OF_WEEK]) - 1 - check.tm_wday) % 7 + 7) % 7;
    return (int64_t)t;
}

static bool is_time_reg(uint8_t idx)
{
    return idx == RTC_SECONDS || idx == RTC_MINUTES || idx == RTC_HOURS ||
           (idx >= RTC_DAY_OF_WEEK && idx <= RTC_YEAR) || idx == RTC_CENTURY;
}

/* --- flags, interrupt, timer -------------------------------------------------------------- */

/* Periodic interval in 32.768 kHz cycles, 0 when RS selects none. */
static unsigned periodic_cycles(const RtcState *s)
{
    unsigned rs = s->cmos[RTC_REG_A] & RTC_A_RS_MASK;
    if (rs == 0)
        return 0;
    return rs <= 2 ? 1u << (rs + 6) : 1u << (rs - 1); /* 1, 2 repeat 8, 9: 256, 128 Hz */
}

static int64_t periodic_index(const RtcState *s, int64_t ns, unsigned cycles)
{
    int64_t d = ns - s->div_base_ns;
    if (d < 0)
        return -1;
    return (int64_t)(((unsigned __int128)d * RTC_TIMEBASE / NS_PER_SEC) / cycles);
}

static int alarm_field(const RtcState *s, uint8_t reg, bool hour)
{
    uint8_t b = s->cmos[reg];
    if ((b & RTC_ALARM_DONTCARE) == RTC_ALARM_DONTCARE)
        return -1;
    return hour ? hour_from_reg(s, b) : from_reg(s, b);
}

static bool alarm_matches(const RtcState *s, int64_t t)
{
    int as = alarm_field(s, RTC_SECONDS_ALARM, false);
    int am = alarm_field(s, RTC_MINUTES_ALARM, false);
    int ah = alarm_field(s, RTC_HOURS_ALARM, true);
    int64_t sod = ((t % 86400) + 86400) % 86400;
    return (as < 0 || as == sod % 60) && (am < 0 || am == sod / 60 % 60) &&
           (ah < 0 || ah == sod / 3600);
}

/* Set the register C flags for everything that happened in (flags_ns, ns]. */
static void update_flags(RtcState *s, int64_t ns)
{
    if (ns <= s->flags_ns)
        return;
    unsigned cycles = periodic_cycles(s);
    if (divider_running(s) && cycles &&
        periodic_index(s, ns, cycles) > periodic_index(s, s->flags_ns, cycles))
        s->cmos[RTC_REG_C] |= RTC_C_PF;
    if (clock_running(s)) {
        int64_t k1 = update_index(s, s->flags_ns), k2 = update_index(s, ns);
        if (k2 > k1) {
            s->cmos[RTC_REG_C] |= RTC_C_UF;
            if (k2 - k1 > ALARM_SCAN_MAX)
                k1 = k2 - ALARM_SCAN_MAX;
            for (int64_t k = k2; k > k1; k--) {
                if (alarm_matches(s, s->base_time + k)) {
                    s->cmos[RTC_REG_C] |= RTC_C_AF;
                    break;
                }
            }
        }
    }
    s->flags_ns = ns;
}

static void update_irq(RtcState *s)
{
    uint8_t b = s->cmos[RTC_REG_B], c = s->cmos[RTC_REG_C];
    bool irqf = ((c & RTC_C_PF) && (b & RTC_B_PIE)) || ((c & RTC_C_AF) && (b & RTC_B_AIE)) ||
                ((c & RTC_C_UF) && (b & RTC_B_UIE));
    if (irqf)
        s->cmos[RTC_REG_C] |= RTC_C_IRQF;
    else
        s->cmos[RTC_REG_C] &= (uint8_t)~RTC_C_IRQF;
    if (irqf != s->irq_level) {
        s->irq_level = irqf;
        irq_set(&s->irq, irqf);
    }
}

/* Arm the timer for the next moment an enabled interrupt could raise the line. With IRQF
 * already set nothing can (the flags are computed when C is read). */
static void rearm(RtcState *s, int64_t ns)
{
    int64_t next = INT64_MAX;
    uint8_t b = s->cmos[RTC_REG_B];
    if (!(s->cmos[RTC_REG_C] & RTC_C_IRQF)) {
        unsigned cycles = periodic_cycles(s);
        if ((b & RTC_B_PIE) && divider_running(s) && cycles) {
            int64_t i = periodic_index(s, ns, cycles) + 1;
            unsigned __int128 c = (unsigned __int128)i * cycles * NS_PER_SEC;
            int64_t at = s->div_base_ns + (int64_t)((c + RTC_TIMEBASE - 1) / RTC_TIMEBASE);
            if (at < next)
                next = at;
        }
        if ((b & (RTC_B_UIE | RTC_B_AIE)) && clock_running(s)) {
            int64_t at = s->sec_base_ns + (update_index(s, ns) + 1) * NS_PER_SEC;
            if (at < next)
                next = at;
        }
    }
    if (next == INT64_MAX)
        timer_del(s->timer);
    else
        timer_mod(s->timer, next);
}

static void rtc_timer_cb(void *opaque)
{
    RtcState *s = opaque;
    int64_t ns = clock_ns(s->clock);
    update_flags(s, ns);
    update_irq(s);
    rearm(s, ns);
}

/* --- registers ---------------------------------------------------------------------------- */

/* Starting the clock (SET cleared, divider out of reset) takes the time from the registers;
 * the update phase is the divider's, which runs while SET is held. */
static void clock_started(RtcState *s, int64_t ns)
{
    int64_t t = regs_to_time(s);
    s->sec_base_ns += update_index(s, ns) * NS_PER_SEC;
    s->base_time = t;
}

static void write_reg_a(RtcState *s, int64_t ns, uint8_t v)
{
    bool was_running = clock_running(s), div_was = divider_running(s);
    if (was_running)
        time_to_regs(s, now_seconds(s, ns)); /* in case this stops the clock */
    s->cmos[RTC_REG_A] = v & (uint8_t)~RTC_A_UIP;
    if (!div_was && divider_running(s)) {
        /* out of reset: the periodic rate starts now, the first update half a second on */
        s->div_base_ns = ns;
        s->sec_base_ns = ns + DIVIDER_RELEASE_NS - NS_PER_SEC;
    }
    if (!was_running && clock_running(s))
        clock_started(s, ns);
}

static void write_reg_b(RtcState *s, int64_t ns, uint8_t v)
{
    bool was_running = clock_running(s);
    if (was_running)
        time_to_regs(s, now_seconds(s, ns)); /* in the old format: the registers keep it */
    if (v & RTC_B_SET)
        v &= (uint8_t)~RTC_B_UIE; /* setting SET clears UIE */
    s->cmos[RTC_REG_B] = v;
    if (!was_running && clock_running(s))
        clock_started(s, ns);
}

static void write_time_reg(RtcState *s, int64_t ns, uint8_t idx, uint8_t v)
{
    if (!clock_running(s)) {
        s->cmos[idx] = v;
        return;
    }
    /* running: the other fields as they are now, this one as written, from this moment */
    time_to_regs(s, now_seconds(s, ns));
    s->cmos[idx] = v;
    s->base_time = regs_to_time(s) - update_index(s, ns);
}

static uint8_t rtc_read(RtcState *s)
{
    uint8_t idx = s->index, v;
    int64_t ns = clock_ns(s->clock);
    if (is_time_reg(idx)) {
        if (clock_running(s))
            time_to_regs(s, now_seconds(s, ns));
        return s->cmos[idx];
    }
    switch (idx) {
    case RTC_REG_A:
        v = s->cmos[RTC_REG_A] & (uint8_t)~RTC_A_UIP;
        if (clock_running(s) &&
            ns - s->sec_base_ns - update_index(s, ns) * NS_PER_SEC >= NS_PER_SEC - UIP_NS)
            v |= RTC_A_UIP;
        return v;
    case RTC_REG_C:
        update_flags(s, ns);
        update_irq(s);
        v = s->cmos[RTC_REG_C];
        s->cmos[RTC_REG_C] = 0;
        update_irq(s);
        rearm(s, ns);
        return v;
    case RTC_REG_D:
        return RTC_D_VRT;
    default:
        return s->cmos[idx];
    }
}

static void rtc_write(RtcState *s, uint8_t v)
{
    uint8_t idx = s->index;
    int64_t ns = clock_ns(s->clock);
    if (idx > RTC_REG_D && idx != RTC_CENTURY) {
        s->cmos[idx] = v; /* CMOS RAM */
        return;
    }
    update_flags(s, ns); /* what happened so far happened under the old settings */
    if (is_time_reg(idx))
        write_time_reg(s, ns, idx, v);
    else if (idx == RTC_REG_A)
        write_reg_a(s, ns, v);
    else if (idx == RTC_REG_B)
        write_reg_b(s, ns, v);
    else if (idx != RTC_REG_C && idx != RTC_REG_D) /* those two are read-only */
        s->cmos[idx] = v;                          /* the alarm bytes */
    update_irq(s);
    rearm(s, ns);
}

static uint32_t rtc_io_read(void *dev, uint16_t off, unsigned size)
{
    RtcState *s = dev;
    uint32_t v = 0;
    for (unsigned i = 0; i < size; i++) {
        /* the index register is write-only */
        uint8_t b = off + i == 1 ? rtc_read(s) : 0xff;
        v |= (uint32_t)b << (8 * i);
    }
    return v;
}

static void rtc_io_write(void *dev, uint16_t off, uint32_t val, unsigned size)
{
    RtcState *s = dev;
    for (unsigned i = 0; i < size && off + i < 2; i++) {
        uint8_t b = (uint8_t)(val >> (8 * i));
        if (off + i == 0) {
            s->index = b & RTC_INDEX_MASK;
            s->nmi_disabled = b & RTC_NMI_DISABLE;
        } else {
            rtc_write(s, b);
        }
    }
}

static const IoOps rtc_ops = {rtc_io_read, rtc_io_write};

void rtc_set_time(RtcState *s, int64_t unix_seconds)
{
    int64_t ns = clock_ns(s->clock);
    update_flags(s, ns);
    s->sec_base_ns = ns;
    s->div_base_ns = ns; /* one divider chain makes both the updates and the periodic rate */
    s->base_time = unix_seconds;
    s->wday_offset = 0;
    if (!clock_running(s))
        time_to_regs(s, unix_seconds);
    update_irq(s);
    rearm(s, ns);
}

RtcState *rtc_init(IoBus *bus, uint16_t base, Clock *clock, IrqLine irq)
{
    RtcState *s = g_new0(RtcState, 1);
    s->clock = clock;
    s->irq = irq;
    if (io_register(bus, base, 2, &rtc_ops, s) < 0) {
        g_free(s);
        return NULL;
    }
    s->timer = timer_new(clock, rtc_timer_cb, s);
    s->cmos[RTC_REG_A] = RTC_A_DV_32K | 0x06; /* 1024 Hz, what firmware programs */
    s->cmos[RTC_REG_B] = RTC_B_24H;
    s->cmos[RTC_REG_D] = RTC_D_VRT;

    /* Updates fall on the host's second boundaries. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t ns = clock_ns(clock);
    s->flags_ns = ns;
    s->base_time = ts.tv_sec;
    s->sec_base_ns = ns - ts.tv_nsec;
    s->div_base_ns = s->sec_base_ns;
    time_to_regs(s, s->base_time);
    return s;
}

void rtc_free(RtcState *s)
{
    if (!s)
        return;
    timer_free(s->timer);
    g_free(s);
}

void rtc_cmos_set(RtcState *s, uint8_t index, uint8_t val)
{
    s->cmos[index & RTC_INDEX_MASK] = val;
}

uint8_t rtc_cmos_get(RtcState *s, uint8_t index)
{
    return s->cmos[index & RTC_INDEX_MASK];
}

bool rtc_nmi_disabled(RtcState *s)
{
    return s->nmi_disabled;
}
