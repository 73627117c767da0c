/* dbt/fpu.c: the x87 FPU (see dbt/fpu.h for the model and its conventions).
 *
 * One helper call runs one x87 instruction. Its shape is always: #NM check, pending-exception
 * check (waiting instructions), read the memory operand, compute without touching guest
 * state, write the memory operand, then commit registers, TOP, tags, FSW and the last
 * instruction pointers. A fault on the memory operand therefore leaves the FPU as it was.
 *
 * Numeric work is done by the host x87: dbt_fpu_host_run() loads a window of guest registers
 * (at most two, ST(0) first) as the host's whole register stack, then an environment with the
 * guest's FCW and C0-C3 (so condition codes an instruction leaves alone stay the guest's), runs
 * one host instruction from a table of stubs (the guest's own opcode, with the ModR/M byte
 * rewritten to address the window or the memory buffer), and stores back whatever is left on
 * the host stack with the host's FSW and EFLAGS. The host pushed or popped exactly as the
 * guest instruction does (including not popping after an unmasked exception), so the guest's
 * stack moves by the same amount. An instruction that meets an empty register or a full stack
 * (stack underflow or overflow, whose responses differ in corners between x87s) runs instead
 * with the guest's whole stack on the host (dbt_fpu_host_full: FRSTOR, the stub, FNSAVE). A
 * store whose instruction raised an unmasked exception runs twice over different buffer fills,
 * which tells whether the host wrote its destination. Data movement without numeric work
 * (FLD ST(i), FXCH, FST ST(i), FCHS, FABS, FLD/FSTP m80, FINCSTP, FDECSTP) is done in C.
 */
#include "dbt/fpu.h"

#include <stddef.h>
#include <string.h>

/* ---- the host x87 ---- */

/* The fast path: a window of at most three guest registers is the host's whole stack. */
typedef struct HostX87 {
    FpReg r[3];       /* in: the window, ST(0) first; out: the host stack after the stub */
    uint8_t mem[16];  /* the memory operand, read or written by the stub through RSI */
    const void *stub; /* one host instruction and RET */
    uint64_t rflags;  /* in: the guest's arithmetic flags (FCMOV); out: the host's (FCOMI) */
    uint8_t env[28];  /* FLDENV image: the guest's FCW and C0-C3, no flags, the window */
    uint16_t fsw;     /* out: the host's status word after the stub */
    uint16_t top_in;  /* scratch: the host's FSW with the window loaded */
    uint8_t nin;      /* window size */
    uint8_t nout;     /* out: registers on the host stack after the stub */
    uint8_t fast;     /* in: the FLDENV may be skipped if the host's C0-C3 are the guest's */
    uint8_t flags_in; /* in: the stub reads EFLAGS (FCMOVcc): load the guest's first */
    uint16_t cc_cmp;  /* in: the condition bits that must agree for that (C1 is left out
                         for instructions that always write it) */
} HostX87;

/* The slow path: the guest's whole register stack on the host (FRSTOR, stub, FNSAVE), for
 * stack overflow and underflow, whose handling differs in corners between x87s. */
typedef struct HostFull {
    uint8_t img[112]; /* FSAVE image, 32-bit protected-mode layout (108 bytes) */
    uint8_t mem[16];
    const void *stub;
    uint64_t rflags;
} HostFull;

_Static_assert(sizeof(FpReg) == 16, "FpReg is the 80-bit memory format in 16 bytes");
_Static_assert(offsetof(HostX87, mem) == 48 && offsetof(HostX87, stub) == 64 &&
                   offsetof(HostX87, rflags) == 72 && offsetof(HostX87, env) == 80 &&
                   offsetof(HostX87, fsw) == 108 && offsetof(HostX87, top_in) == 110 &&
                   offsetof(HostX87, nin) == 112 && offsetof(HostX87, nout) == 113 &&
                   offsetof(HostX87, fast) == 114 && offsetof(HostX87, flags_in) == 115 &&
                   offsetof(HostX87, cc_cmp) == 116,
               "HostX87 layout is used by dbt_fpu_host_run");
_Static_assert(offsetof(HostFull, mem) == 112 && offsetof(HostFull, stub) == 128 &&
                   offsetof(HostFull, rflags) == 136,
               "HostFull layout is used by dbt_fpu_host_full");

#if defined(__x86_64__)
#define HOST_X87 1
void dbt_fpu_host_run(HostX87 *x);
void dbt_fpu_host_full(HostFull *f);
extern const uint8_t dbt_fpu_stubs[];

/* The host's control word is saved and restored around the stub. No guest exception is ever
 * pending when a waiting host instruction runs (FLDENV and FRSTOR get images without flags,
 * FNCLEX follows a stub that left one pending), so nothing traps on the host; masked
 * exception flags may stay set in the host's status word, which no host code reads. */
