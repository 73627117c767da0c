/* Helpers for IR_HELPER: instructions whose semantics are clearer (or only possible) in C.
 * A helper that can fault does all its checks and memory accesses before it writes any guest
 * register, so an exception leaves the instruction undone. */
#include <string.h>

#include "cpu/cpuid.h"
#include "dbt/helpers.h"

#define HELPER(name) uint64_t name(DbtCpu *env, uint64_t a, uint64_t b, uint64_t c, uint64_t imm)

static inline uint64_t msk(unsigned size)
{
    return size >= 8 ? ~0ull : (1ull << (size * 8)) - 1;
}

static void set_reg(DbtCpu *env, int r, unsigned size, uint64_t v)
{
    uint64_t *p = &env->s.regs[r];
    if (size == 4)
        *p = v & 0xffffffffull;
    else if (size == 2)
        *p = (*p & ~0xffffull) | (v & 0xffff);
    else if (size == 1)
        *p = (*p & ~0xffull) | (v & 0xff);
    else
        *p = v;
}

static bool pm(const DbtCpu *env)
{
    return (env->s.cr0 & CR0_PE) && !(env->s.rflags & FL_VM);
}

static unsigned iopl(const DbtCpu *env)
{
    return (env->s.rflags >> 12) & 3;
}

static void need_cpl0(DbtCpu *env)
{
    if ((env->s.cr0 & CR0_PE) && dbt_cpl(env) != 0)
        dbt_raise(env, EXC_GP, 1, 0);
}

HELPER(helper_mul)
{
    unsigned size = imm & 0xff;
    bool imul = imm & 0x100;
    uint64_t hi, lo;
    if (size == 1) {
        lo = alu_mul(imul, 1, a & 0xff, b, &hi, &env->cc);
        set_reg(env, R_EAX, 2, (hi << 8) | lo);
    } else {
        lo = alu_mul(imul, size, a, b, &hi, &env->cc);
        set_reg(env, R_EAX, size, lo);
        set_reg(env, R_EDX, size, hi);
    }
    return 0;
}

HELPER(helper_div)
{
    unsigned size = imm & 0xff;
    bool idiv = imm & 0x100;
    uint64_t q, r, hi, lo;
    if (size == 1) {
        hi = (a >> 8) & 0xff;
        lo = a & 0xff;
    } else {
        hi = c;
        lo = a;
    }
    if (!alu_div(idiv, size, hi, lo, b, &q, &r))
        dbt_raise(env, EXC_DE, 0, 0);
    cc_div(&env->cc); /* the flags are undefined; give what current hardware gives */
    if (size == 1) {
        set_reg(env, R_EAX, 2, ((r & 0xff) << 8) | (q & 0xff));
    } else {
        set_reg(env, R_EAX, size, q);
        set_reg(env, R_EDX, size, r);
    }
    return 0;
}

HELPER(helper_imul2)
{
    return alu_imul_trunc((unsigned)imm, a, b, &env->cc);
}

/* ---- I/O permission ---- */

static void io_check(DbtCpu *env, uint16_t port, unsigned size)
{
    if (!(env->s.cr0 & CR0_PE))
        return;
    if (!(env->s.rflags & FL_VM) && dbt_cpl(env) <= iopl(env))
        return;
    /* consult the TSS I/O permission bitmap (32-bit TSS only) */
    const SegCache *tr = &env->s.tr;
    if ((tr->attr & 0xd) != 0x9 || tr->limit < 103)
        dbt_raise(env, EXC_GP, 1, 0);
    uint32_t base = (uint32_t)dbt_ld_lin(env, tr->base + 102, 2);
    uint32_t off = base + port / 8;
    if (off + 1 > tr->limit)
        dbt_raise(env, EXC_GP, 1, 0);
    uint32_t bits = (uint32_t)dbt_ld_lin(env, tr->base + off, 2);
    if ((bits >> (port & 7)) & ((1u << size) - 1))
        dbt_raise(env, EXC_GP, 1, 0);
}

HELPER(helper_in)
{
    unsigned size = (unsigned)imm;
    io_check(env, (uint16_t)a, size);
    return io_read(env->io, (uint16_t)a, size) & msk(size);
}

HELPER(helper_out)
{
    unsigned size = (unsigned)imm;
    io_check(env, (uint16_t)a, size);
    io_write(env->io, (uint16_t)a, (uint32_t)(b & msk(size)), size);
    return 0;
}

/* ---- string instructions ---- */

/* REP MOVS/STOS fast path: a run of elements that stays inside one page on each side moves
 * through host memory at once. It only takes runs whose pages are already in the TLB for the
 * access (the element-by-element path fills it, and takes any fault or MMIO), ascending
 * (DF=0), in segments whose limit covers the whole offset range, so no check is skipped.
 * Pages holding translated code never have a TLB write entry, so SMC still goes the slow
 * path. Returns the number of elements done (0: use the slow path). */
