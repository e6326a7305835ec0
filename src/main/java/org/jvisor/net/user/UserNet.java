package org.jvisor.net.user;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.jvisor.net.NetBackend;

/**
 * User-mode networking, QEMU's "-netdev user" layout: the guest alone on 10.0.2.0/24 at
 * 10.0.2.15 (offered by DHCP), the gateway 10.0.2.2 and the DNS server 10.0.2.3 played by this
 * stack, which ends the guest's TCP connections and UDP flows and carries their bytes over host
 * sockets. No root, no TAP: to the host it is one process making ordinary connections. The
 * gateway's address reaches the host's loopback (10.0.2.2:PORT is 127.0.0.1:PORT), DNS queries go
 * to the host's resolver (or the one configured), pings to the gateway and DNS addresses are
 * answered, and forwarded ports bring host clients to the guest.
 *
 * <p>One platform thread runs everything -- the guest's frames, a selector over all host sockets,
 * the timers -- so connections need no locks. Frames from the guest queue to it; frames to the
 * guest queue to the NIC's reader. Every bound is explicit (connections, flows, queues,
 * reassembly); a frame that breaks one, or that does not parse, is counted and dropped.
 */
public final class UserNet implements NetBackend {
    public static final int NETWORK = Packets.ip(10, 0, 2, 0), MASK = 0xFFFFFF00, GUEST = Packets.ip(10, 0, 2, 15),
            GATEWAY = Packets.ip(10, 0, 2, 2), DNS = Packets.ip(10, 0, 2, 3);
    static final byte[] GATEWAY_MAC = {0x52, 0x55, 0x0a, 0x00, 0x02, 0x02};
    static final int MAX_TCP = 4096, MAX_UDP = 1024, QUEUE = 4096;
    static final long UDP_IDLE_NANOS = 60_000_000_000L, DNS_IDLE_NANOS = 10_000_000_000L, LINGER_NANOS = 2_000_000_000L;

    /** Options: forwarded ports, the DNS server queries go to (null: the host's first in /etc/resolv.conf), and restrict (only the host is reachable). */
    public record Config(List<HostForward> forwards, InetSocketAddress dnsUpstream, boolean restrict) {
        public Config {
            forwards = forwards == null ? List.of() : List.copyOf(forwards);
        }
    }

    private record TcpKey(int guestIp, int guestPort, int peerIp, int peerPort) {}

    private record UdpKey(int guestIp, int guestPort, int peerIp, int peerPort) {}

    /** A UDP flow: the guest's port talking to one address, over a connected host socket. */
    private static final class UdpFlow {
        final UdpKey key;
        final DatagramChannel channel;
        final SocketAddress forwardClient; // a forwarded port's client, for flows the host began
        final DatagramChannel forwardChannel;
        long lastUsed;

        UdpFlow(UdpKey key, DatagramChannel channel, SocketAddress forwardClient, DatagramChannel forwardChannel) {
            this.key = key;
            this.channel = channel;
            this.forwardClient = forwardClient;
            this.forwardChannel = forwardChannel;
        }
    }

    private final byte[] guestMac;
    private final Config config;
    private final Selector selector;
    private final Thread thread;
    private final ArrayBlockingQueue<byte[]> toGuest = new ArrayBlockingQueue<>(QUEUE);
    private final ConcurrentLinkedQueue<byte[]> fromGuest = new ConcurrentLinkedQueue<>();
    private final AtomicInteger fromGuestSize = new AtomicInteger();
    private final Map<TcpKey, TcpConn> tcp = new HashMap<>();
    private final Map<UdpKey, UdpFlow> udp = new LinkedHashMap<>();
    private final Fragments fragments = new Fragments();
    private final InetSocketAddress dns;
    private final ByteBuffer udpBuffer = ByteBuffer.allocateDirect(65536);
    private volatile int offload;
    private volatile boolean closed;
    private int ipId, nextPort = 49152;
    private final java.util.Random random = new java.util.Random();
    final AtomicLong framesIn = new AtomicLong(), framesOut = new AtomicLong(), dropped = new AtomicLong(), malformed = new AtomicLong();
    private long tcpOpened, udpOpened, dhcpAnswered, pingsAnswered;

