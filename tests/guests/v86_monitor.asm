; v86_monitor: virtual-8086 mode under a small monitor (SDM vol. 3 ch. 20).
;
; An 8086 program copied below 1 MiB runs in virtual-8086 mode, entered by an IRET whose
; EFLAGS image has VM set. With IOPL 0 its INT 21h (a DOS-style call: print, version, exit),
; CLI, STI, PUSHF, POPF and IN from a port the I/O bitmap denies all become #GP(0) to the
; monitor, which decodes the instruction from CS:IP, emulates it and returns with IRET; IN
; from a port the bitmap allows runs directly. Checked: the #GP frame (EIP of the trapping
; instruction, VM in EFLAGS, the segment registers pushed and DS..GS zero in the handler),
; the program's results, that segment loads work as in real mode. With IOPL 3, INT n goes to
; the protected-mode handler through a DPL-3 IDT gate, with the 9-dword frame. With CR4.VME
; and IOPL 0: INT n with its redirection bit clear goes to the program's own IVT handler
; without the monitor, with it set to the monitor; CLI/STI/PUSHF work on VIF; STI with VIP
; set, and POPF setting TF, trap. Last, virtual-8086 mode entered by CALL to a TSS whose
; EFLAGS has VM, left by the monitor's IRET with NT set back to the calling task.
;
; The VME part runs when CPUID offers VME (tests/unit/test_mmu.c checks that CR4.VME is
; reserved otherwise, which QEMU 7.2 does not enforce). QEMU 7.2's
; TCG has no VME, and dualvm's CPUID model leaves it out too (both engines show one CPU, and
; KVM on some hosts cannot give it) though its translator implements CR4.VME/PVI.

%define GDT2_ENTRIES 10
%include "guest.inc"
%include "pm_common.inc"

%define S_V86TSS    0x38                ; TSS with redirection and I/O bitmaps
%define S_TASKTSS   0x40                ; a virtual-8086 task

%define V86_SEG     0x2000              ; the program's copy: linear 0x20000
%define V86_LIN     (V86_SEG << 4)
%define VM          0x20000
%define VIF         0x80000
%define VIP         0x100000
%define IOPL3       0x3000
%define NT          0x4000

%define OFS(x)      ((x) - v86_start)   ; offset of a program label in its segment
%define V86VAR(x)   (V86_LIN + OFS(x))  ; linear address of a program variable

section .bss
alignb 16
v86_tss:        resb 104
redir:          resb 32                 ; interrupt redirection bitmap (VME)
iobits:         resb 128                ; ports 0..0x3ff
iobits_end:     resb 1
task_tss:       resb 104
gdt2:           resq GDT2_ENTRIES
mon_esp:        resd 1                  ; ring-0 ESP to leave virtual-8086 mode to
gp_count:       resd 1
gp_frame:       resd 10                 ; the first #GP frame: error..GS
gp_ds:          resd 1                  ; DS as the handler found it
out_buf:        resb 16
out_len:        resd 1
vflags:         resd 1                  ; the monitor's virtual IF
in_port:        resd 1
int22_frame:    resd 10
int22_count:    resd 1
sti_vip:        resd 1
popf_tf:        resd 1
task_gps:       resd 1

section .text

main:
    call pm_basic_setup
    call setup_v86
    call test_monitor
    call test_iopl3
    call test_vme
    call test_task
    FINISH "v86_monitor"

