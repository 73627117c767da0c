/* tests/unit/test_alu.c: dbt/alu.c against the host CPU.
 *
 * Every operation runs twice: through the ALU and as the same instruction on the host (inline asm),
 * with the same input flags, and the result, the six arithmetic flags, CF alone and all 16
 * conditions must agree. Where Intel calls a flag undefined, alu.c reproduces what the reference
 * host gives (AMD Zen 5, see alu.c), so on an AMD host nothing is masked and alu.c is pinned to
 * that host's choices. On any other vendor the flags (and the few results) the Intel SDM leaves
 * undefined are not compared with the host; see "host vendor" below for the table.
 *
 * The input flags come from a random earlier operation recorded lazily in the ALU and run on the
 * host too, so folding old flags in (INC/DEC, rotates, MUL, BT, ADC/SBB carry-in) is exercised from
 * every lazy state, not only from explicit flags. The PRNG has a fixed seed per test so a failure
 * reproduces; the message names the operation, size, operands and the earlier operation.
 *
 * Environment: DUALVM_TEST_ASSUME_VENDOR=intel takes the non-AMD path (undefined flags masked)
 * on any host, e.g. to check on an AMD machine that the test passes as it would on Intel;
 * DUALVM_TEST_ASSUME_VENDOR=amd compares everything exactly on any host, e.g. to list where an
 * Intel core's undefined flags differ from alu.c. Unset or empty: CPUID leaf 0 decides.
 */
#include <cpuid.h>
#include <criterion/criterion.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbt/alu.h"

#if !defined(__x86_64__)
#error "test_alu uses the host CPU as its oracle and needs an x86-64 host"
#endif

#define FL_ARITH 0x8d5u
#define N_RANDOM 100000

typedef unsigned long long ull;

/* ---- fixed-seed PRNG ---------------------------------------------------------------------- */

static uint64_t rng_state;

static void rng_seed(uint64_t seed)
{
    rng_state = seed * 0x9e3779b97f4a7c15ull | 1;
}

