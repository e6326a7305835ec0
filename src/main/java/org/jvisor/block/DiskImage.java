package org.jvisor.block;

import java.nio.ByteBuffer;

/**
 * A virtual disk: a byte-addressed block device of {@link #size()} bytes backed by an image file.
 * Implementations are safe for concurrent requests from several threads. A write is durable
 * once a following {@link #flush()} returns; a crash before that may lose it but never corrupts
 * the image.
 */
public interface DiskImage extends AutoCloseable {
    /** The format name, as qemu-img spells it: raw, qcow2, vmdk, vpc. */
    String format();

    /** Virtual size in bytes. */
    long size();

    boolean readOnly();

    /** Reads dst.remaining() bytes at offset into dst. Unallocated areas read as zeros (or from the backing image). */
    void read(long offset, ByteBuffer dst) throws BlockException;

    /** Writes src.remaining() bytes at offset. */
    void write(long offset, ByteBuffer src) throws BlockException;

    /** Makes every completed write durable. */
    void flush() throws BlockException;

    /** The range may read back as anything afterwards (zeros here); space may be released. */
    void discard(long offset, long length) throws BlockException;

    /** The range reads back as zeros afterwards, using as little space as the format allows. */
    void writeZeroes(long offset, long length) throws BlockException;

    /** Changes the virtual size; growing adds zeros. */
    void resize(long newSize) throws BlockException;

    /** Bytes the image file occupies on the host. */
    long allocatedBytes() throws BlockException;

    /** The image this one reads unallocated areas from, or null. */
    default DiskImage backing() {
        return null;
    }

    /** Whether [offset, offset+length) is stored in this image itself (not the backing chain or zeros). */
    default boolean isAllocated(long offset, long length) throws BlockException {
        return true;
    }

    @Override
    void close() throws BlockException;

    default void checkRange(long offset, long length) throws BlockException {
        if (offset < 0 || length < 0 || offset > size() - length) {
            throw new BlockException(BlockException.Kind.OUT_OF_RANGE,
                    String.format("access at %d length %d outside the disk (size %d)", offset, length, size()));
        }
    }

    default void checkWritable() throws BlockException {
        if (readOnly()) throw new BlockException(BlockException.Kind.READ_ONLY, "image is read-only");
    }
}
