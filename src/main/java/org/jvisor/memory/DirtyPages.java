package org.jvisor.memory;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * Which guest pages were written since they were last collected: one bit per 4 KiB page, set by
 * every writer (the vCPU when it maps a page for writing, devices after their DMA) and taken
 * away by the migration that sends them. Marks and collection are atomic, so a page written
 * while it is being collected is either in this collection or in the next, never lost.
 */
public final class DirtyPages {
    private static final VarHandle WORD = MethodHandles.arrayElementVarHandle(long[].class);
    private final long[] bits;
    private final long pages;

    DirtyPages(long pages) {
        this.pages = pages;
        this.bits = new long[(int) ((pages + 63) >>> 6)];
    }

    public long pages() {
        return pages;
    }

    /** Marks the pages that bytes [addr, addr + len) touch (the caller checked the range). */
    void mark(long addr, long len) {
        for (long p = addr >>> 12, last = (addr + len - 1) >>> 12; p <= last; p++) markPage(p);
    }

    void markPage(long page) {
        WORD.getAndBitwiseOr(bits, (int) (page >>> 6), 1L << page);
    }

    /** Takes the set of dirty pages (a copy, one bit per page) and clears it. */
    public long[] collect() {
        long[] out = new long[bits.length];
        for (int i = 0; i < bits.length; i++) out[i] = (long) WORD.getAndSet(bits, i, 0L);
        return out;
    }

    /** Pages whose bit is set in a set {@link #collect} returned. */
    public static long count(long[] set) {
        long n = 0;
        for (long w : set) n += Long.bitCount(w);
        return n;
    }
}
