/* The translator's run loop: find or translate the block at CS:EIP, run it, take interrupts at
 * block boundaries, and unwind exceptions to here. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dbt/diff.h"
#include "dbt/ir.h"
#include "dbt/jit.h"

#define MAX_BLOCKS 65536
/* Guest instructions compiled code may run before dbt_exec looks at interrupts, kicks, stop
 * requests and the deadline again (each block entry compares; kicks and MMIO cut it short). */
#define JIT_RUN_LIMIT 65536
#define JIT_THRESHOLD 2 /* runs of a block in the interpreter before it is compiled */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

_Noreturn void dbt_raise(DbtCpu *env, int vector, int has_err, uint32_t err)
{
    env->st.exceptions++;
    env->s.rip = env->cur_eip;
    env->pending_exc = vector;
    env->pending_has_err = has_err;
    env->pending_err = err;
    longjmp(*env->unwind, 1);
}

_Noreturn void dbt_fail(DbtCpu *env, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(env->error, env->error_len, fmt, ap);
    va_end(ap);
    env->s.rip = env->cur_eip;
    env->pending_exc = -2;
    longjmp(*env->unwind, 1);
}

void dbt_set_eflags(DbtCpu *env, uint32_t val, uint32_t mask)
{
    uint32_t cur = dbt_get_eflags(env);
    uint32_t nv = (cur & ~mask) | (val & mask);
    cc_set_eflags(&env->cc, nv & FL_ARITH);
    env->s.rflags = (nv & ~FL_ARITH) | FL_FIXED1;
}

uint32_t dbt_mode(const DbtCpu *env)
{
    uint32_t m = 0;
    if (env->s.seg[S_CS].attr & SEG_DB)
        m |= MODE_CODE32;
    if (env->s.seg[S_SS].attr & SEG_DB)
        m |= MODE_STACK32;
    if (env->s.cr0 & CR0_PE)
        m |= MODE_PE;
    if (env->s.rflags & FL_VM)
        m |= MODE_VM86;
    if (env->s.cr0 & CR0_PG)
        m |= MODE_PG;
    m |= dbt_cpl(env) << MODE_CPL_SHIFT;
    if (dbt_seg_flat(&env->s.seg[S_DS]) && dbt_seg_flat(&env->s.seg[S_ES]) &&
        dbt_seg_flat(&env->s.seg[S_SS]))
        m |= MODE_FLAT;
    /* single-step, the instruction after an IRET that set RF, data breakpoints: the run loop
     * looks at the debug conditions after every instruction (dbt_step_done) */
    if ((env->s.rflags & (FL_TF | FL_RF)) || dbt_data_bp_active(env) || env->in_shadow)
        m |= MODE_STEP;
    return m;
}

static void block_unlink_all(DbtCpu *env)
{
    memset(env->jc, 0, sizeof(env->jc));
    memset(env->jc_pages, 0, sizeof(env->jc_pages));
}

static void free_zombies(DbtCpu *env)
{
    for (guint i = 0; i < env->zombies->len; i++) {
        Block *b = g_ptr_array_index(env->zombies, i);
        jit_block_free(b);
        dbt_block_free(b);
    }
    g_ptr_array_set_size(env->zombies, 0);
}

static void page_list_free(gpointer p)
{
    g_slist_free(p);
}

static void flush_all(DbtCpu *env)
{
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, env->blocks);
    while (g_hash_table_iter_next(&it, &k, &v))
        g_ptr_array_add(env->zombies, v);
    g_hash_table_remove_all(env->blocks);
    g_hash_table_remove_all(env->page_blocks);
    memset(env->code_pages, 0, env->code_pages_n);
    block_unlink_all(env);
    /* only between blocks: no compiled code is running, so its memory can be reused */
    jit_flush(env);
    env->nblocks = 0;
    env->st.flushes++;
    dbt_tlb_flush(env);
}

static uint64_t block_key(uint64_t phys, uint32_t mode)
{
    return phys | ((uint64_t)mode << 40);
}

void dbt_mark_code_page(DbtCpu *env, uint64_t phys_page)
{
    uint64_t pn = phys_page >> DBT_PAGE_BITS;
    if (pn >= env->code_pages_n || env->code_pages[pn])
        return;
    env->code_pages[pn] = 1;
    dbt_tlb_protect_code(env, phys_page);
}

