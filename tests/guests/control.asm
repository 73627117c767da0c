; control: control transfer and stack instructions, CPUID, RDTSC and port I/O.
;
; Near/far/indirect CALL, RET and RET imm, jump tables, INT n through the IDT, every Jcc in
; several flag states, LOOP/LOOPE/LOOPNE/JECXZ/JCXZ (also with a 16-bit counter), PUSH/POP
; forms, PUSHAD/POPAD, ENTER/LEAVE with nesting levels, XCHG with memory, CMPXCHG8B, XLAT,
; CPUID leaves 0 and 1 (with the hypervisor bit), RDTSC, and the UART scratch register read back. Expected values are
; worked out by hand from the SDM's definitions.

%include "guest.inc"

%define UART_SCRATCH (COM1 + 7)

section .bss
int_eip:        resd 1
int_cs:         resd 1
int_count:      resd 1
saved_esp:      resd 1
pushad_area:    resd 8
fake_frame:     resd 8
qword_mem:      resq 1
tsc1:           resq 1
tsc2:           resq 1
cpuid_vendor:   resb 13

section .data
fn_ptr:         dd fn_double
jump_table:     dd test_calls.case0, test_calls.case1, test_calls.case2, test_calls.case3
far_target:     dd test_calls.far_jmp
                dw SEL_CODE
xlat_table:     db 10, 11, 12, 13, 14, 15, 16, 17
xchg_mem:       dd 0x13572468

section .text
main:
    call test_calls
    call test_int
    call test_jcc
    call test_loops
    call test_stack
    call test_enter_leave
    call test_exchange
    call test_cpuid
    call test_rdtsc
    call test_ports
    FINISH "control"

; ---------------------------------------------------------------- CALL, RET, JMP

fn_double:                              ; EAX *= 2, and hand back our return address in EDX
    mov edx, [esp]
    add eax, eax
    ret

fn_ret8:                                ; callee pops its two stack arguments
    mov eax, [esp + 4]
    sub eax, [esp + 8]
    ret 8

far_fn:                                 ; reached by a far call: [esp+4] is the caller's CS
    mov edx, [esp + 4]
    mov eax, 0xFA4
    retf

test_calls:
    mov [saved_esp], esp
    mov eax, 21
    call fn_double
.ret1:
    CHECK eax, 42, "call rel32: result"
    CHECK edx, .ret1, "call rel32: pushed return address"
    CHECK esp, dword [saved_esp], "call/ret: ESP balanced"

    push dword 5
    push dword 47                       ; fn_ret8 computes [esp+4] - [esp+8] = 47 - 5
    call fn_ret8
    CHECK eax, 42, "ret 8: result"
    CHECK esp, dword [saved_esp], "ret 8: arguments popped"

    mov ecx, fn_double
    mov eax, 7
    call ecx
.ret2:
    CHECK eax, 14, "call reg: result"
    CHECK edx, .ret2, "call reg: pushed return address"

    mov eax, 8
    call [fn_ptr]
.ret3:
    CHECK eax, 16, "call [mem]: result"
    CHECK edx, .ret3, "call [mem]: pushed return address"

    mov eax, 0
    call SEL_CODE:far_fn
    CHECK eax, 0xFA4, "call far: result"
    CHECK edx, SEL_CODE, "call far: pushed CS"
    CHECK esp, dword [saved_esp], "call far/retf: ESP balanced"

    jmp far [far_target]
    CHECK 1, 0, "jmp far [mem]: not taken"
.far_jmp:
    mov ax, cs
    movzx eax, ax
    CHECK eax, SEL_CODE, "jmp far [mem]: CS"

    ; A jump table walked with an index: each case adds its own weight.
    xor ebx, ebx
    xor ecx, ecx
.table:
    jmp [jump_table + ecx * 4]
.case0:
    add ebx, 1
    jmp .back
.case1:
    add ebx, 10
    jmp .back
.case2:
    add ebx, 100
    jmp .back
.case3:
    add ebx, 1000
.back:
    inc ecx
    cmp ecx, 4
    jb .table
    CHECK ebx, 1111, "jmp [table + index*4]: every case once"

    mov eax, .reg_target
    jmp eax
    CHECK 1, 0, "jmp reg: not taken"
.reg_target:
    CHECK esp, dword [saved_esp], "jumps: ESP balanced"
    ret

; ---------------------------------------------------------------- INT n

int80_handler:
    inc dword [int_count]
    mov eax, [esp]                      ; EIP after the INT instruction
    mov [int_eip], eax
    mov eax, [esp + 4]
    mov [int_cs], eax
    mov eax, 0xC0DE
    clc                                 ; IRET must bring the caller's CF back
    iretd