__asm__(".text\n"
        ".p2align 4\n"
        ".globl dbt_fpu_host_run\n"
        ".hidden dbt_fpu_host_run\n"
        ".type dbt_fpu_host_run, @function\n"
        "dbt_fpu_host_run:\n"
        "  sub $24, %rsp\n"
        "  fnstcw 8(%rsp)\n"
        "  movzbl 112(%rdi), %ecx\n"
        "  cmp $3, %ecx\n"
        "  jb 1f\n"
        "  fldt 32(%rdi)\n"
        "1:cmp $2, %ecx\n"
        "  jb 2f\n"
        "  fldt 16(%rdi)\n"
        "2:cmp $1, %ecx\n"
        "  jb 3f\n"
        "  fldt 0(%rdi)\n"
        /* FLDENV is slow (microcoded: most of an FADD's time here). With the loads done the
         * host already has the window's TOP and tags, so when the C code found that the
         * guest masks every exception and has every exception flag the host holds, only C0-C3
         * and the FCW can differ: when C0-C3 agree, FLDCW alone (or nothing) does. */
        "3:fnstsw %ax\n" /* the register form: no store to forward to the loads below */
        "  mov %ax, 110(%rdi)\n"
        "  cmpb $0, 114(%rdi)\n"
        "  je 7f\n"
        "  xorw 84(%rdi), %ax\n"
        "  testw 116(%rdi), %ax\n"
        "  jnz 7f\n"
        "  movzwl 80(%rdi), %eax\n"
        "  cmpw 8(%rsp), %ax\n"
        "  je 8f\n"
        "  fldcw 80(%rdi)\n"
        "  jmp 8f\n"
        "7:fldenv 80(%rdi)\n" /* after the loads, which would clear C1 */
        "  fnstsw 110(%rdi)\n"
        "8:cmpb $0, 115(%rdi)\n" /* POPFQ is slow too: only for the FCMOVs */
        "  je 9f\n"
        "  mov 72(%rdi), %rax\n"
        "  and $0x8d5, %eax\n" /* OF SF ZF AF PF CF only: never DF, TF or AC */
        "  or $0x202, %eax\n"
        "  push %rax\n"
        "  popfq\n"
        "9:lea 48(%rdi), %rsi\n"
        "  call *64(%rdi)\n"
        "  pushfq\n"
        "  popq 72(%rdi)\n"
        "  fnstsw %ax\n"
        "  mov %ax, 108(%rdi)\n"
        "  testb $0x80, %al\n" /* ES: clear it before the FSTPs, which wait */
        "  jz 6f\n"
        "  fnclex\n"
        "6:"
        "  movzwl 110(%rdi), %eax\n"
        "  shr $11, %eax\n"
        "  and $7, %eax\n"
        "  movzwl 108(%rdi), %edx\n"
        "  shr $11, %edx\n"
        "  and $7, %edx\n"
        "  sub %edx, %eax\n" /* pushes (negative: pops) */
        "  and $7, %eax\n"
        "  cmp $4, %eax\n"
        "  jb 4f\n"
        "  sub $8, %eax\n"
        "4:movzbl 112(%rdi), %ecx\n"
        "  add %ecx, %eax\n"
        "  mov %al, 113(%rdi)\n"
        "  cmp $1, %eax\n"
        "  jl 5f\n"
        "  fstpt 0(%rdi)\n"
        "  cmp $2, %eax\n"
        "  jl 5f\n"
        "  fstpt 16(%rdi)\n"
        "  cmp $3, %eax\n"
        "  jl 5f\n"
        "  fstpt 32(%rdi)\n"
        "5:fldcw 8(%rsp)\n"
        "  add $24, %rsp\n"
        "  ret\n"
        ".size dbt_fpu_host_run, .-dbt_fpu_host_run\n"
        ".p2align 4\n"
        ".globl dbt_fpu_host_full\n"
        ".hidden dbt_fpu_host_full\n"
        ".type dbt_fpu_host_full, @function\n"
        "dbt_fpu_host_full:\n"
        "  sub $24, %rsp\n"
        "  fnstcw 8(%rsp)\n"
        "  fnclex\n"
        "  frstor 0(%rdi)\n"
        "  mov 136(%rdi), %rax\n"
        "  and $0x8d5, %eax\n"
        "  or $0x202, %eax\n"
        "  push %rax\n"
        "  popfq\n"
        "  lea 112(%rdi), %rsi\n"
        "  call *128(%rdi)\n"
        "  pushfq\n"
        "  popq 136(%rdi)\n"
        "  fnsave 0(%rdi)\n" /* no-wait, and leaves the host FPU initialized */
        "  fldcw 8(%rsp)\n"
        "  add $24, %rsp\n"
        "  ret\n"
        ".size dbt_fpu_host_full, .-dbt_fpu_host_full\n"
        /* 64 memory forms (D8+o /r [rsi]), then 512 register forms (D8+o, C0+x): each an
         * 8-byte slot holding the instruction and RET */
        ".p2align 3\n"
        ".globl dbt_fpu_stubs\n"
        ".hidden dbt_fpu_stubs\n"
        "dbt_fpu_stubs:\n"
        ".set dbt_fpu_i, 0\n"
        ".rept 64\n"
        ".byte 0xd8 + (dbt_fpu_i >> 3), ((dbt_fpu_i & 7) << 3) | 6, 0xc3, 0xcc, 0xcc, 0xcc, "
        "0xcc, 0xcc\n"
        ".set dbt_fpu_i, dbt_fpu_i + 1\n"
        ".endr\n"
        ".set dbt_fpu_i, 0\n"
        ".rept 512\n"
        ".byte 0xd8 + (dbt_fpu_i >> 6), 0xc0 | (dbt_fpu_i & 63), 0xc3, 0xcc, 0xcc, 0xcc, 0xcc, "
        "0xcc\n"
        ".set dbt_fpu_i, dbt_fpu_i + 1\n"
        ".endr\n");

static const void *stub_mem(unsigned opc, unsigned reg)
{
    return dbt_fpu_stubs + ((opc & 7) * 8 + (reg & 7)) * 8;
}

static const void *stub_reg(unsigned opc, unsigned modrm)
{
    return dbt_fpu_stubs + (64 + (opc & 7) * 64 + (modrm & 63)) * 8;
}
#else
#define HOST_X87 0
#endif

bool fpu_host_supported(void)
{
    return HOST_X87;
}

/* ---- register stack ---- */

unsigned fpu_tag_of(const FpReg *r)
{
    unsigned e = r->sexp & 0x7fff;
    if (e == 0)
        return r->mant ? 2 : 1;
    if (e == 0x7fff || !(r->mant >> 63))
        return 2;
    return 0;
}

static inline unsigned top_of(const CpuState *s)
{
    return (s->fsw >> FSW_TOP_SHIFT) & 7;
}

static inline void set_top(CpuState *s, unsigned top)
{
    s->fsw = (uint16_t)((s->fsw & ~FSW_TOP) | ((top & 7) << FSW_TOP_SHIFT));
}

static inline unsigned tag_st(const CpuState *s, unsigned i)
{
    return (s->ftw >> (2 * ((top_of(s) + i) & 7))) & 3;
}

static inline bool empty(const CpuState *s, unsigned i)
{
    return tag_st(s, i) == FTW_EMPTY;
}

static void set_tag(CpuState *s, unsigned i, unsigned tag)
{
    unsigned sh = 2 * ((top_of(s) + i) & 7);
    s->ftw = (uint16_t)((s->ftw & ~(3u << sh)) | (tag << sh));
}

static void set_st(CpuState *s, unsigned i, FpReg v)
{
    s->fpr[i] = v;
    set_tag(s, i, fpu_tag_of(&v));
}

/* TOP - 1: the old ST(7) (physical register TOP - 1) becomes ST(0). Tags stay. */
static void rot_push(CpuState *s)
{
    FpReg t = s->fpr[7];
    memmove(&s->fpr[1], &s->fpr[0], 7 * sizeof(FpReg));
    s->fpr[0] = t;
    set_top(s, top_of(s) - 1);
}

