/* The softmmu's page walks (dbt/mmu.c) on page tables crafted in guest RAM: 2-level with 4 KiB
 * and 4 MiB (PSE, PSE-36) pages, PAE with 2 MiB pages and NX; the page-fault error codes and
 * CR2 of the SDM (vol. 3 4.7), accessed and dirty bits, CR0.WP, user/supervisor rights, the
 * PDPTE reserved-bit check, INVLPG of one page (and of a large page); hostile tables that
 * point outside RAM, which must end in a guest #PF or a bounded read; and the MSRs that
 * paging depends on (EFER). */
#include <criterion/criterion.h>
#include <setjmp.h>
#include <string.h>

#include "cpu/cpuid.h"
#include "dbt/dbt.h"
#include "dbt/helpers.h"
#include "hw/pc.h"

#define P 0x1u
#define W 0x2u
#define U 0x4u
#define A 0x20u
#define D 0x40u
#define PS 0x80u
#define PF_P 0x1u
#define PF_W 0x2u
#define PF_U 0x4u
#define PF_RSVD 0x8u
#define PF_I 0x10u
#define XD (1ull << 63)

#define PD 0x10000   /* page directory (2-level) */
#define PT 0x11000   /* a page table */
#define PDPT 0x12000 /* PAE */
#define PAE_PD 0x13000
#define PAE_PT 0x14000
#define FRAME 0x20000 /* data frames from here */

static Machine *m;
static DbtCpu *env;

static void setup(void)
{
    MachineConfig cfg = {.ram_size = 16 << 20, .serial = "none"};
    char err[256];
    m = pc_new(&cfg, err, sizeof(err));
    cr_assert(m, "%s", err);
    env = dbt_new(m);
    cr_assert(env);
    cpu_set_flat32(&env->s, 0x1000);
    env->s.cr4 = 0;
    env->s.efer = 0;
    env->s.cr0 |= CR0_PG;
    env->s.cr3 = PD;
    dbt_tlb_flush(env);
}

static void teardown(void)
{
    dbt_free(env);
    pc_free(m);
}

TestSuite(mmu, .init = setup, .fini = teardown);

static void wr32(uint64_t gpa, uint32_t v)
{
    cr_assert_eq(as_write(m->as, gpa, &v, 4), MEM_OK);
}

static void wr64(uint64_t gpa, uint64_t v)
{
    cr_assert_eq(as_write(m->as, gpa, &v, 8), MEM_OK);
}

static uint32_t rd32(uint64_t gpa)
{
    uint32_t v = 0;
    as_read(m->as, gpa, &v, 4);
    return v;
}

/* The CPL the walks see (user = CPL 3). */
static void set_cpl(unsigned cpl)
{
    env->s.seg[S_CS].sel = (uint16_t)((env->s.seg[S_CS].sel & ~3u) | cpl);
    dbt_tlb_flush(env);
}

enum { RD, WR, EX };

typedef struct Res {
    int vec; /* -1: no exception */
    uint32_t err;
    uint64_t cr2;
    uint64_t val; /* what a read gave, the physical address of a fetch */
} Res;

/* One access with the rights of user (CPL 3) or supervisor; a fetch uses the current CPL. */
static Res probe(int kind, uint64_t lin, bool user)
{
    jmp_buf jb, *saved = env->unwind;
    volatile Res r = {-1, 0, 0, 0};
    env->unwind = &jb;
    env->pending_exc = -1;
    env->s.cr2 = 0xdeadbeef;
    if (setjmp(jb)) {
        r.vec = env->pending_exc;
        r.err = env->pending_err;
        r.cr2 = env->s.cr2;
    } else if (kind == RD) {
        r.val = dbt_ld_lin_priv(env, lin, 4, user);
    } else if (kind == WR) {
        dbt_st_lin_priv(env, lin, 0x600dd00d, 4, user);
    } else {
        r.val = dbt_code_phys(env, lin);
    }
    env->unwind = saved;
    env->pending_exc = -1;
    return (Res){r.vec, r.err, r.cr2, r.val};
}

