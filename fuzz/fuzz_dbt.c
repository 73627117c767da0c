/* fuzz/fuzz_dbt.c: the translator on random instruction bytes from a random state, in each CPU
 * mode (fuzz/ops.h: DBT_MODE_*), with either back end.
 *
 * Each input builds a PC (4 MiB), lays out what a small protected-mode kernel would have (GDT
 * with flat, 16-bit, ring-3 and TSS descriptors plus eight descriptors from the input, an IDT
 * whose every gate leads to a HLT, a TSS, page tables), puts the input's code at 0x10000 and
 * starts the CPU there in the chosen mode with registers from the input. The run goes through
 * the engine interface (accel_dbt_ops) and must end in a result: HLT (an exception or interrupt
 * reached its handler, or the code halted), a triple fault, an engine error (an unimplemented
 * instruction is reported, not a crash), the exit device, or the instruction budget running out;
 * never a host crash, a sanitizer report or a hang.
 *
 * The budget: virtual time stands still and the deadline is "now", so a run() returns after at
 * most 256 block entries (dbt_exec looks at the clock every 256 entries, and at once after
 * compiled code ran 1024 instructions or more; compiled code runs at most 65536 between
 * entries, a REP string instruction at most 4096 elements). RUNS such runs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accel/accel.h"
#include "dbt/dbt.h"
#include "dbt/diff.h"
#include "fuzz/fuzz.h"
#include "fuzz/ops.h"
#include "hw/pc.h"

#define RUNS 1

/* the guest-physical layout */
#define REAL_STUB 0x0600u /* real-mode handlers: HLT */
#define GDT_BASE 0x1000u
#define GDT_ENTRIES 24
#define LDT_BASE 0x1800u
#define IDT_BASE 0x2000u
#define PM_STUB 0x3000u /* protected-mode handlers: HLT */
#define TSS_BASE 0x4000u
#define PD_BASE 0x5000u
#define PT_BASE 0x6000u
#define PDPT_BASE 0x7000u
#define PAE_PD_BASE 0x8000u
#define STACK0_TOP 0xb000u
#define STACK3_TOP 0xd000u
#define CODE_BASE 0x10000u
#define DATA_BASE 0x20000u

enum {
    SEL_CODE32 = 0x08,
    SEL_DATA32 = 0x10,
    SEL_CODE16 = 0x18,
    SEL_DATA16 = 0x20,
    SEL_CODE3 = 0x2b,
    SEL_DATA3 = 0x33,
    SEL_TSS = 0x38,
    SEL_LDT = 0x80,
    SEL_GATE = 0x88
};

static uint64_t desc(uint32_t base, uint32_t limit, unsigned attr)
{
    /* attr in SegCache layout: type:4 S DPL:2 P, then limit 19:16 (ignored here), AVL L DB G */
    bool g = attr & SEG_G;
    uint32_t lim = g ? limit >> 12 : limit;
    return (uint64_t)(lim & 0xffff) | (uint64_t)(base & 0xffffff) << 16 |
           (uint64_t)(attr & 0xff) << 40 | (uint64_t)(lim >> 16 & 0xf) << 48 |
           (uint64_t)(attr >> 12 & 0xf) << 52 | (uint64_t)(base >> 24) << 56;
}

/* The cache a descriptor load would leave. */
static SegCache cache_of(uint16_t sel, uint64_t d)
{
    SegCache c;
    c.sel = sel;
    c.base = (d >> 16 & 0xffffff) | (d >> 56 & 0xff) << 24;
    uint32_t lim = (uint32_t)(d & 0xffff) | (uint32_t)(d >> 48 & 0xf) << 16;
    c.attr = (uint16_t)((d >> 40 & 0xff) | (d >> 52 & 0xf) << 12);
    c.limit = (c.attr & SEG_G) ? lim << 12 | 0xfff : lim;
    return c;
}

static void put64(uint8_t *ram, uint32_t gpa, uint64_t v)
{
    memcpy(ram + gpa, &v, 8);
}

static void put32(uint8_t *ram, uint32_t gpa, uint32_t v)
{
    memcpy(ram + gpa, &v, 4);
}

