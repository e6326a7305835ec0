package org.jvisor.block.raw;

import java.io.IOException;
import java.nio.file.Path;
import org.jvisor.block.BlockException;

/** Facts about image files on the host. */
public final class HostFiles {
    private HostFiles() {}

    /** Disk space the file occupies (its allocated blocks), as qemu-img's "disk size". */
    public static long allocatedBytes(Path path) throws BlockException {
        try {
            return org.jvisor.sys.Posix.allocatedBytes(path);
        } catch (IOException e) {
            throw new BlockException(BlockException.Kind.IO, path + ": " + e.getMessage(), e);
        }
    }
}
