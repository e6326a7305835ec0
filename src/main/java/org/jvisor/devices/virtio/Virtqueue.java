package org.jvisor.devices.virtio;

import org.jvisor.memory.GuestMemory;

/**
 * A split virtqueue (virtio 1.2, 2.7): descriptor table, available and used rings in guest
 * memory, with indirect descriptors and event-index notification suppression. Everything the
 * driver wrote is checked before use -- indices, loops, nesting, addresses -- and a violation is
 * a {@link VirtioException}; chains are bounded by the queue size, so no input makes the device
 * allocate or loop without bound.
 */
public final class Virtqueue {
    static final int DESC_NEXT = 1, DESC_WRITE = 2, DESC_INDIRECT = 4;
    static final int AVAIL_NO_INTERRUPT = 1;
    /** Indirect tables may hold more descriptors than the ring; the spec caps them at this many. */
    static final int MAX_INDIRECT = 1024;

    private final GuestMemory mem;
    private final DmaObserver dma;
    private final int size;
    private final long desc, avail, used;
    private final boolean eventIdx;
    private int lastAvail;
    private int usedIdx;
    private int signalledUsed;
    private final long[] addr;
    private final int[] len;
    private final boolean[] writable;

    /** Validates the ring placement: sizes, alignment and that all three areas lie inside RAM. */
    /** Who must hear about device writes into guest memory (the CPU's translated-code cache). */
    @FunctionalInterface
    public interface DmaObserver {
        DmaObserver NONE = (pa, len) -> { };

        void written(long pa, long len);
    }

    public Virtqueue(GuestMemory mem, int size, long desc, long avail, long used, boolean eventIdx) throws VirtioException {
        this(mem, DmaObserver.NONE, size, desc, avail, used, eventIdx);
    }

    public Virtqueue(GuestMemory mem, DmaObserver dma, int size, long desc, long avail, long used, boolean eventIdx) throws VirtioException {
        if (size <= 0 || size > 32768 || Integer.bitCount(size) != 1) throw new VirtioException("queue size " + size + " is not a power of two up to 32768");
        if ((desc & 15) != 0 || (avail & 1) != 0 || (used & 3) != 0) throw new VirtioException("misaligned ring");
        if (!mem.contains(desc, 16L * size) || !mem.contains(avail, 6 + 2L * size) || !mem.contains(used, 6 + 8L * size)) {
            throw new VirtioException("ring outside guest memory");
        }
        this.mem = mem;
        this.dma = dma;
        this.size = size;
        this.desc = desc;
        this.avail = avail;
        this.used = used;
        this.eventIdx = eventIdx;
        this.usedIdx = mem.read16(used + 2);
        this.lastAvail = usedIdx;
        this.signalledUsed = usedIdx;
        int cap = Math.max(size, MAX_INDIRECT) + size;
        this.addr = new long[cap];
        this.len = new int[cap];
        this.writable = new boolean[cap];
    }

    public int size() {
        return size;
    }

    /** Whether the driver has offered a chain not yet popped (asks for no notification, unlike {@link #pop}). */
    public boolean hasAvailable() {
        return ((mem.read16(avail + 2) - lastAvail) & 0xFFFF) != 0;
    }

    /** The next available chain, or null when the driver has offered nothing new. */
    public Chain pop() throws VirtioException {
        int availIdx = mem.read16(avail + 2);
        int pending = (availIdx - lastAvail) & 0xFFFF;
        if (pending == 0 && eventIdx) {
            // Empty: ask to be notified of the next buffer, then look again in case it just came.
            mem.write16(used + 4 + 8L * size, lastAvail);
            java.lang.invoke.VarHandle.fullFence();
            availIdx = mem.read16(avail + 2);
            pending = (availIdx - lastAvail) & 0xFFFF;
        }
        if (pending == 0) return null;
        if (pending > size) throw new VirtioException("available index moved " + pending + " entries in a ring of " + size);
        int head = mem.read16(avail + 4 + 2L * (lastAvail & (size - 1)));
        lastAvail = (lastAvail + 1) & 0xFFFF;
        if (eventIdx) mem.write16(used + 4 + 8L * size, lastAvail); // avail_event: tell me at the next one
        return walk(head);
    }

