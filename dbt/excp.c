/* Protected mode: segment loads, far transfers through call gates, task switches, interrupt
 * and exception delivery, descriptor instructions and the debug-exception bookkeeping, by the
 * rules of the Intel SDM vol. 3 ch. 5-7, 17 and 20 and the instruction pages of vol. 2.
 *
 * Every transfer checks and reads all it needs before it changes a guest register, so an
 * exception leaves the instruction undone; the one exception to that is a task switch, which
 * (as the hardware does) raises faults found after the switch in the context of the new task.
 * Faults during the delivery of an event escalate to #DF and then to shutdown. Error codes
 * carry the EXT bit when the event being delivered did not come from the program (hardware
 * interrupts, exceptions, INT1). */
#include "dbt/ir.h"

#define DESC_TYPE(hi) (((hi) >> 8) & 0xf)
#define DESC_S(hi) (((hi) >> 12) & 1)
#define DESC_DPL(hi) (((hi) >> 13) & 3)
#define DESC_P(hi) (((hi) >> 15) & 1)
/* code/data type bits (S = 1) */
#define T_ACCESSED 0x1
#define T_WRITE 0x2 /* data: writable; code: readable */
#define T_CONF 0x4  /* code: conforming; data: expand-down */
#define T_CODE 0x8

enum { TS_JMP, TS_CALL, TS_IRET, TS_INT };

static inline uint32_t ecode(uint16_t sel, uint32_t ext)
{
    return (sel & 0xfffcu) | ext;
}

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

/* Where the descriptor for sel is, or false if it is past its table's limit (or the LDT is
 * not valid). */
static bool desc_locate(DbtCpu *env, uint16_t sel, uint64_t *addr)
{
    uint64_t base;
    uint32_t limit;
    if (sel & 4) {
        if (!(env->s.ldt.attr & SEG_P))
            return false;
        base = env->s.ldt.base;
        limit = env->s.ldt.limit;
    } else {
        base = env->s.gdt.base;
        limit = env->s.gdt.limit;
    }
    if ((uint32_t)(sel & ~7u) + 7 > limit)
        return false;
    *addr = base + (sel & ~7u);
    return true;
}

static bool desc_load(DbtCpu *env, uint16_t sel, uint32_t *lo, uint32_t *hi)
{
    uint64_t a;
    if (!desc_locate(env, sel, &a))
        return false;
    *lo = (uint32_t)dbt_ld_lin(env, a, 4);
    *hi = (uint32_t)dbt_ld_lin(env, a + 4, 4);
    return true;
}

/* Read the descriptor for sel or raise exc(sel | ext). */
static void read_desc(DbtCpu *env, uint16_t sel, uint32_t *lo, uint32_t *hi, int exc, uint32_t ext)
{
    if (!desc_load(env, sel, lo, hi))
        dbt_raise(env, exc, 1, ecode(sel, ext));
}

/* Set the accessed bit of a code/data descriptor that was just loaded into c. */
static void mark_accessed(DbtCpu *env, SegCache *c)
{
    uint64_t a;
    if ((c->attr & T_ACCESSED) || !(c->attr & SEG_S) || !desc_locate(env, c->sel, &a))
        return;
    uint32_t hi = (uint32_t)dbt_ld_lin(env, a + 4, 4);
    dbt_st_lin(env, a + 4, hi | 0x100, 4);
    c->attr |= T_ACCESSED;
}

void dbt_cpl_changed(DbtCpu *env, unsigned old_cpl)
{
    (void)old_cpl; /* each side has its own TLB */
    if (dbt_cpl(env) == 3 && (env->s.rflags & FL_AC) && (env->s.cr0 & CR0_AM))
        dbt_tlb_flush(env);
}

static void load_seg_vm86(SegCache *c, int seg, uint16_t sel)
{
    c->sel = sel;
    c->base = (uint64_t)sel << 4;
    c->limit = 0xffff;
    c->attr = SEG_P | SEG_S | (3 << SEG_DPL_SHIFT) | (seg == S_CS ? 0xb : 0x3);
}

static void null_seg(SegCache *c, uint16_t sel)
{
    c->sel = sel;
    c->base = 0;
    c->limit = 0;
    c->attr = 0; /* not present: any access raises #GP */
}

/* ---- segment register loads ---- */

void dbt_load_seg(DbtCpu *env, int seg, uint16_t sel)
{
    SegCache *c = &env->s.seg[seg];
    if (env->s.rflags & FL_VM) {
        load_seg_vm86(c, seg, sel);
        return;
    }
    if (!(env->s.cr0 & CR0_PE)) {
        /* real mode keeps the limit and attributes (unreal mode works) */
        c->sel = sel;
        c->base = (uint64_t)sel << 4;
        return;
    }
    unsigned cpl = dbt_cpl(env), rpl = sel & 3;
    if ((sel & ~3u) == 0) {
        if (seg == S_SS || seg == S_CS)
            dbt_raise(env, EXC_GP, 1, 0);
        null_seg(c, sel);
        return;
    }
    uint32_t lo, hi;
    read_desc(env, sel, &lo, &hi, EXC_GP, 0);
    unsigned type = DESC_TYPE(hi), dpl = DESC_DPL(hi);
    if (!DESC_S(hi))
        dbt_raise(env, EXC_GP, 1, ecode(sel, 0));
    if (seg == S_SS) {
        if (rpl != cpl || dpl != cpl || (type & T_CODE) || !(type & T_WRITE))
            dbt_raise(env, EXC_GP, 1, ecode(sel, 0));
        if (!DESC_P(hi))
            dbt_raise(env, EXC_SS, 1, ecode(sel, 0));
    } else {
        /* data or readable code */
        if ((type & (T_CODE | T_WRITE)) == T_CODE)
            dbt_raise(env, EXC_GP, 1, ecode(sel, 0));
        bool conforming_code = (type & (T_CODE | T_CONF)) == (T_CODE | T_CONF);
        if (!conforming_code && (rpl > dpl || cpl > dpl))
            dbt_raise(env, EXC_GP, 1, ecode(sel, 0));
        if (!DESC_P(hi))
            dbt_raise(env, EXC_NP, 1, ecode(sel, 0));
    }
    SegCache n;
    desc_to_cache(&n, sel, lo, hi);
    mark_accessed(env, &n);
    *c = n;
}

