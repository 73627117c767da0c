/* dbt/jit_x86_64.c: the x86-64 host-code back end (see dbt/jit.h for the contract).
 *
 * One pass over a block's IR emits host code into a hot stream (the straight-line path) and a
 * cold one (memory slow paths, exits, stops), laid out hot then cold in the code buffer.
 * Before it, two backward passes: temp liveness, and flags liveness (flags_liveness()).
 *
 * Host registers. RBX holds env for the whole run; R15 counts guest instructions since
 * compiled code was entered (the run budget, and env->st.insns); R10 and R11 are scratch for
 * single instructions. Guest EAX..EDI live in "home" registers (R12 R13 R14 RBP RSI RDI R8 R9)
 * at every block boundary, so chained blocks pass them in registers: the trampoline loads them,
 * the epilogue stores them, and env->s.regs is written back only where C code may look (memory
 * slow paths, helpers). Inside a block the eleven allocatable registers (the homes, RAX RCX
 * RDX) are handed out with reference counts: an IR temp aliases the register of the guest
 * register it read, an op whose result goes straight back to the register it came from works
 * in place, a SETR just rebinds, and exits move guest registers back home. Compiled code
 * assumes the upper halves of EAX..EDI are zero (true in 16/32-bit code; jit_run() leaves
 * other states to the interpreter).
 *
 * Flags. The lazy CcState of dbt/alu.c is kept, with the same records (CC_OP_* in alu.h). An
 * inline ALU op keeps its record pending in host registers; it is stored only where someone
 * may look: an exit, a memory slow path (a fault pushes EFLAGS), a helper, an op or condition
 * the inline code cannot answer. The inline op is the host's own instruction at the guest's
 * operand size, so the host flags right after it are the guest's (alu.c matches this AMD host,
 * and flags alu.c defines its own way are never taken from the host): compare-and-branch and
 * friends become a host jcc/setcc, else the host flags are rebuilt from the pending values, or
 * cc_cond() runs on the stored record. Ops whose flags nobody can see before they are all
 * rewritten (flags_liveness()) are plain host instructions that record nothing: so RCL/RCR and
 * variable shifts (BMI2) stay inline there, and go to alu_exec() otherwise. What a record
 * needs only where it is stored or read is worked out there, not on every run: INC/DEC keep
 * the record before's values and derive its CF from them (lazy_cf); a shift whose flags only
 * an ADC/SBB reads, from the host CF, records no operand (no_s1); IMUL and ROL/ROR, which keep
 * SF ZF AF PF, pend over the record before (PCC_MUL/ROL/ROR and cc_old, jit_kept_flags()).
 * A block whose incoming flags are dead is entered from a chained exit without them stored.
 *
 * Memory. IR_LD/IR_ST check the segment (offset + size - 1 <= limit, and a type known to be
 * good: present, data, not expand-down, writable for stores, or readable code for loads) and
 * the TLB entry inline and access host memory through the addend; anything else calls
 * dbt_ld/dbt_st with the guest state made exact first (registers written back, flags stored,
 * env->cur_eip and env->st.insns set), so a fault raised there is precise. Slow accesses that
 * did not end in RAM (MMIO, ROM, pages holding code) set env->jit_limit to 0, so the run loop
 * looks at interrupts and stop requests at the next block boundary, as it does after every
 * block for the interpreter. ea()'s SHLI/ADD/ADDI become one lea. Blocks compiled for
 * MODE_FLAT (DS, ES, SS with base 0, limit 4 GiB, writable data) use the offset as the linear
 * address for those segments with no segment check: an access running past 4 GiB ends on a
 * page >= 4 GiB, which no TLB tag holds, so the slow path makes the full check.
 *
 * Instructions and self-modifying code. env->st.insns is exact whenever C code can look: R15
 * is added at each exit, and env->st.insns = jit_insns_base + R15 + (instructions of this block
 * so far) is stored before each call that may fault. After an instruction that stored or
 * called a helper that may store, env->smc_hit is checked before the next one, as the
 * interpreter does.
 *
 * Chaining. Each constant exit counts its instructions into R15, compares R15 with
 * env->jit_limit (returning to dbt_exec when reached: the run budget, kicks, MMIO; not at an
 * exit to a higher address of a block that cannot have set jit_limit itself, as a loop of
 * links needs one that does not go up), then jumps through a patchable jmp that first goes to
 * "store the flags, move the registers home, set EIP, return this exit's slot to dbt_exec"
 * (emit_leave: the same code a link goes through, with a second patchable jmp at its end).
 * dbt_exec then finds the next block and, if both are compiled, in the same mode and CS base
 * (and on the same page under paging), jit_link_last_exit() points the jmps at the next block,
 * through the flags store or straight when the next block does not need them. Computed exits
 * (ret, jmp reg) look the next block up in env->jc inline and jump to it. Blocks that call a
 * helper that may change the mode, IF, the page tables or a device (far transfers, loads of
 * SS, POPF, STI/CLI, I/O, CR writes, HLT, INT) never chain: their exits return to dbt_exec,
 * which checks everything. Blocks in modes the back end does not know (single-stepping) are
 * not compiled.
 *
 * Return prediction. A near CALL's exit pushes (return EIP, host address of a continuation)
 * on the host stack with a host call; a near RET compares the EIP it popped with the top entry
 * and, equal, does a host ret, which the host's return stack predicts, to the continuation,
 * which jumps on through a slot of its own like a linked exit (else it drops the entry and
 * looks the block up). The entries live only while compiled code runs: the epilogue resets
 * RSP, and whatever could make one wrong (mode, CS, page tables, invalidated code, interrupts)
 * goes through dbt_exec first. A sentinel entry at the bottom returns to dbt_exec, and at
 * RET_STACK_BYTES a call pushes nothing.
 *
 * Debugging: DUALVM_JIT_DUMP=1 prints each block's IR and code (Capstone; =0x<linear address>
 * only that block's), DUALVM_JIT_CHECK=1 verifies the register bookkeeping after every op (a
 * slip leaves the block to the interpreter), DUALVM_JIT_NO_BMI2=1 avoids SHLX/SHRX/SARX,
 * DUALVM_PERF_MAP=1 writes /tmp/perf-PID.map for `perf report` (each block's hot and cold code
 * named guest_<linear pc>, opened before the sandbox).
 */
#include "dbt/jit.h"

#if defined(__x86_64__)

#include <capstone/capstone.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dbt/helpers.h"

enum { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15 };
#define RENV RBX
#define RCNT R15
#define RS0 R10 /* scratch */
#define RS1 R11 /* scratch */

/* Where guest EAX..EDI live between blocks: at every block entry and chained exit guest register
 * i is in home[i] (env->s.regs is written back where C code may look). The callee-saved ones
 * for the four most used, so calls into C need not save them. */
static const int8_t home[8] = {R12, R13, R14, RBP, RSI, RDI, R8, R9};
static const int8_t alloc_order[] = {RAX, RCX, RDX, R12, R13, R14, RBP, RSI, RDI, R8, R9};
#define NGUEST 8
#define NALLOC ((int)sizeof(alloc_order))
/* rax rcx rdx rsi rdi r8 r9 r10 r11 */
#define CALLER_SAVED 0x0fc7u

#define CODE_SIZE (64u << 20)
#define CODE_SLACK (1u << 20) /* flush when less than this is left */
#define RUN_LIMIT 65536       /* guest instructions per entry before dbt_exec looks again */
#define RET_STACK_BYTES 65536 /* return prediction: host stack for entries (16 bytes each) */
#define DATA_PAGE 4096        /* the code memory's first page: variables, not code */

/* x86 ALU group numbers (opcode / 8) and group-2/3 extensions */
enum { A_ADD, A_OR, A_ADC, A_SBB, A_AND, A_SUB, A_XOR, A_CMP };
enum { SH_SHL = 4, SH_SHR = 5, SH_SAR = 7 };
/* host condition codes (the same numbering as the guest's CC_*) */
enum {
    HC_O,
    HC_NO,
    HC_B,
    HC_AE,
    HC_E,
    HC_NE,
    HC_BE,
    HC_A,
    HC_S,
    HC_NS,
    HC_P,
    HC_NP,
    HC_L,
    HC_GE,
    HC_LE,
    HC_G
};

#define OFF(f) ((int32_t)offsetof(DbtCpu, f))
#define OFF_REG(i) (OFF(s.regs) + 8 * (i))
#define OFF_SEG(n) (OFF(s.seg) + (int32_t)sizeof(SegCache) * (n))

_Static_assert(sizeof(TlbEntry) == 32, "the inline TLB lookup scales the index by 32");
_Static_assert(sizeof(((DbtCpu *)0)->smc_hit) == 1, "smc_hit is tested as a byte");

/* ---- code memory, chaining ---- */

typedef struct JitSlot JitSlot;
typedef struct JitBlock JitBlock;
struct JitSlot {
    /* The exit's jmp (rel32 at site) goes to `unlinked` until linked: via_cc (store the flags,
     * then as via_nocc: guest registers home, the run budget checked again, jmp at site2),
     * where site2 goes to `unlinked2` (return this slot to dbt_exec). Linked, site2 goes to
     * the next block, and site to via_cc or, when the next block writes all flags before
     * anything can see them, to via_nocc, or straight to the next block when via_nocc has
     * nothing to do. */
    uint8_t *site, *unlinked, *via_cc, *via_nocc, *site2, *unlinked2;
    bool nocc_direct;
    bool cont; /* a call's continuation (return prediction): the flags are stored and the
                  guest registers home when it runs, so it links straight to the next block */
    Block *from, *to;
    uint64_t eip;
    JitSlot *next_in, **pprev_in; /* in to's list of incoming links */
};

struct JitBlock {
    JitSlot *incoming;
    bool flags_dead_in; /* the flags at entry are overwritten before anything can see them */
    uint32_t nslots;
    JitSlot slots[];
};

struct Jit {
    uint8_t *mem;
    size_t size, used, fixed;
    JitSlot *(*enter)(DbtCpu *env, void *code);
    uint8_t *epilogue;
    /* return prediction: the host RSP at entry (where the sentinel entry is) and the lowest
     * RSP a call may push below (the depth cap), variables in code memory for RIP-relative
     * access */
    uint8_t *rsp_entry, *rsp_floor;
    JitSlot *last; /* the exit the last jit_run left through, if it can be linked */
    bool dump;
    FILE *perf_map; /* DUALVM_PERF_MAP: /tmp/perf-PID.map, so perf names compiled blocks */
    char *perf_map_buf;
    bool check; /* DUALVM_JIT_CHECK: verify the register bookkeeping after every op */
    bool bmi2;  /* SHLX/SHRX/SARX */
};

/* ---- emission ---- */

enum { HOT, COLD };

typedef struct Buf {
    uint8_t *p;
    uint32_t len, cap;
} Buf;

typedef struct Label {
    int8_t buf; /* HOT, COLD, or -1 while unbound */
    uint32_t off;
} Label;

typedef struct Fixup {
    int8_t buf;
    uint32_t off; /* of the rel32 */
    int label;    /* or -1: abs */
    uint8_t *abs;
} Fixup;

enum { VNONE, VCONST, VREG };
typedef struct Val {
    uint8_t kind;
    int8_t reg;
    uint64_t imm;
} Val;

/* Guest registers EAX..EDI. Compiled code keeps their upper halves zero (as every 16/32-bit
 * mode does): jit_run() leaves a state with other upper halves to the interpreter, and blocks with
 * 64-bit GETR/SETR are not compiled. */
typedef struct GEnt {
    int8_t reg; /* host register holding the guest register, or -1: in env->s.regs */
    bool dirty; /* env->s.regs is out of date */
} GEnt;

/* How a pending flags record's missing field is derived: dst from s1 and s2 (CMP, TEST whose
 * result is not kept), or s1 from dst and s2 (ADD, SUB, INC, DEC done in place, where the old
 * value is gone). */
enum { D_NONE, D_DST_SUB, D_DST_AND, D_S1_ADD, D_S1_SUB, D_S1_INC, D_S1_DEC };

/* Pending records of the back end's own (never in env->cc) for ops that set CF and OF and keep
 * SF ZF AF PF (Zen) from the record before, which is g->cc_old (or env->cc when that is not
 * active): two/three-operand IMUL (PCC_MUL: CF = OF = s1, the overflow, low byte 0 or 1 as
 * SETC left it) and ROL/ROR by a nonzero count (PCC_ROL, PCC_ROR: s1 the result, zero-extended
 * from size, whose bits give CF and OF). jit_kept_flags() makes env->cc of them. */
enum { PCC_MUL = 0x40, PCC_ROL, PCC_ROR };

typedef struct Pcc {
    bool active;
    uint8_t op, size, derive;
    Val dst, s1, s2;
    /* INC/DEC: s2, the CF kept from the op before, is not computed (s2 is unused): it is the
     * carry of that op's record (ADD, SUB, ADC, SBB, SHL, SHR: c_op, c_size, c_derive and the
     * values c_dst, c_s1, c_s2, whose references this record holds), worked out only where the
     * record is stored or its CF read (lazy_cf_to_host) */
    bool lazy_cf;
    uint8_t c_op, c_size, c_derive;
    Val c_dst, c_s1, c_s2;
    /* SHL/SHR whose s1 was not computed (shift_cf_only): only the host CF (g->hcf) holds its
     * CF, for the ADC/SBB that reads it and rewrites the flags before anyone else can look */
    bool no_s1;
} Pcc;

/* labels of a slot's site, unlinked, via_cc, via_nocc, site2 and unlinked2 (JitSlot) */
typedef int SlotLab[6];

typedef struct Cg {
    DbtCpu *env;
    Jit *jit;
    Block *b;
    JitBlock *jb;
    Buf buf[2];
    int cur;
    Label *lab;
    int nlab, caplab;
    Fixup *fix;
    int nfix, capfix;
    SlotLab *slot_lab; /* per slot */
    int refs[16];
    uint8_t wid[16]; /* bytes the register's value is known to fit in (zero-extended) */
    Val t[IR_NTEMPS];
    GEnt gr[NGUEST];
    Pcc cc;
    Pcc cc_old;     /* under a PCC_MUL/ROL/ROR record: the record before it */
    bool hf;        /* host flags hold the pending record's flags */
    bool hcf;       /* the host carry flag holds the pending record's CF (after SHR / SAR) */
    bool cc_stale;  /* env->cc is out of date and no record is pending: only where
                       flags_liveness() proved nobody looks before they are all rewritten */
    uint8_t *flv;   /* per op: whether the flags it writes can be seen (flags_liveness) */
    unsigned nins;  /* instructions of this block entered so far */
    uint64_t eip;   /* EIP of the current instruction */
    bool smc_check; /* the current instruction stored or called a helper */
    bool chainable;
    bool no_access;     /* no memory access and only plain helpers: nothing here sets jit_limit */
    bool call_pred;     /* the exit being generated is a call's: push a return prediction */
    uint64_t call_ret;  /* its return EIP */
    bool ret_pred;      /* the exit being generated is a near return's */
    uint32_t *live;     /* per op: temps live after it */
    struct MemGrp *mg;  /* per op: its access group (mem_groups) */
    int grp_span[4][2]; /* per env->jit_page slot: ops from its group's first to its last */
    jmp_buf fail;
    const char *why;
} Cg;

_Noreturn static void cg_fail(Cg *g, const char *why)
{
    g->why = why;
    longjmp(g->fail, 1);
}

static void put1(Cg *g, uint8_t v)
{
    Buf *b = &g->buf[g->cur];
    if (b->len == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 4096;
        if (b->cap > CODE_SLACK)
            cg_fail(g, "block too large");
        b->p = g_realloc(b->p, b->cap);
    }
    b->p[b->len++] = v;
}

static void put4(Cg *g, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        put1(g, (uint8_t)(v >> (8 * i)));
}

static void put8(Cg *g, uint64_t v)
{
    put4(g, (uint32_t)v);
    put4(g, (uint32_t)(v >> 32));
}

/* An r/m operand: register reg, or [base + index * scale + disp]. */
typedef struct Rm {
    int8_t reg, base, index, scale;
    int32_t disp;
} Rm;

static inline Rm R_(int r)
{
    return (Rm){(int8_t)r, -1, -1, 0, 0};
}
static inline Rm M_(int base, int32_t disp)
{
    return (Rm){-1, (int8_t)base, -1, 0, disp};
}
static inline Rm MX(int base, int index, int32_t disp)
{
    return (Rm){-1, (int8_t)base, (int8_t)index, 1, disp};
}
static inline Rm ENV(int32_t disp)
{
    return M_(RENV, disp);
}

enum { F_BREG = 1, F_BRM = 2 }; /* the reg / rm register is a byte register */

/* Prefixes, REX, opcode (nop bytes, most significant first), ModRM, SIB, displacement.
 * osz: 2 gives the 0x66 prefix, 8 REX.W. reg: the ModRM reg field (register or extension). */
static void enc(Cg *g, int osz, unsigned fl, int nop, uint32_t opc, int reg, Rm rm)
{
    if (osz == 2)
        put1(g, 0x66);
    unsigned rex = 0;
    if (osz == 8)
        rex |= 8;
    if (reg & 8)
        rex |= 4;
    if (rm.reg >= 0) {
        if (rm.reg & 8)
            rex |= 1;
    } else {
        if (rm.index >= 0 && (rm.index & 8))
            rex |= 2;
        if (rm.base >= 0 && (rm.base & 8))
            rex |= 1;
    }
    bool need = rex != 0;
    if ((fl & F_BREG) && reg >= 4 && reg < 8)
        need = true;
    if ((fl & F_BRM) && rm.reg >= 4 && rm.reg < 8)
        need = true;
    if (need)
        put1(g, (uint8_t)(0x40 | rex));
    for (int i = nop - 1; i >= 0; i--)
        put1(g, (uint8_t)(opc >> (8 * i)));
    if (rm.reg >= 0) {
        put1(g, (uint8_t)(0xc0 | (reg & 7) << 3 | (rm.reg & 7)));
        return;
    }
    if (rm.base < 0) { /* [index * scale + disp32] */
        put1(g, (uint8_t)((reg & 7) << 3 | 4));
        int sc = rm.scale == 8 ? 3 : rm.scale == 4 ? 2 : rm.scale == 2 ? 1 : 0;
        put1(g, (uint8_t)(sc << 6 | (rm.index & 7) << 3 | 5));
        put4(g, (uint32_t)rm.disp);
        return;
    }
    int mod = (rm.disp == 0 && (rm.base & 7) != 5)  ? 0
              : (rm.disp >= -128 && rm.disp <= 127) ? 1
                                                    : 2;
    if (rm.index >= 0 || (rm.base & 7) == 4) {
        put1(g, (uint8_t)(mod << 6 | (reg & 7) << 3 | 4));
        int sc = rm.scale == 8 ? 3 : rm.scale == 4 ? 2 : rm.scale == 2 ? 1 : 0;
        put1(g, (uint8_t)(sc << 6 | (rm.index >= 0 ? (rm.index & 7) : 4) << 3 | (rm.base & 7)));
    } else {
        put1(g, (uint8_t)(mod << 6 | (reg & 7) << 3 | (rm.base & 7)));
    }
    if (mod == 1)
        put1(g, (uint8_t)rm.disp);
    else if (mod == 2)
        put4(g, (uint32_t)rm.disp);
}

static inline bool is_s8(int64_t v)
{
    return v >= -128 && v <= 127;
}
static inline bool is_s32(uint64_t v)
{
    return (int64_t)v == (int32_t)v;
}
static inline uint64_t size_mask(unsigned size)
{
    return size >= 8 ? ~0ull : (1ull << (size * 8)) - 1;
}

/* mov d, s (4: zero-extends; 8: whole) */
static void mov_rr(Cg *g, int sz, int d, int s)
{
    enc(g, sz, 0, 1, 0x89, s, R_(d));
}

/* mov d, imm without touching the flags, shortest form */
static void mov_ri(Cg *g, int d, uint64_t imm)
{
    if (imm <= 0xffffffffull) {
        if (d & 8)
            put1(g, 0x41);
        put1(g, (uint8_t)(0xb8 + (d & 7)));
        put4(g, (uint32_t)imm);
    } else if (is_s32(imm)) {
        enc(g, 8, 0, 1, 0xc7, 0, R_(d));
        put4(g, (uint32_t)imm);
    } else {
        put1(g, (uint8_t)(0x48 | ((d & 8) ? 1 : 0)));
        put1(g, (uint8_t)(0xb8 + (d & 7)));
        put8(g, imm);
    }
}

