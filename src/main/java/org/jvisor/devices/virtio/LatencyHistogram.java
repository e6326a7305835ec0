package org.jvisor.devices.virtio;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * How long a device's requests took, in the fixed buckets a Prometheus histogram reports (from
 * 100 µs to 10 s, and one beyond): fixed so that every VMM's histograms add up across VMs. One
 * thread records (the device's worker); any thread reads.
 */
public final class LatencyHistogram {
    public static final double[] BOUNDS_SECONDS = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10};
    private static final long[] BOUNDS_NANOS = Arrays.stream(BOUNDS_SECONDS).mapToLong(s -> (long) (s * 1e9)).toArray();
    private final AtomicLongArray counts = new AtomicLongArray(BOUNDS_NANOS.length + 1);
    private volatile long sumNanos;

    public void record(long nanos) {
        int i = 0;
        while (i < BOUNDS_NANOS.length && nanos > BOUNDS_NANOS[i]) i++;
        counts.incrementAndGet(i);
        sumNanos = sumNanos + Math.max(0, nanos); // one writer
    }

    public long count() {
        long n = 0;
        for (int i = 0; i < counts.length(); i++) n += counts.get(i);
        return n;
    }

    public double sumSeconds() {
        return sumNanos / 1e9;
    }

    /** For the control API: the bucket bounds, the count in each bucket (not cumulative; the last is beyond the last bound) and the sum. */
    public Map<String, Object> toMap() {
        long[] c = new long[counts.length()];
        for (int i = 0; i < c.length; i++) c[i] = counts.get(i);
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("boundsSeconds", BOUNDS_SECONDS.clone());
        m.put("counts", c);
        m.put("sumSeconds", sumSeconds());
        return m;
    }
}
