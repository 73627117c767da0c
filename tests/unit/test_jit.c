/* The host-code back end (dbt/jit_x86_64.c) against the interpreter (dbt/interp.c).
 *
 * The same guest code runs on two machines, one per back end, from the same state; registers,
 * flags, EIP, memory and the instruction count must come out the same. Random instruction
 * sequences exercise the flags kept pending across instructions and the register cache;
 * small guests exercise block chaining, self-modifying code (in the running block and in a
 * block chained to), precise exceptions from the memory fast and slow paths, and interrupts,
 * kicks and stop requests arriving while compiled code runs a chained loop. The guests'
 * bytes were assembled with NASM from the source shown next to them. */
#include <criterion/criterion.h>
#include <glib.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dbt/dbt.h"
#include "dbt/helpers.h"
#include "dbt/ir.h"
#include "dbt/jit.h"
#include "hw/pc.h"

#define CODE_GPA 0x100000
#define DATA_GPA 0x200000
#define DATA_LEN 0x11000
#define GDT_GPA 0x5000
#define IDT_GPA 0x6000
#define STACK_TOP 0x7000
#define PD_GPA 0x10000
#define PT_GPA 0x11000
#define HANDLER_GPA 0x100800 /* every exception vector: hlt */

typedef struct Vm {
    Machine *m;
    DbtCpu *env;
} Vm;

static Vm vm_new(int backend)
{
    /* the back end checks its register bookkeeping after every op; a slip shows up as a
     * block left to the interpreter (jit_fallbacks), which the tests do not expect */
    g_setenv("DUALVM_JIT_CHECK", "1", FALSE);
    MachineConfig cfg = {.ram_size = 16 << 20, .serial = "none"};
    char err[256];
    Vm v;
    v.m = pc_new(&cfg, err, sizeof(err));
    cr_assert(v.m, "%s", err);
    v.env = dbt_new(v.m);
    cr_assert(v.env);
    cr_assert(dbt_set_backend(v.env, backend), "back end %s not available",
              dbt_backend_name(backend));
    return v;
}

static void vm_free(Vm *v)
{
    dbt_free(v->env);
    pc_free(v->m);
}

static void put(Vm *v, uint64_t gpa, const void *p, size_t n)
{
    cr_assert(as_load(v->m->as, gpa, p, n) == 0);
}

static uint32_t rd32(Vm *v, uint64_t gpa)
{
    uint32_t x = 0;
    as_read(v->m->as, gpa, &x, 4);
    return x;
}

/* Flat 32-bit protected mode with a GDT (0x08 code, 0x10 data), an IDT whose gates all lead
 * to a hlt at HANDLER_GPA (vector 0x20 to isr if nonzero), and a stack. */
static void vm_reset(Vm *v, uint64_t eip, uint64_t isr)
{
    DbtCpu *env = v->env;
    static const uint64_t gdt[] = {0, 0x00cf9a000000ffffull, 0x00cf92000000ffffull};
    put(v, GDT_GPA, gdt, sizeof(gdt));
    for (int i = 0; i < 256; i++) {
        uint32_t h = i == 0x20 && isr ? (uint32_t)isr : HANDLER_GPA;
        uint32_t gate[2] = {(h & 0xffff) | 0x08u << 16, (h & 0xffff0000u) | 0x8e00};
        put(v, IDT_GPA + 8 * i, gate, 8);
    }
    uint8_t hlt = 0xf4;
    put(v, HANDLER_GPA, &hlt, 1);
    cpu_set_flat32(&env->s, eip);
    env->s.gdt.base = GDT_GPA;
    env->s.gdt.limit = sizeof(gdt) - 1;
    env->s.idt.base = IDT_GPA;
    env->s.idt.limit = 256 * 8 - 1;
    env->s.cr4 = 0;
    env->s.halted = false;
    for (int i = 0; i < 8; i++)
        env->s.regs[i] = 0x01010101u * (uint32_t)(i + 8);
    env->s.regs[R_ESP] = STACK_TOP;
    dbt_set_eflags(env, FL_FIXED1, 0xffffffff);
    dbt_tlb_flush(env);
}

static int vm_run(Vm *v)
{
    int kick = 0;
    return dbt_exec(v->env, &kick, INT64_MAX);
}

/* Both machines must agree on everything a guest can see. */
static void compare(Vm *a, Vm *b, const char *what)
{
    DbtCpu *x = a->env, *y = b->env;
    for (int i = 0; i < 8; i++)
        cr_assert_eq(x->s.regs[i], y->s.regs[i], "%s: reg %d: interp %#llx, jit %#llx", what, i,
                     (unsigned long long)x->s.regs[i], (unsigned long long)y->s.regs[i]);
    cr_assert_eq(x->s.rip, y->s.rip, "%s: EIP: interp %#llx, jit %#llx", what,
                 (unsigned long long)x->s.rip, (unsigned long long)y->s.rip);
    cr_assert_eq(dbt_get_eflags(x), dbt_get_eflags(y), "%s: EFLAGS: interp %#x, jit %#x", what,
                 dbt_get_eflags(x), dbt_get_eflags(y));
    cr_assert_eq(x->s.cr2, y->s.cr2, "%s: CR2", what);
    cr_assert_eq(x->st.insns, y->st.insns, "%s: instructions: interp %llu, jit %llu", what,
                 (unsigned long long)x->st.insns, (unsigned long long)y->st.insns);
    static uint8_t ma[DATA_LEN], mb[DATA_LEN];
    as_read(a->m->as, DATA_GPA, ma, DATA_LEN);
    as_read(b->m->as, DATA_GPA, mb, DATA_LEN);
    cr_assert(!memcmp(ma, mb, DATA_LEN), "%s: data memory differs", what);
    as_read(a->m->as, STACK_TOP - 0x400, ma, 0x400);
    as_read(b->m->as, STACK_TOP - 0x400, mb, 0x400);
    cr_assert(!memcmp(ma, mb, 0x400), "%s: stack differs", what);
}

static bool have_jit(void)
{
    if (!jit_supported())
        cr_log_warn("no host-code back end on this host: nothing to compare");
    return jit_supported();
}

/*
 * start:
 *     mov ecx, 3000
 *     xor eax, eax
 *     xor edx, edx
 *     mov esi, 0x1234
 *     mov edi, 7
 * .l1:
 *     add eax, ecx
 *     test cl, 1
 *     jz .even
 *     inc edx
 *     jmp .next
 * .even:
 *     sub edx, 3
 *     sbb edi, eax
 * .next:
 *     mov [0x200000 + ecx*4], eax
 *     mov bx, [0x200000 + ecx*4 + 2]
 *     push ebx
 *     call f1
 *     pop ebx
 *     cmp ecx, 1500
 *     jb .low
 *     shr ebx, 3
 *     setc bl
 * .low:
 *     dec ecx
 *     jnz .l1
 *     mov ecx, 20
 *     mov edi, 0x210000
 *     rep stosb
 *     mov eax, [0x200000 + 4*17]
 *     hlt
 * f1:
 *     add esi, eax
 *     rol esi, 3
 *     adc edi, esi
 *     movzx ebp, si
 *     neg bp
 *     lea ebp, [ebp + esi*2 + 0x10]
 *     imul ebp, ebp, 3
 *     xchg bl, bh
 *     mov [esp - 8], ebp
 *     ret
 */
