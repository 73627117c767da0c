/* dbt/alu.c: x86 integer ALU semantics with lazy condition codes.
 *
 * A flag-setting op records just enough in CcState to rebuild the six arithmetic flags later; most
 * guest flag results are overwritten before anything reads them, so recording must stay cheap and
 * the cost moves to cc_eflags/cc_cond, which the common compare-and-branch pairs shortcut.
 *
 * Where Intel leaves a flag undefined we give what the reference host gives (AMD Zen 5, family
 * 0x1a); tests/unit/test_alu.c checks every op against the CPU it runs on, so an Intel host
 * running it would show where Intel chooses differently. Differences reported for Intel are noted
 * where they apply.
 */
#include "dbt/alu.h"

enum {
    F_CF = 1u << 0,
    F_PF = 1u << 2,
    F_AF = 1u << 4,
    F_ZF = 1u << 6,
    F_SF = 1u << 7,
    F_OF = 1u << 11,
    F_ARITH = F_CF | F_PF | F_AF | F_ZF | F_SF | F_OF,
};

/* Lazy op codes (public as CC_OP_* in alu.h for the host-code back end). 0 must be OP_EFLAGS so
 * that a zeroed CcState means "all flags clear". */
enum {
    OP_EFLAGS = CC_OP_EFLAGS, /* src1 = the flags themselves */
    OP_ADD = CC_OP_ADD,       /* dst = src1 + src2 */
    OP_ADC = CC_OP_ADC,       /* dst = src1 + src2 + carry-in (the carry-in is implied by dst) */
    OP_SUB = CC_OP_SUB,       /* dst = src1 - src2 (SUB, CMP, NEG as 0 - x) */
    OP_SBB = CC_OP_SBB,       /* dst = src1 - src2 - borrow-in */
    OP_LOGIC = CC_OP_LOGIC,   /* dst; CF = OF = AF = 0 */
    OP_INC = CC_OP_INC,       /* dst = src1 + 1; src2 = the preserved CF */
    OP_DEC = CC_OP_DEC,       /* dst = src1 - 1; src2 = the preserved CF */
    OP_SHL = CC_OP_SHL, /* dst; src1 = operand shifted by count-1 (CF its top bit, OF top two's xor) */
    OP_SHR = CC_OP_SHR, /* dst; src1 = operand shifted by count-1 (CF its bit 0, OF from dst) */
};

static inline unsigned nbits(unsigned size)
{
    return size * 8;
}
static inline uint64_t size_mask(unsigned size)
{
    return ~0ull >> (64 - size * 8);
}
static inline uint32_t top(uint64_t x, unsigned size)
{
    return (uint32_t)(x >> (size * 8 - 1)) & 1;
}
static inline uint32_t top2(uint64_t x, unsigned size)
{
    return (uint32_t)(x >> (size * 8 - 2)) & 1;
}
static inline int64_t sext(uint64_t x, unsigned size)
{
    return (int64_t)(x << (64 - size * 8)) >> (64 - size * 8);
}
static inline uint32_t parity_flag(uint64_t r)
{
    return __builtin_parity((unsigned)(r & 0xff)) ? 0 : F_PF;
}
static inline uint32_t szp(uint64_t r, unsigned size)
{
    return parity_flag(r) | (r == 0 ? F_ZF : 0) | (top(r, size) << 7);
}

static inline void record(CcState *cc, uint32_t op, unsigned size, uint64_t dst, uint64_t s1,
                          uint64_t s2)
{
    cc->op = op;
    cc->size = size;
    cc->dst = dst;
    cc->src1 = s1;
    cc->src2 = s2;
}

static inline void record_flags(CcState *cc, uint32_t flags)
{
    record(cc, OP_EFLAGS, 0, 0, flags & F_ARITH, 0);
}

