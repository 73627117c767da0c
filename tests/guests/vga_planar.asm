; vga_planar: mode 12h (640x480, 16 colours, four planes) drawn with each of the graphics
; controller's write modes, the way 16-colour software draws:
;   y 0-159    colour bars, write mode 2 (the CPU byte is the colour):     colour = x >> 5
;   y 160-319  stripes, write mode 0 with set/reset for all planes:       colour = (y >> 3) & 15
;   y 320-479  write mode 3 (set/reset colour, rotated CPU byte as mask): pattern 0x55/0xaa
;              in colour ((x >> 3) ^ y) & 15 over black
;   then a diagonal, one pixel per byte written (bit mask + latches keep its neighbours):
;              (80 + i, i) in colour 15
; The attribute palette is the identity, DAC[i] = ((21i) & 63, (13i + 7) & 63, 63 - 4i).
; Checks from the inside: read mode 0 per plane and read mode 1 (colour compare).

%include "guest.inc"
%include "vga_common.inc"

%define GC      0x3ce

; GRW index, value: write a graphics controller register
%macro GRW 2
    push eax
    push edx
    mov dx, GC
    mov ax, ((%2) << 8) | (%1)
    out dx, ax
    pop edx
    pop eax
%endmacro

section .text
main:
    call vga_parse_cmdline
    mov esi, mode12_regs
    call vga_load_regs

    mov dx, 0x3da               ; attribute palette: the identity
    in al, dx
    mov dx, 0x3c0
    xor ecx, ecx
.pal:
    mov al, cl
    out dx, al
    out dx, al
    inc ecx
    cmp ecx, 16
    jb .pal
    mov al, 0x20
    out dx, al

    xor eax, eax                ; DAC 0-15
.dac:
    imul ebx, eax, 21
    and bl, 63
    imul ecx, eax, 13
    add ecx, 7
    and cl, 63
    mov bh, cl
    lea ecx, [eax * 4]
    neg ecx
    add ecx, 63
    and cl, 63
    call vga_dac_set
    inc eax
    cmp eax, 16
    jb .dac

    ; clear: write mode 0, set/reset 0 on all planes
    GRW 5, 0x00
    GRW 1, 0x0f
    GRW 0, 0x00
    GRW 8, 0xff
    mov edi, 0xa0000
    mov ecx, 80 * 480
    mov al, 0xff
    rep stosb

    ; bars: write mode 2
    GRW 5, 0x02
    mov edi, 0xa0000
    xor ebx, ebx
.bar_row:
    xor ecx, ecx
.bar_byte:
    mov eax, ecx
    shr eax, 2
    and al, 15
    mov [edi + ecx], al
    inc ecx
    cmp ecx, 80
    jb .bar_byte
    add edi, 80
    inc ebx
    cmp ebx, 160
    jb .bar_row

    ; stripes: write mode 0, set/reset enabled for all planes, value per line
    GRW 5, 0x00
    GRW 1, 0x0f
    mov edi, 0xa0000 + 160 * 80
    mov ebx, 160
.stripe_row:
    mov eax, ebx
    shr eax, 3
    and al, 15
    mov ah, al
    mov al, 0
    mov dx, GC
    out dx, ax                  ; GR0 = colour
    mov ecx, 80
    mov al, 0x12                ; ignored: set/reset decides every plane
    push edi
    rep stosb
    pop edi
    add edi, 80
    inc ebx
    cmp ebx, 320
    jb .stripe_row
    GRW 1, 0x00

    ; patterns: write mode 3
    GRW 5, 0x03
    GRW 8, 0xff
    mov edi, 0xa0000 + 320 * 80
    mov ebx, 320
.pat_row:
    xor ecx, ecx
.pat_byte:
    mov eax, ecx
    xor eax, ebx
    and al, 15
    mov ah, al
    mov al, 0
    mov dx, GC
    out dx, ax                  ; GR0 = colour
    mov al, [edi + ecx]         ; load the latches (black)
    mov al, 0x55
    test bl, 1
    jz .even
    mov al, 0xaa
.even:
    mov [edi + ecx], al
    inc ecx
    cmp ecx, 80
    jb .pat_byte
    add edi, 80
    inc ebx
    cmp ebx, 480
    jb .pat_row

    ; the diagonal: write mode 2, one bit of the mask per pixel
    GRW 5, 0x02
    xor ebx, ebx
.diag:
    lea ecx, [ebx + 80]         ; x
    mov al, 0x80
    push ecx
    and cl, 7
    shr al, cl
    pop ecx
    mov ah, al
    mov al, 8
    mov dx, GC
    out dx, ax                  ; bit mask
    imul edi, ebx, 80
    shr ecx, 3
    add edi, ecx
    mov al, [0xa0000 + edi]     ; latches: the pixels around stay
    mov byte [0xa0000 + edi], 15
    inc ebx
    cmp ebx, 480
    jb .diag
    GRW 8, 0xff

    ; read mode 0: plane by plane. Byte 4 of line 0 is colour 1 (x 32-39)
    GRW 5, 0x00
    GRW 4, 0
    CHECKB [0xa0000 + 4], 0xff, "read mode 0, plane 0 of colour 1"
    GRW 4, 1
    CHECKB [0xa0000 + 4], 0x00, "read mode 0, plane 1 of colour 1"
    ; byte 30 of line 0: colour 7 (x 240-247)
    GRW 4, 2
    CHECKB [0xa0000 + 30], 0xff, "read mode 0, plane 2 of colour 7"
    GRW 4, 3
    CHECKB [0xa0000 + 30], 0x00, "read mode 0, plane 3 of colour 7"
    ; read mode 1: line 323, byte 2 is pattern 0xaa in colour (2 ^ 323) & 15 = 1 over black
    GRW 5, 0x08
    GRW 7, 0x0f
    GRW 2, 1
    CHECKB [0xa0000 + 323 * 80 + 2], 0xaa, "read mode 1, colour 1"
    GRW 2, 0
    CHECKB [0xa0000 + 323 * 80 + 2], 0x55, "read mode 1, colour 0"
    GRW 7, 0x0e                 ; plane 0 does not matter: colours 0 and 1 both match
    CHECKB [0xa0000 + 323 * 80 + 2], 0xff, "read mode 1, colour don't care"
    ; the diagonal pixel at (100, 20) and its neighbours in byte 12 (bars: colour 3)
    GRW 7, 0x0f
    GRW 2, 15
    CHECKB [0xa0000 + 20 * 80 + 12], 0x08, "read mode 1 finds the diagonal"
    GRW 2, 3
    CHECKB [0xa0000 + 20 * 80 + 12], 0xf7, "the diagonal kept its neighbours"
    GRW 5, 0x00

    VGA_FINISH "vga_planar"
