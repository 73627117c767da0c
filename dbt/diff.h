/* dbt/diff.h: the differential mode (-dbt-backend diff): every block runs under the interpreter
 * and under the host-code back end from the same state, and the two results must agree.
 *
 * A block first runs under the interpreter with every write to guest RAM logged (the old
 * contents of each page, caught by write-protecting guest RAM: compiled code stores through
 * host pointers, so only the host MMU sees all of its writes). The resulting state and pages are
 * kept, the pages and the state before are put back, and the block runs again as compiled code,
 * alone (no chaining). Registers, EFLAGS, segment caches, control, debug, x87/SSE state, the
 * exception raised (vector, error code, EIP) and every page either run wrote must come out the
 * same. On a difference the block is replayed instruction by instruction (prefixes of it) under
 * both to find the first instruction whose result differs, and the run stops with a report.
 *
 * Blocks that cannot be replayed run once and are counted (-stats): those that reached a device
 * (port I/O, MMIO), read or wrote the time stamp counter or an MSR, rewrote translated code,
 * wrote too many pages, or that the host-code back end does not run (not compiled: single-step
 * mode, an op it does not know; or 64-bit register state).
 */
#ifndef DUALVM_DBT_DIFF_H
#define DUALVM_DBT_DIFF_H

#include <glib.h>
#include <stdbool.h>
#include <stdio.h>

#include "dbt/ir.h"

/* Start / stop comparing on env (one CPU per process: it owns the SIGSEGV handler). */
bool dbt_diff_attach(DbtCpu *env, char *err, size_t errlen);
void dbt_diff_detach(DbtCpu *env);
/* Run block b under both back ends (dbt_exec's place of dbt_interp/jit_run). Unwinds through
 * env->unwind on an exception as a block does. false: they disagree (dbt_diff_report). */
bool dbt_diff_block(DbtCpu *env, Block *b);
/* The report of the first difference, lines ending in '\n'; "" if none. */
const char *dbt_diff_report(const DbtCpu *env);
void dbt_diff_print_stats(const DbtCpu *env, FILE *f);

/* Test hook: called after the host-code back end ran a block (or a prefix of one, b), before the
 * comparison; it may change env or guest memory to make the back ends disagree. */
typedef void (*DbtDiffHook)(DbtCpu *env, const Block *b, void *opaque);
void dbt_diff_set_test_hook(DbtCpu *env, DbtDiffHook hook, void *opaque);

/* The one comparison of two CPU states (also the fuzzer's back-end differential): every field,
 * the EFLAGS in rflags as given. Appends one line per differing field to out (if not NULL),
 * "  NAME  na VALUE  nb VALUE", and returns how many differ. */
unsigned dbt_state_diff(const CpuState *a, const CpuState *b, const char *na, const char *nb,
                        GString *out);

#endif
