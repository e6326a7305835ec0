package org.jvisor.net.user;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The user-mode stack against a fake guest that writes its frames by hand, and host sockets on
 * the loopback: DHCP, ARP, ping, TCP (handshake, data both ways, segments out of order, the
 * guest's MSS and window, retransmission, RST, half-close), UDP with IP fragments both ways,
 * DNS relayed, checksums, and a forwarded port.
 */
class UserNetTest {
    static final int SYN = TcpConn.SYN, ACK = TcpConn.ACK, FIN = TcpConn.FIN, RST = TcpConn.RST, PSH = TcpConn.PSH;
    UserNet net;
    FakeGuest g;

    void start(List<HostForward> forwards, InetSocketAddress dns) throws Exception {
        net = new UserNet(FakeGuest.MAC, new UserNet.Config(forwards, dns, true));
        g = new FakeGuest(net);
    }

    @AfterEach
    void stop() {
        if (net != null) net.close();
    }

    static byte[] dhcp(int type) {
        byte[] m = new byte[300];
        m[0] = 1;
        m[1] = 1;
        m[2] = 6;
        Packets.put32(m, 4, 0x12345678);
        System.arraycopy(FakeGuest.MAC, 0, m, 28, 6);
        Packets.put32(m, 236, Dhcp.MAGIC);
        m[240] = 53;
        m[241] = 1;
        m[242] = (byte) type;
        m[243] = (byte) 255;
        return m;
    }

    @Test
    void dhcpOffersAndAcknowledgesTheGuestAddress() throws Exception {
        start(List.of(), null);
        for (int[] step : new int[][] {{Dhcp.DISCOVER, Dhcp.OFFER}, {Dhcp.REQUEST, Dhcp.ACK}}) {
            byte[] f = g.udp(0xFFFFFFFF, 68, 67, dhcp(step[0]));
            Packets.put32(f, Packets.IP + 12, 0); // from 0.0.0.0, as a client without an address
            Packets.put16(f, Packets.IP + 10, 0);
            Packets.put16(f, Packets.IP + 10, Packets.checksum(f, Packets.IP, 20, 0));
            Packets.put16(f, Packets.IP + 26, 0); // no UDP checksum
            g.send(f);
            byte[] r = g.await(x -> FakeGuest.proto(x) == Packets.PROTO_UDP, 2000);
            assertNotNull(r, "no DHCP answer");
            assertTrue(FakeGuest.checksumsHold(r));
            int b = Packets.IP + 28;
            assertEquals(0x12345678, Packets.i32(r, b + 4), "the client's transaction id");
            assertEquals(UserNet.GUEST, Packets.i32(r, b + 16), "yiaddr");
            assertEquals(step[1], Packets.u8(r, b + 242), "the message type option comes first");
            String opts = Arrays.toString(Arrays.copyOfRange(r, b + 240, b + 300));
            assertTrue(opts.contains("3, 4, 10, 0, 2, 2") && opts.contains("6, 4, 10, 0, 2, 3"), "router and DNS: " + opts);
        }
    }

    @Test
    void arpAndPingOfTheGatewayAreAnswered() throws Exception {
        start(List.of(), null);
        byte[] arp = new byte[Packets.IP + 28];
        Arrays.fill(arp, Packets.ETH, Packets.ETH + 6, (byte) -1);
        System.arraycopy(FakeGuest.MAC, 0, arp, Packets.ETH + 6, 6);
        Packets.put16(arp, Packets.ETH + 12, Packets.ETHERTYPE_ARP);
        int a = Packets.IP;
        Packets.put16(arp, a, 1);
        Packets.put16(arp, a + 2, 0x0800);
        arp[a + 4] = 6;
        arp[a + 5] = 4;
        Packets.put16(arp, a + 6, 1);
        System.arraycopy(FakeGuest.MAC, 0, arp, a + 8, 6);
        Packets.put32(arp, a + 14, UserNet.GUEST);
        Packets.put32(arp, a + 24, UserNet.GATEWAY);
        g.send(arp);
        byte[] r = g.await(x -> Packets.u16(x, Packets.ETH + 12) == Packets.ETHERTYPE_ARP, 2000);
        assertNotNull(r);
        assertEquals(2, Packets.u16(r, a + 6), "a reply");
        assertArrayEquals(UserNet.GATEWAY_MAC, Arrays.copyOfRange(r, a + 8, a + 14));
        assertEquals(UserNet.GATEWAY, Packets.i32(r, a + 14));

        byte[] echo = new byte[64];
        echo[0] = 8;
        Packets.put16(echo, 4, 0x4242);
        Packets.put16(echo, 6, 7);
        for (int i = 8; i < 64; i++) echo[i] = (byte) i;
        Packets.put16(echo, 2, Packets.checksum(echo, 0, 64, 0));
        g.send(FakeGuest.ipv4(FakeGuest.IP, UserNet.GATEWAY, Packets.PROTO_ICMP, echo, 9));
        r = g.await(x -> FakeGuest.proto(x) == Packets.PROTO_ICMP, 2000);
        assertNotNull(r, "no echo reply");
        assertTrue(FakeGuest.checksumsHold(r));
        assertEquals(0, r[Packets.IP + 20], "echo reply");
        assertEquals(0x4242, Packets.u16(r, Packets.IP + 24), "same id");
        assertEquals(UserNet.GATEWAY, Packets.i32(r, Packets.IP + 12));
    }

    /** MSS 1460, window scale 7: what a Linux guest offers. */
    static final byte[] SYN_OPTIONS = {2, 4, 0x05, (byte) 0xB4, 1, 3, 3, 7};

    /** The handshake from the guest to 10.0.2.2:port; returns {guest's next seq, stack's next seq}. */
    int[] connect(int sport, int port, byte[] options, int window) throws Exception {
        int iss = 1000;
        g.send(g.tcp(UserNet.GATEWAY, sport, port, iss, 0, SYN, window, options, new byte[0]));
        byte[] sa = g.await(x -> FakeGuest.proto(x) == Packets.PROTO_TCP && FakeGuest.tcpDstPort(x) == sport, 3000);
        assertNotNull(sa, "no SYN-ACK");
        assertEquals(SYN | ACK, FakeGuest.tcpFlags(sa));
        assertEquals(iss + 1, FakeGuest.tcpAck(sa));
        assertTrue(FakeGuest.checksumsHold(sa));
        int theirs = FakeGuest.tcpSeq(sa) + 1;
        g.send(g.tcp(UserNet.GATEWAY, sport, port, iss + 1, theirs, ACK, window, null, new byte[0]));
        return new int[] {iss + 1, theirs};
    }

    byte[] tcpFrom(int sport, long millis, int flagsWanted) throws Exception {
        return g.await(x -> FakeGuest.proto(x) == Packets.PROTO_TCP && FakeGuest.tcpDstPort(x) == sport && (FakeGuest.tcpFlags(x) & flagsWanted) == flagsWanted
                && (flagsWanted != PSH || FakeGuest.tcpPayload(x).length > 0), millis);
    }

    @Test
    void tcpCarriesDataBothWaysInOrderAndHalfCloses() throws Exception {
        start(List.of(), null);
        try (ServerSocket server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            CompletableFuture<byte[]> got = CompletableFuture.supplyAsync(() -> {
                try (Socket s = server.accept()) {
                    byte[] all = s.getInputStream().readAllBytes(); // to the guest's FIN
                    s.getOutputStream().write(("got " + all.length).getBytes());
                    return all;
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            int[] s = connect(40000, server.getLocalPort(), SYN_OPTIONS, 1000);
            byte[] one = "first part, ".getBytes(), two = "second part".getBytes();
            // the second segment first: it waits for the gap to fill
            g.send(g.tcp(UserNet.GATEWAY, 40000, server.getLocalPort(), s[0] + one.length, s[1], ACK | PSH, 1000, null, two));
            byte[] dupAck = tcpFrom(40000, 2000, ACK);
            assertEquals(s[0], FakeGuest.tcpAck(dupAck), "out of order: the ACK stays at the gap");
            g.send(g.tcp(UserNet.GATEWAY, 40000, server.getLocalPort(), s[0], s[1], ACK | PSH, 1000, null, one));
            int end = s[0] + one.length + two.length;
            g.send(g.tcp(UserNet.GATEWAY, 40000, server.getLocalPort(), end, s[1], ACK | FIN, 1000, null, new byte[0]));
            assertEquals("first part, second part", new String(got.get(5, TimeUnit.SECONDS)));
            // half-closed: the host still answers, then ends its side
            byte[] data = tcpFrom(40000, 3000, PSH);
            assertNotNull(data, "no data after our FIN");
            assertEquals("got 23", new String(FakeGuest.tcpPayload(data)));
            assertEquals(end + 1, FakeGuest.tcpAck(data), "our FIN acknowledged");
            byte[] fin = tcpFrom(40000, 3000, FIN);
            assertNotNull(fin, "no FIN from the host side");
            g.send(g.tcp(UserNet.GATEWAY, 40000, server.getLocalPort(), end + 1, FakeGuest.tcpSeq(fin) + 1, ACK, 1000, null, new byte[0]));
        }
    }

    @Test
    void aClosedPortIsReset() throws Exception {
        start(List.of(), null);
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        g.send(g.tcp(UserNet.GATEWAY, 40001, port, 5, 0, SYN, 1000, SYN_OPTIONS, new byte[0]));
        byte[] r = tcpFrom(40001, 3000, RST);
        assertNotNull(r, "no RST");
        assertEquals(6, FakeGuest.tcpAck(r));
        // and a segment of no connection gets one too
        g.send(g.tcp(UserNet.GATEWAY, 40002, port, 5, 77, ACK, 1000, null, "x".getBytes()));
        r = tcpFrom(40002, 3000, RST);
        assertNotNull(r);
        assertEquals(77, FakeGuest.tcpSeq(r));
    }

    @Test
    void theGuestsMssAndWindowBoundWhatIsSentAndLostSegmentsGoAgain() throws Exception {
        start(List.of(), null);
        byte[] payload = new byte[5000];
        for (int i = 0; i < payload.length; i++) payload[i] = (byte) (i * 31);
        try (ServerSocket server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            CompletableFuture.runAsync(() -> {
                try (Socket s = server.accept()) {
                    s.getOutputStream().write(payload);
                    s.getInputStream().read(); // until the test ends
                } catch (Exception e) {
                    // the test closed
                }
            });
            byte[] mss500 = {2, 4, 0x01, (byte) 0xF4};
            int[] s = connect(40003, server.getLocalPort(), mss500, 1200); // no window scaling: 1200 bytes
            byte[] first = tcpFrom(40003, 3000, PSH);
            assertNotNull(first);
            assertEquals(s[1], FakeGuest.tcpSeq(first));
            assertEquals(500, FakeGuest.tcpPayload(first).length, "segments of the guest's MSS");
            byte[] second = tcpFrom(40003, 2000, PSH), third = tcpFrom(40003, 2000, PSH);
            assertEquals(500, FakeGuest.tcpPayload(second).length);
            assertEquals(200, FakeGuest.tcpPayload(third).length, "the window's last 200 bytes");
            assertNull(tcpFrom(40003, 150, PSH), "nothing beyond the window");
            // no ACK from us: the oldest byte goes again after the timeout
            byte[] again = tcpFrom(40003, 2000, PSH);
            assertNotNull(again, "no retransmission");
            assertEquals(s[1], FakeGuest.tcpSeq(again));
            // acknowledge everything as it comes: the rest arrives, in order
            ByteArrayOutputStream all = new ByteArrayOutputStream();
            int next = s[1];
            g.seen.clear();
            all.write(FakeGuest.tcpPayload(again));
            next += FakeGuest.tcpPayload(again).length;
            while (all.size() < payload.length) {
                g.send(g.tcp(UserNet.GATEWAY, 40003, server.getLocalPort(), s[0], next, ACK, 1200, null, new byte[0]));
                byte[] d = tcpFrom(40003, 3000, PSH);
                assertNotNull(d, "stalled at " + all.size());
                if (FakeGuest.tcpSeq(d) != next) continue; // a retransmission of what we have
                all.write(FakeGuest.tcpPayload(d));
                next += FakeGuest.tcpPayload(d).length;
            }
            assertArrayEquals(payload, all.toByteArray());
            g.send(g.tcp(UserNet.GATEWAY, 40003, server.getLocalPort(), s[0], s[1], RST, 0, null, new byte[0]));
        }
    }

    @Test
    void udpInFragmentsIsReassembledAndLargeRepliesAreFragmented() throws Exception {
        start(List.of(), null);
        try (DatagramSocket host = new DatagramSocket(0, InetAddress.getLoopbackAddress())) {
            host.setSoTimeout(3000);
            byte[] data = new byte[3000];
            for (int i = 0; i < data.length; i++) data[i] = (byte) (i % 251);
            byte[] whole = g.udp(UserNet.GATEWAY, 5555, host.getLocalPort(), data);
            int udpLen = 8 + data.length;
            int[] cuts = {0, 1480, 2960, udpLen};
            for (int k = cuts.length - 2; k >= 0; k--) { // the last fragment first
                int n = cuts[k + 1] - cuts[k];
                byte[] frag = new byte[Packets.IP + 20 + n];
                System.arraycopy(whole, 0, frag, 0, Packets.IP + 20);
                System.arraycopy(whole, Packets.IP + 20 + cuts[k], frag, Packets.IP + 20, n);
                Packets.put16(frag, Packets.IP + 2, 20 + n);
                Packets.put16(frag, Packets.IP + 4, 4242);
                Packets.put16(frag, Packets.IP + 6, (k < cuts.length - 2 ? 0x2000 : 0) | cuts[k] / 8);
                Packets.put16(frag, Packets.IP + 10, 0);
                Packets.put16(frag, Packets.IP + 10, Packets.checksum(frag, Packets.IP, 20, 0));
                g.send(frag);
            }
            DatagramPacket p = new DatagramPacket(new byte[5000], 5000);
            host.receive(p);
            assertArrayEquals(data, Arrays.copyOf(p.getData(), p.getLength()), "reassembled");
            host.send(new DatagramPacket(data, data.length, p.getSocketAddress()));
            ByteArrayOutputStream back = new ByteArrayOutputStream();
            int frags = 0;
            while (back.size() < udpLen) {
                byte[] r = g.await(x -> FakeGuest.proto(x) == Packets.PROTO_UDP, 3000);
                assertNotNull(r, "reply incomplete at " + back.size());
                assertEquals(UserNet.GATEWAY, Packets.i32(r, Packets.IP + 12));
                assertEquals(back.size() / 8, Packets.u16(r, Packets.IP + 6) & 0x1FFF, "fragments in order");
                assertTrue(Packets.u16(r, Packets.IP + 2) <= Packets.MTU);
                back.write(r, Packets.IP + 20, Packets.u16(r, Packets.IP + 2) - 20);
                frags++;
            }
            assertEquals(3, frags);
            byte[] u = back.toByteArray();
            assertEquals(5555, Packets.u16(u, 2));
            assertEquals(0, Packets.checksum(u, 0, u.length, Packets.pseudo(UserNet.GATEWAY, UserNet.GUEST, Packets.PROTO_UDP, u.length)), "UDP checksum");
            assertArrayEquals(data, Arrays.copyOfRange(u, 8, u.length));
        }
    }

    @Test
    void dnsQueriesGoToTheConfiguredServerAndAnswersComeFromTheDnsAddress() throws Exception {
        try (DatagramSocket dns = new DatagramSocket(0, InetAddress.getLoopbackAddress())) {
            dns.setSoTimeout(3000);
            start(List.of(), new InetSocketAddress(InetAddress.getLoopbackAddress(), dns.getLocalPort()));
            g.send(g.udp(UserNet.DNS, 33333, 53, "query".getBytes()));
            DatagramPacket p = new DatagramPacket(new byte[512], 512);
            dns.receive(p);
            assertEquals("query", new String(p.getData(), 0, p.getLength()));
            dns.send(new DatagramPacket("answer".getBytes(), 6, p.getSocketAddress()));
            byte[] r = g.await(x -> FakeGuest.proto(x) == Packets.PROTO_UDP, 3000);
            assertNotNull(r);
            assertEquals(UserNet.DNS, Packets.i32(r, Packets.IP + 12));
            assertEquals(53, Packets.u16(r, Packets.IP + 20));
            assertEquals("answer", new String(r, Packets.IP + 28, 6));
            assertTrue(FakeGuest.checksumsHold(r));
        }
    }

    @Test
    void badChecksumsAndMalformedFramesAreCountedAndDropped() throws Exception {
        start(List.of(), null);
        byte[] echo = new byte[16];
        echo[0] = 8;
        Packets.put16(echo, 2, 0x1234); // wrong
        g.send(FakeGuest.ipv4(FakeGuest.IP, UserNet.GATEWAY, Packets.PROTO_ICMP, echo, 1));
        byte[] badIp = FakeGuest.ipv4(FakeGuest.IP, UserNet.GATEWAY, Packets.PROTO_ICMP, echo, 2);
        badIp[Packets.IP + 10] ^= 1;
        g.send(badIp);
        byte[] tcp = g.tcp(UserNet.GATEWAY, 1, 2, 3, 4, SYN, 5, null, new byte[0]);
        tcp[Packets.IP + 36] ^= 0x55;
        g.send(tcp);
        g.send(new byte[20]);
        byte[] shortIp = Arrays.copyOf(badIp, Packets.IP + 10);
        Packets.put16(shortIp, Packets.ETH + 12, Packets.ETHERTYPE_IPV4);
        g.send(shortIp);
        assertNull(g.await(x -> true, 300), "nothing is answered");
        long deadline = System.currentTimeMillis() + 2000;
        while (net.malformed.get() + net.dropped.get() < 5 && System.currentTimeMillis() < deadline) Thread.sleep(10);
        assertEquals(5, net.malformed.get() + net.dropped.get(), net.counters().toString());
    }

    @Test
    void aForwardedPortBringsAHostClientToTheGuestsListener() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        start(List.of(HostForward.parse("tcp:127.0.0.1:" + port + "-:22", UserNet.GUEST)), null);
        try (Socket client = new Socket(InetAddress.getLoopbackAddress(), port)) {
            byte[] syn = g.await(x -> FakeGuest.proto(x) == Packets.PROTO_TCP && (FakeGuest.tcpFlags(x) & SYN) != 0, 3000);
            assertNotNull(syn, "no SYN to the guest");
            assertEquals(22, FakeGuest.tcpDstPort(syn));
            assertEquals(UserNet.GATEWAY, Packets.i32(syn, Packets.IP + 12), "from the gateway");
            int gp = FakeGuest.tcpSrcPort(syn), theirs = FakeGuest.tcpSeq(syn) + 1, ours = 7000;
            g.send(g.tcp(UserNet.GATEWAY, 22, gp, ours, theirs, SYN | ACK, 8000, new byte[] {2, 4, 0x05, (byte) 0xB4}, new byte[0]));
            assertNotNull(g.await(x -> FakeGuest.proto(x) == Packets.PROTO_TCP && FakeGuest.tcpFlags(x) == ACK, 3000), "the handshake's ACK");
            OutputStream out = client.getOutputStream();
            out.write("ping".getBytes());
            out.flush();
            byte[] d = g.await(x -> FakeGuest.proto(x) == Packets.PROTO_TCP && FakeGuest.tcpPayload(x).length > 0, 3000);
            assertNotNull(d);
            assertEquals("ping", new String(FakeGuest.tcpPayload(d)));
            // the guest's server answers (from 22 to the stack's port) and acknowledges
            g.send(g.tcp(UserNet.GATEWAY, 22, gp, ours + 1, theirs + 4, ACK | PSH, 8000, null, "pong".getBytes()));
            // (the test's guest sends "from" its own address to the gateway: the frame builder's source is the guest)
            InputStream in = client.getInputStream();
            client.setSoTimeout(3000);
            byte[] answer = in.readNBytes(4);
            assertEquals("pong", new String(answer));
        }
    }
}
