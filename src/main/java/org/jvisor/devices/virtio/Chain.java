package org.jvisor.devices.virtio;

import java.nio.ByteBuffer;
import org.jvisor.memory.GuestMemory;

/**
 * One descriptor chain taken from the available ring: its head index and its buffers in order,
 * each already checked to lie inside guest RAM. Devices read the driver's (readable) buffers and
 * write into the device-writable ones through it, never touching guest memory outside them.
 */
public final class Chain {
    final int head;
    final long[] addr;
    final int[] len;
    final boolean[] writable;
    final int count;
    private final GuestMemory mem;

    Chain(GuestMemory mem, int head, long[] addr, int[] len, boolean[] writable, int count) {
        this.mem = mem;
        this.head = head;
        this.addr = addr;
        this.len = len;
        this.writable = writable;
        this.count = count;
    }

    public int head() {
        return head;
    }

    public int count() {
        return count;
    }

    public long address(int i) {
        return addr[i];
    }

    public int length(int i) {
        return len[i];
    }

    public boolean isWritable(int i) {
        return writable[i];
    }

    /** Total bytes of the readable (driver-to-device) buffers. */
    public long readableBytes() {
        long n = 0;
        for (int i = 0; i < count; i++) if (!writable[i]) n += len[i];
        return n;
    }

    public long writableBytes() {
        long n = 0;
        for (int i = 0; i < count; i++) if (writable[i]) n += len[i];
        return n;
    }

    /** Buffer {@code i} as a view of guest memory (zero copy). */
    public ByteBuffer buffer(int i) {
        return mem.segment().asSlice(addr[i], len[i]).asByteBuffer();
    }

    /**
     * The bytes [from, to) of the readable ({@code writable} false) or writable stream of buffers,
     * as views of guest memory in order (zero copy; at most one view per buffer).
     */
    public java.util.List<ByteBuffer> slices(boolean ofWritable, long from, long to) {
        java.util.List<ByteBuffer> out = new java.util.ArrayList<>();
        long pos = 0;
        for (int i = 0; i < count && pos < to; i++) {
            if (writable[i] != ofWritable) continue;
            long start = Math.max(from, pos), end = Math.min(to, pos + len[i]);
            if (end > start) out.add(mem.segment().asSlice(addr[i] + (start - pos), end - start).asByteBuffer());
            pos += len[i];
        }
        return out;
    }

    /** Copies up to {@code dst.length} bytes from the readable buffers, starting {@code skip} bytes in; returns the count. */
    public int read(long skip, byte[] dst) {
        int done = 0;
        for (int i = 0; i < count && done < dst.length; i++) {
            if (writable[i]) continue;
            if (skip >= len[i]) {
                skip -= len[i];
                continue;
            }
            int n = (int) Math.min(len[i] - skip, dst.length - done);
            mem.read(addr[i] + skip, dst, done, n);
            done += n;
            skip = 0;
        }
        return done;
    }

    /** Copies {@code src} into the writable buffers starting {@code skip} bytes in; returns the count written. */
    public int write(long skip, byte[] src, int off, int length) {
        int done = 0;
        for (int i = 0; i < count && done < length; i++) {
            if (!writable[i]) continue;
            if (skip >= len[i]) {
                skip -= len[i];
                continue;
            }
            int n = (int) Math.min(len[i] - skip, length - done);
            mem.write(addr[i] + skip, src, off + done, n);
            done += n;
            skip = 0;
        }
        return done;
    }
}
