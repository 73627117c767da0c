; syscall: ring 3 -> ring 0 -> ring 3 in a loop, as system calls do. The workload loads a TSS
; (LTR; ESP0/SS0 give the ring-0 stack), drops to ring 3 with IRET, and there runs n times
; INT 0x80 through a DPL-3 interrupt gate; the ring-0 handler mixes EAX into EBX and IRETs
; back to ring 3 (a stack switch each way). INT 0x81 ends the loop and comes back to ring 0
; for good. n is the number of system calls.
%define BENCH_NAME "syscall"
%define BENCH_DEFAULT_N 10000000
%include "bench.inc"

section .bss
alignb 16
kstack:         resb 4096       ; ring-0 stack while in ring 3 (TSS.ESP0)
kstack_top:
ustack:         resb 4096       ; ring-3 stack
ustack_top:
saved_esp:      resd 1          ; bench_main's stack, for the way back
section .text

sys_call:                       ; INT 0x80 from ring 3: EAX = argument, EBX = accumulator
    add ebx, eax
    rol ebx, 3
    iret

sys_done:                       ; INT 0x81 from ring 3: back to bench_main, in ring 0
    mov ax, SEL_DATA
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    mov esp, [saved_esp]        ; SS is already ring 0 (the gate switched stacks)
    mov eax, ebx
    pop ebp
    pop edi
    pop esi
    pop ebx
    ret

user_code:                      ; ring 3: ESI = calls to make
    mov ax, SEL_UDATA
    mov ds, ax
    mov es, ax
    xor ebx, ebx
    xor ecx, ecx
    test esi, esi
    jz .out
.loop:
    mov eax, ecx
    int 0x80
    inc ecx
    cmp ecx, esi
    jne .loop
.out:
    int 0x81
.never:
    jmp .never

bench_main:
    push ebx
    push esi
    push edi
    push ebp
    mov esi, eax
    mov eax, 0x80
    mov edx, sys_call
    mov cl, GATE_INT3
    call idt_set
    mov eax, 0x81
    mov edx, sys_done
    call idt_set
    mov dword [tss + 4], kstack_top         ; ESP0 (SS0 is set by the runtime)
    mov ax, SEL_TSS
    ltr ax
    mov [saved_esp], esp
    push SEL_UDATA              ; SS
    push ustack_top             ; ESP
    push 0x002                  ; EFLAGS: IF=0, IOPL=0
    push SEL_UCODE              ; CS
    push user_code              ; EIP
    iret
