/* dbt/diff.c: the differential mode (see dbt/diff.h for what it compares and why).
 *
 * Write tracking. Guest RAM (every RAM region of the address space, page aligned host memory)
 * is kept read-only for the host; the first write to a page, by compiled code, the interpreter,
 * a helper or a device, faults into on_segv(), which notes the page (and, while a block is being
 * logged, copies its old contents) and makes it writable. Before each block the pages written
 * since the previous one are made read-only again, so a block's log holds exactly the pages it
 * wrote. Only the vCPU thread writes guest RAM (the window thread reads it), so a fault is always
 * the one thread's own.
 *
 * One block: the interpreter runs it from state S0 and memory M0 with the log on; its state and
 * pages are kept; M0 and S0 are put back (the logged pages stay writable); compiled code runs it
 * with jit_limit 0 (it returns at its first exit, no chaining); a page compiled code writes that
 * the interpreter did not faults in and is logged too. Then: the states, the exceptions, the
 * interpreter's pages against the current ones, and the pages only compiled code wrote against
 * their old contents (it must not have changed them). The softmmu TLB is part of the saved state:
 * a walk the first run made (accessed and dirty bits) must be made again by the second.
 */
#include "dbt/diff.h"

#include <capstone/capstone.h>
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dbt/helpers.h"
#include "dbt/jit.h"

#define MAX_RANGES 16
#define MAX_DIRTY 4096 /* pages written between two blocks that are remembered */
#define LOG_PAGES 256  /* pages one block may write and still be compared */

typedef struct Range {
    uint8_t *lo, *hi;
} Range;

/* why a block ran only once */
enum { ONCE_DEVICE, ONCE_TIME, ONCE_SMC, ONCE_PAGES, ONCE_INTERP, ONCE_ERROR, ONCE_N };
/* diff_run() results: the back ends agree, disagree, or ONCE_* */
enum { R_SAME = -1, R_DIFFERENT = -2 };

typedef struct DbtDiff {
    size_t pg; /* host page size */
    Range r[MAX_RANGES];
    unsigned nr;
    uint8_t *volatile dirty[MAX_DIRTY];
    volatile unsigned ndirty;
    volatile bool lost;     /* more pages were written than dirty[] holds */
    volatile bool logging;  /* copy the old contents of each page on its first write */
    volatile bool log_full; /* a logged run wrote more than LOG_PAGES pages */
    uint8_t *old;           /* LOG_PAGES pages: contents before the block, in dirty[] order */
    uint8_t *aft;           /* the interpreter's contents of its n1 pages */
    unsigned n1;
    int va, vj;     /* the exception each run raised, or -1 */
    int vec;        /* the one that goes with the result that stands */
    DbtCpu snap, a; /* the state before the block, and after it under the interpreter */
    GString *report;
    DbtDiffHook hook;
    void *hook_opaque;
    GPtrArray *pieces; /* prefixes of a block compiled while pinning a difference */
    uint64_t compared, compared_exc, once[ONCE_N];
} DbtDiff;

static DbtDiff *volatile active; /* the one CPU whose memory the SIGSEGV handler tracks */
/* The handler stays once installed (with no CPU active it hands every fault on): a run ends
 * under the seccomp filter, which forbids rt_sigaction. */
static bool installed;
static struct sigaction old_segv;

static bool tracked(const DbtDiff *d, const uint8_t *p)
{
    for (unsigned i = 0; i < d->nr; i++)
        if (p >= d->r[i].lo && p < d->r[i].hi)
            return true;
    return false;
}

static void on_segv(int sig, siginfo_t *si, void *ctx)
{
    DbtDiff *d = active;
    uint8_t *p = si->si_addr;
    if (d && si->si_code == SEGV_ACCERR && tracked(d, p)) {
        uint8_t *page = (uint8_t *)((uintptr_t)p & ~(uintptr_t)(d->pg - 1));
        unsigned n = d->ndirty;
        if (d->logging) {
            if (n < LOG_PAGES)
                memcpy(d->old + (size_t)n * d->pg, page, d->pg);
            else
                d->log_full = true;
        }
        if (n < MAX_DIRTY) {
            d->dirty[n] = page;
            d->ndirty = n + 1;
        } else {
            d->lost = true;
        }
        if (mprotect(page, d->pg, PROT_READ | PROT_WRITE) == 0)
            return;
    }
    /* not a write to tracked memory: what would have happened without this handler */
    if ((old_segv.sa_flags & SA_SIGINFO) && old_segv.sa_sigaction) {
        old_segv.sa_sigaction(sig, si, ctx);
    } else if (old_segv.sa_handler != SIG_DFL && old_segv.sa_handler != SIG_IGN) {
        old_segv.sa_handler(sig);
    } else {
        signal(SIGSEGV, SIG_DFL); /* the access faults again, and the process dies of it */
    }
}

