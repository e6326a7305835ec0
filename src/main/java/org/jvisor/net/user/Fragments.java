package org.jvisor.net.user;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reassembly of IPv4 datagrams the guest sent in fragments (RFC 791). Bounded: a few datagrams
 * at a time, each at most 64 KiB, dropped after {@link #TIMEOUT_NANOS}; overlapping fragments
 * drop the whole datagram (as RFC 5722 asks of IPv6), since a hostile guest uses them to hide
 * what it sends.
 */
final class Fragments {
    static final int MAX_DATAGRAMS = 16;
    static final long TIMEOUT_NANOS = 30_000_000_000L;
    static final int MAX_PAYLOAD = 65535 - 20;

    private record Key(int src, int dst, int id, int proto) {}

    private static final class Partial {
        final byte[] data = new byte[MAX_PAYLOAD];
        final List<int[]> ranges = new ArrayList<>();
        byte[] header; // the first fragment's IP header
        int total = -1;
        final long started;

        Partial(long now) {
            started = now;
        }
    }

    private final Map<Key, Partial> partials = new LinkedHashMap<>();
    private long dropped;

    /**
     * Takes one fragment (its IP header at {@code ip} with length {@code ihl}, {@code len} bytes of
     * payload after it); returns the whole datagram as an IP header of 20 bytes and its payload
     * once complete, else null.
     */
    byte[] add(byte[] f, int ip, int ihl, int len, long now) {
        expire(now);
        int flags = Packets.u16(f, ip + 6);
        int offset = (flags & 0x1FFF) * 8;
        boolean more = (flags & 0x2000) != 0;
        Key k = new Key(Packets.i32(f, ip + 12), Packets.i32(f, ip + 16), Packets.u16(f, ip + 4), Packets.u8(f, ip + 9));
        if (offset + len > MAX_PAYLOAD || more && len % 8 != 0) {
            partials.remove(k);
            dropped++;
            return null;
        }
        Partial p = partials.get(k);
        if (p == null) {
            if (partials.size() >= MAX_DATAGRAMS) {
                Iterator<Key> oldest = partials.keySet().iterator();
                oldest.next();
                oldest.remove();
                dropped++;
            }
            p = new Partial(now);
            partials.put(k, p);
        }
        for (int[] r : p.ranges) {
            if (offset < r[1] && r[0] < offset + len) { // overlap
                partials.remove(k);
                dropped++;
                return null;
            }
        }
        System.arraycopy(f, ip + ihl, p.data, offset, len);
        p.ranges.add(new int[] {offset, offset + len});
        if (offset == 0) {
            p.header = new byte[20];
            System.arraycopy(f, ip, p.header, 0, 20);
        }
        if (!more) {
            if (p.total >= 0 && p.total != offset + len) {
                partials.remove(k);
                dropped++;
                return null;
            }
            p.total = offset + len;
        }
        if (p.total < 0 || p.header == null) return null;
        long covered = 0;
        for (int[] r : p.ranges) {
            if (r[1] > p.total) {
                partials.remove(k);
                dropped++;
                return null;
            }
            covered += r[1] - r[0];
        }
        if (covered != p.total) return null;
        partials.remove(k);
        byte[] whole = new byte[20 + p.total];
        System.arraycopy(p.header, 0, whole, 0, 20);
        whole[0] = 0x45;
        Packets.put16(whole, 2, 20 + p.total);
        Packets.put16(whole, 6, 0);
        System.arraycopy(p.data, 0, whole, 20, p.total);
        return whole;
    }

    private void expire(long now) {
        partials.values().removeIf(p -> {
            boolean old = now - p.started > TIMEOUT_NANOS;
            if (old) dropped++;
            return old;
        });
    }

    int pending() {
        return partials.size();
    }

    long dropped() {
        return dropped;
    }
}
