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

__attribute__((unused)) static void test_ferr(void *opaque, int level)
{
    ferr_level = level;
    ferr_calls++;
}

static void setup(void)
{
    MachineConfig cfg = {.ram_size = 16 << 20, .serial = "none"};
    char err[256];
    m = pc_new(&cfg, err, sizeof(err));
    cr_assert(m, "%s", err);
    env = dbt_new(m);
    cr_assert(env);
    native = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
                  -1, 0);
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
    case 0: put80(p, 0, s); break;                                           /* zero */
    case 1: put80(p, mant >> 1 | 1, s); break;                               /* denormal */
    case 2: put80(p, mant | 1ull << 63, s); break;                           /* pseudo-denormal */
    case 3: put80(p, 1ull << 63, s | 0x7fff); break;                         /* infinity */
    case 4: put80(p, mant | 3ull << 62, s | 0x7fff); break;                  /* QNaN */
    case 5: put80(p, (mant & ~(1ull << 62)) | 1ull << 63 | 1, s | 0x7fff); break; /* SNaN */
    case 6: put80(p, 3ull << 62, 0xffff); break;                             /* indefinite */
    case 7: put80(p, mant >> 1, s | (uint16_t)(1 + rnd() % 0x7ffe)); break;  /* unnormal */
    case 8: put80(p, mant >> 1, s | 0x7fff); break;                          /* pseudo-NaN/inf */
    case 9: /* a small integer */
    case 10: {
        int64_t v = (int64_t)(rnd() % 2001) - 1000;
        long double d = (long double)v;
        memcpy(p, &d, 10);
        break;
    }
    case 11: { /* n + 1/2 and friends, for rounding to integers */
        long double d = (long double)((int64_t)(rnd() % 200) - 100) + 0.5L * (long double)(rnd() % 3);
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
        put80(p, mant | 1ull << 63, s | (uint16_t)((rnd() & 1) ? 0x7ffe - rnd() % 4 : 1 + rnd() % 4));
        break;
    case 15: /* around the float/double limits */
    case 16: {
        static const uint16_t e[] = {0x407e, 0x407f, 0x3f81, 0x3f80, 0x3f6a, 0x43fe, 0x43ff,
                                     0x3c01, 0x3c00, 0x3bcd};
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
    static const uint32_t edges[] = {0, 0x80000000, 0x00000001, 0x807fffff, 0x7f800000,
                                     0xff800000, 0x7fc00000, 0xffc00000, 0x7f800001, 0x7fbfffff,
                                     0x3f800000, 0x3f000000, 0x7f7fffff, 0x00800000};
    uint32_t v = (uint32_t)rnd();
    if (rnd() & 1)
        v = edges[rnd() % (sizeof(edges) / sizeof(edges[0]))];
    memcpy(p, &v, 4);
}

static void rand64(uint8_t *p)
{
    static const uint64_t edges[] = {0, 0x8000000000000000ull, 1, 0x800fffffffffffffull,
                                     0x7ff0000000000000ull, 0xfff0000000000000ull,
                                     0x7ff8000000000000ull, 0x7ff0000000000001ull,
                                     0x3ff0000000000000ull, 0x3fe0000000000000ull,
                                     0x7fefffffffffffffull, 0x0010000000000000ull};
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
    case 0: v = (uint64_t)((int64_t)(rnd() % 200) - 100); break;
    case 1: v = 1ull << (size * 8 - 1); break;
    case 2: v = (1ull << (size * 8 - 1)) - 1 - rnd() % 3; break;
    default: break;
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
    case M_F32: rand32(p); break;
    case M_F64: rand64(p); break;
    case M_F80: rand80(p); break;
    case M_I16: randint(p, 2); break;
    case M_I32: randint(p, 4); break;
    case M_I64: randint(p, 8); break;
    case M_BCD: randbcd(p); break;
    case M_ENV:
        if (rnd() & 1)
            rand_state(p); /* else random bytes */
        break;
    default: break;
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
    case M_F32: case M_I32: return 4;
    case M_F64: case M_I64: return 8;
    case M_F80: case M_BCD: return 10;
    case M_I16: case M_W16: return 2;
    case M_ENV: return 108;
    default: return 0;
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
            if (image_byte_compared(i, in->control) &&
                hdata[OUT_OFF + i] != gdata[OUT_OFF + i]) {
                same = false;
                bad = i;
                break;
            }
        unsigned msize = mem_size(in->mem);
        for (unsigned i = 0; i < msize; i++) {
            /* FNSTENV/FNSAVE store the pointers FRSTOR loaded: the same on both sides */
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
            cr_log_error("insn %02x %02x %02x (iteration %d, first difference at %u)\n"
                         "  in:   %s\n        mem %s fl %03llx\n"
                         "  host: %s\n        mem %s fl %03llx ax %04llx\n"
                         "  dbt:  %s\n        mem %s fl %03llx ax %04llx",
                         in->b[0], in->b[1], in->len > 2 ? in->b[2] : 0, it, bad, s_in, s_mem,
                         (unsigned long long)(fl_in & FL_ARITH), s_hw, hm,
                         (unsigned long long)(hw.fl & FL_ARITH),
                         (unsigned long long)(hw.rax & 0xffff), s_sw, sm,
                         (unsigned long long)(sw.fl & FL_ARITH),
                         (unsigned long long)(sw.rax & 0xffff));
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
            Insn in = {{(uint8_t)(0xd8 + opc), (uint8_t)modrm}, 2, M_NONE,
                       reg_form_control(opc, modrm)};
            check_insn(&in, iterations);
        }
    cr_assert_eq(failures, 0, "%u instructions differ from the host", failures);
}

TestSuite(fpu, .init = setup, .fini = teardown, .timeout = 300);

#define ITER 300

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
    {0, 5, M_F32, 0}, {0, 6, M_F32, 0}, {0, 7, M_F32, 0},
    {1, 0, M_F32, 0}, {1, 2, M_F32, 0}, {1, 3, M_F32, 0}, {1, 4, M_ENV, 1}, {1, 5, M_W16, 1},
    {1, 6, M_ENV, 1}, {1, 7, M_W16, 1},
    {2, 0, M_I32, 0}, {2, 1, M_I32, 0}, {2, 2, M_I32, 0}, {2, 3, M_I32, 0}, {2, 4, M_I32, 0},
    {2, 5, M_I32, 0}, {2, 6, M_I32, 0}, {2, 7, M_I32, 0},
    {3, 0, M_I32, 0}, {3, 1, M_I32, 0}, {3, 2, M_I32, 0}, {3, 3, M_I32, 0}, {3, 5, M_F80, 0},
    {3, 7, M_F80, 0},
    {4, 0, M_F64, 0}, {4, 1, M_F64, 0}, {4, 2, M_F64, 0}, {4, 3, M_F64, 0}, {4, 4, M_F64, 0},
    {4, 5, M_F64, 0}, {4, 6, M_F64, 0}, {4, 7, M_F64, 0},
    {5, 0, M_F64, 0}, {5, 1, M_I64, 0}, {5, 2, M_F64, 0}, {5, 3, M_F64, 0}, {5, 4, M_ENV, 1},
    {5, 6, M_ENV, 1}, {5, 7, M_W16, 1},
    {6, 0, M_I16, 0}, {6, 1, M_I16, 0}, {6, 2, M_I16, 0}, {6, 3, M_I16, 0}, {6, 4, M_I16, 0},
    {6, 5, M_I16, 0}, {6, 6, M_I16, 0}, {6, 7, M_I16, 0},
    {7, 0, M_I16, 0}, {7, 1, M_I16, 0}, {7, 2, M_I16, 0}, {7, 3, M_I16, 0}, {7, 4, M_BCD, 0},
    {7, 5, M_I64, 0}, {7, 6, M_BCD, 0}, {7, 7, M_I64, 0},
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
    static const uint8_t forms[][3] = {{0x66, 0xd9, 0x23}, {0x66, 0xd9, 0x33},
                                       {0x66, 0xdd, 0x23}, {0x66, 0xdd, 0x33}};
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        Insn in = {{forms[i][0], forms[i][1], forms[i][2]}, 3, M_ENV, true};
        check_insn(&in, ITER);
    }
    cr_assert_eq(failures, 0, "%u instructions differ from the host", failures);
}
