/* x87_oracle.c: records what the host's x87 does for every case the x87 guest checks.
 *
 * The x87 guest must compare the emulator with a real x87, not with another emulator or our
 * reading of the manuals. At build time this program runs each instruction of x87_ops.asm
 * natively through the same x87_run the guest uses, on inputs it picks (zeros of both signs,
 * denormals, infinities, NaNs, integers and halves, values at the integer and format limits,
 * arguments in and out of the transcendentals' ranges) under random rounding control,
 * precision control and exception masks, and writes the inputs and the x87 state it observed
 * as a NASM table (x87_cases.inc). What a real x87 leaves undefined or that depends on where
 * the code runs is left out of the record: the instruction and data pointers, FOP, and the
 * contents of empty registers are zeroed.
 *
 * A 32-bit program, like the guest that runs the same bytes.
 *
 * Usage: x87_oracle OUT.inc [cases-per-op [seed]]
 */
#if !defined(__i386__)
#error "x87_oracle runs the guest's 32-bit x87 code: build it with -m32 on an x86 host"
#endif

#include <cpuid.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One entry of x87_op_table, as the X87OP/AB macros lay it out. */
typedef struct OpDesc {
    const void *stub;
    const char *name;
    const char *kind;
    int32_t cls;
} OpDesc;

extern const OpDesc x87_op_table[];
extern const uint32_t x87_op_count;
void x87_run(const void *stub, const uint8_t *in, uint8_t *out);

enum { IN_CW = 0, IN_FLAGS = 4, IN_A = 8, IN_B = 18, IN_MEM = 28, IN_SIZE = 44 };
enum { OUT_SAVE = 0, OUT_FLAGS = 108, OUT_MEM = 112, OUT_SIZE = 128 };

static uint64_t rng_state;

static uint32_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545F4914F6CDD1DULL) >> 32);
}

static uint64_t rnd64(void)
{
    return (uint64_t)rnd() << 32 | rnd();
}

static void put80(uint8_t *p, uint64_t mant, uint16_t sexp)
{
    memcpy(p, &mant, 8);
    memcpy(p + 8, &sexp, 2);
}

static void putld(uint8_t *p, long double v)
{
    memcpy(p, &v, 10);
}

static uint16_t sign(void)
{
    return (rnd() & 1) ? 0x8000 : 0;
}

/* Any extended value, the special encodings often. */
static void any80(uint8_t *p)
{
    uint64_t mant = rnd64() | 1ull << 63;
    switch (rnd() % 16) {
    case 0:
        put80(p, 0, sign());
        break;
    case 1:
        put80(p, rnd64() >> 1 | 1, sign());
        break; /* denormal */
    case 2:
        put80(p, 1ull << 63, sign() | 0x7fff);
        break; /* infinity */
    case 3:
        put80(p, mant | 1ull << 62, sign() | 0x7fff);
        break; /* QNaN */
    case 4:
        put80(p, (mant & ~(1ull << 62)) | 1, sign() | 0x7fff);
        break; /* SNaN */
    case 5:
        put80(p, mant, sign() | (uint16_t)(0x7ffe - rnd() % 3));
        break; /* huge */
    case 6:
        put80(p, mant, sign() | (uint16_t)(1 + rnd() % 3));
        break; /* tiny */
    case 7:
        putld(p, (long double)((int)(rnd() % 201) - 100));
        break;
    default:
        put80(p, mant, sign() | (uint16_t)(0x3fc0 + rnd() % 0x80));
        break;
    }
}

/* A value with the given unbiased exponent range around 0. */
static void near80(uint8_t *p, int lo, int hi)
{
    put80(p, rnd64() | 1ull << 63,
          sign() | (uint16_t)(0x3fff + lo + (int)(rnd() % (uint32_t)(hi - lo + 1))));
}

static void rounding(uint8_t *p)
{
    static const uint16_t lim[] = {0x400d, 0x400e, 0x401d, 0x401e, 0x403d, 0x403e};
    switch (rnd() % 6) {
    case 0:
        putld(p, (long double)((int)(rnd() % 41) - 20) + 0.5L);
        break;
    case 1:
        putld(p, (long double)((int)(rnd() % 41) - 20) + (long double)(rnd() % 8) / 8);
        break;
    case 2:
        put80(p, rnd64() | 1ull << 63, sign() | lim[rnd() % 6]);
        break;
    case 3:
        any80(p);
        break;
    default:
        near80(p, -4, 40);
        break;
    }
}

