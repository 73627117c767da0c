; vga_vbe: a Bochs VBE ("dispi") mode, 640x480 at bpp=N from the command line (8, 15, 16, 24,
; 32; default 32), drawn through the linear framebuffer (rows 0-399) and through the banked
; 64 KiB window at 0xA0000 (rows 400-479). The framebuffer is BAR0 of the PCI VGA 1234:1111: if
; no firmware assigned it, the guest does (0xE0000000) and turns memory decode on, as a BIOS
; would; without that device it uses 0xE0000000, SeaBIOS's fallback.
;
;   pixel (x, y): red x & 255, green y & 255, blue ((x >> 2) ^ (y >> 1)) & 255, packed as the
;   depth says (15: xRRRRRGGGGGBBBBB, 16: RRRRRGGGGGGBBBBB, 24/32: blue, green, red bytes);
;   at 8 bpp the pixel is (x ^ y) & 255 and DAC[i] = (i >> 2, (3i) & 63, 63 - (i >> 2))
; Checks from the inside: the dispi ID handshake, the video memory size, the mode registers
; read back, the bank register, and pixels written through the window read back through the
; framebuffer.

%include "guest.inc"
%include "vga_common.inc"

%define VBE_INDEX       0x1ce
%define VBE_DATA        0x1cf
%define I_ID            0
%define I_XRES          1
%define I_YRES          2
%define I_BPP           3
%define I_ENABLE        4
%define I_BANK          5
%define I_VIRT_WIDTH    6
%define I_MEM64K        10

section .bss
bpp:        resd 1
bytespp:    resd 1
lfb:        resd 1
cur_bank:   resd 1

section .rodata
w_bpp: db "bpp", 0

section .text
; DISPI_W index, value (immediate or 16-bit register other than AX/DX)
%macro DISPI_W 2
    push eax
    push edx
    mov dx, VBE_INDEX
    mov ax, %1
    out dx, ax
    mov dx, VBE_DATA
    mov ax, %2
    out dx, ax
    pop edx
    pop eax
%endmacro

; dispi_r(AX = index): AX = value, upper EAX cleared
dispi_r:
    push edx
    mov dx, VBE_INDEX
    out dx, ax
    mov dx, VBE_DATA
    xor eax, eax
    in ax, dx
    pop edx
    ret

main:
    call vga_parse_cmdline
    mov esi, w_bpp
    mov edx, 32
    call cmdline_number
    mov [bpp], eax
    add eax, 7
    shr eax, 3
    mov [bytespp], eax
    PRINT "vga_vbe: 640x480 at "
    PRINTDEC dword [bpp]
    PRINT " bpp, framebuffer at 0x"
    call find_lfb
    mov [lfb], eax
    PRINTHEX eax
    PRINT `\n`

    DISPI_W I_ID, 0xb0c0
    mov ax, I_ID
    call dispi_r
    CHECK eax, 0xb0c0, "dispi ID handshake"
    DISPI_W I_ID, 0xb0c5
    mov ax, I_MEM64K
    call dispi_r
    CHECK eax, 256, "16 MiB of video memory"

    mov ebx, [bpp]
    DISPI_W I_ENABLE, 0
    DISPI_W I_XRES, 640
    DISPI_W I_YRES, 480
    DISPI_W I_BPP, bx
    DISPI_W I_BANK, 0
    DISPI_W I_ENABLE, 0x41      ; enabled, linear framebuffer
    ; the VGA side, as SeaBIOS sets it for a VBE mode: graphics, 64 KiB at 0xA0000, RAM on,
    ; the screen on
    mov dx, 0x3c2
    mov al, 0xe3
    out dx, al
    mov dx, 0x3ce
    mov ax, 0x0506
    out dx, ax
    mov dx, 0x3da
    in al, dx
    mov dx, 0x3c0
    mov al, 0x20
    out dx, al

    mov ax, I_XRES
    call dispi_r
    CHECK eax, 640, "XRES"
    mov ax, I_YRES
    call dispi_r
    CHECK eax, 480, "YRES"
    mov ax, I_BPP
    call dispi_r
    CHECK eax, dword [bpp], "BPP"
    mov ax, I_VIRT_WIDTH
    call dispi_r
    CHECK eax, 640, "VIRT_WIDTH follows XRES"

    cmp dword [bpp], 8
    jne .no_dac
    xor eax, eax
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
.no_dac:

    ; rows 0-399 through the framebuffer
    mov edi, [lfb]
    xor ebx, ebx