static uint64_t rnd(void)
{
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

static uint64_t mask_of(unsigned size)
{
    return ~0ull >> (64 - 8 * size);
}

static const unsigned sizes[4] = {1, 2, 4, 8};

/* 0, 1, -1, sign bit, max, min and their neighbours, plus the nibble-carry points for AF */
static int edge_values(unsigned size, uint64_t *out)
{
    uint64_t m = mask_of(size), sign = 1ull << (8 * size - 1);
    uint64_t v[] = {0,       1,        2,    m,    m - 1, sign,   sign - 1, sign + 1,
                    0xf & m, 0x10 & m, 0x7f, 0x80, 0xff,  m >> 1, m ^ 0xf};
    int n = 0;
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        out[n++] = v[i] & m;
    return n;
}

static uint64_t rand_operand(unsigned size)
{
    uint64_t m = mask_of(size), sign = 1ull << (8 * size - 1), e[16];
    uint64_t r = rnd();
    switch (r & 7) {
    case 0: {
        int n = edge_values(size, e);
        return e[(r >> 8) % (unsigned)n];
    }
    case 1:
        return (r >> 8) & 0x1f;
    case 2:
        return (sign + ((r >> 8) & 0x1f) - 16) & m;
    case 3:
        return (m - ((r >> 8) & 0x1f)) & m;
    default:
        return rnd() & m;
    }
}

/* a shift count: mostly in 0..2*width+1 (so masking and 8/16-bit wrap are hit), else any byte */
static uint64_t rand_count(unsigned size)
{
    uint64_t r = rnd();
    if (r & 3)
        return (r >> 8) % (16 * size + 2);
    return (r >> 8) & 0xff;
}

static uint32_t rand_flags(void)
{
    return (uint32_t)rnd() & FL_ARITH;
}

/* ---- the host as oracle --------------------------------------------------------------------- */

/* The asm pushes below %rsp; step over the 128-byte red zone so no local living there is hit. */
#define PRE "lea -128(%%rsp), %%rsp\n\tpush %[fin]\n\tpopf\n\t"
#define POST "\n\tpushf\n\tpop %[f]\n\tlea 128(%%rsp), %%rsp"

#define H_BIN(INS)                                                                                 \
    __asm__ volatile(PRE INS " %[s], %[d]" POST                                                    \
                     : [d] "+r"(d), [f] "=&r"(f)                                                   \
                     : [s] "r"(s), [fin] "r"(fin)                                                  \
                     : "cc")
#define H_CMP(INS)                                                                                 \
    __asm__ volatile(PRE INS " %[s], %[d]" POST                                                    \
                     : [f] "=&r"(f)                                                                \
                     : [d] "r"(d), [s] "r"(s), [fin] "r"(fin)                                      \
                     : "cc")
#define H_UN(INS)                                                                                  \
    __asm__ volatile(PRE INS " %[d]" POST : [d] "+r"(d), [f] "=&r"(f) : [fin] "r"(fin) : "cc")
#define H_SH(INS)                                                                                  \
    __asm__ volatile(PRE INS " %%cl, %[d]" POST                                                    \
                     : [d] "+r"(d), [f] "=&r"(f)                                                   \
                     : "c"(k), [fin] "r"(fin)                                                      \
                     : "cc")

/* For CMP and TEST the host gives only flags; the would-be result is plain arithmetic. */
#define DEF_HOST_ALU(NAME, T, SUF)                                                                 \
    static uint64_t NAME(AluOp op, uint64_t a, uint64_t b, uint64_t fin, uint32_t *fout)           \
    {                                                                                              \
        T d = (T)a, s = (T)b;                                                                      \
        uint8_t k = (uint8_t)b;                                                                    \
        uint64_t f = fin;                                                                          \
        fin |= 2;                                                                                  \
        switch (op) {                                                                              \
        case ALU_ADD:                                                                              \
            H_BIN("add" SUF);                                                                      \
            break;                                                                                 \
        case ALU_OR:                                                                               \
            H_BIN("or" SUF);                                                                       \
            break;                                                                                 \
        case ALU_ADC:                                                                              \
            H_BIN("adc" SUF);                                                                      \
            break;                                                                                 \
        case ALU_SBB:                                                                              \
            H_BIN("sbb" SUF);                                                                      \
            break;                                                                                 \
        case ALU_AND:                                                                              \
            H_BIN("and" SUF);                                                                      \
            break;                                                                                 \
        case ALU_SUB:                                                                              \
            H_BIN("sub" SUF);                                                                      \
            break;                                                                                 \
        case ALU_XOR:                                                                              \
            H_BIN("xor" SUF);                                                                      \
            break;                                                                                 \
        case ALU_CMP:                                                                              \
            H_CMP("cmp" SUF);                                                                      \
            d = (T)(a - b);                                                                        \
            break;                                                                                 \
        case ALU_INC:                                                                              \
            H_UN("inc" SUF);                                                                       \
            break;                                                                                 \
        case ALU_DEC:                                                                              \
            H_UN("dec" SUF);                                                                       \
            break;                                                                                 \
        case ALU_NEG:                                                                              \
            H_UN("neg" SUF);                                                                       \
            break;                                                                                 \
        case ALU_NOT:                                                                              \
            H_UN("not" SUF);                                                                       \
            break;                                                                                 \
        case ALU_TEST:                                                                             \
            H_CMP("test" SUF);                                                                     \
            d = (T)(a & b);                                                                        \
            break;                                                                                 \
        case ALU_ROL:                                                                              \
            H_SH("rol" SUF);                                                                       \
            break;                                                                                 \
        case ALU_ROR:                                                                              \
            H_SH("ror" SUF);                                                                       \
            break;                                                                                 \
        case ALU_RCL:                                                                              \
            H_SH("rcl" SUF);                                                                       \
            break;                                                                                 \
        case ALU_RCR:                                                                              \
            H_SH("rcr" SUF);                                                                       \
            break;                                                                                 \
        case ALU_SHL:                                                                              \
            H_SH("shl" SUF);                                                                       \
            break;                                                                                 \
        case ALU_SHR:                                                                              \
            H_SH("shr" SUF);                                                                       \
            break;                                                                                 \
        case ALU_SAL:                                                                              \
            H_SH("sal" SUF);                                                                       \
            break;                                                                                 \
        case ALU_SAR:                                                                              \
            H_SH("sar" SUF);                                                                       \
            break;                                                                                 \
        default:                                                                                   \
            break;                                                                                 \
        }                                                                                          \
        *fout = (uint32_t)f & FL_ARITH;                                                            \
        return (uint64_t)d;                                                                        \
    }

DEF_HOST_ALU(host_alu8, uint8_t, "b")
DEF_HOST_ALU(host_alu16, uint16_t, "w")
DEF_HOST_ALU(host_alu32, uint32_t, "l")
DEF_HOST_ALU(host_alu64, uint64_t, "q")

static uint64_t host_alu(AluOp op, unsigned size, uint64_t a, uint64_t b, uint32_t fin,
                         uint32_t *fout)
{
    switch (size) {
    case 1:
        return host_alu8(op, a, b, fin, fout);
    case 2:
        return host_alu16(op, a, b, fin, fout);
    case 4:
        return host_alu32(op, a, b, fin, fout);
    default:
        return host_alu64(op, a, b, fin, fout);
    }
}

/* one-operand MUL/IMUL: AX = AL * src, DX:AX = AX * src, ... */
#define H_MUL1(INS, T)                                                                             \
    do {                                                                                           \
        T lo_ = (T)a, hi_, s_ = (T)b;                                                              \
        __asm__ volatile(PRE INS " %[s]" POST                                                      \
                         : "+a"(lo_), "=&d"(hi_), [f] "=&r"(f)                                     \
                         : [s] "r"(s_), [fin] "r"(fin)                                             \
                         : "cc");                                                                  \
        lo = lo_;                                                                                  \
        hi = hi_;                                                                                  \
    } while (0)

static uint64_t host_mul(bool imul, unsigned size, uint64_t a, uint64_t b, uint32_t fin32,
                         uint64_t *hi_out, uint32_t *fout)
{
    uint64_t f, fin = fin32 | 2, lo = 0, hi = 0;
    switch (size) {
    case 1: {
        uint16_t ax = (uint8_t)a;
        uint8_t s = (uint8_t)b;
        if (imul)
            __asm__ volatile(PRE "imulb %[s]" POST
                             : "+a"(ax), [f] "=&r"(f)
                             : [s] "q"(s), [fin] "r"(fin)
                             : "cc");
        else
            __asm__ volatile(PRE "mulb %[s]" POST
                             : "+a"(ax), [f] "=&r"(f)
                             : [s] "q"(s), [fin] "r"(fin)
                             : "cc");
        lo = ax & 0xff;
        hi = ax >> 8;
        break;
    }
    case 2:
        if (imul)
            H_MUL1("imulw", uint16_t);
        else
            H_MUL1("mulw", uint16_t);
        break;
    case 4:
        if (imul)
            H_MUL1("imull", uint32_t);
        else
            H_MUL1("mull", uint32_t);
        break;
    default:
        if (imul)
            H_MUL1("imulq", uint64_t);
        else
            H_MUL1("mulq", uint64_t);
        break;
    }
    *hi_out = hi;
    *fout = (uint32_t)f & FL_ARITH;
    return lo;
}

/* two-operand IMUL; there is no 8-bit form, so size 1 uses the low byte of one-operand IMUL,
 * which has the same result and flag definition */
static uint64_t host_imul2(unsigned size, uint64_t a, uint64_t b, uint32_t fin32, uint32_t *fout)
{
    uint64_t f = 0, fin = fin32 | 2, hi;
    switch (size) {
    case 1:
        return host_mul(true, 1, a, b, fin32, &hi, fout);
    case 2: {
        uint16_t d = (uint16_t)a, s = (uint16_t)b;
        H_BIN("imulw");
        *fout = (uint32_t)f & FL_ARITH;
        return d;
    }
    case 4: {
        uint32_t d = (uint32_t)a, s = (uint32_t)b;
        H_BIN("imull");
        *fout = (uint32_t)f & FL_ARITH;
        return d;
    }
    default: {
        uint64_t d = a, s = b;
        H_BIN("imulq");
        *fout = (uint32_t)f & FL_ARITH;
        return d;
    }
    }
}

static sigjmp_buf fpe_jmp;

static void on_sigfpe(int sig)
{
    (void)sig;
    siglongjmp(fpe_jmp, 1);
}

static void install_sigfpe(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigfpe;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGFPE, &sa, NULL);
}

