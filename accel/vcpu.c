#include <time.h>

#include "accel/vcpu.h"

/* How long the engine runs before the loop polls input, when no timer is due sooner. */
#define POLL_NS 10000000ll

static void sleep_ns(int64_t ns)
{
    if (ns <= 0)
        return;
    struct timespec ts = {ns / 1000000000ll, ns % 1000000000ll};
    nanosleep(&ts, NULL);
}

StopReason vcpu_loop(Vcpu *v)
{
    Machine *m = v->machine;
    CpuState s;
    for (;;) {
        if (m->poll)
            m->poll(m);
        clock_run_timers(m->clock);
        if (m->stop == STOP_RESET && !m->cfg.no_reboot && m->has_firmware && m->reset) {
            /* a system reset: devices to their reset state, the CPU to F000:FFF0 */
            m->reset(m);
            cpu_reset(&s);
            v->ops->set_state(v, &s);
            m->stop_msg[0] = 0;
            m->stop = STOP_NONE;
            continue;
        }
        if (m->stop == STOP_RESET && !m->cfg.no_reboot && !m->has_firmware)
            snprintf(m->stop_msg, sizeof(m->stop_msg),
                     "guest requested reset; no firmware is loaded to restart, stopping");
        if (m->stop)
            break;
        int64_t now = clock_ns(m->clock);
        int64_t dl = clock_deadline(m->clock);
        v->deadline_ns = dl < now + POLL_NS ? dl : now + POLL_NS;
        v->kick = 0;
        VcpuExit e = v->ops->run(v);
        switch (e) {
        case VCPU_EXIT_DEADLINE:
        case VCPU_EXIT_STOP:
            break;
        case VCPU_EXIT_HLT:
            v->ops->get_state(v, &s);
            if (!(s.rflags & FL_IF)) {
                machine_request_stop(m, STOP_HALTED, 0,
                                     "guest halted with interrupts disabled at %04x:%08llx "
                                     "(nothing can wake it)",
                                     s.seg[S_CS].sel, (unsigned long long)s.rip);
                break;
            }
            /* sleep until the next timer or input poll; an interrupt then wakes the CPU */
            now = clock_ns(m->clock);
            dl = clock_deadline(m->clock);
            sleep_ns((dl < now + 1000000ll ? dl : now + 1000000ll) - now);
            break;
        case VCPU_EXIT_SHUTDOWN:
            v->ops->get_state(v, &s);
            if (!m->cfg.no_reboot && m->has_firmware) {
                /* a triple fault resets a PC */
                machine_request_reset(m);
                break;
            }
            if (m->cfg.no_reboot)
                machine_request_stop(m, STOP_SHUTDOWN, 0,
                                     "guest triple fault at %04x:%08llx, stopping (-no-reboot)",
                                     s.seg[S_CS].sel, (unsigned long long)s.rip);
            else
                machine_request_stop(m, STOP_ERROR, 2,
                                     "guest triple fault at %04x:%08llx; no firmware is loaded "
                                     "to restart, stopping",
                                     s.seg[S_CS].sel, (unsigned long long)s.rip);
            break;
        case VCPU_EXIT_ERROR:
            machine_request_stop(m, STOP_ERROR, 2, "%s", v->error);
            break;
        }
    }
    return (StopReason)m->stop;
}
