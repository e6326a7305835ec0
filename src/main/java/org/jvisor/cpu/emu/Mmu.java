package org.jvisor.cpu.emu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import org.jvisor.memory.GuestMemory;

/**
 * The CPU's view of memory: linear addresses through 4-level paging (when CR0.PG is set in long
 * mode) to guest-physical RAM or, outside RAM, to the MMIO bus. Translations of RAM pages are
 * cached in a software TLB, one table each for reads, writes and fetches: an entry is the linear
 * page tagged with the privilege it was checked for, and the offset from linear to RAM offset, so
 * a hit costs one compare (which also fails for an access crossing into the next page). A write
 * entry is only made once the walk has set the Dirty bit, and never for a page holding decoded
 * code, so every write to such a page takes the slow path, which drops the code (self-modifying
 * code). MMIO pages never enter the TLB. With paging off the same tables cache identity entries.
 */
final class Mmu {
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final int READ = 0, WRITE = 1, FETCH = 2;
    static final int PF_P = 1, PF_WRITE = 2, PF_USER = 4, PF_RSVD = 8, PF_FETCH = 16;
    static final long PTE_P = 1, PTE_RW = 2, PTE_US = 4, PTE_A = 0x20, PTE_D = 0x40, PTE_PS = 0x80, PTE_G = 0x100;
    static final long PTE_NX = 1L << 63;
    static final long ADDR = 0x000FFFFFFFFFF000L;
    private static final long PAGE = ~0xFFFL;
    private static final int TLB_BITS = 12, TLB = 1 << TLB_BITS, TLB_MASK = TLB - 1;
    /** A tag no linear address has (bit 1 is never set in a tag). */
    private static final long EMPTY = 2;

    private final Cpu cpu;
    final MemorySegment ram;
    private final GuestMemory memory;
    private final long ramSize;
    /** Per 4 KiB page: nonzero when decoded blocks were built from it. */
    final byte[] codePage;
    /** Set from CR0.PG (4-level paging: the CPU refuses PG without long mode). */
    boolean paging;
    /** Without an MMIO bus, accesses outside RAM fault (as the user-mode tests want). */
    Cpu.MmioBus mmio;

    // TLB: entry i at [2i] = linear page | privilege (1: user), [2i+1] = RAM offset - linear page.
    private final long[] tlbR = new long[2 * TLB], tlbW = new long[2 * TLB], tlbX = new long[2 * TLB];
    /** 1 when accesses are checked as user accesses (CPL 3 and not an implicit supervisor access), else 0. */
    private long privilege;
    /** Set around implicit supervisor accesses; see {@link #setSupervisor}. */
    private boolean supervisor;

    Mmu(Cpu cpu, GuestMemory memory) {
        this.cpu = cpu;
        this.memory = memory;
        this.ram = memory.segment();
        this.ramSize = memory.size();
        this.codePage = new byte[(int) ((ramSize + 4095) >>> 12)];
        flushTlb();
    }

    /**
     * Bumped whenever cached translations go (a flush, INVLPG, a mode change): what was learnt
     * about where a linear address leads is only trusted while it stays the same.
     */
    int epoch;

    /** Statistics: page walks and whole-TLB flushes. */
    long walks, flushes;

    void flushTlb() {
        epoch++;
        flushes++;
        for (long[] t : new long[][] {tlbR, tlbW, tlbX}) {
            for (int i = 0; i < t.length; i += 2) t[i] = EMPTY;
        }
    }

    /**
     * Drops every write translation, so the next write to each page walks again and reports the
     * page written (a live migration's dirty tracking starts, or collected, the pages written so far).
     */
    void dropWriteEntries() {
        for (int i = 0; i < tlbW.length; i += 2) tlbW[i] = EMPTY;
    }

    /** INVLPG: drops the translations of one page, for both privilege levels. */
    void invalidatePage(long la) {
        epoch++;
        int i = index(la);
        long page = la & PAGE;
        for (long[] t : new long[][] {tlbR, tlbW, tlbX}) {
            if ((t[i] & PAGE) == page) t[i] = EMPTY;
        }
    }