/* d = [m] zero-extended from sz */
static void load(Cg *g, int sz, int d, Rm m)
{
    switch (sz) {
    case 1:
        enc(g, 4, 0, 2, 0x0fb6, d, m);
        break;
    case 2:
        enc(g, 4, 0, 2, 0x0fb7, d, m);
        break;
    default:
        enc(g, sz, 0, 1, 0x8b, d, m);
        break;
    }
}

static void store(Cg *g, int sz, Rm m, int s)
{
    if (sz == 1)
        enc(g, 1, F_BREG, 1, 0x88, s, m);
    else
        enc(g, sz, 0, 1, 0x89, s, m);
}

/* [m] = imm (sz 8: sign-extended imm32) */
static void store_imm(Cg *g, int sz, Rm m, uint64_t imm)
{
    if (sz == 1) {
        enc(g, 1, F_BRM, 1, 0xc6, 0, m);
        put1(g, (uint8_t)imm);
    } else if (sz == 2) {
        enc(g, 2, 0, 1, 0xc7, 0, m);
        put1(g, (uint8_t)imm);
        put1(g, (uint8_t)(imm >> 8));
    } else {
        enc(g, sz, 0, 1, 0xc7, 0, m);
        put4(g, (uint32_t)imm);
    }
}

/* d <op>= s */
static void alu_rr(Cg *g, int sz, int opn, int d, int s)
{
    if (sz == 1)
        enc(g, 1, F_BREG | F_BRM, 1, (uint32_t)(opn * 8), s, R_(d));
    else
        enc(g, sz, 0, 1, (uint32_t)(opn * 8 + 1), s, R_(d));
}

/* d <op>= [m] */
static void alu_rm(Cg *g, int sz, int opn, int d, Rm m)
{
    if (sz == 1)
        enc(g, 1, F_BREG, 1, (uint32_t)(opn * 8 + 2), d, m);
    else
        enc(g, sz, 0, 1, (uint32_t)(opn * 8 + 3), d, m);
}

/* rm <op>= imm (taken modulo the operand size; sz 8: must be a sign-extended imm32) */
static void alu_ri(Cg *g, int sz, int opn, Rm rm, uint64_t imm)
{
    if (sz == 1) {
        enc(g, 1, F_BRM, 1, 0x80, opn, rm);
        put1(g, (uint8_t)imm);
        return;
    }
    int64_t v = sz == 2 ? (int16_t)imm : sz == 4 ? (int32_t)imm : (int64_t)imm;
    if (is_s8(v)) {
        enc(g, sz, 0, 1, 0x83, opn, rm);
        put1(g, (uint8_t)v);
    } else {
        enc(g, sz, 0, 1, 0x81, opn, rm);
        if (sz == 2) {
            put1(g, (uint8_t)v);
            put1(g, (uint8_t)(v >> 8));
        } else {
            put4(g, (uint32_t)v);
        }
    }
}

static void test_rr(Cg *g, int sz, int a, int b)
{
    if (sz == 1)
        enc(g, 1, F_BREG | F_BRM, 1, 0x84, b, R_(a));
    else
        enc(g, sz, 0, 1, 0x85, b, R_(a));
}

static void test_ri(Cg *g, int sz, int a, uint64_t imm)
{
    if (sz == 1) {
        enc(g, 1, F_BRM, 1, 0xf6, 0, R_(a));
        put1(g, (uint8_t)imm);
    } else if (sz == 2) {
        enc(g, 2, 0, 1, 0xf7, 0, R_(a));
        put1(g, (uint8_t)imm);
        put1(g, (uint8_t)(imm >> 8));
    } else {
        enc(g, sz, 0, 1, 0xf7, 0, R_(a));
        put4(g, (uint32_t)imm);
    }
}

/* group 3 (2 not, 3 neg), group 4/5 (0 inc, 1 dec) */
static void grp3(Cg *g, int sz, int ext, int r)
{
    enc(g, sz, sz == 1 ? F_BRM : 0, 1, sz == 1 ? 0xf6 : 0xf7, ext, R_(r));
}
static void incdec(Cg *g, int sz, int ext, int r)
{
    enc(g, sz, sz == 1 ? F_BRM : 0, 1, sz == 1 ? 0xfe : 0xff, ext, R_(r));
}

static void shift_ri(Cg *g, int sz, int ext, int r, int c)
{
    if (c == 1) {
        enc(g, sz, sz == 1 ? F_BRM : 0, 1, sz == 1 ? 0xd0 : 0xd1, ext, R_(r));
    } else {
        enc(g, sz, sz == 1 ? F_BRM : 0, 1, sz == 1 ? 0xc0 : 0xc1, ext, R_(r));
        put1(g, (uint8_t)c);
    }
}

/* d = zero-extend s from `from` bytes (1, 2, 4) */
static void movzx(Cg *g, int d, int s, int from)
{
    if (from == 1)
        enc(g, 4, F_BRM, 2, 0x0fb6, d, R_(s));
    else if (from == 2)
        enc(g, 4, 0, 2, 0x0fb7, d, R_(s));
    else
        mov_rr(g, 4, d, s);
}

/* d = sign-extend s from `from` bytes to 64 bits */
static void movsx(Cg *g, int d, int s, int from)
{
    if (from == 1)
        enc(g, 8, F_BRM, 2, 0x0fbe, d, R_(s));
    else if (from == 2)
        enc(g, 8, 0, 2, 0x0fbf, d, R_(s));
    else if (from == 4)
        enc(g, 8, 0, 1, 0x63, d, R_(s));
    else if (d != s)
        mov_rr(g, 8, d, s);
}

static void lea(Cg *g, int sz, int d, Rm m)
{
    enc(g, sz, 0, 1, 0x8d, d, m);
}

static void setcc(Cg *g, int cc, int r)
{
    enc(g, 4, F_BRM, 2, (uint32_t)(0x0f90 + cc), 0, R_(r));
}

static void cmov(Cg *g, int sz, int cc, int d, int s)
{
    enc(g, sz, 0, 2, (uint32_t)(0x0f40 + cc), d, R_(s));
}

static void bt_ri(Cg *g, int sz, int r, int bit)
{
    enc(g, sz, 0, 2, 0x0fba, 4, R_(r));
    put1(g, (uint8_t)bit);
}

/* shlx (pp 1), sarx (pp 2), shrx (pp 3): d = s shifted by cnt, flags untouched (BMI2) */
static void shiftx(Cg *g, int sz, int pp, int d, int s, int cnt)
{
    put1(g, 0xc4);
    put1(g, (uint8_t)(((d & 8) ? 0 : 0x80) | 0x40 | ((s & 8) ? 0 : 0x20) | 0x02));
    put1(g, (uint8_t)((sz == 8 ? 0x80 : 0) | (~cnt & 15) << 3 | pp));
    put1(g, 0xf7);
    put1(g, (uint8_t)(0xc0 | (d & 7) << 3 | (s & 7)));
}

static void push_r(Cg *g, int r)
{
    if (r & 8)
        put1(g, 0x41);
    put1(g, (uint8_t)(0x50 + (r & 7)));
}

static void pop_r(Cg *g, int r)
{
    if (r & 8)
        put1(g, 0x41);
    put1(g, (uint8_t)(0x58 + (r & 7)));
}

static void rsp_adjust(Cg *g, bool sub)
{
    enc(g, 8, 0, 1, 0x83, sub ? 5 : 0, R_(RSP));
    put1(g, 8);
}

/* zero-extend r in place from size (1, 2, 4; 8: nothing), keeping the flags */
static void mask_reg(Cg *g, int r, int size)
{
    if (size < 8)
        movzx(g, r, r, size);
}

/* ---- labels ---- */

static int new_label(Cg *g)
{
    if (g->nlab == g->caplab) {
        g->caplab = g->caplab ? g->caplab * 2 : 64;
        g->lab = g_renew(Label, g->lab, g->caplab);
    }
    g->lab[g->nlab] = (Label){-1, 0};
    return g->nlab++;
}

static void bind(Cg *g, int l)
{
    g->lab[l].buf = (int8_t)g->cur;
    g->lab[l].off = g->buf[g->cur].len;
}

static void add_fixup(Cg *g, int label, uint8_t *abs)
{
    if (g->nfix == g->capfix) {
        g->capfix = g->capfix ? g->capfix * 2 : 64;
        g->fix = g_renew(Fixup, g->fix, g->capfix);
    }
    g->fix[g->nfix++] = (Fixup){(int8_t)g->cur, g->buf[g->cur].len, label, abs};
    put4(g, 0);
}

static void jmp_l(Cg *g, int l)
{
    put1(g, 0xe9);
    add_fixup(g, l, NULL);
}

static void jcc_l(Cg *g, int cc, int l)
{
    put1(g, 0x0f);
    put1(g, (uint8_t)(0x80 + cc));
    add_fixup(g, l, NULL);
}

static void jmp_abs(Cg *g, uint8_t *target)
{
    put1(g, 0xe9);
    add_fixup(g, -1, target);
}

static void call_abs(Cg *g, const void *fn)
{
    mov_ri(g, RS1, (uint64_t)(uintptr_t)fn);
    enc(g, 4, 0, 1, 0xff, 2, R_(RS1)); /* call r11 */
}

/* point the jmp whose rel32 is at site to target */
static void patch(uint8_t *site, const uint8_t *target)
{
    int32_t rel = (int32_t)(target - (site + 4));
    memcpy(site, &rel, 4);
}

/* ---- values and registers ---- */

static inline Val VC(uint64_t imm)
{
    return (Val){VCONST, -1, imm};
}
static inline Val VR(int r)
{
    return (Val){VREG, (int8_t)r, 0};
}

static void hold(Cg *g, int r)
{
    g->refs[r]++;
}

static void release(Cg *g, int r)
{
    if (--g->refs[r] < 0)
        cg_fail(g, "internal error: register released twice");
}

static void vhold(Cg *g, Val v)
{
    if (v.kind == VREG)
        hold(g, v.reg);
}

static void vrelease(Cg *g, Val v)
{
    if (v.kind == VREG)
        release(g, v.reg);
}

static unsigned vwid(Cg *g, Val v)
{
    if (v.kind == VREG)
        return g->wid[v.reg];
    return v.imm <= 0xff ? 1 : v.imm <= 0xffff ? 2 : v.imm <= 0xffffffffull ? 4 : 8;
}

static void greg_drop(Cg *g, int i);

/* A free register, owned by the caller (one reference). Evicts a cached guest register (a
 * clean one first) when none is free. */
static int ralloc(Cg *g)
{
    for (int i = 0; i < NALLOC; i++) {
        int r = alloc_order[i];
        if (!g->refs[r]) {
            g->refs[r] = 1;
            g->wid[r] = 8;
            return r;
        }
    }
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < NGUEST; i++) {
            GEnt *e = &g->gr[i];
            if (e->reg >= 0 && g->refs[e->reg] == 1 && (pass || !e->dirty)) {
                int r = e->reg;
                greg_drop(g, i);
                g->refs[r] = 1;
                g->wid[r] = 8;
                return r;
            }
        }
    }
    cg_fail(g, "out of host registers");
}

static Val tget(Cg *g, int t)
{
    return g->t[t].kind == VNONE ? VC(0) : g->t[t];
}

/* temp t = v (v's reference passes to t) */
static void tset(Cg *g, int t, Val v)
{
    vrelease(g, g->t[t]);
    g->t[t] = v;
}

/* r = v (64 bits) */
static void load_val(Cg *g, int r, Val v)
{
    if (v.kind == VREG) {
        if (v.reg != r)
            mov_rr(g, 8, r, v.reg);
        g->wid[r] = g->wid[v.reg];
    } else {
        mov_ri(g, r, v.imm);
        g->wid[r] = (uint8_t)vwid(g, v);
    }
}

/* the register holding v, or v loaded into scratch */
static int reg_of(Cg *g, Val v, int scratch)
{
    if (v.kind == VREG)
        return v.reg;
    mov_ri(g, scratch, v.imm);
    return scratch;
}

/* v zero-extended from size, as an owned value (alu.c masks its operands first) */
static Val masked(Cg *g, Val v, unsigned size)
{
    if (v.kind == VCONST)
        return VC(v.imm & size_mask(size));
    if (g->wid[v.reg] <= size) {
        hold(g, v.reg);
        return v;
    }
    int r = ralloc(g);
    movzx(g, r, v.reg, (int)size);
    g->wid[r] = (uint8_t)size;
    return VR(r);
}

/* d <op>= v at operand size sz (v constant or register) */
static void alu_v(Cg *g, int sz, int opn, int d, Val v)
{
    if (v.kind == VREG) {
        alu_rr(g, sz, opn, d, v.reg);
    } else if (sz < 8 || is_s32(v.imm)) {
        alu_ri(g, sz, opn, R_(d), v.imm);
    } else {
        mov_ri(g, RS1, v.imm);
        alu_rr(g, sz, opn, d, RS1);
    }
}

/* [m] = v (64 bits) */
static void store_val(Cg *g, Rm m, Val v)
{
    if (v.kind == VREG) {
        store(g, 8, m, v.reg);
    } else if (is_s32(v.imm)) {
        store_imm(g, 8, m, v.imm);
    } else {
        mov_ri(g, RS1, v.imm);
        store(g, 8, m, RS1);
    }
}

/* ---- the guest register cache ---- */

static Rm greg_mem(int i)
{
    return ENV(OFF_REG(i));
}

static void greg_drop(Cg *g, int i)
{
    GEnt *e = &g->gr[i];
    if (e->reg < 0)
        return;
    if (e->dirty)
        store(g, 8, greg_mem(i), e->reg);
    release(g, e->reg);
    e->reg = -1;
    e->dirty = false;
}

/* Host register holding guest register i (loaded into its home if that is free). */
static int greg(Cg *g, int i)
{
    GEnt *e = &g->gr[i];
    if (e->reg >= 0)
        return e->reg;
    int r = home[i];
    if (g->refs[r])
        r = ralloc(g);
    else
        g->refs[r] = 1;
    load(g, 4, r, greg_mem(i));
    g->wid[r] = 4;
    e->reg = (int8_t)r;
    e->dirty = false;
    return r;
}

/* Guest register i's register, not shared (to be modified in place). */
static int greg_own(Cg *g, int i)
{
    int r = greg(g, i);
    if (g->refs[r] > 1) {
        int n = ralloc(g);
        mov_rr(g, 8, n, r);
        g->wid[n] = g->wid[r];
        release(g, r);
        g->gr[i].reg = (int8_t)n;
        r = n;
    }
    return r;
}

/* guest register i = register r (r's reference passes to the guest register) */
static void greg_set(Cg *g, int i, int r)
{
    GEnt *e = &g->gr[i];
    if (e->reg >= 0)
        release(g, e->reg);
    e->reg = (int8_t)r;
    e->dirty = true;
}

/* env->s.regs made exact (before C code that may look at it or fault) */
static void wb_emit(Cg *g)
{
    for (int i = 0; i < NGUEST; i++) {
        GEnt *e = &g->gr[i];
        if (e->reg >= 0 && e->dirty)
            store(g, 8, greg_mem(i), e->reg);
    }
}

static void wb_commit(Cg *g)
{
    wb_emit(g);
    for (int i = 0; i < NGUEST; i++)
        g->gr[i].dirty = false;
}

static void gcache_drop_all(Cg *g)
{
    for (int i = 0; i < NGUEST; i++)
        greg_drop(g, i);
}

/* Moves that put every guest register in its home, for an exit (the compile-time state is not
 * changed: this is emitted on one path). Cycles go through RS0. */
static void emit_home_all(Cg *g)
{
    int src[NGUEST], n = 0;
    bool pend[NGUEST];
    for (int i = 0; i < NGUEST; i++) {
        src[i] = g->gr[i].reg;
        pend[i] = src[i] != home[i];
        n += pend[i];
    }
    while (n) {
        bool progress = false;
        for (int i = 0; i < NGUEST; i++) {
            if (!pend[i])
                continue;
            bool blocked = false;
            for (int j = 0; j < NGUEST; j++)
                blocked |= pend[j] && j != i && src[j] == home[i];
            if (blocked)
                continue;
            if (src[i] < 0)
                load(g, 4, home[i], greg_mem(i));
            else
                mov_rr(g, 8, home[i], src[i]);
            pend[i] = false;
            n--;
            progress = true;
        }
        if (!progress) {
            for (int i = 0; i < NGUEST; i++) {
                if (!pend[i])
                    continue;
                int old = src[i];
                mov_rr(g, 8, RS0, old);
                for (int j = 0; j < NGUEST; j++)
                    if (pend[j] && src[j] == old)
                        src[j] = RS0;
                break;
            }
        }
    }
}

/* ---- calls ---- */

enum { ARG_VAL, ARG_ENV, ARG_ENVOFF };
typedef struct Arg {
    int kind;
    Val v;
    int32_t off;
} Arg;

static Arg AV(Val v)
{
    return (Arg){ARG_VAL, v, 0};
}
static Arg AI(uint64_t imm)
{
    return (Arg){ARG_VAL, VC(imm), 0};
}

/* Call fn(args...) keeping every live caller-saved register (except those in keep_out). The
 * result is left in RS0. Clobbers the flags. */
static void emit_call(Cg *g, const void *fn, int nargs, const Arg *args, uint32_t keep_out)
{
    static const int8_t argreg[] = {RDI, RSI, RDX, RCX, R8, R9};
    uint32_t save = 0;
    for (int r = 0; r < 16; r++)
        if (g->refs[r] > 0 && (CALLER_SAVED >> r & 1) && !(keep_out >> r & 1))
            save |= 1u << r;
    int n = __builtin_popcount(save);
    for (int r = 0; r < 16; r++)
        if (save >> r & 1)
            push_r(g, r);
    if (n & 1)
        rsp_adjust(g, true);
    /* register arguments through the stack, so no source is overwritten before it is read */
    for (int i = 0; i < nargs; i++)
        if (args[i].kind == ARG_VAL && args[i].v.kind == VREG)
            push_r(g, args[i].v.reg);
    for (int i = nargs - 1; i >= 0; i--)
        if (args[i].kind == ARG_VAL && args[i].v.kind == VREG)
            pop_r(g, argreg[i]);
    for (int i = 0; i < nargs; i++) {
        if (args[i].kind == ARG_VAL && args[i].v.kind == VCONST)
            mov_ri(g, argreg[i], args[i].v.imm);
        else if (args[i].kind == ARG_ENV)
            mov_rr(g, 8, argreg[i], RENV);
        else if (args[i].kind == ARG_ENVOFF)
            lea(g, 8, argreg[i], ENV(args[i].off));
    }
    call_abs(g, fn);
    mov_rr(g, 8, RS0, RAX);
    if (n & 1)
        rsp_adjust(g, false);
    for (int r = 15; r >= 0; r--)
        if (save >> r & 1)
            pop_r(g, r);
    g->hf = g->hcf = false;
}

/* ---- pending flags ---- */

static void pcc_release(Cg *g, Pcc *p)
{
    if (!p->active)
        return;
    vrelease(g, p->dst);
    vrelease(g, p->s1);
    vrelease(g, p->s2);
    if (p->lazy_cf) {
        vrelease(g, p->c_dst);
        vrelease(g, p->c_s1);
        vrelease(g, p->c_s2);
    }
    p->active = p->lazy_cf = false;
}

static void pcc_clear(Cg *g)
{
    if (g->cc.active && g->cc.op >= PCC_MUL)
        pcc_release(g, &g->cc_old);
    pcc_release(g, &g->cc);
}

/* the values' references pass to the record */
static void pcc_set(Cg *g, int op, unsigned size, Val dst, Val s1, Val s2, int derive)
{
    pcc_clear(g);
    g->cc = (Pcc){true, (uint8_t)op, (uint8_t)size, (uint8_t)derive, dst, s1, s2};
    g->cc_stale = false;
    g->hcf = false;
}

/* A PCC_MUL/ROL/ROR record (v's reference passes to it) over the pending one, which becomes
 * cc_old (or stays cc_old, under another such record) */
static void pcc_set_kept(Cg *g, int op, unsigned size, Val v)
{
    Pcc *p = &g->cc;
    if (p->active && p->op >= PCC_MUL) {
        vrelease(g, p->s1);
        p->op = (uint8_t)op;
        p->size = (uint8_t)size;
        p->s1 = v;
    } else {
        g->cc_old = *p; /* its references pass to cc_old (inactive: env->cc holds it) */
        *p = (Pcc){true, (uint8_t)op, (uint8_t)size, D_NONE, VC(0), v, VC(0)};
    }
    g->cc_stale = false;
    g->hf = g->hcf = false;
}

