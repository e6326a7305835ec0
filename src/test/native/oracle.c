// The host CPU as an oracle for jvisor's software CPU.
//
// Reads test cases on stdin, runs each natively and writes the resulting state on stdout.
// A case: code bytes, 16 GPRs, RFLAGS, a 512-byte FXSAVE image and the data region. The code
// runs at CODE_ADDR with the data region at DATA_ADDR (the same addresses the emulator uses)
// and returns through an appended absolute jump. A fault (SIGSEGV, SIGFPE, SIGILL, ...) is
// caught on an alternate stack and reported with the state at the faulting instruction, so
// no case can take this process down, let alone the JVM that drives it.
//
// Wire format (little-endian): request = u32 code_len, code, u64 regs[16], u64 rflags,
// u8 fx[512], u8 data[DATA_SIZE]; response = u32 signal (0 = none), u32 si_code, u64 rip,
// u64 fault_addr, u64 regs[16], u64 rflags, u8 fx[512], u8 data[DATA_SIZE].
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#define CODE_ADDR 0x100000UL
#define CODE_SIZE 0x10000UL
#define DATA_ADDR 0x200000UL
#define DATA_SIZE 2048
#define MAX_CODE 4000

struct state {
    uint64_t regs[16];
    uint64_t rflags;
};

uint64_t g_in_regs[16], g_in_rflags;
uint64_t g_out_regs[16], g_out_rflags;
uint64_t g_host_rsp;
uint64_t g_code_addr = CODE_ADDR;
uint8_t g_in_fx[512] __attribute__((aligned(64)));
uint8_t g_out_fx[512] __attribute__((aligned(64)));

void run_case(void);
void case_exit(void);

// Enter: save host callee-saved registers and stack, load the guest state, jump to the code.
// Exit: store the guest registers, switch back to the host stack, take RFLAGS and FXSAVE.
__asm__(
    ".text\n"
    ".globl run_case\n"
    "run_case:\n"
    "  push %rbx\n push %rbp\n push %r12\n push %r13\n push %r14\n push %r15\n"
    "  mov %rsp, g_host_rsp(%rip)\n"
    "  fxrstor64 g_in_fx(%rip)\n"
    "  pushq g_in_rflags(%rip)\n"
    "  popfq\n"
    "  mov g_in_regs+0(%rip), %rax\n"
    "  mov g_in_regs+8(%rip), %rcx\n"
    "  mov g_in_regs+16(%rip), %rdx\n"
    "  mov g_in_regs+24(%rip), %rbx\n"
    "  mov g_in_regs+40(%rip), %rbp\n"
    "  mov g_in_regs+48(%rip), %rsi\n"
    "  mov g_in_regs+56(%rip), %rdi\n"
    "  mov g_in_regs+64(%rip), %r8\n"
    "  mov g_in_regs+72(%rip), %r9\n"
    "  mov g_in_regs+80(%rip), %r10\n"
    "  mov g_in_regs+88(%rip), %r11\n"
    "  mov g_in_regs+96(%rip), %r12\n"
    "  mov g_in_regs+104(%rip), %r13\n"
    "  mov g_in_regs+112(%rip), %r14\n"
    "  mov g_in_regs+120(%rip), %r15\n"
    "  mov g_in_regs+32(%rip), %rsp\n"
    "  jmp *g_code_addr(%rip)\n"
    ".globl case_exit\n"
    "case_exit:\n"
    "  mov %rax, g_out_regs+0(%rip)\n"
    "  mov %rcx, g_out_regs+8(%rip)\n"
    "  mov %rdx, g_out_regs+16(%rip)\n"
    "  mov %rbx, g_out_regs+24(%rip)\n"
    "  mov %rsp, g_out_regs+32(%rip)\n"
    "  mov %rbp, g_out_regs+40(%rip)\n"
    "  mov %rsi, g_out_regs+48(%rip)\n"
    "  mov %rdi, g_out_regs+56(%rip)\n"
    "  mov %r8, g_out_regs+64(%rip)\n"
    "  mov %r9, g_out_regs+72(%rip)\n"
    "  mov %r10, g_out_regs+80(%rip)\n"
    "  mov %r11, g_out_regs+88(%rip)\n"
    "  mov %r12, g_out_regs+96(%rip)\n"
    "  mov %r13, g_out_regs+104(%rip)\n"
    "  mov %r14, g_out_regs+112(%rip)\n"
    "  mov %r15, g_out_regs+120(%rip)\n"
    "  mov g_host_rsp(%rip), %rsp\n"
    "  pushfq\n"
    "  popq g_out_rflags(%rip)\n"
    "  fxsave64 g_out_fx(%rip)\n"
    "  cld\n"
    "  ldmxcsr mxcsr_default(%rip)\n"
    "  fninit\n"
    "  pop %r15\n pop %r14\n pop %r13\n pop %r12\n pop %rbp\n pop %rbx\n"
    "  ret\n"
    ".data\n"
    "mxcsr_default: .long 0x1f80\n"
    ".text\n");

