; strings: MOVS STOS LODS CMPS SCAS in byte/word/dword, with REP/REPE/REPNE, DF=0 and DF=1,
; ECX=0, overlapping copies, 16-bit addressing and segment overrides.
;
; Copies and fills run on `arena`; the expected memory is built in `shadow` (identical before
; each test) by plain MOV loops that move one element at a time in the same order, which is
; exactly what the string instructions are defined to do, overlap included. The whole arena is
; compared after each test, so stray writes are caught too. Registers and flags are checked
; against values worked out by hand.

%include "guest.inc"

%define ARENA_SIZE 1024
%define DST        512              ; start of the 0xCC-filled half of the arena
%define PAT(i)     ((((i) * 37) + 11) & 0xFF)  ; arena[i] for i < DST: no repeats in 256
%define PATW(i)    (PAT(i) | (PAT((i) + 1) << 8))
%define PATD(i)    (PATW(i) | (PATW((i) + 2) << 16))

section .bss
alignb 16
arena:      resb ARENA_SIZE
shadow:     resb ARENA_SIZE

section .text

; arena_reset: arena and shadow both = PAT(i) below DST, 0xCC above.
arena_reset:
    pushad
    pushfd
    xor ecx, ecx
.one:
    mov al, 0xCC
    cmp ecx, DST
    jae .store
    imul eax, ecx, 37
    add eax, 11
.store:
    mov [arena + ecx], al
    mov [shadow + ecx], al
    inc ecx
    cmp ecx, ARENA_SIZE
    jb .one
    popfd
    popad
    ret

; ref_copy(ESI = src, EDI = dst, ECX = count, EDX = element size, EBX = step +-size): one
; element at a time, in order, with plain moves.
ref_copy:
    pushad
    pushfd
.next:
    test ecx, ecx
    jz .done
    cmp edx, 1
    je .byte
    cmp edx, 2
    je .word
    mov eax, [esi]
    mov [edi], eax
    jmp .advance
.word:
    mov ax, [esi]
    mov [edi], ax
    jmp .advance
.byte:
    mov al, [esi]
    mov [edi], al
.advance:
    add esi, ebx
    add edi, ebx
    dec ecx
    jmp .next
.done:
    popfd
    popad
    ret

; ref_fill(EDI = dst, ECX = count, EDX = element size, EBX = step, EAX = value)
ref_fill:
    pushad
    pushfd
.next:
    test ecx, ecx
    jz .done
    cmp edx, 1
    je .byte
    cmp edx, 2
    je .word
    mov [edi], eax
    jmp .advance
.word:
    mov [edi], ax
    jmp .advance
.byte:
    mov [edi], al
.advance:
    add edi, ebx
    dec ecx
    jmp .next
.done:
    popfd
    popad
    ret

; REF_COPY src_off, dst_off, count, size, step : ref_copy inside shadow
%macro REF_COPY 5
    pushad
    mov esi, shadow + (%1)
    mov edi, shadow + (%2)
    mov ecx, %3
    mov edx, %4
    mov ebx, %5
    call ref_copy
    popad
%endmacro

; REF_FILL dst_off, count, size, step, value : ref_fill inside shadow
%macro REF_FILL 5
    pushad
    mov edi, shadow + (%1)
    mov ecx, %2
    mov edx, %3
    mov ebx, %4
    mov eax, %5
    call ref_fill
    popad
%endmacro

; mem_compare(ESI = got, EDI = expected, ECX = length, EDX = name): reports the first
; differing byte.
mem_compare:
    pushad
    pushfd
    inc dword [check_count]
    xor ebx, ebx
.next:
    cmp ebx, ecx
    jae .done
    mov al, [esi + ebx]
    cmp al, [edi + ebx]
    jne .differ
    inc ebx
    jmp .next
.differ:
    inc dword [fail_count]
    PRINT "FAIL: "
    mov esi, edx
    call puts
    PRINT ": byte +"
    PRINTDEC ebx
    PRINT " got 0x"
    movzx eax, al
    PRINTHEX eax
    PRINT " expected 0x"
    movzx eax, byte [edi + ebx]
    PRINTHEX eax
    PRINT `\n`
.done:
    popfd
    popad
    ret

; MEMCHECK got, expected, length, "name"
%macro MEMCHECK 4
    pushad
    [section .rodata]
%%name: db %4, 0
    __SECT__
    mov esi, %1
    mov edi, %2
    mov ecx, %3
    mov edx, %%name
    call mem_compare
    popad