#define H_DIV(INS, T)                                                                              \
    do {                                                                                           \
        T lo_ = (T)lo, hi_ = (T)hi, d_ = (T)d;                                                     \
        __asm__ volatile(PRE INS " %[d]" POST                                                      \
                         : "+a"(lo_), "+d"(hi_), [f] "=&r"(f)                                      \
                         : [d] "r"(d_), [fin] "r"(fin)                                             \
                         : "cc");                                                                  \
        *q = lo_;                                                                                  \
        *r = hi_;                                                                                  \
    } while (0)

/* kept out of line so that nothing it holds lives across the sigsetjmp in host_div */
static __attribute__((noinline)) void host_div_raw(bool idiv, unsigned size, uint64_t hi,
                                                   uint64_t lo, uint64_t d, uint64_t *q,
                                                   uint64_t *r, uint32_t fin32, uint32_t *fout)
{
    uint64_t f, fin = fin32 | 2;
    switch (size) {
    case 1: {
        uint16_t ax = (uint16_t)(((hi & 0xff) << 8) | (lo & 0xff));
        uint8_t d8 = (uint8_t)d;
        if (idiv)
            __asm__ volatile(PRE "idivb %[d]" POST
                             : "+a"(ax), [f] "=&r"(f)
                             : [d] "q"(d8), [fin] "r"(fin)
                             : "cc");
        else
            __asm__ volatile(PRE "divb %[d]" POST
                             : "+a"(ax), [f] "=&r"(f)
                             : [d] "q"(d8), [fin] "r"(fin)
                             : "cc");
        *q = ax & 0xff;
        *r = ax >> 8;
        break;
    }
    case 2:
        if (idiv)
            H_DIV("idivw", uint16_t);
        else
            H_DIV("divw", uint16_t);
        break;
    case 4:
        if (idiv)
            H_DIV("idivl", uint32_t);
        else
            H_DIV("divl", uint32_t);
        break;
    default:
        if (idiv)
            H_DIV("idivq", uint64_t);
        else
            H_DIV("divq", uint64_t);
        break;
    }
    *fout = (uint32_t)f & FL_ARITH;
}

/* false when the host raised #DE (SIGFPE) */
static bool host_div(bool idiv, unsigned size, uint64_t hi, uint64_t lo, uint64_t d, uint64_t *q,
                     uint64_t *r, uint32_t fin, uint32_t *fout)
{
    if (sigsetjmp(fpe_jmp, 1))
        return false;
    host_div_raw(idiv, size, hi, lo, d, q, r, fin, fout);
    return true;
}

#define H_SHD(INS, T)                                                                              \
    do {                                                                                           \
        T d = (T)a, s = (T)b;                                                                      \
        __asm__ volatile(PRE INS " %%cl, %[s], %[d]" POST                                          \
                         : [d] "+r"(d), [f] "=&r"(f)                                               \
                         : [s] "r"(s), "c"(k), [fin] "r"(fin)                                      \
                         : "cc");                                                                  \
        res = d;                                                                                   \
    } while (0)

static uint64_t host_shld(bool right, unsigned size, uint64_t a, uint64_t b, unsigned count,
                          uint32_t fin32, uint32_t *fout)
{
    uint64_t f, fin = fin32 | 2, res;
    uint8_t k = (uint8_t)count;
    switch (size) {
    case 2:
        if (right)
            H_SHD("shrdw", uint16_t);
        else
            H_SHD("shldw", uint16_t);
        break;
    case 4:
        if (right)
            H_SHD("shrdl", uint32_t);
        else
            H_SHD("shldl", uint32_t);
        break;
    default:
        if (right)
            H_SHD("shrdq", uint64_t);
        else
            H_SHD("shldq", uint64_t);
        break;
    }
    *fout = (uint32_t)f & FL_ARITH;
    return res;
}

/* BSF/BSR into a destination holding `dest`, which stays when the source is 0 */
#define H_BSF(INS, T)                                                                              \
    do {                                                                                           \
        T d = (T)dest, s = (T)src;                                                                 \
        H_BIN(INS);                                                                                \
        res = d;                                                                                   \
    } while (0)

static uint64_t host_bsf(bool reverse, unsigned size, uint64_t src, uint64_t dest, uint32_t fin32,
                         uint32_t *fout)
{
    uint64_t f, fin = fin32 | 2, res;
    switch (size) {
    case 2:
        if (reverse)
            H_BSF("bsrw", uint16_t);
        else
            H_BSF("bsfw", uint16_t);
        break;
    case 4:
        if (reverse)
            H_BSF("bsrl", uint32_t);
        else
            H_BSF("bsfl", uint32_t);
        break;
    default:
        if (reverse)
            H_BSF("bsrq", uint64_t);
        else
            H_BSF("bsfq", uint64_t);
        break;
    }
    *fout = (uint32_t)f & FL_ARITH;
    return res;
}

#define H_BT(SUF, T)                                                                               \
    do {                                                                                           \
        T d = (T)a, s = (T)bit;                                                                    \
        switch (mode) {                                                                            \
        case 0:                                                                                    \
            H_CMP("bt" SUF);                                                                       \
            break;                                                                                 \
        case 1:                                                                                    \
            H_BIN("bts" SUF);                                                                      \
            break;                                                                                 \
        case 2:                                                                                    \
            H_BIN("btr" SUF);                                                                      \
            break;                                                                                 \
        default:                                                                                   \
            H_BIN("btc" SUF);                                                                      \
            break;                                                                                 \
        }                                                                                          \
        res = d;                                                                                   \
    } while (0)

static uint64_t host_bt(int mode, unsigned size, uint64_t a, uint64_t bit, uint32_t fin32,
                        uint32_t *fout)
{
    uint64_t f, fin = fin32 | 2, res;
    switch (size) {
    case 2:
        H_BT("w", uint16_t);
        break;
    case 4:
        H_BT("l", uint32_t);
        break;
    default:
        H_BT("q", uint64_t);
        break;
    }
    *fout = (uint32_t)f & FL_ARITH;
    return res;
}

