/* The translator against the host CPU: the same instruction bytes run natively (this x86-64
 * host decodes 32-bit register forms the same way) and through dbt (decode -> IR -> interpreter
 * -> alu), from the same registers and flags, on random operands. Results and all six
 * arithmetic flags must agree. */
#include <criterion/criterion.h>
#include <string.h>
#include <sys/mman.h>

#include "dbt/dbt.h"
#include "dbt/ir.h"
#include "hw/pc.h"

typedef struct Regs {
    uint64_t rax, rbx, rcx, rdx, rsi, rdi, fl;
} Regs;

/* native_run(Regs *r, void *code): load the registers and flags, call code, store them back. */
void native_run(Regs *r, void *code);
__asm__(".text\n"
        ".globl native_run\n"
        "native_run:\n"
        "  push %rbx\n  push %rbp\n  push %r12\n  push %r13\n"
        "  mov %rdi, %r12\n  mov %rsi, %r13\n"
        "  mov 0(%r12), %rax\n  mov 8(%r12), %rbx\n  mov 16(%r12), %rcx\n"
        "  mov 24(%r12), %rdx\n  mov 32(%r12), %rsi\n  mov 40(%r12), %rdi\n"
        "  pushq 48(%r12)\n  popfq\n"
        "  call *%r13\n"
        "  pushfq\n  popq 48(%r12)\n"
        "  mov %rax, 0(%r12)\n  mov %rbx, 8(%r12)\n  mov %rcx, 16(%r12)\n"
        "  mov %rdx, 24(%r12)\n  mov %rsi, 32(%r12)\n  mov %rdi, 40(%r12)\n"
        "  pop %r13\n  pop %r12\n  pop %rbp\n  pop %rbx\n  ret\n");

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Operands with the edges over-represented: 0, 1, all ones, sign bits, small counts. */
static uint64_t operand(void)
{
    static const uint64_t edges[] = {0, 1, 2, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff,
                                     0x7fffffff, 0x80000000, 0xffffffff, 31, 32, 33, 16, 8, 9};
    uint64_t r = rnd();
    switch (r & 7) {
    case 0:
        return edges[(r >> 8) % (sizeof(edges) / sizeof(edges[0]))];
    case 1:
        return (r >> 8) & 0x3f;
    default:
        return rnd() & 0xffffffff;
    }
}

static uint64_t total_runs;
static Machine *m;
static DbtCpu *env;
static uint8_t *native;

#define CODE_GPA 0x100000

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
}

static void teardown(void)
{
    cr_log_info("%llu runs, %llu guest instructions", (unsigned long long)total_runs,
                (unsigned long long)env->st.insns);
    dbt_free(env);
    pc_free(m);
    munmap(native, 4096);
}

static uint64_t expect_end; /* EIP after the final HLT */

static void put_code(const uint8_t *bytes, size_t n)
{
    cr_assert(n > 0 && n < 48);
    expect_end = CODE_GPA + n + 1;
    uint8_t buf[48];
    memcpy(buf, bytes, n);
    buf[n] = 0xf4; /* hlt: ends the guest run */
    cr_assert(as_load(m->as, CODE_GPA, buf, n + 1) == 0);
    memcpy(native, bytes, n);
    native[n] = 0xc3; /* ret */
}

static void run_dbt(Regs *r)
{
    cpu_set_flat32(&env->s, CODE_GPA);
    env->s.halted = false;
    uint64_t v[6] = {r->rax, r->rcx, r->rdx, r->rbx, r->rsi, r->rdi};
    static const int idx[6] = {R_EAX, R_ECX, R_EDX, R_EBX, R_ESI, R_EDI};
    for (int i = 0; i < 6; i++)
        env->s.regs[idx[i]] = v[i] & 0xffffffff;
    env->s.regs[R_ESP] = 0x8000;
    dbt_set_eflags(env, (uint32_t)r->fl, 0xffffffff & ~(FL_IF | FL_TF | FL_VM | FL_RF));
    int rc = dbt_exec(env, &(int){0}, INT64_MAX);
    cr_assert_eq(rc, DBT_RUN_HLT, "dbt stopped with %d: %s", rc, env->error);
    cr_assert_eq(env->s.rip, expect_end, "dbt stopped at %#llx, not at the end of the code",
                 (unsigned long long)env->s.rip);
    r->rax = env->s.regs[R_EAX];
    r->rcx = env->s.regs[R_ECX];
    r->rdx = env->s.regs[R_EDX];
    r->rbx = env->s.regs[R_EBX];
    r->rsi = env->s.regs[R_ESI];
    r->rdi = env->s.regs[R_EDI];
    r->fl = dbt_get_eflags(env);
}

