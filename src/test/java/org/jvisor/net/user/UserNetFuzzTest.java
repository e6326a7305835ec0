package org.jvisor.net.user;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * A million frames a hostile or broken guest might send -- well-formed ones of every kind the
 * stack serves, then the same with bytes flipped, cut short, stretched, or noise -- into the
 * user-mode stack: none may throw, and every table stays within its bound. Restricted to the
 * host, with the DNS relay on a loopback port nothing answers, so no packet leaves the machine.
 */
class UserNetFuzzTest {
    static final int FRAMES = 1_000_000;

    /** Makes the IP header's and the transport's checksums right again, where the lengths allow. */
    static void fixChecksums(byte[] f) {
        int ip = Packets.IP;
        if (f.length < ip + 20) return;
        int ihl = (f[ip] & 0x0F) * 4, total = Packets.u16(f, ip + 2);
        if (ihl < 20 || ip + ihl > f.length) return;
        Packets.put16(f, ip + 10, 0);
        Packets.put16(f, ip + 10, Packets.checksum(f, ip, ihl, 0));
        if (total < ihl || ip + total > f.length) return;
        int l4 = ip + ihl, len = total - ihl, proto = Packets.u8(f, ip + 9);
        int src = Packets.i32(f, ip + 12), dst = Packets.i32(f, ip + 16);
        int at = switch (proto) {
            case Packets.PROTO_TCP -> 16;
            case Packets.PROTO_UDP -> 6;
            case Packets.PROTO_ICMP -> 2;
            default -> -1;
        };
        if (at < 0 || len < at + 2) return;
        Packets.put16(f, l4 + at, 0);
        Packets.put16(f, l4 + at, Packets.checksum(f, l4, len, proto == Packets.PROTO_ICMP ? 0 : Packets.pseudo(src, dst, proto, len)));
    }

    @Test
    void aMillionMutatedFramesBreakNothingAndStayBounded() throws Exception {
        UserNet net = new UserNet(FakeGuest.MAC, new UserNet.Config(List.of(), new InetSocketAddress(InetAddress.getLoopbackAddress(), 9), true), false);
        try {
            FakeGuest g = new FakeGuest(net);
            List<byte[]> seeds = new ArrayList<>();
            seeds.add(g.udp(0xFFFFFFFF, 68, 67, UserNetTest.dhcp(Dhcp.DISCOVER)));
            seeds.add(g.udp(UserNet.DNS, 3000, 53, "q".getBytes()));
            seeds.add(g.udp(UserNet.GATEWAY, 3001, 9, new byte[100]));
            seeds.add(g.tcp(UserNet.GATEWAY, 4000, 9, 1, 0, TcpConn.SYN, 1000, UserNetTest.SYN_OPTIONS, new byte[0]));
            seeds.add(g.tcp(UserNet.GATEWAY, 4000, 9, 2, 5, TcpConn.ACK | TcpConn.PSH, 1000, null, new byte[300]));
            seeds.add(g.tcp(UserNet.GATEWAY, 4000, 9, 2, 5, TcpConn.FIN | TcpConn.ACK, 1000, null, new byte[0]));
            byte[] echo = new byte[40];
            echo[0] = 8;
            Packets.put16(echo, 2, Packets.checksum(echo, 0, 40, 0));
            seeds.add(FakeGuest.ipv4(FakeGuest.IP, UserNet.GATEWAY, Packets.PROTO_ICMP, echo, 3));
            byte[] frag = g.udp(UserNet.GATEWAY, 3002, 9, new byte[64]);
            Packets.put16(frag, Packets.IP + 6, 0x2000);
            seeds.add(frag);
            Random r = new Random(20261204);
            long start = System.nanoTime();
            for (int i = 0; i < FRAMES; i++) {
                byte[] f;
                int kind = r.nextInt(10);
                if (kind == 0) {
                    f = new byte[r.nextInt(200)];
                    r.nextBytes(f);
                } else {
                    byte[] seed = seeds.get(r.nextInt(seeds.size()));
                    int len = kind == 1 ? r.nextInt(seed.length + 1) : kind == 2 ? seed.length + r.nextInt(64) : seed.length;
                    f = java.util.Arrays.copyOf(seed, len);
                    int flips = kind <= 2 ? 0 : 1 + r.nextInt(4);
                    for (int k = 0; k < flips && f.length > 0; k++) {
                        int at = r.nextInt(Math.min(f.length, 80)); // the headers, mostly
                        f[at] = (byte) r.nextInt(256);
                    }
                    // keep the source ports varying so new connections and flows keep coming
                    if (f.length > Packets.IP + 22) Packets.put16(f, Packets.IP + 20, r.nextInt(65536));
                    // mutated destinations must not leave the machine: restrict keeps them on the host
                    if (kind >= 6) fixChecksums(f); // past the checksum checks, into the parsers and the state machines
                }
                net.receiveForTest(f);
                if (i % 1000 == 999) {
                    net.stepForTest(System.nanoTime() + (i % 50_000 == 49_999 ? 120_000_000_000L : 0));
                    net.drainToGuest();
                    assertTrue(net.tcpConnections() <= UserNet.MAX_TCP, "tcp " + net.tcpConnections());
                    assertTrue(net.udpFlows() <= UserNet.MAX_UDP, "udp " + net.udpFlows());
                    assertTrue(net.fragmentsPending() <= Fragments.MAX_DATAGRAMS);
                    assertTrue(net.queuedToGuest() <= UserNet.QUEUE);
                }
            }
            double s = (System.nanoTime() - start) / 1e9;
            System.out.printf("usernet fuzz: %d frames in %.1f s; %s%n", FRAMES, s, net.counters());
            assertEquals(FRAMES, FRAMES); // reaching here: no exception escaped
        } finally {
            net.close();
        }
    }
}
