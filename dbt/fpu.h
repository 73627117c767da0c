/* dbt/fpu.h: the translator's x87 FPU (and FXSAVE/FXRSTOR).
 *
 * State. Everything lives in CpuState (cpu/cpu.h), in the convention the KVM engine shares:
 *   fpr[i]   ST(i), in stack order (not physical register order), 80 bits as mant + sexp;
 *   ftw      the full tag word (2 bits per physical register: 0 valid, 1 zero, 2 special,
 *            3 empty); a non-empty tag always agrees with its register's contents;
 *   fsw      status word with TOP in bits 11-13; ES and B are kept equal to "an exception
 *            flag is set whose mask bit is clear" after every change of FSW or FCW;
 *   fcw      control word: exception masks, precision control (24/53/64 bits), rounding;
 *   fip/fdp  offset of the last non-control instruction and of its memory operand, with the
 *            CS and data segment selectors in bits 32-47 (the 32-bit FXSAVE layout);
 *   fop      its 11-bit opcode (low 3 bits of the first byte, then the ModR/M byte).
 *
 * Arithmetic. Every numeric operation runs on the host's own x87, loaded with the guest's
 * control word and the guest operands as 80-bit values, so results, rounding under every
 * RC/PC, the exception flags, C0-C3 and what an unmasked exception leaves behind are what an
 * x87 gives; stack faults run with the whole guest stack on the host, so even their responses
 * are the host's (dbt/fpu.c). TOP, tags and the data movement are done in C. The host's own x87
 * control word is restored after each operation and no guest setting is ever visible to the
 * host's C code. This needs an x86-64 host: on others every x87 instruction stops the guest
 * with "x87 emulation needs an x86 host for now" (FXSAVE/FXRSTOR and FWAIT still work).
 *
 * Exceptions. An unmasked exception sets ES/B; the next waiting x87 instruction (every one
 * but FNINIT FNCLEX FNSTSW FNSTCW FNSTENV FNSAVE, and FWAIT itself) then, with CR0.NE=1,
 * raises #MF; with CR0.NE=0 it asserts FERR# (Machine.ferr, IRQ 13 on a PC) and, unless the
 * board asserts IGNNE# (Machine.ignne, set by a write to port 0xF0), freezes at that
 * instruction until an interrupt comes, as a 486 or later does in MS-DOS compatibility mode.
 * #NM: CR0.EM or CR0.TS for x87 instructions, CR0.TS with CR0.MP for WAIT; FXSAVE/FXRSTOR
 * raise #UD with CR0.EM.
 */
#ifndef DUALVM_DBT_FPU_H
#define DUALVM_DBT_FPU_H

#include <stdbool.h>
#include <stdint.h>

#include "dbt/dbt.h"

/* FSW bits */
#define FSW_IE 0x0001
#define FSW_DE 0x0002
#define FSW_ZE 0x0004
#define FSW_OE 0x0008
#define FSW_UE 0x0010
#define FSW_PE 0x0020
#define FSW_SF 0x0040
#define FSW_ES 0x0080
#define FSW_C0 0x0100
#define FSW_C1 0x0200
#define FSW_C2 0x0400
#define FSW_TOP_SHIFT 11
#define FSW_TOP 0x3800
#define FSW_C3 0x4000
#define FSW_B 0x8000
#define FSW_EXC 0x003f /* IE DE ZE OE UE PE: the maskable exception flags */
#define FSW_CC (FSW_C0 | FSW_C1 | FSW_C2 | FSW_C3)

/* FCW bits */
#define FCW_EXC_MASK 0x003f /* IM DM ZM OM UM PM */
#define FCW_PC_SHIFT 8
#define FCW_RC_SHIFT 10
#define FCW_INIT 0x037f

#define FTW_EMPTY 3

/* imm of helper_x87: fop | X87_MEM | seg << X87_SEG_SHIFT | X87_O32 | X87_A32, with the
 * memory operand's effective address (offset in its segment) as the first argument. */
#define X87_FOP_MASK 0x7ff
#define X87_MEM (1u << 11)
#define X87_O32 (1u << 12)
#define X87_A32 (1u << 13)
#define X87_SEG_SHIFT 16

/* x87 instruction D8-DF (the whole of it but prefixes and FWAIT). */
uint64_t helper_x87(DbtCpu *env, uint64_t ea, uint64_t b, uint64_t c, uint64_t imm);
/* WAIT/FWAIT (9B). */
uint64_t helper_fwait(DbtCpu *env, uint64_t a, uint64_t b, uint64_t c, uint64_t imm);
/* FXSAVE / FXRSTOR (imm has X87_FXRSTOR): 0F AE /0 and /1; imm also has the segment and
 * X87_A32 as for helper_x87. */
#define X87_FXRSTOR (1u << 8)
uint64_t helper_fxsave(DbtCpu *env, uint64_t ea, uint64_t b, uint64_t c, uint64_t imm);

/* FNINIT on a CpuState (also what FSAVE leaves). */
void fpu_init_state(CpuState *s);
/* The tag (0 valid, 1 zero, 2 special) the FPU gives a register's contents. */
unsigned fpu_tag_of(const FpReg *r);
/* Whether the x87 can run here (an x86-64 host). */
bool fpu_host_supported(void);

#endif