typedef struct Case {
    const char *name;
    uint8_t bytes[40];
    size_t len;
    /* Flags the SDM leaves undefined for this instruction. dbt gives what an AMD Zen host gives
     * (dbt/alu.c), so on AMD hosts everything is compared; on others these are masked. */
    uint32_t undefined;
    int kind; /* 0 plain; 1 divide (operands kept in range); 2 16-bit SHxD (count > 16 undefined) */
} Case;

static bool host_is_amd(void)
{
    static int cached = -1;
    if (cached >= 0)
        return cached;
    unsigned a, b, c, d;
    __asm__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0), "c"(0));
    cached = b == 0x68747541 && d == 0x69746e65 && c == 0x444d4163; /* "AuthenticAMD" */
    return cached;
}

static void check_case(const Case *c, int iterations)
{
    total_runs += iterations;
    put_code(c->bytes, c->len);
    for (int i = 0; i < iterations; i++) {
        Regs in = {operand(), operand(), operand(), operand(), operand(), operand(),
                   (rnd() & FL_ARITH) | FL_FIXED1};
        if (c->kind == 2 && !host_is_amd())
            in.rcx &= 15;
        if (c->kind == 1) {
            /* DIV/IDIV by ebx (or bl/bx): keep the quotient in range so the host does not
             * trap; #DE is checked separately */
            in.rbx |= 1;
            in.rdx = in.rdx % (in.rbx & 0xffffffff);
            if (c->bytes[0] == 0xf6) /* 8-bit: AH < BL */
                in.rax = (in.rax & 0xff) | (((in.rax >> 8) & 0xff) % (in.rbx & 0xff)) << 8;
            if (c->bytes[0] == 0x66)
                in.rdx = (in.rdx & 0xffff) % (in.rbx & 0xffff);
        }
        Regs hw = in, sw = in;
        native_run(&hw, native);
        run_dbt(&sw);
        uint32_t fmask = host_is_amd() ? FL_ARITH : FL_ARITH & ~c->undefined;
        uint64_t m32 = 0xffffffff;
        bool same = (hw.rax & m32) == (sw.rax & m32) && (hw.rbx & m32) == (sw.rbx & m32) &&
                    (hw.rcx & m32) == (sw.rcx & m32) && (hw.rdx & m32) == (sw.rdx & m32) &&
                    (hw.rsi & m32) == (sw.rsi & m32) && (hw.rdi & m32) == (sw.rdi & m32) &&
                    ((hw.fl ^ sw.fl) & fmask) == 0;
        cr_assert(same,
                  "%s: in eax=%08llx ebx=%08llx ecx=%08llx edx=%08llx fl=%03llx\n"
                  "  host: eax=%08llx ebx=%08llx ecx=%08llx edx=%08llx esi=%08llx fl=%03llx\n"
                  "  dbt:  eax=%08llx ebx=%08llx ecx=%08llx edx=%08llx esi=%08llx fl=%03llx",
                  c->name, (unsigned long long)in.rax & m32, (unsigned long long)in.rbx & m32,
                  (unsigned long long)in.rcx & m32, (unsigned long long)in.rdx & m32,
                  (unsigned long long)in.fl, (unsigned long long)hw.rax & m32,
                  (unsigned long long)hw.rbx & m32, (unsigned long long)hw.rcx & m32,
                  (unsigned long long)hw.rdx & m32, (unsigned long long)hw.rsi & m32,
                  (unsigned long long)hw.fl & FL_ARITH, (unsigned long long)sw.rax & m32,
                  (unsigned long long)sw.rbx & m32, (unsigned long long)sw.rcx & m32,
                  (unsigned long long)sw.rdx & m32, (unsigned long long)sw.rsi & m32,
                  (unsigned long long)sw.fl & FL_ARITH);
    }
}