/* The flags are about to be used: they must not be the stale ones a flag-free op left. */
static void need_flags(Cg *g)
{
    if (g->cc_stale && !g->cc.active)
        cg_fail(g, "internal error: flags used after an op that did not record them");
}

/* An op whose flags nobody sees ran without recording them. */
static void flags_dropped(Cg *g)
{
    pcc_clear(g);
    g->cc_stale = true;
    g->hf = g->hcf = false;
}

/* The record's s1, computed into scratch RS0 if derived (clobbers the flags then). */
static Val pcc_s1(Cg *g)
{
    Pcc *p = &g->cc;
    if (p->derive < D_S1_ADD)
        return p->s1;
    load_val(g, RS0, p->dst);
    if (p->derive == D_S1_ADD)
        alu_v(g, 8, A_SUB, RS0, p->s2);
    else if (p->derive == D_S1_SUB)
        alu_v(g, 8, A_ADD, RS0, p->s2);
    else
        alu_ri(g, 8, p->derive == D_S1_INC ? A_SUB : A_ADD, R_(RS0), 1);
    mask_reg(g, RS0, p->size);
    return VR(RS0);
}

/* The record's dst, computed into scratch RS0 if derived (clobbers the flags then). */
static Val pcc_dst(Cg *g)
{
    Pcc *p = &g->cc;
    if (p->derive != D_DST_SUB && p->derive != D_DST_AND)
        return p->dst;
    load_val(g, RS0, p->s1);
    if (p->derive == D_DST_SUB) {
        alu_v(g, 8, A_SUB, RS0, p->s2);
        mask_reg(g, RS0, p->size);
    } else {
        alu_v(g, 8, A_AND, RS0, p->s2);
    }
    return VR(RS0);
}

/* Whether the carry of the pending record can be worked out later from values it holds (for a
 * lazy INC/DEC record: lazy_cf_to_host). */
static bool carry_derivable(const Pcc *p)
{
    switch (p->op) {
    case CC_OP_ADD:
    case CC_OP_SUB:
    case CC_OP_SHL:
    case CC_OP_SHR:
        return !p->no_s1;
    case CC_OP_ADC:
    case CC_OP_SBB:
        return p->size <= 4; /* lazy_cf_to_host sums two operands in 64 bits */
    case CC_OP_INC:
    case CC_OP_DEC:
        return p->lazy_cf;
    case PCC_ROL:
    case PCC_ROR:
        return true;
    default:
        return false;
    }
}

/* Host CF = the CF a lazy INC/DEC record keeps: the carry of the record in its c_* fields,
 * from those values (operands and results zero-extended from c_size). Clobbers the other host
 * flags, RS0 and RS1; the compile-time state is not changed, so it may be emitted on one path. */
static void lazy_cf_to_host(Cg *g)
{
    Pcc *p = &g->cc;
    int r;
    switch (p->c_op) {
    case CC_OP_ADD: /* the sum carried exactly when it is below an addend */
        r = reg_of(g, p->c_dst, RS0);
        alu_v(g, 8, A_CMP, r, p->c_s2);
        break;
    case CC_OP_SUB:
        if (p->c_derive == D_S1_SUB) {
            /* s1 = dst + s2 wrapped: the subtraction borrowed exactly when that sum carries,
             * bit c_size * 8 of the 64-bit sum */
            load_val(g, RS0, p->c_dst);
            alu_v(g, 8, A_ADD, RS0, p->c_s2);
            if (p->c_size < 8)
                bt_ri(g, 8, RS0, p->c_size * 8);
        } else {
            r = reg_of(g, p->c_s1, RS0);
            alu_v(g, 8, A_CMP, r, p->c_s2);
        }
        break;
    case CC_OP_ADC:
        /* dst = s1 + s2 + c - 2^n * carry with c 0 or 1: carry exactly when s1 + s2 > dst */
        load_val(g, RS0, p->c_s1);
        alu_v(g, 8, A_ADD, RS0, p->c_s2);
        r = reg_of(g, p->c_dst, RS1);
        alu_rr(g, 8, A_CMP, r, RS0);
        break;
    case CC_OP_SBB:
        /* dst = s1 - s2 - b + 2^n * borrow with b 0 or 1: borrow exactly when s1 < s2 + dst */
        load_val(g, RS0, p->c_s2);
        alu_v(g, 8, A_ADD, RS0, p->c_dst);
        r = reg_of(g, p->c_s1, RS1);
        alu_rr(g, 8, A_CMP, r, RS0);
        break;
    case CC_OP_SHL:
    case CC_OP_SHR:
        r = reg_of(g, p->c_s1, RS0);
        bt_ri(g, 8, r, p->c_op == CC_OP_SHL ? p->c_size * 8 - 1 : 0);
        break;
    case PCC_ROL:
    case PCC_ROR:
        bt_ri(g, 8, p->c_s1.reg, p->c_op == PCC_ROL ? 0 : p->c_size * 8 - 1);
        break;
    default:
        cg_fail(g, "internal error: lazy carry of an unknown record");
    }
}

/* env->cc (the record before) as a PCC_MUL/ROL/ROR record (how: op << 8 | size, v: its s1)
 * leaves it: SF ZF AF PF kept, CF and OF as alu.c's record_mul() and do_rotate() set them */
static void jit_kept_flags(CcState *cc, uint64_t how, uint64_t v)
{
    unsigned op = (unsigned)(how >> 8), n = (unsigned)(how & 0xff) * 8;
    uint32_t f = cc_eflags(cc) & (FL_SF | FL_ZF | FL_AF | FL_PF);
    if (op == PCC_MUL) {
        f |= v & 1 ? FL_CF | FL_OF : 0;
    } else {
        uint32_t top = (uint32_t)(v >> (n - 1)) & 1, top2 = (uint32_t)(v >> (n - 2)) & 1;
        uint32_t cf = op == PCC_ROL ? (uint32_t)v & 1 : top;
        uint32_t of = op == PCC_ROL ? top ^ cf : top ^ top2;
        f |= (cf ? FL_CF : 0) | (of ? FL_OF : 0);
    }
    cc_set_eflags(cc, f);
}

/* Store the pending record in env->cc (the hot state is not changed). */
static void cc_emit_store(Cg *g)
{
    Pcc *p = &g->cc;
    need_flags(g);
    if (!p->active)
        return;
    if (p->no_s1)
        cg_fail(g, "internal error: a shift's record stored without its operand");
    if (p->op >= PCC_MUL) {
        /* the record before in env->cc, then SF ZF AF PF from it and CF OF of this op */
        if (g->cc_old.active) {
            Pcc t = *p;
            *p = g->cc_old;
            cc_emit_store(g);
            g->cc_old = *p;
            *p = t;
        }
        bool hf = g->hf, hcf = g->hcf;
        Arg args[] = {{ARG_ENVOFF, VC(0), OFF(cc)}, AI((uint64_t)p->op << 8 | p->size), AV(p->s1)};
        emit_call(g, (const void *)jit_kept_flags, 3, args, 0);
        g->hf = hf; /* (emitted on one path: the hot state is as it was) */
        g->hcf = hcf;
        return;
    }
    if (p->lazy_cf) { /* (not from the host CF: an exit's budget check may have clobbered it) */
        lazy_cf_to_host(g);
        setcc(g, HC_B, RS0);
        movzx(g, RS0, RS0, 1);
        store(g, 8, ENV(OFF(cc.src2)), RS0);
    }
    store_imm(g, 4, ENV(OFF(cc.op)), p->op);
    store_imm(g, 4, ENV(OFF(cc.size)), p->size);
    store_val(g, ENV(OFF(cc.dst)), pcc_dst(g));
    if (p->op == CC_OP_LOGIC) {
        store_imm(g, 8, ENV(OFF(cc.src1)), 0);
        store_imm(g, 8, ENV(OFF(cc.src2)), 0);
    } else {
        store_val(g, ENV(OFF(cc.src1)), pcc_s1(g));
        if (!p->lazy_cf)
            store_val(g, ENV(OFF(cc.src2)), p->s2);
    }
}

static void cc_commit(Cg *g)
{
    if (!g->cc.active)
        return;
    cc_emit_store(g);
    pcc_clear(g);
    g->hf = g->hcf = false;
}

/* Guest state exact for a call that may fault: instruction count and EIP (registers and flags
 * are the caller's business). */
static void emit_sync(Cg *g)
{
    load(g, 8, RS0, ENV(OFF(jit_insns_base)));
    lea(g, 8, RS0, MX(RS0, RCNT, (int32_t)g->nins));
    store(g, 8, ENV(OFF(st.insns)), RS0);
    mov_ri(g, RS0, g->eip);
    store(g, 8, ENV(OFF(cur_eip)), RS0);
}

/* ---- exits ---- */

/* jmp rel32 with a label on the rel32 (patched later) */
static void jmp_site(Cg *g, int l)
{
    put1(g, 0xe9);
    bind(g, l);
    put4(g, 0);
}

/* jcc rel32 with a label on the rel32 (patched later, as a jmp_site's) */
static void jcc_site(Cg *g, int cc, int l)
{
    put1(g, 0x0f);
    put1(g, (uint8_t)(0x80 + cc));
    bind(g, l);
    put4(g, 0);
}

static JitSlot *new_slot(Cg *g, uint64_t eip);

/* cmp rsp, [rip + var] */
static void cmp_rsp_rip(Cg *g, uint8_t *var)
{
    put1(g, 0x48);
    put1(g, 0x3b);
    put1(g, 0x25);
    add_fixup(g, -1, var);
}

/* Return prediction, at a call's exit once the run budget is checked: push an entry (the
 * return EIP, zero-extended; the host address of a continuation) with a host call, so the
 * near return that pops this EIP can `ret` to the continuation, which the host predicts, and
 * the continuation jumps on to the block at the return EIP through a slot of its own (linked
 * like any exit: same mode, CS base and page as this block). The entries live only while
 * compiled code runs: the epilogue drops them, and everything that could make one wrong (mode,
 * page tables, invalidation, interrupts) goes through dbt_exec. Only the jump into the next
 * block is left to the caller. */
static void emit_call_push(Cg *g)
{
    JitSlot *s = new_slot(g, g->call_ret);
    s->cont = true;
    int *sl = g->slot_lab[s - g->jb->slots];
    int l_go = new_label(g);
    sl[0] = sl[4] = new_label(g);
    sl[1] = sl[2] = sl[3] = sl[5] = new_label(g);
    cmp_rsp_rip(g, g->jit->rsp_floor); /* too deep: no entry (a return then mispredicts) */
    jcc_l(g, HC_BE, l_go);
    mov_ri(g, RS0, g->call_ret);
    push_r(g, RS0);
    put1(g, 0xe8); /* call l_go */
    add_fixup(g, l_go, NULL);
    lea(g, 8, RSP, M_(RSP, 8)); /* the continuation: the return popped the host address */
    jmp_site(g, sl[0]);
    int cur = g->cur;
    g->cur = COLD;
    bind(g, sl[1]); /* unlinked: the return stored EIP and the flags, registers are home */
    mov_ri(g, RAX, (uint64_t)(uintptr_t)s);
    jmp_abs(g, g->jit->epilogue);
    g->cur = cur;
    bind(g, l_go);
}

/* Leave for EIP eip: flags stored, guest registers in their homes, R15 counted. The flags go
 * first: the pending record may pin values in home registers. With a slot the exit can be
 * linked to the next block (JitSlot), after the run budget is checked. */
static void emit_leave(Cg *g, uint64_t eip, JitSlot *slot, unsigned nins)
{
    if (nins)
        lea(g, 8, RCNT, M_(RCNT, (int32_t)nins));
    if (!slot) {
        cc_emit_store(g);
        emit_home_all(g);
        mov_ri(g, RS0, eip);
        store(g, 8, ENV(OFF(s.rip)), RS0);
        mov_ri(g, RAX, 0);
        jmp_abs(g, g->jit->epilogue);
        return;
    }
    int *sl = g->slot_lab[slot - g->jb->slots];
    for (int k = 0; k < 6; k++)
        sl[k] = new_label(g);
    sl[1] = sl[2]; /* unlinked: the way through via_cc, on to unlinked2 */
    /* The budget is checked where a chain may go round: a forward link (to a block at a
     * higher address) cannot close a loop of links by itself. Only where this block cannot
     * have set jit_limit itself (an access that ended in MMIO wants the next boundary):
     * other threads' kicks may wait the few blocks to the next check. */
    uint64_t pc = (g->b->cs_base + eip) & 0xffffffffull;
    bool check = !(g->no_access && pc > g->b->pc);
    if (check && !g->call_pred) {
        /* on while the budget lasts (the site's jcc), else on into via_cc, right below, as
         * the unlinked site does */
        alu_rm(g, 8, A_CMP, RCNT, ENV(OFF(jit_limit)));
        jcc_site(g, HC_B, sl[0]);
    } else {
        if (check) {
            alu_rm(g, 8, A_CMP, RCNT, ENV(OFF(jit_limit)));
            jcc_l(g, HC_AE, sl[2]);
        }
        if (g->call_pred)
            emit_call_push(g);
        jmp_site(g, sl[0]);
    }
    /* One copy of the way out for a linked exit and for the return to dbt_exec (not linked,
     * or the budget used up: then the check below fails too; a direct link skips it) */
    bind(g, sl[2]); /* via_cc: the flags, then on as via_nocc */
    cc_emit_store(g);
    bind(g, sl[3]); /* via_nocc */
    uint32_t at = g->buf[g->cur].len;
    emit_home_all(g);
    slot->nocc_direct = g->buf[g->cur].len == at; /* then the check above was the one */
    /* on while the budget lasts, else back to dbt_exec (the flags stored, registers home: RAX
     * is free): the budget used up (RAX = NULL), or not linked (RAX = this slot) */
    int l_tail = new_label(g);
    if (check) {
        alu_rm(g, 8, A_CMP, RCNT, ENV(OFF(jit_limit)));
        jcc_site(g, HC_B, sl[4]);
        mov_ri(g, RAX, 0);
        jmp_l(g, l_tail);
    } else {
        jmp_site(g, sl[4]);
    }
    bind(g, sl[5]); /* unlinked2 */
    mov_ri(g, RAX, (uint64_t)(uintptr_t)slot);
    bind(g, l_tail);
    mov_ri(g, RS0, eip);
    store(g, 8, ENV(OFF(s.rip)), RS0);
    jmp_abs(g, g->jit->epilogue);
}

static JitSlot *new_slot(Cg *g, uint64_t eip)
{
    if (!g->chainable)
        return NULL;
    JitSlot *s = &g->jb->slots[g->jb->nslots++];
    s->from = g->b;
    s->eip = eip;
    return s;
}

/* ---- slow paths ---- */

/* Where C code learns whether an access ended in RAM: if not, compiled code returns to dbt_exec
 * at the next block boundary (a device may want an interrupt or a stop looked at). */
static void after_slow(DbtCpu *env, int seg, uint64_t off, bool write)
{
    uint64_t lin = (env->s.seg[seg].base + off) & 0xffffffffull;
    const TlbEntry *e = dbt_tlb_entry(env, dbt_cpl(env) == 3, lin);
    if ((write ? e->write_tag : e->read_tag) != (lin & DBT_PAGE_MASK))
        env->jit_limit = 0;
}

static uint64_t jit_slow_ld(DbtCpu *env, uint64_t off, uint64_t segsize)
{
    int seg = (int)(segsize & 0xff);
    uint64_t v = dbt_ld(env, seg, off, (unsigned)(segsize >> 8));
    after_slow(env, seg, off, false);
    return v;
}

static uint64_t jit_slow_st(DbtCpu *env, uint64_t off, uint64_t val, uint64_t segsize)
{
    int seg = (int)(segsize & 0xff);
    dbt_st(env, seg, off, val, (unsigned)(segsize >> 8));
    after_slow(env, seg, off, true);
    return 0;
}

/* ---- IR ops ---- */

static bool live_after(Cg *g, int i, int t)
{
    return (g->live[i] >> t) & 1;
}

static void gen_getr(Cg *g, const IrOp *o)
{
    int i = o->aux & 0xf;
    unsigned size = o->size;
    if (o->aux & IR_HI8) {
        int d = ralloc(g);
        if (g->gr[i].reg < 0 || !g->gr[i].dirty) {
            load(g, 1, d, ENV(OFF_REG(i) + 1));
        } else {
            mov_rr(g, 4, d, g->gr[i].reg);
            shift_ri(g, 4, SH_SHR, d, 8);
            movzx(g, d, d, 1);
            g->hf = g->hcf = false;
        }
        g->wid[d] = 1;
        tset(g, o->d, VR(d));
        return;
    }
    int r = greg(g, i);
    if (g->wid[r] <= size) {
        hold(g, r);
        tset(g, o->d, VR(r));
        return;
    }
    int d = ralloc(g);
    movzx(g, d, r, (int)size);
    g->wid[d] = (uint8_t)size;
    tset(g, o->d, VR(d));
}

static void gen_setr(Cg *g, const IrOp *o)
{
    int i = o->aux & 0xf;
    Val v = tget(g, o->a);
    switch (o->size) {
    case 4: {
        int r;
        if (v.kind == VREG && g->wid[v.reg] <= 4) {
            r = v.reg;
            hold(g, r);
        } else {
            r = ralloc(g);
            if (v.kind == VREG) {
                mov_rr(g, 4, r, v.reg);
                g->wid[r] = 4;
            } else {
                load_val(g, r, VC(v.imm & 0xffffffffull));
            }
        }
        greg_set(g, i, r);
        return;
    }
    case 2:
    case 1: {
        if (!(o->aux & IR_HI8) && v.kind == VREG && v.reg == g->gr[i].reg) {
            g->gr[i].dirty = true; /* merged already: the op worked in the register */
            return;
        }
        int r = greg_own(g, i);
        if (o->aux & IR_HI8) {
            if (v.kind == VREG) {
                movzx(g, RS1, v.reg, 1);
                shift_ri(g, 4, SH_SHL, RS1, 8);
                alu_ri(g, 8, A_AND, R_(r), 0xffffffffffff00ffull);
                alu_rr(g, 8, A_OR, r, RS1);
            } else {
                alu_ri(g, 8, A_AND, R_(r), 0xffffffffffff00ffull);
                if (v.imm & 0xff)
                    alu_ri(g, 8, A_OR, R_(r), (v.imm & 0xff) << 8);
            }
            g->hf = g->hcf = false;
            if (g->wid[r] < 2)
                g->wid[r] = 2;
        } else {
            if (v.kind == VREG) {
                if (o->size == 1)
                    enc(g, 1, F_BREG | F_BRM, 1, 0x88, v.reg, R_(r));
                else
                    enc(g, 2, 0, 1, 0x89, v.reg, R_(r));
            } else {
                if (o->size == 1) {
                    enc(g, 1, F_BRM, 1, 0xc6, 0, R_(r));
                    put1(g, (uint8_t)v.imm);
                } else {
                    enc(g, 2, 0, 1, 0xc7, 0, R_(r));
                    put1(g, (uint8_t)v.imm);
                    put1(g, (uint8_t)(v.imm >> 8));
                }
            }
            if (g->wid[r] < o->size)
                g->wid[r] = o->size;
        }
        g->gr[i].dirty = true;
        return;
    }
    default:
        cg_fail(g, "SETR size");
    }
}

/* Access groups. In a flat block, accesses at fixed displacements from one guest register
 * that nothing writes in between (locals off EBP or ESP, fields off a struct pointer) are
 * usually on one page. The first of such a group checks, once, that the whole window of
 * displacements the group spans lies on one page the TLB maps (for writes if the group
 * stores), and keeps the entry's addend in an env->jit_page slot; the others then go straight
 * to host memory through it. Where that check fails the slot holds 0 and every access of the
 * group makes its own check. The window is computed from the first access's address, modulo
 * 4 GiB as the guest's: a window that would wrap ends on a page >= 4 GiB, which no tag holds.
 * Helpers end all groups (they may write registers or change the TLB), and every slow path
 * empties the slots after its call (a device access may have remapped memory). */
#define GRP_SLOTS 4
#define GRP_MIN 3    /* accesses in a group: fewer do not pay for the window check */
#define GRP_SPAN 256 /* bytes a window may cover (the larger, the likelier across pages) */