uint32_t cc_eflags(const CcState *cc)
{
    unsigned size = cc->size;
    uint64_t r = cc->dst, a = cc->src1, b = cc->src2;
    uint32_t cf, of;

    switch (cc->op) {
    case OP_ADD:
        cf = r < a;
        of = top((a ^ r) & (b ^ r), size);
        break;
    case OP_ADC:
        /* carry out of the top bit, rebuilt from the operands and result so the carry-in need
         * not be stored */
        cf = top((a & b) | ((a | b) & ~r), size);
        of = top((a ^ r) & (b ^ r), size);
        break;
    case OP_SUB:
        cf = a < b;
        of = top((a ^ b) & (a ^ r), size);
        break;
    case OP_SBB:
        cf = top((~a & b) | (~(a ^ b) & r), size);
        of = top((a ^ b) & (a ^ r), size);
        break;
    case OP_LOGIC:
        /* AF is undefined; Zen 5 clears it */
        return szp(r, size);
    case OP_INC:
        return (uint32_t)b | szp(r, size) | ((r & 0xf) == 0 ? F_AF : 0) |
               (r == 1ull << (nbits(size) - 1) ? F_OF : 0);
    case OP_DEC:
        return (uint32_t)b | szp(r, size) | ((r & 0xf) == 0xf ? F_AF : 0) |
               (a == 1ull << (nbits(size) - 1) ? F_OF : 0);
    case OP_SHL:
        /* AF undefined for shifts: Zen 5 sets it (some Intel-modelling emulators clear it).
         * OF is only defined for count 1; Zen 5 applies the count-1 rule to every count. */
        cf = top(a, size);
        return cf | szp(r, size) | F_AF | ((cf ^ top2(a, size)) << 11);
    case OP_SHR:
        return (uint32_t)(a & 1) | szp(r, size) | F_AF | ((top(r, size) ^ top2(r, size)) << 11);
    default: /* OP_EFLAGS */
        return (uint32_t)a;
    }
    return cf | szp(r, size) | ((uint32_t)(a ^ b ^ r) & F_AF) | (of << 11);
}

bool cc_carry(const CcState *cc)
{
    unsigned size = cc->size;
    uint64_t r = cc->dst, a = cc->src1, b = cc->src2;

    switch (cc->op) {
    case OP_ADD:
        return r < a;
    case OP_ADC:
        return top((a & b) | ((a | b) & ~r), size);
    case OP_SUB:
        return a < b;
    case OP_SBB:
        return top((~a & b) | (~(a ^ b) & r), size);
    case OP_LOGIC:
        return false;
    case OP_INC:
    case OP_DEC:
        return b;
    case OP_SHL:
        return top(a, size);
    case OP_SHR:
        return a & 1;
    default:
        return a & F_CF;
    }
}

void cc_set_eflags(CcState *cc, uint32_t eflags)
{
    record_flags(cc, eflags);
}

/* cond >> 1 selects the base condition: O B E BE S P L LE */
static inline bool cond_from_flags(uint32_t f, int base)
{
    switch (base) {
    case 0:
        return f & F_OF;
    case 1:
        return f & F_CF;
    case 2:
        return f & F_ZF;
    case 3:
        return f & (F_CF | F_ZF);
    case 4:
        return f & F_SF;
    case 5:
        return f & F_PF;
    case 6:
        return ((f >> 7) ^ (f >> 11)) & 1;
    default:
        return (((f >> 7) ^ (f >> 11)) & 1) | ((f >> 6) & 1);
    }
}

bool cc_cond(const CcState *cc, int cond)
{
    unsigned size = cc->size;
    uint64_t r = cc->dst, a = cc->src1, b = cc->src2;
    int base = (cond >> 1) & 7;
    bool v;

    if (cc->op == OP_SUB) {
        /* compare-and-branch: answer from the operands, no flags built. Shifting both operands
         * to the top of a 64-bit word makes a signed 64-bit compare a signed compare of size. */
        unsigned sh = 64 - nbits(size);
        switch (base) {
        case 0:
            v = top((a ^ b) & (a ^ r), size);
            break;
        case 1:
            v = a < b;
            break;
        case 2:
            v = a == b;
            break;
        case 3:
            v = a <= b;
            break;
        case 4:
            v = top(r, size);
            break;
        case 5:
            v = parity_flag(r);
            break;
        case 6:
            v = (int64_t)(a << sh) < (int64_t)(b << sh);
            break;
        default:
            v = (int64_t)(a << sh) <= (int64_t)(b << sh);
            break;
        }
    } else if (cc->op == OP_LOGIC) {
        /* CF = OF = 0, so L is S and LE is S or Z */
        switch (base) {
        case 0:
        case 1:
            v = false;
            break;
        case 2:
        case 3:
            v = r == 0;
            break;
        case 4:
        case 6:
            v = top(r, size);
            break;
        case 5:
            v = parity_flag(r);
            break;
        default:
            v = top(r, size) || r == 0;
            break;
        }
    } else if (base == 2 && cc->op != OP_EFLAGS) {
        v = r == 0;
    } else if (base == 4 && cc->op != OP_EFLAGS) {
        v = top(r, size);
    } else {
        v = cond_from_flags(cc_eflags(cc), base);
    }
    return v ^ (cond & 1);
}