static uint64_t rep_fast(DbtCpu *env, unsigned kind, unsigned size, int seg, unsigned asz,
                         uint64_t count)
{
    uint64_t am = msk(asz);
    uint64_t si = env->s.regs[R_ESI] & am, di = env->s.regs[R_EDI] & am;
    const SegCache *es = &env->s.seg[S_ES];
    /* expand-up, writable data covering every offset */
    if (es->limit < am || (es->attr & 0xe) != 0x2)
        return 0;
    uint64_t dlin = (es->base + di) & 0xffffffffull;
    const TlbEntry *de = dbt_tlb_entry(env, dbt_cpl(env) == 3, dlin);
    if (de->write_tag != (dlin & DBT_PAGE_MASK))
        return 0;
    uint64_t n = (DBT_PAGE_SIZE - (dlin & (DBT_PAGE_SIZE - 1))) / size;
    uint64_t room = (am - di + 1) / size; /* no offset wrap inside the run */
    n = n < room ? n : room;
    n = n < count ? n : count;
    uint8_t *d = (uint8_t *)(uintptr_t)(dlin + de->addend);
    const uint8_t *src = NULL;
    if (kind == STR_MOVS) {
        const SegCache *ss = &env->s.seg[seg];
        if (ss->limit < am || (ss->attr & 0xc) == 0x4 || (ss->attr & 0xa) == 0x8 ||
            !(ss->attr & SEG_P))
            return 0;
        uint64_t slin = (ss->base + si) & 0xffffffffull;
        const TlbEntry *se = dbt_tlb_entry(env, dbt_cpl(env) == 3, slin);
        if (se->read_tag != (slin & DBT_PAGE_MASK))
            return 0;
        uint64_t sn = (DBT_PAGE_SIZE - (slin & (DBT_PAGE_SIZE - 1))) / size;
        uint64_t sroom = (am - si + 1) / size;
        n = n < sn ? n : sn;
        n = n < sroom ? n : sroom;
        src = (const uint8_t *)(uintptr_t)(slin + se->addend);
    }
    if (n == 0)
        return 0;
    uint64_t bytes = n * size;
    if (kind == STR_STOS) {
        uint64_t v = env->s.regs[R_EAX];
        if (size == 1) {
            memset(d, (int)(v & 0xff), bytes);
        } else {
            for (uint64_t i = 0; i < bytes; i += size)
                memcpy(d + i, &v, size);
        }
    } else if (d > src && d < src + bytes) {
        /* forward copy onto itself: element by element, each read before its write, as the
         * CPU does (this replicates the pattern) */
        for (uint64_t i = 0; i < bytes; i += size) {
            uint64_t v;
            memcpy(&v, src + i, size);
            memcpy(d + i, &v, size);
        }
    } else {
        memmove(d, src, bytes);
    }
    set_reg(env, R_EDI, asz, di + bytes);
    if (kind == STR_MOVS)
        set_reg(env, R_ESI, asz, si + bytes);
    set_reg(env, R_ECX, asz, (env->s.regs[R_ECX] - n) & am);
    return n;
}

/* imm: kind | size << 8 | asz << 16 | seg << 24 | rep << 32 (1 = REP/REPE, 2 = REPNE).
 * Returns 1 when a REP instruction stopped early and must run again (to let interrupts in). */
HELPER(helper_string)
{
    unsigned kind = imm & 0xff, size = (imm >> 8) & 0xff, asz = (imm >> 16) & 0xff;
    int seg = (imm >> 24) & 0xff;
    unsigned rep = (imm >> 32) & 3;
    uint64_t am = msk(asz);
    int64_t step = (env->s.rflags & FL_DF) ? -(int64_t)size : (int64_t)size;
    unsigned budget = 4096;

    for (;;) {
        if (rep && (env->s.regs[R_ECX] & am) == 0)
            return 0;
        if (rep && step > 0 && (kind == STR_MOVS || kind == STR_STOS) &&
            rep_fast(env, kind, size, seg, asz, env->s.regs[R_ECX] & am)) {
            if ((env->s.regs[R_ECX] & am) == 0)
                return 0;
            if (--budget == 0 || env->m->stop)
                return 1;
            continue;
        }
        uint64_t si = env->s.regs[R_ESI] & am, di = env->s.regs[R_EDI] & am;
        bool stop = false;
        switch (kind) {
        case STR_MOVS: {
            uint64_t v = dbt_ld(env, seg, si, size);
            dbt_st(env, S_ES, di, v, size);
            set_reg(env, R_ESI, asz, si + step);
            set_reg(env, R_EDI, asz, di + step);
            break;
        }
        case STR_STOS:
            dbt_st(env, S_ES, di, env->s.regs[R_EAX] & msk(size), size);
            set_reg(env, R_EDI, asz, di + step);
            break;
        case STR_LODS: {
            uint64_t v = dbt_ld(env, seg, si, size);
            set_reg(env, R_EAX, size, v);
            set_reg(env, R_ESI, asz, si + step);
            break;
        }
        case STR_CMPS: {
            uint64_t x = dbt_ld(env, seg, si, size);
            uint64_t y = dbt_ld(env, S_ES, di, size);
            alu_exec(ALU_CMP, size, x, y, &env->cc);
            set_reg(env, R_ESI, asz, si + step);
            set_reg(env, R_EDI, asz, di + step);
            stop = rep && (cc_cond(&env->cc, CC_E) != (rep == 1));
            break;
        }
        case STR_SCAS: {
            uint64_t y = dbt_ld(env, S_ES, di, size);
            alu_exec(ALU_CMP, size, env->s.regs[R_EAX] & msk(size), y, &env->cc);
            set_reg(env, R_EDI, asz, di + step);
            stop = rep && (cc_cond(&env->cc, CC_E) != (rep == 1));
            break;
        }
        case STR_INS: {
            uint16_t port = (uint16_t)env->s.regs[R_EDX];
            io_check(env, port, size);
            /* check the destination before the read: a port read can have side effects */
            dbt_st(env, S_ES, di, dbt_ld(env, S_ES, di, size), size);
            uint64_t v = io_read(env->io, port, size) & msk(size);
            dbt_st(env, S_ES, di, v, size);
            set_reg(env, R_EDI, asz, di + step);
            break;
        }
        case STR_OUTS: {
            uint16_t port = (uint16_t)env->s.regs[R_EDX];
            io_check(env, port, size);
            uint64_t v = dbt_ld(env, seg, si, size);
            io_write(env->io, port, (uint32_t)v, size);
            set_reg(env, R_ESI, asz, si + step);
            break;
        }
        }
        if (!rep)
            return 0;
        set_reg(env, R_ECX, asz, (env->s.regs[R_ECX] - 1) & am);
        if (stop || (env->s.regs[R_ECX] & am) == 0)
            return 0;
        if (--budget == 0 || env->m->stop || env->smc_hit)
            return 1;
        if ((kind == STR_INS || kind == STR_OUTS) && env->m->stop)
            return 1;
    }
}

/* ---- control registers ---- */

/* PAE paging is (being) turned on with this CR0/CR3/CR4: the PDPTEs are loaded now, and a
 * reserved bit in one is #GP(0) with nothing changed (SDM vol. 3 4.4.1). */
static void pae_load(DbtCpu *env, uint64_t cr0, uint64_t cr3, uint64_t cr4)
{
    if ((cr0 & CR0_PG) && (cr4 & CR4_PAE) && !dbt_load_pdptes(env, cr3))
        dbt_raise(env, EXC_GP, 1, 0);
}

