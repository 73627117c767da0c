; apic_timer: the local APIC from the inside. Software enable, the version register, self
; IPIs taken by priority (ISR and PPR seen from the handler), TPR holding a class back, then
; the APIC timer: periodic at 1 ms (divide by 16, count 62500 on the 1 GHz bus QEMU and dualvm
; model) counted by an IDT handler with EOI while the CPU sits in HLT and timed against PIT
; channel 2, one-shot firing once, and a masked timer that counts but interrupts nobody.

%include "guest.inc"
%include "apic.inc"

%define V_LOW           0x50
%define V_HIGH          0x90
%define V_TIMER         0x40
%define V_ONESHOT       0x41
%define TIMER_COUNT     62500           ; 1 ms at 1 GHz / 16
%define TICKS           10

section .bss
order:          resb 16
order_n:        resd 1
high_isr:       resd 1              ; ISR bank of 0x90 as the 0x90 handler saw it
high_ppr:       resd 1
timer_count:    resd 1
oneshot_count:  resd 1
apic_base_msr:  resd 1

section .text
main:
    call lapic_setup
    mov eax, V_LOW
    mov edx, low_handler
    call idt_set
    mov eax, V_HIGH
    mov edx, high_handler
    call idt_set
    mov eax, V_TIMER
    mov edx, timer_handler
    call idt_set
    mov eax, V_ONESHOT
    mov edx, oneshot_handler
    call idt_set

    PRINT "apic: id 0x"
    PRINTHEX dword [L_ID]
    PRINT ", version 0x"
    PRINTHEX dword [L_VER]
    PRINT `\n`
    CHECK dword [L_VER], 0x00050014, "version 0x14, max LVT entry 5"
    mov ecx, 0x1B                       ; IA32_APIC_BASE
    rdmsr
    PRINT "apic: IA32_APIC_BASE 0x"
    PRINTHEX eax
    mov [apic_base_msr], eax
    mov eax, 1
    cpuid
    shr edx, 9
    and edx, 1
    PRINT ", CPUID.1:EDX.APIC "
    PRINTDEC edx
    PRINT `\n`
    CHECK dword [apic_base_msr], 0xFEE00900, "IA32_APIC_BASE: the default base, enabled, BSP"
    CHECK dword [L_SVR], SVR_ENABLE | V_SPURIOUS, "SVR reads back"
    mov dword [L_ESR], 0
    CHECK dword [L_ESR], 0, "no errors"

    call test_self_ipis
    call test_tpr
    call test_periodic
    call test_oneshot
    call test_masked
    CHECK dword [spurious_count], 0, "no spurious interrupts"
    FINISH "apic_timer"

; ---------------------------------------------------------------- self IPIs

test_self_ipis:
    mov dword [L_ICRHI], 0
    mov dword [L_ICRLO], ICR_SELF | V_LOW
    mov dword [L_ICRLO], ICR_SELF | V_HIGH
    mov eax, [L_IRR + 0x20]             ; vectors 0x40-0x5f
    and eax, 1 << (V_LOW - 0x40)
    CHECK eax, 1 << (V_LOW - 0x40), "IRR holds the low self IPI while IF=0"
    mov eax, [L_IRR + 0x40]             ; vectors 0x80-0x9f
    and eax, 1 << (V_HIGH - 0x80)
    CHECK eax, 1 << (V_HIGH - 0x80), "IRR holds the high self IPI"
    CHECK dword [L_PPR], 0, "PPR with nothing in service"
    sti
    mov ecx, 10000000
.wait:
    cmp dword [order_n], 2
    jae .done
    dec ecx
    jnz .wait
.done:
    cli
    CHECK dword [order_n], 2, "both self IPIs taken"
    movzx eax, byte [order]
    CHECK eax, V_HIGH, "the higher vector first"
    movzx eax, byte [order + 1]
    CHECK eax, V_LOW, "then the lower one"
    mov eax, [high_isr]
    and eax, 1 << (V_HIGH - 0x80)
    CHECK eax, 1 << (V_HIGH - 0x80), "ISR shows the vector in service"
    CHECK dword [high_ppr], V_HIGH & 0xF0, "PPR is the class in service"
    mov eax, [L_ISR + 0x40]
    CHECK eax, 0, "EOI cleared ISR"
    ret

; ---------------------------------------------------------------- TPR

