package org.jvisor.devices.virtio;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Map;
import java.util.TreeMap;

/**
 * virtio-balloon (virtio 1.2, 5.5): the host asks for a number of 4 KiB pages (num_pages), the
 * guest inflates or deflates towards it and reports where it is (actual); with the statistics
 * queue it reports memory statistics. Inflated pages go back to the host at once (they read as
 * zero if the guest touches them again); deflating needs nothing, as the guest's next write
 * brings a page back. Page numbers outside RAM are ignored.
 */
public final class Balloon implements VirtioDevice {
    /** Gives guest-physical pages back to the host. */
    @FunctionalInterface
    public interface PageRelease {
        void release(long address, long length);
    }

    static final int PAGE = 4096;
    static final long F_STATS_VQ = 1L << 1;
    static final int INFLATE = 0, DEFLATE = 1, STATS = 2;
    /** Statistics tags (5.5.6.3) by name. */
    static final String[] STAT_NAMES = {"swap-in", "swap-out", "major-faults", "minor-faults", "free-memory", "total-memory",
            "available-memory", "disk-caches", "hugetlb-allocations", "hugetlb-failures"};

    private volatile int numPages, actual;
    private long inflated;
    private final Map<String, Long> stats = new TreeMap<>();
    /** The driver's statistics buffer, held until the host wants fresh figures (worker thread only). */
    private Chain heldStats;
    private volatile boolean statsWanted;
    private volatile java.util.function.IntConsumer kick = q -> { };
    private final PageRelease release;

    public Balloon(PageRelease release) {
        this.release = release;
    }

    @Override
    public void bind(java.util.function.IntConsumer kick) {
        this.kick = kick;
    }

    /** Asks the guest for fresh statistics (they arrive in {@link #stats()}). */
    public void requestStats() {
        statsWanted = true;
        kick.accept(STATS);
    }

    @Override
    public int type() {
        return BALLOON;
    }

    @Override
    public int pciClass() {
        return 0x05FF00;
    }

    @Override
    public long features() {
        return F_STATS_VQ;
    }

    @Override
    public int queueCount() {
        return 3;
    }

    @Override
    public byte[] config() {
        ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(0, numPages);
        b.putInt(4, actual);
        return b.array();
    }

    @Override
    public void writeConfig(int offset, byte[] data) {
        if (offset == 4 && data.length == 4) actual = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN).getInt();
    }

    /** The host's target; the transport must then announce a configuration change. */
    public void setTarget(int pages) {
        numPages = Math.max(0, pages);
    }

    /** Pages the guest reports as given back. */
    public int actual() {
        return actual;
    }

    public synchronized long inflatedPages() {
        return inflated;
    }

    public synchronized Map<String, Long> stats() {
        return Map.copyOf(stats);
    }

    /** The balloon's size and the guest's own memory statistics (free-memory, total-memory...). */
    @Override
    public synchronized Map<String, Object> counters() {
        Map<String, Object> m = new java.util.LinkedHashMap<>();
        m.put("targetPages", numPages);
        m.put("actualPages", actual);
        m.put("inflatedPages", inflated);
        m.put("guest", Map.copyOf(stats));
        return m;
    }

    @Override
    public void serve(int index, Virtqueue queue) throws VirtioException {
        if (index == STATS) {
            serveStats(queue);
            return;
        }
        for (Chain c; (c = queue.pop()) != null; ) {
            long bytes = Math.min(c.readableBytes(), 1 << 20);
            byte[] b = new byte[(int) bytes];
            c.read(0, b);
            synchronized (this) {
                if (index == INFLATE) inflated += bytes / 4;
                else inflated = Math.max(0, inflated - bytes / 4);
            }
            if (index == INFLATE) releasePages(b);
            queue.push(c, 0);
        }
    }

    /** An inflate buffer is a list of 32-bit page frame numbers; runs of consecutive frames go back in one call. */
    private void releasePages(byte[] pfns) {
        ByteBuffer p = ByteBuffer.wrap(pfns).order(ByteOrder.LITTLE_ENDIAN);
        long runStart = -1, runLength = 0;
        for (int at = 0; at + 4 <= pfns.length; at += 4) {
            long pfn = p.getInt(at) & 0xFFFFFFFFL;
            if (runStart >= 0 && pfn == runStart + runLength) {
                runLength++;
                continue;
            }
            if (runStart >= 0) release.release(runStart * PAGE, runLength * PAGE);
            runStart = pfn;
            runLength = 1;
        }
        if (runStart >= 0) release.release(runStart * PAGE, runLength * PAGE);
    }

    /** The statistics buffer goes back only when the host asked, or the guest would refill it in a loop. */
    private void serveStats(Virtqueue queue) throws VirtioException {
        for (Chain c; (c = queue.pop()) != null; ) {
            byte[] b = new byte[(int) Math.min(c.readableBytes(), 4096)];
            c.read(0, b);
            synchronized (this) {
                ByteBuffer s = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
                for (int at = 0; at + 10 <= b.length; at += 10) {
                    int tag = s.getShort(at) & 0xFFFF;
                    stats.put(tag < STAT_NAMES.length ? STAT_NAMES[tag] : "tag-" + tag, s.getLong(at + 2));
                }
            }
            if (heldStats != null) queue.push(heldStats, 0); // a second buffer: give the older one back
            heldStats = c;
        }
        if (statsWanted && heldStats != null) {
            statsWanted = false;
            queue.push(heldStats, 0);
            heldStats = null;
        }
    }

    /** Target, what the guest reports, pages given back, and the statistics buffer it left with the device (-1: none). */
    public record State(int numPages, int actual, long inflated, int heldStatsHead) {}

    @Override
    public synchronized State saveState() {
        return new State(numPages, actual, inflated, heldStats == null ? -1 : heldStats.head());
    }

    @Override
    public Class<State> stateType() {
        return State.class;
    }

    @Override
    public synchronized void restoreState(Record saved, java.util.function.IntFunction<Virtqueue> rings) throws VirtioException {
        if (!(saved instanceof State s)) throw new IllegalArgumentException("not a balloon state: " + saved);
        if (s.numPages() < 0 || s.actual() < 0 || s.inflated() < 0) throw new IllegalArgumentException("balloon sizes must not be negative");
        numPages = s.numPages();
        actual = s.actual();
        inflated = s.inflated();
        Virtqueue stats = rings.apply(STATS);
        heldStats = s.heldStatsHead() < 0 || stats == null ? null : stats.chainAt(s.heldStatsHead());
    }

    @Override
    public synchronized void reset() {
        heldStats = null;
        inflated = 0;
        actual = 0;
    }
}
