package org.jvisor.block.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;
import org.jvisor.block.BlockException;
import org.jvisor.block.BlockException.Kind;
import org.jvisor.block.DiskImage;
import org.jvisor.block.FileIo;
import org.jvisor.block.raw.HostFiles;

/**
 * A qcow2 image (versions 2 and 3): L1/L2 tables through a bounded cache, refcounted cluster
 * allocation, zero and compressed clusters, and a backing image for unallocated clusters.
 *
 * <p>Crash safety comes from the order of writes, all of them write-through: a new cluster's
 * refcount is written before its data, its data before the L2 entry that references it, and an
 * old cluster is released only after nothing references it. A crash at any point can therefore
 * leak clusters but never leave a reference to a cluster counted as free.
 */
public final class Qcow2Image implements DiskImage {
    static final long OFFSET_MASK = 0x00FFFFFFFFFFFE00L;
    static final long COPIED = 1L << 63, COMPRESSED = 1L << 62, ZERO = 1;
    private static final int L2_CACHE = 32, REFBLOCK_CACHE = 16;

    private final Path path;
    private final FileChannel ch;
    private final boolean readOnly;
    final Qcow2Header h;
    final int cb;
    final long cs;
    private final int l2Bits;
    private long[] l1;
    private long[] refTable;
    private final int refBits, refsPerBlockBits;
    private long nextFree;
    private final DiskImage backing;
    private final Map<Long, long[]> l2Cache = lru(L2_CACHE);
    private final Map<Long, byte[]> refCache = lru(REFBLOCK_CACHE);
    // The last decompressed cluster, by its L2 entry.
    private long decompressedEntry = -1;
    private byte[] decompressed;

