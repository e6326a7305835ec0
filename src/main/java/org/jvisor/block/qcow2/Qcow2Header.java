package org.jvisor.block.qcow2;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.jvisor.block.BlockException;
import org.jvisor.block.BlockException.Kind;

/**
 * The qcow2 header (versions 2 and 3) and its extensions, validated against the file's real size
 * so that nothing read later can point outside it or demand an allocation it cannot justify.
 */
public final class Qcow2Header {
    public static final int MAGIC = 0x514649FB;
    static final int V2_LENGTH = 72, V3_LENGTH = 104;
    static final long EXT_END = 0, EXT_BACKING_FORMAT = 0xE2792ACAL, EXT_FEATURE_NAMES = 0x6803F857L;
    public static final long INCOMPAT_DIRTY = 1, INCOMPAT_CORRUPT = 2, INCOMPAT_EXTERNAL_DATA = 4,
            INCOMPAT_COMPRESSION = 8, INCOMPAT_EXTENDED_L2 = 16;
    public static final long COMPAT_LAZY_REFCOUNTS = 1;
    static final String[] INCOMPAT_NAMES = {"dirty", "corrupt", "external data file", "compression type", "extended L2 entries"};

    public int version;
    public long backingFileOffset;
    public int backingFileSize;
    public int clusterBits;
    public long size;
    public int cryptMethod;
    public int l1Size;
    public long l1TableOffset;
    public long refcountTableOffset;
    public int refcountTableClusters;
    public int nbSnapshots;
    public long snapshotsOffset;
    public long incompatibleFeatures, compatibleFeatures, autoclearFeatures;
    public int refcountOrder = 4;
    public int headerLength;
    public int compressionType;
    public String backingFile;
    public String backingFormat;

    public long clusterSize() {
        return 1L << clusterBits;
    }

    /** Parses and validates a header read from the start of a file of {@code fileSize} bytes. */
    static Qcow2Header parse(ByteBuffer b, long fileSize) throws BlockException {
        if (b.remaining() < V2_LENGTH || b.getInt(0) != MAGIC) throw bad("not a qcow2 image (bad magic)");
        Qcow2Header h = new Qcow2Header();
        h.version = b.getInt(4);
        if (h.version != 2 && h.version != 3) {
            throw new BlockException(Kind.UNSUPPORTED, "qcow2 version " + h.version + " is not supported (2 and 3 are)");
        }
        h.backingFileOffset = b.getLong(8);
        h.backingFileSize = b.getInt(16);
        h.clusterBits = b.getInt(20);
        h.size = b.getLong(24);
        h.cryptMethod = b.getInt(32);
        h.l1Size = b.getInt(36);
        h.l1TableOffset = b.getLong(40);
        h.refcountTableOffset = b.getLong(48);
        h.refcountTableClusters = b.getInt(56);
        h.nbSnapshots = b.getInt(60);
        h.snapshotsOffset = b.getLong(64);
        if (h.clusterBits < 9 || h.clusterBits > 21) throw bad("cluster_bits " + h.clusterBits + " out of range 9..21");
        long cs = h.clusterSize();
        if (h.version == 3) {
            if (b.remaining() < V3_LENGTH) throw bad("truncated version 3 header");
            h.incompatibleFeatures = b.getLong(72);
            h.compatibleFeatures = b.getLong(80);
            h.autoclearFeatures = b.getLong(88);
            h.refcountOrder = b.getInt(96);
            h.headerLength = b.getInt(100);
            if (h.headerLength < V3_LENGTH || h.headerLength > cs || (h.headerLength & 7) != 0 && h.headerLength > 112) {
                throw bad("header_length " + h.headerLength + " invalid");
            }
            if (h.headerLength > V3_LENGTH && b.remaining() > V3_LENGTH) h.compressionType = b.get(104) & 0xFF;
        } else {
            h.headerLength = V2_LENGTH;
        }
        if (h.cryptMethod != 0) throw new BlockException(Kind.UNSUPPORTED, "encrypted qcow2 images are not supported");
        long unknown = h.incompatibleFeatures & ~(INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_COMPRESSION);
        if ((h.incompatibleFeatures & INCOMPAT_COMPRESSION) != 0 && h.compressionType != 0) unknown |= INCOMPAT_COMPRESSION;
        if (unknown != 0) {
            throw new BlockException(Kind.UNSUPPORTED, "unsupported qcow2 incompatible features: " + featureNames(unknown)
                    + String.format(" (bits 0x%x)", unknown));
        }
        if (h.refcountOrder < 3 || h.refcountOrder > 6) {
            throw new BlockException(Kind.UNSUPPORTED, "refcount width of " + (1 << Math.min(h.refcountOrder, 30))
                    + " bits is not supported (8, 16, 32 and 64 are)");
        }
        if (h.size < 0 || h.size > (1L << 56)) throw bad("virtual size " + h.size + " out of range");
        long l2Entries = cs / 8;
        long needL1 = ceilDiv(h.size, cs * l2Entries);
        if (h.l1Size < 0 || h.l1Size < needL1) throw bad("L1 table too small for the virtual size");
        checkTable("L1 table", h.l1TableOffset, (long) h.l1Size * 8, cs, fileSize);
        if (h.refcountTableClusters <= 0) throw bad("refcount table is empty");
        checkTable("refcount table", h.refcountTableOffset, (long) h.refcountTableClusters * cs, cs, fileSize);
        if (h.nbSnapshots < 0) throw bad("negative snapshot count");
        if (h.nbSnapshots > 0) checkTable("snapshot table", h.snapshotsOffset, (long) h.nbSnapshots * 40, 8, fileSize);
        if (h.backingFileOffset != 0) {
            if (h.backingFileSize <= 0 || h.backingFileSize > 1023 || h.backingFileOffset < 0
                    || h.backingFileOffset + h.backingFileSize > Math.min(cs, b.limit())) {
                throw bad("backing file name out of the header cluster");
            }
            byte[] name = new byte[h.backingFileSize];
            b.get((int) h.backingFileOffset, name);
            h.backingFile = new String(name, StandardCharsets.UTF_8);
        }
        h.parseExtensions(b, (int) Math.min(cs, b.limit()));
        return h;
    }

