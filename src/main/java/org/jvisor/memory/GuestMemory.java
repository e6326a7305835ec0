package org.jvisor.memory;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import org.jvisor.sys.NativeException;
import org.jvisor.sys.Posix;

/**
 * Guest-physical RAM: one native, page-aligned segment starting at guest address 0.
 * Every access is bounds-checked; a bad one becomes a {@link GuestMemoryException}
 * naming the guest address, never an unchecked host access.
 */
public final class GuestMemory implements AutoCloseable {
    public static final long PAGE_SIZE = 4096;
    static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final Arena arena;
    private final MemorySegment ram;
    private final long size;
    /** Parts are mapped from a state file: a page given back must be replaced, not dropped (dropping re-reads the file). */
    private final boolean fileBacked;
    /** Set while a migration tracks writes; every write through this class, and each {@link #markWritten}, marks its pages. */
    private volatile DirtyPages dirty;

    private GuestMemory(Arena arena, MemorySegment ram, boolean fileBacked) {
        this.arena = arena;
        this.ram = ram;
        this.size = ram.byteSize();
        this.fileBacked = fileBacked;
    }

    /**
     * RAM of {@code size} bytes whose runs come from {@code file}, copy-on-write: restoring a
     * snapshot costs a mapping, not a copy; each page is read when the guest first touches it,
     * and the file is never written. The rest is zero. Runs are page-aligned and inside RAM.
     */
    public static GuestMemory mapPrivate(long size, Path file, long[] at, long[] length, long[] fileOffset) {
        GuestMemory m = allocate(size);
        try {
            Posix.mapFilePrivate(m.ram, file, at, length, fileOffset);
            return new GuestMemory(m.arena, m.ram, true);
        } catch (NativeException | IllegalArgumentException e) {
            m.close();
            throw new GuestMemoryException(0, size, "cannot map guest RAM from " + file + ": " + e.getMessage());
        }
    }

    /**
     * Anonymous zeroed RAM of {@code size} bytes (rounded up to whole pages), mapped so that host
     * memory is only taken as the guest touches it.
     */
    public static GuestMemory allocate(long size) {
        if (size <= 0) throw new IllegalArgumentException("memory size must be positive: " + size);
        long rounded = (size + PAGE_SIZE - 1) & -PAGE_SIZE;
        Arena arena = Arena.ofShared();
        try {
            return new GuestMemory(arena, Posix.mapAnonymous(rounded, arena), false);
        } catch (NativeException e) {
            arena.close();
            throw new GuestMemoryException(0, rounded, "cannot map guest RAM: " + e.getMessage());
        }
    }

    /**
     * Returns whole pages of RAM to the host (a balloon's inflated pages): they read as zero until
     * the guest writes them again. Partial pages and ranges outside RAM are ignored.
     */
    public void discard(long addr, long len) {
        long start = (addr + PAGE_SIZE - 1) & -PAGE_SIZE, end = (addr + len) & -PAGE_SIZE;
        if (addr < 0 || len <= 0 || end <= start || !contains(start, end - start)) return;
        try {
            if (fileBacked) Posix.zeroFixed(ram, start, end - start);
            else Posix.discard(ram, start, end - start);
        } catch (NativeException e) {
            // madvise only fails for bad ranges, which were excluded above: keep the pages
        }
        marked(start, end - start); // they read as zero now: a migration must send that
    }

    /**
     * Starts recording which pages are written (for a live migration); returns the record. Writes
     * that bypass this class (the CPU's mapped pages, DMA into buffers) must report themselves
     * through {@link #markWritten}.
     */
    public synchronized DirtyPages trackWrites() {
        if (dirty == null) dirty = new DirtyPages(size / PAGE_SIZE);
        return dirty;
    }

    /** Stops recording written pages. */
    public synchronized void stopTrackingWrites() {
        dirty = null;
    }

    /** Reports that bytes [addr, addr + len) were written by a path that bypasses this class's writes; a no-op unless writes are tracked. */
    public void markWritten(long addr, long len) {
        DirtyPages d = dirty;
        if (d != null && len > 0 && addr >= 0 && addr < size) d.mark(addr, Math.min(len, size - addr));
    }

    /** Whether writes are being tracked: the CPU then marks each page it maps for writing. */
    public boolean tracksWrites() {
        return dirty != null;
    }

    /** Bytes of guest RAM the host holds in memory now (pages the guest touched and were not given back); -1 if unknown. */
    public long residentBytes() {
        try {
            return Posix.residentBytes(ram);
        } catch (NativeException | RuntimeException e) {
            return -1;
        }
    }

    public long size() {
        return size;
    }

    /** The backing segment, for the CPU's fast paths and device DMA; offsets are guest addresses. */
    public MemorySegment segment() {
        return ram;
    }

    public boolean contains(long addr, long len) {
        return addr >= 0 && len >= 0 && addr <= size - len;
    }

    private void check(long addr, long len) {
        if (!contains(addr, len)) throw new GuestMemoryException(addr, len, "outside guest RAM");
    }

    public int read8(long a) { check(a, 1); return ram.get(ValueLayout.JAVA_BYTE, a) & 0xFF; }
    public int read16(long a) { check(a, 2); return ram.get(SHORT, a) & 0xFFFF; }
    public int read32(long a) { check(a, 4); return ram.get(INT, a); }
    public long read64(long a) { check(a, 8); return ram.get(LONG, a); }
    public void write8(long a, int v) { check(a, 1); ram.set(ValueLayout.JAVA_BYTE, a, (byte) v); marked(a, 1); }
    public void write16(long a, int v) { check(a, 2); ram.set(SHORT, a, (short) v); marked(a, 2); }
    public void write32(long a, int v) { check(a, 4); ram.set(INT, a, v); marked(a, 4); }
    public void write64(long a, long v) { check(a, 8); ram.set(LONG, a, v); marked(a, 8); }

    /** After a checked write: marks it when writes are tracked (marking after the write is what keeps it from being missed). */
    private void marked(long a, long len) {
        DirtyPages d = dirty;
        if (d != null) d.mark(a, len);
    }

    public void read(long a, byte[] dst, int off, int len) {
        check(a, len);
        MemorySegment.copy(ram, ValueLayout.JAVA_BYTE, a, dst, off, len);
    }

    public void write(long a, byte[] src, int off, int len) {
        check(a, len);
        MemorySegment.copy(src, off, ram, ValueLayout.JAVA_BYTE, a, len);
        if (len > 0) marked(a, len);
    }

    public void write(long a, byte[] src) {
        write(a, src, 0, src.length);
    }

    @Override
    public void close() {
        arena.close();
    }
}
