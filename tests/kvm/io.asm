; io: port I/O (single and string, 1/2/4 bytes), MMIO reads and writes of each size, ROM reads
; and a dropped ROM write. Every result is reported; the harness compares the engines' logs.
%include "selftest.inc"
start:
    SETUP
    mov dx, SOURCE
    in al, dx                       ; 1
    movzx eax, al
    REPORT_EAX
    in ax, dx                       ; 2 | 3 << 8
    movzx eax, ax
    REPORT_EAX
    in eax, dx                      ; 4 5 6 7
    REPORT_EAX
    mov edi, buf                    ; rep insb: 16 more bytes
    mov ecx, 16
    cld
    rep insb
    mov eax, [buf]
    REPORT_EAX
    mov eax, [buf + 12]
    REPORT_EAX
    mov esi, msg                    ; rep outsb to the sink, then outsw/outsd
    mov ecx, msg_len
    mov dx, SINK
    rep outsb
    mov esi, msg
    mov ecx, 2
    rep outsw
    mov esi, msg
    outsd
    mov ebx, MMIO                   ; MMIO reads of each size at a few offsets
    movzx eax, byte [ebx + 0x10]
    REPORT_EAX
    movzx eax, word [ebx + 0x20]
    REPORT_EAX
    mov eax, [ebx + 0x30]
    REPORT_EAX
    mov byte [ebx + 0x40], 0x11     ; writes of each size
    mov word [ebx + 0x42], 0x2222
    mov dword [ebx + 0x44], 0x33333333
    mov eax, [ROM + 0x1234]         ; ROM: bytes 34 35 36 37
    REPORT_EAX
    mov dword [ROM + 0x1234], 0     ; dropped
    mov eax, [ROM + 0x1234]
    REPORT_EAX
    FINISH 0x600d

msg: db "dualvm kvm io"
msg_len equ $ - msg
idt_desc: dw 256 * 8 - 1
          dd IDT
align 4
buf: times 16 db 0
