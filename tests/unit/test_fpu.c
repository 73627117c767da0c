/* The x87 FPU (dbt/fpu.c) against the host's x87.
 *
 * Each case is one x87 instruction between an FRSTOR and an FNSAVE. The same bytes run
 * natively on this host (64-bit mode uses the 32-bit protected-mode FSAVE layout) and as a
 * guest through the translator, from the same random FSAVE image (registers with zeros of
 * both signs, denormals, infinities, NaNs, unsupported encodings, integers and halves; random
 * TOP, tags, RC, PC and exception masks; sticky flags and condition codes), the same memory
 * operand, EFLAGS and EAX. The FNSAVE images (registers, tags, FCW, FSW with C0-C3, TOP and the
 * exception bits, FOP; the pointers where the instruction keeps them), the memory operand,
 * EFLAGS and AX must agree bit for bit. Then the layouts of FSAVE/FSTENV (16/32-bit, real and
 * protected mode) and FXSAVE are checked field by field, and the exceptions: #NM from EM/TS
 * (and WAIT with MP+TS), #MF with CR0.NE=1, FERR#/IRQ 13 and IGNNE# with CR0.NE=0, #UD and
 * #GP for FXSAVE.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cpu/cpuid.h"
#include "dbt/dbt.h"
#include "dbt/fpu.h"
#include "hw/pc.h"

#define CODE_GPA 0x100000
#define DATA_GPA 0x200000
#define IDT_GPA 0x300000
#define GDT_GPA 0x300800
#define HANDLERS_GPA 0x301000
#define STACK_TOP 0x380000
#define MEM_OFF 0x000 /* the instruction's memory operand: [ebx] */
#define IN_OFF 0x100  /* FRSTOR [ebx+0x100] */
#define OUT_OFF 0x200 /* FNSAVE [ebx+0x200] */

typedef struct Regs {
    uint64_t rax, rbx, fl;
} Regs;

/* fpu_native(Regs *r, void *code): RAX, RBX and the flags from r, call code, store them back. */
void fpu_native(Regs *r, void *code);
__asm__(".text\n"
        ".globl fpu_native\n"
        "fpu_native:\n"
        "  push %rbx\n  push %r12\n  push %r13\n"
        "  mov %rdi, %r12\n  mov %rsi, %r13\n"
        "  mov 0(%r12), %rax\n  mov 8(%r12), %rbx\n"
        "  pushq 16(%r12)\n  popfq\n"
        "  call *%r13\n"
        "  pushfq\n  popq 16(%r12)\n"
        "  mov %rax, 0(%r12)\n"
        "  pop %r13\n  pop %r12\n  pop %rbx\n  ret\n");

static uint64_t rng = 0x243f6a8885a308d3ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static Machine *m;
static DbtCpu *env;
static uint8_t *native, *hdata, *gdata;
static uint64_t total_runs;
static int ferr_level, ferr_calls;

static void test_ferr(void *opaque, int level)
{
    ferr_level = level;
    ferr_calls++;
}

static void setup(void)
{
    const char *seed = getenv("DUALVM_FPU_SEED"); /* another sequence of random cases */
    if (seed && strtoull(seed, NULL, 0))
        rng = strtoull(seed, NULL, 0);
    MachineConfig cfg = {.ram_size = 16 << 20, .serial = "none"};
    char err[256];
    m = pc_new(&cfg, err, sizeof(err));
    cr_assert(m, "%s", err);
    env = dbt_new(m);
    cr_assert(env);
    native =
        mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert(native != MAP_FAILED);
    hdata = aligned_alloc(4096, 4096);
    gdata = as_host_ptr(m->as, DATA_GPA, 4096, true);
    cr_assert(hdata && gdata);
}

static void teardown(void)
{
    cr_log_info("%llu runs, %llu guest instructions", (unsigned long long)total_runs,
                (unsigned long long)env->st.insns);
    dbt_free(env);
    pc_free(m);
    munmap(native, 4096);
    free(hdata);
}

/* ---- random x87 values ---- */

static void put80(uint8_t *p, uint64_t mant, uint16_t sexp)
{
    memcpy(p, &mant, 8);
    memcpy(p + 8, &sexp, 2);
}

static uint16_t rsign(void)
{
    return (rnd() & 1) ? 0x8000 : 0;
}

static void rand80(uint8_t *p)
{
    uint64_t r = rnd(), mant = rnd();
    uint16_t s = rsign();
    switch (r % 24) {
    case 0:
        put80(p, 0, s);
        break; /* zero */
    case 1:
        put80(p, mant >> 1 | 1, s);
        break; /* denormal */
    case 2:
        put80(p, mant | 1ull << 63, s);
        break; /* pseudo-denormal */
    case 3:
        put80(p, 1ull << 63, s | 0x7fff);
        break; /* infinity */
    case 4:
        put80(p, mant | 3ull << 62, s | 0x7fff);
        break; /* QNaN */
    case 5:
        put80(p, (mant & ~(1ull << 62)) | 1ull << 63 | 1, s | 0x7fff);
        break; /* SNaN */
    case 6:
        put80(p, 3ull << 62, 0xffff);
        break; /* indefinite */
    case 7:
        put80(p, mant >> 1, s | (uint16_t)(1 + rnd() % 0x7ffe));
        break; /* unnormal */
    case 8:
        put80(p, mant >> 1, s | 0x7fff);
        break; /* pseudo-NaN/inf */
    case 9:    /* a small integer */
    case 10: {
        int64_t v = (int64_t)(rnd() % 2001) - 1000;
        long double d = (long double)v;
        memcpy(p, &d, 10);
        break;
    }
    case 11: { /* n + 1/2 and friends, for rounding to integers */
        long double d =
            (long double)((int64_t)(rnd() % 200) - 100) + 0.5L * (long double)(rnd() % 3);
        memcpy(p, &d, 10);
        break;
    }
    case 12: /* near the int16/int32/int64 limits */
    case 13: {
        static const uint16_t e[] = {0x400d, 0x400e, 0x401d, 0x401e, 0x403d, 0x403e, 0x403f};
        put80(p, mant | 1ull << 63, s | e[rnd() % 7]);
        break;
    }
    case 14: /* near the overflow and underflow limits */
        put80(p, mant | 1ull << 63,
              s | (uint16_t)((rnd() & 1) ? 0x7ffe - rnd() % 4 : 1 + rnd() % 4));
        break;
    case 15: /* around the float/double limits */
    case 16: {
        static const uint16_t e[] = {0x407e, 0x407f, 0x3f81, 0x3f80, 0x3f6a,
                                     0x43fe, 0x43ff, 0x3c01, 0x3c00, 0x3bcd};
        put80(p, mant | 1ull << 63, s | e[rnd() % 10]);
        break;
    }
    case 17: /* small: F2XM1, FYL2XP1, FPATAN ranges */
    case 18:
        put80(p, mant | 1ull << 63, s | (uint16_t)(0x3ff0 + rnd() % 16));
        break;
    case 19: /* large: FPREM, FSIN out of range (2^63) */
        put80(p, mant | 1ull << 63, s | (uint16_t)(0x4000 + rnd() % 0x48));
        break;
    default: /* any normal number around 1 */
        put80(p, mant | 1ull << 63, s | (uint16_t)(0x3f00 + rnd() % 0x200));
        break;
    }
}