#define BYTES(...) {__VA_ARGS__}, sizeof((uint8_t[]){__VA_ARGS__})
#define C(n, ...) {n, BYTES(__VA_ARGS__), 0, 0}
#define U(u, n, ...) {n, BYTES(__VA_ARGS__), u, 0}
#define D(n, ...) {n, BYTES(__VA_ARGS__), FL_ARITH, 1}
#define LOGIC_U FL_AF
#define SHIFT_U (FL_OF | FL_AF)
#define MUL_U (FL_SF | FL_ZF | FL_AF | FL_PF)
#define BSF_U (FL_CF | FL_OF | FL_SF | FL_AF | FL_PF)
#define BT_U (FL_OF | FL_SF | FL_AF | FL_PF)

static const Case alu_cases[] = {
    C("add eax,ebx", 0x01, 0xd8), U(LOGIC_U, "or eax,ebx", 0x09, 0xd8), C("adc eax,ebx", 0x11, 0xd8),
    C("sbb eax,ebx", 0x19, 0xd8), U(LOGIC_U, "and eax,ebx", 0x21, 0xd8), C("sub eax,ebx", 0x29, 0xd8),
    U(LOGIC_U, "xor eax,ebx", 0x31, 0xd8), C("cmp eax,ebx", 0x39, 0xd8), U(LOGIC_U, "test eax,ebx", 0x85, 0xd8),
    C("add ax,bx", 0x66, 0x01, 0xd8), C("adc ax,bx", 0x66, 0x11, 0xd8),
    C("sub ax,bx", 0x66, 0x29, 0xd8), C("sbb ax,bx", 0x66, 0x19, 0xd8),
    C("cmp ax,bx", 0x66, 0x39, 0xd8), C("add al,bl", 0x00, 0xd8), C("adc al,bl", 0x10, 0xd8),
    C("sub al,bl", 0x28, 0xd8), C("sbb al,bl", 0x18, 0xd8), U(LOGIC_U, "xor ah,bh", 0x30, 0xfc),
    C("add ah,bl", 0x00, 0xdc), C("cmp bh,ch", 0x38, 0xef), C("add eax,imm8", 0x83, 0xc0, 0x80),
    C("sub eax,imm32", 0x2d, 0x01, 0x00, 0x00, 0x80), U(LOGIC_U, "and ax,imm16", 0x66, 0x25, 0xf0, 0x0f),
    C("inc eax", 0xff, 0xc0), C("dec eax", 0xff, 0xc8), C("inc bx", 0x66, 0xff, 0xc3),
    C("dec cl", 0xfe, 0xc9), C("neg eax", 0xf7, 0xd8), C("neg al", 0xf6, 0xd8),
    C("neg dx", 0x66, 0xf7, 0xda), C("not eax", 0xf7, 0xd0), C("not ah", 0xf6, 0xd4),
};

static const Case shift_cases[] = {
    U(SHIFT_U, "shl eax,cl", 0xd3, 0xe0), U(SHIFT_U, "shr eax,cl", 0xd3, 0xe8), U(SHIFT_U, "sar eax,cl", 0xd3, 0xf8),
    U(SHIFT_U, "rol eax,cl", 0xd3, 0xc0), U(SHIFT_U, "ror eax,cl", 0xd3, 0xc8), U(SHIFT_U, "rcl eax,cl", 0xd3, 0xd0),
    U(SHIFT_U, "rcr eax,cl", 0xd3, 0xd8), U(SHIFT_U, "shl ax,cl", 0x66, 0xd3, 0xe0),
    U(SHIFT_U, "shr ax,cl", 0x66, 0xd3, 0xe8), U(SHIFT_U, "sar ax,cl", 0x66, 0xd3, 0xf8),
    U(SHIFT_U, "rol ax,cl", 0x66, 0xd3, 0xc0), U(SHIFT_U, "rcl ax,cl", 0x66, 0xd3, 0xd0),
    U(SHIFT_U, "rcr ax,cl", 0x66, 0xd3, 0xd8), U(SHIFT_U, "shl al,cl", 0xd2, 0xe0), U(SHIFT_U, "shr al,cl", 0xd2, 0xe8),
    U(SHIFT_U, "sar al,cl", 0xd2, 0xf8), U(SHIFT_U, "rol al,cl", 0xd2, 0xc0), U(SHIFT_U, "ror al,cl", 0xd2, 0xc8),
    U(SHIFT_U, "rcl al,cl", 0xd2, 0xd0), U(SHIFT_U, "rcr al,cl", 0xd2, 0xd8), U(SHIFT_U, "shl eax,1", 0xd1, 0xe0),
    U(SHIFT_U, "sar eax,1", 0xd1, 0xf8), U(SHIFT_U, "rcr eax,1", 0xd1, 0xd8), U(SHIFT_U, "rol al,1", 0xd0, 0xc0),
    U(SHIFT_U, "shl eax,5", 0xc1, 0xe0, 0x05), U(SHIFT_U, "ror ax,9", 0x66, 0xc1, 0xc8, 0x09),
    U(SHIFT_U, "shld eax,ebx,cl", 0x0f, 0xa5, 0xd8), U(SHIFT_U, "shrd eax,ebx,cl", 0x0f, 0xad, 0xd8),
    U(SHIFT_U, "shld eax,ebx,7", 0x0f, 0xa4, 0xd8, 0x07), {"shrd ax,bx,cl", BYTES(0x66, 0x0f, 0xad, 0xd8), SHIFT_U, 2},
};