    private Chain walk(int head) throws VirtioException {
        if (head >= size) throw new VirtioException("head index " + head + " beyond queue size " + size);
        int n = 0, i = head, steps = 0;
        long table = desc;
        int tableSize = size;
        boolean inIndirect = false, sawWritable = false;
        for (;;) {
            if (++steps > size + MAX_INDIRECT) throw new VirtioException("descriptor chain loops");
            long d = table + 16L * i;
            long a = mem.read64(d);
            int l = mem.read32(d + 8);
            int flags = mem.read16(d + 12), next = mem.read16(d + 14);
            if ((flags & DESC_INDIRECT) != 0) {
                if (inIndirect) throw new VirtioException("indirect table inside an indirect table");
                if ((flags & DESC_NEXT) != 0) throw new VirtioException("indirect descriptor with NEXT");
                long bytes = l & 0xFFFFFFFFL;
                if (bytes == 0 || (bytes & 15) != 0 || bytes / 16 > MAX_INDIRECT) throw new VirtioException("indirect table of " + bytes + " bytes");
                if (!mem.contains(a, bytes)) throw new VirtioException("indirect table outside guest memory");
                table = a;
                tableSize = (int) (bytes / 16);
                inIndirect = true;
                i = 0;
                steps = 0;
                continue;
            }
            long length = l & 0xFFFFFFFFL;
            if (!mem.contains(a, length)) throw new VirtioException(String.format("buffer %#x+%d outside guest memory", a, length));
            boolean w = (flags & DESC_WRITE) != 0;
            if (!w && sawWritable) throw new VirtioException("readable buffer after a writable one");
            sawWritable |= w;
            if (n == addr.length) throw new VirtioException("chain too long");
            addr[n] = a;
            len[n] = (int) Math.min(length, Integer.MAX_VALUE);
            if (length > Integer.MAX_VALUE) throw new VirtioException("buffer of " + length + " bytes");
            writable[n] = w;
            n++;
            if ((flags & DESC_NEXT) == 0) break;
            if (next >= tableSize) throw new VirtioException("next index " + next + " beyond table size " + tableSize);
            i = next;
        }
        return new Chain(mem, head, java.util.Arrays.copyOf(addr, n), java.util.Arrays.copyOf(len, n),
                java.util.Arrays.copyOf(writable, n), n);
    }

    /** Returns a chain to the driver with {@code written} bytes placed in its writable buffers. */
    public void push(Chain c, int written) {
        long left = written & 0xFFFFFFFFL;
        for (int i = 0; i < c.count; i++) {
            if (!c.writable[i]) continue;
            // A migration resends every buffer the device could have written, whatever it reports.
            mem.markWritten(c.addr[i], c.len[i]);
            if (left <= 0) continue;
            dma.written(c.addr[i], Math.min(left, c.len[i]));
            left -= c.len[i];
        }
        long e = used + 4 + 8L * (usedIdx & (size - 1));
        mem.write32(e, c.head);
        mem.write32(e + 4, written);
        usedIdx = (usedIdx + 1) & 0xFFFF;
        java.lang.invoke.VarHandle.releaseFence(); // the entry before the index that publishes it
        mem.write16(used + 2, usedIdx);
    }

    /** Where the device stands in the rings (the rings themselves are in guest RAM). */
    public record State(int lastAvail, int usedIdx, int signalledUsed) {}

    public State state() {
        return new State(lastAvail, usedIdx, signalledUsed);
    }

    /** Continues from a saved position, so requests the device had taken are not taken twice. */
    public void restore(State s) {
        lastAvail = s.lastAvail() & 0xFFFF;
        usedIdx = s.usedIdx() & 0xFFFF;
        signalledUsed = s.signalledUsed() & 0xFFFF;
    }

    /** The chain that starts at descriptor {@code head} again (one a device held across a snapshot). */
    public Chain chainAt(int head) throws VirtioException {
        return walk(head);
    }

    /** Whether the driver wants an interrupt for what was pushed since the last one (event index or the NO_INTERRUPT flag). */
    public boolean shouldInterrupt() {
        java.lang.invoke.VarHandle.fullFence();
        int old = signalledUsed;
        int now = usedIdx;
        if (old == now) return false;
        signalledUsed = now;
        if (eventIdx) {
            int usedEvent = mem.read16(avail + 4 + 2L * size);
            // vring_need_event: the driver asked to hear once usedIdx passes usedEvent.
            return ((now - usedEvent - 1) & 0xFFFF) < ((now - old) & 0xFFFF);
        }
        return (mem.read16(avail) & AVAIL_NO_INTERRUPT) == 0;
    }
}
