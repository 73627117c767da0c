/* Guest bytes -> IR. Capstone decodes each instruction once (in the code size of CS); this file
 * maps its instruction id and operands onto IR ops, with the complex and rare instructions
 * going to helpers (dbt/helpers.c). Operand and address sizes are taken from the prefixes and
 * the mode, not from Capstone's operand sizes, where the two can disagree (far pointers). */
#include <capstone/capstone.h>
#include <string.h>

#include "dbt/helpers.h"
#include "dbt/ir.h"
#include "dbt/translate_int.h"

#define MAX_BLOCK_INSNS 64

typedef struct Tr {
    DbtCpu *env;
    GArray *ops;
    int nt;
    const cs_insn *in;
    const cs_x86 *x;
    uint64_t eip, next;  /* EIP of this and the next instruction */
    uint64_t eip_mask;
    unsigned osz, asz, ssz; /* operand, address, stack size in bytes */
    bool code32;
    bool pm;             /* protected mode, not virtual-8086 (from the block's mode bits) */
    bool flat;           /* MODE_FLAT: compiled code skips the checks of DS, ES and SS */
    bool end;            /* the block ends after this instruction */
    bool rep, repne, lock;
    int seg_override;    /* S_* or -1 */
    const uint8_t *op;   /* first opcode byte (after prefixes) */
    uint64_t pc;         /* the block's linear address */
    csh h;               /* Capstone handle for this code size */
    bool ifconv_room;    /* the block may take one more instruction after this one */
    bool step;           /* single-stepping: one instruction per block, no if-conversion */
    unsigned skipped;    /* instructions an if-converted branch took in (translate_one sets) */
    int guard;           /* in if-converted code: temp that is 1 when the branch skipped it */
} Tr;

/* ---- emit helpers ---- */

static int tmp(Tr *t)
{
    if (t->nt >= IR_NTEMPS)
        dbt_fail(t->env, "internal error: out of IR temps at EIP %#llx",
                 (unsigned long long)t->eip);
    return t->nt++;
}

static IrOp *emit(Tr *t, uint8_t opc)
{
    IrOp o;
    memset(&o, 0, sizeof(o));
    o.op = opc;
    g_array_append_val(t->ops, o);
    return &g_array_index(t->ops, IrOp, t->ops->len - 1);
}

static int movi(Tr *t, uint64_t v)
{
    IrOp *o = emit(t, IR_MOVI);
    o->d = tmp(t);
    o->imm = v;
    return o->d;
}

static int getr(Tr *t, int reg, unsigned size, bool hi8)
{
    IrOp *o = emit(t, IR_GETR);
    o->d = tmp(t);
    o->aux = reg | (hi8 ? IR_HI8 : 0);
    o->size = size;
    return o->d;
}

static int select_(Tr *t, int c, int a, int b);

static void setr(Tr *t, int reg, unsigned size, bool hi8, int v)
{
    if (t->guard >= 0) /* if-converted: the register keeps its value when the branch skipped */
        v = select_(t, t->guard, getr(t, reg, size, hi8), v);
    IrOp *o = emit(t, IR_SETR);
    o->a = v;
    o->aux = reg | (hi8 ? IR_HI8 : 0);
    o->size = size;
}

static int ld(Tr *t, int seg, int addr, unsigned size)
{
    IrOp *o = emit(t, IR_LD);
    o->d = tmp(t);
    o->a = addr;
    o->aux = seg;
    o->size = size;
    return o->d;
}

static void st(Tr *t, int seg, int addr, int v, unsigned size)
{
    IrOp *o = emit(t, IR_ST);
    o->a = addr;
    o->b = v;
    o->aux = seg;
    o->size = size;
}

static int alu(Tr *t, AluOp op, unsigned size, int a, int b)
{
    IrOp *o = emit(t, IR_ALU);
    o->d = tmp(t);
    o->a = a;
    o->b = b;
    o->aux = op;
    o->size = size;
    return o->d;
}

static int bin(Tr *t, uint8_t opc, unsigned size, int a, int b)
{
    IrOp *o = emit(t, opc);
    o->d = tmp(t);
    o->a = a;
    o->b = b;
    o->size = size;
    return o->d;
}

static int addi(Tr *t, unsigned size, int a, uint64_t imm)
{
    IrOp *o = emit(t, IR_ADDI);
    o->d = tmp(t);
    o->a = a;
    o->imm = imm;
    o->size = size;
    return o->d;
}

static int unop(Tr *t, uint8_t opc, unsigned size, int a)
{
    IrOp *o = emit(t, opc);
    o->d = tmp(t);
    o->a = a;
    o->size = size;
    return o->d;
}

static int cond(Tr *t, int cc)
{
    IrOp *o = emit(t, IR_COND);
    o->d = tmp(t);
    o->aux = cc;
    return o->d;
}

/* t[c] ? t[a] : t[b]; operands must already be computed (emit() may move earlier ops) */
static int select_(Tr *t, int c, int a, int b)
{
    IrOp *o = emit(t, IR_SELECT);
    o->d = tmp(t);
    o->a = a;
    o->b = b;
    o->c = c;
    return o->d;
}

static int helper(Tr *t, IrHelper fn, int a, int b, int c, uint64_t imm)
{
    IrOp *o = emit(t, IR_HELPER);
    o->d = tmp(t);
    o->fn = fn;
    o->a = a < 0 ? 0 : a;
    o->b = b < 0 ? 0 : b;
    o->c = c < 0 ? 0 : c;
    o->imm = imm;
    return o->d;
}

static IrOp *exit_to(Tr *t, uint64_t eip)
{
    IrOp *o = emit(t, IR_EXIT);
    o->imm = eip & t->eip_mask;
    t->end = true;
    return o;
}

static IrOp *exit_ind(Tr *t, int v)
{
    IrOp *o = emit(t, IR_EXIT_IND);
    o->a = v;
    t->end = true;
    return o;
}

static void exit_cond(Tr *t, int c, uint64_t eip)
{
    IrOp *o = emit(t, IR_EXIT_COND);
    o->a = c;
    o->imm = eip & t->eip_mask;
}

/* ---- operands ---- */

enum { LOC_REG, LOC_MEM, LOC_IMM, LOC_SEG, LOC_CR, LOC_DR };

typedef struct Loc {
    int kind;
    int reg;
    bool hi8;
    unsigned size;
    int seg;
    int addr; /* temp holding the effective address */
    uint64_t imm;
} Loc;

/* Capstone register -> (kind, index, size, high byte) */
static bool reg_info(x86_reg r, int *kind, int *idx, unsigned *size, bool *hi8)
{
    static const struct {
        x86_reg r;
        int idx;
        unsigned size;
        bool hi8;
    } gpr[] = {
        {X86_REG_AL, R_EAX, 1, 0},  {X86_REG_CL, R_ECX, 1, 0},  {X86_REG_DL, R_EDX, 1, 0},
        {X86_REG_BL, R_EBX, 1, 0},  {X86_REG_AH, R_EAX, 1, 1},  {X86_REG_CH, R_ECX, 1, 1},
        {X86_REG_DH, R_EDX, 1, 1},  {X86_REG_BH, R_EBX, 1, 1},  {X86_REG_AX, R_EAX, 2, 0},
        {X86_REG_CX, R_ECX, 2, 0},  {X86_REG_DX, R_EDX, 2, 0},  {X86_REG_BX, R_EBX, 2, 0},
        {X86_REG_SP, R_ESP, 2, 0},  {X86_REG_BP, R_EBP, 2, 0},  {X86_REG_SI, R_ESI, 2, 0},
        {X86_REG_DI, R_EDI, 2, 0},  {X86_REG_EAX, R_EAX, 4, 0}, {X86_REG_ECX, R_ECX, 4, 0},
        {X86_REG_EDX, R_EDX, 4, 0}, {X86_REG_EBX, R_EBX, 4, 0}, {X86_REG_ESP, R_ESP, 4, 0},
        {X86_REG_EBP, R_EBP, 4, 0}, {X86_REG_ESI, R_ESI, 4, 0}, {X86_REG_EDI, R_EDI, 4, 0},
    };
    for (size_t i = 0; i < sizeof(gpr) / sizeof(gpr[0]); i++) {
        if (gpr[i].r == r) {
            *kind = LOC_REG;
            *idx = gpr[i].idx;
            *size = gpr[i].size;
            *hi8 = gpr[i].hi8;
            return true;
        }
    }
    *hi8 = false;
    *size = 2;
    switch (r) {
    case X86_REG_ES: *kind = LOC_SEG; *idx = S_ES; return true;
    case X86_REG_CS: *kind = LOC_SEG; *idx = S_CS; return true;
    case X86_REG_SS: *kind = LOC_SEG; *idx = S_SS; return true;
    case X86_REG_DS: *kind = LOC_SEG; *idx = S_DS; return true;
    case X86_REG_FS: *kind = LOC_SEG; *idx = S_FS; return true;
    case X86_REG_GS: *kind = LOC_SEG; *idx = S_GS; return true;
    default: break;
    }
    *size = 4;
    if (r >= X86_REG_CR0 && r <= X86_REG_CR15) {
        *kind = LOC_CR;
        *idx = r - X86_REG_CR0;
        return true;
    }
    if (r >= X86_REG_DR0 && r <= X86_REG_DR15) {
        *kind = LOC_DR;
        *idx = r - X86_REG_DR0;
        return true;
    }
    return false;
}

