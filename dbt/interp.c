/* The portable IR interpreter: one switch per micro-op. */
#include "dbt/ir.h"

static inline uint64_t size_mask(unsigned size)
{
    return size >= 8 ? ~0ull : (1ull << (size * 8)) - 1;
}

static inline uint64_t sext(uint64_t v, unsigned size)
{
    switch (size) {
    case 1:
        return (uint64_t)(int64_t)(int8_t)v;
    case 2:
        return (uint64_t)(int64_t)(int16_t)v;
    case 4:
        return (uint64_t)(int64_t)(int32_t)v;
    default:
        return v;
    }
}

void dbt_interp(DbtCpu *env, const Block *b)
{
    uint64_t t[IR_NTEMPS];
    const IrOp *o = b->ops;
    uint64_t *regs = env->s.regs;

    for (;; o++) {
        switch ((IrOpcode)o->op) {
        case IR_INSN:
            if (__builtin_expect(env->smc_hit, 0)) {
                /* a store in the previous instruction rewrote this block: stop before
                 * running bytes that are no longer there */
                env->s.rip = o->imm;
                return;
            }
            env->cur_eip = o->imm;
            env->st.insns++;
            break;
        case IR_MOVI:
            t[o->d] = o->imm;
            break;
        case IR_MOV:
            t[o->d] = t[o->a];
            break;
        case IR_GETR:
            if (o->aux & IR_HI8)
                t[o->d] = (regs[o->aux & 0xf] >> 8) & 0xff;
            else
                t[o->d] = regs[o->aux] & size_mask(o->size);
            break;
        case IR_SETR: {
            uint64_t *r = &regs[o->aux & 0xf];
            switch (o->size) {
            case 1:
                if (o->aux & IR_HI8)
                    *r = (*r & ~0xff00ull) | ((t[o->a] & 0xff) << 8);
                else
                    *r = (*r & ~0xffull) | (t[o->a] & 0xff);
                break;
            case 2:
                *r = (*r & ~0xffffull) | (t[o->a] & 0xffff);
                break;
            case 4:
                *r = t[o->a] & 0xffffffffull;
                break;
            default:
                *r = t[o->a];
            }
            break;
        }
        case IR_GETSEG:
            t[o->d] = env->s.seg[o->aux].sel;
            break;
        case IR_LD:
            t[o->d] = dbt_ld(env, o->aux, t[o->a], o->size);
            break;
        case IR_ST:
            dbt_st(env, o->aux, t[o->a], t[o->b], o->size);
            break;
        case IR_ALU:
            t[o->d] = alu_exec((AluOp)o->aux, o->size, t[o->a], t[o->b], &env->cc);
            break;
        case IR_ADD:
            t[o->d] = (t[o->a] + t[o->b]) & size_mask(o->size);
            break;
        case IR_SUB:
            t[o->d] = (t[o->a] - t[o->b]) & size_mask(o->size);
            break;
        case IR_ADDI:
            t[o->d] = (t[o->a] + o->imm) & size_mask(o->size);
            break;
        case IR_AND:
            t[o->d] = t[o->a] & t[o->b];
            break;
        case IR_SHLI:
            t[o->d] = (t[o->a] << o->imm) & size_mask(o->size);
            break;
        case IR_SEXT:
            t[o->d] = sext(t[o->a], o->size);
            break;
        case IR_ZEXT:
            t[o->d] = t[o->a] & size_mask(o->size);
            break;
        case IR_COND:
            t[o->d] = cc_cond(&env->cc, o->aux);
            break;
        case IR_SELECT:
            t[o->d] = t[o->c] ? t[o->a] : t[o->b];
            break;
        case IR_HELPER:
            t[o->d] = o->fn(env, t[o->a], t[o->b], t[o->c], o->imm);
            break;
        case IR_ICOUNT:
            if (!t[o->a])
                env->st.insns += o->imm;
            break;
        case IR_EXIT_COND:
            if (t[o->a]) {
                env->s.rip = o->imm;
                return;
            }
            break;
        case IR_EXIT:
            env->s.rip = o->imm;
            return;
        case IR_EXIT_IND:
            env->s.rip = t[o->a];
            return;
        default:
            dbt_fail(env, "internal error: bad IR opcode %d", o->op);
        }
    }
}