static void page_add_block(DbtCpu *env, uint64_t page, Block *b)
{
    gpointer key = GSIZE_TO_POINTER(page >> DBT_PAGE_BITS);
    GSList *l = g_hash_table_lookup(env->page_blocks, key);
    g_hash_table_steal(env->page_blocks, key);
    g_hash_table_insert(env->page_blocks, key, g_slist_prepend(l, b));
    dbt_mark_code_page(env, page);
}

/* Drop b from the block list of page: a block that leaves the cache before a flush must leave
 * the lists of both pages it spans, or a later write to the other page would find it freed. */
static void page_remove_block(DbtCpu *env, uint64_t page, Block *b)
{
    gpointer key = GSIZE_TO_POINTER(page >> DBT_PAGE_BITS);
    GSList *l = g_hash_table_lookup(env->page_blocks, key);
    if (!l)
        return;
    g_hash_table_steal(env->page_blocks, key);
    l = g_slist_remove(l, b);
    if (l)
        g_hash_table_insert(env->page_blocks, key, l);
}

void dbt_invalidate_phys(DbtCpu *env, uint64_t gpa, uint64_t len)
{
    if (!len)
        return;
    uint64_t first = gpa >> DBT_PAGE_BITS, last = (gpa + len - 1) >> DBT_PAGE_BITS;
    for (uint64_t pn = first; pn <= last; pn++) {
        if (pn >= env->code_pages_n || !env->code_pages[pn])
            continue;
        gpointer key = GSIZE_TO_POINTER(pn);
        GSList *l = g_hash_table_lookup(env->page_blocks, key);
        g_hash_table_steal(env->page_blocks, key);
        env->code_pages[pn] = 0;
        for (GSList *i = l; i; i = i->next) {
            Block *b = i->data;
            if (!b->valid)
                continue;
            b->valid = 0;
            /* the list of this page is being taken apart; the other page's must let go too */
            uint64_t p1 = b->phys & DBT_PAGE_MASK;
            uint64_t other = (p1 >> DBT_PAGE_BITS) == pn ? b->phys_page2 : p1;
            if (other != ~0ull)
                page_remove_block(env, other, b);
            jit_block_dead(env, b); /* its code stays until flush_all: it may be running */
            /* the jump cache holds a block only at its pc's index */
            unsigned h = dbt_jc_index(b->pc);
            if (env->jc[h] == b)
                env->jc[h] = NULL;
            g_hash_table_remove(env->blocks, &(uint64_t){block_key(b->phys, b->mode)});
            g_ptr_array_add(env->zombies, b);
            env->nblocks--;
            env->st.smc_invalidations++;
            env->smc_hit = true; /* conservative: the running block may be one of them */
        }
        g_slist_free(l);
    }
}

static void write_hook(void *opaque, uint64_t gpa, uint64_t len)
{
    dbt_invalidate_phys(opaque, gpa, len);
}

/* The board remapped [gpa, gpa+len) (PAM shadowing and the like): host pointers cached in the
 * TLB and code translated from the old contents are stale. */
static void mem_changed(void *opaque, uint64_t gpa, uint64_t len)
{
    DbtCpu *env = opaque;
    dbt_invalidate_phys(env, gpa, len);
    dbt_tlb_flush(env);
}

/* Follow the machine's A20 gate: with it off, physical address bit 20 is forced to zero. */
static void sync_a20(DbtCpu *env)
{
    uint32_t gen = env->m->a20_gen;
    if (gen == env->a20_gen_seen)
        return;
    env->a20_gen_seen = gen;
    env->a20_mask = env->m->a20 ? ~0ull : ~(1ull << 20);
    dbt_tlb_flush(env);
    jit_unlink_all(env); /* linked blocks were found through the old physical addresses */
}

static guint key_hash(gconstpointer p)
{
    uint64_t k = *(const uint64_t *)p;
    k ^= k >> 29;
    k *= 0xbf58476d1ce4e5b9ull;
    return (guint)(k ^ (k >> 32));
}

static gboolean key_eq(gconstpointer a, gconstpointer b)
{
    return *(const uint64_t *)a == *(const uint64_t *)b;
}

static int default_backend = -1;

int dbt_backend_parse(const char *name)
{
    if (!name)
        return -1;
    if (!strcmp(name, "interp"))
        return DBT_BACKEND_INTERP;
    if (!strcmp(name, "jit"))
        return DBT_BACKEND_JIT;
    if (!strcmp(name, "diff"))
        return DBT_BACKEND_DIFF;
    return -1;
}

const char *dbt_backend_name(int backend)
{
    return backend == DBT_BACKEND_JIT ? "jit" : backend == DBT_BACKEND_DIFF ? "diff" : "interp";
}