test_int:
    mov eax, 0x80
    mov edx, int80_handler
    call idt_set
    mov [saved_esp], esp
    stc
    int 0x80
.after:
    CHECKF F_CF, F_CF, "int 0x80: IRET restored EFLAGS"
    CHECK eax, 0xC0DE, "int 0x80: handler ran"
    CHECK dword [int_count], 1, "int 0x80: once"
    CHECK dword [int_eip], .after, "int 0x80: pushed EIP is the next instruction"
    CHECK dword [int_cs], SEL_CODE, "int 0x80: pushed CS"
    CHECK esp, dword [saved_esp], "int/iret: ESP balanced"
    ret

; ---------------------------------------------------------------- Jcc

; JCC cc, flags, taken : set EFLAGS, branch, check the outcome
%macro JCC 3
    push dword (%2) | 2
    popfd
    mov eax, 0
    j%1 %%taken
    jmp %%done
%%taken:
    mov eax, 1
%%done:
    %defstr JCC_NAME j%1
    %defstr JCC_FLAGS %2
    CHECK eax, %3, {JCC_NAME, " with flags ", JCC_FLAGS}
%endmacro

; JCC_ROW flags, taken : taken holds one bit per condition, in opcode order (o=bit 0 ... g=15)
%macro JCC_ROW 2
    JCC o,  %1, ((%2) >> 0) & 1
    JCC no, %1, ((%2) >> 1) & 1
    JCC b,  %1, ((%2) >> 2) & 1
    JCC ae, %1, ((%2) >> 3) & 1
    JCC e,  %1, ((%2) >> 4) & 1
    JCC ne, %1, ((%2) >> 5) & 1
    JCC be, %1, ((%2) >> 6) & 1
    JCC a,  %1, ((%2) >> 7) & 1
    JCC s,  %1, ((%2) >> 8) & 1
    JCC ns, %1, ((%2) >> 9) & 1
    JCC p,  %1, ((%2) >> 10) & 1
    JCC np, %1, ((%2) >> 11) & 1
    JCC l,  %1, ((%2) >> 12) & 1
    JCC ge, %1, ((%2) >> 13) & 1
    JCC le, %1, ((%2) >> 14) & 1
    JCC g,  %1, ((%2) >> 15) & 1
%endmacro

test_jcc:
    ;                                  g le ge l  np p ns s  a be ne e  ae b no o
    JCC_ROW 0,                      0b_1__0__1__0__1__0__1__0__1__0__1__0__1__0__1__0
    JCC_ROW F_ARITH,                0b_0__1__1__0__0__1__0__1__0__1__0__1__0__1__0__1
    JCC_ROW F_CF,                   0b_1__0__1__0__1__0__1__0__0__1__1__0__0__1__1__0
    JCC_ROW F_ZF,                   0b_0__1__1__0__1__0__1__0__0__1__0__1__1__0__1__0
    JCC_ROW F_SF,                   0b_0__1__0__1__1__0__0__1__1__0__1__0__1__0__1__0
    JCC_ROW F_OF,                   0b_0__1__0__1__1__0__1__0__1__0__1__0__1__0__0__1
    JCC_ROW F_SF | F_OF,            0b_1__0__1__0__1__0__0__1__1__0__1__0__1__0__0__1
    JCC_ROW F_PF,                   0b_1__0__1__0__0__1__1__0__1__0__1__0__1__0__1__0
    ret

; ---------------------------------------------------------------- LOOP family

test_loops:
    mov ecx, 5
    xor eax, eax
.l1:
    inc eax
    loop .l1
    CHECK eax, 5, "loop: iterations"
    CHECK ecx, 0, "loop: ECX"

    stc                                 ; LOOP leaves the flags alone
    mov ecx, 3
.l2:
    loop .l2
    CHECKF F_CF, F_CF, "loop: flags untouched"

    mov ecx, 10                         ; LOOPE goes on while ZF=1: stops when EAX reaches 4
    xor eax, eax
.l3:
    inc eax
    test eax, ~3
    loope .l3
    CHECK eax, 4, "loope: iterations"
    CHECK ecx, 6, "loope: ECX"

    mov ecx, 10                         ; LOOPNE goes on while ZF=0: stops when EAX reaches 3
    xor eax, eax
.l4:
    inc eax
    cmp eax, 3
    loopne .l4
    CHECK eax, 3, "loopne: iterations"
    CHECK ecx, 7, "loopne: ECX"

    mov ecx, 2                          ; LOOPNE also stops when ECX runs out
    xor eax, eax
