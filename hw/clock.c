#include "hw/clock.h"

#include <time.h>

#include <glib.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <x86intrin.h>
#define HAVE_HOST_TSC 1
#endif

/* A callback that keeps re-arming its timer in the past would hold clock_run_timers forever;
 * past this many callbacks in one call the rest wait for the next call (the deadline is already
 * due, so that comes at once). */
#define MAX_RUNS_PER_CALL 10000

/* Reading the time. The guest's RDTSC, the run loop's deadline and the device models read the
 * time millions of times in a Linux boot, and CLOCK_MONOTONIC costs about three times a bare
 * RDTSC (the vDSO reads the TSC itself, in order, under a sequence lock; ~30 ns against ~11 ns
 * a read here). So where the host's TSC is invariant, the clock reads the monotonic clock about
 * once a millisecond (an "anchor") and extrapolates from the last anchor with the TSC, at a
 * rate measured against the monotonic clock over windows growing from 1 ms to 1 s (two in a
 * row must agree). Between anchors the extrapolation is off by at most the rate's error times
 * 1 ms (well under a microsecond once measured); each anchor brings it back to the monotonic
 * clock, and no value is lower than one returned before (the clock stands still instead). So
 * virtual time stays monotonic and within that bound of CLOCK_MONOTONIC, and the TSC and the
 * devices, which all read it here, see one time. */
#define ANCHOR_NS 1000000LL        /* extrapolate at most this far past an anchor */
#define FIRST_WINDOW_NS 1000000LL  /* the first rate measurement's length */
#define MAX_WINDOW_NS 1000000000LL /* windows double up to this */
#define RATE_TOLERANCE 64          /* a window's rate within 1/64 of the last one's is believed */
#define RATE_SHIFT 32              /* rate: ns per TSC tick, 32.32 fixed point */
#define MIN_RATE ((1ull << RATE_SHIFT) / 100) /* TSCs from 100 GHz ... */
#define MAX_RATE ((1ull << RATE_SHIFT) * 100) /* ... down to 10 MHz */

struct Clock {
    int64_t start_ns;
    GSequence *armed; /* of Timer*, by (expire, seq) */
    GHashTable *all;  /* every live Timer, to detach them if the clock goes first */
    uint64_t next_seq;
    bool test_time; /* clock_set_test_time() took over: virtual time is test_ns */
    int64_t test_ns;

    /* the host's time (see the top): one thread reads a clock, the vCPU's */
    ClockHostSource src;
    bool use_tsc;        /* extrapolate between anchors with src.tsc */
    uint64_t rate;       /* ns per tick, 32.32; 0 until two windows agree on it */
    uint64_t cand;       /* the last window's rate */
    uint64_t anchor_tsc; /* the last anchor: src.tsc and virtual time at one moment */
    int64_t anchor_ns;
    uint64_t span;    /* ticks the extrapolation may cover past the anchor */
    uint64_t win_tsc; /* the rate window's start */
    int64_t win_ns;
    int64_t win_len; /* the window length that gives the next rate */
    int64_t last_ns; /* the last value returned */
    uint64_t anchors;
};

struct Timer {
    Clock *clock; /* NULL once the clock is freed */
    TimerCb cb;
    void *opaque;
    int64_t expire;
    uint64_t seq;        /* arming order: equal deadlines run first-armed first */
    GSequenceIter *iter; /* position in clock->armed, NULL when not pending */
};

static int64_t host_mono(void *opaque)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#ifdef HAVE_HOST_TSC
static uint64_t host_tsc(void *opaque)
{
    return __rdtsc();
}

/* CPUID 8000_0007h EDX bit 8: the TSC runs at one rate in every P-, C- and T-state. */
static bool host_tsc_invariant(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(0x80000000, &a, &b, &c, &d) || a < 0x80000007)
        return false;
    __get_cpuid(0x80000007, &a, &b, &c, &d);
    return d & (1u << 8);
}
#endif

