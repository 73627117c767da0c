; irq: external interrupts through the test interrupt source (vector 0x20): woken from HLT
; five times, then one that waits while IF=0 and is taken right after STI (the interrupt
; window), then more from HLT; the counts are reported.
%include "selftest.inc"
start:
    SETUP
    SET_GATE 0x20, handler
    mov dword [count], 0
    sti
.wait:
    hlt                             ; a timer in the harness raises the line every 2 ms
    cmp dword [count], 5
    jb .wait
    mov eax, [count]
    REPORT_EAX                      ; 5 (or more if two came quickly: harness checks >= 5)
    cli                             ; IF=0: the source's next request waits...
.spin:
    in al, IRQWAIT
    test al, al
    jz .spin
    mov ebx, [count]
    sti                             ; ...and is taken once STI's shadow is over: after the
    nop                             ; NOP on hardware; the translator looks for interrupts at
    jmp .after                      ; block entry, hence the jump before CLI
.after:
    cli
    mov eax, [count]
    sub eax, ebx
    REPORT_EAX                      ; 1: exactly the one that waited
    sti
.more:
    hlt
    cmp dword [count], 10
    jb .more
    cli
    in eax, PIC                     ; delivered according to the source
    sub eax, [count]
    REPORT_EAX                      ; 0: every delivered interrupt reached the handler
    FINISH 0x600d

handler:
    push eax
    inc dword [count]
    out PIC, al                     ; EOI
    pop eax
    iretd

idt_desc: dw 256 * 8 - 1
          dd IDT
align 4
count: dd 0