.l5:
    inc eax
    cmp eax, 100
    loopne .l5
    CHECK eax, 2, "loopne: ECX exhausted"

    xor ecx, ecx
    mov eax, 0
    jecxz .z1
    mov eax, 1
.z1:
    CHECK eax, 0, "jecxz ECX=0: taken"
    mov ecx, 1
    mov eax, 0
    jecxz .z2
    mov eax, 1
.z2:
    CHECK eax, 1, "jecxz ECX=1: not taken"

    ; With an address-size prefix the counter is CX: 0x10000 is zero for JCXZ and LOOP.
    mov ecx, 0x10000
    mov eax, 0
    jcxz .z3
    mov eax, 1
.z3:
    CHECK eax, 0, "jcxz ECX=0x10000: taken"
    mov eax, 0
    jecxz .z4
    mov eax, 1
.z4:
    CHECK eax, 1, "jecxz ECX=0x10000: not taken"
    mov ecx, 0x00010001
    mov eax, 0
    loop .z5, cx                        ; CX 1 -> 0: falls through, upper half kept
    mov eax, 1
.z5:
    CHECK eax, 1, "loop cx: falls through at CX=0"
    CHECK ecx, 0x00010000, "loop cx: only CX decremented"
    ret

; ---------------------------------------------------------------- PUSH, POP, PUSHAD, POPAD

