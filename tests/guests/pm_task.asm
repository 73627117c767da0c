; pm_task: hardware task switches (SDM vol. 3 ch. 7).
;
; Task A (the guest, TSS at PM_TSS) and: B (32-bit TSS, its own CR3 and LDT), reached by JMP
; to its TSS and by CALL through a task gate; D, an interrupt handler task behind an IDT task
; gate; DF, the double-fault task (the way Linux i386 handles #DF); C, a 16-bit TSS running
; 16-bit code; F, a TSS with the T (debug trap) bit. Checked: the registers each task gets
; from its TSS and the ones saved into the old TSS, EIP resuming after the switching
; instruction, NT and the back link for CALL/INT but not JMP, the busy bits (set, cleared
; by JMP and IRET, kept by CALL), CR0.TS set by every switch, CR3 and LDTR loaded from the
; TSS, IRET with NT set returning to the caller, an error code pushed on the new task's stack
; (#DF), the 16-bit TSS format, #DB with DR6.BT for the T bit, and #TS/#GP/#NP for a TSS too
; short, busy, or not present. Paging is on (4 MiB pages) so that the CR3 switch shows.
;
; Command-line words, for runs on a CPU that is QEMU's TCG (qemu.pm_task, and kvm.pm_task,
; whose KVM guest runs on the nested VM's emulated SVM):
;   no-tbit         skip the T-bit checks: QEMU does not implement the TSS T bit.
;   touch-df-stack  write to the #DF task's stack page before the tests, for the nested VM:
;                   there a bug of QEMU 7.2's emulated SVM (tests/kvm/dftask.asm, kvm.dftask)
;                   keeps the #GP whose delivery raised the #DF recorded as the event in
;                   delivery; if pushing the #DF's error code meets a stack page KVM has not
;                   mapped yet, the nested page fault reports that stale #GP, KVM injects it
;                   into the #DF task and the guest goes astray (no output, no end). The record
;                   lasts only until a delivery completes, and only the #DF's delivery here
;                   follows a failed one; all else it touches (IDT, GDT, both TSSes) was
;                   written during setup, so its stack is the one page to map first. A plain
;                   write, harmless anywhere; the #DF checks stay as they are.

%define GDT2_ENTRIES 24
%include "guest.inc"
%include "pm_common.inc"

%define S_TSS_A     PM_TSS              ; the guest itself
%define S_TSS_B     0x38
%define S_GATE_B    0x40                ; task gate to B in the GDT
%define S_TSS_D     0x48
%define S_TSS_DF    0x50
%define S_TSS_C     0x58                ; 16-bit TSS
%define S_CODE16T   0x60                ; C's 16-bit code
%define S_DATA16T   0x68                ; C's 16-bit stack, base 0x70000
%define S_TSS_SHORT 0x70                ; limit 0x50: too short for a 32-bit TSS
%define S_TSS_NP    0x78                ; not present
%define S_LDT_B     0x80
%define S_TSS_F     0x88                ; T bit set

%define WIN         0x40000000          ; A sees physical 8 MiB here, B 12 MiB
%define LDT_DATA    0x12340             ; base of B's LDT data segment
%define DF_STACK    0x72000             ; top of the #DF task's stack

section .bss
alignb 4096
pd_a:           resd 1024
pd_b:           resd 1024
gdt2:           resq GDT2_ENTRIES
alignb 16
tss_b:          resb 104
tss_d:          resb 104
tss_df:         resb 104
tss_f:          resb 104
tss_short:      resb 104
tss_c:          resb 44
alignb 8
ldt_b:          resq 1
b_eax:          resd 1
b_ebx:          resd 1
b_flags:        resd 2
b_tr:           resd 1
b_ldt:          resd 1
b_cr3:          resd 1
b_win:          resd 1
b_fs:           resd 1
b_link:         resd 1
b_busy_a:       resd 1
d_count:        resd 1
d_flags:        resd 1
d_link:         resd 1
d_eax:          resd 1
df_err:         resd 1
df_esp:         resd 1
df_link:        resd 1
c_ax:           resd 1
c_flags:        resd 1
f_ran:          resd 1
db_dr6:         resd 1
db_eip:         resd 1
db_count:       resd 1
saved_idt13:    resq 1

section .rodata
no_tbit:        db "no-tbit", 0
str_touch_df:   db "touch-df-stack", 0

section .text

; desc_hi(EDI = selector): EAX = the descriptor's high dword
desc_hi:
    and edi, ~7
    mov eax, [gdt2 + edi + 4]
    ret

; TYPE_OF sel: EAX = the type nibble of a GDT descriptor
%macro TYPE_OF 1
    mov edi, %1
    call desc_hi
    shr eax, 8
    and eax, 0xf
%endmacro

; init_tss32(EDI = TSS, EAX = EIP, EBX = ESP): a ring-0 flat task, EFLAGS 2
init_tss32:
    push ecx
    push edi
    push eax
    xor eax, eax
    mov ecx, 104 / 4
    rep stosd
    pop eax
    pop edi
    pop ecx
    mov [edi + 0x20], eax
    mov dword [edi + 0x24], 2
    mov [edi + 0x38], ebx
    mov dword [edi + 0x48], PM_DATA0    ; ES
    mov dword [edi + 0x4c], PM_CODE0    ; CS
    mov dword [edi + 0x50], PM_DATA0    ; SS
    mov dword [edi + 0x54], PM_DATA0    ; DS
    mov dword [edi + 0x58], PM_DATA0    ; FS
    mov dword [edi + 0x5c], PM_DATA0    ; GS
    mov eax, cr3
    mov [edi + 0x1c], eax
    mov word [edi + 0x66], 104
    ret

main:
    call pm_basic_setup
    call setup_paging
    call setup_tasks
    call touch_df_stack
    call test_jmp_call
    call test_int_gate_task
    call test_double_fault
    call test_tss16
    call test_tbit
    call test_errors
    mov eax, cr0
    and eax, 0x7fffffff
    mov cr0, eax
    FINISH "pm_task"

setup_paging:
    pushad
    ; 4 MiB identity pages for 0-64 MiB in both directories; the window differs
    xor ecx, ecx
    mov eax, 0x83                       ; P W PS
.pde:
    mov [pd_a + ecx * 4], eax
    mov [pd_b + ecx * 4], eax
    add eax, 0x400000
    inc ecx
    cmp ecx, 16
    jb .pde
    mov dword [pd_a + (WIN >> 22) * 4], 0x800000 + 0x83
    mov dword [pd_b + (WIN >> 22) * 4], 0xc00000 + 0x83
    mov dword [0x800000], 0xaaaaaaaa
    mov dword [0xc00000], 0xbbbbbbbb
    mov eax, pd_a
    mov cr3, eax
    mov [pm_tss + 0x1c], eax            ; the CPU never saves CR3: the OS fills it in
    mov eax, cr4
    or eax, 0x10
    mov cr4, eax
    mov eax, cr0
    or eax, 0x80000000
    mov cr0, eax
    jmp .on
.on:
    popad
    ret

setup_tasks:
    pushad
    ; B: 32-bit, own CR3 and LDT, registers preset
    mov edi, tss_b
    mov eax, task_b
    mov ebx, 0x70000
    call init_tss32
    mov dword [tss_b + 0x1c], pd_b
    mov dword [tss_b + 0x28], 0xb0b0b0b0 ; EAX
    mov dword [tss_b + 0x34], 0x0b0b0b0b ; EBX
    mov dword [tss_b + 0x60], S_LDT_B
    mov dword [ldt_b], 0x2340ffff       ; data, DPL 0, base 0x012340
    mov dword [ldt_b + 4], 0x00cf9201
    mov edi, S_LDT_B
    mov ebx, ldt_b
    mov ecx, 7
    mov ax, 0x082
    call set_seg
    mov edi, S_TSS_B
    mov ebx, tss_b
    mov ecx, 103
    mov ax, 0x089
    call set_seg
    mov edi, S_GATE_B                   ; task gate: selector in bytes 2-3
    xor ebx, ebx
    mov ecx, S_TSS_B
    mov ax, 0x0085
    call set_gate
    ; D: the INT 0x40 task
    mov edi, tss_d
    mov eax, task_d
    mov ebx, 0x71000
    call init_tss32
    mov edi, S_TSS_D
    mov ebx, tss_d
    mov ecx, 103
    mov ax, 0x089
    call set_seg
    mov eax, 0x40
    mov edx, S_TSS_D
    call set_idt_task_gate
    ; DF: the double-fault task
    mov edi, tss_df
    mov eax, task_df
    mov ebx, DF_STACK
    call init_tss32
    mov edi, S_TSS_DF
    mov ebx, tss_df
    mov ecx, 103
    mov ax, 0x089
    call set_seg
    ; F: the T bit
    mov edi, tss_f
    mov eax, task_f
    mov ebx, 0x74000
    call init_tss32
    mov word [tss_f + 0x64], 1
    mov edi, S_TSS_F
    mov ebx, tss_f
    mov ecx, 103
    mov ax, 0x089
    call set_seg
    ; C: 16-bit TSS
    mov word [tss_c + 0x0e], task_c - task_c16_base
    mov word [tss_c + 0x10], 2          ; FLAGS
    mov word [tss_c + 0x12], 0x1616     ; AX
    mov word [tss_c + 0x1a], 0x3ff0     ; SP
    mov word [tss_c + 0x22], PM_DATA0   ; ES
    mov word [tss_c + 0x24], S_CODE16T  ; CS
    mov word [tss_c + 0x26], S_DATA16T  ; SS
    mov word [tss_c + 0x28], PM_DATA0   ; DS
    mov edi, S_TSS_C
    mov ebx, tss_c
    mov ecx, 43
    mov ax, 0x081                       ; available 16-bit TSS
    call set_seg
    mov edi, S_CODE16T
    mov ebx, task_c16_base
    mov ecx, 0xffff
    mov ax, 0x09a
    call set_seg
    mov edi, S_DATA16T
    mov ebx, 0x70000
    mov ax, 0x092
    call set_seg
    ; the faulty ones
    mov edi, S_TSS_SHORT
    mov ebx, tss_short
    mov ecx, 0x50
    mov ax, 0x089
    call set_seg
    mov edi, S_TSS_NP
    mov ebx, tss_short
    mov ecx, 103
    mov ax, 0x009                       ; P = 0
    call set_seg
    popad
    ret

; touch-df-stack (see the top): the #DF task's stack page written before its delivery needs it
touch_df_stack:
    mov esi, str_touch_df
    call cmdline_has
    test eax, eax
    jz .done
    mov dword [DF_STACK - 4], 0
    PRINT `pm_task: the #DF task's stack touched first (touch-df-stack)\n`
.done:
    ret

; ---------------------------------------------------------------- JMP and CALL

test_jmp_call:
    mov ebx, 0x1234abcd
    mov esi, 0x5678
    mov eax, cr0
    and eax, ~8
    mov cr0, eax                        ; TS clear: the switch sets it
    jmp S_TSS_B:0
.back1:                                 ; B jumped back to A
    CHECK ebx, 0x1234abcd, "JMP to B and back: A's EBX restored"
    CHECK esi, 0x5678, "JMP to B and back: A's ESI restored"
    CHECK dword [b_eax], 0xb0b0b0b0, "B: EAX from its TSS"
    CHECK dword [b_ebx], 0x0b0b0b0b, "B: EBX from its TSS"
    CHECK dword [b_tr], S_TSS_B, "B: TR"
    CHECK dword [b_ldt], S_LDT_B, "B: LDTR from its TSS"
    CHECK dword [b_cr3], pd_b, "B: CR3 from its TSS"
    CHECK dword [b_win], 0xbbbbbbbb, "B: its own address space"
    CHECK dword [b_fs], 0x600dcafe, "B: a segment of its LDT"
    CHECK dword [b_busy_a], 0x9, "JMP: the old task (A) is no longer busy"
    mov eax, [b_flags]
    and eax, 0x4000
    CHECK eax, 0, "JMP: NT clear in the new task"
    CHECK dword [WIN], 0xaaaaaaaa, "A: its CR3 back"
    mov eax, cr3
    CHECK eax, pd_a, "A: CR3 from its TSS"
    sldt ax
    movzx eax, ax
    CHECK eax, 0, "A: LDTR from its TSS"
    mov eax, cr0
    and eax, 8
    CHECK eax, 8, "task switch sets CR0.TS"
    clts
    TYPE_OF S_TSS_B
    CHECK eax, 0x9, "after B jumped away: B not busy"
    TYPE_OF S_TSS_A
    CHECK eax, 0xb, "A busy again"
    CHECK dword [tss_b + 0x20], task_b.second, "B's TSS: EIP after its JMP"
    ; CALL through the task gate: B runs from where it left off
    mov ebx, 0x7777
    call S_GATE_B:0
.back2:
    CHECK ebx, 0x7777, "CALL/IRET: A's EBX restored"
    mov eax, [b_flags + 4]
    and eax, 0x4000
    CHECK eax, 0x4000, "CALL: NT set in the new task"
    CHECK dword [b_link], S_TSS_A, "CALL: back link = A"
    CHECK dword [b_busy_a], 0xb, "CALL: the caller stays busy"
    TYPE_OF S_TSS_B
    CHECK eax, 0x9, "after IRET: B not busy"
    mov eax, [tss_b + 0x24]
    and eax, 0x4000
    CHECK eax, 0, "IRET: B's saved EFLAGS without NT"
    pushfd
    pop eax
    and eax, 0x4000
    CHECK eax, 0, "A after IRET: NT clear"
    ret

task_b:
    mov [b_eax], eax
    mov [b_ebx], ebx
    pushfd
    pop dword [b_flags]
    str eax
    movzx eax, ax
    mov [b_tr], eax
    sldt ax
    movzx eax, ax
    mov [b_ldt], eax
    mov eax, cr3
    mov [b_cr3], eax
    mov eax, [WIN]
    mov [b_win], eax
    mov dword [LDT_DATA + 8], 0x600dcafe
    mov ax, 0x04                        ; LDT entry 0
    mov fs, ax
    mov eax, [fs:8]
    mov [b_fs], eax
    mov edi, S_TSS_A
    call desc_hi
    shr eax, 8
    and eax, 0xf
    mov [b_busy_a], eax
    jmp S_TSS_A:0
.second:                                ; entered by CALL
    pushfd
    pop dword [b_flags + 4]
    movzx eax, word [tss_b]
    mov [b_link], eax
    mov edi, S_TSS_A
    call desc_hi
    shr eax, 8
    and eax, 0xf
    mov [b_busy_a], eax
    iret
    jmp task_b

; ---------------------------------------------------------------- INT through a task gate

test_int_gate_task:
    mov eax, 0x4040
    int 0x40
    CHECK eax, 0x4040, "INT via task gate: A's EAX restored"
    int 0x40
    CHECK dword [d_count], 2, "INT via task gate: the handler task ran twice"
    mov eax, [d_flags]
    and eax, 0x4000
    CHECK eax, 0x4000, "INT via task gate: NT set"
    CHECK dword [d_link], S_TSS_A, "INT via task gate: back link"
    CHECK dword [d_eax], 0, "the handler task's EAX is its own"
    TYPE_OF S_TSS_D
    CHECK eax, 0x9, "handler task not busy after IRET"
    ret

task_d:
    mov [d_eax], eax
    inc dword [d_count]
    pushfd
    pop dword [d_flags]
    movzx eax, word [tss_d]
    mov [d_link], eax
    xor eax, eax
    iret
    jmp task_d

; ---------------------------------------------------------------- #DF through a task gate

test_double_fault:
    mov eax, 8
    mov edx, S_TSS_DF
    call set_idt_task_gate
    ; make #GP's gate not present: #GP, then #NP delivering it, is a double fault
    mov eax, [idt + 13 * 8]
    mov [saved_idt13], eax
    mov eax, [idt + 13 * 8 + 4]
    mov [saved_idt13 + 4], eax
    and byte [idt + 13 * 8 + 5], 0x7f
    mov ax, GDT2_ENTRIES * 8            ; past the GDT: #GP
    mov ds, ax
.after:                                 ; the DF task sends A here
    mov ax, PM_DATA0
    mov ds, ax
    mov eax, [saved_idt13]
    mov [idt + 13 * 8], eax
    mov eax, [saved_idt13 + 4]
    mov [idt + 13 * 8 + 4], eax
    CHECK dword [df_err], 0, "#DF via task gate: error code 0 on the new task's stack"
    CHECK dword [df_esp], DF_STACK - 4, "#DF via task gate: only the error code pushed"
    CHECK dword [df_link], S_TSS_A, "#DF via task gate: back link"
    mov eax, 8                          ; back to the reporting stub
    mov edx, ds_stub_8
    call idt_set
    ret

task_df:
    mov [df_esp], esp
    pop eax
    mov [df_err], eax
    movzx eax, word [tss_df]
    mov [df_link], eax
    mov dword [pm_tss + 0x20], test_double_fault.after ; resume A past the fault
    iret
    jmp task_df

; ---------------------------------------------------------------- 16-bit TSS

test_tss16:
    mov eax, 0x32323232
    call S_TSS_C:0
    CHECK eax, 0x32323232, "16-bit task: A's EAX restored"
    CHECK dword [c_ax], 0x1616, "16-bit task: AX from the 16-bit TSS"
    mov eax, [c_flags]
    and eax, 0x4000
    CHECK eax, 0x4000, "16-bit task: NT set by CALL"
    movzx eax, word [tss_c]
    CHECK eax, S_TSS_A, "16-bit TSS: back link"
    movzx eax, word [tss_c + 0x0e]
    CHECK eax, task_c.after - task_c16_base, "16-bit TSS: IP saved after its IRET"
    movzx eax, word [tss_c + 0x1a]
    CHECK eax, 0x3ff0, "16-bit TSS: SP saved"
    TYPE_OF S_TSS_C
    CHECK eax, 0x1, "16-bit TSS not busy after IRET"
    ret

bits 16
align 16
task_c16_base:
task_c:
    movzx eax, ax
    mov [dword c_ax], eax
    pushf
    pop ax
    movzx eax, ax
    mov [dword c_flags], eax
    iret
.after:
    jmp task_c
bits 32

; ---------------------------------------------------------------- the T bit

test_tbit:
    mov esi, no_tbit
    call cmdline_has
    test eax, eax
    jnz .skip                           ; QEMU does not implement the T bit
    mov eax, 1
    mov edx, db_handler
    call idt_set
    xor eax, eax
    mov dr6, eax
    call S_TSS_F:0
    CHECK dword [f_ran], 1, "T-bit task ran"
    CHECK dword [db_count], 1, "T bit: one #DB"
    mov eax, [db_dr6]
    and eax, 0x8000
    CHECK eax, 0x8000, "T bit: DR6.BT"
    CHECK dword [db_eip], task_f, "T bit: #DB before the new task's first instruction"
    mov eax, 1
    mov edx, ds_stub_1
    call idt_set
    ret
.skip:
    PRINT `T bit: not checked (no-tbit)\n`
    ret

db_handler:
    push eax
    mov eax, dr6
    mov [db_dr6], eax
    mov eax, [esp + 4]
    mov [db_eip], eax
    inc dword [db_count]
    pop eax
    iret

task_f:
    mov dword [f_ran], 1
    iret
    jmp task_f

; ---------------------------------------------------------------- errors

test_errors:
    TRY .short
.short_insn:
    jmp S_TSS_SHORT:0
.short:
    EXPECT_EXC 10, S_TSS_SHORT, .short_insn, "JMP to a TSS below 0x67 bytes: #TS(sel)"
    TRY .busy
.busy_insn:
    jmp S_TSS_A:0
.busy:
    EXPECT_EXC 13, S_TSS_A, .busy_insn, "JMP to a busy TSS: #GP(sel)"
    TRY .np
.np_insn:
    call S_TSS_NP:0
.np:
    EXPECT_EXC 11, S_TSS_NP, .np_insn, "CALL to a not-present TSS: #NP(sel)"
    TRY .gate3
    mov eax, task_b                     ; a task gate with DPL 0 from RPL 3: #GP
.gate3_insn:
    call S_GATE_B | 3:0
.gate3:
    EXPECT_EXC 13, S_GATE_B, .gate3_insn, "task gate DPL < RPL: #GP(sel)"
    ret
