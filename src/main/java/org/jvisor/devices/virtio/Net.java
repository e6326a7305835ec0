package org.jvisor.devices.virtio;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.IntConsumer;
import java.io.IOException;
import org.jvisor.net.NetBackend;

/**
 * virtio-net (virtio 1.2, 5.1) on a {@link NetBackend} (a TAP, the user-mode NAT stack): receive
 * queue 0, transmit queue 1, a MAC address in configuration space. Frames travel with the 12-byte
 * virtio_net_hdr_v1 on both sides, which is how the offloads work without touching a packet: the
 * guest may hand over frames with partial checksums and TCP segments up to 64 KiB (CSUM,
 * HOST_TSO4/6) that the backend finishes, and -- for what its driver accepts (GUEST_CSUM,
 * GUEST_TSO4/6) -- receives them the same way, so a TCP stream costs the guest a fraction of the
 * per-packet work. A reader thread takes frames from the backend into a bounded queue; the worker
 * moves them into the guest's receive buffers.
 *
 * <p>Rate limits (bytes per second, each way) hold frames in their ring or in the backlog rather
 * than drop them, so TCP slows to the limit instead of retransmitting; the worker never sleeps
 * for them (it serves both queues), it has itself kicked again when the tokens are there.
 */
public final class Net implements VirtioDevice {
    static final long F_CSUM = 1L, F_GUEST_CSUM = 1L << 1, F_MAC = 1L << 5, F_GUEST_TSO4 = 1L << 7, F_GUEST_TSO6 = 1L << 8,
            F_GUEST_ECN = 1L << 9, F_HOST_TSO4 = 1L << 11, F_HOST_TSO6 = 1L << 12, F_HOST_ECN = 1L << 13, F_STATUS = 1L << 16;
    static final int RX = 0, TX = 1, MAX_FRAME = 65550, BACKLOG = 256;

    private final NetBackend tap;
    private final byte[] mac;
    private final ArrayBlockingQueue<byte[]> received = new ArrayBlockingQueue<>(BACKLOG);
    private final MemorySegment txBuffer = Arena.ofAuto().allocate(MAX_FRAME + NetBackend.VNET_HDR, 16);
    private volatile IntConsumer kick = q -> { };
    private final Thread reader;
    private volatile boolean closed;
    private byte[] pending; // a frame that found no receive buffer yet (worker thread only)
    private final Throttle rxLimit, txLimit;
    private final java.util.concurrent.atomic.AtomicBoolean[] rekickPending = {new java.util.concurrent.atomic.AtomicBoolean(), new java.util.concurrent.atomic.AtomicBoolean()};
    // one writer each (the worker, or the reader for drops); volatile so the control API reads current values
    private volatile long rxPackets, rxBytes, txPackets, txBytes, rxDropped, txDropped, rxThrottled, txThrottled;

    public Net(NetBackend tap, byte[] mac) {
        this(tap, mac, new Throttle(0, 0), new Throttle(0, 0));
    }

    /** A NIC whose frames to the guest wait for {@code rxLimit}'s tokens, and frames from it for {@code txLimit}'s. */
    public Net(NetBackend tap, byte[] mac, Throttle rxLimit, Throttle txLimit) {
        if (mac.length != 6) throw new IllegalArgumentException("MAC address needs 6 bytes");
        this.tap = tap;
        this.mac = mac.clone();
        this.rxLimit = rxLimit;
        this.txLimit = txLimit;
        this.reader = Thread.ofPlatform().daemon().name("tap-" + tap.name()).start(this::readLoop);
    }

    /**
     * Tells the network the guest's MAC is now behind this TAP (after a live migration), the way
     * QEMU announces a moved guest: a broadcast RARP from the guest's MAC, so switches and bridges
     * learn the new port before the guest itself sends anything.
     */
    public void announce() {
        java.nio.ByteBuffer f = java.nio.ByteBuffer.allocate(NetBackend.VNET_HDR + 60); // no offloads; padded to the minimum frame
        f.position(NetBackend.VNET_HDR);
        f.put(new byte[] {-1, -1, -1, -1, -1, -1}).put(mac).putShort((short) 0x8035); // broadcast, from the guest, RARP
        f.putShort((short) 1).putShort((short) 0x0800).put((byte) 6).put((byte) 4).putShort((short) 3); // Ethernet/IPv4, reverse request
        f.put(mac).putInt(0).put(mac).putInt(0);
        MemorySegment frame = Arena.ofAuto().allocate(f.capacity());
        MemorySegment.copy(f.array(), 0, frame, ValueLayout.JAVA_BYTE, 0, f.capacity());
        try {
            tap.write(frame, f.capacity());
        } catch (IOException e) {
            // no host side to tell
        }
    }

    /** The backend's name: the TAP's, or "user". */
    public String tapName() {
        return tap.name();
    }

    @Override
    public int type() {
        return NETWORK;
    }

    @Override
    public int pciClass() {
        return 0x020000;
    }

    @Override
    public long features() {
        return F_MAC | F_STATUS | F_CSUM | F_HOST_TSO4 | F_HOST_TSO6 | F_HOST_ECN | F_GUEST_CSUM | F_GUEST_TSO4 | F_GUEST_TSO6
                | F_GUEST_ECN;
    }