static void rand32(uint8_t *p)
{
    static const uint32_t edges[] = {0,          0x80000000, 0x00000001, 0x807fffff, 0x7f800000,
                                     0xff800000, 0x7fc00000, 0xffc00000, 0x7f800001, 0x7fbfffff,
                                     0x3f800000, 0x3f000000, 0x7f7fffff, 0x00800000};
    uint32_t v = (uint32_t)rnd();
    if (rnd() & 1)
        v = edges[rnd() % (sizeof(edges) / sizeof(edges[0]))];
    memcpy(p, &v, 4);
}

static void rand64(uint8_t *p)
{
    static const uint64_t edges[] = {0,
                                     0x8000000000000000ull,
                                     1,
                                     0x800fffffffffffffull,
                                     0x7ff0000000000000ull,
                                     0xfff0000000000000ull,
                                     0x7ff8000000000000ull,
                                     0x7ff0000000000001ull,
                                     0x3ff0000000000000ull,
                                     0x3fe0000000000000ull,
                                     0x7fefffffffffffffull,
                                     0x0010000000000000ull};
    uint64_t v = rnd();
    if (rnd() & 1)
        v = edges[rnd() % (sizeof(edges) / sizeof(edges[0]))];
    else if (rnd() & 1)
        v = (v & 0x800fffffffffffffull) | (uint64_t)(0x3c0 + rnd() % 0x80) << 52;
    memcpy(p, &v, 8);
}

static void randint(uint8_t *p, unsigned size)
{
    uint64_t v = rnd();
    switch (rnd() % 4) {
    case 0:
        v = (uint64_t)((int64_t)(rnd() % 200) - 100);
        break;
    case 1:
        v = 1ull << (size * 8 - 1);
        break;
    case 2:
        v = (1ull << (size * 8 - 1)) - 1 - rnd() % 3;
        break;
    default:
        break;
    }
    memcpy(p, &v, size);
}

static void randbcd(uint8_t *p)
{
    for (int i = 0; i < 9; i++) {
        unsigned lo = rnd() % 10, hi = rnd() % 10;
        if (rnd() % 16 == 0)
            lo = 10 + rnd() % 6; /* an invalid digit now and then */
        p[i] = (uint8_t)(hi << 4 | lo);
    }
    p[9] = (rnd() & 1) ? 0x80 : 0;
}

/* A random FSAVE image (32-bit protected mode) with no unmasked exception pending. */
static void rand_state(uint8_t *img)
{
    memset(img, 0, 108);
    uint16_t fcw = 0x1040 | (uint16_t)(rnd() & 0x0f00);
    if ((fcw & 0x300) == 0x100 && (rnd() & 1))
        fcw |= 0x200; /* the reserved precision control only half the time */
    fcw |= (rnd() % 4) ? 0x3f : (uint16_t)(rnd() & 0x3f);
    uint16_t fsw = (uint16_t)(rnd() & (FSW_CC | FSW_TOP)) | (uint16_t)(rnd() & fcw & 0x3f);
    if ((fsw & FSW_IE) && (rnd() & 1))
        fsw |= FSW_SF;
    uint16_t ftw = 0;
    for (int p = 0; p < 8; p++)
        ftw |= (uint16_t)((rnd() % 4 == 0 ? 3 : rnd() % 3) << (2 * p));
    if (rnd() % 8 == 0)
        ftw = 0; /* a full stack: overflow */
    else if (rnd() % 8 == 0)
        ftw = 0xffff; /* an empty one: underflow */
    uint32_t w;
    w = 0xffff0000u | fcw;
    memcpy(img + 0, &w, 4);
    w = 0xffff0000u | fsw;
    memcpy(img + 4, &w, 4);
    w = 0xffff0000u | ftw;
    memcpy(img + 8, &w, 4);
    w = (uint32_t)rnd();
    memcpy(img + 12, &w, 4); /* FIP */
    w = (uint32_t)(rnd() & 0x07ffffff);
    memcpy(img + 16, &w, 4); /* FCS, FOP */
    w = (uint32_t)rnd();
    memcpy(img + 20, &w, 4); /* FDP */
    w = 0xffff0000u | (uint32_t)(rnd() & 0xffff);
    memcpy(img + 24, &w, 4); /* FDS */
    for (int i = 0; i < 8; i++)
        rand80(img + 28 + 10 * i);
}

/* ---- running one case ---- */

enum { M_NONE, M_F32, M_F64, M_F80, M_I16, M_I32, M_I64, M_BCD, M_W16, M_ENV };

typedef struct Insn {
    uint8_t b[3];
    unsigned len;
    int mem;
    bool control; /* FIP/FDP are left as FRSTOR loaded them: compare them too */
} Insn;

static uint64_t expect_end;

static void put_code(const Insn *in)
{
    static const uint8_t frstor[] = {0xdd, 0xa3, IN_OFF & 0xff, IN_OFF >> 8, 0, 0};
    static const uint8_t fnsave[] = {0xdd, 0xb3, OUT_OFF & 0xff, OUT_OFF >> 8, 0, 0};
    uint8_t code[32];
    size_t n = 0;
    memcpy(code + n, frstor, sizeof(frstor));
    n += sizeof(frstor);
    memcpy(code + n, in->b, in->len);
    n += in->len;
    memcpy(code + n, fnsave, sizeof(fnsave));
    n += sizeof(fnsave);
    memcpy(native, code, n);
    native[n] = 0xc3; /* ret */
    code[n] = 0xf4;   /* hlt */
    cr_assert(as_load(m->as, CODE_GPA, code, n + 1) == 0);
    dbt_invalidate_phys(env, CODE_GPA, 4096);
    expect_end = CODE_GPA + n + 1;
}

static void fill_mem(uint8_t *p, int kind)
{
    for (int i = 0; i < 128; i += 8) {
        uint64_t r = rnd();
        memcpy(p + i, &r, 8);
    }
    switch (kind) {
    case M_F32:
        rand32(p);
        break;
    case M_F64:
        rand64(p);
        break;
    case M_F80:
        rand80(p);
        break;
    case M_I16:
        randint(p, 2);
        break;
    case M_I32:
        randint(p, 4);
        break;
    case M_I64:
        randint(p, 8);
        break;
    case M_BCD:
        randbcd(p);
        break;
    case M_ENV:
        if (rnd() & 1)
            rand_state(p); /* else random bytes */
        break;
    default:
        break;
    }
}