    public UserNet(byte[] guestMac, Config config) throws IOException {
        this(guestMac, config, true);
    }

    /** {@code threaded} false: no thread of its own; a test drives it with {@link #stepForTest}. */
    UserNet(byte[] guestMac, Config config, boolean threaded) throws IOException {
        this.guestMac = guestMac.clone();
        this.config = config;
        this.dns = config.dnsUpstream() != null ? config.dnsUpstream() : hostResolver();
        this.selector = Selector.open();
        try {
            for (HostForward f : config.forwards()) listen(f);
        } catch (IOException e) {
            selector.keys().forEach(k -> closeQuietly(k.channel()));
            selector.close();
            throw e;
        }
        this.thread = threaded ? Thread.ofPlatform().daemon().name("usernet").start(this::loop) : null;
    }

    /** The first nameserver in /etc/resolv.conf (a loopback one is fine: the host reaches it), or the loopback. */
    static InetSocketAddress hostResolver() {
        try {
            for (String l : Files.readAllLines(Path.of("/etc/resolv.conf"))) {
                String[] w = l.strip().split("\\s+");
                if (w.length >= 2 && w[0].equals("nameserver") && HostForward.isIpv4(w[1])) return new InetSocketAddress(InetAddress.getByName(w[1]), 53);
            }
        } catch (IOException | RuntimeException e) {
            // no resolver configured
        }
        return new InetSocketAddress(InetAddress.getLoopbackAddress(), 53);
    }

    private void listen(HostForward f) throws IOException {
        InetSocketAddress at = new InetSocketAddress(InetAddress.getByName(f.hostAddress()), f.hostPort());
        try {
            if (f.udp()) {
                DatagramChannel d = DatagramChannel.open();
                d.bind(at);
                d.configureBlocking(false);
                d.register(selector, SelectionKey.OP_READ, f);
            } else {
                ServerSocketChannel s = ServerSocketChannel.open();
                s.setOption(StandardSocketOptions.SO_REUSEADDR, true);
                s.bind(at);
                s.configureBlocking(false);
                s.register(selector, SelectionKey.OP_ACCEPT, f);
            }
        } catch (IOException e) {
            throw new IOException("hostfwd " + f + ": cannot listen on " + f.hostAddress() + ":" + f.hostPort() + " (" + e.getMessage() + ")", e);
        }
    }

    @Override
    public String name() {
        return "user";
    }

