; mem_loop: the same memset/memcpy as mem_rep with plain load/store loops (see mem.inc);
; the same n gives the same checksum as mem_rep.
%define BENCH_NAME "mem_loop"
%define BENCH_DEFAULT_N 100
%define MEM_REP 0
%include "bench.inc"
%include "mem.inc"
