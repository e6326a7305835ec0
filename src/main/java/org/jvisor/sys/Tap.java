package org.jvisor.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.nio.charset.StandardCharsets;

/**
 * A Linux TAP interface opened through /dev/net/tun with the virtio-net header (IFF_VNET_HDR):
 * each read or write is one Ethernet frame preceded by a 12-byte virtio_net_hdr_v1. Reads wait
 * with poll() so that {@link #close()} can stop a reader thread.
 */
public final class Tap implements AutoCloseable {
    static final int O_RDWR = 2, O_CLOEXEC = 0x80000;
    static final long TUNSETIFF = 0x400454caL, TUNSETVNETHDRSZ = 0x400454d8L, TUNSETOFFLOAD = 0x400454d0L;
    /** TUNSETOFFLOAD flags: what the kernel may hand us unfinished (partial checksums, TSO frames). */
    public static final int TUN_F_CSUM = 1, TUN_F_TSO4 = 2, TUN_F_TSO6 = 4, TUN_F_TSO_ECN = 8;
    static final short IFF_TAP = 0x0002, IFF_MULTI_QUEUE = 0x0100, IFF_NO_PI = 0x1000, IFF_VNET_HDR = 0x4000;
    static final int EINVAL = 22;
    static final short POLLIN = 1;
    public static final int VNET_HDR = 12;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final Linker.Option ERRNO = Linker.Option.captureCallState("errno");
    private static final VarHandle ERRNO_HANDLE = Linker.Option.captureStateLayout()
            .varHandle(java.lang.foreign.MemoryLayout.PathElement.groupElement("errno"));
    private static final MethodHandle OPEN = handle("open", FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
    private static final MethodHandle IOCTL = handle("ioctl", FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.ADDRESS));
    private static final MethodHandle READ = handle("read", FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG));
    private static final MethodHandle WRITE = handle("write", FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG));
    private static final MethodHandle POLL = handle("poll", FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT));
    private static final MethodHandle CLOSE = handle("close", FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));

    private static MethodHandle handle(String name, FunctionDescriptor fd) {
        return LINKER.downcallHandle(LINKER.defaultLookup().find(name).orElseThrow(), fd, ERRNO);
    }

    private final int fd;
    private final String name;
    private final Arena arena = Arena.ofAuto(); // freed with the Tap: a reader may still be in poll() at close
    private final MemorySegment state = arena.allocate(Linker.Option.captureStateLayout());
    private final MemorySegment readState = arena.allocate(Linker.Option.captureStateLayout());
    private final MemorySegment pollFd = arena.allocate(8, 8);
    private volatile boolean closed;

    private Tap(int fd, String name) {
        this.fd = fd;
        this.name = name;
    }

    /** Opens (or creates) TAP interface {@code name}; an empty name lets the kernel pick one. */
    public static Tap open(String name) throws NativeException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment st = a.allocate(Linker.Option.captureStateLayout());
            int fd = (int) OPEN.invokeExact(st, a.allocateFrom("/dev/net/tun"), O_RDWR | O_CLOEXEC);
            if (fd < 0) throw new NativeException("open /dev/net/tun", errno(st));
            MemorySegment ifr = a.allocate(40, 8);
            byte[] n = name.getBytes(StandardCharsets.US_ASCII);
            if (n.length > 15) throw new NativeException("TAP name '" + name + "' longer than 15 characters", 22);
            MemorySegment.copy(n, 0, ifr, ValueLayout.JAVA_BYTE, 0, n.length);
            // Multi-queue, so that a second VMM (the far side of a live migration) can attach to the
            // same TAP while this one still holds it; a TAP made single-queue by others is taken as it is.
            ifr.set(ValueLayout.JAVA_SHORT, 16, (short) (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE));
            int rc = (int) IOCTL.invokeExact(st, fd, TUNSETIFF, ifr);
            if (rc < 0 && errno(st) == EINVAL) {
                ifr.set(ValueLayout.JAVA_SHORT, 16, (short) (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR));
                rc = (int) IOCTL.invokeExact(st, fd, TUNSETIFF, ifr);
            }
            if (rc < 0) {
                int e = errno(st);
                int ignored = (int) CLOSE.invokeExact(st, fd);
                throw new NativeException("TUNSETIFF " + name, e);
            }
            MemorySegment size = a.allocateFrom(ValueLayout.JAVA_INT, VNET_HDR);
            if ((int) IOCTL.invokeExact(st, fd, TUNSETVNETHDRSZ, size) < 0) {
                int e = errno(st);
                int ignored = (int) CLOSE.invokeExact(st, fd);
                throw new NativeException("TUNSETVNETHDRSZ", e);
            }
            String actual = ifr.getString(0, StandardCharsets.US_ASCII);
            return new Tap(fd, actual);
        } catch (NativeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("tap downcall failed", t);
        }
    }

    private static int errno(MemorySegment st) {
        return (int) ERRNO_HANDLE.get(st, 0L);
    }

    public String name() {
        return name;
    }

    /**
     * Reads one frame (with its virtio-net header) into {@code buf}; returns its length, 0 when
     * nothing arrived within {@code timeoutMs}, or -1 once closed.
     */
    public int read(MemorySegment buf, int timeoutMs) throws NativeException {
        try {
            if (closed) return -1;
            pollFd.set(ValueLayout.JAVA_INT, 0, fd);
            pollFd.set(ValueLayout.JAVA_SHORT, 4, POLLIN);
            pollFd.set(ValueLayout.JAVA_SHORT, 6, (short) 0);
            int r = (int) POLL.invokeExact(readState, pollFd, 1L, timeoutMs);
            if (r <= 0) {
                if (r < 0 && errno(readState) != 4) throw new NativeException("poll " + name, errno(readState));
                return closed ? -1 : 0;
            }
            long n = (long) READ.invokeExact(readState, fd, buf, buf.byteSize());
            if (n < 0) {
                int e = errno(readState);
                if (e == 11 || e == 4) return 0; // EAGAIN, EINTR
                throw new NativeException("read " + name, e);
            }
            return (int) n;
        } catch (NativeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("tap read failed", t);
        }
    }

    /**
     * Which offloads the reader side takes: with TUN_F_CSUM the kernel may deliver frames whose
     * checksum is still to be completed, with the TSO flags frames larger than the MTU, each
     * described by the virtio-net header. Only what the guest's driver accepted may be set.
     */
    public void setOffload(int flags) throws NativeException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment st = a.allocate(Linker.Option.captureStateLayout());
            if ((int) IOCTL.invokeExact(st, fd, TUNSETOFFLOAD, MemorySegment.ofAddress(flags)) < 0) {
                throw new NativeException("TUNSETOFFLOAD " + name, errno(st));
            }
        } catch (NativeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("tap ioctl failed", t);
        }
    }

    /** Writes one frame (with its virtio-net header); a full queue drops it, as a NIC would. */
    public synchronized void write(MemorySegment frame, long len) throws NativeException {
        try {
            long n = (long) WRITE.invokeExact(state, fd, frame, len);
            if (n < 0 && errno(state) != 11) throw new NativeException("write " + name, errno(state));
        } catch (NativeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("tap write failed", t);
        }
    }

    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        try {
            int ignored = (int) CLOSE.invokeExact(state, fd);
        } catch (Throwable t) {
            // nothing more to do
        }
    }
}