/* TOP + 1: ST(1) becomes ST(0), the old ST(0) becomes ST(7). Tags stay. */
static void rot_pop(CpuState *s)
{
    FpReg t = s->fpr[0];
    memmove(&s->fpr[0], &s->fpr[1], 7 * sizeof(FpReg));
    s->fpr[7] = t;
    set_top(s, top_of(s) + 1);
}

static void push(CpuState *s, FpReg v)
{
    rot_push(s);
    set_st(s, 0, v);
}

static void pop(CpuState *s)
{
    set_tag(s, 0, FTW_EMPTY);
    rot_pop(s);
}

/* ---- status, FERR#, pending exceptions ---- */

static void ferr_lower(DbtCpu *env)
{
    Machine *m = env->m;
    if (m && m->ferr)
        m->ferr(m->ferr_opaque, 0);
}

/* ES and B follow the exception flags and masks (as after FLDCW on a 387 and later). */
static void update_es(DbtCpu *env)
{
    CpuState *s = &env->s;
    if (s->fsw & ~s->fcw & FSW_EXC) {
        s->fsw |= FSW_ES | FSW_B;
    } else if (s->fsw & (FSW_ES | FSW_B)) {
        s->fsw &= (uint16_t) ~(FSW_ES | FSW_B);
        ferr_lower(env);
    }
}

/* Stop at the current instruction until an interrupt comes (FERR# without IGNNE#): the
 * instruction runs again when the interrupt handler returns to it. */
_Noreturn static void freeze(DbtCpu *env)
{
    env->s.halted = true;
    env->s.rip = env->cur_eip;
    env->pending_exc = -1; /* no exception: the run loop just goes on (and waits) */
    longjmp(*env->unwind, 1);
}

/* What a waiting instruction does first. */
static void check_pending(DbtCpu *env)
{
    if (!(env->s.fsw & FSW_ES))
        return;
    if (env->s.cr0 & CR0_NE)
        dbt_raise(env, EXC_MF, 0, 0);
    Machine *m = env->m;
    if (!m || !m->ferr)
        return; /* no FERR# wired: the error is ignored, as with IGNNE# held */
    m->ferr(m->ferr_opaque, 1);
    if (!m->ignne)
        freeze(env);
}

/* Set TOP keeping the physical registers: fpr[] is in stack order, so it turns with TOP. */
static void move_top(CpuState *s, unsigned top)
{
    unsigned d = (top - top_of(s)) & 7;
    FpReg t[8];
    for (unsigned i = 0; i < 8; i++)
        t[i] = s->fpr[(i + d) & 7];
    memcpy(s->fpr, t, sizeof(t));
    set_top(s, top);
}

void fpu_init_state(CpuState *s)
{
    move_top(s, 0);
    s->fcw = FCW_INIT;
    s->fsw = 0;
    s->ftw = 0xffff;
    s->fop = 0;
    s->fip = 0;
    s->fdp = 0;
}

static void fninit(DbtCpu *env)
{
    bool had_es = env->s.fsw & FSW_ES;
    fpu_init_state(&env->s);
    if (had_es)
        ferr_lower(env);
}

/* ---- one instruction ---- */

typedef struct X87 {
    DbtCpu *env;
    CpuState *s;
    unsigned opc; /* first opcode byte & 7 */
    unsigned modrm;
    unsigned reg; /* ModR/M reg field */
    unsigned rm;  /* ModR/M r/m field: i of ST(i) in register forms */
    bool mem;
    bool o32, a32;
    int seg;
    uint64_t ea;
} X87;

static uint64_t at(const X87 *c, unsigned k)
{
    return (c->ea + k) & (c->a32 ? 0xffffffffull : 0xffffull);
}

static uint64_t get_le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static unsigned chunk(unsigned left)
{
    return left >= 8 ? 8 : left >= 4 ? 4 : left >= 2 ? 2 : 1;
}

static void mem_read(X87 *c, unsigned off, uint8_t *buf, unsigned n)
{
    for (unsigned k = 0; k < n;) {
        unsigned sz = chunk(n - k);
        put_le(buf + k, dbt_ld(c->env, c->seg, at(c, off + k), sz), sz);
        k += sz;
    }
}

/* Several stores make one operand: check that its last byte can be written before writing
 * any of it, so a fault on the second page leaves memory as it was (the first page faults
 * on the first store). */
static void mem_write(X87 *c, unsigned off, const uint8_t *buf, unsigned n)
{
    if (n > 8) {
        uint64_t last = at(c, off + n - 1);
        dbt_st(c->env, c->seg, last, dbt_ld(c->env, c->seg, last, 1), 1);
    }
    for (unsigned k = 0; k < n;) {
        unsigned sz = chunk(n - k);
        dbt_st(c->env, c->seg, at(c, off + k), get_le(buf + k, sz), sz);
        k += sz;
    }
}

/* FIP/FCS/FOP for every non-control instruction, FDP/FDS when it has a memory operand. */
static void set_pointers(X87 *c)
{
    CpuState *s = c->s;
    s->fop = (uint16_t)((c->opc << 8) | c->modrm);
    s->fip = (c->env->cur_eip & 0xffffffffull) | ((uint64_t)s->seg[S_CS].sel << 32);
    if (c->mem)
        s->fdp = (c->ea & 0xffffffffull) | ((uint64_t)s->seg[c->seg].sel << 32);
}

/* Recompute every non-empty tag from its register (FRSTOR, FLDENV, FXRSTOR). */
static void retag(CpuState *s)
{
    for (unsigned i = 0; i < 8; i++)
        if (!empty(s, i))
            set_tag(s, i, fpu_tag_of(&s->fpr[i]));
}

static uint16_t fcw_load(uint16_t v)
{
    return (uint16_t)((v & 0x1f3f) | 0x40); /* bit 6 reads as one, 13-15 as zero */
}

#if HOST_X87

/* ---- running an instruction on the host ---- */

/* What one instruction asks of the host. */
typedef struct HostOp {
    const void *stub;     /* the host instruction with the whole stack (the guest's own) */
    const void *stub_win; /* the same on the window (ST(i) renamed ST(1)); NULL: stub */
    unsigned win[2], n;   /* the window: guest registers the stub reads, ST(0) first */
    unsigned in_size;     /* bytes of the memory operand it reads */
    unsigned out_size;    /* bytes of the memory operand it writes */
    bool full;            /* a stack fault: run on the whole stack */
    bool comi;            /* it sets EFLAGS */
} HostOp;

