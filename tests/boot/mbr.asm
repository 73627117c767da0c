; mbr.asm: the master boot record of the test disk (tests/boot/mkimages.sh builds the image).
;
; The BIOS loads it at 0:7C00 with DL = the boot drive. It asks INT 13h for the drive's
; geometry (AH=08h), loads the second stage from LBA 1 (STAGE2_SECTORS sectors, cylinder 0,
; head 0, sectors 2 on: AH=02h CHS read) to 0:8000, checks its signature and jumps to it.
; Anything wrong ends the run with FAIL and exit value 1.

bits 16
cpu 386
org 0x7c00

%include "boot.inc"

%define STAGE2_ADDR     0x8000
%define STAGE2_SECTORS  15

start:
    cli
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, 0x7c00
    sti
    cld
    mov [boot_drive], dl
    PRINT {"mbr: booted", `\r\n`}

    mov ah, 0x08                ; geometry: sectors per track must hold the second stage
    mov dl, [boot_drive]
    xor di, di
    int 0x13
    jc .geometry_failed
    and cl, 0x3f
    cmp cl, STAGE2_SECTORS + 1
    jb .geometry_failed

    mov ax, 0x0200 | STAGE2_SECTORS ; AH=02 read, AL sectors
    mov cx, 0x0002              ; cylinder 0, sector 2
    xor dh, dh                  ; head 0
    mov dl, [boot_drive]
    mov bx, STAGE2_ADDR         ; ES:BX
    int 0x13
    jc .read_failed
    cmp al, STAGE2_SECTORS
    jne .read_failed
    cmp dword [STAGE2_ADDR + 2], 'DVS2'
    jne .bad_stage2
    mov dl, [boot_drive]
    jmp 0:STAGE2_ADDR

.geometry_failed:
    PRINT {"FAIL: INT 13h AH=08h geometry", `\r\n`}
    jmp .fail
.read_failed:
    PRINT {"FAIL: INT 13h AH=02h read of the second stage", `\r\n`}
    jmp .fail
.bad_stage2:
    PRINT {"FAIL: second stage signature", `\r\n`}
.fail:
    inc word [fails]
    mov si, name
    jmp finish

name: db "boot-disk mbr", 0
boot_drive: db 0

%define BOOTLIB_MINIMAL
%include "bootlib.inc"

    times 510 - ($ - $$) db 0
    dw 0xaa55
