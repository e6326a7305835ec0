package org.jvisor.net;

import java.io.IOException;
import java.lang.foreign.MemorySegment;

/**
 * Where a NIC's frames go and come from, below virtio: a TAP, the user-mode NAT stack, a switch
 * port. Frames on both sides carry the 12-byte virtio_net_hdr_v1 first, the form a TAP with
 * IFF_VNET_HDR uses, so offloads (partial checksums, TSO) pass through without a copy.
 */
public interface NetBackend extends AutoCloseable {
    /** Offload flags (a TAP's TUN_F_*): what the guest's driver accepts in frames it receives. */
    int F_CSUM = 1, F_TSO4 = 2, F_TSO6 = 4, F_TSO_ECN = 8;
    int VNET_HDR = 12;

    /** What the control API and the metrics call this NIC (the TAP's name, "user", a switch port). */
    String name();

    /** Waits up to {@code timeoutMs} for a frame to the guest; returns its length, 0 on timeout, -1 once closed. */
    int read(MemorySegment buf, int timeoutMs) throws IOException;

    /** Sends a frame from the guest ({@code len} bytes of {@code frame}, header included). */
    void write(MemorySegment frame, long len) throws IOException;

    /** The offloads the guest's driver accepted (F_*): frames to it may use those. */
    void setOffload(int flags) throws IOException;

    /** What the backend counts itself (the user-mode stack's connections, drops); empty for a TAP. */
    default java.util.Map<String, Object> counters() {
        return java.util.Map.of();
    }

    @Override
    void close();
}
