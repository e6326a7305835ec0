package org.jvisor.devices.virtio;

import java.util.function.LongSupplier;

/**
 * A disk's I/O limits as two token buckets, one of requests per second and one of bytes per
 * second (0: no limit), each holding at most a tenth of a second of its rate, as QEMU's
 * throttle groups and Firecracker's rate limiters do. {@link #acquire} waits until both allow a
 * request; the wait happens on the device's worker thread, so the guest's requests queue in the
 * ring and the vCPU runs on. A device that serves more than one queue on its worker (virtio-net)
 * must not sleep there: it asks {@link #delayNanos}, comes back later, and {@link #take}s the
 * tokens of what it sent.
 */
public final class Throttle {
    /** Sleeps the given nanoseconds (the real one parks the thread; tests pass their own clock). */
    @FunctionalInterface
    public interface Sleeper {
        void sleep(long nanos);
    }

    static final long SECOND = 1_000_000_000L;
    private final long iops, bps;
    private final LongSupplier clock;
    private final Sleeper sleeper;
    private double ioTokens, byteTokens;
    private long last;

    public Throttle(long iops, long bps) {
        this(iops, bps, System::nanoTime, n -> java.util.concurrent.locks.LockSupport.parkNanos(n));
    }

    Throttle(long iops, long bps, LongSupplier clock, Sleeper sleeper) {
        this.iops = Math.max(0, iops);
        this.bps = Math.max(0, bps);
        this.clock = clock;
        this.sleeper = sleeper;
        this.last = clock.getAsLong();
        this.ioTokens = this.iops / 10.0;
        this.byteTokens = this.bps / 10.0;
    }

    public boolean limited() {
        return iops > 0 || bps > 0;
    }

    /** Waits until one request of {@code bytes} may go (no bucket in debt), and takes its tokens: a large request puts the byte bucket in debt, which the next one waits out. */
    public void acquire(long bytes) {
        if (!limited()) return;
        long wait = delayNanos();
        if (wait > 0) {
            sleeper.sleep(wait);
            refill();
        }
        take(bytes);
    }

    /** Nanoseconds until the next request may go (0: now); takes no tokens. */
    public long delayNanos() {
        if (!limited()) return 0;
        refill();
        long wait = 0;
        if (iops > 0 && ioTokens < 1) wait = Math.max(wait, (long) Math.ceil((1 - ioTokens) * SECOND / iops));
        if (bps > 0 && byteTokens < 0) wait = Math.max(wait, (long) Math.ceil(-byteTokens * SECOND / bps));
        return wait;
    }

    /** Takes the tokens of one request of {@code bytes} that went. */
    public void take(long bytes) {
        if (iops > 0) ioTokens -= 1;
        if (bps > 0) byteTokens -= bytes;
    }

    private void refill() {
        long now = clock.getAsLong();
        double dt = (now - last) / (double) SECOND;
        last = now;
        if (iops > 0) ioTokens = Math.min(iops / 10.0, ioTokens + dt * iops);
        if (bps > 0) byteTokens = Math.min(bps / 10.0, byteTokens + dt * bps);
    }
}