HELPER(helper_mov_to_cr)
{
    need_cpl0(env);
    uint32_t v = (uint32_t)a;
    switch (imm) {
    case 0: {
        if ((v & CR0_PG) && !(v & CR0_PE))
            dbt_raise(env, EXC_GP, 1, 0);
        if ((v & CR0_NW) && !(v & CR0_CD))
            dbt_raise(env, EXC_GP, 1, 0);
        uint64_t old = env->s.cr0;
        if ((v & CR0_PG) && !(old & CR0_PG))
            pae_load(env, v, env->s.cr3, env->s.cr4);
        env->s.cr0 = v | CR0_ET;
        if ((old ^ env->s.cr0) & (CR0_PG | CR0_PE | CR0_WP | CR0_AM))
            dbt_tlb_flush(env);
        break;
    }
    case 2:
        env->s.cr2 = v;
        break;
    case 3:
        pae_load(env, env->s.cr0, v, env->s.cr4);
        env->s.cr3 = v;
        dbt_tlb_flush(env);
        break;
    case 4: {
        /* the bits whose function we implement; the rest are reserved here (#GP) */
        uint32_t ok = CR4_VME | CR4_PVI | CR4_TSD | CR4_DE | CR4_PSE | CR4_PAE | CR4_PGE |
                      CR4_OSFXSR | CR4_OSXMMEXCPT;
        /* VME and PVI work here, but are reserved (as on a CPU without them) unless the
         * CPUID model offers VME: both engines must show one CPU */
        if (!(cpu_model_make(env->m->has_apic).feat_1_edx & CPUID_1_EDX_VME))
            ok &= ~(uint32_t)(CR4_VME | CR4_PVI);
        if (v & ~ok)
            dbt_raise(env, EXC_GP, 1, 0);
        if ((v ^ env->s.cr4) & (CR4_PAE | CR4_PSE | CR4_PGE))
            pae_load(env, env->s.cr0, env->s.cr3, v);
        env->s.cr4 = v;
        dbt_tlb_flush(env);
        break;
    }
    default:
        dbt_raise(env, EXC_UD, 0, 0);
    }
    return 0;
}

/* imm: CR number; | 0x100 for SMSW, which any privilege level may run */
HELPER(helper_mov_from_cr)
{
    if (!(imm & 0x100))
        need_cpl0(env);
    switch (imm & 0xff) {
    case 0:
        return env->s.cr0 & 0xffffffffull;
    case 2:
        return env->s.cr2 & 0xffffffffull;
    case 3:
        return env->s.cr3 & 0xffffffffull;
    case 4:
        return env->s.cr4 & 0xffffffffull;
    default:
        dbt_raise(env, EXC_UD, 0, 0);
    }
}

/* The debug register an encoding names (DR4/DR5 alias DR6/DR7 unless CR4.DE); MOV DR with
 * DR7.GD set is a #DB fault with DR6.BD (general detect). */
static unsigned dr_index(DbtCpu *env, unsigned n)
{
    need_cpl0(env);
    if ((n == 4 || n == 5) && (env->s.cr4 & CR4_DE))
        dbt_raise(env, EXC_UD, 0, 0);
    if (n == 4 || n == 5)
        n += 2;
    if (n > 7)
        dbt_raise(env, EXC_UD, 0, 0);
    if (env->s.dr[7] & DR7_GD) {
        env->s.dr[6] |= DR6_BD;
        dbt_raise(env, EXC_DB, 0, 0);
    }
    return n;
}

HELPER(helper_mov_to_dr)
{
    unsigned n = dr_index(env, (unsigned)imm);
    uint64_t old_dr7 = env->s.dr[7];
    env->s.dr[n] = (uint32_t)a;
    if (n != 6)
        dbt_debug_regs_changed(env, old_dr7);
    return 0;
}

HELPER(helper_mov_from_dr)
{
    unsigned n = dr_index(env, (unsigned)imm);
    uint32_t v = (uint32_t)env->s.dr[n];
    if (n == 6)
        v = (v & 0xe00f) | 0xffff0ff0; /* reserved bits read as 1, bit 12 as 0 */
    else if (n == 7)
        v = (v & 0xffff2bff) | 0x400;
    return v;
}

HELPER(helper_clts)
{
    need_cpl0(env);
    env->s.cr0 &= ~(uint64_t)CR0_TS;
    return 0;
}

HELPER(helper_priv_check)
{
    need_cpl0(env);
    return 0;
}

/* a = offset, imm = segment */
HELPER(helper_invlpg)
{
    need_cpl0(env);
    dbt_tlb_flush_page(env, env->s.seg[imm].base + a);
    return 0;
}

HELPER(helper_lmsw)
{
    need_cpl0(env);
    /* LMSW sets PE but cannot clear it */
    uint64_t keep = env->s.cr0 & ~0xeull;
    env->s.cr0 = keep | (a & 0xf) | (env->s.cr0 & CR0_PE);
    return 0;
}

/* ---- segments and flags ---- */

HELPER(helper_load_seg)
{
    dbt_load_seg(env, (int)imm, (uint16_t)a);
    return 0;
}

/* after MOV SS / POP SS: no interrupt and no single-step trap until after the next insn */
HELPER(helper_irq_inhibit)
{
    env->irq_inhibit = true;
    env->db_inhibit = true;
    return 0;
}

/* Virtual-8086 mode with CR4.VME and IOPL < 3: PUSHF/POPF/CLI/STI and 16-bit IRET work on
 * VIF instead of trapping (SDM vol. 3 20.4). */
static bool vme_active(const DbtCpu *env)
{
    return (env->s.rflags & FL_VM) && (env->s.cr4 & CR4_VME) && iopl(env) < 3;
}

/* EFLAGS.AC may have become set: alignment checking keeps the TLB empty (dbt/mmu.c). */
static void ac_check_flush(DbtCpu *env, uint64_t old_flags)
{
    if ((env->s.rflags & ~old_flags & FL_AC) && (env->s.cr0 & CR0_AM) && dbt_cpl(env) == 3)
        dbt_tlb_flush(env);
}

/* imm: operand size; 0 for LAHF (no IOPL check) */
HELPER(helper_pushf)
{
    uint32_t fl = dbt_get_eflags(env);
    if (imm && (env->s.rflags & FL_VM) && iopl(env) < 3) {
        if (imm != 2 || !(env->s.cr4 & CR4_VME))
            dbt_raise(env, EXC_GP, 1, 0);
        /* VME: the 8086 program sees VIF as IF, and IOPL 3 */
        fl = (fl & ~FL_IF) | FL_IOPL | ((fl & FL_VIF) ? FL_IF : 0);
    }
    /* VM and RF are never seen in the pushed image */
    return fl & ~(uint32_t)(FL_VM | FL_RF);
}

