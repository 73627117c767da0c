; mem_rep: memset/memcpy of 1 MiB buffers with REP STOSD / REP MOVSD / REP MOVSB (see mem.inc).
%define BENCH_NAME "mem_rep"
%define BENCH_DEFAULT_N 100
%define MEM_REP 1
%include "bench.inc"
%include "mem.inc"