static bool protect(const Range *r, unsigned n, int prot)
{
    for (unsigned i = 0; i < n; i++)
        if (mprotect(r[i].lo, (size_t)(r[i].hi - r[i].lo), prot))
            return false;
    return true;
}

static int range_cmp(const void *x, const void *y)
{
    const Range *a = x, *b = y;
    return a->lo < b->lo ? -1 : a->lo > b->lo;
}

/* Follow the address space's RAM regions (the board maps and unmaps some: PAM shadow RAM, the
 * VGA's linear framebuffer): protect what is new, release what left. */
static bool sync_ranges(DbtDiff *d, AddressSpace *as, char *err, size_t errlen)
{
    Range r[MAX_RANGES];
    unsigned n = 0;
    for (size_t i = 0; i < as_region_count(as); i++) {
        const MemRegion *m = as_region(as, i);
        if (m->kind != MEM_RAM)
            continue;
        if (((uintptr_t)m->host | m->size) & (d->pg - 1)) {
            snprintf(err, errlen, "RAM region %s is not host-page aligned", m->name);
            return false;
        }
        if (n == MAX_RANGES) {
            snprintf(err, errlen, "more than %d RAM regions", MAX_RANGES);
            return false;
        }
        r[n++] = (Range){m->host, m->host + m->size};
    }
    qsort(r, n, sizeof(r[0]), range_cmp);
    unsigned k = 0;
    for (unsigned i = 0; i < n; i++) {
        if (k && r[i].lo <= r[k - 1].hi) {
            if (r[i].hi > r[k - 1].hi)
                r[k - 1].hi = r[i].hi;
        } else {
            r[k++] = r[i];
        }
    }
    if (k == d->nr && !memcmp(r, d->r, k * sizeof(r[0])))
        return true;
    if (!protect(d->r, d->nr, PROT_READ | PROT_WRITE) || !protect(r, k, PROT_READ)) {
        snprintf(err, errlen, "mprotect: %s", strerror(errno));
        return false;
    }
    memcpy(d->r, r, k * sizeof(r[0]));
    d->nr = k;
    d->ndirty = 0;
    d->lost = false;
    return true;
}

/* Make the pages written since the last call read-only again: a clean log for the next block. */
static bool reprotect(DbtDiff *d)
{
    bool ok = true;
    if (d->lost)
        ok = protect(d->r, d->nr, PROT_READ);
    else
        for (unsigned i = 0; i < d->ndirty && ok; i++)
            ok = mprotect(d->dirty[i], d->pg, PROT_READ) == 0;
    d->ndirty = 0;
    d->lost = false;
    d->log_full = false;
    return ok;
}

/* The whole CPU but the jump cache (a cache of block pointers, 32 KiB, that no replayed block
 * can make wrong: invalidation makes a block run once). */
static void copy_cpu(DbtCpu *dst, const DbtCpu *src)
{
    size_t a = offsetof(DbtCpu, jc), b = a + sizeof(src->jc);
    memcpy(dst, src, a);
    memcpy((char *)dst + b, (const char *)src + b, sizeof(DbtCpu) - b);
}

/* Run b alone under one back end; the vector of the exception it raised (-2 engine failure,
 * -3 shutdown), or -1. */
static int run_one(DbtCpu *env, Block *b, bool jit)
{
    jmp_buf jb;
    env->unwind = &jb;
    env->pending_exc = -1;
    if (setjmp(jb))
        return env->pending_exc;
    if (jit) {
        env->jit_limit = 0; /* back at the first exit: one block */
        jit_run(env, b);
    } else {
        dbt_interp(env, b);
    }
    return -1;
}