static void seg_flat(CpuState *s, int i, uint16_t sel, uint64_t d)
{
    s->seg[i] = cache_of(sel, d);
}

/* FUZZ_TRACE=1: how each run ended, on stderr */
static bool trace;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    trace = getenv("FUZZ_TRACE") != NULL;
    return 0;
}

/* How a run ended, for the differential mode. */
typedef struct Outcome {
    VcpuExit exit;
    CpuState s;
    uint64_t ram_hash; /* the first MiB: tables, stacks, code, data */
    char error[512];
} Outcome;

/* One run; backend -1: as the input's flags say. */
static void run_one(const uint8_t *data, size_t size, int force_backend, Outcome *o)
{
    FuzzIn in = {data, size};
    unsigned mode = fz_u8(&in) % DBT_MODE_COUNT;
    uint8_t flags = fz_u8(&in);
    uint8_t st[FUZZ_DBT_STATE_BYTES];
    fz_bytes(&in, st, sizeof(st));
    FuzzIn sin = {st, sizeof(st)};
    size_t code_len = in.n < FUZZ_DBT_CODE_MAX ? in.n : FUZZ_DBT_CODE_MAX;

    int backend = (flags & 1) && dbt_backend_available(DBT_BACKEND_JIT) ? DBT_BACKEND_JIT
                                                                        : DBT_BACKEND_INTERP;
    if (force_backend >= 0)
        backend = force_backend;
    dbt_set_default_backend(backend);
    MachineConfig cfg = {.ram_size = FUZZ_RAM_SIZE, .serial = "none", .debugcon = "none"};
    cfg.no_apic = flags & 2;
    char err[256];
    Machine *m = pc_new(&cfg, err, sizeof(err));
    if (!m) {
        fprintf(stderr, "fuzz_dbt: pc_new: %s\n", err);
        abort();
    }
    /* virtual time stands still from here; the reset restarts the devices' counters (the
     * PIT's) at this moment, so that two runs of one input see the same values */
    clock_set_test_time(m->clock, 1000000000);
    m->reset(m);
    uint8_t *ram = m->ram;
    /* the PICs initialised (vectors 0x20-0x2f) and masked, unless flags bit 2: the PIT's first
     * edge is then an interrupt at the first instruction with IF set */
    static const uint8_t icw[2][4] = {{0x11, 0x20, 0x04, 0x01}, {0x11, 0x28, 0x02, 0x01}};
    for (int c = 0; c < 2; c++) {
        io_write(m->io, c ? 0xa0 : 0x20, icw[c][0], 1);
        for (int i = 1; i < 4; i++)
            io_write(m->io, c ? 0xa1 : 0x21, icw[c][i], 1);
        io_write(m->io, c ? 0xa1 : 0x21, flags & 4 ? 0 : 0xff, 1);
    }

    /* state: GPRs, EFLAGS, control register bits, selectors, eight descriptors */
    CpuState s;
    cpu_reset(&s);
    for (int i = 0; i < 8; i++)
        s.regs[i] = fz_u32(&sin);
    uint32_t eflags = fz_u32(&sin);
    uint8_t cr0_bits = fz_u8(&sin);
    uint16_t cr4_bits = fz_u16(&sin);
    uint8_t pte_bits = fz_u8(&sin);
    uint8_t sels[6];
    fz_bytes(&sin, sels, sizeof(sels));
    uint16_t table_bits = fz_u16(&sin);
    uint32_t dr7 = fz_u32(&sin);
    uint64_t rand_desc[8];
    for (int i = 0; i < 8; i++)
        rand_desc[i] = fz_u64(&sin);
    uint16_t fcw = fz_u16(&sin);
    uint32_t mxcsr = fz_u32(&sin);
    uint32_t efer_bits = fz_u8(&sin);

    /* the tables */
    uint64_t gdt[GDT_ENTRIES] = {0};
    gdt[1] = desc(0, 0xffffffff, SEG_P | SEG_S | 0xb | SEG_DB | SEG_G);
    gdt[2] = desc(0, 0xffffffff, SEG_P | SEG_S | 0x3 | SEG_DB | SEG_G);
    gdt[3] = desc(CODE_BASE, 0xffff, SEG_P | SEG_S | 0xb);
    gdt[4] = desc(DATA_BASE, 0xffff, SEG_P | SEG_S | 0x3);
    gdt[5] = desc(0, 0xffffffff, SEG_P | SEG_S | 0xb | 3 << SEG_DPL_SHIFT | SEG_DB | SEG_G);
    gdt[6] = desc(0, 0xffffffff, SEG_P | SEG_S | 0x3 | 3 << SEG_DPL_SHIFT | SEG_DB | SEG_G);
    gdt[7] = desc(TSS_BASE, 0x2067, SEG_P | 0xb); /* 32-bit TSS, busy (TR), with an I/O map */
    for (int i = 0; i < 8; i++)
        gdt[8 + i] = rand_desc[i];
    gdt[16] = desc(LDT_BASE, 0x3f, SEG_P | 0x2);
    /* a call gate to ring 0 (DPL 3), 32-bit, to the HLT stub */
    gdt[17] = (uint64_t)(PM_STUB & 0xffff) | (uint64_t)SEL_CODE32 << 16 | (uint64_t)0xec << 40 |
              (uint64_t)(PM_STUB >> 16) << 48;
    gdt[18] = desc(TSS_BASE + 0x100, 0x67, SEG_P | 0x9); /* a second TSS for task switches */
    memcpy(ram + GDT_BASE, gdt, sizeof(gdt));
    memcpy(ram + LDT_BASE, gdt, 8 * 8); /* the LDT: the same first eight */
    for (int v = 0; v < 256; v++) {
        uint64_t gate = (uint64_t)(PM_STUB & 0xffff) | (uint64_t)SEL_CODE32 << 16 |
                        (uint64_t)(v == 0x80 ? 0xef : 0xee) << 40 | /* 0x80: a trap gate */
                        (uint64_t)(PM_STUB >> 16) << 48;
        put64(ram, IDT_BASE + 8 * v, gate);
        put32(ram, 4 * v, (REAL_STUB >> 4) << 16); /* IVT: 0060:0000 */
    }
    ram[REAL_STUB] = 0xf4;     /* hlt */
    ram[REAL_STUB + 1] = 0xeb; /* jmp $-3 (back to the hlt) */
    ram[REAL_STUB + 2] = 0xfd;
    ram[PM_STUB] = 0xf4;
    ram[PM_STUB + 1] = 0xeb;
    ram[PM_STUB + 2] = 0xfd;
    /* TSS: ring-0 stack, an all-zero I/O permission map (every port allowed), and the VME
     * interrupt redirection map just below it */
    put32(ram, TSS_BASE + 4, STACK0_TOP);
    put32(ram, TSS_BASE + 8, SEL_DATA32);
    put32(ram, TSS_BASE + 0x64, 0x68u << 16);
    put32(ram, TSS_BASE + 0x100 + 0x20, PM_STUB);    /* the second TSS: EIP */
    put32(ram, TSS_BASE + 0x100 + 0x4c, SEL_CODE32); /* CS */
    put32(ram, TSS_BASE + 0x100 + 0x50, SEL_DATA32); /* SS */
    put32(ram, TSS_BASE + 0x100 + 0x38, STACK0_TOP); /* ESP */
    put32(ram, TSS_BASE + 0x100 + 0x24, 0x2);        /* EFLAGS */
    /* page tables: identity for the first 4 MiB, 4 KiB pages (or PSE, or PAE), with a few
     * entries' bits flipped by the input (not present, read-only, supervisor) */
    for (uint32_t i = 0; i < 1024; i++)
        put32(ram, PT_BASE + 4 * i, i << 12 | 0x7);
    put32(ram, PD_BASE, PT_BASE | 0x7);
    if (cr4_bits & 1)
        put32(ram, PD_BASE + 4, 0x400000 | 0x87); /* a 4 MiB page (PSE) above RAM */
    for (int k = 0; k < 3 && (pte_bits & 0x80); k++) {
        static const uint32_t pages[4] = {CODE_BASE >> 12, DATA_BASE >> 12, (STACK0_TOP >> 12) - 1,
                                          (CODE_BASE >> 12) + 1};
        uint32_t page = pages[pte_bits >> (2 * k) & 3];
        uint32_t clear = k == 0 ? 2 : k == 1 ? 4 : 1; /* R/W, U/S, P */
        uint32_t pte;
        memcpy(&pte, ram + PT_BASE + 4 * page, 4);
        put32(ram, PT_BASE + 4 * page, pte & ~clear);
    }
    put64(ram, PDPT_BASE, PAE_PD_BASE | 1);
    put64(ram, PAE_PD_BASE, 0x000000 | 0x87);
    put64(ram, PAE_PD_BASE + 8, 0x200000 | 0x87 | (efer_bits & 2 ? 1ull << 63 : 0));
    /* data to work on */
    for (uint32_t i = 0; i < 0x10000; i++)
        ram[DATA_BASE + i] = (uint8_t)(i * 37 + (i >> 8));
    /* the code */
    fz_bytes(&in, ram + CODE_BASE, code_len);

    s.gdt.base = GDT_BASE;
    s.gdt.limit = (uint16_t)(table_bits & 0x100 ? (table_bits & 0xff) * 8 : GDT_ENTRIES * 8 - 1);
    s.idt.base = IDT_BASE;
    s.idt.limit = (uint16_t)(table_bits & 0x200 ? (table_bits >> 10) * 16 : 256 * 8 - 1);
    s.dr[7] = (dr7 & 0xffff00ffu) | 0x400;
    s.dr[0] = CODE_BASE + (dr7 & 0x3f);
    s.dr[1] = DATA_BASE + ((dr7 >> 6) & 0x3f);
    s.fcw = fcw;
    s.mxcsr = mxcsr & 0xffff;
    s.rflags = (eflags & 0x3f7fd5u & ~(uint32_t)(FL_VM | FL_RF)) | FL_FIXED1;
    s.regs[R_ESP] = mode == DBT_MODE_RING3 ? STACK3_TOP - (s.regs[R_ESP] & 0xff)
                                           : STACK0_TOP - (s.regs[R_ESP] & 0xff);
    s.cr0 |= cr0_bits & (CR0_MP | CR0_EM | CR0_TS | CR0_NE);
    if (cr0_bits & 0x40)
        s.cr0 |= CR0_WP;
    if (cr0_bits & 0x80)
        s.cr0 |= CR0_AM;
    s.cr4 = cr4_bits & (CR4_VME | CR4_PVI | CR4_TSD | CR4_DE | CR4_PSE | CR4_PGE | CR4_OSFXSR |
                        CR4_OSXMMEXCPT);
    s.efer = efer_bits & 1 ? EFER_NXE : 0;
    s.tr = cache_of(SEL_TSS, gdt[7]);
    s.tr.attr |= 0x2; /* busy */
    s.ldt = cache_of(SEL_LDT, gdt[16]);

    uint64_t code3 = gdt[5], data3 = gdt[6];
    switch (mode) {
    case DBT_MODE_REAL:
        for (int i = 0; i < CPU_NR_SEGS; i++)
            cpu_load_seg_real(&s, i, (uint16_t)(DATA_BASE >> 4));
        cpu_load_seg_real(&s, S_CS, (uint16_t)(CODE_BASE >> 4));
        cpu_load_seg_real(&s, S_SS, 0);
        s.rip = 0;
        s.idt.base = 0;
        s.idt.limit = 0x3ff;
        s.cr4 = 0;
        break;
    case DBT_MODE_PM16:
        cpu_set_flat32(&s, 0);
        s.cr0 |= cr0_bits & (CR0_MP | CR0_EM | CR0_TS | CR0_NE);
        seg_flat(&s, S_CS, SEL_CODE16, gdt[3]);
        for (int i = 0; i < CPU_NR_SEGS; i++)
            if (i != S_CS)
                seg_flat(&s, i, SEL_DATA16, gdt[4]);
        seg_flat(&s, S_SS, SEL_DATA32, gdt[2]);
        s.regs[R_ESP] &= 0xffff;
        break;
    case DBT_MODE_PM32:
    case DBT_MODE_PAGING:
        cpu_set_flat32(&s, CODE_BASE);
        s.cr0 |= cr0_bits & (CR0_MP | CR0_EM | CR0_TS | CR0_NE);
        if (mode == DBT_MODE_PAGING) {
            s.cr0 |= CR0_PG | (cr0_bits & 0x40 ? CR0_WP : 0);
            if (cr4_bits & 0x8000) {
                s.cr4 |= CR4_PAE;
                s.cr3 = PDPT_BASE;
            } else {
                s.cr3 = PD_BASE;
            }
        }
        break;
    case DBT_MODE_RING3:
        cpu_set_flat32(&s, CODE_BASE);
        s.cr0 |= cr0_bits & (CR0_MP | CR0_EM | CR0_TS | CR0_NE);
        seg_flat(&s, S_CS, SEL_CODE3, code3);
        for (int i = 0; i < CPU_NR_SEGS; i++)
            if (i != S_CS)
                seg_flat(&s, i, SEL_DATA3, data3);
        if (cr4_bits & 0x4000) {
            s.cr0 |= CR0_PG;
            s.cr3 = PD_BASE;
        }
        break;
    case DBT_MODE_VM86:
        cpu_set_flat32(&s, 0);
        s.cr0 |= cr0_bits & (CR0_MP | CR0_EM | CR0_TS | CR0_NE);
        for (int i = 0; i < CPU_NR_SEGS; i++) {
            cpu_load_seg_real(&s, i, (uint16_t)(DATA_BASE >> 4));
            s.seg[i].attr |= 3 << SEG_DPL_SHIFT;
        }
        cpu_load_seg_real(&s, S_CS, (uint16_t)(CODE_BASE >> 4));
        cpu_load_seg_real(&s, S_SS, (uint16_t)((STACK3_TOP >> 4) - 0x100));
        for (int i = 0; i < CPU_NR_SEGS; i++)
            s.seg[i].attr |= 3 << SEG_DPL_SHIFT;
        s.regs[R_ESP] &= 0xfff;
        s.rflags |= FL_VM;
        s.rip = 0;
        break;
    case DBT_MODE_RAW: {
        /* segment caches from the random descriptors, made loadable: CS code, SS writable */
        cpu_set_flat32(&s, CODE_BASE);
        s.cr0 |= cr0_bits & (CR0_MP | CR0_EM | CR0_TS | CR0_NE);
        for (int i = 0; i < CPU_NR_SEGS; i++) {
            unsigned k = sels[i] & 7;
            uint64_t d = rand_desc[k];
            if (sels[i] & 0x80) /* else keep the flat one */
                s.seg[i] = cache_of((uint16_t)((8 + k) * 8 | (sels[i] >> 3 & 3)), d);
        }
        s.seg[S_CS].attr |= SEG_P | SEG_S | 0x8;
        s.seg[S_CS].attr &= (uint16_t)~SEG_L;
        s.seg[S_SS].attr = (uint16_t)((s.seg[S_SS].attr & ~0xfu) | SEG_P | SEG_S | 0x3);
        s.seg[S_SS].sel = (uint16_t)((s.seg[S_SS].sel & ~3u) | (s.seg[S_CS].sel & 3));
        if (sels[0] & 0x40) { /* unreal/real mode with whatever caches */
            s.cr0 &= ~(uint64_t)CR0_PE;
        } else if (sels[1] & 0x40) { /* paging with page tables from the input */
            s.cr0 |= CR0_PG;
            s.cr3 = (uint32_t)(rand_desc[0] & 0x3ff000);
            s.cr4 |= cr4_bits & 0x8000 ? CR4_PAE : 0;
            if (s.cr4 & CR4_PAE)
                s.cr3 = (uint32_t)(rand_desc[0] & 0x3fffe0);
        }
        s.rip = (sels[2] & 0x40) ? s.regs[R_EBP] & 0xffff : CODE_BASE - s.seg[S_CS].base;
        s.rflags |= eflags & FL_IOPL;
        break;
    }
    }

    Vcpu v = {.machine = m, .ops = &accel_dbt_ops};
    if (v.ops->init(&v)) {
        fprintf(stderr, "fuzz_dbt: %s\n", v.error);
        abort();
    }
    v.ops->set_state(&v, &s);
    DbtCpu *env = v.engine;
    if ((s.cr0 & CR0_PG) && (s.cr4 & CR4_PAE))
        dbt_load_pdptes(env, s.cr3);
    VcpuExit e = VCPU_EXIT_DEADLINE;
    for (int r = 0; r < RUNS; r++) {
        v.kick = 0;
        v.deadline_ns = clock_ns(m->clock);
        e = v.ops->run(&v);
        if (e != VCPU_EXIT_DEADLINE)
            break;
    }
    CpuState out;
    v.ops->get_state(&v, &out);
    o->exit = e;
    o->s = out;
    snprintf(o->error, sizeof(o->error), "%s", m->stop ? m->stop_msg : env->error);
    uint64_t h = 1469598103934665603ull;
    for (uint32_t i = 0; i < (1u << 20); i++)
        h = (h ^ ram[i]) * 1099511628211ull;
    o->ram_hash = h;
    if (trace)
        fprintf(stderr, "mode %u %s: %llu instructions, %llu blocks, stop at %04x:%08llx%s%s %s\n",
                mode, backend == DBT_BACKEND_JIT ? "jit" : "interp",
                (unsigned long long)env->st.insns, (unsigned long long)env->st.blocks_run,
                out.seg[S_CS].sel, (unsigned long long)out.rip, out.halted ? " halted" : "",
                m->stop ? " stop:" : "", m->stop ? m->stop_msg : env->error);
    v.ops->destroy(&v);
    pc_free(m);
}

