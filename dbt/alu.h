/* dbt/alu.h: x86 integer ALU semantics with lazy condition codes.
 *
 * The translator's IR does its arithmetic through these functions, so they are the one place
 * where x86 results and EFLAGS are defined. A flag-setting op records (op, size, dst, src1, src2)
 * in CcState; the six arithmetic flags (CF PF AF ZF SF OF) are computed only when something reads
 * them (cc_eflags, cc_cond). Operations that leave some flags unchanged (INC/DEC keep CF, shifts
 * by zero keep everything, rotates keep SF ZF AF PF) fold the old flags in as needed.
 *
 * Sizes are 1, 2, 4 or 8 bytes; operands are given zero-extended and results come back
 * zero-extended to 64 bits. Flags that Intel documents as undefined get the value a current
 * Intel/AMD core gives (the unit tests check against the host CPU).
 */
#ifndef DUALVM_DBT_ALU_H
#define DUALVM_DBT_ALU_H

#include <stdbool.h>
#include <stdint.h>

typedef enum AluOp {
    ALU_ADD, ALU_OR, ALU_ADC, ALU_SBB, ALU_AND, ALU_SUB, ALU_XOR, ALU_CMP, /* x86 /0../7 order */
    ALU_INC, ALU_DEC, ALU_NEG, ALU_NOT, ALU_TEST,
    ALU_ROL, ALU_ROR, ALU_RCL, ALU_RCR, ALU_SHL, ALU_SHR, ALU_SAL, ALU_SAR, /* /0../7 order */
    ALU_NR_OPS
} AluOp;

typedef struct CcState {
    uint32_t op;  /* lazy-op code: CC_OP_* below */
    uint32_t size;
    uint64_t dst, src1, src2;
} CcState;

/* What CcState.op records, for host-code back ends that record flags inline exactly as alu.c does
 * (dbt/jit_x86_64.c). EFLAGS: src1 = the flags; ADD/SUB: dst = src1 op src2 (SUB also for CMP and
 * NEG as 0 - x); ADC/SBB: the same with the carry-in implied by dst; LOGIC: dst, src1 = src2 = 0;
 * INC/DEC: dst = src1 +/- 1, src2 = the preserved CF; SHL/SHR: dst, src1 = the operand shifted by
 * count - 1 (SAR too, as a signed 64-bit value), src2 = 0. All values zero-extended from size. */
enum { CC_OP_EFLAGS, CC_OP_ADD, CC_OP_ADC, CC_OP_SUB, CC_OP_SBB, CC_OP_LOGIC, CC_OP_INC, CC_OP_DEC,
       CC_OP_SHL, CC_OP_SHR };

/* x86 condition codes, in opcode order (jo=0 ... jg=15) */
enum { CC_O, CC_NO, CC_B, CC_AE, CC_E, CC_NE, CC_BE, CC_A, CC_S, CC_NS, CC_P, CC_NP, CC_L, CC_GE,
       CC_LE, CC_G };

/* Run op on a and b (b unused for INC/DEC/NEG/NOT; the shift count for shifts and rotates,
 * masked as the CPU does). Returns the result; updates cc unless op is ALU_NOT. For ALU_CMP
 * and ALU_TEST the return value is the would-be result, which the caller discards. */
uint64_t alu_exec(AluOp op, unsigned size, uint64_t a, uint64_t b, CcState *cc);

/* MUL/IMUL with a double-width result: lo and *hi. imul=true for signed. CF=OF=(hi significant). */
uint64_t alu_mul(bool imul, unsigned size, uint64_t a, uint64_t b, uint64_t *hi, CcState *cc);
/* Two/three-operand IMUL (truncated result, CF=OF=overflow). */
uint64_t alu_imul_trunc(unsigned size, uint64_t a, uint64_t b, CcState *cc);
/* DIV/IDIV of hi:lo by d. Returns false for #DE (divide by zero or quotient overflow), leaving
 * *q and *r alone. Flags are undefined after division; cc is left as is (see cc_div). */
bool alu_div(bool idiv, unsigned size, uint64_t hi, uint64_t lo, uint64_t d, uint64_t *q,
             uint64_t *r);
/* The flags a completed DIV/IDIV leaves (all undefined; this gives the host-matching values).
 * Call after alu_div returns true. */
void cc_div(CcState *cc);
/* SHLD/SHRD: shift a by count, filling from b. */
uint64_t alu_shld(bool right, unsigned size, uint64_t a, uint64_t b, unsigned count, CcState *cc);
/* BSF/BSR: returns false (ZF=1, destination unchanged) when src is 0. */
bool alu_bsf(bool reverse, unsigned size, uint64_t src, uint64_t *out, CcState *cc);
/* BT/BTS/BTR/BTC on a register-sized value: mode 0=bt 1=bts 2=btr 3=btc. CF = old bit. */
uint64_t alu_bt(int mode, unsigned size, uint64_t a, uint64_t bit, CcState *cc);

/* The six arithmetic flags as EFLAGS bits. */
uint32_t cc_eflags(const CcState *cc);
/* The carry flag alone (cheaper). */
bool cc_carry(const CcState *cc);
/* Evaluate an x86 condition code (CC_O..CC_G). */
bool cc_cond(const CcState *cc, int cond);
/* Make the flags explicit (popf, sahf, iret, loaders). Only the arithmetic bits are kept. */
void cc_set_eflags(CcState *cc, uint32_t eflags);

/* BCD adjust and the like are helper-level; they use these to read/write flags. */
#endif
