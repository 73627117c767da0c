/* accel/kvm.c: the KVM engine. The guest runs natively through Linux KVM; everything that is
 * not the CPU stays in dualvm: the same hw/ devices, loaders and CpuState as under the
 * translator.
 *
 * - Memory: every RAM region of the address space is a KVM memory slot over the same host
 *   memory, ROM a read-only slot (KVM_MEM_READONLY: guest writes exit and are dropped by
 *   as_write), MMIO is left unmapped so each access exits to as_read/as_write. Slots follow the
 *   address space (checked at each run and after each I/O exit, rebuilt on mem_changed) and
 *   the A20 gate (with A20 off, odd megabytes alias the even ones below).
 * - Port I/O exits go to io_read/io_write; HLT, triple fault (SHUTDOWN), entry failures and
 *   KVM's internal errors come back to the run loop (accel/vcpu.c) as VcpuExit values, the
 *   errors with the hardware's reason and the CPU state, never as a retry.
 * - Interrupts: there is ONE device model for both engines. No in-kernel irqchip is created:
 *   devices raise their IRQ lines into dualvm's own PIC exactly as under the translator, and
 *   this engine asks it through Machine.intr_pending/intr_ack and injects the vector with
 *   KVM_INTERRUPT when KVM says the guest can take one (ready_for_interrupt_injection), else
 *   requests an interrupt-window exit. HLT therefore exits to user space (no in-kernel LAPIC).
 *   Machine.intr_changed kicks the vCPU when the PIC's output moves on another thread.
 * - CPUID is the machine model's (cpu/cpuid.h), with its feature bits ANDed with what KVM can
 *   give (KVM_GET_SUPPORTED_CPUID): same vendor, family and features under both engines.
 * - State: get_state/set_state convert CpuState to and from kvm_regs, kvm_sregs, the XSAVE
 *   area (x87/SSE; kvm_fpu where there is no XSAVE), the debug registers and the MSRs CpuState
 *   carries, so a state read from one engine loads into the other.
 * - Time: run() must return by vcpu->deadline_ns. A POSIX timer sends SIGUSR1 to the vCPU
 *   thread at the deadline; the handler's one store sets kvm_run.immediate_exit, so a signal
 *   that lands just before KVM_RUN is not lost, and one during KVM_RUN makes it return EINTR.
 *   kick() does the same from any thread. (SIGUSR1 is therefore this engine's, process-wide.)
 */
#include "accel/accel.h"

#if defined(__linux__) && defined(__x86_64__) && __has_include(<linux/kvm.h>)

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cpu/cpuid.h"

/* leaf 1 and 0x80000001 EDX bits of the x86-64 model (setup_cpuid) */
#define CPUID_1_EDX_SSE (1u << 25)
#define CPUID_1_EDX_SSE2 (1u << 26)
#define CPUID_EXT1_EDX_SYSCALL (1u << 11)
#define CPUID_EXT1_EDX_LM (1u << 29)

#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

#define KVM_SIGNAL SIGUSR1
/* Where KVM puts the real-mode TSS (3 pages) and identity page table on Intel hosts without
 * unrestricted guest: QEMU's spots, in a hole of the PC memory map below the LAPIC/BIOS. */
#define KVM_TSS_ADDR 0xfeffd000ull
#define KVM_IDENTITY_MAP_ADDR 0xfeffc000ull
/* The least a run gets, so a deadline already due still lets the guest make progress. */
#define MIN_SLICE_NS 100000ll

#ifndef CPUID_1_EDX_APIC
#define CPUID_1_EDX_APIC (1u << 9)
#endif
#define APIC_BASE_EN (1ull << 11)

/* MSRs CpuState carries (APIC base and EFER travel in kvm_sregs). */
#define MSR_IA32_TSC 0x10
#define MSR_IA32_SYSENTER_CS 0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_IA32_MISC_ENABLE 0x1a0
#define MSR_IA32_CR_PAT 0x277
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SYSCALL_MASK 0xc0000084
#define MSR_KERNEL_GS_BASE 0xc0000102

typedef struct MsrField {
    uint32_t index;
    const char *name;
    size_t offset; /* of the uint64_t in CpuState */
} MsrField;

static const MsrField msr_fields[] = {
    {MSR_IA32_SYSENTER_CS, "SYSENTER_CS", offsetof(CpuState, sysenter_cs)},
    {MSR_IA32_SYSENTER_ESP, "SYSENTER_ESP", offsetof(CpuState, sysenter_esp)},
    {MSR_IA32_SYSENTER_EIP, "SYSENTER_EIP", offsetof(CpuState, sysenter_eip)},
    {MSR_STAR, "STAR", offsetof(CpuState, star)},
    {MSR_LSTAR, "LSTAR", offsetof(CpuState, lstar)},
    {MSR_CSTAR, "CSTAR", offsetof(CpuState, cstar)},
    {MSR_SYSCALL_MASK, "FMASK", offsetof(CpuState, fmask)},
    {MSR_KERNEL_GS_BASE, "KERNEL_GS_BASE", offsetof(CpuState, kernel_gs_base)},
    {MSR_IA32_CR_PAT, "PAT", offsetof(CpuState, pat)},
    {MSR_IA32_MISC_ENABLE, "MISC_ENABLE", offsetof(CpuState, misc_enable)},
    /* last: writing the TSC should be the final step of loading a state */
    {MSR_IA32_TSC, "TSC", offsetof(CpuState, tsc)},
};
#define NR_MSR_FIELDS (sizeof(msr_fields) / sizeof(msr_fields[0]))

/* A span of guest-physical memory over host memory: a memory slot, or a RAM/ROM region the
 * slots were made from. */
typedef struct Slot {
    uint64_t gpa, size;
    void *host;
    int kind; /* MEM_RAM or MEM_ROM */
} Slot;

enum { ST_RUNS, ST_IO, ST_MMIO, ST_HLT, ST_WINDOW, ST_INTR, ST_IRQS, ST_OTHER, ST_COUNT };

typedef struct KvmVcpu {
    int kvm_fd, vm_fd, vcpu_fd;
    struct kvm_run *run;
    size_t run_size;
    bool amd;             /* host vendor, to decode entry failure reasons */
    bool has_vcpu_events; /* KVM_CAP_VCPU_EVENTS */
    bool has_debugregs;   /* KVM_CAP_DEBUGREGS */
    size_t xsave_size;    /* KVM_GET/SET_XSAVE area size; 0: only KVM_GET/SET_FPU */
    bool tsc_1ghz;        /* guest TSC scaled to the translator's 1 GHz */
    bool msr_ok[NR_MSR_FIELDS];
    int max_slots;
    Slot *slots; /* what is mapped: slot i is slots[i], i < nslots */
    int nslots;
    Slot *sig; /* the RAM/ROM regions the slots were made from (with sig_a20) */
    size_t nsig, sig_cap;
    bool sig_a20;
    bool sig_valid;
    uint64_t apic_en; /* IA32_APIC_BASE.EN of the loaded state, when the model has no APIC */
    CpuModel model;   /* the machine's CPUID model (APIC bit when the board has one) */
    bool long_mode;   /* the model with long mode: a state in long mode was loaded (below) */
    bool halted;      /* guest executed HLT and no interrupt has woken it yet */
    bool io_pending;  /* last exit was IO/MMIO: KVM completes it at the next KVM_RUN */
    char error[400];  /* set_state failure, reported by the next run() */
    pthread_t thread; /* the vCPU thread: the one that last called run() */
    pid_t tid;
    bool have_thread;
    timer_t timer;
    bool have_timer;
    uint64_t stats[ST_COUNT];
    uint64_t run_ns;
    char cpuid_note[200]; /* features the model has and this host's KVM cannot give */
} KvmVcpu;

/* The kvm_run of the vCPU on this thread, for the signal handler. */
static __thread struct kvm_run *volatile tls_run;

static void kvm_signal_handler(int sig)
{
    (void)sig;
    struct kvm_run *r = tls_run;
    if (r)
        r->immediate_exit = 1;
}

/* ------------------------------------------------------------------------------------------ */
/* probing */

typedef struct CapNeed {
    int cap;
    const char *what;
} CapNeed;