_Noreturn static void unsupported(Tr *t, const char *why)
{
    char hex[64] = "";
    for (unsigned i = 0; i < t->in->size && i < 15; i++)
        snprintf(hex + 3 * i, sizeof(hex) - 3 * i, "%02x ", t->in->bytes[i]);
    if (hex[0])
        hex[strlen(hex) - 1] = 0;
    dbt_fail(t->env, "unimplemented instruction at %04llx:%08llx (linear %#llx): %s %s [%s]%s%s",
             (unsigned long long)t->env->s.seg[S_CS].sel, (unsigned long long)t->eip,
             (unsigned long long)((t->env->s.seg[S_CS].base + t->eip) & 0xffffffff),
             t->in->mnemonic, t->in->op_str, hex, why ? ": " : "", why ? why : "");
}

static int base_reg(Tr *t, x86_reg r)
{
    int kind, idx;
    unsigned size;
    bool hi8;
    if (!reg_info(r, &kind, &idx, &size, &hi8) || kind != LOC_REG)
        unsupported(t, "address register");
    return idx;
}

/* Effective address of a memory operand (offset within its segment), and the segment. */
static int ea(Tr *t, const x86_op_mem *m, int *seg)
{
    unsigned asz = t->asz;
    int a = -1;
    bool ss_default = false;
    if (m->base != X86_REG_INVALID) {
        if (m->base == X86_REG_EIP || m->base == X86_REG_RIP)
            unsupported(t, "RIP-relative address");
        int r = base_reg(t, m->base);
        a = getr(t, r, asz, false);
        ss_default = r == R_ESP || r == R_EBP;
    }
    if (m->index != X86_REG_INVALID && m->index != X86_REG_EIZ) {
        int ix = getr(t, base_reg(t, m->index), asz, false);
        if (m->scale > 1) {
            IrOp *o = emit(t, IR_SHLI);
            o->d = tmp(t);
            o->a = ix;
            o->size = asz;
            o->imm = m->scale == 2 ? 1 : m->scale == 4 ? 2 : 3;
            ix = o->d;
        }
        a = a < 0 ? ix : bin(t, IR_ADD, asz, a, ix);
    }
    if (a < 0)
        a = movi(t, (uint64_t)m->disp & (asz == 4 ? 0xffffffffull : 0xffff));
    else if (m->disp)
        a = addi(t, asz, a, (uint64_t)m->disp);
    else if (asz == 2)
        a = unop(t, IR_ZEXT, 2, a);
    if (t->seg_override >= 0)
        *seg = t->seg_override;
    else
        *seg = ss_default ? S_SS : S_DS;
    return a;
}

static Loc loc(Tr *t, int i)
{
    const cs_x86_op *op = &t->x->operands[i];
    Loc l;
    memset(&l, 0, sizeof(l));
    l.size = op->size;
    switch (op->type) {
    case X86_OP_REG:
        if (!reg_info(op->reg, &l.kind, &l.reg, &l.size, &l.hi8))
            unsupported(t, "register operand");
        break;
    case X86_OP_IMM:
        l.kind = LOC_IMM;
        l.imm = (uint64_t)op->imm;
        break;
    case X86_OP_MEM:
        l.kind = LOC_MEM;
        l.addr = ea(t, &op->mem, &l.seg);
        break;
    default:
        unsupported(t, "operand type");
    }
    return l;
}

static uint64_t mask_of(unsigned size)
{
    return size >= 8 ? ~0ull : (1ull << (size * 8)) - 1;
}

static int rd(Tr *t, const Loc *l)
{
    switch (l->kind) {
    case LOC_REG:
        return getr(t, l->reg, l->size, l->hi8);
    case LOC_MEM:
        return ld(t, l->seg, l->addr, l->size);
    case LOC_IMM:
        return movi(t, l->imm & mask_of(l->size));
    case LOC_SEG: {
        IrOp *o = emit(t, IR_GETSEG);
        o->d = tmp(t);
        o->aux = l->reg;
        return o->d;
    }
    default:
        unsupported(t, "operand read");
    }
}

static void wr(Tr *t, const Loc *l, int v)
{
    switch (l->kind) {
    case LOC_REG:
        setr(t, l->reg, l->size, l->hi8, v);
        break;
    case LOC_MEM:
        st(t, l->seg, l->addr, v, l->size);
        break;
    default:
        unsupported(t, "operand write");
    }
}

/* ---- stack ---- */

static void push(Tr *t, int v, unsigned size)
{
    int sp = getr(t, R_ESP, t->ssz, false);
    int nsp = addi(t, t->ssz, sp, (uint64_t)-(int64_t)size);
    st(t, S_SS, nsp, v, size);
    setr(t, R_ESP, t->ssz, false, nsp);
}

/* Load the top of stack without popping (the caller commits ESP after its last fault). */
static int peek(Tr *t, unsigned size, unsigned at, int *new_sp)
{
    int sp = getr(t, R_ESP, t->ssz, false);
    int a = at ? addi(t, t->ssz, sp, at) : sp;
    int v = ld(t, S_SS, a, size);
    *new_sp = addi(t, t->ssz, sp, at + size);
    return v;
}

/* ---- condition codes ---- */

static int cc_of(unsigned id)
{
    switch (id) {
    case X86_INS_JO: case X86_INS_SETO: case X86_INS_CMOVO: return CC_O;
    case X86_INS_JNO: case X86_INS_SETNO: case X86_INS_CMOVNO: return CC_NO;
    case X86_INS_JB: case X86_INS_SETB: case X86_INS_CMOVB: return CC_B;
    case X86_INS_JAE: case X86_INS_SETAE: case X86_INS_CMOVAE: return CC_AE;
    case X86_INS_JE: case X86_INS_SETE: case X86_INS_CMOVE: return CC_E;
    case X86_INS_JNE: case X86_INS_SETNE: case X86_INS_CMOVNE: return CC_NE;
    case X86_INS_JBE: case X86_INS_SETBE: case X86_INS_CMOVBE: return CC_BE;
    case X86_INS_JA: case X86_INS_SETA: case X86_INS_CMOVA: return CC_A;
    case X86_INS_JS: case X86_INS_SETS: case X86_INS_CMOVS: return CC_S;
    case X86_INS_JNS: case X86_INS_SETNS: case X86_INS_CMOVNS: return CC_NS;
    case X86_INS_JP: case X86_INS_SETP: case X86_INS_CMOVP: return CC_P;
    case X86_INS_JNP: case X86_INS_SETNP: case X86_INS_CMOVNP: return CC_NP;
    case X86_INS_JL: case X86_INS_SETL: case X86_INS_CMOVL: return CC_L;
    case X86_INS_JGE: case X86_INS_SETGE: case X86_INS_CMOVGE: return CC_GE;
    case X86_INS_JLE: case X86_INS_SETLE: case X86_INS_CMOVLE: return CC_LE;
    case X86_INS_JG: case X86_INS_SETG: case X86_INS_CMOVG: return CC_G;
    default: return -1;
    }
}

/* ---- instruction groups ---- */

static AluOp alu_of(unsigned id)
{
    switch (id) {
    case X86_INS_ADD: return ALU_ADD;
    case X86_INS_OR: return ALU_OR;
    case X86_INS_ADC: return ALU_ADC;
    case X86_INS_SBB: return ALU_SBB;
    case X86_INS_AND: return ALU_AND;
    case X86_INS_SUB: return ALU_SUB;
    case X86_INS_XOR: return ALU_XOR;
    case X86_INS_CMP: return ALU_CMP;
    case X86_INS_TEST: return ALU_TEST;
    case X86_INS_ROL: return ALU_ROL;
    case X86_INS_ROR: return ALU_ROR;
    case X86_INS_RCL: return ALU_RCL;
    case X86_INS_RCR: return ALU_RCR;
    case X86_INS_SHL: return ALU_SHL;
    case X86_INS_SAL: return ALU_SAL;
    case X86_INS_SHR: return ALU_SHR;
    case X86_INS_SAR: return ALU_SAR;
    default: return ALU_NR_OPS;
    }
}

