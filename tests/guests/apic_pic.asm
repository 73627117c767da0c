; apic_pic: the 8259 with and without the local APIC in the way. The PIT (IRQ 0) through the
; 8259 reaches the CPU as a PC starts (dualvm without firmware: the APIC software disabled,
; its LINT0 the plain INTR pin; QEMU after SeaBIOS: virtual wire mode). With "noapic" on the
; command line (dualvm -machine apic=off) the guest also checks the APICs are absent: their
; registers read as all ones. With an APIC: software enabled with LINT0 in ExtINT mode (virtual
; wire) the 8259 still gets through, and masking LINT0 cuts it off.

%include "guest.inc"
%include "apic.inc"

%define V_PIC_BASE      0x20
%define TICKS           10

section .bss
pit_count:      resd 1
no_apic:        resd 1

section .text
main:
    call parse_cmdline
    mov eax, V_PIC_BASE
    mov edx, pit_handler
    call idt_set
    mov eax, V_PIC_BASE + 7             ; the 8259's spurious IRQ 7
    mov edx, pic_spurious
    call idt_set
    mov eax, V_SPURIOUS
    mov edx, spurious_handler
    call idt_set
    ; the 8259 as a BIOS programs it: vectors 0x20/0x28, cascade on IR2, 8086 mode
    mov al, 0x11
    out 0x20, al
    out 0xA0, al
    mov al, V_PIC_BASE
    out 0x21, al
    mov al, V_PIC_BASE + 8
    out 0xA1, al
    mov al, 0x04
    out 0x21, al
    mov al, 0x02
    out 0xA1, al
    mov al, 0x01
    out 0x21, al
    out 0xA1, al
    mov al, 0xFE                        ; IRQ 0 only
    out 0x21, al
    mov al, 0xFF
    out 0xA1, al
    mov al, 0x34                        ; PIT channel 0: mode 2, 1 kHz
    out 0x43, al
    mov ax, PIT_HZ / 1000
    out 0x40, al
    mov al, ah
    out 0x40, al

    call count_ticks
    PRINT "apic_pic: "
    PRINTDEC dword [pit_count]
    PRINT ` PIT interrupts through the 8259\n`

    cmp dword [no_apic], 0
    je .with_apic
    PRINT `apic_pic: checking the APICs are absent\n`
    CHECK dword [L_VER], 0xFFFFFFFF, "no local APIC registers"
    mov dword [IO_REGSEL], 1
    CHECK dword [IO_WIN], 0xFFFFFFFF, "no IOAPIC registers"
    mov eax, 1
    cpuid
    and edx, 1 << 9
    CHECK edx, 0, "CPUID.1:EDX.APIC clear"
    jmp .done

.with_apic:
    PRINT "apic_pic: local APIC version 0x"
    PRINTHEX dword [L_VER]
    PRINT `\n`
    ; virtual wire mode: software enabled, LINT0 ExtINT unmasked
    mov dword [L_SVR], SVR_ENABLE | V_SPURIOUS
    mov dword [L_TPR], 0xF0             ; ExtINT ignores priorities
    mov dword [L_LINT0], DM_EXTINT
    call count_ticks
    PRINT `apic_pic: virtual wire mode passes the 8259\n`
    mov dword [L_TPR], 0
    ; LINT0 masked: nothing from the 8259
    mov dword [L_LINT0], LVT_MASKED | DM_EXTINT
    mov ebx, [pit_count]
    sti
    mov ecx, 5
    call delay_ms
    cli
    CHECK dword [pit_count], ebx, "LINT0 masked cuts the 8259 off"
    mov dword [L_LINT0], DM_EXTINT      ; back to virtual wire, as firmware leaves it
    CHECK dword [spurious_count], 0, "no APIC spurious interrupts"
.done:
    mov al, 0xFF
    out 0x21, al
    FINISH "apic_pic"

; count_ticks: wait in HLT for TICKS more PIT interrupts, CHECK they came.
count_ticks:
    mov dword [pit_count], 0
    sti
.wait:
    hlt
    cmp dword [pit_count], TICKS
    jb .wait
    cli
    CHECK dword [pit_count], TICKS, "PIT interrupts counted"
    ret

; "noapic" anywhere on the multiboot command line sets no_apic.
parse_cmdline:
    pushad
    mov ebx, [mb_info]
    test dword [ebx + MBI_FLAGS], MBI_F_CMDLINE
    jz .done
    mov esi, [ebx + MBI_CMDLINE]
.scan:
    cmp byte [esi], 0
    je .done
    cmp dword [esi], 'noap'
    jne .next
    cmp word [esi + 4], 'ic'
    jne .next
    mov dword [no_apic], 1
    jmp .done
.next:
    inc esi
    jmp .scan
.done:
    popad
    ret

pit_handler:
    push eax
    inc dword [pit_count]
    mov al, 0x20                        ; 8259 EOI
    out 0x20, al
    pop eax
    iretd

pic_spurious:                           ; IRQ 7 without a request: no EOI
    iretd