static const Case mul_cases[] = {
    U(MUL_U, "mul ebx", 0xf7, 0xe3), U(MUL_U, "imul ebx", 0xf7, 0xeb), U(MUL_U, "mul bx", 0x66, 0xf7, 0xe3),
    U(MUL_U, "imul bx", 0x66, 0xf7, 0xeb), U(MUL_U, "mul bl", 0xf6, 0xe3), U(MUL_U, "imul bl", 0xf6, 0xeb),
    U(MUL_U, "imul eax,ebx", 0x0f, 0xaf, 0xc3), U(MUL_U, "imul ax,bx", 0x66, 0x0f, 0xaf, 0xc3),
    U(MUL_U, "imul eax,ebx,-3", 0x6b, 0xc3, 0xfd), U(MUL_U, "imul eax,ebx,0x12345", 0x69, 0xc3, 0x45, 0x23, 0x01, 0x00),
    D("div ebx", 0xf7, 0xf3), D("div bl", 0xf6, 0xf3), D("div bx", 0x66, 0xf7, 0xf3),
};

static const Case misc_cases[] = {
    U(BT_U, "bt eax,ebx", 0x0f, 0xa3, 0xd8), U(BT_U, "bts eax,ebx", 0x0f, 0xab, 0xd8),
    U(BT_U, "btr eax,ebx", 0x0f, 0xb3, 0xd8), U(BT_U, "btc eax,ebx", 0x0f, 0xbb, 0xd8),
    U(BT_U, "bt ax,bx", 0x66, 0x0f, 0xa3, 0xd8), U(BT_U, "btc eax,13", 0x0f, 0xba, 0xf8, 0x0d),
    U(BSF_U, "bsf eax,ebx", 0x0f, 0xbc, 0xc3), U(BSF_U, "bsr eax,ebx", 0x0f, 0xbd, 0xc3),
    U(BSF_U, "bsf ax,bx", 0x66, 0x0f, 0xbc, 0xc3), C("xadd eax,ebx", 0x0f, 0xc1, 0xd8),
    C("xadd al,bl", 0x0f, 0xc0, 0xd8), C("cmpxchg ebx,ecx", 0x0f, 0xb1, 0xcb),
    C("cmpxchg bl,cl", 0x0f, 0xb0, 0xcb), C("bswap eax", 0x0f, 0xc8),
    C("cwde", 0x98), C("cbw", 0x66, 0x98), C("cdq", 0x99), C("cwd", 0x66, 0x99),
    C("movzx eax,bl", 0x0f, 0xb6, 0xc3), C("movsx eax,bx", 0x0f, 0xbf, 0xc3),
    C("movsx ax,bh", 0x66, 0x0f, 0xbe, 0xc7), C("xchg eax,ebx", 0x93),
    C("xchg ah,bl", 0x86, 0xdc), C("lea eax,[ebx+ecx*4+5]", 0x8d, 0x44, 0x8b, 0x05),
    C("lahf", 0x9f), C("sahf", 0x9e), C("cmc", 0xf5), C("stc", 0xf9), C("clc", 0xf8),
    C("seta al", 0x0f, 0x97, 0xc0), C("setl bl", 0x0f, 0x9c, 0xc3),
    C("setle cl", 0x0f, 0x9e, 0xc1), C("setp ch", 0x0f, 0x9a, 0xc5),
    C("setbe dl", 0x0f, 0x96, 0xc2), C("seto al", 0x0f, 0x90, 0xc0),
    C("cmovg eax,ebx", 0x0f, 0x4f, 0xc3), C("cmovb ax,bx", 0x66, 0x0f, 0x42, 0xc3),
    C("cmovns ecx,edx", 0x0f, 0x49, 0xca), C("cmovnp esi,edi", 0x0f, 0x4b, 0xf7),
};

