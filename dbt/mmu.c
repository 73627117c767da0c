/* The softmmu: segment checks, linear -> physical through the guest's page tables, and a
 * direct-mapped TLB of host addends for RAM pages. Anything the TLB does not cover (MMIO, ROM
 * writes, pages that hold translated code, page-crossing accesses) takes the slow path.
 *
 * Paging follows the SDM vol. 3 ch. 4 for a CPU with MAXPHYADDR 36: 2-level tables with 4 KiB
 * pages and, with CR4.PSE, 4 MiB pages (PSE-36: PDE bits 16:13 are physical bits 35:32, bits
 * 21:17 reserved); PAE 3-level tables with 4 KiB and 2 MiB pages, the four PDPTEs loaded when
 * CR3 is written or PAE paging starts (dbt_load_pdptes), and with EFER.NXE the XD bit. Reserved
 * bits in a present entry give #PF with PF_RSVD; an instruction fetch from an XD page gives
 * #PF with PF_I (reported only with PAE + NXE, as the hardware does). User/supervisor and
 * read/write rights combine over the levels; CR0.WP makes read-only pages read-only for the
 * supervisor too. Accessed bits are set in every entry of a successful walk, the dirty bit in
 * the last one on a write.
 *
 * There are two TLBs, one with the rights of user (CPL 3) accesses and one with the
 * supervisor's, so a CPL change keeps both; implicit supervisor accesses made at CPL 3
 * (descriptor tables, TSS, the inner stack of an interrupt) use the supervisor one. The user
 * TLB is not filled while alignment checking is active, and neither while a data breakpoint
 * is, so every access then reaches dbt_ld/dbt_st, where they are checked (the host-code back
 * end uses the TLB inline). Global pages (CR4.PGE) are flushed like any other: always
 * correct.
 *
 * Page tables that point outside RAM are read through the address space, which gives all-ones
 * for unmapped addresses: a bounded read and, at worst, a guest #PF, never a host access. */
#include <string.h>

#include "dbt/ir.h"

/* ACC_PROBE_WRITE: the checks of a write, without writing or setting accessed/dirty bits */
enum { ACC_READ = 0, ACC_WRITE = 1, ACC_EXEC = 2, ACC_PROBE_WRITE = 3 };

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

#define PHYS_BITS 36
/* PAE: address bits 35:12 of an entry, and its reserved bits 62:36 */
#define PAE_ADDR 0x0000000ffffff000ull
#define PAE_RSVD_HI 0x7ffffff000000000ull
#define PAE_XD (1ull << 63)
/* PDPTE: bits 2:1 and 8:5 are reserved too, and XD always */
#define PDPTE_RSVD (PAE_RSVD_HI | PAE_XD | 0x1e6ull)
/* 2 MiB PDE: bits 20:13 reserved (bit 12 is PAT) */
#define PAE_LARGE_RSVD 0x1fe000ull
/* 4 MiB PSE-36 PDE: bits 21:17 reserved */
#define PSE_LARGE_RSVD 0x3e0000u

/* Direct-mapped entry i of the user or supervisor TLB goes from empty to in use. */
static void tlb_log(DbtCpu *env, bool user, unsigned i)
{
    uint32_t n = env->tlb_nlog[user];
    if (n < DBT_TLB_SIZE)
        env->tlb_log[user][n] = (uint16_t)i;
    if (n <= DBT_TLB_SIZE)
        env->tlb_nlog[user] = n + 1;
}

static unsigned tlb_page_bit(uint64_t phys_page)
{
    uint64_t pn = phys_page >> DBT_PAGE_BITS;
    return (unsigned)(pn ^ (pn >> DBT_JC_BITS)) & ((1u << DBT_JC_BITS) - 1);
}

