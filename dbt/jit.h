/* dbt/jit.h: the host-code back end.
 *
 * Translated blocks (dbt/ir.h) are compiled to host code when the host has an emitter (x86-64:
 * dbt/jit_x86_64.c); a block with an op the emitter does not know stays with the interpreter, so
 * the two back ends can be mixed block by block. Compiled blocks run chained: a constant exit
 * jumps straight into the next compiled block once dbt_exec has seen that pair, and computed
 * exits look the next block up without leaving compiled code. Control comes back to dbt_exec
 * when an exit is not linked, when a chaining exit finds DbtCpu.jit_limit guest instructions
 * run (set it to 0 to make compiled code return at its next block boundary), on an exception,
 * or at a block whose instructions can change what the run loop must look at (mode, IF, I/O,
 * HLT).
 *
 * Code memory is one mapping, allocated bump-style; invalidated blocks keep their code until the
 * whole cache is flushed (which dbt_exec does only between blocks), so a block that invalidates
 * itself runs on safely to the end of its instruction.
 */
#ifndef DUALVM_DBT_JIT_H
#define DUALVM_DBT_JIT_H

#include <stdbool.h>

#include "dbt/ir.h"

typedef struct Jit Jit;

/* Whether this build has a back end for the host it runs on. */
bool jit_supported(void);
/* Code memory and entry stubs; NULL (with errno) if they cannot be had. */
Jit *jit_new(DbtCpu *env);
void jit_free(Jit *j);

/* Compile b (sets b->host_code and b->jit). false: b stays with the interpreter. */
bool jit_compile(DbtCpu *env, Block *b);
/* Code memory is nearly full: flush every block before translating more. */
bool jit_need_flush(DbtCpu *env);

/* Run compiled block b and whatever it chains to; returns with EIP set, or unwinds through
 * env->unwind on an exception like the interpreter. false: nothing ran, the state is one compiled
 * code does not handle (EAX..EDI with upper halves set): interpret b instead. */
bool jit_run(DbtCpu *env, Block *b);
/* dbt_exec found next as the block after the last exit of jit_run: link that exit to it if
 * the pair allows (same mode and CS base, same page under paging, next compiled and valid). */
void jit_link_last_exit(DbtCpu *env, Block *next);

/* b was invalidated (it may still be running): unlink every chain into and out of it. */
void jit_block_dead(DbtCpu *env, Block *b);
/* Undo every link (the physical address of linear code may have changed: the A20 gate). */
void jit_unlink_all(DbtCpu *env);
/* b is being freed: free the back end's data. */
void jit_block_free(Block *b);
/* Every block was dropped: reuse all code memory. */
void jit_flush(DbtCpu *env);

#endif
