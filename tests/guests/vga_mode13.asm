; vga_mode13: mode 13h (320x200, 256 colours, chain-4) programmed from its register table, a
; DAC ramp and a full-screen pattern written through the 0xA0000 window. The run's screenshot
; is compared with vga_expect's picture of the same formulas (640x400: every pixel 2x2).
; Checks from the inside: chain-4 reads give back what was written, the DAC reads back, the
; attribute controller's index/data flip-flop.
;
;   colour(x, y) = ((x + 2y) ^ ((x >> 4) * (y >> 4))) & 255
;   DAC[i]       = (i >> 2, (3i) & 63, 63 - (i >> 2))

%include "guest.inc"
%include "vga_common.inc"

section .text
main:
    call vga_parse_cmdline
    mov esi, mode13_regs
    call vga_load_regs

    xor eax, eax                ; the DAC
.dac:
    mov ebx, eax
    shr bl, 2
    lea ecx, [eax + eax * 2]
    and cl, 63
    mov bh, cl
    mov cl, 63
    sub cl, bl
    call vga_dac_set
    inc eax
    cmp eax, 256
    jb .dac

    mov edi, 0xa0000            ; the picture
    xor ebx, ebx                ; y
.row:
    xor ecx, ecx                ; x
.pixel:
    call colour
    mov [edi], al
    inc edi
    inc ecx
    cmp ecx, 320
    jb .pixel
    inc ebx
    cmp ebx, 200
    jb .row

    ; reads through the window find the pixels (chain 4 selects the plane from the address)
    mov ecx, 7
    mov ebx, 5
    call colour
    movzx edx, byte [0xa0000 + 5 * 320 + 7]
    movzx eax, al
    CHECK edx, eax, "pixel (7,5) reads back"
    mov ecx, 319
    mov ebx, 199
    call colour
    movzx edx, byte [0xa0000 + 199 * 320 + 319]
    movzx eax, al
    CHECK edx, eax, "pixel (319,199) reads back"
    mov ecx, 130
    mov ebx, 77
    call colour
    movzx edx, byte [0xa0000 + 77 * 320 + 130]
    movzx eax, al
    CHECK edx, eax, "pixel (130,77) reads back"

    ; DAC entry 100 = (25, 44, 38)
    mov dx, 0x3c7
    mov al, 100
    out dx, al
    mov dx, 0x3c9
    in al, dx
    CHECKB al, 25, "DAC 100 red"
    in al, dx
    CHECKB al, 44, "DAC 100 green"
    in al, dx
    CHECKB al, 38, "DAC 100 blue"

    ; attribute controller: reading 0x3da makes the next 0x3c0 write an index
    mov dx, 0x3da
    in al, dx
    mov dx, 0x3c0
    mov al, 0x30                ; mode control, PAS kept on
    out dx, al
    inc dx
    in al, dx
    CHECKB al, 0x41, "attribute mode control"
    mov dx, 0x3da               ; (QEMU reads 0x3c0 as 0 between index and data)
    in al, dx
    mov dx, 0x3c0
    in al, dx
    CHECKB al, 0x30, "attribute index reads back"

    VGA_FINISH "vga_mode13"

; colour(ECX = x, EBX = y): AL = the pattern's colour. Keeps the other registers.
colour:
    push edx
    push esi
    mov eax, ebx
    add eax, eax
    add eax, ecx
    mov edx, ecx
    shr edx, 4
    mov esi, ebx
    shr esi, 4
    imul edx, esi
    xor eax, edx
    pop esi
    pop edx
    ret