/* Read a descriptor for a return (RET far / IRET). */
void dbt_read_desc_cache(DbtCpu *env, uint16_t sel, SegCache *out, uint32_t *hi_out)
{
    uint32_t lo, hi;
    if ((sel & ~3u) == 0)
        dbt_raise(env, EXC_GP, 1, 0);
    read_desc(env, sel, &lo, &hi, EXC_GP, 0);
    desc_to_cache(out, sel, lo, hi);
    *hi_out = hi;
}

/* ---- stacks ---- */

/* A stack being built: a segment (maybe not loaded yet), the stack pointer, the rights to
 * write it with and the error code of its #SS. */
typedef struct Stack {
    SegCache ss;
    uint32_t sp, mask;
    bool user;
    uint32_t err;
} Stack;

static void stack_init(Stack *k, const SegCache *ss, uint32_t sp, bool user, uint32_t err)
{
    k->ss = *ss;
    k->sp = sp;
    k->mask = (ss->attr & SEG_DB) ? 0xffffffffu : 0xffffu;
    k->user = user;
    k->err = err;
}

static bool stack_room(const SegCache *ss, uint32_t off, unsigned w)
{
    uint64_t last = (uint64_t)off + w - 1;
    if ((ss->attr & (T_CODE | T_CONF)) == T_CONF) {
        uint64_t top = (ss->attr & SEG_DB) ? 0xffffffffull : 0xffff;
        return off > ss->limit && last <= top;
    }
    return last <= ss->limit;
}

static void stack_push(DbtCpu *env, Stack *k, uint32_t v, unsigned w)
{
    k->sp -= w;
    uint32_t off = k->sp & k->mask;
    if (!stack_room(&k->ss, off, w))
        dbt_raise(env, EXC_SS, 1, k->err);
    dbt_st_lin_priv(env, k->ss.base + off, v, w, k->user);
}

/* ESP after building stack k on it (the bits outside the stack size are kept). */
static uint64_t stack_esp(const DbtCpu *env, const Stack *k)
{
    return (env->s.regs[R_ESP] & ~(uint64_t)k->mask) | (k->sp & k->mask);
}

/* The inner stack for privilege level dpl from the current TSS. */
static void tss_stack(DbtCpu *env, unsigned dpl, uint16_t *ss, uint32_t *esp, uint32_t ext)
{
    const SegCache *tr = &env->s.tr;
    bool tss32 = (tr->attr & 0x8) != 0;
    unsigned w = tss32 ? 4 : 2;
    uint32_t o = tss32 ? 4 + dpl * 8 : 2 + dpl * 4;
    if (o + 2 * w - 1 > tr->limit)
        dbt_raise(env, EXC_TS, 1, ecode(tr->sel, ext));
    *esp = (uint32_t)dbt_ld_lin(env, tr->base + o, w);
    *ss = (uint16_t)dbt_ld_lin(env, tr->base + o + w, 2);
}

/* Check the SS the TSS names for level dpl (#TS / #SS as the SDM's stack switch). */
static void inner_ss(DbtCpu *env, uint16_t nss, unsigned dpl, SegCache *out, uint32_t ext)
{
    uint32_t lo, hi;
    if ((nss & ~3u) == 0)
        dbt_raise(env, EXC_TS, 1, ext);
    if ((nss & 3) != dpl || !desc_load(env, nss, &lo, &hi))
        dbt_raise(env, EXC_TS, 1, ecode(nss, ext));
    unsigned type = DESC_TYPE(hi);
    if (DESC_DPL(hi) != dpl || !DESC_S(hi) || (type & T_CODE) || !(type & T_WRITE))
        dbt_raise(env, EXC_TS, 1, ecode(nss, ext));
    if (!DESC_P(hi))
        dbt_raise(env, EXC_SS, 1, ecode(nss, ext));
    desc_to_cache(out, nss, lo, hi);
}

/* ---- task switches (SDM vol. 3 ch. 7.3) ---- */

static void set_busy(DbtCpu *env, uint16_t sel, bool busy)
{
    uint64_t a = env->s.gdt.base + (sel & ~7u) + 4;
    uint32_t hi = (uint32_t)dbt_ld_lin(env, a, 4);
    hi = busy ? (hi | 0x200) : (hi & ~0x200u);
    dbt_st_lin(env, a, hi, 4);
}

/* Load a segment register of the new task, with the task switch's checks. */
static void tss_load_seg(DbtCpu *env, int seg, uint16_t sel, unsigned cpl, uint32_t ext)
{
    SegCache *c = &env->s.seg[seg];
    if ((sel & ~3u) == 0) {
        if (seg == S_CS || seg == S_SS)
            dbt_raise(env, EXC_TS, 1, ext);
        null_seg(c, sel);
        return;
    }
    uint32_t lo, hi;
    if (!desc_load(env, sel, &lo, &hi) || !DESC_S(hi))
        dbt_raise(env, EXC_TS, 1, ecode(sel, ext));
    unsigned type = DESC_TYPE(hi), dpl = DESC_DPL(hi), rpl = sel & 3;
    int np = EXC_NP;
    if (seg == S_CS) {
        if (!(type & T_CODE) || ((type & T_CONF) ? dpl > rpl : dpl != rpl))
            dbt_raise(env, EXC_TS, 1, ecode(sel, ext));
    } else if (seg == S_SS) {
        if ((type & T_CODE) || !(type & T_WRITE) || dpl != cpl || rpl != cpl)
            dbt_raise(env, EXC_TS, 1, ecode(sel, ext));
        np = EXC_SS;
    } else {
        if ((type & (T_CODE | T_WRITE)) == T_CODE)
            dbt_raise(env, EXC_TS, 1, ecode(sel, ext));
        if ((type & (T_CODE | T_CONF)) != (T_CODE | T_CONF) && (dpl < cpl || dpl < rpl))
            dbt_raise(env, EXC_TS, 1, ecode(sel, ext));
    }
    if (!DESC_P(hi))
        dbt_raise(env, np, 1, ecode(sel, ext));
    desc_to_cache(c, sel, lo, hi);
    mark_accessed(env, c);
}