typedef struct MemGrp {
    int8_t slot;   /* -1: not in a group */
    bool first;    /* checks the window and fills the slot */
    bool write;    /* (first) the group stores: check the write tag */
    int32_t lo;    /* (first) window start - this access's displacement */
    uint32_t span; /* (first) window size in bytes */
} MemGrp;

static bool op_defines(const IrOp *o);

static void mem_groups(Cg *g)
{
    const Block *b = g->b;
    uint32_t n = b->nops;
    g->mg = g_new0(MemGrp, n);
    for (uint32_t i = 0; i < n; i++)
        g->mg[i].slot = -1;
    for (int s = 0; s < GRP_SLOTS; s++)
        g->grp_span[s][0] = g->grp_span[s][1] = -1;
    if (!(b->mode & MODE_FLAT))
        return;
    /* each access's base register and displacement, and the register's version */
    int *reg = g_new(int, n), *ver = g_new0(int, n);
    int32_t *disp = g_new0(int32_t, n);
    int def[IR_NTEMPS], regver[NGUEST] = {0}, epoch = 0;
    for (int t = 0; t < IR_NTEMPS; t++)
        def[t] = -1;
    for (uint32_t i = 0; i < n; i++) {
        const IrOp *o = &b->ops[i];
        reg[i] = -1;
        if (o->op == IR_INSN) {
            for (int t = 0; t < IR_NTEMPS; t++)
                def[t] = -1;
        } else if (o->op == IR_SETR) {
            regver[o->aux & 7]++;
        } else if (o->op == IR_HELPER) {
            epoch++;
        } else if ((o->op == IR_LD || o->op == IR_ST) &&
                   (o->aux == S_DS || o->aux == S_ES || o->aux == S_SS)) {
            int d = def[o->a];
            int32_t k = 0;
            if (d >= 0 && b->ops[d].op == IR_ADDI && b->ops[d].size == 4) {
                k = (int32_t)b->ops[d].imm;
                d = def[b->ops[d].a];
            }
            if (d >= 0 && b->ops[d].op == IR_GETR && b->ops[d].size == 4 &&
                !(b->ops[d].aux & IR_HI8) && k > -(1 << 20) && k < (1 << 20)) {
                reg[i] = b->ops[d].aux & 7;
                disp[i] = k;
                ver[i] = regver[reg[i]] + (epoch << 16);
            }
        }
        if (op_defines(o) && o->d < IR_NTEMPS)
            def[o->d] = (int)i;
    }
    /* groups in order of their first access; a slot is free again after a group's last */
    int slot_last[GRP_SLOTS] = {-1, -1, -1, -1};
    bool *done = g_new0(bool, n);
    for (uint32_t i = 0; i < n; i++) {
        if (reg[i] < 0 || done[i])
            continue;
        int32_t lo = disp[i], hi = disp[i] + b->ops[i].size;
        int cnt = 0, last = (int)i;
        bool write = false;
        for (uint32_t j = i; j < n; j++) {
            if (reg[j] != reg[i] || ver[j] != ver[i] || done[j])
                continue;
            int32_t jl = disp[j] < lo ? disp[j] : lo;
            int32_t jh = disp[j] + b->ops[j].size > hi ? disp[j] + b->ops[j].size : hi;
            if (jh - jl > GRP_SPAN)
                continue; /* left for a group of its own */
            lo = jl, hi = jh;
            cnt++;
            last = (int)j;
            write |= b->ops[j].op == IR_ST;
        }
        int s = 0;
        while (s < GRP_SLOTS && slot_last[s] >= (int)i)
            s++;
        if (cnt < GRP_MIN || s == GRP_SLOTS)
            continue;
        slot_last[s] = last;
        g->grp_span[s][0] = (int)i;
        g->grp_span[s][1] = last;
        for (uint32_t j = i; j <= (uint32_t)last; j++) {
            if (reg[j] != reg[i] || ver[j] != ver[i] || done[j] || disp[j] < lo ||
                disp[j] + b->ops[j].size > hi)
                continue;
            done[j] = true;
            g->mg[j].slot = (int8_t)s;
        }
        g->mg[i].first = true;
        g->mg[i].write = write;
        g->mg[i].lo = lo - disp[i];
        g->mg[i].span = (uint32_t)(hi - lo);
    }
    g_free(done);
    g_free(reg);
    g_free(ver);
    g_free(disp);
}

/* The TLB check of an access at linear address lin (size bytes): jumps to l_miss unless the
 * entry of lin's page holds the page of the last byte; else leaves the addend in RS1. */
static void emit_tlb_check(Cg *g, int lin, int32_t tlb, bool st, int size, int tmp, int l_miss)
{
    mov_rr(g, 4, RS1, lin);
    shift_ri(g, 4, SH_SHR, RS1, DBT_PAGE_BITS - 5);
    alu_ri(g, 4, A_AND, R_(RS1), (DBT_TLB_SIZE - 1) << 5);
    lea(g, 8, tmp, M_(lin, size - 1));
    alu_ri(g, 8, A_AND, R_(tmp), DBT_PAGE_MASK);
    alu_rm(g, 8, A_CMP, tmp,
           MX(RENV, RS1,
              tlb + (int32_t)(st ? offsetof(TlbEntry, write_tag) : offsetof(TlbEntry, read_tag))));
    jcc_l(g, HC_NE, l_miss);
    load(g, 8, RS1, MX(RENV, RS1, tlb + (int32_t)offsetof(TlbEntry, addend)));
}

/* The access itself, through the addend in RS1. */
static void emit_host_access(Cg *g, bool st, int size, int lin, Val v, int dst, int tmp)
{
    if (st) {
        Rm m = MX(RS1, lin, 0);
        if (v.kind == VREG)
            store(g, size, m, v.reg);
        else if (size < 8 || is_s32(v.imm))
            store_imm(g, size, m, v.imm);
        else
            mov_ri(g, tmp, v.imm), store(g, 8, m, tmp);
    } else {
        load(g, size, dst, MX(RS1, lin, 0));
    }
}

/* Memory access through segment o->aux: the inline checks, the TLB, the slow path. Like
 * mmu.c's own fast path this relies on the TLB holding only entries good for the current
 * privilege, and none while alignment checking or data breakpoints are on (mmu.c keeps it
 * empty then), so a hit needs no more checks than the segment's. */
static void gen_mem(Cg *g, const IrOp *o, bool st, int i)
{
    int seg = o->aux, size = o->size;
    Val a = tget(g, o->a);
    Val v = st ? tget(g, o->b) : VC(0);
    int ra, dst = -1, tmp;
    bool ra_own = false;
    if (a.kind == VCONST) {
        ra = ralloc(g);
        mov_ri(g, ra, a.imm);
        ra_own = true;
    } else {
        ra = a.reg;
    }
    if (st) {
        tmp = ralloc(g);
    } else {
        dst = ralloc(g);
        tmp = dst;
    }
    int l_slow = new_label(g), l_join = new_label(g), l_segok = new_label(g);
    int32_t so = OFF_SEG(seg);
    /* MODE_FLAT: the offset is the linear address (base 0) and needs no segment check: an
     * access past 4 GiB ends on a page no TLB tag holds and takes the slow path below. That
     * needs an offset with its upper half clear, which every address-size op leaves. */
    bool flat = (g->b->mode & MODE_FLAT) && (seg == S_DS || seg == S_ES || seg == S_SS) &&
                (a.kind == VCONST ? a.imm <= 0xffffffffull : g->wid[ra] <= 4);
    int lin = flat ? ra : RS0;
    /* the TLB of the block's privilege */
    int32_t tlb =
        OFF(tlb) +
        (((g->b->mode >> MODE_CPL_SHIFT) & 3) == 3 ? (int32_t)sizeof(((DbtCpu *)0)->tlb[1]) : 0);

    if (!flat) {
        /* segment: offset + size - 1 <= limit, then the type */
        lea(g, 8, RS0, M_(ra, size - 1));
        load(g, 4, RS1, ENV(so + (int32_t)offsetof(SegCache, limit)));
        alu_rr(g, 8, A_CMP, RS0, RS1);
        jcc_l(g, HC_A, l_slow);
        load(g, 1, RS1, ENV(so + (int32_t)offsetof(SegCache, attr)));
        alu_ri(g, 4, A_AND, R_(RS1), st ? 0x8e : 0x8c);
        alu_ri(g, 4, A_CMP, R_(RS1), st ? 0x82 : 0x80);
        if (st) {
            jcc_l(g, HC_NE, l_slow);
        } else {
            /* not a plain data segment: a readable code segment will do for a load */
            int l_code = new_label(g);
            jcc_l(g, HC_NE, l_code);
            g->cur = COLD;
            bind(g, l_code);
            load(g, 1, RS1, ENV(so + (int32_t)offsetof(SegCache, attr)));
            alu_ri(g, 4, A_AND, R_(RS1), 0x8a);
            alu_ri(g, 4, A_CMP, R_(RS1), 0x8a);
            jcc_l(g, HC_NE, l_slow);
            jmp_l(g, l_segok);
            g->cur = HOT;
        }
        bind(g, l_segok);
        /* linear address */
        load(g, 8, RS0, ENV(so + (int32_t)offsetof(SegCache, base)));
        alu_rr(g, 8, A_ADD, RS0, ra);
        mov_rr(g, 4, RS0, RS0);
    }
    const MemGrp *mg = &g->mg[i];
    int32_t slot = OFF(jit_page) + 8 * mg->slot;
    if (mg->slot >= 0 && mg->first && !flat) {
        store_imm(g, 8, ENV(slot), 0); /* the group's members check for themselves */
    } else if (mg->slot >= 0 && mg->first) {
        /* the group's window: one page the TLB maps? then its addend goes to the slot */
        int l_one = new_label(g);
        lea(g, 4, RS0, M_(ra, mg->lo));
        emit_tlb_check(g, RS0, tlb, mg->write, (int)mg->span, tmp, l_one);
        store(g, 8, ENV(slot), RS1);
        emit_host_access(g, st, size, lin, v, dst, tmp);
        bind(g, l_join);
        g->cur = COLD;
        bind(g, l_one);
        store_imm(g, 8, ENV(slot), 0);
        emit_tlb_check(g, lin, tlb, st, size, tmp, l_slow);
        emit_host_access(g, st, size, lin, v, dst, tmp);
        jmp_l(g, l_join);
        g->cur = HOT;
        goto slow;
    } else if (mg->slot >= 0 && flat) {
        /* a member: through the slot's addend, or its own check where that is 0 */
        int l_own = new_label(g);
        load(g, 8, RS1, ENV(slot));
        test_rr(g, 8, RS1, RS1);
        jcc_l(g, HC_E, l_own);
        emit_host_access(g, st, size, lin, v, dst, tmp);
        bind(g, l_join);
        g->cur = COLD;
        bind(g, l_own);
        emit_tlb_check(g, lin, tlb, st, size, tmp, l_slow);
        emit_host_access(g, st, size, lin, v, dst, tmp);
        jmp_l(g, l_join);
        g->cur = HOT;
        goto slow;
    }
    /* TLB entry, tag of the last byte's page against the first's entry */
    emit_tlb_check(g, lin, tlb, st, size, tmp, l_slow);
    emit_host_access(g, st, size, lin, v, dst, tmp);
    bind(g, l_join);
slow:

    /* slow path: exact guest state, then dbt_ld/dbt_st */
    g->cur = COLD;
    bind(g, l_slow);
    wb_emit(g);
    cc_emit_store(g);
    emit_sync(g);
    uint64_t segsize = (uint64_t)seg | (uint64_t)size << 8;
    if (st) {
        Arg args[] = {{ARG_ENV, VC(0), 0}, AV(VR(ra)), AV(v), AI(segsize)};
        emit_call(g, (const void *)jit_slow_st, 4, args, 0);
    } else {
        Arg args[] = {{ARG_ENV, VC(0), 0}, AV(VR(ra)), AI(segsize)};
        emit_call(g, (const void *)jit_slow_ld, 3, args, 1u << dst);
        mov_rr(g, 8, dst, RS0);
    }
    for (int k = 0; k < GRP_SLOTS; k++)
        if (g->grp_span[k][0] <= i && i < g->grp_span[k][1])
            store_imm(g, 8, ENV(OFF(jit_page) + 8 * k), 0); /* a group still to come */
    jmp_l(g, l_join);
    g->cur = HOT;

    g->hf = g->hcf = false;
    if (ra_own)
        release(g, ra);
    if (st) {
        release(g, tmp);
        g->smc_check = true;
    } else {
        g->wid[dst] = (uint8_t)size;
        tset(g, o->d, VR(dst));
    }
}

/* Static evaluation of a condition when the whole pending record is constant. */
static bool pcc_const(Cg *g, CcState *cs)
{
    Pcc *p = &g->cc;
    if (!p->active || p->op >= PCC_MUL || p->lazy_cf || p->no_s1 || p->derive >= D_S1_ADD ||
        p->s1.kind != VCONST || p->s2.kind != VCONST ||
        (p->derive == D_NONE && p->dst.kind != VCONST))
        return false;
    uint64_t dst = p->dst.imm;
    if (p->derive == D_DST_SUB)
        dst = (p->s1.imm - p->s2.imm) & size_mask(p->size);
    else if (p->derive == D_DST_AND)
        dst = p->s1.imm & p->s2.imm;
    cs->op = p->op;
    cs->size = p->size;
    cs->dst = dst;
    cs->src1 = p->op == CC_OP_LOGIC ? 0 : p->s1.imm;
    cs->src2 = p->op == CC_OP_LOGIC ? 0 : p->s2.imm;
    return true;
}

/* Recompute the host flags of an ADD/SUB/LOGIC/INC/DEC record from its values. */
static bool regen_flags(Cg *g)
{
    Pcc *p = &g->cc;
    int sz = p->size;
    switch (p->op) {
    case CC_OP_SUB: {
        int r = reg_of(g, pcc_s1(g), RS0);
        alu_v(g, sz, A_CMP, r, p->s2);
        break;
    }
    case CC_OP_ADD:
        load_val(g, RS0, pcc_s1(g));
        alu_v(g, sz, A_ADD, RS0, p->s2);
        break;
    case CC_OP_LOGIC:
        if (p->derive == D_DST_AND) {
            Val x = p->s1, y = p->s2;
            if (x.kind == VCONST) {
                Val t = x;
                x = y;
                y = t;
            }
            int r = reg_of(g, x, RS0);
            if (y.kind == VREG)
                test_rr(g, sz, r, y.reg);
            else if (sz < 8 || is_s32(y.imm))
                test_ri(g, sz, r, y.imm);
            else
                mov_ri(g, RS1, y.imm), test_rr(g, sz, r, RS1);
        } else {
            int r = reg_of(g, p->dst, RS0);
            test_rr(g, sz, r, r);
        }
        break;
    case CC_OP_INC:
    case CC_OP_DEC:
        load_val(g, RS0, pcc_s1(g));
        incdec(g, sz, p->op == CC_OP_DEC, RS0);
        g->hcf = false; /* pcc_s1() may have clobbered it, INC/DEC do not set it */
        break;
    default:
        return false;
    }
    g->hf = true;
    return true;
}

/* A 32-bit op whose result goes straight back to the guest register its first operand came from
 * (add eax, ecx), which nothing else holds: done in that register. Returns the guest register,
 * and takes over the operand temp's reference; -1 if the pattern does not apply. */
static int in_place(Cg *g, const IrOp *o, int i)
{
    const Block *b = g->b;
    if (o->size != 4 || i + 1 >= (int)b->nops || o->a == o->d)
        return -1;
    const IrOp *n = &b->ops[i + 1];
    if (n->op != IR_SETR || n->a != o->d || n->size != 4 || (n->aux & IR_HI8))
        return -1;
    Val a = tget(g, o->a);
    int gi = n->aux & 7;
    if (a.kind != VREG || g->gr[gi].reg != a.reg || g->refs[a.reg] != 2 || live_after(g, i, o->a))
        return -1;
    g->t[o->a].kind = VNONE; /* its reference is the result's now */
    return gi;
}

/* Set the host flags so that host condition *hc is guest condition cond of the pending record.
 * Returns 1 (use *hc), 2 (constant *val), 0 (not inline: the caller falls back). */
static int cond_inline(Cg *g, int cond, int *hc, bool *val)
{
    Pcc *p = &g->cc;
    CcState cs;
    need_flags(g);
    if (pcc_const(g, &cs)) {
        *val = cc_cond(&cs, cond);
        return 2;
    }
    if (!p->active)
        return 0;
    int base = cond >> 1;
    switch (p->op) {
    case CC_OP_ADD:
    case CC_OP_SUB:
    case CC_OP_LOGIC:
    case CC_OP_ADC:
    case CC_OP_SBB:
        if (!g->hf && !regen_flags(g))
            return 0;
        *hc = cond;
        return 1;
    case CC_OP_INC:
    case CC_OP_DEC:
        if (base == 1) { /* B / AE: the preserved carry */
            if (g->hcf) {
                *hc = cond;
                return 1;
            }
            if (p->lazy_cf) {
                lazy_cf_to_host(g);
                g->hf = false;
                g->hcf = true;
                *hc = cond;
                return 1;
            }
            if (p->s2.kind == VCONST) {
                *val = (p->s2.imm != 0) ^ (cond & 1);
                return 2;
            }
            test_rr(g, 8, p->s2.reg, p->s2.reg);
            g->hf = g->hcf = false;
            *hc = (cond & 1) ? HC_E : HC_NE;
            return 1;
        }
        if (base == 3)
            return 0;
        if (!g->hf)
            regen_flags(g);
        *hc = cond;
        return 1;
    case CC_OP_SHL:
    case CC_OP_SHR:
        if (base == 2 || base == 4 || base == 5) { /* Z, S, P come from dst alone */
            int r = reg_of(g, p->dst, RS0);
            test_rr(g, p->size, r, r);
            g->hf = g->hcf = false;
            *hc = cond;
            return 1;
        }
        if (base == 1) { /* CF: top bit (SHL) or bit 0 (SHR) of s1 */
            if (g->hcf) {
                *hc = cond;
                return 1;
            }
            if (p->no_s1)
                cg_fail(g, "internal error: a shift's CF read without its operand");
            int r = reg_of(g, p->s1, RS0);
            bt_ri(g, 8, r, p->op == CC_OP_SHL ? p->size * 8 - 1 : 0);
            g->hf = g->hcf = false;
            *hc = cond; /* B = CF set, AE = CF clear */
            return 1;
        }
        return 0;
    case PCC_MUL:
        if (base == 0 || base == 1) { /* O, B: the overflow */
            test_rr(g, 1, p->s1.reg, p->s1.reg);
            g->hf = g->hcf = false;
            *hc = (cond & 1) ? HC_E : HC_NE;
            return 1;
        }
        return 0;
    case PCC_ROL:
    case PCC_ROR:
        if (base == 1) { /* CF: bit 0 (ROL) or the top bit (ROR) of the result */
            bt_ri(g, 8, p->s1.reg, p->op == PCC_ROL ? 0 : p->size * 8 - 1);
            g->hf = g->hcf = false;
            *hc = cond;
            return 1;
        }
        return 0;
    default:
        return 0;
    }
}

/* cond into a new register via cc_cond() on the stored record */
static int cond_call(Cg *g, int cond)
{
    cc_commit(g);
    int d = ralloc(g);
    Arg args[] = {{ARG_ENVOFF, VC(0), OFF(cc)}, AI((uint64_t)cond)};
    emit_call(g, (const void *)cc_cond, 2, args, 1u << d);
    movzx(g, d, RS0, 1);
    g->wid[d] = 1;
    return d;
}

static void gen_cond(Cg *g, const IrOp *o)
{
    int hc;
    bool val;
    switch (cond_inline(g, o->aux, &hc, &val)) {
    case 2:
        tset(g, o->d, VC(val));
        return;
    case 1: {
        int d = ralloc(g);
        setcc(g, hc, d);
        movzx(g, d, d, 1);
        g->wid[d] = 1;
        tset(g, o->d, VR(d));
        return;
    }
    default:
        tset(g, o->d, VR(cond_call(g, o->aux)));
    }
}