/* bit i = the host's setcc for condition i under the given flags */
static uint32_t host_conds(uint32_t flags)
{
    uint8_t v[16];
    uint64_t fin = flags | 2;
    __asm__ volatile("lea -128(%%rsp), %%rsp\n\tpush %[fin]\n\tpopf\n\t"
                     "seto 0(%[p])\n\tsetno 1(%[p])\n\tsetb 2(%[p])\n\tsetae 3(%[p])\n\t"
                     "sete 4(%[p])\n\tsetne 5(%[p])\n\tsetbe 6(%[p])\n\tseta 7(%[p])\n\t"
                     "sets 8(%[p])\n\tsetns 9(%[p])\n\tsetp 10(%[p])\n\tsetnp 11(%[p])\n\t"
                     "setl 12(%[p])\n\tsetge 13(%[p])\n\tsetle 14(%[p])\n\tsetg 15(%[p])\n\t"
                     "lea 128(%%rsp), %%rsp"
                     :
                     : [p] "r"(v), [fin] "r"(fin)
                     : "memory", "cc");
    uint32_t m = 0;
    for (int i = 0; i < 16; i++)
        m |= (uint32_t)v[i] << i;
    return m;
}

/* ---- host vendor and the flags Intel leaves undefined ------------------------------------
 *
 * alu.c gives every flag the Intel SDM calls undefined the value an AMD Zen core gives. On an
 * AMD host (CPUID leaf 0 vendor "AuthenticAMD") everything is compared exactly. Elsewhere (Intel,
 * and also Zen-derived Hygon, conservatively) the flags below are left out of the comparison with
 * the host, per the "Flags Affected" and "Operation" sections of the Intel SDM vol. 2:
 *
 *   instruction               undefined (not compared)    when
 *   ADD ADC SUB SBB CMP NEG   -                           (all six defined)
 *   INC DEC                   -                           (CF unchanged, the rest defined)
 *   AND OR XOR TEST           AF                          always ("AF is undefined")
 *   SHL SAL SHR SAR           AF                          masked count != 0
 *                             OF                          masked count > 1 ("only for 1-bit")
 *                             CF (SHL SAL SHR, not SAR)   masked count >= width: "undefined for
 *                                                         SHL and SHR where the count is >= the
 *                                                         size"; only 8/16-bit can get there
 *   ROL ROR RCL RCR           OF                          masked count > 1 (CF defined for any
 *                                                         nonzero masked count, even a multiple
 *                                                         of the width; SF ZF AF PF unaffected)
 *   MUL, IMUL (1/2/3-op)      SF ZF AF PF                 always (CF = OF = overflow defined)
 *   DIV IDIV                  CF OF SF ZF AF PF           always (quotient, remainder, #DE kept)
 *   SHLD SHRD                 AF                          masked count != 0
 *                             OF                          masked count > 1
 *                             all six, and the result     masked count > width: "DEST is
 *                                                         undefined", only 16-bit 17..31
 *   BSF BSR                   CF OF SF AF PF              always (ZF defined); the destination
 *                                                         is undefined for a zero source, so
 *                                                         there alu.h's "unchanged" is checked
 *                                                         instead of the host's value
 *   BT BTS BTR BTC            OF SF AF PF                 always (CF = the bit, ZF unchanged)
 *
 * The masked count is count & 0x1f (0x3f for 64-bit operands); a masked count of 0 leaves every
 * flag alone, which is defined ("If the count is 0, the flags are not affected"; the ROL/RCL
 * pseudocode's "ELSE OF is undefined" is read together with that sentence), so it stays
 * compared. An undefined flag is not dropped from the test altogether: the expected flags take
 * alu.c's own value for it, so cc_carry and cc_cond must still agree with cc_eflags, and it is
 * alu.c's flags that the next operation gets as its input on the host too (random_prior), so
 * flags an op keeps (INC/DEC's CF, a rotate's SF ZF AF PF, BT's ZF) stay exactly compared. */

enum {
    F_CF = 0x1,
    F_PF = 0x4,
    F_AF = 0x10,
    F_ZF = 0x40,
    F_SF = 0x80,
    F_OF = 0x800,
};

/* true: compare every flag with the host (AMD, or forced); false: mask the Intel-undefined ones */
static bool exact_flags(void)
{
    static int exact = -1;
    if (exact < 0) {
        const char *v = getenv("DUALVM_TEST_ASSUME_VENDOR");
        if (v && *v) {
            if (strcmp(v, "intel") == 0)
                exact = 0;
            else if (strcmp(v, "amd") == 0)
                exact = 1;
            else
                cr_assert_fail("DUALVM_TEST_ASSUME_VENDOR=%s: expected intel or amd", v);
        } else {
            unsigned eax, ebx, ecx, edx;
            char vendor[13];
            __cpuid(0, eax, ebx, ecx, edx);
            memcpy(vendor, &ebx, 4);
            memcpy(vendor + 4, &edx, 4);
            memcpy(vendor + 8, &ecx, 4);
            vendor[12] = 0;
            exact = strcmp(vendor, "AuthenticAMD") == 0;
        }
    }
    return exact;
}

/* what the caller passes through: the mask only on a non-exact host */
static uint32_t undef_if_not_exact(uint32_t undef)
{
    return exact_flags() ? 0 : undef;
}

static unsigned masked_count(unsigned size, uint64_t count)
{
    return (unsigned)count & (size == 8 ? 0x3f : 0x1f);
}

/* alu_exec: see the table above */
static uint32_t undef_exec(AluOp op, unsigned size, uint64_t b)
{
    unsigned c = masked_count(size, b);
    uint32_t u = 0;
    switch (op) {
    case ALU_AND:
    case ALU_OR:
    case ALU_XOR:
    case ALU_TEST:
        u = F_AF;
        break;
    case ALU_SHL:
    case ALU_SAL:
    case ALU_SHR:
    case ALU_SAR:
        if (c != 0)
            u |= F_AF;
        if (c > 1)
            u |= F_OF;
        if (op != ALU_SAR && c >= 8 * size)
            u |= F_CF;
        break;
    case ALU_ROL:
    case ALU_ROR:
    case ALU_RCL:
    case ALU_RCR:
        if (c > 1)
            u = F_OF;
        break;
    default:
        break;
    }
    return undef_if_not_exact(u);
}

