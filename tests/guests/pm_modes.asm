; pm_modes: protected-mode transitions and privilege rules.
;
; From the multiboot state (32-bit protected mode, ring 0): down to 16-bit protected mode and
; real mode (CR0.PE cleared, a far jump reloads CS), an interrupt through the real-mode IVT,
; back to protected mode; then ring 3 entered with IRET, and back to ring 0 through a 32-bit
; call gate that copies parameters (and a far RET with an immediate to the outer level, which
; nulls the data segments ring 3 may not use), a 16-bit call gate, a DPL-3 interrupt gate,
; conforming code, an LDT; the privilege checks (#GP with the error codes of the SDM for
; privileged instructions, segment loads, a DPL-0 gate, the I/O permission bitmap); and
; LAR/LSL/VERR/VERW/ARPL/SLDT/STR/LLDT/LTR/SMSW/LMSW. Expected values are worked out from the
; SDM's rules by hand.

%include "guest.inc"

; selectors of our own GDT
%define S_CODE0     0x08                ; the selectors guest.inc's IDT uses stay the same
%define S_DATA0     0x10
%define S_CODE16    0x30                ; base 0x10000, 64 KiB: the real-mode trampoline
%define S_DATA16    0x38                ; base 0, 64 KiB: real-mode-like data limits
%define S_TSS       0x40
%define S_GATE32    0x48                ; call gate, 32-bit, DPL 3, 2 parameters
%define S_GATE16    0x50                ; call gate, 16-bit, DPL 3, 1 parameter
%define S_CODE16G   0x58                ; 16-bit code for the 16-bit gate
%define S_CONF0     0x60                ; conforming code, DPL 0
%define S_LDT       0x68
%define S_NOTPRES   0x70                ; data, not present
%define S_DATA1     0x78                ; data, DPL 1
%define GDT_ENTRIES 16
%define GDT2_ENTRIES GDT_ENTRIES

%define RM_BASE     0x10000             ; the trampoline's copy (segment 0x1000)
%define RM_SEG      0x1000
%define LDT_BASE    0x12340             ; base of the LDT's data segment

%include "pm_common.inc"

section .bss
alignb 8
gdt2:           resq GDT_ENTRIES
ldt:            resq 2
alignb 16
tss:            resb 104
iomap:          resb 2048               ; bitmap for ports 0..0x3fff (the rest: past the limit)
tss_end:
gframe:         resd 8                  ; the same for the call gates
pm_esp:         resd 1

section .data
gdt2_desc:
    dw GDT_ENTRIES * 8 - 1
    dd gdt2
rm_idt_saved:
    dw 0
    dd 0

section .text

main:
    mov dword [exc_hook], catcher
    call install_ds_stubs
    call build_gdt
    lgdt [gdt2_desc]
    jmp S_CODE0:.reload
.reload:
    mov ax, S_DATA0
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    mov ss, ax
    mov ax, S_TSS
    ltr ax
    call test_real_mode
    call test_ring3
    call test_gates
    call test_privilege
    call test_descriptor_insns
    mov dword [exc_hook], 0
    FINISH "pm_modes"