void dbt_tlb_flush(DbtCpu *env)
{
    _Static_assert(DBT_TLB_SIZE <= 65536, "tlb_log holds 16-bit indices");
    for (unsigned u = 0; u < 2; u++) {
        if (env->tlb_nlog[u] > DBT_TLB_SIZE) {
            memset(env->tlb[u], 0xff, sizeof(env->tlb[u]));
        } else {
            for (uint32_t k = 0; k < env->tlb_nlog[u]; k++)
                memset(&env->tlb[u][env->tlb_log[u][k]], 0xff, sizeof(TlbEntry));
            memset(&env->tlb[u][DBT_TLB_SIZE], 0xff, DBT_TLB_VICTIMS * sizeof(TlbEntry));
        }
        env->tlb_nlog[u] = 0;
    }
    memset(env->tlb_wpages, 0, sizeof(env->tlb_wpages));
    env->tlb_large = false;
    /* the jump cache maps linear EIPs to blocks: a new mapping may put other code there */
    memset(env->jc, 0, sizeof(env->jc));
    memset(env->jc_pages, 0, sizeof(env->jc_pages));
}

void dbt_tlb_protect_code(DbtCpu *env, uint64_t phys_page)
{
    unsigned bit = tlb_page_bit(phys_page);
    if (!(env->tlb_wpages[bit / 64] & (1ull << (bit % 64))))
        return; /* no entry was filled for writes to it since the last flush */
    for (unsigned u = 0; u < 2; u++) {
        bool all = env->tlb_nlog[u] > DBT_TLB_SIZE;
        uint32_t n = all ? DBT_TLB_ALL : env->tlb_nlog[u] + DBT_TLB_VICTIMS;
        for (uint32_t k = 0; k < n; k++) {
            uint32_t i = all                          ? k
                         : k < env->tlb_nlog[u] ? env->tlb_log[u][k]
                                                : DBT_TLB_SIZE + (k - env->tlb_nlog[u]);
            if (env->tlb[u][i].phys == phys_page)
                env->tlb[u][i].write_tag = ~0ull;
        }
    }
}

static void tlb_drop(TlbEntry *e, uint64_t lo, uint64_t hi)
{
    if ((e->read_tag >= lo && e->read_tag < hi) || (e->write_tag >= lo && e->write_tag < hi)) {
        e->read_tag = ~0ull;
        e->write_tag = ~0ull;
    }
}

void dbt_tlb_flush_page(DbtCpu *env, uint64_t lin)
{
    lin &= 0xffffffffull;
    uint64_t lo = lin & DBT_PAGE_MASK, hi = lo + DBT_PAGE_SIZE;
    if (env->tlb_large) {
        /* the page may be a piece of a large one: drop every piece of the 4 MiB around it
         * (a superset of a 2 MiB page) */
        lo = lin & ~0x3fffffull;
        hi = lo + 0x400000;
    }
    for (unsigned u = 0; u < 2; u++) {
        /* a page's entry is at the index of its page number, or among the victims */
        uint64_t pages = (hi - lo) >> DBT_PAGE_BITS;
        for (uint64_t k = 0; k < pages && k < DBT_TLB_SIZE; k++)
            tlb_drop(dbt_tlb_entry(env, u, lo + (k << DBT_PAGE_BITS)), lo, hi);
        for (unsigned i = DBT_TLB_SIZE; i < DBT_TLB_ALL; i++)
            tlb_drop(&env->tlb[u][i], lo, hi);
    }
    if (hi - lo == DBT_PAGE_SIZE) {
        unsigned bit = dbt_jc_page_bit(lo);
        if (!(env->jc_pages[bit / 64] & (1ull << (bit % 64))))
            return; /* no block in jc starts on this page or runs into it */
    }
    for (unsigned i = 0; i < (1u << DBT_JC_BITS); i++) {
        /* a block may run on into the page after its first */
        Block *b = env->jc[i];
        uint64_t p = b ? b->pc & DBT_PAGE_MASK : 0;
        if (b && p + DBT_PAGE_SIZE >= lo && p < hi)
            env->jc[i] = NULL;
    }
}

static uint64_t phys_ld(DbtCpu *env, uint64_t pa, unsigned size)
{
    uint64_t v = 0;
    pa &= env->a20_mask;
    /* page tables are in RAM: straight from the host copy, the rest through the devices */
    const void *p = as_host_ptr(env->as, pa, size, false);
    if (__builtin_expect(p != NULL, 1))
        memcpy(&v, p, size);
    else
        as_read(env->as, pa, &v, size); /* all-ones outside memory */
    return v;
}