TestSuite(dbt_vs_host, .init = setup, .fini = teardown, .timeout = 120);

#define N 100000

Test(dbt_vs_host, alu)
{
    for (size_t i = 0; i < sizeof(alu_cases) / sizeof(alu_cases[0]); i++)
        check_case(&alu_cases[i], N);
}

Test(dbt_vs_host, shifts)
{
    for (size_t i = 0; i < sizeof(shift_cases) / sizeof(shift_cases[0]); i++)
        check_case(&shift_cases[i], N);
}

Test(dbt_vs_host, muldiv)
{
    for (size_t i = 0; i < sizeof(mul_cases) / sizeof(mul_cases[0]); i++)
        check_case(&mul_cases[i], N);
}

Test(dbt_vs_host, misc)
{
    for (size_t i = 0; i < sizeof(misc_cases) / sizeof(misc_cases[0]); i++)
        check_case(&misc_cases[i], N / 10);
}

/* Conditional jumps after a compare, all sixteen conditions, taken or not as the host says. */
Test(dbt_vs_host, jcc)
{
    for (int cc = 0; cc < 16; cc++) {
        /* cmp eax,ebx; jcc +5; mov ecx,0; (hlt)  -- as setcc would be, but through a branch */
        uint8_t code[] = {0x39, 0xd8, (uint8_t)(0x70 + cc), 0x05, 0xb9, 0, 0, 0, 0};
        Case c = {"cmp+jcc", {0}, sizeof(code), 0, 0};
        _Static_assert(sizeof(code) <= sizeof(c.bytes), "case too long");
        memcpy(c.bytes, code, sizeof(code));
        check_case(&c, N / 10);
    }
}

/* If-conversion (dbt/translate.c): a short forward Jcc over instructions that only compute
 * registers runs as straight-line code with selects when the instruction at the join rewrites
 * every flag. Both paths against the host; then joins that do not rewrite the flags (an INC, an
 * ADC, the block's end), where the flags the skipped instructions leave would show if they
 * were converted. */
static const Case ifconv_cases[] = {
    /* test eax,1; jz; xor edi,ebx; not edx; add ebx,edx (the alu benchmark's branch) */
    C("jz over xor,not", 0xa9, 0x01, 0x00, 0x00, 0x00, 0x74, 0x04, 0x31, 0xdf, 0xf7, 0xd2,
      0x01, 0xd3),
    /* cmp eax,ebx; jl; mov ecx,edx; sub ecx,5; lea esi,[ecx+eax*2]; or eax,ebx */
    U(LOGIC_U, "jl over mov,sub,lea", 0x39, 0xd8, 0x7c, 0x08, 0x89, 0xd1, 0x83, 0xe9, 0x05, 0x8d,
      0x34, 0x41, 0x09, 0xd8),
    /* cmp al,bl; ja; add ah,cl; inc dx; mov bh,7; and ecx,ebx (partial registers) */
    U(LOGIC_U, "ja over 8/16-bit", 0x38, 0xd8, 0x77, 0x07, 0x00, 0xcc, 0x66, 0xff, 0xc2, 0xb7,
      0x07, 0x21, 0xd9),
    /* cmp eax,ebx; jb; adc eax,ebx; setc cl; rcl edx,1; xor edx,eax (they read the flags) */
    U(LOGIC_U, "jb over adc,setc,rcl", 0x39, 0xd8, 0x72, 0x07, 0x11, 0xd8, 0x0f, 0x92, 0xc1,
      0xd1, 0xd2, 0x31, 0xc2),
    /* test ebx,ecx; jns rel32; neg esi; dec edi; sub esi,edi */
    C("jns rel32 over neg,dec", 0x85, 0xcb, 0x0f, 0x89, 0x04, 0x00, 0x00, 0x00, 0xf7, 0xde, 0xff,
      0xcf, 0x29, 0xfe),
    /* test al,0x80; js; shl cx,3; xchg esi,edi; cmp ecx,0x100 */
    C("js over shl,xchg", 0xa8, 0x80, 0x78, 0x06, 0x66, 0xc1, 0xe1, 0x03, 0x87, 0xfe, 0x81, 0xf9,
      0x00, 0x01, 0x00, 0x00),
    /* cmp eax,ebx; jz; mov ecx,edx; lea esi,[edi+4]; not eax; movzx edi,bl; (hlt): they
     * write no flags, so the join may be anything */
    C("jz over mov,lea,not,movzx", 0x39, 0xd8, 0x74, 0x0a, 0x89, 0xd1, 0x8d, 0x77, 0x04, 0xf7,
      0xd0, 0x0f, 0xb6, 0xfb),
    /* cmp eax,ebx; jg; cmovs ecx,edx; setnz al; adc esi,edi (these read the flags the cmp left) */
    C("jg over cmovs,setnz, join adc", 0x39, 0xd8, 0x7f, 0x06, 0x0f, 0x48, 0xca, 0x0f, 0x95, 0xc0,
      0x11, 0xfe),
    /* not converted: test eax,1; jz; add edi,ebx; inc edx (INC keeps CF) */
    C("jz over add, join inc", 0xa9, 0x01, 0x00, 0x00, 0x00, 0x74, 0x02, 0x01, 0xdf, 0xff, 0xc2),
    /* not converted: cmp eax,ebx; jz; add ecx,edx; adc esi,edi (the join reads CF) */
    C("jz over add, join adc", 0x39, 0xd8, 0x74, 0x02, 0x01, 0xd1, 0x11, 0xfe),
    /* not converted: cmp eax,ebx; jnz; sub ecx,edx; (hlt: the flags leave with the block) */
    C("jnz over sub, join hlt", 0x39, 0xd8, 0x75, 0x02, 0x29, 0xd1),
};

