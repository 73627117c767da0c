/* dbt/dbt.h: the translator's CPU, blocks and memory path.
 *
 * DbtCpu runs on a CpuState directly. A guest basic block is decoded once by Capstone, turned
 * into IR (dbt/ir.h), cached by (physical address, mode bits) and run by the IR interpreter.
 * Guest memory goes through a softmmu TLB that maps linear pages to host pointers; anything
 * else (MMIO, unmapped, faults, pages holding translated code on the write side) takes the
 * slow path into hw/memory. Exceptions are raised with dbt_raise(), which unwinds to the run
 * loop with EIP at the faulting instruction: translated code writes guest registers only after
 * the instruction's last memory access, so nothing is half done.
 */
#ifndef DUALVM_DBT_H
#define DUALVM_DBT_H

#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <glib.h>

#include "cpu/cpu.h"
#include "dbt/alu.h"
#include "hw/machine.h"

#define DBT_TLB_BITS 14
#define DBT_TLB_SIZE (1u << DBT_TLB_BITS)
#define DBT_TLB_VICTIMS 8
#define DBT_TLB_ALL (DBT_TLB_SIZE + DBT_TLB_VICTIMS)
#define DBT_PAGE_BITS 12
#define DBT_PAGE_SIZE (1u << DBT_PAGE_BITS)
#define DBT_PAGE_MASK (~(uint64_t)(DBT_PAGE_SIZE - 1))
#define DBT_JC_BITS 12

/* x86 exception vectors */
enum { EXC_DE = 0, EXC_DB = 1, EXC_NMI = 2, EXC_BP = 3, EXC_OF = 4, EXC_BR = 5, EXC_UD = 6,
       EXC_NM = 7, EXC_DF = 8, EXC_TS = 10, EXC_NP = 11, EXC_SS = 12, EXC_GP = 13, EXC_PF = 14,
       EXC_MF = 16, EXC_AC = 17 };

/* Mode bits that change how guest bytes decode or what they may do: part of a block's key. */
enum {
    MODE_CODE32 = 1 << 0, /* CS.D */
    MODE_STACK32 = 1 << 1, /* SS.B */
    MODE_PE = 1 << 2,
    MODE_VM86 = 1 << 3,
    MODE_PG = 1 << 4,
    MODE_CPL_SHIFT = 5, /* two bits */
    MODE_STEP = 1 << 7, /* one instruction per block: EFLAGS.TF or RF, or data breakpoints */
    /* DS, ES and SS are flat (dbt_seg_flat): compiled code skips their segment checks and base
     * add. Whatever reloads one of them ends the block (translate.c) and leaves chained code
     * if the mode changed (the JIT's segment-load wrapper), so a block never runs in a state
     * other than the one it was compiled for. */
    MODE_FLAT = 1 << 8,
};

/* DR6 / DR7 bits */
#define DR6_B0 (1u << 0) /* B0..B3: breakpoint n met */
#define DR6_BD (1u << 13)
#define DR6_BS (1u << 14)
#define DR6_BT (1u << 15)
#define DR7_GD (1u << 13)

typedef struct TlbEntry {
    uint64_t read_tag;  /* linear page address, or -1 */
    uint64_t write_tag; /* linear page address, or -1 if writes must go the slow path */
    uintptr_t addend;   /* host = linear + addend */
    uint64_t phys;      /* physical page address */
} TlbEntry;

typedef struct Block Block;

typedef struct DbtStats {
    uint64_t insns;          /* guest instructions executed */
    uint64_t blocks_run;
    uint64_t blocks_translated;
    uint64_t guest_bytes_translated;
    uint64_t ir_ops;
    uint64_t ifconv; /* branches translated as straight-line code (if-conversion) */
    uint64_t translate_ns;
    uint64_t jc_hits, cache_hits, cache_misses;
    uint64_t tlb_misses;
    uint64_t flushes, smc_invalidations;
    uint64_t exceptions, interrupts;
    /* host-code back end (dbt/jit_x86_64.c) */
    uint64_t jit_blocks, jit_fallbacks; /* blocks compiled, blocks left to the interpreter */
    uint64_t jit_code_bytes, jit_links, jit_runs, jit_compile_ns;
} DbtStats;

