package org.jvisor.cpu.emu;

import java.util.HashMap;
import java.util.Map;

/**
 * Model-specific registers the CPU keeps as plain values. The ones with side effects (EFER, the
 * segment bases, TSC) are handled by {@link SystemOps}; unknown MSRs raise #GP there.
 */
public final class Msrs {
    public static final int TSC = 0x10, APIC_BASE = 0x1B, FEATURE_CONTROL = 0x3A, SPEC_CTRL = 0x48,
            BIOS_SIGN_ID = 0x8B, ARCH_CAPABILITIES = 0x10A, MTRRCAP = 0xFE, SYSENTER_CS = 0x174, SYSENTER_ESP = 0x175, SYSENTER_EIP = 0x176,
            MCG_CAP = 0x179, MCG_STATUS = 0x17A, MCG_CTL = 0x17B, MC0_CTL = 0x400, MISC_ENABLE = 0x1A0, PAT = 0x277, MTRR_DEF_TYPE = 0x2FF,
            EFER = 0xC0000080, STAR = 0xC0000081, LSTAR = 0xC0000082, CSTAR = 0xC0000083, SFMASK = 0xC0000084,
            FS_BASE = 0xC0000100, GS_BASE = 0xC0000101, KERNEL_GS_BASE = 0xC0000102, TSC_AUX = 0xC0000103,
            SYSCFG = 0xC0010010, HWCR = 0xC0010015, INT_PENDING_MSG = 0xC0010055;

    static final int MC_BANKS = 5;

    private final Map<Integer, Long> values = new HashMap<>();

    public Msrs() {
        values.put(APIC_BASE, 0xFEE00900L); // enabled, bootstrap processor
        values.put(PAT, 0x0007040600070406L);
        values.put(MTRRCAP, 0x508L);          // 8 variable ranges, fixed ranges, write-combining
        values.put(MTRR_DEF_TYPE, 0L);
        values.put(MISC_ENABLE, 1L);          // fast strings
        // Machine-check architecture: the global control register and a K8's five banks (CTL, STATUS,
        // ADDR, MISC each), all of which stay clear, since emulated hardware has no errors to report.
        values.put(MCG_CAP, 1L << 8 | MC_BANKS);
        values.put(MCG_STATUS, 0L);
        values.put(MCG_CTL, 0L);
        for (int i = 0; i < 4 * MC_BANKS; i++) values.put(MC0_CTL + i, 0L);
        values.put(FEATURE_CONTROL, 1L);      // locked, nothing enabled
        values.put(BIOS_SIGN_ID, 0L);
        values.put(SPEC_CTRL, 0L);
        // Not affected: RDCL (Meltdown), L1D flush on VM entry, SSB, MDS, page-size-change MCE, TAA,
        // SBDR/SSDP, FBSDP, PSDP, BHI, GDS, RFDS: there is no speculative execution here.
        values.put(ARCH_CAPABILITIES, 1L | 1L << 3 | 1L << 4 | 1L << 5 | 1L << 6 | 1L << 8 | 1L << 13 | 1L << 14 | 1L << 15
                | 1L << 20 | 1L << 26 | 1L << 27);
        values.put(SYSENTER_CS, 0L);
        values.put(SYSENTER_ESP, 0L);
        values.put(SYSENTER_EIP, 0L);
        values.put(STAR, 0L);
        values.put(LSTAR, 0L);
        values.put(CSTAR, 0L);
        values.put(SFMASK, 0L);
        values.put(KERNEL_GS_BASE, 0L);
        values.put(TSC_AUX, 0L);
        // AMD's: the vendor is AuthenticAMD (see CpuidModel), and Linux reads these without a fault
        // handler on that vendor. No memory encryption, no extended MTRR fields; the TSC counts
        // at the P0 frequency; C1E is never entered (the erratum-400 idle loop asks).
        values.put(SYSCFG, 0L);
        values.put(HWCR, 1L << 24);
        values.put(INT_PENDING_MSG, 0L);
        for (int i = 0x200; i < 0x210; i++) values.put(i, 0L);   // variable-range MTRRs
        for (int i : new int[] {0x250, 0x258, 0x259, 0x268, 0x269, 0x26A, 0x26B, 0x26C, 0x26D, 0x26E, 0x26F}) values.put(i, 0L);
    }

    /** The value of a plain MSR, or null when the CPU model has no such MSR. */
    public Long get(int index) {
        return values.get(index);
    }

    public boolean has(int index) {
        return values.containsKey(index);
    }

    public void set(int index, long value) {
        values.put(index, value);
    }

    /** All values, for a snapshot. */
    public Map<Integer, Long> snapshot() {
        return new java.util.TreeMap<>(values);
    }

    /**
     * Takes a snapshot's values: the MSRs this model has; any other index in the snapshot (a
     * model that had more) is ignored rather than invented here.
     */
    public void restore(Map<Integer, Long> saved) {
        for (var e : saved.entrySet()) if (values.containsKey(e.getKey())) values.put(e.getKey(), e.getValue());
    }
}
