; compute: a long computation with checkpoints, for moving the CPU between engines in the
; middle. Mixes GPRs, the stack, flags and segment state (and, built with -DFPU, x87 and SSE,
; for KVM-to-KVM moves while the translator has neither) so that a lost piece of state changes
; the final sums. Reports the sums at the end.
%include "selftest.inc"
start:
    SETUP
    mov ax, 0x10
    mov fs, ax
    mov gs, ax
%ifdef FPU
    mov eax, cr0
    and eax, ~(1 << 2)              ; EM off
    or eax, (1 << 1) | (1 << 5)     ; MP, NE
    mov cr0, eax
    mov eax, cr4
    or eax, (1 << 9) | (1 << 10)    ; OSFXSR, OSXMMEXCPT: SSE on
    mov cr4, eax
    finit
    fld1                            ; x87: st0 doubles each round (x + sqrt(x*x))
    pxor xmm0, xmm0
    pxor xmm1, xmm1
%endif
    mov eax, 1
    mov ebx, 0x9e3779b9
    xor ecx, ecx
    mov edx, 7
    mov esi, 0x12345678
    mov edi, 0
    mov ebp, 6                      ; six rounds, a checkpoint after each
.round:
    push ebp
    mov ebp, 200000
.inner:
    imul eax, eax, 1103515245
    add eax, 12345
    xor ebx, eax
    rol ebx, 5
    adc ecx, ebx                    ; CF from rol carries into the sum
    add edx, ecx
    sub esi, edx
    lea edi, [edi + esi * 2 + 1]
    dec ebp
    jnz .inner
%ifdef FPU
    movd xmm2, eax
    paddd xmm0, xmm2
    pshufd xmm1, xmm0, 0x1b
    paddd xmm1, xmm0
    fld st0
    fmul st0, st0
    fsqrt
    faddp st1, st0
%endif
    pop ebp
    push eax
    mov eax, ebp
    out CHECKPT, eax                ; stop: the harness may switch engines here
    pop eax
    dec ebp
    jnz .round
    REPORT_EAX
    mov eax, ebx
    REPORT_EAX
    mov eax, ecx
    REPORT_EAX
    mov eax, edx
    REPORT_EAX
    mov eax, esi
    REPORT_EAX
    mov eax, edi
    REPORT_EAX
%ifdef FPU
    movd eax, xmm1
    REPORT_EAX
    fistp dword [tmp]
    mov eax, [tmp]
    REPORT_EAX                      ; 2^6 = 64
%endif
    FINISH 0x600d

idt_desc: dw 256 * 8 - 1
          dd IDT
align 4
tmp: dd 0