static const uint8_t code_chain[] = {
    0xb9, 0xb8, 0x0b, 0x00, 0x00, 0x31, 0xc0, 0x31, 0xd2, 0xbe, 0x34, 0x12, 0x00, 0x00, 0xbf,
    0x07, 0x00, 0x00, 0x00, 0x01, 0xc8, 0xf6, 0xc1, 0x01, 0x74, 0x03, 0x42, 0xeb, 0x05, 0x83,
    0xea, 0x03, 0x19, 0xc7, 0x89, 0x04, 0x8d, 0x00, 0x00, 0x20, 0x00, 0x66, 0x8b, 0x1c, 0x8d,
    0x02, 0x00, 0x20, 0x00, 0x53, 0xe8, 0x24, 0x00, 0x00, 0x00, 0x5b, 0x81, 0xf9, 0xdc, 0x05,
    0x00, 0x00, 0x72, 0x06, 0xc1, 0xeb, 0x03, 0x0f, 0x92, 0xc3, 0x49, 0x75, 0xca, 0xb9, 0x14,
    0x00, 0x00, 0x00, 0xbf, 0x00, 0x00, 0x21, 0x00, 0xf3, 0xaa, 0xa1, 0x44, 0x00, 0x20, 0x00,
    0xf4, 0x01, 0xc6, 0xc1, 0xc6, 0x03, 0x11, 0xf7, 0x0f, 0xb7, 0xee, 0x66, 0xf7, 0xdd, 0x8d,
    0x6c, 0x75, 0x10, 0x6b, 0xed, 0x03, 0x86, 0xdf, 0x89, 0x6c, 0x24, 0xf8, 0xc3,
};

/*
 * TARGET equ 0x101000
 * T3 equ 0x101006
 * ; same block: the store rewrites an instruction further on in its own block
 *     mov dword [patch + 1], 0x11111111
 *     nop
 * patch:
 *     mov eax, 0x22222222
 *     inc eax
 *     mov edi, eax
 * ; chained blocks on another page, rewritten while the loop runs
 *     mov ecx, 5
 *     xor ebx, ebx
 * .loop:
 *     call TARGET
 *     add ebx, eax
 *     mov [TARGET + 1], ecx
 *     dec ecx
 *     jnz .loop
 *     mov ecx, 4
 * loop2:
 *     mov [T3 + 1], ecx
 *     jmp T3
 * back:
 *     add edx, esi
 *     dec ecx
 *     jnz loop2
 *     hlt
 */
static const uint8_t code_smc0[] = {
    0xc7, 0x05, 0x0c, 0x00, 0x10, 0x00, 0x11, 0x11, 0x11, 0x11, 0x90, 0xb8, 0x22, 0x22, 0x22, 0x22,
    0x40, 0x89, 0xc7, 0xb9, 0x05, 0x00, 0x00, 0x00, 0x31, 0xdb, 0xe8, 0xe1, 0x0f, 0x00, 0x00, 0x01,
    0xc3, 0x89, 0x0d, 0x01, 0x10, 0x10, 0x00, 0x49, 0x75, 0xf0, 0xb9, 0x04, 0x00, 0x00, 0x00, 0x89,
    0x0d, 0x07, 0x10, 0x10, 0x00, 0xe9, 0xcc, 0x0f, 0x00, 0x00, 0x01, 0xf2, 0x49, 0x75, 0xf0, 0xf4,
};

/*
 * target:
 *     mov eax, 0x100
 *     ret
 * t3:
 *     mov esi, 0
 *     jmp 0x10003a
 */
static const uint8_t code_smc1[] = {
    0xb8, 0x00, 0x01, 0x00, 0x00, 0xc3, 0xbe, 0x00, 0x00, 0x00, 0x00, 0xe9, 0x2a, 0xf0, 0xff, 0xff,
};

/*
 * ; 0x100000: #GP on a load past FS's limit
 *     mov eax, 1
 *     mov ebx, 2
 *     add eax, ebx
 *     push eax
 *     mov ecx, [fs:0x2000]
 *     mov edx, 7
 *     hlt
 */
static const uint8_t code_exc0[] = {
    0xb8, 0x01, 0x00, 0x00, 0x00, 0xbb, 0x02, 0x00, 0x00, 0x00, 0x01, 0xd8, 0x50,
    0x64, 0x8b, 0x0d, 0x00, 0x20, 0x00, 0x00, 0xba, 0x07, 0x00, 0x00, 0x00, 0xf4,
};

/*
 * ; #GP on a store that ends past FS's limit
 *     mov esi, 5
 *     inc esi
 *     mov [fs:0xffe], esi
 *     mov edi, 9
 *     hlt
 */
static const uint8_t code_exc1[] = {
    0xbe, 0x05, 0x00, 0x00, 0x00, 0x46, 0x64, 0x89, 0x35, 0xfe,
    0x0f, 0x00, 0x00, 0xbf, 0x09, 0x00, 0x00, 0x00, 0xf4,
};

/*
 * ; #PF on a load (paging on, 0x3ff000 not present)
 *     mov eax, 0x55
 *     sub eax, 0x56
 *     mov ebx, [0x3ff000]
 *     hlt
 */
static const uint8_t code_exc2[] = {
    0xb8, 0x55, 0x00, 0x00, 0x00, 0x83, 0xe8, 0x56, 0x8b, 0x1d, 0x00, 0xf0, 0x3f, 0x00, 0xf4,
};

/*
 * ; #PF on a store that crosses into the page that is not present
 *     mov eax, 0xaabbccdd
 *     mov [0x3feffe], eax
 *     hlt
 */
static const uint8_t code_exc3[] = {
    0xb8, 0xdd, 0xcc, 0xbb, 0xaa, 0xa3, 0xfe, 0xef, 0x3f, 0x00, 0xf4,
};

/*
 *     sti
 * .spin:
 *     inc dword [0x300000]
 *     add eax, 1
 *     jmp .spin
 * isr:
 *     mov dword [0x300004], 0xdead
 *     cli
 *     hlt
 */
static const uint8_t code_irq[] = {
    0xfb, 0xff, 0x05, 0x00, 0x00, 0x30, 0x00, 0x83, 0xc0, 0x01, 0xeb, 0xf5, 0x90, 0x90, 0x90,
    0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90,
    0x90, 0x90, 0xc7, 0x05, 0x04, 0x00, 0x30, 0x00, 0xad, 0xde, 0x00, 0x00, 0xfa, 0xf4,
};

/*
 *     mov ecx, 5000
 *     xor eax, eax
 *     xor ebx, ebx
 *     mov edx, 0x9e3779b9
 * .l:
 *     add eax, edx
 *     jmp .n
 * .n:
 *     adc ebx, 0
 *     rol edx, 3
 *     jmp .m
 * .m:
 *     cmovc esi, eax
 *     dec ecx
 *     jnz .l
 *     hlt
 */
static const uint8_t code_flagchain[] = {
    0xb9, 0x88, 0x13, 0x00, 0x00, 0x31, 0xc0, 0x31, 0xdb, 0xba, 0xb9,
    0x79, 0x37, 0x9e, 0x01, 0xd0, 0xeb, 0x00, 0x83, 0xd3, 0x00, 0xc1,
    0xc2, 0x03, 0xeb, 0x00, 0x0f, 0x42, 0xf0, 0x49, 0x75, 0xee, 0xf4,
};

/* ---- chaining and lookups ---- */