/* Blocks that read the clock or reach a device through an MSR: a second run sees other values */
static bool reads_time(const Block *b)
{
    for (uint32_t i = 0; i < b->nops; i++) {
        const IrOp *o = &b->ops[i];
        if (o->op == IR_HELPER &&
            (o->fn == helper_rdtsc || o->fn == helper_rdmsr || o->fn == helper_wrmsr))
            return true;
    }
    return false;
}

/* ---- comparison ---- */

static unsigned cmp_val(GString *out, const char *name, const char *na, const char *nb, uint64_t a,
                        uint64_t b)
{
    if (a == b)
        return 0;
    if (out)
        g_string_append_printf(out, "  %-14s %s %#-18llx %s %#llx\n", name, na,
                               (unsigned long long)a, nb, (unsigned long long)b);
    return 1;
}

static unsigned cmp_seg(GString *out, const char *seg, const char *na, const char *nb,
                        const SegCache *a, const SegCache *b)
{
    char n[32];
    unsigned k = 0;
    snprintf(n, sizeof(n), "%s.sel", seg);
    k += cmp_val(out, n, na, nb, a->sel, b->sel);
    snprintf(n, sizeof(n), "%s.base", seg);
    k += cmp_val(out, n, na, nb, a->base, b->base);
    snprintf(n, sizeof(n), "%s.limit", seg);
    k += cmp_val(out, n, na, nb, a->limit, b->limit);
    snprintf(n, sizeof(n), "%s.attr", seg);
    k += cmp_val(out, n, na, nb, a->attr, b->attr);
    return k;
}

/* The CpuState fields compared besides the general and segment registers: name (a printf
 * format taking the index when count > 1), place, size, and how many at which stride. */
typedef struct Field {
    const char *name;
    size_t off, size;
    unsigned count;
    size_t stride;
} Field;
#define ONE(name, f)                                                                               \
    {                                                                                              \
        name, offsetof(CpuState, f), sizeof(((CpuState *)0)->f), 1, 0                              \
    }
#define ARR(name, f, n)                                                                            \
    {                                                                                              \
        name, offsetof(CpuState, f), sizeof(((CpuState *)0)->f[0]), n,                             \
            sizeof(((CpuState *)0)->f[0])                                                          \
    }
static const Field fields[] = {
    ONE("EIP", rip),
    ONE("EFLAGS", rflags),
    ONE("GDTR.base", gdt.base),
    ONE("GDTR.limit", gdt.limit),
    ONE("IDTR.base", idt.base),
    ONE("IDTR.limit", idt.limit),
    ONE("CR0", cr0),
    ONE("CR2", cr2),
    ONE("CR3", cr3),
    ONE("CR4", cr4),
    ONE("CR8", cr8),
    ARR("DR%u", dr, 8),
    ONE("EFER", efer),
    ONE("SYSENTER_CS", sysenter_cs),
    ONE("SYSENTER_ESP", sysenter_esp),
    ONE("SYSENTER_EIP", sysenter_eip),
    ONE("STAR", star),
    ONE("LSTAR", lstar),
    ONE("CSTAR", cstar),
    ONE("FMASK", fmask),
    ONE("KERNEL_GS", kernel_gs_base),
    ONE("TSC", tsc),
    ONE("APIC_BASE", apic_base),
    ONE("PAT", pat),
    ONE("MISC_ENABLE", misc_enable),
    ONE("MTRR_DEF", mtrr_def_type),
    ARR("MTRR_FIX%u", mtrr_fixed, 11),
    ARR("MTRR_VAR%u", mtrr_var, 16),
    {"FPR%u.mant", offsetof(CpuState, fpr[0].mant), 8, 8, sizeof(FpReg)},
    {"FPR%u.sexp", offsetof(CpuState, fpr[0].sexp), 2, 8, sizeof(FpReg)},
    ONE("FCW", fcw),
    ONE("FSW", fsw),
    ONE("FTW", ftw),
    ONE("FOP", fop),
    ONE("FIP", fip),
    ONE("FDP", fdp),
    {"XMM%u.lo", offsetof(CpuState, xmm[0]), 8, 16, 16},
    {"XMM%u.hi", offsetof(CpuState, xmm[0]) + 8, 8, 16, 16},
    ONE("MXCSR", mxcsr),
    ONE("halted", halted),
};
#undef ONE
#undef ARR

/* A field of 1 to 8 bytes, zero-extended (a little-endian host, as dbt/mmu.c assumes too). */
static uint64_t load(const void *p, size_t size)
{
    uint64_t v = 0;
    memcpy(&v, p, size);
    return v;
}