/* Shift and rotate counts as the CPU masks them: 5 bits, 6 for 64-bit operands. */
static inline unsigned count_mask(unsigned size)
{
    return size == 8 ? 0x3f : 0x1f;
}

static uint64_t do_rotate(AluOp op, unsigned size, uint64_t a, unsigned count, CcState *cc)
{
    unsigned n = nbits(size), k;
    uint64_t m = size_mask(size), r;
    uint32_t old = cc_eflags(cc), cf, of;

    switch (op) {
    case ALU_ROL:
        k = count & (n - 1);
        r = k ? ((a << k) | (a >> (n - k))) & m : a;
        /* a nonzero count that is a multiple of the width still sets CF and OF from the
         * unchanged value */
        cf = r & 1;
        of = top(r, size) ^ cf;
        break;
    case ALU_ROR:
        k = count & (n - 1);
        r = k ? ((a >> k) | (a << (n - k))) & m : a;
        cf = top(r, size);
        of = cf ^ top2(r, size);
        break;
    case ALU_RCL: {
        /* rotate through n+1 bits; 8- and 16-bit counts reduce modulo 9 and 17 */
        uint64_t cin = old & F_CF;
        k = size == 1 ? count % 9 : size == 2 ? count % 17 : count;
        if (k) {
            /* the >> (n + 1 - k) is split so a 64-bit k == 1 does not shift by 64 */
            r = ((a << k) | (cin << (k - 1)) | ((a >> 1) >> (n - k))) & m;
            cf = (a >> (n - k)) & 1;
        } else {
            r = a;
            cf = (uint32_t)cin;
        }
        of = top(r, size) ^ cf;
        break;
    }
    default: { /* ALU_RCR */
        uint64_t cin = old & F_CF;
        k = size == 1 ? count % 9 : size == 2 ? count % 17 : count;
        if (k) {
            r = ((a >> k) | (cin << (n - k)) | ((a << 1) << (n - k))) & m;
            cf = (a >> (k - 1)) & 1;
        } else {
            r = a;
            cf = (uint32_t)cin;
        }
        of = top(r, size) ^ top2(r, size);
        break;
    }
    }
    /* OF is defined only for count 1; Zen 5 uses the same rule for any count (as above) */
    record_flags(cc, (old & (F_SF | F_ZF | F_AF | F_PF)) | cf | (of << 11));
    return r;
}

