; softint: a tight loop of software interrupts in ring 0. INT 0x80 goes through a 32-bit
; interrupt gate in the IDT to a handler that mixes EAX into EBX and returns with IRET. n is
; the number of interrupts.
%define BENCH_NAME "softint"
%define BENCH_DEFAULT_N 10000000
%include "bench.inc"

softint_handler:                ; EAX = argument, EBX = accumulator
    add ebx, eax
    rol ebx, 3
    iret

bench_main:
    push ebx
    push esi
    mov esi, eax
    mov eax, 0x80
    mov edx, softint_handler
    mov cl, GATE_INT0
    call idt_set
    xor ebx, ebx
    xor ecx, ecx
    test esi, esi
    jz .done
.loop:
    mov eax, ecx
    int 0x80
    inc ecx
    cmp ecx, esi
    jne .loop
.done:
    mov eax, ebx
    pop esi
    pop ebx
    ret
