/* The translator as an engine: binds dbt/ to AccelOps. */
#include <string.h>

#include "accel/accel.h"
#include "dbt/dbt.h"
#include "dbt/diff.h"

static bool dbt_probe(char *why, size_t len)
{
    snprintf(why, len, "the translator runs on any host");
    return true;
}

static int dbt_init(Vcpu *v)
{
    DbtCpu *env = dbt_new(v->machine);
    if (!env) {
        snprintf(v->error, sizeof(v->error), "dbt: cannot initialise Capstone");
        return -1;
    }
    if (env->error[0]) { /* dbt_new: the differential mode could not be set up */
        snprintf(v->error, sizeof(v->error), "dbt: differential mode: %s", env->error);
        dbt_free(env);
        return -1;
    }
    v->engine = env;
    return 0;
}

static VcpuExit dbt_run(Vcpu *v)
{
    DbtCpu *env = v->engine;
    switch (dbt_exec(env, &v->kick, v->deadline_ns)) {
    case DBT_RUN_HLT:
        return VCPU_EXIT_HLT;
    case DBT_RUN_STOP:
        return VCPU_EXIT_STOP;
    case DBT_RUN_SHUTDOWN:
        return VCPU_EXIT_SHUTDOWN;
    case DBT_RUN_ERROR:
        snprintf(v->error, sizeof(v->error), "%s", env->error);
        return VCPU_EXIT_ERROR;
    case DBT_RUN_DIFF:
        fputs(dbt_diff_report(env), stderr);
        machine_request_stop(v->machine, STOP_DIFF, 6,
                             "dbt-diff: stopped at the first difference between the back ends");
        return VCPU_EXIT_STOP;
    default:
        return VCPU_EXIT_DEADLINE;
    }
}

static void dbt_get_state(Vcpu *v, CpuState *s)
{
    DbtCpu *env = v->engine;
    *s = env->s;
    s->rflags = dbt_get_eflags(env);
    s->tsc = (uint64_t)clock_ns(env->m->clock) + env->tsc_offset;
}

static void dbt_set_state(Vcpu *v, const CpuState *s)
{
    DbtCpu *env = v->engine;
    env->s = *s;
    cc_set_eflags(&env->cc, (uint32_t)s->rflags & FL_ARITH);
    env->s.rflags = (s->rflags & ~(uint64_t)FL_ARITH) | FL_FIXED1;
    env->tsc_offset = s->tsc - (uint64_t)clock_ns(env->m->clock);
    dbt_tlb_flush(env);
    /* PAE keeps the four PDPTEs in the CPU, loaded at CR3 writes: a loaded state with PAE
     * paging on needs them loaded too (a bad one shows at the next access, as a #GP would) */
    if ((s->cr0 & CR0_PG) && (s->cr4 & CR4_PAE))
        (void)dbt_load_pdptes(env, s->cr3);
}

static void dbt_kick(Vcpu *v)
{
    __atomic_store_n(&v->kick, 1, __ATOMIC_SEQ_CST);
    if (v->engine)
        dbt_request_exit(v->engine); /* compiled code looks at it only between runs */
}

static void dbt_stats(Vcpu *v, FILE *f)
{
    dbt_print_stats(v->engine, f);
}

static void dbt_destroy(Vcpu *v)
{
    dbt_free(v->engine);
    v->engine = NULL;
}

const AccelOps accel_dbt_ops = {
    .name = "dbt",
    .probe = dbt_probe,
    .init = dbt_init,
    .run = dbt_run,
    .get_state = dbt_get_state,
    .set_state = dbt_set_state,
    .kick = dbt_kick,
    .print_stats = dbt_stats,
    .destroy = dbt_destroy,
};
