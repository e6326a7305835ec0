package org.jvisor.block;

import java.nio.ByteBuffer;

/** Base for formats jvisor reads but does not write: every mutation is refused. */
public abstract class ReadOnlyImage implements DiskImage {
    @Override
    public boolean readOnly() {
        return true;
    }

    private BlockException refuse() {
        return new BlockException(BlockException.Kind.READ_ONLY, format() + " images are read-only in jvisor (convert them to qcow2 or raw)");
    }

    @Override
    public void write(long offset, ByteBuffer src) throws BlockException {
        throw refuse();
    }

    @Override
    public void flush() {
    }

    @Override
    public void discard(long offset, long length) throws BlockException {
        throw refuse();
    }

    @Override
    public void writeZeroes(long offset, long length) throws BlockException {
        throw refuse();
    }

    @Override
    public void resize(long newSize) throws BlockException {
        throw refuse();
    }
}