Test(dbt_vs_host, if_conversion)
{
    for (size_t i = 0; i < sizeof(ifconv_cases) / sizeof(ifconv_cases[0]); i++)
        check_case(&ifconv_cases[i], N / 10);
}

/* The translator's decision itself, and the instruction count: a converted block has no
 * conditional exit and counts the skipped instructions only when they ran. */
static Block *translate_at_code(void)
{
    cpu_set_flat32(&env->s, CODE_GPA);
    return dbt_translate(env, CODE_GPA, CODE_GPA, dbt_mode(env));
}

static bool has_exit_cond(const Block *b)
{
    for (uint32_t i = 0; i < b->nops; i++)
        if (b->ops[i].op == IR_EXIT_COND)
            return true;
    return false;
}

static uint64_t insns_for(uint64_t eax)
{
    Regs r = {eax, 1, 2, 3, 4, 5, FL_FIXED1};
    uint64_t before = env->st.insns;
    run_dbt(&r);
    return env->st.insns - before;
}

Test(dbt_vs_host, if_conversion_decision_and_count)
{
    put_code(ifconv_cases[0].bytes, ifconv_cases[0].len);
    Block *b = translate_at_code();
    cr_assert_not(has_exit_cond(b), "the jz over xor,not was not if-converted");
    cr_assert_eq(b->ninsns, 6, "block of %u instructions, not 6 (5 and the hlt)", b->ninsns);
    dbt_block_free(b);
    /* single-stepping: every instruction traps, so the jz (over instructions that write no
     * flags, which would qualify with no join) stays one instruction */
    put_code(ifconv_cases[6].bytes, ifconv_cases[6].len);
    cpu_set_flat32(&env->s, CODE_GPA + 2);
    b = dbt_translate(env, CODE_GPA + 2, CODE_GPA + 2, dbt_mode(env) | MODE_STEP);
    cr_assert(has_exit_cond(b) && b->ninsns == 1, "jz if-converted while single-stepping");
    dbt_block_free(b);
    /* an instruction breakpoint (DR0, L0, execute) on a skipped instruction: it must fire only
     * if that instruction runs, so the jz stays a branch */
    env->s.dr[0] = CODE_GPA + 9; /* the lea */
    env->s.dr[7] = 0x401;
    b = translate_at_code();
    env->s.dr[7] = 0x400;
    cr_assert(has_exit_cond(b), "jz if-converted over an instruction breakpoint");
    dbt_block_free(b);
    /* the skipped instructions on the next page: the block (and its write watch) keeps to its
     * page, so the jz stays a branch */
    uint64_t at = CODE_GPA + 4096 - 4;
    cr_assert(as_load(m->as, at, ifconv_cases[6].bytes, ifconv_cases[6].len) == 0);
    cpu_set_flat32(&env->s, at);
    b = dbt_translate(env, at, at, dbt_mode(env));
    cr_assert(has_exit_cond(b), "jz if-converted over instructions on the next page");
    dbt_block_free(b);
    for (size_t i = 6; i < 8; i++) {
        put_code(ifconv_cases[i].bytes, ifconv_cases[i].len);
        b = translate_at_code();
        cr_assert_not(has_exit_cond(b), "%s was not if-converted", ifconv_cases[i].name);
        dbt_block_free(b);
    }
    for (size_t i = 8; i < sizeof(ifconv_cases) / sizeof(ifconv_cases[0]); i++) {
        put_code(ifconv_cases[i].bytes, ifconv_cases[i].len);
        b = translate_at_code();
        cr_assert(has_exit_cond(b), "%s was if-converted", ifconv_cases[i].name);
        dbt_block_free(b);
    }
    /* a one-byte nop + hlt gives what the hlt adds to the count */
    put_code((const uint8_t[]){0x90}, 1);
    uint64_t nop = insns_for(0);
    put_code(ifconv_cases[0].bytes, ifconv_cases[0].len);
    for (int k = 0; k < 8; k++) { /* interpreted, then compiled (third run) */
        uint64_t taken = insns_for(2), fell = insns_for(3);
        cr_assert_eq(taken, 3 + (nop - 1), "branch taken: %llu instructions counted",
                     (unsigned long long)taken);
        cr_assert_eq(fell, 5 + (nop - 1), "branch not taken: %llu instructions counted",
                     (unsigned long long)fell);
    }
}