static void exec_bps_changed(DbtCpu *env, uint64_t old_dr7, bool moved);

/* Switch to the task whose TSS descriptor (sel, lo, hi) the caller has checked for type and
 * privilege. src: TS_*; next_eip: the EIP to save in the old task; has_err/err: an
 * exception's error code, pushed on the new task's stack. */
static void task_switch(DbtCpu *env, uint16_t sel, uint32_t lo, uint32_t hi, int src,
                        uint64_t next_eip, bool has_err, uint32_t err, uint32_t ext)
{
    bool n32 = (DESC_TYPE(hi) & 0x8) != 0;
    if (!DESC_P(hi))
        dbt_raise(env, EXC_NP, 1, ecode(sel, ext));
    SegCache nt;
    desc_to_cache(&nt, sel, lo, hi);
    if (nt.limit < (n32 ? 0x67u : 0x2bu))
        dbt_raise(env, EXC_TS, 1, ecode(sel, ext));

    /* the new task's state, read before anything changes */
    uint64_t b = nt.base;
    uint32_t cr3 = 0, eip, fl, r[8], ldt;
    uint16_t sg[CPU_NR_SEGS];
    bool trap = false;
    if (n32) {
        cr3 = (uint32_t)dbt_ld_lin(env, b + 0x1c, 4);
        eip = (uint32_t)dbt_ld_lin(env, b + 0x20, 4);
        fl = (uint32_t)dbt_ld_lin(env, b + 0x24, 4);
        for (int i = 0; i < 8; i++)
            r[i] = (uint32_t)dbt_ld_lin(env, b + 0x28 + 4 * i, 4);
        for (int i = 0; i < CPU_NR_SEGS; i++)
            sg[i] = (uint16_t)dbt_ld_lin(env, b + 0x48 + 4 * i, 2);
        ldt = (uint16_t)dbt_ld_lin(env, b + 0x60, 2);
        trap = dbt_ld_lin(env, b + 0x64, 2) & 1;
    } else {
        eip = (uint16_t)dbt_ld_lin(env, b + 0x0e, 2);
        fl = (uint16_t)dbt_ld_lin(env, b + 0x10, 2);
        for (int i = 0; i < 8; i++)
            r[i] = (uint16_t)dbt_ld_lin(env, b + 0x12 + 2 * i, 2);
        for (int i = 0; i < 4; i++) /* ES CS SS DS */
            sg[i] = (uint16_t)dbt_ld_lin(env, b + 0x22 + 2 * i, 2);
        sg[S_FS] = sg[S_GS] = 0;
        ldt = (uint16_t)dbt_ld_lin(env, b + 0x2a, 2);
    }

    /* the current state into the old TSS */
    const SegCache *ot = &env->s.tr;
    uint64_t ob = ot->base;
    uint32_t ofl = dbt_get_eflags(env);
    if (src == TS_IRET)
        ofl &= ~FL_NT;
    if (ot->attr & 0x8) {
        dbt_st_lin(env, ob + 0x20, (uint32_t)next_eip, 4);
        dbt_st_lin(env, ob + 0x24, ofl, 4);
        for (int i = 0; i < 8; i++)
            dbt_st_lin(env, ob + 0x28 + 4 * i, (uint32_t)env->s.regs[i], 4);
        for (int i = 0; i < CPU_NR_SEGS; i++)
            dbt_st_lin(env, ob + 0x48 + 4 * i, env->s.seg[i].sel, 2);
    } else {
        dbt_st_lin(env, ob + 0x0e, (uint16_t)next_eip, 2);
        dbt_st_lin(env, ob + 0x10, (uint16_t)ofl, 2);
        for (int i = 0; i < 8; i++)
            dbt_st_lin(env, ob + 0x12 + 2 * i, (uint16_t)env->s.regs[i], 2);
        for (int i = 0; i < 4; i++)
            dbt_st_lin(env, ob + 0x22 + 2 * i, env->s.seg[i].sel, 2);
    }
    if (src == TS_JMP || src == TS_IRET)
        set_busy(env, ot->sel, false);
    if (src == TS_CALL || src == TS_INT) {
        dbt_st_lin(env, b, ot->sel, 2); /* back link */
        fl |= FL_NT;
    }
    if (src != TS_IRET)
        set_busy(env, sel, true);

    /* commit: from here on, faults belong to the new task */
    uint64_t old_dr7 = env->s.dr[7];
    env->s.tr = nt;
    env->s.tr.attr |= 0x2; /* busy */
    env->s.cr0 |= CR0_TS;
    if (n32) {
        if ((env->s.cr0 & CR0_PG) && (env->s.cr4 & CR4_PAE) && !dbt_load_pdptes(env, cr3))
            dbt_raise(env, EXC_GP, 1, 0);
        env->s.cr3 = cr3;
    }
    env->s.rip = eip;
    env->cur_eip = eip;
    uint32_t valid = FL_ARITH | FL_TF | FL_IF | FL_DF | FL_IOPL | FL_NT | FL_RF | FL_VM | FL_AC |
                     FL_VIF | FL_VIP | FL_ID;
    if (!n32)
        valid &= 0xffff;
    fl &= valid;
    cc_set_eflags(&env->cc, fl & FL_ARITH);
    env->s.rflags = (n32 ? 0 : (env->s.rflags & ~0xffffull)) | (fl & ~FL_ARITH) | FL_FIXED1;
    for (int i = 0; i < 8; i++)
        env->s.regs[i] = n32 ? r[i] : ((env->s.regs[i] & ~0xffffull) | r[i]);
    bool vm = env->s.rflags & FL_VM;
    for (int i = 0; i < CPU_NR_SEGS; i++) {
        if (vm)
            load_seg_vm86(&env->s.seg[i], i, sg[i]);
        else
            null_seg(&env->s.seg[i], sg[i]); /* selectors only, until loaded below */
    }
    null_seg(&env->s.ldt, ldt);
    /* local breakpoint enables are the old task's */
    env->s.dr[7] &= ~0x155ull;
    dbt_tlb_flush(env);
    exec_bps_changed(env, old_dr7, false);

    if (ldt & 4)
        dbt_raise(env, EXC_TS, 1, ecode(ldt, ext));
    if (ldt & ~3u) {
        uint32_t llo, lhi;
        if (!desc_load(env, ldt, &llo, &lhi) || DESC_S(lhi) || DESC_TYPE(lhi) != 2 || !DESC_P(lhi))
            dbt_raise(env, EXC_TS, 1, ecode(ldt, ext));
        desc_to_cache(&env->s.ldt, ldt, llo, lhi);
    }
    if (!vm) {
        unsigned cpl = sg[S_CS] & 3;
        static const int order[] = {S_CS, S_SS, S_ES, S_DS, S_FS, S_GS};
        for (int i = 0; i < CPU_NR_SEGS; i++)
            tss_load_seg(env, order[i], sg[order[i]], cpl, ext);
    }
    if (eip > env->s.seg[S_CS].limit)
        dbt_raise(env, EXC_GP, 1, ext);
    if (trap)
        env->db_pending |= DR6_BT;
    if (has_err) {
        /* the exception's error code goes on the new task's stack */
        unsigned w = n32 ? 4 : 2;
        uint64_t m = (env->s.seg[S_SS].attr & SEG_DB) ? 0xffffffffull : 0xffff;
        uint64_t sp = (env->s.regs[R_ESP] - w) & m;
        dbt_st(env, S_SS, sp, err, w);
        env->s.regs[R_ESP] = (env->s.regs[R_ESP] & ~m) | sp;
    }
}

