/* hw/debugexit.h: QEMU's isa-debug-exit, the way test guests end a run with a status.
 *
 * A write of value v (masked to the access size) to any of its ports reports status
 * (v << 1) | 1 through on_exit; the device never exits the process itself, the board turns the
 * report into a stop request. Reads return 0, as QEMU's device does.
 */
#ifndef DUALVM_HW_DEBUGEXIT_H
#define DUALVM_HW_DEBUGEXIT_H

#include <stdint.h>

#include "hw/ioport.h"

typedef struct DebugExit DebugExit;

typedef void (*DebugExitFn)(void *opaque, int status);

/* Claim [port, port+size) on bus. NULL if size is 0 or the ports are taken. */
DebugExit *debugexit_init(IoBus *bus, uint16_t port, unsigned size, DebugExitFn on_exit,
                          void *opaque);
/* Only once the bus is no longer used. */
void debugexit_free(DebugExit *d);

/* The status a write of v reports; what a shell sees is its low 8 bits, as with QEMU. */
static inline int debugexit_status(uint32_t v)
{
    return (int)((v << 1) | 1);
}

#endif