HELPER(helper_popf)
{
    unsigned osz = (unsigned)imm;
    uint32_t mask = FL_ARITH | FL_TF | FL_DF | FL_NT | FL_AC | FL_ID;
    uint64_t old = env->s.rflags;
    if (vme_active(env)) {
        if (osz != 2 || (a & FL_TF) || ((a & FL_IF) && (env->s.rflags & FL_VIP)))
            dbt_raise(env, EXC_GP, 1, 0);
        dbt_set_eflags(env, (uint32_t)a, mask & 0xffff);
        env->s.rflags = (env->s.rflags & ~(uint64_t)FL_VIF) | ((a & FL_IF) ? FL_VIF : 0);
        return 0;
    }
    if (env->s.rflags & FL_VM) {
        if (iopl(env) < 3)
            dbt_raise(env, EXC_GP, 1, 0);
        mask |= FL_IF;
    } else {
        unsigned cpl = dbt_cpl(env);
        if (cpl == 0)
            mask |= FL_IOPL;
        if (cpl <= iopl(env))
            mask |= FL_IF;
    }
    if (osz == 2)
        mask &= 0xffff;
    bool was_if = env->s.rflags & FL_IF;
    dbt_set_eflags(env, (uint32_t)a, mask);
    if (!was_if && (env->s.rflags & FL_IF))
        env->irq_inhibit = false; /* POPF has no interrupt shadow, unlike STI */
    ac_check_flush(env, old);
    return 0;
}

HELPER(helper_sahf)
{
    dbt_set_eflags(env, (uint32_t)a, FL_SF | FL_ZF | FL_AF | FL_PF | FL_CF);
    return 0;
}

HELPER(helper_setflag)
{
    uint32_t f = (uint32_t)imm;
    unsigned op = imm >> 32;
    uint32_t cur = dbt_get_eflags(env);
    uint32_t v = op == 0 ? 0 : op == 1 ? f : (~cur & f);
    dbt_set_eflags(env, v, f);
    return 0;
}

HELPER(helper_cli_sti)
{
    if (env->s.cr0 & CR0_PE) {
        bool vm = env->s.rflags & FL_VM;
        if (vm ? iopl(env) < 3 : dbt_cpl(env) > iopl(env)) {
            /* VME in virtual-8086 mode, PVI at CPL 3: the virtual interrupt flag */
            if (vm ? !(env->s.cr4 & CR4_VME)
                   : !(env->s.cr4 & CR4_PVI) || dbt_cpl(env) != 3)
                dbt_raise(env, EXC_GP, 1, 0);
            if (imm && (env->s.rflags & FL_VIP))
                dbt_raise(env, EXC_GP, 1, 0);
            if (imm)
                env->s.rflags |= FL_VIF;
            else
                env->s.rflags &= ~(uint64_t)FL_VIF;
            return 0;
        }
    }
    if (imm) {
        if (!(env->s.rflags & FL_IF))
            env->irq_inhibit = true;
        env->s.rflags |= FL_IF;
    } else {
        env->s.rflags &= ~(uint64_t)FL_IF;
    }
    return 0;
}

HELPER(helper_high_half)
{
    unsigned osz = (unsigned)imm;
    return (a >> (osz * 8)) & msk(osz);
}

/* ---- stack helpers ---- */

static uint64_t sp_mask(const DbtCpu *env)
{
    return (env->s.seg[S_SS].attr & SEG_DB) ? 0xffffffffull : 0xffff;
}

HELPER(helper_pusha)
{
    unsigned osz = (unsigned)imm;
    uint64_t m = sp_mask(env), sp = env->s.regs[R_ESP];
    uint64_t v[8] = {env->s.regs[R_EAX], env->s.regs[R_ECX], env->s.regs[R_EDX],
                     env->s.regs[R_EBX], env->s.regs[R_ESP], env->s.regs[R_EBP],
                     env->s.regs[R_ESI], env->s.regs[R_EDI]};
    for (int i = 0; i < 8; i++)
        dbt_st(env, S_SS, (sp - (i + 1) * osz) & m, v[i] & msk(osz), osz);
    env->s.regs[R_ESP] = (sp & ~m) | ((sp - 8 * osz) & m);
    return 0;
}

HELPER(helper_popa)
{
    unsigned osz = (unsigned)imm;
    uint64_t m = sp_mask(env), sp = env->s.regs[R_ESP];
    uint64_t v[8];
    for (int i = 0; i < 8; i++)
        v[i] = dbt_ld(env, S_SS, (sp + i * osz) & m, osz);
    static const int order[8] = {R_EDI, R_ESI, R_EBP, R_ESP, R_EBX, R_EDX, R_ECX, R_EAX};
    for (int i = 0; i < 8; i++)
        if (order[i] != R_ESP)
            set_reg(env, order[i], osz, v[i]);
    env->s.regs[R_ESP] = (sp & ~m) | ((sp + 8 * osz) & m);
    return 0;
}

HELPER(helper_enter)
{
    unsigned alloc = imm & 0xffff, level = (imm >> 16) & 0x1f, osz = (imm >> 24) & 0xff;
    uint64_t m = sp_mask(env);
    uint64_t sp = env->s.regs[R_ESP], bp = env->s.regs[R_EBP];
    uint64_t fp;
    sp = (sp - osz) & m;
    dbt_st(env, S_SS, sp, bp & msk(osz), osz);
    fp = (env->s.regs[R_ESP] & ~m) | sp; /* a 16-bit stack keeps ESP's upper half in it */
    for (unsigned i = 1; i < level; i++) {
        bp = (bp - osz) & m;
        uint64_t v = dbt_ld(env, S_SS, bp, osz);
        sp = (sp - osz) & m;
        dbt_st(env, S_SS, sp, v, osz);
    }
    if (level) {
        sp = (sp - osz) & m;
        dbt_st(env, S_SS, sp, fp & msk(osz), osz);
    }
    sp = (sp - alloc) & m;
    /* the new stack top must be writable, as the CPU probes it */
    if (alloc)
        dbt_probe_write(env, S_SS, sp, 1);
    set_reg(env, R_EBP, m == 0xffff ? 2 : 4, fp); /* BP or EBP: the stack size decides */
    env->s.regs[R_ESP] = (env->s.regs[R_ESP] & ~m) | sp;
    return 0;
}

