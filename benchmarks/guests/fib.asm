; fib: call/return-heavy recursion. Pass i computes fib(18 + i mod 4) by naive recursion
; (8361 to 35421 calls, 19800 on average) and folds it into the checksum.
; n is the number of passes.
%define BENCH_NAME "fib"
%define BENCH_DEFAULT_N 5000
%include "bench.inc"

; fib(EAX = k) -> EAX = fib(k). Clobbers EDX.
fib:
    cmp eax, 2
    jb .leaf
    push eax
    dec eax
    call fib
    xchg eax, [esp]             ; keep fib(k-1), get k back
    sub eax, 2
    call fib
    pop edx
    add eax, edx
.leaf:
    ret

bench_main:
    push ebx
    push esi
    mov esi, eax                ; passes left
    xor ebx, ebx
    xor ecx, ecx                ; pass number
    test esi, esi
    jz .done
.pass:
    mov eax, ecx
    and eax, 3
    add eax, 18
    call fib
    imul ebx, ebx, 31
    add ebx, eax
    inc ecx
    dec esi
    jnz .pass
.done:
    mov eax, ebx
    pop esi
    pop ebx
    ret
