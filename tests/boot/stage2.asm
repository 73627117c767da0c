; stage2.asm: the second stage of the test disk, loaded by mbr.asm at 0:8000 with DL = the
; drive. It checks what a disk boot loader relies on, against the pattern mkimages.sh wrote
; (unit = LBA, tag 0x5a000000, from LBA PATTERN_FIRST to the end of the 4 MiB image):
;   - INT 13h AH=08h geometry, AH=02h CHS reads across a head and a cylinder boundary
;   - AH=41h extensions, AH=42h extended reads (many sectors, the last sector, past the end)
;   - AH=48h drive parameters (sector count and size)
;   - AH=43h extended write and read back (the test runs with -snapshot: the image stays)
;   - READ DMA and WRITE DMA straight through the PIIX bus master (PCI 00:01.1, BAR 4) with a
;     two-entry PRD table, as an OS driver would
; and ends with PASS/FAIL and the exit device.

%include "boot.inc"

bits 16
cpu 386
org 0x8000

%define DISK_SECTORS    8192            ; mkimages.sh: 4 MiB
%define PATTERN_FIRST   16
%define PATTERN_TAG     0x5a000000
%define BUF_SEG         0x1000          ; 64 KiB at 0x10000
%define DMA_BUF         0x30000         ; 8 KiB DMA buffer
%define DMA_SEG         0x3000
%define PRD_TABLE       0x2f000
%define PRD_SEG         0x2f00

    jmp short start
    db "DVS2"                           ; mbr.asm checks it at offset 2

start:
    xor ax, ax
    mov ds, ax
    mov [drive], dl
    mov dword [pattern_tag], PATTERN_TAG
    PRINT {"stage2: running from the disk", `\r\n`}

    ; ---- AH=08h: the geometry the BIOS translates CHS with
    mov ah, 0x08
    mov dl, [drive]
    xor di, di
    mov es, di
    int 0x13
    CHECK nc, "AH=08h failed"
    mov al, cl
    and ax, 0x3f
    mov [spt], ax
    movzx ax, dh
    inc ax
    mov [heads], ax
    PRINT "stage2: geometry heads 0x"
    movzx eax, word [heads]
    call print_hex
    PRINT " sectors 0x"
    movzx eax, word [spt]
    call print_hex
    PRINT `\r\n`
    cmp word [spt], 63
    CHECK e, "sectors per track is not 63"
    cmp word [heads], 16
    CHECK e, "heads is not 16"

    ; ---- AH=02h across a head boundary (LBA 60-69) and a cylinder boundary (1000-1019)
    mov eax, 60
    mov cx, 10
    call chs_read_check
    mov eax, 1000
    mov cx, 20
    call chs_read_check

    ; ---- AH=41h: extensions present, with packet access
    mov ah, 0x41
    mov bx, 0x55aa
    mov dl, [drive]
    int 0x13
    CHECK nc, "AH=41h: no extensions"
    cmp bx, 0xaa55
    CHECK e, "AH=41h: BX is not AA55h"
    test cx, 1
    CHECK nz, "AH=41h: no packet access"

    ; ---- AH=42h: 127 sectors at once, the last sector, one past the end
    mov eax, 100
    mov cx, 127
    call ext_read_check
    mov eax, DISK_SECTORS - 1
    mov cx, 1
    call ext_read_check
    mov dword [dap.lba], DISK_SECTORS
    mov word [dap.count], 1
    mov ah, 0x42
    mov dl, [drive]
    mov si, dap
    int 0x13
    CHECK c, "AH=42h past the end of the disk succeeded"

    ; ---- AH=48h: the drive's size
    mov ah, 0x48
    mov dl, [drive]
    mov si, params
    mov word [params], 0x1e
    int 0x13
    CHECK nc, "AH=48h failed"
    cmp dword [params + 0x10], DISK_SECTORS
    CHECK e, "AH=48h: sector count"
    cmp dword [params + 0x14], 0
    CHECK e, "AH=48h: sector count high"
    cmp word [params + 0x18], 512
    CHECK e, "AH=48h: bytes per sector"
    PRINT {"stage2: INT 13h reads checked", `\r\n`}

    ; ---- AH=43h: write LBA 5000 with 0xc3 bytes, read it back, neighbours untouched
    push ds
    push BUF_SEG
    pop es
    xor di, di
    mov al, 0xc3
    mov cx, 512
    rep stosb
    pop ds
    mov dword [dap.lba], 5000
    mov word [dap.count], 1
    mov ah, 0x43
    xor al, al
    mov dl, [drive]
    mov si, dap
    int 0x13
    CHECK nc, "AH=43h write failed"
    push BUF_SEG                        ; clobber the buffer, then read back
    pop es
    xor di, di
    xor al, al
    mov cx, 512
    rep stosb
    mov ah, 0x42
    mov dl, [drive]
    mov si, dap
    int 0x13
    CHECK nc, "AH=42h read back failed"
    push BUF_SEG
    pop es
    xor di, di
    mov al, 0xc3
    mov cx, 512
    repe scasb
    CHECK e, "AH=43h: the sector did not keep what was written"
    mov eax, 4999
    mov cx, 1
    call ext_read_check
    mov eax, 5001
    mov cx, 1
    call ext_read_check
    PRINT {"stage2: INT 13h write checked", `\r\n`}

    call dma_tests

    mov si, name
    jmp finish