static inline uint64_t read_tsc(const Clock *c)
{
#ifdef HAVE_HOST_TSC
    if (c->src.tsc == host_tsc)
        return __rdtsc(); /* the usual case, without the indirect call */
#endif
    return c->src.tsc(c->src.opaque);
}

static void use_source(Clock *c, const ClockHostSource *src)
{
    c->src = *src;
    c->use_tsc = src->tsc != NULL;
    c->rate = c->cand = 0;
    c->anchor_tsc = c->win_tsc = c->use_tsc ? src->tsc(src->opaque) : 0;
    c->start_ns = src->mono(src->opaque);
    c->anchor_ns = c->win_ns = 0;
    c->win_len = FIRST_WINDOW_NS;
    c->span = 0;
    c->last_ns = 0;
}

static bool near(uint64_t r, uint64_t ref)
{
    return r >= ref - ref / RATE_TOLERANCE && r <= ref + ref / RATE_TOLERANCE;
}

/* Read the monotonic clock: a new anchor, and at the end of a window a new rate. */
static int64_t reanchor(Clock *c)
{
    if (!c->use_tsc)
        return c->src.mono(c->src.opaque) - c->start_ns;
    /* the TSC on both sides of the monotonic clock, paired with their middle; again if the
     * thread was held up in between (a few times at most) */
    uint64_t t0, t1;
    int64_t ns;
    for (int tries = 0;; tries++) {
        t0 = read_tsc(c);
        ns = c->src.mono(c->src.opaque) - c->start_ns;
        t1 = read_tsc(c);
        if (t1 < t0 || t1 - t0 <= c->span / 128 || !c->span || tries == 3)
            break;
    }
    uint64_t t = t0 + (t1 - t0) / 2;
    c->anchors++;
    int64_t dns = ns - c->win_ns;
    uint64_t dt = t - c->win_tsc;
    bool restart = t1 < t0 || t < c->anchor_tsc || (int64_t)dt <= 0 || dns < 0;
    if (!restart && dns >= c->win_len) {
        unsigned __int128 r128 = ((unsigned __int128)dns << RATE_SHIFT) / dt;
        uint64_t r = r128 < MIN_RATE || r128 > MAX_RATE ? 0 : (uint64_t)r128;
        /* a rate is used once two windows in a row agree on it: a window the thread was held
         * up in, a TSC that jumped or changed speed (a migrated VM) only measure again */
        uint64_t ref = c->rate ? c->rate : c->cand;
        if (r && ref && near(r, ref)) {
            c->rate = r;
            c->win_len = c->win_len * 2 < MAX_WINDOW_NS ? c->win_len * 2 : MAX_WINDOW_NS;
        } else {
            c->rate = 0;
            c->win_len = FIRST_WINDOW_NS;
        }
        c->cand = r;
        c->win_tsc = t;
        c->win_ns = ns;
    }
    if (restart) {
        /* the TSC stood still or went back (another host CPU's): measure it again */
        c->rate = c->cand = 0;
        c->win_tsc = t;
        c->win_ns = ns;
        c->win_len = FIRST_WINDOW_NS;
    }
    c->anchor_tsc = t;
    c->anchor_ns = ns;
    c->span = c->rate ? (uint64_t)(((unsigned __int128)ANCHOR_NS << RATE_SHIFT) / c->rate) : 0;
    return ns;
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
    ClockHostSource src = {.mono = host_mono};
#ifdef HAVE_HOST_TSC
    if (host_tsc_invariant())
        src.tsc = host_tsc;
#endif
    use_source(c, &src);
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
    int64_t ns;
    uint64_t d = c->use_tsc ? read_tsc(c) - c->anchor_tsc : UINT64_MAX;
    if (d < c->span)
        ns = c->anchor_ns + (int64_t)(((unsigned __int128)d * c->rate) >> RATE_SHIFT);
    else
        ns = reanchor(c);
    if (ns < c->last_ns)
        ns = c->last_ns;
    c->last_ns = ns;
    return ns;
}

void clock_set_host_source(Clock *c, const ClockHostSource *src)
{
    use_source(c, src);
}

uint64_t clock_anchors(const Clock *c)
{
    return c->anchors;
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
