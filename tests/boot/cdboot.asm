; cdboot.asm: El Torito no-emulation boot code of the test CD (tests/boot/mkimages.sh).
;
; The BIOS loads it (4 virtual sectors, 2 KiB) at 07C0:0000 with DL = the CD's drive number.
; Through INT 13h's CD services (2048-byte sectors) it checks:
;   - AH=41h extensions, AH=48h drive parameters (2048 bytes per sector)
;   - AH=42h reads: the primary volume descriptor (LBA 16, "CD001"), the root directory, and
;     PATTERN.BIN found there, 16 sectors at a time, against the pattern (unit = 512-byte
;     offset in the file, tag 0xc0000000)
;   - the last sector of the volume reads, the one after it does not
; then ends with PASS/FAIL and the exit device.

%include "boot.inc"

bits 16
cpu 386
org 0x7c00

%define CD_SECTOR       2048
%define PATTERN_TAG     0xc0000000
%define BUF_SEG         0x1000          ; 32 KiB at 0x10000
%define CHUNK           16              ; CD sectors a read

    jmp 0:start                         ; the BIOS jumps to 07C0:0000
start:
    cli
    xor ax, ax
    mov ds, ax
    mov ss, ax
    mov sp, 0x7c00
    sti
    cld
    mov [drive], dl
    mov dword [pattern_tag], PATTERN_TAG
    PRINT "cdboot: booted from drive 0x"
    movzx eax, byte [drive]
    call print_hex
    PRINT `\r\n`

    ; ---- AH=41h and AH=48h
    mov ah, 0x41
    mov bx, 0x55aa
    mov dl, [drive]
    int 0x13
    CHECK nc, "AH=41h: no extensions"
    cmp bx, 0xaa55
    CHECK e, "AH=41h: BX is not AA55h"
    mov ah, 0x48
    mov dl, [drive]
    mov si, params
    mov word [params], 0x1a
    int 0x13
    CHECK nc, "AH=48h failed"
    cmp word [params + 0x18], CD_SECTOR
    CHECK e, "AH=48h: bytes per sector is not 2048"

    ; ---- the primary volume descriptor
    mov eax, 16
    mov cx, 1
    call read
    jc .out
    push BUF_SEG
    pop es
    cmp dword [es:0], 0x30444301        ; type 1, "CD0"
    CHECK e, "LBA 16 is not a primary volume descriptor"
    cmp word [es:4], 0x3130             ; "01"
    CHECK e, "LBA 16: no CD001 identifier"
    mov eax, [es:80]                    ; volume space size
    mov [volume], eax
    mov eax, [es:156 + 2]               ; the root directory record: extent
    mov [root], eax

    ; ---- PATTERN.BIN in the root directory
    mov eax, [root]
    mov cx, 1
    call read
    jc .out
    push BUF_SEG
    pop es
    xor bx, bx
.record:
    movzx ax, byte [es:bx]              ; record length; 0 ends the sector
    test ax, ax
    jz .not_found
    cmp byte [es:bx + 32], name_len
    jne .next
    lea di, [bx + 33]
    mov si, file_name
    mov cx, name_len
    repe cmpsb
    je .found
.next:
    add bx, ax
    cmp bx, CD_SECTOR
    jb .record
.not_found:
    PRINT {"FAIL: PATTERN.BIN is not in the root directory", `\r\n`}
    inc word [fails]
    jmp .out
.found:
    mov eax, [es:bx + 2]
    mov [file_lba], eax
    mov eax, [es:bx + 10]
    shr eax, 11
    mov [file_sectors], eax
    PRINT "cdboot: PATTERN.BIN at sector 0x"
    mov eax, [file_lba]
    call print_hex
    PRINT ", 0x"
    mov eax, [file_sectors]
    call print_hex
    PRINT {" sectors", `\r\n`}
    cmp dword [file_sectors], 0
    CHECK ne, "PATTERN.BIN is empty"

    ; ---- the file, CHUNK sectors a read
    xor esi, esi                        ; sectors done
.chunk:
    mov ecx, [file_sectors]
    sub ecx, esi
    jbe .file_done
    cmp ecx, CHUNK
    jbe .size
    mov ecx, CHUNK
.size:
    mov eax, [file_lba]
    add eax, esi
    call read
    jc .out
    push BUF_SEG
    pop es
    lea eax, [esi * 4]                  ; the first 512-byte unit
    shl cx, 2
    call verify
    shr cx, 2
    movzx ecx, cx
    add esi, ecx
    jmp .chunk
.file_done:
    PRINT {"cdboot: PATTERN.BIN read and checked", `\r\n`}

    ; ---- the end of the volume
    mov eax, [volume]
    dec eax
    mov cx, 1
    call read
    jc .out
    mov eax, [volume]
    mov [dap.lba], eax
    mov word [dap.count], 1
    mov ah, 0x42
    mov dl, [drive]
    mov si, dap
    int 0x13
    CHECK c, "a read past the end of the volume succeeded"
    PRINT {"cdboot: volume end checked", `\r\n`}
.out:
    mov si, name
    jmp finish

; read(EAX = LBA, CX = CD sectors) into BUF_SEG:0; CF and a FAIL line on error
read:
    pushad
    mov [dap.lba], eax
    mov [dap.count], cx
    mov ah, 0x42
    mov dl, [drive]
    mov si, dap
    int 0x13
    jnc .ok
    PRINT "FAIL: AH=42h read of sector 0x"
    mov eax, [dap.lba]
    call print_hex
    PRINT `\r\n`
    inc word [fails]
    stc
.ok:
    popad
    ret

name: db "boot-cd", 0
file_name: db "PATTERN.BIN;1"
name_len equ $ - file_name
drive: db 0
volume: dd 0
root: dd 0
file_lba: dd 0
file_sectors: dd 0
align 4
dap:
    db 16, 0
.count: dw 0
    dw 0, BUF_SEG
.lba: dq 0
params: times 0x1e db 0

%include "bootlib.inc"

    times 2048 - ($ - $$) db 0