static void expect_pf(Res r, uint32_t err, uint64_t cr2, const char *what)
{
    cr_assert_eq(r.vec, EXC_PF, "%s: vector %d, expected #PF", what, r.vec);
    cr_assert_eq(r.err, err, "%s: error code %#x, expected %#x", what, r.err, err);
    cr_assert_eq(r.cr2, cr2, "%s: CR2 %#llx, expected %#llx", what, (unsigned long long)r.cr2,
                 (unsigned long long)cr2);
}

static void expect_ok(Res r, const char *what)
{
    cr_assert_eq(r.vec, -1, "%s: exception %d (error %#x)", what, r.vec, r.err);
}

/* 2-level: PD[0] -> PT, PT[i] -> FRAME + i pages with the given flags */
static void map4k(unsigned i, uint32_t flags)
{
    wr32(PD, PT | P | W | U);
    wr32(PT + 4 * i, (FRAME + 0x1000 * i) | flags);
}

Test(mmu, not_present_and_error_codes)
{
    wr32(PD + 4, 0); /* PDE 1 missing */
    expect_pf(probe(RD, 0x400123, false), 0, 0x400123, "missing PDE, read");
    expect_pf(probe(WR, 0x400123, false), PF_W, 0x400123, "missing PDE, write");
    expect_pf(probe(RD, 0x400123, true), PF_U, 0x400123, "missing PDE, user read");
    map4k(1, 0);
    expect_pf(probe(WR, 0x1ffc, true), PF_W | PF_U, 0x1ffc, "missing PTE, user write");
    expect_pf(probe(EX, 0x1000, false), 0, 0x1000, "missing PTE, fetch (no I/D without NX)");
}

Test(mmu, rights)
{
    map4k(2, P);     /* read-only, supervisor */
    map4k(3, P | U); /* read-only, user */
    map4k(4, P | W); /* writable, supervisor */
    expect_pf(probe(RD, 0x2000, true), PF_P | PF_U, 0x2000, "user read of supervisor page");
    expect_pf(probe(WR, 0x4000, true), PF_P | PF_W | PF_U, 0x4000, "user write, supervisor");
    expect_pf(probe(WR, 0x3008, true), PF_P | PF_W | PF_U, 0x3008, "user write, read-only");
    expect_ok(probe(RD, 0x3008, true), "user read of a read-only user page");
    expect_ok(probe(WR, 0x2010, false), "supervisor write to read-only, WP clear");
    cr_assert_eq(rd32(FRAME + 0x2010), 0x600dd00d);
    env->s.cr0 |= CR0_WP;
    dbt_tlb_flush(env);
    expect_pf(probe(WR, 0x2014, false), PF_P | PF_W, 0x2014, "supervisor write, WP set");
    /* the PDE's rights combine with the PTE's */
    wr32(PD, PT | P | W); /* supervisor PDE */
    wr32(PT + 4 * 5, (FRAME + 0x5000) | P | W | U);
    dbt_tlb_flush(env);
    expect_pf(probe(RD, 0x5000, true), PF_P | PF_U, 0x5000, "user PTE under supervisor PDE");
    /* an implicit supervisor access at CPL 3 walks as supervisor and is not cached */
    set_cpl(3);
    expect_ok(probe(RD, 0x4000, false), "supervisor access at CPL 3");
    expect_pf(probe(RD, 0x4000, true), PF_P | PF_U, 0x4000, "the same page, user, after it");
}

Test(mmu, accessed_dirty)
{
    map4k(6, P | W);
    expect_ok(probe(RD, 0x6000, false), "read");
    cr_assert_eq(rd32(PT + 4 * 6) & (A | D), A, "a read sets A only");
    cr_assert_eq(rd32(PD) & (A | D), A, "the PDE gets A");
    expect_ok(probe(RD, 0x6004, false), "read from the TLB");
    expect_ok(probe(WR, 0x6004, false), "first write after a cached read");
    cr_assert_eq(rd32(PT + 4 * 6) & (A | D), A | D, "the first write sets D");
    /* a fault sets neither */
    map4k(7, P);
    env->s.cr0 |= CR0_WP;
    expect_pf(probe(WR, 0x7000, false), PF_P | PF_W, 0x7000, "WP fault");
    cr_assert_eq(rd32(PT + 4 * 7) & (A | D), 0, "a faulting walk sets no A/D");
}