/* the carry flag of the pending record as a value (owned) */
static Val carry_val(Cg *g)
{
    Pcc *p = &g->cc;
    CcState cs;
    need_flags(g);
    if (pcc_const(g, &cs))
        return VC(cc_carry(&cs));
    if (p->active) {
        switch (p->op) {
        case CC_OP_LOGIC:
            return VC(0);
        case PCC_MUL: {
            int d = ralloc(g);
            movzx(g, d, p->s1.reg, 1);
            g->wid[d] = 1;
            return VR(d);
        }
        case CC_OP_INC:
        case CC_OP_DEC:
            if (p->lazy_cf || g->hcf) {
                int d = ralloc(g);
                if (!g->hcf) {
                    lazy_cf_to_host(g);
                    g->hf = false;
                    g->hcf = true;
                }
                setcc(g, HC_B, d);
                movzx(g, d, d, 1);
                g->wid[d] = 1;
                return VR(d);
            }
            vhold(g, p->s2);
            return p->s2;
        case CC_OP_ADD:
        case CC_OP_SUB:
        case CC_OP_ADC:
        case CC_OP_SBB:
            if (g->hf || regen_flags(g)) {
                int d = ralloc(g);
                setcc(g, HC_B, d);
                movzx(g, d, d, 1);
                g->wid[d] = 1;
                return VR(d);
            }
            break;
        case CC_OP_SHL:
        case CC_OP_SHR: {
            int d = ralloc(g);
            if (g->hcf) {
                setcc(g, HC_B, d);
                movzx(g, d, d, 1);
                g->wid[d] = 1;
                return VR(d);
            }
            if (p->no_s1)
                cg_fail(g, "internal error: a shift's CF read without its operand");
            load_val(g, d, p->s1);
            if (p->op == CC_OP_SHL)
                shift_ri(g, 8, SH_SHR, d, p->size * 8 - 1);
            alu_ri(g, 4, A_AND, R_(d), 1);
            g->wid[d] = 1;
            g->hf = g->hcf = false;
            return VR(d);
        }
        }
    }
    bool stored = !p->active; /* the record is env->cc, from before this block */
    cc_commit(g);
    int d = ralloc(g);
    int l_call = new_label(g), l_done = new_label(g);
    if (stored) {
        /* a compare or subtract is the usual one (a CMP and a branch ended the last block):
         * its carry inline, anything else from cc_carry() */
        alu_ri(g, 4, A_CMP, ENV(OFF(cc.op)), CC_OP_SUB);
        jcc_l(g, HC_NE, l_call);
        load(g, 8, d, ENV(OFF(cc.src1)));
        alu_rm(g, 8, A_CMP, d, ENV(OFF(cc.src2)));
        setcc(g, HC_B, d);
        movzx(g, d, d, 1);
        g->cur = COLD;
        bind(g, l_call);
    }
    Arg args[] = {{ARG_ENVOFF, VC(0), OFF(cc)}};
    emit_call(g, (const void *)cc_carry, 1, args, 1u << d);
    movzx(g, d, RS0, 1);
    if (stored) {
        jmp_l(g, l_done);
        g->cur = HOT;
        bind(g, l_done);
    }
    g->hf = g->hcf = false;
    g->wid[d] = 1;
    return VR(d);
}

/* Whether carry_to_host() can set the host carry flag (without emitting anything). */
static bool carry_available(Cg *g)
{
    Pcc *p = &g->cc;
    CcState cs;
    need_flags(g);
    if (pcc_const(g, &cs))
        return true;
    if (!p->active)
        return false;
    switch (p->op) {
    case CC_OP_ADD:
    case CC_OP_SUB:
    case CC_OP_LOGIC:
    case CC_OP_INC:
    case CC_OP_DEC:
    case CC_OP_SHL:
    case CC_OP_SHR:
        return true;
    case CC_OP_ADC:
    case CC_OP_SBB:
        return g->hf;
    default:
        return false;
    }
}

/* Set the host carry flag to the pending record's CF, right before an ADC/SBB. */
static bool carry_to_host(Cg *g)
{
    Pcc *p = &g->cc;
    CcState cs;
    need_flags(g);
    if (pcc_const(g, &cs)) {
        put1(g, cc_carry(&cs) ? 0xf9 : 0xf8); /* stc / clc */
        return true;
    }
    if (!p->active)
        return false;
    switch (p->op) {
    case CC_OP_ADD:
    case CC_OP_SUB:
    case CC_OP_ADC:
    case CC_OP_SBB:
    case CC_OP_LOGIC:
        return g->hf || regen_flags(g);
    case CC_OP_INC:
    case CC_OP_DEC:
        if (g->hcf)
            return true;
        if (p->lazy_cf)
            lazy_cf_to_host(g);
        else if (p->s2.kind == VCONST)
            put1(g, p->s2.imm ? 0xf9 : 0xf8);
        else
            bt_ri(g, 8, p->s2.reg, 0);
        return true;
    case CC_OP_SHL:
    case CC_OP_SHR: {
        if (g->hcf)
            return true;
        if (p->no_s1)
            cg_fail(g, "internal error: a shift's CF read without its operand");
        int r = reg_of(g, p->s1, RS0);
        bt_ri(g, 8, r, p->op == CC_OP_SHL ? p->size * 8 - 1 : 0);
        return true;
    }
    default:
        return false;
    }
}

/* alu_exec() in C, on the stored record. When nobody sees the op's flags (and then only for ops
 * whose result does not depend on the flags) the record may be stale: it stays so. */
static void alu_call(Cg *g, const IrOp *o, int i)
{
    bool dead = !g->flv[i];
    if (!(dead && g->cc_stale))
        cc_commit(g);
    Val a = tget(g, o->a), b = tget(g, o->b);
    bool dlive = live_after(g, i, o->d);
    int d = dlive ? ralloc(g) : -1;
    Arg args[] = {AI(o->aux), AI(o->size), AV(a), AV(b), {ARG_ENVOFF, VC(0), OFF(cc)}};
    emit_call(g, (const void *)alu_exec, 5, args, d >= 0 ? 1u << d : 0);
    if (d >= 0) {
        mov_rr(g, 8, d, RS0);
        g->wid[d] = (uint8_t)o->size;
        tset(g, o->d, VR(d));
    }
    if (dead)
        g->cc_stale = true;
}

/* An ALU op whose flags nobody can see: the plain host instruction, nothing recorded. false:
 * not handled here (the caller records the flags anyway, which is also right). */
static bool gen_alu_noflags(Cg *g, const IrOp *o, int i)
{
    static const int8_t hop[] = {
        [ALU_ADD] = A_ADD, [ALU_SUB] = A_SUB, [ALU_AND] = A_AND, [ALU_OR] = A_OR,
        [ALU_XOR] = A_XOR, [ALU_ADC] = A_ADC, [ALU_SBB] = A_SBB};
    unsigned size = o->size;
    int sz = (int)size, op = o->aux;
    uint64_t m = size_mask(size);
    Val a = tget(g, o->a), b = tget(g, o->b);
    bool dlive = live_after(g, i, o->d);
    bool reads_cf = op == ALU_ADC || op == ALU_SBB || op == ALU_RCL || op == ALU_RCR;
    if (!dlive && !reads_cf) {
        flags_dropped(g);
        return true;
    }
    unsigned cmask = size == 8 ? 0x3f : 0x1f;
    int d;
    switch (op) {
    case ALU_ADD:
    case ALU_SUB:
    case ALU_AND:
    case ALU_OR:
    case ALU_XOR:
    case ALU_CMP:
    case ALU_TEST: {
        int opn = op == ALU_CMP ? A_SUB : op == ALU_TEST ? A_AND : hop[op];
        if (a.kind == VCONST && b.kind == VCONST) {
            uint64_t r = opn == A_ADD   ? a.imm + b.imm
                         : opn == A_SUB ? a.imm - b.imm
                         : opn == A_AND ? a.imm & b.imm
                         : opn == A_OR  ? a.imm | b.imm
                                        : a.imm ^ b.imm;
            flags_dropped(g);
            tset(g, o->d, VC(r & m));
            return true;
        }
        if (a.kind == VREG && in_place(g, o, i) >= 0) {
            d = a.reg;
            alu_v(g, 4, opn, d, b);
            break;
        }
        d = ralloc(g);
        if (opn == A_ADD && sz == 4 && a.kind == VREG) {
            if (b.kind == VREG)
                lea(g, 4, d, MX(a.reg, b.reg, 0));
            else
                lea(g, 4, d, M_(a.reg, (int32_t)b.imm));
        } else {
            load_val(g, d, a);
            alu_v(g, sz, opn, d, b);
            if (sz < 4)
                mask_reg(g, d, sz);
        }
        break;
    }
    case ALU_NEG:
    case ALU_INC:
    case ALU_DEC:
        if (a.kind == VREG && in_place(g, o, i) >= 0)
            d = a.reg;
        else
            d = ralloc(g), load_val(g, d, a);
        if (op == ALU_NEG)
            grp3(g, sz, 3, d);
        else
            incdec(g, sz, op == ALU_DEC, d);
        if (sz < 4)
            mask_reg(g, d, sz);
        break;
    case ALU_SHL:
    case ALU_SAL:
    case ALU_SHR:
    case ALU_SAR: {
        bool sar = op == ALU_SAR, shr = op == ALU_SHR;
        if (b.kind == VREG && !g->jit->bmi2)
            return false;
        if (b.kind == VCONST && !(b.imm & cmask)) { /* count 0: the value alone */
            flags_dropped(g);
            tset(g, o->d, masked(g, a, size));
            return true;
        }
        /* the operand widened as the guest's shift sees it, then shifted at 32 or 64 bits */
        int wsz = sz == 8 ? 8 : 4;
        if (a.kind == VREG && in_place(g, o, i) >= 0) {
            d = a.reg; /* 32-bit: the register holds the operand zero-extended already */
        } else {
            d = ralloc(g);
            if (a.kind == VCONST)
                mov_ri(g, d,
                       sar ? (uint64_t)((int64_t)(a.imm << (64 - 8 * size)) >> (64 - 8 * size))
                           : a.imm & m);
            else if (sar)
                movsx(g, d, a.reg, sz);
            else if (shr && g->wid[a.reg] > size)
                movzx(g, d, a.reg, sz);
            else
                mov_rr(g, wsz, d, a.reg);
        }
        if (b.kind == VCONST)
            shift_ri(g, wsz, sar ? SH_SAR : shr ? SH_SHR : SH_SHL, d, (int)(b.imm & cmask));
        else
            shiftx(g, wsz, sar ? 2 : shr ? 3 : 1, d, d, b.reg);
        if (sz < 4)
            mask_reg(g, d, sz);
        break;
    }
    case ALU_ROL:
    case ALU_ROR:
    case ALU_RCL:
    case ALU_RCR: {
        if (b.kind != VCONST)
            return false;
        unsigned c = (unsigned)b.imm & cmask;
        if (!c) {
            if (!dlive)
                return false; /* RCL/RCR by 0: keep it simple */
            flags_dropped(g);
            tset(g, o->d, masked(g, a, size));
            return true;
        }
        bool rc = op == ALU_RCL || op == ALU_RCR;
        if (rc && !carry_available(g))
            return false;
        if (a.kind == VREG && in_place(g, o, i) >= 0)
            d = a.reg;
        else
            d = ralloc(g), load_val(g, d, a);
        if (rc)
            carry_to_host(g);
        shift_ri(g, sz, op - ALU_ROL, d, (int)c); /* group 2: rol 0, ror 1, rcl 2, rcr 3 */
        if (sz < 4)
            mask_reg(g, d, sz);
        break;
    }
    case ALU_ADC:
    case ALU_SBB:
        if (!carry_available(g))
            return false;
        if (a.kind == VREG && in_place(g, o, i) >= 0)
            d = a.reg;
        else
            d = ralloc(g), load_val(g, d, a);
        carry_to_host(g);
        alu_v(g, sz, hop[op], d, b);
        if (sz < 4)
            mask_reg(g, d, sz);
        break;
    default:
        return false;
    }
    g->wid[d] = (uint8_t)size;
    flags_dropped(g);
    if (dlive)
        tset(g, o->d, VR(d));
    else
        release(g, d);
    return true;
}

static int dest_reg(Cg *g, int k, int res);

/* Whether the flags shift op i writes are read only by an ADC/SBB, from the host CF, and then
 * rewritten: between them only ops that neither look at the flags (an exit, a fault, an SMC
 * check, a helper, a condition) nor clobber the host's. Then the record's s1 is not needed. */
static bool shift_cf_only(Cg *g, int i)
{
    const Block *b = g->b;
    for (uint32_t j = (uint32_t)i + 1; j < b->nops; j++) {
        const IrOp *o = &b->ops[j];
        switch (o->op) {
        case IR_INSN:
            if (g->smc_check) /* gen_insn may leave here */
                return false;
            break;
        case IR_MOVI:
        case IR_MOV:
            break;
        case IR_GETR:
            if (o->aux & IR_HI8)
                return false;
            break;
        case IR_SETR:
            if (o->size != 4)
                return false;
            break;
        case IR_ALU:
            return o->aux == ALU_ADC || o->aux == ALU_SBB;
        default:
            return false;
        }
    }
    return false;
}

static void gen_alu(Cg *g, const IrOp *o, int i)
{
    if (!g->flv[i] && gen_alu_noflags(g, o, i))
        return;
    unsigned size = o->size;
    int sz = (int)size;
    Val a = tget(g, o->a), b = tget(g, o->b);
    bool dlive = live_after(g, i, o->d);

    switch (o->aux) {
    case ALU_CMP:
    case ALU_TEST:
        if (!dlive) {
            Val s1 = masked(g, a, size), s2 = masked(g, b, size);
            Val x = s1, y = s2;
            if (o->aux == ALU_TEST && x.kind == VCONST) {
                x = s2;
                y = s1;
            }
            int r = reg_of(g, x, RS0);
            if (o->aux == ALU_CMP) {
                alu_v(g, sz, A_CMP, r, y);
            } else if (y.kind == VREG) {
                test_rr(g, sz, r, y.reg);
            } else if (sz < 8 || is_s32(y.imm)) {
                test_ri(g, sz, r, y.imm);
            } else {
                mov_ri(g, RS1, y.imm);
                test_rr(g, sz, r, RS1);
            }
            pcc_set(g, o->aux == ALU_CMP ? CC_OP_SUB : CC_OP_LOGIC, size, VC(0), s1, s2,
                    o->aux == ALU_CMP ? D_DST_SUB : D_DST_AND);
            g->hf = true;
            return;
        }
        /* the result is wanted: compute it like SUB / AND */
        __attribute__((fallthrough));
    case ALU_ADD:
    case ALU_SUB:
    case ALU_AND:
    case ALU_OR:
    case ALU_XOR: {
        static const int8_t hop[] = {
            [ALU_ADD] = A_ADD, [ALU_SUB] = A_SUB, [ALU_AND] = A_AND, [ALU_OR] = A_OR,
            [ALU_XOR] = A_XOR, [ALU_CMP] = A_SUB, [ALU_TEST] = A_AND};
        int opn = hop[o->aux];
        bool logic = opn != A_ADD && opn != A_SUB;
        if (o->aux != ALU_CMP && o->aux != ALU_TEST &&
            (logic || b.kind == VCONST || g->wid[b.reg] <= size) && in_place(g, o, i) >= 0) {
            int d = a.reg;
            alu_v(g, 4, opn, d, b);
            g->wid[d] = 4;
            hold(g, d);
            if (logic)
                pcc_set(g, CC_OP_LOGIC, size, VR(d), VC(0), VC(0), D_NONE);
            else
                pcc_set(g, opn == A_ADD ? CC_OP_ADD : CC_OP_SUB, size, VR(d), VC(0),
                        masked(g, b, size), opn == A_ADD ? D_S1_ADD : D_S1_SUB);
            g->hf = true;
            tset(g, o->d, VR(d));
            return;
        }
        Val s1 = logic ? a : masked(g, a, size), s2 = logic ? b : masked(g, b, size);
        int d = ralloc(g);
        if (s1.kind == VREG)
            mov_rr(g, sz == 8 ? 8 : 4, d, s1.reg);
        else
            mov_ri(g, d, s1.imm);
        alu_v(g, sz, opn, d, s2);
        if (sz < 4)
            mask_reg(g, d, sz);
        g->wid[d] = (uint8_t)size;
        hold(g, d);
        if (logic) {
            pcc_set(g, CC_OP_LOGIC, size, VR(d), VC(0), VC(0), D_NONE);
        } else {
            pcc_set(g, opn == A_ADD ? CC_OP_ADD : CC_OP_SUB, size, VR(d), s1, s2, D_NONE);
        }
        g->hf = true;
        tset(g, o->d, VR(d));
        return;
    }
    case ALU_ADC:
    case ALU_SBB: {
        Pcc *p = &g->cc;
        bool ok = p->active && (p->op <= CC_OP_DEC || p->op == CC_OP_SHL || p->op == CC_OP_SHR);
        if (p->active && (p->op == CC_OP_ADC || p->op == CC_OP_SBB) && !g->hf)
            ok = false;
        if (!ok)
            break;
        Val s1 = masked(g, a, size), s2 = masked(g, b, size);
        int d = ralloc(g);
        load_val(g, d, s1);
        if (!carry_to_host(g)) {
            release(g, d);
            vrelease(g, s1);
            vrelease(g, s2);
            break;
        }
        alu_v(g, sz, o->aux == ALU_ADC ? A_ADC : A_SBB, d, s2);
        if (sz < 4)
            mask_reg(g, d, sz);
        g->wid[d] = (uint8_t)size;
        hold(g, d);
        pcc_set(g, o->aux == ALU_ADC ? CC_OP_ADC : CC_OP_SBB, size, VR(d), s1, s2, D_NONE);
        g->hf = true;
        tset(g, o->d, VR(d));
        return;
    }
    case ALU_INC:
    case ALU_DEC: {
        /* The CF INC/DEC keep. Not computed now when it can be worked out from the values of
         * the record before (kept alive by this record) where it is looked at: lazy. The
         * host CF is still it after the host INC/DEC when it was before (g->hcf). */
        Pcc *p = &g->cc, cin = {0};
        CcState cs;
        /* The record before's registers stay held: not when they are getting scarce (free or
         * holding only a guest register ralloc() may evict), unless they are no more than this
         * record would hold anyway (a rotate's result, a lazy carry handed on). */
        int avail = 0;
        for (int k = 0; k < NALLOC; k++) {
            int r = alloc_order[k];
            bool guest_only = false;
            for (int gi = 0; gi < NGUEST; gi++)
                guest_only |= g->gr[gi].reg == r && g->refs[r] == 1;
            avail += !g->refs[r] || guest_only;
        }
        bool lazy = p->active && !pcc_const(g, &cs) && carry_derivable(p) &&
                    (avail >= 3 || p->lazy_cf || p->op == PCC_ROL || p->op == PCC_ROR);
        bool cf_in_host =
            p->active && (g->hcf || (g->hf && p->op >= CC_OP_ADD && p->op <= CC_OP_LOGIC));
        Val c = VC(0);
        if (lazy && p->lazy_cf) {
            cin = *p;
        } else if (lazy) {
            cin = (Pcc){.c_op = p->op,
                        .c_size = p->size,
                        .c_derive = p->derive,
                        .c_dst = p->dst,
                        .c_s1 = p->s1,
                        .c_s2 = p->s2};
        } else {
            c = carry_val(g);
            cf_in_host = cf_in_host && (g->hf || g->hcf); /* unless carry_val() clobbered it */
        }
        if (lazy) {
            vhold(g, cin.c_dst);
            vhold(g, cin.c_s1);
            vhold(g, cin.c_s2);
        }
        int d;
        if (in_place(g, o, i) >= 0) {
            d = a.reg;
            incdec(g, 4, o->aux == ALU_DEC, d);
            hold(g, d);
            pcc_set(g, o->aux == ALU_INC ? CC_OP_INC : CC_OP_DEC, size, VR(d), VC(0), c,
                    o->aux == ALU_INC ? D_S1_INC : D_S1_DEC);
        } else {
            Val s1 = masked(g, a, size);
            d = ralloc(g);
            load_val(g, d, s1);
            incdec(g, sz, o->aux == ALU_DEC, d);
            if (sz < 4)
                mask_reg(g, d, sz);
            g->wid[d] = (uint8_t)size;
            hold(g, d);
            pcc_set(g, o->aux == ALU_INC ? CC_OP_INC : CC_OP_DEC, size, VR(d), s1, c, D_NONE);
        }
        if (lazy) {
            p->lazy_cf = true;
            p->c_op = cin.c_op;
            p->c_size = cin.c_size;
            p->c_derive = cin.c_derive;
            p->c_dst = cin.c_dst;
            p->c_s1 = cin.c_s1;
            p->c_s2 = cin.c_s2;
        }
        g->hf = true;
        g->hcf = cf_in_host;
        tset(g, o->d, VR(d));
        return;
    }
    case ALU_NEG: {
        Val s2 = masked(g, a, size);
        int d = ralloc(g);
        load_val(g, d, s2);
        grp3(g, sz, 3, d);
        if (sz < 4)
            mask_reg(g, d, sz);
        g->wid[d] = (uint8_t)size;
        hold(g, d);
        pcc_set(g, CC_OP_SUB, size, VR(d), VC(0), s2, D_NONE);
        g->hf = true;
        tset(g, o->d, VR(d));
        return;
    }
    case ALU_NOT: {
        if (!dlive)
            return;
        if (a.kind == VCONST) {
            tset(g, o->d, VC(~a.imm & size_mask(size)));
            return;
        }
        int d = dest_reg(g, i, o->d);
        if (d != a.reg)
            mov_rr(g, 8, d, a.reg);
        grp3(g, sz == 8 ? 8 : 4, 2, d); /* not: the flags stay */
        if (sz < 4)
            mask_reg(g, d, sz);
        g->wid[d] = (uint8_t)size;
        tset(g, o->d, VR(d));
        return;
    }
    case ALU_ROL:
    case ALU_ROR: {
        /* inline by a nonzero constant count: the result and a PCC_ROL/ROR record on it */
        if (b.kind != VCONST || !(b.imm & (size == 8 ? 0x3f : 0x1f)) || size == 8 ||
            (g->cc.active && g->cc.no_s1))
            break;
        need_flags(g);
        int d;
        if (a.kind == VREG && in_place(g, o, i) >= 0)
            d = a.reg;
        else
            d = ralloc(g), load_val(g, d, a);
        shift_ri(g, sz, o->aux - ALU_ROL, d, (int)(b.imm & 0x1f)); /* group 2: rol 0, ror 1 */
        if (sz < 4)
            mask_reg(g, d, sz);
        g->wid[d] = (uint8_t)size;
        hold(g, d);
        pcc_set_kept(g, o->aux == ALU_ROL ? PCC_ROL : PCC_ROR, size, VR(d));
        tset(g, o->d, VR(d));
        return;
    }
    case ALU_SHL:
    case ALU_SAL:
    case ALU_SHR:
    case ALU_SAR: {
        if (b.kind != VCONST)
            break;
        unsigned c = (unsigned)b.imm & (size == 8 ? 0x3f : 0x1f);
        if (c == 0) { /* no change, flags kept */
            tset(g, o->d, masked(g, a, size));
            return;
        }
        if (shift_cf_only(g, i) && (o->aux == ALU_SHR || o->aux == ALU_SAR || sz == 4)) {
            /* only an ADC/SBB reads the flags, and the host CF then: no s1 */
            int d;
            if (o->aux == ALU_SAR) {
                d = dest_reg(g, i, o->d);
                if (a.kind == VCONST)
                    mov_ri(g, d,
                           (uint64_t)((int64_t)(a.imm << (64 - 8 * size)) >> (64 - 8 * size)));
                else
                    movsx(g, d, a.reg, sz);
                shift_ri(g, 8, SH_SAR, d, (int)c);
                mask_reg(g, d, sz);
            } else {
                Val m = masked(g, a, size);
                vrelease(g, m);
                /* m's register still holds the operand: nothing was emitted into it since */
                d = dest_reg(g, i, o->d);
                load_val(g, d, m);
                if (o->aux == ALU_SHR)
                    shift_ri(g, 8, SH_SHR, d, (int)c);
                else
                    shift_ri(g, 4, SH_SHL, d, (int)c); /* at 32 bits: the CF of bit 32 - c */
            }
            g->wid[d] = (uint8_t)size;
            hold(g, d);
            pcc_set(g, o->aux == ALU_SHR || o->aux == ALU_SAR ? CC_OP_SHR : CC_OP_SHL, size, VR(d),
                    VC(0), VC(0), D_NONE);
            g->cc.no_s1 = true;
            g->hf = false;
            g->hcf = true;
            tset(g, o->d, VR(d));
            return;
        }
        /* s: the operand shifted by c - 1, for the record; d: the result, shifted by c
         * straight from the operand (a shorter chain than from s), so the host CF after the
         * last shift is the bit shifted out, the guest's CF */
        int s = ralloc(g), d;
        if (o->aux == ALU_SAR) {
            uint64_t k = a.kind == VCONST
                             ? (uint64_t)((int64_t)(a.imm << (64 - 8 * size)) >> (64 - 8 * size))
                             : 0;
            if (a.kind == VCONST)
                mov_ri(g, s, k);
            else
                movsx(g, s, a.reg, sz);
            if (c > 1)
                shift_ri(g, 8, SH_SAR, s, (int)c - 1);
            d = dest_reg(g, i, o->d); /* a's register is still the operand */
            if (a.kind == VCONST)
                mov_ri(g, d, k);
            else
                movsx(g, d, a.reg, sz);
            shift_ri(g, 8, SH_SAR, d, (int)c);
            mask_reg(g, d, sz);
        } else {
            Val m = masked(g, a, size);
            load_val(g, s, m);
            vrelease(g, m);
            /* m's register still holds the operand: nothing was emitted into it since */
            d = dest_reg(g, i, o->d);
            if (o->aux == ALU_SHR) {
                if (c > 1)
                    shift_ri(g, 8, SH_SHR, s, (int)c - 1);
                load_val(g, d, m);
                shift_ri(g, 8, SH_SHR, d, (int)c);
            } else {
                if (c > 1)
                    shift_ri(g, 8, SH_SHL, s, (int)c - 1);
                lea(g, 8, d, MX(s, s, 0));
                mask_reg(g, d, sz);
            }
        }
        g->wid[s] = 8;
        g->wid[d] = (uint8_t)size;
        hold(g, d);
        pcc_set(g, o->aux == ALU_SHR || o->aux == ALU_SAR ? CC_OP_SHR : CC_OP_SHL, size, VR(d),
                VR(s), VC(0), D_NONE);
        g->hf = false;
        g->hcf = o->aux != ALU_SHL && o->aux != ALU_SAL; /* (mask_reg keeps the flags) */
        tset(g, o->d, VR(d));
        return;
    }
    default:
        break;
    }
    alu_call(g, o, i);
}