%endmacro

; ARENA_OK "name" : the arena holds exactly what the shadow computation says
%macro ARENA_OK 1
    MEMCHECK arena, shadow, ARENA_SIZE, {%1, ": memory"}
%endmacro

main:
    call test_movs
    call test_ecx_zero
    call test_overlap
    call test_stos_lods
    call test_cmps
    call test_scas
    call test_addr16
    call test_segment_override
    cld
    FINISH "strings"

; ---------------------------------------------------------------- MOVS

test_movs:
    call arena_reset
    cld
    mov esi, arena + 3
    mov edi, arena + DST + 5
    mov ecx, 13
    rep movsb
    CHECK esi, arena + 16, "rep movsb: ESI"
    CHECK edi, arena + DST + 18, "rep movsb: EDI"
    CHECK ecx, 0, "rep movsb: ECX"
    REF_COPY 3, DST + 5, 13, 1, 1
    ARENA_OK "rep movsb"

    call arena_reset
    mov esi, arena + 40
    mov edi, arena + DST + 88
    mov ecx, 7
    rep movsw
    CHECK esi, arena + 54, "rep movsw: ESI"
    CHECK edi, arena + DST + 102, "rep movsw: EDI"
    CHECK ecx, 0, "rep movsw: ECX"
    REF_COPY 40, DST + 88, 7, 2, 2
    ARENA_OK "rep movsw"

    call arena_reset                    ; misaligned on both sides
    mov esi, arena + 81
    mov edi, arena + DST + 190
    mov ecx, 5
    rep movsd
    CHECK esi, arena + 101, "rep movsd: ESI"
    CHECK edi, arena + DST + 210, "rep movsd: EDI"
    CHECK ecx, 0, "rep movsd: ECX"
    REF_COPY 81, DST + 190, 5, 4, 4
    ARENA_OK "rep movsd"

    call arena_reset                    ; DF=1 walks down from the last element
    std
    mov esi, arena + 120
    mov edi, arena + DST + 288
    mov ecx, 9
    rep movsb
    CHECKF F_DF, F_DF, "std; rep movsb: DF still set"
    cld
    CHECK esi, arena + 111, "std; rep movsb: ESI"
    CHECK edi, arena + DST + 279, "std; rep movsb: EDI"
    REF_COPY 120, DST + 288, 9, 1, -1
    ARENA_OK "std; rep movsb"

    call arena_reset
    std
    mov esi, arena + 200
    mov edi, arena + DST + 388
    mov ecx, 4
    rep movsd
    cld
    CHECK esi, arena + 184, "std; rep movsd: ESI"
    CHECK edi, arena + DST + 372, "std; rep movsd: EDI"
    REF_COPY 200, DST + 388, 4, 4, -4
    ARENA_OK "std; rep movsd"

    call arena_reset
    std
    mov esi, arena + 300
    mov edi, arena + DST + 448
    mov ecx, 3
    rep movsw
    cld
    CHECK esi, arena + 294, "std; rep movsw: ESI"
    CHECK edi, arena + DST + 442, "std; rep movsw: EDI"
    REF_COPY 300, DST + 448, 3, 2, -2
    ARENA_OK "std; rep movsw"

    call arena_reset                    ; no REP: one element, ECX untouched
    mov esi, arena + 10
    mov edi, arena + DST + 8
    mov ecx, 0x55
    movsb
    CHECK esi, arena + 11, "movsb: ESI"
    CHECK edi, arena + DST + 9, "movsb: EDI"
    CHECK ecx, 0x55, "movsb: ECX untouched"
    std
    mov esi, arena + 20
    mov edi, arena + DST + 28
    movsd
    cld
    CHECK esi, arena + 16, "std; movsd: ESI"
    CHECK edi, arena + DST + 24, "std; movsd: EDI"
    REF_COPY 10, DST + 8, 1, 1, 1
    REF_COPY 20, DST + 28, 1, 4, -4
    ARENA_OK "movsb + std; movsd"
    ret

; ---------------------------------------------------------------- ECX = 0