static void tr_alu2(Tr *t, AluOp op)
{
    Loc d = loc(t, 0), s = loc(t, 1);
    if (s.kind == LOC_IMM)
        s.size = d.size;
    int a = rd(t, &d), b = rd(t, &s);
    int r = alu(t, op, d.size, a, b);
    if (op != ALU_CMP && op != ALU_TEST)
        wr(t, &d, r);
}

static void tr_shift(Tr *t, AluOp op)
{
    Loc d = loc(t, 0);
    int a = rd(t, &d), c;
    if (t->x->op_count < 2) {
        c = movi(t, 1);
    } else {
        Loc s = loc(t, 1);
        c = rd(t, &s);
    }
    int r = alu(t, op, d.size, a, c);
    wr(t, &d, r);
}

static void tr_unary(Tr *t, AluOp op)
{
    Loc d = loc(t, 0);
    int a = rd(t, &d);
    int r = alu(t, op, d.size, a, a);
    wr(t, &d, r);
}

static void tr_muldiv(Tr *t, unsigned id)
{
    Loc s = loc(t, 0);
    unsigned size = s.size;
    int b = rd(t, &s);
    int a = getr(t, R_EAX, size == 1 ? 2 : size, false);
    int d = size == 1 ? movi(t, 0) : getr(t, R_EDX, size, false);
    int r;
    uint64_t kind = (uint64_t)size;
    switch (id) {
    case X86_INS_MUL: r = helper(t, helper_mul, a, b, d, kind); break;
    case X86_INS_IMUL: r = helper(t, helper_mul, a, b, d, kind | 0x100); break;
    case X86_INS_DIV: r = helper(t, helper_div, a, b, d, kind); break;
    default: r = helper(t, helper_div, a, b, d, kind | 0x100); break;
    }
    (void)r; /* the helpers write AX/DX:AX/EDX:EAX themselves, after their #DE check */
}

static void tr_string(Tr *t, int kind, unsigned size)
{
    /* Capstone 4 names "66 F3 6D" rep insd (and the same for movs/stos/...): its prefix
     * bytes are right but the mnemonic drops a 66 that comes before F3. The operand size
     * comes from the prefixes, as for every other instruction. */
    if (size > 1)
        size = t->osz;
    uint64_t seg = t->seg_override >= 0 ? (uint64_t)t->seg_override : S_DS;
    uint64_t rep = t->rep ? 1 : t->repne ? 2 : 0;
    uint64_t imm = kind | (size << 8) | ((uint64_t)t->asz << 16) | (seg << 24) | (rep << 32);
    int r = helper(t, helper_string, -1, -1, -1, imm);
    /* a REP instruction runs in slices: if it is not done it returns to itself */
    if (rep) {
        int again = r;
        exit_cond(t, again, t->eip);
    }
}

static bool is_string_movs_cmps(Tr *t)
{
    return t->op[0] == 0xa4 || t->op[0] == 0xa5 || t->op[0] == 0xa6 || t->op[0] == 0xa7;
}

/* Far pointer operand m16:16/m16:32 from memory: offset then selector. */
static void far_mem(Tr *t, int *sel, int *off)
{
    Loc m = loc(t, 0);
    if (m.kind != LOC_MEM)
        unsupported(t, "far pointer");
    *off = ld(t, m.seg, m.addr, t->osz);
    int a2 = addi(t, t->asz, m.addr, t->osz);
    *sel = ld(t, m.seg, a2, 2);
}

/* Whether a LOCK prefix is valid here: one of the lockable instructions, with its destination
 * in memory. */
static bool lock_allowed(Tr *t)
{
    switch (t->in->id) {
    case X86_INS_ADD: case X86_INS_OR: case X86_INS_ADC: case X86_INS_SBB: case X86_INS_AND:
    case X86_INS_SUB: case X86_INS_XOR: case X86_INS_NOT: case X86_INS_NEG: case X86_INS_INC:
    case X86_INS_DEC: case X86_INS_XADD: case X86_INS_CMPXCHG: case X86_INS_CMPXCHG8B:
    case X86_INS_BTS: case X86_INS_BTR: case X86_INS_BTC:
        return t->x->op_count >= 1 && t->x->operands[0].type == X86_OP_MEM;
    case X86_INS_XCHG:
        for (unsigned i = 0; i < t->x->op_count; i++)
            if (t->x->operands[i].type == X86_OP_MEM)
                return true;
        return false;
    default:
        return false;
    }
}

/* After a load of segment register seg: whether the block must end, because the rest of it
 * was translated for flat DS, ES and SS (MODE_FLAT), which the load may have undone. */
static bool flat_seg_changed(const Tr *t, int seg)
{
    return t->flat && (seg == S_DS || seg == S_ES || seg == S_SS);
}

/* LES/LDS/LSS/LFS/LGS: a far pointer from memory into a segment register and a GPR. */
static void tr_load_far(Tr *t, int seg)
{
    if (t->x->op_count < 2 || t->x->operands[1].type != X86_OP_MEM)
        dbt_raise(t->env, EXC_UD, 0, 0); /* register source */
    Loc d = loc(t, 0);
    int sel, off;
    Loc m = loc(t, 1);
    off = ld(t, m.seg, m.addr, t->osz);
    int a2 = addi(t, t->asz, m.addr, t->osz);
    sel = ld(t, m.seg, a2, 2);
    /* the segment load is the last thing that can fault: the GPR is written after it */
    helper(t, helper_load_seg, sel, -1, -1, seg);
    setr(t, d.reg, t->osz, false, off);
    if (seg == S_SS || flat_seg_changed(t, seg))
        exit_to(t, t->next); /* the stack size and flatness are part of the block's mode */
}

/* The protected-mode descriptor instructions (the caller has ruled out real and v86 mode). */
static void tr_descriptor_insn(Tr *t, unsigned id)
{
    switch (id) {
    case X86_INS_LAR: case X86_INS_LSL: {
        Loc d = loc(t, 0), s = loc(t, 1);
        s.size = 2;
        int sel = rd(t, &s);
        d.size = t->osz;
        int old = rd(t, &d);
        wr(t, &d, helper(t, helper_lar_lsl, sel, old, -1, id == X86_INS_LSL));
        return;
    }
    case X86_INS_VERR: case X86_INS_VERW: {
        Loc s = loc(t, 0);
        s.size = 2;
        helper(t, helper_verr_verw, rd(t, &s), -1, -1, id == X86_INS_VERW);
        return;
    }
    case X86_INS_LLDT: case X86_INS_LTR: {
        Loc s = loc(t, 0);
        s.size = 2;
        helper(t, helper_lldt_ltr, rd(t, &s), -1, -1, id == X86_INS_LTR);
        return;
    }
    case X86_INS_SLDT: case X86_INS_STR: {
        Loc d = loc(t, 0);
        /* to a register with 32-bit operand size: zero-extended; to memory: 16 bits */
        d.size = d.kind == LOC_REG && t->osz == 4 ? 4 : 2;
        wr(t, &d, helper(t, helper_sldt_str, -1, -1, -1, id == X86_INS_STR));
        return;
    }
    default: { /* ARPL r/m16, r16: memory is written only when the RPL is raised */
        Loc d = loc(t, 0), s = loc(t, 1);
        d.size = s.size = 2;
        int b = rd(t, &s);
        if (d.kind == LOC_MEM) {
            helper(t, helper_arpl, d.addr, b, -1, 0x100 | (uint64_t)d.seg);
            return;
        }
        int a = rd(t, &d);
        wr(t, &d, helper(t, helper_arpl, a, b, -1, 0));
        return;
    }
    }
}

static bool if_convert(Tr *t, int cc);