/* ---- far control transfer ---- */

static void load_cs_real(DbtCpu *env, uint16_t sel)
{
    env->s.seg[S_CS].sel = sel;
    env->s.seg[S_CS].base = (uint64_t)sel << 4;
}

/* a = selector, b = offset, c = next EIP, imm = operand size. Protected mode: through code
 * segments, call gates, task gates and TSSs (dbt/excp.c). */
HELPER(helper_ljmp)
{
    unsigned osz = (unsigned)imm;
    uint16_t sel = (uint16_t)a;
    uint64_t off = b & msk(osz);
    if (!pm(env)) {
        load_cs_real(env, sel);
        return off;
    }
    return dbt_far_jmp(env, sel, off, osz, c);
}

HELPER(helper_lcall)
{
    unsigned osz = (unsigned)imm;
    uint16_t sel = (uint16_t)a;
    uint64_t off = b & msk(osz), ret = c;
    uint64_t m = sp_mask(env), sp = env->s.regs[R_ESP];
    if (pm(env))
        return dbt_far_call(env, sel, off, osz, ret);
    dbt_st(env, S_SS, (sp - osz) & m, env->s.seg[S_CS].sel, osz);
    dbt_st(env, S_SS, (sp - 2 * osz) & m, ret & msk(osz), osz);
    env->s.regs[R_ESP] = (sp & ~m) | ((sp - 2 * osz) & m);
    load_cs_real(env, sel);
    return off;
}

/* After a return to an outer privilege level, data segments the new level may not use are
 * nulled (SDM: RET/IRET). */
static void null_inaccessible_segs(DbtCpu *env, unsigned cpl)
{
    static const int segs[] = {S_ES, S_DS, S_FS, S_GS};
    for (int i = 0; i < 4; i++) {
        SegCache *s = &env->s.seg[segs[i]];
        unsigned dpl = (s->attr >> SEG_DPL_SHIFT) & 3;
        bool conf_code = (s->attr & 0xc) == 0xc && (s->attr & SEG_S);
        if ((s->attr & SEG_S) && !conf_code && dpl < cpl) {
            s->sel = 0;
            s->attr = 0;
            s->base = 0;
            s->limit = 0;
        }
    }
}

/* The protected-mode return-to-code-segment checks shared by RETF and IRET. */
static void ret_check_cs(DbtCpu *env, uint16_t sel, SegCache *cs)
{
    uint32_t hi;
    unsigned cpl = dbt_cpl(env), rpl = sel & 3;
    dbt_read_desc_cache(env, sel, cs, &hi);
    unsigned dpl = (hi >> 13) & 3;
    if (!(hi & (1u << 12)) || !(hi & (1u << 11)) || rpl < cpl)
        dbt_raise(env, EXC_GP, 1, sel & 0xfffc);
    if ((hi & (1u << 10)) ? dpl > rpl : dpl != rpl)
        dbt_raise(env, EXC_GP, 1, sel & 0xfffc);
    if (!(hi & (1u << 15)))
        dbt_raise(env, EXC_NP, 1, sel & 0xfffc);
}

static void ret_load_ss(DbtCpu *env, uint16_t sel, unsigned rpl, SegCache *ss)
{
    uint32_t hi;
    if ((sel & ~3u) == 0 || (sel & 3) != rpl)
        dbt_raise(env, EXC_GP, 1, sel & 0xfffc);
    dbt_read_desc_cache(env, sel, ss, &hi);
    unsigned dpl = (hi >> 13) & 3, type = (hi >> 8) & 0xf;
    if (!(hi & (1u << 12)) || (type & 0x8) || !(type & 0x2) || dpl != rpl)
        dbt_raise(env, EXC_GP, 1, sel & 0xfffc);
    if (!(hi & (1u << 15)))
        dbt_raise(env, EXC_SS, 1, sel & 0xfffc);
}

HELPER(helper_retf)
{
    unsigned osz = imm & 0xff, n = (imm >> 8) & 0xffff;
    uint64_t m = sp_mask(env), sp = env->s.regs[R_ESP];
    uint64_t off = dbt_ld(env, S_SS, sp & m, osz);
    uint16_t sel = (uint16_t)dbt_ld(env, S_SS, (sp + osz) & m, 2);
    if (!pm(env)) {
        load_cs_real(env, sel);
        env->s.regs[R_ESP] = (sp & ~m) | ((sp + 2 * osz + n) & m);
        return off;
    }
    SegCache cs, ss;
    unsigned cpl = dbt_cpl(env), rpl = sel & 3;
    ret_check_cs(env, sel, &cs);
    if (off > cs.limit)
        dbt_raise(env, EXC_GP, 1, 0);
    if (rpl == cpl) {
        env->s.seg[S_CS] = cs;
        env->s.regs[R_ESP] = (sp & ~m) | ((sp + 2 * osz + n) & m);
        return off;
    }
    /* return to an outer level: its stack pointer follows the parameters */
    uint64_t nsp = dbt_ld(env, S_SS, (sp + 2 * osz + n) & m, osz);
    uint16_t nss = (uint16_t)dbt_ld(env, S_SS, (sp + 3 * osz + n) & m, 2);
    ret_load_ss(env, nss, rpl, &ss);
    env->s.seg[S_CS] = cs;
    env->s.seg[S_SS] = ss;
    uint64_t nm = (ss.attr & SEG_DB) ? 0xffffffffull : 0xffff;
    env->s.regs[R_ESP] = (env->s.regs[R_ESP] & ~nm) | ((nsp + n) & nm);
    null_inaccessible_segs(env, rpl);
    dbt_cpl_changed(env, cpl);
    return off;
}