static void run_dbt(Regs *r)
{
    cpu_set_flat32(&env->s, CODE_GPA);
    env->s.cr0 &= ~(uint64_t)(CR0_EM | CR0_TS | CR0_MP);
    env->s.halted = false;
    env->s.regs[R_EAX] = r->rax & 0xffffffff;
    env->s.regs[R_EBX] = DATA_GPA;
    env->s.regs[R_ESP] = 0x8000;
    dbt_set_eflags(env, (uint32_t)r->fl, 0xffffffff & ~(FL_IF | FL_TF | FL_VM | FL_RF));
    int rc = dbt_exec(env, &(int){0}, INT64_MAX);
    cr_assert_eq(rc, DBT_RUN_HLT, "dbt stopped with %d: %s", rc, env->error);
    cr_assert_eq(env->s.rip, expect_end, "dbt stopped at %#llx, not at the end of the code",
                 (unsigned long long)env->s.rip);
    r->rax = env->s.regs[R_EAX];
    r->fl = dbt_get_eflags(env);
}

static void hexdump(char *out, size_t len, const uint8_t *p, unsigned n)
{
    size_t k = 0;
    for (unsigned i = 0; i < n && k + 4 < len; i++)
        k += (size_t)snprintf(out + k, len - k, "%02x%s", p[i], (i % 10 == 9) ? " " : "");
}

/* An FSAVE image as words and registers (ST order, mantissa:sign-exponent). */
static void describe(char *out, size_t len, const uint8_t *img)
{
    uint16_t fcw, fsw, ftw, fop;
    memcpy(&fcw, img, 2);
    memcpy(&fsw, img + 4, 2);
    memcpy(&ftw, img + 8, 2);
    memcpy(&fop, img + 18, 2);
    size_t k = (size_t)snprintf(out, len, "fcw %04x fsw %04x (top %u) ftw %04x fop %03x |", fcw,
                                fsw, (fsw >> 11) & 7, ftw, fop & 0x7ff);
    for (int i = 0; i < 8 && k + 30 < len; i++) {
        uint64_t mant;
        uint16_t se;
        memcpy(&mant, img + 28 + 10 * i, 8);
        memcpy(&se, img + 36 + 10 * i, 2);
        k += (size_t)snprintf(out + k, len - k, " %016llx:%04x", (unsigned long long)mant, se);
    }
}

/* Whether byte i of an FSTENV image (16- or 32-bit protected-mode layout) is part of a
 * pointer field (FIP, FCS, FOP, FDP, FDS) that the host has as zero. Those fields may be lost
 * on the host: a context switch of this test restores them from the kernel's 64-bit XSAVE
 * image, which has no FCS and FDS, and AMD parts do not even save FIP, FDP and FOP there
 * while no exception is pending. The layouts are checked exactly, and deterministically, by
 * the tests further down. */
static bool pointer_lost(const uint8_t *img, unsigned i, bool o16)
{
    static const uint8_t f32[][2] = {{12, 4}, {16, 2}, {18, 2}, {20, 4}, {24, 2}};
    static const uint8_t f16[][2] = {{6, 2}, {8, 2}, {10, 2}, {12, 2}};
    const uint8_t(*f)[2] = o16 ? f16 : f32;
    unsigned n = o16 ? 4 : 5;
    for (unsigned k = 0; k < n; k++) {
        if (i < f[k][0] || i >= f[k][0] + f[k][1])
            continue;
        for (unsigned j = 0; j < f[k][1]; j++) {
            uint8_t v = img[f[k][0] + j];
            if (!o16 && k == 2 && j == 1)
                v &= 7; /* FOP has 11 bits */
            if (v)
                return false;
        }
        return true;
    }
    return false;
}

/* Which bytes of the FNSAVE image to compare: all but the pointers of a non-control one. */
static bool image_byte_compared(unsigned i, bool control)
{
    if (control)
        return true;
    return !((i >= 12 && i < 18) || (i >= 20 && i < 26));
}

static unsigned mem_size(int kind)
{
    switch (kind) {
    case M_F32:
    case M_I32:
        return 4;
    case M_F64:
    case M_I64:
        return 8;
    case M_F80:
    case M_BCD:
        return 10;
    case M_I16:
    case M_W16:
        return 2;
    case M_ENV:
        return 108;
    default:
        return 0;
    }
}

static unsigned failures;

static void check_insn(const Insn *in, int iterations)
{
    put_code(in);
    for (int it = 0; it < iterations; it++) {
        uint8_t state[108], mem[128];
        rand_state(state);
        fill_mem(mem, in->mem);
        memset(hdata, 0, 1024);
        memcpy(hdata + MEM_OFF, mem, sizeof(mem));
        memcpy(hdata + IN_OFF, state, sizeof(state));
        memcpy(gdata, hdata, 1024);
        Regs hw = {rnd(), (uint64_t)(uintptr_t)hdata, (rnd() & FL_ARITH) | FL_FIXED1};
        Regs sw = hw;
        uint64_t fl_in = hw.fl;
        fpu_native(&hw, native);
        run_dbt(&sw);
        total_runs++;

        bool same = ((hw.fl ^ sw.fl) & FL_ARITH) == 0 && (uint16_t)hw.rax == (uint16_t)sw.rax;
        unsigned bad = 0;
        for (unsigned i = 0; i < 108; i++)
            if (image_byte_compared(i, in->control) && !pointer_lost(hdata + OUT_OFF, i, false) &&
                hdata[OUT_OFF + i] != gdata[OUT_OFF + i]) {
                same = false;
                bad = i;
                break;
            }
        unsigned msize = mem_size(in->mem);
        /* FNSTENV/FNSAVE store the pointers FRSTOR loaded: the same on both sides */
        for (unsigned i = 0; i < msize; i++) {
            if (in->mem == M_ENV && pointer_lost(hdata + MEM_OFF, i, in->len == 3))
                continue;
            if (hdata[MEM_OFF + i] != gdata[MEM_OFF + i]) {
                same = false;
                bad = 1000 + i;
                break;
            }
        }
        if (!same) {
            char s_in[600], s_hw[600], s_sw[600], s_mem[100], hm[100], sm[100];
            describe(s_in, sizeof(s_in), state);
            describe(s_hw, sizeof(s_hw), hdata + OUT_OFF);
            describe(s_sw, sizeof(s_sw), gdata + OUT_OFF);
            hexdump(s_mem, sizeof(s_mem), mem, msize ? msize : 1);
            hexdump(hm, sizeof(hm), hdata + MEM_OFF, msize ? msize : 1);
            hexdump(sm, sizeof(sm), gdata + MEM_OFF, msize ? msize : 1);
            failures++;
            char rh[100], rs[100];
            hexdump(rh, sizeof(rh), (bad >= 1000 ? hdata + MEM_OFF : hdata + OUT_OFF), 28);
            hexdump(rs, sizeof(rs), (bad >= 1000 ? gdata + MEM_OFF : gdata + OUT_OFF), 28);
            cr_log_error("raw env host %s\n    dbt %s", rh, rs);
            cr_log_error(
                "insn %02x %02x %02x (iteration %d, first difference at %u)\n"
                "  in:   %s\n        mem %s fl %03llx\n"
                "  host: %s\n        mem %s fl %03llx ax %04llx\n"
                "  dbt:  %s\n        mem %s fl %03llx ax %04llx",
                in->b[0], in->b[1], in->len > 2 ? in->b[2] : 0, it, bad, s_in, s_mem,
                (unsigned long long)(fl_in & FL_ARITH), s_hw, hm,
                (unsigned long long)(hw.fl & FL_ARITH), (unsigned long long)(hw.rax & 0xffff), s_sw,
                sm, (unsigned long long)(sw.fl & FL_ARITH), (unsigned long long)(sw.rax & 0xffff));
            return;
        }
    }
}

