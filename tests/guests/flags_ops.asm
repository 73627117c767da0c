; flags_ops.asm: the instructions the flags guest checks, and the routine that runs one.
;
; This one object is linked twice: into flags_oracle, a 32-bit host program that runs every
; case on the real CPU to record the expected results, and into the flags guest, which runs
; the same cases under the emulator and compares. Both execute these very bytes through the
; same flags_run, so the only difference between the two runs is who executes them.
;
; OP kind, size, count, {instruction}
;   kind   how the oracle picks inputs and which flags are architecturally defined afterwards
;          (see flags_oracle.c: undefined flags differ between real CPUs, so they are masked)
;   size   operand size in bits
;   count  the immediate shift/rotate count, or -1 when the count comes from CL
; Register conventions: inputs and outputs are EAX EBX ECX EDX ESI EDI and the six arithmetic
; flags; dividends are EDX:EAX (AX for 8 bits), divisors and bit-scan sources are in EBX, CL
; holds variable counts. Instructions must not touch ESP or EBP.

bits 32
cpu 686

section .note.GNU-stack noalloc noexec nowrite progbits

%macro OP 4
    [section .text]
%%stub:
    %4
    ret
    [section .rodata]
    %defstr OP_TEXT %4
%%name: db OP_TEXT, 0
%%kind: db %1, 0
    [section .rodata.optab]
    dd %%stub, %%name, %%kind, %2, %3
%endmacro

; SIZES mnemonic, kind : the register-register form in 8 (low and high byte), 16 and 32 bits
%macro SIZES 2
    OP %2, 8, -1, {%1 al, bl}
    OP %2, 8, -1, {%1 ah, ch}
    OP %2, 16, -1, {%1 ax, bx}
    OP %2, 32, -1, {%1 eax, ebx}
%endmacro

; UNARY mnemonic, kind
%macro UNARY 2
    OP %2, 8, -1, {%1 al}
    OP %2, 8, -1, {%1 bh}
    OP %2, 16, -1, {%1 ax}
    OP %2, 32, -1, {%1 eax}
%endmacro

; SHIFTS mnemonic, kind : by CL in every size, and by the short immediate forms
%macro SHIFTS 2
    OP %2, 8, -1, {%1 al, cl}
    OP %2, 16, -1, {%1 ax, cl}
    OP %2, 32, -1, {%1 eax, cl}
    OP %2, 8, 1, {%1 bl, 1}
    OP %2, 16, 1, {%1 bx, 1}
    OP %2, 32, 1, {%1 ebx, 1}
    OP %2, 8, 3, {%1 dl, 3}
    OP %2, 16, 9, {%1 si, 9}
    OP %2, 32, 31, {%1 edi, 31}
%endmacro

section .rodata.optab progbits alloc noexec nowrite align=4
global flags_op_table
flags_op_table:

; ---- add/sub family: every flag defined
SIZES add, 'arith'
SIZES adc, 'arith'
SIZES sub, 'arith'
SIZES sbb, 'arith'
SIZES cmp, 'arith'
OP 'arith', 8, -1, {add al, 0x7f}
OP 'arith', 16, -1, {adc ax, -1}
OP 'arith', 32, -1, {add eax, 0x80000000}
OP 'arith', 32, -1, {sbb ebx, 1}
OP 'arith', 8, -1, {sub cl, 0x80}
OP 'arith', 16, -1, {sub dx, 0x1234}
OP 'arith', 32, -1, {cmp esi, -5}
OP 'arith', 8, -1, {cmp al, 0}
UNARY inc, 'arith'
UNARY dec, 'arith'
UNARY neg, 'arith'
SIZES xadd, 'arith'
OP 'cmpxchg', 8, -1, {cmpxchg bl, cl}
OP 'cmpxchg', 16, -1, {cmpxchg bx, cx}
OP 'cmpxchg', 32, -1, {cmpxchg ebx, ecx}

; ---- logic: AF undefined, CF=OF=0
SIZES and, 'logic'
SIZES or, 'logic'
SIZES xor, 'logic'
SIZES test, 'logic'
OP 'logic', 8, -1, {and al, 0x0f}
OP 'logic', 16, -1, {or bx, 0x8001}
OP 'logic', 32, -1, {xor esi, 0xffffffff}
OP 'logic', 32, -1, {test eax, 0x80000001}
OP 'logic', 8, -1, {test dh, 0x81}

; ---- no flags touched
UNARY not, 'move'
OP 'move', 32, -1, {bswap eax}
OP 'move', 32, -1, {bswap esi}

; ---- shifts and rotates
SHIFTS shl, 'shift'
SHIFTS shr, 'shift'
SHIFTS sar, 'shift'
SHIFTS rol, 'rot'
SHIFTS ror, 'rot'
SHIFTS rcl, 'rcx'
SHIFTS rcr, 'rcx'
OP 'shd', 32, -1, {shld eax, ebx, cl}
OP 'shd', 32, -1, {shrd eax, ebx, cl}
OP 'shd', 16, -1, {shld ax, bx, cl}
OP 'shd', 16, -1, {shrd ax, bx, cl}
OP 'shd', 32, 1, {shld edx, esi, 1}
OP 'shd', 32, 13, {shrd edx, esi, 13}
OP 'shd', 16, 1, {shrd di, ax, 1}
OP 'shd', 16, 7, {shld di, ax, 7}

; ---- multiply: only CF and OF defined
UNARY mul, 'mul'
UNARY imul, 'mul'
OP 'mul', 16, -1, {imul ax, bx}
OP 'mul', 32, -1, {imul eax, ebx}
OP 'mul', 16, -1, {imul si, di, -3}
OP 'mul', 32, -1, {imul eax, ebx, 100000}
OP 'mul', 32, -1, {imul ecx, edx, -128}