; With ECX=0 a REP instruction does nothing at all: no memory access, no pointer update, and
; for CMPS/SCAS no flag update.
test_ecx_zero:
    call arena_reset
    cld
    mov esi, arena + 5
    mov edi, arena + DST + 5
    xor ecx, ecx
    xor eax, eax                        ; ZF=1 ...
    stc                                 ; ... CF=1
    rep movsb
    CHECKF F_CF | F_ZF, F_CF | F_ZF, "rep movsb ECX=0: flags"
    CHECK esi, arena + 5, "rep movsb ECX=0: ESI"
    CHECK edi, arena + DST + 5, "rep movsb ECX=0: EDI"
    mov eax, 0x11223344
    rep stosd
    CHECK edi, arena + DST + 5, "rep stosd ECX=0: EDI"
    xor eax, eax
    stc
    repe cmpsb                          ; would clear ZF and CF: PAT(5) != 0xCC
    CHECKF F_CF | F_ZF, F_CF | F_ZF, "repe cmpsb ECX=0: flags"
    CHECK esi, arena + 5, "repe cmpsb ECX=0: ESI"
    CHECK edi, arena + DST + 5, "repe cmpsb ECX=0: EDI"
    CHECK ecx, 0, "repe cmpsb ECX=0: ECX"
    xor eax, eax
    stc
    repne scasb
    CHECKF F_CF | F_ZF, F_CF | F_ZF, "repne scasb ECX=0: flags"
    CHECK edi, arena + DST + 5, "repne scasb ECX=0: EDI"
    ARENA_OK "ECX=0"
    ret

; ---------------------------------------------------------------- overlap

; Overlapping copies must behave element by element, not like memmove.
test_overlap:
    call arena_reset                    ; forward, dst = src + 1: smears the first byte
    cld
    mov esi, arena + 0
    mov edi, arena + 1
    mov ecx, 20
    rep movsb
    REF_COPY 0, 1, 20, 1, 1
    ARENA_OK "overlap rep movsb +1"
    movzx eax, byte [arena + 20]
    CHECK eax, PAT(0), "overlap rep movsb +1: last byte is the first"

    call arena_reset                    ; forward dwords overlapping by two bytes
    mov esi, arena + 100
    mov edi, arena + 102
    mov ecx, 6
    rep movsd
    CHECK esi, arena + 124, "overlap rep movsd +2: ESI"
    REF_COPY 100, 102, 6, 4, 4
    ARENA_OK "overlap rep movsd +2"

    call arena_reset                    ; backward, dst = src + 1: a correct shift up
    std
    mov esi, arena + 320
    mov edi, arena + 321
    mov ecx, 20
    rep movsb
    cld
    REF_COPY 320, 321, 20, 1, -1
    ARENA_OK "overlap std; rep movsb +1"
    movzx eax, byte [arena + 321]
    CHECK eax, PAT(320), "overlap std; rep movsb +1: top byte"
    movzx eax, byte [arena + 302]
    CHECK eax, PAT(301), "overlap std; rep movsb +1: bottom byte"

    call arena_reset                    ; backward, dst = src - 1: smears the top byte down
    std
    mov esi, arena + 421
    mov edi, arena + 420
    mov ecx, 20
    rep movsb
    cld
    REF_COPY 421, 420, 20, 1, -1
    ARENA_OK "overlap std; rep movsb -1"
    movzx eax, byte [arena + 401]
    CHECK eax, PAT(421), "overlap std; rep movsb -1: bottom byte"
    ret

; ---------------------------------------------------------------- STOS, LODS

test_stos_lods:
    call arena_reset
    cld
    mov eax, 0x1234565A
    mov edi, arena + DST + 8
    mov ecx, 17
    rep stosb
    CHECK edi, arena + DST + 25, "rep stosb: EDI"
    CHECK ecx, 0, "rep stosb: ECX"
    CHECK eax, 0x1234565A, "rep stosb: EAX untouched"
    REF_FILL DST + 8, 17, 1, 1, 0x1234565A

    mov eax, 0xBEEF
    mov edi, arena + DST + 89
    mov ecx, 5
    rep stosw
    CHECK edi, arena + DST + 99, "rep stosw: EDI"
    REF_FILL DST + 89, 5, 2, 2, 0xBEEF

    std
    mov eax, 0xDEADBEEF
    mov edi, arena + DST + 188
    mov ecx, 3
    rep stosd
    cld
    CHECK edi, arena + DST + 176, "std; rep stosd: EDI"
    REF_FILL DST + 188, 3, 4, -4, 0xDEADBEEF
    ARENA_OK "rep stos"

    mov eax, 0xAABBCCDD                 ; LODSB replaces AL only
    mov esi, arena + 4
    lodsb
    CHECK eax, 0xAABBCC00 | PAT(4), "lodsb: EAX"
    CHECK esi, arena + 5, "lodsb: ESI"

    std
    mov eax, 0x11223344
    mov esi, arena + 10
    lodsw
    cld
    CHECK eax, 0x11220000 | PATW(10), "std; lodsw: EAX"
    CHECK esi, arena + 8, "std; lodsw: ESI"

    mov esi, arena + 21
    lodsd
    CHECK eax, PATD(21), "lodsd: EAX"
    CHECK esi, arena + 25, "lodsd: ESI"

    mov eax, 0xFFFFFFFF
    mov esi, arena + 30
    mov ecx, 3
    rep lodsb                           ; legal if pointless: AL ends with the last byte
    CHECK eax, 0xFFFFFF00 | PAT(32), "rep lodsb: EAX"
    CHECK esi, arena + 33, "rep lodsb: ESI"
    CHECK ecx, 0, "rep lodsb: ECX"
    ret