    /** The TAP may only deliver what the driver accepted: unfinished checksums, TSO frames. */
    @Override
    public void activate(long features) {
        int flags = 0;
        if ((features & F_GUEST_CSUM) != 0) {
            flags |= NetBackend.F_CSUM;
            if ((features & F_GUEST_TSO4) != 0) flags |= NetBackend.F_TSO4;
            if ((features & F_GUEST_TSO6) != 0) flags |= NetBackend.F_TSO6;
            if ((features & F_GUEST_ECN) != 0 && (flags & (NetBackend.F_TSO4 | NetBackend.F_TSO6)) != 0) flags |= NetBackend.F_TSO_ECN;
        }
        offload(flags);
    }

    private void offload(int flags) {
        try {
            tap.setOffload(flags);
        } catch (IOException e) {
            System.err.println("jvisor: " + e.getMessage() + "; the guest gets plain frames");
        }
    }

    @Override
    public int queueCount() {
        return 2;
    }

    @Override
    public byte[] config() {
        byte[] c = new byte[8];
        System.arraycopy(mac, 0, c, 0, 6);
        c[6] = 1; // VIRTIO_NET_S_LINK_UP
        return c;
    }

    @Override
    public void bind(IntConsumer kick) {
        this.kick = kick;
    }

    private void readLoop() {
        MemorySegment buf = Arena.ofAuto().allocate(MAX_FRAME + NetBackend.VNET_HDR, 16);
        while (!closed) {
            try {
                int n = tap.read(buf, 200);
                if (n < 0) return;
                if (n <= NetBackend.VNET_HDR) continue;
                byte[] frame = buf.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE);
                // A full backlog waits for the guest (flow control), re-checking for close.
                while (!closed && !received.offer(frame, 100, TimeUnit.MILLISECONDS)) kick.accept(RX);
                kick.accept(RX);
            } catch (IOException e) {
                if (closed) return;
                System.err.println("jvisor: " + e.getMessage() + "; receive stopped");
                return;
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    @Override
    public void serve(int index, Virtqueue queue) throws VirtioException {
        if (index == TX) transmit(queue);
        else receive(queue);
    }

    /** Has queue {@code q} served again in {@code nanos} (once, however often the limit is hit meanwhile). */
    private void later(int q, long nanos) {
        if (!rekickPending[q].compareAndSet(false, true)) return;
        Thread.ofVirtual().start(() -> {
            java.util.concurrent.locks.LockSupport.parkNanos(nanos);
            rekickPending[q].set(false);
            if (!closed) kick.accept(q);
        });
    }

    private void transmit(Virtqueue q) throws VirtioException {
        for (;;) {
            long wait = txLimit.delayNanos();
            if (wait > 0) {
                if (q.hasAvailable()) {
                    txThrottled = txThrottled + 1;
                    later(TX, wait);
                }
                return;
            }
            Chain c = q.pop();
            if (c == null) return;
            long len = c.readableBytes();
            if (len < NetBackend.VNET_HDR || len > txBuffer.byteSize()) txDropped = txDropped + 1;
            else {
                long at = 0;
                for (java.nio.ByteBuffer b : c.slices(false, 0, len)) {
                    MemorySegment.copy(MemorySegment.ofBuffer(b), 0, txBuffer, at, b.remaining());
                    at += b.remaining();
                }
                try {
                    tap.write(txBuffer, len);
                    txPackets = txPackets + 1;
                    txBytes = txBytes + (len - NetBackend.VNET_HDR);
                    txLimit.take(len - NetBackend.VNET_HDR);
                } catch (IOException e) {
                    // The host side went away: the frame is lost, as on a cable pulled out.
                    txDropped = txDropped + 1;
                }
            }
            q.push(c, 0);
        }
    }

    private void receive(Virtqueue q) throws VirtioException {
        for (;;) {
            if (pending == null && received.isEmpty()) return;
            long wait = rxLimit.delayNanos();
            if (wait > 0) {
                rxThrottled = rxThrottled + 1;
                later(RX, wait);
                return;
            }
            byte[] frame = pending != null ? pending : received.poll();
            if (frame == null) return;
            Chain c = q.pop();
            if (c == null) {
                pending = frame; // no buffer yet: it waits for the guest's next notification
                return;
            }
            pending = null;
            // The driver reads num_buffers (1: no mergeable buffers) in the header's last two bytes.
            frame[10] = 1;
            frame[11] = 0;
            int n = (int) Math.min(frame.length, c.writableBytes());
            if (n < frame.length) rxDropped = rxDropped + 1; // a buffer too small for the frame: the driver sees it cut and drops it
            else {
                rxPackets = rxPackets + 1;
                rxBytes = rxBytes + (frame.length - NetBackend.VNET_HDR);
            }
            rxLimit.take(frame.length - NetBackend.VNET_HDR);
            q.push(c, c.write(0, frame, 0, n));
        }
    }

    @Override
    public java.util.Map<String, Object> counters() {
        java.util.Map<String, Object> m = new java.util.LinkedHashMap<>();
        m.put("rxPackets", rxPackets);
        m.put("rxBytes", rxBytes);
        m.put("txPackets", txPackets);
        m.put("txBytes", txBytes);
        m.put("rxDropped", rxDropped);
        m.put("txDropped", txDropped);
        m.put("rxThrottled", rxThrottled);
        m.put("txThrottled", txThrottled);
        var backend = tap.counters();
        if (!backend.isEmpty()) m.put("backend", backend);
        return m;
    }

    @Override
    public void reset() {
        pending = null;
        received.clear();
        offload(0);
    }

    @Override
    public void close() {
        closed = true;
        tap.close();
        try {
            reader.join(2_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
