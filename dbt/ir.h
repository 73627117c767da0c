/* dbt/ir.h: the translator's intermediate representation.
 *
 * A block is a flat array of three-address micro-ops over temporaries t[0..IR_NTEMPS). Temps
 * do not live across guest instructions, so a translator may reuse them per instruction.
 * Guest registers are read and written only by GETR/SETR, guest memory only by LD/ST (which go
 * through the softmmu and may raise), flags only through ALU/ALU-like ops and helpers. Every
 * guest instruction starts with an INSN op carrying its EIP, which is what makes exceptions
 * precise (only instructions that cannot fault run without one: those an if-converted branch
 * skips, counted by ICOUNT). A block ends with EXIT (constant next EIP) or EXIT_IND (computed),
 * possibly after EXIT_COND ops. The interpreter (dbt/interp.c) and any host-code back end must
 * agree on this meaning exactly.
 */
#ifndef DUALVM_DBT_IR_H
#define DUALVM_DBT_IR_H

#include <stdint.h>

#include "dbt/dbt.h"

#define IR_NTEMPS 32

typedef enum IrOpcode {
    IR_INSN,      /* imm = EIP of the guest instruction; aux = its length */
    IR_MOVI,      /* t[d] = imm */
    IR_MOV,       /* t[d] = t[a] */
    IR_GETR,      /* t[d] = reg aux (size bytes; aux|IR_HI8 = AH..BH), zero-extended */
    IR_SETR,      /* reg aux = t[a] (size 1/2 merge, 4 zero-extends as x86-64 does, 8 whole) */
    IR_GETSEG,    /* t[d] = segment aux selector */
    IR_LD,        /* t[d] = mem[seg aux : t[a]] (size) */
    IR_ST,        /* mem[seg aux : t[a]] = t[b] (size) */
    IR_ALU,       /* t[d] = alu_exec(aux, size, t[a], t[b], &cc) */
    IR_ADD,       /* t[d] = (t[a] + t[b]) masked to size; no flags */
    IR_SUB,       /* t[d] = (t[a] - t[b]) masked to size; no flags */
    IR_ADDI,      /* t[d] = (t[a] + imm) masked to size; no flags */
    IR_AND,       /* t[d] = t[a] & t[b] */
    IR_SHLI,      /* t[d] = t[a] << imm (masked to size) */
    IR_SEXT,      /* t[d] = sign-extend t[a] from size bytes to 64 bits */
    IR_ZEXT,      /* t[d] = t[a] masked to size */
    IR_COND,      /* t[d] = cc_cond(aux) */
    IR_SELECT,    /* t[d] = t[c] ? t[a] : t[b] */
    IR_HELPER,    /* t[d] = ((IrHelper)ptr)(env, t[a], t[b], t[c], imm) */
    IR_EXIT_COND, /* if t[a]: EIP = imm, leave the block */
    IR_EXIT,      /* EIP = imm, leave the block (aux: IR_EXIT_CALL) */
    IR_EXIT_IND,  /* EIP = t[a], leave (aux: IR_EXIT_CALL, IR_EXIT_RET) */
    IR_ICOUNT,    /* instructions an if-converted branch skips: st.insns += t[a] ? 0 : imm */
    IR_NR_OPS
} IrOpcode;

#define IR_HI8 0x100 /* GETR/SETR aux flag: the high byte (AH, CH, DH, BH) */
/* EXIT / EXIT_IND aux flags: hints for a back end's return prediction, which must stay exact
 * whatever they say (the interpreter ignores them). CALL: a near call that pushed ret_eip;
 * RET: a near return (EIP is the value it popped). */
#define IR_EXIT_CALL 0x1
#define IR_EXIT_RET 0x2

typedef uint64_t (*IrHelper)(DbtCpu *env, uint64_t a, uint64_t b, uint64_t c, uint64_t imm);

typedef struct IrOp {
    uint8_t op;
    uint8_t size;
    uint8_t d, a, b, c;
    uint16_t aux;
    union {
        uint64_t imm;
    };
    union {
        IrHelper fn;      /* HELPER */
        uint64_t ret_eip; /* EXIT / EXIT_IND with IR_EXIT_CALL */
    };
} IrOp;

/* What a block's exit asks of the run loop. */
enum { BLOCK_EXIT_NEXT = 0, BLOCK_EXIT_STOP = 1 };

struct Block {
    uint64_t pc;         /* linear address of the first instruction (CS base + EIP) */
    uint64_t eip;        /* EIP of the first instruction */
    uint64_t phys;       /* physical address of the first byte */
    uint64_t phys_end;   /* physical address past the last byte (may be on the next page) */
    uint64_t phys_page2; /* second physical page if the block crosses one, else -1 */
    uint32_t mode;
    uint32_t ninsns;
    uint32_t nops;
    int valid;
    uint32_t runs; /* times found by the run loop while not compiled */
    uint64_t cs_base;
    IrOp *ops;
    void *host_code;      /* compiled entry (dbt/jit.h), NULL: the interpreter runs it */
    struct JitBlock *jit; /* the back end's bookkeeping: exit slots, incoming chain links */
};

/* Run one block; returns after its exit op (EIP set) or an exception unwound past it. */
void dbt_interp(DbtCpu *env, const Block *b);

#endif