typedef struct HostRun {
    HostX87 x;
    HostFull f;
} HostRun;

static void run_once(X87 *c, const HostOp *op, const uint8_t *in, uint8_t fill, HostRun *r)
{
    CpuState *s = c->s;
    /* FCMOVcc (DA/DB C0-DF) is the one stub that reads EFLAGS */
    bool fcmov = (c->opc & 6) == 2 && (c->modrm & 0xe0) == 0xc0;
    uint64_t fl = fcmov ? dbt_get_eflags(c->env) : FL_FIXED1;
    if (op->full) {
        HostFull *f = &r->f;
        memset(f->img, 0, sizeof(f->img));
        put_le(f->img + 0, s->fcw, 2);
        put_le(f->img + 4, s->fsw & (FSW_CC | FSW_TOP), 2); /* nothing pending */
        put_le(f->img + 8, s->ftw, 2);
        for (unsigned i = 0; i < 8; i++) {
            put_le(f->img + 28 + 10 * i, s->fpr[i].mant, 8);
            put_le(f->img + 36 + 10 * i, s->fpr[i].sexp, 2);
        }
        memset(f->mem, fill, sizeof(f->mem));
        memcpy(f->mem, in, op->in_size);
        f->stub = op->stub;
        f->rflags = fl;
        dbt_fpu_host_full(f);
    } else {
        HostX87 *x = &r->x;
        x->nin = (uint8_t)op->n;
        for (unsigned k = 0; k < op->n; k++)
            x->r[k] = s->fpr[op->win[k]];
        /* the host's stack is empty (the ABI wants it so at calls); the window will sit in
         * the physical registers below its TOP, which the FLDENV after the loads names */
        uint16_t hsw;
        __asm__ volatile("fnstsw %0" : "=a"(hsw));
        unsigned top = ((hsw >> FSW_TOP_SHIFT) - op->n) & 7;
        uint32_t used = ((1u << (2 * op->n)) - 1) << (2 * top);
        memset(x->env, 0, sizeof(x->env));
        put_le(x->env + 0, s->fcw, 2);
        put_le(x->env + 4, (s->fsw & FSW_CC) | (top << FSW_TOP_SHIFT), 2);
        put_le(x->env + 8, ~(used | used >> 16) & 0xffff, 2);
        /* masked flags the host kept from earlier instructions must be ones the guest has
         * too (commit_window ORs the host's flags into the guest's), and nothing may be
         * unmasked, or a stale host flag would become a pending exception */
        x->fast = (s->fcw & FCW_EXC_MASK) == FCW_EXC_MASK && !(hsw & FSW_EXC & ~s->fsw);
        /* every numeric instruction writes C1 (rounding, sign, quotient bit or 0) except
         * FCMOVcc, which leaves it alone when it does not underflow, FNOP, and on real parts
         * FCOMI/FUCOMI(P) (DB/DF E8-F7: the SDM says C1 = 0, an EPYC keeps it; test_fpu
         * compares every register form with the host) */
        bool keeps_c1 = fcmov || (c->opc == 1 && c->modrm == 0xd0) ||
                        ((c->opc & 3) == 3 && c->modrm >= 0xe8 && c->modrm <= 0xf7);
        x->cc_cmp = keeps_c1 ? FSW_CC : FSW_CC & ~FSW_C1;
        memset(x->mem, fill, sizeof(x->mem));
        memcpy(x->mem, in, op->in_size);
        x->stub = op->stub_win ? op->stub_win : op->stub;
        x->rflags = fl;
        x->flags_in = fcmov;
        dbt_fpu_host_run(x);
    }
}

/* The guest's stack after the window's: registers the host still holds go back where they
 * came from, then the guest pushes or pops as the host did. */
static void commit_window(CpuState *s, const HostOp *op, const HostX87 *x)
{
    int d = (int)x->nout - (int)x->nin;
    if (d <= 0) {
        unsigned pops = (unsigned)-d;
        for (unsigned k = 0; k < x->nout; k++)
            set_st(s, op->win[k + pops], x->r[k]);
        for (unsigned k = 0; k < pops; k++)
            pop(s);
    } else {
        for (unsigned k = (unsigned)d; k < x->nout; k++)
            set_st(s, op->win[k - (unsigned)d], x->r[k]);
        for (int k = d - 1; k >= 0; k--)
            push(s, x->r[k]);
    }
    s->fsw = (uint16_t)((s->fsw & ~FSW_CC) | (x->fsw & (FSW_CC | FSW_EXC | FSW_SF)));
}

static void commit_full(CpuState *s, const HostFull *f)
{
    uint16_t fsw = (uint16_t)get_le(f->img + 4, 2);
    s->fsw =
        (uint16_t)((s->fsw & (FSW_EXC | FSW_SF)) | (fsw & (FSW_CC | FSW_TOP | FSW_EXC | FSW_SF)));
    s->ftw = (uint16_t)get_le(f->img + 8, 2);
    for (unsigned i = 0; i < 8; i++) {
        s->fpr[i].mant = get_le(f->img + 28 + 10 * i, 8);
        s->fpr[i].sexp = (uint16_t)get_le(f->img + 36 + 10 * i, 2);
    }
}

/* Run op: read its memory operand, compute on the host, write its memory operand if the host
 * did (an unmasked exception may keep the destination), then commit the FPU state. */
static void host_exec(X87 *c, const HostOp *op)
{
    CpuState *s = c->s;
    uint8_t in[16];
    HostRun r;
    if (op->in_size)
        mem_read(c, 0, in, op->in_size);
    run_once(c, op, in, 0x5a, &r);
    const uint8_t *out = op->full ? r.f.mem : r.x.mem;
    uint16_t raised = op->full ? (uint16_t)get_le(r.f.img + 4, 2) : r.x.fsw;
    if (op->out_size) {
        bool stored = true;
        if (raised & ~s->fcw & FSW_EXC) {
            /* whether the host wrote its buffer: run again over a different fill */
            HostRun r2;
            run_once(c, op, in, 0xa5, &r2);
            stored = !memcmp(out, op->full ? r2.f.mem : r2.x.mem, op->out_size);
        }
        if (stored)
            mem_write(c, 0, out, op->out_size);
    }
    if (op->full)
        commit_full(s, &r.f);
    else
        commit_window(s, op, &r.x);
    if (op->comi)
        dbt_set_eflags(c->env, (uint32_t)(op->full ? r.f.rflags : r.x.rflags), FL_ARITH);
    update_es(c->env);
}