static void phys_st32(DbtCpu *env, uint64_t pa, uint32_t v)
{
    as_write(env->as, pa & env->a20_mask, &v, 4);
}

bool dbt_load_pdptes(DbtCpu *env, uint64_t cr3)
{
    uint64_t p[4];
    uint64_t base = cr3 & 0xffffffe0ull;
    for (int i = 0; i < 4; i++) {
        p[i] = phys_ld(env, base + 8 * i, 8);
        if ((p[i] & PTE_P) && (p[i] & PDPTE_RSVD))
            return false;
    }
    memcpy(env->pdpte, p, sizeof(p));
    return true;
}

static bool nx_on(const DbtCpu *env)
{
    return (env->s.cr4 & CR4_PAE) && (env->s.efer & EFER_NXE);
}

_Noreturn static void page_fault(DbtCpu *env, uint64_t lin, int acc, bool user, uint32_t err)
{
    env->s.cr2 = lin;
    if (acc == ACC_WRITE)
        err |= PF_W;
    if (user)
        err |= PF_U;
    if (acc == ACC_EXEC && nx_on(env))
        err |= PF_I;
    dbt_raise(env, EXC_PF, 1, err);
}

typedef struct Walk {
    uint64_t pa;
    bool writable; /* a write with the same rights may go through the TLB (allowed, dirty) */
    bool large;
} Walk;

/* Walk the page tables for an access of kind acc with user (CPL 3) or supervisor rights. */
static void page_walk(DbtCpu *env, uint64_t lin, int acc, bool user, Walk *w)
{
    bool probe = acc == ACC_PROBE_WRITE;
    if (probe)
        acc = ACC_WRITE;
    bool wp = env->s.cr0 & CR0_WP;
    uint64_t ent[3], addr[3]; /* the entries walked, last is the leaf */
    int n = 0;
    uint64_t pa, rights = PTE_W | PTE_U;
    bool xd = false, large = false;

    if (env->s.cr4 & CR4_PAE) {
        uint64_t nxe_rsvd = (env->s.efer & EFER_NXE) ? 0 : PAE_XD;
        uint64_t pdpte = env->pdpte[(lin >> 30) & 3];
        if (!(pdpte & PTE_P))
            page_fault(env, lin, acc, user, 0);
        addr[n] = (pdpte & PAE_ADDR) + ((lin >> 21) & 0x1ff) * 8;
        ent[n] = phys_ld(env, addr[n], 8);
        uint64_t pde = ent[n++];
        if (!(pde & PTE_P))
            page_fault(env, lin, acc, user, 0);
        if (pde & (PAE_RSVD_HI | nxe_rsvd))
            page_fault(env, lin, acc, user, PF_P | PF_RSVD);
        rights &= pde;
        xd |= (pde & PAE_XD) && !nxe_rsvd;
        if (pde & PTE_PS) {
            if (pde & PAE_LARGE_RSVD)
                page_fault(env, lin, acc, user, PF_P | PF_RSVD);
            large = true;
            pa = (pde & PAE_ADDR & ~0x1fffffull) | (lin & 0x1fffff);
        } else {
            addr[n] = (pde & PAE_ADDR) + ((lin >> 12) & 0x1ff) * 8;
            ent[n] = phys_ld(env, addr[n], 8);
            uint64_t pte = ent[n++];
            if (!(pte & PTE_P))
                page_fault(env, lin, acc, user, 0);
            if (pte & (PAE_RSVD_HI | nxe_rsvd))
                page_fault(env, lin, acc, user, PF_P | PF_RSVD);
            rights &= pte;
            xd |= (pte & PAE_XD) && !nxe_rsvd;
            pa = (pte & PAE_ADDR) | (lin & 0xfff);
        }
    } else {
        addr[n] = (env->s.cr3 & 0xfffff000ull) | ((lin >> 20) & 0xffc);
        ent[n] = phys_ld(env, addr[n], 4);
        uint32_t pde = (uint32_t)ent[n++];
        if (!(pde & PTE_P))
            page_fault(env, lin, acc, user, 0);
        rights &= pde;
        if ((pde & PTE_PS) && (env->s.cr4 & CR4_PSE)) {
            if (pde & PSE_LARGE_RSVD)
                page_fault(env, lin, acc, user, PF_P | PF_RSVD);
            large = true;
            pa = (pde & 0xffc00000u) | ((uint64_t)(pde >> 13) & 0xf) << 32 | (lin & 0x3fffff);
        } else {
            addr[n] = (pde & 0xfffff000u) | ((lin >> 10) & 0xffc);
            ent[n] = phys_ld(env, addr[n], 4);
            uint32_t pte = (uint32_t)ent[n++];
            if (!(pte & PTE_P))
                page_fault(env, lin, acc, user, 0);
            rights &= pte;
            pa = (pte & 0xfffff000u) | (lin & 0xfff);
        }
    }

    bool w_ok = (rights & PTE_W) || (!user && !wp);
    if (user && !(rights & PTE_U))
        page_fault(env, lin, acc, user, PF_P);
    if (acc == ACC_WRITE && !w_ok)
        page_fault(env, lin, acc, user, PF_P);
    if (acc == ACC_EXEC && xd)
        page_fault(env, lin, acc, user, PF_P);

    /* accessed bits on the way down, dirty in the leaf, as the hardware sets them */
    for (int i = 0; i < n && !probe; i++) {
        uint32_t lo = (uint32_t)ent[i], nlo = lo | PTE_A;
        if (i == n - 1 && acc == ACC_WRITE)
            nlo |= PTE_D;
        if (nlo != lo)
            phys_st32(env, addr[i], nlo);
        ent[i] = (ent[i] & ~0xffffffffull) | nlo;
    }
    /* cache writability only once the dirty bit is set, so the first write sets it */
    w->writable = w_ok && (ent[n - 1] & PTE_D);
    w->large = large;
    w->pa = pa & ((1ull << PHYS_BITS) - 1);
}

