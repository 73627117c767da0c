; flags: integer results and EFLAGS against real hardware, then divide-error delivery.
;
; Part 1 runs every case of flags_cases.inc (generated at build time by flags_oracle, which ran
; the same instruction bytes on the host CPU) through flags_run and compares all six registers
; and the defined flags. Part 2 checks by hand that #DE arrives through the IDT with the
; faulting instruction's EIP, leaves the operands alone, and that execution goes on after IRET.

%include "guest.inc"
%include "flags_cases.inc"

extern flags_run
extern flags_op_table
extern flags_op_count

%define CASE_OP     0
%define CASE_IN     4
%define CASE_OUT    32
%define CASE_MASK   60
%define CASE_SIZE   64
%define OP_NAME     4
%define OP_SIZE     20
%define MAX_REPORTS 40          ; enough to see a pattern without drowning the log

section .bss
got:            resd 7
case_fails:     resd 1
cur_case:       resd 1              ; the case in flight, for the exception path
cur_op:         resd 1
cur_esp:        resd 1
de_count:       resd 1
de_eip:         resd 1
de_cs:          resd 1
de_resume:      resd 1

section .rodata
reg_names:      db " eax=", 0, " ebx=", 0, " ecx=", 0, " edx=", 0, " esi=", 0, " edi=", 0
                db " fl=", 0, 0
zero_dword:     dd 0

section .text
main:
    PRINT "flags: expected values recorded on '"
    mov esi, flags_oracle_host
    call puts
    PRINT `'\n`
    call run_table
    call check_divide_error
    FINISH "flags"

; ---------------------------------------------------------------- table-driven cases

run_table:
    mov dword [exc_hook], .faulted
    mov ebx, flags_cases
.case:
    cmp ebx, flags_cases_end
    jae .summary
    mov eax, [ebx + CASE_OP]
    imul eax, eax, OP_SIZE
    lea edi, [flags_op_table + eax]     ; op descriptor
    mov [cur_case], ebx
    mov [cur_op], edi
    mov [cur_esp], esp
    push got
    lea eax, [ebx + CASE_IN]
    push eax
    push dword [edi]                    ; stub
    call flags_run
    add esp, 12

    ; Registers must match exactly; flags only where the architecture defines them (the table
    ; holds them pre-masked).
    xor ecx, ecx
.reg:
    mov eax, [got + ecx * 4]
    cmp eax, [ebx + CASE_OUT + ecx * 4]
    jne .mismatch
    inc ecx
    cmp ecx, 6
    jb .reg
    mov eax, [got + 24]
    and eax, [ebx + CASE_MASK]
    cmp eax, [ebx + CASE_OUT + 24]
    jne .mismatch
.next:
    inc dword [check_count]
    add ebx, CASE_SIZE
    jmp .case

