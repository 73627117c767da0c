; spin: a loop that never exits to the host, for deadlines and kicks.
%include "selftest.inc"
start:
    SETUP
.spin:
    inc dword [counter]
    jmp .spin
idt_desc: dw 256 * 8 - 1
          dd IDT
align 4
counter: dd 0