void dbt_set_default_backend(int backend)
{
    default_backend = backend;
}

bool dbt_backend_available(int backend)
{
    return backend == DBT_BACKEND_INTERP ||
           ((backend == DBT_BACKEND_JIT || backend == DBT_BACKEND_DIFF) && jit_supported());
}

static int initial_backend(void)
{
    if (default_backend >= 0)
        return default_backend;
    int b = dbt_backend_parse(getenv("DUALVM_DBT_BACKEND"));
    if (b >= 0)
        return b;
    return jit_supported() ? DBT_BACKEND_JIT : DBT_BACKEND_INTERP;
}

bool dbt_set_backend(DbtCpu *env, int backend)
{
    if (backend != DBT_BACKEND_INTERP && !env->jit) {
        env->jit = jit_supported() ? jit_new(env) : NULL;
        if (!env->jit)
            return false;
    }
    if (env->nblocks)
        flush_all(env);
    free_zombies(env);
    if (backend == DBT_BACKEND_INTERP && env->jit) {
        jit_free(env->jit);
        env->jit = NULL;
    }
    if (backend != DBT_BACKEND_DIFF)
        dbt_diff_detach(env);
    else if (!dbt_diff_attach(env, env->error, env->error_len))
        return false;
    env->backend = backend;
    env->jit_threshold = 0;
    return true;
}

void dbt_request_exit(DbtCpu *env)
{
    __atomic_store_n(&env->jit_limit, 0, __ATOMIC_RELAXED);
}

DbtCpu *dbt_new(Machine *m)
{
    DbtCpu *env = g_new0(DbtCpu, 1);
    env->m = m;
    env->as = m->as;
    env->io = m->io;
    env->a20_mask = ~0ull;
    env->blocks = g_hash_table_new_full(key_hash, key_eq, g_free, NULL);
    env->page_blocks = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, page_list_free);
    env->code_pages_n = (1ull << 32) >> DBT_PAGE_BITS; /* 4 GiB of physical pages */
    env->code_pages = g_malloc0(env->code_pages_n);
    env->zombies = g_ptr_array_new();
    env->error_len = 512;
    env->error = g_malloc0(env->error_len);
    cpu_reset(&env->s);
    cc_set_eflags(&env->cc, 0);
    env->tlb_nlog[0] = env->tlb_nlog[1] = DBT_TLB_SIZE + 1; /* all of it, the first time */
    dbt_tlb_flush(env);
    as_set_write_hook(m->as, write_hook, env);
    m->mem_changed = mem_changed;
    m->mem_changed_opaque = env;
    env->a20_gen_seen = m->a20_gen;
    env->a20_mask = m->a20 ? ~0ull : ~(1ull << 20);
    if (!dbt_translate_init(env)) {
        dbt_free(env);
        return NULL;
    }
    /* no code memory (a host that forbids executable mappings): the interpreter runs it all;
     * a differential mode that cannot be had leaves why in env->error, for the caller */
    if (!dbt_set_backend(env, initial_backend()))
        env->backend = DBT_BACKEND_INTERP;
    /* The default: compile a block on its third run. Most blocks of a boot run once or twice
     * (init code), and interpreting those is cheaper than compiling them (a compile costs
     * about what a hundred interpreted instructions do); it also keeps the code memory from
     * filling up and being flushed. A back end chosen by name (-dbt-backend, the tests, the
     * fuzzers comparing back ends) compiles every block on its first run. */
    env->jit_threshold = 0;
    if (default_backend < 0 && dbt_backend_parse(getenv("DUALVM_DBT_BACKEND")) < 0)
        env->jit_threshold = JIT_THRESHOLD;
    const char *th = getenv("DUALVM_JIT_THRESHOLD");
    if (th && *th)
        env->jit_threshold = (uint32_t)strtoul(th, NULL, 10);
    return env;
}

void dbt_free(DbtCpu *env)
{
    if (!env)
        return;
    dbt_diff_detach(env);
    as_set_write_hook(env->as, NULL, NULL);
    if (env->m->mem_changed_opaque == env) {
        env->m->mem_changed = NULL;
        env->m->mem_changed_opaque = NULL;
    }
    flush_all(env);
    free_zombies(env);
    jit_free(env->jit);
    env->jit = NULL;
    g_hash_table_destroy(env->blocks);
    g_hash_table_destroy(env->page_blocks);
    g_ptr_array_free(env->zombies, TRUE);
    g_free(env->code_pages);
    dbt_translate_fini(env);
    g_free(env->error);
    g_free(env);
}