build_gdt:
    pushad
    mov edi, S_CODE0
    xor ebx, ebx
    mov ecx, 0xfffff
    mov ax, 0xc9a                       ; P DPL0 code exec/read, G D
    call set_seg
    mov edi, S_DATA0
    mov ax, 0xc92
    call set_seg
    mov edi, PM_CODE3
    mov ax, 0xcfa                       ; DPL 3
    call set_seg
    mov edi, PM_DATA3
    mov ax, 0xcf2
    call set_seg
    mov edi, S_CONF0
    mov ax, 0xc9e                       ; conforming, readable
    call set_seg
    mov edi, S_DATA1
    mov ax, 0xcb2                       ; DPL 1
    call set_seg
    mov edi, S_NOTPRES
    mov ax, 0xc12                       ; P = 0
    call set_seg
    mov edi, S_DATA16
    mov ecx, 0xffff
    mov ax, 0x092                       ; byte granular, 16-bit
    call set_seg
    mov edi, S_CODE16
    mov ebx, RM_BASE
    mov ax, 0x09a
    call set_seg
    mov edi, S_CODE16G                  ; base: the 64 KiB block holding gate16_target
    mov ebx, gate16_target
    and ebx, ~0xffff
    mov ax, 0x09a
    call set_seg
    mov edi, S_TSS                      ; 32-bit TSS with an I/O bitmap
    mov ebx, tss
    mov ecx, tss_end - tss - 1
    mov ax, 0x089
    call set_seg
    mov edi, S_LDT
    mov ebx, ldt
    mov ecx, 15
    mov ax, 0x082
    call set_seg
    ; the LDT: entry 0 data DPL 3 at LDT_BASE, entry 1 code DPL 0
    mov dword [ldt], 0x2340ffff
    mov dword [ldt + 4], 0x00cff201     ; base 0x012340
    mov dword [ldt + 8], 0x0000ffff
    mov dword [ldt + 12], 0x00cf9a00
    ; call gates
    mov edi, S_GATE32
    mov ebx, gate32_target
    mov ecx, S_CODE0
    mov ax, 0x02ec                      ; P DPL3 type 12, 2 parameters
    call set_gate
    mov edi, S_GATE16
    mov ebx, gate16_target
    and ebx, 0xffff
    mov ecx, S_CODE16G
    mov ax, 0x01e4                      ; P DPL3 type 4, 1 parameter
    call set_gate
    ; the TSS: ring-0 stack, I/O bitmap after the 104 bytes; ports 0x80 allowed, 0x81 not
    mov dword [tss + 4], R0_STACK
    mov dword [tss + 8], S_DATA0
    mov word [tss + 102], iomap - tss
    mov edi, iomap
    mov ecx, (tss_end - iomap) / 4
    mov eax, 0xffffffff
    rep stosd
    and byte [iomap + 0x80 / 8], 0xfe   ; port 0x80
    ; INT 0x30: back from ring 3 (DPL 3 interrupt gate); INT 0x31: DPL 0
    mov eax, 0x30
    mov edx, r3_return
    mov cl, 0xee
    call set_idt_gate
    mov eax, 0x31
    mov edx, r3_return
    mov cl, 0x8e
    call set_idt_gate
    popad
    ret

; ---------------------------------------------------------------- real mode and back

test_real_mode:
    pushad
    mov esi, rm_start
    mov edi, RM_BASE
    mov ecx, rm_end - rm_start
    rep movsb
    sidt [rm_idt_saved]
    mov [pm_esp], esp
    jmp S_CODE16:(rm_entry - rm_start)
.back:
    ; what the real-mode part left at RM_BASE + rm_results
    CHECK dword [RM_BASE + rm_r_pe - rm_start], 0, "real mode: CR0.PE clear"
    CHECK dword [RM_BASE + rm_r_lin - rm_start], 0x5a, "real mode: ES:0x10 = linear 0x20010"
    CHECK dword [RM_BASE + rm_r_int - rm_start], 0x600d, "real mode: INT 0x60 through the IVT"
    CHECK dword [RM_BASE + rm_r_ret - rm_start], 0x1234, "real mode: IRET back"
    CHECK dword [RM_BASE + rm_r_cs - rm_start], RM_SEG, "real mode: CS after the far jump"
    mov eax, cr0
    and eax, 1
    CHECK eax, 1, "protected mode again"
    mov ax, cs
    movzx eax, ax
    CHECK eax, S_CODE0, "protected mode: CS"
    popad
    ret

rm_resume:                              ; 32-bit again, from the trampoline's far jump
    mov ax, S_DATA0
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    mov ss, ax
    mov esp, [pm_esp]
    lidt [rm_idt_saved]
    jmp test_real_mode.back

bits 16
rm_start:
rm_entry:                               ; 16-bit protected mode, CS base RM_BASE
    mov ax, S_DATA16
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov eax, cr0
    and eax, ~1
    mov cr0, eax
    jmp RM_SEG:(.real - rm_start)