/* Random if-conversion candidates against the host: a flag-setting instruction, a short Jcc
 * over 1-3 random register-only instructions (ALU, MOV, LEA, shifts and rotates, SETcc, CMOVcc,
 * MOVZX/MOVSX, XCHG, BSWAP, INC/DEC/NEG/NOT, at 8/16/32 bits), then a random join: one that
 * rewrites the flags, one that does not (INC, ADC, SETcc, MOV) or the end of the code. EAX EBX
 * ECX EDX ESI EDI only (the host's RSP and RBP are its own). */
static const uint8_t rnd_regs[] = {0, 1, 2, 3, 6, 7};

static uint8_t rreg(void)
{
    return rnd_regs[rnd() % 6];
}

static uint8_t modrm_rr(uint8_t reg, uint8_t rm)
{
    return (uint8_t)(0xc0 | reg << 3 | rm);
}

/* one random register-only instruction at p; returns its length */
static size_t rnd_insn(uint8_t *p)
{
    static const uint8_t alu_rm_r[] = {0x01, 0x09, 0x11, 0x19, 0x21, 0x29, 0x31, 0x39, 0x85, 0x89};
    size_t n = 0;
    unsigned kind = (unsigned)(rnd() % 12), sz = (unsigned)(rnd() % 3); /* 32, 16, 8 */
    if (sz == 1 && kind < 6)
        p[n++] = 0x66;
    bool b8 = sz == 2 && kind < 6;
    uint8_t r8a = (uint8_t)(rnd() % 8), r8b = (uint8_t)(rnd() % 8); /* AL..BH */
    switch (kind) {
    case 0: case 1: /* ALU r/m, r */
        p[n++] = (uint8_t)(alu_rm_r[rnd() % sizeof(alu_rm_r)] - (b8 ? 1 : 0));
        p[n++] = b8 ? modrm_rr(r8a, r8b) : modrm_rr(rreg(), rreg());
        break;
    case 2: /* 83 /op ib or 80 /op ib */
        p[n++] = b8 ? 0x80 : 0x83;
        p[n++] = (uint8_t)(0xc0 | (rnd() % 8) << 3 | (b8 ? r8a : rreg()));
        p[n++] = (uint8_t)rnd();
        break;
    case 3: /* F7/F6 /2 not, /3 neg; FF/FE /0 inc, /1 dec */
        if (rnd() & 1) {
            p[n++] = b8 ? 0xf6 : 0xf7;
            p[n++] = (uint8_t)(0xc0 | (2 + rnd() % 2) << 3 | (b8 ? r8a : rreg()));
        } else {
            p[n++] = b8 ? 0xfe : 0xff;
            p[n++] = (uint8_t)(0xc0 | (rnd() % 2) << 3 | (b8 ? r8a : rreg()));
        }
        break;
    case 4: /* shifts and rotates by an immediate: C1/C0 /0../7 except /6 */
        p[n++] = b8 ? 0xc0 : 0xc1;
        p[n++] = (uint8_t)(0xc0 | (uint8_t[]){0, 1, 2, 3, 4, 5, 7}[rnd() % 7] << 3 |
                           (b8 ? r8a : rreg()));
        p[n++] = (uint8_t)(rnd() % 40);
        break;
    case 5: /* mov r, imm */
        if (b8) {
            p[n++] = (uint8_t)(0xb0 + r8a);
            p[n++] = (uint8_t)rnd();
        } else {
            p[n++] = (uint8_t)(0xb8 + rreg());
            for (unsigned i = 0; i < (sz == 1 ? 2u : 4u); i++)
                p[n++] = (uint8_t)rnd();
        }
        break;
    case 6: /* lea r32, [base + index * scale + disp8] */
        p[n++] = 0x8d;
        p[n++] = (uint8_t)(0x44 | rreg() << 3);
        p[n++] = (uint8_t)((rnd() % 4) << 6 | rreg() << 3 | rreg());
        p[n++] = (uint8_t)rnd();
        break;
    case 7: /* setcc r8 */
        p[n++] = 0x0f;
        p[n++] = (uint8_t)(0x90 + rnd() % 16);
        p[n++] = modrm_rr(0, r8a);
        break;
    case 8: /* cmovcc r32, r32 */
        p[n++] = 0x0f;
        p[n++] = (uint8_t)(0x40 + rnd() % 16);
        p[n++] = modrm_rr(rreg(), rreg());
        break;
    case 9: /* movzx/movsx r32, r8/r16 */
        p[n++] = 0x0f;
        p[n++] = (uint8_t[]){0xb6, 0xb7, 0xbe, 0xbf}[rnd() % 4];
        p[n - 1] & 1 ? (void)(p[n++] = modrm_rr(rreg(), rreg()))
                     : (void)(p[n++] = modrm_rr(rreg(), r8b));
        break;
    case 10: /* xchg r/m32, r32 */
        p[n++] = 0x87;
        p[n++] = modrm_rr(rreg(), rreg());
        break;
    default: /* bswap */
        p[n++] = 0x0f;
        p[n++] = (uint8_t)(0xc8 + rreg());
        break;
    }
    return n;
}