/* imm: operand size; a: the EIP after the IRET (saved in the old TSS by a task return) */
HELPER(helper_iret)
{
    unsigned osz = (unsigned)imm;
    uint64_t m = sp_mask(env), sp = env->s.regs[R_ESP];
    uint64_t old_flags = env->s.rflags;
    if (!(env->s.cr0 & CR0_PE) || (env->s.rflags & FL_VM)) {
        bool vme = vme_active(env);
        if ((env->s.rflags & FL_VM) && iopl(env) < 3 && (!vme || osz != 2))
            dbt_raise(env, EXC_GP, 1, 0);
        uint64_t off = dbt_ld(env, S_SS, sp & m, osz);
        uint16_t sel = (uint16_t)dbt_ld(env, S_SS, (sp + osz) & m, 2);
        uint32_t fl = (uint32_t)dbt_ld(env, S_SS, (sp + 2 * osz) & m, osz);
        uint32_t mask = FL_ARITH | FL_TF | FL_IF | FL_DF | FL_NT | FL_AC | FL_ID | FL_RF;
        if (!(env->s.rflags & FL_VM))
            mask |= FL_IOPL;
        if (osz == 2)
            mask &= 0xffff;
        if (vme) {
            /* VME: IF goes to VIF; a set TF, or IF with an interrupt pending, traps */
            if ((fl & FL_TF) || ((fl & FL_IF) && (env->s.rflags & FL_VIP)))
                dbt_raise(env, EXC_GP, 1, 0);
            mask &= ~(uint32_t)FL_IF;
        }
        if (off > env->s.seg[S_CS].limit && (env->s.rflags & FL_VM))
            dbt_raise(env, EXC_GP, 1, 0);
        if (env->s.rflags & FL_VM)
            dbt_load_seg(env, S_CS, sel);
        else
            load_cs_real(env, sel);
        env->s.regs[R_ESP] = (sp & ~m) | ((sp + 3 * osz) & m);
        dbt_set_eflags(env, fl, mask);
        if (vme)
            env->s.rflags = (env->s.rflags & ~(uint64_t)FL_VIF) | ((fl & FL_IF) ? FL_VIF : 0);
        return off;
    }
    if (env->s.rflags & FL_NT)
        return dbt_task_return(env, a);
    uint64_t off = dbt_ld(env, S_SS, sp & m, osz);
    uint16_t sel = (uint16_t)dbt_ld(env, S_SS, (sp + osz) & m, 2);
    uint32_t fl = (uint32_t)dbt_ld(env, S_SS, (sp + 2 * osz) & m, osz);
    unsigned cpl = dbt_cpl(env);
    if (osz == 4 && (fl & FL_VM) && cpl == 0) {
        /* return to virtual-8086 mode: the frame carries ESP SS ES DS FS GS */
        uint32_t v[6];
        for (int i = 0; i < 6; i++)
            v[i] = (uint32_t)dbt_ld(env, S_SS, (sp + (3 + i) * 4) & m, 4);
        env->s.rflags = (fl & ~(uint32_t)FL_ARITH) | FL_FIXED1;
        cc_set_eflags(&env->cc, fl & FL_ARITH);
        static const int segs[] = {S_SS, S_ES, S_DS, S_FS, S_GS};
        for (int i = 0; i < 5; i++)
            dbt_load_seg(env, segs[i], (uint16_t)v[1 + i]);
        dbt_load_seg(env, S_CS, sel);
        env->s.regs[R_ESP] = v[0];
        dbt_tlb_flush(env);
        return off & 0xffff;
    }
    if (osz == 4 && (fl & FL_VM))
        fl &= ~(uint32_t)FL_VM; /* only CPL 0 may enter virtual-8086 mode */
    SegCache cs, ss;
    unsigned rpl = sel & 3;
    ret_check_cs(env, sel, &cs);
    if (off > cs.limit)
        dbt_raise(env, EXC_GP, 1, 0);
    uint32_t mask = FL_ARITH | FL_TF | FL_DF | FL_NT | FL_AC | FL_ID | FL_RF;
    if (cpl == 0)
        mask |= FL_IOPL | FL_VIF | FL_VIP;
    if (cpl <= iopl(env))
        mask |= FL_IF;
    if (osz == 2)
        mask &= 0xffff;
    if (rpl == cpl) {
        env->s.seg[S_CS] = cs;
        env->s.regs[R_ESP] = (sp & ~m) | ((sp + 3 * osz) & m);
        dbt_set_eflags(env, fl, mask);
        ac_check_flush(env, old_flags);
        return off;
    }
    uint64_t nsp = dbt_ld(env, S_SS, (sp + 3 * osz) & m, osz);
    uint16_t nss = (uint16_t)dbt_ld(env, S_SS, (sp + 4 * osz) & m, 2);
    ret_load_ss(env, nss, rpl, &ss);
    dbt_set_eflags(env, fl, mask); /* with the old CPL's rights */
    env->s.seg[S_CS] = cs;
    env->s.seg[S_SS] = ss;
    uint64_t nm = (ss.attr & SEG_DB) ? 0xffffffffull : 0xffff;
    env->s.regs[R_ESP] = (env->s.regs[R_ESP] & ~nm) | (nsp & nm);
    null_inaccessible_segs(env, rpl);
    dbt_cpl_changed(env, cpl);
    return off;
}

/* imm: vector | kind << 8 (0 INT n, 1 INT3, 2 INTO, 3 INT1/ICEBP); a = next EIP. */
HELPER(helper_int)
{
    int vec = imm & 0xff;
    unsigned kind = (imm >> 8) & 0xff;
    if (kind == 2 && !cc_cond(&env->cc, CC_O))
        return a;
    if (kind == 0 && (env->s.rflags & FL_VM) && (env->s.cr0 & CR0_PE))
        dbt_vm86_int(env, vec, a); /* IOPL-sensitive, or redirected (VME) */
    else
        dbt_do_interrupt(env, vec, kind != 3, false, 0, a);
    env->sw_int = true; /* the handler is entered with TF clear: no single-step trap */
    return env->s.rip;
}

/* BOUND: a = index, b = lower bound, c = upper bound (signed, imm = operand size). #BR is a
 * fault: it returns to the BOUND instruction. */
HELPER(helper_bound)
{
    unsigned size = (unsigned)imm, sh = 64 - size * 8;
    int64_t idx = (int64_t)(a << sh) >> sh, lo = (int64_t)(b << sh) >> sh,
            hi = (int64_t)(c << sh) >> sh;
    if (idx < lo || idx > hi)
        dbt_raise(env, EXC_BR, 0, 0);
    return 0;
}

