; apic_ioapic: device interrupts through the IOAPIC. The PIT (ISA IRQ 0) on pin 2, as the PC's
; interrupt source override has it, edge-triggered to the local APIC, counted by a handler with
; EOI while the CPU sits in HLT; masking the pin stops them (a tick sent before the mask and
; still pending in the local APIC is taken first: whether there is one is a matter of real
; time, so the output is the same either way). Then the RTC's periodic interrupt
; (IRQ 8) on pin 8 level-triggered: Remote IRR is set while the handler runs and the local
; APIC's EOI clears it. The 8259 stays masked throughout.

%include "guest.inc"
%include "apic.inc"

%define V_PIT           0x30
%define V_RTC           0x38
%define PIN_PIT         2
%define PIN_RTC         8
%define PIT_TICKS       20
%define RTC_TICKS       8

section .bss
lapic_id:       resd 1
pit_count:      resd 1
rtc_count:      resd 1
rtc_remote_irr: resd 1              ; Remote IRR as the RTC handler saw it, each time ORed
rtc_isr_tmr:    resd 1              ; TMR bit of the vector, as the handler saw it

section .text
main:
    call lapic_setup
    mov eax, V_PIT
    mov edx, pit_handler
    call idt_set
    mov eax, V_RTC
    mov edx, rtc_handler
    call idt_set
    mov eax, [L_ID]
    shr eax, 24
    mov [lapic_id], eax

    mov eax, 1                          ; version register
    call ioapic_read
    PRINT "ioapic: version register 0x"
    PRINTHEX eax
    mov ebx, eax
    xor eax, eax
    call ioapic_read
    PRINT ", id register 0x"
    PRINTHEX eax
    PRINT `\n`
    mov eax, ebx
    shr eax, 16
    and eax, 0xFF
    CHECK eax, 23, "24 redirection entries"
    mov eax, ebx
    and eax, 0xFF
    cmp eax, 0x20                       ; QEMU's default model has the EOI register
    je .version_ok
    CHECK eax, 0x11, "IOAPIC version"
.version_ok:
    mov eax, IOAPIC_REDTBL + 2 * PIN_PIT
    call ioapic_read
    and eax, 0x10000
    CHECK eax, 0x10000, "pin 2 masked as the IOAPIC comes up"

    call test_pit
    call test_rtc
    CHECK dword [spurious_count], 0, "no spurious interrupts"
    FINISH "apic_ioapic"

; pin EAX: fixed, physical, to our local APIC, EDX = low dword (vector and flags)
route:
    push eax
    push edx
    lea eax, [IOAPIC_REDTBL + 2 * eax + 1]
    mov edx, [lapic_id]
    shl edx, 24
    call ioapic_write
    pop edx
    dec eax
    call ioapic_write
    pop eax
    ret

; ---------------------------------------------------------------- PIT on pin 2, edge

test_pit:
    mov eax, PIN_PIT
    mov edx, V_PIT                      ; edge, active high, unmasked
    call route
    mov al, 0x34                        ; channel 0, LSB/MSB, mode 2
    out 0x43, al
    mov ax, PIT_HZ / 1000               ; 1 kHz
    out 0x40, al
    mov al, ah
    out 0x40, al
    sti
