#include "hw/machine.h"

#include <stdarg.h>
#include <stdio.h>

void machine_request_stop(Machine *m, StopReason why, int status, const char *fmt, ...)
{
    if (m->stop)
        return;
    m->exit_status = status;
    m->stop_msg[0] = 0;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(m->stop_msg, sizeof(m->stop_msg), fmt, ap);
        va_end(ap);
    }
    __atomic_store_n(&m->stop, (int)why, __ATOMIC_SEQ_CST);
}
