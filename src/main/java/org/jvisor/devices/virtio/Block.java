package org.jvisor.devices.virtio;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import org.jvisor.block.BlockException;
import org.jvisor.block.DiskImage;

/**
 * virtio-blk (virtio 1.2, 5.2) over any {@link DiskImage} (raw, qcow2...): read, write, flush
 * (fdatasync), GET_ID, discard and write-zeroes, read-only disks. A request the disk cannot
 * serve -- out of range, unaligned, a write to a read-only disk, an I/O failure -- completes with
 * VIRTIO_BLK_S_IOERR; a request that breaks the protocol (no header, no status byte) is a
 * {@link VirtioException}.
 */
public final class Block implements VirtioDevice {
    static final int T_IN = 0, T_OUT = 1, T_FLUSH = 4, T_GET_ID = 8, T_DISCARD = 11, T_WRITE_ZEROES = 13;
    static final int S_OK = 0, S_IOERR = 1, S_UNSUPP = 2;
    static final long F_SEG_MAX = 1L << 2, F_RO = 1L << 5, F_BLK_SIZE = 1L << 6, F_FLUSH = 1L << 9,
            F_DISCARD = 1L << 13, F_WRITE_ZEROES = 1L << 14;
    static final int SECTOR = 512, QUEUE_SIZE = 256;
    /** Sectors per discard or write-zeroes segment, and segments per request. */
    static final int MAX_RANGE_SECTORS = 1 << 22, MAX_RANGE_SEGMENTS = 16;

    private final DiskImage disk;
    private final boolean readOnly;
    private final String serial;
    private final Throttle throttle;
    private final LatencyHistogram latency = new LatencyHistogram();
    // one writer (the worker thread); volatile so the control API reads current values
    private volatile long reads, writes, flushes, others, errors, readBytes, writtenBytes;

    /** Writes what the image holds in memory (qcow2 tables) to stable storage: before a snapshot. */
    public void flush() throws org.jvisor.block.BlockException {
        if (!readOnly) disk.flush();
    }

    /** The disk's size as the guest sees it. */
    public long sizeBytes() {
        return disk.size();
    }

    public Block(DiskImage disk, boolean readOnly, String serial) {
        this(disk, readOnly, serial, new Throttle(0, 0));
    }

    /** A disk whose requests wait for the throttle's tokens (reads and writes count their bytes). */
    public Block(DiskImage disk, boolean readOnly, String serial, Throttle throttle) {
        this.throttle = throttle;
        this.disk = disk;
        this.readOnly = readOnly || disk.readOnly();
        byte[] s = serial.getBytes(StandardCharsets.US_ASCII);
        this.serial = new String(s, 0, Math.min(s.length, 20), StandardCharsets.US_ASCII);
    }

    @Override
    public int type() {
        return BLOCK;
    }

    @Override
    public int pciClass() {
        return 0x010000;
    }

    @Override
    public long features() {
        long f = F_SEG_MAX | F_BLK_SIZE | F_FLUSH;
        if (readOnly) f |= F_RO;
        else f |= F_DISCARD | F_WRITE_ZEROES;
        return f;
    }

    @Override
    public int queueCount() {
        return 1;
    }

    @Override
    public int maxQueueSize() {
        return QUEUE_SIZE;
    }

    @Override
    public byte[] config() {
        ByteBuffer b = ByteBuffer.allocate(60).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(0, disk.size() / SECTOR);     // capacity
        b.putInt(12, QUEUE_SIZE - 2);            // seg_max
        b.putInt(20, SECTOR);                    // blk_size
        b.putShort(34, (short) 1);               // num_queues
        b.putInt(36, MAX_RANGE_SECTORS);         // max_discard_sectors
        b.putInt(40, MAX_RANGE_SEGMENTS);        // max_discard_seg
        b.putInt(44, 1);                         // discard_sector_alignment
        b.putInt(48, MAX_RANGE_SECTORS);         // max_write_zeroes_sectors
        b.putInt(52, MAX_RANGE_SEGMENTS);        // max_write_zeroes_seg
        return b.array();
    }

    @Override
    public void serve(int index, Virtqueue queue) throws VirtioException {
        for (Chain c; (c = queue.pop()) != null; ) {
            long in = c.readableBytes(), out = c.writableBytes();
            if (in < 16 || out < 1) throw new VirtioException("block request without header or status byte");
            byte[] h = new byte[16];
            c.read(0, h);
            ByteBuffer hb = ByteBuffer.wrap(h).order(ByteOrder.LITTLE_ENDIAN);
            int type = hb.getInt(0);
            long sector = hb.getLong(8);
            int[] written = {0};
            long start = System.nanoTime();
            if (throttle.limited()) throttle.acquire(type == T_IN ? out - 1 : type == T_OUT ? in - 16 : 0);
            int status = handle(c, type, sector, in - 16, out - 1, written);
            c.write(out - 1, new byte[] {(byte) status}, 0, 1);
            // counted before the guest sees the completion, so that whoever it tells reads counts that include it
            count(type, status, type == T_IN ? written[0] : type == T_OUT ? in - 16 : 0, System.nanoTime() - start);
            queue.push(c, written[0] + 1);
        }
    }