/* ---- BCD adjusts ---- */

static uint32_t szp8(uint8_t v)
{
    return (v == 0 ? FL_ZF : 0) | (v & 0x80 ? FL_SF : 0) | (__builtin_parity(v) ? 0 : FL_PF);
}

/* imm: BCD_* | base << 8 (AAM/AAD). Works on AL/AH and the arithmetic flags, by the SDM's
 * pseudo-code for a 386 and later (AAA/AAS adjust AX as a whole: AX +/- 6 carries into AH).
 * Flags the SDM leaves undefined get what the operation's own adder gives: DAA/DAS OF is the
 * signed overflow of the total adjustment, AAA/AAS set SF ZF PF from the final AL with OF
 * clear, AAM clears OF AF CF, AAD takes all flags from its final 8-bit addition. */
HELPER(helper_bcd)
{
    unsigned kind = imm & 0xff, base = (imm >> 8) & 0xff;
    uint32_t fl = dbt_get_eflags(env);
    bool cf = fl & FL_CF, af = fl & FL_AF;
    uint16_t ax = (uint16_t)env->s.regs[R_EAX];
    uint8_t al = ax & 0xff, ah = ax >> 8, old = al;
    uint32_t nf = 0;

    switch (kind) {
    case BCD_DAA:
    case BCD_DAS: {
        bool sub = kind == BCD_DAS, ncf = false, naf = false;
        if ((al & 0xf) > 9 || af) {
            ncf = cf || (sub ? al < 6 : al > 0xf9);
            al = sub ? al - 6 : al + 6;
            naf = true;
        }
        if (old > 0x99 || cf) {
            al = sub ? al - 0x60 : al + 0x60;
            ncf = true;
        } else if (!sub) {
            ncf = false;
        }
        uint8_t adj = sub ? old - al : al - old;
        bool of = sub ? ((old ^ adj) & (old ^ al) & 0x80) : ((old ^ al) & (adj ^ al) & 0x80);
        nf = szp8(al) | (ncf ? FL_CF : 0) | (naf ? FL_AF : 0) | (of ? FL_OF : 0);
        ax = (uint16_t)((ax & 0xff00) | al);
        break;
    }
    case BCD_AAA:
    case BCD_AAS:
        if ((al & 0xf) > 9 || af) {
            if (kind == BCD_AAA)
                ax = (uint16_t)(ax + 0x106);
            else
                ax = (uint16_t)(ax - 6 - 0x100);
            nf = FL_AF | FL_CF;
        }
        ax &= 0xff0f;
        nf |= szp8(ax & 0xff);
        break;
    case BCD_AAM:
        if (base == 0)
            dbt_raise(env, EXC_DE, 0, 0);
        ax = (uint16_t)(((al / base) << 8) | (al % base));
        nf = szp8(ax & 0xff);
        break;
    default: /* BCD_AAD */
        al = (uint8_t)alu_exec(ALU_ADD, 1, al, (uint8_t)(ah * base), &env->cc);
        env->s.regs[R_EAX] = (env->s.regs[R_EAX] & ~0xffffull) | al;
        return 0;
    }
    dbt_set_eflags(env, nf, FL_ARITH);
    env->s.regs[R_EAX] = (env->s.regs[R_EAX] & ~0xffffull) | ax;
    return 0;
}

/* ---- bits ---- */

HELPER(helper_bt_disp)
{
    unsigned size = (unsigned)imm;
    int64_t bit = (int64_t)a;
    int shift = size == 2 ? 4 : size == 4 ? 5 : 6;
    return (uint64_t)((bit >> shift) * (int64_t)size);
}

HELPER(helper_bt)
{
    unsigned size = imm & 0xff, mode = (imm >> 8) & 3;
    return alu_bt((int)mode, size, a, b & (size * 8 - 1), &env->cc);
}

HELPER(helper_bsf)
{
    unsigned size = imm & 0xff;
    uint64_t out;
    if (alu_bsf(imm & 0x100, size, a, &out, &env->cc))
        return out;
    return b;
}

HELPER(helper_shld)
{
    unsigned size = imm & 0xff;
    return alu_shld(imm & 0x100, size, a, b, (unsigned)c, &env->cc);
}

HELPER(helper_bswap)
{
    if (imm == 4)
        return __builtin_bswap32((uint32_t)a);
    return 0; /* BSWAP of a 16-bit register: undefined, and zero on Intel and AMD parts */
}

HELPER(helper_cmpxchg8b)
{
    int seg = (int)imm;
    uint64_t v = dbt_ld(env, seg, a, 8);
    uint64_t cmp = (env->s.regs[R_EDX] << 32) | (env->s.regs[R_EAX] & 0xffffffffull);
    if (v == cmp) {
        uint64_t nv = (env->s.regs[R_ECX] << 32) | (env->s.regs[R_EBX] & 0xffffffffull);
        dbt_st(env, seg, a, nv, 8);
        dbt_set_eflags(env, FL_ZF, FL_ZF);
    } else {
        dbt_st(env, seg, a, v, 8); /* the locked cycle writes back what it read */
        env->s.regs[R_EAX] = v & 0xffffffffull;
        env->s.regs[R_EDX] = v >> 32;
        dbt_set_eflags(env, 0, FL_ZF);
    }
    return 0;
}

/* ---- system ---- */

HELPER(helper_hlt)
{
    need_cpl0(env);
    env->s.halted = true;
    return 0;
}

HELPER(helper_cpuid)
{
    uint32_t out[4];
    /* the model follows the machine: the APIC bit only when the board has one */
    CpuModel cm = cpu_model_make(env->m->has_apic);
    cpu_cpuid_model(&cm, (uint32_t)env->s.regs[R_EAX], (uint32_t)env->s.regs[R_ECX], out);
    env->s.regs[R_EAX] = out[0];
    env->s.regs[R_EBX] = out[1];
    env->s.regs[R_ECX] = out[2];
    env->s.regs[R_EDX] = out[3];
    return 0;
}

HELPER(helper_rdtsc)
{
    if ((env->s.cr4 & CR4_TSD) && (env->s.cr0 & CR0_PE) && dbt_cpl(env) != 0)
        dbt_raise(env, EXC_GP, 1, 0);
    uint64_t tsc = (uint64_t)clock_ns(env->m->clock) + env->tsc_offset;
    env->s.regs[R_EAX] = tsc & 0xffffffffull;
    env->s.regs[R_EDX] = tsc >> 32;
    return 0;
}