/* b is not compiled (yet): compile it at its run number jit_threshold + 1. Out of line, as
 * find_block's lookups of compiled blocks must stay cheap. */
static __attribute__((noinline)) void maybe_compile(DbtCpu *env, Block *b)
{
    /* single-instruction blocks stay with the interpreter: they must come back here */
    if (!env->jit || (b->mode & MODE_STEP) || b->runs > env->jit_threshold)
        return;
    if (b->runs < env->jit_threshold) {
        b->runs++;
        return;
    }
    if (jit_need_flush(env))
        return; /* find_block flushes before its next translation; compile after that */
    b->runs++;
    uint64_t t1 = now_ns();
    jit_compile(env, b); /* or the interpreter keeps it */
    env->st.jit_compile_ns += now_ns() - t1;
}

static Block *find_block(DbtCpu *env)
{
    uint64_t pc = (env->s.seg[S_CS].base + env->s.rip) & 0xffffffffull;
    uint32_t mode = dbt_mode(env);
    unsigned h = dbt_jc_index(pc);
    Block *b = env->jc[h];
    if (b && b->pc == pc && b->mode == mode && b->cs_base == env->s.seg[S_CS].base) {
        env->st.jc_hits++;
        if (!b->host_code)
            maybe_compile(env, b);
        return b;
    }
    env->cur_eip = env->s.rip;
    uint64_t phys = dbt_code_phys(env, pc);
    uint64_t key = block_key(phys, mode);
    b = g_hash_table_lookup(env->blocks, &key);
    if (b && b->pc == pc && b->cs_base == env->s.seg[S_CS].base) {
        env->st.cache_hits++;
    } else {
        env->st.cache_misses++;
        if (b) {
            /* same physical code reached through another linear address: retranslate */
            g_hash_table_remove(env->blocks, &key);
            b->valid = 0;
            page_remove_block(env, b->phys & DBT_PAGE_MASK, b);
            if (b->phys_page2 != ~0ull)
                page_remove_block(env, b->phys_page2, b);
            jit_block_dead(env, b);
            g_ptr_array_add(env->zombies, b);
            env->nblocks--;
        }
        if (env->nblocks >= MAX_BLOCKS || jit_need_flush(env))
            flush_all(env);
        uint64_t t0 = now_ns();
        b = dbt_translate(env, pc, phys, mode);
        env->st.translate_ns += now_ns() - t0;
        b->cs_base = env->s.seg[S_CS].base;
        uint64_t *k = g_new(uint64_t, 1);
        *k = key;
        g_hash_table_insert(env->blocks, k, b);
        env->nblocks++;
        page_add_block(env, phys & DBT_PAGE_MASK, b);
        if (b->phys_page2 != ~0ull)
            page_add_block(env, b->phys_page2, b);
        env->st.blocks_translated++;
    }
    if (!b->host_code)
        maybe_compile(env, b);
    env->jc[h] = b;
    /* its first page, and the next one, which it may run into */
    for (unsigned i = 0; i < 2; i++) {
        unsigned bit = dbt_jc_page_bit(pc + i * DBT_PAGE_SIZE);
        env->jc_pages[bit / 64] |= 1ull << (bit % 64);
    }
    return b;
}

/* Take a pending external interrupt if the CPU can. Returns true if one was delivered. */
static bool check_interrupt(DbtCpu *env)
{
    Machine *m = env->m;
    if (!(env->s.rflags & FL_IF) || env->irq_inhibit || !m->intr_pending ||
        !m->intr_pending(m->intr_opaque))
        return false;
    int vec = m->intr_ack(m->intr_opaque);
    if (vec < 0)
        return false;
    env->s.halted = false;
    env->cur_eip = env->s.rip;
    env->st.interrupts++;
    dbt_do_interrupt(env, vec, false, false, 0, env->s.rip);
    return true;
}

