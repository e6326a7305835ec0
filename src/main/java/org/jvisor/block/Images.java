package org.jvisor.block;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashSet;
import java.util.Set;
import org.jvisor.block.BlockException.Kind;
import org.jvisor.block.qcow2.Qcow2Header;
import org.jvisor.block.qcow2.Qcow2Image;
import org.jvisor.block.raw.RawImage;
import org.jvisor.block.vhd.VhdImage;
import org.jvisor.block.vmdk.VmdkImage;

/** Opens and creates disk images by format, probing the format and following backing chains. */
public final class Images {
    /** Backing chains deeper than this are refused (a loop or a hostile chain). */
    public static final int MAX_CHAIN = 64;

    private Images() {}

    /** The format of the file at path, by its contents: qcow2, vmdk, vpc, or raw. */
    public static String probe(Path path) throws BlockException {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            ByteBuffer head = ByteBuffer.allocate(512);
            while (head.hasRemaining() && ch.read(head, head.position()) > 0) { }
            head.flip();
            if (head.remaining() >= 4 && head.getInt(0) == Qcow2Header.MAGIC) return "qcow2";
            if (VmdkImage.probe(head.duplicate())) return "vmdk";
            long size = ch.size();
            if (size >= 512) {
                ByteBuffer foot = ByteBuffer.allocate(512);
                ch.read(foot, size - 512);
                foot.flip();
                if (VhdImage.probe(foot) || VhdImage.probe(head.duplicate())) return "vpc";
            }
            return "raw";
        } catch (NoSuchFileException e) {
            throw new BlockException(Kind.NOT_FOUND, path + ": no such file");
        } catch (IOException e) {
            throw new BlockException(Kind.NOT_FOUND, path + ": " + e.getMessage(), e);
        }
    }

    public static DiskImage open(Path path, String format, boolean readOnly) throws BlockException {
        return open(path, format, readOnly, new HashSet<>(), 0);
    }

    private static DiskImage open(Path path, String format, boolean readOnly, Set<Path> chain, int depth)
            throws BlockException {
        if (depth > MAX_CHAIN) throw new BlockException(Kind.CORRUPT, path + ": backing chain deeper than " + MAX_CHAIN);
        Path real;
        try {
            real = path.toRealPath();
        } catch (NoSuchFileException e) {
            throw new BlockException(Kind.NOT_FOUND, path + ": no such file");
        } catch (IOException e) {
            throw new BlockException(Kind.NOT_FOUND, path + ": " + e.getMessage(), e);
        }
        if (!chain.add(real)) throw new BlockException(Kind.CORRUPT, path + ": backing chain loops back to this image");
        String fmt = format != null ? format : probe(path);
        return switch (fmt) {
            case "raw" -> RawImage.open(path, readOnly);
            case "qcow2" -> Qcow2Image.open(path, readOnly, (p, f) -> open(p, f, true, chain, depth + 1));
            case "vmdk" -> readOnlyOnly(VmdkImage.open(path), readOnly);
            case "vpc", "vhd" -> readOnlyOnly(VhdImage.open(path), readOnly);
            default -> throw new BlockException(Kind.UNSUPPORTED, "unknown image format '" + fmt + "' (raw, qcow2, vmdk, vpc)");
        };
    }

    private static DiskImage readOnlyOnly(DiskImage img, boolean readOnly) throws BlockException {
        if (!readOnly) {
            String f = img.format();
            img.close();
            throw new BlockException(Kind.UNSUPPORTED, f + " images can only be opened read-only; convert to qcow2 or raw");
        }
        return img;
    }

    /**
     * Creates an image. For qcow2 with a backing file, size may be -1 (the backing image's size);
     * the backing name is stored as given and resolved relative to the new image.
     */
    public static void create(Path path, String format, long size, String backing, String backingFormat, int clusterBits)
            throws BlockException {
        if (Files.exists(path)) throw new BlockException(Kind.IO, path + ": file exists");
        switch (format) {
            case "raw" -> {
                if (backing != null) throw new BlockException(Kind.UNSUPPORTED, "raw images cannot have a backing file");
                if (size < 0) throw new BlockException(Kind.OUT_OF_RANGE, "a size is needed");
                RawImage.create(path, size).close();
            }
            case "qcow2" -> {
                if (backing != null) {
                    Path resolved = Qcow2Image.resolve(path, backing);
                    String bf = backingFormat != null ? backingFormat : probe(resolved);
                    try (DiskImage b = open(resolved, bf, true)) {
                        if (size < 0) size = b.size();
                    }
                    backingFormat = bf;
                }
                if (size < 0) throw new BlockException(Kind.OUT_OF_RANGE, "a size is needed");
                Qcow2Image.create(path, size, clusterBits, backing, backingFormat);
            }
            default -> throw new BlockException(Kind.UNSUPPORTED, "cannot create '" + format + "' images (raw, qcow2)");
        }
    }
}
