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
    STOP_DIFF,        /* the translator's differential mode found its back ends disagreeing */
} StopReason;

/* A drive on the IDE controller (-drive if=ide, -hda..-hdd, -cdrom): index is channel * 2 +
 * unit (0 primary master, 1 primary slave, 2 secondary master, 3 secondary slave). */
#define MACHINE_IDE_DRIVES 4
typedef struct DriveConfig {
    const char *file; /* raw image; NULL: no drive there (or an empty CD-ROM drive) */
    bool present;
    bool cdrom;    /* media=cdrom: an ATAPI CD-ROM (read-only), else an ATA disk */
    bool readonly; /* readonly=on */
    bool snapshot; /* snapshot=on or -snapshot: writes stay in memory */
} DriveConfig;

typedef struct MachineConfig {
    uint64_t ram_size;
    const char *serial; /* "stdio", "file:PATH", "none" */
    bool no_reboot;
    const char *debugcon; /* QEMU's -debugcon: "file:PATH", "stdio", "none"/NULL; the board
                             puts it at 0x402 (SeaBIOS's log) and 0xe9 */
    bool no_apic;         /* -machine apic=off: no local APIC nor IOAPIC, the 8259 alone */
    DriveConfig ide[MACHINE_IDE_DRIVES];
    const char *boot_order; /* -boot order=: QEMU's letters (c disk, d CD-ROM, a floppy, n
                               network), at most 3 used; NULL: the board's default */
    bool boot_menu;         /* -boot menu=on */
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
    /* Called by the board whenever the INTR output changes level (either way), from the thread
     * that drove the device; an engine whose vCPU may be inside the guest sets it to kick the
     * vCPU. NULL when unused. */
    void (*intr_changed)(void *opaque);
    void *intr_changed_opaque;

    /* The CPU's local APIC (hw/apic.h), when the board has one (not cfg.no_apic). has_apic
     * decides CPUID.1:EDX.APIC (cpu/cpuid.h: cpu_model_make(m->has_apic)). IA32_APIC_BASE
     * (MSR 0x1b) belongs to the APIC: an engine's WRMSR passes the value to apic_base_set,
     * which returns nonzero for a value the CPU refuses (raise #GP), and RDMSR reads
     * apic_base_get; CR8 (64-bit mode) is TPR[7:4] through apic_tpr_get/apic_tpr_set. All
     * NULL without an APIC. Called on the vCPU thread. */
    bool has_apic;
    uint64_t (*apic_base_get)(void *opaque);
    int (*apic_base_set)(void *opaque, uint64_t val);
    uint8_t (*apic_tpr_get)(void *opaque);
    void (*apic_tpr_set)(void *opaque, uint8_t tpr);
    void *apic_opaque;
    /* An NMI for the CPU (LINT1, an IOAPIC or IPI NMI message): the board sets it and calls
     * intr_changed; an engine that delivers NMIs clears it and takes vector 2. */
    volatile bool nmi_pending;

    /* The A20 gate the engines apply to every guest-physical access: true = address line 20
     * passes through, false = it is forced to 0 (the 8086 1 MiB wrap). Written only through
     * machine_set_a20(); a20_gen counts the changes so an engine can notice one by comparing a
     * saved value. Enabled at power on, as QEMU's CPU reset leaves it. */
    volatile bool a20;
    volatile uint32_t a20_gen;

    /* The x87's error pins, for PC-compatible FPU error reporting (CR0.NE=0): an engine that
     * models the FPU calls ferr(ferr_opaque, 1) when a waiting x87 instruction finds an
     * unmasked exception pending (FERR# asserted) and ferr(ferr_opaque, 0) when the exception
     * is cleared. The board routes FERR# to IRQ 13 and sets ignne (the CPU's IGNNE# input)
     * when port 0xF0 is written while FERR# is asserted, until FERR# goes away. NULL when the
     * board has no such wiring. Called on the vCPU thread. */
    void (*ferr)(void *opaque, int level);
    void *ferr_opaque;
    volatile bool ignne;

    /* set by devices, read by the run loop */
    volatile int stop;      /* StopReason, nonzero stops the engine at the next boundary */
    int exit_status;
    char stop_msg[256];

    /* Set by the engine: the board calls it (machine_mem_changed) after the guest-physical
     * memory map changed under [gpa, gpa+len) while the guest runs, e.g. the i440FX PAM
     * switching 0xC0000-0xFFFFF between ROM and shadow RAM: host pointers, TLB entries and
     * translations of that range are stale, and memory slots must follow the address space.
     * Called on the vCPU's thread, possibly in the middle of an instruction's I/O access.
     * NULL when no engine listens. */
    void (*mem_changed)(void *opaque, uint64_t gpa, uint64_t len);
    void *mem_changed_opaque;

    void *devices; /* owned by the board file */
    /* called by the run loop between engine runs: input polling and the like */
    void (*poll)(Machine *m);
    /* The display attached to the machine (ui/display.c), NULL when there is none: its poll
     * hook, chained in front of the board's, finds its state here. */
    void *ui;
    /* the board's system reset (devices only), and whether firmware is loaded that a reset
     * can restart; without it a reset ends the run as -no-reboot does */
    void (*reset)(Machine *m);
    bool has_firmware;
};

/* Ask the run loop to stop. The first request wins; later ones are ignored. */
void machine_request_stop(Machine *m, StopReason why, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Set the A20 gate (the board combines its sources: port 0x92 and the i8042 output port). */
static inline void machine_set_a20(Machine *m, bool enabled)
{
    if (m->a20 == enabled)
        return;
    m->a20 = enabled;
    __atomic_add_fetch(&m->a20_gen, 1, __ATOMIC_SEQ_CST);
}

/* The guest asked for a system reset (i8042 pulse, port 0x92 fast reset, ...). Until the run
 * loop can reset the machine this ends the run as -no-reboot would: STOP_RESET, status 0. */
static inline void machine_request_reset(Machine *m)
{
    machine_request_stop(m, STOP_RESET, 0, "guest requested reset");
}

/* Tell the engine that [gpa, gpa+len) of the guest-physical map changed (see mem_changed). */
static inline void machine_mem_changed(Machine *m, uint64_t gpa, uint64_t len)
{
    if (m->mem_changed)
        m->mem_changed(m->mem_changed_opaque, gpa, len);
}

#endif