/* A task gate or TSS descriptor (lo, hi) reached through selector sel (or an IDT gate: sel is
 * then only used in error codes). */
static void switch_through(DbtCpu *env, uint16_t sel, uint32_t lo, uint32_t hi, int src,
                           uint64_t next_eip, bool has_err, uint32_t err, uint32_t ext,
                           uint32_t gate_err)
{
    if (DESC_TYPE(hi) == 5) {
        if (!DESC_P(hi))
            dbt_raise(env, EXC_NP, 1, gate_err);
        sel = lo >> 16;
        if (sel & 4)
            dbt_raise(env, EXC_GP, 1, ecode(sel, ext));
        read_desc(env, sel, &lo, &hi, EXC_GP, ext);
        unsigned t = DESC_TYPE(hi);
        if (DESC_S(hi) || (t != 1 && t != 9))
            dbt_raise(env, EXC_GP, 1, ecode(sel, ext)); /* busy or not a TSS */
    }
    task_switch(env, sel, lo, hi, src, next_eip, has_err, err, ext);
}

uint64_t dbt_task_return(DbtCpu *env, uint64_t next_eip)
{
    uint16_t back = (uint16_t)dbt_ld_lin(env, env->s.tr.base, 2);
    uint32_t lo, hi;
    if ((back & 4) || !desc_load(env, back, &lo, &hi))
        dbt_raise(env, EXC_TS, 1, ecode(back, 0));
    unsigned t = DESC_TYPE(hi);
    if (DESC_S(hi) || (t != 3 && t != 11))
        dbt_raise(env, EXC_TS, 1, ecode(back, 0)); /* must be a busy TSS */
    task_switch(env, back, lo, hi, TS_IRET, next_eip, false, 0, 0);
    return env->s.rip;
}

/* ---- far JMP and CALL ---- */

/* A code segment as the direct target of JMP/CALL far: the SDM's checks, then the cache with
 * RPL = CPL (the CPL does not change). */
static void direct_code(DbtCpu *env, uint16_t sel, uint32_t lo, uint32_t hi, SegCache *out)
{
    unsigned cpl = dbt_cpl(env), dpl = DESC_DPL(hi);
    if (!(DESC_TYPE(hi) & T_CODE))
        dbt_raise(env, EXC_GP, 1, ecode(sel, 0));
    if ((DESC_TYPE(hi) & T_CONF) ? dpl > cpl : ((sel & 3) > cpl || dpl != cpl))
        dbt_raise(env, EXC_GP, 1, ecode(sel, 0));
    if (!DESC_P(hi))
        dbt_raise(env, EXC_NP, 1, ecode(sel, 0));
    desc_to_cache(out, (sel & ~3u) | cpl, lo, hi);
}