/* Register forms the x87 defines (documented and the aliases real parts run). */
static bool reg_form_valid(unsigned opc, unsigned modrm)
{
    switch (opc) {
    case 1:
        return !((modrm >= 0xd1 && modrm <= 0xd7) || modrm == 0xe2 || modrm == 0xe3 ||
                 modrm == 0xe6 || modrm == 0xe7 || modrm == 0xef);
    case 2:
        return modrm < 0xe0 || modrm == 0xe9;
    case 3:
        return modrm < 0xe5 || (modrm >= 0xe8 && modrm < 0xf8);
    case 5:
        return modrm < 0xf0;
    case 6:
        return modrm < 0xd8 || modrm == 0xd9 || modrm >= 0xe0;
    case 7:
        return modrm <= 0xe0 || (modrm >= 0xe8 && modrm < 0xf8);
    default:
        return true;
    }
}

static bool reg_form_control(unsigned opc, unsigned modrm)
{
    return (opc == 3 && modrm >= 0xe0 && modrm <= 0xe4) || (opc == 7 && modrm == 0xe0);
}

static void check_reg_forms(unsigned opc_lo, unsigned opc_hi, int iterations)
{
    for (unsigned opc = opc_lo; opc <= opc_hi; opc++)
        for (unsigned modrm = 0xc0; modrm <= 0xff; modrm++) {
            if (!reg_form_valid(opc, modrm))
                continue;
            Insn in = {
                {(uint8_t)(0xd8 + opc), (uint8_t)modrm}, 2, M_NONE, reg_form_control(opc, modrm)};
            check_insn(&in, iterations);
        }
    cr_assert_eq(failures, 0, "%u instructions differ from the host", failures);
}

TestSuite(fpu, .init = setup, .fini = teardown, .timeout = 300);

/* cases per instruction; DUALVM_FPU_ITER multiplies them for a longer run */
static int iter(void)
{
    const char *k = getenv("DUALVM_FPU_ITER");
    return 300 * (k && atoi(k) > 0 ? atoi(k) : 1);
}
#define ITER iter()

Test(fpu, reg_d8_d9)
{
    check_reg_forms(0, 1, ITER);
}

Test(fpu, reg_da_db)
{
    check_reg_forms(2, 3, ITER);
}

Test(fpu, reg_dc_dd)
{
    check_reg_forms(4, 5, ITER);
}

Test(fpu, reg_de_df)
{
    check_reg_forms(6, 7, ITER);
}

/* Memory forms: operand [ebx]. */
static const struct {
    uint8_t opc, reg;
    int mem;
    bool control;
} mem_forms[] = {
    {0, 0, M_F32, 0}, {0, 1, M_F32, 0}, {0, 2, M_F32, 0}, {0, 3, M_F32, 0}, {0, 4, M_F32, 0},
    {0, 5, M_F32, 0}, {0, 6, M_F32, 0}, {0, 7, M_F32, 0}, {1, 0, M_F32, 0}, {1, 2, M_F32, 0},
    {1, 3, M_F32, 0}, {1, 4, M_ENV, 1}, {1, 5, M_W16, 1}, {1, 6, M_ENV, 1}, {1, 7, M_W16, 1},
    {2, 0, M_I32, 0}, {2, 1, M_I32, 0}, {2, 2, M_I32, 0}, {2, 3, M_I32, 0}, {2, 4, M_I32, 0},
    {2, 5, M_I32, 0}, {2, 6, M_I32, 0}, {2, 7, M_I32, 0}, {3, 0, M_I32, 0}, {3, 1, M_I32, 0},
    {3, 2, M_I32, 0}, {3, 3, M_I32, 0}, {3, 5, M_F80, 0}, {3, 7, M_F80, 0}, {4, 0, M_F64, 0},
    {4, 1, M_F64, 0}, {4, 2, M_F64, 0}, {4, 3, M_F64, 0}, {4, 4, M_F64, 0}, {4, 5, M_F64, 0},
    {4, 6, M_F64, 0}, {4, 7, M_F64, 0}, {5, 0, M_F64, 0}, {5, 1, M_I64, 0}, {5, 2, M_F64, 0},
    {5, 3, M_F64, 0}, {5, 4, M_ENV, 1}, {5, 6, M_ENV, 1}, {5, 7, M_W16, 1}, {6, 0, M_I16, 0},
    {6, 1, M_I16, 0}, {6, 2, M_I16, 0}, {6, 3, M_I16, 0}, {6, 4, M_I16, 0}, {6, 5, M_I16, 0},
    {6, 6, M_I16, 0}, {6, 7, M_I16, 0}, {7, 0, M_I16, 0}, {7, 1, M_I16, 0}, {7, 2, M_I16, 0},
    {7, 3, M_I16, 0}, {7, 4, M_BCD, 0}, {7, 5, M_I64, 0}, {7, 6, M_BCD, 0}, {7, 7, M_I64, 0},
};

Test(fpu, mem_forms)
{
    for (size_t i = 0; i < sizeof(mem_forms) / sizeof(mem_forms[0]); i++) {
        Insn in = {{(uint8_t)(0xd8 + mem_forms[i].opc), (uint8_t)(mem_forms[i].reg << 3 | 3)},
                   2,
                   mem_forms[i].mem,
                   mem_forms[i].control};
        check_insn(&in, ITER * 4);
    }
    cr_assert_eq(failures, 0, "%u instructions differ from the host", failures);
}

/* 16-bit operand size: the 14/94-byte layouts of FLDENV/FNSTENV/FRSTOR/FNSAVE. */
Test(fpu, mem_forms_o16)
{
    static const uint8_t forms[][3] = {
        {0x66, 0xd9, 0x23}, {0x66, 0xd9, 0x33}, {0x66, 0xdd, 0x23}, {0x66, 0xdd, 0x33}};
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        Insn in = {{forms[i][0], forms[i][1], forms[i][2]}, 3, M_ENV, true};
        check_insn(&in, ITER);
    }
    cr_assert_eq(failures, 0, "%u instructions differ from the host", failures);
}

/* ---- FXSAVE and FXRSTOR against the host ---- */

#define FX_OFF 0x400