int dbt_exec(DbtCpu *env, volatile int *kick, int64_t deadline_ns)
{
    jmp_buf jb;
    volatile unsigned budget = 0;
    volatile bool ran_long = false; /* compiled code ran long: look at the clock now */
    env->unwind = &jb;
    env->pending_exc = -1;
    if (setjmp(jb)) {
        /* an exception or failure unwound out of a block or a helper */
        int vec = env->pending_exc;
        env->pending_exc = -1;
        env->smc_hit = false;
        if (vec == -2)
            return DBT_RUN_ERROR;
        if (vec == -3)
            return DBT_RUN_SHUTDOWN;
        if (vec >= 0) {
            /* a fault: the instruction's trap-class debug conditions are void, and the EFLAGS
             * image gets RF (except for #DB's own faults) */
            env->db_pending = 0;
            env->db_inhibit = false;
            env->sw_int = false;
            env->exc_fault = vec != EXC_DB;
            /* delivery itself may fault; dbt_do_interrupt turns that into #DF / shutdown */
            dbt_do_interrupt(env, vec, false, env->pending_has_err, env->pending_err,
                             env->s.rip);
        }
    }
    for (;;) {
        free_zombies(env);
        /* before the kick test: a kick from now on cuts the compiled code's run short */
        env->jit_limit = JIT_RUN_LIMIT;
        if (env->m->stop)
            return DBT_RUN_STOP;
        if (*kick)
            return DBT_RUN_DEADLINE;
        sync_a20(env);
        if (env->s.halted) {
            if (!check_interrupt(env))
                return DBT_RUN_HLT;
        } else if (check_interrupt(env)) {
            continue;
        }
        /* the instruction after STI / MOV SS runs as a block of its own, so an interrupt
         * pending at STI is taken right after it, as on hardware */
        env->in_shadow = env->irq_inhibit;
        env->irq_inhibit = false;
        if (((++budget & 255) == 0 || ran_long) && deadline_ns != INT64_MAX &&
            clock_ns(env->m->clock) >= deadline_ns)
            return DBT_RUN_DEADLINE;
        ran_long = false;
        Block *b = find_block(env);
        env->in_shadow = false;
        env->smc_hit = false;
        env->st.blocks_run++;
        /* RF suppresses the instruction breakpoints of one instruction and is cleared as it
         * starts; TF before it asks for the single-step trap after it */
        bool step = b->mode & MODE_STEP, tf = false;
        env->rf_skip = false;
        if (step) {
            tf = env->s.rflags & FL_TF;
            env->rf_skip = env->s.rflags & FL_RF;
            env->s.rflags &= ~(uint64_t)FL_RF;
        }
        if (env->jit && !env->diff)
            jit_link_last_exit(env, b);
        if (env->diff) {
            if (!dbt_diff_block(env, b))
                return DBT_RUN_DIFF;
        } else if (b->host_code && jit_run(env, b))
            ran_long = env->st.insns - env->jit_insns_base >= 1024;
        else
            dbt_interp(env, b);
        if (step || env->db_pending)
            dbt_step_done(env, tf); /* the trap-class #DB, if any, after the instruction */
    }
}

void dbt_print_stats(DbtCpu *env, FILE *f)
{
    DbtStats *s = &env->st;
    fprintf(f, "dbt: guest instructions     %llu\n", (unsigned long long)s->insns);
    fprintf(f, "dbt: blocks run             %llu\n", (unsigned long long)s->blocks_run);
    fprintf(f, "dbt: blocks translated      %llu (%llu guest bytes, %llu IR ops)\n",
            (unsigned long long)s->blocks_translated,
            (unsigned long long)s->guest_bytes_translated, (unsigned long long)s->ir_ops);
    fprintf(f, "dbt: if-converted branches  %llu\n", (unsigned long long)s->ifconv);
    fprintf(f, "dbt: translation time       %.3f ms\n", s->translate_ns / 1e6);
    fprintf(f, "dbt: block lookups          %llu fast, %llu cache hits, %llu misses\n",
            (unsigned long long)s->jc_hits, (unsigned long long)s->cache_hits,
            (unsigned long long)s->cache_misses);
    fprintf(f, "dbt: cache flushes          %llu, SMC invalidations %llu\n",
            (unsigned long long)s->flushes, (unsigned long long)s->smc_invalidations);
    fprintf(f, "dbt: TLB misses             %llu\n", (unsigned long long)s->tlb_misses);
    fprintf(f, "dbt: exceptions %llu, interrupts %llu\n", (unsigned long long)s->exceptions,
            (unsigned long long)s->interrupts);
    fprintf(f, "dbt: back end                 %s\n", dbt_backend_name(env->backend));
    dbt_diff_print_stats(env, f);
    if (env->jit)
        fprintf(f,
                "dbt: jit: %llu blocks compiled (%llu KiB, %.3f ms), %llu interpreted, "
                "%llu entries, %llu links\n",
                (unsigned long long)s->jit_blocks, (unsigned long long)s->jit_code_bytes >> 10,
                s->jit_compile_ns / 1e6, (unsigned long long)s->jit_fallbacks,
                (unsigned long long)s->jit_runs, (unsigned long long)s->jit_links);
}