unsigned dbt_state_diff(const CpuState *a, const CpuState *b, const char *na, const char *nb,
                        GString *out)
{
    static const char *const gpr[CPU_NR_GPRS] = {"EAX", "ECX", "EDX", "EBX", "ESP", "EBP",
                                                 "ESI", "EDI", "R8",  "R9",  "R10", "R11",
                                                 "R12", "R13", "R14", "R15"};
    static const char *const segs[CPU_NR_SEGS] = {"ES", "CS", "SS", "DS", "FS", "GS"};
    unsigned k = 0;
    for (int i = 0; i < CPU_NR_GPRS; i++)
        k += cmp_val(out, gpr[i], na, nb, a->regs[i], b->regs[i]);
    for (int i = 0; i < CPU_NR_SEGS; i++)
        k += cmp_seg(out, segs[i], na, nb, &a->seg[i], &b->seg[i]);
    k += cmp_seg(out, "LDTR", na, nb, &a->ldt, &b->ldt);
    k += cmp_seg(out, "TR", na, nb, &a->tr, &b->tr);
    for (size_t f = 0; f < G_N_ELEMENTS(fields); f++) {
        const Field *d = &fields[f];
        for (unsigned i = 0; i < d->count; i++) {
            char n[32];
            snprintf(n, sizeof(n), d->name, i);
            size_t off = d->off + i * d->stride;
            k += cmp_val(out, n, na, nb, load((const char *)a + off, d->size),
                         load((const char *)b + off, d->size));
        }
    }
    return k;
}

static uint64_t host_to_gpa(AddressSpace *as, const uint8_t *p)
{
    for (size_t i = 0; i < as_region_count(as); i++) {
        const MemRegion *m = as_region(as, i);
        if (m->kind == MEM_RAM && p >= m->host && p < m->host + m->size)
            return m->gpa + (uint64_t)(p - m->host);
    }
    return ~0ull;
}

/* Page p (in dirty[] at i) against what it should hold, want; one line for the first run of
 * differing bytes. */
static unsigned cmp_page(GString *out, AddressSpace *as, const uint8_t *p, const uint8_t *want,
                         size_t pg, bool jit_only)
{
    size_t i = 0;
    while (i < pg && p[i] == want[i])
        i++;
    if (i == pg)
        return 0;
    if (out) {
        size_t e = i + 1;
        while (e < pg && e < i + 8)
            e++;
        g_string_append_printf(out, "  memory %#llx%s:", (unsigned long long)host_to_gpa(as, p + i),
                               jit_only ? " (the interpreter did not write here)" : "");
        g_string_append(out, " interp");
        for (size_t j = i; j < e; j++)
            g_string_append_printf(out, " %02x", want[j]);
        g_string_append(out, "  jit");
        for (size_t j = i; j < e; j++)
            g_string_append_printf(out, " %02x", p[j]);
        g_string_append_c(out, '\n');
    }
    return 1;
}

static void exc_name(char *buf, size_t len, int vec, const DbtCpu *e)
{
    if (vec == -1)
        snprintf(buf, len, "none");
    else if (vec == -2)
        snprintf(buf, len, "engine failure");
    else if (vec == -3)
        snprintf(buf, len, "shutdown");
    else if (e->pending_has_err)
        snprintf(buf, len, "#%d(%#x) at EIP %#llx", vec, e->pending_err,
                 (unsigned long long)e->s.rip);
    else
        snprintf(buf, len, "#%d at EIP %#llx", vec, (unsigned long long)e->s.rip);
}

