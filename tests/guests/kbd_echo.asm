; kbd_echo: the keyboard and mouse as a guest sees them through the 8042, for the window tests
; (tests/ui): programs the PICs and the 8042 as a PC BIOS leaves them (keyboard in scan code
; set 2, the controller translating to set 1, both IRQs on), prints "kbd_echo: READY", then
; echoes every byte that comes in on IRQ 1 as "k XX" and on IRQ 12 as "m XX", one per line, on
; COM1. The release of Esc (0x81) ends the run: "PASS: kbd_echo", exit value 0.
;
; Nothing here checks what was typed: the test that types compares the lines with the scan
; codes its keys must give.

%include "guest.inc"

%define PIC1_CMD        0x20
%define PIC1_DATA       0x21
%define PIC2_CMD        0xA0
%define PIC2_DATA       0xA1
%define KBC_DATA        0x60
%define KBC_STATUS      0x64
%define KBC_CMD         0x64
%define VEC_KBD         0x21            ; master base 0x20 + IRQ 1
%define VEC_AUX         0x2C            ; slave base 0x28 + IRQ 12 - 8
%define CTR_INTS        0x03            ; command byte: IRQ 1 and IRQ 12 on
%define CTR_BASE        0x44            ; command byte: system flag, set 2 -> set 1 translation
%define ESC_RELEASE     0x81

section .bss
ring:           resb 256                ; bytes in arrival order
ring_src:       resb 256                ; 0 keyboard, 1 mouse
ring_head:      resb 1                  ; next to print
ring_tail:      resb 1                  ; next to fill

section .text

; wait until the controller takes a byte (input buffer empty)
kbc_wait_write:
    push eax
.busy:
    in al, KBC_STATUS
    test al, 0x02
    jnz .busy
    pop eax
    ret

; kbc_cmd AL: a controller command
kbc_cmd:
    call kbc_wait_write
    out KBC_CMD, al
    ret

; kbc_data AL: a byte for the controller's pending command or for the keyboard
kbc_data:
    call kbc_wait_write
    out KBC_DATA, al
    ret

; AL = the next byte the controller has (polled; gives up after a long while with AL = 0)
kbc_read:
    push ecx
    mov ecx, 1000000
.wait:
    in al, KBC_STATUS
    test al, 0x01
    jnz .ready
    dec ecx
    jnz .wait
    xor eax, eax
    pop ecx
    ret
.ready:
    in al, KBC_DATA
    pop ecx
    ret

; two hex digits of AL
print_hex8:
    pushfd
    push eax
    push ebx
    movzx ebx, al
    shr ebx, 4
    mov al, [hex_digits + ebx]
    call putc
    mov ebx, [esp + 4]
    and ebx, 0x0F
    mov al, [hex_digits + ebx]
    call putc
    pop ebx
    pop eax
    popfd
    ret

; IRQ 1 and IRQ 12: take the byte, queue it, acknowledge
irq_kbd:
    push eax
    push ebx
    in al, KBC_DATA
    movzx ebx, byte [ring_tail]
    mov [ring + ebx], al
    mov byte [ring_src + ebx], 0
    inc byte [ring_tail]
    mov al, 0x20
    out PIC1_CMD, al
    pop ebx
    pop eax
    iret

irq_aux:
    push eax
    push ebx
    in al, KBC_DATA
    movzx ebx, byte [ring_tail]
    mov [ring + ebx], al
    mov byte [ring_src + ebx], 1
    inc byte [ring_tail]
    mov al, 0x20
    out PIC2_CMD, al
    out PIC1_CMD, al
    pop ebx
    pop eax
    iret

main:
    ; the PICs: master at 0x20, slave at 0x28 on IRQ 2, all masked until the 8042 is ready
    mov al, 0x11
    out PIC1_CMD, al
    out PIC2_CMD, al
    mov al, 0x20
    out PIC1_DATA, al
    mov al, 0x28
    out PIC2_DATA, al
    mov al, 0x04
    out PIC1_DATA, al
    mov al, 0x02
    out PIC2_DATA, al
    mov al, 0x01
    out PIC1_DATA, al
    out PIC2_DATA, al
    mov al, 0xFF
    out PIC1_DATA, al
    out PIC2_DATA, al

    mov eax, VEC_KBD
    mov edx, irq_kbd
    call idt_set
    mov eax, VEC_AUX
    mov edx, irq_aux
    call idt_set

    ; the 8042: both ports off, output buffer emptied, translation on and interrupts off while
    ; the mouse is set up by polling
    mov al, 0xAD
    call kbc_cmd
    mov al, 0xA7
    call kbc_cmd
.flush:
    in al, KBC_STATUS
    test al, 0x01
    jz .flushed
    in al, KBC_DATA
    jmp .flush
.flushed:
    mov al, 0x60
    call kbc_cmd
    mov al, CTR_BASE
    call kbc_data
    mov al, 0xA8                        ; mouse port on
    call kbc_cmd
    mov al, 0xD4                        ; next byte to the mouse: enable reporting
    call kbc_cmd
    mov al, 0xF4
    call kbc_data
    call kbc_read
    movzx eax, al
    CHECK eax, 0xFA, "mouse acknowledges enable"
    mov al, 0x60                        ; now the interrupts
    call kbc_cmd
    mov al, CTR_BASE | CTR_INTS
    call kbc_data
    mov al, 0xAE                        ; keyboard port on
    call kbc_cmd

    mov al, 0xF9                        ; IRQ 1 and the cascade
    out PIC1_DATA, al
    mov al, 0xEF                        ; IRQ 12
    out PIC2_DATA, al

    PRINT `kbd_echo: READY\n`
.loop:
    cli
    mov al, [ring_head]
    cmp al, [ring_tail]
    jne .byte
    sti                                 ; the HLT runs before any interrupt is taken
    hlt
    jmp .loop
.byte:
    movzx ebx, al
    mov al, [ring + ebx]
    mov cl, [ring_src + ebx]
    inc byte [ring_head]
    sti
    test cl, cl
    jnz .mouse
    PRINT "k "
    call print_hex8
    PRINT `\n`
    cmp al, ESC_RELEASE
    je .done
    jmp .loop
.mouse:
    PRINT "m "
    call print_hex8
    PRINT `\n`
    jmp .loop
.done:
    FINISH "kbd_echo"
