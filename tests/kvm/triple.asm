; triple: INT3 with an IDT of limit 0: #GP, then #DF, then shutdown (a triple fault).
%include "selftest.inc"
start:
    SETUP
    lidt [empty_idt]
    int3
    hlt
empty_idt: dw 0
           dd 0
idt_desc: dw 256 * 8 - 1
          dd IDT