Test(mmu, large_pages_pse)
{
    wr32(PD + 4 * 2, 0x00c00000 | P | W | PS); /* 8 MiB -> 12 MiB */
    /* without CR4.PSE the PS bit is ignored: the PDE names a page table at 12 MiB */
    wr32(0x00c00000 + 4 * 3, (FRAME + 0x9000) | P);
    Res r = probe(EX, 0x803000, false);
    expect_ok(r, "PS ignored without PSE");
    cr_assert_eq(r.val, FRAME + 0x9000);
    env->s.cr4 |= CR4_PSE;
    dbt_tlb_flush(env);
    r = probe(EX, 0x8abcde, false);
    expect_ok(r, "4 MiB page");
    cr_assert_eq(r.val, 0x00cabcde);
    cr_assert_eq(rd32(PD + 8) & (A | D), A);
    expect_ok(probe(WR, 0x800000, false), "4 MiB page write");
    cr_assert_eq(rd32(PD + 8) & (A | D), A | D, "a 4 MiB PDE is the leaf: it gets D");
    /* PSE-36: bits 16:13 are physical 35:32, bits 21:17 reserved */
    wr32(PD + 4 * 3, 0x00400000 | (0x5u << 13) | P | PS);
    r = probe(EX, 0xc00010, false);
    expect_ok(r, "PSE-36");
    cr_assert_eq(r.val, 0x500400010ull);
    r = probe(RD, 0xc00010, false); /* above RAM: a bounded read of all-ones */
    expect_ok(r, "read above 4 GiB");
    cr_assert_eq(r.val, 0xffffffffull);
    wr32(PD + 4 * 3, 0x00400000 | (1u << 21) | P | PS);
    dbt_tlb_flush(env);
    expect_pf(probe(RD, 0xc00010, false), PF_P | PF_RSVD, 0xc00010, "reserved bit 21");
    expect_pf(probe(WR, 0xc00010, true), PF_P | PF_RSVD | PF_W | PF_U, 0xc00010,
              "reserved bit 21, user write");
}

/* PAE: PDPT[0] -> PAE_PD; PAE_PD[0] -> PAE_PT */
static void pae_on(uint64_t efer)
{
    wr64(PDPT, PAE_PD | P);
    wr64(PDPT + 8, 0);
    wr64(PDPT + 16, 0);
    wr64(PDPT + 24, 0);
    wr64(PAE_PD, PAE_PT | P | W | U);
    env->s.cr3 = PDPT;
    env->s.cr4 |= CR4_PAE;
    env->s.efer = efer;
    cr_assert(dbt_load_pdptes(env, PDPT));
    dbt_tlb_flush(env);
}

Test(mmu, pae_walks)
{
    pae_on(0);
    wr64(PAE_PT + 8 * 1, (FRAME + 0x1000) | P | W);
    Res r = probe(EX, 0x1234, false);
    expect_ok(r, "PAE 4 KiB page");
    cr_assert_eq(r.val, FRAME + 0x1234);
    wr64(PAE_PD + 8 * 1, 0x00600000 | P | W | PS); /* 2 MiB page */
    r = probe(EX, 0x3fffff, false);
    expect_ok(r, "PAE 2 MiB page");
    cr_assert_eq(r.val, 0x7fffff);
    expect_ok(probe(WR, 0x200000, false), "2 MiB page write");
    uint32_t lo = rd32(PAE_PD + 8);
    cr_assert_eq(lo & (A | D), A | D, "2 MiB PDE: A and D");
    /* missing PDPTE, PDE, PTE */
    expect_pf(probe(RD, 0x40000000, false), 0, 0x40000000, "missing PDPTE");
    expect_pf(probe(WR, 0x00a00000, true), PF_W | PF_U, 0x00a00000, "missing PDE");
    expect_pf(probe(RD, 0x5000, false), 0, 0x5000, "missing PTE");
    /* reserved bits: above MAXPHYADDR (36), bits 20:13 of a 2 MiB PDE, XD without NXE */
    wr64(PAE_PT + 8 * 2, (FRAME + 0x2000) | P | (1ull << 40));
    expect_pf(probe(RD, 0x2000, false), PF_P | PF_RSVD, 0x2000, "PTE bit 40");
    wr64(PAE_PD + 8 * 2, 0x00800000 | P | PS | (1u << 13));
    expect_pf(probe(RD, 0x400000, false), PF_P | PF_RSVD, 0x400000, "2 MiB PDE bit 13");
    wr64(PAE_PT + 8 * 3, (FRAME + 0x3000) | P | XD);
    expect_pf(probe(RD, 0x3000, false), PF_P | PF_RSVD, 0x3000, "XD with NXE clear");
    /* physical bits 35:32 are real: a bounded read above RAM */
    wr64(PAE_PT + 8 * 4, 0x300000000ull | P);
    Res rr = probe(RD, 0x4000, false);
    expect_ok(rr, "PAE page above 4 GiB");
    cr_assert_eq(rr.val, 0xffffffffull);
}

