/* Segment loads and interrupt/exception delivery, by the rules of the Intel SDM vol. 3 ch. 5-6:
 * real-mode IVT, protected-mode IDT gates with privilege checks and the TSS stack switch, and
 * virtual-8086 entry frames. Faults during delivery escalate to #DF and then shutdown. */
#include "dbt/dbt.h"

#define DESC_TYPE(hi) (((hi) >> 8) & 0xf)
#define DESC_S(hi) (((hi) >> 12) & 1)
#define DESC_DPL(hi) (((hi) >> 13) & 3)
#define DESC_P(hi) (((hi) >> 15) & 1)

static void desc_to_cache(SegCache *c, uint16_t sel, uint32_t lo, uint32_t hi)
{
    c->sel = sel;
    c->base = (lo >> 16) | ((hi & 0xff) << 16) | (hi & 0xff000000u);
    uint32_t limit = (lo & 0xffff) | (hi & 0xf0000);
    if (hi & (1u << 23))
        limit = (limit << 12) | 0xfff;
    c->limit = limit;
    c->attr = (hi >> 8) & 0xf0ff;
}

/* Read the 8-byte descriptor for sel from the GDT or LDT. Raises #GP(sel) past the limit. */
static uint64_t desc_addr(DbtCpu *env, uint16_t sel, int exc)
{
    uint64_t base;
    uint32_t limit;
    if (sel & 4) {
        if (!(env->s.ldt.attr & SEG_P))
            dbt_raise(env, exc, 1, sel & 0xfffc);
        base = env->s.ldt.base;
        limit = env->s.ldt.limit;
    } else {
        base = env->s.gdt.base;
        limit = env->s.gdt.limit;
    }
    if ((uint32_t)(sel & ~7u) + 7 > limit)
        dbt_raise(env, exc, 1, sel & 0xfffc);
    return base + (sel & ~7u);
}

static void read_desc(DbtCpu *env, uint16_t sel, uint32_t *lo, uint32_t *hi, int exc)
{
    uint64_t a = desc_addr(env, sel, exc);
    *lo = (uint32_t)dbt_ld_lin(env, a, 4);
    *hi = (uint32_t)dbt_ld_lin(env, a + 4, 4);
}

static void set_accessed(DbtCpu *env, uint16_t sel, uint32_t hi)
{
    if (!(hi & 0x100)) {
        uint64_t a = desc_addr(env, sel, EXC_GP);
        dbt_st_lin(env, a + 4, hi | 0x100, 4);
    }
}

void dbt_load_seg(DbtCpu *env, int seg, uint16_t sel)
{
    SegCache *c = &env->s.seg[seg];
    if (!(env->s.cr0 & CR0_PE) || (env->s.rflags & FL_VM)) {
        c->sel = sel;
        c->base = (uint64_t)sel << 4;
        if (env->s.rflags & FL_VM) {
            c->limit = 0xffff;
            c->attr = SEG_P | SEG_S | (3 << SEG_DPL_SHIFT) | (seg == S_CS ? 0xb : 0x3);
        }
        /* real mode keeps the limit and attributes (unreal mode works) */
        return;
    }
    unsigned cpl = dbt_cpl(env), rpl = sel & 3;
    if ((sel & ~3u) == 0) {
        if (seg == S_SS || seg == S_CS)
            dbt_raise(env, EXC_GP, 1, 0);
        c->sel = sel;
        c->base = 0;
        c->limit = 0;
        c->attr = 0; /* not present: any access raises #GP */
        return;
    }
    uint32_t lo, hi;
    read_desc(env, sel, &lo, &hi, EXC_GP);
    unsigned type = DESC_TYPE(hi), dpl = DESC_DPL(hi);
    if (!DESC_S(hi))
        dbt_raise(env, EXC_GP, 1, sel & 0xfffc);
    if (seg == S_SS) {
        if (rpl != cpl || dpl != cpl || (type & 0x8) || !(type & 0x2))
            dbt_raise(env, EXC_GP, 1, sel & 0xfffc);
        if (!DESC_P(hi))
            dbt_raise(env, EXC_SS, 1, sel & 0xfffc);
    } else {
        /* data or readable code */
        if ((type & 0xa) == 0x8)
            dbt_raise(env, EXC_GP, 1, sel & 0xfffc);
        bool conforming_code = (type & 0xc) == 0xc;
        if (!conforming_code && (rpl > dpl || cpl > dpl))
            dbt_raise(env, EXC_GP, 1, sel & 0xfffc);
        if (!DESC_P(hi))
            dbt_raise(env, EXC_NP, 1, sel & 0xfffc);
    }
    set_accessed(env, sel, hi);
    desc_to_cache(c, sel, lo, hi | 0x100);
}

