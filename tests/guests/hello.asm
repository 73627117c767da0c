; hello: the smallest end-to-end check. Serial output works, the loader entered us with the
; multiboot magic in EAX, and the multiboot info (memory sizes, command line) is readable.

%include "guest.inc"

section .text
main:
    PRINT `Hello from dualvm guest\n`

    PRINT "multiboot magic: 0x"
    PRINTHEX dword [mb_magic]
    PRINT `\n`
    CHECK dword [mb_magic], MB_BOOT_MAGIC, "multiboot magic in EAX"

    mov ebx, [mb_info]
    PRINT "multiboot info at 0x"
    PRINTHEX ebx
    PRINT ", flags 0x"
    PRINTHEX dword [ebx + MBI_FLAGS]
    PRINT `\n`

    ; We asked for memory info in the header, so the loader must provide it.
    mov eax, [ebx + MBI_FLAGS]
    and eax, MBI_F_MEM
    CHECK eax, MBI_F_MEM, "multiboot info has mem_lower/mem_upper"
    jz .mem_done                        ; CHECK keeps the flags: this is the AND's ZF
    PRINT "memory: lower "
    PRINTDEC dword [ebx + MBI_MEM_LOWER]
    PRINT " KiB, upper "
    PRINTDEC dword [ebx + MBI_MEM_UPPER]
    PRINT ` KiB\n`
    ; Any PC has at least a MiB above 1 MiB: we are loaded there.
    xor eax, eax
    cmp dword [ebx + MBI_MEM_UPPER], 1024
    setae al
    CHECK eax, 1, "mem_upper at least 1024 KiB"
.mem_done:

    ; QEMU (and GRUB) put the kernel path first; -append text follows. Print whatever is there.
    PRINT "cmdline: "
    test dword [ebx + MBI_FLAGS], MBI_F_CMDLINE
    jz .no_cmdline
    PRINT "'"
    mov esi, [ebx + MBI_CMDLINE]
    call puts
    PRINT `'\n`
    jmp .done
.no_cmdline:
    PRINT `(none)\n`
.done:
    FINISH "hello"