; ---- divide: no flags defined; the oracle only picks inputs that do not fault
OP 'div', 8, -1, {div bl}
OP 'div', 16, -1, {div bx}
OP 'div', 32, -1, {div ebx}
OP 'idiv', 8, -1, {idiv bl}
OP 'idiv', 16, -1, {idiv bx}
OP 'idiv', 32, -1, {idiv ebx}

; ---- bit scan and bit test
OP 'bsx', 16, -1, {bsf ax, bx}
OP 'bsx', 32, -1, {bsf eax, ebx}
OP 'bsx', 16, -1, {bsr ax, bx}
OP 'bsx', 32, -1, {bsr eax, ebx}
OP 'bt', 16, -1, {bt ax, bx}
OP 'bt', 32, -1, {bt eax, ebx}
OP 'bt', 16, -1, {bts ax, bx}
OP 'bt', 32, -1, {bts eax, ebx}
OP 'bt', 16, -1, {btr ax, bx}
OP 'bt', 32, -1, {btr eax, ebx}
OP 'bt', 16, -1, {btc ax, bx}
OP 'bt', 32, -1, {btc eax, ebx}
OP 'bt', 32, -1, {bt eax, 13}
OP 'bt', 16, -1, {bts ax, 7}
OP 'bt', 32, -1, {btr eax, 31}
OP 'bt', 16, -1, {btc dx, 15}

; ---- condition codes: flags go in random, the condition comes out as data
%macro CC 2
    OP 'move', 8, -1, {set%1 cl}
    OP 'move', 32, -1, {cmov%1 eax, ebx}
  %if %2
    OP 'move', 16, -1, {cmov%1 si, dx}
  %endif
%endmacro
CC o, 1
CC no, 0
CC b, 0
CC ae, 1
CC e, 0
CC ne, 0
CC be, 1
CC a, 0
CC s, 0
CC ns, 0
CC p, 1
CC np, 0
CC l, 0
CC ge, 1
CC le, 0
CC g, 1
OP 'move', 8, -1, {lahf}
OP 'arith', 8, -1, {sahf}
OP 'arith', 32, -1, {clc}
OP 'arith', 32, -1, {stc}
OP 'arith', 32, -1, {cmc}

; ---- address arithmetic and moves with extension
OP 'move', 32, -1, {lea eax, [ebx + ecx * 4 + 0x12345678]}
OP 'move', 32, -1, {lea eax, [ebx + ecx]}
OP 'move', 32, -1, {lea edx, [esi * 8 - 3]}
OP 'move', 32, -1, {lea eax, [eax + eax * 2]}
OP 'move', 16, -1, {lea ax, [ebx + edi * 2 + 5]}
OP 'move', 32, -1, {lea eax, [bx + si + 0x7ff0]}
OP 'move', 32, -1, {lea ecx, [bx + di - 1]}
OP 'move', 32, -1, {movzx eax, bl}
OP 'move', 32, -1, {movzx eax, bh}
OP 'move', 32, -1, {movzx edx, si}
OP 'move', 16, -1, {movzx ax, cl}
OP 'move', 32, -1, {movsx eax, bl}
OP 'move', 32, -1, {movsx eax, ch}
OP 'move', 32, -1, {movsx edi, bx}
OP 'move', 16, -1, {movsx ax, dl}
OP 'move', 16, -1, {cbw}
OP 'move', 32, -1, {cwde}
OP 'move', 16, -1, {cwd}
OP 'move', 32, -1, {cdq}
OP 'move', 32, -1, {xchg eax, ebx}
OP 'move', 32, -1, {xchg ecx, edx}
OP 'move', 16, -1, {xchg ax, si}
OP 'move', 8, -1, {xchg al, bh}

; ---- BCD adjust (32-bit code only, hence a 32-bit oracle)
OP 'daa', 8, -1, {daa}
OP 'daa', 8, -1, {das}
OP 'aaa', 8, -1, {aaa}
OP 'aaa', 8, -1, {aas}
OP 'aam', 8, -1, {aam}
OP 'aam', 8, -1, {aam 16}
OP 'aam', 8, -1, {aad}
OP 'aam', 8, -1, {aad 7}

flags_op_table_end:

section .rodata
align 4
global flags_op_count
flags_op_count: dd (flags_op_table_end - flags_op_table) / 20

section .text
; flags_run(stub, in[7], out[7]), cdecl. in/out hold EAX EBX ECX EDX ESI EDI, EFLAGS.
; Loads all six registers and the flags, calls the stub, stores them all back. Callable from C
; (it keeps EBX ESI EDI EBP) and from the guest alike.
global flags_run
flags_run:
    push ebp
    push ebx
    push esi
    push edi
    mov ebp, [esp + 24]         ; in
    push dword [ebp + 24]
    mov eax, [ebp + 0]
    mov ebx, [ebp + 4]
    mov ecx, [ebp + 8]
    mov edx, [ebp + 12]
    mov esi, [ebp + 16]
    mov edi, [ebp + 20]
    popfd
    call [esp + 20]             ; stub
    pushfd
    push eax
    mov eax, [esp + 8 + 28]     ; out
    mov [eax + 4], ebx
    mov [eax + 8], ecx
    mov [eax + 12], edx
    mov [eax + 16], esi
    mov [eax + 20], edi
    pop dword [eax + 0]
    pop dword [eax + 24]
    pop edi
    pop esi
    pop ebx
    pop ebp
    ret