/* The interpreter's result (d->a, d->va, the logged pages) against the current one. */
static unsigned compare(DbtDiff *d, DbtCpu *env, GString *out)
{
    const DbtCpu *a = &d->a;
    unsigned k = 0;
    char ea[64], ej[64];
    exc_name(ea, sizeof(ea), d->va, a);
    exc_name(ej, sizeof(ej), d->vj, env);
    if (strcmp(ea, ej)) {
        k++;
        if (out)
            g_string_append_printf(out, "  %-14s interp %s  jit %s\n", "exception", ea, ej);
    }
    CpuState sa = a->s, sj = env->s;
    sa.rflags = dbt_get_eflags(a);
    sj.rflags = dbt_get_eflags(env);
    k += dbt_state_diff(&sa, &sj, "interp", "jit", out);
    char n[32];
    for (int i = 0; i < 4; i++) {
        snprintf(n, sizeof(n), "PDPTE%d", i);
        k += cmp_val(out, n, "interp", "jit", a->pdpte[i], env->pdpte[i]);
    }
    k += cmp_val(out, "irq_inhibit", "interp", "jit", a->irq_inhibit, env->irq_inhibit);
    k += cmp_val(out, "db_pending", "interp", "jit", a->db_pending, env->db_pending);
    k += cmp_val(out, "db_inhibit", "interp", "jit", a->db_inhibit, env->db_inhibit);
    k += cmp_val(out, "instructions", "interp", "jit", a->st.insns, env->st.insns);
    for (unsigned i = 0; i < d->ndirty; i++) {
        bool jit_only = i >= d->n1;
        const uint8_t *want = (jit_only ? d->old : d->aft) + (size_t)i * d->pg;
        k += cmp_page(out, env->as, d->dirty[i], want, d->pg, jit_only);
    }
    return k;
}

/* ---- one block under both ---- */

/* From the current state: the interpreter, then compiled code. R_SAME (the compiled result
 * stands), R_DIFFERENT (the fields in out), or ONCE_* (the interpreter's result stands). */
static int diff_run(DbtCpu *env, DbtDiff *d, Block *b, GString *out)
{
    uint64_t io0 = io_accesses(env->io), mmio0 = as_mmio_accesses(env->as);
    uint64_t smc0 = env->st.smc_invalidations;
    copy_cpu(&d->snap, env);
    d->logging = true;
    d->vec = d->va = run_one(env, b, false);
    d->logging = false;
    if (io_accesses(env->io) != io0 || as_mmio_accesses(env->as) != mmio0)
        return ONCE_DEVICE;
    if (env->st.smc_invalidations != smc0)
        return ONCE_SMC;
    if (d->log_full || d->lost)
        return ONCE_PAGES;
    if (d->va == -2)
        return ONCE_ERROR;
    copy_cpu(&d->a, env);
    d->n1 = d->ndirty;
    for (unsigned i = 0; i < d->n1; i++) {
        memcpy(d->aft + (size_t)i * d->pg, d->dirty[i], d->pg);
        memcpy(d->dirty[i], d->old + (size_t)i * d->pg, d->pg);
    }
    copy_cpu(env, &d->snap);
    d->logging = true;
    d->vec = d->vj = run_one(env, b, true);
    d->logging = false;
    if (d->hook)
        d->hook(env, b, d->hook_opaque);
    if (d->log_full || d->lost)
        return ONCE_PAGES; /* compiled code wrote more than can be checked: its result stands */
    return compare(d, env, out) ? R_DIFFERENT : R_SAME;
}

/* Back to the state and memory before the last diff_run (every page it logged is writable). */
static void undo(DbtCpu *env, DbtDiff *d)
{
    for (unsigned i = 0; i < d->ndirty; i++)
        memcpy(d->dirty[i], d->old + (size_t)i * d->pg, d->pg);
    copy_cpu(env, &d->snap);
}

/* The first k instructions of b as a block of their own, compiled; NULL if it cannot be. */
static Block *prefix(DbtCpu *env, DbtDiff *d, const Block *b, unsigned k)
{
    unsigned seen = 0;
    uint32_t i;
    for (i = 0; i < b->nops; i++)
        if (b->ops[i].op == IR_INSN && ++seen == k + 1)
            break;
    if (i == b->nops)
        return NULL;
    Block *t = g_new(Block, 1);
    *t = *b;
    t->host_code = NULL;
    t->jit = NULL;
    t->valid = 1;
    t->ops = g_new0(IrOp, i + 1);
    memcpy(t->ops, b->ops, i * sizeof(IrOp));
    t->ops[i].op = IR_EXIT;
    t->ops[i].imm = b->ops[i].imm;
    t->nops = i + 1;
    t->ninsns = k;
    if (!jit_compile(env, t)) {
        g_free(t->ops);
        g_free(t);
        return NULL;
    }
    g_ptr_array_add(d->pieces, t);
    return t;
}