    @Override
    public int read(MemorySegment buf, int timeoutMs) throws IOException {
        if (closed) return -1;
        byte[] f;
        try {
            f = toGuest.poll(timeoutMs, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        }
        if (f == null) return closed ? -1 : 0;
        int n = (int) Math.min(f.length, buf.byteSize());
        MemorySegment.copy(f, 0, buf, ValueLayout.JAVA_BYTE, 0, n);
        return n;
    }

    @Override
    public void write(MemorySegment frame, long len) {
        if (closed) return;
        framesIn.incrementAndGet();
        if (len < Packets.IP || len > 65536 + Packets.IP || fromGuestSize.get() >= QUEUE) {
            dropped.incrementAndGet();
            return;
        }
        fromGuest.add(frame.asSlice(0, len).toArray(ValueLayout.JAVA_BYTE));
        fromGuestSize.incrementAndGet();
        selector.wakeup();
    }

    /** Feeds one frame as if the guest sent it, on the caller's thread (a stack made without its thread). */
    void receiveForTest(byte[] frame) {
        try {
            guestFrame(frame);
        } catch (RuntimeException e) {
            malformed.incrementAndGet();
        }
    }

    /** One round of the loop without waiting: host sockets that are ready, and the timers. */
    void stepForTest(long now) throws IOException {
        selector.selectNow();
        Iterator<SelectionKey> it = selector.selectedKeys().iterator();
        while (it.hasNext()) {
            SelectionKey k = it.next();
            it.remove();
            try {
                ready(k);
            } catch (IOException | RuntimeException e) {
                if (k.attachment() instanceof TcpConn c) c.abort(true);
            }
        }
        timers(now);
    }

    int udpFlows() {
        return udp.size();
    }

    int fragmentsPending() {
        return fragments.pending();
    }

    int queuedToGuest() {
        return toGuest.size();
    }

    @Override
    public void setOffload(int flags) {
        offload = flags;
    }

    // ---- the stack's thread ----

    private void loop() {
        while (!closed) {
            try {
                selector.select(tcp.isEmpty() ? 1000 : 20);
                byte[] f;
                while ((f = fromGuest.poll()) != null) {
                    fromGuestSize.decrementAndGet();
                    try {
                        guestFrame(f);
                    } catch (RuntimeException e) {
                        malformed.incrementAndGet(); // a frame this stack did not foresee: dropped, the stack goes on
                    }
                }
                Iterator<SelectionKey> it = selector.selectedKeys().iterator();
                while (it.hasNext()) {
                    SelectionKey k = it.next();
                    it.remove();
                    try {
                        ready(k);
                    } catch (IOException | RuntimeException e) {
                        if (k.attachment() instanceof TcpConn c) c.abort(true);
                        else if (k.attachment() instanceof UdpFlow u) dropFlow(u);
                    }
                }
                timers(System.nanoTime());
            } catch (IOException | RuntimeException e) {
                if (closed) return;
                System.err.println("jvisor: usernet: " + e);
            }
        }
    }

    private void ready(SelectionKey k) throws IOException {
        if (!k.isValid()) return;
        Object a = k.attachment();
        if (a instanceof TcpConn c) {
            if (k.isConnectable()) {
                SocketChannel ch = (SocketChannel) k.channel();
                try {
                    ch.finishConnect();
                } catch (IOException e) {
                    k.cancel();
                    closeQuietly(ch);
                    c.connectFailed();
                    return;
                }
                c.connected(host(k));
                return;
            }
            if (k.isWritable()) c.hostWritable();
            if (k.isValid() && k.isReadable()) c.hostReadable();
        } else if (a instanceof UdpFlow u) {
            udpFromHost(u);
        } else if (a instanceof HostForward f) {
            if (f.udp()) udpForwarded(f, (DatagramChannel) k.channel());
            else tcpForwarded(f, (ServerSocketChannel) k.channel());
        }
    }

    private void timers(long now) {
        for (Iterator<TcpConn> it = tcp.values().iterator(); it.hasNext(); ) {
            TcpConn c = it.next();
            c.tick(now);
            if (c.state == TcpConn.State.CLOSED && now - c.closedAt > LINGER_NANOS) it.remove();
        }
        for (Iterator<UdpFlow> it = udp.values().iterator(); it.hasNext(); ) {
            UdpFlow u = it.next();
            long idle = u.key.peerIp() == DNS ? DNS_IDLE_NANOS : UDP_IDLE_NANOS;
            if (now - u.lastUsed > idle) {
                it.remove();
                closeQuietly(u.channel);
            }
        }
    }

    private void guestFrame(byte[] f) {
        if (f.length < Packets.IP) {
            malformed.incrementAndGet();
            return;
        }
        switch (Packets.u16(f, Packets.ETH + 12)) {
            case Packets.ETHERTYPE_ARP -> arp(f);
            case Packets.ETHERTYPE_IPV4 -> ipv4(f);
            default -> dropped.incrementAndGet(); // IPv6, RARP announcements, ...: not served here
        }
    }

    private void arp(byte[] f) {
        int a = Packets.IP;
        if (f.length < a + 28 || Packets.u16(f, a) != 1 || Packets.u16(f, a + 2) != 0x0800 || f[a + 4] != 6 || f[a + 5] != 4) {
            malformed.incrementAndGet();
            return;
        }
        int target = Packets.i32(f, a + 24);
        if (Packets.u16(f, a + 6) != 1 || target != GATEWAY && target != DNS) return; // only requests for the addresses this stack plays
        byte[] r = new byte[Packets.IP + 28];
        System.arraycopy(f, a + 8, r, Packets.ETH, 6);
        System.arraycopy(GATEWAY_MAC, 0, r, Packets.ETH + 6, 6);
        Packets.put16(r, Packets.ETH + 12, Packets.ETHERTYPE_ARP);
        Packets.put16(r, a, 1);
        Packets.put16(r, a + 2, 0x0800);
        r[a + 4] = 6;
        r[a + 5] = 4;
        Packets.put16(r, a + 6, 2);
        System.arraycopy(GATEWAY_MAC, 0, r, a + 8, 6);
        Packets.put32(r, a + 14, target);
        System.arraycopy(f, a + 8, r, a + 18, 10); // the asker's MAC and address
        toGuest(r);
    }

    private void ipv4(byte[] f) {
        int ip = Packets.IP;
        if (f.length < ip + 20 || (f[ip] & 0xF0) != 0x40) {
            malformed.incrementAndGet();
            return;
        }
        int ihl = (f[ip] & 0x0F) * 4;
        int total = Packets.u16(f, ip + 2);
        boolean gso = f[1] != 0; // a TSO frame: its IP length may be left 0
        if (gso && total == 0) total = f.length - ip;
        if (ihl < 20 || total < ihl || ip + total > f.length) {
            malformed.incrementAndGet();
            return;
        }
        if (Packets.checksum(f, ip, ihl, 0) != 0) {
            malformed.incrementAndGet();
            return;
        }
        int src = Packets.i32(f, ip + 12), dst = Packets.i32(f, ip + 16), proto = Packets.u8(f, ip + 9);
        int flags = Packets.u16(f, ip + 6);
        byte[] pkt = f;
        int l4 = ip + ihl, l4Len = total - ihl;
        if ((flags & 0x3FFF) != 0 && (flags & 0x1FFF | flags & 0x2000) != 0) {
            byte[] whole = fragments.add(f, ip, ihl, l4Len, System.nanoTime());
            if (whole == null) return;
            pkt = new byte[Packets.IP + whole.length];
            System.arraycopy(whole, 0, pkt, Packets.IP, whole.length);
            l4 = Packets.IP + 20;
            l4Len = whole.length - 20;
        }
        boolean partialCsum = (f[0] & 1) != 0; // NEEDS_CSUM: the guest left the checksum to us, so it is not checked
        switch (proto) {
            case Packets.PROTO_ICMP -> icmp(pkt, src, dst, l4, l4Len);
            case Packets.PROTO_UDP -> udpFromGuest(pkt, src, dst, l4, l4Len, partialCsum);
            case Packets.PROTO_TCP -> tcpFromGuest(pkt, src, dst, l4, l4Len, partialCsum);
            default -> dropped.incrementAndGet();
        }
    }

    private void icmp(byte[] f, int src, int dst, int at, int len) {
        if (len < 8 || Packets.checksum(f, at, len, 0) != 0) {
            malformed.incrementAndGet();
            return;
        }
        if (Packets.u8(f, at) != 8 || dst != GATEWAY && dst != DNS) {
            dropped.incrementAndGet(); // only echo requests to the stack's own addresses
            return;
        }
        byte[] r = Packets.ipv4(guestMac, GATEWAY_MAC, dst, src, Packets.PROTO_ICMP, len, ipId++);
        int o = Packets.IP + 20;
        System.arraycopy(f, at, r, o, len);
        r[o] = 0; // echo reply
        Packets.put16(r, o + 2, 0);
        Packets.put16(r, o + 2, Packets.checksum(r, o, len, 0));
        pingsAnswered++;
        toGuest(r);
    }

    // ---- UDP ----

    private boolean udpChecksumOk(byte[] f, int src, int dst, int at, int len, boolean partial) {
        if (partial || Packets.u16(f, at + 6) == 0) return true; // none given (allowed in IPv4), or the offload's
        return Packets.checksum(f, at, len, Packets.pseudo(src, dst, Packets.PROTO_UDP, len)) == 0;
    }

    private void udpFromGuest(byte[] f, int src, int dst, int at, int len, boolean partial) {
        if (len < 8 || Packets.u16(f, at + 4) < 8 || Packets.u16(f, at + 4) > len) {
            malformed.incrementAndGet();
            return;
        }
        len = Packets.u16(f, at + 4);
        if (!udpChecksumOk(f, src, dst, at, len, partial)) {
            malformed.incrementAndGet();
            return;
        }
        int sport = Packets.u16(f, at), dport = Packets.u16(f, at + 2);
        if (dport == Dhcp.SERVER_PORT) {
            byte[] reply = Dhcp.reply(f, at + 8, len - 8, GUEST, GATEWAY, DNS, MASK);
            if (reply != null) {
                dhcpAnswered++;
                sendUdp(GATEWAY, Dhcp.SERVER_PORT, 0xFFFFFFFF, Dhcp.CLIENT_PORT, reply, 0, reply.length, new byte[] {-1, -1, -1, -1, -1, -1});
            }
            return;
        }
        UdpKey key = new UdpKey(src, sport, dst, dport);
        UdpFlow flow = udp.get(key);
        if (flow == null) {
            InetSocketAddress to = hostAddress(dst, dport, true);
            if (to == null) {
                dropped.incrementAndGet();
                return;
            }
            if (udp.size() >= MAX_UDP) dropFlow(udp.values().iterator().next());
            try {
                DatagramChannel ch = DatagramChannel.open();
                ch.configureBlocking(false);
                ch.connect(to);
                flow = new UdpFlow(key, ch, null, null);
                ch.register(selector, SelectionKey.OP_READ, flow);
                udp.put(key, flow);
                udpOpened++;
            } catch (IOException e) {
                dropped.incrementAndGet();
                return;
            }
        }
        flow.lastUsed = System.nanoTime();
        try {
            if (flow.forwardClient != null) flow.forwardChannel.send(ByteBuffer.wrap(f, at + 8, len - 8), flow.forwardClient);
            else flow.channel.write(ByteBuffer.wrap(f, at + 8, len - 8));
        } catch (IOException e) {
            dropped.incrementAndGet(); // ICMP unreachable from the host, a full buffer: as on a network, the datagram is lost
        }
    }

    private void dropFlow(UdpFlow u) {
        udp.remove(u.key);
        if (u.forwardClient == null) closeQuietly(u.channel);
    }

    private void udpFromHost(UdpFlow u) {
        for (int i = 0; i < 64; i++) {
            udpBuffer.clear();
            int n;
            try {
                n = u.channel.read(udpBuffer);
            } catch (IOException e) {
                return; // the host told us the far port is closed: the guest's application times out, as it would
            }
            if (n <= 0) return;
            u.lastUsed = System.nanoTime();
            byte[] data = new byte[n];
            udpBuffer.flip().get(data);
            sendUdp(u.key.peerIp(), u.key.peerPort(), u.key.guestIp(), u.key.guestPort(), data, 0, n, guestMac);
        }
    }

    private void udpForwarded(HostForward f, DatagramChannel ch) throws IOException {
        for (int i = 0; i < 64; i++) {
            udpBuffer.clear();
            SocketAddress from = ch.receive(udpBuffer);
            if (from == null) return;
            // one flow per client, from a gateway port of its own, so the guest's replies find the way back
            UdpFlow flow = null;
            for (UdpFlow u : udp.values()) if (from.equals(u.forwardClient) && u.forwardChannel == ch) flow = u;
            if (flow == null) {
                if (udp.size() >= MAX_UDP) dropFlow(udp.values().iterator().next());
                flow = new UdpFlow(new UdpKey(f.guestAddress(), f.guestPort(), GATEWAY, port()), ch, from, ch);
                udp.put(flow.key, flow);
            }
            flow.lastUsed = System.nanoTime();
            byte[] data = new byte[udpBuffer.flip().remaining()];
            udpBuffer.get(data);
            sendUdp(GATEWAY, flow.key.peerPort(), f.guestAddress(), f.guestPort(), data, 0, data.length, guestMac);
        }
    }

    private int port() {
        int p = nextPort;
        nextPort = nextPort == 65535 ? 49152 : nextPort + 1;
        return p;
    }

    /** A UDP datagram to the guest, in fragments when it is larger than the link's MTU. */
    private void sendUdp(int src, int sport, int dst, int dport, byte[] data, int off, int len, byte[] dstMac) {
        int udpLen = 8 + len;
        if (udpLen > 65535 - 20) {
            dropped.incrementAndGet();
            return;
        }
        byte[] whole = new byte[udpLen];
        Packets.put16(whole, 0, sport);
        Packets.put16(whole, 2, dport);
        Packets.put16(whole, 4, udpLen);
        System.arraycopy(data, off, whole, 8, len);
        int sum = Packets.checksum(whole, 0, udpLen, Packets.pseudo(src, dst, Packets.PROTO_UDP, udpLen));
        Packets.put16(whole, 6, sum == 0 ? 0xFFFF : sum);
        int id = ipId++;
        int maxFrag = (Packets.MTU - 20) & ~7;
        for (int at = 0; at < udpLen; at += maxFrag) {
            int n = Math.min(maxFrag, udpLen - at);
            byte[] fr = Packets.ipv4(dstMac, GATEWAY_MAC, src, dst, Packets.PROTO_UDP, n, id);
            boolean more = at + n < udpLen;
            Packets.put16(fr, Packets.IP + 6, (more ? 0x2000 : 0) | at / 8 | (udpLen <= maxFrag ? 0x4000 : 0));
            Packets.put16(fr, Packets.IP + 10, 0);
            Packets.put16(fr, Packets.IP + 10, Packets.checksum(fr, Packets.IP, 20, 0));
            System.arraycopy(whole, at, fr, Packets.IP + 20, n);
            toGuest(fr);
        }
    }

    /** Where a guest's packet to {@code ip:port} goes on the host: the gateway is the host's loopback, the DNS address the resolver. Null: nowhere. */
    private InetSocketAddress hostAddress(int ip, int port, boolean udpPacket) {
        try {
            if (ip == GATEWAY) return new InetSocketAddress(InetAddress.getLoopbackAddress(), port);
            if (ip == DNS) return port == 53 ? dns : null;
            if ((ip & MASK) == NETWORK || ip == 0xFFFFFFFF || (ip >>> 28) == 0xE || ip == 0) return null; // the virtual LAN, broadcast, multicast
            if (config.restrict()) return null;
            return new InetSocketAddress(InetAddress.getByAddress(Packets.ipBytes(ip)), port);
        } catch (IOException e) {
            return null;
        }
    }

    // ---- TCP ----

    private final TcpConn.Link link = new TcpConn.Link() {
        @Override
        public byte[] frame(TcpConn c, int tcpLen) {
            return Packets.ipv4(guestMac, GATEWAY_MAC, c.peerIp, c.guestIp, Packets.PROTO_TCP, tcpLen, ipId++);
        }

        @Override
        public void emit(TcpConn c, byte[] f, int tcpLen, int payloadLen) {
            int t = Packets.IP + 20;
            int hdr = tcpLen - payloadLen;
            long pseudo = Packets.pseudo(c.peerIp, c.guestIp, Packets.PROTO_TCP, tcpLen);
            int mss = Math.min(c.guestMss, Packets.MTU - 40);
            int off = offload;
            // with the guest's checksum offload the segment goes as CHECKSUM_PARTIAL: the pseudo-header's sum in the checksum's place
            Packets.put16(f, t + 16, (off & F_CSUM) != 0 ? Packets.fold(pseudo) : Packets.checksum(f, t, tcpLen, pseudo));
            writeVnetHeader(f, off, payloadLen > mss && (off & F_CSUM) != 0 && (off & F_TSO4) != 0, hdr, mss);
            toGuest(f);
        }

        @Override
        public int maxSegment(TcpConn c) {
            int mss = Math.min(c.guestMss, Packets.MTU - 40);
            return (offload & (F_CSUM | F_TSO4)) == (F_CSUM | F_TSO4) ? 65535 - 40 - 24 : mss;
        }

        @Override
        public long now() {
            return System.nanoTime();
        }
    };

    /** The virtio_net_hdr_v1 of a TCP frame to the guest: flags, gso_type, hdr_len, gso_size, csum_start, csum_offset. */
    private static void writeVnetHeader(byte[] f, int off, boolean gso, int tcpHdr, int mss) {
        for (int i = 0; i < Packets.VNET; i++) f[i] = 0;
        if ((off & F_CSUM) == 0) return;
        int l3 = Packets.IP - Packets.ETH; // Ethernet header length
        f[0] = 1; // NEEDS_CSUM
        if (gso) {
            f[1] = 1; // VIRTIO_NET_HDR_GSO_TCPV4
            putLe16(f, 2, l3 + 20 + tcpHdr);
            putLe16(f, 4, mss);
        }
        putLe16(f, 6, l3 + 20);
        putLe16(f, 8, 16);
    }

    private static void putLe16(byte[] f, int at, int v) {
        f[at] = (byte) v;
        f[at + 1] = (byte) (v >>> 8);
    }

    private void tcpFromGuest(byte[] f, int src, int dst, int at, int len, boolean partial) {
        if (len < 20) {
            malformed.incrementAndGet();
            return;
        }
        int hl = (f[at + 12] & 0xF0) >>> 2;
        if (hl < 20 || hl > len) {
            malformed.incrementAndGet();
            return;
        }
        if (!partial && Packets.checksum(f, at, len, Packets.pseudo(src, dst, Packets.PROTO_TCP, len)) != 0) {
            malformed.incrementAndGet();
            return;
        }
        int sport = Packets.u16(f, at), dport = Packets.u16(f, at + 2);
        int seq = Packets.i32(f, at + 4), ack = Packets.i32(f, at + 8), flags = f[at + 13] & 0x3F, window = Packets.u16(f, at + 14);
        TcpKey key = new TcpKey(src, sport, dst, dport);
        TcpConn c = tcp.get(key);
        if (c == null || c.state == TcpConn.State.CLOSED && (flags & TcpConn.SYN) != 0 && (flags & TcpConn.ACK) == 0) {
            if ((flags & (TcpConn.SYN | TcpConn.ACK | TcpConn.RST)) != TcpConn.SYN) {
                if ((flags & TcpConn.RST) == 0) reset(src, sport, dst, dport, seq, ack, flags, len - hl);
                return;
            }
            InetSocketAddress to = hostAddress(dst, dport, false);
            if (to == null || tcp.size() >= MAX_TCP || sport == 0 || dport == 0) {
                reset(src, sport, dst, dport, seq, ack, flags, len - hl);
                return;
            }
            c = TcpConn.passive(src, sport, dst, dport, link, random.nextInt(), seq, window, f, at + 20, hl - 20);
            tcp.put(key, c);
            tcpOpened++;
            try {
                SocketChannel ch = SocketChannel.open();
                ch.configureBlocking(false);
                ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
                boolean done = ch.connect(to);
                SelectionKey k = ch.register(selector, done ? 0 : SelectionKey.OP_CONNECT, c);
                if (done) c.connected(host(k));
            } catch (IOException | RuntimeException e) {
                c.connectFailed();
            }
            return;
        }
        c.segment(flags, seq, ack, window, f, at + 20, hl - 20, at + hl, len - hl);
    }

    /** A RST for a segment no connection takes (RFC 793's rules for the sequence numbers). */
    private void reset(int src, int sport, int dst, int dport, int seq, int ack, int flags, int dataLen) {
        byte[] r = Packets.ipv4(guestMac, GATEWAY_MAC, dst, src, Packets.PROTO_TCP, 20, ipId++);
        int t = Packets.IP + 20;
        Packets.put16(r, t, dport);
        Packets.put16(r, t + 2, sport);
        boolean hadAck = (flags & TcpConn.ACK) != 0;
        Packets.put32(r, t + 4, hadAck ? ack : 0);
        int seqLen = dataLen + ((flags & TcpConn.SYN) != 0 ? 1 : 0) + ((flags & TcpConn.FIN) != 0 ? 1 : 0);
        Packets.put32(r, t + 8, seq + seqLen);
        r[t + 12] = 0x50;
        r[t + 13] = (byte) (hadAck ? TcpConn.RST : TcpConn.RST | TcpConn.ACK);
        Packets.put16(r, t + 16, Packets.checksum(r, t, 20, Packets.pseudo(dst, src, Packets.PROTO_TCP, 20)));
        toGuest(r);
    }

    private void tcpForwarded(HostForward f, ServerSocketChannel server) throws IOException {
        SocketChannel ch;
        while ((ch = server.accept()) != null) {
            if (tcp.size() >= MAX_TCP) {
                closeQuietly(ch);
                continue;
            }
            ch.configureBlocking(false);
            ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
            int port = port();
            SelectionKey k = ch.register(selector, 0);
            TcpConn c = TcpConn.active(f.guestAddress(), f.guestPort(), GATEWAY, port, link, random.nextInt(), host(k));
            k.attach(c);
            tcp.put(new TcpKey(f.guestAddress(), f.guestPort(), GATEWAY, port), c);
            tcpOpened++;
        }
    }

    private static TcpConn.Host host(SelectionKey k) {
        SocketChannel ch = (SocketChannel) k.channel();
        return new TcpConn.Host() {
            @Override
            public int read(ByteBuffer b) throws IOException {
                return ch.read(b);
            }

            @Override
            public int write(ByteBuffer b) throws IOException {
                return ch.write(b);
            }

            @Override
            public void shutdownOutput() throws IOException {
                ch.shutdownOutput();
            }

            @Override
            public void close(boolean abort) {
                try {
                    if (abort) ch.setOption(StandardSocketOptions.SO_LINGER, 0);
                } catch (IOException e) {
                    // closing anyway
                }
                k.cancel();
                closeQuietly(ch);
            }

            @Override
            public void want(boolean read, boolean write) {
                if (k.isValid()) k.interestOps((read ? SelectionKey.OP_READ : 0) | (write ? SelectionKey.OP_WRITE : 0));
            }
        };
    }

    private void toGuest(byte[] frame) {
        if (toGuest.offer(frame)) framesOut.incrementAndGet();
        else dropped.incrementAndGet(); // the guest does not keep up: TCP sends it again, UDP is lost as on a congested link
    }

    private static void closeQuietly(java.nio.channels.Channel c) {
        try {
            c.close();
        } catch (IOException e) {
            // nothing to do
        }
    }

    /** What the control API shows of this NIC's stack. */
    @Override
    public Map<String, Object> counters() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("framesFromGuest", framesIn.get());
        m.put("framesToGuest", framesOut.get());
        m.put("dropped", dropped.get());
        m.put("malformed", malformed.get());
        m.put("tcpConnections", tcpOpened);
        m.put("udpFlows", udpOpened);
        m.put("dhcpAnswers", dhcpAnswered);
        m.put("pingsAnswered", pingsAnswered);
        m.put("fragmentsDropped", fragments.dropped());
        return m;
    }

    int tcpConnections() {
        return tcp.size();
    }

    List<byte[]> drainToGuest() {
        List<byte[]> out = new ArrayList<>();
        toGuest.drainTo(out);
        return out;
    }

    @Override
    public void close() {
        closed = true;
        selector.wakeup();
        try {
            if (thread != null) thread.join(2000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        for (SelectionKey k : selector.keys()) closeQuietly(k.channel());
        try {
            selector.close();
        } catch (IOException e) {
            // closing anyway
        }
    }
}