setup_v86:
    pushad
    mov esi, v86_start
    mov edi, V86_LIN
    mov ecx, v86_end - v86_start
    rep movsb
    ; TSS: ring-0 stack, redirection bitmap (all to protected mode but INT 23h), I/O
    ; bitmap (all denied but port 0x80)
    mov dword [v86_tss + 4], R0_STACK
    mov dword [v86_tss + 8], PM_DATA0
    mov word [v86_tss + 102], iobits - v86_tss
    mov edi, redir
    mov al, 0xff
    mov ecx, iobits_end + 1 - redir
    rep stosb
    and byte [redir + 0x23 / 8], ~(1 << (0x23 & 7))
    and byte [iobits + 0x80 / 8], ~(1 << (0x80 & 7))
    mov edi, S_V86TSS
    mov ebx, v86_tss
    mov ecx, iobits_end - v86_tss
    mov ax, 0x089
    call set_seg
    mov ax, S_V86TSS
    ltr ax
    mov eax, 13
    mov edx, v86_gp
    call idt_set
    mov eax, 0x22
    mov edx, int22_handler
    mov cl, 0xef                        ; DPL 3 trap gate
    call set_idt_gate
    mov eax, 0x21                       ; DPL 0: INT 21h with IOPL 3 is #GP(0x10a) to us
    mov cl, 0x8e
    call set_idt_gate
    ; the program's IVT entry for INT 23h (VME redirection)
    mov word [0x23 * 4], OFS(v86_int23)
    mov word [0x23 * 4 + 2], V86_SEG
    popad
    ret

; enter_v86(EAX = IP, EDX = EFLAGS without VM): IRET into the program; returns when the
; monitor sees INT 21h AH=4Ch
enter_v86:
    pushad
    mov [mon_esp], esp
    push dword 0                        ; GS
    push dword 0                        ; FS
    push dword V86_SEG                  ; DS
    push dword V86_SEG                  ; ES
    push dword V86_SEG                  ; SS
    push dword 0xfffe                   ; ESP
    or edx, VM
    push edx
    push dword V86_SEG                  ; CS
    push eax
    iret
v86_exit:
    mov esp, [mon_esp]
    push dword 0x002                    ; the monitor ran with the program's DF and IOPL
    popfd
    popad
    ret

