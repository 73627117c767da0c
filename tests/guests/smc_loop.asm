; smc_loop: self-modifying code. Each case rewrites code in a loop and runs the new code
; every time; a translator that kept the old translation would compute a different sum.
;
;   same block     a store rewrites the immediate of the very next instruction
;   opcode         a store flips the next instruction between INC EAX and DEC EAX
;   other page     code on its own page, rewritten from here and called each iteration
;   REP MOVSB      a whole routine copied over with a string instruction, then called
;   alias          with paging on, the code page written through a second linear mapping
;                  and run through the first (translated code is tracked by physical page)
;   generated      fresh code generated into a buffer and called, over and over

%define GDT2_ENTRIES 8
%include "guest.inc"
%include "pm_common.inc"

%define N           100
%define BUF         0x50000             ; a generated-code buffer
%define ALIAS       0x40000000          ; second mapping of other_page's 4 MiB

section .bss
alignb 4096
pd:             resd 1024
gdt2:           resq GDT2_ENTRIES

section .text

main:
    call pm_basic_setup
    call test_same_block
    call test_opcode
    call test_other_page
    call test_rep_movs
    call test_alias
    call test_generated
    FINISH "smc_loop"

; sum of 1..N
%define SUM_N       (N * (N + 1) / 2)

test_same_block:
    xor ebx, ebx
    mov ecx, N
.loop:
    mov [.patch + 1], ecx               ; the immediate of the next instruction
.patch:
    mov eax, 0x12345678
    add ebx, eax
    dec ecx
    jnz .loop
    CHECK ebx, SUM_N, "same block: each run sees the immediate just written"
    ret

test_opcode:
    xor eax, eax
    xor ecx, ecx
.loop:
    mov dl, 0x40                        ; INC EAX
    test ecx, 1
    jz .inc
    mov dl, 0x48                        ; DEC EAX on odd rounds: DEC, then INC twice...
.inc:
    mov [.op], dl
.op:
    inc eax
    inc ecx
    cmp ecx, N + 1
    jb .loop
    ; rounds 0..N: N/2 + 1 INCs (even) and N/2 DECs (odd)
    CHECK eax, 1, "opcode rewritten each round: INC/DEC alternate"
    ret

test_other_page:
    xor ebx, ebx
    mov ecx, N
.loop:
    mov [other_page + 1], ecx
    call other_page
    add ebx, eax
    dec ecx
    jnz .loop
    CHECK ebx, SUM_N, "other page: the rewritten routine runs each time"
    ret

test_rep_movs:
    xor ebx, ebx
    mov edx, N
.loop:
    mov [template + 1], edx
    mov esi, template
    mov edi, other_page
    mov ecx, template_end - template
    rep movsb
    call other_page
    add ebx, eax
    dec edx
    jnz .loop
    CHECK ebx, SUM_N, "REP MOVSB over a routine: the copy runs"
    ret

test_alias:
    ; identity 4 MiB pages, plus ALIAS onto the same 4 MiB as other_page
    xor ecx, ecx
    mov eax, 0x83
.pde:
    mov [pd + ecx * 4], eax
    add eax, 0x400000
    inc ecx
    cmp ecx, 16
    jb .pde
    mov eax, other_page
    and eax, 0xffc00000
    or eax, 0x83
    mov [pd + (ALIAS >> 22) * 4], eax
    mov eax, pd
    mov cr3, eax
    mov eax, cr4
    or eax, 0x10
    mov cr4, eax
    mov eax, cr0
    or eax, 0x80000000
    mov cr0, eax
    jmp .on
.on:
    mov edi, other_page                 ; other_page seen through ALIAS
    and edi, 0x3fffff
    add edi, ALIAS
    xor ebx, ebx
    mov ecx, N
.loop:
    mov [edi + 1], ecx
    call other_page
    add ebx, eax
    dec ecx
    jnz .loop
    mov eax, cr0
    and eax, 0x7fffffff
    mov cr0, eax
    CHECK ebx, SUM_N, "write through an alias mapping: the other mapping runs the new code"
    ret

test_generated:
    xor ebx, ebx
    mov ecx, N
.loop:
    ; mov eax, ecx*3 ; add eax, ecx ; ret  -> 4 * ecx
    mov byte [BUF], 0xb8
    lea eax, [ecx * 3]
    mov [BUF + 1], eax
    mov word [BUF + 5], 0xc801          ; add eax, ecx
    mov byte [BUF + 7], 0xc3
    mov eax, BUF
    call eax
    add ebx, eax
    dec ecx
    jnz .loop
    CHECK ebx, 4 * SUM_N, "generated code: each new version runs"
    ret

; a routine alone on its page: mov eax, imm32 ; ret
section .text
align 4096
other_page:
    mov eax, 0
    ret
    times 64 nop
template:
    mov eax, 0
    ret
template_end:
