#include <criterion/criterion.h>

#include <stdlib.h>
#include <time.h>

#include "hw/clock.h"

#define HOUR_NS (3600LL * 1000000000LL)

static Clock *clk;
static char order[32];
static int norder;

typedef struct T {
    Timer *t;
    char name;
    int rearm_times; /* re-arm in the past this many more times */
    bool rearm_future;
    struct T *victim; /* delete this one when run */
    bool free_self;
} T;

static void cb(void *opaque)
{
    T *x = opaque;
    if (norder < (int)sizeof(order) - 1)
        order[norder] = x->name;
    norder++;
    if (x->victim)
        timer_del(x->victim->t);
    if (x->rearm_times > 0) {
        x->rearm_times--;
        timer_mod(x->t, timer_expire(x->t) + 1);
    } else if (x->rearm_future) {
        timer_mod(x->t, clock_ns(clk) + HOUR_NS);
    }
    if (x->free_self) {
        timer_free(x->t);
        x->t = NULL;
    }
}

static void setup(void)
{
    clk = clock_new();
    norder = 0;
    memset(order, 0, sizeof(order));
}

static void teardown(void)
{
    clock_free(clk);
}

TestSuite(clock, .init = setup, .fini = teardown);

Test(clock, virtual_time_advances_from_zero)
{
    int64_t a = clock_ns(clk);
    cr_assert_geq(a, 0);
    cr_assert_lt(a, 1000000000LL);
    struct timespec ts = {0, 2000000};
    nanosleep(&ts, NULL);
    cr_assert_geq(clock_ns(clk) - a, 2000000);
}

Test(clock, expiry_order_and_deadline)
{
    T a = {.name = 'a'}, b = {.name = 'b'}, c = {.name = 'c'}, d = {.name = 'd'};
    a.t = timer_new(clk, cb, &a);
    b.t = timer_new(clk, cb, &b);
    c.t = timer_new(clk, cb, &c);
    d.t = timer_new(clk, cb, &d);
    cr_assert_eq(clock_deadline(clk), INT64_MAX);
    cr_assert_not(timer_pending(a.t));
    timer_mod(a.t, 300);
    timer_mod(b.t, 100);
    timer_mod(c.t, 200);
    timer_mod(d.t, HOUR_NS);
    cr_assert_eq(clock_deadline(clk), 100);
    cr_assert(timer_pending(a.t));
    timer_mod(b.t, 400); /* re-arming moves it */
    cr_assert_eq(clock_deadline(clk), 200);
    cr_assert_eq(clock_run_timers(clk), 3);
    cr_assert_str_eq(order, "cab");
    cr_assert_not(timer_pending(a.t));
    cr_assert(timer_pending(d.t));
    cr_assert_eq(clock_deadline(clk), HOUR_NS);
    cr_assert_eq(clock_run_timers(clk), 0);
    timer_free(a.t);
    timer_free(b.t);
    timer_free(c.t);
    timer_free(d.t);
}

Test(clock, equal_deadlines_run_in_arming_order)
{
    T x[4] = {{.name = 'w'}, {.name = 'x'}, {.name = 'y'}, {.name = 'z'}};
    for (int i = 0; i < 4; i++)
        x[i].t = timer_new(clk, cb, &x[i]);
    timer_mod(x[2].t, 50);
    timer_mod(x[0].t, 50);
    timer_mod(x[3].t, 50);
    timer_mod(x[1].t, 50);
    cr_assert_eq(clock_run_timers(clk), 4);
    cr_assert_str_eq(order, "ywzx");
    for (int i = 0; i < 4; i++)
        timer_free(x[i].t);
}

Test(clock, rearm_from_callback)
{
    T p = {.name = 'p', .rearm_times = 2, .rearm_future = true}, q = {.name = 'q'};
    p.t = timer_new(clk, cb, &p);
    q.t = timer_new(clk, cb, &q);
    timer_mod(p.t, 10);
    timer_mod(q.t, 11);
    /* p re-arms to 11 (after q, armed earlier at 11), then 12, then an hour ahead */
    cr_assert_eq(clock_run_timers(clk), 4);
    cr_assert_str_eq(order, "pqpp");
    cr_assert(timer_pending(p.t));
    cr_assert_gt(timer_expire(p.t), clock_ns(clk));
    cr_assert_eq(clock_deadline(clk), timer_expire(p.t));
    timer_free(p.t);
    timer_free(q.t);
}