/* IR_ADD, IR_SUB, IR_ADDI, IR_AND, IR_SHLI, IR_SEXT, IR_ZEXT: no flags */
static void gen_arith(Cg *g, const IrOp *o)
{
    unsigned size = o->size;
    uint64_t m = size_mask(size);
    Val a = tget(g, o->a);
    Val b = o->op == IR_ADDI ? VC(o->imm) : o->op == IR_SHLI ? VC(o->imm & 63) : tget(g, o->b);
    bool unary = o->op == IR_SEXT || o->op == IR_ZEXT;
    if (a.kind == VCONST && (unary || b.kind == VCONST)) {
        uint64_t r = 0;
        switch (o->op) {
        case IR_ADD:
        case IR_ADDI:
            r = (a.imm + b.imm) & m;
            break;
        case IR_SUB:
            r = (a.imm - b.imm) & m;
            break;
        case IR_AND:
            r = a.imm & b.imm;
            break;
        case IR_SHLI:
            r = (a.imm << b.imm) & m;
            break;
        case IR_SEXT:
            r = size >= 8 ? a.imm
                          : (uint64_t)((int64_t)(a.imm << (64 - 8 * size)) >> (64 - 8 * size));
            break;
        default:
            r = a.imm & m;
        }
        tset(g, o->d, VC(r));
        return;
    }
    if (o->op == IR_ZEXT && vwid(g, a) <= size) {
        vhold(g, a);
        tset(g, o->d, a);
        return;
    }
    int d = ralloc(g);
    int sz = size >= 8 ? 8 : 4;
    switch (o->op) {
    case IR_ADD:
    case IR_ADDI:
        if (a.kind == VCONST) {
            Val t = a;
            a = b;
            b = t;
        }
        if (b.kind == VREG)
            lea(g, sz, d, MX(a.reg, b.reg, 0));
        else if (sz == 4 || is_s32(b.imm))
            lea(g, sz, d, M_(a.reg, (int32_t)b.imm));
        else
            mov_ri(g, RS1, b.imm), lea(g, sz, d, MX(a.reg, RS1, 0));
        if (size < 4)
            mask_reg(g, d, (int)size);
        g->wid[d] = (uint8_t)(size < 8 ? size : 8);
        break;
    case IR_SUB:
        load_val(g, d, a);
        alu_v(g, sz, A_SUB, d, b);
        if (size < 4)
            mask_reg(g, d, (int)size);
        g->wid[d] = (uint8_t)(size < 8 ? size : 8);
        g->hf = g->hcf = false;
        break;
    case IR_AND:
        load_val(g, d, a);
        alu_v(g, 8, A_AND, d, b);
        g->wid[d] = (uint8_t)(vwid(g, a) < vwid(g, b) ? vwid(g, a) : vwid(g, b));
        g->hf = g->hcf = false;
        break;
    case IR_SHLI:
        load_val(g, d, a);
        if (b.imm)
            shift_ri(g, 8, SH_SHL, d, (int)b.imm);
        mask_reg(g, d, (int)size);
        g->wid[d] = (uint8_t)size;
        g->hf = g->hcf = false;
        break;
    case IR_SEXT:
        movsx(g, d, a.reg, (int)size);
        g->wid[d] = 8;
        break;
    default: /* IR_ZEXT */
        movzx(g, d, a.reg, (int)size);
        g->wid[d] = (uint8_t)size;
        break;
    }
    tset(g, o->d, VR(d));
}

/* Address arithmetic as ea() emits it (SHLI for the scale, ADD of the base, ADDI of the
 * displacement) in one lea, when the intermediate temps die inside the pattern. Returns how many
 * ops after i it took over, or -1. */
/* A register for temp res, the result of op k, owned by the caller. When op k+1 puts res in a
 * guest register whose register nothing else holds (nor any temp live after op k), that
 * register, so the result lands where the guest register already lives (at an exit it then
 * needs no move home); the caller must have read every source it needs before writing it. */
static int dest_reg(Cg *g, int k, int res)
{
    const Block *b = g->b;
    if (k + 1 >= (int)b->nops)
        return ralloc(g);
    const IrOp *n = &b->ops[k + 1];
    if (n->op != IR_SETR || n->a != res || n->size != 4 || (n->aux & IR_HI8))
        return ralloc(g);
    int r = g->gr[n->aux & 7].reg, held = 0;
    if (r < 0)
        return ralloc(g);
    for (int t = 0; t < IR_NTEMPS; t++)
        if (g->t[t].kind == VREG && g->t[t].reg == r) {
            if (t == res || live_after(g, k, t))
                return ralloc(g);
            held++;
        }
    if (g->refs[r] != 1 + held)
        return ralloc(g);
    hold(g, r);
    return r;
}

static int gen_lea(Cg *g, int i)
{
    const Block *b = g->b;
    const IrOp *o = &b->ops[i];
    int n = (int)b->nops, k = i, scale = 1, res;
    unsigned size = o->size;
    Val base = VC(0), index;
    bool has_base = false;
    if (size != 4 && size != 2)
        return -1;
    if (o->op == IR_SHLI) {
        if (o->imm < 1 || o->imm > 3)
            return -1;
        index = tget(g, o->a);
        scale = 1 << o->imm;
        res = o->d;
        if (i + 1 < n && b->ops[i + 1].op == IR_ADD && b->ops[i + 1].size == size &&
            !live_after(g, i + 1, o->d)) {
            const IrOp *a = &b->ops[i + 1];
            int other = a->a == o->d ? a->b : a->b == o->d ? a->a : -1;
            if (other < 0 || other == o->d)
                return -1;
            base = tget(g, other);
            has_base = true;
            k = i + 1;
            res = a->d;
        }
    } else if (o->op == IR_ADD) {
        base = tget(g, o->a);
        index = tget(g, o->b);
        has_base = true;
        res = o->d;
    } else {
        return -1;
    }
    uint64_t disp = 0;
    if (k + 1 < n && b->ops[k + 1].op == IR_ADDI && b->ops[k + 1].size == size &&
        b->ops[k + 1].a == res && !live_after(g, k + 1, res)) {
        k++;
        disp = b->ops[k].imm;
        res = b->ops[k].d;
    }
    if (k == i) /* nothing to fuse: gen_arith does the single op */
        return -1;
    if (!live_after(g, k, res))
        return k - i;
    if (index.kind == VCONST) {
        disp += index.imm * (uint64_t)scale;
        index = base;
        scale = 1;
        has_base = false;
    }
    if (has_base && base.kind == VCONST) {
        disp += base.imm;
        has_base = false;
    }
    if (index.kind != VREG)
        return -1;               /* all constant: leave it to gen_arith's folding */
    int d = dest_reg(g, k, res); /* lea reads its sources before it writes */
    if (has_base)
        lea(g, 4, d, (Rm){-1, base.reg, index.reg, (int8_t)scale, (int32_t)disp});
    else if (scale == 1)
        lea(g, 4, d, M_(index.reg, (int32_t)disp));
    else
        lea(g, 4, d, (Rm){-1, -1, index.reg, (int8_t)scale, (int32_t)disp});
    if (size < 4)
        mask_reg(g, d, (int)size);
    g->wid[d] = (uint8_t)size;
    tset(g, res, VR(d));
    return k - i;
}

static void gen_select(Cg *g, const IrOp *o, int i)
{
    Val a = tget(g, o->a), b = tget(g, o->b), c = tget(g, o->c);
    if (c.kind == VCONST) {
        Val v = c.imm ? a : b;
        vhold(g, v);
        tset(g, o->d, v);
        return;
    }
    int d;
    if (b.kind == VREG && g->refs[b.reg] == 1 && o->b != o->a && o->b != o->c &&
        !live_after(g, i, o->b)) {
        d = b.reg; /* b's register, held by b alone, dies here: the result's now */
        g->t[o->b].kind = VNONE;
    } else {
        d = ralloc(g);
        load_val(g, d, b);
    }
    test_rr(g, 8, c.reg, c.reg);
    cmov(g, 8, HC_NE, d, reg_of(g, a, RS1));
    g->wid[d] = (uint8_t)(vwid(g, a) > vwid(g, b) ? vwid(g, a) : vwid(g, b));
    g->hf = g->hcf = false;
    tset(g, o->d, VR(d));
}

/* Instructions an if-converted branch ran: R15 counts them when t[a] is 0 */
static void gen_icount(Cg *g, const IrOp *o)
{
    Val c = tget(g, o->a);
    if (c.kind == VCONST) {
        if (!c.imm && o->imm)
            lea(g, 8, RCNT, M_(RCNT, (int32_t)o->imm));
        return;
    }
    lea(g, 8, RS0, M_(RCNT, (int32_t)o->imm));
    test_rr(g, 8, c.reg, c.reg);
    cmov(g, 8, HC_E, RCNT, RS0);
    g->hf = g->hcf = false;
}

/* After a helper that may have changed the mode, enabled interrupts or touched a device: make
 * compiled code return to dbt_exec at the block's next exit if the run loop must look (what it
 * does after every block for the interpreter). */
static void after_helper(DbtCpu *env, uint32_t mode_before)
{
    Machine *m = env->m;
    if (m->stop || env->irq_inhibit || env->db_pending || dbt_mode(env) != mode_before ||
        ((env->s.rflags & FL_IF) && m->intr_pending && m->intr_pending(m->intr_opaque)))
        env->jit_limit = 0;
}

#define WATCHED(name)                                                                              \
    static uint64_t jit_##name(DbtCpu *env, uint64_t a, uint64_t b, uint64_t c, uint64_t imm)      \
    {                                                                                              \
        uint32_t mode = dbt_mode(env);                                                             \
        uint64_t r = name(env, a, b, c, imm);                                                      \
        after_helper(env, mode);                                                                   \
        return r;                                                                                  \
    }
WATCHED(helper_popf)
WATCHED(helper_cli_sti)
WATCHED(helper_in)
WATCHED(helper_out)
WATCHED(helper_string)
#undef WATCHED

/* A REP string instruction runs in slices of at most 4096 elements: helper_string returns 1
 * when a slice ends with work left, and the block loops to itself. That loop counts one
 * instruction a slice, so without this compiled code would look at interrupts, kicks and the
 * deadline only after 65536 slices (2^28 elements, seconds on the slow path): each unfinished
 * slice goes back to dbt_exec, as under the interpreter. */
static uint64_t jit_helper_string_rep(DbtCpu *env, uint64_t a, uint64_t b, uint64_t c, uint64_t imm)
{
    uint64_t r = jit_helper_string(env, a, b, c, imm);
    if (r)
        env->jit_limit = 0;
    return r;
}

/* A segment load that changed the mode (DS, ES or SS no longer flat, or now flat) ends its block
 * (translate.c); its exit must not chain to a block compiled for the old mode. */
static uint64_t jit_helper_load_seg(DbtCpu *env, uint64_t a, uint64_t b, uint64_t c, uint64_t imm)
{
    uint32_t mode = dbt_mode(env);
    uint64_t r = helper_load_seg(env, a, b, c, imm);
    if (dbt_mode(env) != mode)
        env->jit_limit = 0;
    return r;
}

/* The function compiled code calls for a helper: frequent ones that only sometimes need the run
 * loop (POPF, STI, port I/O) through a wrapper that says when. */
static IrHelper helper_to_call(const IrOp *o)
{
    IrHelper f = o->fn;
    if (f == helper_popf)
        return jit_helper_popf;
    if (f == helper_cli_sti)
        return jit_helper_cli_sti;
    if (f == helper_in)
        return jit_helper_in;
    if (f == helper_out)
        return jit_helper_out;
    if (f == helper_string && (o->imm >> 32 & 3))
        return jit_helper_string_rep;
    if (f == helper_string && ((o->imm & 0xff) == STR_INS || (o->imm & 0xff) == STR_OUTS))
        return jit_helper_string;
    if (f == helper_load_seg && (o->imm == S_DS || o->imm == S_ES))
        return jit_helper_load_seg;
    return f;
}

/* Helpers after which compiled code may go straight on to the next block: they change no mode
 * bit, IF, paging, device state or CS, or are called through a wrapper that makes the block's
 * exit return to dbt_exec when they did (helper_to_call). Anything else makes the block return
 * to dbt_exec at its exits. */
static bool helper_chain_safe(const IrOp *o)
{
    IrHelper f = o->fn;
    if (helper_to_call(o) != f || f == helper_string)
        return true;
    if (f == helper_load_seg)
        return o->imm != S_SS && o->imm != S_CS;
    return f == helper_mul || f == helper_div || f == helper_imul2 || f == helper_cmpxchg8b ||
           f == helper_bswap || f == helper_pusha || f == helper_popa || f == helper_pushf ||
           f == helper_sahf || f == helper_setflag || f == helper_high_half ||
           f == helper_bt_disp || f == helper_bt || f == helper_bsf || f == helper_shld ||
           f == helper_enter || f == helper_cpuid || f == helper_rdtsc || f == helper_mov_from_cr ||
           f == helper_mov_from_dr || f == helper_bound || f == helper_bcd;
}

/* IMUL r, r/m (, imm) whose flags nobody sees: the host's imul. */
static bool gen_imul(Cg *g, const IrOp *o, int i)
{
    unsigned size = (unsigned)o->imm;
    int sz = (int)size;
    bool flags = g->flv[i], dlive = live_after(g, i, o->d);
    Val a = tget(g, o->a), b = tget(g, o->b);
    if (size != 2 && size != 4 && size != 8)
        return false;
    if (!flags && !dlive) {
        flags_dropped(g);
        return true;
    }
    if (a.kind == VCONST && b.kind == VCONST) {
        if (flags)
            return false;
        flags_dropped(g);
        tset(g, o->d, VC((a.imm * b.imm) & size_mask(size)));
        return true;
    }
    if (a.kind == VCONST) {
        Val t = a;
        a = b;
        b = t;
    }
    if (flags) {
        need_flags(g);
        if (g->cc.active && g->cc.no_s1)
            return false;
    }
    /* the overflow's register, before anything is emitted (ralloc may spill: no flags) */
    int ov = flags ? ralloc(g) : -1;
    int d;
    if (b.kind == VCONST && (sz < 8 || is_s32(b.imm))) {
        /* imul d, a, imm: one instruction, which reads a before it writes d */
        d = dlive ? dest_reg(g, i, o->d) : ralloc(g);
        enc(g, sz, 0, 1, 0x69, d, R_(a.reg));
        if (sz == 2) {
            put1(g, (uint8_t)b.imm);
            put1(g, (uint8_t)(b.imm >> 8));
        } else {
            put4(g, (uint32_t)b.imm);
        }
    } else {
        d = ralloc(g);
        load_val(g, d, a);
        enc(g, sz, 0, 2, 0x0faf, d, R_(reg_of(g, b, RS1))); /* imul d, b */
    }
    if (sz < 4)
        mask_reg(g, d, sz); /* (movzx: the flags stay) */
    g->wid[d] = (uint8_t)size;
    if (flags) {
        /* CF = OF = overflow, as the guest's; SF ZF AF PF stay those of the record before */
        setcc(g, HC_B, ov);
        g->wid[ov] = 8;
        pcc_set_kept(g, PCC_MUL, 0, VR(ov));
    } else {
        flags_dropped(g);
    }
    if (dlive)
        tset(g, o->d, VR(d));
    else
        release(g, d);
    return true;
}