static void translate_one(Tr *t)
{
    const cs_insn *in = t->in;
    unsigned id = in->id;
    int c;

    /* LOCK is allowed only before a read-modify-write of memory (SDM vol. 2, LOCK) */
    if (t->lock && !lock_allowed(t))
        dbt_raise(t->env, EXC_UD, 0, 0);

    /* x87, WAIT, FXSAVE/FXRSTOR: one helper call each (dbt/translate_x87.c) */
    TrCall xc;
    if (dbt_translate_x87(t->op, (unsigned)(in->size - (t->op - in->bytes)), t->osz, t->asz, &xc)) {
        int a = -1, seg = 0;
        for (unsigned i = 0; xc.mem && i < t->x->op_count; i++)
            if (t->x->operands[i].type == X86_OP_MEM) {
                a = ea(t, &t->x->operands[i].mem, &seg);
                xc.imm |= (uint64_t)seg << TR_CALL_SEG_SHIFT;
                break;
            }
        if (xc.mem && a < 0)
            unsupported(t, "x87 memory operand");
        helper(t, xc.fn, a, -1, -1, xc.imm);
        return;
    }

    switch (id) {
    case X86_INS_NOP:
    case X86_INS_PAUSE:
        return;

    case X86_INS_MOV: {
        Loc d = loc(t, 0), s = loc(t, 1);
        if (d.kind == LOC_CR || d.kind == LOC_DR) {
            int v = rd(t, &s);
            helper(t, d.kind == LOC_CR ? helper_mov_to_cr : helper_mov_to_dr, v, -1, -1, d.reg);
            /* paging/protection may have changed, or the breakpoints (retranslation) */
            exit_to(t, t->next);
            return;
        }
        if (s.kind == LOC_CR || s.kind == LOC_DR) {
            int v = helper(t, s.kind == LOC_CR ? helper_mov_from_cr : helper_mov_from_dr, -1, -1,
                           -1, s.reg);
            d.size = 4;
            wr(t, &d, v);
            return;
        }
        if (d.kind == LOC_SEG) {
            if (d.reg == S_CS)
                dbt_raise(t->env, EXC_UD, 0, 0);
            s.size = 2;
            int v = rd(t, &s);
            helper(t, helper_load_seg, v, -1, -1, d.reg);
            if (d.reg == S_SS) {
                /* SS changes the stack size and blocks interrupts for one instruction */
                helper(t, helper_irq_inhibit, -1, -1, -1, 0);
                exit_to(t, t->next);
            } else if (flat_seg_changed(t, d.reg)) {
                exit_to(t, t->next);
            }
            return;
        }
        if (s.kind == LOC_SEG) {
            int v = rd(t, &s);
            /* to a register with 32-bit operand size: zero-extended (as P6 and later) */
            if (d.kind == LOC_REG && t->osz == 4)
                d.size = 4;
            else
                d.size = 2;
            wr(t, &d, v);
            return;
        }
        if (s.kind == LOC_IMM)
            s.size = d.size;
        wr(t, &d, rd(t, &s));
        return;
    }
    case X86_INS_MOVZX:
    case X86_INS_MOVSX: {
        Loc d = loc(t, 0), s = loc(t, 1);
        int v = rd(t, &s);
        if (id == X86_INS_MOVSX)
            v = unop(t, IR_SEXT, s.size, v);
        wr(t, &d, v);
        return;
    }
    case X86_INS_LEA: {
        Loc d = loc(t, 0);
        const x86_op_mem *m = &t->x->operands[1].mem;
        int seg;
        int a = ea(t, m, &seg);
        wr(t, &d, a);
        return;
    }
    case X86_INS_ADD: case X86_INS_OR: case X86_INS_ADC: case X86_INS_SBB:
    case X86_INS_AND: case X86_INS_SUB: case X86_INS_XOR: case X86_INS_CMP:
    case X86_INS_TEST:
        tr_alu2(t, alu_of(id));
        return;
    case X86_INS_ROL: case X86_INS_ROR: case X86_INS_RCL: case X86_INS_RCR:
    case X86_INS_SHL: case X86_INS_SAL: case X86_INS_SHR: case X86_INS_SAR:
        tr_shift(t, alu_of(id));
        return;
    case X86_INS_INC: tr_unary(t, ALU_INC); return;
    case X86_INS_DEC: tr_unary(t, ALU_DEC); return;
    case X86_INS_NEG: tr_unary(t, ALU_NEG); return;
    case X86_INS_NOT: tr_unary(t, ALU_NOT); return;

    case X86_INS_MUL: case X86_INS_DIV: case X86_INS_IDIV:
        tr_muldiv(t, id);
        return;
    case X86_INS_IMUL:
        if (t->x->op_count == 1) {
            tr_muldiv(t, id);
        } else {
            Loc d = loc(t, 0), s = loc(t, 1);
            int a, b;
            if (t->x->op_count == 3) {
                Loc i = loc(t, 2);
                i.size = d.size;
                a = rd(t, &s);
                b = rd(t, &i);
            } else {
                a = rd(t, &d);
                b = rd(t, &s);
            }
            wr(t, &d, helper(t, helper_imul2, a, b, -1, d.size));
        }
        return;

    case X86_INS_XCHG: {
        Loc a = loc(t, 0), b = loc(t, 1);
        int va = rd(t, &a), vb = rd(t, &b);
        /* memory operand first so a fault leaves the register alone */
        if (b.kind == LOC_MEM) {
            wr(t, &b, va);
            wr(t, &a, vb);
        } else {
            wr(t, &a, vb);
            wr(t, &b, va);
        }
        return;
    }
    case X86_INS_XADD: {
        Loc d = loc(t, 0), s = loc(t, 1);
        int vd = rd(t, &d), vs = rd(t, &s);
        int sum = alu(t, ALU_ADD, d.size, vd, vs);
        wr(t, &d, sum);
        wr(t, &s, vd);
        return;
    }
    case X86_INS_CMPXCHG: {
        Loc d = loc(t, 0), s = loc(t, 1);
        int vd = rd(t, &d), vs = rd(t, &s);
        int acc = getr(t, R_EAX, d.size, false);
        alu(t, ALU_CMP, d.size, acc, vd);
        int eq = cond(t, CC_E);
        int nd = select_(t, eq, vs, vd);
        int nacc = select_(t, eq, acc, vd);
        /* the destination is written either way (a locked RMW cycle) */
        wr(t, &d, nd);
        setr(t, R_EAX, d.size, false, nacc);
        return;
    }
    case X86_INS_CMPXCHG8B: {
        Loc m = loc(t, 0);
        if (m.kind != LOC_MEM)
            dbt_raise(t->env, EXC_UD, 0, 0);
        helper(t, helper_cmpxchg8b, m.addr, -1, -1, m.seg);
        return;
    }
    case X86_INS_BSWAP: {
        Loc d = loc(t, 0);
        int v = rd(t, &d);
        wr(t, &d, helper(t, helper_bswap, v, -1, -1, d.size));
        return;
    }

    case X86_INS_PUSH: {
        Loc s = loc(t, 0);
        unsigned size = t->osz;
        if (s.kind == LOC_IMM)
            s.size = size;
        int v = rd(t, &s);
        push(t, v, s.kind == LOC_SEG ? size : s.size ? s.size : size);
        return;
    }
    case X86_INS_POP: {
        Loc d = loc(t, 0);
        unsigned size = d.kind == LOC_SEG ? t->osz : d.size;
        int nsp;
        int v = peek(t, size, 0, &nsp);
        if (d.kind == LOC_MEM && (t->x->operands[0].mem.base == X86_REG_ESP ||
                                  t->x->operands[0].mem.base == X86_REG_SP))
            /* SDM POP: an ESP-based destination address uses ESP after the increment */
            d.addr = addi(t, t->asz, d.addr, size);
        if (d.kind == LOC_SEG) {
            helper(t, helper_load_seg, v, -1, -1, d.reg);
            setr(t, R_ESP, t->ssz, false, nsp);
            if (d.reg == S_SS) {
                helper(t, helper_irq_inhibit, -1, -1, -1, 0);
                exit_to(t, t->next);
            } else if (flat_seg_changed(t, d.reg)) {
                exit_to(t, t->next);
            }
            return;
        }
        if (d.kind == LOC_MEM) {
            wr(t, &d, v);
            setr(t, R_ESP, t->ssz, false, nsp);
        } else {
            setr(t, R_ESP, t->ssz, false, nsp);
            wr(t, &d, v); /* pop esp: the popped value wins */
        }
        return;
    }
    case X86_INS_PUSHAL: case X86_INS_PUSHAW:
        helper(t, helper_pusha, -1, -1, -1, t->osz);
        return;
    case X86_INS_POPAL: case X86_INS_POPAW:
        helper(t, helper_popa, -1, -1, -1, t->osz);
        return;
    case X86_INS_PUSHF: case X86_INS_PUSHFD:
        push(t, helper(t, helper_pushf, -1, -1, -1, t->osz), t->osz);
        return;
    case X86_INS_POPF: case X86_INS_POPFD: {
        int nsp;
        int v = peek(t, t->osz, 0, &nsp);
        helper(t, helper_popf, v, -1, -1, t->osz);
        setr(t, R_ESP, t->ssz, false, nsp);
        exit_to(t, t->next); /* IF may have changed */
        return;
    }
    case X86_INS_LAHF: {
        int f = helper(t, helper_pushf, -1, -1, -1, 0); /* 0: not IOPL-sensitive */
        setr(t, R_EAX, 1, true, f);
        return;
    }
    case X86_INS_SAHF: {
        int ah = getr(t, R_EAX, 1, true);
        helper(t, helper_sahf, ah, -1, -1, 0);
        return;
    }
    case X86_INS_CLC: helper(t, helper_setflag, -1, -1, -1, FL_CF); return;
    case X86_INS_STC: helper(t, helper_setflag, -1, -1, -1, FL_CF | (1ull << 32)); return;
    case X86_INS_CMC: helper(t, helper_setflag, -1, -1, -1, FL_CF | (2ull << 32)); return;
    case X86_INS_CLD: helper(t, helper_setflag, -1, -1, -1, FL_DF); return;
    case X86_INS_STD: helper(t, helper_setflag, -1, -1, -1, FL_DF | (1ull << 32)); return;
    case X86_INS_CLI:
        helper(t, helper_cli_sti, -1, -1, -1, 0);
        return;
    case X86_INS_STI:
        helper(t, helper_cli_sti, -1, -1, -1, 1);
        exit_to(t, t->next);
        return;

    case X86_INS_CBW: case X86_INS_CWDE: {
        unsigned half = t->osz / 2;
        int v = getr(t, R_EAX, half, false);
        setr(t, R_EAX, t->osz, false, unop(t, IR_SEXT, half, v));
        return;
    }
    case X86_INS_CWD: case X86_INS_CDQ: {
        int v = getr(t, R_EAX, t->osz, false);
        int s = unop(t, IR_SEXT, t->osz, v);
        setr(t, R_EDX, t->osz, false, helper(t, helper_high_half, s, -1, -1, t->osz));
        return;
    }

    case X86_INS_JMP: {
        Loc d = loc(t, 0);
        if (d.kind == LOC_IMM) {
            exit_to(t, d.imm);
        } else {
            d.size = t->osz;
            exit_ind(t, rd(t, &d));
        }
        return;
    }
    case X86_INS_CALL: {
        Loc d = loc(t, 0);
        int ret = movi(t, t->next & t->eip_mask);
        IrOp *x;
        if (d.kind == LOC_IMM) {
            push(t, ret, t->osz);
            x = exit_to(t, d.imm);
        } else {
            d.size = t->osz;
            int target = rd(t, &d);
            push(t, ret, t->osz);
            x = exit_ind(t, target);
        }
        x->aux = IR_EXIT_CALL;
        x->ret_eip = t->next & t->eip_mask;
        return;
    }
    case X86_INS_RET: {
        int nsp;
        int v = peek(t, t->osz, 0, &nsp);
        if (t->x->op_count == 1)
            nsp = addi(t, t->ssz, nsp, t->x->operands[0].imm & 0xffff);
        setr(t, R_ESP, t->ssz, false, nsp);
        exit_ind(t, v)->aux = IR_EXIT_RET;
        return;
    }
    case X86_INS_LJMP: case X86_INS_LCALL: {
        int sel, off;
        if (t->x->op_count == 2) {
            sel = movi(t, t->x->operands[0].imm & 0xffff);
            off = movi(t, t->x->operands[1].imm & mask_of(t->osz));
        } else {
            far_mem(t, &sel, &off);
        }
        int r = helper(t, id == X86_INS_LJMP ? helper_ljmp : helper_lcall, sel, off,
                       movi(t, t->next & t->eip_mask), t->osz);
        exit_ind(t, r);
        return;
    }
    case X86_INS_RETF: {
        uint64_t n = t->x->op_count == 1 ? (t->x->operands[0].imm & 0xffff) : 0;
        exit_ind(t, helper(t, helper_retf, -1, -1, -1, t->osz | (n << 8)));
        return;
    }
    case X86_INS_IRET: case X86_INS_IRETD:
        exit_ind(t, helper(t, helper_iret, movi(t, t->next & t->eip_mask), -1, -1, t->osz));
        return;
    case X86_INS_INT: case X86_INS_INT3: case X86_INS_INTO: case X86_INS_INT1: {
        uint64_t vec = id == X86_INS_INT ? (t->x->operands[0].imm & 0xff)
                       : id == X86_INS_INT3 ? 3 : id == X86_INS_INTO ? 4 : 1;
        uint64_t kind = id == X86_INS_INT ? 0 : id == X86_INS_INT3 ? 1 : id == X86_INS_INTO ? 2 : 3;
        exit_ind(t, helper(t, helper_int, movi(t, t->next & t->eip_mask), -1, -1,
                           vec | (kind << 8)));
        return;
    }
    case X86_INS_LOOP: case X86_INS_LOOPE: case X86_INS_LOOPNE: {
        int cx = getr(t, R_ECX, t->asz, false);
        int ncx = addi(t, t->asz, cx, (uint64_t)-1);
        setr(t, R_ECX, t->asz, false, ncx);
        int go;
        if (id == X86_INS_LOOP) {
            go = ncx;
        } else {
            int z = cond(t, id == X86_INS_LOOPE ? CC_E : CC_NE);
            int zero = movi(t, 0);
            go = select_(t, ncx, z, zero);
        }
        exit_cond(t, go, t->x->operands[0].imm);
        exit_to(t, t->next);
        return;
    }
    case X86_INS_JCXZ: case X86_INS_JECXZ: {
        int cx = getr(t, R_ECX, t->asz, false);
        int zero = movi(t, 0), one = movi(t, 1);
        exit_cond(t, select_(t, cx, zero, one), t->x->operands[0].imm);
        exit_to(t, t->next);
        return;
    }

    case X86_INS_BT: case X86_INS_BTS: case X86_INS_BTR: case X86_INS_BTC: {
        int mode = id == X86_INS_BT ? 0 : id == X86_INS_BTS ? 1 : id == X86_INS_BTR ? 2 : 3;
        Loc d = loc(t, 0), s = loc(t, 1);
        if (s.kind == LOC_IMM)
            s.size = 1;
        int bit = rd(t, &s);
        if (d.kind == LOC_MEM && s.kind == LOC_REG) {
            /* a register bit offset reaches outside the operand: signed, in operand units */
            int sb = unop(t, IR_SEXT, s.size, bit);
            int adj = helper(t, helper_bt_disp, sb, -1, -1, d.size);
            d.addr = bin(t, IR_ADD, t->asz, d.addr, adj);
        }
        int v = rd(t, &d);
        int r = helper(t, helper_bt, v, bit, -1, d.size | (mode << 8));
        if (mode)
            wr(t, &d, r);
        return;
    }
    /* F3 0F BC/BD are TZCNT/LZCNT only with BMI1/LZCNT, which the CPUID model does not offer:
     * without them the CPU ignores the prefix and runs BSF/BSR (Linux's __ffs uses "rep bsf") */
    case X86_INS_BSF: case X86_INS_BSR: case X86_INS_TZCNT: case X86_INS_LZCNT: {
        Loc d = loc(t, 0), s = loc(t, 1);
        int v = rd(t, &s), old = rd(t, &d);
        bool rev = id == X86_INS_BSR || id == X86_INS_LZCNT;
        wr(t, &d, helper(t, helper_bsf, v, old, -1, d.size | (rev ? 0x100 : 0)));
        return;
    }
    case X86_INS_SHLD: case X86_INS_SHRD: {
        Loc d = loc(t, 0), s = loc(t, 1), n = loc(t, 2);
        n.size = 1;
        int a = rd(t, &d), b = rd(t, &s), cnt = rd(t, &n);
        wr(t, &d, helper(t, helper_shld, a, b, cnt, d.size | (id == X86_INS_SHRD ? 0x100 : 0)));
        return;
    }

    case X86_INS_LEAVE: {
        int bp = getr(t, R_EBP, t->ssz, false);
        int v = ld(t, S_SS, bp, t->osz);
        int nsp = addi(t, t->ssz, bp, t->osz);
        setr(t, R_ESP, t->ssz, false, nsp);
        setr(t, R_EBP, t->osz, false, v);
        return;
    }
    case X86_INS_ENTER:
        helper(t, helper_enter, -1, -1, -1,
               (t->x->operands[0].imm & 0xffff) | ((t->x->operands[1].imm & 0x1f) << 16) |
                   ((uint64_t)t->osz << 24));
        return;

    case X86_INS_LES: tr_load_far(t, S_ES); return;
    case X86_INS_LDS: tr_load_far(t, S_DS); return;
    case X86_INS_LSS: tr_load_far(t, S_SS); return;
    case X86_INS_LFS: tr_load_far(t, S_FS); return;
    case X86_INS_LGS: tr_load_far(t, S_GS); return;

    case X86_INS_BOUND: {
        if (t->x->op_count < 2 || t->x->operands[1].type != X86_OP_MEM)
            dbt_raise(t->env, EXC_UD, 0, 0); /* register operand */
        Loc r = loc(t, 0), m = loc(t, 1);
        int idx = getr(t, r.reg, t->osz, false);
        int lo = ld(t, m.seg, m.addr, t->osz);
        int hi = ld(t, m.seg, addi(t, t->asz, m.addr, t->osz), t->osz);
        helper(t, helper_bound, idx, lo, hi, t->osz);
        return;
    }

    /* BCD adjusts: the helper reads and writes AX and the flags itself. AAM/AAD take their
     * base from the byte after the opcode (Capstone omits the usual 10). */
    case X86_INS_DAA: helper(t, helper_bcd, -1, -1, -1, BCD_DAA); return;
    case X86_INS_DAS: helper(t, helper_bcd, -1, -1, -1, BCD_DAS); return;
    case X86_INS_AAA: helper(t, helper_bcd, -1, -1, -1, BCD_AAA); return;
    case X86_INS_AAS: helper(t, helper_bcd, -1, -1, -1, BCD_AAS); return;
    case X86_INS_AAM: helper(t, helper_bcd, -1, -1, -1, BCD_AAM | (uint64_t)t->op[1] << 8); return;
    case X86_INS_AAD: helper(t, helper_bcd, -1, -1, -1, BCD_AAD | (uint64_t)t->op[1] << 8); return;

    case X86_INS_SALC: { /* undocumented D6: AL = CF ? FF : 00 */
        int ones = movi(t, 0xff), zero = movi(t, 0);
        int cf = cond(t, CC_B);
        setr(t, R_EAX, 1, false, select_(t, cf, ones, zero));
        return;
    }

    case X86_INS_XLATB: {
        int bx = getr(t, R_EBX, t->asz, false);
        int al = getr(t, R_EAX, 1, false);
        int a = bin(t, IR_ADD, t->asz, bx, al);
        int v = ld(t, t->seg_override >= 0 ? t->seg_override : S_DS, a, 1);
        setr(t, R_EAX, 1, false, v);
        return;
    }

    case X86_INS_MOVSB: tr_string(t, STR_MOVS, 1); return;
    case X86_INS_MOVSW: tr_string(t, STR_MOVS, 2); return;
    case X86_INS_MOVSD:
        if (!is_string_movs_cmps(t))
            unsupported(t, "SSE2");
        tr_string(t, STR_MOVS, 4);
        return;
    case X86_INS_CMPSB: tr_string(t, STR_CMPS, 1); return;
    case X86_INS_CMPSW: tr_string(t, STR_CMPS, 2); return;
    case X86_INS_CMPSD:
        if (!is_string_movs_cmps(t))
            unsupported(t, "SSE2");
        tr_string(t, STR_CMPS, 4);
        return;
    case X86_INS_STOSB: tr_string(t, STR_STOS, 1); return;
    case X86_INS_STOSW: tr_string(t, STR_STOS, 2); return;
    case X86_INS_STOSD: tr_string(t, STR_STOS, 4); return;
    case X86_INS_LODSB: tr_string(t, STR_LODS, 1); return;
    case X86_INS_LODSW: tr_string(t, STR_LODS, 2); return;
    case X86_INS_LODSD: tr_string(t, STR_LODS, 4); return;
    case X86_INS_SCASB: tr_string(t, STR_SCAS, 1); return;
    case X86_INS_SCASW: tr_string(t, STR_SCAS, 2); return;
    case X86_INS_SCASD: tr_string(t, STR_SCAS, 4); return;
    case X86_INS_INSB: tr_string(t, STR_INS, 1); return;
    case X86_INS_INSW: tr_string(t, STR_INS, 2); return;
    case X86_INS_INSD: tr_string(t, STR_INS, 4); return;
    case X86_INS_OUTSB: tr_string(t, STR_OUTS, 1); return;
    case X86_INS_OUTSW: tr_string(t, STR_OUTS, 2); return;
    case X86_INS_OUTSD: tr_string(t, STR_OUTS, 4); return;

    case X86_INS_IN: {
        Loc d = loc(t, 0), p = loc(t, 1);
        int port = p.kind == LOC_IMM ? movi(t, p.imm & 0xff) : getr(t, R_EDX, 2, false);
        int v = helper(t, helper_in, port, -1, -1, d.size);
        setr(t, R_EAX, d.size, false, v);
        return;
    }
    case X86_INS_OUT: {
        Loc p = loc(t, 0), s = loc(t, 1);
        int port = p.kind == LOC_IMM ? movi(t, p.imm & 0xff) : getr(t, R_EDX, 2, false);
        int v = getr(t, R_EAX, s.size, false);
        helper(t, helper_out, port, v, -1, s.size);
        /* a device may have asked the machine to stop (exit device, reset) */
        exit_to(t, t->next);
        return;
    }
    case X86_INS_HLT:
        helper(t, helper_hlt, -1, -1, -1, 0);
        exit_to(t, t->next);
        return;
    case X86_INS_CPUID:
        helper(t, helper_cpuid, -1, -1, -1, 0);
        return;
    case X86_INS_RDTSC:
        helper(t, helper_rdtsc, -1, -1, -1, 0);
        return;
    case X86_INS_UD2: case X86_INS_UD2B: case X86_INS_UD0:
        dbt_raise(t->env, EXC_UD, 0, 0);

    case X86_INS_LGDT: case X86_INS_LIDT: case X86_INS_SGDT: case X86_INS_SIDT: {
        Loc m = loc(t, 0);
        if (m.kind != LOC_MEM)
            dbt_raise(t->env, EXC_UD, 0, 0);
        unsigned which = id == X86_INS_LGDT ? 0 : id == X86_INS_LIDT ? 1 : id == X86_INS_SGDT ? 2 : 3;
        helper(t, helper_desc_table, m.addr, -1, -1, which | (t->osz << 8) | ((uint64_t)m.seg << 16));
        return;
    }
    case X86_INS_CLTS:
        helper(t, helper_clts, -1, -1, -1, 0);
        return;
    case X86_INS_ARPL: case X86_INS_LAR: case X86_INS_LSL: case X86_INS_VERR:
    case X86_INS_VERW: case X86_INS_SLDT: case X86_INS_STR: case X86_INS_LLDT:
    case X86_INS_LTR:
        /* protected-mode only: not recognized in real and virtual-8086 mode (SDM: #UD) */
        if (!t->pm)
            dbt_raise(t->env, EXC_UD, 0, 0);
        tr_descriptor_insn(t, id);
        return;
    case X86_INS_RDMSR:
        helper(t, helper_rdmsr, -1, -1, -1, 0);
        return;
    case X86_INS_WRMSR:
        helper(t, helper_wrmsr, -1, -1, -1, 0);
        exit_to(t, t->next); /* EFER.NXE and the like change translation */
        return;
    case X86_INS_SYSENTER: case X86_INS_SYSEXIT:
        exit_ind(t, helper(t, helper_sysenter, -1, -1, -1, id == X86_INS_SYSEXIT));
        return;
    case X86_INS_INVD: case X86_INS_WBINVD:
        helper(t, helper_priv_check, -1, -1, -1, 0);
        return;
    case X86_INS_INVLPG: {
        Loc m = loc(t, 0);
        helper(t, helper_invlpg, m.addr, -1, -1, m.seg);
        return;
    }
    case X86_INS_LMSW: {
        Loc s = loc(t, 0);
        s.size = 2;
        helper(t, helper_lmsw, rd(t, &s), -1, -1, 0);
        exit_to(t, t->next);
        return;
    }
    case X86_INS_SMSW: {
        Loc d = loc(t, 0);
        int v = helper(t, helper_mov_from_cr, -1, -1, -1, 0x100);
        if (d.kind != LOC_REG)
            d.size = 2;
        wr(t, &d, v);
        return;
    }
    default:
        break;
    }

    /* VEX (C4/C5), EVEX (62) and XOP (8F) encodings: the CPU model has none of AVX, AVX-512
     * or XOP, so they are #UD as on the parts it models */
    if (t->op[0] == 0xc4 || t->op[0] == 0xc5 || t->op[0] == 0x62 || t->op[0] == 0x8f)
        dbt_raise(t->env, EXC_UD, 0, 0);

    c = cc_of(id);
    if (c >= 0) {
        switch (in->bytes[t->op - in->bytes] == 0x0f ? t->op[1] & 0xf0 : t->op[0] & 0xf0) {
        case 0x70: case 0x80: /* Jcc */
            if (if_convert(t, c))
                return;
            exit_cond(t, cond(t, c), t->x->operands[0].imm);
            exit_to(t, t->next);
            return;
        case 0x90: { /* SETcc */
            Loc d = loc(t, 0);
            d.size = 1;
            wr(t, &d, cond(t, c));
            return;
        }
        case 0x40: { /* CMOVcc: the source is read (and may fault) whatever the condition */
            Loc d = loc(t, 0), s = loc(t, 1);
            int v = rd(t, &s), old = rd(t, &d);
            int take = cond(t, c);
            wr(t, &d, select_(t, take, v, old));
            return;
        }
        }
    }
    unsupported(t, NULL);
}