static uint64_t translate(DbtCpu *env, uint64_t lin, int acc, bool user, Walk *w)
{
    if (!(env->s.cr0 & CR0_PG)) {
        w->writable = true;
        w->large = false;
        w->pa = lin & env->a20_mask;
        return w->pa;
    }
    page_walk(env, lin, acc, user, w);
    w->pa &= env->a20_mask;
    return w->pa;
}

static bool cur_user(const DbtCpu *env)
{
    return dbt_cpl(env) == 3;
}

/* Alignment checking (CR0.AM, EFLAGS.AC, CPL 3) is on. */
static inline bool ac_on(const DbtCpu *env)
{
    return (env->s.rflags & FL_AC) && (env->s.cr0 & CR0_AM) && cur_user(env);
}

static bool is_code_page(DbtCpu *env, uint64_t phys)
{
    uint64_t pn = phys >> DBT_PAGE_BITS;
    return pn < env->code_pages_n && env->code_pages[pn];
}

/* Fill user's TLB for the page of lin if it is plain RAM (ROM: reads only). user: the rights
 * the walk used. */
static void tlb_fill(DbtCpu *env, uint64_t lin, const Walk *w, bool user)
{
    if ((user && ac_on(env)) || ((env->s.dr[7] & 0xff) && dbt_data_bp_active(env)))
        return;
    uint64_t ppage = w->pa & DBT_PAGE_MASK;
    const MemRegion *r = as_find(env->as, ppage);
    if (!r || r->kind == MEM_MMIO || ppage < r->gpa || ppage + DBT_PAGE_SIZE > r->gpa + r->size)
        return;
    TlbEntry *e = dbt_tlb_entry(env, user, lin);
    uint64_t vpage = lin & DBT_PAGE_MASK;
    if (e->read_tag == ~0ull)
        tlb_log(env, user, (unsigned)(e - env->tlb[user]));
    else if (e->read_tag != vpage)
        env->tlb[user][DBT_TLB_SIZE + (env->tlb_victim_next++ % DBT_TLB_VICTIMS)] = *e;
    e->read_tag = vpage;
    e->write_tag =
        (w->writable && r->kind == MEM_RAM && !is_code_page(env, ppage)) ? vpage : ~0ull;
    if (e->write_tag != ~0ull) {
        unsigned bit = tlb_page_bit(ppage);
        env->tlb_wpages[bit / 64] |= 1ull << (bit % 64);
    }
    e->addend = (uintptr_t)(r->host + (ppage - r->gpa)) - (uintptr_t)vpage;
    e->phys = ppage;
    env->tlb_large |= w->large;
}