/* FRSTOR a random state, FXSAVE it: the image must match the host's where both define it
 * (MXCSR_MASK is the model's, XMM registers are not the FPU's; FOP/FIP/FDP: the layout test). */
Test(fpu, fxsave_vs_host)
{
    uint8_t code[] = {
        0xdd, 0xa3, IN_OFF & 0xff, IN_OFF >> 8,   0,           0,    /* frstor [ebx+IN] */
        0x0f, 0xae, 0x83,          FX_OFF & 0xff, FX_OFF >> 8, 0, 0, /* fxsave [ebx+FX] */
        0xdb, 0xe3,                                                  /* fninit */
        0xf4};
    memcpy(native, code, sizeof(code));
    native[sizeof(code) - 1] = 0xc3;
    cr_assert(as_load(m->as, CODE_GPA, code, sizeof(code)) == 0);
    dbt_invalidate_phys(env, CODE_GPA, 4096);
    expect_end = CODE_GPA + sizeof(code);
    for (int it = 0; it < ITER; it++) {
        uint8_t state[108];
        rand_state(state);
        memset(hdata, 0, 4096);
        memcpy(hdata + IN_OFF, state, sizeof(state));
        memcpy(gdata, hdata, 4096);
        Regs hw = {0, (uint64_t)(uintptr_t)hdata, FL_FIXED1}, sw = hw;
        fpu_native(&hw, native);
        run_dbt(&sw);
        for (unsigned i = 0; i < 160; i++) {
            if (i >= 6 && i < 32) /* pointers, MXCSR and its mask: not the guest FPU's */
                continue;
            cr_assert_eq(hdata[FX_OFF + i], gdata[FX_OFF + i],
                         "FXSAVE byte %u: host %02x dbt %02x (iteration %d)", i, hdata[FX_OFF + i],
                         gdata[FX_OFF + i], it);
        }
    }
}

/* FXRSTOR a random image (valid MXCSR), FNSAVE: the state must match the host's. */
Test(fpu, fxrstor_vs_host)
{
    uint8_t code[] = {
        0x0f, 0xae, 0x8b,           FX_OFF & 0xff, FX_OFF >> 8, 0, 0, /* fxrstor [ebx+FX] */
        0xdd, 0xb3, OUT_OFF & 0xff, OUT_OFF >> 8,  0,           0,    /* fnsave [ebx+OUT] */
        0xf4};
    memcpy(native, code, sizeof(code));
    native[sizeof(code) - 1] = 0xc3;
    cr_assert(as_load(m->as, CODE_GPA, code, sizeof(code)) == 0);
    dbt_invalidate_phys(env, CODE_GPA, 4096);
    expect_end = CODE_GPA + sizeof(code);
    for (int it = 0; it < ITER; it++) {
        uint8_t img[512], state[108];
        for (unsigned i = 0; i < sizeof(img); i += 8) {
            uint64_t r = rnd();
            memcpy(img + i, &r, 8);
        }
        rand_state(state);
        uint16_t fcw, fsw, ftw;
        memcpy(&fcw, state, 2);
        memcpy(&fsw, state + 4, 2);
        memcpy(&ftw, state + 8, 2);
        memcpy(img, &fcw, 2);
        memcpy(img + 2, &fsw, 2);
        img[4] = (uint8_t)rnd();
        uint32_t mxcsr = 0x1f80;
        memcpy(img + 24, &mxcsr, 4);
        for (int i = 0; i < 8; i++)
            memcpy(img + 32 + 16 * i, state + 28 + 10 * i, 10);
        memset(hdata, 0, 4096);
        memcpy(hdata + FX_OFF, img, sizeof(img));
        memcpy(gdata, hdata, 4096);
        Regs hw = {0, (uint64_t)(uintptr_t)hdata, FL_FIXED1}, sw = hw;
        fpu_native(&hw, native);
        run_dbt(&sw);
        for (unsigned i = 0; i < 108; i++) {
            if (pointer_lost(hdata + OUT_OFF, i, false))
                continue;
            cr_assert_eq(hdata[OUT_OFF + i], gdata[OUT_OFF + i],
                         "FNSAVE after FXRSTOR, byte %u: host %02x dbt %02x (iteration %d)", i,
                         hdata[OUT_OFF + i], gdata[OUT_OFF + i], it);
        }
    }
}

/* ---- layouts, field by field ---- */

static uint64_t run_code(const uint8_t *code, size_t n, uint64_t gpa)
{
    cr_assert(as_load(m->as, gpa, code, n) == 0);
    dbt_invalidate_phys(env, gpa, 4096);
    env->s.halted = false;
    int rc = dbt_exec(env, &(int){0}, INT64_MAX);
    cr_assert_eq(rc, DBT_RUN_HLT, "dbt stopped with %d: %s", rc, env->error);
    return env->s.rip;
}

/* A known x87 state: TOP 3, ST(0)-ST(4) in use, ST(5) zero, ST(6)-ST(7) empty. */
static void known_state(bool real)
{
    CpuState *s = &env->s;
    for (int i = 0; i < 8; i++) {
        s->fpr[i].mant = 0x8000000000000000ull | (0x0101010101010101ull * (uint64_t)(i + 1));
        s->fpr[i].sexp = (uint16_t)(0x3fff + i);
    }
    s->fpr[5].mant = 0;
    s->fpr[5].sexp = 0x8000;
    s->fcw = 0x0a7f;
    s->fsw = (uint16_t)(3 << 11 | FSW_C3 | FSW_C0 | FSW_PE);
    s->ftw = 0;
    unsigned tags[8] = {0, 0, 0, 0, 0, 1, 3, 3};
    for (unsigned i = 0; i < 8; i++)
        s->ftw |= (uint16_t)(tags[i] << (2 * ((3 + i) & 7)));
    s->fop = 0x5a5;
    if (real) {
        s->fip = 0x1234 | (0x2000ull << 32);
        s->fdp = 0x5678 | (0x3000ull << 32);
    } else {
        s->fip = 0x12345678 | (0x0123ull << 32);
        s->fdp = 0x9abcdef0 | (0x0456ull << 32);
    }
}

static uint32_t rd32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static uint16_t rd16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

static void check_regs(const uint8_t *p, const FpReg *st)
{
    for (int i = 0; i < 8; i++) {
        uint64_t mant;
        memcpy(&mant, p + 10 * i, 8);
        cr_assert_eq(mant, st[i].mant, "ST(%d) significand", i);
        cr_assert_eq(rd16(p + 10 * i + 8), st[i].sexp, "ST(%d) exponent", i);
    }
}

static void flat32(void)
{
    cpu_set_flat32(&env->s, CODE_GPA);
    env->s.cr0 &= ~(uint64_t)(CR0_EM | CR0_TS | CR0_MP | CR0_NE);
    env->s.regs[R_EBX] = DATA_GPA;
    env->s.regs[R_ESP] = STACK_TOP;
}