; ---------------------------------------------------------------- CMPS

; cmps_setup: arena[DST..DST+63] = arena[0..63], so the two halves compare equal.
cmps_setup:
    call arena_reset
    pushad
    mov esi, arena
    mov edi, arena + DST
    mov ecx, 64
    mov edx, 1
    mov ebx, 1
    call ref_copy
    popad
    ret

test_cmps:
    call cmps_setup                     ; first difference at index 5, src < dst
    mov byte [arena + DST + 5], PAT(5) + 1
    cld
    mov esi, arena
    mov edi, arena + DST
    mov ecx, 10
    repe cmpsb
    CHECKF F_ZF | F_CF | F_SF, F_CF | F_SF, "repe cmpsb: flags of the differing byte"
    CHECK ecx, 4, "repe cmpsb: ECX"
    CHECK esi, arena + 6, "repe cmpsb: ESI"
    CHECK edi, arena + DST + 6, "repe cmpsb: EDI"

    mov esi, arena                      ; all equal: runs out of ECX with ZF=1
    mov edi, arena + DST
    mov ecx, 5
    repe cmpsb
    CHECKF F_ZF | F_CF, F_ZF, "repe cmpsb equal: flags"
    CHECK ecx, 0, "repe cmpsb equal: ECX"
    CHECK esi, arena + 5, "repe cmpsb equal: ESI"

    call cmps_setup                     ; shifted by one: all differ but index 3
    mov byte [arena + DST + 1 + 3], PAT(3)
    mov esi, arena
    mov edi, arena + DST + 1
    mov ecx, 10
    repne cmpsb
    CHECKF F_ZF, F_ZF, "repne cmpsb: ZF"
    CHECK ecx, 6, "repne cmpsb: ECX"
    CHECK esi, arena + 4, "repne cmpsb: ESI"
    CHECK edi, arena + DST + 5, "repne cmpsb: EDI"

    call cmps_setup                     ; dwords, downwards; dst dword at 8 is 0x100 smaller
    mov byte [arena + DST + 9], PAT(9) - 1
    std
    mov esi, arena + 28
    mov edi, arena + DST + 28
    mov ecx, 10
    repe cmpsd
    cld
    CHECKF F_ZF | F_CF, 0, "std; repe cmpsd: flags"
    CHECK ecx, 4, "std; repe cmpsd: ECX"
    CHECK esi, arena + 4, "std; repe cmpsd: ESI"
    CHECK edi, arena + DST + 4, "std; repe cmpsd: EDI"

    mov word [arena], 1                 ; CMPS computes [ESI] - [EDI]: 1 - 2
    mov word [arena + DST], 2
    mov esi, arena
    mov edi, arena + DST
    cmpsw
    CHECKF F_ZF | F_CF | F_SF | F_OF, F_CF | F_SF, "cmpsw 1 - 2: flags"
    CHECK esi, arena + 2, "cmpsw: ESI"
    CHECK edi, arena + DST + 2, "cmpsw: EDI"
    ret

; ---------------------------------------------------------------- SCAS

