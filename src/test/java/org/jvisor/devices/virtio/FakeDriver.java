package org.jvisor.devices.virtio;

import java.util.ArrayList;
import java.util.List;
import org.jvisor.memory.GuestMemory;

/**
 * A virtio driver in miniature for unit tests: it programs a {@link VirtioPci} through BAR 0 and
 * configuration space exactly as a guest does, keeps one split queue in a fake guest memory, and
 * offers descriptor chains.
 */
final class FakeDriver implements AutoCloseable {
    static final long DESC = 0x10000, AVAIL = 0x20000, USED = 0x30000, DATA = 0x100000;
    final GuestMemory mem = GuestMemory.allocate(8 << 20);
    final List<long[]> msis = java.util.Collections.synchronizedList(new ArrayList<>());
    volatile boolean intx;
    final VirtioPci pci;
    final int queueSize;
    int availIdx, nextDesc;

    FakeDriver(VirtioDevice device, int queueSize) {
        this.queueSize = queueSize;
        this.pci = new VirtioPci(device, mem, Virtqueue.DmaObserver.NONE, (a, d) -> msis.add(new long[] {a, d}), l -> intx = l);
    }

    long common(int off, int size) {
        return pci.barRead(0, VirtioPci.COMMON + off, size);
    }

    void common(int off, int size, long v) {
        pci.barWrite(0, VirtioPci.COMMON + off, size, v);
    }

    int status() {
        return (int) common(0x14, 1);
    }

    long deviceFeatures() {
        common(0x00, 4, 0);
        long lo = common(0x04, 4);
        common(0x00, 4, 1);
        return lo | common(0x04, 4) << 32;
    }

    /** Negotiates {@code features}; returns whether the device kept FEATURES_OK. */
    boolean negotiate(long features) {
        common(0x14, 1, VirtioPci.ACKNOWLEDGE | VirtioPci.DRIVER);
        common(0x08, 4, 0);
        common(0x0C, 4, features & 0xFFFFFFFFL);
        common(0x08, 4, 1);
        common(0x0C, 4, features >>> 32);
        common(0x14, 1, VirtioPci.ACKNOWLEDGE | VirtioPci.DRIVER | VirtioPci.FEATURES_OK);
        return (status() & VirtioPci.FEATURES_OK) != 0;
    }

    /** MSI-X on, vector 0 for config changes and vector 1 for queue 0. */
    void enableMsix() {
        int cap = msixCap();
        pci.config().write(cap + 2, 2, 0x8000);
        for (int v = 0; v < 2; v++) {
            pci.barWrite(0, VirtioPci.MSIX_TABLE + 16L * v, 4, 0xFEE00000L);
            pci.barWrite(0, VirtioPci.MSIX_TABLE + 16L * v + 8, 4, 0x40 + v);
            pci.barWrite(0, VirtioPci.MSIX_TABLE + 16L * v + 12, 4, 0);
        }
        common(0x10, 2, 0);
    }

    int msixCap() {
        for (int at = pci.config().read(0x34, 1); at != 0; at = pci.config().read(at + 1, 1)) {
            if (pci.config().read(at, 1) == 0x11) return at;
        }
        throw new AssertionError("no MSI-X capability");
    }

    void setUpQueue(int vector) {
        common(0x16, 2, 0);
        common(0x18, 2, queueSize);
        common(0x1A, 2, vector);
        common(0x20, 8, DESC);
        common(0x28, 8, AVAIL);
        common(0x30, 8, USED);
        common(0x1C, 2, 1);
    }

    void driverOk() {
        common(0x14, 1, status() | VirtioPci.DRIVER_OK);
    }

    /** Full bring-up with MSI-X and the given extra feature bits. */
    void start(long extraFeatures) {
        if (!negotiate(VirtioPci.F_VERSION_1 | extraFeatures)) throw new AssertionError("features refused");
        enableMsix();
        setUpQueue(1);
        driverOk();
    }

    /** Writes a chain of (address, length, writable) buffers into the descriptor table and offers it. */
    int offer(long[][] buffers) {
        int head = nextDesc;
        for (int i = 0; i < buffers.length; i++) {
            int d = (nextDesc + i) % queueSize;
            long at = DESC + 16L * d;
            mem.write64(at, buffers[i][0]);
            mem.write32(at + 8, (int) buffers[i][1]);
            int flags = (buffers[i][2] != 0 ? Virtqueue.DESC_WRITE : 0) | (i + 1 < buffers.length ? Virtqueue.DESC_NEXT : 0);
            mem.write16(at + 12, flags);
            mem.write16(at + 14, (d + 1) % queueSize);
        }
        nextDesc = (nextDesc + buffers.length) % queueSize;
        mem.write16(AVAIL + 4 + 2L * (availIdx % queueSize), head);
        availIdx = (availIdx + 1) & 0xFFFF;
        mem.write16(AVAIL + 2, availIdx);
        pci.barWrite(0, VirtioPci.NOTIFY, 2, 0);
        return head;
    }

    /** Waits for the device to return {@code n} chains in total; returns the last used element {id, len}. */
    int[] awaitUsed(int n) throws InterruptedException {
        long end = System.nanoTime() + 5_000_000_000L;
        while (mem.read16(USED + 2) < n) {
            if (System.nanoTime() > end) throw new AssertionError("device did not complete; status " + status() + " " + pci.lastError());
            Thread.sleep(1);
        }
        long e = USED + 4 + 8L * ((n - 1) % queueSize);
        return new int[] {mem.read32(e), mem.read32(e + 4)};
    }

    @Override
    public void close() {
        pci.close();
        mem.close();
    }
}