; ---------------------------------------------------------------- the monitor (#GP)

; frame after PUSHAD: [esp+32] error code, +36 EIP, +40 CS, +44 EFLAGS, +48 ESP, +52 SS,
; +56 ES, +60 DS, +64 FS, +68 GS. The program's registers are the PUSHAD image.
%define F_ERR   32
%define F_EIP   36
%define F_CS    40
%define F_FL    44
%define F_ESP   48
%define F_SS    52
%define F_EAX   28
%define F_EDX   20

v86_gp:
    pushad
    mov ax, ds
    movzx eax, ax
    mov ebx, eax
    mov eax, PM_DATA0
    mov ds, eax
    mov es, eax
    test dword [esp + F_FL], VM
    jz .not_v86
    inc dword [gp_count]
    cmp dword [gp_count], 1
    jne .decode
    mov [gp_ds], ebx
    lea esi, [esp + F_ERR]
    mov edi, gp_frame
    mov ecx, 10
    rep movsd
.decode:
    movzx esi, word [esp + F_CS]
    shl esi, 4
    movzx eax, word [esp + F_EIP]
    add esi, eax                        ; linear address of the instruction
    mov al, [esi]
    cmp al, 0xcd
    je .int
    cmp al, 0xfa
    je .cli
    cmp al, 0xfb
    je .sti
    cmp al, 0x9c
    je .pushf
    cmp al, 0x9d
    je .popf
    cmp al, 0xe4
    je .in_imm
    jmp .unknown
.int:
    cmp byte [esi + 1], 0x21
    jne .unknown
    mov eax, [esp + F_EAX]
    cmp ah, 0x02                        ; print DL
    je .print
    cmp ah, 0x30                        ; version: AX = 0x0a05
    je .version
    cmp ah, 0x4c                        ; exit
    je .exit
    jmp .unknown
.print:
    mov ecx, [out_len]
    mov edx, [esp + F_EDX]
    mov [out_buf + ecx], dl
    inc dword [out_len]
    jmp .skip2
.version:
    mov word [esp + F_EAX], 0x0a05
    jmp .skip2
.exit:
    mov eax, PM_DATA0
    mov ss, eax
    jmp v86_exit
.cli:
    mov dword [vflags], 0
    jmp .skip1
.sti:
    test dword [esp + F_FL], VIP        ; VME: STI with an interrupt pending
    jz .sti_plain
    inc dword [sti_vip]
    and dword [esp + F_FL], ~VIP        ; deliver it (nothing to do) and retry the STI
    jmp .done
.sti_plain:
    mov dword [vflags], 0x200
    jmp .skip1
.pushf:                                 ; push the virtual flags on the program's stack
    movzx edi, word [esp + F_SS]
    shl edi, 4
    movzx eax, word [esp + F_ESP]
    sub ax, 2
    mov [esp + F_ESP], ax
    add edi, eax
    mov eax, [esp + F_FL]
    and eax, ~0x200
    or eax, [vflags]
    mov [edi], ax
    jmp .skip1
.popf:
    movzx edi, word [esp + F_SS]
    shl edi, 4
    movzx eax, word [esp + F_ESP]
    add edi, eax
    movzx ecx, word [edi]
    test ecx, 0x100                     ; (VME) POPF setting TF traps
    jz .popf_plain
    inc dword [popf_tf]
.popf_plain:
    add word [esp + F_ESP], 2
    mov eax, ecx
    and eax, 0x200
    mov [vflags], eax
    and ecx, 0x0cd5                     ; the arithmetic flags, DF; not IF, TF or IOPL
    and dword [esp + F_FL], ~0x0cd5
    or [esp + F_FL], ecx
    jmp .skip1
.in_imm:
    movzx eax, byte [esi + 1]
    mov [in_port], eax
    mov byte [esp + F_EAX], 0x5a
    jmp .skip2
.skip2:
    inc word [esp + F_EIP]
.skip1:
    inc word [esp + F_EIP]
.done:
    popad
    add esp, 4                          ; the error code
    iret
.unknown:
    PRINT "FAIL: v86 monitor: unexpected #GP at "
    PRINTHEX dword [esp + F_EIP]
    PRINT `\n`
    inc dword [fail_count]
    mov eax, PM_DATA0
    mov ss, eax
    jmp v86_exit
.not_v86:
    popad
    jmp ds_stub_13

; INT 22h with IOPL 3: the protected-mode handler, through a DPL-3 gate
int22_handler:
    push eax
    push ds
    mov eax, PM_DATA0
    mov ds, eax
    inc dword [int22_count]
    push esi
    push edi
    push ecx
    push es
    mov es, eax
    lea esi, [esp + 24]
    mov edi, int22_frame
    mov ecx, 9
    rep movsd
    pop es
    pop ecx
    pop edi
    pop esi
    pop ds
    pop eax
    iret

; ---------------------------------------------------------------- the tests

test_monitor:
    mov dword [vflags], 0x200
    mov eax, OFS(prog_basic)
    mov edx, 0x002                      ; IOPL 0
    call enter_v86
    CHECK dword [gp_count], 11, "IOPL 0: #GP to the monitor for each sensitive instruction"
    CHECK dword [gp_frame], 0, "v86 #GP: error code 0"
    CHECK dword [gp_frame + 4], OFS(prog_basic.first_int), "v86 #GP: IP of the INT"
    CHECK dword [gp_frame + 8], V86_SEG, "v86 #GP: CS"
    mov eax, [gp_frame + 12]
    and eax, VM + IOPL3
    CHECK eax, VM, "v86 #GP: EFLAGS with VM, IOPL 0"
    CHECK dword [gp_frame + 16], 0xfffe, "v86 #GP: SP"
    CHECK dword [gp_frame + 20], V86_SEG, "v86 #GP: SS"
    CHECK dword [gp_frame + 24], V86_SEG, "v86 #GP: ES"
    CHECK dword [gp_frame + 28], 0x3000, "v86 #GP: DS (the program's)"
    CHECK dword [gp_frame + 36], 0, "v86 #GP: GS"
    CHECK dword [gp_ds], 0, "v86 #GP: DS zero in the handler"
    CHECK dword [out_len], 2, "INT 21h AH=2 emulated twice"
    movzx eax, word [out_buf]
    CHECK eax, 'Hi', "INT 21h output"
    movzx eax, word [V86VAR(res_ver)]
    CHECK eax, 0x0a05, "INT 21h AH=30h: the monitor's AX seen by the program"
    movzx eax, word [V86VAR(res_flags)]
    and eax, 0x200
    CHECK eax, 0, "PUSHF after CLI (emulated): virtual IF clear"
    movzx eax, word [V86VAR(res_flags2)]
    and eax, 0x200
    CHECK eax, 0x200, "PUSHF after STI (emulated): virtual IF set"
    movzx eax, byte [V86VAR(res_in80)]
    CHECK eax, 0xee, "IN from an allowed port: direct (no #GP)"
    movzx eax, byte [V86VAR(res_in81)]
    CHECK eax, 0x5a, "IN from a denied port: emulated by the monitor"
    CHECK dword [in_port], 0x81, "IN from a denied port: the monitor saw the port"
    movzx eax, byte [0x30000 + 5]
    CHECK eax, 0x77, "v86 segment load: ES = 0x3000 is linear 0x30000"
    movzx eax, word [V86VAR(res_popf)]
    and eax, 0x8d5
    CHECK eax, 0x8d5, "POPF (emulated): arithmetic flags loaded"
    ret

test_iopl3:
    mov dword [gp_count], 0
    mov eax, OFS(prog_iopl3)
    mov edx, IOPL3 + 0x002
    call enter_v86
    CHECK dword [gp_count], 1, "IOPL 3: only the exit traps"
    CHECK dword [int22_count], 1, "IOPL 3: INT 22h to the protected-mode handler"
    CHECK dword [int22_frame], OFS(prog_iopl3.after22), "INT from v86: pushed IP (after INT)"
    CHECK dword [int22_frame + 4], V86_SEG, "INT from v86: pushed CS"
    mov eax, [int22_frame + 8]
    and eax, VM
    CHECK eax, VM, "INT from v86: pushed EFLAGS has VM"
    CHECK dword [int22_frame + 16], V86_SEG, "INT from v86: pushed SS"
    CHECK dword [int22_frame + 24], 0x3000, "INT from v86: pushed DS"
    movzx eax, word [V86VAR(res_flags)]
    and eax, 0x3200
    CHECK eax, 0x3000, "IOPL 3: CLI and PUSHF run directly"
    ret

test_vme:
    mov eax, 1
    cpuid
    test edx, 2
    jnz .vme
    PRINT `VME: not in CPUID, not checked\n`
    ret
.vme:
    mov eax, cr4
    or eax, 1                           ; VME
    mov cr4, eax
    mov dword [gp_count], 0
    mov dword [out_len], 0
    mov eax, OFS(prog_vme)
    mov edx, VIP + 0x002                ; IOPL 0, VIF clear, an interrupt pending
    call enter_v86
    mov eax, cr4
    and eax, ~1
    mov cr4, eax
    CHECK dword [sti_vip], 1, "VME: STI with VIP set traps once"
    CHECK dword [popf_tf], 1, "VME: POPF setting TF traps"
    CHECK dword [gp_count], 4, "VME: traps for STI+VIP, INT 21h (twice) and POPF+TF only"
    movzx eax, word [V86VAR(res_int23)]
    CHECK eax, 0x2323, "VME: INT 23h redirected to the program's IVT handler"
    movzx eax, word [V86VAR(res_flags)]
    and eax, 0x3200
    CHECK eax, 0x3200, "VME: PUSHF after STI: IF = VIF = 1, IOPL 3 shown"
    movzx eax, word [V86VAR(res_flags2)]
    and eax, 0x3200
    CHECK eax, 0x3000, "VME: PUSHF after CLI: IF = VIF = 0"
    movzx eax, word [V86VAR(res_flags3)]
    and eax, 0x200
    CHECK eax, 0, "VME: the redirected handler runs with VIF clear"
    CHECK dword [out_len], 1, "VME: INT 21h (bit set) still to the monitor"
    PRINT `VME: checked\n`
    ret

test_task:
    ; a TSS whose EFLAGS has VM: CALL enters virtual-8086 mode
    mov dword [task_tss + 4], 0x7d000   ; its ring-0 stack
    mov dword [task_tss + 8], PM_DATA0
    mov dword [task_tss + 0x1c], 0
    mov dword [task_tss + 0x20], OFS(prog_task)
    mov dword [task_tss + 0x24], VM + 0x002
    mov dword [task_tss + 0x28], 0x4c00 ; EAX
    mov dword [task_tss + 0x38], 0xfff0 ; ESP
    mov dword [task_tss + 0x48], V86_SEG ; ES
    mov dword [task_tss + 0x4c], V86_SEG ; CS
    mov dword [task_tss + 0x50], V86_SEG ; SS
    mov dword [task_tss + 0x54], V86_SEG ; DS
    mov word [task_tss + 0x66], 104
    mov edi, S_TASKTSS
    mov ebx, task_tss
    mov ecx, 103
    mov ax, 0x089
    call set_seg
    mov eax, 13
    mov edx, task_gp
    call idt_set
    mov esi, 0x600dd00d
    call S_TASKTSS:0
    CHECK esi, 0x600dd00d, "v86 task: the caller's registers back"
    CHECK dword [task_gps], 1, "v86 task: its INT 21h reached the monitor"
    movzx eax, word [V86VAR(res_task)]
    CHECK eax, 0x7a5c, "v86 task: the program ran in virtual-8086 mode"
    mov eax, 13
    mov edx, v86_gp
    call idt_set
    ret

task_gp:                                ; #GP in the v86 task: back to the caller
    push eax
    mov eax, PM_DATA0
    mov ds, eax
    inc dword [task_gps]
    pushfd
    or dword [esp], NT                  ; IRET with NT: to the back link
    popfd
    pop eax
    add esp, 4
    iret

; ---------------------------------------------------------------- the 8086 program

bits 16
v86_start:
prog_basic:
    mov ax, 0x3000
    mov ds, ax                          ; a real-mode segment load (v86 rules)
    mov dl, 'H'
    mov ah, 2
.first_int:
    int 0x21
    mov dl, 'i'
    mov ah, 2
    int 0x21
    mov ah, 0x30
    int 0x21
    mov bx, cs
    mov es, bx
    mov [es:OFS(res_ver)], ax
    cli
    pushf
    pop word [es:OFS(res_flags)]
    sti
    pushf
    pop word [es:OFS(res_flags2)]
    in al, 0x80                         ; allowed: reads the port (0xff open bus: mark it)
    mov al, 0xee
    mov [es:OFS(res_in80)], al
    in al, 0x81                         ; denied
    mov [es:OFS(res_in81)], al
    push word 0x08d5                    ; OF DF SF ZF AF PF CF
    popf
    pushf
    pop word [es:OFS(res_popf)]         ; PUSHF emulated again
    mov ax, 0x3000
    mov es, ax
    mov byte [es:5], 0x77
    mov ah, 0x4c
    int 0x21

prog_iopl3:
    mov ax, 0x3000
    mov ds, ax
    int 0x22
.after22:
    mov bx, cs
    mov es, bx
    cli
    pushf
    pop word [es:OFS(res_flags)]
    mov ah, 0x4c
    int 0x21                            ; IOPL 3: through the IDT, whose DPL-0 gate makes
                                        ; it #GP to the monitor

prog_vme:
    mov bx, cs
    mov es, bx
    sti                                 ; VIP set: #GP; the monitor clears VIP, retried
    pushf
    pop word [es:OFS(res_flags)]
    int 0x23                            ; redirected (bit clear): IVT handler, no monitor
    cli
    pushf
    pop word [es:OFS(res_flags2)]
    mov dl, '!'
    mov ah, 2
    int 0x21                            ; bit set: to the monitor
    push word 0x0100
    popf                                ; TF: #GP
    mov ah, 0x4c
    int 0x21

v86_int23:
    pushf
    pop word [es:OFS(res_flags3)]
    mov word [es:OFS(res_int23)], 0x2323
    iret

prog_task:
    mov word [OFS(res_task)], 0x7a5c
    int 0x21                            ; AH = 4Ch from the TSS

align 2
res_ver:        dw 0
res_flags:      dw 0
res_flags2:     dw 0
res_flags3:     dw 0xffff
res_in80:       db 0
res_in81:       db 0
res_popf:       dw 0
res_int23:      dw 0
res_task:       dw 0
v86_end:
bits 32
