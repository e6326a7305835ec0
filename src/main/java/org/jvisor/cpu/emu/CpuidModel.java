package org.jvisor.cpu.emu;

/**
 * The CPU model the guest sees through CPUID. It advertises only what the emulator implements:
 * x86-64 with MMX, SSE, SSE2, SSE3, SSSE3, SSE4.1, SSE4.2 (so x86-64-v2), CX8, CX16, CMOV, FXSR,
 * POPCNT, LZCNT, NX, 1 GiB pages, RDTSCP, an invariant 1 GHz TSC (leaf 0x15), an xAPIC with the
 * TSC-deadline timer; no AVX, no XSAVE, no x2APIC. The hypervisor leaves say KVM so that the
 * guest uses kvmclock (only the clock is offered there; no other paravirtual feature).
 * The vendor is GenuineIntel, matching the family 6 signature of leaf 1: glibc (2.36, Debian 12)
 * reads leaf 1 only for the vendors it knows, so with any other vendor it sees no feature at all
 * and its loader refuses every dynamically linked program ("CPU ISA level is lower than
 * required"); the x86-64 baseline it checks includes MMX. The brand string still says jvisor.
 * The CPU never executes speculatively, so IA32_ARCH_CAPABILITIES states it is not affected by
 * Meltdown, MDS, TAA and their relatives (and the guest skips page-table isolation).
 */
public final class CpuidModel {
    // Leaf 1 EDX: FPU DE PSE TSC MSR PAE CX8 APIC MTRR PGE CMOV PAT CLFSH MMX FXSR SSE SSE2.
    public static final int L1_EDX = 1 | 1 << 2 | 1 << 3 | 1 << 4 | 1 << 5 | 1 << 6 | 1 << 8 | 1 << 9 | 1 << 12 | 1 << 13 | 1 << 15
            | 1 << 16 | 1 << 19 | 1 << 23 | 1 << 24 | 1 << 25 | 1 << 26;
    // Leaf 1 ECX: SSE3, SSSE3, CX16, SSE4.1, SSE4.2, POPCNT, TSC-deadline timer, and "running under a hypervisor".
    public static final int L1_ECX = 1 | 1 << 9 | 1 << 13 | 1 << 19 | 1 << 20 | 1 << 23 | 1 << 24 | 1 << 31;
    /** Leaf 0x40000001 EAX: kvmclock (CLOCKSOURCE2) with a stable TSC. */
    public static final int KVM_FEATURES = 1 << 3 | 1 << 24;
    // Leaf 0x80000001 EDX: SYSCALL, NX, 1 GiB pages, RDTSCP, LM; ECX: LAHF_LM, ABM (LZCNT).
    public static final int X1_EDX = 1 << 11 | 1 << 20 | 1 << 26 | 1 << 27 | 1 << 29;
    public static final int X1_ECX = 1 | 1 << 5;
    /** The TSC runs at 1 GHz: it counts nanoseconds. */
    public static final long TSC_HZ = 1_000_000_000L;

    private CpuidModel() {}

    private static int str(String s) {
        return (s.charAt(0) & 0xFF) | (s.charAt(1) & 0xFF) << 8 | (s.charAt(2) & 0xFF) << 16 | (s.charAt(3) & 0xFF) << 24;
    }

    static void cpuid(Cpu c) {
        int leaf = (int) c.r[Reg.AX], sub = (int) c.r[Reg.CX];
        long a = 0, b = 0, cx = 0, d = 0;
        switch (leaf) {
            case 0 -> { a = 0x15; b = str("Genu"); d = str("ineI"); cx = str("ntel"); } // vendor "GenuineIntel"
            case 1 -> { a = 0x000606A0L; b = 0x00010800; cx = L1_ECX & 0xFFFFFFFFL; d = L1_EDX; }
            case 7 -> { if (sub == 0) d = 1L << 29; } // ARCH_CAPABILITIES: see Msrs.ARCH_CAPABILITIES
            case 0x15 -> { a = 1; b = 1; cx = TSC_HZ; } // TSC = 1/1 of a 1 GHz crystal
            case 0x40000000 -> { a = 0x40000001L; b = str("KVMK"); cx = str("VMKV"); d = str("M\0\0\0"); }
            case 0x40000001 -> a = KVM_FEATURES;
            case 0x80000000 -> a = 0x80000008L;
            case 0x80000001 -> { cx = X1_ECX; d = X1_EDX & 0xFFFFFFFFL; }
            case 0x80000002 -> { a = str("jvis"); b = str("or s"); cx = str("oftw"); d = str("are "); }
            case 0x80000003 -> { a = str("x86-"); b = str("64 C"); cx = str("PU\0\0"); }
            case 0x80000007 -> d = 1 << 8; // invariant TSC
            case 0x80000008 -> a = 0x3028; // 40 physical, 48 linear address bits
            default -> { }
        }
        c.r[Reg.AX] = a & 0xFFFFFFFFL;
        c.r[Reg.BX] = b & 0xFFFFFFFFL;
        c.r[Reg.CX] = cx & 0xFFFFFFFFL;
        c.r[Reg.DX] = d & 0xFFFFFFFFL;
        if (sub < 0) c.r[Reg.CX] = cx & 0xFFFFFFFFL;
    }
}