.real:
    mov ax, RM_SEG
    mov ds, ax
    mov ss, ax
    mov sp, 0xfff0
    mov ax, cs
    movzx eax, ax
    mov [rm_r_cs - rm_start], eax
    mov eax, cr0
    and eax, 1
    mov [rm_r_pe - rm_start], eax
    mov ax, 0x2000
    mov es, ax
    mov byte [es:0x10], 0x5a
    mov ax, 0x2001
    mov es, ax
    movzx eax, byte [es:0]
    mov [rm_r_lin - rm_start], eax
    xor ax, ax
    mov es, ax
    lidt [rm_ivt - rm_start]
    mov word [es:0x60 * 4], rm_int60 - rm_start
    mov word [es:0x60 * 4 + 2], RM_SEG
    int 0x60
    movzx ebx, bx
    mov [rm_r_ret - rm_start], ebx
    cli
    mov eax, cr0
    or eax, 1
    mov cr0, eax
    jmp dword S_CODE0:rm_resume
rm_int60:
    mov dword [rm_r_int - rm_start], 0x600d
    mov bx, 0x1234
    iret
align 4
rm_ivt:     dw 0x3ff
            dd 0
rm_r_pe:    dd -1
rm_r_lin:   dd -1
rm_r_int:   dd -1
rm_r_ret:   dd -1
rm_r_cs:    dd -1
rm_end:
bits 32

; ---------------------------------------------------------------- ring 3

test_ring3:
    mov eax, .r3
    mov edx, 0x202 & ~0x200             ; IF clear, IOPL 0
    call run_ring3
    CHECK dword [r3_val], 3, "ring 3: CPL from CS"
    CHECK dword [frame + 4], PM_CODE3 | 3, "INT from ring 3: pushed CS"
    CHECK dword [frame], .after_int, "INT from ring 3: pushed EIP"
    CHECK dword [frame + 12], R3_STACK - 4, "INT from ring 3: pushed ESP"
    CHECK dword [frame + 16], PM_DATA3 | 3, "INT from ring 3: pushed SS"
    CHECK dword [frame + 20], R0_STACK - 20, "INT from ring 3: frame on TSS.SS0:ESP0"
    mov eax, [frame + 8]
    and eax, 0x3000
    CHECK eax, 0, "INT from ring 3: pushed IOPL"
    ret
.r3:
    push 0x1111                         ; ESP - 4 must be what the INT pushes
    mov ax, cs
    and eax, 3
    int 0x30
.after_int:
    jmp .after_int

; ---------------------------------------------------------------- call gates

test_gates:
    ; 32-bit gate with 2 parameters, and RETF 8 back to ring 3
    mov eax, .r3_gate32
    mov edx, 0x002
    call run_ring3
    CHECK dword [r3_val], 0x600d, "ring 3 after RETF 8: back"
    CHECK dword [r3_val + 4], R3_STACK, "RETF 8 to ring 3: ESP with parameters popped"
    CHECK dword [r3_val + 8], 0, "RETF to ring 3: DS (DPL 0) nulled"
    CHECK dword [r3_val + 12], PM_DATA3 | 3, "RETF to ring 3: ES (DPL 3) kept"
    CHECK dword [gframe], 0x2222, "gate32: parameter 1 copied"
    CHECK dword [gframe + 4], 0x3333, "gate32: parameter 2 copied"
    CHECK dword [gframe + 8], .gate32_ret, "gate32: pushed EIP"
    CHECK dword [gframe + 12], PM_CODE3 | 3, "gate32: pushed CS"
    CHECK dword [gframe + 16], R3_STACK - 8, "gate32: pushed ESP"
    CHECK dword [gframe + 20], PM_DATA3 | 3, "gate32: pushed SS"
    CHECK dword [gframe + 24], R0_STACK - 24, "gate32: new ESP from the TSS"
    CHECK dword [gframe + 28], S_CODE0, "gate32: CS = the gate's, CPL 0"

    ; 16-bit gate with 1 word parameter, from ring 3
    TRY .g16_done
    mov eax, .r3_gate16
    mov edx, 0x002
    call run_ring3
.g16_done:
    CHECK dword [gframe], 0x4444, "gate16: parameter copied (16 bits)"
    CHECK dword [gframe + 4], PM_CODE3 | 3, "gate16: pushed CS"
    CHECK dword [gframe + 8], (R3_STACK - 2) & 0xffff, "gate16: pushed SP (16 bits)"
    CHECK dword [gframe + 12], PM_DATA3 | 3, "gate16: pushed SS"
    CHECK dword [gframe + 16], (R0_STACK - 10) & 0xffff, "gate16: SP after 5 words"
    CHECK dword [gframe + 20], S_CODE16G, "gate16: CS"

    ; conforming code from ring 3 runs at CPL 3
    mov eax, .r3_conf
    mov edx, 0x002
    call run_ring3
    CHECK dword [r3_val], S_CONF0 | 3, "conforming code: CS.RPL stays 3"
    ret

