package org.jvisor.block;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import org.jvisor.block.qcow2.Qcow2Check;
import org.jvisor.block.qcow2.Qcow2Image;
import org.junit.jupiter.api.AfterEach;

/** The contract for qcow2 with 64 KiB clusters; every image must also pass our own check. */
class Qcow2ImageTest extends DiskImageContract {
    Path file;

    int clusterBits() {
        return 16;
    }

    @Override
    DiskImage create(Path dir, long size) throws Exception {
        file = dir.resolve("disk.qcow2");
        Images.create(file, "qcow2", size, null, null, clusterBits());
        return Images.open(file, "qcow2", false);
    }

    @Override
    DiskImage reopen() throws Exception {
        return Images.open(file, "qcow2", false);
    }

    @AfterEach
    void consistent() throws Exception {
        if (file == null || !java.nio.file.Files.exists(file)) return;
        try (DiskImage img = Images.open(file, "qcow2", true)) {
            Qcow2Check.Result r = Qcow2Check.check((Qcow2Image) img, false);
            assertEquals(0, r.exitCode(), String.join("\n", r.messages()));
        }
    }
}
