/* dbt/helpers.h: C helpers called from IR (IR_HELPER) for instructions too complex or too rare
 * for inline IR. Each follows IrHelper's signature; the imm argument packs the instruction's
 * static details (sizes, segment, variant) as the translator documents at each call. */
#ifndef DUALVM_DBT_HELPERS_H
#define DUALVM_DBT_HELPERS_H

#include "dbt/ir.h"

enum { STR_MOVS, STR_CMPS, STR_STOS, STR_LODS, STR_SCAS, STR_INS, STR_OUTS };
enum { BCD_DAA, BCD_DAS, BCD_AAA, BCD_AAS, BCD_AAM, BCD_AAD };

#define H(name) uint64_t name(DbtCpu *env, uint64_t a, uint64_t b, uint64_t c, uint64_t imm)
H(helper_mul);
H(helper_div);
H(helper_imul2);
H(helper_string);
H(helper_mov_to_cr);
H(helper_mov_from_cr);
H(helper_mov_to_dr);
H(helper_mov_from_dr);
H(helper_load_seg);
H(helper_irq_inhibit);
H(helper_cmpxchg8b);
H(helper_bswap);
H(helper_pusha);
H(helper_popa);
H(helper_pushf);
H(helper_popf);
H(helper_sahf);
H(helper_setflag);
H(helper_cli_sti);
H(helper_high_half);
H(helper_ljmp);
H(helper_lcall);
H(helper_retf);
H(helper_iret);
H(helper_int);
H(helper_bound);
H(helper_bcd);
H(helper_bt_disp);
H(helper_bt);
H(helper_bsf);
H(helper_shld);
H(helper_enter);
H(helper_in);
H(helper_out);
H(helper_hlt);
H(helper_cpuid);
H(helper_rdtsc);
H(helper_desc_table);
H(helper_clts);
H(helper_priv_check);
H(helper_invlpg);
H(helper_lmsw);
H(helper_lar_lsl);
H(helper_verr_verw);
H(helper_lldt_ltr);
H(helper_sldt_str);
H(helper_arpl);
H(helper_rdmsr);
H(helper_wrmsr);
H(helper_sysenter);
H(helper_bp_check);
#undef H

#endif