Test(mmu, pae_pdpte_reserved)
{
    pae_on(0);
    wr64(PDPT + 8, PAE_PD | P | W); /* bit 1 is reserved in a PAE PDPTE */
    uint64_t before = env->pdpte[0];
    cr_assert(!dbt_load_pdptes(env, PDPT), "a reserved PDPTE bit must be refused (#GP)");
    cr_assert_eq(env->pdpte[0], before, "nothing loaded");
    wr64(PDPT + 8, (1ull << 40) | PAE_PD | P);
    cr_assert(!dbt_load_pdptes(env, PDPT));
    wr64(PDPT + 8, XD | PAE_PD | P);
    cr_assert(!dbt_load_pdptes(env, PDPT), "XD is reserved in a PDPTE");
    wr64(PDPT + 8, 0xffffffffffffff00ull); /* not present: its other bits do not matter */
    cr_assert(dbt_load_pdptes(env, PDPT));
    /* the PDPTEs are the ones loaded, not the memory's */
    wr64(PDPT, 0);
    wr64(PAE_PT + 8 * 1, (FRAME + 0x1000) | P);
    expect_ok(probe(RD, 0x1000, false), "walk through the loaded PDPTE");
}

Test(mmu, nx)
{
    pae_on(EFER_NXE);
    wr64(PAE_PT + 8 * 1, (FRAME + 0x1000) | P | W | U | XD);
    wr64(PAE_PT + 8 * 2, (FRAME + 0x2000) | P | W | U);
    expect_ok(probe(RD, 0x1000, false), "data read of an XD page");
    expect_pf(probe(EX, 0x1000, false), PF_P | PF_I, 0x1000, "fetch from an XD page");
    expect_ok(probe(EX, 0x2000, false), "fetch from a page without XD");
    expect_pf(probe(EX, 0x7000, false), PF_I, 0x7000, "missing page fetch: I/D with NXE");
    set_cpl(3);
    expect_pf(probe(EX, 0x1ffe, false), PF_P | PF_U | PF_I, 0x1ffe, "user fetch, XD");
    set_cpl(0);
    /* XD in the PDE covers the whole table */
    wr64(PAE_PD, PAE_PT | P | W | U | XD);
    dbt_tlb_flush(env);
    expect_pf(probe(EX, 0x2000, false), PF_P | PF_I, 0x2000, "XD in the PDE");
    /* a 2 MiB XD page */
    wr64(PAE_PD + 8, 0x00600000 | P | PS | XD);
    expect_pf(probe(EX, 0x200000, false), PF_P | PF_I, 0x200000, "2 MiB XD page");
}

