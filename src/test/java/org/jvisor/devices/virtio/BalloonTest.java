package org.jvisor.devices.virtio;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.junit.jupiter.api.Test;

/** virtio-balloon through its transport: inflated pages go back to the host and read as zero. */
class BalloonTest {
    @Test
    void inflatedPagesAreGivenBackAndOthersKept() throws Exception {
        FakeDriver[] holder = new FakeDriver[1];
        Balloon balloon = new Balloon((a, l) -> holder[0].mem.discard(a, l));
        try (FakeDriver d = new FakeDriver(balloon, 8)) {
            holder[0] = d;
            for (long a = 0x200000; a < 0x204000; a += 8) d.mem.write64(a, 0x5A5A5A5A5A5A5A5AL);
            d.start(0);
            // Page frames 0x200, 0x201, 0x203 and one far outside RAM (ignored).
            ByteBuffer pfns = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putInt(0x200).putInt(0x201).putInt(0x203).putInt(-1);
            d.mem.write(FakeDriver.DATA, pfns.array());
            d.offer(new long[][] {{FakeDriver.DATA, 16, 0}});
            d.awaitUsed(1);
            assertEquals(4, balloon.inflatedPages());
            for (long page : new long[] {0x200, 0x201, 0x203}) {
                for (long a = page << 12; a < (page + 1) << 12; a += 512) assertEquals(0, d.mem.read64(a), "page " + Long.toHexString(page));
            }
            for (long a = 0x202000; a < 0x203000; a += 8) assertEquals(0x5A5A5A5A5A5A5A5AL, d.mem.read64(a), "a page not in the balloon");
        }
    }
}
