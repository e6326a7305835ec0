package org.jvisor.block.vmdk;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.jvisor.block.BlockException;
import org.jvisor.block.BlockException.Kind;
import org.jvisor.block.FileIo;
import org.jvisor.block.ReadOnlyImage;
import org.jvisor.block.raw.HostFiles;

/**
 * VMware VMDK, read-only: monolithicSparse (hosted sparse extents with grain directory and grain
 * tables) and descriptor files listing FLAT, SPARSE and ZERO extents (monolithicFlat and
 * friends). Stream-optimized (compressed) extents are refused with a clear error.
 */
public final class VmdkImage extends ReadOnlyImage {
    static final int SPARSE_MAGIC = 0x564D444B; // "KDMV" little-endian
    private static final long SECTOR = 512;

    private sealed interface Extent permits Flat, Sparse, Zero {
        long sectors();
    }

    private record Flat(FileChannel ch, long sectors, long offsetSectors) implements Extent {}

    private record Zero(long sectors) implements Extent {}

    private record Sparse(FileChannel ch, long sectors, long grainSectors, int gtes, long[] gd) implements Extent {}

    private final Path path;
    private final List<Extent> extents;
    private final List<FileChannel> channels;
    private final long size;

    private VmdkImage(Path path, List<Extent> extents, List<FileChannel> channels) {
        this.path = path;
        this.extents = extents;
        this.channels = channels;
        long s = 0;
        for (Extent e : extents) s += e.sectors() * SECTOR;
        this.size = s;
    }

    public static boolean probe(ByteBuffer head) {
        if (head.remaining() >= 4 && head.order(ByteOrder.LITTLE_ENDIAN).getInt(0) == SPARSE_MAGIC) return true;
        byte[] b = new byte[Math.min(head.remaining(), 64)];
        head.get(0, b);
        return new String(b, StandardCharsets.ISO_8859_1).startsWith("# Disk DescriptorFile");
    }

    public static VmdkImage open(Path path) throws BlockException {
        List<FileChannel> channels = new ArrayList<>();
        try {
            FileChannel ch = openChannel(path);
            channels.add(ch);
            ByteBuffer head = ByteBuffer.allocate(512).order(ByteOrder.LITTLE_ENDIAN);
            read(ch, head, 0, path);
            List<Extent> extents = new ArrayList<>();
            if (head.getInt(0) == SPARSE_MAGIC) {
                extents.add(sparse(ch, head, path));
            } else {
                long len = ch.size();
                if (len > 1 << 20) throw bad(path, "descriptor file too large");
                ByteBuffer text = ByteBuffer.allocate((int) len);
                read(ch, text, 0, path);
                parseDescriptor(new String(text.array(), StandardCharsets.UTF_8), path, extents, channels);
            }
            if (extents.isEmpty()) throw bad(path, "no extents");
            return new VmdkImage(path, extents, channels);
        } catch (BlockException e) {
            closeAll(channels);
            throw e;
        } catch (IOException e) {
            closeAll(channels);
            throw new BlockException(Kind.IO, path + ": " + e.getMessage(), e);
        }
    }

    private static final Pattern EXTENT = Pattern.compile("^(RW|RDONLY|NOACCESS)\\s+(\\d+)\\s+(FLAT|SPARSE|ZERO|VMFS|VMFSSPARSE)(?:\\s+\"([^\"]*)\"(?:\\s+(\\d+))?)?\\s*$");

    private static void parseDescriptor(String text, Path path, List<Extent> extents, List<FileChannel> channels)
            throws BlockException, IOException {
        if (!text.startsWith("# Disk DescriptorFile")) throw bad(path, "not a VMDK descriptor");
        for (String line : text.split("\n")) {
            Matcher m = EXTENT.matcher(line.trim());
            if (!m.matches()) {
                if (line.contains("createType") && line.contains("streamOptimized")) {
                    throw new BlockException(Kind.UNSUPPORTED, path + ": streamOptimized VMDK is not supported");
                }
                continue;
            }
            if (extents.size() >= 1024) throw bad(path, "too many extents");
            long sectors = Long.parseLong(m.group(2));
            String type = m.group(3);
            if (sectors < 0 || sectors > (1L << 47)) throw bad(path, "extent size out of range");
            if (type.equals("ZERO")) {
                extents.add(new Zero(sectors));
                continue;
            }
            if (m.group(4) == null) throw bad(path, "extent without a file name");
            Path file = path.toAbsolutePath().getParent().resolve(m.group(4));
            if (file.equals(path.toAbsolutePath())) throw bad(path, "extent refers to the descriptor itself");
            FileChannel ch = openChannel(file);
            channels.add(ch);
            if (type.equals("FLAT") || type.equals("VMFS")) {
                long off = m.group(5) == null ? 0 : Long.parseLong(m.group(5));
                extents.add(new Flat(ch, sectors, off));
            } else {
                ByteBuffer head = ByteBuffer.allocate(512).order(ByteOrder.LITTLE_ENDIAN);
                read(ch, head, 0, file);
                if (head.getInt(0) != SPARSE_MAGIC) throw bad(file, "sparse extent without a sparse header");
                Sparse s = sparse(ch, head, file);
                extents.add(new Sparse(ch, Math.min(sectors, s.sectors), s.grainSectors, s.gtes, s.gd));
            }
        }
    }

