# The benchmark workloads of bench/cpu-mips.sh; CpuMips embeds their machine code (as -M intel objdump shows it).
# Integer workload: rdi = 2 KiB table, rsi = iterations. A mix of loads, stores, ALU, shifts,
# multiply, compare and a data-dependent branch.
.intel_syntax noprefix
int_loop:
    xor ecx, ecx
    mov edx, 0x12345
1:  mov rax, [rdi + rcx*8]
    add rax, rdx
    xor rdx, rax
    imul r8, rax, 13
    shr r8, 3
    lea r9, [r8 + rdx*2 + 7]
    mov [rdi + rcx*8], r9
    test r9b, 1
    jz 2f
    sub rdx, r8
2:  inc ecx
    and ecx, 255
    dec rsi
    jnz 1b
    nop
# SSE2 workload: rdi = buffer of 8 KiB (two 4 KiB halves), rsi = iterations.
# Each iteration copies 4 KiB with movdqa/movdqu and finds the length of a 4 KiB string.
sse_loop:
    pxor xmm0, xmm0
3:  xor eax, eax
4:  movdqa xmm1, [rdi + rax]
    movdqa xmm2, [rdi + rax + 16]
    movdqu [rdi + rax + 4096], xmm1
    movdqu [rdi + rax + 4112], xmm2
    add rax, 32
    cmp rax, 4096
    jb 4b
    xor eax, eax
5:  movdqa xmm3, [rdi + rax + 4096]
    pcmpeqb xmm3, xmm0
    pmovmskb edx, xmm3
    add rax, 16
    test edx, edx
    jz 5b
    dec rsi
    jnz 3b
    nop