Test(jit, chained_loop_agrees)
{
    if (!have_jit())
        return;
    Vm a = vm_new(DBT_BACKEND_INTERP), b = vm_new(DBT_BACKEND_JIT);
    Vm *vms[2] = {&a, &b};
    for (int k = 0; k < 2; k++) {
        put(vms[k], CODE_GPA, code_chain, sizeof(code_chain));
        vm_reset(vms[k], CODE_GPA, 0);
        cr_assert_eq(vm_run(vms[k]), DBT_RUN_HLT, "%s", vms[k]->env->error);
    }
    compare(&a, &b, "chain");
    DbtStats *s = &b.env->st;
    cr_assert_gt(s->jit_blocks, 8);
    cr_assert_eq(s->jit_fallbacks, 0);
    cr_assert_gt(s->jit_links, 4, "constant exits were not linked");
    /* 3000 iterations of 5+ blocks: almost all of them ran without coming back to dbt_exec */
    cr_assert_lt(s->blocks_run, 200, "dbt_exec ran %llu blocks itself",
                 (unsigned long long)s->blocks_run);
    cr_assert_gt(a.env->st.blocks_run, 15000);
    vm_free(&a);
    vm_free(&b);
}

/*
 * Near calls and returns, the return prediction's cases: recursion, a call that never returns
 * (call/pop), a callee that rewrites its return address every other time (so the prediction
 * for that call is linked, and then wrong), a return without a call, RET imm16, and a
 * recursion 5000 deep, past the 4096 entries the host stack keeps (stack at 0x210800).
 *     mov esp, 0x210800
 *     mov ecx, 200
 *     xor eax, eax
 *     xor esi, esi
 * .l:
 *     mov edx, 10
 *     call rec
 *     add esi, eax
 *     call thunk
 *     add esi, ebx
 *     call skip
 *     add esi, 5
 *     mov edi, 5000
 *     call deep
 *     add esi, edi
 *     push .l2
 *     ret
 * .l2:
 *     call ret4
 *     dec ecx
 *     jnz .l
 *     mov [0x200000], esi
 *     mov [0x200004], eax
 *     hlt
 * rec:
 *     inc eax
 *     dec edx
 *     jz .r
 *     push edx
 *     call rec
 *     pop edx
 *     call rec2
 * .r:
 *     ret
 * rec2:
 *     add eax, edx
 *     ret
 * thunk:
 *     pop ebx
 *     jmp ebx
 * skip:
 *     test cl, 1
 *     jz .s
 *     add dword [esp], 3
 * .s:
 *     ret
 * deep:
 *     dec edi
 *     jz .d
 *     call deep
 *     inc edi
 * .d:
 *     ret
 * ret4:
 *     push eax
 *     call .in
 *     ret
 * .in:
 *     ret 4
 */
static const uint8_t code_calls[] = {
    0xbc, 0x00, 0x08, 0x21, 0x00, 0xb9, 0xc8, 0x00, 0x00, 0x00, 0x31, 0xc0, 0x31, 0xf6, 0xba,
    0x0a, 0x00, 0x00, 0x00, 0xe8, 0x37, 0x00, 0x00, 0x00, 0x01, 0xc6, 0xe8, 0x44, 0x00, 0x00,
    0x00, 0x01, 0xde, 0xe8, 0x40, 0x00, 0x00, 0x00, 0x83, 0xc6, 0x05, 0xbf, 0x88, 0x13, 0x00,
    0x00, 0xe8, 0x3d, 0x00, 0x00, 0x00, 0x01, 0xfe, 0x68, 0x3b, 0x00, 0x10, 0x00, 0xc3, 0xe8,
    0x3a, 0x00, 0x00, 0x00, 0x49, 0x75, 0xcb, 0x89, 0x35, 0x00, 0x00, 0x20, 0x00, 0xa3, 0x04,
    0x00, 0x20, 0x00, 0xf4, 0x40, 0x4a, 0x74, 0x0c, 0x52, 0xe8, 0xf6, 0xff, 0xff, 0xff, 0x5a,
    0xe8, 0x01, 0x00, 0x00, 0x00, 0xc3, 0x01, 0xd0, 0xc3, 0x5b, 0xff, 0xe3, 0xf6, 0xc1, 0x01,
    0x74, 0x04, 0x83, 0x04, 0x24, 0x03, 0xc3, 0x4f, 0x74, 0x06, 0xe8, 0xf8, 0xff, 0xff, 0xff,
    0x47, 0xc3, 0x50, 0xe8, 0x01, 0x00, 0x00, 0x00, 0xc3, 0xc2, 0x04, 0x00,
};

Test(jit, calls_and_returns_agree)
{
    if (!have_jit())
        return;
    Vm a = vm_new(DBT_BACKEND_INTERP), b = vm_new(DBT_BACKEND_JIT);
    Vm *vms[2] = {&a, &b};
    for (int k = 0; k < 2; k++) {
        put(vms[k], CODE_GPA, code_calls, sizeof(code_calls));
        vm_reset(vms[k], CODE_GPA, 0);
        cr_assert_eq(vm_run(vms[k]), DBT_RUN_HLT, "%s", vms[k]->env->error);
        cr_assert_eq(vms[k]->env->s.rip, 0x10004f, "stopped at %#llx",
                     (unsigned long long)vms[k]->env->s.rip);
    }
    compare(&a, &b, "calls");
    cr_assert_eq(b.env->st.jit_fallbacks, 0);
    vm_free(&a);
    vm_free(&b);
}

/* Flags made in one block and used in the next, linked to it (the exit stores them), and blocks
 * that overwrite them first (linked without storing them). */
Test(jit, flags_across_linked_blocks)
{
    if (!have_jit())
        return;
    Vm a = vm_new(DBT_BACKEND_INTERP), b = vm_new(DBT_BACKEND_JIT);
    Vm *vms[2] = {&a, &b};
    for (int k = 0; k < 2; k++) {
        put(vms[k], CODE_GPA, code_flagchain, sizeof(code_flagchain));
        vm_reset(vms[k], CODE_GPA, 0);
        cr_assert_eq(vm_run(vms[k]), DBT_RUN_HLT, "%s", vms[k]->env->error);
    }
    compare(&a, &b, "flagchain");
    cr_assert_gt(b.env->st.jit_links, 2);
    cr_assert_lt(b.env->st.blocks_run, 50);
    vm_free(&a);
    vm_free(&b);
}

/* ---- random instruction sequences ---- */

static uint64_t rng = 0x243f6a8885a308d3ull;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

static int r32(void)
{
    static const int ok[] = {0, 1, 2, 3, 5, 6, 7}; /* not ESP */
    return ok[rnd() % 7];
}

static uint32_t val32(void)
{
    static const uint32_t edges[] = {
        0, 1, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff, 31, 32};
    return rnd() & 1 ? rnd() : edges[rnd() % 13];
}

typedef struct Code {
    uint8_t b[1024];
    size_t n;
} Code;

static void emit(Code *c, int n, ...)
{
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++)
        c->b[c->n++] = (uint8_t)va_arg(ap, int);
    va_end(ap);
}

static void emit32(Code *c, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        c->b[c->n++] = (uint8_t)(v >> (8 * i));
}