.r3_gate32:
    mov ax, PM_DATA3 | 3
    mov es, ax
    push 0x2222
    push 0x3333
    call S_GATE32 | 3:0
.gate32_ret:
    mov ebx, esp
    mov cx, ds
    movzx ecx, cx
    mov dx, es
    movzx edx, dx
    mov ax, PM_DATA3 | 3
    mov ds, ax
    mov [r3_val + 4], ebx
    mov [r3_val + 8], ecx
    mov [r3_val + 12], edx
    mov eax, 0x600d
    int 0x30

.r3_gate16:
    push word 0x4444
    call S_GATE16 | 3:0
    jmp $

.r3_conf:
    call S_CONF0 | 3:.conf_fn
    int 0x30
.conf_fn:
    mov ax, cs
    movzx eax, ax
    retf

gate32_target:                          ; ring 0, through S_GATE32
    push eax
    mov ax, S_DATA0
    mov ds, ax
    pop eax
    push eax
    mov eax, [esp + 4 + 8]              ; [esp] ret EIP, CS, then parameters, ESP, SS
    mov [gframe + 4], eax                ; pushed last: the parameter at the caller's [esp]
    mov eax, [esp + 4 + 12]
    mov [gframe], eax
    mov eax, [esp + 4]
    mov [gframe + 8], eax
    mov eax, [esp + 4 + 4]
    mov [gframe + 12], eax
    mov eax, [esp + 4 + 16]
    mov [gframe + 16], eax
    mov eax, [esp + 4 + 20]
    mov [gframe + 20], eax
    lea eax, [esp + 4]
    mov [gframe + 24], eax
    mov ax, cs
    movzx eax, ax
    mov [gframe + 28], eax
    pop eax
    retf 8                              ; DS stays S_DATA0 (DPL 0): nulled on the way out

bits 16
gate16_target:                          ; 16-bit ring-0 code through S_GATE16
    mov ax, S_DATA0
    mov ds, ax
    mov ebp, esp                        ; a 32-bit stack: ESP, not SP
    movzx eax, word [ebp + 4]
    mov [dword gframe], eax              ; the parameter
    movzx eax, word [ebp + 2]
    mov [dword gframe + 4], eax          ; CS
    movzx eax, word [ebp + 6]
    mov [dword gframe + 8], eax          ; SP
    movzx eax, word [ebp + 8]
    mov [dword gframe + 12], eax         ; SS
    movzx eax, sp
    mov [dword gframe + 16], eax
    mov ax, cs
    movzx eax, ax
    mov [dword gframe + 20], eax
    mov ax, S_DATA0
    mov ss, ax
    mov esp, [dword resume_esp]
    jmp dword S_CODE0:test_gates.g16_done
bits 32

; ---------------------------------------------------------------- privilege checks

; R3_EXPECT code, vector, error, "name": run code in ring 3 (IOPL 0), expect an exception
%macro R3_EXPECT 4-5 0
    TRY %%caught
    mov eax, %1
    mov edx, 0x002
    mov ebx, %5                         ; for the code's use
    call run_ring3
%%caught:
    CHECK dword [got_vec], %2, %4
    CHECK dword [got_err], %3, %4
    CHECK dword [got_eip], %1, %4
%endmacro

