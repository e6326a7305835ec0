package org.jvisor.block;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;

/** Positional file I/O shared by the image formats. */
public final class FileIo {
    private FileIo() {}

    /** Fills b from pos; bytes past the end of the file read as zeros (a short image is sparse at its end). */
    public static void readFully(FileChannel ch, ByteBuffer b, long pos, Path path) throws BlockException {
        try {
            while (b.hasRemaining()) {
                int n = ch.read(b, pos);
                if (n < 0) {
                    zero(b);
                    return;
                }
                pos += n;
            }
        } catch (IOException e) {
            throw new BlockException(BlockException.Kind.IO, path + ": read failed: " + e.getMessage(), e);
        }
    }

    public static void writeFully(FileChannel ch, ByteBuffer b, long pos, Path path) throws BlockException {
        try {
            while (b.hasRemaining()) pos += ch.write(b, pos);
        } catch (IOException e) {
            throw new BlockException(BlockException.Kind.IO, path + ": write failed: " + e.getMessage(), e);
        }
    }

    /** Zeros the rest of b. */
    public static void zero(ByteBuffer b) {
        while (b.remaining() >= 8) b.putLong(0);
        while (b.hasRemaining()) b.put((byte) 0);
    }

    /** Closes on an error path, where the original error is the one to report. */
    public static void closeQuietly(AutoCloseable c) {
        try {
            c.close();
        } catch (Exception ignored) {
            // the caller is already reporting a failure
        }
    }
}
