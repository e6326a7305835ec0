package org.jvisor.boot;

import java.nio.ByteBuffer;
import org.jvisor.block.BlockException;
import org.jvisor.block.DiskImage;

/** A read-only disk over a byte array, so fuzzing mutates memory instead of files. */
final class MemoryDisk implements DiskImage {
    final byte[] bytes;

    MemoryDisk(byte[] bytes) {
        this.bytes = bytes;
    }

    public String format() {
        return "raw";
    }

    public long size() {
        return bytes.length;
    }

    public boolean readOnly() {
        return true;
    }

    public void read(long offset, ByteBuffer dst) throws BlockException {
        checkRange(offset, dst.remaining());
        dst.put(bytes, (int) offset, dst.remaining());
    }

    public void write(long offset, ByteBuffer src) throws BlockException {
        checkWritable();
    }

    public void flush() {}

    public void discard(long offset, long length) throws BlockException {
        checkWritable();
    }

    public void writeZeroes(long offset, long length) throws BlockException {
        checkWritable();
    }

    public void resize(long newSize) throws BlockException {
        checkWritable();
    }

    public long allocatedBytes() {
        return bytes.length;
    }

    public void close() {}
}