    // the latency is the guest's: from taking the request off the ring, throttle wait included, to completing it
    private void count(int type, int status, long bytes, long nanos) {
        if (status != S_OK) errors = errors + 1;
        switch (type) {
            case T_IN -> { reads = reads + 1; readBytes = readBytes + (status == S_OK ? bytes : 0); }
            case T_OUT -> { writes = writes + 1; writtenBytes = writtenBytes + (status == S_OK ? bytes : 0); }
            case T_FLUSH -> flushes = flushes + 1;
            default -> others = others + 1;
        }
        latency.record(nanos);
    }

    @Override
    public java.util.Map<String, Object> counters() {
        java.util.Map<String, Object> m = new java.util.LinkedHashMap<>();
        m.put("readRequests", reads);
        m.put("writeRequests", writes);
        m.put("flushRequests", flushes);
        m.put("otherRequests", others);
        m.put("failedRequests", errors);
        m.put("readBytes", readBytes);
        m.put("writtenBytes", writtenBytes);
        m.put("latency", latency.toMap());
        return m;
    }

    /** Carries out one request; returns its status. {@code written[0]} gets the data bytes given to the driver. */
    private int handle(Chain c, int type, long sector, long dataIn, long dataOut, int[] written) {
        try {
            return switch (type) {
                case T_IN -> {
                    if (!inRange(sector, dataOut)) yield S_IOERR;
                    long off = sector * SECTOR;
                    for (ByteBuffer b : c.slices(true, 0, dataOut)) {
                        int n = b.remaining();
                        disk.read(off, b);
                        off += n;
                    }
                    written[0] = (int) dataOut;
                    yield S_OK;
                }
                case T_OUT -> {
                    if (readOnly || !inRange(sector, dataIn)) yield S_IOERR;
                    long off = sector * SECTOR;
                    for (ByteBuffer b : c.slices(false, 16, 16 + dataIn)) {
                        int n = b.remaining();
                        disk.write(off, b);
                        off += n;
                    }
                    yield S_OK;
                }
                case T_FLUSH -> {
                    disk.flush();
                    yield S_OK;
                }
                case T_GET_ID -> {
                    byte[] id = new byte[20];
                    byte[] s = serial.getBytes(StandardCharsets.US_ASCII);
                    System.arraycopy(s, 0, id, 0, s.length);
                    written[0] = c.write(0, id, 0, (int) Math.min(20, dataOut));
                    yield S_OK;
                }
                case T_DISCARD, T_WRITE_ZEROES -> ranges(c, type, dataIn);
                default -> S_UNSUPP;
            };
        } catch (BlockException e) {
            return S_IOERR;
        }
    }

    private boolean inRange(long sector, long bytes) {
        if (sector < 0 || bytes % SECTOR != 0 || sector > disk.size() / SECTOR) return false;
        return bytes <= disk.size() - sector * SECTOR;
    }

    /** DISCARD and WRITE_ZEROES: segments of {sector, num_sectors, flags}. */
    private int ranges(Chain c, int type, long dataIn) throws BlockException {
        if (readOnly || dataIn == 0 || dataIn % 16 != 0 || dataIn / 16 > MAX_RANGE_SEGMENTS) return S_IOERR;
        byte[] segs = new byte[(int) dataIn];
        c.read(16, segs);
        ByteBuffer b = ByteBuffer.wrap(segs).order(ByteOrder.LITTLE_ENDIAN);
        for (int at = 0; at < segs.length; at += 16) {
            long sector = b.getLong(at);
            long count = b.getInt(at + 8) & 0xFFFFFFFFL;
            int flags = b.getInt(at + 12);
            if (count > MAX_RANGE_SECTORS || !inRange(sector, count * SECTOR)) return S_IOERR;
            if ((flags & ~1) != 0 || (type == T_DISCARD && flags != 0)) return S_UNSUPP;
            if (type == T_DISCARD) disk.discard(sector * SECTOR, count * SECTOR);
            else disk.writeZeroes(sector * SECTOR, count * SECTOR);
        }
        return S_OK;
    }

    @Override
    public void close() {
        try {
            disk.close();
        } catch (BlockException e) {
            // Closing flushes; a failure here has nobody left to report to but the log.
            System.err.println("jvisor: closing disk: " + e.getMessage());
        }
    }

}
