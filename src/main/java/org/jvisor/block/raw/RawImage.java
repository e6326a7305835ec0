package org.jvisor.block.raw;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.jvisor.block.BlockException;
import org.jvisor.block.BlockException.Kind;
import org.jvisor.block.DiskImage;
import org.jvisor.block.FileIo;

/** A raw image: the file is the disk. Positional I/O, so concurrent requests need no lock. */
public final class RawImage implements DiskImage {
    private static final int ZERO_CHUNK = 1 << 20;
    private final Path path;
    private final FileChannel ch;
    private final boolean readOnly;
    private volatile long size;

    private RawImage(Path path, FileChannel ch, boolean readOnly) throws IOException {
        this.path = path;
        this.ch = ch;
        this.readOnly = readOnly;
        this.size = ch.size();
    }

    public static RawImage open(Path path, boolean readOnly) throws BlockException {
        try {
            FileChannel ch = readOnly ? FileChannel.open(path, StandardOpenOption.READ)
                    : FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE);
            return new RawImage(path, ch, readOnly);
        } catch (NoSuchFileException e) {
            throw new BlockException(Kind.NOT_FOUND, path + ": no such file");
        } catch (IOException e) {
            throw new BlockException(Kind.NOT_FOUND, path + ": " + e.getMessage(), e);
        }
    }

    public static RawImage create(Path path, long size) throws BlockException {
        try {
            try (FileChannel ch = FileChannel.open(path, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                if (size > 0) {
                    ch.position(size - 1);
                    ch.write(ByteBuffer.wrap(new byte[1]));
                }
            }
            return open(path, false);
        } catch (java.nio.file.FileAlreadyExistsException e) {
            throw new BlockException(Kind.IO, path + ": file exists");
        } catch (IOException e) {
            throw new BlockException(Kind.IO, path + ": " + e.getMessage(), e);
        }
    }

    @Override
    public String format() {
        return "raw";
    }

    @Override
    public long size() {
        return size;
    }

    @Override
    public boolean readOnly() {
        return readOnly;
    }

    @Override
    public void read(long offset, ByteBuffer dst) throws BlockException {
        checkRange(offset, dst.remaining());
        FileIo.readFully(ch, dst, offset, path);
    }

    @Override
    public void write(long offset, ByteBuffer src) throws BlockException {
        checkWritable();
        checkRange(offset, src.remaining());
        FileIo.writeFully(ch, src, offset, path);
    }

    @Override
    public void flush() throws BlockException {
        if (readOnly) return;
        try {
            ch.force(false); // fdatasync
        } catch (IOException e) {
            throw new BlockException(Kind.IO, path + ": flush failed: " + e.getMessage(), e);
        }
    }

    @Override
    public void discard(long offset, long length) throws BlockException {
        writeZeroes(offset, length);
    }

    @Override
    public void writeZeroes(long offset, long length) throws BlockException {
        checkWritable();
        checkRange(offset, length);
        ByteBuffer zeros = ByteBuffer.allocate((int) Math.min(length, ZERO_CHUNK));
        for (long done = 0; done < length; ) {
            int n = (int) Math.min(length - done, ZERO_CHUNK);
            zeros.clear().limit(n);
            write(offset + done, zeros);
            done += n;
        }
    }

    @Override
    public void resize(long newSize) throws BlockException {
        checkWritable();
        if (newSize < 0) throw new BlockException(Kind.OUT_OF_RANGE, "negative size");
        try {
            if (newSize < ch.size()) ch.truncate(newSize);
            else if (newSize > ch.size()) ch.write(ByteBuffer.wrap(new byte[1]), newSize - 1);
            size = newSize;
        } catch (IOException e) {
            throw new BlockException(Kind.IO, path + ": resize failed: " + e.getMessage(), e);
        }
    }

    @Override
    public long allocatedBytes() throws BlockException {
        return HostFiles.allocatedBytes(path);
    }

    @Override
    public void close() throws BlockException {
        try {
            ch.close();
        } catch (IOException e) {
            throw new BlockException(Kind.IO, path + ": close failed: " + e.getMessage(), e);
        }
    }
}
