; exc_vectors: every exception vector the CPU raises, with its error code and pushed EIP.
;
; #DE (DIV, IDIV overflow), #DB (EFLAGS.TF single-step traps and what they skip: the
; instruction that sets TF and INT n; an instruction breakpoint in DR0 as a fault that RF
; lets through; write and read/write data breakpoints as traps; ICEBP; DR6 bits), #BP,
; #OF (INTO taken and not), #BR, #UD (UD2, LOCK on a non-lockable instruction), #NM (x87
; with CR0.TS), #DF (a #GP whose gate is not present), #NP (INT through a not-present gate),
; #SS (SS load of a not-present segment; an SS-relative access past the limit), #GP (RDMSR of
; an unknown MSR, a far JMP to the null selector, a write to a code segment, a limit, accesses
; in flat segments whose last byte would pass 4 GiB), #AC (CR0.AM + EFLAGS.AC,
; misaligned at CPL 3). Faults push the EIP of the faulting instruction, traps that of the
; next one (SDM vol. 3 ch. 6.15). QEMU 7.2 does not check segment limits or alignment, builds
; ICEBP as #UD and reads unknown MSRs as 0: its run is given "no-seglimit no-ac no-icebp
; no-msrgp" and skips those checks (the guest prints which).

%define GDT2_ENTRIES 12
%include "guest.inc"
%include "pm_common.inc"

%define S_SMALL     0x38                ; data, base 0x60000, limit 0xfff
%define S_NPSTACK   0x40                ; writable data, not present
%define S_CODE_RO   0x48                ; flat code (not writable)

section .bss
db_count:       resd 1
db_eips:        resd 16
db_dr6s:        resd 16
bp_var:         resd 2
bound_pair:     resd 2
saved_gate:     resq 1
skip_seg:       resd 1
skip_ac:        resd 1
skip_icebp:     resd 1
skip_msr:       resd 1
gdt2:           resq GDT2_ENTRIES

section .rodata
str_no_seg:     db "no-seglimit", 0
str_no_ac:      db "no-ac", 0
str_no_icebp:   db "no-icebp", 0
str_no_msr:     db "no-msrgp", 0

section .text

main:
    call pm_basic_setup
    mov esi, str_no_seg
    call cmdline_has
    mov [skip_seg], eax
    mov esi, str_no_ac
    call cmdline_has
    mov [skip_ac], eax
    mov esi, str_no_icebp
    call cmdline_has
    mov [skip_icebp], eax
    mov esi, str_no_msr
    call cmdline_has
    mov [skip_msr], eax
    mov edi, S_SMALL
    mov ebx, 0x60000
    mov ecx, 0xfff
    mov ax, 0x492                       ; byte granular, 32-bit
    call set_seg
    mov edi, S_NPSTACK
    mov ebx, 0
    mov ecx, 0xfffff
    mov ax, 0xc12                       ; P = 0
    call set_seg
    mov edi, S_CODE_RO
    mov ax, 0xc9a
    call set_seg
    call test_de
    call test_single_step
    call test_breakpoints
    call test_bp_of_br_ud
    call test_nm
    call test_df
    call test_np_ss
    call test_gp
    call test_ac
    FINISH "exc_vectors"

; ---------------------------------------------------------------- #DE

test_de:
    TRY .de
    xor ecx, ecx
    mov eax, 7
.de_insn:
    div ecx
.de:
    CHECK dword [got_vec], 0, "#DE: vector"
    CHECK dword [got_eip], .de_insn, "#DE: EIP of the DIV (a fault)"
    TRY .de2
    mov eax, 0x80000000
    mov edx, 0xffffffff                 ; EDX:EAX = -2^31
    mov ecx, -1
.de2_insn:
    idiv ecx                            ; +2^31 does not fit
.de2:
    CHECK dword [got_vec], 0, "#DE: IDIV overflow"
    CHECK dword [got_eip], .de2_insn, "#DE: IDIV overflow EIP"
    ret

; ---------------------------------------------------------------- #DB: single step

