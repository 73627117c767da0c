; dftask: the smallest guest that shows why kvm.pm_task runs pm_task with touch-df-stack in
; the nested VM (a bug of QEMU 7.2's emulated SVM, not of dualvm or KVM). A #GP whose IDT gate
; is not present raises #NP while it is delivered, which makes a #DF; the #DF goes through a
; task gate to a task whose stack page the guest has never touched, as pm_task's
; test_double_fault does without that word.
;
; What happens in the nested VM (QEMU 7.2, target/i386/tcg: seg_helper.c do_interrupt_all and
; switch_tss_ra, sysemu/seg_helper.c handle_even_inj, sysemu/svm_helper.c do_vmexit; Linux
; arch/x86/kvm/svm/svm.c svm_complete_interrupts):
;   - delivering the #GP, handle_even_inj records it in the VMCB's EVENTINJ field as the
;     event in delivery; the delivery fails with #NP, so do_interrupt_all never reaches the
;     code that clears that record;
;   - #NP after #GP is a #DF. Delivering it, handle_even_inj leaves the record alone (it
;     still says valid), so it keeps saying #GP;
;   - QEMU does the task switch itself (switch_tss_ra has no TASK_SWITCH intercept check, so
;     KVM never sees it) and commits the new task; then pushing the error code touches the
;     new task's stack page, which KVM has not mapped yet: a nested page fault, a #VMEXIT
;     whose EXITINTINFO is the stale record: #GP, error code 0x80 (this guest's selector);
;   - KVM (svm_complete_interrupts) does what it must with a valid EXITINTINFO: it injects
;     that #GP again once the page is mapped, now in the #DF task (TR 0x38) at its first
;     instruction, with no error code pushed. The #GP gate is still not present: #NP.
;     (pm_task's catcher then jumps to the address no TRY has set yet, 0, and the run goes
;     astray: with no-tbit alone, no output and no end in 60 s; here the #NP is reported:
;     "exception 11 error code 0x6a ... TR 0x38".)
; An AMD CPU stops at KVM's TASK_SWITCH intercept before switching, with the #DF it was
; delivering in EXITINTINFO, and KVM emulates the switch. With the word "touch" on the
; command line the guest writes to the #DF task's stack first: no exit in the middle of the
; delivery, and the same guest passes in the nested VM (pm_task's touch-df-stack does the
; same). Under the translator both pass.

%define GDT2_ENTRIES 16
%include "guest.inc"
%include "pm_common.inc"

%define S_TSS_DF    0x38
%define BAD_SEL     (GDT2_ENTRIES * 8)  ; past the GDT: #GP(BAD_SEL)
%define DF_STACK    0x280000            ; top of the #DF task's stack: its page (and 2 MiB
                                        ; around it) touched by nothing else

section .bss
alignb 4096
gdt2:           resq GDT2_ENTRIES
alignb 16
tss_df:         resb 104
df_count:       resd 1
df_err:         resd 1
df_esp:         resd 1
main_esp:       resd 1
saved_idt13:    resq 1

section .rodata
str_touch:      db "touch", 0

section .text
main:
    mov [main_esp], esp
    call pm_basic_setup
    mov dword [exc_hook], unexpected
    mov edi, tss_df                     ; a ring-0 flat task
    xor eax, eax
    mov ecx, 104 / 4
    rep stosd
    mov dword [tss_df + 0x20], df_task
    mov dword [tss_df + 0x24], 2
    mov dword [tss_df + 0x38], DF_STACK
    mov dword [tss_df + 0x48], PM_DATA0 ; ES
    mov dword [tss_df + 0x4c], PM_CODE0 ; CS
    mov dword [tss_df + 0x50], PM_DATA0 ; SS
    mov dword [tss_df + 0x54], PM_DATA0 ; DS
    mov dword [tss_df + 0x58], PM_DATA0 ; FS
    mov dword [tss_df + 0x5c], PM_DATA0 ; GS
    mov word [tss_df + 0x66], 104
    mov edi, S_TSS_DF
    mov ebx, tss_df
    mov ecx, 103
    mov ax, 0x089
    call set_seg
    mov eax, 8
    mov edx, S_TSS_DF
    call set_idt_task_gate
    mov esi, str_touch
    call cmdline_has
    test eax, eax
    jz .untouched
    mov dword [DF_STACK - 4], 0
    PRINT `dftask: the #DF task's stack touched first\n`
.untouched:
    mov eax, [idt + 13 * 8]             ; #GP's gate not present: #GP, #NP, so #DF
    mov [saved_idt13], eax
    mov eax, [idt + 13 * 8 + 4]
    mov [saved_idt13 + 4], eax
    and byte [idt + 13 * 8 + 5], 0x7f
    mov ax, BAD_SEL
    mov ds, ax
.after:                                 ; the #DF task sends us here
    mov ax, PM_DATA0
    mov ds, ax
    mov eax, [saved_idt13]
    mov [idt + 13 * 8], eax
    mov eax, [saved_idt13 + 4]
    mov [idt + 13 * 8 + 4], eax
    CHECK dword [df_count], 1, "#DF through a task gate: the task ran once"
    CHECK dword [df_err], 0, "#DF: error code 0 on the new task's stack"
    CHECK dword [df_esp], DF_STACK - 4, "#DF: only the error code pushed"
.finish:
    FINISH "dftask"

df_task:
    mov [df_esp], esp
    pop eax
    mov [df_err], eax
    inc dword [df_count]
    mov dword [pm_tss + 0x20], main.after ; resume past the fault
    iret                                ; NT: back to the guest's task
    jmp df_task

; exc_hook: [esp] vector, error code, EIP. Reported with TR, then the verdict.
unexpected:
    mov ebx, [esp]
    mov ecx, [esp + 4]
    mov edx, [esp + 8]
    str eax
    movzx eax, ax
    PRINT "FAIL: exception "
    PRINTDEC ebx
    PRINT " error code 0x"
    PRINTHEX ecx
    PRINT " at EIP 0x"
    PRINTHEX edx
    PRINT " with TR 0x"
    PRINTHEX eax
    PRINT `\n`
    inc dword [check_count]
    inc dword [fail_count]
    mov esp, [main_esp]
    jmp main.finish