test_privilege:
    R3_EXPECT r3_cli, 13, 0, "ring 3 CLI (IOPL 0): #GP(0)"
    R3_EXPECT r3_hlt, 13, 0, "ring 3 HLT: #GP(0)"
    R3_EXPECT r3_movcr, 13, 0, "ring 3 MOV CR3: #GP(0)"
    R3_EXPECT r3_lds0, 13, S_DATA0, "ring 3 loads a DPL-0 data segment: #GP(sel)", S_DATA0
    R3_EXPECT r3_lss, 13, PM_DATA3, "ring 3 loads SS with RPL 0: #GP(sel)", PM_DATA3
    R3_EXPECT r3_int31, 13, 0x31 * 8 + 2, "ring 3 INT through a DPL-0 gate: #GP(vec*8+2)"
    R3_EXPECT r3_out81, 13, 0, "ring 3 IN from a port the bitmap denies: #GP(0)"
    R3_EXPECT r3_lgdt, 13, 0, "ring 3 LGDT: #GP(0)"
    R3_EXPECT r3_callcode0, 13, S_CODE0, "ring 3 far call to DPL-0 code: #GP(sel)"
    R3_EXPECT r3_ltr, 13, 0, "ring 3 LTR: #GP(0)"
    ; the bitmap allows port 0x80
    mov eax, r3_in80
    mov edx, 0x002
    call run_ring3
    CHECK dword [r3_val], 0x80, "ring 3 IN from a port the bitmap allows"
    ; IOPL 3 lets ring 3 CLI/STI
    mov eax, r3_cli_iopl3
    mov edx, 0x3002
    call run_ring3
    CHECK dword [r3_val], 0xc1, "ring 3 CLI with IOPL 3"
    ; ring 0 segment loads: #NP for a not-present segment, #GP past the GDT limit
    TRY .np
    mov ax, S_NOTPRES
    mov ds, ax
.np:
    mov ax, S_DATA0
    mov ds, ax
    CHECK dword [got_vec], 11, "not-present data segment: #NP"
    CHECK dword [got_err], S_NOTPRES, "not-present data segment: error code"
    TRY .lim
    mov ax, GDT_ENTRIES * 8 + 3
    mov es, ax
.lim:
    CHECK dword [got_vec], 13, "selector past the GDT limit: #GP"
    CHECK dword [got_err], GDT_ENTRIES * 8, "selector past the GDT limit: error code"
    TRY .ss1
    mov ax, S_DATA1 | 1
    mov ss, ax                          ; DPL 1 SS at CPL 0
.ss1:
    CHECK dword [got_vec], 13, "SS with DPL != CPL: #GP"
    CHECK dword [got_err], S_DATA1, "SS with DPL != CPL: error code"
    mov ax, S_DATA0
    mov es, ax
    ret

r3_cli:
    cli
    jmp $
r3_hlt:
    hlt
    jmp $
r3_movcr:
    mov cr3, eax
    jmp $
r3_lds0:
    mov ds, bx
    jmp $
r3_lss:
    mov ss, bx
    jmp $
r3_int31:
    int 0x31
    jmp $
r3_out81:
    in al, 0x81
    jmp $
r3_lgdt:
    lgdt [gdt2_desc]
    jmp $
r3_callcode0:
    call S_CODE0:r3_cli
    jmp $
r3_ltr:
    ltr ax
    jmp $
r3_in80:
    in al, 0x80
    mov eax, 0x80
    int 0x30
r3_cli_iopl3:
    cli
    mov eax, 0xc1
    int 0x30

; ---------------------------------------------------------------- descriptor instructions