/* The bytes of the instruction at EIP eip of b and their disassembly. */
static void describe_insn(GString *out, DbtCpu *env, const Block *b, uint16_t cs, uint64_t eip)
{
    uint8_t code[16];
    uint64_t off = eip - b->eip, in_page = b->phys & (DBT_PAGE_SIZE - 1);
    for (unsigned i = 0; i < 15; i++) {
        uint64_t o = in_page + off + i;
        uint64_t pa = o < DBT_PAGE_SIZE        ? b->phys + off + i
                      : b->phys_page2 != ~0ull ? b->phys_page2 + (o - DBT_PAGE_SIZE)
                                               : ~0ull;
        code[i] = 0xff;
        if (pa != ~0ull)
            as_read(env->as, pa, &code[i], 1);
    }
    csh h = *(csh *)((b->mode & MODE_CODE32) ? env->cs32 : env->cs16);
    cs_insn *insn = NULL;
    size_t n = cs_disasm(h, code, 15, eip, 1, &insn);
    g_string_append_printf(out, "%04x:%08llx:", cs, (unsigned long long)eip);
    if (n) {
        for (unsigned i = 0; i < insn[0].size; i++)
            g_string_append_printf(out, " %02x", code[i]);
        g_string_append_printf(out, "  %s %s", insn[0].mnemonic, insn[0].op_str);
        cs_free(insn, n);
    } else {
        g_string_append(out, " (bytes Capstone does not decode)");
    }
}

static uint64_t insn_eip(const Block *b, unsigned k)
{
    unsigned seen = 0;
    for (uint32_t i = 0; i < b->nops; i++)
        if (b->ops[i].op == IR_INSN && ++seen == k)
            return b->ops[i].imm;
    return b->eip;
}

/* The back ends disagree on b (fields: the differences over the whole block; the state is
 * compiled code's result): replay ever longer prefixes from the state before it to find the
 * first instruction after which they differ, and write the report. */
static void pin(DbtCpu *env, DbtDiff *d, Block *b, GString *fields)
{
    GString *r = d->report;
    uint16_t cs = d->snap.s.seg[S_CS].sel;
    unsigned n = 0;
    for (uint32_t i = 0; i < b->nops; i++)
        n += b->ops[i].op == IR_INSN;
    g_string_append(r, "dbt-diff: the interpreter and the host-code back end disagree\n");
    g_string_append_printf(r,
                           "dbt-diff: block at %04x:%08llx (linear %#llx, physical %#llx), %u "
                           "instruction%s, mode %#x\n",
                           cs, (unsigned long long)b->eip, (unsigned long long)b->pc,
                           (unsigned long long)b->phys, n, n == 1 ? "" : "s", b->mode);
    GString *f = g_string_new("");
    unsigned found = 0;
    for (unsigned k = 1; k <= n && !found; k++) {
        undo(env, d);
        Block *t = k < n ? prefix(env, d, b, k) : b;
        if (!t)
            continue;
        if (!reprotect(d))
            break;
        g_string_truncate(f, 0);
        int res = diff_run(env, d, t, f);
        if (res == R_DIFFERENT)
            found = k;
        else if (res != R_SAME)
            break;
    }
    if (found) {
        g_string_append_printf(r, "dbt-diff: first difference after instruction %u of %u: ", found,
                               n);
        describe_insn(r, env, b, cs, insn_eip(b, found));
        g_string_append_c(r, '\n');
    } else {
        g_string_append(r, "dbt-diff: no prefix of the block differs on its own; the whole "
                           "block's differences:\n");
        g_string_assign(f, fields->str);
    }
    g_string_append(r, "dbt-diff:   field          values\n");
    char **lines = g_strsplit(f->str, "\n", -1);
    for (char **l = lines; *l; l++)
        if (**l)
            g_string_append_printf(r, "dbt-diff: %s\n", *l);
    g_strfreev(lines);
    g_string_free(f, TRUE);
}

static _Noreturn void rethrow(DbtCpu *env, jmp_buf *outer, int vec)
{
    env->unwind = outer;
    env->pending_exc = vec;
    longjmp(*outer, 1);
}