; the #DB handler for traps and faults: records DR6 and the pushed EIP, clears DR6, sets RF
; in the pushed EFLAGS (so a breakpoint fault does not repeat) and returns
db_handler:
    push eax
    push ebx
    mov ebx, [db_count]
    and ebx, 15
    mov eax, [esp + 8]
    mov [db_eips + ebx * 4], eax
    mov eax, dr6
    mov [db_dr6s + ebx * 4], eax
    inc dword [db_count]
    xor eax, eax
    mov dr6, eax
    or dword [esp + 16], 0x10000        ; RF
    pop ebx
    pop eax
    iret

int31_handler:
    iret

test_single_step:
    mov eax, 1
    mov edx, db_handler
    call idt_set
    mov eax, 0x31
    mov edx, int31_handler
    call idt_set
    xor eax, eax
    mov dr6, eax
    mov dword [db_count], 0
    pushfd
    or dword [esp], 0x100
    popfd                               ; sets TF: no trap after this one
    nop
.s1:
    mov eax, 1
.s2:
    int 0x31                            ; its handler runs with TF clear; no trap after INT
    nop
.s3:
    pushfd
.s4:
    and dword [esp], ~0x100
.s5:
    popfd                               ; clears TF: TF was set as it began, so it traps
.s6:
    nop
    CHECK dword [db_count], 6, "single step: one trap per instruction"
    CHECK dword [db_eips], .s1, "single step: EIP after the first instruction"
    CHECK dword [db_eips + 4], .s2, "single step: after MOV"
    CHECK dword [db_eips + 8], .s3, "single step: none after INT, one after the next insn"
    CHECK dword [db_eips + 12], .s4, "single step: after PUSHFD"
    CHECK dword [db_eips + 16], .s5, "single step: after AND"
    CHECK dword [db_eips + 20], .s6, "single step: after the POPFD that cleared TF"
    mov eax, [db_dr6s]
    and eax, 0x4000
    CHECK eax, 0x4000, "single step: DR6.BS"
    ret

; ---------------------------------------------------------------- #DB: breakpoints

test_breakpoints:
    ; an instruction breakpoint: a fault before the instruction, RF lets it run
    mov dword [db_count], 0
    mov eax, .bp_here
    mov dr0, eax
    mov eax, 0x00000001                 ; L0, execute, length 1
    mov dr7, eax
    xor ebx, ebx
    nop
.bp_here:
    mov ebx, 0x1234
    xor eax, eax
    mov dr7, eax
    CHECK ebx, 0x1234, "instruction breakpoint: the instruction ran after the #DB"
    CHECK dword [db_count], 1, "instruction breakpoint: one #DB (RF)"
    CHECK dword [db_eips], .bp_here, "instruction breakpoint: EIP of the instruction (fault)"
    mov eax, [db_dr6s]
    and eax, 0x400f
    CHECK eax, 1, "instruction breakpoint: DR6.B0"
    ; a write breakpoint on a dword: a trap after the writing instruction
    mov dword [db_count], 0
    mov eax, bp_var
    mov dr1, eax
    mov eax, (1 << 2) | (1 << 20) | (3 << 22) ; L1, write, 4 bytes
    mov dr7, eax
    mov eax, [bp_var]                   ; a read: no trap
    mov dword [bp_var + 4], 1           ; next to it: no trap
    mov byte [bp_var + 2], 9            ; inside: trap
.w_after:
    nop
    xor eax, eax
    mov dr7, eax
    CHECK dword [db_count], 1, "write breakpoint: one trap"
    CHECK dword [db_eips], .w_after, "write breakpoint: EIP after the write (trap)"
    mov eax, [db_dr6s]
    and eax, 0xf
    CHECK eax, 2, "write breakpoint: DR6.B1"
    ; a read/write breakpoint, hit by a read
    mov dword [db_count], 0
    mov eax, (1 << 6) | (3 << 28) | (1 << 30) ; L3, read/write, 2 bytes
    mov dr7, eax
    mov eax, bp_var + 4
    mov dr3, eax
    mov eax, [bp_var]                   ; not covered
    mov ax, [bp_var + 4]