.wait:
    hlt
    cmp dword [pit_count], PIT_TICKS
    jb .wait
    cli
    ; a tick pending as the handler's IRET enables interrupts again is taken before the CLI,
    ; so the count may be past PIT_TICKS (by real time: the nested KVM run's slow exits): the
    ; line says what the loop waited for, the same on every run
    PRINT "ioapic: "
    PRINTDEC PIT_TICKS
    PRINT ` PIT interrupts through pin 2\n`
    mov eax, IOAPIC_REDTBL + 2 * PIN_PIT
    call ioapic_read
    and eax, RTE_REMOTE_IRR | RTE_DELIVS
    CHECK eax, 0, "edge: no Remote IRR, delivery idle"
    mov eax, [L_TMR + 0x10]             ; vectors 0x20-0x3f
    and eax, 1 << (V_PIT - 0x20)
    CHECK eax, 0, "edge: TMR clear"
    ; masked: the PIT keeps running, nothing arrives
    mov eax, PIN_PIT
    mov edx, V_PIT | LVT_MASKED
    call route
    ; A tick the IOAPIC sent before the mask (after the CLI above, while the line was being
    ; printed) waits in the local APIC's IRR and is taken at the next STI, as on real
    ; hardware: it was sent while the pin was unmasked, so take it now and count only what
    ; arrives after the mask. Whether there is one depends on real time, not on the guest.
    mov eax, [L_IRR + 0x10]             ; vectors 0x20-0x3f
    test eax, 1 << (V_PIT - 0x20)
    jz .drained
    mov ebx, [pit_count]
    sti
.drain:
    cmp [pit_count], ebx
    je .drain
    cli
.drained:
    mov eax, [L_IRR + 0x10]
    and eax, 1 << (V_PIT - 0x20)
    CHECK eax, 0, "masked: nothing pending for the PIT's vector"
    mov ebx, [pit_count]
    sti
    mov ecx, 5
    call delay_ms
    cli
    CHECK dword [pit_count], ebx, "a masked pin delivers nothing"
    ret

; ---------------------------------------------------------------- RTC on pin 8, level

test_rtc:
    mov al, 0x0C                        ; register C: clear anything pending
    out 0x70, al
    in al, 0x71
    mov eax, PIN_RTC
    mov edx, V_RTC | LVT_LEVEL          ; level, active high, unmasked
    call route
    mov al, 0x0A                        ; register A: 32.768 kHz base, 1024 Hz periodic
    out 0x70, al
    mov al, 0x26
    out 0x71, al
    mov al, 0x0B                        ; register B: periodic interrupt on, 24 h
    out 0x70, al
    mov al, 0x42
    out 0x71, al
    sti
.wait:
    hlt
    cmp dword [rtc_count], RTC_TICKS
    jb .wait
    cli
    mov al, 0x0B                        ; periodic interrupt off
    out 0x70, al
    mov al, 0x02
    out 0x71, al
    mov al, 0x0C
    out 0x70, al
    in al, 0x71
    ; a tick the IOAPIC sent after the loop's CLI (real time again: the nested KVM run's slow
    ; exits) waits in the local APIC with Remote IRR set, as on hardware: let the handler take
    ; it now that the RTC is quiet, so its EOI clears Remote IRR (nothing happens if none)
    sti
    nop
    cli
    PRINT "ioapic: "                    ; (what the loop waited for, as for the PIT)
    PRINTDEC RTC_TICKS
    PRINT ` RTC interrupts through pin 8\n`
    mov eax, [rtc_remote_irr]
    CHECK eax, RTE_REMOTE_IRR, "level: Remote IRR set while the handler runs"
    mov eax, [rtc_isr_tmr]
    CHECK eax, 1 << (V_RTC - 0x20), "level: TMR set for the vector"
    mov eax, IOAPIC_REDTBL + 2 * PIN_RTC
    call ioapic_read
    and eax, RTE_REMOTE_IRR
    CHECK eax, 0, "level: the EOI cleared Remote IRR"
    mov eax, PIN_RTC
    mov edx, V_RTC | LVT_LEVEL | LVT_MASKED
    call route
    ret

; ---------------------------------------------------------------- handlers

pit_handler:
    inc dword [pit_count]
    mov dword [L_EOI], 0
    iretd

rtc_handler:
    push eax
    inc dword [rtc_count]
    mov eax, IOAPIC_REDTBL + 2 * PIN_RTC
    call ioapic_read
    and eax, RTE_REMOTE_IRR
    or [rtc_remote_irr], eax
    mov eax, [L_TMR + 0x10]
    and eax, 1 << (V_RTC - 0x20)
    or [rtc_isr_tmr], eax
    mov al, 0x0C                        ; acknowledge the RTC: its line drops
    out 0x70, al
    in al, 0x71
    mov dword [L_EOI], 0
    pop eax
    iretd