/* one random instruction (or a short group) from the forms the translator inlines or calls */
static void random_insn(Code *c)
{
    int d = r32(), s = r32(), d8 = rnd() % 8, s8 = rnd() % 8, n = rnd() % 8, cc = rnd() % 16;
    int sh = (int[]){0, 1, 2, 3, 4, 5, 7}[rnd() % 7];
    uint32_t mem = DATA_GPA + 4 * (rnd() % 64);
    switch (rnd() % 36) {
    case 0:
    case 1:
    case 2:
        emit(c, 2, n << 3 | 1, 0xc0 | s << 3 | d);
        break;
    case 3:
        emit(c, 2, n << 3, 0xc0 | s8 << 3 | d8);
        break;
    case 4:
        emit(c, 3, 0x66, n << 3 | 1, 0xc0 | s << 3 | d);
        break;
    case 5:
        emit(c, 3, 0x83, 0xc0 | n << 3 | d, rnd() & 0xff);
        break;
    case 6:
        emit(c, 2, 0x81, 0xc0 | n << 3 | d);
        emit32(c, val32());
        break;
    case 7:
        emit(c, 3, 0x80, 0xc0 | n << 3 | d8, rnd() & 0xff);
        break;
    case 8:
        emit(c, 1, (rnd() & 1 ? 0x40 : 0x48) + d);
        break;
    case 9:
        emit(c, 2, 0xfe, 0xc0 | (rnd() & 1) << 3 | d8);
        break;
    case 10:
        emit(c, 2, 0x66, (rnd() & 1 ? 0x40 : 0x48) + d);
        break;
    case 11: /* not / neg */
        if (rnd() & 1)
            emit(c, 2, 0xf7, 0xc0 | (2 + rnd() % 2) << 3 | d);
        else
            emit(c, 2, 0xf6, 0xc0 | (2 + rnd() % 2) << 3 | d8);
        break;
    case 12:
        emit(c, 3, 0xc1, 0xc0 | sh << 3 | d, rnd() % 40);
        break;
    case 13:
        emit(c, 3, 0xc0, 0xc0 | sh << 3 | d8, rnd() % 40);
        break;
    case 14:
        emit(c, 4, 0x66, 0xc1, 0xc0 | sh << 3 | d, rnd() % 40);
        break;
    case 15:
        emit(c, 2, 0xd1, 0xc0 | sh << 3 | d);
        break;
    case 16:
        emit(c, 2, 0xd3, 0xc0 | sh << 3 | d);
        break;
    case 17:
        emit(c, 3, 0x0f, 0x90 + cc, 0xc0 | d8);
        break;
    case 18:
        emit(c, 3, 0x0f, 0x40 + cc, 0xc0 | d << 3 | s);
        break;
    case 19: /* jcc over a mov: the block ends, the two paths chain on */
        emit(c, 3, 0x70 + cc, 5, 0xb8 + d);
        emit32(c, val32());
        break;
    case 20:
        emit(c, 1, 0xb8 + d);
        emit32(c, val32());
        break;
    case 21:
        emit(c, 4, 0x8d, 0x44 | d << 3, 2 << 6 | r32() << 3 | s, rnd() & 0xff);
        break;
    case 22:
        emit(c, 2, 0x89, 0x05 | s << 3);
        emit32(c, mem);
        break;
    case 23:
        emit(c, 2, 0x8b, 0x05 | d << 3);
        emit32(c, mem);
        break;
    case 24:
        emit(c, 2, n << 3 | 3, 0x05 | d << 3);
        emit32(c, mem);
        break;
    case 25:
        emit(c, 2, n << 3 | 1, 0x05 | s << 3);
        emit32(c, mem);
        break;
    case 26:
        emit(c, 2, 0x50 + s, 0x58 + d);
        break;
    case 27:
        emit(c, 2, 0x9c, 0x58 + d);
        break; /* pushfd; pop */
    case 28:
        emit(c, 1, (int[]){0x9f, 0x9e, 0xf8, 0xf9, 0xf5, 0x98, 0x99}[rnd() % 7]);
        break;
    case 29:
        emit(c, 3, 0x0f, (int[]){0xc1, 0xb1, 0xaf, 0xa3, 0xbc, 0xb6, 0xbf}[rnd() % 7],
             0xc0 | s << 3 | d);
        break;
    case 30:
        emit(c, 2, 0xf7, 0xc0 | (4 + rnd() % 2) << 3 | s);
        break; /* mul / imul */
    case 31:
        emit(c, 4, 0x0f, rnd() & 1 ? 0xa4 : 0xac, 0xc0 | s << 3 | d, rnd() % 40);
        break;
    case 32:
        emit(c, 2, 0x87, 0xc0 | s << 3 | d);
        break;
    case 33: /* and idx, 0x3f; mov base, DATA; mov/op r, [base + idx * 4 + disp8] or store */
    case 34: {
        int ix = r32(), bs = r32(), r = r32();
        if (ix == bs)
            break;
        emit(c, 3, 0x83, 0xe0 | ix, 0x3f);
        emit(c, 1, 0xb8 + bs);
        emit32(c, DATA_GPA);
        int opc = (int[]){0x8b, 0x89, 0x03, 0x2b, 0x33, 0x01}[rnd() % 6];
        if (r == bs || r == ix)
            opc = opc == 0x8b ? 0x3b : opc; /* keep the address registers for the next ones */
        emit(c, 4, opc, 0x44 | r << 3, 2 << 6 | ix << 3 | bs, rnd() & 0xfc);
        break;
    }
    default: /* ALU byte [mem], imm8 */
        emit(c, 2, 0x80, 0x05 | n << 3);
        emit32(c, mem);
        emit(c, 1, rnd() & 0xff);
        break;
    }
}

Test(jit, random_sequences_agree, .timeout = 300)
{
    if (!have_jit())
        return;
    Vm a = vm_new(DBT_BACKEND_INTERP), b = vm_new(DBT_BACKEND_JIT);
    Vm *vms[2] = {&a, &b};
    static uint8_t data[DATA_LEN];
    /* by hand: DUALVM_JIT_TEST_ITERS=n runs n sequences, DUALVM_JIT_TEST_DUMP=k dumps the code
     * compiled for sequence k (dbt/jit_x86_64.c's DUALVM_JIT_DUMP) */
    const char *it = getenv("DUALVM_JIT_TEST_ITERS"), *dk = getenv("DUALVM_JIT_TEST_DUMP");
    int iters = it ? atoi(it) : 5000, dump_at = dk ? atoi(dk) : -1;
    for (int iter = 0; iter < iters; iter++) {
        Code c = {.n = 0};
        int len = 4 + rnd() % 40;
        for (int i = 0; i < len && c.n < sizeof(c.b) - 32; i++)
            random_insn(&c);
        emit(&c, 1, 0xf4);
        uint32_t regs[8], fl = (rnd() & FL_ARITH) | FL_FIXED1;
        for (int i = 0; i < 8; i++)
            regs[i] = val32();
        for (size_t i = 0; i < 256; i++)
            data[i] = (uint8_t)rnd();
        if (iter == dump_at)
            g_setenv("DUALVM_JIT_DUMP", "1", TRUE);
        for (int k = 0; k < 2; k++) {
            Vm *v = vms[k];
            put(v, CODE_GPA, c.b, c.n);
            put(v, DATA_GPA, data, 256);
            vm_reset(v, CODE_GPA, 0);
            for (int i = 0; i < 8; i++)
                if (i != R_ESP)
                    v->env->s.regs[i] = regs[i];
            dbt_set_eflags(v->env, fl, 0xffffffff);
            int rc = vm_run(v);
            cr_assert_eq(rc, DBT_RUN_HLT, "sequence %d: %s stopped with %d: %s", iter,
                         k ? "jit" : "interp", rc, v->env->error);
        }
        if (iter == dump_at)
            g_unsetenv("DUALVM_JIT_DUMP");
        char what[64];
        snprintf(what, sizeof(what), "sequence %d (%zu bytes)", iter, c.n);
        if (a.env->s.rip != b.env->s.rip || a.env->st.insns != b.env->st.insns ||
            dbt_get_eflags(a.env) != dbt_get_eflags(b.env) ||
            memcmp(a.env->s.regs, b.env->s.regs, 8 * sizeof(uint64_t))) {
            char hex[3 * sizeof(c.b) + 1];
            for (size_t i = 0; i < c.n; i++)
                snprintf(hex + 3 * i, 4, "%02x ", c.b[i]);
            cr_log_error("%s: %s", what, hex);
        }
        compare(&a, &b, what);
    }
    cr_assert_geq(b.env->st.jit_blocks, 3000, "%llu blocks compiled for 3000 sequences",
                  (unsigned long long)b.env->st.jit_blocks);
    cr_assert_eq(b.env->st.jit_fallbacks, 0, "blocks failed to compile");
    cr_log_info("%llu blocks compiled, %llu interpreted, %llu links",
                (unsigned long long)b.env->st.jit_blocks,
                (unsigned long long)b.env->st.jit_fallbacks,
                (unsigned long long)b.env->st.jit_links);
    vm_free(&a);
    vm_free(&b);
}

