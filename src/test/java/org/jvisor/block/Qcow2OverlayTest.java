package org.jvisor.block;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.SplittableRandom;

/** The contract on an overlay whose backing image holds zeros (so the model still starts at zero). */
class Qcow2OverlayTest extends Qcow2ImageTest {
    @Override
    DiskImage create(Path dir, long size) throws Exception {
        Path base = dir.resolve("base.qcow2");
        Images.create(base, "qcow2", size, null, null, 16);
        try (DiskImage b = Images.open(base, "qcow2", false)) {
            // Allocated clusters of zeros in the base: the overlay must still read them through.
            b.write(0, ByteBuffer.allocate(1 << 20));
            byte[] noise = new byte[1];
            new SplittableRandom(5).nextBytes(noise);
        }
        file = dir.resolve("disk.qcow2");
        Images.create(file, "qcow2", size, "base.qcow2", "qcow2", 16);
        return Images.open(file, "qcow2", false);
    }
}