static sigjmp_buf g_jmp;
static volatile int g_sig, g_code;
static volatile uint64_t g_fault_rip, g_fault_addr;

// Registers in ucontext order, mapped to the x86 encoding order.
static const int greg_of[16] = {REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP, REG_RSI, REG_RDI,
                                REG_R8,  REG_R9,  REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15};

static void on_fault(int sig, siginfo_t *si, void *uc_) {
    ucontext_t *uc = uc_;
    g_sig = sig;
    g_code = si->si_code;
    g_fault_addr = (uint64_t)si->si_addr;
    g_fault_rip = uc->uc_mcontext.gregs[REG_RIP];
    for (int i = 0; i < 16; i++) g_out_regs[i] = uc->uc_mcontext.gregs[greg_of[i]];
    g_out_rflags = uc->uc_mcontext.gregs[REG_EFL];
    memcpy(g_out_fx, uc->uc_mcontext.fpregs, 512);
    siglongjmp(g_jmp, 1);
}

static int read_all(void *p, size_t n) {
    uint8_t *b = p;
    while (n) {
        ssize_t r = read(0, b, n);
        if (r <= 0) return -1;
        b += r;
        n -= r;
    }
    return 0;
}

static void write_all(const void *p, size_t n) {
    const uint8_t *b = p;
    while (n) {
        ssize_t r = write(1, b, n);
        if (r <= 0) exit(3);
        b += r;
        n -= r;
    }
}

int main(void) {
    uint8_t *code = mmap((void *)CODE_ADDR, CODE_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    uint8_t *data = mmap((void *)DATA_ADDR, 0x10000, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (code != (void *)CODE_ADDR || data != (void *)DATA_ADDR) {
        fprintf(stderr, "oracle: cannot map the test regions\n");
        return 2;
    }
    static uint8_t altstack[1 << 16];
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0};
    sigaltstack(&ss, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP};
    for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaction(sigs[i], &sa, NULL);

    for (;;) {
        uint32_t len;
        if (read_all(&len, 4)) return 0;
        if (len > MAX_CODE) return 4;
        if (read_all(code, len)) return 4;
        // jmp *0(%rip) ; .quad case_exit
        uint8_t tail[14] = {0xFF, 0x25, 0, 0, 0, 0};
        uint64_t target = (uint64_t)case_exit;
        memcpy(tail + 6, &target, 8);
        memcpy(code + len, tail, sizeof tail);
        if (read_all(g_in_regs, sizeof g_in_regs) || read_all(&g_in_rflags, 8) || read_all(g_in_fx, 512) ||
            read_all(data, DATA_SIZE))
            return 4;
        __builtin___clear_cache((char *)code, (char *)code + len + sizeof tail);
        g_sig = 0;
        g_code = 0;
        g_fault_rip = 0;
        g_fault_addr = 0;
        if (sigsetjmp(g_jmp, 1) == 0) {
            run_case();
        }
        uint32_t hdr[2] = {(uint32_t)g_sig, (uint32_t)g_code};
        write_all(hdr, 8);
        uint64_t rip = g_sig ? g_fault_rip : CODE_ADDR + len;
        uint64_t addr = g_fault_addr;
        write_all(&rip, 8);
        write_all(&addr, 8);
        write_all(g_out_regs, sizeof g_out_regs);
        write_all(&g_out_rflags, 8);
        write_all(g_out_fx, 512);
        write_all(data, DATA_SIZE);
    }
}
