/* The softmmu: segment checks, linear -> physical through the guest's page tables, and a
 * direct-mapped TLB of host addends for RAM pages. Anything the TLB does not cover (MMIO, ROM
 * writes, pages that hold translated code, page-crossing accesses) takes the slow path. */
#include <string.h>

#include "dbt/dbt.h"

enum { ACC_READ = 0, ACC_WRITE = 1, ACC_EXEC = 2 };

/* Page-fault error code bits */
#define PF_P (1u << 0)
#define PF_W (1u << 1)
#define PF_U (1u << 2)
#define PF_RSVD (1u << 3)
#define PF_I (1u << 4)

#define PTE_P (1u << 0)
#define PTE_W (1u << 1)
#define PTE_U (1u << 2)
#define PTE_A (1u << 5)
#define PTE_D (1u << 6)
#define PTE_PS (1u << 7)

void dbt_tlb_flush(DbtCpu *env)
{
    memset(env->tlb, 0xff, sizeof(env->tlb));
    /* the jump cache maps linear EIPs to blocks: a new mapping may put other code there */
    memset(env->jc, 0, sizeof(env->jc));
}

static uint32_t phys_ld32(DbtCpu *env, uint64_t pa)
{
    uint32_t v = 0xffffffff;
    as_read(env->as, pa, &v, 4);
    return v;
}

static void phys_st32(DbtCpu *env, uint64_t pa, uint32_t v)
{
    as_write(env->as, pa, &v, 4);
}

_Noreturn static void page_fault(DbtCpu *env, uint64_t lin, int acc, uint32_t err)
{
    env->s.cr2 = lin;
    if (acc == ACC_WRITE)
        err |= PF_W;
    if (dbt_cpl(env) == 3)
        err |= PF_U;
    dbt_raise(env, EXC_PF, 1, err);
}

/* Walk the 2-level (non-PAE) page tables. Returns the physical address and whether the
 * mapping allows writes at the current privilege (so the TLB can cache the answer). */
static uint64_t page_walk(DbtCpu *env, uint64_t lin, int acc, bool *writable)
{
    if (env->s.cr4 & CR4_PAE)
        dbt_fail(env, "PAE paging is not implemented yet (CR4.PAE set at EIP %#llx)",
                 (unsigned long long)env->cur_eip);
    bool user = dbt_cpl(env) == 3;
    bool wp = env->s.cr0 & CR0_WP;
    uint64_t pde_addr = ((env->s.cr3 & ~0xfffull) | ((lin >> 20) & 0xffc)) & env->a20_mask;
    uint32_t pde = phys_ld32(env, pde_addr);
    if (!(pde & PTE_P))
        page_fault(env, lin, acc, 0);
    uint32_t pte, pte_addr = 0;
    uint64_t pa;
    bool is_large = (pde & PTE_PS) && (env->s.cr4 & CR4_PSE);
    if (is_large) {
        pte = pde;
        /* PSE-36 bits 13..16 give physical address bits 32..35 */
        pa = ((uint64_t)(pde & 0xffc00000u) | ((uint64_t)(pde >> 13) & 0xf) << 32) |
             (lin & 0x3fffff);
    } else {
        pte_addr = ((pde & ~0xfffu) | ((lin >> 10) & 0xffc)) & env->a20_mask;
        pte = phys_ld32(env, pte_addr);
        if (!(pte & PTE_P))
            page_fault(env, lin, acc, 0);
        pa = (pte & ~0xfffu) | (lin & 0xfff);
    }
    uint32_t eff = is_large ? pte : (pde & pte);
    bool w_ok = (eff & PTE_W) || (!user && !wp);
    bool u_ok = (eff & PTE_U) != 0;
    if (user && !u_ok)
        page_fault(env, lin, acc, PF_P);
    if (acc == ACC_WRITE && !w_ok)
        page_fault(env, lin, acc, PF_P);
    /* accessed / dirty, as the hardware sets them */
    if (!(pde & PTE_A) || (is_large && acc == ACC_WRITE && !(pde & PTE_D))) {
        pde |= PTE_A;
        if (is_large && acc == ACC_WRITE)
            pde |= PTE_D;
        phys_st32(env, pde_addr, pde);
    }
    if (!is_large && (!(pte & PTE_A) || (acc == ACC_WRITE && !(pte & PTE_D)))) {
        pte |= PTE_A;
        if (acc == ACC_WRITE)
            pte |= PTE_D;
        phys_st32(env, pte_addr, pte);
    }
    /* only cache writability once the dirty bit is set, so the first write sets it */
    *writable = w_ok && (acc == ACC_WRITE || (is_large ? (pde & PTE_D) : (pte & PTE_D)));
    return pa & env->a20_mask;
}