Test(mmu, invlpg)
{
    map4k(8, P | W);
    map4k(9, P | W);
    wr32(FRAME + 0x8000, 0x11111111);
    wr32(FRAME + 0x9000, 0x22222222);
    wr32(FRAME + 0xa000, 0x33333333);
    cr_assert_eq(probe(RD, 0x8000, false).val, 0x11111111);
    cr_assert_eq(probe(RD, 0x9000, false).val, 0x22222222);
    /* both PTEs move to frame 0xa; INVLPG only page 8 */
    wr32(PT + 4 * 8, (FRAME + 0xa000) | P | W);
    wr32(PT + 4 * 9, (FRAME + 0xa000) | P | W);
    dbt_tlb_flush_page(env, 0x8abc);
    cr_assert_eq(probe(RD, 0x8000, false).val, 0x33333333, "INVLPG: the new mapping");
    cr_assert_eq(probe(RD, 0x9000, false).val, 0x22222222, "INVLPG left the other page");
    dbt_tlb_flush(env);
    cr_assert_eq(probe(RD, 0x9000, false).val, 0x33333333);
    /* a large page: INVLPG anywhere in it drops all of its pieces */
    env->s.cr4 |= CR4_PSE;
    wr32(PD + 4 * 2, 0x00c00000 | P | W | PS);
    wr32(0x00c05000, 0x44444444);
    cr_assert_eq(probe(RD, 0x805000, false).val, 0x44444444);
    wr32(PD + 4 * 2, 0x00400000 | P | W | PS);
    wr32(0x00405000, 0x55555555);
    dbt_tlb_flush_page(env, 0x9ff000);
    cr_assert_eq(probe(RD, 0x805000, false).val, 0x55555555, "INVLPG in a 4 MiB page");
}

/* Tables full of junk or pointing outside RAM: every access must end in a guest #PF or a
 * bounded read, never a host fault. */
Test(mmu, hostile_tables)
{
    static const uint64_t cr3s[] = {0xfffff000, 0x7ffff000, 0xfee00000, 0x00fff000, 0};
    static const uint64_t lins[] = {0, 0x1000, 0x7fffeffc, 0xfffffffc, 0xfee00000, 0xc0000000};
    for (int pse = 0; pse < 2; pse++) {
        for (size_t c = 0; c < sizeof(cr3s) / sizeof(cr3s[0]); c++) {
            env->s.cr3 = cr3s[c];
            env->s.cr4 = pse ? CR4_PSE : 0;
            dbt_tlb_flush(env);
            for (size_t l = 0; l < sizeof(lins) / sizeof(lins[0]); l++) {
                for (int k = RD; k <= EX; k++) {
                    Res r = probe(k, lins[l], k == RD);
                    cr_assert(r.vec == -1 || r.vec == EXC_PF, "vector %d", r.vec);
                }
            }
        }
    }
    /* RAM full of all-ones entries: present, everything set */
    for (uint32_t a = PD; a < PD + 0x2000; a += 4)
        wr32(a, 0xffffffffu);
    env->s.cr3 = PD;
    env->s.cr4 = CR4_PSE;
    dbt_tlb_flush(env);
    expect_pf(probe(RD, 0x1000, false), PF_P | PF_RSVD, 0x1000, "all-ones 4 MiB PDE");
    env->s.cr4 = 0;
    dbt_tlb_flush(env);
    Res r = probe(RD, 0x1000, false); /* PDE -> PT at 0xfffff000 (above RAM: all ones) */
    cr_assert(r.vec == -1 || r.vec == EXC_PF);
    /* PAE with an all-ones PDPT: refused at load; with all-ones PDEs: RSVD */
    for (uint32_t a = PDPT; a < PDPT + 0x3000; a += 4)
        wr32(a, 0xffffffffu);
    cr_assert(!dbt_load_pdptes(env, PDPT));
    wr64(PDPT, PAE_PD | P);
    cr_assert(dbt_load_pdptes(env, PDPT) == false, "the other three are still all-ones");
    wr64(PDPT + 8, 0);
    wr64(PDPT + 16, 0);
    wr64(PDPT + 24, 0);
    cr_assert(dbt_load_pdptes(env, PDPT));
    env->s.cr4 = CR4_PAE;
    env->s.cr3 = PDPT;
    dbt_tlb_flush(env);
    expect_pf(probe(RD, 0x1000, false), PF_P | PF_RSVD, 0x1000, "all-ones PAE PDE");
    env->s.efer = EFER_NXE;
    expect_pf(probe(EX, 0x1000, false), PF_P | PF_RSVD | PF_I, 0x1000, "all-ones PAE, fetch");
}

