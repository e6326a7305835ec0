package org.jvisor.devices.virtio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The disk throttle's arithmetic on a clock of the test's own: no real time passes. */
class ThrottleTest {
    static final class FakeClock {
        long now;
        long slept;
    }

    @Test
    void requestsPerSecondAreHeldToTheLimitAfterABurstOfATenthOfASecond() {
        FakeClock c = new FakeClock();
        Throttle t = new Throttle(100, 0, () -> c.now, n -> { c.now += n; c.slept += n; });
        for (int i = 0; i < 10; i++) t.acquire(4096);
        assertEquals(0, c.slept, "the first tenth of a second's worth goes at once");
        for (int i = 0; i < 100; i++) t.acquire(4096);
        double seconds = c.now / 1e9;
        assertTrue(Math.abs(seconds - 1.0) < 0.02, "100 more requests at 100/s took " + seconds + " s");
    }

    @Test
    void bytesPerSecondCountEachRequestsSize() {
        FakeClock c = new FakeClock();
        Throttle t = new Throttle(0, 1 << 20, () -> c.now, n -> { c.now += n; c.slept += n; });
        for (int i = 0; i < 16; i++) t.acquire(256 << 10); // 4 MiB at 1 MiB/s
        double seconds = c.now / 1e9;
        // a request goes once the bucket is out of debt, so the last one is paid for after it: 4 MiB - 0.1 MiB of burst - 256 KiB
        assertTrue(seconds > 3.55 && seconds < 3.75, "4 MiB at 1 MiB/s took " + seconds + " s");
    }

    @Test
    void noLimitNeverWaitsAndIdleTimeDoesNotBank() {
        FakeClock c = new FakeClock();
        Throttle none = new Throttle(0, 0, () -> c.now, n -> c.slept += n);
        for (int i = 0; i < 1000; i++) none.acquire(1 << 20);
        assertEquals(0, c.slept);
        Throttle t = new Throttle(10, 0, () -> c.now, n -> { c.now += n; c.slept += n; });
        c.now += 60_000_000_000L; // a minute idle earns no more than the bucket holds
        for (int i = 0; i < 11; i++) t.acquire(512);
        assertTrue(c.slept > 0, "the 11th request in a row waits");
    }

    @Test
    void delayNanosTellsHowLongToWaitWithoutTakingTokens() {
        FakeClock c = new FakeClock();
        Throttle t = new Throttle(0, 1_000_000, () -> c.now, n -> { throw new AssertionError("the non-blocking path never sleeps"); });
        assertEquals(0, t.delayNanos(), "the burst goes at once");
        t.take(300_000); // 0.1 s of burst, then 0.2 s of debt
        long wait = t.delayNanos();
        assertTrue(Math.abs(wait - 200_000_000L) < 1_000_000, "debt of 200 kB at 1 MB/s waits " + wait + " ns");
        assertEquals(wait, t.delayNanos(), "asking takes nothing");
        c.now += wait;
        assertEquals(0, t.delayNanos());
        Throttle none = new Throttle(0, 0, () -> c.now, n -> { });
        none.take(1L << 40);
        assertEquals(0, none.delayNanos());
    }
}