test_scas:
    call arena_reset
    cld
    mov eax, 0x12345600 | PAT(7)
    mov edi, arena
    mov ecx, 20
    repne scasb
    CHECKF F_ZF, F_ZF, "repne scasb found: ZF"
    CHECK ecx, 12, "repne scasb found: ECX"
    CHECK edi, arena + 8, "repne scasb found: EDI"
    CHECK eax, 0x12345600 | PAT(7), "repne scasb: EAX untouched"

    mov eax, PAT(50)                    ; beyond the 20 bytes searched
    mov edi, arena
    mov ecx, 20
    repne scasb
    CHECKF F_ZF, 0, "repne scasb not found: ZF"
    CHECK ecx, 0, "repne scasb not found: ECX"
    CHECK edi, arena + 20, "repne scasb not found: EDI"

    mov dword [arena + DST], 0x12345678
    mov dword [arena + DST + 4], 0x12345678
    mov dword [arena + DST + 8], 0x12345678
    mov dword [arena + DST + 12], 0x12345679
    mov eax, 0x12345678
    mov edi, arena + DST
    mov ecx, 10
    repe scasd                          ; EAX - [EDI] = -1 at the fourth
    CHECKF F_ZF | F_CF, F_CF, "repe scasd: flags"
    CHECK ecx, 6, "repe scasd: ECX"
    CHECK edi, arena + DST + 16, "repe scasd: EDI"

    xor ecx, ecx                        ; words 0..9 at DST+100, searched from the top
.fill:
    mov [arena + DST + 100 + ecx * 2], cx
    inc ecx
    cmp ecx, 10
    jb .fill
    std
    mov eax, 0xFFFF0003
    mov edi, arena + DST + 118
    mov ecx, 10
    repne scasw
    cld
    CHECKF F_ZF, F_ZF, "std; repne scasw: ZF"
    CHECK ecx, 3, "std; repne scasw: ECX"
    CHECK edi, arena + DST + 104, "std; repne scasw: EDI"
    ret

; ---------------------------------------------------------------- 16-bit addressing

; With an address-size prefix the instruction uses SI, DI and CX: the upper halves of ESI,
; EDI and ECX stay as they were and the offsets wrap at 64 KiB. Uses low memory, which
; nothing else in this guest touches.
%define LOW_SRC 0x7000
%define LOW_DST 0x7100
test_addr16:
    xor ecx, ecx
.fill:
    lea eax, [ecx * 8 + 0x41]
    mov [LOW_SRC + ecx], al
    mov byte [LOW_DST + ecx], 0
    inc ecx
    cmp ecx, 8
    jb .fill
    cld
    mov esi, 0xDEAD0000 | LOW_SRC
    mov edi, 0xBEEF0000 | LOW_DST
    mov ecx, 0x12340005
    a16 rep movsb
    CHECK esi, 0xDEAD0000 | (LOW_SRC + 5), "a16 rep movsb: ESI"
    CHECK edi, 0xBEEF0000 | (LOW_DST + 5), "a16 rep movsb: EDI"
    CHECK ecx, 0x12340000, "a16 rep movsb: ECX"
    MEMCHECK LOW_DST, LOW_SRC, 5, "a16 rep movsb: copied bytes"
    movzx eax, byte [LOW_DST + 5]
    CHECK eax, 0, "a16 rep movsb: no sixth byte"

    ; SI wraps from 0xFFFF to 0: the bytes come from 0xFFFE, 0xFFFF, 0, 1.
    mov al, [0xFFFE]
    mov [wrap_expect + 0], al
    mov al, [0xFFFF]
    mov [wrap_expect + 1], al
    mov al, [0]
    mov [wrap_expect + 2], al
    mov al, [1]
    mov [wrap_expect + 3], al
    mov esi, 0x0000FFFE
    mov edi, LOW_DST + 0x80
    mov ecx, 4
    a16 rep movsb
    CHECK esi, 2, "a16 rep movsb wrap: ESI"
    CHECK edi, LOW_DST + 0x84, "a16 rep movsb wrap: EDI"
    MEMCHECK LOW_DST + 0x80, wrap_expect, 4, "a16 rep movsb wrap: bytes"
    ret

section .bss
wrap_expect: resb 4
section .text

; ---------------------------------------------------------------- segment override

; FS has base 16. An override changes where the source is read; the destination is always
; ES:EDI whatever the prefix says.
test_segment_override:
    call arena_reset
    cld
    mov ax, SEL_DATA_OFS16
    mov fs, ax
    mov esi, arena
    fs lodsd
    CHECK eax, PATD(16), "fs lodsd: EAX from FS base + ESI"
    CHECK esi, arena + 4, "fs lodsd: ESI"

    mov al, 0x77
    mov edi, arena + DST
    fs stosb
    CHECK edi, arena + DST + 1, "fs stosb: EDI"
    REF_FILL DST, 1, 1, 1, 0x77

    mov esi, arena + 0
    mov edi, arena + DST + 100
    fs movsb
    REF_COPY 16, DST + 100, 1, 1, 1
    ARENA_OK "fs stosb, fs movsb"

    mov ax, SEL_DATA
    mov fs, ax
    ret
