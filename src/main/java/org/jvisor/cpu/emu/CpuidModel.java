package org.jvisor.cpu.emu;

/**
 * The CPU model the guest sees through CPUID. It advertises only what the emulator implements:
 * x86-64 with MMX, SSE, SSE2, SSE3, SSSE3, SSE4.1, SSE4.2 (so x86-64-v2), CX8, CX16, CMOV, FXSR,
 * POPCNT, LZCNT, NX, 1 GiB pages, RDTSCP, an invariant 1 GHz TSC (leaf 0x15), an xAPIC with the
 * TSC-deadline timer; no AVX, no XSAVE, no x2APIC. The hypervisor leaves say KVM so that the
 * guest uses kvmclock (only the clock is offered there; no other paravirtual feature).
 * The vendor is AuthenticAMD, as QEMU's qemu64 says: glibc (2.36, Debian 12) reads leaf 1 only
 * for the vendors it knows, so with a vendor of our own it saw no feature at all and its loader
 * refused every dynamically linked program ("CPU ISA level is lower than required"). AMD rather
 * than Intel because AMD describes its caches in leaves 0x80000005/6, which are simple to model,
 * and Linux applies no model quirks to an old family-15 part. The brand string says jvisor.
 * The CPU never executes speculatively, so IA32_ARCH_CAPABILITIES states it is not affected by
 * Meltdown, MDS, TAA and their relatives (and the guest skips page-table isolation).
 */
public final class CpuidModel {
    // Leaf 1 EDX: FPU DE PSE TSC MSR PAE MCE CX8 APIC MTRR PGE MCA CMOV PAT CLFSH MMX FXSR SSE SSE2.
    // MCE and MCA with banks that never report an error (see Msrs): without them Linux logs
    // "Unable to init MCE device" as an error, which every hypervisor's guests are spared.
    public static final int L1_EDX = 1 | 1 << 2 | 1 << 3 | 1 << 4 | 1 << 5 | 1 << 6 | 1 << 7 | 1 << 8 | 1 << 9 | 1 << 12 | 1 << 13
            | 1 << 14 | 1 << 15
            | 1 << 16 | 1 << 19 | 1 << 23 | 1 << 24 | 1 << 25 | 1 << 26;
    // Leaf 1 ECX: SSE3, SSSE3, CX16, SSE4.1, SSE4.2, POPCNT, TSC-deadline timer, and "running under a hypervisor".
    public static final int L1_ECX = 1 | 1 << 9 | 1 << 13 | 1 << 19 | 1 << 20 | 1 << 23 | 1 << 24 | 1 << 31;
    /**
     * Leaf 6 EAX: the APIC timer always runs (ARAT), which is true of this LAPIC in every idle
     * state. Without it Linux assumes the timer stops in deep C-states, finds no broadcast timer
     * to stand in, and stays on a periodic tick: an idle guest then wakes HZ times a second, and
     * a guest restored minutes after its snapshot replays every tick it missed, one by one
     * (~20 M instructions for three minutes), before it answers.
     */
    public static final int ARAT = 1 << 2;
    /** Leaf 0x40000001 EAX: kvmclock (CLOCKSOURCE2) with a stable TSC. */
    public static final int KVM_FEATURES = 1 << 3 | 1 << 24;
    // Leaf 0x80000001 EDX: SYSCALL, NX, 1 GiB pages, RDTSCP, LM; ECX: LAHF_LM, ABM (LZCNT).
    public static final int X1_EDX = 1 << 11 | 1 << 20 | 1 << 26 | 1 << 27 | 1 << 29;
    public static final int X1_ECX = 1 | 1 << 5;
    /**
     * Family 15, model 107, stepping 1, QEMU's qemu64 signature: an AMD part old enough that
     * neither Linux nor glibc applies model-specific quirks or MSR probes to it.
     */
    static final long SIGNATURE = 0x00060FB1L;
    // Caches as AMD's leaves 0x80000005/6 describe them (64 KiB L1s, 512 KiB L2, 16 MiB L3, 64-byte
    // lines): glibc sizes its memcpy thresholds from them and would otherwise see no cache at all.
    static final int L1D_CACHE = 64 << 24 | 2 << 16 | 1 << 8 | 64, L1I_CACHE = L1D_CACHE;
    static final int L2_CACHE = 512 << 16 | 4 << 12 | 1 << 8 | 64;
    static final int L3_CACHE = 16 << 19 | 4 << 12 | 1 << 8 | 64; // size in 512 KiB units
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
            case 0 -> { a = 0x15; b = str("Auth"); d = str("enti"); cx = str("cAMD"); }
            case 1 -> { a = SIGNATURE; b = 0x00010800; cx = L1_ECX & 0xFFFFFFFFL; d = L1_EDX; }
            case 6 -> a = ARAT;
            case 7 -> { if (sub == 0) d = 1L << 29; } // ARCH_CAPABILITIES: see Msrs.ARCH_CAPABILITIES
            case 0x15 -> { a = 1; b = 1; cx = TSC_HZ; } // TSC = 1/1 of a 1 GHz crystal
            case 0x40000000 -> { a = 0x40000001L; b = str("KVMK"); cx = str("VMKV"); d = str("M\0\0\0"); }
            case 0x40000001 -> a = KVM_FEATURES;
            case 0x80000000 -> a = 0x80000008L;
            case 0x80000001 -> { cx = X1_ECX; d = X1_EDX & 0xFFFFFFFFL; }
            case 0x80000002 -> { a = str("jvis"); b = str("or s"); cx = str("oftw"); d = str("are "); }
            case 0x80000003 -> { a = str("x86-"); b = str("64 C"); cx = str("PU\0\0"); }
            case 0x80000005 -> { cx = L1D_CACHE; d = L1I_CACHE; }
            case 0x80000006 -> { cx = L2_CACHE; d = L3_CACHE; }
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