    private void parseExtensions(ByteBuffer b, int limit) throws BlockException {
        int at = headerLength;
        for (int n = 0; n < 1024 && at + 8 <= limit; n++) {
            long type = b.getInt(at) & 0xFFFFFFFFL;
            int len = b.getInt(at + 4);
            if (type == EXT_END) return;
            if (len < 0 || at + 8L + len > limit) throw bad("header extension overruns the header cluster");
            if (type == EXT_BACKING_FORMAT) {
                byte[] v = new byte[len];
                b.get(at + 8, v);
                backingFormat = new String(v, StandardCharsets.UTF_8);
            }
            at += 8 + ((len + 7) & ~7);
        }
    }

    static String featureNames(long bits) {
        List<String> names = new ArrayList<>();
        for (int k = 0; k < 64; k++) {
            if ((bits & (1L << k)) != 0) names.add(k < INCOMPAT_NAMES.length ? INCOMPAT_NAMES[k] : "bit " + k);
        }
        return String.join(", ", names);
    }

    private static void checkTable(String what, long off, long len, long align, long fileSize) throws BlockException {
        if (off <= 0 || (off & (align - 1)) != 0) throw bad(what + " offset " + off + " invalid");
        if (len > fileSize || off > fileSize - len) throw bad(what + " extends beyond the end of the file");
    }

    static long ceilDiv(long a, long b) {
        return (a + b - 1) / b;
    }

    private static BlockException bad(String msg) {
        return new BlockException(Kind.BAD_FORMAT, "qcow2: " + msg);
    }

    /** Serializes a version 3 header with a backing-format extension when there is a backing file. */
    ByteBuffer encode(int clusterLimit) {
        ByteBuffer b = ByteBuffer.allocate(clusterLimit);
        b.putInt(0, MAGIC).putInt(4, version).putInt(20, clusterBits).putLong(24, size).putInt(32, 0)
                .putInt(36, l1Size).putLong(40, l1TableOffset).putLong(48, refcountTableOffset)
                .putInt(56, refcountTableClusters).putInt(60, 0).putLong(64, 0);
        int at;
        if (version == 3) {
            b.putLong(72, incompatibleFeatures).putLong(80, compatibleFeatures).putLong(88, autoclearFeatures)
                    .putInt(96, refcountOrder).putInt(100, 112);
            at = 112;
        } else {
            at = V2_LENGTH;
        }
        if (backingFormat != null) {
            byte[] f = backingFormat.getBytes(StandardCharsets.UTF_8);
            b.putInt(at, (int) EXT_BACKING_FORMAT).putInt(at + 4, f.length).put(at + 8, f);
            at += 8 + ((f.length + 7) & ~7);
        }
        b.putInt(at, 0).putInt(at + 4, 0);
        at += 8;
        if (backingFile != null) {
            byte[] name = backingFile.getBytes(StandardCharsets.UTF_8);
            b.put(at, name);
            b.putLong(8, at).putInt(16, name.length);
        }
        return b;
    }
}
