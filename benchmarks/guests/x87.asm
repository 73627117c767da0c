; x87: floating-point arithmetic on the x87 stack. Iteration i adds sqrt(i) / (i + 0.5) * 1.25
; to a running sum, with FILD/FSQRT/FDIV/FMUL/FADD at the default 64-bit precision and
; round-to-nearest, whose results IEEE 754 fixes exactly (no transcendentals). Checksum: the
; sum as a double, its two halves added, plus the sum rounded to an integer. n is the number
; of iterations.
%define BENCH_NAME "x87"
%define BENCH_DEFAULT_N 10000000
%include "bench.inc"

section .rodata
align 8
half:       dq 0.5
five_4:     dq 1.25
section .bss
alignb 8
tmp_i:      resd 1
result:     resq 1
result_int: resd 1
section .text

bench_main:
    push ebx
    push esi
    mov esi, eax
    mov eax, cr0                ; native x87: MP=1, EM=0, NE=1, TS=0
    and eax, ~0x0C
    or eax, 0x22
    mov cr0, eax
    fninit
    fldz                        ; st0 = sum
    xor ecx, ecx
    test esi, esi
    jz .done
.loop:
    inc ecx
    mov [tmp_i], ecx
    fild dword [tmp_i]          ; i, sum
    fld st0                     ; i, i, sum
    fsqrt                       ; sqrt(i), i, sum
    fxch st1                    ; i, sqrt(i), sum
    fadd qword [half]           ; i + 0.5, sqrt(i), sum
    fdivp st1, st0              ; sqrt(i) / (i + 0.5), sum
    fmul qword [five_4]
    faddp st1, st0              ; sum
    cmp ecx, esi
    jne .loop
.done:
    fst qword [result]
    fistp dword [result_int]
    mov eax, [result]
    add eax, [result + 4]
    add eax, [result_int]
    pop esi
    pop ebx
    ret