/* ---- blocks ---- */

/* Capstone 4 sorts a process-wide table (X86_insn_reg_intel's) lazily, without a lock, the
 * first time it decodes an instruction with an implicit accumulator operand: two threads
 * decoding their first such instruction at once corrupt it, and then e.g. "push es" decodes
 * without operands (capstone-engine/capstone#1358). Decode one such instruction once per
 * process, before any handle of ours is used. */
static void capstone_warm_up(csh h)
{
    static gsize done;
    if (g_once_init_enter(&done)) {
        static const uint8_t add_al[] = {0x04, 0x01}; /* add al, 1 */
        cs_insn *in = NULL;
        size_t n = cs_disasm(h, add_al, sizeof(add_al), 0, 1, &in);
        if (n)
            cs_free(in, n);
        g_once_init_leave(&done, 1);
    }
}

bool dbt_translate_init(DbtCpu *env)
{
    csh h16, h32;
    if (cs_open(CS_ARCH_X86, CS_MODE_16, &h16) != CS_ERR_OK)
        return false;
    if (cs_open(CS_ARCH_X86, CS_MODE_32, &h32) != CS_ERR_OK) {
        cs_close(&h16);
        return false;
    }
    cs_option(h16, CS_OPT_DETAIL, CS_OPT_ON);
    cs_option(h32, CS_OPT_DETAIL, CS_OPT_ON);
    capstone_warm_up(h16);
    env->cs16 = g_memdup2(&h16, sizeof(h16));
    env->cs32 = g_memdup2(&h32, sizeof(h32));
    return true;
}

