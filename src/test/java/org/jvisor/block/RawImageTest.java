package org.jvisor.block;

import java.nio.file.Path;
import org.jvisor.block.raw.RawImage;

class RawImageTest extends DiskImageContract {
    private Path file;

    @Override
    DiskImage create(Path dir, long size) throws Exception {
        file = dir.resolve("disk.raw");
        return RawImage.create(file, size);
    }

    @Override
    DiskImage reopen() throws Exception {
        return RawImage.open(file, false);
    }
}
