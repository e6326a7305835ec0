package org.jvisor.memory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class GuestMemoryTest {
    @Test
    void readsAndWritesLittleEndian() {
        try (GuestMemory m = GuestMemory.allocate(8192)) {
            m.write64(16, 0x0102030405060708L);
            assertEquals(0x08, m.read8(16));
            assertEquals(0x0708, m.read16(16));
            assertEquals(0x05060708, m.read32(16));
            assertEquals(0x0102030405060708L, m.read64(16));
        }
    }

    @Test
    void accessesOutsideRamFailWithTheAddress() {
        try (GuestMemory m = GuestMemory.allocate(4096)) {
            GuestMemoryException e = assertThrows(GuestMemoryException.class, () -> m.read64(4090));
            assertEquals(4090, e.address());
            assertThrows(GuestMemoryException.class, () -> m.write8(-1, 0));
            assertThrows(GuestMemoryException.class, () -> m.write(4000, new byte[200]));
        }
    }

    @Test
    void sizeIsRoundedToPages() {
        try (GuestMemory m = GuestMemory.allocate(5000)) {
            assertEquals(8192, m.size());
        }
    }
}