/* The code segment a call gate names: returns its DPL (the new CPL for a nonconforming one). */
static unsigned gate_code(DbtCpu *env, uint16_t csel, uint32_t *clo, uint32_t *chi, bool jmp)
{
    unsigned cpl = dbt_cpl(env);
    if ((csel & ~3u) == 0)
        dbt_raise(env, EXC_GP, 1, 0);
    read_desc(env, csel, clo, chi, EXC_GP, 0);
    unsigned dpl = DESC_DPL(*chi), type = DESC_TYPE(*chi);
    if (!DESC_S(*chi) || !(type & T_CODE))
        dbt_raise(env, EXC_GP, 1, ecode(csel, 0));
    /* JMP: no privilege change at all; CALL: to the same or an inner level */
    if (jmp ? ((type & T_CONF) ? dpl > cpl : dpl != cpl) : dpl > cpl)
        dbt_raise(env, EXC_GP, 1, ecode(csel, 0));
    if (!DESC_P(*chi))
        dbt_raise(env, EXC_NP, 1, ecode(csel, 0));
    return dpl;
}

uint64_t dbt_far_jmp(DbtCpu *env, uint16_t sel, uint64_t off, unsigned osz, uint64_t next_eip)
{
    unsigned cpl = dbt_cpl(env), rpl = sel & 3;
    uint32_t lo, hi;
    if ((sel & ~3u) == 0)
        dbt_raise(env, EXC_GP, 1, 0);
    read_desc(env, sel, &lo, &hi, EXC_GP, 0);
    if (DESC_S(hi)) {
        SegCache cs;
        direct_code(env, sel, lo, hi, &cs);
        if (off > cs.limit)
            dbt_raise(env, EXC_GP, 1, 0);
        mark_accessed(env, &cs);
        env->s.seg[S_CS] = cs;
        return off;
    }
    unsigned type = DESC_TYPE(hi), dpl = DESC_DPL(hi);
    switch (type) {
    case 4:
    case 12: { /* call gate: a jump stays at the current level */
        if (dpl < cpl || dpl < rpl)
            dbt_raise(env, EXC_GP, 1, ecode(sel, 0));
        if (!DESC_P(hi))
            dbt_raise(env, EXC_NP, 1, ecode(sel, 0));
        uint16_t csel = lo >> 16;
        uint32_t goff = (lo & 0xffff) | (type == 12 ? (hi & 0xffff0000u) : 0);
        uint32_t clo, chi;
        gate_code(env, csel, &clo, &chi, true);
        SegCache cs;
        desc_to_cache(&cs, (csel & ~3u) | cpl, clo, chi);
        if (goff > cs.limit)
            dbt_raise(env, EXC_GP, 1, 0);
        mark_accessed(env, &cs);
        env->s.seg[S_CS] = cs;
        return goff;
    }
    case 1:
    case 5:
    case 9:
        if (dpl < cpl || dpl < rpl)
            dbt_raise(env, EXC_GP, 1, ecode(sel, 0));
        switch_through(env, sel, lo, hi, TS_JMP, next_eip, false, 0, 0, ecode(sel, 0));
        return env->s.rip;
    default:
        dbt_raise(env, EXC_GP, 1, ecode(sel, 0));
    }
}

uint64_t dbt_far_call(DbtCpu *env, uint16_t sel, uint64_t off, unsigned osz, uint64_t next_eip)
{
    unsigned cpl = dbt_cpl(env), rpl = sel & 3;
    uint32_t lo, hi;
    Stack k;
    if ((sel & ~3u) == 0)
        dbt_raise(env, EXC_GP, 1, 0);
    read_desc(env, sel, &lo, &hi, EXC_GP, 0);
    if (DESC_S(hi)) {
        SegCache cs;
        direct_code(env, sel, lo, hi, &cs);
        if (off > cs.limit)
            dbt_raise(env, EXC_GP, 1, 0);
        stack_init(&k, &env->s.seg[S_SS], (uint32_t)env->s.regs[R_ESP], cpl == 3, 0);
        stack_push(env, &k, env->s.seg[S_CS].sel, osz);
        stack_push(env, &k, (uint32_t)next_eip, osz);
        mark_accessed(env, &cs);
        env->s.regs[R_ESP] = stack_esp(env, &k);
        env->s.seg[S_CS] = cs;
        return off;
    }
    unsigned type = DESC_TYPE(hi), dpl = DESC_DPL(hi);
    if (type == 1 || type == 5 || type == 9) {
        if (dpl < cpl || dpl < rpl)
            dbt_raise(env, EXC_GP, 1, ecode(sel, 0));
        switch_through(env, sel, lo, hi, TS_CALL, next_eip, false, 0, 0, ecode(sel, 0));
        return env->s.rip;
    }
    if (type != 4 && type != 12)
        dbt_raise(env, EXC_GP, 1, ecode(sel, 0));
    /* call gate */
    if (dpl < cpl || dpl < rpl)
        dbt_raise(env, EXC_GP, 1, ecode(sel, 0));
    if (!DESC_P(hi))
        dbt_raise(env, EXC_NP, 1, ecode(sel, 0));
    bool gate32 = type == 12;
    unsigned w = gate32 ? 4 : 2, nparam = hi & 0x1f;
    uint16_t csel = lo >> 16;
    uint32_t goff = (lo & 0xffff) | (gate32 ? (hi & 0xffff0000u) : 0);
    uint32_t clo, chi;
    unsigned cdpl = gate_code(env, csel, &clo, &chi, false);
    bool inner = !(DESC_TYPE(chi) & T_CONF) && cdpl < cpl;
    unsigned ncpl = inner ? cdpl : cpl;
    SegCache cs, ss = env->s.seg[S_SS];
    desc_to_cache(&cs, (csel & ~3u) | ncpl, clo, chi);
    uint32_t esp = (uint32_t)env->s.regs[R_ESP];
    if (inner) {
        uint16_t nss;
        uint32_t nesp;
        tss_stack(env, cdpl, &nss, &nesp, 0);
        inner_ss(env, nss, cdpl, &ss, 0);
        stack_init(&k, &ss, nesp, cdpl == 3, ecode(nss, 0));
        if (goff > cs.limit)
            dbt_raise(env, EXC_GP, 1, 0);
        /* the caller's SS:ESP, its parameters (copied from the caller's stack, with the
         * caller's rights), then the return address */
        uint32_t omask = (env->s.seg[S_SS].attr & SEG_DB) ? 0xffffffffu : 0xffffu;
        uint32_t param[32];
        for (unsigned i = 0; i < nparam; i++)
            param[i] = (uint32_t)dbt_ld(env, S_SS, (esp + i * w) & omask, w);
        stack_push(env, &k, env->s.seg[S_SS].sel, w);
        stack_push(env, &k, esp, w);
        for (int i = (int)nparam - 1; i >= 0; i--)
            stack_push(env, &k, param[i], w);
    } else {
        if (goff > cs.limit)
            dbt_raise(env, EXC_GP, 1, 0);
        stack_init(&k, &ss, esp, cpl == 3, 0);
    }
    stack_push(env, &k, env->s.seg[S_CS].sel, w);
    stack_push(env, &k, (uint32_t)next_eip, w);
    /* commit */
    mark_accessed(env, &cs);
    env->s.regs[R_ESP] = stack_esp(env, &k);
    if (inner) {
        mark_accessed(env, &ss);
        env->s.seg[S_SS] = ss;
    }
    env->s.seg[S_CS] = cs;
    dbt_cpl_changed(env, cpl);
    return gate32 ? goff : (goff & 0xffff);
}

