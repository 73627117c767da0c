; ptrchase: pointer chasing across 64 MiB with paging on (4 KiB pages, no PSE), so nearly every
; step lands on another page: TLB pressure. One list node per page of the 64 MiB at 16 MiB; the
; order is a full-period LCG over the 16384 pages (next = (i * 757 + 7919) mod 16384), and the
; node sits at a different cache line in each page. n is the number of steps; each step loads
; the next pointer and adds the node's value. Setup (page tables, the list) is the same for
; every n, so the n=0 run measures it.
%define BENCH_NAME "ptrchase"
%define BENCH_DEFAULT_N 20000000
%include "bench.inc"
%include "paging.inc"

%define CHASE_BASE  0x1000000           ; 16 MiB
%define CHASE_PAGES 16384               ; 64 MiB
%define LCG_A       757
%define LCG_C       7919

; node_addr(EAX = page index) -> EAX = its node's address. Clobbers nothing else.
node_addr:
    push edx
    mov edx, eax
    imul edx, edx, 7 * 64
    and edx, 0xFC0
    shl eax, 12
    lea eax, [eax + edx + CHASE_BASE]
    pop edx
    ret

bench_main:
    push ebx
    push esi
    push edi
    push ebp
    mov ebp, eax                ; steps
    mov eax, CHASE_BASE + CHASE_PAGES * 4096
    call require_ram
    call paging_enable
    ; build the list: node(i) = { next = node(lcg(i)), value = i * golden }
    xor ecx, ecx                ; i
.build:
    mov eax, ecx
    call node_addr
    mov edi, eax
    mov eax, ecx
    imul eax, eax, LCG_A
    add eax, LCG_C
    and eax, CHASE_PAGES - 1
    call node_addr
    mov [edi], eax
    mov eax, ecx
    imul eax, eax, 0x9E3779B1
    mov [edi + 4], eax
    inc ecx
    cmp ecx, CHASE_PAGES
    jb .build
    ; chase
    xor eax, eax
    call node_addr
    mov esi, eax
    xor ebx, ebx
    test ebp, ebp
    jz .done
.chase:
    add ebx, [esi + 4]
    mov esi, [esi]
    rol ebx, 1
    dec ebp
    jnz .chase
.done:
    mov eax, ebx
    xor eax, esi
    pop ebp
    pop edi
    pop esi
    pop ebx
    ret