static void mem_float(uint8_t *p, bool dbl)
{
    static const uint32_t f[] = {0,          0x80000000, 1,          0x807fffff,
                                 0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001,
                                 0x3f800000, 0x7f7fffff, 0x00800000};
    static const uint64_t d[] = {0,
                                 0x8000000000000000ull,
                                 1,
                                 0x000fffffffffffffull,
                                 0x7ff0000000000000ull,
                                 0xfff8000000000000ull,
                                 0x7ff0000000000001ull,
                                 0x3ff0000000000000ull,
                                 0x7fefffffffffffffull};
    if (dbl) {
        uint64_t v = (rnd() & 1) ? d[rnd() % (sizeof d / sizeof d[0])]
                                 : (rnd64() & 0x800fffffffffffffull) |
                                       (uint64_t)(0x3c0 + rnd() % 0x80) << 52;
        memcpy(p, &v, 8);
    } else {
        uint32_t v = (rnd() & 1) ? f[rnd() % (sizeof f / sizeof f[0])]
                                 : (rnd() & 0x807fffff) | (0x70 + rnd() % 0x20) << 23;
        memcpy(p, &v, 4);
    }
}

static void mem_int(uint8_t *p, unsigned size)
{
    uint64_t v = rnd64();
    switch (rnd() % 4) {
    case 0:
        v = (uint64_t)(int64_t)((int)(rnd() % 201) - 100);
        break;
    case 1:
        v = 1ull << (size * 8 - 1);
        break;
    case 2:
        v = (1ull << (size * 8 - 1)) - 1;
        break;
    default:
        break;
    }
    memcpy(p, &v, size);
}

static void mem_bcd(uint8_t *p)
{
    for (int i = 0; i < 9; i++)
        p[i] = (uint8_t)((rnd() % 10) << 4 | (rnd() % 10));
    p[9] = (rnd() & 1) ? 0x80 : 0;
}

/* Inputs for one case of op. */
static void pick(const OpDesc *op, uint8_t *in)
{
    const char *k = op->kind;
    memset(in, 0, IN_SIZE);
    uint32_t pc = (uint32_t[]){0, 2, 3, 3}[rnd() % 4];
    uint32_t masks = (rnd() % 8) ? 0x3f : (rnd() & 0x3f);
    uint32_t cw = 0x0040 | masks | pc << 8 | (rnd() % 4) << 10;
    uint32_t fl = rnd() & 0x8d5;
    memcpy(in + IN_CW, &cw, 4);
    memcpy(in + IN_FLAGS, &fl, 4);
    for (int i = 0; i < 16; i += 4) {
        uint32_t r = rnd();
        memcpy(in + IN_MEM + i, &r, 4);
    }
    uint8_t *a = in + IN_A, *b = in + IN_B, *m = in + IN_MEM;
    any80(a);
    any80(b);
    if (!strcmp(k, "bin") || !strcmp(k, "cmp")) {
        if (!strcmp(k, "cmp") && rnd() % 3 == 0)
            memcpy(b, a, 10); /* equal */
    } else if (!strcmp(k, "sqrt")) {
        if (rnd() % 4)
            a[9] &= 0x7f;
    } else if (!strcmp(k, "round")) {
        rounding(a);
    } else if (!strcmp(k, "scale")) {
        if (rnd() % 4)
            putld(b, (long double)((int)(rnd() % 141) - 70));
        else if (rnd() & 1)
            near80(b, 10, 16);
    } else if (!strcmp(k, "prem")) {
        near80(a, -8, 80);
        near80(b, -8, 8);
    } else if (!strcmp(k, "f2xm1")) { /* in-domain finite arguments: -1 < A < 1 */
        near80(a, -64, -1);
    } else if (!strcmp(k, "log")) {
        near80(a, -100, 100);
        a[9] &= 0x7f;
        near80(b, -20, 20);
    } else if (!strcmp(k, "l2p1")) {
        near80(a, -70, -3);
        near80(b, -20, 20);
    } else if (!strcmp(k, "atan")) {
        near80(a, -30, 30);
        near80(b, -30, 30);
    } else if (!strcmp(k, "trig")) { /* |A| < 1 */
        near80(a, -30, -1);
    } else if (!strcmp(k, "trigx")) {
        switch (rnd() % 4) {
        case 0:
            break;
        case 1:
            near80(a, 62, 64);
            break; /* at the edge of the range 2^63 */
        case 2:
            putld(a, 3.14159265358979323846L * (long double)((int)(rnd() % 9) - 4));
            break;
        default:
            near80(a, -20, 20);
            break;
        }
    } else if (!strcmp(k, "mf32") || !strcmp(k, "mf64")) {
        mem_float(m, k[3] == '6');
    } else if (!strcmp(k, "mf80")) {
        any80(m);
    } else if (!strcmp(k, "mi16") || !strcmp(k, "mi32") || !strcmp(k, "mi64")) {
        mem_int(m, k[2] == '1' ? 2 : k[2] == '3' ? 4 : 8);
    } else if (!strcmp(k, "mbcd")) {
        mem_bcd(m);
    } else if (!strcmp(k, "bcd")) {
        if (rnd() % 4)
            near80(a, 0, 62);
    } else if (!strcmp(k, "const") || !strcmp(k, "fcmov") || !strcmp(k, "any")) {
        /* as drawn */
    } else {
        fprintf(stderr, "x87_oracle: op '%s' has unknown kind '%s'\n", op->name, k);
        exit(1);
    }
}

