/* x87, WAIT and FXSAVE/FXRSTOR decoding for the translator (dbt/translate_int.h).
 *
 * Every x87 instruction is one helper call into dbt/fpu.c: the 11-bit opcode (what FOP
 * records: the low three bits of the first byte and the ModR/M byte), the operand and address
 * sizes, and, for memory forms, the segment and the effective address. The helper does the
 * #NM and pending-exception checks at run time, since CR0 and the FPU state are not part of a
 * block's key. Semantics come from the raw opcode bytes, not from Capstone's names, which mix
 * up the DC/DE subtract and divide forms as assemblers do.
 */
#include "dbt/fpu.h"
#include "dbt/translate_int.h"

_Static_assert(TR_CALL_SEG_SHIFT == X87_SEG_SHIFT, "one segment field for the x87 helpers");

bool dbt_translate_x87(const uint8_t *op, unsigned len, unsigned osz, unsigned asz, TrCall *out)
{
    uint64_t sizes = (osz == 4 ? X87_O32 : 0) | (asz == 4 ? X87_A32 : 0);
    if (len >= 1 && op[0] == 0x9b) {
        out->fn = helper_fwait;
        out->imm = 0;
        out->mem = false;
        return true;
    }
    if (len >= 3 && op[0] == 0x0f && op[1] == 0xae) {
        unsigned modrm = op[2], reg = (modrm >> 3) & 7;
        if (modrm >= 0xc0 || reg > 1)
            return false;
        out->fn = helper_fxsave;
        out->imm = sizes | (reg ? X87_FXRSTOR : 0);
        out->mem = true;
        return true;
    }
    if (len >= 2 && (op[0] & 0xf8) == 0xd8) {
        unsigned modrm = op[1];
        out->fn = helper_x87;
        out->mem = modrm < 0xc0;
        out->imm = (((unsigned)(op[0] & 7) << 8) | modrm) | sizes | (out->mem ? X87_MEM : 0);
        return true;
    }
    return false;
}