void dbt_translate_fini(DbtCpu *env)
{
    if (env->cs16) {
        cs_close((csh *)env->cs16);
        g_free(env->cs16);
    }
    if (env->cs32) {
        cs_close((csh *)env->cs32);
        g_free(env->cs32);
    }
    env->cs16 = env->cs32 = NULL;
}

void dbt_block_free(Block *b)
{
    if (!b)
        return;
    g_free(b->ops);
    g_free(b);
}

static int seg_of_prefix(uint8_t p)
{
    switch (p) {
    case 0x26: return S_ES;
    case 0x2e: return S_CS;
    case 0x36: return S_SS;
    case 0x3e: return S_DS;
    case 0x64: return S_FS;
    case 0x65: return S_GS;
    default: return -1;
    }
}

/* Whether linear address lin can be fetched from, without raising. */
static bool code_mapped(DbtCpu *env, uint64_t lin)
{
    jmp_buf *saved = env->unwind;
    jmp_buf jb;
    volatile bool ok = true;
    env->unwind = &jb;
    if (setjmp(jb))
        ok = false;
    else
        (void)dbt_code_phys(env, lin);
    env->unwind = saved;
    env->pending_exc = -1;
    return ok;
}

/* Fetch code bytes for one instruction at EIP (up to 15 bytes) through the softmmu, stopping
 * at the segment limit or before a page that is not mapped. */
