; a20: with the gate off, 1 MiB + x is x; with it on they differ again.
%include "selftest.inc"
start:
    SETUP
    mov dword [0x200], 0x11111111
    mov dword [0x100200], 0x22222222 ; A20 on (power-on state): two places
    mov eax, [0x200]
    REPORT_EAX                       ; 11111111
    xor eax, eax
    out A20, eax                     ; off
    mov eax, [0x100200]
    REPORT_EAX                       ; 11111111: the wrap
    mov dword [0x100200], 0x33333333
    mov eax, [0x200]
    REPORT_EAX                       ; 33333333
    mov eax, [0x300200]              ; 3 MiB + x is 2 MiB + x
    mov dword [0x200200], 0x44444444
    mov eax, [0x300200]
    REPORT_EAX                       ; 44444444
    mov eax, 1
    out A20, eax                     ; on again
    mov eax, [0x100200]
    REPORT_EAX                       ; 22222222
    FINISH 0x600d
idt_desc: dw 256 * 8 - 1
          dd IDT