Test(fpu, fstenv_fsave_protected_32)
{
    static const uint8_t code[] = {0xd9, 0x33,       /* fnstenv [ebx] */
                                   0xdd, 0x73, 0x40, /* fnsave [ebx+0x40] */
                                   0xdd, 0x63, 0x40, /* frstor [ebx+0x40] */
                                   0xf4};
    flat32();
    known_state(false);
    CpuState before = env->s;
    memset(gdata, 0xcc, 512);
    run_code(code, sizeof(code), CODE_GPA);
    const uint8_t *e = gdata;
    cr_assert_eq(rd32(e + 0), 0xffff0a7f, "FCW %08x", rd32(e + 0));
    cr_assert_eq(rd32(e + 4), 0xffff0000u | before.fsw, "FSW %08x", rd32(e + 4));
    cr_assert_eq(rd32(e + 8), 0xffff0000u | before.ftw, "FTW %08x", rd32(e + 8));
    cr_assert_eq(rd32(e + 12), 0x12345678);
    cr_assert_eq(rd32(e + 16), 0x0123 | 0x5a5u << 16, "FCS/FOP %08x", rd32(e + 16));
    cr_assert_eq(rd32(e + 20), 0x9abcdef0);
    cr_assert_eq(rd32(e + 24), 0xffff0456);
    cr_assert_eq(e[28], 0xcc, "FNSTENV wrote past its 28 bytes");
    /* FNSTENV masked all exceptions before FNSAVE stored the control word */
    const uint8_t *f = gdata + 0x40;
    cr_assert_eq(rd32(f + 0), 0xffff0a7f);
    cr_assert_eq(rd32(f + 12), 0x12345678, "FNSTENV is a control instruction: FIP kept");
    check_regs(f + 28, before.fpr);
    cr_assert_eq(f[108], 0xcc, "FNSAVE wrote past its 108 bytes");
    /* FRSTOR brought back everything FNSAVE took (FNSAVE initialized the FPU in between) */
    cr_assert_eq(env->s.fsw, before.fsw);
    cr_assert_eq(env->s.ftw, before.ftw);
    cr_assert_eq(env->s.fcw, 0x0a7f);
    cr_assert_eq(env->s.fip, before.fip);
    cr_assert_eq(env->s.fdp, before.fdp);
    cr_assert_eq(env->s.fop, before.fop);
    cr_assert(!memcmp(env->s.fpr, before.fpr, sizeof(before.fpr)));
}

Test(fpu, fstenv_fsave_protected_16)
{
    static const uint8_t code[] = {0x66, 0xd9, 0x33,       /* fnstenv [ebx] (o16) */
                                   0x66, 0xdd, 0x73, 0x40, /* fnsave [ebx+0x40] (o16) */
                                   0xf4};
    flat32();
    known_state(false);
    CpuState before = env->s;
    memset(gdata, 0xcc, 512);
    run_code(code, sizeof(code), CODE_GPA);
    const uint8_t *e = gdata;
    cr_assert_eq(rd16(e + 0), 0x0a7f);
    cr_assert_eq(rd16(e + 2), before.fsw);
    cr_assert_eq(rd16(e + 4), before.ftw);
    cr_assert_eq(rd16(e + 6), 0x5678);
    cr_assert_eq(rd16(e + 8), 0x0123);
    cr_assert_eq(rd16(e + 10), 0xdef0);
    cr_assert_eq(rd16(e + 12), 0x0456);
    cr_assert_eq(e[14], 0xcc, "FNSTENV o16 wrote past its 14 bytes");
    const uint8_t *f = gdata + 0x40;
    check_regs(f + 14, before.fpr);
    cr_assert_eq(f[94], 0xcc, "FNSAVE o16 wrote past its 94 bytes");
    cr_assert_eq(env->s.fcw, FCW_INIT, "FNSAVE initializes the FPU");
    cr_assert_eq(env->s.ftw, 0xffff);
    cr_assert_eq(env->s.fsw, 0);
}

/* Real mode: the pointers are 20-bit (16-bit layout) or 32-bit (32-bit layout) linear
 * addresses, with the opcode beside them. */
Test(fpu, fstenv_fldenv_real)
{
    static const uint8_t code[] = {0xd9, 0x37,             /* fnstenv [bx] */
                                   0x66, 0xd9, 0x77, 0x20, /* fnstenv [bx+0x20] (o32) */
                                   0xd9, 0x27,             /* fldenv [bx] */
                                   0xf4};
    CpuState *s = &env->s;
    s->cr0 &= ~(uint64_t)(CR0_PE | CR0_PG | CR0_EM | CR0_TS);
    for (int i = 0; i < CPU_NR_SEGS; i++)
        cpu_load_seg_real(s, i, 0x2000);
    cpu_load_seg_real(s, S_CS, 0x1000);
    s->rflags = FL_FIXED1;
    s->rip = 0;
    s->regs[R_EBX] = 0;
    s->regs[R_ESP] = 0xfff0;
    known_state(true);
    CpuState before = env->s;
    uint8_t *d = as_host_ptr(m->as, 0x20000, 4096, true);
    memset(d, 0xcc, 256);
    run_code(code, sizeof(code), 0x10000);
    cr_assert_eq(rd16(d + 0), 0x0a7f);
    cr_assert_eq(rd16(d + 2), before.fsw);
    cr_assert_eq(rd16(d + 4), before.ftw);
    cr_assert_eq(rd16(d + 6), 0x1234, "FIP 15-0 of linear 0x21234");
    cr_assert_eq(rd16(d + 8), 0x2000 | 0x5a5, "FIP 19-16 and FOP: %04x", rd16(d + 8));
    cr_assert_eq(rd16(d + 10), 0x5678, "FDP 15-0 of linear 0x35678");
    cr_assert_eq(rd16(d + 12), 0x3000, "FDP 19-16: %04x", rd16(d + 12));
    const uint8_t *e = d + 0x20;
    cr_assert_eq(rd32(e + 0), 0xffff0a7f);
    cr_assert_eq(rd32(e + 12), 0xffff1234, "%08x", rd32(e + 12));
    cr_assert_eq(rd32(e + 16), (0x0002u << 12) | 0x5a5, "%08x", rd32(e + 16));
    cr_assert_eq(rd32(e + 20), 0xffff5678, "%08x", rd32(e + 20));
    cr_assert_eq(rd32(e + 24), 0x0003u << 12, "%08x", rd32(e + 24));
    /* FLDENV of the 16-bit image: the linear pointers come back, FCS and FDS zero; the
     * exception masks FNSTENV set are undone */
    cr_assert_eq(s->fcw, 0x0a7f);
    cr_assert_eq(s->fip, 0x21234);
    cr_assert_eq(s->fdp, 0x35678);
    cr_assert_eq(s->fop, 0x5a5);
    cr_assert_eq(s->ftw, before.ftw);
    cr_assert(!memcmp(s->fpr, before.fpr, sizeof(before.fpr)));
}