/* Runs c (ending in hlt) on both machines from the same registers and flags, and compares. */
static void run_both(Vm *a, Vm *b, const Code *c, const uint32_t *regs, uint32_t fl,
                     const char *what, uint32_t fs_limit)
{
    Vm *vms[2] = {a, b};
    for (int k = 0; k < 2; k++) {
        Vm *v = vms[k];
        put(v, CODE_GPA, c->b, c->n);
        vm_reset(v, CODE_GPA, 0);
        if (fs_limit)
            v->env->s.seg[S_FS].limit = fs_limit;
        for (int i = 0; i < 8; i++)
            if (i != R_ESP)
                v->env->s.regs[i] = regs[i];
        dbt_set_eflags(v->env, fl, 0xffffffff);
        int rc = vm_run(v);
        cr_assert_eq(rc, DBT_RUN_HLT, "%s: %s stopped with %d: %s", what, k ? "jit" : "interp", rc,
                     v->env->error);
    }
    if (dbt_get_eflags(a->env) != dbt_get_eflags(b->env) ||
        memcmp(a->env->s.regs, b->env->s.regs, 8 * sizeof(uint64_t))) {
        char hex[3 * sizeof(c->b) + 1];
        for (size_t i = 0; i < c->n; i++)
            snprintf(hex + 3 * i, 4, "%02x ", c->b[i]);
        cr_log_error("%s: %s", what, hex);
    }
    compare(a, b, what);
}

/* The end of one random sequence of the flag tests: HLT, random registers and flags, both
 * back ends from there, compared (FS limited to fs_limit if not 0). */
static void run_sequence(Vm *a, Vm *b, Code *c, const char *kind, int iter, uint32_t fs_limit)
{
    emit(c, 1, 0xf4);
    uint32_t regs[8], fl = (rnd() & FL_ARITH) | FL_FIXED1;
    for (int i = 0; i < 8; i++)
        regs[i] = val32();
    char what[64];
    snprintf(what, sizeof(what), "%s sequence %d", kind, iter);
    run_both(a, b, c, regs, fl, what, fs_limit);
}

/* The end of a flag test: every sequence compiled (at least one block each), none left to the
 * interpreter. */
static void finish_flag_test(Vm *a, Vm *b, int sequences)
{
    cr_assert_geq(b->env->st.jit_blocks, (uint64_t)sequences, "%llu blocks for %d sequences",
                  (unsigned long long)b->env->st.jit_blocks, sequences);
    cr_assert_eq(b->env->st.jit_fallbacks, 0, "blocks failed to compile");
    vm_free(a);
    vm_free(b);
}

/* INC/DEC keep CF from the op before, which the back end works out only where it is looked at
 * (stored at an exit or for a helper, a condition, ADC, RCL, another INC/DEC), from that op's
 * values: after each carry-setting op, at each size, in place or not, then each of those. */
Test(jit, inc_dec_keep_the_carry_of_the_op_before)
{
    if (!have_jit())
        return;
    Vm a = vm_new(DBT_BACKEND_INTERP), b = vm_new(DBT_BACKEND_JIT);
    for (int iter = 0; iter < 3000; iter++) {
        Code c = {.n = 0};
        int d = r32(), s = r32(), e = r32(), d8 = rnd() % 8, s8 = rnd() % 8, e8 = rnd() % 8;
        int n = (int[]){0, 2, 3, 5, 7}[rnd() % 5]; /* add adc sbb sub cmp */
        int sh = (int[]){4, 5, 7}[rnd() % 3];      /* shl shr sar */
        /* the op whose CF the INC/DEC keep, after one that leaves flags pending (ADC and SBB
         * are inline only then) */
        if (rnd() & 1)
            emit(&c, 2, (rnd() & 1 ? 0 : 5) << 3 | 1, 0xc0 | d << 3 | s); /* add / sub */
        switch (rnd() % 12) {
        case 0:
        case 1:
            emit(&c, 2, n << 3 | 1, 0xc0 | s << 3 | d);
            break;
        case 2:
            emit(&c, 2, n << 3, 0xc0 | s8 << 3 | d8);
            break;
        case 3:
            emit(&c, 3, 0x66, n << 3 | 1, 0xc0 | s << 3 | d);
            break;
        case 4:
            emit(&c, 3, 0x83, 0xc0 | n << 3 | d, rnd() & 0xff);
            break;
        case 5:
            emit(&c, 2, 0x81, 0xc0 | n << 3 | d);
            emit32(&c, val32());
            break;
        case 6:
            emit(&c, 3, 0x80, 0xc0 | n << 3 | d8, rnd() & 0xff);
            break;
        case 7: /* neg */
            if (rnd() & 1)
                emit(&c, 2, 0xf7, 0xd8 | d);
            else
                emit(&c, 2, 0xf6, 0xd8 | d8);
            break;
        case 8:
            emit(&c, 3, 0xc1, 0xc0 | sh << 3 | d, 1 + rnd() % 31);
            break;
        case 9:
            emit(&c, 3, 0xc0, 0xc0 | sh << 3 | d8, 1 + rnd() % 7);
            break;
        case 10:
            emit(&c, 4, 0x66, 0xc1, 0xc0 | sh << 3 | d, 1 + rnd() % 15);
            break;
        default: /* the result into another register first, then the op */
            emit(&c, 2, 0x89, 0xc0 | d << 3 | e);
            emit(&c, 2, n << 3 | 1, 0xc0 | s << 3 | e);
            break;
        }
        if (rnd() & 1) /* a flag-free op between */
            emit(&c, 2, 0x8d, 0x00 | s << 3 | (e == 5 || e == 4 ? 6 : e)); /* lea s, [e] */
        /* one or two INC/DEC, at any size, on the op's register or another */
        for (int k = 1 + (int)(rnd() % 2); k > 0; k--) {
            int r = rnd() & 1 ? d : e;
            switch (rnd() % 3) {
            case 0:
                emit(&c, 1, (rnd() & 1 ? 0x40 : 0x48) + r);
                break;
            case 1:
                emit(&c, 2, 0x66, (rnd() & 1 ? 0x40 : 0x48) + r);
                break;
            default:
                emit(&c, 2, 0xfe, 0xc0 | (rnd() & 1) << 3 | (rnd() & 1 ? d8 : e8));
                break;
            }
        }
        /* who looks at the CF */
        switch (rnd() % 8) {
        case 0: /* the exit stores it: a jmp to the hlt, whose block sees the flags */
            if (rnd() & 1)
                emit(&c, 2, 0xeb, 0);
            break;
        case 1:
            emit(&c, 3, 0x0f, 0x92 + (rnd() & 1), 0xc0 | s8); /* setc / setnc */
            break;
        case 2:
            emit(&c, 3, 0x72 + (rnd() & 1), 5, 0xb8 + s); /* jc / jnc over a mov */
            emit32(&c, val32());
            break;
        case 3:
            emit(&c, 2, (rnd() & 1 ? 2 : 3) << 3 | 1, 0xc0 | e << 3 | s); /* adc / sbb */
            break;
        case 4:
            emit(&c, 2, 0xd1, 0xc0 | (2 + rnd() % 2) << 3 | s); /* rcl / rcr */
            break;
        case 5:
            emit(&c, 2, 0x9c, 0x58 + s); /* pushfd; pop */
            break;
        case 6:
            emit(&c, 3, 0x0f, 0x46 + (rnd() & 1), 0xc0 | s << 3 | e); /* cmovbe / cmova */
            break;
        default:
            emit(&c, 2, 0x89, 0x05 | s << 3); /* a store: its slow path may store the flags */
            emit32(&c, DATA_GPA + 4 * (rnd() % 64));
            break;
        }
        run_sequence(&a, &b, &c, "inc/dec", iter, 0);
    }
    finish_flag_test(&a, &b, 3000);
}