static uint32_t undef_mul(void)
{
    return undef_if_not_exact(F_SF | F_ZF | F_AF | F_PF);
}

static uint32_t undef_div(void)
{
    return undef_if_not_exact(FL_ARITH);
}

/* a 16-bit SHLD/SHRD by 17..31 (masked): the result and all flags are undefined */
static bool shld_undefined(unsigned size, unsigned count)
{
    return !exact_flags() && masked_count(size, count) > 8 * size;
}

static uint32_t undef_shld(unsigned size, unsigned count)
{
    unsigned c = masked_count(size, count);
    if (c > 8 * size)
        return undef_if_not_exact(FL_ARITH);
    return undef_if_not_exact((c != 0 ? F_AF : 0) | (c > 1 ? F_OF : 0));
}

static uint32_t undef_bsf(void)
{
    return undef_if_not_exact(F_CF | F_OF | F_SF | F_AF | F_PF);
}

static uint32_t undef_bt(void)
{
    return undef_if_not_exact(F_OF | F_SF | F_AF | F_PF);
}

/* The flags to expect: the host's where defined, alu.c's own where undef says not to compare. */
static uint32_t expected_flags(uint32_t hf, const CcState *cc, uint32_t undef)
{
    return (hf & ~undef) | (cc_eflags(cc) & undef);
}

/* ---- comparing ------------------------------------------------------------------------------ */

static const char *const op_names[ALU_NR_OPS] = {
    "add", "or",   "adc", "sbb", "and", "sub", "xor", "cmp", "inc", "dec", "neg",
    "not", "test", "rol", "ror", "rcl", "rcr", "shl", "shr", "sal", "sar",
};

static const char *flag_str(uint32_t f, char *buf)
{
    snprintf(buf, 8, "%c%c%c%c%c%c", f & 1 ? 'C' : '-', f & 4 ? 'P' : '-', f & 0x10 ? 'A' : '-',
             f & 0x40 ? 'Z' : '-', f & 0x80 ? 'S' : '-', f & 0x800 ? 'O' : '-');
    return buf;
}

/* The earlier operation that produced the input flags, to name in failure messages. */
typedef struct Prior {
    int op; /* AluOp, or -1 for explicit flags */
    unsigned size;
    uint64_t a, b;
    uint32_t fin;
} Prior;

typedef struct Ctx {
    char what[200];
    Prior prior;
} Ctx;

static const char *prior_str(const Prior *p, char *buf, size_t len)
{
    char fb[8];
    if (p->op < 0)
        snprintf(buf, len, "flags %s set explicitly", flag_str(p->fin, fb));
    else
        snprintf(buf, len, "after %s size %u a=%#llx b=%#llx fin=%s", op_names[p->op], p->size,
                 (ull)p->a, (ull)p->b, flag_str(p->fin, fb));
    return buf;
}

static void fail_value(const Ctx *c, const char *name, uint64_t got, uint64_t exp)
{
    char pb[160];
    cr_assert_eq(got, exp, "%s (%s): %s expected %#llx got %#llx", c->what,
                 prior_str(&c->prior, pb, sizeof pb), name, (ull)exp, (ull)got);
}

static void check_value(const Ctx *c, const char *name, uint64_t got, uint64_t exp)
{
    if (got != exp)
        fail_value(c, name, got, exp);
}

/* hf: the host's flags; undef: the flags not to compare with it (0 on an exact host) */
static void check_flags(const Ctx *c, const CcState *cc, uint32_t hf, uint32_t undef)
{
    uint32_t f = cc_eflags(cc), ef = expected_flags(hf, cc, undef);
    if (f != ef) {
        char pb[160], b1[8], b2[8], b3[8];
        cr_assert_eq(f, ef, "%s (%s): flags expected %s got %s (undefined, not compared: %s)",
                     c->what, prior_str(&c->prior, pb, sizeof pb), flag_str(ef, b1),
                     flag_str(f, b2), flag_str(undef, b3));
    }
    if (cc_carry(cc) != (ef & 1))
        fail_value(c, "cc_carry", cc_carry(cc), ef & 1);
    uint32_t hc = host_conds(ef);
    for (int i = 0; i < 16; i++) {
        bool exp = (hc >> i) & 1;
        if (cc_cond(cc, i) != exp) {
            char pb[160], b1[8];
            cr_assert_eq(cc_cond(cc, i), exp, "%s (%s): cc_cond(%d) expected %d (flags %s)",
                         c->what, prior_str(&c->prior, pb, sizeof pb), i, exp, flag_str(ef, b1));
        }
    }
}

/* Put the ALU in a random lazy state and return the host flags that match it. Half the time
 * the state is explicit flags, otherwise the result of a random ALU op (itself checked). On a
 * non-exact host the op's undefined flags may differ from the host's, so what is returned is
 * alu.c's flags (equal to the host's wherever defined): the next op then starts from the same
 * flags on both sides. */
static uint32_t random_prior(CcState *cc, Prior *p)
{
    uint32_t fin = rand_flags(), hf;
    cc_set_eflags(cc, fin);
    p->op = -1;
    p->fin = fin;
    if (rnd() & 1)
        return fin;
    p->op = (int)(rnd() % ALU_NR_OPS);
    p->size = sizes[rnd() & 3];
    p->a = rand_operand(p->size);
    p->b = (p->op >= ALU_ROL) ? rand_count(p->size) : rand_operand(p->size);
    uint64_t hr = host_alu(p->op, p->size, p->a, p->b, fin, &hf);
    uint64_t r = alu_exec(p->op, p->size, p->a, p->b, cc);
    uint32_t undef = undef_exec(p->op, p->size, p->b);
    hf = expected_flags(hf, cc, undef);
    if (r != hr || cc_eflags(cc) != hf) {
        char pb[160], b1[8], b2[8], b3[8];
        cr_assert_fail("prior %s: result %#llx/%#llx flags %s/%s (expected/got; undefined, not "
                       "compared: %s)",
                       prior_str(p, pb, sizeof pb), (ull)hr, (ull)r, flag_str(hf, b1),
                       flag_str(cc_eflags(cc), b2), flag_str(undef, b3));
    }
    return hf;
}

