package org.jvisor.cpu.emu;

/**
 * The CPU model the guest sees through CPUID. Advertises only what the emulator implements:
 * x86-64 with SSE, SSE2, SSE3, SSSE3, CX8, CX16, CMOV, FXSR, POPCNT, LZCNT; no AVX, no XSAVE.
 */
public final class CpuidModel {
    // Leaf 1 EDX: FPU TSC CX8 CMOV CLFSH MMX? (no: MMX forms are not implemented) FXSR SSE SSE2.
    public static final int L1_EDX = 1 | 1 << 4 | 1 << 8 | 1 << 15 | 1 << 19 | 1 << 24 | 1 << 25 | 1 << 26;
    // Leaf 1 ECX: SSE3, SSSE3, CX16, POPCNT.
    public static final int L1_ECX = 1 | 1 << 9 | 1 << 13 | 1 << 23;
    // Leaf 0x80000001 EDX: SYSCALL, NX, LM; ECX: LAHF_LM, ABM (LZCNT).
    public static final int X1_EDX = 1 << 11 | 1 << 20 | 1 << 29;
    public static final int X1_ECX = 1 | 1 << 5;

    private CpuidModel() {}

    static void cpuid(Cpu c) {
        int leaf = (int) c.r[Reg.AX];
        long a = 0, b = 0, cx = 0, d = 0;
        switch (leaf) {
            case 0 -> { a = 1; b = 0x7369766A; d = 0x6A20726F; cx = 0x20555043; } // vendor "jvisor jCPU "
            case 1 -> { a = 0x000606A0L; b = 0x00010800; cx = L1_ECX; d = L1_EDX; }
            case 0x80000000 -> a = 0x80000001L;
            case 0x80000001 -> { cx = X1_ECX; d = X1_EDX; }
            default -> { }
        }
        c.r[Reg.AX] = a & 0xFFFFFFFFL;
        c.r[Reg.BX] = b & 0xFFFFFFFFL;
        c.r[Reg.CX] = cx & 0xFFFFFFFFL;
        c.r[Reg.DX] = d & 0xFFFFFFFFL;
    }
}
