package org.jvisor.devices.virtio;

/**
 * A virtio device type behind a transport. The transport negotiates features, keeps the queues
 * and raises interrupts; the device serves its queues on the transport's worker thread.
 */
public interface VirtioDevice extends AutoCloseable {
    int BLOCK = 2, ENTROPY = 4, NETWORK = 1, CONSOLE = 3, BALLOON = 5;

    /** The virtio device ID (5.x of the specification). */
    int type();

    /** The PCI class code the function presents. */
    int pciClass();

    /** Device-specific feature bits offered (the transport adds VERSION_1, INDIRECT_DESC and EVENT_IDX). */
    long features();

    int queueCount();

    default int maxQueueSize() {
        return 256;
    }

    /** The device-specific configuration structure as the driver reads it now. */
    byte[] config();

    /** A driver write into the configuration structure (most devices ignore them). */
    default void writeConfig(int offset, byte[] data) {
    }

    /** The transport hands over how to wake the worker for queue {@code q} (input arriving from the host side). */
    default void bind(java.util.function.IntConsumer kick) {
    }

    /** The driver finished setup (DRIVER_OK) with these features. */
    default void activate(long features) {
    }

    /**
     * Serves queue {@code index}: pops chains, handles them, pushes them back. Called on the worker
     * thread when the driver notified the queue (or the device kicked it). Protocol errors throw.
     */
    void serve(int index, Virtqueue queue) throws VirtioException;

    /** The driver reset the device: forget per-session state. */
    default void reset() {
    }

    /** The device's own state for a snapshot, beyond the transport's (a record), or null when it keeps none. */
    default Record saveState() {
        return null;
    }

    /** The record type {@link #saveState} returns, to read it back; null when it keeps none. */
    default Class<? extends Record> stateType() {
        return null;
    }

    /** Takes a saved state, after the transport restored its rings ({@code rings} gives each, or null). */
    default void restoreState(Record state, java.util.function.IntFunction<Virtqueue> rings) throws VirtioException {
    }

    /** What the device counted (requests, bytes, packets, a latency histogram) for the control API; empty when it counts nothing. */
    default java.util.Map<String, Object> counters() {
        return java.util.Map.of();
    }

    /** The machine is going away: release host resources (files, taps). */
    @Override
    default void close() {
    }

    /** A short name for a virtio device type (virtio spec 5): "block", "net", ... */
    static String kindName(int type) {
        return switch (type) {
            case 1 -> "net";
            case 2 -> "block";
            case 3 -> "console";
            case 4 -> "rng";
            case 5 -> "balloon";
            case 19 -> "vsock";
            default -> "virtio-" + type;
        };
    }
}