/* A shift whose flags only an ADC/SBB reads is compiled without the operand its flags record
 * needs: the ADC/SBB takes the host CF. Each shift at each size and count, flag-free ops
 * between or not, then ADC/SBB at each size (and sometimes something else that looks at the
 * flags first, where the record is needed after all). */
Test(jit, shift_then_adc_takes_the_carry_from_the_host)
{
    if (!have_jit())
        return;
    Vm a = vm_new(DBT_BACKEND_INTERP), b = vm_new(DBT_BACKEND_JIT);
    for (int iter = 0; iter < 3000; iter++) {
        Code c = {.n = 0};
        int d = r32(), s = r32(), d8 = rnd() % 8, s8 = rnd() % 8;
        int sh = (int[]){4, 5, 7}[rnd() % 3]; /* shl shr sar */
        switch (rnd() % 4) {
        case 0:
            emit(&c, 3, 0xc1, 0xc0 | sh << 3 | d, 1 + rnd() % 31);
            break;
        case 1:
            emit(&c, 3, 0xc0, 0xc0 | sh << 3 | d8, 1 + rnd() % 31);
            break;
        case 2:
            emit(&c, 4, 0x66, 0xc1, 0xc0 | sh << 3 | d, 1 + rnd() % 31);
            break;
        default:
            emit(&c, 2, 0xd1, 0xc0 | sh << 3 | d);
            break;
        }
        switch (rnd() % 6) {
        case 0:
            emit(&c, 1, 0xb8 + s); /* mov s, imm */
            emit32(&c, val32());
            break;
        case 1:
            emit(&c, 2, 0x89, 0xc0 | d << 3 | s); /* mov s, d */
            break;
        case 2:
            emit(&c, 3, 0x0f, 0x92, 0xc0 | s8); /* setc: the record is looked at first */
            break;
        case 3:
            emit(&c, 2, 0x89, 0x05 | s << 3); /* a store first */
            emit32(&c, DATA_GPA + 4 * (rnd() % 64));
            break;
        default:
            break;
        }
        int n = rnd() & 1 ? 2 : 3; /* adc / sbb */
        switch (rnd() % 3) {
        case 0:
            emit(&c, 2, n << 3 | 1, 0xc0 | d << 3 | s);
            break;
        case 1:
            emit(&c, 2, n << 3, 0xc0 | d8 << 3 | s8);
            break;
        default:
            emit(&c, 3, 0x66, n << 3 | 1, 0xc0 | d << 3 | s);
            break;
        }
        if (rnd() & 1)
            emit(&c, 3, 0x0f, 0x92, 0xc0 | d8); /* setc: the ADC/SBB's own CF */
        run_sequence(&a, &b, &c, "shift/adc", iter, 0);
    }
    finish_flag_test(&a, &b, 3000);
}

/* Two/three-operand IMUL and ROL/ROR by a constant whose flags can be seen are compiled
 * inline: CF and OF of the op, SF ZF AF PF kept from the op before (Zen), worked out where the
 * flags are stored or read. After each kind of flags record, then each consumer. */
Test(jit, imul_and_rotates_with_live_flags_agree)
{
    if (!have_jit())
        return;
    Vm a = vm_new(DBT_BACKEND_INTERP), b = vm_new(DBT_BACKEND_JIT);
    for (int iter = 0; iter < 3000; iter++) {
        Code c = {.n = 0};
        int d = r32(), s = r32(), e = r32(), d8 = rnd() % 8;
        switch (rnd() % 7) { /* the flags before */
        case 0:
            emit(&c, 2, (int[]){0, 1, 5, 6, 7}[rnd() % 5] << 3 | 1, 0xc0 | s << 3 | e);
            break;
        case 1:
            emit(&c, 1, (rnd() & 1 ? 0x40 : 0x48) + e); /* inc / dec */
            break;
        case 2:
            emit(&c, 3, 0xc1, 0xc0 | (rnd() & 1 ? 4 : 5) << 3 | e, 1 + rnd() % 31);
            break;
        case 3:
            emit(&c, 3, 0x0f, 0xaf, 0xc0 | e << 3 | s); /* another imul */
            break;
        case 4:
            emit(&c, 3, 0x0f, 0xbc, 0xc0 | e << 3 | s); /* bsf: a helper's flags */
            break;
        default: /* the flags from before the block */
            break;
        }
        int rop = rnd() & 1;  /* rol / ror */
        switch (rnd() % 10) { /* the imul or rotate */
        case 5:
            emit(&c, 3, 0xc1, 0xc0 | rop << 3 | d, rnd() % 40);
            break;
        case 6:
            emit(&c, 3, 0xc0, 0xc0 | rop << 3 | d8, rnd() % 40);
            break;
        case 7:
            emit(&c, 4, 0x66, 0xc1, 0xc0 | rop << 3 | d, rnd() % 40);
            break;
        case 8:
            emit(&c, 2, 0xd1, 0xc0 | rop << 3 | d);
            break;
        case 9:
            emit(&c, 2, 0xd0, 0xc0 | rop << 3 | d8);
            break;
        case 0:
            emit(&c, 3, 0x0f, 0xaf, 0xc0 | d << 3 | s);
            break;
        case 1:
            emit(&c, 4, 0x66, 0x0f, 0xaf, 0xc0 | d << 3 | s);
            break;
        case 2:
            emit(&c, 3, 0x6b, 0xc0 | d << 3 | s, rnd() & 0xff);
            break;
        case 3:
            emit(&c, 2, 0x69, 0xc0 | d << 3 | s);
            emit32(&c, val32());
            break;
        default:
            emit(&c, 3, 0x66, 0x69, 0xc0 | d << 3 | s);
            emit(&c, 2, rnd() & 0xff, rnd() & 0xff);
            break;
        }
        if (rnd() & 1) /* a flag-free op between */
            emit(&c, 2, 0x89, 0xc0 | d << 3 | e);
        switch (rnd() % 10) { /* who looks */
        case 0: /* the exit stores them: a jmp to the hlt, whose block sees the flags */
            if (rnd() & 1)
                emit(&c, 2, 0xeb, 0);
            break;
        case 1:
            emit(&c, 3, 0x0f, 0x90 + rnd() % 16, 0xc0 | d8); /* setcc */
            break;
        case 2:
            emit(&c, 3, 0x70 + rnd() % 16, 5, 0xb8 + s); /* jcc over a mov */
            emit32(&c, val32());
            break;
        case 3:
            emit(&c, 1, (rnd() & 1 ? 0x40 : 0x48) + e); /* inc / dec keep CF */
            break;
        case 4:
            emit(&c, 2, (rnd() & 1 ? 2 : 3) << 3 | 1, 0xc0 | e << 3 | s); /* adc / sbb */
            break;
        case 5:
            emit(&c, 2, 0x9c, 0x58 + s); /* pushfd; pop */
            break;
        case 6:
            emit(&c, 3, 0x0f, 0xaf, 0xc0 | s << 3 | e); /* imul after imul */
            break;
        case 9:
            emit(&c, 3, 0xc1, 0xc0 | (rnd() & 1) << 3 | e, 1 + rnd() % 31); /* rotate after */
            break;
        case 7: /* a store, then the exit */
            emit(&c, 2, 0x89, 0x05 | s << 3);
            emit32(&c, DATA_GPA + 4 * (rnd() % 64));
            break;
        default: /* a store that faults (#GP, past FS's limit): the flags are pushed */
            emit(&c, 3, 0x64, 0x89, 0x05 | s << 3);
            emit32(&c, 0x2000);
            break;
        }
        run_sequence(&a, &b, &c, "imul/rotate", iter, 0xfff);
    }
    finish_flag_test(&a, &b, 3000);
}