.r_after:
    xor eax, eax
    mov dr7, eax
    CHECK dword [db_count], 1, "read/write breakpoint: one trap on a read"
    CHECK dword [db_eips], .r_after, "read/write breakpoint: EIP after the read"
    mov eax, [db_dr6s]
    and eax, 0xf
    CHECK eax, 8, "read/write breakpoint: DR6.B3"
    ; ICEBP (INT1): a trap-like #DB (QEMU 7.2 builds it as #UD: "no-icebp" skips it)
    cmp dword [skip_icebp], 0
    jne .no_ice
    mov dword [db_count], 0
    db 0xf1
.ice_after:
    CHECK dword [db_count], 1, "ICEBP: #DB"
    CHECK dword [db_eips], .ice_after, "ICEBP: EIP after it"
.no_ice:
    mov eax, 1
    mov edx, ds_stub_1
    call idt_set
    ret

; ---------------------------------------------------------------- #BP #OF #BR #UD

test_bp_of_br_ud:
    TRY .bp
    int3
.bp:
    EXPECT_EXC 3, 0, .bp, "#BP: trap, EIP after INT3"
    TRY .of
    mov al, 0x7f
    add al, 1                           ; OF = 1
    into
.of:
    EXPECT_EXC 4, 0, .of, "#OF: trap, EIP after INTO"
    TRY .no_of
    xor eax, eax                        ; OF = 0
    into
    mov dword [got_vec], 0x44
.no_of:
    CHECK dword [got_vec], 0x44, "INTO with OF clear: no #OF"
    TRY .br
    mov dword [bound_pair], 10
    mov dword [bound_pair + 4], 20
    mov eax, 21
.br_insn:
    bound eax, [bound_pair]
.br:
    EXPECT_EXC 5, 0, .br_insn, "#BR: fault, EIP of BOUND"
    TRY .br_ok
    mov eax, 20
    bound eax, [bound_pair]
    mov dword [got_vec], 0x55
.br_ok:
    CHECK dword [got_vec], 0x55, "BOUND in range: no #BR"
    TRY .ud
.ud_insn:
    ud2
.ud:
    EXPECT_EXC 6, 0, .ud_insn, "#UD: UD2"
    TRY .ud2
.ud2_insn:
    db 0xf0, 0x90                       ; lock nop
.ud2:
    EXPECT_EXC 6, 0, .ud2_insn, "#UD: LOCK NOP"
    ret

; ---------------------------------------------------------------- #NM

test_nm:
    mov eax, cr0
    or eax, 8                           ; TS
    mov cr0, eax
    TRY .nm
.nm_insn:
    fninit
.nm:
    EXPECT_EXC 7, 0, .nm_insn, "#NM: x87 instruction with CR0.TS"
    clts
    ret

; ---------------------------------------------------------------- #DF

test_df:
    mov eax, [idt + 13 * 8]
    mov [saved_gate], eax
    mov eax, [idt + 13 * 8 + 4]
    mov [saved_gate + 4], eax
    and byte [idt + 13 * 8 + 5], 0x7f   ; #GP's gate not present
    TRY .df
    mov ax, GDT2_ENTRIES * 8
    mov fs, ax                          ; #GP, then #NP delivering it: #DF
.df:
    mov eax, [saved_gate]
    mov [idt + 13 * 8], eax
    mov eax, [saved_gate + 4]
    mov [idt + 13 * 8 + 4], eax
    CHECK dword [got_vec], 8, "#DF: #NP while delivering #GP"
    CHECK dword [got_err], 0, "#DF: error code 0"
    ret

; ---------------------------------------------------------------- #NP #SS

test_np_ss:
    mov eax, 0x32
    mov edx, int31_handler
    call idt_set
    and byte [idt + 0x32 * 8 + 5], 0x7f
    TRY .np
.np_insn:
    int 0x32
.np:
    EXPECT_EXC 11, 0x32 * 8 + 2, .np_insn, "#NP: INT n through a not-present gate"
    TRY .ss_np
    mov ax, S_NPSTACK
.ss_np_insn:
    mov ss, ax
.ss_np:
    EXPECT_EXC 12, S_NPSTACK, .ss_np_insn, "#SS: SS load of a not-present segment"
    cmp dword [skip_seg], 0
    jne .skip
    ; an SS-relative access past SS's limit (the frame still fits below ESP)
    mov ebx, esp
    mov ax, S_SMALL
    mov ss, ax
    mov esp, 0x800
    TRY .ss_lim
.ss_lim_insn:
    mov eax, [ss:0x1000]