/* ---- alu_exec ------------------------------------------------------------------------------- */

static void check_exec(AluOp op, unsigned size, uint64_t a, uint64_t b, CcState *cc, uint32_t fin,
                       const Prior *p)
{
    uint32_t hf;
    uint64_t hr = host_alu(op, size, a, b, fin, &hf);
    uint64_t r = alu_exec(op, size, a, b, cc);
    uint32_t undef = undef_exec(op, size, b), ef = expected_flags(hf, cc, undef);
    if (r != hr || cc_eflags(cc) != ef || cc_carry(cc) != (ef & 1)) {
        Ctx c = {.prior = *p};
        snprintf(c.what, sizeof c.what, "%s size %u a=%#llx b=%#llx", op_names[op], size, (ull)a,
                 (ull)b);
        check_value(&c, "result", r, hr);
        check_flags(&c, cc, hf, undef);
    }
    /* conditions are compared every time: their fast paths do not go through cc_eflags */
    uint32_t hc = host_conds(ef);
    for (int i = 0; i < 16; i++) {
        if (cc_cond(cc, i) != ((hc >> i) & 1)) {
            Ctx c = {.prior = *p};
            snprintf(c.what, sizeof c.what, "%s size %u a=%#llx b=%#llx", op_names[op], size,
                     (ull)a, (ull)b);
            check_flags(&c, cc, hf, undef);
        }
    }
}

static void run_exec(AluOp op, uint64_t seed)
{
    bool is_shift = op >= ALU_ROL;
    rng_seed(seed);
    for (int si = 0; si < 4; si++) {
        unsigned size = sizes[si];
        CcState cc;
        Prior p;
        uint64_t e[16], bs[16 + 80];
        int ne = edge_values(size, e), nb = 0;

        /* edge grid: every edge value against every edge value or count, from both all-clear
         * and all-set explicit flags */
        if (is_shift) {
            for (unsigned c = 0; c <= 8 * size + 1; c++)
                bs[nb++] = c;
            bs[nb++] = 31;
            bs[nb++] = 32;
            bs[nb++] = 33;
            bs[nb++] = 63;
            bs[nb++] = 64;
            bs[nb++] = 255;
        } else {
            memcpy(bs, e, sizeof(uint64_t) * (size_t)ne);
            nb = ne;
        }
        for (int fi = 0; fi < 2; fi++)
            for (int i = 0; i < ne; i++)
                for (int j = 0; j < nb; j++) {
                    uint32_t fin = fi ? FL_ARITH : 0;
                    p.op = -1;
                    p.fin = fin;
                    cc_set_eflags(&cc, fin);
                    check_exec(op, size, e[i], bs[j], &cc, fin, &p);
                }

        for (int n = 0; n < N_RANDOM; n++) {
            uint32_t fin = random_prior(&cc, &p);
            uint64_t a = rand_operand(size);
            uint64_t b = is_shift ? rand_count(size) : rand_operand(size);
            check_exec(op, size, a, b, &cc, fin, &p);
        }
    }
}

#define EXEC_TEST(name, op)                                                                        \
    Test(alu_exec, name)                                                                           \
    {                                                                                              \
        run_exec(op, 1000 + (op));                                                                 \
    }

EXEC_TEST(add, ALU_ADD)
EXEC_TEST(or, ALU_OR)
EXEC_TEST(adc, ALU_ADC)
EXEC_TEST(sbb, ALU_SBB)
EXEC_TEST(and, ALU_AND)
EXEC_TEST(sub, ALU_SUB)
EXEC_TEST(xor, ALU_XOR)
EXEC_TEST(cmp, ALU_CMP)
EXEC_TEST(inc, ALU_INC)
EXEC_TEST(dec, ALU_DEC)
EXEC_TEST(neg, ALU_NEG)
EXEC_TEST(not, ALU_NOT)
EXEC_TEST(test, ALU_TEST)
EXEC_TEST(rol, ALU_ROL)
EXEC_TEST(ror, ALU_ROR)
EXEC_TEST(rcl, ALU_RCL)
EXEC_TEST(rcr, ALU_RCR)
EXEC_TEST(shl, ALU_SHL)
EXEC_TEST(shr, ALU_SHR)
EXEC_TEST(sal, ALU_SAL)
EXEC_TEST(sar, ALU_SAR)

/* ---- MUL / IMUL ----------------------------------------------------------------------------- */

static void check_mul(bool imul, unsigned size, uint64_t a, uint64_t b, CcState *cc, uint32_t fin,
                      const Prior *p)
{
    uint32_t hf;
    uint64_t hhi, hi = 0;
    uint64_t hlo = host_mul(imul, size, a, b, fin, &hhi, &hf);
    uint64_t lo = alu_mul(imul, size, a, b, &hi, cc);
    Ctx c = {.prior = *p};
    if (lo != hlo || hi != hhi || cc_eflags(cc) != expected_flags(hf, cc, undef_mul())) {
        snprintf(c.what, sizeof c.what, "%s size %u a=%#llx b=%#llx", imul ? "imul" : "mul", size,
                 (ull)a, (ull)b);
        check_value(&c, "low half", lo, hlo);
        check_value(&c, "high half", hi, hhi);
    }
    snprintf(c.what, sizeof c.what, "%s size %u", imul ? "imul" : "mul", size);
    check_flags(&c, cc, hf, undef_mul());
}

static void check_imul_trunc(unsigned size, uint64_t a, uint64_t b, CcState *cc, uint32_t fin,
                             const Prior *p)
{
    uint32_t hf;
    uint64_t hr = host_imul2(size, a, b, fin, &hf);
    uint64_t r = alu_imul_trunc(size, a, b, cc);
    Ctx c = {.prior = *p};
    snprintf(c.what, sizeof c.what, "imul2 size %u a=%#llx b=%#llx", size, (ull)a, (ull)b);
    check_value(&c, "result", r, hr);
    check_flags(&c, cc, hf, undef_mul());
}