/* ---- self-modifying code ---- */

Test(jit, smc_same_block_and_chained)
{
    if (!have_jit())
        return;
    Vm a = vm_new(DBT_BACKEND_INTERP), b = vm_new(DBT_BACKEND_JIT);
    Vm *vms[2] = {&a, &b};
    for (int k = 0; k < 2; k++) {
        put(vms[k], CODE_GPA, code_smc0, sizeof(code_smc0));
        put(vms[k], CODE_GPA + 0x1000, code_smc1, sizeof(code_smc1));
        vm_reset(vms[k], CODE_GPA, 0);
        vms[k]->env->s.regs[R_EDX] = 0;
        cr_assert_eq(vm_run(vms[k]), DBT_RUN_HLT, "%s", vms[k]->env->error);
    }
    compare(&a, &b, "smc");
    DbtCpu *env = b.env;
    cr_assert_eq(env->s.regs[R_EDI], 0x11111112, "the rewritten instruction did not run");
    cr_assert_eq(env->s.regs[R_EBX], 0x100 + 5 + 4 + 3 + 2, "a rewritten callee ran stale");
    cr_assert_eq(env->s.regs[R_EDX], 4 + 3 + 2 + 1, "a rewritten jump target ran stale");
    cr_assert_gt(env->st.smc_invalidations, 8);
    cr_assert_gt(env->st.jit_links, 2);
    vm_free(&a);
    vm_free(&b);
}

/* ---- precise exceptions ---- */

/* identity-map the first 4 MiB except the page at 0x3ff000 */
static void paging_on(Vm *v)
{
    uint32_t pde = PT_GPA | 3;
    put(v, PD_GPA, &pde, 4);
    for (uint32_t i = 0; i < 1024; i++) {
        uint32_t pte = i == 0x3ff ? 0 : (i << 12) | 3;
        put(v, PT_GPA + 4 * i, &pte, 4);
    }
    v->env->s.cr3 = PD_GPA;
    v->env->s.cr0 |= CR0_PG | CR0_WP;
    dbt_tlb_flush(v->env);
}

typedef struct ExcCase {
    const char *name;
    const uint8_t *code;
    size_t len;
    uint64_t at;
    bool paging;
    uint32_t vector_err, fault_eip;
} ExcCase;

Test(jit, precise_exceptions)
{
    if (!have_jit())
        return;
    const ExcCase cases[] = {
        {"#GP load", code_exc0, sizeof(code_exc0), 0x100000, false, 0, 0x10000d},
        {"#GP store", code_exc1, sizeof(code_exc1), 0x100100, false, 0, 0x100106},
        {"#PF load", code_exc2, sizeof(code_exc2), 0x100200, true, 0, 0x100208},
        {"#PF crossing store", code_exc3, sizeof(code_exc3), 0x100300, true, 2, 0x100305},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const ExcCase *ec = &cases[i];
        Vm a = vm_new(DBT_BACKEND_INTERP), b = vm_new(DBT_BACKEND_JIT);
        Vm *vms[2] = {&a, &b};
        for (int k = 0; k < 2; k++) {
            Vm *v = vms[k];
            put(v, ec->at, ec->code, ec->len);
            /* run it twice: the second time the blocks are compiled and linked already */
            for (int rep = 0; rep < 2; rep++) {
                vm_reset(v, ec->at, 0);
                v->env->s.seg[S_FS].limit = 0xfff;
                if (ec->paging)
                    paging_on(v);
                int rc = vm_run(v);
                cr_assert_eq(rc, DBT_RUN_HLT, "%s: %s", ec->name, v->env->error);
                cr_assert_eq(v->env->s.rip, HANDLER_GPA + 1, "%s: did not reach the handler",
                             ec->name);
            }
        }
        compare(&a, &b, ec->name);
        DbtCpu *env = b.env;
        uint32_t sp = (uint32_t)env->s.regs[R_ESP];
        cr_assert_eq(rd32(&b, sp), ec->vector_err, "%s: error code", ec->name);
        cr_assert_eq(rd32(&b, sp + 4), ec->fault_eip, "%s: pushed EIP %#x", ec->name,
                     rd32(&b, sp + 4));
        switch (i) {
        case 0: /* the push and the add before the fault are done, the load and after not */
            cr_assert_eq(env->s.regs[R_EAX], 3);
            cr_assert_eq(env->s.regs[R_ECX], 0x09090909);
            cr_assert_eq(env->s.regs[R_EDX], 0x0a0a0a0a);
            cr_assert_eq(rd32(&b, sp + 16), 3, "the push before the fault");
            cr_assert_eq(rd32(&b, sp + 12) & FL_ARITH, FL_PF, "flags of the add before");
            break;
        case 1:
            cr_assert_eq(env->s.regs[R_ESI], 6);
            cr_assert_eq(env->s.regs[R_EDI], 0x0f0f0f0f);
            cr_assert_eq(rd32(&b, 0xffc), 0, "the faulting store wrote");
            cr_assert_eq(rd32(&b, 0x1000), 0, "the faulting store wrote");
            break;
        case 2:
            cr_assert_eq(env->s.cr2, 0x3ff000);
            cr_assert_eq(env->s.regs[R_EAX], 0xffffffff);
            cr_assert_eq(env->s.regs[R_EBX], 0x0b0b0b0b);
            cr_assert_eq(rd32(&b, sp + 12) & (FL_CF | FL_SF), FL_CF | FL_SF);
            break;
        default:
            cr_assert_eq(env->s.cr2, 0x3ff000);
            cr_assert_eq(rd32(&b, 0x3feffc), 0, "half of the crossing store was written");
            break;
        }
        vm_free(&a);
        vm_free(&b);
    }
}

/* ---- interrupts, kicks and stops while compiled code loops ---- */

typedef struct Async {
    Vm *vm;
    volatile int kick;
    volatile int pending;
    int what; /* 0 interrupt + kick, 1 interrupt alone, 2 kick, 3 stop */
} Async;

static bool fake_pending(void *opaque)
{
    return ((Async *)opaque)->pending;
}

static int fake_ack(void *opaque)
{
    ((Async *)opaque)->pending = 0;
    return 0x20;
}