uint64_t alu_exec(AluOp op, unsigned size, uint64_t a, uint64_t b, CcState *cc)
{
    uint64_t m = size_mask(size), r;

    a &= m;
    b &= m;
    switch (op) {
    case ALU_ADD:
        r = (a + b) & m;
        record(cc, OP_ADD, size, r, a, b);
        return r;
    case ALU_ADC:
        r = (a + b + cc_carry(cc)) & m;
        record(cc, OP_ADC, size, r, a, b);
        return r;
    case ALU_SUB:
    case ALU_CMP:
        r = (a - b) & m;
        record(cc, OP_SUB, size, r, a, b);
        return r;
    case ALU_SBB:
        r = (a - b - cc_carry(cc)) & m;
        record(cc, OP_SBB, size, r, a, b);
        return r;
    case ALU_AND:
    case ALU_TEST:
        r = a & b;
        record(cc, OP_LOGIC, size, r, 0, 0);
        return r;
    case ALU_OR:
        r = a | b;
        record(cc, OP_LOGIC, size, r, 0, 0);
        return r;
    case ALU_XOR:
        r = a ^ b;
        record(cc, OP_LOGIC, size, r, 0, 0);
        return r;
    case ALU_INC:
        r = (a + 1) & m;
        record(cc, OP_INC, size, r, a, cc_carry(cc));
        return r;
    case ALU_DEC:
        r = (a - 1) & m;
        record(cc, OP_DEC, size, r, a, cc_carry(cc));
        return r;
    case ALU_NEG:
        r = (0 - a) & m;
        record(cc, OP_SUB, size, r, 0, a);
        return r;
    case ALU_NOT:
        return ~a & m;
    case ALU_SHL:
    case ALU_SAL: {
        unsigned c = (unsigned)b & count_mask(size);
        if (!c)
            return a;
        /* counts past the width (8/16-bit take up to 31) shift everything out: the 64-bit
         * intermediate gives 0 and CF = 0 exactly as the CPU does */
        uint64_t s = a << (c - 1);
        r = (s << 1) & m;
        record(cc, OP_SHL, size, r, s, 0);
        return r;
    }
    case ALU_SHR: {
        unsigned c = (unsigned)b & count_mask(size);
        if (!c)
            return a;
        uint64_t s = a >> (c - 1);
        r = s >> 1;
        record(cc, OP_SHR, size, r, s, 0);
        return r;
    }
    case ALU_SAR: {
        unsigned c = (unsigned)b & count_mask(size);
        if (!c)
            return a;
        uint64_t s = (uint64_t)(sext(a, size) >> (c - 1));
        r = (uint64_t)((int64_t)s >> 1) & m;
        record(cc, OP_SHR, size, r, s, 0);
        return r;
    }
    case ALU_ROL:
    case ALU_ROR:
    case ALU_RCL:
    case ALU_RCR: {
        unsigned c = (unsigned)b & count_mask(size);
        if (!c)
            return a;
        return do_rotate(op, size, a, c, cc);
    }
    default:
        return a;
    }
}

/* MUL/IMUL leave SF ZF AF PF undefined; Zen 5 keeps their old values, so fold them in. */
static inline void record_mul(CcState *cc, bool overflow)
{
    uint32_t old = cc_eflags(cc);
    record_flags(cc, (old & (F_SF | F_ZF | F_AF | F_PF)) | (overflow ? F_CF | F_OF : 0));
}

uint64_t alu_mul(bool imul, unsigned size, uint64_t a, uint64_t b, uint64_t *hi, CcState *cc)
{
    uint64_t m = size_mask(size), lo, h;
    unsigned n = nbits(size);
    bool ovf;

    a &= m;
    b &= m;
    if (size == 8) {
        unsigned __int128 p;
        if (imul)
            p = (unsigned __int128)((__int128)(int64_t)a * (int64_t)b);
        else
            p = (unsigned __int128)a * b;
        lo = (uint64_t)p;
        h = (uint64_t)(p >> 64);
    } else {
        uint64_t p = imul ? (uint64_t)(sext(a, size) * sext(b, size)) : a * b;
        lo = p & m;
        h = (p >> n) & m;
    }
    if (imul)
        ovf = h != ((uint64_t)(sext(lo, size) >> 63) & m);
    else
        ovf = h != 0;
    record_mul(cc, ovf);
    *hi = h;
    return lo;
}

uint64_t alu_imul_trunc(unsigned size, uint64_t a, uint64_t b, CcState *cc)
{
    uint64_t hi;
    return alu_mul(true, size, a, b, &hi, cc);
}

/* For size 1 the dividend is AH:AL (hi = AH, lo = AL); the quotient goes to AL, the remainder
 * to AH, which the caller places. */
