; mmioexec: jumps into MMIO space, where there is no code to run. Under KVM that is an
; instruction fetch KVM cannot serve: the engine must stop with a clear error, not retry.
%include "selftest.inc"
start:
    SETUP
    mov eax, MMIO + 0x100
    jmp eax
idt_desc: dw 256 * 8 - 1
          dd IDT
