package org.jvisor.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/** Raw mode for the controlling terminal (termios), so a guest console gets every keystroke. */
public final class Terminal implements AutoCloseable {
    private static final Linker LINKER = Linker.nativeLinker();
    private static final MethodHandle ISATTY = handle("isatty", FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
    private static final MethodHandle TCGETATTR = handle("tcgetattr",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.ADDRESS));
    private static final MethodHandle TCSETATTR = handle("tcsetattr",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.ADDRESS));
    private static final MethodHandle CFMAKERAW = handle("cfmakeraw", FunctionDescriptor.ofVoid(ValueLayout.ADDRESS));
    /** sizeof(struct termios) on Linux x86-64 is 60; room to spare. */
    private static final int TERMIOS = 128;

    private final Arena arena = Arena.ofConfined();
    private final MemorySegment saved = arena.allocate(TERMIOS, 8);
    private final int fd;

    private static MethodHandle handle(String name, FunctionDescriptor fd) {
        return LINKER.downcallHandle(LINKER.defaultLookup().find(name).orElseThrow(), fd);
    }

    public static boolean isTerminal(int fd) {
        try {
            return (int) ISATTY.invokeExact(fd) == 1;
        } catch (Throwable t) {
            return false;
        }
    }

    /** Puts fd (a terminal) into raw mode until close(). */
    public Terminal(int fd) throws NativeException {
        this.fd = fd;
        try {
            if ((int) TCGETATTR.invokeExact(fd, saved) != 0) throw new NativeException("tcgetattr", -1);
            MemorySegment raw = arena.allocate(TERMIOS, 8);
            raw.copyFrom(saved);
            CFMAKERAW.invokeExact(raw);
            if ((int) TCSETATTR.invokeExact(fd, 0, raw) != 0) throw new NativeException("tcsetattr", -1);
        } catch (NativeException e) {
            arena.close();
            throw e;
        } catch (Throwable t) {
            arena.close();
            throw new IllegalStateException("termios downcall failed", t);
        }
    }

    @Override
    public void close() {
        try {
            int rc = (int) TCSETATTR.invokeExact(fd, 0, saved);
        } catch (Throwable ignored) {
            // restoring the terminal on exit: nothing else to do
        } finally {
            arena.close();
        }
    }
}