Test(fpu, fxsave_layout_and_round_trip)
{
    static const uint8_t code[] = {0x0f, 0xae, 0x03, /* fxsave [ebx] */
                                   0xdb, 0xe3,       /* fninit */
                                   0x0f, 0xae, 0x0b, /* fxrstor [ebx] */
                                   0xf4};
    flat32();
    known_state(false);
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 16; j++)
            env->s.xmm[i][j] = (uint8_t)(i * 16 + j);
    env->s.mxcsr = 0x1f80;
    CpuState before = env->s;
    memset(gdata, 0xcc, 1024);
    run_code(code, sizeof(code), CODE_GPA);
    const uint8_t *x = gdata;
    cr_assert_eq(rd16(x + 0), 0x0a7f);
    cr_assert_eq(rd16(x + 2), before.fsw);
    cr_assert_eq(x[4], 0xf9, "abridged tag: physical 3-7 and 0 in use: %02x", x[4]);
    cr_assert_eq(x[5], 0);
    cr_assert_eq(rd16(x + 6), 0x5a5);
    cr_assert_eq(rd32(x + 8), 0x12345678);
    cr_assert_eq(rd16(x + 12), 0x0123);
    cr_assert_eq(rd16(x + 14), 0);
    cr_assert_eq(rd32(x + 16), 0x9abcdef0);
    cr_assert_eq(rd16(x + 20), 0x0456);
    cr_assert_eq(rd16(x + 22), 0);
    cr_assert_eq(rd32(x + 24), 0x1f80);
    cr_assert_eq(rd32(x + 28), 0xffbf, "MXCSR_MASK");
    for (int i = 0; i < 8; i++) {
        uint64_t mant;
        memcpy(&mant, x + 32 + 16 * i, 8);
        cr_assert_eq(mant, before.fpr[i].mant);
        cr_assert_eq(rd16(x + 40 + 16 * i), before.fpr[i].sexp);
        for (int j = 10; j < 16; j++)
            cr_assert_eq(x[32 + 16 * i + j], 0);
    }
    cr_assert(!memcmp(x + 160, before.xmm, 128), "XMM0-7");
    cr_assert_eq(x[464], 0xcc, "bytes 464-511 are software's");
    cr_assert_eq(env->s.fcw, before.fcw);
    cr_assert_eq(env->s.fsw, before.fsw);
    cr_assert_eq(env->s.ftw, before.ftw, "FXRSTOR rebuilds the full tags: %04x", env->s.ftw);
    cr_assert_eq(env->s.fip, before.fip);
    cr_assert_eq(env->s.fdp, before.fdp);
    cr_assert_eq(env->s.fop, before.fop);
    cr_assert(!memcmp(env->s.fpr, before.fpr, sizeof(before.fpr)));
}

/* ---- exceptions ---- */

/* A GDT and an IDT whose handler for vector v is a HLT at HANDLERS_GPA + 16 v. */
static void setup_idt(void)
{
    static const uint64_t gdt[] = {0, 0x00cf9a000000ffffull, 0x00cf92000000ffffull};
    cr_assert(as_load(m->as, GDT_GPA, gdt, sizeof(gdt)) == 0);
    uint8_t idt[32 * 8], hlt[32 * 16];
    for (int v = 0; v < 32; v++) {
        uint32_t h = HANDLERS_GPA + 16 * v;
        uint8_t gate[8] = {(uint8_t)h,         (uint8_t)(h >> 8), 0x08, 0, 0, 0x8e,
                           (uint8_t)(h >> 16), (uint8_t)(h >> 24)};
        memcpy(idt + 8 * v, gate, 8);
    }
    memset(hlt, 0xf4, sizeof(hlt));
    cr_assert(as_load(m->as, IDT_GPA, idt, sizeof(idt)) == 0);
    cr_assert(as_load(m->as, HANDLERS_GPA, hlt, sizeof(hlt)) == 0);
    dbt_invalidate_phys(env, HANDLERS_GPA, 4096);
    env->s.gdt.base = GDT_GPA;
    env->s.gdt.limit = sizeof(gdt) - 1;
    env->s.idt.base = IDT_GPA;
    env->s.idt.limit = sizeof(idt) - 1;
}

/* Run code in flat 32-bit mode with cr0 bits set; returns the vector taken, or -1 if the
 * code ran to its HLT (at offset end). *eip: the EIP the exception pushed. */
static int run_exc(const uint8_t *code, size_t n, uint64_t cr0_set, uint32_t *eip)
{
    flat32();
    setup_idt();
    env->s.cr0 |= cr0_set;
    uint64_t rip = run_code(code, n, CODE_GPA);
    if (rip == CODE_GPA + n)
        return -1;
    cr_assert(rip > HANDLERS_GPA && rip <= HANDLERS_GPA + 32 * 16, "stopped at %#llx",
              (unsigned long long)rip);
    uint8_t *stack = as_host_ptr(m->as, STACK_TOP - 12, 12, false);
    if (eip)
        *eip = rd32(stack);
    return (int)((rip - 1 - HANDLERS_GPA) / 16);
}

Test(fpu, nm_em_ts_mp)
{
    static const uint8_t fld1[] = {0xd9, 0xe8, 0xf4};
    static const uint8_t fwait[] = {0x90, 0x9b, 0xf4};
    static const uint8_t fxsave[] = {0x0f, 0xae, 0x03, 0xf4};
    uint32_t eip = 0;
    cr_assert_eq(run_exc(fld1, sizeof(fld1), 0, NULL), -1);
    cr_assert_eq(run_exc(fld1, sizeof(fld1), CR0_EM, &eip), EXC_NM, "EM: #NM");
    cr_assert_eq(eip, CODE_GPA);
    cr_assert_eq(run_exc(fld1, sizeof(fld1), CR0_TS, &eip), EXC_NM, "TS: #NM");
    cr_assert_eq(run_exc(fld1, sizeof(fld1), CR0_TS | CR0_MP, NULL), EXC_NM);
    cr_assert_eq(run_exc(fwait, sizeof(fwait), CR0_TS, NULL), -1, "WAIT ignores TS without MP");
    cr_assert_eq(run_exc(fwait, sizeof(fwait), CR0_EM | CR0_MP, NULL), -1, "WAIT ignores EM");
    cr_assert_eq(run_exc(fwait, sizeof(fwait), CR0_TS | CR0_MP, &eip), EXC_NM, "WAIT: TS+MP");
    cr_assert_eq(eip, CODE_GPA + 1);
    cr_assert_eq(run_exc(fxsave, sizeof(fxsave), CR0_EM, NULL), EXC_UD, "FXSAVE with EM: #UD");
    cr_assert_eq(run_exc(fxsave, sizeof(fxsave), CR0_TS, NULL), EXC_NM, "FXSAVE with TS: #NM");
    env->s.regs[R_EBX] = DATA_GPA + 8;
    static const uint8_t fxsave_mis[] = {0x83, 0xc3, 0x08, 0x0f, 0xae, 0x03, 0xf4}; /* add ebx,8 */
    cr_assert_eq(run_exc(fxsave_mis, sizeof(fxsave_mis), 0, &eip), EXC_GP, "misaligned: #GP");
    cr_assert_eq(eip, CODE_GPA + 3);
}