; chs_read_check(EAX = first LBA, CX = sectors): AH=02h through the BIOS geometry into
; BUF_SEG:0, then the pattern
chs_read_check:
    pushad
    mov [first], eax
    mov [count], cx
    xor edx, edx                        ; LBA -> cylinder, head, sector
    movzx ebx, word [spt]
    div ebx                             ; EAX = track, EDX = sector - 1
    inc dx
    mov [sect], dx
    xor edx, edx
    movzx ebx, word [heads]
    div ebx                             ; EAX = cylinder, EDX = head
    mov dh, dl
    mov ch, al                          ; cylinder low bits
    mov cl, ah
    shl cl, 6                           ; cylinder bits 9:8 in CL 7:6
    or cl, [sect]
    mov al, [count]
    mov ah, 0x02
    mov dl, [drive]
    push BUF_SEG
    pop es
    xor bx, bx
    int 0x13
    CHECK nc, "AH=02h CHS read failed"
    mov eax, [first]
    mov cx, [count]
    call verify
    popad
    ret

; ext_read_check(EAX = first LBA, CX = sectors, at most 127): AH=42h into BUF_SEG:0, then
; the pattern
ext_read_check:
    pushad
    mov [dap.lba], eax
    mov [dap.count], cx
    mov ah, 0x42
    mov dl, [drive]
    mov si, dap
    int 0x13
    CHECK nc, "AH=42h extended read failed"
    push BUF_SEG
    pop es
    mov eax, [dap.lba]
    mov cx, [dap.count]
    call verify
    popad
    ret

; ---- bus-master DMA through the PIIX3 IDE function, the primary master, nIEN set

%define PCI_ADDR        0xcf8
%define PCI_DATA        0xcfc
%define IDE_FN          0x80000900      ; bus 0, device 1, function 1
%define ATA_BASE        0x1f0
%define ATA_CTL         0x3f6
%define BMICOM          0
%define BMISTA          2
%define BMIDTP          4

; pci_read(EAX = register) -> EAX
pci_read:
    push dx
    or eax, IDE_FN
    mov dx, PCI_ADDR
    out dx, eax
    mov dx, PCI_DATA
    in eax, dx
    pop dx
    ret

; ata_wait: until BSY clears; AL = status
ata_wait:
    push dx
    mov dx, ATA_BASE + 7
.poll:
    in al, dx
    test al, 0x80
    jnz .poll
    pop dx
    ret

; dma(AL = command, EAX high half unused; [first] = LBA, [count] = sectors (16 at most)):
; two PRDs of count * 256 bytes each over DMA_BUF; CF set on an error
dma:
    pushad
    mov [dma_cmd], al
    ; the PRD table: two halves of the buffer, the second with EOT
    push PRD_SEG
    pop es
    movzx ecx, word [count]
    shl ecx, 8                          ; half the bytes
    mov dword [es:0], DMA_BUF
    mov [es:4], ecx
    lea eax, [ecx + DMA_BUF]
    mov [es:8], eax
    or ecx, 0x80000000
    mov [es:12], ecx
    ; program the bus master: table, direction (RWCON for a device read), clear status
    mov dx, [bmiba]
    add dx, BMIDTP
    mov eax, PRD_TABLE
    out dx, eax
    mov dx, [bmiba]
    xor al, al
    cmp byte [dma_cmd], 0xc8
    jne .dir
    mov al, 0x08
.dir:
    out dx, al
    add dx, BMISTA
    mov al, 0x06                        ; clear IDEINTS and ERR
    out dx, al
    ; the command: LBA28, master
    mov dx, ATA_CTL
    mov al, 0x0a                        ; nIEN
    out dx, al
    call ata_wait
    mov dx, ATA_BASE + 6
    mov eax, [first]
    shr eax, 24
    and al, 0x0f
    or al, 0xe0
    out dx, al
    call ata_wait
    mov dx, ATA_BASE + 2
    mov al, [count]
    out dx, al
    inc dx
    mov eax, [first]
    out dx, al
    inc dx
    shr eax, 8
    out dx, al
    inc dx
    shr eax, 8
    out dx, al
    mov dx, ATA_BASE + 7
    mov al, [dma_cmd]
    out dx, al
    ; start the bus master and wait for the drive
    mov dx, [bmiba]
    in al, dx
    or al, 0x01
    out dx, al
    mov ecx, 10000000
.busy:
    mov dx, ATA_CTL                     ; alternate status: BSY and DRQ gone
    in al, dx
    test al, 0x88
    jz .done
    dec ecx
    jnz .busy
    PRINT {"FAIL: DMA: the drive stays busy", `\r\n`}
    inc word [fails]