static const CapNeed caps_needed[] = {
    {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY (user memory slots)"},
    {KVM_CAP_READONLY_MEM, "KVM_CAP_READONLY_MEM (read-only slots for the ROMs)"},
    {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT (race-free kicks and deadlines)"},
    {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID (KVM_GET_SUPPORTED_CPUID/KVM_SET_CPUID2)"},
    {KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR (real mode on Intel)"},
};

static int kvm_open_dev(char *why, size_t len)
{
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            snprintf(why, len,
                     "no /dev/kvm on this host (KVM module not loaded, or no hardware "
                     "virtualization)");
        else if (errno == EACCES || errno == EPERM)
            snprintf(why, len, "no permission to open /dev/kvm (join the kvm group)");
        else
            snprintf(why, len, "/dev/kvm: %s", strerror(errno));
        return -1;
    }
    int api = ioctl(fd, KVM_GET_API_VERSION, 0);
    if (api != KVM_API_VERSION) {
        snprintf(why, len, "/dev/kvm has KVM API version %d, dualvm needs %d", api,
                 KVM_API_VERSION);
        close(fd);
        return -1;
    }
    for (size_t i = 0; i < sizeof(caps_needed) / sizeof(caps_needed[0]); i++) {
        if (ioctl(fd, KVM_CHECK_EXTENSION, caps_needed[i].cap) <= 0) {
            snprintf(why, len, "this KVM lacks %s", caps_needed[i].what);
            close(fd);
            return -1;
        }
    }
    return fd;
}

/* A VM of one page and one vCPU that runs "mov al, 0x5a; out 0x80, al; hlt" in real mode:
 * /dev/kvm that opens is not yet KVM that runs (VT-x/AMD-V taken by another hypervisor,
 * a KVM that only runs some kinds of guest). A few milliseconds. */
static bool kvm_trial_run(int kvm_fd, char *why, size_t len)
{
    bool ok = false;
    int vm = -1, vcpu = -1;
    void *mem = MAP_FAILED, *runp = MAP_FAILED;
    long run_size = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    vm = ioctl(kvm_fd, KVM_CREATE_VM, 0);
    if (vm < 0) {
        snprintf(why, len, "KVM cannot create a VM here: %s", strerror(errno));
        goto out;
    }
    ioctl(vm, KVM_SET_TSS_ADDR, (unsigned long)KVM_TSS_ADDR);
    mem = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED || run_size <= 0) {
        snprintf(why, len, "KVM trial run: out of memory");
        goto out;
    }
    static const uint8_t code[] = {0xb0, 0x5a, 0xe6, 0x80, 0xf4};
    memcpy(mem, code, sizeof(code));
    struct kvm_userspace_memory_region r = {
        .slot = 0, .guest_phys_addr = 0, .memory_size = 4096, .userspace_addr = (uintptr_t)mem};
    if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r) < 0) {
        snprintf(why, len, "KVM cannot map guest memory: %s", strerror(errno));
        goto out;
    }
    vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
    if (vcpu < 0) {
        snprintf(why, len, "KVM cannot create a vCPU here: %s", strerror(errno));
        goto out;
    }
    runp = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
    if (runp == MAP_FAILED) {
        snprintf(why, len, "KVM: cannot map the vCPU's run area: %s", strerror(errno));
        goto out;
    }
    struct kvm_run *run = runp;
    struct kvm_sregs sr;
    struct kvm_regs regs = {.rip = 0, .rflags = 2};
    if (ioctl(vcpu, KVM_GET_SREGS, &sr) < 0) {
        snprintf(why, len, "KVM_GET_SREGS: %s", strerror(errno));
        goto out;
    }
    sr.cs.selector = 0;
    sr.cs.base = 0;
    if (ioctl(vcpu, KVM_SET_SREGS, &sr) < 0 || ioctl(vcpu, KVM_SET_REGS, &regs) < 0) {
        snprintf(why, len, "KVM cannot set a real-mode vCPU state: %s", strerror(errno));
        goto out;
    }
    bool saw_out = false;
    for (int i = 0; i < 4; i++) {
        if (ioctl(vcpu, KVM_RUN, 0) < 0) {
            if (errno == EINTR)
                continue;
            snprintf(why, len, "KVM cannot run a guest here: KVM_RUN: %s", strerror(errno));
            goto out;
        }
        if (run->exit_reason == KVM_EXIT_IO && run->io.direction == KVM_EXIT_IO_OUT &&
            run->io.port == 0x80 && ((uint8_t *)run)[run->io.data_offset] == 0x5a) {
            saw_out = true;
            continue;
        }
        if (run->exit_reason == KVM_EXIT_HLT && saw_out) {
            ok = true;
            break;
        }
        snprintf(why, len, "KVM trial run of a real-mode guest failed (exit reason %u)",
                 run->exit_reason);
        goto out;
    }
    if (!ok)
        snprintf(why, len, "KVM trial run of a real-mode guest never halted");
out:
    if (runp != MAP_FAILED)
        munmap(runp, (size_t)run_size);
    if (vcpu >= 0)
        close(vcpu);
    if (vm >= 0)
        close(vm);
    if (mem != MAP_FAILED)
        munmap(mem, 4096);
    return ok;
}

static void host_cpuid(uint32_t leaf, uint32_t out[4])
{
    __asm__ volatile("cpuid"
                     : "=a"(out[0]), "=b"(out[1]), "=c"(out[2]), "=d"(out[3])
                     : "a"(leaf), "c"(0));
}

static bool host_is_amd(void)
{
    uint32_t r[4];
    host_cpuid(0, r);
    return r[1] == 0x68747541 && r[3] == 0x69746e65 && r[2] == 0x444d4163; /* AuthenticAMD */
}

/* "VT-x", "AMD-V", or NULL when the CPU has neither: then /dev/kvm is a KVM without hardware
 * virtualization (PVM, say) that runs 16/32-bit guest code, if at all, in KVM's instruction
 * emulator, which lacks whole instruction classes (INT n in protected mode, BCD, x87...). Such
 * a KVM passes the trial run and fails the first real guest, so it does not count. */
static const char *host_virt(void)
{
    uint32_t r[4];
    host_cpuid(1, r);
    if (r[2] & (1u << 5))
        return "VT-x";
    host_cpuid(0x80000000, r);
    if (r[0] >= 0x80000001) {
        host_cpuid(0x80000001, r);
        if (r[2] & (1u << 2))
            return "AMD-V";
    }
    return NULL;
}

static bool kvm_probe(char *why, size_t len)
{
    int fd = kvm_open_dev(why, len);
    if (fd < 0)
        return false;
    const char *virt = host_virt();
    if (!virt) {
        bool pvm = access("/sys/module/kvm_pvm", F_OK) == 0;
        snprintf(why, len,
                 "/dev/kvm here is %s, without VT-x or AMD-V: it cannot run 16/32-bit guests "
                 "natively",
                 pvm ? "PVM (kvm_pvm)" : "a KVM");
        close(fd);
        return false;
    }
    bool ok = kvm_trial_run(fd, why, len);
    if (ok)
        snprintf(why, len, "/dev/kvm works: API %d, %s", KVM_API_VERSION, virt);
    close(fd);
    return ok;
}

/* ------------------------------------------------------------------------------------------ */
/* small helpers */