static void run_mul(int kind, uint64_t seed)
{
    rng_seed(seed);
    for (int si = 0; si < 4; si++) {
        unsigned size = sizes[si];
        CcState cc;
        Prior p;
        uint64_t e[16];
        int ne = edge_values(size, e);
        for (int fi = 0; fi < 2; fi++)
            for (int i = 0; i < ne; i++)
                for (int j = 0; j < ne; j++) {
                    uint32_t fin = fi ? FL_ARITH : 0;
                    p.op = -1;
                    p.fin = fin;
                    cc_set_eflags(&cc, fin);
                    if (kind == 2)
                        check_imul_trunc(size, e[i], e[j], &cc, fin, &p);
                    else
                        check_mul(kind, size, e[i], e[j], &cc, fin, &p);
                }
        for (int n = 0; n < N_RANDOM; n++) {
            uint32_t fin = random_prior(&cc, &p);
            uint64_t a = rand_operand(size), b = rand_operand(size);
            if (kind == 2)
                check_imul_trunc(size, a, b, &cc, fin, &p);
            else
                check_mul(kind, size, a, b, &cc, fin, &p);
        }
    }
}

Test(alu_mul, mul)
{
    run_mul(0, 2001);
}
Test(alu_mul, imul)
{
    run_mul(1, 2002);
}
Test(alu_mul, imul_trunc)
{
    run_mul(2, 2003);
}

/* ---- DIV / IDIV ----------------------------------------------------------------------------- */

static int de_count;

static void check_div(bool idiv, unsigned size, uint64_t hi, uint64_t lo, uint64_t d, CcState *cc,
                      uint32_t fin, const Prior *p)
{
    uint64_t hq = 0xdead, hr = 0xbeef, q = 0x1234, r = 0x5678;
    uint32_t hf = 0;
    bool hok = host_div(idiv, size, hi, lo, d, &hq, &hr, fin, &hf);
    bool ok = alu_div(idiv, size, hi, lo, d, &q, &r);
    Ctx c = {.prior = *p};
    snprintf(c.what, sizeof c.what, "%s size %u %#llx:%#llx / %#llx", idiv ? "idiv" : "div", size,
             (ull)hi, (ull)lo, (ull)d);
    if (ok != hok)
        cr_assert_eq(ok, hok, "%s: #DE expected %d got %d", c.what, !hok, !ok);
    if (!hok) {
        de_count++;
        check_value(&c, "quotient left alone", q, 0x1234);
        check_value(&c, "remainder left alone", r, 0x5678);
        return;
    }
    check_value(&c, "quotient", q, hq);
    check_value(&c, "remainder", r, hr);
    cc_div(cc);
    check_flags(&c, cc, hf, undef_div());
}

static void run_div(bool idiv, uint64_t seed)
{
    install_sigfpe();
    rng_seed(seed);
    de_count = 0;
    for (int si = 0; si < 4; si++) {
        unsigned size = sizes[si];
        uint64_t m = mask_of(size), e[16];
        int ne = edge_values(size, e);
        CcState cc;
        Prior p = {.op = -1};
        for (int i = 0; i < ne; i++)
            for (int j = 0; j < ne; j++)
                for (int k = 0; k < ne; k++) {
                    p.fin = rand_flags();
                    cc_set_eflags(&cc, p.fin);
                    check_div(idiv, size, e[i], e[j], e[k], &cc, p.fin, &p);
                }
        for (int n = 0; n < N_RANDOM; n++) {
            uint32_t fin = random_prior(&cc, &p);
            uint64_t lo = rand_operand(size), d = rand_operand(size), hi;
            switch (rnd() & 3) {
            case 0: /* the dividend is a sign- or zero-extended single word (cwd/cdq/xor edx) */
                hi = idiv ? ((lo >> (8 * size - 1)) & 1 ? m : 0) : 0;
                break;
            case 1: /* near the quotient-overflow boundary */
                hi = d ? (d - (rnd() & 1)) & m : 0;
                if (idiv && (rnd() & 1))
                    hi = (hi >> 1) | ((rnd() & 1) ? (1ull << (8 * size - 1)) : 0);
                break;
            case 2:
                hi = rnd() & m & (d >> 1);
                break;
            default:
                hi = rand_operand(size);
                break;
            }
            check_div(idiv, size, hi, lo, d, &cc, fin, &p);
        }
    }
    cr_assert_gt(de_count, 0, "no #DE case was exercised");
}

Test(alu_div, div)
{
    run_div(false, 3001);
}
Test(alu_div, idiv)
{
    run_div(true, 3002);
}

/* ---- SHLD / SHRD ---------------------------------------------------------------------------- */

static void check_shld(bool right, unsigned size, uint64_t a, uint64_t b, unsigned count,
                       CcState *cc, uint32_t fin, const Prior *p)
{
    uint32_t hf;
    uint64_t hr = host_shld(right, size, a, b, count, fin, &hf);
    uint64_t r = alu_shld(right, size, a, b, count, cc);
    Ctx c = {.prior = *p};
    snprintf(c.what, sizeof c.what, "%s size %u a=%#llx b=%#llx count=%u", right ? "shrd" : "shld",
             size, (ull)a, (ull)b, count);
    /* 16-bit by 17..31 on a non-exact host: nothing is defined, only cc's consistency is left */
    if (!shld_undefined(size, count))
        check_value(&c, "result", r, hr);
    check_flags(&c, cc, hf, undef_shld(size, count));
}

static void run_shld(bool right, uint64_t seed)
{
    rng_seed(seed);
    for (int si = 1; si < 4; si++) {
        unsigned size = sizes[si];
        CcState cc;
        Prior p;
        uint64_t e[16];
        int ne = edge_values(size, e);
        for (int i = 0; i < ne; i++)
            for (int j = 0; j < ne; j++)
                for (unsigned k = 0; k <= 8 * size + 1; k++) {
                    p.op = -1;
                    p.fin = rand_flags();
                    cc_set_eflags(&cc, p.fin);
                    check_shld(right, size, e[i], e[j], k, &cc, p.fin, &p);
                }
        for (int n = 0; n < N_RANDOM; n++) {
            uint32_t fin = random_prior(&cc, &p);
            uint64_t a = rand_operand(size), b = rand_operand(size);
            check_shld(right, size, a, b, (unsigned)rand_count(size), &cc, fin, &p);
        }
    }
}

