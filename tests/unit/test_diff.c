/* The translator's differential mode (dbt/diff.c): clean guests run through it with nothing to
 * report, and a result of the host-code back end made wrong on purpose (through the test hook,
 * in one instruction) is caught and pinned to that instruction, with the field or the bytes
 * that differ. The guests' bytes were assembled with NASM from the source shown next to them. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accel/accel.h"
#include "dbt/diff.h"
#include "hw/pc.h"

#define CODE 0x100000
#define DATA 0x200000
#define IDT 0x6000
#define GDT 0x5000
#define HANDLER 0x100800 /* every vector: mov esi, 0xdead; hlt */

/* The engine as main drives it (accel_dbt_ops), with -dbt-backend diff. */
static Machine *m;
static Vcpu v;
static DbtCpu *env;

static void setup(void)
{
    if (!dbt_backend_available(DBT_BACKEND_DIFF))
        cr_skip_test("no host-code back end on this host: nothing to compare");
    dbt_set_default_backend(DBT_BACKEND_DIFF);
    MachineConfig cfg = {.ram_size = 16 << 20, .serial = "none"};
    char err[256];
    m = pc_new(&cfg, err, sizeof(err));
    cr_assert(m, "%s", err);
    v = (Vcpu){.machine = m, .ops = &accel_dbt_ops};
    cr_assert_eq(v.ops->init(&v), 0, "%s", v.error);
    env = v.engine;
    cr_assert_eq(env->backend, DBT_BACKEND_DIFF, "%s", env->error);
    static const uint8_t handler[] = {0xbe, 0xad, 0xde, 0x00, 0x00, 0xf4};
    cr_assert(as_load(m->as, HANDLER, handler, sizeof(handler)) == 0);
    for (int i = 0; i < 32; i++) {
        uint32_t gate[2] = {(HANDLER & 0xffff) | 0x08u << 16, (HANDLER & 0xffff0000u) | 0x8e00};
        cr_assert(as_load(m->as, IDT + 8 * i, gate, 8) == 0);
    }
    static const uint64_t gdt[] = {0, 0x00cf9a000000ffffull, 0x00cf92000000ffffull};
    cr_assert(as_load(m->as, GDT, gdt, sizeof(gdt)) == 0);
}

static void teardown(void)
{
    if (v.ops)
        v.ops->destroy(&v);
    pc_free(m);
}

TestSuite(diff, .init = setup, .fini = teardown);

/* Run code at CODE in flat 32-bit protected mode until the engine stops. */
static VcpuExit run(const uint8_t *code, size_t len)
{
    cr_assert(as_load(m->as, CODE, code, len) == 0);
    CpuState s;
    cpu_reset(&s);
    cpu_set_flat32(&s, CODE);
    s.gdt.base = GDT;
    s.gdt.limit = 23;
    s.seg[S_CS].sel = 0x08;
    s.idt.base = IDT;
    s.idt.limit = 32 * 8 - 1;
    s.regs[R_ESP] = 0x7000;
    v.ops->set_state(&v, &s);
    v.kick = 0;
    v.deadline_ns = INT64_MAX;
    return v.ops->run(&v);
}

static uint32_t rd32(uint64_t gpa)
{
    uint32_t v = 0;
    as_read(m->as, gpa, &v, 4);
    return v;
}

static char *stats(void)
{
    static char *buf;
    static size_t len;
    FILE *f = open_memstream(&buf, &len);
    dbt_diff_print_stats(env, f);
    fclose(f);
    return buf;
}

/*
 *     mov ecx, 200
 *     mov edi, 0x200000
 * .l: mov eax, ecx
 *     imul eax, eax, 7
 *     add [edi], eax        ; read-modify-write: undone and redone
 *     push eax
 *     pop edx
 *     adc edx, [edi + 4]
 *     mov [edi + 4 * ecx + 0x1000], edx  ; on a second page
 *     loop .l
 *     xor edx, edx
 *     div edx               ; #DE inside a block: both must raise it at the same EIP
 */
static const uint8_t clean[] = {0xb9, 0xc8, 0x00, 0x00, 0x00, 0xbf, 0x00, 0x00, 0x20,
                                0x00, 0x89, 0xc8, 0x6b, 0xc0, 0x07, 0x01, 0x07, 0x50,
                                0x5a, 0x13, 0x57, 0x04, 0x89, 0x94, 0x8f, 0x00, 0x10,
                                0x00, 0x00, 0xe2, 0xeb, 0x31, 0xd2, 0xf7, 0xf2};

