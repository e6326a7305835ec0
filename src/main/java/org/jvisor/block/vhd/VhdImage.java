package org.jvisor.block.vhd;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.jvisor.block.BlockException;
import org.jvisor.block.BlockException.Kind;
import org.jvisor.block.FileIo;
import org.jvisor.block.ReadOnlyImage;
import org.jvisor.block.raw.HostFiles;

/**
 * Microsoft VHD (qemu's "vpc"), read-only: fixed and dynamic disks. The virtual size follows the
 * same rule as qemu: images from Virtual PC and QEMU use the CHS geometry, others the footer's
 * current size.
 */
public final class VhdImage extends ReadOnlyImage {
    static final long FIXED = 2, DYNAMIC = 3, DIFFERENCING = 4;
    private static final byte[] COOKIE = "conectix".getBytes(StandardCharsets.ISO_8859_1);

    private final Path path;
    private final FileChannel ch;
    private final long size;
    private final long[] bat; // null for fixed disks
    private final long blockSize;
    private final long bitmapBytes;

    private VhdImage(Path path, FileChannel ch, long size, long[] bat, long blockSize, long bitmapBytes) {
        this.path = path;
        this.ch = ch;
        this.size = size;
        this.bat = bat;
        this.blockSize = blockSize;
        this.bitmapBytes = bitmapBytes;
    }

    /** Whether the footer cookie is at the end of a file of this length (footer is its last 512 bytes). */
    public static boolean probe(ByteBuffer footer) {
        if (footer.limit() < 8) return false;
        byte[] c = new byte[8];
        footer.get(0, c);
        return java.util.Arrays.equals(c, COOKIE);
    }

    public static VhdImage open(Path path) throws BlockException {
        FileChannel ch;
        try {
            ch = FileChannel.open(path, StandardOpenOption.READ);
        } catch (NoSuchFileException e) {
            throw new BlockException(Kind.NOT_FOUND, path + ": no such file");
        } catch (IOException e) {
            throw new BlockException(Kind.NOT_FOUND, path + ": " + e.getMessage(), e);
        }
        try {
            long fileSize = ch.size();
            if (fileSize < 512) throw bad(path, "file too small");
            ByteBuffer f = ByteBuffer.allocate(512);
            read(ch, f, fileSize - 512, path);
            if (!probe(f)) {
                // A dynamic disk keeps a copy of the footer at the start too.
                f.clear();
                read(ch, f, 0, path);
                if (!probe(f)) throw bad(path, "no VHD footer");
            }
            long type = f.getInt(60) & 0xFFFFFFFFL;
            long current = f.getLong(48);
            int geometry = f.getInt(56);
            String creator = new String(f.array(), 28, 4, StandardCharsets.ISO_8859_1);
            long cyls = (geometry >>> 16) & 0xFFFF, heads = (geometry >>> 8) & 0xFF, spt = geometry & 0xFF;
            boolean maxGeometry = cyls == 65535 && heads == 16 && spt == 255;
            long size = (creator.equals("vpc ") || creator.equals("qemu")) && !maxGeometry ? cyls * heads * spt * 512 : current;
            if (size < 0 || size > (1L << 47)) throw bad(path, "disk size out of range");
            if (type == FIXED) {
                if (size > fileSize - 512) size = Math.max(0, fileSize - 512);
                return new VhdImage(path, ch, size, null, 0, 0);
            }
            if (type == DIFFERENCING) throw new BlockException(Kind.UNSUPPORTED, path + ": differencing VHD disks are not supported");
            if (type != DYNAMIC) throw bad(path, "disk type " + type + " unknown");
            long dynOff = f.getLong(16);
            if (dynOff < 0 || dynOff > fileSize - 1024) throw bad(path, "dynamic header outside the file");
            ByteBuffer d = ByteBuffer.allocate(1024);
            read(ch, d, dynOff, path);
            if (!new String(d.array(), 0, 8, StandardCharsets.ISO_8859_1).equals("cxsparse")) throw bad(path, "bad dynamic header");
            long batOff = d.getLong(16);
            long entries = d.getInt(28) & 0xFFFFFFFFL;
            long blockSize = d.getInt(32) & 0xFFFFFFFFL;
            if (blockSize < 512 || blockSize > 1L << 28 || Long.bitCount(blockSize) != 1) throw bad(path, "block size " + blockSize + " invalid");
            if (entries * blockSize < size) throw bad(path, "block table too small for the disk size");
            if (batOff < 0 || entries * 4 > fileSize || batOff > fileSize - entries * 4) throw bad(path, "block table outside the file");
            ByteBuffer b = ByteBuffer.allocate((int) (entries * 4));
            read(ch, b, batOff, path);
            long[] bat = new long[(int) entries];
            for (int i = 0; i < entries; i++) bat[i] = b.getInt(i * 4) & 0xFFFFFFFFL;
            long bitmap = ((blockSize / 512 / 8) + 511) & ~511L;
            return new VhdImage(path, ch, size, bat, blockSize, bitmap);
        } catch (BlockException e) {
            close(ch);
            throw e;
        } catch (IOException e) {
            close(ch);
            throw new BlockException(Kind.IO, path + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void read(long offset, ByteBuffer dst) throws BlockException {
        checkRange(offset, dst.remaining());
        if (bat == null) {
            read(ch, dst, offset, path);
            return;
        }
        while (dst.hasRemaining()) {
            long blk = offset / blockSize;
            long in = offset % blockSize;
            int n = (int) Math.min(dst.remaining(), blockSize - in);
            ByteBuffer part = dst.slice(dst.position(), n);
            long sector = bat[(int) blk];
            if (sector == 0xFFFFFFFFL) {
                FileIo.zero(part);
            } else {
                read(ch, part, sector * 512 + bitmapBytes + in, path);
            }
            dst.position(dst.position() + n);
            offset += n;
        }
    }

    private static void read(FileChannel ch, ByteBuffer b, long pos, Path path) throws BlockException {
        FileIo.readFully(ch, b, pos, path);
    }

    private static BlockException bad(Path p, String msg) {
        return new BlockException(Kind.BAD_FORMAT, p + ": vhd: " + msg);
    }

    private static void close(FileChannel c) {
        FileIo.closeQuietly(c);
    }

    @Override
    public String format() {
        return "vpc";
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
        close(ch);
    }
}
