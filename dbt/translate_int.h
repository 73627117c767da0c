/* dbt/translate_int.h: what dbt/translate.c asks of the instruction-group decoders beside it.
 *
 * A group decoder looks at an instruction's opcode bytes and says which helper call runs it;
 * translate.c emits the call (and the memory operand's effective address) with its own IR
 * emitters, so the decoders need nothing of its internals.
 */
#ifndef DUALVM_DBT_TRANSLATE_INT_H
#define DUALVM_DBT_TRANSLATE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "dbt/ir.h"

typedef struct TrCall {
    IrHelper fn;  /* the helper: first argument the memory operand's offset if mem */
    uint64_t imm; /* its imm; the caller ORs in seg << TR_CALL_SEG_SHIFT when mem */
    bool mem;     /* the instruction has a memory operand */
} TrCall;

#define TR_CALL_SEG_SHIFT 16

/* x87 (D8-DF), WAIT (9B), FXSAVE/FXRSTOR (0F AE /0 /1) in dbt/translate_x87.c. op: the
 * opcode bytes after the prefixes (len of them available); osz, asz: operand and address
 * size in bytes. Returns false if op is none of these (or an encoding of 0F AE that is not
 * FXSAVE/FXRSTOR). */
bool dbt_translate_x87(const uint8_t *op, unsigned len, unsigned osz, unsigned asz, TrCall *out);

#endif