/* Load CS for a far transfer to a code segment (no gates), with the checks of JMP/CALL far.
 * Returns the new cache in *out without installing it. */
void dbt_check_code_seg(DbtCpu *env, uint16_t sel, SegCache *out, unsigned *new_cpl)
{
    unsigned cpl = dbt_cpl(env), rpl = sel & 3;
    if ((sel & ~3u) == 0)
        dbt_raise(env, EXC_GP, 1, 0);
    uint32_t lo, hi;
    read_desc(env, sel, &lo, &hi, EXC_GP);
    if (!DESC_S(hi) || !(DESC_TYPE(hi) & 0x8))
        dbt_fail(env, "far transfer through a system descriptor (selector %#x, type %u): call "
                      "gates and task switches are not implemented yet",
                 sel, DESC_TYPE(hi));
    unsigned dpl = DESC_DPL(hi);
    if (DESC_TYPE(hi) & 0x4) {
        if (dpl > cpl) /* conforming */
            dbt_raise(env, EXC_GP, 1, sel & 0xfffc);
    } else if (rpl > cpl || dpl != cpl) {
        dbt_raise(env, EXC_GP, 1, sel & 0xfffc);
    }
    if (!DESC_P(hi))
        dbt_raise(env, EXC_NP, 1, sel & 0xfffc);
    set_accessed(env, sel, hi);
    desc_to_cache(out, (sel & ~3u) | cpl, lo, hi | 0x100);
    *new_cpl = cpl;
}

/* Read a descriptor for a privilege-changing return (RET far / IRET to an outer level). */
void dbt_read_desc_cache(DbtCpu *env, uint16_t sel, SegCache *out, uint32_t *hi_out)
{
    uint32_t lo, hi;
    if ((sel & ~3u) == 0)
        dbt_raise(env, EXC_GP, 1, 0);
    read_desc(env, sel, &lo, &hi, EXC_GP);
    set_accessed(env, sel, hi);
    desc_to_cache(out, sel, lo, hi | 0x100);
    *hi_out = hi;
}

static bool contributory(int v)
{
    return v == EXC_DE || v == EXC_TS || v == EXC_NP || v == EXC_SS || v == EXC_GP;
}

static void deliver_real(DbtCpu *env, int vector, uint64_t ret_eip)
{
    if ((uint32_t)vector * 4 + 3 > env->s.idt.limit)
        dbt_raise(env, EXC_GP, 1, vector * 8 + 2);
    uint32_t ent = (uint32_t)dbt_ld_lin(env, env->s.idt.base + vector * 4, 4);
    uint32_t flags = dbt_get_eflags(env);
    uint32_t sp = (uint32_t)env->s.regs[R_ESP];
    uint32_t mask = (env->s.seg[S_SS].attr & SEG_DB) ? 0xffffffff : 0xffff;
    uint64_t ssb = env->s.seg[S_SS].base;
    dbt_st_lin(env, ssb + ((sp - 2) & mask), flags, 2);
    dbt_st_lin(env, ssb + ((sp - 4) & mask), env->s.seg[S_CS].sel, 2);
    dbt_st_lin(env, ssb + ((sp - 6) & mask), ret_eip, 2);
    env->s.regs[R_ESP] = (sp & ~mask) | ((sp - 6) & mask);
    env->s.rflags &= ~(uint64_t)(FL_IF | FL_TF | FL_AC | FL_RF);
    env->s.seg[S_CS].sel = ent >> 16;
    env->s.seg[S_CS].base = (ent >> 16) << 4;
    env->s.rip = ent & 0xffff;
}

