#include "hw/clock.h"

#include <time.h>

#include <glib.h>

/* A callback that keeps re-arming its timer in the past would hold clock_run_timers forever;
 * past this many callbacks in one call the rest wait for the next call (the deadline is already
 * due, so that comes at once). */
#define MAX_RUNS_PER_CALL 10000

struct Clock {
    int64_t start_ns;
    GSequence *armed; /* of Timer*, by (expire, seq) */
    GHashTable *all;  /* every live Timer, to detach them if the clock goes first */
    uint64_t next_seq;
    bool test_time; /* clock_set_test_time() took over: virtual time is test_ns */
    int64_t test_ns;
};

struct Timer {
    Clock *clock; /* NULL once the clock is freed */
    TimerCb cb;
    void *opaque;
    int64_t expire;
    uint64_t seq;        /* arming order: equal deadlines run first-armed first */
    GSequenceIter *iter; /* position in clock->armed, NULL when not pending */
};

static int64_t host_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static gint timer_cmp(gconstpointer a, gconstpointer b, gpointer unused)
{
    const Timer *x = a, *y = b;
    if (x->expire != y->expire)
        return x->expire < y->expire ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

Clock *clock_new(void)
{
    Clock *c = g_new0(Clock, 1);
    c->start_ns = host_ns();
    c->armed = g_sequence_new(NULL);
    c->all = g_hash_table_new(NULL, NULL);
    return c;
}

void clock_free(Clock *c)
{
    if (!c)
        return;
    GHashTableIter it;
    gpointer key;
    g_hash_table_iter_init(&it, c->all);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        Timer *t = key;
        t->clock = NULL;
        t->iter = NULL;
    }
    g_hash_table_destroy(c->all);
    g_sequence_free(c->armed);
    g_free(c);
}

int64_t clock_ns(Clock *c)
{
    if (c->test_time)
        return c->test_ns;
    return host_ns() - c->start_ns;
}

void clock_set_test_time(Clock *c, int64_t ns)
{
    c->test_time = true;
    c->test_ns = ns;
}

Timer *timer_new(Clock *c, TimerCb cb, void *opaque)
{
    Timer *t = g_new0(Timer, 1);
    t->clock = c;
    t->cb = cb;
    t->opaque = opaque;
    t->expire = INT64_MAX;
    g_hash_table_add(c->all, t);
    return t;
}

void timer_del(Timer *t)
{
    if (t && t->iter) {
        g_sequence_remove(t->iter);
        t->iter = NULL;
    }
}

void timer_free(Timer *t)
{
    if (!t)
        return;
    timer_del(t);
    if (t->clock)
        g_hash_table_remove(t->clock->all, t);
    g_free(t);
}

void timer_mod(Timer *t, int64_t expire_ns)
{
    if (!t->clock)
        return;
    timer_del(t);
    t->expire = expire_ns;
    t->seq = t->clock->next_seq++;
    t->iter = g_sequence_insert_sorted(t->clock->armed, t, timer_cmp, NULL);
}

bool timer_pending(const Timer *t)
{
    return t->iter != NULL;
}

int64_t timer_expire(const Timer *t)
{
    return t->expire;
}

int64_t clock_deadline(Clock *c)
{
    GSequenceIter *first = g_sequence_get_begin_iter(c->armed);
    if (g_sequence_iter_is_end(first))
        return INT64_MAX;
    return ((Timer *)g_sequence_get(first))->expire;
}

int clock_run_timers(Clock *c)
{
    int64_t now = clock_ns(c);
    int ran = 0;
    /* Take the head afresh each time: a callback may arm, delete or free any timer, its own
     * included, so nothing is cached across the call. */
    while (ran < MAX_RUNS_PER_CALL) {
        GSequenceIter *first = g_sequence_get_begin_iter(c->armed);
        if (g_sequence_iter_is_end(first))
            break;
        Timer *t = g_sequence_get(first);
        if (t->expire > now)
            break;
        g_sequence_remove(first);
        t->iter = NULL;
        ran++;
        t->cb(t->opaque); /* t may be gone after this */
    }
    return ran;
}