    private static Sparse sparse(FileChannel ch, ByteBuffer h, Path path) throws BlockException, IOException {
        int version = h.getInt(4);
        int flags = h.getInt(8);
        long capacity = h.getLong(12), grain = h.getLong(20);
        int gtes = h.getInt(44);
        long rgd = h.getLong(48), gd = h.getLong(56);
        if (version < 1 || version > 3) throw new BlockException(Kind.UNSUPPORTED, path + ": VMDK sparse version " + version);
        if ((flags & (1 << 16)) != 0) throw new BlockException(Kind.UNSUPPORTED, path + ": compressed (streamOptimized) VMDK is not supported");
        if (grain < 1 || grain > 1 << 16 || Long.bitCount(grain) != 1) throw bad(path, "grain size " + grain + " invalid");
        if (gtes < 1 || gtes > 1 << 16) throw bad(path, "grain table size " + gtes + " invalid");
        if (capacity < 0 || capacity > (1L << 47)) throw bad(path, "capacity out of range");
        long fileSize = ch.size();
        long gdEntries = (capacity + grain * gtes - 1) / (grain * gtes);
        long gdOff = (flags & 2) != 0 && rgd > 0 ? rgd : gd;
        if (gdOff <= 0 || gdOff > fileSize / SECTOR || gdEntries * 4 > fileSize - gdOff * SECTOR) {
            throw bad(path, "grain directory outside the file");
        }
        ByteBuffer b = ByteBuffer.allocate((int) (gdEntries * 4)).order(ByteOrder.LITTLE_ENDIAN);
        read(ch, b, gdOff * SECTOR, path);
        long[] dir = new long[(int) gdEntries];
        for (int i = 0; i < gdEntries; i++) {
            long gt = b.getInt(i * 4) & 0xFFFFFFFFL;
            if (gt != 0 && (gt > fileSize / SECTOR || gt * SECTOR + gtes * 4L > fileSize)) throw bad(path, "grain table outside the file");
            dir[i] = gt;
        }
        return new Sparse(ch, capacity, grain, gtes, dir);
    }

    @Override
    public void read(long offset, ByteBuffer dst) throws BlockException {
        checkRange(offset, dst.remaining());
        long extStart = 0;
        for (Extent e : extents) {
            long extLen = e.sectors() * SECTOR;
            while (dst.hasRemaining() && offset < extStart + extLen) {
                long in = offset - extStart;
                int n = (int) Math.min(dst.remaining(), extLen - in);
                ByteBuffer part = dst.slice(dst.position(), n);
                switch (e) {
                    case Flat f -> read(f.ch, part, f.offsetSectors * SECTOR + in, path);
                    case Zero z -> zero(part);
                    case Sparse s -> n = readSparse(s, in, dst.slice(dst.position(), n));
                }
                dst.position(dst.position() + n);
                offset += n;
            }
            extStart += extLen;
        }
    }

    /** Reads up to the end of one grain; returns the bytes read. */
    private int readSparse(Sparse s, long in, ByteBuffer part) throws BlockException {
        long grainBytes = s.grainSectors * SECTOR;
        long g = in / grainBytes;
        int within = (int) (in % grainBytes);
        int n = (int) Math.min(part.remaining(), grainBytes - within);
        ByteBuffer out = part.slice(0, n);
        long gt = s.gd[(int) (g / s.gtes)];
        if (gt == 0) {
            zero(out);
            return n;
        }
        ByteBuffer e = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN);
        read(s.ch, e, gt * SECTOR + (g % s.gtes) * 4, path);
        long grainSector = e.getInt(0) & 0xFFFFFFFFL;
        if (grainSector <= 1) zero(out); // 0 unallocated, 1 zeroed grain
        else read(s.ch, out, grainSector * SECTOR + within, path);
        return n;
    }

    private static void zero(ByteBuffer b) {
        FileIo.zero(b);
    }

    static void read(FileChannel ch, ByteBuffer b, long pos, Path path) throws BlockException {
        FileIo.readFully(ch, b, pos, path);
    }

    private static FileChannel openChannel(Path p) throws BlockException {
        try {
            return FileChannel.open(p, StandardOpenOption.READ);
        } catch (NoSuchFileException e) {
            throw new BlockException(Kind.NOT_FOUND, p + ": no such file");
        } catch (IOException e) {
            throw new BlockException(Kind.NOT_FOUND, p + ": " + e.getMessage(), e);
        }
    }

    private static BlockException bad(Path p, String msg) {
        return new BlockException(Kind.BAD_FORMAT, p + ": vmdk: " + msg);
    }

    private static void closeAll(List<FileChannel> chs) {
        for (FileChannel c : chs) FileIo.closeQuietly(c);
    }

    @Override
    public String format() {
        return "vmdk";
    }

    @Override
    public long size() {
        return size;
    }

    @Override
    public long allocatedBytes() throws BlockException {
        return HostFiles.allocatedBytes(path);
    }

    @Override
    public void close() {
        closeAll(channels);
    }

}
