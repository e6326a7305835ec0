package org.jvisor.cpu.emu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HexFormat;
import org.jvisor.cpu.VcpuExit;
import org.jvisor.memory.DirtyPages;
import org.jvisor.memory.GuestMemory;
import org.junit.jupiter.api.Test;

/**
 * A live migration's dirty tracking as the vCPU sees it: a store through a write translation the
 * TLB already holds is not reported by itself, so tracking starts, and each collection ends, by
 * forgetting the write translations; the next store then walks, and reports its page.
 */
class DirtyTrackingTest {
    static final String STORE = "48890425" + "00500000" + "f4"; // mov [0x5000], rax; hlt
    static final long CODE = 0x1000, PAGE = 5;

    static boolean dirty(long[] set, long page) {
        return (set[(int) (page >>> 6)] & (1L << page)) != 0;
    }

    private static void runStore(Cpu cpu) {
        cpu.rip = CODE;
        assertInstanceOf(VcpuExit.Halted.class, cpu.run(1000));
    }

    @Test
    void everyStoreAfterACollectionIsInTheNext() {
        try (GuestMemory mem = GuestMemory.allocate(16 << 20)) {
            Cpu cpu = CpuStateTest.machine(mem);
            mem.write(CODE, HexFormat.of().parseHex(STORE));
            runStore(cpu); // the TLB now maps 0x5000 for writing
            DirtyPages d = mem.trackWrites();
            runStore(cpu);
            assertFalse(dirty(d.collect(), PAGE), "through the old translation the store is not seen: why tracking must forget them");
            cpu.forgetWritablePages();
            runStore(cpu);
            long[] set = d.collect();
            assertTrue(dirty(set, PAGE), "the store after forgetting is reported");
            assertFalse(dirty(set, 0x300), "a page nobody wrote is clean");
            cpu.forgetWritablePages();
            runStore(cpu);
            assertTrue(dirty(d.collect(), PAGE), "and again after the next collection");
            mem.stopTrackingWrites();
            assertFalse(mem.tracksWrites());
        }
    }

    @Test
    void deviceWritesAndDiscardsAreReported() {
        try (GuestMemory mem = GuestMemory.allocate(1 << 20)) {
            DirtyPages d = mem.trackWrites();
            mem.write32(0x3ffe, 1); // crosses into page 4
            mem.markWritten(0x9000, 0x2001); // DMA into pages 9, 10 and 11
            mem.discard(0x20000, 0x1000);
            long[] set = d.collect();
            for (long p : new long[] {3, 4, 9, 10, 11, 0x20}) assertTrue(dirty(set, p), "page " + p);
            assertEquals(6, DirtyPages.count(set));
            assertEquals(0, DirtyPages.count(d.collect()), "a collection clears the set");
            mem.markWritten(-5, 10); // outside RAM: ignored
            mem.markWritten((1 << 20) - 1, 100);
            assertEquals(1, DirtyPages.count(d.collect()));
        }
    }
}