bool alu_div(bool idiv, unsigned size, uint64_t hi, uint64_t lo, uint64_t d, uint64_t *q,
             uint64_t *r)
{
    uint64_t m = size_mask(size);
    unsigned n = nbits(size);

    hi &= m;
    lo &= m;
    d &= m;
    if (d == 0)
        return false;
    if (size == 8) {
        unsigned __int128 num = ((unsigned __int128)hi << 64) | lo;
        if (!idiv) {
            if (hi >= d) /* quotient would need more than 64 bits */
                return false;
            *q = (uint64_t)(num / d);
            *r = (uint64_t)(num % d);
            return true;
        }
        /* signed division on magnitudes: no signed overflow in C even for -2^127 / -1 */
        bool nneg = hi >> 63, dneg = d >> 63;
        unsigned __int128 un = nneg ? -num : num;
        uint64_t ud = dneg ? -d : d;
        unsigned __int128 uq = un / ud;
        uint64_t ur = (uint64_t)(un % ud);
        bool qneg = nneg ^ dneg;
        if (uq > (qneg ? 1ull << 63 : (1ull << 63) - 1))
            return false;
        *q = qneg ? -(uint64_t)uq : (uint64_t)uq;
        *r = nneg ? -ur : ur;
        return true;
    }
    uint64_t num = (hi << n) | lo;
    if (!idiv) {
        uint64_t uq = num / d;
        if (uq > m)
            return false;
        *q = uq;
        *r = num % d;
        return true;
    }
    bool nneg = top(hi, size), dneg = top(d, size);
    unsigned sh = 64 - 2 * n;
    uint64_t sn = (uint64_t)((int64_t)(num << sh) >> sh);
    uint64_t un = nneg ? 0 - sn : sn;
    uint64_t ud = dneg ? (0 - d) & m : d;
    uint64_t uq = un / ud, ur = un % ud;
    bool qneg = nneg ^ dneg;
    if (uq > (qneg ? 1ull << (n - 1) : (1ull << (n - 1)) - 1))
        return false;
    *q = (qneg ? -uq : uq) & m;
    *r = (nneg ? -ur : ur) & m;
    return true;
}

void cc_div(CcState *cc)
{
    /* every flag is undefined after DIV/IDIV; Zen 5 keeps CF and OF, sets AF and clears PF ZF
     * SF, whatever the operands */
    record_flags(cc, (cc_eflags(cc) & (F_CF | F_OF)) | F_AF);
}

uint64_t alu_shld(bool right, unsigned size, uint64_t a, uint64_t b, unsigned count, CcState *cc)
{
    uint64_t m = size_mask(size), r, s;
    unsigned n = nbits(size), c = count & count_mask(size);

    a &= m;
    b &= m;
    if (!c)
        return a;
    /* A 16-bit count of 17..31 leaves the result undefined. Zen 5 shifts the 48-bit a:b:b (SHLD)
     * or b:b:a (SHRD), so the result is b rotated by count - 16, while CF and OF still come from
     * shifting a alone (CF = 0 past the width). Intel reportedly shifts a:b:a instead. For the
     * other sizes the same formulas reduce to the defined results. */
    if (!right) {
        if (n <= 16) {
            uint64_t y = (a << (2 * n)) | (b << n) | b;
            r = (y << c) >> (2 * n) & m;
        } else if (n == 32) {
            r = (((a << 32) | b) << c) >> 32;
        } else {
            r = (a << c) | (b >> (64 - c));
        }
        s = a << (c - 1);
        record(cc, OP_SHL, size, r, s, 0);
    } else {
        if (n <= 16) {
            uint64_t y = (b << (2 * n)) | (b << n) | a;
            r = (y >> c) & m;
        } else if (n == 32) {
            r = (((b << 32) | a) >> c) & m;
        } else {
            r = (a >> c) | (b << (64 - c));
        }
        s = a >> (c - 1);
        record(cc, OP_SHR, size, r, s, 0);
    }
    return r;
}

bool alu_bsf(bool reverse, unsigned size, uint64_t src, uint64_t *out, CcState *cc)
{
    src &= size_mask(size);
    if (!src) {
        /* only ZF is defined; Zen 5 gives PF = 1 and clears the rest */
        record_flags(cc, F_ZF | F_PF);
        return false;
    }
    uint64_t r = reverse ? (uint64_t)(63 - __builtin_clzll(src)) : (uint64_t)__builtin_ctzll(src);
    /* CF OF SF AF PF are undefined; Zen 5 clears them except PF, which follows the index */
    record_flags(cc, parity_flag(r));
    *out = r;
    return true;
}

uint64_t alu_bt(int mode, unsigned size, uint64_t a, uint64_t bit, CcState *cc)
{
    uint64_t m = size_mask(size);
    uint64_t sel = 1ull << (bit & (nbits(size) - 1));
    uint32_t old = cc_eflags(cc);

    a &= m;
    /* OF SF AF PF are undefined and ZF is kept; Zen 5 keeps all of them */
    record_flags(cc, (old & ~F_CF) | ((a & sel) ? F_CF : 0));
    switch (mode) {
    case 1:
        return a | sel;
    case 2:
        return a & ~sel;
    case 3:
        return a ^ sel;
    default:
        return a;
    }
}
