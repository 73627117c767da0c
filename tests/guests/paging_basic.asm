; paging_basic: 2-level paging with 4 KiB and 4 MiB pages (CR4.PSE).
;
; An identity map (4 KiB pages for 0-4 MiB, 4 MiB pages above, all user-accessible) carries
; the guest. In a test window at 1 GiB: a #PF handler that maps missing pages on demand and
; resumes the faulting instruction; the error code and CR2 of not-present reads and writes,
; of writes to read-only pages (ignored at CPL 0 until CR0.WP is set), of user accesses to
; supervisor pages and to read-only user pages, of an instruction fetch from a missing page,
; of an access that crosses into a missing page, and of a reserved bit in a 4 MiB PDE;
; accessed and dirty bits in PDEs and PTEs and in a 4 MiB PDE; a 4 MiB alias of memory seen
; through the identity map; INVLPG and a CR3 reload making a changed PTE visible; runs of
; loads and stores off one register across two adjacent pages mapped to frames in the other
; order (the translator may check such a run's pages once). The
; expected values follow the SDM (vol. 3 ch. 4.7: page-fault error codes).

%define GDT2_ENTRIES 8
%include "guest.inc"
%include "pm_common.inc"

%define WIN         0x40000000          ; the test window: PDE 256, page table ptw
%define POOL        0x00300000          ; physical frames the demand handler hands out
%define NDEMAND     16                  ; window pages the handler maps on demand
%define RO_PAGE     (WIN + 0x100000)    ; present, read-only, user
%define SUP_PAGE    (WIN + 0x101000)    ; present, writable, supervisor
%define NP_PAGE     (WIN + 0x102000)    ; not present
%define AD_PAGE     (WIN + 0x200000)    ; fresh PTE with A = D = 0
%define INV_PAGE    (WIN + 0x258000)    ; remapped for INVLPG
%define CODE_NP     (WIN + 0x300000)    ; not present, jumped to
%define PAIR_LO     (WIN + 0x260000)    ; on FRAME_B
%define PAIR_HI     (WIN + 0x261000)    ; on FRAME_A: below PAIR_LO's frame
%define FRAME_A     0x00380000
%define FRAME_B     0x00381000
%define FRAME_RO    0x00382000
%define FRAME_SUP   0x00383000
%define FRAME_AD    0x00384000
%define ALIAS       0x80000000          ; 4 MiB page onto physical 4 MiB

%define P 1
%define W 2
%define U 4
%define A 0x20
%define D 0x40
%define PS 0x80

section .bss
alignb 4096
pd:             resd 1024
pt0:            resd 1024
ptw:            resd 1024
gdt2:           resq GDT2_ENTRIES
pf_count:       resd 1
pf_err:         resd NDEMAND
pf_cr2:         resd NDEMAND

section .text

main:
    call pm_basic_setup
    call build_tables
    mov eax, 14
    mov edx, pf_demand
    call idt_set
    mov eax, pd
    mov cr3, eax
    mov eax, cr4
    or eax, 0x10                        ; PSE
    mov cr4, eax
    mov eax, cr0
    or eax, 0x80000000                  ; PG (WP clear for now)
    mov cr0, eax
    jmp .paged                          ; the mapping is the identity: nothing moves
.paged:
    CHECK dword [pd], pt0 + P + W + U + A, "identity PDE: accessed bit set by use"
    call test_demand
    call test_write_protect
    call test_user
    call test_accessed_dirty
    call test_large_alias
    call test_invlpg
    call test_fetch_cross_rsvd
    call test_page_pair
    mov eax, cr0
    and eax, 0x7fffffff
    mov cr0, eax
    FINISH "paging_basic"

build_tables:
    pushad
    mov edi, pd
    xor eax, eax
    mov ecx, 3 * 1024
    rep stosd
    ; 0-4 MiB: 4 KiB pages, identity, user, writable
    mov edi, pt0
    mov eax, P + W + U
    mov ecx, 1024
.pt0:
    stosd
    add eax, 4096
    loop .pt0
    mov dword [pd], pt0 + P + W + U
    ; 4 MiB - 64 MiB: 4 MiB pages, identity
    mov edi, pd + 4
    mov eax, 0x400000 + P + W + U + PS
    mov ecx, 15
.big:
    stosd
    add eax, 0x400000
    loop .big
    mov dword [pd + (WIN >> 22) * 4], ptw + P + W + U
    mov dword [ptw + ((RO_PAGE - WIN) >> 12) * 4], FRAME_RO + P + U
    mov dword [ptw + ((SUP_PAGE - WIN) >> 12) * 4], FRAME_SUP + P + W
    mov dword [ptw + ((AD_PAGE - WIN) >> 12) * 4], FRAME_AD + P + W + U
    mov dword [ptw + ((INV_PAGE - WIN) >> 12) * 4], FRAME_A + P + W + U
    mov dword [pd + (ALIAS >> 22) * 4], 0x400000 + P + W + PS
    mov dword [ptw + ((PAIR_LO - WIN) >> 12) * 4], FRAME_B + P + W + U
    mov dword [ptw + ((PAIR_HI - WIN) >> 12) * 4], FRAME_A + P + W + U
    ; frames with known contents
    mov dword [FRAME_A], 0xaaaa0001
    mov dword [FRAME_B], 0xbbbb0002
    mov dword [FRAME_RO], 0x0dd00dd0
    mov dword [FRAME_SUP], 0x5a5a5a5a
    popad
    ret

; #PF: map the missing window page and retry; anything else goes to the normal stub
pf_demand:
    push eax
    push ebx
    push ds
    mov eax, PM_DATA0
    mov ds, eax
    mov eax, cr2
    sub eax, WIN
    cmp eax, NDEMAND * 4096
    jae .other
    shr eax, 12
    mov ebx, [esp + 12]                 ; the error code
    mov [pf_err + eax * 4], ebx
    mov ebx, cr2
    mov [pf_cr2 + eax * 4], ebx
    mov ebx, eax
    shl ebx, 12
    add ebx, POOL + P + W + U
    mov [ptw + eax * 4], ebx
    inc dword [pf_count]
    pop ds
    pop ebx
    pop eax
    add esp, 4                          ; the error code
    iret
.other:
    pop ds
    pop ebx
    pop eax
    jmp ds_stub_14

; ---------------------------------------------------------------- demand paging

test_demand:
    ; four writes, each to a missing page: each faults once, is mapped, retried
    xor ecx, ecx
.w:
    mov eax, ecx
    shl eax, 12
    imul edx, ecx, 0x11111111
    mov [WIN + eax + 8], edx
    inc ecx
    cmp ecx, 4
    jb .w
    CHECK dword [pf_count], 4, "demand paging: one fault per page"
    CHECK dword [pf_err], 2, "not-present write at CPL 0: error code W"
    CHECK dword [pf_cr2 + 12], WIN + 3 * 4096 + 8, "not-present write: CR2"
    CHECK dword [WIN + 3 * 4096 + 8], 0x33333333, "demand-mapped page: the write landed"
    CHECK dword [POOL + 2 * 4096 + 8], 0x22222222, "demand-mapped page: in the frame"
    ; a read of a missing page
    mov eax, [WIN + 5 * 4096 + 0x10]
    CHECK dword [pf_count], 5, "not-present read: faulted once"
    CHECK dword [pf_err + 5 * 4], 0, "not-present read at CPL 0: error code 0"
    CHECK dword [pf_cr2 + 5 * 4], WIN + 5 * 4096 + 0x10, "not-present read: CR2"
    ; the retried instruction ran once: a read-modify-write adds once
    add dword [WIN + 6 * 4096], 5
    CHECK dword [WIN + 6 * 4096], 5, "faulting RMW retried once"
    ret

; ---------------------------------------------------------------- CR0.WP

test_write_protect:
    mov dword [RO_PAGE + 4], 0x1234     ; CPL 0, WP clear: allowed
    CHECK dword [FRAME_RO + 4], 0x1234, "CPL 0 write to a read-only page with WP clear"
    mov eax, cr0
    or eax, 0x10000                     ; WP
    mov cr0, eax
    TRY .wp
.wp_insn:
    mov dword [RO_PAGE + 8], 0x5678
.wp:
    EXPECT_EXC 14, P + W, .wp_insn, "CPL 0 write to a read-only page with WP set"
    CHECK dword [got_cr2], RO_PAGE + 8, "WP fault: CR2"
    CHECK dword [FRAME_RO + 8], 0, "WP fault: nothing written"
    mov eax, cr0
    and eax, ~0x10000
    mov cr0, eax
    ret

; ---------------------------------------------------------------- user-mode faults

; R3_PF code, error, cr2, "name": run code at CPL 3, expect #PF with that error code
%macro R3_PF 4
    TRY %%caught
    mov eax, %1
    mov edx, 0x002
    call run_ring3
%%caught:
    EXPECT_EXC 14, %2, %1, %4
    CHECK dword [got_cr2], %3, %4
%endmacro

test_user:
    R3_PF r3_read_sup, P + U, SUP_PAGE, "CPL 3 read of a supervisor page"
    R3_PF r3_write_sup, P + W + U, SUP_PAGE + 4, "CPL 3 write to a supervisor page"
    R3_PF r3_write_ro, P + W + U, RO_PAGE, "CPL 3 write to a read-only user page"
    R3_PF r3_read_np, U, NP_PAGE + 0x10, "CPL 3 read of a missing page"
    ; CPL 3 reads a user page, even a read-only one
    mov eax, r3_read_ro
    mov edx, 0x002
    call run_ring3
    CHECK dword [r3_val], 0x0dd00dd0, "CPL 3 read of a read-only user page"
    ret

r3_read_sup:
    mov eax, [ss:SUP_PAGE]
    jmp $
r3_write_sup:
    mov [ss:SUP_PAGE + 4], eax
    jmp $
r3_write_ro:
    mov [ss:RO_PAGE], eax
    jmp $
r3_read_np:
    mov eax, [ss:NP_PAGE + 0x10]
    jmp $
r3_read_ro:
    mov eax, [ss:RO_PAGE]
    int 0x30

; ---------------------------------------------------------------- accessed and dirty

%define PTE_AD (ptw + ((AD_PAGE - WIN) >> 12) * 4)

test_accessed_dirty:
    mov eax, [PTE_AD]
    and eax, A + D
    CHECK eax, 0, "fresh PTE: A and D clear"
    mov eax, [AD_PAGE]
    mov eax, [PTE_AD]
    and eax, A + D
    CHECK eax, A, "after a read: A set, D clear"
    mov eax, [pd + (WIN >> 22) * 4]
    and eax, A + D
    CHECK eax, A, "PDE of a walked table: A set, D untouched"
    mov dword [AD_PAGE], 1
    mov eax, [PTE_AD]
    and eax, A + D
    CHECK eax, A + D, "after a write: D set"
    ; clear them again; INVLPG makes the CPU walk (and set them) anew
    and dword [PTE_AD], ~(A + D)
    invlpg [AD_PAGE]
    mov dword [AD_PAGE + 4], 2
    mov eax, [PTE_AD]
    and eax, A + D
    CHECK eax, A + D, "write after INVLPG: A and D set together"
    ; a 4 MiB page: its PDE is the leaf and gets D
    mov eax, [pd + 2 * 4]
    and eax, A + D
    CHECK eax, 0, "fresh 4 MiB PDE: A and D clear"
    mov eax, [0x800000]
    mov eax, [pd + 2 * 4]
    and eax, A + D
    CHECK eax, A, "4 MiB page read: A set"
    mov dword [0x800010], 3
    mov eax, [pd + 2 * 4]
    and eax, A + D
    CHECK eax, A + D, "4 MiB page write: D set"
    ret

; ---------------------------------------------------------------- 4 MiB alias

test_large_alias:
    mov dword [ALIAS + 0x1230], 0xfeedf00d
    CHECK dword [0x401230], 0xfeedf00d, "4 MiB page: alias write seen through the identity map"
    mov dword [0x7ffff0], 0xc001d00d
    CHECK dword [ALIAS + 0x3ffff0], 0xc001d00d, "4 MiB page: last bytes"
    ret

; ---------------------------------------------------------------- INVLPG and CR3

%define PTE_INV (ptw + ((INV_PAGE - WIN) >> 12) * 4)

test_invlpg:
    CHECK dword [INV_PAGE], 0xaaaa0001, "INV_PAGE on frame A"
    mov dword [PTE_INV], FRAME_B + P + W + U
    invlpg [INV_PAGE]
    CHECK dword [INV_PAGE], 0xbbbb0002, "after INVLPG: frame B"
    mov dword [PTE_INV], FRAME_A + P + W + U
    mov eax, cr3
    mov cr3, eax
    CHECK dword [INV_PAGE], 0xaaaa0001, "after a CR3 reload: frame A again"
    ; INVLPG of a 4 MiB page flushes the whole of it
    mov eax, [ALIAS + 0x2000]
    mov dword [pd + (ALIAS >> 22) * 4], 0x800000 + P + W + PS
    invlpg [ALIAS + 0x100000]
    mov dword [0x802000], 0x99887766
    CHECK dword [ALIAS + 0x2000], 0x99887766, "INVLPG in a 4 MiB page drops all of it"
    mov dword [pd + (ALIAS >> 22) * 4], 0x400000 + P + W + PS
    invlpg [ALIAS]
    ret

; ---------------------------------------------------------------- fetch, crossing, reserved

test_fetch_cross_rsvd:
    TRY .fetch
    call CODE_NP
.fetch:
    EXPECT_EXC 14, 0, CODE_NP, "fetch from a missing page: error code 0, EIP = target"
    CHECK dword [got_cr2], CODE_NP, "fetch from a missing page: CR2"
    ; a 4-byte write that starts on a present page and ends on a missing one
    TRY .cross
    mov dword [SUP_PAGE + 0xffe], 0x11223344
.cross:
    CHECK dword [got_vec], 14, "write crossing into a missing page: #PF"
    CHECK dword [got_err], W, "crossing write: error code (the missing page: P clear)"
    CHECK dword [got_cr2], NP_PAGE, "crossing write: CR2 = start of the missing page"
    CHECK dword [FRAME_SUP + 0xffc], 0, "crossing write: the present page untouched"
    ; a reserved bit (21) in a 4 MiB PDE
    mov dword [pd + 3 * 4], 0xc00000 + P + W + PS + (1 << 21)
    invlpg [0xc00000]
    TRY .rsvd
.rsvd_insn:
    mov eax, [0xc00100]
.rsvd:
    ; the SDM: RSVD comes with P set (the entry was present), which dualvm reports and
    ; tests/unit/test_mmu.c checks; QEMU 7.2 leaves P clear, so P is not compared here
    and dword [got_err], ~P
    EXPECT_EXC 14, 8, .rsvd_insn, "reserved bit in a 4 MiB PDE: RSVD"
    mov dword [pd + 3 * 4], 0xc00000 + P + W + U + PS
    invlpg [0xc00000]
    ret

; ---------------------------------------------------------------- runs across a page pair

; EBP-relative loads and stores in one straight run, first across the boundary of two linear
; pages whose frames are in the opposite order (an access checked against the wrong page
; would land on FRAME_RO), then all within the upper page, starting above its lowest.
test_page_pair:
    pushad
    ; through the pair's own addresses, so both pages are mapped (and dirty) when the runs start
    mov dword [PAIR_LO + 0xff8], 0x10101010
    mov dword [PAIR_LO + 0xffc], 0x11111111
    mov dword [PAIR_HI], 0x22222222
    mov dword [PAIR_HI + 4], 0x33333333
    mov dword [PAIR_HI + 8], 0x44444444
    mov ebp, PAIR_LO + 0xffc
    mov eax, [ebp]
    mov ebx, [ebp + 4]
    mov ecx, [ebp + 8]
    mov edx, [ebp - 4]
    mov [ebp + 4], edx
    mov [ebp - 4], ecx
    mov [ebp + 8], eax
    mov esi, [ebp + 4]
    mov edi, [ebp + 8]
    mov [saved_pair], eax
    mov [saved_pair + 4], ebx
    mov [saved_pair + 8], ecx
    mov [saved_pair + 12], edx
    mov [saved_pair + 16], esi
    mov [saved_pair + 20], edi
    mov ebp, PAIR_HI + 8
    mov eax, [ebp]
    mov ebx, [ebp - 8]
    mov ecx, [ebp - 4]
    mov [ebp + 4], ebx
    mov edx, [ebp + 4]
    mov [saved_pair + 24], eax
    mov [saved_pair + 28], ebx
    mov [saved_pair + 32], ecx
    mov [saved_pair + 36], edx
    popad
    CHECK dword [saved_pair], 0x11111111, "page pair: load at the end of the lower page"
    CHECK dword [saved_pair + 4], 0x22222222, "page pair: load at the start of the upper page"
    CHECK dword [saved_pair + 8], 0x33333333, "page pair: second dword of the upper page"
    CHECK dword [saved_pair + 12], 0x10101010, "page pair: load below the first"
    CHECK dword [saved_pair + 16], 0x10101010, "page pair: store to the upper page, read back"
    CHECK dword [saved_pair + 20], 0x11111111, "page pair: second store, read back"
    CHECK dword [FRAME_A], 0x10101010, "page pair: the store went to the upper page's frame"
    CHECK dword [FRAME_B + 0xff8], 0x33333333, "page pair: the store went to the lower frame"
    CHECK dword [FRAME_RO], 0x0dd00dd0, "page pair: the frame above the lower one untouched"
    CHECK dword [saved_pair + 24], 0x44444444, "page pair: a run within the upper page"
    CHECK dword [saved_pair + 28], 0x10101010, "page pair: ... its lowest dword"
    CHECK dword [saved_pair + 32], 0x11111111, "page pair: ... its second dword"
    CHECK dword [saved_pair + 36], 0x10101010, "page pair: ... a store and a load"
    ret

section .bss
saved_pair:     resd 10
section .text