test_descriptor_insns:
    ; LAR: access rights of a visible descriptor, ZF
    mov ecx, 0xdeadbeef
    mov ax, PM_DATA3 | 3
    lar ecx, ax
    CHECKF F_ZF, F_ZF, "LAR data DPL 3: ZF"
    CHECK ecx, 0x00c0f300, "LAR data DPL 3: access rights"
    mov ax, S_TSS
    lar ecx, ax
    CHECK ecx, 0x00008b00, "LAR busy TSS"
    mov ecx, 0x77
    xor eax, eax
    lar ecx, ax
    CHECKF F_ZF, 0, "LAR null selector: ZF clear"
    CHECK ecx, 0x77, "LAR null selector: destination kept"
    mov ax, S_GATE32
    lar ecx, ax
    mov ebx, gate32_target              ; the gate's offset bits 23:20 show through the mask
    and ebx, 0x00f00000
    or ebx, 0xec00
    CHECK ecx, ebx, "LAR call gate"
    ; LSL
    mov ax, S_TSS
    lsl ecx, ax
    CHECKF F_ZF, F_ZF, "LSL TSS: ZF"
    CHECK ecx, tss_end - tss - 1, "LSL TSS: limit"
    mov ax, S_DATA0
    lsl ecx, ax
    CHECK ecx, 0xffffffff, "LSL 4 GiB data: scaled limit"
    mov ax, S_GATE32
    lsl ecx, ax
    CHECKF F_ZF, 0, "LSL call gate: ZF clear"
    ; VERR / VERW
    mov ax, S_CODE0
    verr ax
    CHECKF F_ZF, F_ZF, "VERR readable code"
    verw ax
    CHECKF F_ZF, 0, "VERW code"
    mov ax, S_DATA0
    verw ax
    CHECKF F_ZF, F_ZF, "VERW data"
    mov ax, S_NOTPRES
    verw ax
    CHECKF F_ZF, F_ZF, "VERW not-present data (no present check)"
    mov ax, GDT_ENTRIES * 8
    verr ax
    CHECKF F_ZF, 0, "VERR past the limit"
    ; from ring 3: DPL-0 descriptors are invisible
    mov eax, .r3_lar
    mov edx, 0x002
    call run_ring3
    CHECK dword [r3_val], 0x0, "ring 3 LAR of DPL-0 data: ZF clear"
    CHECK dword [r3_val + 4], F_ZF, "ring 3 VERR of conforming DPL-0 code: ZF"
    CHECK dword [r3_val + 8], S_DATA0 | 3, "ring 3 ARPL raises RPL"
    CHECK dword [r3_val + 12], 0x0, "ring 3 VERW DPL-1 data: ZF clear"
    ; ARPL
    mov ax, PM_DATA3
    mov bx, 2
    arpl ax, bx
    CHECKF F_ZF, F_ZF, "ARPL adjusts: ZF"
    movzx eax, ax
    CHECK eax, PM_DATA3 | 2, "ARPL adjusts"
    arpl ax, bx
    CHECKF F_ZF, 0, "ARPL equal RPL: ZF clear"
    ; STR / SLDT / LLDT and an LDT segment
    str eax
    CHECK eax, S_TSS, "STR"
    xor eax, eax
    sldt ax
    CHECK eax, 0, "SLDT before LLDT"
    mov ax, S_LDT
    lldt ax
    sldt ecx
    CHECK ecx, S_LDT, "SLDT after LLDT"
    mov dword [LDT_BASE + 4], 0xabcd1234
    mov ax, 0x07                        ; LDT entry 0, RPL 3
    mov fs, ax
    mov eax, [fs:4]
    CHECK eax, 0xabcd1234, "data through an LDT segment"
    mov ax, S_DATA0
    mov fs, ax
    TRY .lldt_bad
    mov ax, S_DATA0
    lldt ax
.lldt_bad:
    CHECK dword [got_vec], 13, "LLDT of a data descriptor: #GP"
    CHECK dword [got_err], S_DATA0, "LLDT of a data descriptor: error code"
    TRY .ltr_busy
    mov ax, S_TSS
    ltr ax
.ltr_busy:
    CHECK dword [got_vec], 13, "LTR of a busy TSS: #GP"
    CHECK dword [got_err], S_TSS, "LTR of a busy TSS: error code"
    xor eax, eax
    lldt ax
    ; SMSW / LMSW
    smsw eax
    and eax, 0xf
    mov ebx, cr0
    and ebx, 0xf
    CHECK eax, ebx, "SMSW = CR0 low bits"
    lmsw ax
    mov eax, 0x8                        ; TS, and PE clear: LMSW cannot clear PE
    lmsw ax
    mov eax, cr0
    and eax, 0x9
    CHECK eax, 0x9, "LMSW sets TS, keeps PE"
    clts
    ret

.r3_lar:
    mov ax, PM_DATA3 | 3
    mov ds, ax
    mov ax, S_DATA0
    mov ecx, 1
    lar ecx, ax
    pushfd
    pop eax
    and eax, F_ZF
    mov [r3_val], eax
    mov ax, S_CONF0
    verr ax
    pushfd
    pop eax
    and eax, F_ZF
    mov [r3_val + 4], eax
    mov ax, S_DATA0
    mov bx, cs
    arpl ax, bx
    movzx eax, ax
    mov [r3_val + 8], eax
    mov ax, S_DATA1 | 3
    verw ax
    pushfd
    pop eax
    and eax, F_ZF
    mov [r3_val + 12], eax
    mov eax, [r3_val]
    int 0x30
