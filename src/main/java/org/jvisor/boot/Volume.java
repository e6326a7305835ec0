package org.jvisor.boot;

import java.nio.ByteBuffer;
import org.jvisor.block.BlockException;
import org.jvisor.block.DiskImage;

/** A byte range of a disk (a partition, or the whole disk); every read is checked against it. */
public record Volume(DiskImage disk, long start, long length) {
    public static Volume whole(DiskImage disk) {
        return new Volume(disk, 0, disk.size());
    }

    public byte[] read(long offset, int len) throws BootException {
        byte[] b = new byte[len];
        read(offset, b, 0, len);
        return b;
    }

    public void read(long offset, byte[] dst, int at, int len) throws BootException {
        if (offset < 0 || len < 0 || offset > length - len) {
            throw new BootException(String.format("read of %d bytes at %d outside the volume (%d bytes)", len, offset, length));
        }
        try {
            disk.read(start + offset, ByteBuffer.wrap(dst, at, len));
        } catch (BlockException e) {
            throw new BootException("disk read failed: " + e.getMessage(), e);
        }
    }
}
