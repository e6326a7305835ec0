package org.jvisor.net.user;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;

/** The guest's side of the user-mode network in a test: builds the frames a guest sends and reads what the stack sends back. */
final class FakeGuest {
    static final byte[] MAC = {0x02, 0x4A, 0x56, 0, 0, 1};
    static final int IP = UserNet.GUEST;
    final UserNet net;
    final List<byte[]> seen = new ArrayList<>();
    int ipId = 1;

    FakeGuest(UserNet net) {
        this.net = net;
    }

    void send(byte[] frame) {
        MemorySegment m = Arena.ofAuto().allocate(frame.length);
        MemorySegment.copy(frame, 0, m, ValueLayout.JAVA_BYTE, 0, frame.length);
        net.write(m, frame.length);
    }

    /** Waits up to {@code millis} for a frame to the guest that {@code p} takes; frames before it are kept in {@link #seen}. */
    byte[] await(Predicate<byte[]> p, long millis) throws Exception {
        long end = System.currentTimeMillis() + millis;
        MemorySegment buf = Arena.ofAuto().allocate(70000);
        for (int i = 0; i < seen.size(); i++) if (p.test(seen.get(i))) return seen.remove(i);
        while (System.currentTimeMillis() < end) {
            int n = net.read(buf, 50);
            if (n <= 0) continue;
            byte[] f = buf.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE);
            if (p.test(f)) return f;
            seen.add(f);
        }
        return null;
    }

    static byte[] ipv4(int src, int dst, int proto, byte[] l4, int id) {
        byte[] f = Packets.ipv4(UserNet.GATEWAY_MAC, MAC, src, dst, proto, l4.length, id);
        System.arraycopy(l4, 0, f, Packets.IP + 20, l4.length);
        return f;
    }

    byte[] udp(int dst, int sport, int dport, byte[] data) {
        byte[] u = new byte[8 + data.length];
        Packets.put16(u, 0, sport);
        Packets.put16(u, 2, dport);
        Packets.put16(u, 4, u.length);
        System.arraycopy(data, 0, u, 8, data.length);
        int src = IP;
        Packets.put16(u, 6, Packets.checksum(u, 0, u.length, Packets.pseudo(src, dst, Packets.PROTO_UDP, u.length)));
        return ipv4(src, dst, Packets.PROTO_UDP, u, ipId++);
    }

    byte[] tcp(int dst, int sport, int dport, int seq, int ack, int flags, int window, byte[] options, byte[] data) {
        int ol = options == null ? 0 : options.length;
        byte[] t = new byte[20 + ol + data.length];
        Packets.put16(t, 0, sport);
        Packets.put16(t, 2, dport);
        Packets.put32(t, 4, seq);
        Packets.put32(t, 8, ack);
        t[12] = (byte) ((20 + ol) / 4 << 4);
        t[13] = (byte) flags;
        Packets.put16(t, 14, window);
        if (ol > 0) System.arraycopy(options, 0, t, 20, ol);
        System.arraycopy(data, 0, t, 20 + ol, data.length);
        Packets.put16(t, 16, Packets.checksum(t, 0, t.length, Packets.pseudo(IP, dst, Packets.PROTO_TCP, t.length)));
        return ipv4(IP, dst, Packets.PROTO_TCP, t, ipId++);
    }

    // reading frames to the guest
    static int proto(byte[] f) {
        return Packets.u16(f, Packets.ETH + 12) == Packets.ETHERTYPE_IPV4 ? Packets.u8(f, Packets.IP + 9) : -1;
    }

    static int tcpFlags(byte[] f) {
        return f[Packets.IP + 20 + 13] & 0x3F;
    }

    static int tcpSeq(byte[] f) {
        return Packets.i32(f, Packets.IP + 24);
    }

    static int tcpAck(byte[] f) {
        return Packets.i32(f, Packets.IP + 28);
    }

    static int tcpWindow(byte[] f) {
        return Packets.u16(f, Packets.IP + 34);
    }

    static int tcpSrcPort(byte[] f) {
        return Packets.u16(f, Packets.IP + 20);
    }

    static int tcpDstPort(byte[] f) {
        return Packets.u16(f, Packets.IP + 22);
    }

    static byte[] tcpPayload(byte[] f) {
        int t = Packets.IP + 20, hl = (f[t + 12] & 0xF0) >>> 2;
        int total = Packets.u16(f, Packets.IP + 2);
        byte[] d = new byte[total - 20 - hl];
        System.arraycopy(f, t + hl, d, 0, d.length);
        return d;
    }

    /** Whether the frame's IP and TCP/UDP/ICMP checksums hold (full checksums: the stack was given no offloads). */
    static boolean checksumsHold(byte[] f) {
        if (Packets.checksum(f, Packets.IP, 20, 0) != 0) return false;
        int total = Packets.u16(f, Packets.IP + 2), l4 = Packets.IP + 20, len = total - 20;
        int src = Packets.i32(f, Packets.IP + 12), dst = Packets.i32(f, Packets.IP + 16), proto = Packets.u8(f, Packets.IP + 9);
        if ((Packets.u16(f, Packets.IP + 6) & 0x3FFF) != 0 && (Packets.u16(f, Packets.IP + 6) & 0x3FFF) != 0x0000 && proto == Packets.PROTO_UDP) return true; // a fragment
        return switch (proto) {
            case Packets.PROTO_ICMP -> Packets.checksum(f, l4, len, 0) == 0;
            default -> Packets.checksum(f, l4, len, Packets.pseudo(src, dst, proto, len)) == 0;
        };
    }
}