static bool any_empty(const CpuState *s, const HostOp *op)
{
    for (unsigned k = 0; k < op->n; k++)
        if (empty(s, op->win[k]))
            return true;
    return false;
}

/* An instruction on ST(0) and ST(i), i from the ModR/M byte (0 means ST(0) alone). */
static void on_st0_sti(X87 *c, HostOp *op, unsigned hopc, unsigned hmodrm, bool comi)
{
    op->stub = stub_reg(hopc, hmodrm);
    op->win[0] = 0;
    op->win[1] = hmodrm & 7;
    op->n = (hmodrm & 7) ? 2 : 1;
    op->stub_win = stub_reg(hopc, (hmodrm & 0xf8) | (op->n == 2 ? 1 : 0));
    op->comi = comi;
    /* the popping forms on ST(0) itself leave the result in the popped register, which the
     * window does not bring back */
    op->full = any_empty(c->s, op) || (hopc == 6 && op->n == 1);
    host_exec(c, op);
}

/* ---- the instruction groups ---- */

static void numeric_mem(X87 *c, unsigned size)
{
    HostOp op = {stub_mem(c->opc, c->reg), NULL, {0, 0}, 1, size, 0, false, false};
    op.full = empty(c->s, 0);
    host_exec(c, &op);
}

static void load_mem(X87 *c, unsigned size)
{
    HostOp op = {stub_mem(c->opc, c->reg), NULL, {0, 0}, 0, size, 0, false, false};
    op.full = !empty(c->s, 7);
    host_exec(c, &op);
}

static void store_mem(X87 *c, unsigned size)
{
    HostOp op = {stub_mem(c->opc, c->reg), NULL, {0, 0}, 1, 0, size, false, false};
    op.full = empty(c->s, 0);
    host_exec(c, &op);
}

/* Register forms whose ST(i) is an operand: arithmetic, compares, FCMOV, FUCOM, FCOMI. */
static void reg_sti(X87 *c, bool comi)
{
    HostOp op;
    memset(&op, 0, sizeof(op));
    on_st0_sti(c, &op, c->opc, c->modrm, comi);
}

/* Instructions on ST(0) and ST(1) with fixed encodings (FCOMPP, FUCOMPP, FYL2X, FPATAN,
 * FYL2XP1, FPREM, FPREM1, FSCALE) or on ST(0) alone (nin 1). */
static void reg_fixed(X87 *c, unsigned nin, unsigned pushes)
{
    HostOp op = {stub_reg(c->opc, c->modrm), NULL, {0, 1}, nin, 0, 0, false, false};
    op.full = any_empty(c->s, &op) || (pushes && !empty(c->s, 7));
    host_exec(c, &op);
}

/* Data movement with a fast path in C; stack faults go to the host with the whole stack. */
static void reg_full(X87 *c)
{
    HostOp op = {stub_reg(c->opc, c->modrm), NULL, {0, 0}, 0, 0, 0, true, false};
    host_exec(c, &op);
}

static void clear_c1(CpuState *s)
{
    s->fsw &= (uint16_t)~FSW_C1;
}

static void fld_sti(X87 *c)
{
    CpuState *s = c->s;
    if (!empty(s, 7) || empty(s, c->rm)) {
        reg_full(c);
        return;
    }
    push(s, s->fpr[c->rm]);
    clear_c1(s);
}

static void fxch(X87 *c)
{
    CpuState *s = c->s;
    unsigned i = c->rm;
    if (empty(s, 0) || empty(s, i)) {
        reg_full(c);
        return;
    }
    FpReg t = s->fpr[0];
    s->fpr[0] = s->fpr[i];
    s->fpr[i] = t;
    unsigned tt = tag_st(s, 0);
    set_tag(s, 0, tag_st(s, i));
    set_tag(s, i, tt);
    clear_c1(s);
}

/* FST/FSTP ST(i) (and the aliases D9 D8-DF, DF D0-DF). */
static void fst_sti(X87 *c, bool popping)
{
    CpuState *s = c->s;
    if (empty(s, 0)) {
        reg_full(c);
        return;
    }
    set_st(s, c->rm, s->fpr[0]);
    if (popping)
        pop(s);
    clear_c1(s);
}

static void fchs_fabs(X87 *c)
{
    CpuState *s = c->s;
    if (empty(s, 0)) {
        reg_full(c);
        return;
    }
    if (c->modrm == 0xe0)
        s->fpr[0].sexp ^= 0x8000;
    else
        s->fpr[0].sexp &= 0x7fff;
    clear_c1(s);
}

static void fxam(X87 *c)
{
    if (empty(c->s, 0))
        reg_full(c);
    else
        reg_fixed(c, 1, 0);
}

static void fld_m80(X87 *c)
{
    uint8_t b[10];
    if (!empty(c->s, 7)) {
        HostOp op = {stub_mem(c->opc, c->reg), NULL, {0, 0}, 0, 10, 0, true, false};
        host_exec(c, &op);
        return;
    }
    mem_read(c, 0, b, 10);
    FpReg v = {get_le(b, 8), (uint16_t)get_le(b + 8, 2)};
    push(c->s, v);
    clear_c1(c->s);
}

static void fstp_m80(X87 *c)
{
    CpuState *s = c->s;
    if (empty(s, 0)) {
        HostOp op = {stub_mem(c->opc, c->reg), NULL, {0, 0}, 0, 0, 10, true, false};
        host_exec(c, &op);
        return;
    }
    uint8_t b[10];
    put_le(b, s->fpr[0].mant, 8);
    put_le(b + 8, s->fpr[0].sexp, 2);
    mem_write(c, 0, b, 10);
    pop(s);
    clear_c1(s);
}

/* ---- environment and state images ---- */

static bool real_format(const CpuState *s)
{
    return !(s->cr0 & CR0_PE) || (s->rflags & FL_VM);
}

/* The FSTENV image (14 or 28 bytes, by operand size and mode) into b. Reserved halves of
 * the 32-bit formats read as ones, as x87s store them. */
