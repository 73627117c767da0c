; portio: port I/O in a loop. Each iteration writes a byte to the 16550A scratch register
; (COM1 + 7 = 0x3ff) and reads it back; the bytes read go into the checksum. n is the number
; of write/read pairs.
%define BENCH_NAME "portio"
%define BENCH_DEFAULT_N 20000000
%include "bench.inc"

bench_main:
    push ebx
    push esi
    mov esi, eax
    xor ebx, ebx
    xor ecx, ecx
    mov dx, COM1 + 7
    test esi, esi
    jz .done
.loop:
    mov eax, ecx
    imul eax, eax, 0x9D
    out dx, al
    xor eax, eax
    in al, dx
    add ebx, eax
    rol ebx, 1
    inc ecx
    cmp ecx, esi
    jne .loop
.done:
    mov eax, ebx
    pop esi
    pop ebx
    ret