    private static <K, V> Map<K, V> lru(int max) {
        return new LinkedHashMap<>(16, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<K, V> e) {
                return size() > max;
            }
        };
    }

    private Qcow2Image(Path path, FileChannel ch, boolean readOnly, Qcow2Header h, DiskImage backing) throws BlockException {
        this.path = path;
        this.ch = ch;
        this.readOnly = readOnly;
        this.h = h;
        this.cb = h.clusterBits;
        this.cs = h.clusterSize();
        this.l2Bits = cb - 3;
        this.refBits = 1 << h.refcountOrder;
        this.refsPerBlockBits = cb + 3 - h.refcountOrder;
        this.backing = backing;
        this.l1 = readTable(h.l1TableOffset, h.l1Size);
        this.refTable = readTable(h.refcountTableOffset, (int) (h.refcountTableClusters * cs / 8));
        long end = fileSize();
        this.nextFree = (end + cs - 1) & -cs;
    }

    /** Opens an image; {@code backingOpener} opens the backing file (by resolved path and format). */
    public static Qcow2Image open(Path path, boolean readOnly, BackingOpener backingOpener) throws BlockException {
        FileChannel ch;
        try {
            ch = readOnly ? FileChannel.open(path, StandardOpenOption.READ)
                    : FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE);
        } catch (NoSuchFileException e) {
            throw new BlockException(Kind.NOT_FOUND, path + ": no such file");
        } catch (IOException e) {
            throw new BlockException(Kind.NOT_FOUND, path + ": " + e.getMessage(), e);
        }
        DiskImage backing = null;
        try {
            long fileSize = ch.size();
            ByteBuffer hb = ByteBuffer.allocate((int) Math.min(fileSize, 1 << 21));
            readFully(ch, hb, 0, path);
            hb.flip();
            Qcow2Header h = Qcow2Header.parse(hb, fileSize);
            if (!readOnly) {
                if ((h.incompatibleFeatures & Qcow2Header.INCOMPAT_CORRUPT) != 0) {
                    throw new BlockException(Kind.CORRUPT, path + ": image is marked corrupt; it can be opened read-only");
                }
                if (h.nbSnapshots > 0) {
                    throw new BlockException(Kind.UNSUPPORTED, path + ": writing images with internal snapshots is not supported");
                }
            }
            if (h.backingFile != null) {
                if (backingOpener == null) throw new BlockException(Kind.UNSUPPORTED, path + ": has a backing file");
                backing = backingOpener.open(resolve(path, h.backingFile), h.backingFormat);
            }
            Qcow2Image img = new Qcow2Image(path, ch, readOnly, h, backing);
            if (!readOnly && (h.incompatibleFeatures & Qcow2Header.INCOMPAT_DIRTY) != 0) img.repairDirty();
            return img;
        } catch (BlockException | RuntimeException e) {
            try {
                ch.close();
                if (backing != null) backing.close();
            } catch (IOException | RuntimeException ignored) {
                // the original error is the one to report
            }
            throw e instanceof BlockException be ? be : new BlockException(Kind.CORRUPT, path + ": " + e, e);
        } catch (IOException e) {
            throw new BlockException(Kind.IO, path + ": " + e.getMessage(), e);
        }
    }

    /** Opens backing files for qcow2 overlays. */
    @FunctionalInterface
    public interface BackingOpener {
        DiskImage open(Path path, String format) throws BlockException;
    }

    /** A backing path relative to the overlay is relative to the overlay's directory. */
    public static Path resolve(Path image, String backing) {
        Path b = Path.of(backing);
        if (b.isAbsolute()) return b;
        Path dir = image.toAbsolutePath().getParent();
        return dir == null ? b : dir.resolve(b);
    }

    /**
     * Creates an empty image of {@code size} bytes: header, refcount table and block, L1 table.
     * With a backing file, {@code backingName} is stored as given (relative names stay relative).
     */
    public static void create(Path path, long size, int clusterBits, String backingName, String backingFormat)
            throws BlockException {
        if (clusterBits < 9 || clusterBits > 21) throw new BlockException(Kind.BAD_FORMAT, "cluster size must be 512 B .. 2 MiB");
        if (size < 0 || size > (1L << 56)) throw new BlockException(Kind.OUT_OF_RANGE, "size out of range: " + size);
        long cs = 1L << clusterBits;
        Qcow2Header h = new Qcow2Header();
        h.version = 3;
        h.clusterBits = clusterBits;
        h.size = size;
        h.refcountOrder = 4;
        h.backingFile = backingName;
        h.backingFormat = backingName == null ? null : backingFormat;
        h.l1Size = (int) Math.max(1, Qcow2Header.ceilDiv(size, cs * (cs / 8)));
        long l1Clusters = Qcow2Header.ceilDiv(h.l1Size * 8L, cs);
        // Cluster 0 header, 1 refcount table, 2 refcount block, 3.. L1 table.
        long used = 3 + l1Clusters;
        long refsPerBlock = cs * 8 / 16;
        if (used > refsPerBlock) throw new BlockException(Kind.OUT_OF_RANGE, "virtual size too large for this cluster size");
        h.refcountTableOffset = cs;
        h.refcountTableClusters = 1;
        h.l1TableOffset = 3 * cs;
        ByteBuffer header = h.encode((int) cs);
        if (backingName != null && backingName.getBytes(java.nio.charset.StandardCharsets.UTF_8).length > 1023) {
            throw new BlockException(Kind.BAD_FORMAT, "backing file name too long");
        }
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            writeFully(ch, header, 0, path);
            ByteBuffer table = ByteBuffer.allocate((int) cs);
            table.putLong(0, 2 * cs);
            writeFully(ch, table, cs, path);
            ByteBuffer block = ByteBuffer.allocate((int) cs);
            for (int k = 0; k < used; k++) block.putShort(2 * k, (short) 1);
            writeFully(ch, block, 2 * cs, path);
            writeFully(ch, ByteBuffer.allocate((int) (l1Clusters * cs)), 3 * cs, path);
            ch.force(true);
        } catch (java.nio.file.FileAlreadyExistsException e) {
            throw new BlockException(Kind.IO, path + ": file exists");
        } catch (IOException e) {
            throw new BlockException(Kind.IO, path + ": " + e.getMessage(), e);
        }
    }

    // =========================== low-level I/O ===========================

    static void readFully(FileChannel ch, ByteBuffer b, long pos, Path path) throws BlockException {
        FileIo.readFully(ch, b, pos, path);
    }

    static void writeFully(FileChannel ch, ByteBuffer b, long pos, Path path) throws BlockException {
        FileIo.writeFully(ch, b, pos, path);
    }

    private long fileSize() throws BlockException {
        try {
            return ch.size();
        } catch (IOException e) {
            throw new BlockException(Kind.IO, path + ": " + e.getMessage(), e);
        }
    }

    private long[] readTable(long off, int entries) throws BlockException {
        ByteBuffer b = ByteBuffer.allocate(entries * 8);
        readFully(ch, b, off, path);
        long[] t = new long[entries];
        b.flip().asLongBuffer().get(t);
        return t;
    }

    private void writeLong(long pos, long v) throws BlockException {
        writeFully(ch, ByteBuffer.allocate(8).putLong(0, v), pos, path);
    }

    private BlockException corrupt(String what) {
        return new BlockException(Kind.CORRUPT, path + ": " + what);
    }

    /** A cluster-aligned offset that lies inside the file (metadata must). */
    private long checkedOffset(long off, String what) throws BlockException {
        if ((off & (cs - 1)) != 0 || off <= 0 || off >= nextFree) throw corrupt(what + " offset 0x" + Long.toHexString(off) + " invalid");
        return off;
    }

    // =========================== L2 lookup ===========================

    private long[] l2Table(long off) throws BlockException {
        long[] t = l2Cache.get(off);
        if (t == null) {
            t = readTable(checkedOffset(off, "L2 table"), 1 << l2Bits);
            l2Cache.put(off, t);
        }
        return t;
    }

    /** The L2 entry for virtual cluster vcl (0 when unallocated). */
    private long l2Entry(long vcl) throws BlockException {
        long l1i = vcl >>> l2Bits;
        if (l1i >= l1.length) return 0;
        long l2off = l1[(int) l1i] & OFFSET_MASK;
        if (l2off == 0) return 0;
        return l2Table(l2off)[(int) (vcl & ((1 << l2Bits) - 1))];
    }

    // =========================== reads ===========================

    @Override
    public synchronized void read(long offset, ByteBuffer dst) throws BlockException {
        checkRange(offset, dst.remaining());
        while (dst.hasRemaining()) {
            long vcl = offset >>> cb;
            int in = (int) (offset & (cs - 1));
            int n = (int) Math.min(cs - in, dst.remaining());
            ByteBuffer part = dst.slice(dst.position(), n);
            readCluster(vcl, in, part);
            dst.position(dst.position() + n);
            offset += n;
        }
    }

    /** Reads part of one virtual cluster into part (exactly part.remaining() bytes). */
    private void readCluster(long vcl, int in, ByteBuffer part) throws BlockException {
        long e = l2Entry(vcl);
        if ((e & COMPRESSED) != 0) {
            byte[] data = decompress(e);
            part.put(data, in, part.remaining());
        } else if ((e & ZERO) != 0 && h.version == 3) {
            zero(part);
        } else if ((e & OFFSET_MASK) != 0) {
            long host = e & OFFSET_MASK;
            if ((host & (cs - 1)) != 0) throw corrupt("data cluster offset 0x" + Long.toHexString(host) + " unaligned");
            readFully(ch, part, host + in, path);
        } else {
            readBacking((vcl << cb) + in, part);
        }
    }

    private void readBacking(long off, ByteBuffer part) throws BlockException {
        if (backing == null || off >= backing.size()) {
            zero(part);
            return;
        }
        int avail = (int) Math.min(part.remaining(), backing.size() - off);
        ByteBuffer b = part.slice(part.position(), avail);
        backing.read(off, b);
        part.position(part.position() + avail);
        zero(part);
    }

    private static void zero(ByteBuffer b) {
        FileIo.zero(b);
    }

    /** Host byte offset of a compressed L2 entry's data. */
    long compressedOffset(long e) {
        return e & ((1L << (62 - (cb - 8))) - 1);
    }

    /** End of the 512-byte sectors a compressed L2 entry's data occupies. */
    long compressedEnd(long e) {
        long sectors = ((e & ~COMPRESSED & ~COPIED) >>> (62 - (cb - 8))) + 1;
        return (compressedOffset(e) & ~511L) + sectors * 512;
    }

    /** Inflates a compressed cluster; its size is bounded by the entry's sector count and the file. */
    private byte[] decompress(long e) throws BlockException {
        if (decompressed != null && e == decompressedEntry) return decompressed;
        long host = compressedOffset(e);
        long len = compressedEnd(e) - host;
        if (len <= 0 || host <= 0 || host >= nextFree) throw corrupt("compressed cluster offset invalid");
        len = Math.min(len, nextFree - host);
        len = Math.min(len, 2 * cs + 512); // a compressed cluster is never larger than that
        ByteBuffer in = ByteBuffer.allocate((int) len);
        readFully(ch, in, host, path);
        byte[] out = new byte[(int) cs];
        Inflater inf = new Inflater(true);
        try {
            inf.setInput(in.array(), 0, (int) len);
            int got = 0;
            while (got < cs) {
                int n = inf.inflate(out, got, (int) cs - got);
                if (n == 0 && (inf.needsInput() || inf.finished() || inf.needsDictionary())) break;
                got += n;
            }
            if (got != cs) throw corrupt("compressed cluster inflates to " + got + " bytes, not " + cs);
        } catch (DataFormatException ex) {
            throw corrupt("compressed cluster is not valid deflate data: " + ex.getMessage());
        } finally {
            inf.end();
        }
        decompressedEntry = e;
        decompressed = out;
        return out;
    }

    // =========================== refcounts ===========================

    private byte[] refBlock(long off) throws BlockException {
        byte[] b = refCache.get(off);
        if (b == null) {
            ByteBuffer buf = ByteBuffer.allocate((int) cs);
            readFully(ch, buf, checkedOffset(off, "refcount block"), path);
            b = buf.array();
            refCache.put(off, b);
        }
        return b;
    }

    /** The refcount block covering block index bi, or null when the table has none. */
    byte[] refBlockAt(long bi) throws BlockException {
        if (bi < 0 || bi >= refTable.length) return null;
        long off = refTable[(int) bi] & OFFSET_MASK;
        return off == 0 ? null : refBlock(off);
    }

    /** Entry i of a refcount block. */
    long refEntry(byte[] block, int i) {
        return getRef(block, i);
    }

    long refcount(long cluster) throws BlockException {
        long bi = cluster >>> refsPerBlockBits;
        if (bi >= refTable.length) return 0;
        long off = refTable[(int) bi] & OFFSET_MASK;
        if (off == 0) return 0;
        return getRef(refBlock(off), (int) (cluster & ((1L << refsPerBlockBits) - 1)));
    }

    /** Refcount entry i of a block (big-endian, refBits wide), without allocating. */
    private long getRef(byte[] b, int i) {
        int bytes = refBits >>> 3;
        long v = 0;
        for (int k = 0, at = i * bytes; k < bytes; k++) v = v << 8 | (b[at + k] & 0xFF);
        return v;
    }

    private void setRef(byte[] b, long blockOff, int i, long v) throws BlockException {
        ByteBuffer bb = ByteBuffer.wrap(b);
        int bytes = refBits / 8;
        switch (refBits) {
            case 8 -> b[i] = (byte) v;
            case 16 -> bb.putShort(i * 2, (short) v);
            case 32 -> bb.putInt(i * 4, (int) v);
            default -> bb.putLong(i * 8, v);
        }
        writeFully(ch, ByteBuffer.wrap(b, i * bytes, bytes), blockOff + (long) i * bytes, path);
    }

    /** Adds delta to a cluster's refcount, allocating refcount blocks (and a bigger table) as needed. */
    private void addRef(long cluster, long delta) throws BlockException {
        long blockOff = ensureRefBlock(cluster);
        byte[] b = refBlock(blockOff);
        int i = (int) (cluster & ((1L << refsPerBlockBits) - 1));
        long v = getRef(b, i) + delta;
        long max = refBits == 64 ? Long.MAX_VALUE : (1L << refBits) - 1;
        if (v < 0 || v > max) throw corrupt("refcount of cluster " + cluster + " out of range");
        setRef(b, blockOff, i, v);
    }

    private long ensureRefBlock(long cluster) throws BlockException {
        long bi = cluster >>> refsPerBlockBits;
        if (bi >= refTable.length) growRefTable(bi + 1);
        long off = refTable[(int) bi] & OFFSET_MASK;
        if (off != 0) return off;
        long blk = nextFree;
        nextFree += cs;
        byte[] b = new byte[(int) cs];
        boolean self = ((blk >>> cb) >>> refsPerBlockBits) == bi;
        if (self) {
            ByteBuffer bb = ByteBuffer.wrap(b);
            int i = (int) ((blk >>> cb) & ((1L << refsPerBlockBits) - 1));
            switch (refBits) {
                case 8 -> b[i] = 1;
                case 16 -> bb.putShort(i * 2, (short) 1);
                case 32 -> bb.putInt(i * 4, 1);
                default -> bb.putLong(i * 8, 1);
            }
        }
        writeFully(ch, ByteBuffer.wrap(b), blk, path);
        refCache.put(blk, b);
        refTable[(int) bi] = blk;
        writeLong(h.refcountTableOffset + bi * 8, blk);
        if (!self) addRef(blk >>> cb, 1);
        return blk;
    }

    /** Moves the refcount table to a bigger place at the end of the file. */
    private void growRefTable(long minEntries) throws BlockException {
        long entries = Math.max(minEntries, refTable.length * 2L);
        long clusters = Qcow2Header.ceilDiv(entries * 8, cs);
        if (clusters > Integer.MAX_VALUE / 2) throw corrupt("refcount table would grow too large");
        long oldOff = h.refcountTableOffset;
        int oldClusters = h.refcountTableClusters;
        long newOff = nextFree;
        nextFree += clusters * cs;
        refTable = java.util.Arrays.copyOf(refTable, (int) (clusters * cs / 8));
        // From here on, table entries are written to the new place.
        h.refcountTableOffset = newOff;
        h.refcountTableClusters = (int) clusters;
        for (long k = 0; k < clusters; k++) addRef((newOff >>> cb) + k, 1);
        // The table is written once, after counting its own clusters (which may add refcount blocks to it);
        // then the header switches over in one write and the old table is released.
        ByteBuffer t = ByteBuffer.allocate((int) (clusters * cs));
        t.asLongBuffer().put(refTable);
        writeFully(ch, t, newOff, path);
        ByteBuffer hdr = ByteBuffer.allocate(12).putLong(0, newOff).putInt(8, (int) clusters);
        writeFully(ch, hdr, 48, path);
        for (long k = 0; k < oldClusters; k++) addRef((oldOff >>> cb) + k, -1);
    }

    /** Allocates a cluster at the end of the file with refcount 1 (written before anything refers to it). */
    private long allocate() throws BlockException {
        long off = nextFree;
        nextFree += cs;
        addRef(off >>> cb, 1);
        return off;
    }

    /** Drops the clusters an L2 entry held (after the entry no longer points at them). */
    private void release(long e) throws BlockException {
        if ((e & COMPRESSED) != 0) {
            long end = compressedEnd(e);
            for (long c = compressedOffset(e) >>> cb; c <= (end - 1) >>> cb; c++) addRef(c, -1);
        } else if ((e & OFFSET_MASK) != 0) {
            addRef((e & OFFSET_MASK) >>> cb, -1);
        }
    }

    // =========================== writes ===========================

    @Override
    public synchronized void write(long offset, ByteBuffer src) throws BlockException {
        checkWritable();
        checkRange(offset, src.remaining());
        while (src.hasRemaining()) {
            long vcl = offset >>> cb;
            int in = (int) (offset & (cs - 1));
            int n = (int) Math.min(cs - in, src.remaining());
            writeCluster(vcl, in, src.slice(src.position(), n));
            src.position(src.position() + n);
            offset += n;
        }
    }

    /** The L2 table for virtual cluster vcl, allocating it when absent. Returns its offset. */
    private long l2ForWrite(long vcl) throws BlockException {
        int l1i = (int) (vcl >>> l2Bits);
        if (l1i >= l1.length) throw new BlockException(Kind.OUT_OF_RANGE, "write beyond the L1 table");
        long l2off = l1[l1i] & OFFSET_MASK;
        if (l2off != 0 && (l1[l1i] & COPIED) != 0) return l2off;
        long fresh = allocate();
        long[] t = l2off == 0 ? new long[1 << l2Bits] : l2Table(l2off).clone();
        ByteBuffer b = ByteBuffer.allocate((int) cs);
        b.asLongBuffer().put(t);
        writeFully(ch, b, fresh, path);
        l2Cache.put(fresh, t);
        l1[l1i] = fresh | COPIED;
        writeLong(h.l1TableOffset + l1i * 8L, l1[l1i]);
        if (l2off != 0) addRef(l2off >>> cb, -1);
        return fresh;
    }

    private void writeCluster(long vcl, int in, ByteBuffer data) throws BlockException {
        long l2off = l2ForWrite(vcl);
        long[] t = l2Table(l2off);
        int l2i = (int) (vcl & ((1 << l2Bits) - 1));
        long e = t[l2i];
        boolean inPlace = (e & COMPRESSED) == 0 && (e & COPIED) != 0 && (e & OFFSET_MASK) != 0
                && !((e & ZERO) != 0 && h.version == 3);
        if (inPlace) {
            writeFully(ch, data, (e & OFFSET_MASK) + in, path);
            return;
        }
        // A new cluster: the old contents around the written part, then the new data, then the entry.
        ByteBuffer full = ByteBuffer.allocate((int) cs);
        int n = data.remaining();
        if (in > 0 || n < cs) {
            readCluster(vcl, 0, full);
            full.clear();
        }
        full.put(in, data, data.position(), n);
        long fresh = allocate();
        writeFully(ch, full, fresh, path);
        t[l2i] = fresh | COPIED;
        writeLong(l2off + l2i * 8L, t[l2i]);
        release(e);
        if (e == decompressedEntry) decompressed = null;
    }

    /** Sets whole-cluster L2 entries in [first, last] to {@code entry} (0 or ZERO), releasing old clusters. */
    private void setEntries(long first, long last, long entry) throws BlockException {
        for (long vcl = first; vcl <= last; vcl++) {
            long old = l2Entry(vcl);
            if (old == entry) continue;
            if (old == 0 && entry == ZERO && backing == null) continue; // already reads as zeros
            long l2off = l2ForWrite(vcl);
            long[] t = l2Table(l2off);
            int l2i = (int) (vcl & ((1 << l2Bits) - 1));
            old = t[l2i];
            t[l2i] = entry;
            writeLong(l2off + l2i * 8L, entry);
            release(old);
            if (old == decompressedEntry) decompressed = null;
        }
    }

    @Override
    public synchronized void writeZeroes(long offset, long length) throws BlockException {
        checkWritable();
        checkRange(offset, length);
        long end = offset + length;
        long firstFull = (offset + cs - 1) & -cs, lastFull = end & -cs;
        if (firstFull >= lastFull) {
            zeroBytes(offset, length);
            return;
        }
        zeroBytes(offset, firstFull - offset);
        if (h.version == 3) {
            setEntries(firstFull >>> cb, (lastFull >>> cb) - 1, ZERO);
        } else if (backing == null) {
            setEntries(firstFull >>> cb, (lastFull >>> cb) - 1, 0);
        } else {
            zeroBytes(firstFull, lastFull - firstFull);
        }
        zeroBytes(lastFull, end - lastFull);
    }

    private void zeroBytes(long offset, long length) throws BlockException {
        ByteBuffer z = ByteBuffer.allocate((int) Math.min(cs, Math.max(length, 0)));
        for (long done = 0; done < length; ) {
            int n = (int) Math.min(length - done, cs - ((offset + done) & (cs - 1)));
            z.clear().limit(n);
            write(offset + done, z);
            done += n;
        }
    }

    /** Drops every cluster of [offset, offset+length) (whole clusters) so it reads from the backing image again. */
    public synchronized void unallocate(long offset, long length) throws BlockException {
        checkWritable();
        checkRange(offset, length);
        long first = (offset + cs - 1) & -cs, last = (offset + length) & -cs;
        if (first < last) setEntries(first >>> cb, (last >>> cb) - 1, 0);
    }

    @Override
    public synchronized void discard(long offset, long length) throws BlockException {
        checkWritable();
        checkRange(offset, length);
        long firstFull = (offset + cs - 1) & -cs, lastFull = (offset + length) & -cs;
        if (firstFull >= lastFull) return; // partial clusters keep their data: discard is advisory
        // With a backing file an unallocated cluster would show the backing data: make it zero instead.
        long entry = backing != null && h.version == 3 ? ZERO : 0;
        if (backing != null && h.version == 2) {
            zeroBytes(firstFull, lastFull - firstFull);
            return;
        }
        setEntries(firstFull >>> cb, (lastFull >>> cb) - 1, entry);
    }

    // Compressed clusters are packed one after another, 512-byte aligned, into partly used clusters.
    private long compressedCursor;

    /** Stores a compressed cluster (convert -c); deflated must be raw deflate smaller than a cluster. */
    public synchronized void writeCompressed(long vcl, byte[] deflated) throws BlockException {
        checkWritable();
        int x = 62 - (cb - 8);
        int len = deflated.length;
        if (len >= cs) throw new IllegalArgumentException("compressed data not smaller than a cluster");
        long host = compressedCursor;
        if (host == 0 || (host & (cs - 1)) == 0 || (host & (cs - 1)) + len > cs) {
            host = nextFree; // a fresh cluster for it
            nextFree += cs;
        }
        // Every compressed cluster counts a reference to the host cluster holding it, before anything points there.
        addRef(host >>> cb, 1);
        writeFully(ch, ByteBuffer.wrap(deflated), host, path);
        long extraSectors = ((host + len - 1) >>> 9) - (host >>> 9);
        compressedCursor = (host + len + 511) & ~511L;
        long l2off = l2ForWrite(vcl);
        long[] t = l2Table(l2off);
        int l2i = (int) (vcl & ((1 << l2Bits) - 1));
        long old = t[l2i];
        t[l2i] = COMPRESSED | (extraSectors << x) | host;
        writeLong(l2off + l2i * 8L, t[l2i]);
        release(old);
    }

    @Override
    public synchronized void flush() throws BlockException {
        if (readOnly) return;
        try {
            ch.force(true);
        } catch (IOException e) {
            throw new BlockException(Kind.IO, path + ": flush failed: " + e.getMessage(), e);
        }
    }

    @Override
    public synchronized void resize(long newSize) throws BlockException {
        checkWritable();
        if (newSize < 0 || newSize > (1L << 56)) throw new BlockException(Kind.OUT_OF_RANGE, "size out of range: " + newSize);
        long need = Math.max(1, Qcow2Header.ceilDiv(newSize, cs * (cs / 8)));
        if (need > l1.length) {
            // A bigger L1 table at the end of the file; the header switches to it in one write.
            long clusters = Qcow2Header.ceilDiv(need * 8, cs);
            long off = nextFree; // contiguous: reserve the range before counting it
            nextFree += clusters * cs;
            for (long k = 0; k < clusters; k++) addRef((off >>> cb) + k, 1);
            long[] bigger = java.util.Arrays.copyOf(l1, (int) need);
            ByteBuffer b = ByteBuffer.allocate((int) (clusters * cs));
            b.asLongBuffer().put(bigger);
            writeFully(ch, b, off, path);
            long oldOff = h.l1TableOffset;
            long oldClusters = Qcow2Header.ceilDiv(l1.length * 8L, cs);
            ByteBuffer hdr = ByteBuffer.allocate(12).putInt(0, (int) need).putLong(4, off);
            writeFully(ch, hdr, 36, path);
            l1 = bigger;
            h.l1Size = (int) need;
            h.l1TableOffset = off;
            for (long k = 0; k < oldClusters; k++) addRef((oldOff >>> cb) + k, -1);
        }
        writeLong(24, newSize);
        h.size = newSize;
    }

    /** Rebuilds refcounts after an unclean shutdown with lazy refcounts, then clears the dirty bit. */
    private void repairDirty() throws BlockException {
        try {
            ch.force(true);
        } catch (IOException e) {
            throw new BlockException(Kind.IO, path + ": " + e.getMessage(), e);
        }
        Qcow2Check.Result r = Qcow2Check.check(this, true);
        if (r.corruptions() > 0) throw corrupt("dirty image has " + r.corruptions() + " refcount errors that could not be repaired");
        h.incompatibleFeatures &= ~Qcow2Header.INCOMPAT_DIRTY;
        writeLong(72, h.incompatibleFeatures);
        flush();
    }

    // =========================== queries ===========================

    @Override
    public String format() {
        return "qcow2";
    }

    @Override
    public long size() {
        return h.size;
    }

    @Override
    public boolean readOnly() {
        return readOnly;
    }

    @Override
    public DiskImage backing() {
        return backing;
    }

    public Qcow2Header header() {
        return h;
    }

    public Path path() {
        return path;
    }

    @Override
    public synchronized boolean isAllocated(long offset, long length) throws BlockException {
        for (long vcl = offset >>> cb; vcl <= (offset + length - 1) >>> cb; vcl++) {
            if (l2Entry(vcl) == 0) return false;
        }
        return true;
    }

    @Override
    public long allocatedBytes() throws BlockException {
        return HostFiles.allocatedBytes(path);
    }

    // Package access for the checker.
    FileChannel channel() { return ch; }
    long[] l1() { return l1; }
    long[] refTable() { return refTable; }
    int refBits() { return refBits; }
    int refsPerBlockBits() { return refsPerBlockBits; }
    long fileEnd() throws BlockException { return fileSize(); }
    void setRefcount(long cluster, long value) throws BlockException { addRef(cluster, value - refcount(cluster)); }

    @Override
    public synchronized void close() throws BlockException {
        try {
            ch.close();
        } catch (IOException e) {
            throw new BlockException(Kind.IO, path + ": close failed: " + e.getMessage(), e);
        } finally {
            if (backing != null) backing.close();
        }
    }
}