.lfb_row:
    xor ecx, ecx
.lfb_pixel:
    call pixel
    mov edx, [bytespp]
.lfb_byte:
    mov [edi], al
    inc edi
    shr eax, 8
    dec edx
    jnz .lfb_byte
    inc ecx
    cmp ecx, 640
    jb .lfb_pixel
    inc ebx
    cmp ebx, 400
    jb .lfb_row

    ; rows 400-479 through the window, byte by byte, switching banks as the offset says
    mov dword [cur_bank], -1
    imul edi, [bytespp], 640 * 400 ; the byte offset in video memory
.win_row:
    xor ecx, ecx
.win_pixel:
    call pixel
    mov edx, [bytespp]
.win_byte:
    mov esi, edi
    shr esi, 16
    cmp esi, [cur_bank]
    je .same_bank
    mov [cur_bank], esi
    DISPI_W I_BANK, si
.same_bank:
    mov esi, edi
    and esi, 0xffff
    mov [0xa0000 + esi], al
    inc edi
    shr eax, 8
    dec edx
    jnz .win_byte
    inc ecx
    cmp ecx, 640
    jb .win_pixel
    inc ebx
    cmp ebx, 480
    jb .win_row

    mov ax, I_BANK
    call dispi_r
    CHECK eax, dword [cur_bank], "BANK reads back"
    ; a pixel written through the window, read through the framebuffer
    mov ecx, 555
    mov ebx, 471
    call pixel
    mov esi, eax
    imul edi, [bytespp], 471 * 640 + 555
    add edi, [lfb]
    mov eax, [edi]
    mov ecx, [bytespp]
    shl ecx, 3
    cmp ecx, 32
    je .whole
    mov edx, 1
    shl edx, cl
    dec edx
    and eax, edx
.whole:
    CHECK eax, esi, "window pixel (555,471) in the framebuffer"

    VGA_FINISH "vga_vbe"

; pixel(ECX = x, EBX = y): EAX = the pixel as stored at the current depth. Keeps the others.
pixel:
    push edx
    push esi
    cmp dword [bpp], 8
    jne .rgb
    mov eax, ecx
    xor eax, ebx
    and eax, 0xff
    jmp .done
.rgb:
    mov esi, ecx                ; red
    and esi, 0xff
    mov edx, ebx                ; green
    and edx, 0xff
    mov eax, ecx                ; blue
    shr eax, 2
    push ebx
    shr ebx, 1
    xor eax, ebx
    pop ebx
    and eax, 0xff
    cmp dword [bpp], 16
    je .p16
    cmp dword [bpp], 15
    je .p15
    shl esi, 16                 ; 24 and 32: 0x00RRGGBB, stored blue first
    shl edx, 8
    or eax, edx
    or eax, esi
    jmp .done
.p16:
    shr esi, 3
    shl esi, 11
    shr edx, 2
    shl edx, 5
    shr eax, 3
    or eax, edx
    or eax, esi
    jmp .done
.p15:
    shr esi, 3
    shl esi, 10
    shr edx, 3
    shl edx, 5
    shr eax, 3
    or eax, edx
    or eax, esi
.done:
    pop esi
    pop edx
    ret

; find_lfb: EAX = the framebuffer's address (see the top of the file).
find_lfb:
    push ebx
    push ecx
    push edx
    xor ecx, ecx
.slot:
    mov eax, ecx
    shl eax, 11
    or eax, 0x80000000
    mov ebx, eax
    mov dx, 0xcf8
    out dx, eax
    mov dx, 0xcfc
    in eax, dx
    cmp eax, 0x11111234
    je .found
    inc ecx
    cmp ecx, 32
    jb .slot
    mov eax, 0xe0000000
    jmp .out
.found:
    lea eax, [ebx + 0x10]       ; BAR0
    mov dx, 0xcf8
    out dx, eax
    mov dx, 0xcfc
    in eax, dx
    and eax, 0xfffffff0
    jnz .assigned
    mov eax, 0xe0000000
    out dx, eax
.assigned:
    push eax
    lea eax, [ebx + 0x04]       ; command: memory space on
    mov dx, 0xcf8
    out dx, eax
    mov dx, 0xcfc
    in ax, dx
    or ax, 2
    out dx, ax
    pop eax
.out:
    pop edx
    pop ecx
    pop ebx
    ret
