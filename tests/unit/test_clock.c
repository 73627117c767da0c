#include <criterion/criterion.h>

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