/* ---- interrupts and exceptions ---- */

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
    uint32_t ext = is_sw ? 0 : 1;
    uint32_t gerr = vector * 8 + 2 + ext;
    if ((uint32_t)vector * 8 + 7 > env->s.idt.limit)
        dbt_raise(env, EXC_GP, 1, gerr);
    uint64_t ga = env->s.idt.base + vector * 8;
    uint32_t glo = (uint32_t)dbt_ld_lin(env, ga, 4), ghi = (uint32_t)dbt_ld_lin(env, ga + 4, 4);
    unsigned gtype = DESC_TYPE(ghi), cpl = dbt_cpl(env);
    if (DESC_S(ghi) ||
        !(gtype == 0x5 || gtype == 0x6 || gtype == 0x7 || gtype == 0xe || gtype == 0xf))
        dbt_raise(env, EXC_GP, 1, gerr);
    if (is_sw && DESC_DPL(ghi) < cpl)
        dbt_raise(env, EXC_GP, 1, gerr);
    if (!DESC_P(ghi))
        dbt_raise(env, EXC_NP, 1, gerr);
    if (gtype == 0x5) {
        switch_through(env, 0, glo, ghi, TS_INT, ret_eip, has_err, err, ext, gerr);
        return;
    }
    bool gate32 = gtype & 0x8;
    uint16_t csel = glo >> 16;
    uint32_t off = (glo & 0xffff) | (gate32 ? (ghi & 0xffff0000u) : 0);

    if ((csel & ~3u) == 0)
        dbt_raise(env, EXC_GP, 1, ext);
    uint32_t clo, chi;
    read_desc(env, csel, &clo, &chi, EXC_GP, ext);
    unsigned dpl = DESC_DPL(chi);
    if (!DESC_S(chi) || !(DESC_TYPE(chi) & T_CODE) || dpl > cpl)
        dbt_raise(env, EXC_GP, 1, ecode(csel, ext));
    if (!DESC_P(chi))
        dbt_raise(env, EXC_NP, 1, ecode(csel, ext));
    bool conforming = DESC_TYPE(chi) & T_CONF;
    bool from_vm86 = env->s.rflags & FL_VM;
    unsigned new_cpl = conforming ? cpl : dpl;
    bool stack_switch = new_cpl < cpl;
    if (from_vm86 && new_cpl != 0)
        dbt_raise(env, EXC_GP, 1, ecode(csel, ext));

    uint32_t flags = dbt_get_eflags(env);
    if (env->exc_fault)
        flags |= FL_RF; /* a fault returns to its instruction, which must not break again */
    SegCache new_ss = env->s.seg[S_SS];
    Stack k;
    if (stack_switch) {
        uint16_t nss;
        uint32_t nesp;
        tss_stack(env, new_cpl, &nss, &nesp, ext);
        inner_ss(env, nss, new_cpl, &new_ss, ext);
        stack_init(&k, &new_ss, nesp, new_cpl == 3, ecode(nss, ext));
    } else {
        stack_init(&k, &new_ss, (uint32_t)env->s.regs[R_ESP], new_cpl == 3, ext);
    }
    unsigned w = gate32 ? 4 : 2;
    if (from_vm86) {
        stack_push(env, &k, env->s.seg[S_GS].sel, w);
        stack_push(env, &k, env->s.seg[S_FS].sel, w);
        stack_push(env, &k, env->s.seg[S_DS].sel, w);
        stack_push(env, &k, env->s.seg[S_ES].sel, w);
    }
    if (stack_switch) {
        stack_push(env, &k, env->s.seg[S_SS].sel, w);
        stack_push(env, &k, (uint32_t)env->s.regs[R_ESP], w);
    }
    stack_push(env, &k, flags, w);
    stack_push(env, &k, env->s.seg[S_CS].sel, w);
    stack_push(env, &k, (uint32_t)ret_eip, w);
    if (has_err)
        stack_push(env, &k, err, w);

    /* commit */
    SegCache cs;
    desc_to_cache(&cs, (csel & ~3u) | new_cpl, clo, chi);
    mark_accessed(env, &cs);
    if (stack_switch)
        mark_accessed(env, &new_ss);
    if (from_vm86) {
        for (int s = 0; s < CPU_NR_SEGS; s++)
            if (s != S_CS && s != S_SS)
                null_seg(&env->s.seg[s], 0);
    }
    env->s.regs[R_ESP] = stack_esp(env, &k);
    if (stack_switch)
        env->s.seg[S_SS] = new_ss;
    env->s.seg[S_CS] = cs;
    env->s.rip = gate32 ? off : (off & 0xffff);
    env->s.rflags &= ~(uint64_t)(FL_TF | FL_NT | FL_VM | FL_RF);
    if (!(gtype & 1))
        env->s.rflags &= ~(uint64_t)FL_IF; /* interrupt gate */
    if (from_vm86)
        dbt_tlb_flush(env);
    else
        dbt_cpl_changed(env, cpl);
}

