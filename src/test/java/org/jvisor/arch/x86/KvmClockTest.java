package org.jvisor.arch.x86;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.math.BigInteger;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.jvisor.memory.GuestMemory;
import org.junit.jupiter.api.Test;

/** kvmclock's MSRs and the structures it writes, read back the way Linux's pvclock code reads them. */
class KvmClockTest {
    final AtomicLong tsc = new AtomicLong(5_000_000_000L);
    final List<long[]> changed = new ArrayList<>();

    /** pvclock_clocksource_read: system_time + ((tsc - tsc_timestamp) << shift) * mul >> 32. */
    static long systemTime(GuestMemory m, long at, long tscNow) {
        long delta = tscNow - m.read64(at + 8);
        int shift = (byte) m.read8(at + 28);
        delta = shift >= 0 ? delta << shift : delta >>> -shift;
        long mul = m.read32(at + 24) & 0xFFFFFFFFL;
        return m.read64(at + 16) + BigInteger.valueOf(delta).multiply(BigInteger.valueOf(mul)).shiftRight(32).longValue();
    }

    @Test
    void systemTimeFollowsTheTscOneToOne() {
        try (GuestMemory m = GuestMemory.allocate(1 << 20)) {
            KvmClock k = new KvmClock(m, tsc::get, (pa, len) -> changed.add(new long[] {pa, len}));
            assertTrue(KvmClock.claims(KvmClock.MSR_SYSTEM_TIME));
            assertTrue(k.write(KvmClock.MSR_SYSTEM_TIME, 0x3000 | 1));
            assertEquals(0x3001, k.read(KvmClock.MSR_SYSTEM_TIME));
            assertEquals(0, m.read32(0x3000) & 1, "version even: no update in progress");
            assertEquals(1, m.read8(0x3000 + 29) & 1, "TSC-stable flag");
            tsc.addAndGet(123_456_789);
            assertEquals(tsc.get(), systemTime(m, 0x3000, tsc.get()));
            // The frequency Linux derives: (10^6 << 32) / mul, shifted back = kHz.
            long khz = (1_000_000L << 32) / (m.read32(0x3000 + 24) & 0xFFFFFFFFL) >> 1;
            assertEquals(1_000_000, khz);
            assertEquals(0x3000, changed.get(0)[0], "the CPU is told that guest memory changed");
        }
    }

    @Test
    void wallClockIsTheHostTimeAtSystemTimeZero() {
        try (GuestMemory m = GuestMemory.allocate(1 << 20)) {
            KvmClock k = new KvmClock(m, tsc::get, (pa, len) -> { });
            assertTrue(k.write(KvmClock.MSR_WALL_CLOCK, 0x4000));
            long sec = m.read32(0x4004) & 0xFFFFFFFFL, nsec = m.read32(0x4008) & 0xFFFFFFFFL;
            long wallNow = sec * 1_000_000_000L + nsec + tsc.get();
            assertTrue(Math.abs(wallNow - System.currentTimeMillis() * 1_000_000L) < 2_000_000_000L);
            assertTrue(nsec < 1_000_000_000L);
        }
    }

    @Test
    void structuresOutsideRamAreRefused() {
        try (GuestMemory m = GuestMemory.allocate(1 << 20)) {
            KvmClock k = new KvmClock(m, tsc::get, (pa, len) -> { });
            assertFalse(k.write(KvmClock.MSR_SYSTEM_TIME, (1L << 20) - 16 | 1), "straddles the end of RAM");
            assertFalse(k.write(KvmClock.MSR_SYSTEM_TIME, 0x7FFF_FFFF_F000L | 1));
            assertFalse(k.write(KvmClock.MSR_WALL_CLOCK, 1L << 40));
            assertTrue(k.write(KvmClock.MSR_SYSTEM_TIME, 0x7FFF_FFFF_F000L), "disabled: the address is not used");
        }
    }
}
