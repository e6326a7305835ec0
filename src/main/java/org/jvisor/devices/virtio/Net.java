package org.jvisor.devices.virtio;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.IntConsumer;
import org.jvisor.sys.NativeException;
import org.jvisor.sys.Tap;

/**
 * virtio-net (virtio 1.2, 5.1) on a TAP interface: receive queue 0, transmit queue 1, a MAC
 * address in configuration space. Frames travel with the 12-byte virtio_net_hdr_v1 on both sides
 * (the TAP has IFF_VNET_HDR), which is how the offloads work without touching a packet: the guest
 * may hand over frames with partial checksums and TCP segments up to 64 KiB (CSUM, HOST_TSO4/6)
 * that the host kernel finishes, and -- for what its driver accepts (GUEST_CSUM, GUEST_TSO4/6) --
 * receives them the same way from the host, so a TCP stream costs the guest a fraction of the
 * per-packet work. A reader thread takes frames from the TAP into a bounded queue; the worker
 * moves them into the guest's receive buffers.
 */
public final class Net implements VirtioDevice {
    static final long F_CSUM = 1L, F_GUEST_CSUM = 1L << 1, F_MAC = 1L << 5, F_GUEST_TSO4 = 1L << 7, F_GUEST_TSO6 = 1L << 8,
            F_GUEST_ECN = 1L << 9, F_HOST_TSO4 = 1L << 11, F_HOST_TSO6 = 1L << 12, F_HOST_ECN = 1L << 13, F_STATUS = 1L << 16;
    static final int RX = 0, TX = 1, MAX_FRAME = 65550, BACKLOG = 256;

    private final Tap tap;
    private final byte[] mac;
    private final ArrayBlockingQueue<byte[]> received = new ArrayBlockingQueue<>(BACKLOG);
    private final MemorySegment txBuffer = Arena.ofAuto().allocate(MAX_FRAME + Tap.VNET_HDR, 16);
    private volatile IntConsumer kick = q -> { };
    private final Thread reader;
    private volatile boolean closed;
    private byte[] pending; // a frame that found no receive buffer yet (worker thread only)

    public Net(Tap tap, byte[] mac) {
        if (mac.length != 6) throw new IllegalArgumentException("MAC address needs 6 bytes");
        this.tap = tap;
        this.mac = mac.clone();
        this.reader = Thread.ofPlatform().daemon().name("tap-" + tap.name()).start(this::readLoop);
    }

    /**
     * Tells the network the guest's MAC is now behind this TAP (after a live migration), the way
     * QEMU announces a moved guest: a broadcast RARP from the guest's MAC, so switches and bridges
     * learn the new port before the guest itself sends anything.
     */
    public void announce() {
        java.nio.ByteBuffer f = java.nio.ByteBuffer.allocate(Tap.VNET_HDR + 60); // no offloads; padded to the minimum frame
        f.position(Tap.VNET_HDR);
        f.put(new byte[] {-1, -1, -1, -1, -1, -1}).put(mac).putShort((short) 0x8035); // broadcast, from the guest, RARP
        f.putShort((short) 1).putShort((short) 0x0800).put((byte) 6).put((byte) 4).putShort((short) 3); // Ethernet/IPv4, reverse request
        f.put(mac).putInt(0).put(mac).putInt(0);
        MemorySegment frame = Arena.ofAuto().allocate(f.capacity());
        MemorySegment.copy(f.array(), 0, frame, ValueLayout.JAVA_BYTE, 0, f.capacity());
        try {
            tap.write(frame, f.capacity());
        } catch (NativeException e) {
            // no host side to tell
        }
    }

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
            flags |= Tap.TUN_F_CSUM;
            if ((features & F_GUEST_TSO4) != 0) flags |= Tap.TUN_F_TSO4;
            if ((features & F_GUEST_TSO6) != 0) flags |= Tap.TUN_F_TSO6;
            if ((features & F_GUEST_ECN) != 0 && (flags & (Tap.TUN_F_TSO4 | Tap.TUN_F_TSO6)) != 0) flags |= Tap.TUN_F_TSO_ECN;
        }
        offload(flags);
    }

    private void offload(int flags) {
        try {
            tap.setOffload(flags);
        } catch (NativeException e) {
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
        MemorySegment buf = Arena.ofAuto().allocate(MAX_FRAME + Tap.VNET_HDR, 16);
        while (!closed) {
            try {
                int n = tap.read(buf, 200);
                if (n < 0) return;
                if (n <= Tap.VNET_HDR) continue;
                byte[] frame = buf.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE);
                // A full backlog waits for the guest (flow control), re-checking for close.
                while (!closed && !received.offer(frame, 100, TimeUnit.MILLISECONDS)) kick.accept(RX);
                kick.accept(RX);
            } catch (NativeException e) {
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

    private void transmit(Virtqueue q) throws VirtioException {
        for (Chain c; (c = q.pop()) != null; ) {
            long len = c.readableBytes();
            if (len >= Tap.VNET_HDR && len <= txBuffer.byteSize()) {
                long at = 0;
                for (java.nio.ByteBuffer b : c.slices(false, 0, len)) {
                    MemorySegment.copy(MemorySegment.ofBuffer(b), 0, txBuffer, at, b.remaining());
                    at += b.remaining();
                }
                try {
                    tap.write(txBuffer, len);
                } catch (NativeException e) {
                    // The host side went away: the frame is lost, as on a cable pulled out.
                }
            }
            q.push(c, 0);
        }
    }

    private void receive(Virtqueue q) throws VirtioException {
        for (;;) {
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
            q.push(c, c.write(0, frame, 0, n));
        }
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