Test(clock, runaway_rearm_is_bounded)
{
    T p = {.name = 'p', .rearm_times = 1000000};
    p.t = timer_new(clk, cb, &p);
    timer_mod(p.t, 0);
    int n = clock_run_timers(clk);
    cr_assert_gt(n, 0);
    cr_assert_lt(n, 1000000);
    cr_assert(timer_pending(p.t));
    timer_free(p.t);
}

Test(clock, delete_from_callback)
{
    T a = {.name = 'a'}, b = {.name = 'b'}, c = {.name = 'c'};
    a.victim = &b;
    a.t = timer_new(clk, cb, &a);
    b.t = timer_new(clk, cb, &b);
    c.t = timer_new(clk, cb, &c);
    timer_mod(a.t, 1);
    timer_mod(b.t, 2);
    timer_mod(c.t, 3);
    cr_assert_eq(clock_run_timers(clk), 2);
    cr_assert_str_eq(order, "ac");
    cr_assert_not(timer_pending(b.t));
    timer_free(a.t);
    timer_free(b.t);
    timer_free(c.t);
}

Test(clock, free_self_from_callback)
{
    T a = {.name = 'a', .free_self = true}, b = {.name = 'b'};
    a.t = timer_new(clk, cb, &a);
    b.t = timer_new(clk, cb, &b);
    timer_mod(a.t, 1);
    timer_mod(b.t, 2);
    cr_assert_eq(clock_run_timers(clk), 2);
    cr_assert_str_eq(order, "ab");
    cr_assert_null(a.t);
    timer_free(b.t);
}

Test(clock, del_and_free_pending)
{
    T a = {.name = 'a'}, b = {.name = 'b'};
    a.t = timer_new(clk, cb, &a);
    b.t = timer_new(clk, cb, &b);
    timer_mod(a.t, 1);
    timer_mod(b.t, 2);
    timer_del(a.t);
    timer_del(a.t);  /* twice is harmless */
    timer_free(b.t); /* while pending */
    cr_assert_eq(clock_deadline(clk), INT64_MAX);
    cr_assert_eq(clock_run_timers(clk), 0);
    cr_assert_eq(norder, 0);
    timer_free(a.t);
}

Test(clock, timers_outliving_the_clock)
{
    Clock *c2 = clock_new();
    T a = {.name = 'a'};
    a.t = timer_new(c2, cb, &a);
    timer_mod(a.t, 5);
    clock_free(c2);
    cr_assert_not(timer_pending(a.t));
    timer_free(a.t);
}

/* ---- the host's time through a fake TSC and monotonic clock (clock_set_host_source) ---- */

typedef struct FakeHost {
    int64_t mono; /* ns */
    uint64_t tsc; /* ticks */
    int mono_reads;
} FakeHost;

static int64_t fake_mono(void *opaque)
{
    FakeHost *h = opaque;
    h->mono_reads++;
    return h->mono;
}

static uint64_t fake_tsc(void *opaque)
{
    return ((FakeHost *)opaque)->tsc;
}

/* Advance both by ns, the TSC at ticks_per_us ticks a microsecond. */
static void fake_advance(FakeHost *h, int64_t ns, uint64_t ticks_per_us)
{
    h->mono += ns;
    h->tsc += (uint64_t)ns * ticks_per_us / 1000;
}

static void fake_source(Clock *c, FakeHost *h, bool with_tsc)
{
    ClockHostSource src = {.mono = fake_mono, .tsc = with_tsc ? fake_tsc : NULL, .opaque = h};
    clock_set_host_source(c, &src);
}

Test(clock, without_a_tsc_every_read_is_the_monotonic_clock)
{
    FakeHost h = {.mono = 5000000000LL};
    fake_source(clk, &h, false);
    cr_assert_eq(clock_ns(clk), 0);
    for (int i = 1; i <= 1000; i++) {
        h.mono += 777;
        cr_assert_eq(clock_ns(clk), i * 777LL);
    }
    cr_assert_eq(h.mono_reads, 1001 + 1); /* + the start */
    cr_assert_eq(clock_anchors(clk), 0);
}

