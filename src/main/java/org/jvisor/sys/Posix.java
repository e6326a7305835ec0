package org.jvisor.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.nio.file.Path;

/** POSIX calls the JDK does not offer. Linux x86-64 layouts. */
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

    private Posix() {}

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
}