Test(alu_shld, shld)
{
    run_shld(false, 4001);
}
Test(alu_shld, shrd)
{
    run_shld(true, 4002);
}

/* ---- BSF / BSR ------------------------------------------------------------------------------ */

static void check_bsf(bool reverse, unsigned size, uint64_t src, CcState *cc, uint32_t fin,
                      const Prior *p)
{
    uint32_t hf;
    uint64_t dest = rnd() & mask_of(size);
    uint64_t hr = host_bsf(reverse, size, src, dest, fin, &hf);
    uint64_t r = dest;
    bool found = alu_bsf(reverse, size, src, &r, cc);
    Ctx c = {.prior = *p};
    snprintf(c.what, sizeof c.what, "%s size %u src=%#llx", reverse ? "bsr" : "bsf", size,
             (ull)src);
    check_value(&c, "found", found, src != 0);
    /* for a zero source the SDM leaves the destination undefined; alu.h promises it unchanged */
    if (src == 0)
        check_value(&c, "destination (unchanged)", r, dest);
    if (src != 0 || exact_flags())
        check_value(&c, "destination", r, hr);
    check_flags(&c, cc, hf, undef_bsf());
}

static void run_bsf(bool reverse, uint64_t seed)
{
    rng_seed(seed);
    for (int si = 1; si < 4; si++) {
        unsigned size = sizes[si];
        CcState cc;
        Prior p;
        for (unsigned i = 0; i <= 8 * size; i++)
            for (int fi = 0; fi < 2; fi++) {
                uint64_t one = i ? 1ull << (i - 1) : 0;
                uint64_t src[3] = {one, one ? (0 - one) & mask_of(size) : 0, one ? one * 2 - 1 : 0};
                for (int k = 0; k < 3; k++) {
                    p.op = -1;
                    p.fin = fi ? FL_ARITH : 0;
                    cc_set_eflags(&cc, p.fin);
                    check_bsf(reverse, size, src[k], &cc, p.fin, &p);
                }
            }
        for (int n = 0; n < N_RANDOM; n++) {
            uint32_t fin = random_prior(&cc, &p);
            /* sparse sources so that high and low indexes both come up */
            uint64_t src = rand_operand(size);
            if (rnd() & 1)
                src &= rnd() & rnd() & rnd();
            check_bsf(reverse, size, src, &cc, fin, &p);
        }
    }
}

Test(alu_bsf, bsf)
{
    run_bsf(false, 5001);
}
Test(alu_bsf, bsr)
{
    run_bsf(true, 5002);
}

/* ---- BT / BTS / BTR / BTC ------------------------------------------------------------------- */

static void check_bt(int mode, unsigned size, uint64_t a, uint64_t bit, CcState *cc, uint32_t fin,
                     const Prior *p)
{
    static const char *const names[4] = {"bt", "bts", "btr", "btc"};
    uint32_t hf;
    uint64_t hr = host_bt(mode, size, a, bit, fin, &hf);
    uint64_t r = alu_bt(mode, size, a, bit, cc);
    Ctx c = {.prior = *p};
    snprintf(c.what, sizeof c.what, "%s size %u a=%#llx bit=%#llx", names[mode], size, (ull)a,
             (ull)bit);
    check_value(&c, "result", r, hr);
    check_flags(&c, cc, hf, undef_bt());
}

static void run_bt(int mode, uint64_t seed)
{
    rng_seed(seed);
    for (int si = 1; si < 4; si++) {
        unsigned size = sizes[si];
        CcState cc;
        Prior p;
        uint64_t e[16];
        int ne = edge_values(size, e);
        for (int i = 0; i < ne; i++)
            for (unsigned k = 0; k <= 8 * size + 1; k++) {
                p.op = -1;
                p.fin = rand_flags();
                cc_set_eflags(&cc, p.fin);
                check_bt(mode, size, e[i], k, &cc, p.fin, &p);
            }
        for (int n = 0; n < N_RANDOM; n++) {
            uint32_t fin = random_prior(&cc, &p);
            uint64_t a = rand_operand(size), bit = rnd() & mask_of(size);
            check_bt(mode, size, a, bit, &cc, fin, &p);
        }
    }
}

Test(alu_bt, bt)
{
    run_bt(0, 6001);
}
Test(alu_bt, bts)
{
    run_bt(1, 6002);
}
Test(alu_bt, btr)
{
    run_bt(2, 6003);
}
Test(alu_bt, btc)
{
    run_bt(3, 6004);
}

/* ---- state handling ------------------------------------------------------------------------- */

/* explicit flags read back unchanged, and a zeroed CcState means all flags clear */
Test(alu_cc, set_eflags_roundtrip)
{
    CcState cc;
    memset(&cc, 0, sizeof cc);
    cr_assert_eq(cc_eflags(&cc), 0);
    for (uint32_t f = 0; f < 0x1000; f++) {
        cc_set_eflags(&cc, f | 0xfffff000u);
        cr_assert_eq(cc_eflags(&cc), f & FL_ARITH, "flags %#x", f);
        uint32_t hc = host_conds(f & FL_ARITH);
        for (int i = 0; i < 16; i++)
            if (cc_cond(&cc, i) != ((hc >> i) & 1))
                cr_assert_eq(cc_cond(&cc, i), (hc >> i) & 1, "flags %#x cond %d", f, i);
    }
}

/* which comparison the other tests made (shown with --verbose) */
Test(alu_cc, host_vendor)
{
    cr_log_info("undefined flags %s",
                exact_flags() ? "compared exactly (AMD host or DUALVM_TEST_ASSUME_VENDOR=amd)"
                              : "masked per the Intel SDM (non-AMD host or "
                                "DUALVM_TEST_ASSUME_VENDOR=intel)");
}