Test(clock, the_tsc_carries_the_clock_between_anchors)
{
    FakeHost h = {.mono = 123456789, .tsc = 1ull << 40};
    fake_source(clk, &h, true);
    /* 2.6 GHz: 2600 ticks a microsecond; read every 300 ns for 50 ms */
    int64_t t = 0;
    for (int i = 0; i < 50000000 / 300; i++) {
        fake_advance(&h, 300, 2600);
        t += 300;
        int64_t v = clock_ns(clk);
        cr_assert_leq(v, t, "read %d: %lld ahead of %lld", i, (long long)v, (long long)t);
        cr_assert_geq(v, t - 2, "read %d: %lld behind %lld", i, (long long)v, (long long)t);
    }
    /* the monotonic clock read about once a millisecond, not at every read */
    cr_assert_lt(clock_anchors(clk), 50 + 2 * 1000000 / 300 + 5); /* 2 ms to measure */
    cr_assert_gt(clock_anchors(clk), 40);
    int reads = h.mono_reads;
    for (int i = 0; i < 1000; i++) { /* 1000 reads within 300 us: none of them an anchor */
        fake_advance(&h, 300, 2600);
        clock_ns(clk);
    }
    cr_assert_leq(h.mono_reads - reads, 1);
}

Test(clock, a_tsc_at_the_wrong_rate_drifts_no_further_than_an_anchor)
{
    FakeHost h = {.mono = 1, .tsc = 1000};
    fake_source(clk, &h, true);
    for (int i = 0; i < 20000; i++) { /* 20 ms at 1 GHz: measured */
        fake_advance(&h, 1000, 1000);
        clock_ns(clk);
    }
    /* now the TSC runs 1% fast, then 1% slow: the clock never goes back, and stays within
     * 2% (the rate's error at the switch) of a millisecond of the monotonic clock */
    int64_t prev = clock_ns(clk), t = h.mono - 1;
    for (int i = 0; i < 40000; i++) {
        int64_t step = 100 + i % 50;
        fake_advance(&h, step, i < 20000 ? 1010 : 990);
        t += step;
        int64_t v = clock_ns(clk);
        cr_assert_geq(v, prev, "went back at %d: %lld after %lld", i, (long long)v,
                      (long long)prev);
        cr_assert_leq(llabs(v - t), 20000 + 500, "drifted at %d: %lld vs %lld", i, (long long)v,
                      (long long)t);
        prev = v;
    }
}

Test(clock, a_window_that_disagrees_is_not_used)
{
    /* the first millisecond's TSC ticks at a tenth of its rate (say the thread was held up
     * between readings): that rate is never used, so the clock stays on the monotonic clock */
    FakeHost h = {.mono = 1, .tsc = 1000};
    fake_source(clk, &h, true);
    int64_t t = 0;
    for (int i = 0; i < 30000; i++) {
        fake_advance(&h, 500, i < 2000 ? 200 : 2000);
        t += 500;
        int64_t v = clock_ns(clk);
        cr_assert_leq(llabs(v - t), 1000, "at %d: %lld vs %lld", i, (long long)v, (long long)t);
    }
    cr_assert_lt(clock_anchors(clk), 30000 / 2, "the TSC was used in the end");
}

Test(clock, a_tsc_that_goes_back_does_not_take_the_clock_back)
{
    FakeHost h = {.mono = 1, .tsc = 1ull << 50};
    fake_source(clk, &h, true);
    for (int i = 0; i < 5000; i++) {
        fake_advance(&h, 1000, 3000);
        clock_ns(clk);
    }
    int64_t before = clock_ns(clk);
    h.tsc -= 1000000; /* another host CPU's TSC, a little behind */
    h.mono += 10;
    int64_t after = clock_ns(clk);
    cr_assert_geq(after, before);
    cr_assert_eq(after, h.mono - 1); /* read from the monotonic clock */
    /* and it goes on from there at the right rate */
    for (int i = 0; i < 5000; i++) {
        fake_advance(&h, 1000, 3000);
        int64_t v = clock_ns(clk);
        cr_assert_geq(v, after);
        cr_assert_leq(llabs(v - (h.mono - 1)), 1000);
        after = v;
    }
    h.tsc += 1ull << 62; /* a jump far ahead: not extrapolated from */
    cr_assert_eq(clock_ns(clk), h.mono - 1);
}

Test(clock, test_time_overrides_the_host_source)
{
    FakeHost h = {.mono = 1, .tsc = 1};
    fake_source(clk, &h, true);
    clock_set_test_time(clk, 42);
    fake_advance(&h, 5000000, 2000);
    cr_assert_eq(clock_ns(clk), 42);
    clock_set_test_time(clk, 43);
    cr_assert_eq(clock_ns(clk), 43);
}
