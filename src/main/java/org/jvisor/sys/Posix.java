package org.jvisor.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.nio.file.Path;

/** POSIX calls the JDK does not offer: stat's block count, anonymous mappings, madvise. Linux x86-64 layouts. */
public final class Posix {
    private static final Linker LINKER = Linker.nativeLinker();
    private static final Linker.Option ERRNO = Linker.Option.captureCallState("errno");
    private static final VarHandle ERRNO_HANDLE = Linker.Option.captureStateLayout()
            .varHandle(java.lang.foreign.MemoryLayout.PathElement.groupElement("errno"));
    private static final MethodHandle STAT = LINKER.downcallHandle(
            LINKER.defaultLookup().find("stat").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS), ERRNO);
    /** struct stat is 144 bytes on x86-64; st_blocks (512-byte units) sits at offset 64. */
    private static final int STAT_SIZE = 144, ST_BLOCKS = 64;
    private static final MethodHandle MMAP = LINKER.downcallHandle(LINKER.defaultLookup().find("mmap").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT,
                    ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG), ERRNO);
    private static final MethodHandle MUNMAP = LINKER.downcallHandle(LINKER.defaultLookup().find("munmap").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG));
    private static final MethodHandle MADVISE = LINKER.downcallHandle(LINKER.defaultLookup().find("madvise").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT), ERRNO);
    private static final MethodHandle OPEN = LINKER.downcallHandle(LINKER.defaultLookup().find("open").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT), ERRNO);
    private static final MethodHandle CLOSE = LINKER.downcallHandle(LINKER.defaultLookup().find("close").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
    static final int MAP_FIXED = 0x10, O_RDONLY = 0;
    private static final MethodHandle MINCORE = LINKER.downcallHandle(LINKER.defaultLookup().find("mincore").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.ADDRESS), ERRNO);
    static final int PROT_READ = 1, PROT_WRITE = 2, MAP_PRIVATE = 2, MAP_ANONYMOUS = 0x20, MAP_NORESERVE = 0x4000, MADV_DONTNEED = 4;

    private Posix() {}

    /**
     * Anonymous private memory of {@code size} bytes, zero-filled on first touch (nothing is
     * committed until the guest uses it, as with any VMM's RAM), unmapped when {@code arena}
     * closes. The segment belongs to that arena, so an access after close fails cleanly instead
     * of touching unmapped memory.
     */
    public static MemorySegment mapAnonymous(long size, Arena arena) throws NativeException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment st = a.allocate(Linker.Option.captureStateLayout());
            MemorySegment p = (MemorySegment) MMAP.invokeExact(st, MemorySegment.NULL, size, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0L);
            if (p.address() == -1L) throw new NativeException("mmap of " + size + " bytes", (int) ERRNO_HANDLE.get(st, 0L));
            long address = p.address();
            // reinterpret is safe here: the mapping is exactly [address, address+size) and lives until the cleanup.
            return p.reinterpret(size, arena, seg -> unmap(address, size));
        } catch (NativeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("mmap downcall failed", t);
        }
    }

    /**
     * Maps runs of {@code file} over parts of an existing mapping, private and copy-on-write
     * (MAP_PRIVATE|MAP_FIXED): a page is read from the file when first touched, a write copies it,
     * and the file never changes. {@code at[i]}, {@code length[i]} and {@code fileOffset[i]} are
     * page-aligned and lie inside {@code into} (the caller checked them against the file).
     */
    public static void mapFilePrivate(MemorySegment into, Path file, long[] at, long[] length, long[] fileOffset) throws NativeException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment st = a.allocate(Linker.Option.captureStateLayout());
            int fd = (int) OPEN.invokeExact(st, a.allocateFrom(file.toString()), O_RDONLY);
            if (fd < 0) throw new NativeException("open " + file, (int) ERRNO_HANDLE.get(st, 0L));
            try {
                for (int i = 0; i < at.length; i++) {
                    if (at[i] < 0 || length[i] <= 0 || at[i] + length[i] > into.byteSize()) throw new IllegalArgumentException("run outside the mapping");
                    MemorySegment p = (MemorySegment) MMAP.invokeExact(st, into.asSlice(at[i], length[i]), length[i], PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_FIXED, fd, fileOffset[i]);
                    if (p.address() == -1L) throw new NativeException("mmap of " + file, (int) ERRNO_HANDLE.get(st, 0L));
                }
            } finally {
                int ignored = (int) CLOSE.invokeExact(fd); // the mappings keep the file
            }
        } catch (NativeException | IllegalArgumentException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("mmap downcall failed", t);
        }
    }

    /** Replaces part of a mapping with fresh anonymous zero pages (MAP_FIXED): a file-backed page given back reads as zero. */
    public static void zeroFixed(MemorySegment mapping, long offset, long length) throws NativeException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment st = a.allocate(Linker.Option.captureStateLayout());
            MemorySegment p = (MemorySegment) MMAP.invokeExact(st, mapping.asSlice(offset, length), length, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0L);
            if (p.address() == -1L) throw new NativeException("mmap of " + length + " bytes", (int) ERRNO_HANDLE.get(st, 0L));
        } catch (NativeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("mmap downcall failed", t);
        }
    }

    private static void unmap(long address, long size) {
        try {
            int ignored = (int) MUNMAP.invokeExact(MemorySegment.ofAddress(address), size);
        } catch (Throwable t) {
            // the process keeps the mapping; nothing else to do
        }
    }

    /**
     * Gives pages back to the host (madvise DONTNEED): they read as zero afterwards and occupy no
     * host memory until written again. {@code offset} and {@code length} must be page-aligned.
     */
    public static void discard(MemorySegment mapping, long offset, long length) throws NativeException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment st = a.allocate(Linker.Option.captureStateLayout());
            int rc = (int) MADVISE.invokeExact(st, mapping.asSlice(offset, length), length, MADV_DONTNEED);
            if (rc != 0) throw new NativeException("madvise", (int) ERRNO_HANDLE.get(st, 0L));
        } catch (NativeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("madvise downcall failed", t);
        }
    }

    /** Bytes of disk the file occupies (st_blocks * 512), which a sparse file keeps below its length. */
    public static long allocatedBytes(Path path) throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(Linker.Option.captureStateLayout());
            MemorySegment buf = arena.allocate(STAT_SIZE, 8);
            int rc = (int) STAT.invokeExact(state, arena.allocateFrom(path.toString()), buf);
            if (rc != 0) throw new NativeException("stat " + path, (int) ERRNO_HANDLE.get(state, 0L));
            return buf.get(ValueLayout.JAVA_LONG, ST_BLOCKS) * 512;
        } catch (NativeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("stat downcall failed", t);
        }
    }

    /** Bytes of a page-aligned mapping that are in host memory now (mincore): what a VM's RAM really costs. */
    public static long residentBytes(MemorySegment mapping) throws NativeException {
        final long page = 4096, chunk = 1L << 30; // a vector byte per page, a GiB of the mapping at a time
        long resident = 0;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment st = a.allocate(Linker.Option.captureStateLayout());
            MemorySegment vec = a.allocate(chunk / page);
            for (long off = 0; off < mapping.byteSize(); off += chunk) {
                long len = Math.min(chunk, mapping.byteSize() - off);
                int rc = (int) MINCORE.invokeExact(st, mapping.asSlice(off, len), len, vec);
                if (rc != 0) throw new NativeException("mincore", (int) ERRNO_HANDLE.get(st, 0L));
                long pages = (len + page - 1) / page;
                for (long i = 0; i < pages; i++) if ((vec.get(ValueLayout.JAVA_BYTE, i) & 1) != 0) resident += page;
            }
            return resident;
        } catch (NativeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("mincore downcall failed", t);
        }
    }
}