bool dbt_diff_block(DbtCpu *env, Block *b)
{
    DbtDiff *d = env->diff;
    jmp_buf *outer = env->unwind;
    const uint64_t *r = env->s.regs;
    if (!b->host_code || (r[0] | r[1] | r[2] | r[3] | r[4] | r[5] | r[6] | r[7]) >> 32) {
        d->once[ONCE_INTERP]++;
        dbt_interp(env, b); /* exceptions go straight to dbt_exec */
        return true;
    }
    if (reads_time(b)) {
        d->once[ONCE_TIME]++;
        env->jit_limit = 0;
        jit_run(env, b);
        return true;
    }
    char err[128] = "";
    if (!sync_ranges(d, env->as, err, sizeof(err)))
        dbt_fail(env, "dbt-diff: cannot track guest memory writes: %s", err);
    if (!reprotect(d))
        dbt_fail(env, "dbt-diff: cannot track guest memory writes: mprotect: %s", strerror(errno));
    int res = diff_run(env, d, b, NULL);
    if (res == R_DIFFERENT) {
        GString *fields = g_string_new("");
        compare(d, env, fields);
        pin(env, d, b, fields);
        g_string_free(fields, TRUE);
        env->unwind = outer;
        return false;
    }
    if (res == R_SAME) {
        d->compared++;
        d->compared_exc += d->vj >= 0;
    } else {
        d->once[res]++;
    }
    env->unwind = outer;
    if (d->vec != -1)
        rethrow(env, outer, d->vec);
    return true;
}

/* ---- setup ---- */

bool dbt_diff_attach(DbtCpu *env, char *err, size_t errlen)
{
    if (env->diff)
        return true;
    if (active) {
        snprintf(err, errlen, "another CPU is already being compared");
        return false;
    }
    DbtDiff *d = g_new0(DbtDiff, 1);
    d->pg = (size_t)sysconf(_SC_PAGESIZE);
    d->old = g_malloc((size_t)LOG_PAGES * d->pg);
    d->aft = g_malloc((size_t)LOG_PAGES * d->pg);
    d->report = g_string_new("");
    d->pieces = g_ptr_array_new();
    struct sigaction sa = {.sa_sigaction = on_segv, .sa_flags = SA_SIGINFO};
    sigemptyset(&sa.sa_mask);
    err[0] = 0;
    if (!installed && sigaction(SIGSEGV, &sa, &old_segv))
        snprintf(err, errlen, "sigaction: %s", strerror(errno));
    else
        installed = true;
    active = d;
    if (err[0] || !sync_ranges(d, env->as, err, errlen)) {
        active = NULL;
        g_free(d->old);
        g_free(d->aft);
        g_string_free(d->report, TRUE);
        g_ptr_array_free(d->pieces, TRUE);
        g_free(d);
        return false;
    }
    env->diff = d;
    return true;
}

void dbt_diff_detach(DbtCpu *env)
{
    DbtDiff *d = env->diff;
    if (!d)
        return;
    protect(d->r, d->nr, PROT_READ | PROT_WRITE);
    active = NULL;
    for (guint i = 0; i < d->pieces->len; i++) {
        Block *t = g_ptr_array_index(d->pieces, i);
        jit_block_free(t);
        g_free(t->ops);
        g_free(t);
    }
    g_ptr_array_free(d->pieces, TRUE);
    g_string_free(d->report, TRUE);
    g_free(d->old);
    g_free(d->aft);
    g_free(d);
    env->diff = NULL;
}

const char *dbt_diff_report(const DbtCpu *env)
{
    return env->diff ? env->diff->report->str : "";
}

void dbt_diff_set_test_hook(DbtCpu *env, DbtDiffHook hook, void *opaque)
{
    if (!env->diff)
        return;
    env->diff->hook = hook;
    env->diff->hook_opaque = opaque;
}

void dbt_diff_print_stats(const DbtCpu *env, FILE *f)
{
    const DbtDiff *d = env->diff;
    if (!d)
        return;
    const uint64_t *o = d->once;
    fprintf(f, "dbt: diff: blocks compared   %llu (%llu of them raised an exception)\n",
            (unsigned long long)d->compared, (unsigned long long)d->compared_exc);
    fprintf(f,
            "dbt: diff: blocks run once   %llu device, %llu TSC/MSR, %llu self-modifying, "
            "%llu too many pages written, %llu not compiled, %llu engine errors\n",
            (unsigned long long)o[ONCE_DEVICE], (unsigned long long)o[ONCE_TIME],
            (unsigned long long)o[ONCE_SMC], (unsigned long long)o[ONCE_PAGES],
            (unsigned long long)o[ONCE_INTERP], (unsigned long long)o[ONCE_ERROR]);
}
