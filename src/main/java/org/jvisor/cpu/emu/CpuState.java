package org.jvisor.cpu.emu;

import java.util.Map;

/**
 * The architectural state of a vCPU at an instruction boundary, as a snapshot keeps it: everything
 * a guest can observe, nothing the emulator derives (decoded blocks, translations, the TLB, lazy
 * flags, which are folded into {@code rflags}). The TSC is saved as its value; a restore sets it
 * there and lets it run on from that value (guest time does not jump by the time the file lay on disk).
 * Fields only ever get added: a state written by an older jvisor has nulls or zeros for the newer ones,
 * and {@link Cpu#restoreState} treats those as the power-on values.
 */
public record CpuState(long[] gpr, long rip, long rflags, int cpl,
                       int[] segSel, long[] segBase, int[] segLimit, int[] segAttr,
                       long cr0, long cr2, long cr3, long cr4, long cr8, long efer, long[] dr,
                       long gdtBase, int gdtLimit, long idtBase, int idtLimit,
                       int trSel, long trBase, int trLimit, int ldtrSel, long ldtrBase, int ldtrLimit,
                       Map<Integer, Long> msrs, long[] xmm, int mxcsr,
                       long[] fpuMantissa, int[] fpuSignExponent, int fpuTop, int fpuControl, int fpuStatus, int fpuTags,
                       boolean interruptShadow, long tsc) {
    /** Checks the sizes a restore relies on, so a hostile or damaged state cannot index past an array. */
    void validate() {
        need(gpr, 16, "gpr");
        need(segSel, 6, "segSel");
        need(segBase, 6, "segBase");
        need(segLimit, 6, "segLimit");
        need(segAttr, 6, "segAttr");
        need(dr, 8, "dr");
        need(xmm, 32, "xmm");
        need(fpuMantissa, 8, "fpuMantissa");
        need(fpuSignExponent, 8, "fpuSignExponent");
        if (cpl < 0 || cpl > 3) throw new IllegalArgumentException("cpl " + cpl + " is not 0-3");
        if (fpuTop < 0 || fpuTop > 7) throw new IllegalArgumentException("fpuTop " + fpuTop + " is not 0-7");
        if (msrs == null) throw new IllegalArgumentException("msrs is missing");
        for (var e : msrs.entrySet()) {
            if (e.getKey() == null || e.getValue() == null) throw new IllegalArgumentException("an MSR entry is empty");
        }
    }

    private static void need(Object a, int n, String what) {
        int len = a == null ? -1 : java.lang.reflect.Array.getLength(a);
        if (len != n) throw new IllegalArgumentException(what + " needs " + n + " entries, has " + (len < 0 ? "none" : len));
    }
}
