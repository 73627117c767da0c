/* hw/clock.h: the virtual clock and its timers.
 *
 * Virtual time is host monotonic time since the machine started (read through the host's TSC
 * between readings of CLOCK_MONOTONIC, normally within a microsecond of it: clock.c), less the time
 * the machine was stopped; it is what guest-visible timers (PIT, RTC, APIC, TSC) count. The clock
 * and its timers belong to the vCPU thread: the run loop asks clock_deadline() how long the engine
 * may run, and calls clock_run_timers() when it comes back. A timer callback may re-arm its own
 * timer.
 */
#ifndef DUALVM_HW_CLOCK_H
#define DUALVM_HW_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

typedef struct Clock Clock;
typedef struct Timer Timer;
typedef void (*TimerCb)(void *opaque);

Clock *clock_new(void);
void clock_free(Clock *c);
int64_t clock_ns(Clock *c); /* virtual nanoseconds */

Timer *timer_new(Clock *c, TimerCb cb, void *opaque);
void timer_free(Timer *t);
void timer_mod(Timer *t, int64_t expire_ns); /* arm (or re-arm) at an absolute virtual time */
void timer_del(Timer *t);
bool timer_pending(const Timer *t);
int64_t timer_expire(const Timer *t);

/* Virtual time of the earliest armed timer, or INT64_MAX. */
int64_t clock_deadline(Clock *c);
/* Run every timer whose time has come (in expiry order). Returns how many ran. */
int clock_run_timers(Clock *c);

/* Test hook (unit tests only): from the first call on, virtual time stands still at ns and
 * moves only by further calls, so device timing can be checked exactly. */
void clock_set_test_time(Clock *c, int64_t ns);

/* Test hook: where the clock reads the host's time. mono is CLOCK_MONOTONIC in ns; tsc, when
 * not NULL, a counter at a steady rate that the clock reads in between (see clock.c). The
 * clock starts again from 0. clock_anchors() counts the readings of mono between which the
 * clock extrapolated with tsc. */
typedef struct ClockHostSource {
    int64_t (*mono)(void *opaque);
    uint64_t (*tsc)(void *opaque);
    void *opaque;
} ClockHostSource;
void clock_set_host_source(Clock *c, const ClockHostSource *src);
uint64_t clock_anchors(const Clock *c);

#endif
