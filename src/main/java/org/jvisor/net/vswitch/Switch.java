package org.jvisor.net.vswitch;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

/**
 * A learning Ethernet switch with 802.1Q VLANs: the MAC address a frame came from is learned,
 * per VLAN, on its port (and forgotten after {@link #ageNanos} without a frame from it); a frame
 * to a learned address goes out of that port only, broadcasts, multicasts and unknown addresses
 * flood every port of the frame's VLAN but the one it came in. Tags are added and removed at
 * the ports (see {@link VlanPolicy}); a port with a secured MAC drops frames from any other
 * source. Frames here are plain Ethernet (no virtio header). One thread calls {@link #receive}.
 */
public final class Switch {
    public static final int MIN_FRAME = 14, MAX_FRAME = 1518 + 4; // a full-size frame with its tag
    static final int MAX_MACS = 8192;

    /** One port: its VLANs, an optional secured MAC, and where frames to it go. */
    public interface Port {
        String name();

        VlanPolicy vlan();

        /** Null, or the only source MAC this port may send from (port security). */
        byte[] securedMac();

        /** Queues a frame out of the port; false when its queue is full (the frame is dropped and counted). */
        boolean deliver(byte[] frame);

        Counters counters();
    }

    /** A port's counters, readable from any thread. */
    public static final class Counters {
        public final AtomicLong rxFrames = new AtomicLong(), rxBytes = new AtomicLong(), txFrames = new AtomicLong(), txBytes = new AtomicLong(),
                malformed = new AtomicLong(), vlanDropped = new AtomicLong(), securityDropped = new AtomicLong(), queueDropped = new AtomicLong();

        public Map<String, Long> snapshot() {
            Map<String, Long> m = new java.util.LinkedHashMap<>();
            m.put("rxFrames", rxFrames.get());
            m.put("rxBytes", rxBytes.get());
            m.put("txFrames", txFrames.get());
            m.put("txBytes", txBytes.get());
            m.put("malformed", malformed.get());
            m.put("vlanDropped", vlanDropped.get());
            m.put("securityDropped", securityDropped.get());
            m.put("queueDropped", queueDropped.get());
            return m;
        }
    }

    private record Learned(Port port, long seen) {}

    private final List<Port> ports = new ArrayList<>();
    private final Map<Long, Learned> macs = new HashMap<>();
    private final LongSupplier clock;
    private final long ageNanos;

    public Switch(long ageNanos, LongSupplier clock) {
        this.ageNanos = ageNanos;
        this.clock = clock;
    }

    public Switch() {
        this(300_000_000_000L, System::nanoTime);
    }

    public synchronized void attach(Port p) {
        ports.add(p);
    }

    public synchronized void detach(Port p) {
        ports.remove(p);
        macs.values().removeIf(l -> l.port() == p);
    }

    public synchronized List<Port> ports() {
        return List.copyOf(ports);
    }

    public synchronized int learned() {
        return macs.size();
    }

    private static long mac(byte[] f, int at) {
        long m = 0;
        for (int i = 0; i < 6; i++) m = m << 8 | f[at + i] & 0xFF;
        return m;
    }

    /** Switches one frame that came in on {@code from}. */
    public synchronized void receive(Port from, byte[] f) {
        Counters c = from.counters();
        c.rxFrames.incrementAndGet();
        c.rxBytes.addAndGet(f.length);
        if (f.length < MIN_FRAME || f.length > MAX_FRAME || (f[6] & 1) != 0) { // too short or long, or from a multicast source
            c.malformed.incrementAndGet();
            return;
        }
        byte[] secured = from.securedMac();
        if (secured != null && mac(f, 6) != mac(secured, 0)) {
            c.securityDropped.incrementAndGet();
            return;
        }
        VlanPolicy pv = from.vlan();
        int type = (f[12] & 0xFF) << 8 | f[13] & 0xFF;
        int vlan;
        byte[] plain;
        if (type == 0x8100) {
            if (f.length < MIN_FRAME + 4) {
                c.malformed.incrementAndGet();
                return;
            }
            vlan = ((f[14] & 0x0F) << 8) | f[15] & 0xFF;
            if (!pv.trunk() || !pv.allowed().contains(vlan)) { // a tag on an access port, or a VLAN the trunk does not allow
                c.vlanDropped.incrementAndGet();
                return;
            }
            plain = untag(f);
        } else {
            vlan = pv.trunk() ? pv.nativeVlan() : pv.access();
            if (vlan == VlanPolicy.NONE) {
                c.vlanDropped.incrementAndGet();
                return;
            }
            plain = f;
        }
        long now = clock.getAsLong();
        long src = mac(plain, 6), dst = mac(plain, 0);
        long srcKey = (long) vlan << 48 | src;
        Learned old = macs.get(srcKey);
        if (old != null || macs.size() < MAX_MACS) macs.put(srcKey, new Learned(from, now)); // a full table floods rather than forgets
        if ((plain[0] & 1) == 0) {
            Learned to = macs.get((long) vlan << 48 | dst);
            if (to != null && now - to.seen() <= ageNanos && ports.contains(to.port())) {
                if (to.port() != from) send(to.port(), plain, vlan);
                return;
            }
        }
        for (Port p : ports) if (p != from && p.vlan().carries(vlan)) send(p, plain, vlan);
    }

    private static void send(Port p, byte[] plain, int vlan) {
        VlanPolicy v = p.vlan();
        byte[] out = v.trunk() && vlan != v.nativeVlan() ? tag(plain, vlan) : plain;
        Counters c = p.counters();
        if (p.deliver(out)) {
            c.txFrames.incrementAndGet();
            c.txBytes.addAndGet(out.length);
        } else {
            c.queueDropped.incrementAndGet();
        }
    }

    static byte[] tag(byte[] f, int vlan) {
        byte[] t = new byte[f.length + 4];
        System.arraycopy(f, 0, t, 0, 12);
        t[12] = (byte) 0x81;
        t[13] = 0;
        t[14] = (byte) (vlan >>> 8 & 0x0F);
        t[15] = (byte) vlan;
        System.arraycopy(f, 12, t, 16, f.length - 12);
        return t;
    }

    static byte[] untag(byte[] f) {
        byte[] u = new byte[f.length - 4];
        System.arraycopy(f, 0, u, 0, 12);
        System.arraycopy(f, 16, u, 12, f.length - 16);
        return u;
    }

    /** Forgets addresses not seen for longer than the ageing time. */
    public synchronized void age() {
        long now = clock.getAsLong();
        for (Iterator<Learned> it = macs.values().iterator(); it.hasNext(); ) if (now - it.next().seen() > ageNanos) it.remove();
    }
}