/* Which back end runs translated blocks; DIFF runs each block under both and compares
 * (dbt/diff.h). */
enum { DBT_BACKEND_INTERP, DBT_BACKEND_JIT, DBT_BACKEND_DIFF };
struct Jit;
struct DbtDiff;

typedef struct DbtCpu {
    CpuState s;   /* EFLAGS arithmetic bits live in cc, not in s.rflags, while running */
    CcState cc;
    Machine *m;
    AddressSpace *as;
    IoBus *io;

    /* One TLB per privilege, [0] supervisor and [1] user (CPL 3), each with the rights of its
     * side, so a CPL change needs no flush (QEMU's MMU indexes): compiled code knows its CPL
     * from its mode. Each has direct-mapped entries, then DBT_TLB_VICTIMS fully associative
     * ones holding what the direct-mapped part evicted (two buffers 4 MiB apart would otherwise
     * evict each other on every access of a copy loop). */
    TlbEntry tlb[2][DBT_TLB_ALL];
    /* Per TLB, the direct-mapped entries filled since the last flush, so a flush resets those
     * only and costs what the fills did (a large TLB, flushed by every CR3 write). tlb_nlog
     * past DBT_TLB_SIZE: the log overflowed, the flush resets everything. */
    uint16_t tlb_log[2][DBT_TLB_SIZE];
    uint32_t tlb_nlog[2];
    /* A filter of the physical pages some TLB entry may write (dbt_tlb_page_bit), so marking a
     * page as code looks through the TLB only when it may have to revoke a write entry.
     * Cleared by a flush. */
    uint64_t tlb_wpages[(1u << DBT_JC_BITS) / 64];
    unsigned tlb_victim_next;
    uint64_t a20_mask;
    uint32_t a20_gen_seen; /* Machine.a20_gen when a20_mask was last set */
    uint64_t tsc_offset; /* TSC = virtual ns + tsc_offset */

    uint64_t cur_eip;   /* EIP of the instruction being executed (for exceptions) */
    bool smc_hit;       /* the running block's code was written: leave after this insn */
    bool irq_inhibit;   /* one instruction after STI / MOV SS: no interrupts */
    bool in_shadow;     /* the block being looked up runs in that shadow: one instruction */
    jmp_buf *unwind;
    int pending_exc; /* set by dbt_raise: vector, -2 engine failure, -3 shutdown */
    int pending_has_err;
    uint32_t pending_err;
    bool delivering; /* inside dbt_do_interrupt: a fault now is a double fault */
    int delivering_vec;
    bool exc_fault;  /* the exception being delivered is a fault: the pushed EFLAGS has RF */

    /* paging and debug state beside CpuState (dbt/mmu.c, dbt/excp.c) */
    uint64_t pdpte[4];   /* PAE: the PDPTEs, loaded when CR3 is written or PAE paging starts */
    bool tlb_large;      /* the TLB holds pieces of 2/4 MiB pages: INVLPG drops the whole page */
    uint32_t db_pending; /* DR6 bits of trap-class #DB conditions met by this instruction */
    bool db_inhibit;     /* MOV SS / POP SS: no single-step trap after this instruction */
    bool sw_int;         /* an INT n/INT3/INTO/INT1 was delivered by this instruction */
    bool rf_skip;        /* EFLAGS.RF was set as this (single-instruction) block began */

    /* block cache */
    GHashTable *blocks;        /* (phys | mode << 40) -> Block */
    Block *jc[1u << DBT_JC_BITS]; /* virtual-EIP keyed fast lookup */
    /* A filter of the linear pages the blocks in jc start on or run into (dbt_jc_page_bit):
     * INVLPG of a page with its bit clear needs no look at jc. Cleared with jc. */
    uint64_t jc_pages[(1u << DBT_JC_BITS) / 64];
    GHashTable *page_blocks;   /* phys page -> GSList of Block */
    uint8_t *code_pages;       /* bitmap-ish: 1 per 4 KiB physical page holding code */
    uint64_t code_pages_n;
    GPtrArray *zombies;        /* invalidated blocks, freed at the next safe point */
    size_t nblocks;

    void *cs16, *cs32; /* Capstone handles (csh), one per code size */
    DbtStats st;
    char *error;       /* set with dbt_fail(): the run stops with this text */
    size_t error_len;

    /* host-code back end (dbt/jit.h); backend is DBT_BACKEND_* */
    int backend;
    struct Jit *jit;
    uint64_t jit_insns_base; /* st.insns when compiled code was entered */
    uint64_t jit_page[4];    /* compiled code: host addends of pages checked once for a group
                                of accesses (0: check each one) */
    uint64_t jit_limit;      /* compiled code returns to dbt_exec after this many instructions;
                                0 makes it return at the next block entry (kick, MMIO) */
    struct DbtDiff *diff;    /* the differential mode's state (dbt/diff.c), NULL when off */
    uint32_t jit_threshold;  /* a block is compiled on its run number jit_threshold + 1 */
} DbtCpu;