void dbt_do_interrupt(DbtCpu *env, int vector, bool is_sw, bool has_err, uint32_t err,
                      uint64_t ret_eip)
{
    if (env->delivering) {
        /* a fault while delivering another: the SDM's double-fault table (table 6-5) */
        int first = env->delivering_vec;
        env->delivering = false;
        if (first == EXC_DF) {
            env->pending_exc = -3; /* triple fault: shutdown, straight to the run loop */
            longjmp(*env->unwind, 1);
        }
        if ((contributory(first) && contributory(vector)) ||
            (first == EXC_PF && (contributory(vector) || vector == EXC_PF))) {
            vector = EXC_DF;
            has_err = true;
            err = 0;
            is_sw = false;
            env->exc_fault = false; /* an abort */
        }
    }
    env->delivering = true;
    /* a software interrupt is no exception: a fault while delivering it is just that fault */
    env->delivering_vec = is_sw ? -1 : vector;
    env->s.halted = false;
    if (vector == EXC_DB)
        env->s.dr[7] &= ~(uint64_t)DR7_GD; /* the handler may use the debug registers */
    if (!(env->s.cr0 & CR0_PE))
        deliver_real(env, vector, ret_eip);
    else
        deliver_protected(env, vector, is_sw, has_err, err, ret_eip);
    env->delivering = false;
    env->exc_fault = false;
}

/* ---- virtual-8086 mode software interrupts (SDM vol. 3 ch. 20.3, 20.4) ---- */

/* The interrupt-redirection bit for vector vec in the TSS (VME): true = to protected mode. */
static bool vme_redirect_bit(DbtCpu *env, int vec)
{
    const SegCache *tr = &env->s.tr;
    if ((tr->attr & 0xd) != 0x9 || tr->limit < 103)
        dbt_raise(env, EXC_GP, 1, 0);
    uint32_t map = (uint32_t)dbt_ld_lin(env, tr->base + 102, 2);
    uint32_t o = map - 32 + vec / 8;
    if (map < 32 || o > tr->limit)
        dbt_raise(env, EXC_GP, 1, 0);
    return (dbt_ld_lin(env, tr->base + o, 1) >> (vec & 7)) & 1;
}

/* INT n redirected to the 8086 program's own handler (its IVT at linear 0). */
static void vm86_redirect(DbtCpu *env, int vec, uint64_t next_eip, bool virtual_if)
{
    uint32_t ent = (uint32_t)dbt_ld_lin_priv(env, (uint64_t)vec * 4, 4, true);
    uint32_t fl = dbt_get_eflags(env) & 0xffff;
    if (virtual_if)
        fl = (fl & ~FL_IF) | FL_IOPL | ((env->s.rflags & FL_VIF) ? FL_IF : 0);
    uint64_t sp = env->s.regs[R_ESP];
    dbt_st(env, S_SS, (sp - 2) & 0xffff, fl, 2);
    dbt_st(env, S_SS, (sp - 4) & 0xffff, env->s.seg[S_CS].sel, 2);
    dbt_st(env, S_SS, (sp - 6) & 0xffff, next_eip & 0xffff, 2);
    env->s.regs[R_ESP] = (sp & ~0xffffull) | ((sp - 6) & 0xffff);
    load_seg_vm86(&env->s.seg[S_CS], S_CS, ent >> 16);
    env->s.rip = ent & 0xffff;
    env->s.rflags &= ~(uint64_t)(FL_TF | (virtual_if ? FL_VIF : FL_IF));
}

void dbt_vm86_int(DbtCpu *env, int vec, uint64_t next_eip)
{
    bool iopl3 = (env->s.rflags & FL_IOPL) == FL_IOPL;
    if ((env->s.cr4 & CR4_VME) && !vme_redirect_bit(env, vec)) {
        vm86_redirect(env, vec, next_eip, !iopl3);
        return;
    }
    if (!iopl3)
        dbt_raise(env, EXC_GP, 1, 0); /* to the virtual-8086 monitor */
    dbt_do_interrupt(env, vec, true, false, 0, next_eip);
}

/* ---- descriptor instructions ---- */

bool dbt_lar_lsl(DbtCpu *env, uint16_t sel, bool lsl, uint32_t *out)
{
    uint32_t lo, hi;
    if ((sel & ~3u) == 0 || !desc_load(env, sel, &lo, &hi))
        return false;
    unsigned cpl = dbt_cpl(env), rpl = sel & 3, dpl = DESC_DPL(hi), type = DESC_TYPE(hi);
    if (DESC_S(hi)) {
        bool conforming_code = (type & (T_CODE | T_CONF)) == (T_CODE | T_CONF);
        if (!conforming_code && (dpl < cpl || dpl < rpl))
            return false;
    } else {
        /* LAR: TSS, LDT, call and task gates; LSL: the segments only (TSS, LDT) */
        static const uint16_t lar_ok =
            1 << 1 | 1 << 2 | 1 << 3 | 1 << 4 | 1 << 5 | 1 << 9 | 1 << 11 | 1 << 12;
        static const uint16_t lsl_ok = 1 << 1 | 1 << 2 | 1 << 3 | 1 << 9 | 1 << 11;
        if (!(((lsl ? lsl_ok : lar_ok) >> type) & 1) || dpl < cpl || dpl < rpl)
            return false;
    }
    if (lsl) {
        SegCache c;
        desc_to_cache(&c, sel, lo, hi);
        *out = c.limit;
    } else {
        *out = hi & 0x00f0ff00u;
    }
    return true;
}