uint64_t dbt_code_phys(DbtCpu *env, uint64_t lin)
{
    Walk w;
    bool user = cur_user(env);
    translate(env, lin, ACC_EXEC, user, &w);
    tlb_fill(env, lin, &w, user); /* fetchable implies readable: the translator reads it */
    return w.pa;
}

static uint64_t lin_mask(const DbtCpu *env)
{
    return 0xffffffffull;
}

/* A miss in the direct-mapped TLB may hit an evicted entry: swap it back in. */
static bool victim_hit(DbtCpu *env, uint64_t lin, unsigned size, bool write, bool user)
{
    uint64_t vpage = lin & DBT_PAGE_MASK;
    if ((lin & (DBT_PAGE_SIZE - 1)) + size > DBT_PAGE_SIZE)
        return false;
    for (unsigned i = DBT_TLB_SIZE; i < DBT_TLB_ALL; i++) {
        TlbEntry *v = &env->tlb[user][i];
        if ((write ? v->write_tag : v->read_tag) == vpage) {
            TlbEntry *e = dbt_tlb_entry(env, user, lin);
            if (e->read_tag == ~0ull)
                tlb_log(env, user, (unsigned)(e - env->tlb[user]));
            TlbEntry t = *e;
            *e = *v;
            *v = t;
            return true;
        }
    }
    return false;
}

/* Byte-wise slow path used for page-crossing, MMIO and code-page writes. The whole range is
 * translated first so a fault on the second page leaves memory untouched. */
static inline uint64_t ld_lin(DbtCpu *env, uint64_t lin, unsigned size, bool user);
static inline void st_lin(DbtCpu *env, uint64_t lin, uint64_t val, unsigned size, bool user);

static uint64_t slow_ld(DbtCpu *env, uint64_t lin, unsigned size, bool user)
{
    uint8_t buf[8];
    uint64_t pa[2];
    Walk w;
    if (victim_hit(env, lin, size, false, user))
        return ld_lin(env, lin, size, user);
    env->st.tlb_misses++;
    uint64_t end = (lin + size - 1) & lin_mask(env);
    pa[0] = translate(env, lin, ACC_READ, user, &w);
    tlb_fill(env, lin, &w, user);
    unsigned first = size;
    if ((lin & DBT_PAGE_MASK) != (end & DBT_PAGE_MASK)) {
        first = DBT_PAGE_SIZE - (lin & (DBT_PAGE_SIZE - 1));
        pa[1] = translate(env, end & DBT_PAGE_MASK, ACC_READ, user, &w);
    } else if (dbt_tlb_entry(env, user, lin)->read_tag == (lin & DBT_PAGE_MASK)) {
        return ld_lin(env, lin, size, user); /* a RAM page, now in the TLB */
    }
    as_read(env->as, pa[0], buf, first);
    if (first < size)
        as_read(env->as, pa[1], buf + first, size - first);
    uint64_t v = 0;
    memcpy(&v, buf, size);
    return v;
}

static void slow_st(DbtCpu *env, uint64_t lin, uint64_t val, unsigned size, bool user)
{
    uint64_t pa[2];
    Walk w;
    if (victim_hit(env, lin, size, true, user)) {
        st_lin(env, lin, val, size, user);
        return;
    }
    env->st.tlb_misses++;
    uint64_t end = (lin + size - 1) & lin_mask(env);
    pa[0] = translate(env, lin, ACC_WRITE, user, &w);
    tlb_fill(env, lin, &w, user);
    unsigned first = size;
    if ((lin & DBT_PAGE_MASK) != (end & DBT_PAGE_MASK)) {
        first = DBT_PAGE_SIZE - (lin & (DBT_PAGE_SIZE - 1));
        pa[1] = translate(env, end & DBT_PAGE_MASK, ACC_WRITE, user, &w);
    } else if (dbt_tlb_entry(env, user, lin)->write_tag == (lin & DBT_PAGE_MASK)) {
        st_lin(env, lin, val, size, user); /* plain RAM without code, now in the TLB */
        return;
    }
    uint8_t buf[8];
    memcpy(buf, &val, size);
    /* as_write's hook invalidates translated code on these pages */
    as_write(env->as, pa[0], buf, first);
    if (first < size)
        as_write(env->as, pa[1], buf + first, size - first);
}