Test(mmu, efer_and_msrs)
{
    uint64_t v;
    cr_assert(!dbt_wrmsr(env, 0xc0000080, EFER_LME), "EFER.LME: no long mode (#GP)");
    cr_assert(!dbt_wrmsr(env, 0xc0000080, EFER_SCE), "EFER.SCE: no SYSCALL (#GP)");
    cr_assert(dbt_wrmsr(env, 0xc0000080, EFER_NXE));
    cr_assert(dbt_rdmsr(env, 0xc0000080, &v));
    cr_assert_eq(v, EFER_NXE);
    cr_assert(!dbt_rdmsr(env, 0x12345678, &v), "unknown MSR: #GP");
    cr_assert(!dbt_wrmsr(env, 0x277, 0x0202020202020202ull), "PAT type 2 is reserved");
    cr_assert(dbt_wrmsr(env, 0x277, 0x0007010600070106ull));
    cr_assert(dbt_rdmsr(env, 0x277, &v));
    cr_assert_eq(v, 0x0007010600070106ull);
    cr_assert(dbt_wrmsr(env, 0x2ff, 0xc06));
    cr_assert(!dbt_wrmsr(env, 0x2ff, 0x1006), "MTRRdefType reserved bit");
    cr_assert(dbt_wrmsr(env, 0x200, 0x80000006));
    cr_assert(dbt_wrmsr(env, 0x201, 0xf80000800ull));
    cr_assert(!dbt_wrmsr(env, 0x201, 0xf80000801ull), "PHYSMASK bit 0 reserved");
    cr_assert(dbt_rdmsr(env, 0x201, &v));
    cr_assert_eq(v, 0xf80000800ull);
    cr_assert(dbt_rdmsr(env, 0xfe, &v));
    cr_assert_eq(v & 0xff, 8);
    cr_assert(!dbt_wrmsr(env, 0xfe, 0), "MTRRcap is read-only");
    cr_assert(dbt_wrmsr(env, 0x10, 1000000000ull));
    cr_assert(dbt_rdmsr(env, 0x10, &v));
    cr_assert(v >= 1000000000ull && v < 1000000000ull + 1000000000ull, "TSC write then read");
    cr_assert(dbt_wrmsr(env, 0x174, 0x10));
    cr_assert(dbt_rdmsr(env, 0x174, &v));
    cr_assert_eq(v, 0x10);
}

/* MOV to CR4: the bits this CPU has, VME/PVI only if CPUID offers VME; PAE with a bad PDPTE is
 * #GP with CR4 unchanged. */
static int mov_cr(unsigned cr, uint64_t v)
{
    jmp_buf jb, *saved = env->unwind;
    volatile int vec = -1;
    env->unwind = &jb;
    env->pending_exc = -1;
    if (setjmp(jb))
        vec = env->pending_exc;
    else
        helper_mov_to_cr(env, v, 0, 0, cr);
    env->unwind = saved;
    env->pending_exc = -1;
    return vec;
}

Test(mmu, cr4_bits)
{
    bool vme = cpu_model_make(m->has_apic).feat_1_edx & CPUID_1_EDX_VME;
    cr_assert_eq(mov_cr(4, CR4_VME), vme ? -1 : EXC_GP, "CR4.VME follows CPUID.VME");
    cr_assert_eq(mov_cr(4, CR4_PVI), vme ? -1 : EXC_GP, "CR4.PVI follows CPUID.VME");
    cr_assert_eq(mov_cr(4, 1u << 15), EXC_GP, "reserved CR4 bit");
    cr_assert_eq(mov_cr(4, 1u << 20), EXC_GP, "SMEP: not in this CPU");
    cr_assert_eq(mov_cr(4, CR4_PSE | CR4_PGE), -1);
    /* PAE turned on with paging on: the PDPTEs are checked now */
    wr64(PDPT, PAE_PD | P | W); /* reserved bit 1 */
    env->s.cr3 = PDPT;
    cr_assert_eq(mov_cr(4, CR4_PAE), EXC_GP, "PAE on with a bad PDPTE");
    cr_assert_eq(env->s.cr4, CR4_PSE | CR4_PGE, "CR4 unchanged by the failed write");
    wr64(PDPT, PAE_PD | P);
    cr_assert_eq(mov_cr(4, CR4_PAE), -1);
    wr64(PDPT + 8, (1ull << 50) | P);
    cr_assert_eq(mov_cr(3, PDPT), EXC_GP, "MOV CR3 with a bad PDPTE under PAE");
}