static unsigned fetch(DbtCpu *env, uint64_t eip, uint8_t *buf, uint64_t eip_mask)
{
    const SegCache *cs = &env->s.seg[S_CS];
    unsigned n = 0;
    for (; n < 15; n++) {
        uint64_t off = (eip + n) & eip_mask;
        if (off > cs->limit)
            break;
        uint64_t lin = (cs->base + off) & 0xffffffffull;
        if (n > 0 && (lin & (DBT_PAGE_SIZE - 1)) == 0 && !code_mapped(env, lin))
            break;
        buf[n] = (uint8_t)dbt_ld_lin(env, lin, 1);
    }
    return n;
}

/* Set t up for instruction in at EIP eip (prefixes, sizes, the opcode bytes). */
static void tr_insn(Tr *t, const cs_insn *in, uint64_t eip)
{
    t->in = in;
    t->x = &in->detail->x86;
    t->eip = eip;
    t->next = (eip + in->size) & t->eip_mask;
    t->skipped = 0;
    bool p66 = t->x->prefix[2] == 0x66, p67 = t->x->prefix[3] == 0x67;
    t->osz = (t->code32 ^ p66) ? 4 : 2;
    t->asz = (t->code32 ^ p67) ? 4 : 2;
    t->rep = t->x->prefix[0] == 0xf3;
    t->repne = t->x->prefix[0] == 0xf2;
    t->lock = false; /* from the bytes: Capstone keeps one prefix of LOCK/REP/REPNE */
    t->seg_override = seg_of_prefix(t->x->prefix[1]);
    /* opcode bytes follow the prefixes */
    unsigned p = 0;
    while (p < in->size && (seg_of_prefix(in->bytes[p]) >= 0 || in->bytes[p] == 0x66 ||
                            in->bytes[p] == 0x67 || in->bytes[p] == 0xf0 ||
                            in->bytes[p] == 0xf2 || in->bytes[p] == 0xf3)) {
        t->lock |= in->bytes[p] == 0xf0;
        p++;
    }
    t->op = in->bytes + p;
}

/* ---- if-conversion ---- */

#define IFCONV_MAX_INSNS 4
#define IFCONV_MAX_BYTES 24

/* Operands only general registers and immediates (LEA: its address, which is not an access),
 * and no LOCK/REP prefix. */
static bool reg_only(const cs_insn *in)
{
    const cs_x86 *x = &in->detail->x86;
    if (x->prefix[0])
        return false;
    for (unsigned i = 0; i < x->op_count; i++) {
        int kind, idx;
        unsigned size;
        bool hi8;
        if (x->operands[i].type == X86_OP_IMM)
            continue;
        if (x->operands[i].type == X86_OP_MEM && in->id == X86_INS_LEA)
            continue;
        if (x->operands[i].type != X86_OP_REG ||
            !reg_info(x->operands[i].reg, &kind, &idx, &size, &hi8) || kind != LOC_REG)
            return false;
    }
    return true;
}

/* The join's instruction: it rewrites every arithmetic flag, reads none and cannot fault, so
 * the flags the skipped instructions would have left are never seen. */
static bool rewrites_flags(const cs_insn *in)
{
    switch (in->id) {
    case X86_INS_ADD: case X86_INS_SUB: case X86_INS_AND: case X86_INS_OR: case X86_INS_XOR:
    case X86_INS_CMP: case X86_INS_TEST:
        return reg_only(in) && in->detail->x86.op_count == 2;
    default:
        return false;
    }
}

/* The IR a skipped instruction may consist of: registers, flags and arithmetic only, so it
 * cannot fault, touch memory or a device, or leave the block. Sets *flags if it writes any. */
static bool ifconv_ops_ok(const IrOp *o, size_t n, bool *flags)
{
    for (size_t i = 0; i < n; i++) {
        *flags |= o[i].op == IR_ALU && o[i].aux != ALU_NOT;
        switch (o[i].op) {
        case IR_MOVI: case IR_MOV: case IR_GETR: case IR_SETR: case IR_ALU: case IR_ADD:
        case IR_SUB: case IR_ADDI: case IR_AND: case IR_SHLI: case IR_SEXT: case IR_ZEXT:
        case IR_COND: case IR_SELECT:
            break;
        default:
            return false;
        }
    }
    return true;
}

/* The IR of an if-converted Jcc (see if_convert()): the k decoded instructions ins[] at EIPs
 * at[] under a guard. Returns false, with whatever it emitted left for the caller to drop, if
 * one of them turns out to be more than register arithmetic, or writes flags when the join
 * does not rewrite them (join_rewrites). */