Test(diff, clean_guest_agrees)
{
    cr_assert_eq(run(clean, sizeof(clean)), VCPU_EXIT_HLT, "report: %s", dbt_diff_report(env));
    cr_assert_str_empty(dbt_diff_report(env));
    cr_assert_eq(env->s.regs[R_ESI], 0xdead, "the #DE handler ran");
    uint32_t sum = 0;
    for (uint32_t c = 200; c; c--)
        sum += c * 7;
    cr_assert_eq(rd32(DATA), sum, "the read-modify-writes happened once each: %#x", rd32(DATA));
    char *s = stats();
    unsigned long long compared = 0, exc = 0;
    cr_assert(sscanf(strstr(s, "blocks compared"), "blocks compared %llu (%llu", &compared, &exc) ==
                  2,
              "%s", s);
    cr_assert_geq(compared, 200, "%s", s);
    cr_assert_geq(exc, 1, "the faulting block was compared: %s", s);
    free(s);
}

/*
 * 0x100000: mov eax, 1
 * 0x100005: add eax, 2
 * 0x100008: mov ebx, eax
 * 0x10000a: add ebx, 5         <- the hook makes compiled code's EBX wrong here
 * 0x10000d: mov [0x200000], ebx
 * 0x100013: hlt
 */
static const uint8_t straight[] = {0xb8, 0x01, 0x00, 0x00, 0x00, 0x83, 0xc0, 0x02, 0x89, 0xc3,
                                   0x83, 0xc3, 0x05, 0x89, 0x1d, 0x00, 0x00, 0x20, 0x00, 0xf4};

static bool has_insn(const Block *b, uint64_t eip)
{
    for (uint32_t i = 0; i < b->nops; i++)
        if (b->ops[i].op == IR_INSN && b->ops[i].imm == eip)
            return true;
    return false;
}

/* How compiled code's result is made wrong, once the block holds the instruction at `at`. */
typedef struct Break {
    uint64_t at;
    enum { BREAK_EBX, BREAK_BYTE, BREAK_STRAY } what;
} Break;

static void breaker(DbtCpu *e, const Block *b, void *opaque)
{
    const Break *k = opaque;
    uint8_t x = 0x5a;
    if (!has_insn(b, k->at))
        return;
    if (k->what == BREAK_EBX)
        e->s.regs[R_EBX] ^= 0x100;
    else /* a byte beside the store's, or on a page the instruction does not write */
        as_write(e->as, k->what == BREAK_BYTE ? DATA + 1 : DATA + 0x3000, &x, 1);
}

/* The run stops at the difference (STOP_DIFF, the status main turns into 6) with a report
 * holding each text (NULL-terminated list). */
static void expect_caught(Break k, ...)
{
    dbt_diff_set_test_hook(env, breaker, &k);
    cr_assert_eq(run(straight, sizeof(straight)), VCPU_EXIT_STOP);
    cr_assert_eq(m->stop, STOP_DIFF);
    cr_assert_eq(m->exit_status, 6);
    const char *r = dbt_diff_report(env);
    cr_assert(strstr(r, "block at 0008:00100000 (linear 0x100000, physical 0x100000), 6 "
                        "instructions"),
              "%s", r);
    va_list ap;
    va_start(ap, k);
    for (const char *t; (t = va_arg(ap, const char *));)
        cr_assert(strstr(r, t), "no '%s' in:\n%s", t, r);
    va_end(ap);
}

Test(diff, wrong_register_is_pinned_to_its_instruction)
{
    expect_caught(
        (Break){0x10000a, BREAK_EBX},
        "first difference after instruction 4 of 6: 0008:0010000a: 83 c3 05  add ebx, 5\n",
        "EBX            interp 0x8                jit 0x108\n", NULL);
    cr_assert(!strstr(dbt_diff_report(env), "EAX"), "only the broken field is named");
}

Test(diff, wrong_memory_is_pinned_to_its_instruction)
{
    expect_caught((Break){0x10000d, BREAK_BYTE},
                  "first difference after instruction 5 of 6: 0008:0010000d: 89 1d 00 00 20 00  "
                  "mov dword ptr [0x200000], ebx\n",
                  "memory 0x200001: interp 00 00 00 00 00 00 00 00  jit 5a 00", NULL);
}

Test(diff, write_only_compiled_code_made_is_caught)
{
    expect_caught((Break){0x100008, BREAK_STRAY},
                  "instruction 3 of 6: 0008:00100008: 89 c3  mov ebx, eax\n",
                  "memory 0x203000 (the interpreter did not write here): interp 00", NULL);
}

/* The SIGSEGV handler tracks one CPU's memory: a second is refused, in one line, not run
 * silently under another back end. */
Test(diff, second_cpu_is_refused)
{
    MachineConfig cfg = {.ram_size = 4 << 20, .serial = "none"};
    char err[256];
    Machine *m2 = pc_new(&cfg, err, sizeof(err));
    cr_assert(m2, "%s", err);
    Vcpu v2 = {.machine = m2, .ops = &accel_dbt_ops};
    cr_assert_neq(v2.ops->init(&v2), 0);
    cr_assert_str_eq(v2.error, "dbt: differential mode: another CPU is already being compared");
    pc_free(m2);
}
