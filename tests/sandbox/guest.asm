; tests/sandbox/guest.asm: the guest sandbox_test runs under the seccomp filter. Flat 32-bit
; code at 1 MiB (loaded with -device loader semantics, load_flat). It does what a guest does
; that reaches host system calls through the devices: COM1 output (write), IDE IDENTIFY, a
; sector read (pread) and a sector write (pwrite) then FLUSH CACHE (fdatasync), VGA text, then
; pokes the test device at port 0x7000 (which makes the system call under test on the run
; loop's thread) and exits through isa-debug-exit with 0x10 (status 33).
bits 32
org 0x100000

%macro outb 2
    mov dx, %1
    mov al, %2
    out dx, al
%endmacro

start:
    mov esi, msg
.serial:
    lodsb
    test al, al
    jz .pci
    mov dx, 0x3f8
    out dx, al
    jmp .serial
.pci:
    ; the PIIX3 IDE function (00:01.1): I/O decode and bus master, both channels' decode bits
    mov dx, 0xcf8
    mov eax, 0x80000904
    out dx, eax
    mov dx, 0xcfc
    mov ax, 0x0005
    out dx, ax
    mov dx, 0xcf8
    mov eax, 0x80000940
    out dx, eax
    mov dx, 0xcfc
    mov eax, 0x80008000
    out dx, eax
.identify:
    outb 0x1f6, 0xa0
    outb 0x1f7, 0xec
    mov dx, 0x1f0
    mov ecx, 256
    mov edi, 0x200000
    rep insw
.read:
    outb 0x1f6, 0xe0
    outb 0x1f2, 1
    outb 0x1f3, 0
    outb 0x1f4, 0
    outb 0x1f5, 0
    outb 0x1f7, 0x20
    mov dx, 0x1f0
    mov ecx, 256
    mov edi, 0x201000
    rep insw
.write:
    mov edi, 0x202000
    mov ecx, 128
    mov eax, 0xa55a5aa5
    rep stosd
    outb 0x1f6, 0xe0
    outb 0x1f2, 1
    outb 0x1f3, 1
    outb 0x1f4, 0
    outb 0x1f5, 0
    outb 0x1f7, 0x30
    mov dx, 0x1f0
    mov ecx, 256
    mov esi, 0x202000
    rep outsw
    outb 0x1f7, 0xe7            ; FLUSH CACHE
    mov dx, 0x1f7
    in al, dx
    test al, 0x01               ; ERR: the write or the flush failed
    jnz .fail
.vga:
    mov dword [0xb8000], 0x07420741
.device:
    outb 0x7000, 1              ; the system call under test
    outb 0xf4, 0x10             ; exit: status 0x10 * 2 + 1 = 33
    hlt
.fail:
    outb 0xf4, 0x11             ; status 35: the disk said no
    hlt

msg: db "sandbox guest: running", 10, 0