bool dbt_verr_verw(DbtCpu *env, uint16_t sel, bool write)
{
    uint32_t lo, hi;
    if ((sel & ~3u) == 0 || !desc_load(env, sel, &lo, &hi) || !DESC_S(hi))
        return false;
    unsigned cpl = dbt_cpl(env), rpl = sel & 3, dpl = DESC_DPL(hi), type = DESC_TYPE(hi);
    if (type & T_CODE) {
        if (write || !(type & T_WRITE))
            return false;
        if (type & T_CONF)
            return true; /* readable conforming code: no privilege check */
    } else if (write && !(type & T_WRITE)) {
        return false;
    }
    return dpl >= cpl && dpl >= rpl;
}

void dbt_lldt(DbtCpu *env, uint16_t sel)
{
    uint32_t lo, hi;
    if ((sel & ~3u) == 0) {
        null_seg(&env->s.ldt, sel);
        return;
    }
    if ((sel & 4) || !desc_load(env, sel, &lo, &hi))
        dbt_raise(env, EXC_GP, 1, ecode(sel, 0));
    if (DESC_S(hi) || DESC_TYPE(hi) != 2)
        dbt_raise(env, EXC_GP, 1, ecode(sel, 0));
    if (!DESC_P(hi))
        dbt_raise(env, EXC_NP, 1, ecode(sel, 0));
    desc_to_cache(&env->s.ldt, sel, lo, hi);
}

void dbt_ltr(DbtCpu *env, uint16_t sel)
{
    uint32_t lo, hi;
    if ((sel & ~3u) == 0)
        dbt_raise(env, EXC_GP, 1, 0);
    if ((sel & 4) || !desc_load(env, sel, &lo, &hi))
        dbt_raise(env, EXC_GP, 1, ecode(sel, 0));
    unsigned type = DESC_TYPE(hi);
    if (DESC_S(hi) || (type != 1 && type != 9))
        dbt_raise(env, EXC_GP, 1, ecode(sel, 0));
    if (!DESC_P(hi))
        dbt_raise(env, EXC_NP, 1, ecode(sel, 0));
    set_busy(env, sel, true);
    desc_to_cache(&env->s.tr, sel, lo, hi | 0x200);
}

/* ---- debug registers (SDM vol. 3 ch. 17) ---- */

static unsigned bp_enabled(uint64_t dr7, int i)
{
    return (dr7 >> (2 * i)) & 3;
}

static unsigned bp_rw(uint64_t dr7, int i)
{
    return (dr7 >> (16 + 4 * i)) & 3;
}

uint32_t dbt_exec_bp_match(const DbtCpu *env, uint64_t lin)
{
    uint64_t dr7 = env->s.dr[7];
    uint32_t bits = 0;
    if (!(dr7 & 0xff))
        return 0;
    for (int i = 0; i < 4; i++)
        if (bp_enabled(dr7, i) && bp_rw(dr7, i) == 0 && (uint32_t)env->s.dr[i] == (uint32_t)lin)
            bits |= 1u << i;
    return bits;
}

bool dbt_data_bp_active(const DbtCpu *env)
{
    uint64_t dr7 = env->s.dr[7];
    if (!(dr7 & 0xff))
        return false;
    for (int i = 0; i < 4; i++)
        if (bp_enabled(dr7, i) && (bp_rw(dr7, i) & 1))
            return true;
    return false;
}

void dbt_data_bp_check(DbtCpu *env, uint64_t lin, unsigned size, bool write)
{
    uint64_t dr7 = env->s.dr[7];
    static const unsigned lens[4] = {1, 2, 8, 4};
    for (int i = 0; i < 4; i++) {
        unsigned rw = bp_rw(dr7, i);
        if (!bp_enabled(dr7, i) || !(rw & 1) || (rw == 1 && !write))
            continue;
        unsigned len = lens[(dr7 >> (18 + 4 * i)) & 3];
        uint64_t a = (uint32_t)env->s.dr[i] & ~(uint64_t)(len - 1);
        if (lin < a + len && lin + size > a)
            env->db_pending |= 1u << i;
    }
}

static unsigned exec_bps(uint64_t dr7)
{
    unsigned m = 0;
    for (int i = 0; i < 4; i++)
        if (bp_enabled(dr7, i) && bp_rw(dr7, i) == 0)
            m |= 1u << i;
    return m;
}

/* Translated code carries the instruction-breakpoint checks of the DR7 it was translated
 * under: when the set changes (or an enabled one moves), it must go. */
static void exec_bps_changed(DbtCpu *env, uint64_t old_dr7, bool moved)
{
    unsigned now = exec_bps(env->s.dr[7]);
    if (now != exec_bps(old_dr7) || (moved && now))
        dbt_invalidate_phys(env, 0, 1ull << 32);
}

void dbt_debug_regs_changed(DbtCpu *env, uint64_t old_dr7)
{
    exec_bps_changed(env, old_dr7, true);
    dbt_tlb_flush(env); /* data breakpoints keep the TLB empty */
}

void dbt_step_done(DbtCpu *env, bool tf)
{
    uint32_t bits = env->db_pending;
    if (tf && !env->sw_int)
        bits |= DR6_BS;
    env->sw_int = false;
    if (env->db_inhibit) {
        /* MOV SS / POP SS: the traps wait for the end of the next instruction */
        env->db_inhibit = false;
        if (!(bits & DR6_BT))
            return;
    }
    env->db_pending = 0;
    if (!bits)
        return;
    if (bits & 0xf)
        env->s.dr[6] &= ~0xfull;
    env->s.dr[6] |= bits;
    env->cur_eip = env->s.rip;
    dbt_do_interrupt(env, EXC_DB, false, false, 0, env->s.rip);
}