    /**
     * A page now holds decoded code: writes to it must take the slow path from now on, so any
     * write entry that maps to it goes.
     */
    void codeAppeared(long physPage) {
        for (int i = 0; i < tlbW.length; i += 2) {
            if (tlbW[i] != EMPTY && (((tlbW[i] & PAGE) + tlbW[i + 1]) >>> 12) == physPage) tlbW[i] = EMPTY;
        }
    }

    /**
     * Implicit supervisor accesses (descriptor tables, the IDT, the TSS, the stack of an
     * interrupt into ring 0) are checked as CPL 0 whatever the current privilege; returns the
     * previous setting, for restoring.
     */
    boolean setSupervisor(boolean on) {
        boolean was = supervisor;
        supervisor = on;
        privilegeChanged();
        return was;
    }

    /** Recomputes the privilege the TLB checks against; called when the CPL or the supervisor override changes. */
    void privilegeChanged() {
        privilege = cpu.cpl() == 3 && !supervisor ? 1 : 0;
    }

    private boolean user() {
        return privilege != 0;
    }

    private static int index(long la) {
        return ((int) (la >>> 12) & TLB_MASK) << 1;
    }

    // =========================== fast paths ===========================
    // A hit needs the tag of the access's *last* byte page to equal the entry for its first byte:
    // that fails for an access that crosses into the next page, which the slow path splits.

    int read8(long la) {
        int i = index(la);
        long[] t = tlbR;
        if (t[i] == ((la & PAGE) | privilege)) return ram.get(ValueLayout.JAVA_BYTE, la + t[i + 1]) & 0xFF;
        return (int) slowRead(la, 1);
    }

    int read16(long la) {
        int i = index(la);
        long[] t = tlbR;
        if (t[i] == (((la + 1) & PAGE) | privilege)) return ram.get(SHORT, la + t[i + 1]) & 0xFFFF;
        return (int) slowRead(la, 2);
    }

    int read32(long la) {
        int i = index(la);
        long[] t = tlbR;
        if (t[i] == (((la + 3) & PAGE) | privilege)) return ram.get(INT, la + t[i + 1]);
        return (int) slowRead(la, 4);
    }

    long read64(long la) {
        int i = index(la);
        long[] t = tlbR;
        if (t[i] == (((la + 7) & PAGE) | privilege)) return ram.get(LONG, la + t[i + 1]);
        return slowRead(la, 8);
    }

    void write8(long la, int v) {
        int i = index(la);
        long[] t = tlbW;
        if (t[i] == ((la & PAGE) | privilege)) ram.set(ValueLayout.JAVA_BYTE, la + t[i + 1], (byte) v);
        else slowWrite(la, 1, v);
    }

    void write16(long la, int v) {
        int i = index(la);
        long[] t = tlbW;
        if (t[i] == (((la + 1) & PAGE) | privilege)) ram.set(SHORT, la + t[i + 1], (short) v);
        else slowWrite(la, 2, v);
    }

    void write32(long la, int v) {
        int i = index(la);
        long[] t = tlbW;
        if (t[i] == (((la + 3) & PAGE) | privilege)) ram.set(INT, la + t[i + 1], v);
        else slowWrite(la, 4, v);
    }

    void write64(long la, long v) {
        int i = index(la);
        long[] t = tlbW;
        if (t[i] == (((la + 7) & PAGE) | privilege)) ram.set(LONG, la + t[i + 1], v);
        else slowWrite(la, 8, v);
    }

    int fetch8(long la) {
        int i = index(la);
        long[] t = tlbX;
        if (t[i] == ((la & PAGE) | privilege)) return ram.get(ValueLayout.JAVA_BYTE, la + t[i + 1]) & 0xFF;
        long pa = translate(la, FETCH); // a TLB miss: walk (and fill)
        if (pa >= 0 && pa < ramSize) return ram.get(ValueLayout.JAVA_BYTE, pa) & 0xFF;
        if (mmio == null) throw cpu.pageFault(la, PF_FETCH);
        return (int) mmioRead(pa, 1);
    }

    // =========================== slow paths ===========================