test_tpr:
    mov dword [L_TPR], 0x60
    CHECK dword [L_PPR], 0x60, "PPR follows TPR"
    sti
    mov dword [L_ICRLO], ICR_SELF | V_LOW
    mov ecx, 100000
.spin:
    dec ecx
    jnz .spin
    CHECK dword [order_n], 2, "TPR 0x60 holds class 5 back"
    mov eax, [L_IRR + 0x20]
    and eax, 1 << (V_LOW - 0x40)
    CHECK eax, 1 << (V_LOW - 0x40), "the held-back vector waits in IRR"
    mov dword [L_TPR], 0
    mov ecx, 10000000
.wait:
    cmp dword [order_n], 3
    jae .done
    dec ecx
    jnz .wait
.done:
    cli
    CHECK dword [order_n], 3, "taken once TPR drops"
    ret

; ---------------------------------------------------------------- the timer

test_periodic:
    mov dword [timer_count], 0
    call pit2_start
    mov dword [L_TDCR], 0x3             ; divide by 16
    mov dword [L_LVTT], LVT_PERIODIC | V_TIMER
    mov dword [L_TICR], TIMER_COUNT
    mov eax, [L_TCCR]
    CHECK_RANGE eax, 1, TIMER_COUNT, "current count just after the start"
    sti
.wait:
    hlt                                 ; only the APIC timer can wake us
    cmp dword [timer_count], TICKS
    jb .wait
    cli
    call pit2_elapsed
    mov ebx, eax
    mov eax, [L_TCCR]
    CHECK_RANGE eax, 0, TIMER_COUNT, "current count while periodic"
    mov dword [L_TICR], 0               ; stop
    CHECK dword [L_TCCR], 0, "a zero initial count stops the timer"
    PRINT "apic: "
    PRINTDEC dword [timer_count]
    PRINT " periodic interrupts in "
    mov eax, ebx
    imul eax, eax, 1000
    xor edx, edx
    mov ecx, PIT_HZ / 1000
    div ecx
    PRINTDEC eax
    PRINT ` us of PIT time\n`
    ; never early: TICKS periods of 1 ms are at least TICKS ms (a little slack for rounding)
    CHECK_RANGE ebx, (TICKS * PIT_HZ / 1000) * 95 / 100, 0x10000, "periodic timer not early"
    cmp ebx, 0x10000
    jb .ok
    PRINT `apic: note: the periodic interrupts took more than 55 ms (slow host?)\n`
.ok:
    ret

test_oneshot:
    mov dword [L_LVTT], V_ONESHOT       ; one-shot
    mov dword [L_TICR], TIMER_COUNT
    sti
.wait:
    hlt
    cmp dword [oneshot_count], 1
    jb .wait
    mov ecx, 5
    call delay_ms                       ; five more periods: nothing more comes
    cli
    CHECK dword [oneshot_count], 1, "one-shot fires once"
    CHECK dword [L_TCCR], 0, "one-shot current count stays 0"
    CHECK dword [L_TICR], TIMER_COUNT, "initial count kept"
    ret

test_masked:
    mov dword [L_LVTT], LVT_MASKED | V_ONESHOT
    mov dword [L_TICR], TIMER_COUNT
    mov eax, [L_TCCR]
    CHECK_RANGE eax, 1, TIMER_COUNT, "a masked timer counts"
    sti
    mov ecx, 3
    call delay_ms
    cli
    CHECK dword [oneshot_count], 1, "a masked timer interrupts nobody"
    CHECK dword [L_TCCR], 0, "and runs out"
    mov eax, [L_IRR + 0x20]
    and eax, 1 << (V_ONESHOT - 0x40)
    CHECK eax, 0, "nothing in IRR"
    ret

; ---------------------------------------------------------------- handlers

low_handler:
    push eax
    mov eax, [order_n]
    and eax, 15
    mov byte [order + eax], V_LOW
    inc dword [order_n]
    mov dword [L_EOI], 0
    pop eax
    iretd

high_handler:
    push eax
    mov eax, [L_ISR + 0x40]
    mov [high_isr], eax
    mov eax, [L_PPR]
    mov [high_ppr], eax
    mov eax, [order_n]
    and eax, 15
    mov byte [order + eax], V_HIGH
    inc dword [order_n]
    mov dword [L_EOI], 0
    pop eax
    iretd

timer_handler:
    inc dword [timer_count]
    mov dword [L_EOI], 0
    iretd

oneshot_handler:
    inc dword [oneshot_count]
    mov dword [L_EOI], 0
    iretd