static gpointer async_thread(gpointer p)
{
    Async *as = p;
    g_usleep(20000);
    switch (as->what) {
    case 0:
        as->pending = 1;
        dbt_request_exit(as->vm->env); /* what the engine's kick does */
        break;
    case 1:
        as->pending = 1;
        break;
    case 2:
        as->kick = 1;
        dbt_request_exit(as->vm->env);
        break;
    default:
        as->vm->m->stop = STOP_POWEROFF;
        dbt_request_exit(as->vm->env);
        break;
    }
    return NULL;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

Test(jit, async_events_during_chained_loop)
{
    if (!have_jit())
        return;
    for (int what = 0; what < 4; what++) {
        Vm v = vm_new(DBT_BACKEND_JIT);
        Async as = {.vm = &v, .what = what};
        v.m->intr_pending = fake_pending;
        v.m->intr_ack = fake_ack;
        v.m->intr_opaque = &as;
        put(&v, CODE_GPA, code_irq, sizeof(code_irq));
        vm_reset(&v, CODE_GPA, CODE_GPA + 0x20);
        GThread *th = g_thread_new("async", async_thread, &as);
        double t0 = now_s();
        int rc;
        for (;;) {
            rc = dbt_exec(v.env, &as.kick, INT64_MAX);
            if (rc != DBT_RUN_DEADLINE || as.kick || now_s() - t0 > 10) /* hang guard */
                break;
        }
        g_thread_join(th);
        uint32_t spins = rd32(&v, 0x300000);
        switch (what) {
        case 0:
        case 1:
            cr_assert_eq(rc, DBT_RUN_HLT, "case %d: rc %d: %s", what, rc, v.env->error);
            cr_assert_eq(rd32(&v, 0x300004), 0xdead, "case %d: the interrupt was not taken", what);
            break;
        case 2:
            cr_assert_eq(rc, DBT_RUN_DEADLINE, "kick: rc %d", rc);
            break;
        default:
            cr_assert_eq(rc, DBT_RUN_STOP, "stop: rc %d", rc);
            break;
        }
        cr_assert_gt(spins, 100000, "case %d: the loop ran only %u times", what, spins);
        cr_assert_gt(v.env->st.jit_links, 0);
        vm_free(&v);
    }
}

Test(jit, deadline_during_chained_loop, .timeout = 60)
{
    if (!have_jit())
        return;
    Vm v = vm_new(DBT_BACKEND_JIT);
    put(&v, CODE_GPA, code_irq, sizeof(code_irq));
    vm_reset(&v, CODE_GPA + 1, 0); /* the spin loop, interrupts off */
    int kick = 0;
    /* a deadline already past: compiled code chained to itself must still come back to
     * dbt_exec and look at the clock; counted in guest instructions, not time, so a busy
     * machine cannot fail it (compiled code returns after JIT_RUN_LIMIT = 65536) */
    int rc = dbt_exec(v.env, &kick, clock_ns(v.m->clock));
    cr_assert_eq(rc, DBT_RUN_DEADLINE);
    cr_assert_gt(v.env->st.jit_links, 0, "the loop ran chained");
    cr_assert_lt(v.env->st.insns, 4 * 65536, "the deadline was noticed after %llu instructions",
                 (unsigned long long)v.env->st.insns);
    vm_free(&v);
}

/* A REP STOSD of 2^31 - 1 elements downwards (DF=1: element by element, each a store to RAM
 * that raises nothing) with a deadline already past: dbt_exec must come back after one run of
 * its loop, at most 256 slices of 4096 elements, not after the 65536 slices compiled code may
 * chain (which would be 2^28 elements). */
static const uint8_t code_long_rep[] = {
    0xfd,                         /* std */
    0xbf, 0x00, 0x00, 0xf0, 0x00, /* mov edi, 0xf00000 */
    0xb9, 0xff, 0xff, 0xff, 0x7f, /* mov ecx, 0x7fffffff */
    0xf3, 0xab,                   /* rep stosd (its block must be chainable: not with the hlt) */
    0xeb, 0x00,                   /* jmp $+2 */
    0xf4,                         /* hlt */
};

Test(jit, long_rep_returns_to_the_run_loop, .timeout = 60)
{
    if (!have_jit())
        return;
    Vm v = vm_new(DBT_BACKEND_JIT);
    put(&v, CODE_GPA, code_long_rep, sizeof(code_long_rep));
    vm_reset(&v, CODE_GPA, 0);
    int kick = 0;
    int rc = dbt_exec(v.env, &kick, clock_ns(v.m->clock));
    cr_assert_eq(rc, DBT_RUN_DEADLINE, "rc %d: %s", rc, v.env->error);
    uint64_t done = 0x7fffffffull - (v.env->s.regs[R_ECX] & 0xffffffffull);
    cr_assert_gt(done, 0, "the REP ran");
    cr_assert_leq(done, 256 * 4096, "%llu elements before the deadline was looked at",
                  (unsigned long long)done);
    vm_free(&v);
}

/* ---- fallback ---- */

/* The default back end compiles a block on its third run: the loop's blocks are compiled, the
 * code before and after it (run once) is left to the interpreter, and the result is the same. */
Test(jit, default_compiles_on_third_run)
{
    if (!have_jit())
        return;
    if (getenv("DUALVM_DBT_BACKEND") || getenv("DUALVM_JIT_THRESHOLD")) {
        cr_skip_test("a back end or threshold chosen from the environment: no default to test");
    }
    Vm a = vm_new(DBT_BACKEND_INTERP), b;
    MachineConfig cfg = {.ram_size = 16 << 20, .serial = "none"};
    char err[256];
    b.m = pc_new(&cfg, err, sizeof(err));
    cr_assert(b.m, "%s", err);
    b.env = dbt_new(b.m); /* no back end named: the default */
    cr_assert(b.env);
    cr_assert_eq(b.env->backend, DBT_BACKEND_JIT);
    Vm *vms[2] = {&a, &b};
    for (int k = 0; k < 2; k++) {
        put(vms[k], CODE_GPA, code_chain, sizeof(code_chain));
        vm_reset(vms[k], CODE_GPA, 0);
        cr_assert_eq(vm_run(vms[k]), DBT_RUN_HLT, "%s", vms[k]->env->error);
    }
    compare(&a, &b, "default");
    DbtStats *s = &b.env->st;
    cr_assert_gt(s->jit_blocks, 4, "the loop was not compiled");
    cr_assert_lt(s->jit_blocks, s->blocks_translated, "code run once was compiled");
    cr_assert_eq(s->jit_fallbacks, 0);
    vm_free(&a);
    vm_free(&b);
}

Test(jit, unknown_op_falls_back)
{
    if (!have_jit())
        return;
    Vm v = vm_new(DBT_BACKEND_JIT);
    IrOp ops[3];
    memset(ops, 0, sizeof(ops));
    ops[0].op = IR_INSN;
    ops[0].imm = CODE_GPA;
    ops[1].op = IR_NR_OPS; /* an op this back end has never heard of */
    ops[2].op = IR_EXIT;
    ops[2].imm = CODE_GPA + 1;
    Block blk = {.pc = CODE_GPA, .eip = CODE_GPA, .ninsns = 1, .nops = 3, .valid = 1, .ops = ops};
    cr_assert(!jit_compile(v.env, &blk));
    cr_assert_null(blk.host_code);
    cr_assert_eq(v.env->st.jit_fallbacks, 1);
    ops[1].op = IR_MOVI;
    cr_assert(jit_compile(v.env, &blk));
    cr_assert_not_null(blk.host_code);
    jit_block_dead(v.env, &blk);
    jit_block_free(&blk);
    vm_free(&v);
}