.mismatch:
    inc dword [case_fails]
    inc dword [fail_count]
    cmp dword [case_fails], MAX_REPORTS
    ja .next
    call report_case
    jmp .next

    ; An exception in a case (say #UD for an instruction the emulator lacks) is a failure of
    ; that case only: drop the frame and go on with the next one.
.faulted:                               ; [esp] = vector, [esp+8] = EIP
    mov eax, [esp]
    mov edx, [esp + 8]
    mov esp, [cur_esp]
    mov ebx, [cur_case]
    mov edi, [cur_op]
    cld
    inc dword [case_fails]
    inc dword [fail_count]
    cmp dword [case_fails], MAX_REPORTS
    ja .next
    mov ecx, ebx
    sub ecx, flags_cases
    shr ecx, 6
    PRINT "FAIL: case "
    PRINTDEC ecx
    PRINT " '"
    mov esi, [edi + OP_NAME]
    call puts
    PRINT "': exception "
    PRINTDEC eax
    PRINT " at EIP 0x"
    PRINTHEX edx
    PRINT `\n`
    jmp .next

.summary:
    mov dword [exc_hook], 0
    PRINT "flags: "
    PRINTDEC FLAGS_NCASES
    PRINT " cases of "
    PRINTDEC dword [flags_op_count]
    PRINT " instructions, "
    PRINTDEC dword [case_fails]
    PRINT ` mismatched\n`
    ret

; report_case(EBX = case, EDI = op descriptor, got = what we saw)
report_case:
    pushad
    mov eax, ebx
    sub eax, flags_cases
    shr eax, 6                          ; / CASE_SIZE
    PRINT "FAIL: case "
    PRINTDEC eax
    PRINT " '"
    mov esi, [edi + OP_NAME]
    call puts
    PRINT `'\n   in      `
    lea esi, [ebx + CASE_IN]
    call print_regs
    PRINT `\n   expect  `
    lea esi, [ebx + CASE_OUT]
    call print_regs
    PRINT " (flag mask 0x"
    PRINTHEX dword [ebx + CASE_MASK]
    PRINT `)\n   got     `
    mov eax, [got + 24]
    and eax, [ebx + CASE_MASK]          ; compare like for like; undefined flags are noise
    push dword [got + 24]
    mov [got + 24], eax
    mov esi, got
    call print_regs
    pop dword [got + 24]
    PRINT `\n`
    popad
    ret

; print_regs(ESI = 7 dwords: EAX EBX ECX EDX ESI EDI EFLAGS)
print_regs:
    pushad
    mov edi, reg_names
    xor ecx, ecx
.one:
    xchg esi, edi
    call puts
    xchg esi, edi
.skip:                                  ; step EDI past this name's NUL
    inc edi
    cmp byte [edi - 1], 0
    jne .skip
    mov eax, [esi + ecx * 4]
    call print_hex
    inc ecx
    cmp ecx, 7
    jb .one
    popad
    ret

; ---------------------------------------------------------------- #DE

; The handler records where the fault came from and resumes at [de_resume]. It touches no
; register, so the test can check that the faulting division left its operands alone.
de_handler:
    inc dword [de_count]
    push eax
    mov eax, [esp + 4]                  ; EIP of the faulting instruction (#DE is a fault)
    mov [de_eip], eax
    mov eax, [esp + 8]
    mov [de_cs], eax
    mov eax, [de_resume]
    mov [esp + 4], eax
    pop eax
    iretd

; DE_EXPECT fault_label, "what" : the handler ran once, for the instruction at fault_label
%macro DE_EXPECT 2
    CHECK dword [de_count], 1, {%2, ": #DE delivered once"}
    CHECK dword [de_eip], %1, {%2, ": pushed EIP is the faulting instruction"}
    CHECK dword [de_cs], SEL_CODE, {%2, ": pushed CS"}
%endmacro

check_divide_error:
    pushad
    mov eax, 0
    mov edx, de_handler
    call idt_set

    ; 32-bit divide by zero.
    mov dword [de_count], 0
    mov dword [de_resume], .r1
    mov eax, 0x12345678
    mov edx, 0x9abc
    xor ebx, ebx
.f1:
    div ebx
    CHECK 1, 0, "div ebx by zero: no #DE"
.r1:
    DE_EXPECT .f1, "div ebx by zero"
    CHECK eax, 0x12345678, "div ebx by zero: EAX kept"
    CHECK edx, 0x9abc, "div ebx by zero: EDX kept"

    ; Quotient too big for 32 bits.
    mov dword [de_count], 0
    mov dword [de_resume], .r2
    mov eax, 5
    mov edx, 1
    mov ebx, 1
.f2:
    div ebx
    CHECK 1, 0, "div quotient overflow: no #DE"
.r2:
    DE_EXPECT .f2, "div quotient overflow"
    CHECK eax, 5, "div quotient overflow: EAX kept"
    CHECK edx, 1, "div quotient overflow: EDX kept"

    ; The one signed overflow: INT_MIN / -1.
    mov dword [de_count], 0
    mov dword [de_resume], .r3
    mov eax, 0x80000000
    mov edx, 0xffffffff
    mov ebx, -1
.f3:
    idiv ebx
    CHECK 1, 0, "idiv INT_MIN/-1: no #DE"
.r3:
    DE_EXPECT .f3, "idiv INT_MIN/-1"
    CHECK eax, 0x80000000, "idiv INT_MIN/-1: EAX kept"

    ; 8-bit: AX / BL with a quotient of 0x100.
    mov dword [de_count], 0
    mov dword [de_resume], .r4
    mov eax, 0xabcd1000
    mov ebx, 0x10
.f4:
    div bl
    CHECK 1, 0, "div bl overflow: no #DE"
.r4:
    DE_EXPECT .f4, "div bl overflow"
    CHECK eax, 0xabcd1000, "div bl overflow: EAX kept"

    ; A prefixed memory form: the pushed EIP must point at the prefix, not the opcode.
    mov dword [de_count], 0
    mov dword [de_resume], .r5
    mov eax, 0x1111
    mov edx, 0x2222
.f5:
    div word [zero_dword]
    CHECK 1, 0, "div word [mem] by zero: no #DE"
.r5:
    DE_EXPECT .f5, "div word [mem] by zero"
    CHECK eax, 0x1111, "div word [mem] by zero: EAX kept"
    CHECK edx, 0x2222, "div word [mem] by zero: EDX kept"

    ; AAM 0 divides by its immediate.
    mov dword [de_count], 0
    mov dword [de_resume], .r6
    mov eax, 0x4242
.f6:
    aam 0
    CHECK 1, 0, "aam 0: no #DE"
.r6:
    DE_EXPECT .f6, "aam 0"
    CHECK eax, 0x4242, "aam 0: EAX kept"

    ; And division still works after all that.
    mov dword [de_count], 0
    mov eax, 100
    xor edx, edx
    mov ebx, 7
    div ebx
    CHECK eax, 14, "div after #DE: quotient"
    CHECK edx, 2, "div after #DE: remainder"
    CHECK dword [de_count], 0, "div after #DE: no spurious #DE"

    ; Leave vector 0 to the default reporter again.
    mov eax, 0
    mov edx, [exc_stubs]
    call idt_set
    PRINT `flags: #DE checks done\n`
    popad
    ret
