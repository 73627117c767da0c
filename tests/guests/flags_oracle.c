/* flags_oracle.c: records what the host CPU does for every case the flags guest checks.
 *
 * The flags guest must compare the emulator against real hardware, not against another
 * emulator or against our own reading of the manuals. So at build time this program runs each
 * instruction of flags_ops.asm natively, on inputs it picks, and writes the inputs and the
 * observed registers and flags as a NASM table (flags_cases.inc) that the guest compiles in.
 * The instruction bytes and the routine that runs them (flags_run) are the same object in both
 * programs; only the executor differs.
 *
 * What is recorded is only what the architecture defines: flags that Intel or AMD document as
 * undefined after an instruction are masked out per case, and inputs whose results are
 * undefined (bit scan of zero, 16-bit double shifts past 16) or that fault (division overflow)
 * are never picked. That keeps the table true for every x86 CPU, not just the build host.
 *
 * It has to be a 32-bit program: the guest runs in 32-bit protected mode, and some of the
 * instructions (DAA, AAM, ...) do not exist in 64-bit mode.
 *
 * Usage: flags_oracle OUT.inc [cases-per-op [seed]]
 */
#if !defined(__i386__)
#error "flags_oracle runs 32-bit-only instructions: build it with -m32 on an x86 host"
#endif

#include <cpuid.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One entry of flags_op_table, as laid out by the OP macro in flags_ops.asm. */
typedef struct OpDesc {
    const void *stub;
    const char *name;
    const char *kind;
    int32_t size;  /* operand size in bits */
    int32_t count; /* immediate shift count, or -1: the count is CL */
} OpDesc;

extern const OpDesc flags_op_table[];
extern const uint32_t flags_op_count;
void flags_run(const void *stub, const uint32_t in[7], uint32_t out[7]);

enum { EAX, EBX, ECX, EDX, ESI, EDI, FLAGS, NREGS };

enum {
    F_CF = 0x001,
    F_PF = 0x004,
    F_AF = 0x010,
    F_ZF = 0x040,
    F_SF = 0x080,
    F_OF = 0x800,
    F_ARITH = F_CF | F_PF | F_AF | F_ZF | F_SF | F_OF,
    F_FIXED = 0x002, /* EFLAGS bit 1 always reads as 1 */
};

/* xorshift64*: a fixed, portable sequence so the table is the same on every build. */
static uint64_t rng_state;

static uint32_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545F4914F6CDD1DULL) >> 32);
}

static uint32_t size_mask(int size)
{
    return size == 32 ? 0xFFFFFFFFu : (1u << size) - 1;
}

/* Boundary values find most flag bugs (carries out of bit 7/15/31, signed overflow), so half
 * of the operands are one of these, placed in a random byte lane for 8-bit operations so that
 * high-byte registers (AH, BH, ...) get them too. The rest are random. */
static uint32_t operand(int size)
{
    static const uint32_t edges[] = {0,          1,          2,          0x7F,       0x80,
                                     0xFF,       0x7FFF,     0x8000,     0xFFFF,     0x7FFFFFFF,
                                     0x80000000, 0xFFFFFFFF, 0xFFFFFFFE, 0x80000001, 0x0F0F0F0F,
                                     0x99,       0x09,       0x0A};
    uint32_t v = rnd();
    if (rnd() & 1) {
        uint32_t e = edges[rnd() % (sizeof edges / sizeof edges[0])];
        if (size == 8) {
            unsigned lane = (rnd() & 1) * 8;
            v = (v & ~(0xFFu << lane)) | ((e & 0xFF) << lane);
        } else {
            v = (v & ~size_mask(size)) | (e & size_mask(size));
        }
    }
    return v;
}

/* A shift count: the interesting ones are 0 (no flag change), 1 (OF defined), the operand
 * width and its neighbours, and counts the CPU masks to 5 bits. */
static uint32_t shift_count(int size)
{
    const uint32_t picks[] = {0, 1, 2, 3, (uint32_t)size - 1, (uint32_t)size, (uint32_t)size + 1,
                              31, 32, 33, 63};
    if (rnd() % 4 == 0)
        return rnd() & 0xFF;
    return picks[rnd() % (sizeof picks / sizeof picks[0])];
}

static int32_t sext(uint32_t v, int size)
{
    return size == 32 ? (int32_t)v : (int32_t)(v << (32 - size)) >> (32 - size);
}

/* Picks the inputs for one case of op. Returns false if the inputs are unusable (the caller
 * draws again). */