test_stack:
    mov [saved_esp], esp
    mov eax, esp                        ; (also keeps CHECK's own ESP handling honest)
    CHECK esp, eax, "mov eax, esp: ESP"
    CHECK eax, esp, "mov eax, esp: EAX"
    push byte -1                        ; imm8, sign-extended to 32 bits
    pop eax
    CHECK eax, 0xFFFFFFFF, "push imm8: sign-extended"
    push dword 0x12345678
    pop dword [qword_mem]
    CHECK dword [qword_mem], 0x12345678, "push imm32 / pop [mem]"
    push dword [qword_mem]
    pop ebx
    CHECK ebx, 0x12345678, "push [mem] / pop reg"

    mov ebx, esp                        ; PUSH ESP stores the value before the push
    push esp
    pop eax
    CHECK eax, ebx, "push esp: old value"

    mov eax, 0xAAAA1234                 ; 16-bit push moves ESP by 2
    mov ebx, 0xBBBBBBBB
    mov ecx, esp
    push ax
    mov edx, ecx
    sub edx, esp
    pop bx
    CHECK edx, 2, "push ax: ESP moved by 2"
    CHECK ebx, 0xBBBB1234, "pop bx: upper half kept"
    CHECK esp, dword [saved_esp], "push/pop: ESP balanced"

    ; PUSHAD order: EAX ECX EDX EBX ESP(before) EBP ESI EDI, EDI lowest.
    push ebp
    mov eax, 0xA0
    mov ecx, 0xC0
    mov edx, 0xD0
    mov ebx, 0xB0
    mov ebp, 0xB9
    mov esi, 0x51
    mov edi, 0xD1
    mov [qword_mem], esp
    pushad
    mov [qword_mem + 4], esp
    push ecx                            ; copy the frame out before we disturb registers
    xor ecx, ecx
.copy:
    mov eax, [esp + 4 + ecx * 4]
    mov [pushad_area + ecx * 4], eax
    inc ecx
    cmp ecx, 8
    jb .copy
    pop ecx
    mov dword [esp + 12], 0xBADBAD      ; POPAD must skip the saved ESP
    mov dword [esp + 28], 0x1A          ; and load the rest from the frame
    xor eax, eax
    xor ecx, ecx
    xor edx, edx
    xor ebx, ebx
    xor ebp, ebp
    xor esi, esi
    xor edi, edi
    popad
    mov [qword_mem], eax                ; park EAX while EAX computes the expected ESP
    mov eax, [qword_mem + 4]
    add eax, 32
    CHECK esp, eax, "popad: ESP from arithmetic, not from the frame"
    mov eax, [qword_mem]
    CHECK eax, 0x1A, "popad: EAX from the frame"
    CHECK ecx, 0xC0, "popad: ECX"
    CHECK edx, 0xD0, "popad: EDX"
    CHECK ebx, 0xB0, "popad: EBX"
    CHECK ebp, 0xB9, "popad: EBP"
    CHECK esi, 0x51, "popad: ESI"
    CHECK edi, 0xD1, "popad: EDI"
    pop ebp
    CHECK dword [pushad_area + 0], 0xD1, "pushad: EDI at the bottom"
    CHECK dword [pushad_area + 4], 0x51, "pushad: ESI"
    CHECK dword [pushad_area + 8], 0xB9, "pushad: EBP"
    mov eax, [qword_mem + 4]
    add eax, 32
    CHECK dword [pushad_area + 12], eax, "pushad: ESP before the push"
    CHECK dword [pushad_area + 16], 0xB0, "pushad: EBX"
    CHECK dword [pushad_area + 20], 0xD0, "pushad: EDX"
    CHECK dword [pushad_area + 24], 0xC0, "pushad: ECX"
    CHECK dword [pushad_area + 28], 0xA0, "pushad: EAX at the top"
    CHECK esp, dword [saved_esp], "pushad/popad: ESP balanced"

    pushfd                              ; POPFD really loads the arithmetic flags
    push dword F_CF | F_ZF | F_OF | 2
    popfd
    CHECKF F_ARITH, F_CF | F_ZF | F_OF, "popfd: flags loaded"
    popfd
    ret

; ---------------------------------------------------------------- ENTER, LEAVE

test_enter_leave:
    push ebp
    mov [saved_esp], esp
    mov dword [fake_frame + 12], 0xF00DF00D  ; the enclosing frame's display entry
    lea ebp, [fake_frame + 16]

    ; Level 0: push EBP, EBP = ESP, reserve 16 bytes.
    mov ebx, ebp
    mov ecx, esp
    enter 16, 0
    lea eax, [ecx - 4]
    CHECK ebp, eax, "enter 16,0: EBP = frame"
    lea eax, [ecx - 4 - 16]
    CHECK esp, eax, "enter 16,0: ESP = frame - 16"
    CHECK dword [ebp], ebx, "enter 16,0: old EBP saved"
    leave
    CHECK esp, ecx, "leave: ESP back"
    CHECK ebp, ebx, "leave: EBP back"

    ; Level 1: also pushes the new frame pointer itself.
    enter 8, 1
    lea eax, [ecx - 4]
    CHECK ebp, eax, "enter 8,1: EBP = frame"
    CHECK dword [ebp], ebx, "enter 8,1: old EBP saved"
    CHECK dword [ebp - 4], eax, "enter 8,1: frame pointer pushed"
    lea eax, [ecx - 8 - 8]
    CHECK esp, eax, "enter 8,1: ESP"
    leave
    CHECK esp, ecx, "enter 8,1 / leave: ESP back"
    CHECK ebp, ebx, "enter 8,1 / leave: EBP back"

    ; Level 2: copies one display entry from the enclosing frame (at old EBP - 4).
    enter 12, 2
    lea eax, [ecx - 4]
    CHECK ebp, eax, "enter 12,2: EBP = frame"
    CHECK dword [ebp], ebx, "enter 12,2: old EBP saved"
    CHECK dword [ebp - 4], 0xF00DF00D, "enter 12,2: display copied from old frame"
    CHECK dword [ebp - 8], eax, "enter 12,2: frame pointer pushed"
    lea eax, [ecx - 12 - 12]
    CHECK esp, eax, "enter 12,2: ESP"
    leave
    CHECK esp, ecx, "enter 12,2 / leave: ESP back"
    pop ebp
    ret

; ---------------------------------------------------------------- XCHG, CMPXCHG8B, XLAT

test_exchange:
    mov ecx, 0x2468ACE0
    xchg [xchg_mem], ecx
    CHECK ecx, 0x13572468, "xchg [mem], reg: register"
    CHECK dword [xchg_mem], 0x2468ACE0, "xchg [mem], reg: memory"

    mov dword [qword_mem], 0x11111111   ; equal: memory takes ECX:EBX, ZF=1
    mov dword [qword_mem + 4], 0x22222222
    mov eax, 0x11111111
    mov edx, 0x22222222
    mov ebx, 0x33333333
    mov ecx, 0x44444444
    cmpxchg8b [qword_mem]
    CHECKF F_ZF, F_ZF, "cmpxchg8b equal: ZF"
    CHECK dword [qword_mem], 0x33333333, "cmpxchg8b equal: low dword stored"
    CHECK dword [qword_mem + 4], 0x44444444, "cmpxchg8b equal: high dword stored"
    mov eax, 0x33333333                 ; different: EDX:EAX takes memory, ZF=0
    mov edx, 0x55555555
    cmpxchg8b [qword_mem]
    CHECKF F_ZF, 0, "cmpxchg8b different: ZF"
    CHECK eax, 0x33333333, "cmpxchg8b different: EAX loaded"
    CHECK edx, 0x44444444, "cmpxchg8b different: EDX loaded"
    CHECK dword [qword_mem + 4], 0x44444444, "cmpxchg8b different: memory kept"

    mov ebx, xlat_table
    mov eax, 0xABCDEF05
    xlatb
    CHECK eax, 0xABCDEF0F, "xlatb: AL = table[AL]"
    ret

; ---------------------------------------------------------------- CPUID

test_cpuid:
    xor eax, eax
    cpuid
    mov [cpuid_vendor + 0], ebx
    mov [cpuid_vendor + 4], edx
    mov [cpuid_vendor + 8], ecx
    mov byte [cpuid_vendor + 12], 0
    mov ebx, eax
    PRINT "cpuid: vendor '"
    mov esi, cpuid_vendor
    call puts
    PRINT "', max leaf "
    PRINTDEC ebx
    PRINT `\n`
    cmp ebx, 1
    jae .max_ok
    CHECK ebx, 1, "cpuid 0: max basic leaf >= 1"
.max_ok:
    xor ecx, ecx                        ; the vendor is twelve printable characters
.vendor:
    movzx eax, byte [cpuid_vendor + ecx]
    cmp eax, 0x20
    jb .vendor_bad
    cmp eax, 0x7E
    ja .vendor_bad
    inc ecx
    cmp ecx, 12
    jb .vendor
    jmp .leaf1
.vendor_bad:
    CHECK eax, 0x41, "cpuid 0: vendor string printable"

.leaf1:
    mov eax, 1
    cpuid
    mov esi, edx
    mov ebx, eax
    shr ebx, 8
    and ebx, 0xF                        ; family
    PRINT "cpuid: leaf 1 eax 0x"
    PRINTHEX eax
    PRINT " (family "
    PRINTDEC ebx
    PRINT ") edx 0x"
    PRINTHEX esi
    PRINT `\n`
    cmp ebx, 4                          ; CPUID itself came with the 486
    jae .family_ok
    CHECK ebx, 4, "cpuid 1: family >= 4"
.family_ok:
    and esi, 1 << 4
    CHECK esi, 1 << 4, "cpuid 1: TSC feature bit (we use RDTSC)"
    mov eax, 1
    cpuid
    and ecx, 1 << 31
    CHECK ecx, 1 << 31, "cpuid 1: ECX hypervisor bit (a virtual CPU says so)"
    ret

; ---------------------------------------------------------------- RDTSC

test_rdtsc:
    rdtsc
    mov [tsc1], eax
    mov [tsc1 + 4], edx
    mov ecx, 10000
.spin:
    dec ecx
    jnz .spin
    rdtsc
    mov [tsc2], eax
    mov [tsc2 + 4], edx
    PRINT "rdtsc: 0x"
    PRINTHEX dword [tsc1 + 4]
    PRINTHEX dword [tsc1]
    PRINT " then 0x"
    PRINTHEX dword [tsc2 + 4]
    PRINTHEX dword [tsc2]
    PRINT `\n`
    ; tsc2 - tsc1 must be positive as a 64-bit number
    mov eax, [tsc2]
    mov edx, [tsc2 + 4]
    sub eax, [tsc1]
    sbb edx, [tsc1 + 4]
    mov ebx, 0                          ; 0 = went backwards or stood still
    js .judged
    or eax, edx
    jz .judged
    mov ebx, 1
.judged:
    CHECK ebx, 1, "rdtsc: increases across 10000 iterations"
    ret

; ---------------------------------------------------------------- port I/O

test_ports:
    mov dx, UART_SCRATCH
    mov al, 0xA5
    out dx, al
    xor eax, eax
    in al, dx
    CHECK eax, 0xA5, "uart scratch 0x3ff: 0xA5 read back"
    mov al, 0x5A
    out dx, al
    mov eax, 0xFFFFFF00                 ; IN AL leaves the rest of EAX alone
    in al, dx
    CHECK eax, 0xFFFFFF5A, "uart scratch 0x3ff: 0x5A read back, EAX upper kept"
    ; Once output stops the transmitter must drain: THRE and TEMT both set. Real UARTs
    ; take a character time for that, so poll a while before judging.
    mov dx, COM1 + 5
    mov ecx, 1000000
.drain:
    in al, dx
    and eax, 0x60
    cmp eax, 0x60
    je .idle
    dec ecx
    jnz .drain
.idle:
    CHECK eax, 0x60, "uart LSR: THRE and TEMT once idle"
    ret
