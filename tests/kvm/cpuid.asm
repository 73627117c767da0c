; cpuid: the CPUID leaves software probes, reported register by register: the machine model's
; leaves, and zeros past its maxima (basic, extended and the hypervisor range), so that the
; engines can be compared (KVM on its own would answer an unknown leaf with the highest basic
; one, the Intel way).
%include "selftest.inc"
start:
    SETUP
    mov esi, leaves
.next:
    mov eax, [esi]
    cmp eax, 0xffffffff
    je .done
    xor ecx, ecx
    cpuid
    REPORT_EAX
    mov eax, ebx
    REPORT_EAX
    mov eax, ecx
    REPORT_EAX
    mov eax, edx
    REPORT_EAX
    add esi, 4
    jmp .next
.done:
    FINISH 0x600d
leaves: dd 0, 1, 2, 4, 7, 0xb, 0xd, 0x80000000, 0x80000001, 0x80000004, 0x80000008
        dd 0x40000000, 0x40000001, 0xffffffff
idt_desc: dw 256 * 8 - 1
          dd IDT
