/* accel/accel.h: the engine interface.
 *
 * An engine runs one vCPU on a Machine until the machine must act: HLT, shutdown, a stop
 * request, a timer deadline, or an engine error. State goes in and out through CpuState, so a
 * state read from one engine can be loaded into the other.
 */
#ifndef DUALVM_ACCEL_H
#define DUALVM_ACCEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "cpu/cpu.h"
#include "hw/machine.h"

typedef enum VcpuExit {
    VCPU_EXIT_DEADLINE = 0, /* ran until the deadline or a kick: run timers, go again */
    VCPU_EXIT_HLT,          /* the guest is halted waiting for an interrupt */
    VCPU_EXIT_SHUTDOWN,     /* triple fault */
    VCPU_EXIT_STOP,         /* machine->stop is set */
    VCPU_EXIT_ERROR,        /* engine failure; vcpu->error says what */
} VcpuExit;

typedef struct AccelOps AccelOps;

typedef struct Vcpu {
    Machine *machine;
    const AccelOps *ops;
    void *engine;             /* the engine's private state */
    volatile int kick;        /* set from any thread: leave run() at the next boundary */
    int64_t deadline_ns;      /* virtual time at which run() should return */
    char error[512];
} Vcpu;

struct AccelOps {
    const char *name;
    bool (*probe)(char *why, size_t len); /* usable here? if not, why */
    int (*init)(Vcpu *vcpu);              /* 0 or -errno, error text in vcpu->error */
    VcpuExit (*run)(Vcpu *vcpu);
    void (*get_state)(Vcpu *vcpu, CpuState *s);
    void (*set_state)(Vcpu *vcpu, const CpuState *s);
    void (*kick)(Vcpu *vcpu);
    void (*print_stats)(Vcpu *vcpu, FILE *f);
    void (*destroy)(Vcpu *vcpu);
};

extern const AccelOps accel_dbt_ops;
extern const AccelOps accel_kvm_ops; /* accel/kvm.c; probe() says why not where it cannot run */

/* Choose the engine for "auto", "kvm" or "dbt". Writes one line saying which and why into
 * why. Returns NULL with the reason in why if the named engine cannot run here. */
const AccelOps *accel_select(const char *name, char *why, size_t len);

#endif