.ss_lim:
    mov ax, PM_DATA0
    mov ss, ax
    mov esp, ebx
    EXPECT_EXC 12, 0, .ss_lim_insn, "#SS(0): access past SS's limit"
    ret
.skip:
    PRINT `#SS past the limit: not checked (no-seglimit)\n`
    ret

; ---------------------------------------------------------------- #GP

test_gp:
    cmp dword [skip_msr], 0             ; QEMU 7.2 reads unknown MSRs as 0: "no-msrgp"
    jne .no_msr
    TRY .msr
    mov ecx, 0x12345678
.msr_insn:
    rdmsr
.msr:
    EXPECT_EXC 13, 0, .msr_insn, "#GP(0): RDMSR of an unknown MSR"
.no_msr:
    TRY .nullcs
.nullcs_insn:
    jmp 0:.nullcs                       ; a null code selector
.nullcs:
    EXPECT_EXC 13, 0, .nullcs_insn, "#GP(0): far JMP to the null selector"
    cmp dword [skip_seg], 0
    jne .skip
    TRY .cs
.cs_insn:
    mov [cs:bp_var], eax
.cs:
    EXPECT_EXC 13, 0, .cs_insn, "#GP(0): write through a code segment"
    TRY .lim
    mov ax, S_SMALL
    mov fs, ax
.lim_insn:
    mov eax, [fs:0xffe]                 ; bytes 0xffe..0x1001: past the limit
.lim:
    EXPECT_EXC 13, 0, .lim_insn, "#GP(0): access past a data segment's limit"
    ; flat DS and SS (base 0, limit 4 GiB): an access whose last byte would pass 4 GiB is past
    ; the limit, although its first byte is on a page just read (and so in the TLB)
    mov eax, [0xfffffffc]               ; the last dword below 4 GiB is inside the limit
    TRY .wrap_ld
.wrap_ld_insn:
    mov eax, [0xfffffffe]
.wrap_ld:
    EXPECT_EXC 13, 0, .wrap_ld_insn, "#GP(0): flat DS, a dword load at 0xfffffffe"
    TRY .wrap_st
.wrap_st_insn:
    mov [0xffffffff], ax
.wrap_st:
    EXPECT_EXC 13, 0, .wrap_st_insn, "#GP(0): flat DS, a word store at 0xffffffff"
    TRY .wrap_ss
.wrap_ss_insn:
    mov eax, [ss:0xfffffffd]
.wrap_ss:
    EXPECT_EXC 12, 0, .wrap_ss_insn, "#SS(0): flat SS, a dword load at 0xfffffffd"
    ret
.skip:
    PRINT `#GP for segment limits: not checked (no-seglimit)\n`
    ret

; ---------------------------------------------------------------- #AC

test_ac:
    cmp dword [skip_ac], 0
    jne .skip
    mov eax, cr0
    or eax, 1 << 18                     ; AM
    mov cr0, eax
    mov eax, [0x70001]                  ; CPL 0: never checked
    TRY .ac
    mov eax, r3_misaligned
    mov edx, 0x40002                    ; AC
    call run_ring3
.ac:
    EXPECT_EXC 17, 0, r3_misaligned.insn, "#AC(0): misaligned dword at CPL 3"
    mov eax, r3_misaligned
    mov edx, 0x00002                    ; AC clear: no check
    call run_ring3
    CHECK dword [r3_val], 0xac, "no #AC with EFLAGS.AC clear"
    mov eax, r3_aligned
    mov edx, 0x40002
    call run_ring3
    CHECK dword [r3_val], 0xa1, "no #AC for aligned accesses"
    mov eax, cr0
    and eax, ~(1 << 18)
    mov cr0, eax
    ret
.skip:
    PRINT `#AC: not checked (no-ac)\n`
    ret

r3_misaligned:
    mov ax, [ss:0x70002]                ; 2-aligned word: fine
.insn:
    mov eax, [ss:0x70002]               ; dword at 2 mod 4
    mov eax, 0xac
    int 0x30
r3_aligned:
    mov eax, [ss:0x70004]
    mov ax, [ss:0x70006]
    mov al, [ss:0x70003]
    mov eax, 0xa1
    int 0x30