static unsigned env_store_image(const X87 *c, uint8_t *b)
{
    const CpuState *s = c->s;
    uint32_t ip = (uint32_t)s->fip, dp = (uint32_t)s->fdp;
    uint16_t cs = (uint16_t)(s->fip >> 32), ds = (uint16_t)(s->fdp >> 32);
    bool real = real_format(s);
    if (real) {
        ip += (uint32_t)cs << 4;
        dp += (uint32_t)ds << 4;
    }
    if (c->o32) {
        put_le(b + 0, 0xffff0000u | s->fcw, 4);
        put_le(b + 4, 0xffff0000u | s->fsw, 4);
        put_le(b + 8, 0xffff0000u | s->ftw, 4);
        if (real) {
            put_le(b + 12, 0xffff0000u | (ip & 0xffff), 4);
            put_le(b + 16, ((ip & 0xffff0000u) >> 4) | (s->fop & 0x7ff), 4);
            put_le(b + 20, 0xffff0000u | (dp & 0xffff), 4);
            put_le(b + 24, (dp & 0xffff0000u) >> 4, 4);
        } else {
            put_le(b + 12, ip, 4);
            put_le(b + 16, cs | ((uint32_t)(s->fop & 0x7ff) << 16), 4);
            put_le(b + 20, dp, 4);
            put_le(b + 24, 0xffff0000u | ds, 4);
        }
        return 28;
    }
    put_le(b + 0, s->fcw, 2);
    put_le(b + 2, s->fsw, 2);
    put_le(b + 4, s->ftw, 2);
    if (real) {
        put_le(b + 6, ip & 0xffff, 2);
        put_le(b + 8, ((ip & 0xf0000) >> 4) | (s->fop & 0x7ff), 2);
        put_le(b + 10, dp & 0xffff, 2);
        put_le(b + 12, (dp & 0xf0000) >> 4, 2);
    } else {
        put_le(b + 6, ip & 0xffff, 2);
        put_le(b + 8, cs, 2);
        put_le(b + 10, dp & 0xffff, 2);
        put_le(b + 12, ds, 2);
    }
    return 14;
}

/* Take an FLDENV image (not the registers). TOP moves with the physical registers. */
static void env_load_image(X87 *c, const uint8_t *b)
{
    CpuState *s = c->s;
    bool real = real_format(s);
    uint16_t fsw;
    if (c->o32) {
        s->fcw = fcw_load((uint16_t)get_le(b, 2));
        fsw = (uint16_t)get_le(b + 4, 2);
        s->ftw = (uint16_t)get_le(b + 8, 2);
        if (real) {
            uint32_t w16 = (uint32_t)get_le(b + 16, 4), w24 = (uint32_t)get_le(b + 24, 4);
            s->fip = (get_le(b + 12, 2) | ((w16 & 0x0ffff000u) << 4)) & 0xffffffffu;
            s->fop = w16 & 0x7ff;
            s->fdp = (get_le(b + 20, 2) | ((w24 & 0x0ffff000u) << 4)) & 0xffffffffu;
        } else {
            uint32_t w16 = (uint32_t)get_le(b + 16, 4);
            s->fip = get_le(b + 12, 4) | ((uint64_t)(w16 & 0xffff) << 32);
            s->fop = (w16 >> 16) & 0x7ff;
            s->fdp = get_le(b + 20, 4) | (get_le(b + 24, 2) << 32);
        }
    } else {
        s->fcw = fcw_load((uint16_t)get_le(b, 2));
        fsw = (uint16_t)get_le(b + 2, 2);
        s->ftw = (uint16_t)get_le(b + 4, 2);
        if (real) {
            uint32_t w8 = (uint32_t)get_le(b + 8, 2), w12 = (uint32_t)get_le(b + 12, 2);
            s->fip = get_le(b + 6, 2) | ((uint64_t)(w8 & 0xf000) << 4);
            s->fop = w8 & 0x7ff;
            s->fdp = get_le(b + 10, 2) | ((uint64_t)(w12 & 0xf000) << 4);
        } else {
            s->fip = get_le(b + 6, 2) | (get_le(b + 8, 2) << 32);
            s->fdp = get_le(b + 10, 2) | (get_le(b + 12, 2) << 32);
            s->fop = 0;
        }
    }
    move_top(s, (fsw >> FSW_TOP_SHIFT) & 7);
    s->fsw = (uint16_t)((s->fsw & (FSW_ES | FSW_B)) | (fsw & ~(FSW_ES | FSW_B)));
}

static void fldenv_frstor(X87 *c, bool regs)
{
    CpuState *s = c->s;
    uint8_t b[108];
    unsigned n = c->o32 ? 28 : 14;
    mem_read(c, 0, b, n + (regs ? 80 : 0));
    env_load_image(c, b);
    if (regs)
        for (unsigned i = 0; i < 8; i++) {
            s->fpr[i].mant = get_le(b + n + 10 * i, 8);
            s->fpr[i].sexp = (uint16_t)get_le(b + n + 10 * i + 8, 2);
        }
    retag(s);
    update_es(c->env);
}

static void fnstenv_fnsave(X87 *c, bool regs)
{
    CpuState *s = c->s;
    uint8_t b[108];
    unsigned n = env_store_image(c, b);
    if (regs)
        for (unsigned i = 0; i < 8; i++) {
            put_le(b + n + 10 * i, s->fpr[i].mant, 8);
            put_le(b + n + 10 * i + 8, s->fpr[i].sexp, 2);
        }
    mem_write(c, 0, b, n + (regs ? 80 : 0));
    if (regs) {
        fninit(c->env);
    } else {
        s->fcw |= FCW_EXC_MASK; /* FSTENV masks every exception after storing */
        update_es(c->env);
    }
}

/* ---- dispatch ---- */

_Noreturn static void undefined(X87 *c)
{
    dbt_raise(c->env, EXC_UD, 0, 0);
}

/* No-wait (FN*) instructions do not look at pending exceptions. */
static bool is_nowait(const X87 *c)
{
    if (c->mem)
        return (c->opc == 1 || c->opc == 5) && (c->reg == 6 || c->reg == 7);
    if (c->opc == 3)
        return c->modrm >= 0xe0 && c->modrm <= 0xe4;
    return c->opc == 7 && c->modrm == 0xe0;
}

/* Control instructions leave FIP/FDP/FOP alone. */
static bool is_control(const X87 *c)
{
    if (is_nowait(c))
        return true;
    return c->mem &&
           ((c->opc == 1 && (c->reg == 4 || c->reg == 5)) || (c->opc == 5 && c->reg == 4));
}

