; alu: an integer ALU loop. n iterations of a dependent mix of add/sub/xor/and/or, rotates and
; shifts, imul, adc/sbb, lea and a data-dependent branch, all in registers. Checksum: the
; registers folded together.
%define BENCH_NAME "alu"
%define BENCH_DEFAULT_N 50000000
%include "bench.inc"

bench_main:
    push ebx
    push esi
    push edi
    push ebp
    mov ecx, eax
    mov eax, 0x12345678
    mov ebx, 0x9E3779B9
    mov edx, 0x7F4A7C15
    mov esi, 0x85EBCA6B
    mov edi, 0xC2B2AE35
    test ecx, ecx
    jz .done
.loop:
    add eax, ebx
    xor ebx, ecx
    rol eax, 5
    imul edx, eax, 0x01000193
    sub esi, edx
    lea edi, [edi + esi * 4 + 0x3c]
    shr edx, 3
    adc ebx, edx
    or esi, ecx
    and edi, 0x7FFFFFFF
    sbb eax, edi
    ror esi, 11
    test eax, 1
    jz .even
    xor edi, ebx
    not edx
.even:
    add ebx, edx
    dec ecx
    jnz .loop
.done:
    xor eax, ebx
    xor eax, edx
    add eax, esi
    xor eax, edi
    pop ebp
    pop edi
    pop esi
    pop ebx
    ret
