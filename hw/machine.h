/* hw/machine.h: the machine both engines run: memory, ports, clock, devices, and the requests
 * devices make of the run loop (exit with a status, reset, power off).
 *
 * The CPU sees interrupts only through intr_pending/intr_ack (the PIC or APIC fills them in);
 * an engine never includes a device header.
 */
#ifndef DUALVM_HW_MACHINE_H
#define DUALVM_HW_MACHINE_H

#include <stdbool.h>
#include <stdint.h>

#include "hw/clock.h"
#include "hw/ioport.h"
#include "hw/memory.h"

/* How a run ended; main turns this into the process exit status. */
typedef enum StopReason {
    STOP_NONE = 0,
    STOP_EXIT_DEVICE, /* isa-debug-exit: status (v << 1) | 1 */
    STOP_POWEROFF,    /* guest powered off: status 0 */
    STOP_RESET,       /* guest reset with -no-reboot: status 0, as QEMU */
    STOP_SHUTDOWN,    /* triple fault with -no-reboot */
    STOP_ERROR,       /* engine or machine error: message already set */
    STOP_HALTED,      /* HLT with interrupts off and nothing that can wake it */
    STOP_SIGNAL,      /* SIGINT/SIGTERM */
} StopReason;

typedef struct MachineConfig {
    uint64_t ram_size;
    const char *serial; /* "stdio", "file:PATH", "none" */
    bool no_reboot;
} MachineConfig;

typedef struct Machine Machine;
struct Machine {
    AddressSpace *as;
    IoBus *io;
    Clock *clock;
    uint8_t *ram;
    uint64_t ram_size;
    MachineConfig cfg;

    /* interrupt controller seen by the CPU (INTR pin and the acknowledge cycle) */
    bool (*intr_pending)(void *opaque);
    int (*intr_ack)(void *opaque);
    void *intr_opaque;

    /* set by devices, read by the run loop */
    volatile int stop;      /* StopReason, nonzero stops the engine at the next boundary */
    int exit_status;
    char stop_msg[256];

    void *devices; /* owned by the board file */
    /* called by the run loop between engine runs: input polling and the like */
    void (*poll)(Machine *m);
};

/* Ask the run loop to stop. The first request wins; later ones are ignored. */
void machine_request_stop(Machine *m, StopReason why, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