.done:
    mov dx, [bmiba]
    add dx, BMISTA                      ; before stopping it: BMIDEA must be clear by now
    in al, dx
    mov [dma_bmista], al
    mov dx, [bmiba]
    in al, dx
    and al, 0xfe                        ; stop the bus master
    out dx, al
    mov dx, ATA_BASE + 7
    in al, dx                           ; status, acknowledging the interrupt
    mov [dma_status], al
    mov dx, ATA_CTL
    mov al, 0x08                        ; interrupts back on
    out dx, al
    clc
    test byte [dma_bmista], 0x03        ; still active or an error: the transfer is not right
    jnz .error
    test byte [dma_status], 0x21        ; ERR or DF
    jz .ok
.error:
    PRINT "FAIL: DMA command 0x"
    movzx eax, byte [dma_cmd]
    call print_hex
    PRINT ": BMISTA 0x"
    movzx eax, byte [dma_bmista]
    call print_hex
    PRINT " status 0x"
    movzx eax, byte [dma_status]
    call print_hex
    PRINT `\r\n`
    inc word [fails]
    stc
.ok:
    popad
    ret

; is_our_disk: whether the primary master is this disk (IDENTIFY DEVICE through PIO, nIEN
; set): ZF set if it is. The DMA tests program that drive directly.
is_our_disk:
    pushad
    mov dx, ATA_CTL
    mov al, 0x0a
    out dx, al
    call ata_wait
    mov dx, ATA_BASE + 6
    mov al, 0xa0
    out dx, al
    call ata_wait
    mov dx, ATA_BASE + 7
    mov al, 0xec                        ; IDENTIFY DEVICE
    out dx, al
    call ata_wait
    test al, 0x08                       ; no data: no ATA disk there
    jz .no
    push BUF_SEG
    pop es
    xor di, di
    mov dx, ATA_BASE
    mov cx, 256
    rep insw
    call ata_wait
    cmp dword [es:60 * 2], DISK_SECTORS
    jmp .out
.no:
    or al, 1                            ; ZF clear
.out:
    pushf
    mov dx, ATA_CTL
    mov al, 0x08
    out dx, al
    popf
    popad
    ret

dma_tests:
    call is_our_disk
    je .ours
    PRINT {"stage2: the disk is not the primary master: no bus-master DMA test", `\r\n`}
    ret
.ours:
    mov eax, 0                          ; 00:01.1 is the PIIX3 IDE function (8086:7010)
    call pci_read
    cmp eax, 0x70108086
    je .found
    PRINT {"FAIL: no PIIX3 IDE function at 00:01.1", `\r\n`}
    inc word [fails]
    ret
.found:
    mov eax, 0x20                       ; BAR 4: the bus-master registers
    call pci_read
    test al, 1
    jz .nobar
    and ax, 0xfff0
    mov [bmiba], ax
    test ax, ax
    jnz .bar
.nobar:
    PRINT {"FAIL: BMIBA (BAR 4) is not assigned", `\r\n`}
    inc word [fails]
    ret
.bar:
    PRINT "stage2: bus master at 0x"
    movzx eax, word [bmiba]
    call print_hex
    PRINT `\r\n`
    mov eax, 0x04                       ; command register: I/O and bus master on
    call pci_read
    or al, 0x05
    mov ebx, eax
    mov eax, 0x04 | IDE_FN
    mov dx, PCI_ADDR
    out dx, eax
    mov dx, PCI_DATA
    mov eax, ebx
    out dx, eax

    ; READ DMA: 16 sectors from LBA 2000
    mov dword [first], 2000
    mov word [count], 16
    mov al, 0xc8
    call dma
    jc .write
    push DMA_SEG
    pop es
    mov eax, 2000
    mov cx, 16
    call verify
.write:
    ; WRITE DMA: 2 sectors of 0x5c at LBA 6000, then READ DMA them back
    push DMA_SEG
    pop es
    xor di, di
    mov al, 0x5c
    mov cx, 1024
    rep stosb
    mov dword [first], 6000
    mov word [count], 2
    mov al, 0xca
    call dma
    jc .out
    push DMA_SEG
    pop es
    xor di, di
    xor al, al
    mov cx, 1024
    rep stosb
    mov al, 0xc8
    call dma
    jc .out
    push DMA_SEG
    pop es
    xor di, di
    mov al, 0x5c
    mov cx, 1024
    repe scasb
    CHECK e, "WRITE DMA: the sectors did not keep what was written"
    PRINT {"stage2: bus-master DMA checked", `\r\n`}
.out:
    ret

name: db "boot-disk", 0
drive: db 0
spt: dw 0
heads: dw 0
sect: dw 0
first: dd 0
count: dw 0
bmiba: dw 0
dma_cmd: db 0
dma_bmista: db 0
dma_status: db 0
align 4
dap:
    db 16, 0
.count: dw 0
    dw 0, BUF_SEG                       ; buffer offset, segment
.lba: dq 0
params: times 0x1e db 0

%include "bootlib.inc"

    times 15 * 512 - ($ - $$) db 0