/* Helpers that never write guest memory: no SMC check after them. */
static bool helper_no_store(const IrOp *o)
{
    IrHelper f = o->fn;
    return f == helper_mul || f == helper_div || f == helper_imul2 || f == helper_bswap ||
           f == helper_sahf || f == helper_setflag || f == helper_high_half || f == helper_bt ||
           f == helper_bsf || f == helper_shld || f == helper_cpuid || f == helper_rdtsc ||
           f == helper_mov_from_cr || f == helper_mov_from_dr || f == helper_bound ||
           f == helper_bcd || f == helper_bt_disp;
}

static void gen_helper(Cg *g, const IrOp *o, int i)
{
    if (o->fn == helper_imul2 && gen_imul(g, o, i))
        return;
    Val a = tget(g, o->a), b = tget(g, o->b), c = tget(g, o->c);
    wb_commit(g);
    cc_commit(g);
    emit_sync(g);
    mov_ri(g, RS0, g->b->eip); /* as the interpreter leaves it during a block */
    store(g, 8, ENV(OFF(s.rip)), RS0);
    gcache_drop_all(g); /* the helper may read and write any guest register */
    bool dlive = live_after(g, i, o->d);
    int d = dlive ? ralloc(g) : -1;
    Arg args[] = {{ARG_ENV, VC(0), 0}, AV(a), AV(b), AV(c), AI(o->imm)};
    emit_call(g, (const void *)helper_to_call(o), 5, args, d >= 0 ? 1u << d : 0);
    if (d >= 0) {
        mov_rr(g, 8, d, RS0);
        g->wid[d] = 8;
        tset(g, o->d, VR(d));
    }
    if (!helper_no_store(o))
        g->smc_check = true;
}

static void gen_insn(Cg *g, const IrOp *o)
{
    if (g->smc_check) {
        /* the last instruction may have rewritten this block: leave before this one */
        int l = new_label(g);
        alu_ri(g, 1, A_CMP, ENV(OFF(smc_hit)), 0);
        jcc_l(g, HC_NE, l);
        g->cur = COLD;
        bind(g, l);
        emit_leave(g, o->imm, NULL, g->nins);
        g->cur = HOT;
        g->hf = g->hcf = false;
        g->smc_check = false;
    }
    g->nins++;
    g->eip = o->imm;
}

static void gen_exit_const(Cg *g, uint64_t eip);

static void gen_exit_cond(Cg *g, const IrOp *o, int hc)
{
    int l = new_label(g);
    if (hc >= 0) {
        jcc_l(g, hc, l);
    } else {
        Val v = tget(g, o->a);
        if (v.kind == VCONST) {
            if (!v.imm)
                return;
            jmp_l(g, l);
        } else {
            test_rr(g, 8, v.reg, v.reg);
            jcc_l(g, HC_NE, l);
            g->hf = g->hcf = false;
        }
    }
    g->cur = COLD;
    bind(g, l);
    gen_exit_const(g, o->imm);
    g->cur = HOT;
}

/* A computed exit: EIP from a temp; the next block is looked up in env->jc inline, as
 * find_block's fast path does, and entered directly if compiled for this mode and CS base. */
static void emit_lookup_exit(Cg *g, Val v)
{
    store_val(g, ENV(OFF(s.rip)), v);
    cc_emit_store(g);
    emit_home_all(g);
    if (g->nins)
        lea(g, 8, RCNT, M_(RCNT, (int32_t)g->nins));
    if (g->chainable) {
        /* RAX RCX RDX are free here: no guest register lives in them */
        int l = new_label(g);
        alu_rm(g, 8, A_CMP, RCNT, ENV(OFF(jit_limit)));
        jcc_l(g, HC_AE, l);
        if (g->call_pred)
            emit_call_push(g);
        load(g, 8, RS0, ENV(OFF(s.rip)));
        if (g->ret_pred) {
            /* the top entry predicted this return: ret to its continuation; else drop it
             * (unless it is the sentinel) and look the block up */
            int l_miss = new_label(g), l_look = new_label(g);
            alu_rm(g, 8, A_CMP, RS0, M_(RSP, 8));
            jcc_l(g, HC_NE, l_miss);
            put1(g, 0xc3);
            bind(g, l_miss);
            cmp_rsp_rip(g, g->jit->rsp_entry);
            jcc_l(g, HC_E, l_look);
            lea(g, 8, RSP, M_(RSP, 16));
            bind(g, l_look);
        }
        load(g, 8, RAX, ENV(OFF_SEG(S_CS) + (int32_t)offsetof(SegCache, base)));
        lea(g, 8, RCX, MX(RAX, RS0, 0));
        mov_rr(g, 4, RCX, RCX); /* pc */
        mov_rr(g, 4, RDX, RCX);
        shift_ri(g, 4, SH_SHR, RDX, DBT_JC_BITS);
        alu_rr(g, 4, A_XOR, RDX, RCX);
        alu_ri(g, 4, A_AND, R_(RDX), (1u << DBT_JC_BITS) - 1);
        load(g, 8, RDX, (Rm){-1, RENV, RDX, 8, OFF(jc)});
        test_rr(g, 8, RDX, RDX);
        jcc_l(g, HC_E, l);
        alu_rm(g, 8, A_CMP, RCX, M_(RDX, (int32_t)offsetof(Block, pc)));
        jcc_l(g, HC_NE, l);
        alu_ri(g, 4, A_CMP, M_(RDX, (int32_t)offsetof(Block, mode)), g->b->mode);
        jcc_l(g, HC_NE, l);
        alu_rm(g, 8, A_CMP, RAX, M_(RDX, (int32_t)offsetof(Block, cs_base)));
        jcc_l(g, HC_NE, l);
        load(g, 8, RDX, M_(RDX, (int32_t)offsetof(Block, host_code)));
        test_rr(g, 8, RDX, RDX);
        jcc_l(g, HC_E, l);
        enc(g, 4, 0, 1, 0xff, 4, R_(RDX)); /* jmp rdx */
        bind(g, l);
    }
    mov_ri(g, RAX, 0);
    jmp_abs(g, g->jit->epilogue);
}

static void gen_exit_ind(Cg *g, const IrOp *o)
{
    emit_lookup_exit(g, tget(g, o->a));
}

/* A constant exit: linkable (dbt_exec links it to the next block), or under paging to another
 * page, where a link could outlive the mapping: then looked up like a computed one (env->jc is
 * emptied with the TLB). */
static void gen_exit_const(Cg *g, uint64_t eip)
{
    const Block *b = g->b;
    uint64_t pc = (b->cs_base + eip) & 0xffffffffull;
    if (g->chainable && (b->mode & MODE_PG) && ((pc ^ b->pc) & DBT_PAGE_MASK))
        emit_lookup_exit(g, VC(eip));
    else
        emit_leave(g, eip, new_slot(g, eip), g->nins);
}

/* ---- the block ---- */

static uint32_t op_uses(const IrOp *o)
{
    switch (o->op) {
    case IR_MOV:
    case IR_SETR:
    case IR_LD:
    case IR_ADDI:
    case IR_SHLI:
    case IR_SEXT:
    case IR_ZEXT:
    case IR_EXIT_COND:
    case IR_EXIT_IND:
    case IR_ICOUNT:
        return 1u << o->a;
    case IR_ST:
    case IR_ALU:
    case IR_ADD:
    case IR_SUB:
    case IR_AND:
        return 1u << o->a | 1u << o->b;
    case IR_SELECT:
    case IR_HELPER:
        return 1u << o->a | 1u << o->b | 1u << o->c;
    default:
        return 0;
    }
}

static bool op_defines(const IrOp *o)
{
    switch (o->op) {
    case IR_MOVI:
    case IR_MOV:
    case IR_GETR:
    case IR_GETSEG:
    case IR_LD:
    case IR_ALU:
    case IR_ADD:
    case IR_SUB:
    case IR_ADDI:
    case IR_AND:
    case IR_SHLI:
    case IR_SEXT:
    case IR_ZEXT:
    case IR_COND:
    case IR_SELECT:
    case IR_HELPER:
        return true;
    default:
        return false;
    }
}

static bool size_ok(unsigned s)
{
    return s == 1 || s == 2 || s == 4 || s == 8;
}

/* Whether every op is one this back end compiles, and whether the block may chain. */
static const char *check_block(const Block *b, bool *chainable)
{
    *chainable = true;
    if (!b->nops)
        return "empty block";
    /* a mode bit added after this back end (single-stepping, ...) may need the run loop after
     * every block: such blocks stay with the interpreter */
    if (b->mode & ~(((1u << (MODE_CPL_SHIFT + 2)) - 1) | MODE_FLAT))
        return "mode the back end does not know";
    for (uint32_t i = 0; i < b->nops; i++) {
        const IrOp *o = &b->ops[i];
        if (o->d >= IR_NTEMPS || o->a >= IR_NTEMPS || o->b >= IR_NTEMPS || o->c >= IR_NTEMPS)
            return "temp index";
        switch (o->op) {
        case IR_INSN:
        case IR_MOVI:
        case IR_MOV:
        case IR_EXIT_COND:
        case IR_EXIT:
        case IR_EXIT_IND:
            break;
        case IR_GETR:
        case IR_SETR:
            if (!size_ok(o->size) || o->size == 8 || ((o->aux & IR_HI8) && o->size != 1) ||
                (o->aux & ~(IR_HI8 | 0x7)))
                return "GETR/SETR form (64-bit registers stay with the interpreter)";
            break;
        case IR_GETSEG:
            if (o->aux >= CPU_NR_SEGS)
                return "segment";
            break;
        case IR_LD:
        case IR_ST:
            if (o->aux >= CPU_NR_SEGS || !size_ok(o->size))
                return "memory form";
            break;
        case IR_ALU:
            if (o->aux >= ALU_NR_OPS || !size_ok(o->size))
                return "ALU form";
            break;
        case IR_ADD:
        case IR_SUB:
        case IR_ADDI:
        case IR_AND:
        case IR_SHLI:
        case IR_SEXT:
        case IR_ZEXT:
            if (!size_ok(o->size))
                return "size";
            break;
        case IR_COND:
            if (o->aux > 15)
                return "condition";
            break;
        case IR_SELECT:
        case IR_ICOUNT:
            break;
        case IR_HELPER:
            if (!helper_chain_safe(o))
                *chainable = false;
            break;
        default:
            return "IR op not known to the back end";
        }
    }
    uint8_t last = b->ops[b->nops - 1].op;
    if (last != IR_EXIT && last != IR_EXIT_IND)
        return "block does not end with an exit";
    return NULL;
}

static void cg_free(Cg *g)
{
    g_free(g->buf[0].p);
    g_free(g->buf[1].p);
    g_free(g->lab);
    g_free(g->fix);
    g_free(g->live);
    g_free(g->flv);
    g_free(g->mg);
    g_free(g->slot_lab);
}

static void dump_block(Jit *j, const Block *b, const uint8_t *code, size_t len, size_t hot)
{
    csh h;
    fprintf(stderr, "jit: block %#llx (%u insns, %u ops) -> %p, %zu bytes (%zu hot)\n",
            (unsigned long long)b->pc, b->ninsns, b->nops, (const void *)code, len, hot);
    if (cs_open(CS_ARCH_X86, CS_MODE_64, &h) != CS_ERR_OK)
        return;
    cs_insn *in;
    size_t n = cs_disasm(h, code, len, (uint64_t)(uintptr_t)code, 0, &in);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "  %s%llx: %s %s\n", in[i].address == (uintptr_t)code + hot ? "--\n  " : "",
                (unsigned long long)in[i].address, in[i].mnemonic, in[i].op_str);
    if (n)
        cs_free(in, n);
    cs_close(&h);
    (void)j;
}

/* Every register's reference count must be the number of its holders: temps, guest registers,
 * the pending flags record. */
static void check_refs(Cg *g, int i)
{
    int n[16] = {0};
    for (int t = 0; t < IR_NTEMPS; t++)
        if (g->t[t].kind == VREG)
            n[g->t[t].reg]++;
    for (int r = 0; r < NGUEST; r++)
        if (g->gr[r].reg >= 0)
            n[g->gr[r].reg]++;
    if (g->cc.active) {
        if (g->cc.dst.kind == VREG)
            n[g->cc.dst.reg]++;
        if (g->cc.s1.kind == VREG)
            n[g->cc.s1.reg]++;
        if (g->cc.s2.kind == VREG)
            n[g->cc.s2.reg]++;
        for (int k = 0; k < 2; k++) {
            const Pcc *p = k ? &g->cc_old : &g->cc;
            if (k && !(g->cc.op >= PCC_MUL && p->active))
                break;
            if (k) {
                if (p->dst.kind == VREG)
                    n[p->dst.reg]++;
                if (p->s1.kind == VREG)
                    n[p->s1.reg]++;
                if (p->s2.kind == VREG)
                    n[p->s2.reg]++;
            }
            if (p->lazy_cf) {
                if (p->c_dst.kind == VREG)
                    n[p->c_dst.reg]++;
                if (p->c_s1.kind == VREG)
                    n[p->c_s1.reg]++;
                if (p->c_s2.kind == VREG)
                    n[p->c_s2.reg]++;
            }
        }
    }
    for (int r = 0; r < 16; r++) {
        if (n[r] != g->refs[r]) {
            fprintf(stderr,
                    "jit: block %#llx op %d (IR %d): register %d has %d references, %d holders:",
                    (unsigned long long)g->b->pc, i, g->b->ops[i].op, r, g->refs[r], n[r]);
            for (int t = 0; t < IR_NTEMPS; t++)
                if (g->t[t].kind == VREG && g->t[t].reg == r)
                    fprintf(stderr, " t%d", t);
            for (int k = 0; k < NGUEST; k++)
                if (g->gr[k].reg == r)
                    fprintf(stderr, " guest%d", k);
            fprintf(stderr, "\n");
            cg_fail(g, "internal error: register references");
        }
    }
}

/* Which ALU op writes the flags how. */
enum { FK_NONE, FK_KILL, FK_PROPAGATE, FK_READ };

static int flags_kind(const IrOp *o, bool count_const, uint64_t count)
{
    switch (o->aux) {
    case ALU_ADD:
    case ALU_SUB:
    case ALU_CMP:
    case ALU_AND:
    case ALU_OR:
    case ALU_XOR:
    case ALU_TEST:
    case ALU_NEG:
        return FK_KILL; /* all six flags from the operands alone */
    case ALU_SHL:
    case ALU_SAL:
    case ALU_SHR:
    case ALU_SAR:
        return count_const && (count & (o->size == 8 ? 0x3f : 0x1f)) ? FK_KILL : FK_PROPAGATE;
    case ALU_ROL:
    case ALU_ROR:
    case ALU_INC:
    case ALU_DEC:
        return FK_PROPAGATE; /* old flags only flow into the new flags */
    case ALU_NOT:
        return FK_NONE;
    default:
        return FK_READ; /* ADC SBB RCL RCR: the result needs CF */
    }
}

/* Backward over the block: g->flv[i] says whether the flags op i writes can be seen by
 * anything: a condition, an op reading them, a possible fault (memory, helpers), an exit or an
 * SMC stop, before ops that write all six without reading them. Ops whose flags nobody sees
 * are compiled to plain host instructions with nothing recorded. */
static bool flags_liveness(Cg *g)
{
    const Block *b = g->b;
    uint32_t n = b->nops;
    uint8_t *kind = g_new0(uint8_t, n), *smc = g_new0(uint8_t, n);
    bool isc[IR_NTEMPS] = {false}, stored = false, first = true;
    uint64_t cv[IR_NTEMPS] = {0};
    for (uint32_t i = 0; i < n; i++) {
        const IrOp *o = &b->ops[i];
        if (o->op == IR_INSN) {
            smc[i] = !first && stored; /* gen_insn checks env->smc_hit here */
            first = false;
            stored = false;
        } else if (o->op == IR_ST || (o->op == IR_HELPER && !helper_no_store(o))) {
            stored = true;
        }
        if (o->op == IR_ALU)
            kind[i] = (uint8_t)flags_kind(o, isc[o->b], cv[o->b]);
        else if (o->op == IR_HELPER)
            kind[i] = o->fn == helper_imul2 ? FK_PROPAGATE : FK_READ;
        if (o->op == IR_MOVI) {
            isc[o->d] = true;
            cv[o->d] = o->imm;
        } else if (o->op == IR_MOV) {
            isc[o->d] = isc[o->a];
            cv[o->d] = cv[o->a];
        } else if (op_defines(o)) {
            isc[o->d] = false;
        }
    }
    bool live = true; /* the flags leave with the block */
    for (int i = (int)n - 1; i >= 0; i--) {
        const IrOp *o = &b->ops[i];
        switch (o->op) {
        case IR_ALU:
        case IR_HELPER:
            g->flv[i] = live;
            if (kind[i] == FK_KILL)
                live = false;
            else if (kind[i] == FK_READ)
                live = true;
            break;
        case IR_COND:
        case IR_LD:
        case IR_ST:
        case IR_EXIT:
        case IR_EXIT_COND:
        case IR_EXIT_IND:
            live = true;
            break;
        case IR_INSN:
            if (smc[i])
                live = true;
            break;
        default:
            break;
        }
    }
    g_free(kind);
    g_free(smc);
    return live;
}

/* After op i: release the temps it read for the last time, and its result if nobody reads it. */
static void finish_op(Cg *g, int i)
{
    const IrOp *o = &g->b->ops[i];
    uint32_t u = op_uses(o);
    if (op_defines(o))
        u &= ~(1u << o->d);
    u &= ~g->live[i];
    for (int t = 0; t < IR_NTEMPS; t++)
        if (u >> t & 1) {
            vrelease(g, g->t[t]);
            g->t[t].kind = VNONE;
        }
    if (op_defines(o) && !live_after(g, i, o->d) && g->t[o->d].kind != VNONE) {
        vrelease(g, g->t[o->d]);
        g->t[o->d].kind = VNONE;
    }
    if (g->jit->check)
        check_refs(g, i);
}

