; pit: interrupts from the PC's own devices, the way an OS takes them: the 8259A PIC
; (remapped to vectors 0x20-0x2f) and the 8254 PIT's channel 0 at 100 Hz on IRQ 0.
;   - ten timer interrupts, each waking the CPU from HLT;
;   - one that arrives while IF=0 waits in the PIC's IRR and is taken right after STI's
;     shadow, exactly once;
;   - masking IRQ 0 in the PIC stops them.
; Prints nothing that depends on timing, so both engines must print the same lines. Built
; from tests/guests' runtime (guest.inc), run by tests/kvm under -accel kvm and -accel dbt.
%include "guest.inc"

%define PIC1_CMD  0x20
%define PIC1_DATA 0x21
%define PIC2_CMD  0xa0
%define PIC2_DATA 0xa1
%define PIT_CH0   0x40
%define PIT_CMD   0x43
%define DIVISOR   11932                 ; 1193182 Hz / 11932 = 100 Hz

section .bss
ticks: resd 1

section .text
timer_handler:
    push eax
    inc dword [ticks]
    mov al, 0x20                        ; non-specific EOI
    out PIC1_CMD, al
    pop eax
    iretd

main:
    mov eax, 0x20
    mov edx, timer_handler
    call idt_set

    mov al, 0x11                        ; ICW1: edge, cascade, ICW4 follows
    out PIC1_CMD, al
    out PIC2_CMD, al
    mov al, 0x20                        ; ICW2: vectors 0x20.. and 0x28..
    out PIC1_DATA, al
    mov al, 0x28
    out PIC2_DATA, al
    mov al, 0x04                        ; ICW3: slave on IR2
    out PIC1_DATA, al
    mov al, 0x02
    out PIC2_DATA, al
    mov al, 0x01                        ; ICW4: 8086 mode
    out PIC1_DATA, al
    out PIC2_DATA, al
    mov al, 0xfe                        ; only IRQ 0
    out PIC1_DATA, al
    mov al, 0xff
    out PIC2_DATA, al

    mov al, 0x34                        ; channel 0, lo/hi byte, mode 2 (rate generator)
    out PIT_CMD, al
    mov al, DIVISOR & 0xff
    out PIT_CH0, al
    mov al, DIVISOR >> 8
    out PIT_CH0, al
    PRINT `pit: PIC remapped to 0x20, PIT channel 0 at 100 Hz\n`

    sti
.wait:
    hlt
    cmp dword [ticks], 10
    jb .wait
    cli
    CHECK 1, 1, "ten ticks"             ; counts the check; reaching here is the test
    PRINT `pit: ten timer interrupts woke the CPU from HLT\n`

    ; IF=0: the next request waits in IRR (OCW3 0x0a: read IRR) ...
    mov al, 0x0a
    out PIC1_CMD, al
.irr:
    in al, PIC1_CMD
    test al, 1
    jz .irr
    mov ebx, [ticks]
    sti                                 ; ... and is taken once STI's shadow is over
    nop
    jmp .taken                          ; (a block boundary for the translator)
.taken:
    cli
    mov eax, [ticks]
    sub eax, ebx
    CHECK eax, 1, "a request held while IF=0 is taken right after STI, once"
    PRINT `pit: the request held while IF=0 was taken right after STI\n`

    mov al, 0xff                        ; mask IRQ 0: no more ticks
    out PIC1_DATA, al
    mov ebx, [ticks]
    sti
    mov ecx, 3
.quiet:                                 ; wait ~30 ms by polling the PIT's count wraps
    call wait_period
    dec ecx
    jnz .quiet
    cli
    mov eax, [ticks]
    sub eax, ebx
    CHECK eax, 0, "no interrupt while IRQ 0 is masked"
    PRINT `pit: masked in the PIC, IRQ 0 stays quiet\n`
    FINISH "pit"

; wait for the PIT's channel 0 count to wrap once (one 10 ms period), by latching and reading
; the count until it goes up
wait_period:
    pushad
    call read_count
    mov ebx, eax
.poll:
    call read_count
    cmp eax, ebx
    mov ebx, eax
    jbe .poll
    popad
    ret

read_count:                             ; EAX = channel 0's current count
    mov al, 0x00                        ; counter latch, channel 0
    out PIT_CMD, al
    in al, PIT_CH0
    mov ah, al
    in al, PIT_CH0
    xchg al, ah
    movzx eax, ax
    ret
