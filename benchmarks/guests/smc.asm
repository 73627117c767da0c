; smc: self-modifying code. A two-instruction routine (ADD EAX, imm32; RET) sits alone on its
; own page; each iteration stores a new imm32 into it and calls it, so whatever was translated
; or cached for that page must be thrown away every time. n is the number of patch+call
; iterations.
%define BENCH_NAME "smc"
%define BENCH_DEFAULT_N 1000000
%include "bench.inc"

section .data
align 4096
patch_site:
    add eax, 0x12345678         ; 05 imm32: the immediate is at patch_site + 1
    ret
align 4096, db 0xCC             ; nothing else on the page
section .text

bench_main:
    push ebx
    push esi
    mov esi, eax
    xor eax, eax
    xor ecx, ecx
    test esi, esi
    jz .done
.loop:
    mov edx, ecx
    imul edx, edx, 0x9E3779B1
    mov [patch_site + 1], edx
    call patch_site
    rol eax, 1
    inc ecx
    cmp ecx, esi
    jne .loop
.done:
    pop esi
    pop ebx
    ret