static void deliver_protected(DbtCpu *env, int vector, bool is_sw, bool has_err, uint32_t err,
                              uint64_t ret_eip)
{
    uint32_t gerr = vector * 8 + 2 + (is_sw ? 0 : 1);
    if ((uint32_t)vector * 8 + 7 > env->s.idt.limit)
        dbt_raise(env, EXC_GP, 1, gerr);
    uint64_t ga = env->s.idt.base + vector * 8;
    uint32_t glo = (uint32_t)dbt_ld_lin(env, ga, 4), ghi = (uint32_t)dbt_ld_lin(env, ga + 4, 4);
    unsigned gtype = DESC_TYPE(ghi), cpl = dbt_cpl(env);
    if (DESC_S(ghi) || !(gtype == 0x6 || gtype == 0x7 || gtype == 0xe || gtype == 0xf)) {
        if (!DESC_S(ghi) && gtype == 0x5)
            dbt_fail(env, "interrupt %d through a task gate: task switching is not implemented yet",
                     vector);
        dbt_raise(env, EXC_GP, 1, gerr);
    }
    if (is_sw && DESC_DPL(ghi) < cpl)
        dbt_raise(env, EXC_GP, 1, gerr);
    if (!DESC_P(ghi))
        dbt_raise(env, EXC_NP, 1, gerr);
    bool gate32 = gtype & 0x8;
    uint16_t csel = glo >> 16;
    uint32_t off = (glo & 0xffff) | (gate32 ? (ghi & 0xffff0000u) : 0);

    if ((csel & ~3u) == 0)
        dbt_raise(env, EXC_GP, 1, is_sw ? 0 : 1);
    uint32_t clo, chi;
    read_desc(env, csel, &clo, &chi, EXC_GP);
    unsigned dpl = DESC_DPL(chi);
    if (!DESC_S(chi) || !(DESC_TYPE(chi) & 0x8) || dpl > cpl)
        dbt_raise(env, EXC_GP, 1, (csel & 0xfffc) | (is_sw ? 0 : 1));
    if (!DESC_P(chi))
        dbt_raise(env, EXC_NP, 1, (csel & 0xfffc) | (is_sw ? 0 : 1));
    bool conforming = DESC_TYPE(chi) & 0x4;
    bool from_vm86 = env->s.rflags & FL_VM;
    unsigned new_cpl = conforming ? cpl : dpl;

    uint32_t flags = dbt_get_eflags(env);
    SegCache new_ss = env->s.seg[S_SS];
    uint32_t esp = (uint32_t)env->s.regs[R_ESP];
    bool stack_switch = new_cpl < cpl;
    if (from_vm86 && new_cpl != 0)
        dbt_raise(env, EXC_GP, 1, csel & 0xfffc);
    if (stack_switch) {
        /* inner stack from the TSS: 32-bit TSS has ESPn at 4+8n, SSn at 8+8n */
        bool tss32 = (env->s.tr.attr & 0x8) != 0;
        uint32_t o = tss32 ? 4 + new_cpl * 8 : 2 + new_cpl * 4;
        unsigned w = tss32 ? 4 : 2;
        if (o + 2 * w - 1 > env->s.tr.limit)
            dbt_raise(env, EXC_TS, 1, env->s.tr.sel & 0xfffc);
        uint32_t nesp = (uint32_t)dbt_ld_lin(env, env->s.tr.base + o, w);
        uint16_t nss = (uint16_t)dbt_ld_lin(env, env->s.tr.base + o + w, 2);
        uint32_t slo, shi;
        if ((nss & ~3u) == 0)
            dbt_raise(env, EXC_TS, 1, 0);
        read_desc(env, nss, &slo, &shi, EXC_TS);
        if ((nss & 3) != new_cpl || DESC_DPL(shi) != new_cpl || !DESC_S(shi) ||
            (DESC_TYPE(shi) & 0x8) || !(DESC_TYPE(shi) & 0x2))
            dbt_raise(env, EXC_TS, 1, nss & 0xfffc);
        if (!DESC_P(shi))
            dbt_raise(env, EXC_SS, 1, nss & 0xfffc);
        desc_to_cache(&new_ss, nss, slo, shi);
        esp = nesp;
    }
    uint32_t spmask = (new_ss.attr & SEG_DB) ? 0xffffffff : 0xffff;
    unsigned w = gate32 ? 4 : 2;
    uint32_t frame[9];
    int n = 0;
    if (from_vm86) {
        frame[n++] = env->s.seg[S_GS].sel;
        frame[n++] = env->s.seg[S_FS].sel;
        frame[n++] = env->s.seg[S_DS].sel;
        frame[n++] = env->s.seg[S_ES].sel;
    }
    if (stack_switch) {
        frame[n++] = env->s.seg[S_SS].sel;
        frame[n++] = (uint32_t)env->s.regs[R_ESP];
    }
    frame[n++] = flags;
    frame[n++] = env->s.seg[S_CS].sel;
    frame[n++] = (uint32_t)ret_eip;
    if (has_err)
        frame[n++] = err;
    uint32_t sp = esp;
    for (int i = 0; i < n; i++) {
        sp -= w;
        uint32_t o = sp & spmask;
        if ((new_ss.attr & 0xc) != 0x4 && o + w - 1 > new_ss.limit)
            dbt_raise(env, EXC_SS, 1, stack_switch ? (new_ss.sel & 0xfffc) : 0);
        dbt_st_lin(env, new_ss.base + o, frame[i], w);
    }
    /* commit */
    if (from_vm86) {
        for (int s = 0; s < CPU_NR_SEGS; s++) {
            if (s == S_CS || s == S_SS)
                continue;
            env->s.seg[s].sel = 0;
            env->s.seg[s].base = 0;
            env->s.seg[s].limit = 0;
            env->s.seg[s].attr = 0;
        }
    }
    if (stack_switch)
        env->s.seg[S_SS] = new_ss;
    env->s.regs[R_ESP] = (esp & ~spmask) | (sp & spmask);
    set_accessed(env, csel, chi);
    desc_to_cache(&env->s.seg[S_CS], (csel & ~3u) | new_cpl, clo, chi | 0x100);
    env->s.rip = gate32 ? off : (off & 0xffff);
    env->s.rflags &= ~(uint64_t)(FL_TF | FL_NT | FL_VM | FL_RF);
    if (!(gtype & 1))
        env->s.rflags &= ~(uint64_t)FL_IF; /* interrupt gate */
    if (new_cpl != cpl || from_vm86)
        dbt_tlb_flush(env);
}

void dbt_do_interrupt(DbtCpu *env, int vector, bool is_sw, bool has_err, uint32_t err,
                      uint64_t ret_eip)
{
    if (env->delivering) {
        /* a fault while delivering another: the SDM's double-fault table */
        int first = env->delivering_vec;
        env->delivering = false;
        if (first == EXC_DF) {
            env->pending_exc = -3;
            return;
        }
        if ((contributory(first) && contributory(vector)) ||
            (first == EXC_PF && (contributory(vector) || vector == EXC_PF))) {
            vector = EXC_DF;
            has_err = true;
            err = 0;
            is_sw = false;
        }
    }
    env->delivering = true;
    env->delivering_vec = vector;
    env->s.halted = false;
    if (!(env->s.cr0 & CR0_PE))
        deliver_real(env, vector, ret_eip);
    else
        deliver_protected(env, vector, is_sw, has_err, err, ret_eip);
    env->delivering = false;
}