/* imm: which (0 LGDT 1 LIDT 2 SGDT 3 SIDT) | osz << 8 | seg << 16; a = offset */
HELPER(helper_desc_table)
{
    unsigned which = imm & 0xff, osz = (imm >> 8) & 0xff;
    int seg = (int)((imm >> 16) & 0xff);
    DescTable *dt = (which & 1) ? &env->s.idt : &env->s.gdt;
    if (which < 2) {
        need_cpl0(env);
        uint16_t limit = (uint16_t)dbt_ld(env, seg, a, 2);
        uint32_t base = (uint32_t)dbt_ld(env, seg, (a + 2) & 0xffffffffull, 4);
        if (osz == 2)
            base &= 0xffffff;
        dt->limit = limit;
        dt->base = base;
    } else {
        dbt_st(env, seg, a, dt->limit, 2);
        dbt_st(env, seg, (a + 2) & 0xffffffffull, dt->base & 0xffffffffull, 4);
    }
    return 0;
}

/* ---- protected-mode descriptor instructions, MSRs, SYSENTER, breakpoints ---- */

/* LAR/LSL: a = selector, b = the destination's old value, imm = 1 for LSL. ZF says whether
 * the descriptor was visible; the destination keeps its value when not. */
HELPER(helper_lar_lsl)
{
    uint32_t v;
    bool ok = dbt_lar_lsl(env, (uint16_t)a, imm & 1, &v);
    dbt_set_eflags(env, ok ? FL_ZF : 0, FL_ZF);
    return ok ? v : b;
}

/* VERR/VERW: a = selector, imm = 1 for VERW */
HELPER(helper_verr_verw)
{
    bool ok = dbt_verr_verw(env, (uint16_t)a, imm & 1);
    dbt_set_eflags(env, ok ? FL_ZF : 0, FL_ZF);
    return 0;
}

/* LLDT (imm 0) / LTR (imm 1): a = selector */
HELPER(helper_lldt_ltr)
{
    need_cpl0(env);
    if (imm)
        dbt_ltr(env, (uint16_t)a);
    else
        dbt_lldt(env, (uint16_t)a);
    return 0;
}

/* SLDT (imm 0) / STR (imm 1) */
HELPER(helper_sldt_str)
{
    return imm ? env->s.tr.sel : env->s.ldt.sel;
}

/* ARPL: a = destination selector, b = source selector; returns the new destination. With
 * imm = 0x100 | segment, a is the destination's offset in memory, written only if the RPL
 * is raised (a read-only segment is fine when nothing changes). */
HELPER(helper_arpl)
{
    int seg = imm & 0xff;
    uint64_t d = (imm & 0x100) ? dbt_ld(env, seg, a, 2) : a & 0xffff;
    bool adjust = (d & 3) < (b & 3);
    uint64_t nd = adjust ? ((d & ~3ull) | (b & 3)) & 0xffff : d;
    if (adjust && (imm & 0x100))
        dbt_st(env, seg, a, nd, 2);
    dbt_set_eflags(env, adjust ? FL_ZF : 0, FL_ZF);
    return nd;
}

HELPER(helper_rdmsr)
{
    need_cpl0(env);
    uint64_t v;
    if (!dbt_rdmsr(env, (uint32_t)env->s.regs[R_ECX], &v))
        dbt_raise(env, EXC_GP, 1, 0);
    env->s.regs[R_EAX] = v & 0xffffffffull;
    env->s.regs[R_EDX] = v >> 32;
    return 0;
}

HELPER(helper_wrmsr)
{
    need_cpl0(env);
    uint64_t v = (env->s.regs[R_EDX] << 32) | (env->s.regs[R_EAX] & 0xffffffffull);
    if (!dbt_wrmsr(env, (uint32_t)env->s.regs[R_ECX], v))
        dbt_raise(env, EXC_GP, 1, 0);
    return 0;
}

/* Flat 4 GiB segments of SYSENTER/SYSEXIT (the descriptors are not read). */
static void flat_seg(SegCache *c, uint16_t sel, bool code, unsigned dpl)
{
    c->sel = sel;
    c->base = 0;
    c->limit = 0xffffffff;
    c->attr = SEG_P | SEG_S | SEG_DB | SEG_G | (dpl << SEG_DPL_SHIFT) | (code ? 0xb : 0x3);
}

/* SYSENTER (imm 0) / SYSEXIT (imm 1): returns the new EIP */
HELPER(helper_sysenter)
{
    uint16_t cs = (uint16_t)env->s.sysenter_cs;
    unsigned cpl = dbt_cpl(env);
    if (!(env->s.cr0 & CR0_PE) || (cs & 0xfffc) == 0 || (imm && cpl != 0))
        dbt_raise(env, EXC_GP, 1, 0);
    if (!imm) {
        env->s.rflags &= ~(uint64_t)(FL_VM | FL_IF | FL_RF);
        flat_seg(&env->s.seg[S_CS], cs & 0xfffc, true, 0);
        flat_seg(&env->s.seg[S_SS], (cs + 8) & 0xfffc, false, 0);
        env->s.regs[R_ESP] = env->s.sysenter_esp & 0xffffffffull;
        dbt_cpl_changed(env, cpl);
        return env->s.sysenter_eip & 0xffffffffull;
    }
    flat_seg(&env->s.seg[S_CS], ((cs + 16) & 0xfffc) | 3, true, 3);
    flat_seg(&env->s.seg[S_SS], ((cs + 24) & 0xfffc) | 3, false, 3);
    env->s.regs[R_ESP] = env->s.regs[R_ECX] & 0xffffffffull;
    dbt_cpl_changed(env, cpl);
    return env->s.regs[R_EDX] & 0xffffffffull;
}

/* An instruction breakpoint (DR0-DR3) on this instruction: imm = its DR6 B bits. A fault,
 * unless EFLAGS.RF was set as the instruction began. */
HELPER(helper_bp_check)
{
    if (env->rf_skip)
        return 0;
    env->s.dr[6] = (env->s.dr[6] & ~0xfull) | (imm & 0xf);
    dbt_raise(env, EXC_DB, 0, 0);
}