/* The code generation proper; cg_fail() longjmps out of it (kept out of line from the setjmp). */
static __attribute__((noinline)) void compile_block(Cg *g)
{
    Block *b = g->b;
    Jit *j = g->jit;
    JitBlock *jb = g->jb;
    /* liveness of temps, backwards */
    uint32_t live = 0;
    for (int i = (int)b->nops - 1; i >= 0; i--) {
        const IrOp *o = &b->ops[i];
        g->live[i] = live;
        if (o->op == IR_EXIT || o->op == IR_EXIT_IND)
            live = 0;
        if (op_defines(o))
            live &= ~(1u << o->d);
        live |= op_uses(o);
    }

    /* The run budget is checked where blocks chain (emit_leave, gen_exit_ind), not at entry:
     * so a block whose flags at entry are dead can be entered without them stored. */
    jb->flags_dead_in = !flags_liveness(g);
    g->cc_stale = jb->flags_dead_in; /* whatever env->cc holds must not be read */
    mem_groups(g);

    for (int i = 0; i < (int)b->nops; i++) {
        const IrOp *o = &b->ops[i];
        /* a pure op whose result nobody reads */
        bool dead = op_defines(o) && !live_after(g, i, o->d);
        switch (o->op) {
        case IR_INSN:
            gen_insn(g, o);
            break;
        case IR_MOVI:
            if (!dead)
                tset(g, o->d, VC(o->imm));
            break;
        case IR_MOV:
            if (!dead) {
                Val v = tget(g, o->a);
                vhold(g, v);
                tset(g, o->d, v);
            }
            break;
        case IR_GETR:
            if (!dead)
                gen_getr(g, o);
            break;
        case IR_SETR:
            gen_setr(g, o);
            break;
        case IR_GETSEG:
            if (!dead) {
                int d = ralloc(g);
                load(g, 2, d, ENV(OFF_SEG(o->aux) + (int32_t)offsetof(SegCache, sel)));
                g->wid[d] = 2;
                tset(g, o->d, VR(d));
            }
            break;
        case IR_LD:
            gen_mem(g, o, false, i);
            break;
        case IR_ST:
            gen_mem(g, o, true, i);
            break;
        case IR_ALU:
            gen_alu(g, o, i);
            break;
        case IR_ADD:
        case IR_SHLI: {
            int k = gen_lea(g, i);
            if (k >= 0) {
                for (; k > 0; k--)
                    finish_op(g, i++);
                break;
            }
            if (!dead)
                gen_arith(g, o);
            break;
        }
        case IR_SUB:
        case IR_ADDI:
        case IR_AND:
        case IR_SEXT:
        case IR_ZEXT:
            if (!dead)
                gen_arith(g, o);
            break;
        case IR_COND: {
            const IrOp *n = i + 1 < (int)b->nops ? &b->ops[i + 1] : NULL;
            if (n && n->op == IR_EXIT_COND && n->a == o->d && !live_after(g, i + 1, o->d)) {
                /* compare and branch: the host flags straight into a jcc */
                int hc;
                bool val;
                int k = cond_inline(g, o->aux, &hc, &val);
                if (k == 1) {
                    gen_exit_cond(g, n, hc);
                    finish_op(g, i++);
                    break;
                }
                if (k == 2) {
                    tset(g, o->d, VC(val));
                    break;
                }
            }
            if (!dead)
                gen_cond(g, o);
            break;
        }
        case IR_SELECT:
            if (!dead)
                gen_select(g, o, i);
            break;
        case IR_ICOUNT:
            gen_icount(g, o);
            break;
        case IR_HELPER:
            gen_helper(g, o, i);
            break;
        case IR_EXIT_COND:
            gen_exit_cond(g, o, -1);
            break;
        case IR_EXIT:
        case IR_EXIT_IND: {
            const Block *cb = g->b;
            uint64_t rpc = (cb->cs_base + o->ret_eip) & 0xffffffffull;
            /* the continuation links like an exit of this block: not to another page */
            g->call_pred = g->chainable && (o->aux & IR_EXIT_CALL) &&
                           !((cb->mode & MODE_PG) && ((rpc ^ cb->pc) & DBT_PAGE_MASK));
            g->call_ret = o->ret_eip;
            g->ret_pred = g->chainable && o->op == IR_EXIT_IND && (o->aux & IR_EXIT_RET);
            if (o->op == IR_EXIT)
                gen_exit_const(g, o->imm);
            else
                gen_exit_ind(g, o);
            g->call_pred = g->ret_pred = false;
            break;
        }
        }
        finish_op(g, i);
    }

    /* lay out hot then cold, resolve jumps */
    size_t hot = g->buf[HOT].len, total = hot + g->buf[COLD].len;
    size_t start = (j->used + 15) & ~(size_t)15;
    if (start + total > j->size)
        cg_fail(g, "code memory full");
    uint8_t *base = j->mem + start;
    memcpy(base, g->buf[HOT].p, hot);
    if (g->buf[COLD].len)
        memcpy(base + hot, g->buf[COLD].p, g->buf[COLD].len);
    for (int k = 0; k < g->nfix; k++) {
        Fixup *f = &g->fix[k];
        uint8_t *site = base + (f->buf == COLD ? hot : 0) + f->off;
        uint8_t *target;
        if (f->label >= 0) {
            Label *l = &g->lab[f->label];
            if (l->buf < 0)
                cg_fail(g, "internal error: unbound label");
            target = base + (l->buf == COLD ? hot : 0) + l->off;
        } else {
            target = f->abs;
        }
        int32_t rel = (int32_t)(target - (site + 4));
        memcpy(site, &rel, 4);
    }
    for (uint32_t k = 0; k < jb->nslots; k++) {
        uint8_t *a[6];
        for (int m = 0; m < 6; m++) {
            Label *l = &g->lab[g->slot_lab[k][m]];
            a[m] = base + (l->buf == COLD ? hot : 0) + l->off;
        }
        JitSlot *s = &jb->slots[k];
        s->site = a[0];
        s->unlinked = a[1];
        s->via_cc = a[2];
        s->via_nocc = a[3];
        s->site2 = a[4];
        s->unlinked2 = a[5];
        patch(s->site2, s->unlinked2);
        patch(s->site, s->unlinked);
    }
    j->used = start + total;
    b->host_code = base;
    b->jit = jb;
    g->env->st.jit_blocks++;
    g->env->st.jit_code_bytes += total;
    if (j->dump)
        dump_block(j, b, base, total, hot);
    if (j->perf_map) {
        fprintf(j->perf_map, "%llx %zx guest_%llx\n", (unsigned long long)(uintptr_t)base, hot,
                (unsigned long long)b->pc);
        if (total > hot)
            fprintf(j->perf_map, "%llx %zx guest_%llx_cold\n",
                    (unsigned long long)(uintptr_t)(base + hot), total - hot,
                    (unsigned long long)b->pc);
    }
}

static void dump_ir(const Block *b)
{
    static const char *const names[] = {[IR_INSN] = "insn",     [IR_MOVI] = "movi",
                                        [IR_MOV] = "mov",       [IR_GETR] = "getr",
                                        [IR_SETR] = "setr",     [IR_GETSEG] = "getseg",
                                        [IR_LD] = "ld",         [IR_ST] = "st",
                                        [IR_ALU] = "alu",       [IR_ADD] = "add",
                                        [IR_SUB] = "sub",       [IR_ADDI] = "addi",
                                        [IR_AND] = "and",       [IR_SHLI] = "shli",
                                        [IR_SEXT] = "sext",     [IR_ZEXT] = "zext",
                                        [IR_COND] = "cond",     [IR_SELECT] = "select",
                                        [IR_HELPER] = "helper", [IR_EXIT_COND] = "exit_cond",
                                        [IR_EXIT] = "exit",     [IR_EXIT_IND] = "exit_ind",
                                        [IR_ICOUNT] = "icount"};
    for (uint32_t i = 0; i < b->nops; i++) {
        const IrOp *o = &b->ops[i];
        fprintf(stderr, "  ir %3u: %-9s d=%u a=%u b=%u c=%u size=%u aux=%#x imm=%#llx\n", i,
                o->op < IR_NR_OPS && names[o->op] ? names[o->op] : "?", o->d, o->a, o->b, o->c,
                o->size, o->aux, (unsigned long long)o->imm);
    }
}

bool jit_compile(DbtCpu *env, Block *b)
{
    Jit *j = env->jit;
    Cg *g = g_new0(Cg, 1);
    bool chainable;
    const char *dump = getenv("DUALVM_JIT_DUMP"); /* read each time: tests turn it on and off */
    j->dump = dump && *dump && strcmp(dump, "0");
    if (j->dump && !strncmp(dump, "0x", 2))
        j->dump = strtoull(dump, NULL, 16) == b->pc;
    const char *why = check_block(b, &chainable);
    if (why) {
        if (j->dump)
            fprintf(stderr, "jit: block %#llx not compiled: %s\n", (unsigned long long)b->pc, why);
        g_free(g);
        env->st.jit_fallbacks++;
        return false;
    }
    if (j->dump)
        dump_ir(b);
    g->env = env;
    g->jit = j;
    g->b = b;
    g->chainable = chainable;
    g->no_access = true;
    for (uint32_t i = 0; i < b->nops; i++) {
        const IrOp *o = &b->ops[i];
        if (o->op == IR_LD || o->op == IR_ST ||
            (o->op == IR_HELPER && (!helper_no_store(o) || helper_to_call(o) != o->fn)))
            g->no_access = false;
    }
    uint32_t nexits = 0;
    for (uint32_t i = 0; i < b->nops; i++) {
        const IrOp *o = &b->ops[i];
        nexits += o->op == IR_EXIT || o->op == IR_EXIT_COND;
        nexits += (o->op == IR_EXIT || o->op == IR_EXIT_IND) && (o->aux & IR_EXIT_CALL);
    }
    JitBlock *jb = g_malloc0(sizeof(JitBlock) + nexits * sizeof(JitSlot));
    g->jb = jb;
    g->slot_lab = g_new0(SlotLab, nexits + 1);
    g->live = g_new0(uint32_t, b->nops);
    g->flv = g_new0(uint8_t, b->nops);
    for (int i = 0; i < NGUEST; i++) {
        g->gr[i] = (GEnt){home[i], true}; /* env->s.regs may be stale: always written back */
        g->refs[home[i]] = 1;
        g->wid[home[i]] = 4;
    }

    if (setjmp(g->fail)) {
        if (j->dump)
            fprintf(stderr, "jit: block %#llx not compiled: %s\n", (unsigned long long)b->pc,
                    g->why);
        cg_free(g);
        g_free(g);
        g_free(jb);
        env->st.jit_fallbacks++;
        return false;
    }
    compile_block(g);
    cg_free(g);
    g_free(g);
    return true;
}

/* ---- chaining ---- */

void jit_link_last_exit(DbtCpu *env, Block *next)
{
    Jit *j = env->jit;
    JitSlot *s = j->last;
    j->last = NULL;
    if (!s || !next->host_code || !next->valid || s->to)
        return;
    Block *a = s->from;
    if (!a->valid || next->eip != s->eip || next->mode != a->mode || next->cs_base != a->cs_base)
        return;
    if ((a->mode & MODE_PG) && ((next->pc ^ a->pc) & DBT_PAGE_MASK))
        return;
    patch(s->site2, next->host_code);
    if (s->cont)
        patch(s->site, next->host_code);
    else if (next->jit->flags_dead_in)
        patch(s->site, s->nocc_direct ? next->host_code : s->via_nocc);
    else
        patch(s->site, s->via_cc);
    s->to = next;
    s->next_in = next->jit->incoming;
    if (s->next_in)
        s->next_in->pprev_in = &s->next_in;
    s->pprev_in = &next->jit->incoming;
    next->jit->incoming = s;
    env->st.jit_links++;
}

void jit_block_dead(DbtCpu *env, Block *b)
{
    Jit *j = env->jit;
    JitBlock *jb = b->jit;
    if (!j || !jb)
        return;
    if (j->last && j->last->from == b)
        j->last = NULL;
    for (JitSlot *s = jb->incoming, *n; s; s = n) {
        n = s->next_in;
        patch(s->site2, s->unlinked2);
        patch(s->site, s->unlinked);
        s->to = NULL;
        s->next_in = NULL;
        s->pprev_in = NULL;
    }
    jb->incoming = NULL;
    for (uint32_t k = 0; k < jb->nslots; k++) {
        JitSlot *s = &jb->slots[k];
        if (!s->to)
            continue;
        /* b may still be running (it invalidated itself): its exits go back to dbt_exec */
        patch(s->site2, s->unlinked2);
        patch(s->site, s->unlinked);
        *s->pprev_in = s->next_in;
        if (s->next_in)
            s->next_in->pprev_in = s->pprev_in;
        s->to = NULL;
        s->next_in = NULL;
        s->pprev_in = NULL;
    }
}

void jit_unlink_all(DbtCpu *env)
{
    GHashTableIter it;
    gpointer k, v;
    if (!env->jit)
        return;
    env->jit->last = NULL;
    g_hash_table_iter_init(&it, env->blocks);
    while (g_hash_table_iter_next(&it, &k, &v)) {
        JitBlock *jb = ((Block *)v)->jit;
        if (!jb)
            continue;
        jb->incoming = NULL;
        for (uint32_t i = 0; i < jb->nslots; i++) {
            JitSlot *s = &jb->slots[i];
            patch(s->site2, s->unlinked2);
            patch(s->site, s->unlinked);
            s->to = NULL;
            s->next_in = NULL;
            s->pprev_in = NULL;
        }
    }
}

void jit_block_free(Block *b)
{
    g_free(b->jit);
    b->jit = NULL;
    b->host_code = NULL;
}

void jit_flush(DbtCpu *env)
{
    Jit *j = env->jit;
    if (!j)
        return;
    j->used = j->fixed;
    j->last = NULL;
}

bool jit_need_flush(DbtCpu *env)
{
    Jit *j = env->jit;
    return j && j->used + CODE_SLACK > j->size;
}

bool jit_run(DbtCpu *env, Block *b)
{
    Jit *j = env->jit;
    const uint64_t *r = env->s.regs;
    if ((r[0] | r[1] | r[2] | r[3] | r[4] | r[5] | r[6] | r[7]) >> 32)
        return false; /* a state from 64-bit code: compiled code assumes zero upper halves */
    j->last = NULL;
    env->jit_insns_base = env->st.insns;
    env->st.jit_runs++;
    JitSlot *exit_slot = j->enter(env, b->host_code);
    /* a block that died while it ran (it wrote to its own page) may still leave through one
     * of its slots: it is a zombie, freed before the next link, so there is nothing to link */
    j->last = exit_slot && exit_slot->from->valid ? exit_slot : NULL;
    return true;
}

/* ---- setup ---- */

bool jit_supported(void)
{
    return true;
}

Jit *jit_new(DbtCpu *env)
{
    uint8_t *mem = mmap(NULL, CODE_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        return NULL;
    Jit *j = g_new0(Jit, 1);
    j->mem = mem;
    j->size = CODE_SIZE;
    const char *d = getenv("DUALVM_JIT_DUMP");
    j->dump = d && *d && strcmp(d, "0");
    /* opened here, before the run loop's sandbox forbids opening files */
    const char *pm = getenv("DUALVM_PERF_MAP");
    if (pm && *pm && strcmp(pm, "0")) {
        char path[64];
        snprintf(path, sizeof path, "/tmp/perf-%d.map", (int)getpid());
        j->perf_map = fopen(path, "w");
        if (!j->perf_map)
            g_warning("DUALVM_PERF_MAP: cannot write %s", path);
        else /* a buffer of our own: stdio would fstat() at the first write, in the sandbox */
            setvbuf(j->perf_map, j->perf_map_buf = g_malloc(1 << 16), _IOFBF, 1 << 16);
    }
    const char *ck = getenv("DUALVM_JIT_CHECK");
    j->check = ck && *ck && strcmp(ck, "0");
    unsigned a, bx, c, dx;
    __asm__("cpuid" : "=a"(a), "=b"(bx), "=c"(c), "=d"(dx) : "a"(0), "c"(0));
    if (a >= 7) {
        __asm__("cpuid" : "=a"(a), "=b"(bx), "=c"(c), "=d"(dx) : "a"(7), "c"(0));
        j->bmi2 = (bx >> 8) & 1;
    }
    const char *nb = getenv("DUALVM_JIT_NO_BMI2");
    if (nb && *nb && strcmp(nb, "0"))
        j->bmi2 = false;

    /* enter(env, code): save the callee-saved registers, RBX = env, R15 = 0, jump to code.
     * The epilogue adds R15 to the instruction count and returns RAX (an exit slot or NULL). */
    Cg *g = g_new0(Cg, 1);
    if (setjmp(g->fail)) {
        cg_free(g);
        g_free(g);
        munmap(mem, CODE_SIZE);
        g_free(j);
        errno = ENOMEM;
        return NULL;
    }
    static const int8_t saved[] = {RBX, RBP, R12, R13, R14, R15};
    for (int i = 0; i < 6; i++)
        push_r(g, saved[i]);
    rsp_adjust(g, true); /* 16-byte aligned calls */
    /* the return prediction's sentinel entry: an EIP no return pops (zero-extended), and an
     * address that returns to dbt_exec; then where it is, and the depth cap */
    uint32_t rip_at[4];
    put1(g, 0x6a); /* push -1 */
    put1(g, 0xff);
    put1(g, 0x4c); /* lea r10, [rip + ret_miss] */
    put1(g, 0x8d);
    put1(g, 0x15);
    rip_at[0] = g->buf[HOT].len;
    put4(g, 0);
    push_r(g, RS0);
    put1(g, 0x48); /* mov [rip + rsp_entry], rsp */
    put1(g, 0x89);
    put1(g, 0x25);
    rip_at[1] = g->buf[HOT].len;
    put4(g, 0);
    lea(g, 8, RS0, M_(RSP, -RET_STACK_BYTES));
    put1(g, 0x4c); /* mov [rip + rsp_floor], r10 */
    put1(g, 0x89);
    put1(g, 0x15);
    rip_at[2] = g->buf[HOT].len;
    put4(g, 0);
    mov_rr(g, 8, RENV, RDI);
    mov_rr(g, 8, RS1, RSI);
    alu_rr(g, 4, A_XOR, RCNT, RCNT);
    for (int i = 0; i < NGUEST; i++)
        load(g, 4, home[i], greg_mem(i));
    enc(g, 4, 0, 1, 0xff, 4, R_(RS1)); /* jmp r11 */
    uint32_t epi = g->buf[HOT].len;
    for (int i = 0; i < NGUEST; i++)
        store(g, 8, greg_mem(i), home[i]);
    load(g, 8, RCX, ENV(OFF(jit_insns_base)));
    alu_rr(g, 8, A_ADD, RCX, RCNT);
    store(g, 8, ENV(OFF(st.insns)), RCX);
    put1(g, 0x48); /* mov rsp, [rip + rsp_entry]: drop the return prediction's entries */
    put1(g, 0x8b);
    put1(g, 0x25);
    rip_at[3] = g->buf[HOT].len;
    put4(g, 0);
    lea(g, 8, RSP, M_(RSP, 16)); /* and its sentinel */
    rsp_adjust(g, false);
    for (int i = 5; i >= 0; i--)
        pop_r(g, saved[i]);
    put1(g, 0xc3);
    uint32_t miss = g->buf[HOT].len; /* the sentinel's address: back to dbt_exec */
    mov_ri(g, RAX, 0);
    put1(g, 0xe9);
    put4(g, (uint32_t)(epi - (g->buf[HOT].len + 4)));
    /* The variables live in the first page of the mapping, made non-executable: stores to a
     * page holding code would make the host CPU throw away decoded instructions (its own
     * self-modifying code check) at every entry. The code starts on the second page. */
    uint8_t *code = mem + DATA_PAGE;
    int32_t target[4] = {(int32_t)miss, -DATA_PAGE, -DATA_PAGE + 8, -DATA_PAGE};
    for (int i = 0; i < 4; i++) {
        int32_t rel = target[i] - (int32_t)(rip_at[i] + 4);
        memcpy(g->buf[HOT].p + rip_at[i], &rel, 4);
    }
    memcpy(code, g->buf[HOT].p, g->buf[HOT].len);
    if (mprotect(mem, DATA_PAGE, PROT_READ | PROT_WRITE))
        cg_fail(g, "mprotect");
    j->enter = (JitSlot * (*)(DbtCpu *, void *))(uintptr_t)code;
    j->epilogue = code + epi;
    j->rsp_entry = mem;
    j->rsp_floor = mem + 8;
    j->fixed = j->used = DATA_PAGE + ((g->buf[HOT].len + 63) & ~(size_t)63);
    cg_free(g);
    g_free(g);
    (void)env;
    return j;
}

void jit_free(Jit *j)
{
    if (!j)
        return;
    munmap(j->mem, j->size);
    if (j->perf_map)
        fclose(j->perf_map);
    g_free(j->perf_map_buf);
    g_free(j);
}

#else /* no back end for this host: everything runs in the interpreter */

bool jit_supported(void)
{
    return false;
}
Jit *jit_new(DbtCpu *env)
{
    (void)env;
    return NULL;
}
void jit_free(Jit *j)
{
    (void)j;
}
bool jit_compile(DbtCpu *env, Block *b)
{
    (void)env;
    (void)b;
    return false;
}
bool jit_need_flush(DbtCpu *env)
{
    (void)env;
    return false;
}
bool jit_run(DbtCpu *env, Block *b)
{
    (void)env;
    (void)b;
    return false;
}
void jit_link_last_exit(DbtCpu *env, Block *next)
{
    (void)env;
    (void)next;
}
void jit_block_dead(DbtCpu *env, Block *b)
{
    (void)env;
    (void)b;
}
void jit_block_free(Block *b)
{
    (void)b;
}
void jit_unlink_all(DbtCpu *env)
{
    (void)env;
}
void jit_flush(DbtCpu *env)
{
    (void)env;
}

#endif
