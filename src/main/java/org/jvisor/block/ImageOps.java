package org.jvisor.block;

import com.jcraft.jzlib.Deflater;
import com.jcraft.jzlib.JZlib;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.LongConsumer;
import org.jvisor.block.qcow2.Qcow2Image;
import org.jvisor.block.raw.HostFiles;

/** Whole-image operations: info, convert, commit. */
public final class ImageOps {
    static final int CHUNK = 64 * 1024;

    private ImageOps() {}

    /** What {@code image info} reports, with qemu-img's JSON field names. */
    public static Map<String, Object> info(Path path, String format) throws BlockException {
        try (DiskImage img = Images.open(path, format, true)) {
            return describe(path, img);
        }
    }

    private static Map<String, Object> describe(Path path, DiskImage img) throws BlockException {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("virtual-size", img.size());
        m.put("filename", path.toString());
        if (img instanceof Qcow2Image q) m.put("cluster-size", q.header().clusterSize());
        m.put("format", img.format());
        m.put("actual-size", HostFiles.allocatedBytes(path));
        if (img instanceof Qcow2Image q) {
            if (q.header().backingFile != null) {
                m.put("backing-filename", q.header().backingFile);
                m.put("full-backing-filename", Qcow2Image.resolve(path, q.header().backingFile).toString());
                if (q.header().backingFormat != null) m.put("backing-filename-format", q.header().backingFormat);
            }
            m.put("dirty-flag", (q.header().incompatibleFeatures & 1) != 0);
            Map<String, Object> spec = new LinkedHashMap<>();
            spec.put("compat", q.header().version == 3 ? "1.1" : "0.10");
            spec.put("refcount-bits", 1 << q.header().refcountOrder);
            spec.put("corrupt", (q.header().incompatibleFeatures & 2) != 0);
            m.put("format-specific", Map.of("type", "qcow2", "data", spec));
        }
        return m;
    }

    /** info for every image of the chain, top first. */
    public static List<Map<String, Object>> chainInfo(Path path, String format) throws BlockException {
        List<Map<String, Object>> out = new ArrayList<>();
        try (DiskImage img = Images.open(path, format, true)) {
            DiskImage cur = img;
            Path p = path;
            while (cur != null) {
                out.add(describe(p, cur));
                DiskImage next = cur.backing();
                if (next != null && cur instanceof Qcow2Image q) p = Qcow2Image.resolve(p, q.header().backingFile);
                cur = next;
            }
        }
        return out;
    }

    /**
     * Copies src into a new image dst of the given format. Zero chunks are not written, so the
     * result is sparse; with {@code compress} (qcow2 only) each cluster is stored deflated when that
     * is smaller. {@code progress} gets the bytes done.
     */
    public static void convert(Path src, String srcFormat, Path dst, String dstFormat, boolean compress,
                               LongConsumer progress) throws BlockException {
        if (compress && !dstFormat.equals("qcow2")) {
            throw new BlockException(BlockException.Kind.UNSUPPORTED, "compression needs qcow2 output");
        }
        try (DiskImage in = Images.open(src, srcFormat, true)) {
            long size = in.size();
            Images.create(dst, dstFormat, size, null, null, 16);
            try (DiskImage out = Images.open(dst, dstFormat, false)) {
                int chunk = CHUNK;
                ByteBuffer buf = ByteBuffer.allocate(chunk);
                Deflater deflater = compress ? newDeflater() : null;
                byte[] packed = compress ? new byte[chunk] : null;
                for (long off = 0; off < size; off += chunk) {
                    int n = (int) Math.min(chunk, size - off);
                    buf.clear().limit(n);
                    in.read(off, buf);
                    buf.flip();
                    if (!isZero(buf)) {
                        int clen = compress && n == chunk ? deflate(deflater, buf.array(), n, packed) : -1;
                        if (clen > 0 && clen < chunk - 512) {
                            ((Qcow2Image) out).writeCompressed(off / chunk, java.util.Arrays.copyOf(packed, clen));
                        } else {
                            out.write(off, buf);
                        }
                    }
                    if (progress != null) progress.accept(off + n);
                }
                if (deflater != null) deflater.end();
                out.flush();
            }
        }
    }

    private static Deflater newDeflater() {
        try {
            // Raw deflate with a 4 KiB window, as qemu's qcow2 driver inflates it.
            return new Deflater(JZlib.Z_DEFAULT_COMPRESSION, 12, true);
        } catch (com.jcraft.jzlib.GZIPException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Deflates data[0..n) into out; returns the length, or -1 when it does not fit. */
    private static int deflate(Deflater d, byte[] data, int n, byte[] out) {
        d.end();
        d.init(JZlib.Z_DEFAULT_COMPRESSION, 12, true); // a fresh stream for each cluster
        d.setInput(data, 0, n, false);
        d.setOutput(out, 0, out.length);
        int rc = d.deflate(JZlib.Z_FINISH);
        return rc == JZlib.Z_STREAM_END ? (int) d.getTotalOut() : -1;
    }

    /** Whether every byte from b's position to its limit is zero. */
    public static boolean isZero(ByteBuffer b) {
        for (int i = b.position(); i + 8 <= b.limit(); i += 8) if (b.getLong(i) != 0) return false;
        for (int i = b.limit() & ~7; i < b.limit(); i++) if (b.get(i) != 0) return false;
        return true;
    }

    /** Writes the overlay's own clusters into its backing image, then empties the overlay. */
    public static void commit(Path overlay) throws BlockException {
        try (DiskImage top = Images.open(overlay, null, false)) {
            if (!(top instanceof Qcow2Image q) || q.header().backingFile == null) {
                throw new BlockException(BlockException.Kind.UNSUPPORTED, overlay + ": has no backing file to commit to");
            }
            Path base = Qcow2Image.resolve(overlay, q.header().backingFile);
            try (DiskImage below = Images.open(base, q.header().backingFormat, false)) {
                long size = top.size();
                if (size > below.size()) below.resize(size);
                long cs = q.header().clusterSize();
                ByteBuffer buf = ByteBuffer.allocate((int) cs);
                for (long off = 0; off < size; off += cs) {
                    int n = (int) Math.min(cs, size - off);
                    if (!top.isAllocated(off, n)) continue;
                    buf.clear().limit(n);
                    top.read(off, buf);
                    buf.flip();
                    below.write(off, buf);
                }
                below.flush();
            }
            q.unallocate(0, (top.size() + q.header().clusterSize() - 1) & -q.header().clusterSize());
            top.flush();
        }
    }
}
