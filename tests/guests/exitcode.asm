; exitcode: proves the exit status path end to end. Writes the value given as code=N on the
; multiboot command line (e.g. -append "code=42" -> host status 85), or 7 without one
; (-> status 15). It prints no PASS line: the runner judges it by the status alone.

%include "guest.inc"

%define DEFAULT_CODE 7

section .text
main:
    mov eax, DEFAULT_CODE
    mov ebx, [mb_info]
    test dword [ebx + MBI_FLAGS], MBI_F_CMDLINE
    jz .report
    mov esi, [ebx + MBI_CMDLINE]
    PRINT "cmdline: '"
    call puts
    PRINT `'\n`

    ; The loader may prefix the kernel path, so look for "code=" at the start of any word.
    mov edi, esi                    ; previous character, to know where words start
.scan:
    mov cl, [esi]
    test cl, cl
    jz .report
    cmp esi, edi
    je .word_start                  ; first character
    cmp byte [esi - 1], ' '
    jne .advance
.word_start:
    cmp dword [esi], 'code'
    jne .advance
    cmp byte [esi + 4], '='
    jne .advance
    lea edx, [esi + 5]
    xor eax, eax
    movzx ecx, byte [edx]
    sub ecx, '0'
    cmp ecx, 9
    ja .bad_number                  ; "code=" with no digit
.digit:
    imul eax, eax, 10
    add eax, ecx
    inc edx
    movzx ecx, byte [edx]
    sub ecx, '0'
    cmp ecx, 9
    jbe .digit
    jmp .report
.advance:
    inc esi
    jmp .scan

.bad_number:
    PRINT `exitcode: bad code= value, using the default\n`
    mov eax, DEFAULT_CODE
.report:
    PRINT "exitcode: exiting with "
    PRINTDEC eax
    PRINT `\n`
    ret