static bool pick_inputs(const OpDesc *op, uint32_t in[NREGS])
{
    const char *k = op->kind;
    int size = op->size;
    uint32_t m = size_mask(size);

    for (int r = EAX; r <= EDI; r++)
        in[r] = operand(size);
    in[FLAGS] = (rnd() & F_ARITH) | F_FIXED;

    if (op->count < 0 && (!strcmp(k, "shift") || !strcmp(k, "rot") || !strcmp(k, "rcx") ||
                          !strcmp(k, "shd"))) {
        in[ECX] = (in[ECX] & ~0xFFu) | shift_count(size);
        /* A 16-bit SHLD/SHRD by more than 16 has an undefined result. */
        if (!strcmp(k, "shd") && size == 16 && (in[ECX] & 31) > 16)
            return false;
    } else if (!strcmp(k, "cmpxchg")) {
        if (rnd() & 1) /* make the compare succeed half the time */
            in[EAX] = (in[EAX] & ~m) | (in[EBX] & m);
    } else if (!strcmp(k, "bsx")) {
        if ((in[EBX] & m) == 0) /* the destination is undefined for a zero source */
            in[EBX] |= 1u << (rnd() % (unsigned)size);
    } else if (!strcmp(k, "div")) {
        /* Unsigned: the quotient fits iff the high half of the dividend < divisor. */
        uint32_t d = in[EBX] & m;
        if (rnd() & 1)
            d = (d & 0xF) | 1; /* small divisors give big quotients */
        if (d == 0)
            return false;
        in[EBX] = (in[EBX] & ~m) | d;
        if (size == 8)
            in[EAX] = (in[EAX] & ~0xFF00u) | ((rnd() % d) << 8);
        else
            in[EDX] = (in[EDX] & ~m) | (rnd() % d);
    } else if (!strcmp(k, "idiv")) {
        int64_t n, d = sext(in[EBX], size), q;
        if (rnd() & 1) { /* sign-extended dividend, as after CBW/CWD/CDQ: mostly fits */
            uint32_t hi = (sext(in[EAX], size) < 0) ? m : 0;
            if (size == 8)
                in[EAX] = (in[EAX] & ~0xFF00u) | ((hi & 0xFF) << 8);
            else
                in[EDX] = (in[EDX] & ~m) | hi;
        }
        if (size == 8)
            n = (int16_t)in[EAX];
        else if (size == 16)
            n = (int32_t)(((in[EDX] & 0xFFFF) << 16) | (in[EAX] & 0xFFFF));
        else
            n = (int64_t)(((uint64_t)in[EDX] << 32) | in[EAX]);
        if (d == 0 || (d == -1 && n == INT64_MIN))
            return false;
        q = n / d; /* C truncates toward zero, as IDIV does */
        if (q < -((int64_t)1 << (size - 1)) || q > ((int64_t)1 << (size - 1)) - 1)
            return false;
    } else if (!strcmp(k, "daa") || !strcmp(k, "aaa")) {
        if (rnd() & 1) /* a valid packed/unpacked BCD byte half the time */
            in[EAX] = (in[EAX] & ~0xFFu) | ((rnd() % 10) << 4) | (rnd() % 10);
    }
    return true;
}

/* The flags the architecture defines after op ran on in: the intersection of what Intel's
 * SDM and AMD's APM define, since CPUs really differ on the rest. */
static uint32_t defined_flags(const OpDesc *op, const uint32_t in[NREGS])
{
    const char *k = op->kind;
    unsigned count = (op->count >= 0 ? (uint32_t)op->count : in[ECX]) & 31;

    if (!strcmp(k, "arith") || !strcmp(k, "cmpxchg") || !strcmp(k, "move"))
        return F_ARITH;
    if (!strcmp(k, "logic"))
        return F_ARITH & ~F_AF;
    if (!strcmp(k, "shift")) {
        uint32_t f = F_SF | F_ZF | F_PF | F_CF | F_OF;
        if (count == 0) /* no flag is touched */
            return F_ARITH;
        if (count != 1)
            f &= ~F_OF;
        if (count >= (unsigned)op->size) /* SHL/SHR: CF undefined once all bits are out */
            f &= ~F_CF;
        return f;
    }
    if (!strcmp(k, "rot") || !strcmp(k, "rcx")) /* SF ZF AF PF are never touched */
        return (count == 0 || count == 1) ? F_ARITH : F_ARITH & ~F_OF;
    if (!strcmp(k, "shd")) {
        if (count == 0)
            return F_ARITH;
        return F_SF | F_ZF | F_PF | F_CF | (count == 1 ? F_OF : 0);
    }
    if (!strcmp(k, "mul"))
        return F_CF | F_OF;
    if (!strcmp(k, "div") || !strcmp(k, "idiv"))
        return 0;
    if (!strcmp(k, "bsx"))
        return F_ZF;
    if (!strcmp(k, "bt")) /* Intel keeps ZF, AMD calls it undefined */
        return F_CF;
    if (!strcmp(k, "daa"))
        return F_ARITH & ~F_OF;
    if (!strcmp(k, "aaa"))
        return F_AF | F_CF;
    if (!strcmp(k, "aam"))
        return F_SF | F_ZF | F_PF;
    fprintf(stderr, "flags_oracle: op '%s' has unknown kind '%s'\n", op->name, k);
    exit(1);
}