static bool ifconv_emit(Tr *t, int cc, cs_insn *const *ins, const uint64_t *at, unsigned k,
                        bool join_rewrites)
{
    DbtCpu *env = t->env;
    jmp_buf *saved = env->unwind, jb;
    volatile bool ok = true;
    env->unwind = &jb;
    if (setjmp(jb)) {
        ok = false;
    } else {
        bool flags = false;
        int c = cond(t, cc);
        t->guard = c;
        for (unsigned i = 0; i < k && ok; i++) {
            size_t first = t->ops->len;
            tr_insn(t, ins[i], at[i]);
            if (t->nt > IR_NTEMPS - 12)
                ok = false;
            else
                translate_one(t);
            ok = ok && !t->end &&
                 ifconv_ops_ok(&g_array_index(t->ops, IrOp, first), t->ops->len - first,
                               &flags) &&
                 (join_rewrites || !flags);
        }
        IrOp *o = emit(t, IR_ICOUNT);
        o->a = c;
        o->imm = k;
    }
    env->unwind = saved;
    if (!ok) {
        env->pending_exc = -1;
        env->error[0] = 0;
    }
    return ok;
}

/* If-conversion of a Jcc with condition cc (t set up for it). A branch forward over a few
 * instructions that only compute registers becomes straight-line code: the condition is
 * computed once, each skipped instruction always runs but its register writes become selects
 * that keep the old value when the branch is taken (setr() under t->guard), and IR_ICOUNT
 * counts them only when they ran. The flags are not selected: either the skipped
 * instructions write none (MOV, LEA, NOT, MOVZX, SETcc, CMOVcc ...), or the instruction at
 * the join rewrites them all, cannot fault, and is the next one of this block. So a
 * data-dependent guest branch costs no host branch to mispredict. Returns false, with nothing
 * emitted and t unchanged, when the branch does not qualify. */
static bool if_convert(Tr *t, int cc)
{
    DbtCpu *env = t->env;
    uint64_t mask = t->eip_mask, start = t->next;
    uint64_t target = t->x->operands[0].imm & mask, span = (target - start) & mask;
    if (t->step || t->guard >= 0 || span == 0 || span > IFCONV_MAX_BYTES)
        return false;
    uint64_t cs_base = env->s.seg[S_CS].base;
    cs_insn *ins[IFCONV_MAX_INSNS + 1] = {NULL};
    uint64_t at[IFCONV_MAX_INSNS + 1];
    unsigned k = 0;
    bool ok = false;
    /* decode the skipped instructions and the join's, all on the block's page */
    for (uint64_t e = start;; k++) {
        uint8_t buf[16];
        uint64_t lin = (cs_base + e) & 0xffffffffull;
        if ((lin & DBT_PAGE_MASK) != (t->pc & DBT_PAGE_MASK) || dbt_exec_bp_match(env, lin))
            break;
        unsigned avail = fetch(env, e, buf, mask);
        const uint8_t *code = buf;
        size_t len = avail;
        uint64_t addr = e;
        ins[k] = cs_malloc(t->h);
        if (!avail || !cs_disasm_iter(t->h, &code, &len, &addr, ins[k]))
            break;
        if (((lin + ins[k]->size - 1) & 0xffffffffull & DBT_PAGE_MASK) != (t->pc & DBT_PAGE_MASK))
            break;
        at[k] = e;
        if (e == target) {
            ok = k > 0;
            break;
        }
        if (k == IFCONV_MAX_INSNS || ((e + ins[k]->size - start) & mask) > span ||
            !reg_only(ins[k]))
            break;
        e = (e + ins[k]->size) & mask;
    }
    if (ok) {
        Tr save = *t;
        size_t mark = t->ops->len;
        ok = ifconv_emit(t, cc, ins, at, k, t->ifconv_room && rewrites_flags(ins[k]));
        int nt = t->nt;
        *t = save;
        if (ok) {
            t->nt = nt;
            t->next = target;
            t->skipped = k;
            env->st.ifconv++;
        } else {
            g_array_set_size(t->ops, mark);
        }
    }
    for (unsigned i = 0; i <= IFCONV_MAX_INSNS; i++)
        if (ins[i])
            cs_free(ins[i], 1);
    return ok;
}

Block *dbt_translate(DbtCpu *env, uint64_t pc, uint64_t phys, uint32_t mode)
{
    Tr t;
    memset(&t, 0, sizeof(t));
    t.env = env;
    t.ops = g_array_sized_new(FALSE, FALSE, sizeof(IrOp), 64);
    t.code32 = mode & MODE_CODE32;
    t.pm = (mode & MODE_PE) && !(mode & MODE_VM86);
    t.flat = mode & MODE_FLAT;
    t.eip_mask = t.code32 ? 0xffffffffull : 0xffff;
    t.ssz = (mode & MODE_STACK32) ? 4 : 2;
    csh h = *(csh *)(t.code32 ? env->cs32 : env->cs16);
    t.h = h;
    t.pc = pc;
    t.guard = -1;
    t.step = mode & MODE_STEP;
    cs_insn *in = cs_malloc(h);

    Block *b = g_new0(Block, 1);
    b->pc = pc;
    b->eip = env->s.rip;
    b->phys = phys;
    b->mode = mode;
    b->valid = 1;
    b->phys_page2 = ~0ull;
    volatile uint64_t eip = env->s.rip;
    volatile uint64_t bytes = 0;

    /* a fault while fetching the first instruction is the guest's; after that, end the block */
    /* one instruction per block when single-stepping (the run loop raises the trap after it) */
    unsigned max_insns = (mode & MODE_STEP) ? 1 : MAX_BLOCK_INSNS;
    for (volatile unsigned n = 0; n < max_insns && !t.end; n++) {
        uint8_t buf[16];
        uint64_t lin = (env->s.seg[S_CS].base + eip) & 0xffffffffull;
        if (n > 0 && ((lin ^ pc) & DBT_PAGE_MASK) && (lin & (DBT_PAGE_SIZE - 1)) == 0)
            break; /* keep blocks to the first page (and the tail of one instruction) */
        unsigned avail;
        env->cur_eip = eip;
        avail = fetch(env, eip, buf, t.eip_mask);
        if (avail == 0) {
            if (n > 0)
                break;
            g_array_free(t.ops, TRUE);
            g_free(b);
            cs_free(in, 1);
            dbt_raise(env, EXC_GP, 1, 0);
        }
        const uint8_t *code = buf;
        size_t len = avail;
        uint64_t addr = eip;
        if (!cs_disasm_iter(h, &code, &len, &addr, in)) {
            if (n > 0)
                break;
            g_array_free(t.ops, TRUE);
            g_free(b);
            cs_free(in, 1);
            env->cur_eip = eip;
            if (avail < 15)
                dbt_raise(env, EXC_GP, 1, 0); /* ran off the segment or into a hole */
            /* invalid opcode: Capstone knows no instruction here */
            dbt_raise(env, EXC_UD, 0, 0);
        }
        tr_insn(&t, in, eip);
        t.nt = 0;
        t.ifconv_room = n + 1 < max_insns;

        IrOp *io = emit(&t, IR_INSN);
        io->imm = eip;
        io->aux = in->size;
        size_t mark = t.ops->len;
        /* an enabled DR0-DR3 instruction breakpoint here: a #DB fault before it runs */
        uint32_t bp = dbt_exec_bp_match(env, lin);
        if (bp)
            helper(&t, helper_bp_check, -1, -1, -1, bp);
        /* An instruction that cannot be translated ends the block before it, so its error
         * (or exception) is raised when execution really reaches it. As the first
         * instruction it is raised now, after the block is freed. */
        jmp_buf *saved = env->unwind, jb;
        env->unwind = &jb;
        volatile bool failed = false;
        env->cur_eip = eip;
        if (setjmp(jb))
            failed = true;
        else
            translate_one(&t);
        env->unwind = saved;
        if (failed) {
            if (n == 0) {
                cs_free(in, 1);
                g_array_free(t.ops, TRUE);
                g_free(b);
                longjmp(*saved, 1);
            }
            env->pending_exc = -1;
            env->error[0] = 0;
            g_array_set_size(t.ops, mark - 1);
            t.end = false;
            break;
        }
        uint64_t last_lin = (env->s.seg[S_CS].base + eip + in->size - 1) & 0xffffffffull;
        if ((last_lin & DBT_PAGE_MASK) != (pc & DBT_PAGE_MASK))
            b->phys_page2 = dbt_code_phys(env, last_lin) & DBT_PAGE_MASK;
        bytes += (t.next - eip) & t.eip_mask; /* an if-converted branch: and what it skips */
        b->ninsns += 1 + t.skipped;
        eip = t.next;
    }
    if (!t.end)
        exit_to(&t, eip);
    cs_free(in, 1);
    b->phys_end = phys + bytes;
    b->nops = t.ops->len;
    b->ops = (IrOp *)g_array_free(t.ops, FALSE);
    env->st.guest_bytes_translated += bytes;
    env->st.ir_ops += b->nops;
    return b;
}