/* Leave the current instruction with an exception. Never returns. */
_Noreturn void dbt_raise(DbtCpu *env, int vector, int has_err, uint32_t err);
/* Stop the engine with an error text (unimplemented instruction and the like). Never returns. */
_Noreturn void dbt_fail(DbtCpu *env, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Memory (dbt/mmu.c). seg is S_ES..S_GS; off is the effective address. */
uint64_t dbt_ld(DbtCpu *env, int seg, uint64_t off, unsigned size);
void dbt_st(DbtCpu *env, int seg, uint64_t off, uint64_t val, unsigned size);
/* Linear-address access (descriptor tables, IDT, TSS): no segment checks, supervisor rights
 * (the implicit system accesses of the SDM, whatever the CPL). */
uint64_t dbt_ld_lin(DbtCpu *env, uint64_t lin, unsigned size);
void dbt_st_lin(DbtCpu *env, uint64_t lin, uint64_t val, unsigned size);
/* Linear-address access with the rights of a given privilege (user: CPL 3), for stack frames
 * built at a privilege level other than the current one (interrupts, call gates). */
uint64_t dbt_ld_lin_priv(DbtCpu *env, uint64_t lin, unsigned size, bool user);
void dbt_st_lin_priv(DbtCpu *env, uint64_t lin, uint64_t val, unsigned size, bool user);
void dbt_tlb_flush(DbtCpu *env);
/* Writes to physical page phys_page must take the slow path from now on (it holds code). */
void dbt_tlb_protect_code(DbtCpu *env, uint64_t phys_page);
/* The checks of a write of size bytes at seg:off (segment, paging), raising what the write
 * would, without writing (ENTER's probe of its final stack pointer). */
void dbt_probe_write(DbtCpu *env, int seg, uint64_t off, unsigned size);
/* INVLPG: drop the translation of the page holding lin (the whole 2/4 MiB page if large). */
void dbt_tlb_flush_page(DbtCpu *env, uint64_t lin);
/* Load the four PAE PDPTEs from CR3; false (and nothing loaded) if one has reserved bits set,
 * which the caller turns into #GP(0). */
bool dbt_load_pdptes(DbtCpu *env, uint64_t cr3);
/* Physical address of a code fetch at linear address lin; raises on fault. */
uint64_t dbt_code_phys(DbtCpu *env, uint64_t lin);
/* Drop every block translated from [gpa, gpa+len). Safe to call from inside a block. */
void dbt_invalidate_phys(DbtCpu *env, uint64_t gpa, uint64_t len);
void dbt_mark_code_page(DbtCpu *env, uint64_t phys_page);

/* The EFLAGS value with the arithmetic bits folded in from cc. */
static inline uint32_t dbt_get_eflags(const DbtCpu *env)
{
    return (uint32_t)((env->s.rflags & ~(uint64_t)FL_ARITH) | cc_eflags(&env->cc) | FL_FIXED1);
}
void dbt_set_eflags(DbtCpu *env, uint32_t val, uint32_t mask);

static inline unsigned dbt_cpl(const DbtCpu *env)
{
    if (!(env->s.cr0 & CR0_PE))
        return 0;
    if (env->s.rflags & FL_VM)
        return 3;
    return env->s.seg[S_CS].sel & 3;
}

/* The direct-mapped TLB entry of linear address lin for user (CPL 3) or supervisor accesses. */
static inline TlbEntry *dbt_tlb_entry(DbtCpu *env, bool user, uint64_t lin)
{
    return &env->tlb[user][(lin >> DBT_PAGE_BITS) & (DBT_TLB_SIZE - 1)];
}

uint32_t dbt_mode(const DbtCpu *env);

/* Base 0, limit 4 GiB, and a type that passes every inline check of a data access: present,
 * data, expand-up, writable. An access through such a segment needs no segment check unless
 * offset + size - 1 passes 4 GiB: its last byte then lands on a linear page >= 4 GiB, which no
 * TLB tag holds, so the access takes the slow path and its full checks. */
static inline bool dbt_seg_flat(const SegCache *c)
{
    return c->base == 0 && c->limit == 0xffffffff && (c->attr & 0x8e) == 0x82;
}

/* Deliver interrupt or exception vector (dbt/excp.c). is_sw: INT n (privilege check on the gate,
 * return address after the instruction). next_eip: EIP to push for traps and software ints. */
void dbt_do_interrupt(DbtCpu *env, int vector, bool is_sw, bool has_err, uint32_t err,
                      uint64_t next_eip);
/* Far-transfer support for helpers (dbt/excp.c). */
void dbt_read_desc_cache(DbtCpu *env, uint16_t sel, SegCache *out, uint32_t *hi);
/* Protected-mode far JMP/CALL through any descriptor: code segment, call gate, task gate or
 * TSS (SDM vol. 2 JMP/CALL, vol. 3 ch. 5.8, 7.3). osz: the instruction's operand size;
 * next_eip: the EIP after the instruction. Returns the new EIP. */
uint64_t dbt_far_jmp(DbtCpu *env, uint16_t sel, uint64_t off, unsigned osz, uint64_t next_eip);
uint64_t dbt_far_call(DbtCpu *env, uint16_t sel, uint64_t off, unsigned osz, uint64_t next_eip);
/* IRET with EFLAGS.NT set: return to the task named by the current TSS's back link. */
uint64_t dbt_task_return(DbtCpu *env, uint64_t next_eip);
/* The CPL may have changed (or EFLAGS.AC with it): alignment checking at CPL 3 keeps the user
 * TLB empty, so entering it with AC and CR0.AM set drops it. */
void dbt_cpl_changed(DbtCpu *env, unsigned old_cpl);
/* INT n in virtual-8086 mode: to the 8086 handler (CR4.VME redirection), to the protected-mode
 * handler (IOPL 3), or #GP(0) to the monitor. */
void dbt_vm86_int(DbtCpu *env, int vec, uint64_t next_eip);
/* DR0-DR3 or DR7 were written (old_dr7: DR7 before): retranslate, drop the TLB. */
void dbt_debug_regs_changed(DbtCpu *env, uint64_t old_dr7);
/* Descriptor instructions (LAR LSL VERR VERW LLDT LTR): dbt/excp.c */
bool dbt_lar_lsl(DbtCpu *env, uint16_t sel, bool lsl, uint32_t *out);
bool dbt_verr_verw(DbtCpu *env, uint16_t sel, bool write);
void dbt_lldt(DbtCpu *env, uint16_t sel);
void dbt_ltr(DbtCpu *env, uint16_t sel);
/* Debug support (dbt/excp.c). dbt_exec calls dbt_step_done after each MODE_STEP block that
 * ran to its end (tf: EFLAGS.TF was set before it); it delivers the trap-class #DB. */
void dbt_step_done(DbtCpu *env, bool tf);
/* Enabled DR0-DR3 instruction breakpoint matching linear address lin: DR6 B bits, or 0. */
uint32_t dbt_exec_bp_match(const DbtCpu *env, uint64_t lin);
bool dbt_data_bp_active(const DbtCpu *env);
/* Data breakpoints met by an access to [lin, lin+size) (DR6 B bits, added to db_pending). */
void dbt_data_bp_check(DbtCpu *env, uint64_t lin, unsigned size, bool write);
/* Model-specific registers (dbt/msr.c): false for an MSR the model does not have or a value
 * it refuses (the caller raises #GP(0)). */
bool dbt_rdmsr(DbtCpu *env, uint32_t msr, uint64_t *val);
bool dbt_wrmsr(DbtCpu *env, uint32_t msr, uint64_t val);
/* Segment register load with the mode's rules (real/vm86: base = sel*16; protected: descriptor). */
void dbt_load_seg(DbtCpu *env, int seg, uint16_t sel);

/* The bit of the linear page holding lin in DbtCpu.jc_pages. */
static inline unsigned dbt_jc_page_bit(uint64_t lin)
{
    uint64_t pn = lin >> DBT_PAGE_BITS;
    return (unsigned)(pn ^ (pn >> DBT_JC_BITS)) & ((1u << DBT_JC_BITS) - 1);
}

/* The block cache's direct-mapped lookup table index for linear pc (exec.c, jit). */
static inline unsigned dbt_jc_index(uint64_t pc)
{
    return (unsigned)(pc ^ (pc >> DBT_JC_BITS)) & ((1u << DBT_JC_BITS) - 1);
}

/* Back-end choice: "interp", "jit" or "diff" -> DBT_BACKEND_*, -1 if unknown. The default for new
 * CPUs is, in order: dbt_set_default_backend() (main's -dbt-backend), the environment variable
 * DUALVM_DBT_BACKEND, then jit where this host has one and interp elsewhere. */
int dbt_backend_parse(const char *name);
void dbt_set_default_backend(int backend);
bool dbt_backend_available(int backend);
const char *dbt_backend_name(int backend);
/* Switch a CPU's back end (drops every translated block). false if jit is not available. */
bool dbt_set_backend(DbtCpu *env, int backend);
/* Make compiled code return to dbt_exec at its next block boundary (from any thread: a kick). */
void dbt_request_exit(DbtCpu *env);

DbtCpu *dbt_new(Machine *m);
void dbt_free(DbtCpu *env);
/* DBT_RUN_DIFF: the differential mode found the back ends disagreeing (dbt_diff_report). */
enum { DBT_RUN_DEADLINE, DBT_RUN_HLT, DBT_RUN_STOP, DBT_RUN_SHUTDOWN, DBT_RUN_ERROR, DBT_RUN_DIFF };
/* Run until something for the machine to do; returns a DBT_RUN_* code. */
int dbt_exec(DbtCpu *env, volatile int *kick, int64_t deadline_ns);
void dbt_print_stats(DbtCpu *env, FILE *f);

/* Translation (dbt/translate.c) */
Block *dbt_translate(DbtCpu *env, uint64_t pc_lin, uint64_t phys, uint32_t mode);
void dbt_block_free(Block *b);
bool dbt_translate_init(DbtCpu *env);
void dbt_translate_fini(DbtCpu *env);

#endif
