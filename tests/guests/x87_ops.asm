; x87_ops.asm: the x87 instructions the x87 guest checks, and the routine that runs one.
;
; Linked twice, as flags_ops.asm is: into x87_oracle, a 32-bit host program that runs every
; case on the build host's own x87 to record the expected results, and into the x87 guest,
; which runs the same bytes under the emulator and compares. Only the executor differs.
;
; X87OP kind, class, {instruction}   AB kind, class, {instruction}: the same after FLD B, FLD A
;   kind   how the oracle picks the inputs (x87_oracle.c)
;   class  what a run on another emulator (QEMU) is held to; under dualvm everything is exact.
;          Bits: CL_TRANS the result only to within 2^-45 and no exception flags
;          (transcendentals); CL_SKIP not at all; CL_CC C0 C2 C3 are defined (compares,
;          FXAM, FPREM, the range flag C2 of the trigonometric ones), so they are compared.
;          Off dualvm DE, PE and C1 are never compared (QEMU does not produce them as an x87).
; The stub runs after FNINIT and FLDCW with ESI = the input block (A at +8 and B at +18, both
; 80-bit) and EDI = the output block, whose memory operand M (+112, 16 bytes) starts as a copy
; of the input's. Everything it leaves (the FNSAVE image, EFLAGS, M) is compared.

bits 32
cpu 686

section .note.GNU-stack noalloc noexec nowrite progbits

%define CL_TRANS 1
%define CL_SKIP 2
%define CL_CC 4

%define A tword [esi + 8]
%define B tword [esi + 18]
%define M edi + 112

%macro X87OP 3
    [section .text]
%%stub:
    %3
    ret
    [section .rodata]
    %defstr X87OP_TEXT %3
%%name: db X87OP_TEXT, 0
%%kind: db %1, 0
    [section .rodata.x87tab]
    dd %%stub, %%name, %%kind, %2
%endmacro

; AB kind, class, {op} : ST(0) = A, ST(1) = B, then op
%macro AB 3
    [section .text]
%%stub:
    fld B
    fld A
    %3
    ret
    [section .rodata]
    %defstr X87OP_TEXT %3
%%name: db X87OP_TEXT, 0
%%kind: db %1, 0
    [section .rodata.x87tab]
    dd %%stub, %%name, %%kind, %2
%endmacro

section .rodata.x87tab progbits alloc noexec nowrite align=4
global x87_op_table
x87_op_table:

; ---- the four operations on registers, every form
AB 'bin', 0, {fadd st0, st1}
AB 'bin', 0, {fsub st0, st1}
AB 'bin', 0, {fsubr st0, st1}
AB 'bin', 0, {fmul st0, st1}
AB 'bin', 0, {fdiv st0, st1}
AB 'bin', 0, {fdivr st0, st1}
AB 'bin', 0, {fadd st1, st0}
AB 'bin', 0, {fsub st1, st0}
AB 'bin', 0, {fsubr st1, st0}
AB 'bin', 0, {fmul st1, st0}
AB 'bin', 0, {fdiv st1, st0}
AB 'bin', 0, {fdivr st1, st0}
AB 'bin', 0, {faddp st1, st0}
AB 'bin', 0, {fsubp st1, st0}
AB 'bin', 0, {fsubrp st1, st0}
AB 'bin', 0, {fmulp st1, st0}
AB 'bin', 0, {fdivp st1, st0}
AB 'bin', 0, {fdivrp st1, st0}
AB 'bin', 0, {fadd st0, st0}
; ---- with memory operands: single, double, 16- and 32-bit integers
AB 'mf32', 0, {fadd dword [M]}
AB 'mf32', 0, {fsub dword [M]}
AB 'mf32', 0, {fmul dword [M]}
AB 'mf32', 0, {fdivr dword [M]}
AB 'mf64', 0, {fadd qword [M]}
AB 'mf64', 0, {fsubr qword [M]}
AB 'mf64', 0, {fmul qword [M]}
AB 'mf64', 0, {fdiv qword [M]}
AB 'mi16', 0, {fiadd word [M]}
AB 'mi16', 0, {fimul word [M]}
AB 'mi16', 0, {fidiv word [M]}
AB 'mi32', 0, {fisub dword [M]}
AB 'mi32', 0, {fisubr dword [M]}
AB 'mi32', 0, {fidivr dword [M]}
; ---- compares
AB 'cmp', CL_CC, {fcom st1}
AB 'cmp', CL_CC, {fcomp st1}
AB 'cmp', CL_CC, {fcompp}
AB 'cmp', CL_CC, {fucom st1}
AB 'cmp', CL_CC, {fucomp st1}
AB 'cmp', CL_CC, {fucompp}
AB 'cmp', CL_CC, {fcomi st0, st1}
AB 'cmp', CL_CC, {fucomi st0, st1}
AB 'cmp', CL_CC, {fcomip st0, st1}
AB 'cmp', CL_CC, {fucomip st0, st1}
AB 'cmp', CL_CC, {ftst}
AB 'cmp', CL_CC, {fxam}
AB 'mf32', CL_CC, {fcom dword [M]}
AB 'mf64', CL_CC, {fcomp qword [M]}
AB 'mi16', CL_CC, {ficom word [M]}
AB 'mi32', CL_CC, {ficomp dword [M]}
; ---- one operand
AB 'bin', 0, {fchs}
AB 'bin', 0, {fabs}
AB 'sqrt', 0, {fsqrt}
AB 'round', 0, {frndint}
AB 'bin', 0, {fxtract}
AB 'scale', 0, {fscale}
AB 'prem', CL_CC, {fprem}
AB 'prem', CL_SKIP, {fprem1}            ; QEMU's quotient bits differ
; ---- transcendentals
; first on arguments in their domains, as finite numbers, then on anything at all (out of
; range, NaNs, large arguments, which QEMU reduces in double precision)
AB 'f2xm1', CL_TRANS, {f2xm1}
AB 'log', CL_TRANS, {fyl2x}
AB 'l2p1', CL_TRANS, {fyl2xp1}
AB 'atan', CL_TRANS, {fpatan}
AB 'trig', CL_TRANS | CL_CC, {fptan}
AB 'trig', CL_TRANS | CL_CC, {fsin}
AB 'trig', CL_TRANS | CL_CC, {fcos}
AB 'trig', CL_TRANS | CL_CC, {fsincos}
AB 'any', CL_SKIP, {f2xm1}
AB 'any', CL_SKIP, {fyl2x}
AB 'any', CL_SKIP, {fyl2xp1}
AB 'any', CL_SKIP, {fpatan}
AB 'trigx', CL_SKIP, {fptan}
AB 'trigx', CL_SKIP, {fsin}
AB 'trigx', CL_SKIP, {fcos}
AB 'trigx', CL_SKIP, {fsincos}
; ---- loads, stores and integer conversions under every rounding mode
X87OP 'mf32', 0, {fld dword [M]}
X87OP 'mf64', 0, {fld qword [M]}
X87OP 'mf80', 0, {fld tword [M]}
X87OP 'mi16', 0, {fild word [M]}
X87OP 'mi32', 0, {fild dword [M]}
X87OP 'mi64', 0, {fild qword [M]}
X87OP 'mbcd', 0, {fbld tword [M]}
AB 'bin', 0, {fst dword [M]}
AB 'bin', 0, {fstp qword [M]}
AB 'bin', 0, {fstp tword [M]}
AB 'round', 0, {fist word [M]}
AB 'round', 0, {fist dword [M]}
AB 'round', 0, {fistp qword [M]}
cpu prescott                    ; FISTTP came with SSE3
AB 'round', CL_SKIP, {fisttp word [M]}
AB 'round', CL_SKIP, {fisttp dword [M]}
AB 'round', CL_SKIP, {fisttp qword [M]}
cpu 686
AB 'bcd', 0, {fbstp tword [M]}
; ---- constants (rounded by RC)
X87OP 'const', 0, {fld1}
X87OP 'const', 0, {fldl2t}
X87OP 'const', 0, {fldl2e}
X87OP 'const', 0, {fldpi}
X87OP 'const', 0, {fldlg2}
X87OP 'const', 0, {fldln2}
X87OP 'const', 0, {fldz}
; ---- moves
AB 'fcmov', 0, {fcmovb st0, st1}
AB 'fcmov', 0, {fcmove st0, st1}
AB 'fcmov', 0, {fcmovbe st0, st1}
AB 'fcmov', 0, {fcmovu st0, st1}
AB 'fcmov', 0, {fcmovnb st0, st1}
AB 'fcmov', 0, {fcmovne st0, st1}
AB 'fcmov', 0, {fcmovnbe st0, st1}
AB 'fcmov', 0, {fcmovnu st0, st1}
AB 'bin', 0, {fxch st1}
AB 'bin', 0, {fld st1}
AB 'bin', 0, {fst st1}
AB 'bin', 0, {ffree st1}
AB 'bin', 0, {fincstp}
AB 'bin', 0, {fdecstp}

x87_op_table_end:

section .rodata
align 4
global x87_op_count
x87_op_count: dd (x87_op_table_end - x87_op_table) / 16

section .text
; x87_run(stub, in, out), cdecl: FNINIT, FLDCW in.cw, EFLAGS from in.flags (the arithmetic
; ones), M = in.mem, then the stub, then out.flags = EFLAGS and out.save = FNSAVE. Keeps EBX
; ESI EDI EBP. Layouts: in: cw +0, flags +4, A +8, B +18, mem +28 (16 bytes);
; out: FNSAVE image +0 (108 bytes), flags +108, M +112 (16 bytes).
global x87_run
x87_run:
    push ebp
    push ebx
    push esi
    push edi
    mov esi, [esp + 24]         ; in
    mov edi, [esp + 28]         ; out
    mov ecx, 4
.copy:
    mov eax, [esi + 28 + ecx * 4 - 4]
    mov [edi + 112 + ecx * 4 - 4], eax
    loop .copy
    fninit
    fldcw [esi]
    pushfd
    pop eax
    and eax, ~0x8d5
    mov edx, [esi + 4]
    and edx, 0x8d5
    or eax, edx
    push eax
    popfd
    call [esp + 20]             ; stub
    pushfd
    pop dword [edi + 108]
    fnsave [edi]
    pop edi
    pop esi
    pop ebx
    pop ebp
    ret