Test(dbt_vs_host, if_conversion_random, .timeout = 300)
{
    uint64_t conv0 = env->st.ifconv;
    int seqs = 3000;
    for (int s = 0; s < seqs; s++) {
        Case c = {"random if-conversion", {0}, 0, FL_OF | FL_AF, 0};
        uint8_t *p = c.bytes;
        size_t n = 0;
        /* cmp/test/add/sub r32, r32 sets the flags the Jcc reads */
        p[n++] = (uint8_t[]){0x39, 0x85, 0x01, 0x29}[rnd() % 4];
        p[n++] = modrm_rr(rreg(), rreg());
        size_t jcc = n;
        p[n++] = (uint8_t)(0x70 + rnd() % 16);
        p[n++] = 0;
        unsigned k = 1 + (unsigned)(rnd() % 3);
        for (unsigned i = 0; i < k; i++)
            n += rnd_insn(p + n);
        p[jcc + 1] = (uint8_t)(n - jcc - 2);
        switch (rnd() % 4) {
        case 0: /* rewrites the flags */
        case 1:
            p[n++] = (uint8_t[]){0x01, 0x29, 0x21, 0x09, 0x31, 0x39, 0x85}[rnd() % 7];
            p[n++] = modrm_rr(rreg(), rreg());
            break;
        case 2: /* keeps or reads them: inc, adc, setcc, mov */
            switch (rnd() % 4) {
            case 0: p[n++] = 0xff; p[n++] = (uint8_t)(0xc0 | rreg()); break;
            case 1: p[n++] = 0x11; p[n++] = modrm_rr(rreg(), rreg()); break;
            case 2: p[n++] = 0x0f; p[n++] = (uint8_t)(0x90 + rnd() % 16); p[n++] = 0xc1; break;
            default: p[n++] = 0x89; p[n++] = modrm_rr(rreg(), rreg()); break;
            }
            break;
        default: /* the end of the code: the flags leave with the block */
            break;
        }
        c.len = n;
        check_case(&c, 20);
    }
    uint64_t conv = env->st.ifconv - conv0;
    cr_log_info("%llu of %d random branches if-converted", (unsigned long long)conv, seqs);
    cr_assert_geq(conv, (uint64_t)seqs / 4, "only %llu of %d random branches if-converted",
                  (unsigned long long)conv, seqs);
}