static uint64_t translate(DbtCpu *env, uint64_t lin, int acc, bool *writable)
{
    if (!(env->s.cr0 & CR0_PG)) {
        *writable = true;
        return lin & env->a20_mask;
    }
    return page_walk(env, lin, acc, writable);
}

uint64_t dbt_code_phys(DbtCpu *env, uint64_t lin)
{
    bool w;
    return translate(env, lin, ACC_EXEC, &w);
}

static bool is_code_page(DbtCpu *env, uint64_t phys)
{
    uint64_t pn = phys >> DBT_PAGE_BITS;
    return pn < env->code_pages_n && env->code_pages[pn];
}

/* Fill the TLB for the page of lin if it is plain RAM (ROM: reads only). */
static void tlb_fill(DbtCpu *env, uint64_t lin, uint64_t phys, bool writable)
{
    uint64_t ppage = phys & DBT_PAGE_MASK;
    const MemRegion *r = as_find(env->as, ppage);
    if (!r || r->kind == MEM_MMIO || ppage < r->gpa || ppage + DBT_PAGE_SIZE > r->gpa + r->size)
        return;
    TlbEntry *e = &env->tlb[(lin >> DBT_PAGE_BITS) & (DBT_TLB_SIZE - 1)];
    uint64_t vpage = lin & DBT_PAGE_MASK;
    e->read_tag = vpage;
    e->write_tag = (writable && r->kind == MEM_RAM && !is_code_page(env, ppage)) ? vpage : ~0ull;
    e->addend = (uintptr_t)(r->host + (ppage - r->gpa)) - (uintptr_t)vpage;
    e->phys = ppage;
}

static uint64_t lin_mask(const DbtCpu *env)
{
    return 0xffffffffull;
}

/* Byte-wise slow path used for page-crossing, MMIO and code-page writes. The whole range is
 * translated first so a fault on the second page leaves memory untouched. */
static uint64_t slow_ld(DbtCpu *env, uint64_t lin, unsigned size)
{
    uint8_t buf[8];
    uint64_t pa[2];
    bool w;
    env->st.tlb_misses++;
    uint64_t end = (lin + size - 1) & lin_mask(env);
    pa[0] = translate(env, lin, ACC_READ, &w);
    tlb_fill(env, lin, pa[0], w);
    unsigned first = size;
    if ((lin & DBT_PAGE_MASK) != (end & DBT_PAGE_MASK)) {
        first = DBT_PAGE_SIZE - (lin & (DBT_PAGE_SIZE - 1));
        pa[1] = translate(env, end & DBT_PAGE_MASK, ACC_READ, &w);
    }
    as_read(env->as, pa[0], buf, first);
    if (first < size)
        as_read(env->as, pa[1], buf + first, size - first);
    uint64_t v = 0;
    memcpy(&v, buf, size);
    return v;
}

