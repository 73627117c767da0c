; pagefault: page faults in a loop, as demand paging does. Paging is on (4 KiB pages); a window
; of 64 pages at 96 MiB starts unmapped. Iteration i touches page (i * 7) mod 64 of the window:
; the load faults (#PF, not present), the handler checks CR2 and the error code, maps the page
; (sets its PTE present), INVLPGs it and IRETs, the load is restarted and completes, the page is
; written, and then unmapped again (PTE cleared, INVLPG). n is the number of faults.
%define BENCH_NAME "pagefault"
%define BENCH_DEFAULT_N 2000000
%include "bench.inc"
%include "paging.inc"

%define WIN_BASE    0x6000000           ; 96 MiB
%define WIN_PAGES   64

section .bss
faults:         resd 1
cr2_sum:        resd 1
section .rodata
str_badcr2:     db "#PF outside the window, or not a not-present read fault", 0
section .text

pf_handler:                     ; [esp] = error code, [esp+4] = EIP
    push eax
    push edx
    mov eax, cr2
    mov edx, eax
    sub edx, WIN_BASE
    cmp edx, WIN_PAGES * 4096
    jae .bad
    test dword [esp + 8], 0x7   ; P, W/R, U/S all clear: a ring-0 read of a not-present page
    jnz .bad
    inc dword [faults]
    add [cr2_sum], eax
    and eax, ~0xFFF
    push eax
    call pte_of
    pop edx
    or edx, PTE_FLAGS
    mov [eax], edx
    invlpg [edx - PTE_FLAGS]
    pop edx
    pop eax
    add esp, 4                  ; the error code
    iret
.bad:
    mov esi, str_badcr2
    jmp fail

bench_main:
    push ebx
    push esi
    push edi
    push ebp
    mov ebp, eax
    mov eax, WIN_BASE + WIN_PAGES * 4096
    call require_ram
    call paging_enable
    ; give each window page a known first word, then unmap the window
    xor ecx, ecx
.init:
    mov edi, ecx
    shl edi, 12
    add edi, WIN_BASE
    mov [edi], ecx
    mov eax, edi
    call pte_of
    mov dword [eax], 0
    invlpg [edi]
    inc ecx
    cmp ecx, WIN_PAGES
    jb .init
    mov eax, 14
    mov edx, pf_handler
    mov cl, GATE_INT0
    call idt_set
    xor ebx, ebx
    xor ecx, ecx                ; iteration
    test ebp, ebp
    jz .done
.loop:
    mov edi, ecx
    imul edi, edi, 7
    and edi, WIN_PAGES - 1
    shl edi, 12
    add edi, WIN_BASE
    mov eax, [edi]              ; faults: the handler maps the page, then this completes
    add ebx, eax
    rol ebx, 1
    inc eax
    mov [edi], eax
    mov eax, edi                ; unmap it again
    call pte_of
    mov dword [eax], 0
    invlpg [edi]
    inc ecx
    cmp ecx, ebp
    jne .loop
.done:
    mov eax, ebx
    xor eax, [faults]
    add eax, [cr2_sum]
    pop ebp
    pop edi
    pop esi
    pop ebx
    ret
