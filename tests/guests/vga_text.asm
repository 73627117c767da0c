; vga_text: 80x25 colour text (mode 3 from its register table) with a font of our own. No
; BIOS font exists here, so the guest makes one and loads it into plane 2 the way a VGA BIOS
; does (sequential addressing, plane 2 only, 0xA0000), then writes characters and attributes
; at 0xB8000 (odd/even addressing) and places the cursor. vga_expect draws the same screen
; from the same formulas and checks both the -screenshot PNG and the -screenshot-text dump.
;
;   glyph(c, row) = (((row * 0x1d) ^ c) + (c >> 3) * row) & 255 for rows 0-15, 0 below
;                   (bit 0 clear for 0xB0-0xBF, where QEMU would draw a 9th column)
;   row 0: a banner in attribute 0x1f; rows 1-24: character ((r - 1) * 80 + c) & 255 in
;   attribute ((7r) ^ (3c)) & 255; the cursor on lines 13-14 of row 12, column 40
; The attribute mode control is 0x04: 9th dot of 0xC0-0xDF repeated, bit 7 = background
; intensity. Checks from the inside: characters, attributes and the font read back.

%include "guest.inc"
%include "vga_common.inc"

%macro SEQW 2
    mov dx, 0x3c4
    mov ax, ((%2) << 8) | (%1)
    out dx, ax
%endmacro
%macro GRW 2
    mov dx, 0x3ce
    mov ax, ((%2) << 8) | (%1)
    out dx, ax
%endmacro
%macro CRW 2
    mov dx, 0x3d4
    mov ax, ((%2) << 8) | (%1)
    out dx, ax
%endmacro

section .rodata
banner: db "dualvm vga_text: a font in plane 2, 80x25 cells of 9x16", 0

section .text
main:
    call vga_parse_cmdline
    mov esi, mode03_regs
    call vga_load_regs
    call vga_dac_ega

    call font_planes
    xor ecx, ecx                ; character
.font_char:
    xor ebx, ebx                ; row
.font_row:
    call glyph
    mov edi, ecx
    shl edi, 5
    mov [0xa0000 + edi + ebx], al
    inc ebx
    cmp ebx, 32
    jb .font_row
    inc ecx
    cmp ecx, 256
    jb .font_char
    call text_planes

    mov edi, 0xb8000            ; row 0: the banner
    mov esi, banner
    xor ecx, ecx
.banner:
    mov al, [esi]
    test al, al
    jz .pad
    inc esi
    jmp .put
.pad:
    mov al, ' '
.put:
    mov [edi + ecx * 2], al
    mov byte [edi + ecx * 2 + 1], 0x1f
    inc ecx
    cmp ecx, 80
    jb .banner

    mov ebx, 1                  ; rows 1-24
.row:
    xor ecx, ecx
.cell:
    call cell
    imul edi, ebx, 80
    add edi, ecx
    mov [0xb8000 + edi * 2], al
    mov [0xb8000 + edi * 2 + 1], ah
    inc ecx
    cmp ecx, 80
    jb .cell
    inc ebx
    cmp ebx, 25
    jb .row

    CRW 0x0e, (12 * 80 + 40) >> 8
    CRW 0x0f, (12 * 80 + 40) & 0xff
    CRW 0x0b, 14
    CRW 0x0a, 13
    cmp byte [vga_nocursor], 0
    je .cursor_done
    CRW 0x0a, 0x2d
.cursor_done:

    ; read back: odd/even reads give characters and attributes
    CHECKB [0xb8000], 'd', "banner character"
    CHECKB [0xb8001], 0x1f, "banner attribute"
    mov ebx, 7
    mov ecx, 33
    call cell
    movzx edx, al
    CHECKB [0xb8000 + (7 * 80 + 33) * 2], edx, "character (33,7)"
    movzx edx, ah
    CHECKB [0xb8000 + (7 * 80 + 33) * 2 + 1], edx, "attribute (33,7)"
    ; and the font, from plane 2 with sequential addressing
    call font_planes
    mov ecx, 'A'
    mov ebx, 5
    call glyph
    movzx edx, al
    CHECKB [0xa0000 + 'A' * 32 + 5], edx, "glyph 'A' row 5 in plane 2"
    mov ecx, 0xdb
    mov ebx, 15
    call glyph
    movzx edx, al
    CHECKB [0xa0000 + 0xdb * 32 + 15], edx, "glyph 0xdb row 15 in plane 2"
    CHECKB [0xa0000 + 0xdb * 32 + 16], 0, "glyph rows past 16 are empty"
    call text_planes

    VGA_FINISH "vga_text"

; font_planes / text_planes: switch the CPU's view of video memory to plane 2, sequential, at
; 0xA0000, and back to odd/even planes 0-1 at 0xB8000. Clobber EAX and EDX.
font_planes:
    SEQW 2, 0x04
    SEQW 4, 0x06
    GRW 4, 0x02
    GRW 5, 0x00
    GRW 6, 0x04
    ret
text_planes:
    SEQW 2, 0x03
    SEQW 4, 0x02
    GRW 4, 0x00
    GRW 5, 0x10
    GRW 6, 0x0e
    ret

; glyph(ECX = character, EBX = row): AL. Keeps the other registers.
glyph:
    push edx
    xor eax, eax
    cmp ebx, 16
    jae .done
    imul eax, ebx, 0x1d
    xor eax, ecx
    mov edx, ecx
    shr edx, 3
    imul edx, ebx
    add eax, edx
    mov edx, ecx
    and edx, 0xf0
    cmp edx, 0xb0
    jne .done
    and al, 0xfe
.done:
    and eax, 0xff
    pop edx
    ret

; cell(EBX = row 1-24, ECX = column): AL = character, AH = attribute. Keeps the others.
cell:
    push edx
    imul eax, ebx, 80
    sub eax, 80
    add eax, ecx
    and eax, 0xff
    imul edx, ebx, 7
    push ecx
    imul ecx, ecx, 3
    xor edx, ecx
    pop ecx
    mov ah, dl
    pop edx
    ret