static void slow_st(DbtCpu *env, uint64_t lin, uint64_t val, unsigned size)
{
    uint64_t pa[2];
    bool w;
    env->st.tlb_misses++;
    uint64_t end = (lin + size - 1) & lin_mask(env);
    pa[0] = translate(env, lin, ACC_WRITE, &w);
    tlb_fill(env, lin, pa[0], w);
    unsigned first = size;
    if ((lin & DBT_PAGE_MASK) != (end & DBT_PAGE_MASK)) {
        first = DBT_PAGE_SIZE - (lin & (DBT_PAGE_SIZE - 1));
        pa[1] = translate(env, end & DBT_PAGE_MASK, ACC_WRITE, &w);
    }
    uint8_t buf[8];
    memcpy(buf, &val, size);
    /* as_write's hook invalidates translated code on these pages */
    as_write(env->as, pa[0], buf, first);
    if (first < size)
        as_write(env->as, pa[1], buf + first, size - first);
}

uint64_t dbt_ld_lin(DbtCpu *env, uint64_t lin, unsigned size)
{
    lin &= lin_mask(env);
    TlbEntry *e = &env->tlb[(lin >> DBT_PAGE_BITS) & (DBT_TLB_SIZE - 1)];
    if (__builtin_expect(e->read_tag == (lin & DBT_PAGE_MASK) &&
                             (lin & (DBT_PAGE_SIZE - 1)) + size <= DBT_PAGE_SIZE,
                         1)) {
        const uint8_t *p = (const uint8_t *)(lin + e->addend);
        switch (size) {
        case 1:
            return *p;
        case 2: {
            uint16_t v;
            memcpy(&v, p, 2);
            return v;
        }
        case 4: {
            uint32_t v;
            memcpy(&v, p, 4);
            return v;
        }
        default: {
            uint64_t v;
            memcpy(&v, p, 8);
            return v;
        }
        }
    }
    return slow_ld(env, lin, size);
}

void dbt_st_lin(DbtCpu *env, uint64_t lin, uint64_t val, unsigned size)
{
    lin &= lin_mask(env);
    TlbEntry *e = &env->tlb[(lin >> DBT_PAGE_BITS) & (DBT_TLB_SIZE - 1)];
    if (__builtin_expect(e->write_tag == (lin & DBT_PAGE_MASK) &&
                             (lin & (DBT_PAGE_SIZE - 1)) + size <= DBT_PAGE_SIZE,
                         1)) {
        memcpy((uint8_t *)(lin + e->addend), &val, size);
        return;
    }
    slow_st(env, lin, val, size);
}

/* Segment limit and type checks: #SS for the stack segment, #GP otherwise (error code 0). */
static inline void seg_check(DbtCpu *env, int seg, uint64_t off, unsigned size, bool write)
{
    const SegCache *sc = &env->s.seg[seg];
    uint64_t last = off + size - 1;
    if (__builtin_expect(sc->limit == 0xffffffff && !(sc->attr & 0x4) && last <= 0xffffffffull &&
                             (!write || (sc->attr & 0xa) == 0x2),
                         1))
        return;
    bool bad;
    if ((env->s.cr0 & CR0_PE) && !(env->s.rflags & FL_VM)) {
        if (!(sc->attr & SEG_P))
            bad = true; /* null or not-present selector */
        else if (write && ((sc->attr & 0x8) || !(sc->attr & 0x2)))
            bad = true; /* code segment, or read-only data */
        else if (!write && (sc->attr & 0xa) == 0x8)
            bad = true; /* execute-only code */
        else if ((sc->attr & 0xc) == 0x4) {
            /* expand-down data: valid offsets are above the limit */
            uint64_t top = (sc->attr & SEG_DB) ? 0xffffffffull : 0xffff;
            bad = off <= sc->limit || last > top;
        } else
            bad = last > sc->limit;
    } else {
        bad = last > sc->limit;
    }
    if (bad)
        dbt_raise(env, seg == S_SS ? EXC_SS : EXC_GP, 1, 0);
}

uint64_t dbt_ld(DbtCpu *env, int seg, uint64_t off, unsigned size)
{
    seg_check(env, seg, off, size, false);
    return dbt_ld_lin(env, env->s.seg[seg].base + off, size);
}

void dbt_st(DbtCpu *env, int seg, uint64_t off, uint64_t val, unsigned size)
{
    seg_check(env, seg, off, size, true);
    dbt_st_lin(env, env->s.seg[seg].base + off, val, size);
}