static void exec_mem(X87 *c)
{
    static const unsigned arith_size[8] = {4, 0, 4, 0, 8, 0, 2, 0};
    CpuState *s = c->s;
    uint8_t b[2];
    switch (c->opc) {
    case 0:
    case 2:
    case 4:
    case 6: /* FADD .. FDIVR, FIADD .. FIDIVR, FCOM(P), FICOM(P) */
        numeric_mem(c, arith_size[c->opc]);
        return;
    case 1: /* D9 */
        switch (c->reg) {
        case 0:
            load_mem(c, 4);
            return; /* FLD m32 */
        case 2:
        case 3:
            store_mem(c, 4);
            return; /* FST(P) m32 */
        case 4:
            fldenv_frstor(c, false);
            return;
        case 5: /* FLDCW */
            mem_read(c, 0, b, 2);
            s->fcw = fcw_load((uint16_t)get_le(b, 2));
            update_es(c->env);
            return;
        case 6:
            fnstenv_fnsave(c, false);
            return;
        case 7: /* FNSTCW */
            put_le(b, s->fcw, 2);
            mem_write(c, 0, b, 2);
            return;
        }
        break;
    case 3: /* DB */
        switch (c->reg) {
        case 0:
            load_mem(c, 4);
            return; /* FILD m32 */
        case 1:
        case 2:
        case 3:
            store_mem(c, 4);
            return; /* FISTTP, FIST(P) m32 */
        case 5:
            fld_m80(c);
            return;
        case 7:
            fstp_m80(c);
            return;
        }
        break;
    case 5: /* DD */
        switch (c->reg) {
        case 0:
            load_mem(c, 8);
            return; /* FLD m64 */
        case 1:
        case 2:
        case 3:
            store_mem(c, 8);
            return; /* FISTTP m64, FST(P) m64 */
        case 4:
            fldenv_frstor(c, true);
            return;
        case 6:
            fnstenv_fnsave(c, true);
            return;
        case 7: /* FNSTSW m16 */
            put_le(b, s->fsw, 2);
            mem_write(c, 0, b, 2);
            return;
        }
        break;
    case 7: /* DF */
        switch (c->reg) {
        case 0:
            load_mem(c, 2);
            return; /* FILD m16 */
        case 1:
        case 2:
        case 3:
            store_mem(c, 2);
            return; /* FISTTP, FIST(P) m16 */
        case 4:
            load_mem(c, 10);
            return; /* FBLD */
        case 5:
            load_mem(c, 8);
            return; /* FILD m64 */
        case 6:
            store_mem(c, 10);
            return; /* FBSTP */
        case 7:
            store_mem(c, 8);
            return; /* FISTP m64 */
        }
        break;
    }
    undefined(c);
}

static void exec_d9(X87 *c)
{
    CpuState *s = c->s;
    unsigned m = c->modrm;
    if (m < 0xc8) {
        fld_sti(c);
        return;
    }
    if (m < 0xd0) {
        fxch(c);
        return;
    }
    if (m >= 0xd8 && m <= 0xdf) { /* FSTP1, an alias of FSTP ST(i) */
        fst_sti(c, true);
        return;
    }
    switch (m) {
    case 0xd0: /* FNOP */
        return;
    case 0xe0: /* FCHS */
    case 0xe1: /* FABS */
        fchs_fabs(c);
        return;
    case 0xe4: /* FTST */
    case 0xf0: /* F2XM1 */
    case 0xfa: /* FSQRT */
    case 0xfc: /* FRNDINT */
    case 0xfe: /* FSIN */
    case 0xff: /* FCOS */
        reg_fixed(c, 1, 0);
        return;
    case 0xe5:
        fxam(c);
        return;
    case 0xe8:
    case 0xe9:
    case 0xea:
    case 0xeb:
    case 0xec:
    case 0xed:
    case 0xee: /* constants */
        reg_fixed(c, 0, 1);
        return;
    case 0xf1: /* FYL2X */
    case 0xf3: /* FPATAN */
    case 0xf5: /* FPREM1 */
    case 0xf8: /* FPREM */
    case 0xf9: /* FYL2XP1 */
    case 0xfd: /* FSCALE */
        reg_fixed(c, 2, 0);
        return;
    case 0xf2: /* FPTAN */
    case 0xf4: /* FXTRACT */
    case 0xfb: /* FSINCOS */
        reg_fixed(c, 1, 1);
        return;
    case 0xf6: /* FDECSTP */
        rot_push(s);
        clear_c1(s);
        return;
    case 0xf7: /* FINCSTP */
        rot_pop(s);
        clear_c1(s);
        return;
    }
    undefined(c);
}

static void exec_reg(X87 *c)
{
    CpuState *s = c->s;
    unsigned m = c->modrm;
    switch (c->opc) {
    case 0: /* D8: FADD .. FDIVR ST(0), ST(i); FCOM, FCOMP */
    case 4: /* DC: FADD .. FDIV ST(i), ST(0); FCOM2, FCOMP3 */
        reg_sti(c, false);
        return;
    case 6: /* DE: the popping forms; FCOMP5; FCOMPP */
        if (m == 0xd9) {
            reg_fixed(c, 2, 0);
            return;
        }
        if (m >= 0xd8 && m <= 0xdf)
            break;
        reg_sti(c, false);
        return;
    case 1:
        exec_d9(c);
        return;
    case 2:             /* DA */
        if (m < 0xe0) { /* FCMOVB, FCMOVE, FCMOVBE, FCMOVU: the host reads our EFLAGS */
            reg_sti(c, false);
            return;
        }
        if (m == 0xe9) { /* FUCOMPP */
            reg_fixed(c, 2, 0);
            return;
        }
        break;
    case 3:             /* DB */
        if (m < 0xe0) { /* FCMOVNB, FCMOVNE, FCMOVNBE, FCMOVNU */
            reg_sti(c, false);
            return;
        }
        switch (m) {
        case 0xe0:
        case 0xe1:
        case 0xe4: /* FNENI, FNDISI, FNSETPM: nothing on a 387+ */
            return;
        case 0xe2: /* FNCLEX */
            s->fsw &= (uint16_t) ~(FSW_EXC | FSW_SF);
            update_es(c->env);
            return;
        case 0xe3: /* FNINIT */
            fninit(c->env);
            return;
        }
        if (m >= 0xe8 && m <= 0xf7) { /* FUCOMI, FCOMI */
            reg_sti(c, true);
            return;
        }
        break;
    case 5:             /* DD */
        if (m < 0xc8) { /* FFREE: what it does to C0-C3 differs between x87s */
            reg_full(c);
            return;
        }
        if (m < 0xd0) { /* FXCH4 */
            fxch(c);
            return;
        }
        if (m < 0xe0) { /* FST, FSTP ST(i) */
            fst_sti(c, m >= 0xd8);
            return;
        }
        if (m < 0xf0) { /* FUCOM, FUCOMP */
            reg_sti(c, false);
            return;
        }
        break;
    case 7:             /* DF */
        if (m < 0xc8) { /* FFREEP */
            reg_full(c);
            return;
        }
        if (m < 0xd0) { /* FXCH7 */
            fxch(c);
            return;
        }
        if (m < 0xe0) { /* FSTP8, FSTP9 */
            fst_sti(c, true);
            return;
        }
        if (m == 0xe0) { /* FNSTSW AX */
            s->regs[R_EAX] = (s->regs[R_EAX] & ~0xffffull) | s->fsw;
            return;
        }
        if (m >= 0xe8 && m <= 0xf7) { /* FUCOMIP, FCOMIP */
            reg_sti(c, true);
            return;
        }
        break;
    }
    undefined(c);
}