static void set_err(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

/* ------------------------------------------------------------------------------------------ */
/* memory slots */

static bool mappable(const MemRegion *r)
{
    return (r->kind == MEM_RAM || r->kind == MEM_ROM) &&
           !((r->gpa | r->size | (uintptr_t)r->host) & 0xfff); /* else it exits like MMIO */
}

/* The A20 gate. A Machine on which it was never set (a20_gen 0, a20 false: zero-initialised by
 * a board or test that predates the gate) is taken as at power on: enabled. */
static bool a20_on(const Machine *m)
{
    return m->a20 || m->a20_gen == 0;
}

/* Did the RAM/ROM layout or the A20 gate change since the slots were made? */
static bool slots_stale(KvmVcpu *k, Machine *m)
{
    if (!k->sig_valid || k->sig_a20 != a20_on(m))
        return true;
    size_t n = as_region_count(m->as), j = 0;
    for (size_t i = 0; i < n; i++) {
        const MemRegion *r = as_region(m->as, i);
        if (!mappable(r))
            continue;
        if (j >= k->nsig)
            return true;
        const Slot *g = &k->sig[j++];
        if (g->gpa != r->gpa || g->size != r->size || g->host != r->host || g->kind != r->kind)
            return true;
    }
    return j != k->nsig;
}

static int add_slot(KvmVcpu *k, uint64_t gpa, uint64_t size, void *host, int kind, const char *name,
                    char *err, size_t len)
{
    if (k->nslots >= k->max_slots) {
        set_err(err, len, "kvm: the guest memory map needs more than KVM's %d memory slots",
                k->max_slots);
        return -1;
    }
    int slot = k->nslots;
    struct kvm_userspace_memory_region mr = {
        .slot = (uint32_t)slot,
        .flags = kind == MEM_ROM ? KVM_MEM_READONLY : 0,
        .guest_phys_addr = gpa,
        .memory_size = size,
        .userspace_addr = (uintptr_t)host,
    };
    if (ioctl(k->vm_fd, KVM_SET_USER_MEMORY_REGION, &mr) < 0) {
        set_err(err, len, "kvm: cannot map %s %s at 0x%" PRIx64 "-0x%" PRIx64 " as slot %d: %s",
                kind == MEM_ROM ? "ROM" : "RAM", name ? name : "", gpa, gpa + size - 1, slot,
                strerror(errno));
        return -1;
    }
    k->slots[k->nslots++] = (Slot){gpa, size, host, kind};
    return 0;
}

/* With A20 off, a guest-physical address with bit 20 set is the address without it. KVM has
 * no such gate, so the slots do it: each odd megabyte is mapped to the host memory of the
 * even one below (where that is RAM/ROM; elsewhere it exits and the MMIO path masks the
 * address). Even megabytes map as themselves. Gate changes are rare (firmware opens it once),
 * so they simply rebuild every slot. */
static int map_region_a20_off(KvmVcpu *k, AddressSpace *as, const MemRegion *r, char *err,
                              size_t len)
{
    const uint64_t MB = 1ull << 20;
    for (uint64_t gpa = r->gpa; gpa < r->gpa + r->size;) {
        uint64_t end = (gpa | (MB - 1)) + 1;
        if (end > r->gpa + r->size)
            end = r->gpa + r->size;
        if (!(gpa & MB)) {
            /* even megabyte(s): as it is, up to the next odd one */
            if (add_slot(k, gpa, end - gpa, r->host + (gpa - r->gpa), r->kind, r->name, err, len) <
                0)
                return -1;
        } else {
            /* odd megabyte: alias of gpa - 1 MiB, piece by piece of the regions there */
            for (uint64_t a = gpa; a < end;) {
                const MemRegion *src = as_find(as, a - MB);
                uint64_t stop = end;
                if (src && mappable(src)) {
                    if (src->gpa + src->size + MB < stop)
                        stop = src->gpa + src->size + MB;
                    if (add_slot(k, a, stop - a, src->host + (a - MB - src->gpa), src->kind,
                                 src->name, err, len) < 0)
                        return -1;
                } else {
                    /* not RAM/ROM below: leave a hole up to the next region there */
                    size_t n = as_region_count(as);
                    for (size_t i = 0; i < n; i++) {
                        const MemRegion *q = as_region(as, i);
                        if (q->gpa > a - MB && q->gpa + MB < stop)
                            stop = q->gpa + MB;
                    }
                }
                a = stop;
            }
        }
        gpa = end;
    }
    return 0;
}

/* Make the slots match the address space and the A20 gate: every RAM region a slot over the
 * same host memory, every ROM a read-only slot, MMIO and holes unmapped. */
static int sync_slots(KvmVcpu *k, Machine *m, char *err, size_t len)
{
    if (!slots_stale(k, m))
        return 0;
    AddressSpace *as = m->as;
    bool a20 = a20_on(m);
    for (int i = 0; i < k->nslots; i++) {
        struct kvm_userspace_memory_region mr = {.slot = (uint32_t)i,
                                                 .guest_phys_addr = k->slots[i].gpa};
        if (ioctl(k->vm_fd, KVM_SET_USER_MEMORY_REGION, &mr) < 0) {
            set_err(err, len, "kvm: cannot remove memory slot %d: %s", i, strerror(errno));
            k->sig_valid = false;
            return -1;
        }
    }
    k->nslots = 0;
    k->nsig = 0;
    k->sig_valid = false;
    size_t n = as_region_count(as);
    for (size_t i = 0; i < n; i++) {
        const MemRegion *r = as_region(as, i);
        if (!mappable(r))
            continue;
        if (k->nsig == k->sig_cap) {
            size_t cap = k->sig_cap ? 2 * k->sig_cap : 16;
            Slot *g = realloc(k->sig, cap * sizeof(*g));
            if (!g) {
                set_err(err, len, "kvm: out of memory");
                return -1;
            }
            k->sig = g;
            k->sig_cap = cap;
        }
        k->sig[k->nsig++] = (Slot){r->gpa, r->size, r->host, r->kind};
        int rc = a20 ? add_slot(k, r->gpa, r->size, r->host, r->kind, r->name, err, len)
                     : map_region_a20_off(k, as, r, err, len);
        if (rc < 0)
            return -1;
    }
    k->sig_a20 = a20;
    k->sig_valid = true;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* CPUID: the model's, features limited to what KVM can give */

static struct kvm_cpuid2 *get_supported_cpuid(int kvm_fd)
{
    for (int n = 64; n <= 4096; n *= 2) {
        struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(struct kvm_cpuid_entry2));
        if (!c)
            return NULL;
        c->nent = (uint32_t)n;
        if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
            return c;
        free(c);
        if (errno != E2BIG)
            return NULL;
    }
    return NULL;
}

static const struct kvm_cpuid_entry2 *find_leaf(const struct kvm_cpuid2 *c, uint32_t fn,
                                                uint32_t idx)
{
    for (uint32_t i = 0; i < c->nent; i++)
        if (c->entries[i].function == fn &&
            (!(c->entries[i].flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) ||
             c->entries[i].index == idx))
            return &c->entries[i];
    return NULL;
}

static void note_missing(KvmVcpu *k, const char *where, uint32_t bits)
{
    if (!bits)
        return;
    size_t l = strlen(k->cpuid_note);
    snprintf(k->cpuid_note + l, sizeof(k->cpuid_note) - l, "%s%s 0x%08x", l ? ", " : "", where,
             bits);
}

static int setup_cpuid(KvmVcpu *k, char *err, size_t len)
{
    struct kvm_cpuid2 *sup = get_supported_cpuid(k->kvm_fd);
    if (!sup) {
        set_err(err, len, "kvm: KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
        return -1;
    }
    uint32_t out[4];
    cpu_cpuid_model(&k->model, 0, 0, out);
    uint32_t max_basic = out[0];
    cpu_cpuid_model(&k->model, 0x80000000, 0, out);
    uint32_t max_ext = out[0] >= 0x80000000 ? out[0] : 0x80000000;
    /* Leaves past the model's maxima read as zeros under the translator. KVM with an Intel
     * vendor gives the highest basic leaf instead for a leaf it has no entry for, so the
     * table also lists zero leaves up to these bounds (the ones software probes). */
    const uint32_t zero_basic_to = 0x20, zero_ext_to = 0x80000020;
    const uint32_t zero_hv_from = 0x40000000, zero_hv_to = 0x40000010;
    uint32_t hi_basic = max_basic > zero_basic_to ? max_basic : zero_basic_to;
    uint32_t hi_ext = max_ext > zero_ext_to ? max_ext : zero_ext_to;
    uint32_t n = (hi_basic + 1) + (hi_ext - 0x80000000 + 1) + (zero_hv_to - zero_hv_from + 1);
    if (max_basic > 0x100 || max_ext > 0x80000100) {
        free(sup);
        set_err(err, len, "kvm: implausible CPUID model (max leaves 0x%x, 0x%x)", max_basic,
                max_ext);
        return -1;
    }
    struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(struct kvm_cpuid_entry2));
    if (!c) {
        free(sup);
        set_err(err, len, "kvm: out of memory");
        return -1;
    }
    uint32_t e = 0;
    for (int part = 0; part < 3; part++) {
        uint32_t lo = part == 1 ? 0x80000000 : part == 2 ? zero_hv_from : 0;
        uint32_t hi = part == 1 ? hi_ext : part == 2 ? zero_hv_to : hi_basic;
        uint32_t max = part == 1 ? max_ext : part == 2 ? 0 : max_basic;
        for (uint32_t leaf = lo; leaf <= hi; leaf++) {
            struct kvm_cpuid_entry2 *ent = &c->entries[e++];
            ent->function = leaf;
            if (part == 2 || leaf > max)
                continue; /* a zero leaf */
            cpu_cpuid_model(&k->model, leaf, 0, out);
            ent->eax = out[0];
            ent->ebx = out[1];
            ent->ecx = out[2];
            ent->edx = out[3];
            const struct kvm_cpuid_entry2 *h = find_leaf(sup, leaf, 0);
            /* feature leaves: only what both the model lists and KVM can give */
            if (leaf == 1 || leaf == 0x80000001) {
                uint32_t hc = h ? h->ecx : 0, hd = h ? h->edx : 0;
                /* the hypervisor bit is no feature of the host's for KVM to give: it leaves the
                 * bit out of its supported list and takes it from user space (as QEMU sets it) */
                if (leaf == 1)
                    hc |= CPUID_1_ECX_HYPERVISOR;
                note_missing(k, leaf == 1 ? "leaf 1 ecx" : "leaf 0x80000001 ecx", ent->ecx & ~hc);
                note_missing(k, leaf == 1 ? "leaf 1 edx" : "leaf 0x80000001 edx", ent->edx & ~hd);
                ent->ecx &= hc;
                ent->edx &= hd;
            } else if (leaf == 7) {
                uint32_t hb = h ? h->ebx : 0, hc = h ? h->ecx : 0, hd = h ? h->edx : 0;
                note_missing(k, "leaf 7 ebx", ent->ebx & ~hb);
                ent->ebx &= hb;
                ent->ecx &= hc;
                ent->edx &= hd;
                ent->flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
            } else if (leaf == 0x80000008) {
                /* KVM_SET_CPUID2 refuses (EINVAL) linear-address widths other than 0, 48 or
                 * 57, for its canonical-address checks; the model's 32 becomes 0 ("not
                 * reported") here, the one field where the engines differ */
                ent->eax &= ~0xff00u;
                if (k->long_mode)
                    ent->eax |= 48u << 8;
            }
            /* A guest started in long mode (an x86-64 kernel at its 64-bit entry) is an
             * x86-64 CPU's: the model gains what such a CPU always has and the translator
             * does not provide yet, long mode, SYSCALL, SSE and SSE2 (x86-64 kernels require
             * the last two), as far as this host's KVM gives them. */
            if (k->long_mode && (leaf == 1 || leaf == 0x80000001)) {
                uint32_t want = leaf == 1 ? CPUID_1_EDX_SSE | CPUID_1_EDX_SSE2
                                          : CPUID_EXT1_EDX_LM | CPUID_EXT1_EDX_SYSCALL;
                uint32_t hd = h ? h->edx : 0;
                note_missing(k, leaf == 1 ? "leaf 1 edx (long mode)" : "leaf 0x80000001 edx",
                             want & ~hd);
                ent->edx |= want & hd;
            }
        }
    }
    c->nent = e;
    free(sup);
    int rc = ioctl(k->vcpu_fd, KVM_SET_CPUID2, c);
    free(c);
    if (rc < 0) {
        set_err(err, len, "kvm: KVM_SET_CPUID2: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* state conversion */

static void seg_to_kvm(const SegCache *c, struct kvm_segment *k)
{
    memset(k, 0, sizeof(*k));
    k->base = c->base;
    k->limit = c->limit;
    k->selector = c->sel;
    k->type = c->attr & SEG_TYPE_MASK;
    k->s = (c->attr & SEG_S) != 0;
    k->dpl = (c->attr >> SEG_DPL_SHIFT) & 3;
    k->present = (c->attr & SEG_P) != 0;
    k->avl = (c->attr & SEG_AVL) != 0;
    k->l = (c->attr & SEG_L) != 0;
    k->db = (c->attr & SEG_DB) != 0;
    k->g = (c->attr & SEG_G) != 0;
    k->unusable = !k->present;
}

static void seg_from_kvm(const struct kvm_segment *k, SegCache *c)
{
    c->sel = k->selector;
    c->base = k->base;
    c->limit = k->limit;
    c->attr = (uint16_t)((k->type & SEG_TYPE_MASK) | (k->s ? SEG_S : 0) |
                         ((k->dpl & 3) << SEG_DPL_SHIFT) | (k->present ? SEG_P : 0) |
                         (k->avl ? SEG_AVL : 0) | (k->l ? SEG_L : 0) | (k->db ? SEG_DB : 0) |
                         (k->g ? SEG_G : 0));
    /* An unusable segment (a null selector loaded in protected mode) is not present, whatever
     * stale attribute bits the hardware keeps; DPL stays (SS.DPL is the CPL). */
    if (k->unusable)
        c->attr &= (uint16_t)~SEG_P;
}

/* CpuState's x87 registers are in FSAVE layout: fpr[i] is ST(i), ftw the full tag word indexed
 * by physical register. KVM (FXSAVE layout) keeps ST(i) too but an abridged one-bit tag. */
static uint8_t ftw_abridge(uint16_t ftw)
{
    uint8_t a = 0;
    for (int p = 0; p < 8; p++)
        if (((ftw >> (2 * p)) & 3) != 3)
            a |= (uint8_t)(1u << p);
    return a;
}

static uint16_t ftw_expand(uint8_t abridged, uint16_t fsw, const FpReg st[8])
{
    int top = (fsw >> 11) & 7;
    uint16_t w = 0;
    for (int p = 0; p < 8; p++) {
        unsigned tag;
        if (!((abridged >> p) & 1)) {
            tag = 3; /* empty */
        } else {
            const FpReg *r = &st[(p - top) & 7];
            unsigned e = r->sexp & 0x7fff;
            if (e == 0x7fff)
                tag = 2; /* NaN, infinity */
            else if (e == 0)
                tag = r->mant ? 2 : 1; /* denormal : zero */
            else
                tag = (r->mant >> 63) ? 0 : 2; /* valid : unnormal */
        }
        w |= (uint16_t)(tag << (2 * p));
    }
    return w;
}

/* The x87/SSE state travels in the FXSAVE layout that both KVM_GET/SET_XSAVE (its first 512
 * bytes) and, field by field, kvm_fpu use. KVM_SET_FPU is the fallback only: it ignores MXCSR,
 * and on XSAVE hosts a fresh vCPU's XSTATE_BV says "x87/SSE in init state", so the values it
 * writes are dropped at the next XRSTOR; KVM_SET_XSAVE with XSTATE_BV |= x87|SSE is right. */
typedef struct Fxsave {
    uint16_t fcw, fsw;
    uint8_t ftw, pad0;
    uint16_t fop;
    uint64_t fip, fdp;
    uint32_t mxcsr, mxcsr_mask;
    uint8_t st[8][16];
    uint8_t xmm[16][16];
    uint8_t pad1[96];
} Fxsave;
_Static_assert(sizeof(Fxsave) == 512, "FXSAVE area");

#define XSTATE_BV_OFFSET 512
#define XSTATE_X87 1ull
#define XSTATE_SSE 2ull

static void fx_from_state(const CpuState *s, Fxsave *f)
{
    f->fcw = s->fcw;
    f->fsw = s->fsw;
    f->ftw = ftw_abridge(s->ftw);
    f->fop = s->fop;
    f->fip = s->fip;
    f->fdp = s->fdp;
    f->mxcsr = s->mxcsr;
    for (int i = 0; i < 8; i++) {
        memset(f->st[i], 0, 16);
        memcpy(&f->st[i][0], &s->fpr[i].mant, 8);
        memcpy(&f->st[i][8], &s->fpr[i].sexp, 2);
    }
    memcpy(f->xmm, s->xmm, sizeof(f->xmm));
}

static void fx_to_state(const Fxsave *f, CpuState *s)
{
    for (int i = 0; i < 8; i++) {
        memcpy(&s->fpr[i].mant, &f->st[i][0], 8);
        memcpy(&s->fpr[i].sexp, &f->st[i][8], 2);
    }
    s->fcw = f->fcw;
    s->fsw = f->fsw;
    s->ftw = ftw_expand(f->ftw, f->fsw, s->fpr);
    s->fop = f->fop;
    s->fip = f->fip;
    s->fdp = f->fdp;
    s->mxcsr = f->mxcsr;
    memcpy(s->xmm, f->xmm, sizeof(s->xmm));
}

static int fpu_get(KvmVcpu *k, CpuState *s)
{
    Fxsave fx;
    memset(&fx, 0, sizeof(fx));
    if (k->xsave_size) {
        void *area = calloc(1, k->xsave_size);
        if (!area)
            return -1;
        unsigned long req =
            k->xsave_size > sizeof(struct kvm_xsave) ? KVM_GET_XSAVE2 : KVM_GET_XSAVE;
        int rc = ioctl(k->vcpu_fd, req, area);
        if (rc == 0)
            memcpy(&fx, area, sizeof(fx)); /* init-state parts come filled in by KVM */
        free(area);
        if (rc < 0)
            return -1;
    } else {
        struct kvm_fpu f;
        if (ioctl(k->vcpu_fd, KVM_GET_FPU, &f) < 0)
            return -1;
        fx.fcw = f.fcw;
        fx.fsw = f.fsw;
        fx.ftw = f.ftwx;
        fx.fop = f.last_opcode;
        fx.fip = f.last_ip;
        fx.fdp = f.last_dp;
        fx.mxcsr = f.mxcsr;
        memcpy(fx.st, f.fpr, sizeof(fx.st));
        memcpy(fx.xmm, f.xmm, sizeof(fx.xmm));
    }
    fx_to_state(&fx, s);
    return 0;
}

static int fpu_set(KvmVcpu *k, const CpuState *s)
{
    if (k->xsave_size) {
        uint8_t *area = calloc(1, k->xsave_size);
        if (!area)
            return -1;
        unsigned long get =
            k->xsave_size > sizeof(struct kvm_xsave) ? KVM_GET_XSAVE2 : KVM_GET_XSAVE;
        int rc = ioctl(k->vcpu_fd, get, area); /* keep the other components as they are */
        if (rc == 0) {
            Fxsave fx;
            memcpy(&fx, area, sizeof(fx));
            uint32_t mask = fx.mxcsr_mask;
            fx_from_state(s, &fx);
            fx.mxcsr_mask = mask;
            memcpy(area, &fx, sizeof(fx));
            uint64_t bv;
            memcpy(&bv, area + XSTATE_BV_OFFSET, 8);
            bv |= XSTATE_X87 | XSTATE_SSE;
            memcpy(area + XSTATE_BV_OFFSET, &bv, 8);
            rc = ioctl(k->vcpu_fd, KVM_SET_XSAVE, area);
        }
        free(area);
        return rc;
    }
    struct kvm_fpu f;
    memset(&f, 0, sizeof(f));
    for (int i = 0; i < 8; i++) {
        memcpy(&f.fpr[i][0], &s->fpr[i].mant, 8);
        memcpy(&f.fpr[i][8], &s->fpr[i].sexp, 2);
    }
    f.fcw = s->fcw;
    f.fsw = s->fsw;
    f.ftwx = ftw_abridge(s->ftw);
    f.last_opcode = s->fop;
    f.last_ip = s->fip;
    f.last_dp = s->fdp;
    memcpy(f.xmm, s->xmm, sizeof(f.xmm));
    f.mxcsr = s->mxcsr;
    return ioctl(k->vcpu_fd, KVM_SET_FPU, &f);
}

/* kvm_regs order is rax rbx rcx rdx rsi rdi rsp rbp r8..r15; CpuState's is the encoding's. */
static __u64 *kvm_gpr(struct kvm_regs *r, int i)
{
    switch (i) {
    case R_EAX:
        return &r->rax;
    case R_ECX:
        return &r->rcx;
    case R_EDX:
        return &r->rdx;
    case R_EBX:
        return &r->rbx;
    case R_ESP:
        return &r->rsp;
    case R_EBP:
        return &r->rbp;
    case R_ESI:
        return &r->rsi;
    case R_EDI:
        return &r->rdi;
    case 8:
        return &r->r8;
    case 9:
        return &r->r9;
    case 10:
        return &r->r10;
    case 11:
        return &r->r11;
    case 12:
        return &r->r12;
    case 13:
        return &r->r13;
    case 14:
        return &r->r14;
    default:
        return &r->r15;
    }
}

/* Let KVM finish an I/O or MMIO instruction whose exit we handled, so RIP and registers are
 * architecturally consistent (KVM completes it at the next KVM_RUN; immediate_exit makes that
 * run return before entering the guest). */
static int complete_io(KvmVcpu *k)
{
    if (!k->io_pending)
        return 0;
    k->io_pending = false;
    k->run->immediate_exit = 1;
    int rc = ioctl(k->vcpu_fd, KVM_RUN, 0);
    int e = errno;
    k->run->immediate_exit = 0;
    if (rc < 0 && e != EINTR && e != EAGAIN) {
        errno = e;
        return -1;
    }
    return 0;
}

static void kvm_get_state(Vcpu *v, CpuState *s)
{
    KvmVcpu *k = v->engine;
    struct kvm_regs regs;
    struct kvm_sregs sr;
    memset(s, 0, sizeof(*s));
    if (complete_io(k) < 0)
        set_err(v->error, sizeof(v->error), "kvm: completing I/O: %s", strerror(errno));
    if (ioctl(k->vcpu_fd, KVM_GET_REGS, &regs) < 0 || ioctl(k->vcpu_fd, KVM_GET_SREGS, &sr) < 0) {
        set_err(v->error, sizeof(v->error), "kvm: reading vCPU registers: %s", strerror(errno));
        return;
    }
    for (int i = 0; i < CPU_NR_GPRS; i++)
        s->regs[i] = *kvm_gpr(&regs, i);
    s->rip = regs.rip;
    s->rflags = regs.rflags;

    seg_from_kvm(&sr.es, &s->seg[S_ES]);
    seg_from_kvm(&sr.cs, &s->seg[S_CS]);
    seg_from_kvm(&sr.ss, &s->seg[S_SS]);
    seg_from_kvm(&sr.ds, &s->seg[S_DS]);
    seg_from_kvm(&sr.fs, &s->seg[S_FS]);
    seg_from_kvm(&sr.gs, &s->seg[S_GS]);
    seg_from_kvm(&sr.ldt, &s->ldt);
    seg_from_kvm(&sr.tr, &s->tr);
    s->gdt.base = sr.gdt.base;
    s->gdt.limit = sr.gdt.limit;
    s->idt.base = sr.idt.base;
    s->idt.limit = sr.idt.limit;
    s->cr0 = sr.cr0;
    s->cr2 = sr.cr2;
    s->cr3 = sr.cr3;
    s->cr4 = sr.cr4;
    s->cr8 = sr.cr8;
    s->efer = sr.efer;
    s->apic_base = sr.apic_base | k->apic_en;

    if (fpu_get(k, s) < 0)
        set_err(v->error, sizeof(v->error), "kvm: reading the x87/SSE state: %s", strerror(errno));

    if (k->has_debugregs) {
        struct kvm_debugregs dr;
        if (ioctl(k->vcpu_fd, KVM_GET_DEBUGREGS, &dr) == 0) {
            for (int i = 0; i < 4; i++)
                s->dr[i] = dr.db[i];
            s->dr[6] = dr.dr6;
            s->dr[7] = dr.dr7;
        }
    }

    struct {
        struct kvm_msrs h;
        struct kvm_msr_entry e[NR_MSR_FIELDS];
    } msrs;
    memset(&msrs, 0, sizeof(msrs));
    size_t map[NR_MSR_FIELDS];
    uint32_t n = 0;
    for (size_t i = 0; i < NR_MSR_FIELDS; i++) {
        if (!k->msr_ok[i])
            continue;
        map[n] = i;
        msrs.e[n++].index = msr_fields[i].index;
    }
    msrs.h.nmsrs = n;
    int got = ioctl(k->vcpu_fd, KVM_GET_MSRS, &msrs);
    for (int i = 0; i < got && i < (int)n; i++)
        *(uint64_t *)((char *)s + msr_fields[map[i]].offset) = msrs.e[i].data;

    s->halted = k->halted;
}

static void kvm_set_state(Vcpu *v, const CpuState *s)
{
    KvmVcpu *k = v->engine;
    struct kvm_regs regs;
    struct kvm_sregs sr;
    const char *step = "completing I/O";
    if (complete_io(k) < 0)
        goto fail;

    /* KVM accepts EFER.LME only from a CPU whose CPUID says long mode: the first state in
     * long mode (loaded before the first run) switches the model to its x86-64 form */
    if ((s->efer & EFER_LME) && !k->long_mode) {
        k->long_mode = true;
        step = "KVM_SET_CPUID2 with long mode";
        if (setup_cpuid(k, k->error, sizeof(k->error)) < 0) {
            errno = EINVAL;
            goto fail;
        }
    }

    step = "KVM_GET_SREGS";
    if (ioctl(k->vcpu_fd, KVM_GET_SREGS, &sr) < 0)
        goto fail;
    seg_to_kvm(&s->seg[S_ES], &sr.es);
    seg_to_kvm(&s->seg[S_CS], &sr.cs);
    seg_to_kvm(&s->seg[S_SS], &sr.ss);
    seg_to_kvm(&s->seg[S_DS], &sr.ds);
    seg_to_kvm(&s->seg[S_FS], &sr.fs);
    seg_to_kvm(&s->seg[S_GS], &sr.gs);
    seg_to_kvm(&s->ldt, &sr.ldt);
    seg_to_kvm(&s->tr, &sr.tr);
    sr.gdt.base = s->gdt.base;
    sr.gdt.limit = s->gdt.limit;
    sr.idt.base = s->idt.base;
    sr.idt.limit = s->idt.limit;
    sr.cr0 = s->cr0;
    sr.cr2 = s->cr2;
    sr.cr3 = s->cr3;
    sr.cr4 = s->cr4;
    sr.cr8 = s->cr8;
    sr.efer = s->efer;
    /* KVM shows CPUID.1:EDX.APIC exactly when IA32_APIC_BASE.EN is set. The model offers no
     * APIC (nor does the machine have one), so KVM gets EN clear and the guest sees the same
     * CPUID as under the translator; the bit is kept here and given back by get_state. */
    k->apic_en = 0;
    if (!(k->model.feat_1_edx & CPUID_1_EDX_APIC)) {
        k->apic_en = s->apic_base & APIC_BASE_EN;
        sr.apic_base = s->apic_base & ~APIC_BASE_EN;
    } else {
        sr.apic_base = s->apic_base;
    }
    memset(sr.interrupt_bitmap, 0, sizeof(sr.interrupt_bitmap));
    step = "KVM_SET_SREGS (the control/segment register state is not one KVM accepts)";
    if (ioctl(k->vcpu_fd, KVM_SET_SREGS, &sr) < 0)
        goto fail;

    memset(&regs, 0, sizeof(regs));
    for (int i = 0; i < CPU_NR_GPRS; i++)
        *kvm_gpr(&regs, i) = s->regs[i];
    regs.rip = s->rip;
    regs.rflags = s->rflags | FL_FIXED1;
    step = "KVM_SET_REGS";
    if (ioctl(k->vcpu_fd, KVM_SET_REGS, &regs) < 0)
        goto fail;

    step = k->xsave_size ? "KVM_SET_XSAVE" : "KVM_SET_FPU";
    if (fpu_set(k, s) < 0)
        goto fail;

    if (k->has_debugregs) {
        struct kvm_debugregs dr;
        memset(&dr, 0, sizeof(dr));
        for (int i = 0; i < 4; i++)
            dr.db[i] = s->dr[i];
        dr.dr6 = s->dr[6];
        dr.dr7 = s->dr[7];
        step = "KVM_SET_DEBUGREGS";
        if (ioctl(k->vcpu_fd, KVM_SET_DEBUGREGS, &dr) < 0)
            goto fail;
    }

    /* A loaded state starts with no event in flight: no pending exception, injected
     * interrupt, NMI or interrupt shadow left from what ran before. */
    if (k->has_vcpu_events) {
        struct kvm_vcpu_events ev;
        memset(&ev, 0, sizeof(ev));
        ev.flags = KVM_VCPUEVENT_VALID_SHADOW;
        step = "KVM_SET_VCPU_EVENTS";
        if (ioctl(k->vcpu_fd, KVM_SET_VCPU_EVENTS, &ev) < 0)
            goto fail;
    }

    struct {
        struct kvm_msrs h;
        struct kvm_msr_entry e[NR_MSR_FIELDS];
    } msrs;
    memset(&msrs, 0, sizeof(msrs));
    size_t map[NR_MSR_FIELDS];
    uint32_t n = 0;
    for (size_t i = 0; i < NR_MSR_FIELDS; i++) {
        if (!k->msr_ok[i])
            continue;
        map[n] = i;
        msrs.e[n].index = msr_fields[i].index;
        msrs.e[n++].data = *(const uint64_t *)((const char *)s + msr_fields[i].offset);
    }
    msrs.h.nmsrs = n;
    int set = ioctl(k->vcpu_fd, KVM_SET_MSRS, &msrs);
    if (set < 0) {
        step = "KVM_SET_MSRS";
        goto fail;
    }
    if (set < (int)n) {
        size_t i = map[set];
        set_err(k->error, sizeof(k->error),
                "kvm: loading the CPU state: KVM refused MSR %s (0x%x) = 0x%" PRIx64,
                msr_fields[i].name, msr_fields[i].index,
                *(const uint64_t *)((const char *)s + msr_fields[i].offset));
        return;
    }

    k->halted = s->halted;
    k->run->request_interrupt_window = 0;
    k->run->ready_for_interrupt_injection = 0; /* unknown until the next exit says */
    k->error[0] = 0;
    return;
fail:
    set_err(k->error, sizeof(k->error),
            "kvm: loading the CPU state (CS=%04x RIP=0x%" PRIx64 " CR0=0x%" PRIx64 " CR4=0x%" PRIx64
            " EFER=0x%" PRIx64 "): %s: %s",
            s->seg[S_CS].sel, s->rip, s->cr0, s->cr4, s->efer, step, strerror(errno));
}

/* ------------------------------------------------------------------------------------------ */
/* diagnostics */

static const char *exit_name(uint32_t r)
{
    static const char *const names[] = {
        [KVM_EXIT_UNKNOWN] = "UNKNOWN",
        [KVM_EXIT_EXCEPTION] = "EXCEPTION",
        [KVM_EXIT_IO] = "IO",
        [KVM_EXIT_HYPERCALL] = "HYPERCALL",
        [KVM_EXIT_DEBUG] = "DEBUG",
        [KVM_EXIT_HLT] = "HLT",
        [KVM_EXIT_MMIO] = "MMIO",
        [KVM_EXIT_IRQ_WINDOW_OPEN] = "IRQ_WINDOW_OPEN",
        [KVM_EXIT_SHUTDOWN] = "SHUTDOWN",
        [KVM_EXIT_FAIL_ENTRY] = "FAIL_ENTRY",
        [KVM_EXIT_INTR] = "INTR",
        [KVM_EXIT_SET_TPR] = "SET_TPR",
        [KVM_EXIT_TPR_ACCESS] = "TPR_ACCESS",
        [KVM_EXIT_NMI] = "NMI",
        [KVM_EXIT_INTERNAL_ERROR] = "INTERNAL_ERROR",
        [KVM_EXIT_SYSTEM_EVENT] = "SYSTEM_EVENT",
        [KVM_EXIT_X86_RDMSR] = "X86_RDMSR",
        [KVM_EXIT_X86_WRMSR] = "X86_WRMSR",
        [KVM_EXIT_X86_BUS_LOCK] = "X86_BUS_LOCK",
        [KVM_EXIT_NOTIFY] = "NOTIFY",
    };
    if (r < sizeof(names) / sizeof(names[0]) && names[r])
        return names[r];
    return "?";
}

/* One line of CPU state for error messages: mode, CS:RIP, the control registers, and the
 * instruction bytes at CS:RIP when paging is off (linear = physical). */
static void describe_cpu(Vcpu *v, char *buf, size_t len)
{
    KvmVcpu *k = v->engine;
    struct kvm_regs regs;
    struct kvm_sregs sr;
    if (ioctl(k->vcpu_fd, KVM_GET_REGS, &regs) < 0 || ioctl(k->vcpu_fd, KVM_GET_SREGS, &sr) < 0) {
        snprintf(buf, len, "(CPU state unreadable: %s)", strerror(errno));
        return;
    }
    const char *mode = !(sr.cr0 & CR0_PE)      ? "real mode"
                       : (regs.rflags & FL_VM) ? "vm86 mode"
                       : (sr.efer & EFER_LMA)  ? (sr.cs.l ? "64-bit mode" : "compat mode")
                       : sr.cs.db              ? "32-bit mode"
                                               : "16-bit protected mode";
    char base[40] = "";
    if (sr.cs.base != (uint64_t)sr.cs.selector << 4 && sr.cs.base != 0)
        snprintf(base, sizeof(base), " (CS base 0x%" PRIx64 ")", (uint64_t)sr.cs.base);
    int n = snprintf(buf, len,
                     "CPU in %s at %04x:%08" PRIx64 "%s, RFLAGS=%" PRIx64 " CR0=%" PRIx64
                     " CR3=%" PRIx64 " CR4=%" PRIx64 " EFER=%" PRIx64 " SS:RSP=%04x:%" PRIx64,
                     mode, sr.cs.selector, (uint64_t)regs.rip, base, (uint64_t)regs.rflags,
                     (uint64_t)sr.cr0, (uint64_t)sr.cr3, (uint64_t)sr.cr4, (uint64_t)sr.efer,
                     sr.ss.selector, (uint64_t)regs.rsp);
    if (n < 0 || (size_t)n >= len || (sr.cr0 & CR0_PG))
        return;
    /* paging off: linear is physical. Only RAM/ROM is read: an MMIO read has side effects. */
    uint64_t lin = (sr.cs.base + regs.rip) & 0xffffffffull;
    const uint8_t *code = as_host_ptr(v->machine->as, lin, 8, false);
    if (code) {
        n += snprintf(buf + n, len - (size_t)n, ", code");
        for (size_t i = 0; i < 8 && n > 0 && (size_t)n < len; i++)
            n += snprintf(buf + n, len - (size_t)n, " %02x", code[i]);
    } else {
        snprintf(buf + n, len - (size_t)n, ", no RAM/ROM at 0x%" PRIx64, lin);
    }
}

/* AMD: the VMEXIT code (32 bits as KVM passes it); VMEXIT_INVALID when VMRUN's consistency
 * checks refuse the guest state. */
static const char *svm_exit_reason(uint64_t r)
{
    switch ((uint32_t)r) {
    case 0xffffffffu:
        return "VMEXIT_INVALID: VMRUN refused the guest state in the VMCB";
    case 0xfffffffeu:
        return "VMEXIT_BUSY";
    default:
        return "SVM exit code";
    }
}

static const char *vmx_entry_failure(uint64_t r)
{
    switch (r & 0xffff) {
    case 33:
        return "VM entry failed: invalid guest state";
    case 34:
        return "VM entry failed: MSR loading";
    case 41:
        return "VM entry failed: machine check";
    default:
        return "VM entry failure";
    }
}

static VcpuExit fail_entry(Vcpu *v)
{
    KvmVcpu *k = v->engine;
    uint64_t r = k->run->fail_entry.hardware_entry_failure_reason;
    char cpu[300];
    describe_cpu(v, cpu, sizeof(cpu));
    snprintf(v->error, sizeof(v->error),
             "kvm: the hardware refused to enter the guest (KVM_EXIT_FAIL_ENTRY, reason 0x%" PRIx64
             ": %s); %s",
             r, k->amd ? svm_exit_reason(r) : vmx_entry_failure(r), cpu);
    return VCPU_EXIT_ERROR;
}

static VcpuExit internal_error(Vcpu *v)
{
    KvmVcpu *k = v->engine;
    const char *what;
    switch (k->run->internal.suberror) {
    case KVM_INTERNAL_ERROR_EMULATION:
        what = "KVM could not emulate an instruction";
        break;
    case KVM_INTERNAL_ERROR_SIMUL_EX:
        what = "an exception while delivering an exception";
        break;
    case KVM_INTERNAL_ERROR_DELIVERY_EV:
        what = "delivering an event touched MMIO or unmapped memory (IDT, GDT or stack not in "
               "RAM?)";
        break;
    case KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON:
        what = "a hardware exit KVM does not handle";
        break;
    default:
        what = "unknown suberror";
        break;
    }
    /* For emulation failures data[] is: flags, the instruction bytes if flagged, then the
     * hardware exit reason and its qualifications (exit info 1 and 2: on AMD for a nested page
     * fault, the error code and the guest-physical address). */
    char data[160] = "";
    size_t dl = 0;
    uint32_t nd = k->run->internal.ndata, first = 0;
    if (nd > 16)
        nd = 16;
    if (k->run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION && nd >= 1) {
        first = 1;
        if ((k->run->emulation_failure.flags &
             KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES) &&
            nd >= 3) {
            first = 3;
            dl += (size_t)snprintf(data, sizeof(data), ", instruction");
            for (unsigned i = 0; i < k->run->emulation_failure.insn_size && i < 15; i++)
                dl += (size_t)snprintf(data + dl, sizeof(data) - dl, " %02x",
                                       k->run->emulation_failure.insn_bytes[i]);
        }
        if (nd >= first + 3)
            dl += (size_t)snprintf(data + dl, sizeof(data) - dl,
                                   ", hardware exit 0x%llx info 0x%llx 0x%llx",
                                   (unsigned long long)k->run->internal.data[first],
                                   (unsigned long long)k->run->internal.data[first + 1],
                                   (unsigned long long)k->run->internal.data[first + 2]);
    } else {
        for (uint32_t i = 0; i < nd && i < 4 && dl < sizeof(data); i++)
            dl += (size_t)snprintf(data + dl, sizeof(data) - dl, "%s0x%llx", i ? " " : ", data ",
                                   (unsigned long long)k->run->internal.data[i]);
    }
    char cpu[300];
    describe_cpu(v, cpu, sizeof(cpu));
    snprintf(v->error, sizeof(v->error), "kvm: KVM_EXIT_INTERNAL_ERROR %u (%s)%s; %s",
             k->run->internal.suberror, what, data, cpu);
    return VCPU_EXIT_ERROR;
}

/* ------------------------------------------------------------------------------------------ */
/* exits */

static void handle_io(Vcpu *v)
{
    KvmVcpu *k = v->engine;
    struct kvm_run *r = k->run;
    uint8_t *data = (uint8_t *)r + r->io.data_offset;
    unsigned size = r->io.size;
    /* string instructions hand over up to a page of items at once */
    for (uint32_t i = 0; i < r->io.count; i++, data += size) {
        if (r->io.direction == KVM_EXIT_IO_OUT) {
            uint32_t val = 0;
            memcpy(&val, data, size);
            io_write(v->machine->io, r->io.port, val, size);
        } else {
            uint32_t val = io_read(v->machine->io, r->io.port, size);
            memcpy(data, &val, size);
        }
    }
    k->io_pending = true;
}

static void handle_mmio(Vcpu *v)
{
    KvmVcpu *k = v->engine;
    struct kvm_run *r = k->run;
    uint32_t len = r->mmio.len;
    if (len > sizeof(r->mmio.data))
        len = sizeof(r->mmio.data);
    uint64_t gpa = r->mmio.phys_addr;
    if (!a20_on(v->machine))
        gpa &= ~(1ull << 20);
    if (r->mmio.is_write)
        as_write(v->machine->as, gpa, r->mmio.data, len);
    else
        as_read(v->machine->as, gpa, r->mmio.data, len);
    k->io_pending = true;
}

static bool intr_waiting(Machine *m)
{
    return m->intr_pending && m->intr_pending(m->intr_opaque);
}

/* Before entering: hand the PIC's interrupt to the guest if it can take one now, else ask KVM
 * to exit as soon as it can. */
static void prepare_interrupt(Vcpu *v)
{
    KvmVcpu *k = v->engine;
    Machine *m = v->machine;
    struct kvm_run *r = k->run;
    if (!intr_waiting(m)) {
        r->request_interrupt_window = 0;
        return;
    }
    if (r->ready_for_interrupt_injection && r->if_flag) {
        int vec = m->intr_ack(m->intr_opaque);
        if (vec >= 0) {
            struct kvm_interrupt irq = {.irq = (uint32_t)vec};
            if (ioctl(k->vcpu_fd, KVM_INTERRUPT, &irq) == 0) {
                k->stats[ST_IRQS]++;
                /* one at a time: the next is offered at the exit after this one is taken */
                r->ready_for_interrupt_injection = 0;
            }
        }
        r->request_interrupt_window = intr_waiting(m);
    } else {
        r->request_interrupt_window = 1;
    }
}

static void ensure_thread(KvmVcpu *k)
{
    pid_t tid = (pid_t)syscall(SYS_gettid);
    tls_run = k->run; /* this thread may run other vCPUs in between */
    if (k->have_thread && k->tid == tid)
        return;
    if (k->have_timer) {
        timer_delete(k->timer);
        k->have_timer = false;
    }
    k->thread = pthread_self();
    k->tid = tid;
    k->have_thread = true;
    struct sigevent sev;
    memset(&sev, 0, sizeof(sev));
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = KVM_SIGNAL;
    sev.sigev_notify_thread_id = tid;
    if (timer_create(CLOCK_MONOTONIC, &sev, &k->timer) == 0)
        k->have_timer = true;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, KVM_SIGNAL);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

static void arm_timer(KvmVcpu *k, int64_t ns)
{
    if (!k->have_timer)
        return;
    if (ns < 1)
        ns = 1;
    struct itimerspec its = {{0, 0}, {ns / 1000000000ll, ns % 1000000000ll}};
    timer_settime(k->timer, 0, &its, NULL);
}

static void disarm_timer(KvmVcpu *k)
{
    if (!k->have_timer)
        return;
    struct itimerspec its = {{0, 0}, {0, 0}};
    timer_settime(k->timer, 0, &its, NULL);
}

static VcpuExit kvm_run_loop(Vcpu *v)
{
    KvmVcpu *k = v->engine;
    Machine *m = v->machine;
    struct kvm_run *r = k->run;
    Clock *clk = m->clock;
    int64_t deadline = v->deadline_ns;
    int64_t now = clock_ns(clk);
    if (deadline < now + MIN_SLICE_NS)
        deadline = now + MIN_SLICE_NS;
    bool armed = false;

    for (;;) {
        r->immediate_exit = 0;
        if (m->stop)
            return VCPU_EXIT_STOP;
        if (__atomic_load_n(&v->kick, __ATOMIC_SEQ_CST))
            return VCPU_EXIT_DEADLINE;
        now = clock_ns(clk);
        if (now >= deadline)
            return VCPU_EXIT_DEADLINE;
        if (!armed) {
            arm_timer(k, deadline - now);
            armed = true;
        }
        prepare_interrupt(v);

        int64_t t0 = mono_ns();
        int rc = ioctl(k->vcpu_fd, KVM_RUN, 0);
        int e = errno;
        k->run_ns += (uint64_t)(mono_ns() - t0);
        k->stats[ST_RUNS]++;
        k->io_pending = false;
        if (rc < 0) {
            if (e == EINTR || e == EAGAIN) {
                k->stats[ST_INTR]++;
                /* a timer that fired early (clock adjustments) must not leave the guest
                 * running unbounded: re-arm for what remains */
                armed = false;
                continue;
            }
            char cpu[300];
            describe_cpu(v, cpu, sizeof(cpu));
            snprintf(v->error, sizeof(v->error), "kvm: KVM_RUN failed: %s; %s", strerror(e), cpu);
            return VCPU_EXIT_ERROR;
        }
        switch (r->exit_reason) {
        case KVM_EXIT_IO:
            k->stats[ST_IO]++;
            handle_io(v);
            if (sync_slots(k, m, v->error, sizeof(v->error)) < 0)
                return VCPU_EXIT_ERROR;
            break;
        case KVM_EXIT_MMIO:
            k->stats[ST_MMIO]++;
            handle_mmio(v);
            if (sync_slots(k, m, v->error, sizeof(v->error)) < 0)
                return VCPU_EXIT_ERROR;
            break;
        case KVM_EXIT_IRQ_WINDOW_OPEN:
            k->stats[ST_WINDOW]++;
            break;
        case KVM_EXIT_INTR:
            k->stats[ST_INTR]++;
            armed = false;
            break;
        case KVM_EXIT_HLT:
            k->stats[ST_HLT]++;
            if (intr_waiting(m) && r->if_flag)
                break; /* an interrupt is already there: take it instead of halting */
            k->halted = true;
            return VCPU_EXIT_HLT;
        case KVM_EXIT_SHUTDOWN:
            return VCPU_EXIT_SHUTDOWN;
        case KVM_EXIT_FAIL_ENTRY:
            return fail_entry(v);
        case KVM_EXIT_INTERNAL_ERROR:
            return internal_error(v);
        case KVM_EXIT_UNKNOWN: {
            char cpu[300];
            describe_cpu(v, cpu, sizeof(cpu));
            snprintf(v->error, sizeof(v->error),
                     "kvm: KVM_EXIT_UNKNOWN, hardware exit reason 0x%llx; %s",
                     (unsigned long long)r->hw.hardware_exit_reason, cpu);
            return VCPU_EXIT_ERROR;
        }
        case KVM_EXIT_SYSTEM_EVENT:
            if (r->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN ||
                r->system_event.type == KVM_SYSTEM_EVENT_RESET)
                return VCPU_EXIT_SHUTDOWN;
            /* fall through */
        default: {
            k->stats[ST_OTHER]++;
            char cpu[300];
            describe_cpu(v, cpu, sizeof(cpu));
            snprintf(v->error, sizeof(v->error), "kvm: unexpected exit KVM_EXIT_%s (%u); %s",
                     exit_name(r->exit_reason), r->exit_reason, cpu);
            return VCPU_EXIT_ERROR;
        }
        }
    }
}

static VcpuExit kvm_run(Vcpu *v)
{
    KvmVcpu *k = v->engine;
    Machine *m = v->machine;
    if (k->error[0]) {
        snprintf(v->error, sizeof(v->error), "%s", k->error);
        return VCPU_EXIT_ERROR;
    }
    if (m->stop)
        return VCPU_EXIT_STOP;
    if (sync_slots(k, m, v->error, sizeof(v->error)) < 0)
        return VCPU_EXIT_ERROR;
    if (k->halted) {
        /* Halted: only an interrupt the guest can take wakes it (as the DBT's HLT). The
         * last exit's if_flag says whether IF is set (set_state clears it to "unknown"). */
        if (!intr_waiting(m))
            return VCPU_EXIT_HLT;
        struct kvm_regs regs;
        if (ioctl(k->vcpu_fd, KVM_GET_REGS, &regs) == 0 && !(regs.rflags & FL_IF))
            return VCPU_EXIT_HLT;
        k->halted = false;
    }
    ensure_thread(k);
    VcpuExit e = kvm_run_loop(v);
    disarm_timer(k);
    k->run->immediate_exit = 0;
    return e;
}

static void kvm_kick(Vcpu *v)
{
    KvmVcpu *k = v->engine;
    __atomic_store_n(&v->kick, 1, __ATOMIC_SEQ_CST);
    if (!k)
        return;
    __atomic_store_n(&k->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
    if (k->have_thread && !pthread_equal(k->thread, pthread_self()))
        pthread_kill(k->thread, KVM_SIGNAL);
}

/* Machine.intr_changed: the board's INTR output moved. From the vCPU thread nothing is needed
 * (the run loop looks at the PIC before every entry); from another thread the vCPU may be in
 * the guest, so make KVM_RUN return and the loop look again. */
static void kvm_intr_changed(void *opaque)
{
    Vcpu *v = opaque;
    KvmVcpu *k = v->engine;
    if (!k || !k->have_thread || pthread_equal(k->thread, pthread_self()))
        return;
    __atomic_store_n(&k->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
    pthread_kill(k->thread, KVM_SIGNAL);
}

/* Machine.mem_changed: the board remapped part of the guest-physical space (PAM, say). The
 * slots are rebuilt from the address space before the guest runs again (the exit that did it
 * is followed by sync_slots()). */
static void kvm_mem_changed(void *opaque, uint64_t gpa, uint64_t len)
{
    KvmVcpu *k = opaque;
    (void)gpa;
    (void)len;
    k->sig_valid = false;
}

/* ------------------------------------------------------------------------------------------ */
/* life cycle */

static void kvm_destroy(Vcpu *v)
{
    KvmVcpu *k = v->engine;
    if (!k)
        return;
    if (tls_run == k->run)
        tls_run = NULL;
    if (k->have_timer)
        timer_delete(k->timer);
    if (k->run)
        munmap(k->run, k->run_size);
    if (k->vcpu_fd >= 0)
        close(k->vcpu_fd);
    if (k->vm_fd >= 0)
        close(k->vm_fd);
    if (k->kvm_fd >= 0)
        close(k->kvm_fd);
    if (v->machine && v->machine->intr_changed == kvm_intr_changed)
        v->machine->intr_changed = NULL;
    if (v->machine && v->machine->mem_changed == kvm_mem_changed)
        v->machine->mem_changed = NULL;
    free(k->slots);
    free(k->sig);
    free(k);
    v->engine = NULL;
}

static void find_msrs(KvmVcpu *k)
{
    struct kvm_msr_list probe = {.nmsrs = 0};
    ioctl(k->kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe); /* E2BIG, with the count */
    if (!probe.nmsrs)
        return;
    struct kvm_msr_list *l = calloc(1, sizeof(*l) + probe.nmsrs * sizeof(uint32_t));
    if (!l)
        return;
    l->nmsrs = probe.nmsrs;
    if (ioctl(k->kvm_fd, KVM_GET_MSR_INDEX_LIST, l) == 0)
        for (uint32_t i = 0; i < l->nmsrs; i++)
            for (size_t f = 0; f < NR_MSR_FIELDS; f++)
                if (l->indices[i] == msr_fields[f].index)
                    k->msr_ok[f] = true;
    free(l);
}

static int kvm_init(Vcpu *v)
{
    char why[256];
    KvmVcpu *k = calloc(1, sizeof(*k));
    if (!k) {
        snprintf(v->error, sizeof(v->error), "kvm: out of memory");
        return -ENOMEM;
    }
    k->kvm_fd = k->vm_fd = k->vcpu_fd = -1;
    v->engine = k;
    k->amd = host_is_amd();

    k->kvm_fd = kvm_open_dev(why, sizeof(why));
    if (k->kvm_fd < 0) {
        snprintf(v->error, sizeof(v->error), "kvm: %s", why);
        goto fail;
    }
    k->has_vcpu_events = ioctl(k->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_VCPU_EVENTS) > 0;
    k->has_debugregs = ioctl(k->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_DEBUGREGS) > 0;
    if (ioctl(k->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE) > 0)
        k->xsave_size = sizeof(struct kvm_xsave);
    k->max_slots = ioctl(k->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS);
    if (k->max_slots <= 0)
        k->max_slots = 32;
    if (k->max_slots > 32768)
        k->max_slots = 32768;
    k->slots = calloc((size_t)k->max_slots, sizeof(Slot));
    find_msrs(k);

    k->vm_fd = ioctl(k->kvm_fd, KVM_CREATE_VM, 0);
    if (k->vm_fd < 0) {
        snprintf(v->error, sizeof(v->error), "kvm: KVM_CREATE_VM: %s", strerror(errno));
        goto fail;
    }
    if (k->xsave_size) {
        /* bigger than struct kvm_xsave only with AMX-like state: then KVM_GET_XSAVE2 */
        int x2 = ioctl(k->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
        if (x2 > (int)k->xsave_size)
            k->xsave_size = (size_t)x2;
    }
    if (ioctl(k->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)KVM_TSS_ADDR) < 0) {
        snprintf(v->error, sizeof(v->error), "kvm: KVM_SET_TSS_ADDR: %s", strerror(errno));
        goto fail;
    }
    if (ioctl(k->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SET_IDENTITY_MAP_ADDR) > 0) {
        uint64_t addr = KVM_IDENTITY_MAP_ADDR;
        ioctl(k->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &addr);
    }
    if (sync_slots(k, v->machine, v->error, sizeof(v->error)) < 0)
        goto fail;

    k->vcpu_fd = ioctl(k->vm_fd, KVM_CREATE_VCPU, 0);
    if (k->vcpu_fd < 0) {
        snprintf(v->error, sizeof(v->error), "kvm: KVM_CREATE_VCPU: %s", strerror(errno));
        goto fail;
    }
    long sz = ioctl(k->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (sz < (long)sizeof(struct kvm_run)) {
        snprintf(v->error, sizeof(v->error), "kvm: KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
        goto fail;
    }
    k->run_size = (size_t)sz;
    k->run = mmap(NULL, k->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, k->vcpu_fd, 0);
    if (k->run == MAP_FAILED) {
        k->run = NULL;
        snprintf(v->error, sizeof(v->error), "kvm: mapping the vCPU run area: %s", strerror(errno));
        goto fail;
    }
    k->model = cpu_model_make(v->machine->has_apic);
    if (setup_cpuid(k, v->error, sizeof(v->error)) < 0)
        goto fail;
    /* The translator's TSC counts virtual nanoseconds: 1 GHz. Where the hardware can scale
     * the guest's TSC (KVM_CAP_TSC_CONTROL), run at that rate too; elsewhere the guest sees
     * the host's rate (KVM would emulate other rates by catch-up, at a cost on every entry). */
    if (ioctl(k->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_CONTROL) > 0 &&
        ioctl(k->vcpu_fd, KVM_SET_TSC_KHZ, 1000000ul) == 0)
        k->tsc_1ghz = true;
    if (k->cpuid_note[0])
        fprintf(stderr,
                "dualvm: kvm: this host's KVM cannot give CPUID features the machine model "
                "offers (%s); the guest will not see them\n",
                k->cpuid_note);

    /* The kick/deadline signal: the handler only sets immediate_exit. SA_RESTART so a
     * stray one (a timer that fires after run() returned) does not fail the device's
     * write(2) calls; KVM_RUN itself returns EINTR regardless. */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = kvm_signal_handler;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(KVM_SIGNAL, &sa, NULL);

    v->machine->intr_changed = kvm_intr_changed;
    v->machine->intr_changed_opaque = v;
    v->machine->mem_changed = kvm_mem_changed;
    v->machine->mem_changed_opaque = k;
    return 0;

fail:
    kvm_destroy(v);
    return -1;
}

static void kvm_print_stats(Vcpu *v, FILE *f)
{
    KvmVcpu *k = v->engine;
    if (!k)
        return;
    fprintf(f, "kvm: KVM_RUN calls          %" PRIu64 " (%.3f ms inside)\n", k->stats[ST_RUNS],
            k->run_ns / 1e6);
    fprintf(f,
            "kvm: exits                  io %" PRIu64 ", mmio %" PRIu64 ", hlt %" PRIu64
            ", irq window %" PRIu64 ", signal %" PRIu64 ", other %" PRIu64 "\n",
            k->stats[ST_IO], k->stats[ST_MMIO], k->stats[ST_HLT], k->stats[ST_WINDOW],
            k->stats[ST_INTR], k->stats[ST_OTHER]);
    fprintf(f, "kvm: interrupts injected    %" PRIu64 "\n", k->stats[ST_IRQS]);
    /* where the guest was when the run ended, and whether an interrupt was waiting for it */
    char cpu[300];
    describe_cpu(v, cpu, sizeof(cpu));
    fprintf(f, "kvm: at the end             %s; interrupt %s, IF %d, window %s\n", cpu,
            intr_waiting(v->machine) ? "waiting" : "none waiting", k->run->if_flag,
            k->run->ready_for_interrupt_injection ? "open" : "closed");
    fprintf(f, "kvm: guest TSC              %s\n",
            k->tsc_1ghz ? "1 GHz, as under dbt" : "the host's rate (no TSC scaling)");
}

const AccelOps accel_kvm_ops = {
    .name = "kvm",
    .probe = kvm_probe,
    .init = kvm_init,
    .run = kvm_run,
    .get_state = kvm_get_state,
    .set_state = kvm_set_state,
    .kick = kvm_kick,
    .print_stats = kvm_print_stats,
    .destroy = kvm_destroy,
};

#else /* not x86-64 Linux with <linux/kvm.h> */

#include <string.h>

static bool kvm_probe(char *why, size_t len)
{
    snprintf(why, len, "KVM is only available to x86-64 Linux builds of dualvm");
    return false;
}

static int kvm_init(Vcpu *v)
{
    kvm_probe(v->error, sizeof(v->error));
    return -1;
}

static VcpuExit kvm_run(Vcpu *v)
{
    snprintf(v->error, sizeof(v->error), "kvm: not available in this build");
    return VCPU_EXIT_ERROR;
}

static void kvm_get_state(Vcpu *v, CpuState *s)
{
    memset(s, 0, sizeof(*s));
}

static void kvm_set_state(Vcpu *v, const CpuState *s)
{
}

static void kvm_kick(Vcpu *v)
{
    __atomic_store_n(&v->kick, 1, __ATOMIC_SEQ_CST);
}

static void kvm_destroy(Vcpu *v)
{
}

const AccelOps accel_kvm_ops = {
    .name = "kvm",
    .probe = kvm_probe,
    .init = kvm_init,
    .run = kvm_run,
    .get_state = kvm_get_state,
    .set_state = kvm_set_state,
    .kick = kvm_kick,
    .destroy = kvm_destroy,
};

#endif
