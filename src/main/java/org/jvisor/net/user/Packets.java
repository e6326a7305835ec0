package org.jvisor.net.user;

/**
 * Reading and writing the headers the user-mode stack handles (Ethernet, IPv4, UDP, TCP, ICMP)
 * in byte arrays, big-endian, and the Internet checksum. Frames start with the NIC's 12-byte
 * virtio-net header; {@link #ETH} is where the Ethernet header begins.
 */
final class Packets {
    private Packets() {}

    static final int VNET = 12, ETH = VNET, IP = ETH + 14, ETH_LEN = 14;
    static final int PROTO_ICMP = 1, PROTO_TCP = 6, PROTO_UDP = 17;
    static final int ETHERTYPE_IPV4 = 0x0800, ETHERTYPE_ARP = 0x0806;
    /** The guest's link MTU: what a frame to it holds without offloads. */
    static final int MTU = 1500;

    static int u8(byte[] b, int at) {
        return b[at] & 0xFF;
    }

    static int u16(byte[] b, int at) {
        return (b[at] & 0xFF) << 8 | b[at + 1] & 0xFF;
    }

    static int i32(byte[] b, int at) {
        return (b[at] & 0xFF) << 24 | (b[at + 1] & 0xFF) << 16 | (b[at + 2] & 0xFF) << 8 | b[at + 3] & 0xFF;
    }

    static void put16(byte[] b, int at, int v) {
        b[at] = (byte) (v >>> 8);
        b[at + 1] = (byte) v;
    }

    static void put32(byte[] b, int at, int v) {
        b[at] = (byte) (v >>> 24);
        b[at + 1] = (byte) (v >>> 16);
        b[at + 2] = (byte) (v >>> 8);
        b[at + 3] = (byte) v;
    }

    /** The ones'-complement sum of {@code len} bytes from {@code off}, added to {@code sum}, not yet folded or complemented. */
    static long sum(byte[] b, int off, int len, long sum) {
        int i = off, end = off + len;
        for (; i + 1 < end; i += 2) sum += (b[i] & 0xFF) << 8 | b[i + 1] & 0xFF;
        if (i < end) sum += (b[i] & 0xFF) << 8;
        return sum;
    }

    static int fold(long sum) {
        while ((sum >>> 16) != 0) sum = (sum & 0xFFFF) + (sum >>> 16);
        return (int) sum;
    }

    /** The Internet checksum (RFC 1071) of the bytes with {@code sum} already added. */
    static int checksum(byte[] b, int off, int len, long sum) {
        return ~fold(sum(b, off, len, sum)) & 0xFFFF;
    }

    /** The IPv4 pseudo-header's sum for TCP and UDP checksums. */
    static long pseudo(int src, int dst, int proto, int len) {
        return (src >>> 16) + (src & 0xFFFF) + (dst >>> 16) + (dst & 0xFFFF) + proto + len;
    }

    /**
     * A frame with room for an IPv4 packet of {@code l4Len} bytes after a 20-byte IP header: the
     * virtio-net header zeroed, Ethernet and IP headers filled (checksum included), the
     * transport header and payload left to the caller at {@link #IP} + 20.
     */
    static byte[] ipv4(byte[] dstMac, byte[] srcMac, int src, int dst, int proto, int l4Len, int id) {
        byte[] f = new byte[IP + 20 + l4Len];
        System.arraycopy(dstMac, 0, f, ETH, 6);
        System.arraycopy(srcMac, 0, f, ETH + 6, 6);
        put16(f, ETH + 12, ETHERTYPE_IPV4);
        f[IP] = 0x45;
        put16(f, IP + 2, 20 + l4Len);
        put16(f, IP + 4, id);
        put16(f, IP + 6, 0x4000); // don't fragment
        f[IP + 8] = 64;
        f[IP + 9] = (byte) proto;
        put32(f, IP + 12, src);
        put32(f, IP + 16, dst);
        put16(f, IP + 10, checksum(f, IP, 20, 0));
        return f;
    }

    static int ip(int a, int b, int c, int d) {
        return a << 24 | b << 16 | c << 8 | d;
    }

    static String ipText(int a) {
        return (a >>> 24) + "." + (a >>> 16 & 0xFF) + "." + (a >>> 8 & 0xFF) + "." + (a & 0xFF);
    }

    static byte[] ipBytes(int a) {
        return new byte[] {(byte) (a >>> 24), (byte) (a >>> 16), (byte) (a >>> 8), (byte) a};
    }

    static int ipOf(byte[] four) {
        return i32(four, 0);
    }
}