/* fldcw [ebx] (ZE unmasked), fld1, fldz, fdivp: 1/0 with ZE unmasked, then `next`. */
static size_t zero_divide(uint8_t *code, const uint8_t *next, size_t n)
{
    static const uint8_t pre[] = {0xdb, 0xe3, 0xd9, 0x2b, 0xd9, 0xe8, 0xd9, 0xee, 0xde, 0xf9};
    memcpy(code, pre, sizeof(pre));
    memcpy(code + sizeof(pre), next, n);
    code[sizeof(pre) + n] = 0xf4;
    uint16_t cw = 0x037b;
    memcpy(gdata, &cw, 2);
    return sizeof(pre) + n + 1;
}

Test(fpu, mf_native)
{
    static const uint8_t fwait[] = {0x9b};
    static const uint8_t fld1[] = {0x90, 0xd9, 0xe8};
    static const uint8_t nowait[] = {0xdf, 0xe0, 0xdb, 0xe2, 0x9b}; /* fnstsw ax, fnclex, fwait */
    uint8_t code[32];
    uint32_t eip;
    size_t n = zero_divide(code, fwait, sizeof(fwait));
    cr_assert_eq(run_exc(code, n, CR0_NE, &eip), EXC_MF, "ZE unmasked, FWAIT: #MF");
    cr_assert_eq(eip, CODE_GPA + 10, "#MF is a fault at the FWAIT");
    cr_assert(env->s.fsw & FSW_ZE);
    cr_assert(env->s.fsw & FSW_ES);
    cr_assert(env->s.fsw & FSW_B);
    cr_assert_eq(env->s.fop, 0x6f9, "FOP of the FDIVP: %03x", env->s.fop);
    cr_assert_eq(env->s.fip & 0xffffffff, CODE_GPA + 8, "FIP of the FDIVP");
    cr_assert_eq(env->s.fpr[0].mant, 0, "unmasked ZE: the destination keeps its operand");
    n = zero_divide(code, fld1, sizeof(fld1));
    cr_assert_eq(run_exc(code, n, CR0_NE, &eip), EXC_MF, "the next waiting x87 instruction");
    cr_assert_eq(eip, CODE_GPA + 11);
    n = zero_divide(code, nowait, sizeof(nowait));
    cr_assert_eq(run_exc(code, n, CR0_NE, NULL), -1, "FNSTSW, FNCLEX do not wait");
    cr_assert_eq(env->s.regs[R_EAX] & 0x8084, 0x8084, "FNSTSW AX: B, ES, ZE");
    cr_assert_eq(env->s.fsw & (FSW_ES | FSW_B | FSW_EXC), 0);
}

/* CR0.NE=0: the waiting instruction asserts FERR# and freezes until IGNNE# (or an
 * interrupt); FNCLEX takes FERR# away. Then the PC's side: port 0xF0 and IGNNE#. */
Test(fpu, ferr_ignne)
{
    static const uint8_t fwait[] = {0x9b, 0xdb, 0xe2}; /* fwait, fnclex */
    uint8_t code[32];
    size_t n = zero_divide(code, fwait, sizeof(fwait));
    void (*board_ferr)(void *, int) = m->ferr;
    void *board_opaque = m->ferr_opaque;
    cr_assert(board_ferr, "the PC wires FERR#");
    m->ferr = test_ferr;
    m->ferr_opaque = NULL;
    m->ignne = false;
    flat32();
    setup_idt();
    uint64_t rip = run_code(code, n, CODE_GPA);
    cr_assert_eq(rip, CODE_GPA + 10, "frozen at the FWAIT: %#llx", (unsigned long long)rip);
    cr_assert(env->s.halted);
    cr_assert_eq(ferr_level, 1, "FERR# asserted");
    rip = run_code(code + 10, n - 10, CODE_GPA + 10);
    cr_assert_eq(rip, CODE_GPA + 10, "still frozen without an interrupt or IGNNE#");
    m->ignne = true;
    rip = run_code(code + 10, n - 10, CODE_GPA + 10);
    cr_assert_eq(rip, CODE_GPA + n, "IGNNE#: the error is ignored");
    cr_assert_eq(ferr_level, 0, "FNCLEX clears FERR#");
    cr_assert_eq(env->s.fsw & FSW_ES, 0);

    m->ferr = board_ferr;
    m->ferr_opaque = board_opaque;
    m->ignne = false;
    io_write(m->io, 0xf0, 0, 1);
    cr_assert(!m->ignne, "port 0xF0 without FERR#: no IGNNE#");
    m->ferr(m->ferr_opaque, 1);
    cr_assert(!m->ignne);
    io_write(m->io, 0xf0, 0, 1);
    cr_assert(m->ignne, "port 0xF0 with FERR#: IGNNE#");
    m->ferr(m->ferr_opaque, 0);
    cr_assert(!m->ignne, "IGNNE# goes with FERR#");
}

Test(fpu, cpuid_fpu_fxsr)
{
    uint32_t r[4];
    cpu_cpuid(1, 0, r);
    cr_assert(r[3] & CPUID_1_EDX_FPU, "CPUID.1:EDX.FPU");
    cr_assert(r[3] & CPUID_1_EDX_FXSR, "CPUID.1:EDX.FXSR");
    cr_assert(fpu_host_supported());
}

/* A fault on the memory operand leaves the FPU as it was: no pop, no flags, no pointers. */
Test(fpu, memory_fault_is_precise)
{
    static const uint8_t code[] = {0xd9, 0xe8, /* fld1 */
                                   0xd9, 0xeb, /* fldpi */
                                   0xdd, 0x1b, /* fstp qword [ebx]: beyond DS's limit */
                                   0xf4};
    flat32();
    setup_idt();
    fpu_init_state(&env->s);
    env->s.seg[S_DS].limit = 0xfff;
    env->s.regs[R_EBX] = 0x1000;
    uint64_t rip = run_code(code, sizeof(code), CODE_GPA);
    cr_assert_eq(rip, HANDLERS_GPA + 16 * EXC_GP + 1, "#GP expected, stopped at %#llx",
                 (unsigned long long)rip);
    cr_assert_eq((env->s.fsw >> 11) & 7, 6, "TOP: both pushes, no pop");
    cr_assert_eq(env->s.ftw, 0x0fff);
    cr_assert_eq(env->s.fpr[0].sexp, 0x4000, "ST(0) is still pi");
    cr_assert_eq(env->s.fop, 0x1eb, "FOP: the FLDPI, not the faulting FSTP");
    cr_assert_eq(env->s.fsw & FSW_EXC, 0);
}