    private long slowRead(long la, int size) {
        if (((la ^ (la + size - 1)) & ~0xFFFL) != 0) {
            long v = 0;
            for (int k = size - 1; k >= 0; k--) v = v << 8 | readByteSlow(la + k);
            return v;
        }
        long pa = translate(la, READ);
        if (pa >= 0 && pa <= ramSize - size) {
            return switch (size) {
                case 1 -> ram.get(ValueLayout.JAVA_BYTE, pa) & 0xFF;
                case 2 -> ram.get(SHORT, pa) & 0xFFFF;
                case 4 -> ram.get(INT, pa) & 0xFFFFFFFFL;
                default -> ram.get(LONG, pa);
            };
        }
        return mmioRead(pa, size);
    }

    private int readByteSlow(long la) {
        long pa = translate(la, READ);
        if (pa >= 0 && pa < ramSize) return ram.get(ValueLayout.JAVA_BYTE, pa) & 0xFF;
        return (int) mmioRead(pa, 1);
    }

    private void slowWrite(long la, int size, long v) {
        if (((la ^ (la + size - 1)) & ~0xFFFL) != 0) {
            // Both pages must be writable before either is written.
            translate(la, WRITE);
            translate(la + size - 1, WRITE);
            for (int k = 0; k < size; k++) writeByteSlow(la + k, (int) (v >>> (8 * k)));
            return;
        }
        long pa = translate(la, WRITE);
        if (pa >= 0 && pa <= ramSize - size) {
            if ((codePage[(int) (pa >>> 12)] | codePage[(int) ((pa + size - 1) >>> 12)]) != 0) cpu.code.invalidate(pa, size);
            switch (size) {
                case 1 -> ram.set(ValueLayout.JAVA_BYTE, pa, (byte) v);
                case 2 -> ram.set(SHORT, pa, (short) v);
                case 4 -> ram.set(INT, pa, (int) v);
                default -> ram.set(LONG, pa, v);
            }
            return;
        }
        mmioWrite(pa, size, v);
    }

    private void writeByteSlow(long la, int v) {
        long pa = translate(la, WRITE);
        if (pa >= 0 && pa < ramSize) {
            if (codePage[(int) (pa >>> 12)] != 0) cpu.code.invalidate(pa, 1);
            ram.set(ValueLayout.JAVA_BYTE, pa, (byte) v);
        } else {
            mmioWrite(pa, 1, v);
        }
    }

    private long mmioRead(long pa, int size) {
        if (mmio == null) throw cpu.pageFault(pa, 0);
        return mmio.read(pa, size);
    }

    private void mmioWrite(long pa, int size, long v) {
        if (mmio == null) throw cpu.pageFault(pa, PF_WRITE);
        mmio.write(pa, size, v);
    }

    /** Checks that a write of len bytes at la would succeed, without writing (for multi-part stores). */
    void probeWrite(long la, int len) {
        if (writeCached(la) && writeCached(la + len - 1)) return; // (SSE stores to the stack do this all the time)
        long pa = translate(la, WRITE);
        long end = translate(la + len - 1, WRITE);
        if (mmio == null && (pa < 0 || pa >= ramSize || end >= ramSize)) throw cpu.pageFault(la, PF_WRITE);
    }

    private boolean writeCached(long la) {
        int i = index(la);
        return tlbW[i] == ((la & PAGE) | privilege);
    }

    /** The physical address of an instruction byte (the code cache keys blocks by it). */
    long codeAddress(long la) {
        int i = index(la);
        long pa = tlbX[i] == ((la & PAGE) | privilege) ? la + tlbX[i + 1] : translate(la, FETCH);
        if (pa < 0 || pa >= ramSize) throw cpu.pageFault(la, PF_FETCH);
        return pa;
    }

    // =========================== the page walk ===========================