/* Zero what the record leaves out: pointers, FOP, contents of empty registers. */
static void sanitize(uint8_t *out)
{
    uint8_t *s = out + OUT_SAVE;
    memset(s + 12, 0, 8); /* FIP, FCS, FOP */
    memset(s + 20, 0, 6); /* FDP, FDS */
    uint16_t fsw, ftw;
    memcpy(&fsw, s + 4, 2);
    memcpy(&ftw, s + 8, 2);
    unsigned top = (fsw >> 11) & 7;
    for (unsigned i = 0; i < 8; i++)
        if (((ftw >> (2 * ((top + i) & 7))) & 3) == 3)
            memset(s + 28 + 10 * i, 0, 10);
    uint32_t fl;
    memcpy(&fl, out + OUT_FLAGS, 4);
    fl &= 0x8d5;
    memcpy(out + OUT_FLAGS, &fl, 4);
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
        __get_cpuid(0, &a, &r[0], &r[2], &r[1]);
        memcpy(buf, r, len < 12 ? len : 12);
    }
    buf[len - 1] = 0;
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
    unsigned base = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 0) : 12;
    rng_state = argc > 3 ? strtoull(argv[3], NULL, 0) : 0x87A5EED0F1A65EEDULL;
    if (!base || !rng_state) {
        fprintf(stderr, "x87_oracle: cases-per-op and seed must be nonzero\n");
        return 2;
    }
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", argv[1]);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        perror(tmp);
        return 1;
    }
    char host[49];
    host_name(host, sizeof host);
    fprintf(f,
            "; Generated by x87_oracle from x87_ops.asm: each case's expected x87 state was\n"
            "; observed on the build host's CPU. Do not edit.\n"
            "; entry: op index, input block (11 dwords), output block (32 dwords)\n"
            "\nsection .rodata\nx87_oracle_host: db \"%s\", 0\nalign 4\nx87_cases:\n",
            host);
    unsigned total = 0;
    for (uint32_t i = 0; i < x87_op_count; i++) {
        const OpDesc *op = &x87_op_table[i];
        unsigned want = !strcmp(op->kind, "const") ? base / 2 : base;
        if (!strcmp(op->kind, "trigx") || !strcmp(op->kind, "round") || !strcmp(op->kind, "bin"))
            want += base / 2;
        fprintf(f, "; %s\n", op->name);
        for (unsigned n = 0; n < want; n++) {
            uint8_t in[IN_SIZE], out[OUT_SIZE], again[OUT_SIZE];
            pick(op, in);
            memset(out, 0, sizeof out);
            memset(again, 0, sizeof again);
            x87_run(op->stub, in, out);
            x87_run(op->stub, in, again);
            sanitize(out);
            sanitize(again);
            if (memcmp(out, again, sizeof out)) {
                fprintf(stderr, "x87_oracle: '%s' is not deterministic\n", op->name);
                return 1;
            }
            fprintf(f, "    dd %3" PRIu32, i);
            for (int w = 0; w < IN_SIZE; w += 4) {
                uint32_t v;
                memcpy(&v, in + w, 4);
                fprintf(f, ",0x%08" PRIx32, v);
            }
            for (int w = 0; w < OUT_SIZE; w += 4) {
                uint32_t v;
                memcpy(&v, out + w, 4);
                fprintf(f, ",0x%08" PRIx32, v);
            }
            fprintf(f, "\n");
            total++;
        }
    }
    fprintf(f, "x87_cases_end:\nX87_NCASES equ %u\n", total);
    if (fclose(f) || rename(tmp, argv[1])) {
        perror(argv[1]);
        return 1;
    }
    fprintf(stderr, "x87_oracle: %u cases for %" PRIu32 " instructions, host %s\n", total,
            x87_op_count, host);
    return 0;
}