uint64_t helper_x87(DbtCpu *env, uint64_t ea, uint64_t b, uint64_t cc, uint64_t imm)
{
    X87 c;
    unsigned fop = imm & X87_FOP_MASK;
    c.env = env;
    c.s = &env->s;
    c.opc = fop >> 8;
    c.modrm = fop & 0xff;
    c.reg = (c.modrm >> 3) & 7;
    c.rm = c.modrm & 7;
    c.mem = imm & X87_MEM;
    c.o32 = imm & X87_O32;
    c.a32 = imm & X87_A32;
    c.seg = (int)((imm >> X87_SEG_SHIFT) & 7);
    c.ea = ea;
    if (env->s.cr0 & (CR0_EM | CR0_TS))
        dbt_raise(env, EXC_NM, 0, 0);
    if (!is_nowait(&c))
        check_pending(env);
    if (c.mem)
        exec_mem(&c);
    else
        exec_reg(&c);
    if (!is_control(&c))
        set_pointers(&c);
    return 0;
}

#else /* !HOST_X87 */

uint64_t helper_x87(DbtCpu *env, uint64_t ea, uint64_t b, uint64_t cc, uint64_t imm)
{
    if (env->s.cr0 & (CR0_EM | CR0_TS))
        dbt_raise(env, EXC_NM, 0, 0);
    dbt_fail(env, "x87 emulation needs an x86 host for now (x87 instruction at %#llx)",
             (unsigned long long)env->cur_eip);
}

#endif /* HOST_X87 */

uint64_t helper_fwait(DbtCpu *env, uint64_t a, uint64_t b, uint64_t c, uint64_t imm)
{
    if ((env->s.cr0 & (CR0_TS | CR0_MP)) == (CR0_TS | CR0_MP))
        dbt_raise(env, EXC_NM, 0, 0);
    check_pending(env);
    return 0;
}

/* ---- FXSAVE / FXRSTOR ---- */

#define MXCSR_MASK 0xffbfu /* MXCSR bits FXRSTOR and LDMXCSR accept: all but DAZ */

uint64_t helper_fxsave(DbtCpu *env, uint64_t ea, uint64_t b, uint64_t cc, uint64_t imm)
{
    CpuState *s = &env->s;
    X87 c;
    memset(&c, 0, sizeof(c));
    c.env = env;
    c.s = s;
    c.mem = true;
    c.seg = (int)((imm >> X87_SEG_SHIFT) & 7);
    c.a32 = imm & X87_A32;
    c.ea = ea;
    if (s->cr0 & CR0_EM)
        dbt_raise(env, EXC_UD, 0, 0);
    if (s->cr0 & CR0_TS)
        dbt_raise(env, EXC_NM, 0, 0);
    if ((s->seg[c.seg].base + ea) & 15)
        dbt_raise(env, EXC_GP, 1, 0);
    uint8_t img[288];
    if (!(imm & X87_FXRSTOR)) {
        memset(img, 0, sizeof(img));
        uint8_t abridged = 0;
        for (unsigned p = 0; p < 8; p++)
            if (((s->ftw >> (2 * p)) & 3) != FTW_EMPTY)
                abridged |= (uint8_t)(1u << p);
        put_le(img + 0, s->fcw, 2);
        put_le(img + 2, s->fsw, 2);
        img[4] = abridged;
        put_le(img + 6, s->fop & 0x7ff, 2);
        put_le(img + 8, s->fip & 0xffffffffffffull, 8);
        put_le(img + 16, s->fdp & 0xffffffffffffull, 8);
        put_le(img + 24, s->mxcsr, 4);
        put_le(img + 28, MXCSR_MASK, 4);
        for (unsigned i = 0; i < 8; i++) {
            put_le(img + 32 + 16 * i, s->fpr[i].mant, 8);
            put_le(img + 40 + 16 * i, s->fpr[i].sexp, 2);
        }
        memcpy(img + 160, s->xmm, 8 * 16);
        mem_write(&c, 0, img, sizeof(img));
        return 0;
    }
    mem_read(&c, 0, img, sizeof(img));
    uint32_t mxcsr = (uint32_t)get_le(img + 24, 4);
    if (mxcsr & ~MXCSR_MASK)
        dbt_raise(env, EXC_GP, 1, 0);
    s->fcw = fcw_load((uint16_t)get_le(img, 2));
    s->fsw = (uint16_t)((s->fsw & (FSW_ES | FSW_B)) | (get_le(img + 2, 2) & ~(FSW_ES | FSW_B)));
    s->fop = get_le(img + 6, 2) & 0x7ff;
    s->fip = get_le(img + 8, 8) & 0xffffffffffffull;
    s->fdp = get_le(img + 16, 8) & 0xffffffffffffull;
    s->mxcsr = mxcsr;
    for (unsigned i = 0; i < 8; i++) {
        s->fpr[i].mant = get_le(img + 32 + 16 * i, 8);
        s->fpr[i].sexp = (uint16_t)get_le(img + 40 + 16 * i, 2);
    }
    memcpy(s->xmm, img + 160, 8 * 16);
    s->ftw = 0;
    for (unsigned p = 0; p < 8; p++)
        if (!((img[4] >> p) & 1))
            s->ftw |= (uint16_t)(FTW_EMPTY << (2 * p));
    retag(s);
    update_es(env);
    return 0;
}
