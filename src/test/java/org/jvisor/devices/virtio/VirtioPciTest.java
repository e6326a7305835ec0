package org.jvisor.devices.virtio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.jvisor.devices.pci.PciConfig;
import org.junit.jupiter.api.Test;

/** The modern PCI transport driven through its registers with virtio-rng behind it. */
class VirtioPciTest {
    @Test
    void identityAndCapabilities() {
        try (FakeDriver d = new FakeDriver(new Entropy(), 8)) {
            PciConfig c = d.pci.config();
            assertEquals(0x1AF4, c.read(0, 2));
            assertEquals(0x1044, c.read(2, 2));
            assertEquals(1, c.read(PciConfig.REVISION, 1), "modern-only devices have revision 1");
            int types = 0;
            for (int at = c.read(0x34, 1); at != 0; at = c.read(at + 1, 1)) {
                if (c.read(at, 1) == 0x09) types |= 1 << c.read(at + 3, 1);
            }
            assertEquals(0b11110, types, "common, notify, ISR and device capabilities");
            // BAR sizing as firmware and the guest do it.
            c.write(PciConfig.BAR0, 4, -1);
            assertEquals(~(VirtioPci.BAR_SIZE - 1), c.read(PciConfig.BAR0, 4));
        }
    }

    @Test
    void featuresNeedVersion1() {
        try (FakeDriver d = new FakeDriver(new Entropy(), 8)) {
            long offered = d.deviceFeatures();
            assertTrue((offered & VirtioPci.F_VERSION_1) != 0);
            assertFalse(d.negotiate(0), "a legacy driver is refused");
            d.common(0x14, 1, 0);
            assertFalse(d.negotiate(VirtioPci.F_VERSION_1 | 1L << 40), "unknown bits are refused");
            d.common(0x14, 1, 0);
            assertTrue(d.negotiate(VirtioPci.F_VERSION_1 | VirtioPci.F_EVENT_IDX));
        }
    }

    @Test
    void entropyFillsBuffersAndSignalsMsix() throws Exception {
        try (FakeDriver d = new FakeDriver(new Entropy(), 8)) {
            d.start(0);
            d.offer(new long[][] {{FakeDriver.DATA, 256, 1}});
            int[] used = d.awaitUsed(1);
            assertEquals(0, used[0]);
            assertEquals(256, used[1]);
            long nonZero = 0;
            for (int i = 0; i < 256; i += 8) nonZero |= d.mem.read64(FakeDriver.DATA + i);
            assertNotEquals(0, nonZero);
            Thread.sleep(10);
            assertEquals(1, d.msis.size());
            assertEquals(0xFEE00000L, d.msis.get(0)[0]);
            assertEquals(0x41, d.msis.get(0)[1], "queue 0's vector");
        }
    }

    @Test
    void intxWhenMsixIsOffAndIsrReadClearsIt() throws Exception {
        try (FakeDriver d = new FakeDriver(new Entropy(), 8)) {
            assertTrue(d.negotiate(VirtioPci.F_VERSION_1));
            d.setUpQueue(0xFFFF);
            d.driverOk();
            d.offer(new long[][] {{FakeDriver.DATA, 16, 1}});
            d.awaitUsed(1);
            long end = System.nanoTime() + 1_000_000_000L;
            while (!d.intx && System.nanoTime() < end) Thread.sleep(1);
            assertTrue(d.intx);
            assertEquals(1, d.pci.barRead(0, VirtioPci.ISR, 1));
            assertFalse(d.intx, "reading ISR deasserts the line");
            assertEquals(0, d.pci.barRead(0, VirtioPci.ISR, 1));
        }
    }

    @Test
    void maskedVectorIsHeldPendingUntilUnmasked() throws Exception {
        try (FakeDriver d = new FakeDriver(new Entropy(), 8)) {
            d.start(0);
            d.pci.barWrite(0, VirtioPci.MSIX_TABLE + 16 + 12, 4, 1); // mask vector 1
            d.offer(new long[][] {{FakeDriver.DATA, 8, 1}});
            d.awaitUsed(1);
            Thread.sleep(10);
            assertEquals(0, d.msis.size());
            assertEquals(2, d.pci.barRead(0, VirtioPci.MSIX_PBA, 8), "pending bit of vector 1");
            d.pci.barWrite(0, VirtioPci.MSIX_TABLE + 16 + 12, 4, 0);
            assertEquals(1, d.msis.size());
            assertEquals(0, d.pci.barRead(0, VirtioPci.MSIX_PBA, 8));
        }
    }

    @Test
    void eventIndexSuppressesInterrupts() throws Exception {
        try (FakeDriver d = new FakeDriver(new Entropy(), 8)) {
            d.start(VirtioPci.F_EVENT_IDX);
            d.mem.write16(FakeDriver.AVAIL + 4 + 2 * 8, 5);          // used_event: tell me after the sixth
            d.offer(new long[][] {{FakeDriver.DATA, 8, 1}});
            d.awaitUsed(1);
            Thread.sleep(10);
            assertEquals(0, d.msis.size());
            assertEquals(1, d.mem.read16(FakeDriver.USED + 4 + 8 * 8), "avail_event follows the driver");
        }
    }

    @Test
    void brokenRingsSetNeedsResetAndResetRecovers() throws Exception {
        try (FakeDriver d = new FakeDriver(new Entropy(), 8)) {
            assertTrue(d.negotiate(VirtioPci.F_VERSION_1));
            d.enableMsix();
            d.common(0x16, 2, 0);
            d.common(0x18, 2, 8);
            d.common(0x20, 8, (8L << 20) - 64);                     // descriptor table past the end of RAM
            d.common(0x28, 8, FakeDriver.AVAIL);
            d.common(0x30, 8, FakeDriver.USED);
            d.common(0x1C, 2, 1);
            assertEquals(VirtioPci.NEEDS_RESET, d.status() & VirtioPci.NEEDS_RESET);
            assertEquals(0, d.common(0x1C, 2), "the queue stays disabled");
            assertTrue(d.pci.lastError().contains("outside guest memory"), d.pci.lastError());
            assertEquals(1, d.msis.size(), "a configuration-change interrupt");
            int gen = (int) d.common(0x15, 1);
            d.common(0x14, 1, 0);
            assertEquals(0, d.status());
            assertNotEquals(gen, (int) d.common(0x15, 1));
            d.start(0);
            d.offer(new long[][] {{FakeDriver.DATA, 8, 1}});
            assertEquals(8, d.awaitUsed(1)[1]);
        }
    }

    @Test
    void loopingChainIsAProtocolError() throws Exception {
        try (FakeDriver d = new FakeDriver(new Entropy(), 8)) {
            d.start(0);
            d.mem.write64(FakeDriver.DESC, FakeDriver.DATA);
            d.mem.write32(FakeDriver.DESC + 8, 8);
            d.mem.write16(FakeDriver.DESC + 12, Virtqueue.DESC_NEXT | Virtqueue.DESC_WRITE);
            d.mem.write16(FakeDriver.DESC + 14, 0);                   // next = itself
            d.mem.write16(FakeDriver.AVAIL + 4, 0);
            d.mem.write16(FakeDriver.AVAIL + 2, 1);
            d.pci.barWrite(0, VirtioPci.NOTIFY, 2, 0);
            long end = System.nanoTime() + 2_000_000_000L;
            while ((d.status() & VirtioPci.NEEDS_RESET) == 0 && System.nanoTime() < end) Thread.sleep(1);
            assertTrue(d.pci.lastError().contains("loops"), d.pci.lastError());
        }
    }
}