static inline uint64_t ld_lin(DbtCpu *env, uint64_t lin, unsigned size, bool user)
{
    lin &= lin_mask(env);
    TlbEntry *e = dbt_tlb_entry(env, user, lin);
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
    return slow_ld(env, lin, size, user);
}

static inline void st_lin(DbtCpu *env, uint64_t lin, uint64_t val, unsigned size, bool user)
{
    lin &= lin_mask(env);
    TlbEntry *e = dbt_tlb_entry(env, user, lin);
    if (__builtin_expect(e->write_tag == (lin & DBT_PAGE_MASK) &&
                             (lin & (DBT_PAGE_SIZE - 1)) + size <= DBT_PAGE_SIZE,
                         1)) {
        memcpy((uint8_t *)(lin + e->addend), &val, size);
        return;
    }
    slow_st(env, lin, val, size, user);
}

uint64_t dbt_ld_lin(DbtCpu *env, uint64_t lin, unsigned size)
{
    return ld_lin(env, lin, size, false);
}

void dbt_st_lin(DbtCpu *env, uint64_t lin, uint64_t val, unsigned size)
{
    st_lin(env, lin, val, size, false);
}

uint64_t dbt_ld_lin_priv(DbtCpu *env, uint64_t lin, unsigned size, bool user)
{
    return ld_lin(env, lin, size, user);
}

void dbt_st_lin_priv(DbtCpu *env, uint64_t lin, uint64_t val, unsigned size, bool user)
{
    st_lin(env, lin, val, size, user);
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

/* The rare checks of a data access: alignment (#AC) and data breakpoints. */
static void access_checks(DbtCpu *env, uint64_t lin, unsigned size, bool write)
{
    if (size > 1 && (lin & (size - 1)) && ac_on(env))
        dbt_raise(env, EXC_AC, 1, 0);
    if (env->s.dr[7] & 0xff)
        dbt_data_bp_check(env, lin, size, write);
}

void dbt_probe_write(DbtCpu *env, int seg, uint64_t off, unsigned size)
{
    seg_check(env, seg, off, size, true);
    uint64_t lin = (env->s.seg[seg].base + off) & lin_mask(env);
    if (env->s.cr0 & CR0_PG) {
        Walk w;
        page_walk(env, lin, ACC_PROBE_WRITE, cur_user(env), &w);
        if ((lin & DBT_PAGE_MASK) != ((lin + size - 1) & lin_mask(env) & DBT_PAGE_MASK))
            page_walk(env, (lin + size - 1) & lin_mask(env) & DBT_PAGE_MASK, ACC_PROBE_WRITE,
                      cur_user(env), &w);
    }
}

uint64_t dbt_ld(DbtCpu *env, int seg, uint64_t off, unsigned size)
{
    seg_check(env, seg, off, size, false);
    uint64_t lin = env->s.seg[seg].base + off;
    if (__builtin_expect((env->s.rflags & FL_AC) | (env->s.dr[7] & 0xff), 0))
        access_checks(env, lin & lin_mask(env), size, false);
    return ld_lin(env, lin, size, cur_user(env));
}

void dbt_st(DbtCpu *env, int seg, uint64_t off, uint64_t val, unsigned size)
{
    seg_check(env, seg, off, size, true);
    uint64_t lin = env->s.seg[seg].base + off;
    if (__builtin_expect((env->s.rflags & FL_AC) | (env->s.dr[7] & 0xff), 0))
        access_checks(env, lin & lin_mask(env), size, true);
    st_lin(env, lin, val, size, cur_user(env));
}