    /**
     * Translates a linear address for an access of the given kind, walking the page tables (and
     * setting Accessed/Dirty) when paging is on; fills the TLB for RAM pages. Raises #PF on a
     * violation, #GP for a non-canonical address.
     */
    long translate(long la, int kind) {
        if (!paging) {
            if (la >= 0 && la < ramSize) {
                fill(la, la & PAGE, kind);
            } else if (mmio == null) {
                throw cpu.pageFault(la, (kind == WRITE ? PF_WRITE : 0) | (kind == FETCH ? PF_FETCH : 0));
            }
            return la;
        }
        if ((la >> 47) != 0 && (la >> 47) != -1) throw cpu.fault(org.jvisor.cpu.Vectors.GP, 0);
        walks++;
        boolean user = user();
        boolean nxe = (cpu.efer & Cpu.EFER_NXE) != 0;
        boolean wp = (cpu.cr0 & Cpu.CR0_WP) != 0;
        long table = cpu.cr3 & ADDR;
        boolean rw = true, us = true, nx = false;
        long entryAddr = 0, entry = 0, pageBase = 0, pageMask = 0;
        for (int level = 3; level >= 0; level--) {
            entryAddr = table + ((la >>> (12 + 9 * level)) & 511) * 8;
            entry = physRead64(entryAddr);
            if ((entry & PTE_P) == 0) throw walkFault(la, kind, user, false);
            if ((entry & PTE_NX) != 0 && !nxe) throw cpu.pageFault(la, PF_P | PF_RSVD | errBits(kind, user));
            rw &= (entry & PTE_RW) != 0;
            us &= (entry & PTE_US) != 0;
            nx |= (entry & PTE_NX) != 0;
            if ((entry & PTE_A) == 0) physWrite64(entryAddr, entry |= PTE_A);
            boolean large = level > 0 && level < 3 && (entry & PTE_PS) != 0;
            if (level == 0 || large) {
                pageMask = (1L << (12 + 9 * level)) - 1;
                pageBase = entry & ADDR & ~pageMask;
                break;
            }
            table = entry & ADDR;
        }
        boolean denied = (user && !us) || (kind == WRITE && !rw && (user || wp)) || (kind == FETCH && nx && nxe);
        if (denied) throw walkFault(la, kind, user, true);
        if (kind == WRITE && (entry & PTE_D) == 0) physWrite64(entryAddr, entry | PTE_D);
        long pa = pageBase | (la & pageMask);
        if (pa >= 0 && (pa & PAGE) + 4096 <= ramSize) fill(la, pa & PAGE, kind);
        return pa;
    }

    /** Caches the translation of la's page to a RAM page (a write to a page of code is not cached). */
    private void fill(long la, long page, int kind) {
        int i = index(la);
        long tag = (la & PAGE) | privilege, addend = page - (la & PAGE);
        switch (kind) {
            case READ -> { tlbR[i] = tag; tlbR[i + 1] = addend; }
            case WRITE -> {
                memory.markWritten(page, 1); // (while a migration tracks writes) the fast path will not report the writes that follow
                tlbR[i] = tag; // a writable page is readable
                tlbR[i + 1] = addend;
                if (codePage[(int) (page >>> 12)] == 0) {
                    tlbW[i] = tag;
                    tlbW[i + 1] = addend;
                }
            }
            default -> { tlbX[i] = tag; tlbX[i + 1] = addend; }
        }
    }

    private static int errBits(int kind, boolean user) {
        return (kind == WRITE ? PF_WRITE : 0) | (user ? PF_USER : 0) | (kind == FETCH ? PF_FETCH : 0);
    }

    private CpuFault walkFault(long la, int kind, boolean user, boolean present) {
        int err = errBits(kind, user) | (present ? PF_P : 0);
        if (kind == FETCH && (cpu.efer & Cpu.EFER_NXE) == 0) err &= ~PF_FETCH;
        return cpu.pageFault(la, err);
    }

    /** Page-table entries live in RAM; one outside RAM reads as not present. */
    private long physRead64(long pa) {
        return pa >= 0 && pa <= ramSize - 8 ? ram.get(LONG, pa) : 0;
    }

    private void physWrite64(long pa, long v) {
        if (pa >= 0 && pa <= ramSize - 8) {
            ram.set(LONG, pa, v);
            memory.markWritten(pa, 8);
        }
    }
}