/* The two runs agree: how they ended, RAM, and every field of the CPU state, compared by the
 * translator's differential mode's own comparison (dbt_state_diff); out (if not NULL) gets one
 * line per difference. */
static bool same_outcome(const Outcome *a, const Outcome *b, GString *out)
{
    unsigned k = dbt_state_diff(&a->s, &b->s, "interp", "jit", out);
    if (a->exit != b->exit || strcmp(a->error, b->error)) {
        k++;
        if (out)
            g_string_append_printf(out, "  exit: interp %d (%s)  jit %d (%s)\n", (int)a->exit,
                                   a->error, (int)b->exit, b->error);
    }
    if (a->ram_hash != b->ram_hash) {
        k++;
        if (out)
            g_string_append_printf(out, "  RAM hash: interp %016llx  jit %016llx\n",
                                   (unsigned long long)a->ram_hash,
                                   (unsigned long long)b->ram_hash);
    }
    return k == 0;
}

/* flags bit 3: the same input under both back ends, which must agree (DESIGN.md: the
 * interpreter and the host-code back end run the same IR, instruction for instruction). Runs
 * that end by the budget are not compared: the two count it differently. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t flags = size > 1 ? data[1] : 0;
    static Outcome a, b;
    if (!(flags & 8) || !dbt_backend_available(DBT_BACKEND_JIT)) {
        run_one(data, size, -1, &a);
        return 0;
    }
    run_one(data, size, DBT_BACKEND_INTERP, &a);
    run_one(data, size, DBT_BACKEND_JIT, &b);
    if (a.exit == VCPU_EXIT_DEADLINE || b.exit == VCPU_EXIT_DEADLINE || same_outcome(&a, &b, NULL))
        return 0;
    /* A difference counts only if each back end gives the same result again: the RTC reads
     * the host's clock, which may tick between two runs. */
    static Outcome a2, b2;
    run_one(data, size, DBT_BACKEND_INTERP, &a2);
    run_one(data, size, DBT_BACKEND_JIT, &b2);
    if (!same_outcome(&a, &a2, NULL) || !same_outcome(&b, &b2, NULL))
        return 0;
    GString *why = g_string_new("");
    same_outcome(&a, &b, why);
    fprintf(stderr, "fuzz_dbt: the interpreter and the host-code back end disagree\n%s", why->str);
    g_string_free(why, TRUE);
    abort();
}