static unsigned cases_for(const OpDesc *op, unsigned base)
{
    const char *k = op->kind;
    /* Few inputs decide these, and their corner cases are where emulators go wrong. */
    if (!strcmp(k, "shift") || !strcmp(k, "rot") || !strcmp(k, "rcx") || !strcmp(k, "shd") ||
        !strcmp(k, "daa") || !strcmp(k, "aaa") || !strcmp(k, "aam"))
        return base * 2;
    return base;
}

static void host_name(char *buf, size_t len)
{
    unsigned r[12];
    unsigned max_ext = __get_cpuid_max(0x80000000, NULL);
    if (max_ext >= 0x80000004) {
        for (unsigned i = 0; i < 3; i++)
            __get_cpuid(0x80000002 + i, &r[i * 4], &r[i * 4 + 1], &r[i * 4 + 2], &r[i * 4 + 3]);
        memcpy(buf, r, len < sizeof r ? len : sizeof r);
    } else {
        unsigned a;
        __get_cpuid(0, &a, &r[0], &r[2], &r[1]); /* vendor is EBX EDX ECX */
        memcpy(buf, r, len < 12 ? len : 12);
    }
    buf[len - 1] = 0;
    /* Keep it a plain NASM string: printable, no quotes, trimmed. */
    for (char *p = buf; *p; p++)
        if (*p < 0x20 || *p > 0x7E || *p == '"' || *p == '\\')
            *p = ' ';
    size_t n = strlen(buf);
    while (n && buf[n - 1] == ' ')
        buf[--n] = 0;
    char *s = buf;
    while (*s == ' ')
        s++;
    memmove(buf, s, strlen(s) + 1);
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: %s OUT.inc [cases-per-op [seed]]\n", argv[0]);
        return 2;
    }
    unsigned base = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 0) : 16;
    rng_state = argc > 3 ? strtoull(argv[3], NULL, 0) : 0x5EEDF1A65EEDF1A6ULL;
    if (!base || !rng_state) {
        fprintf(stderr, "flags_oracle: cases-per-op and seed must be nonzero\n");
        return 2;
    }

    /* Write beside the target and rename, so an interrupted run leaves no half table. */
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", argv[1]);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        perror(tmp);
        return 1;
    }

    char host[49];
    host_name(host, sizeof host);
    fprintf(f, "; Generated by flags_oracle from flags_ops.asm: each case's expected registers\n"
               "; and flags were observed on the build host's CPU. Do not edit.\n"
               "; entry: op index, EAX EBX ECX EDX ESI EDI EFLAGS in, the same out, flag mask\n"
               "\nsection .rodata\nflags_oracle_host: db \"%s\", 0\nalign 4\nflags_cases:\n",
            host);

    unsigned total = 0;
    for (uint32_t i = 0; i < flags_op_count; i++) {
        const OpDesc *op = &flags_op_table[i];
        unsigned want = cases_for(op, base), tries = 0;
        fprintf(f, "; %s\n", op->name);
        for (unsigned n = 0; n < want; tries++) {
            uint32_t in[NREGS], out[NREGS], again[NREGS];
            if (tries > want * 1000) {
                fprintf(stderr, "flags_oracle: cannot find inputs for '%s'\n", op->name);
                return 1;
            }
            if (!pick_inputs(op, in))
                continue;
            flags_run(op->stub, in, out);
            /* A second run must agree: anything else means the stub reads state that is not
             * in the table (a register we do not set), and the guest could not reproduce it. */
            flags_run(op->stub, in, again);
            uint32_t mask = defined_flags(op, in);
            out[FLAGS] &= mask;
            again[FLAGS] &= mask;
            if (memcmp(out, again, sizeof out)) {
                fprintf(stderr, "flags_oracle: '%s' is not deterministic\n", op->name);
                return 1;
            }
            fprintf(f, "    dd %3" PRIu32, i);
            for (int r = 0; r < NREGS; r++)
                fprintf(f, ", 0x%08" PRIx32, in[r]);
            for (int r = 0; r < NREGS; r++)
                fprintf(f, ", 0x%08" PRIx32, out[r]);
            fprintf(f, ", 0x%03" PRIx32 "\n", mask);
            n++;
            total++;
        }
    }
    fprintf(f, "flags_cases_end:\nFLAGS_NCASES equ %u\n", total);

    if (fclose(f) || rename(tmp, argv[1])) {
        perror(argv[1]);
        return 1;
    }
    fprintf(stderr, "flags_oracle: %u cases for %" PRIu32 " instructions, host %s\n", total,
            flags_op_count, host);
    return 0;
}
