package org.jvisor.cpu.emu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import org.jvisor.memory.GuestMemory;

/**
 * The CPU's view of memory: linear addresses to guest RAM. Paging is not enabled yet, so a
 * linear address is the physical one; an address outside RAM raises #PF with that address.
 * Writes to pages holding decoded code drop those blocks, so self-modifying code sees its stores.
 */
final class Mmu {
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final int PF_WRITE = 2, PF_USER = 4, PF_FETCH = 16;

    private final Cpu cpu;
    final MemorySegment ram;
    private final long ramSize;
    /** Per 4 KiB page: nonzero when decoded blocks were built from it. */
    final byte[] codePage;

    Mmu(Cpu cpu, GuestMemory memory) {
        this.cpu = cpu;
        this.ram = memory.segment();
        this.ramSize = memory.size();
        this.codePage = new byte[(int) ((ramSize + 4095) >>> 12)];
    }

    private long check(long la, int len, int err) {
        if (la < 0 || la > ramSize - len) throw cpu.pageFault(la, err);
        return la;
    }

    int read8(long la) {
        return ram.get(ValueLayout.JAVA_BYTE, check(la, 1, 0)) & 0xFF;
    }

    int read16(long la) {
        return ram.get(SHORT, check(la, 2, 0)) & 0xFFFF;
    }

    int read32(long la) {
        return ram.get(INT, check(la, 4, 0));
    }

    long read64(long la) {
        return ram.get(LONG, check(la, 8, 0));
    }

    int fetch8(long la) {
        return ram.get(ValueLayout.JAVA_BYTE, check(la, 1, PF_FETCH)) & 0xFF;
    }

    private void wrote(long pa, int len) {
        if ((codePage[(int) (pa >>> 12)] | codePage[(int) ((pa + len - 1) >>> 12)]) != 0) {
            cpu.code.invalidate(pa, len);
        }
    }

    void write8(long la, int v) {
        long pa = check(la, 1, PF_WRITE);
        wrote(pa, 1);
        ram.set(ValueLayout.JAVA_BYTE, pa, (byte) v);
    }

    void write16(long la, int v) {
        long pa = check(la, 2, PF_WRITE);
        wrote(pa, 2);
        ram.set(SHORT, pa, (short) v);
    }

    void write32(long la, int v) {
        long pa = check(la, 4, PF_WRITE);
        wrote(pa, 4);
        ram.set(INT, pa, v);
    }

    void write64(long la, long v) {
        long pa = check(la, 8, PF_WRITE);
        wrote(pa, 8);
        ram.set(LONG, pa, v);
    }

    /** Checks that a write of len bytes at la would succeed, without writing (for multi-part stores). */
    void probeWrite(long la, int len) {
        check(la, len, PF_WRITE);
    }

    /** The physical address of an instruction byte, for the code cache's page tracking. */
    long codeAddress(long la) {
        return check(la, 1, PF_FETCH);
    }
}
