package org.jvisor.net.user;

/**
 * The DHCP server of the user-mode network (RFC 2131, the part a guest's client uses): it offers
 * the one guest address, with the gateway as router and server, the DNS address, and a day's
 * lease; DISCOVER gets an OFFER, REQUEST (and INFORM) an ACK, a REQUEST for another address a NAK.
 */
final class Dhcp {
    private Dhcp() {}

    static final int SERVER_PORT = 67, CLIENT_PORT = 68;
    static final int DISCOVER = 1, OFFER = 2, REQUEST = 3, DECLINE = 4, ACK = 5, NAK = 6, RELEASE = 7, INFORM = 8;
    static final int MAGIC = 0x63825363;

    /** The reply's BOOTP payload (for UDP to port 68) to the request in {@code m} from {@code at}, or null when none is due. */
    static byte[] reply(byte[] m, int at, int len, int guest, int gateway, int dns, int mask) {
        if (len < 240 || Packets.u8(m, at) != 1 || Packets.u8(m, at + 1) != 1 || Packets.u8(m, at + 2) != 6) return null;
        if (Packets.i32(m, at + 236) != MAGIC) return null;
        int type = -1, requested = 0;
        for (int i = at + 240; i < at + len; ) {
            int code = Packets.u8(m, i);
            if (code == 255) break;
            if (code == 0) {
                i++;
                continue;
            }
            if (i + 1 >= at + len) return null;
            int l = Packets.u8(m, i + 1);
            if (i + 2 + l > at + len) return null;
            if (code == 53 && l == 1) type = Packets.u8(m, i + 2);
            if (code == 50 && l == 4) requested = Packets.i32(m, i + 2);
            i += 2 + l;
        }
        int answer;
        switch (type) {
            case DISCOVER -> answer = OFFER;
            case REQUEST -> answer = requested != 0 && requested != guest ? NAK : ACK;
            case INFORM -> answer = ACK;
            default -> {
                return null; // RELEASE, DECLINE, or not DHCP: nothing to say
            }
        }
        byte[] r = new byte[300];
        r[0] = 2;
        r[1] = 1;
        r[2] = 6;
        System.arraycopy(m, at + 4, r, 4, 4); // xid
        System.arraycopy(m, at + 10, r, 10, 2); // flags
        if (answer != NAK && type != INFORM) Packets.put32(r, 16, guest);
        if (type == INFORM) System.arraycopy(m, at + 12, r, 12, 4); // ciaddr
        Packets.put32(r, 20, gateway);
        System.arraycopy(m, at + 28, r, 28, 16); // chaddr
        Packets.put32(r, 236, MAGIC);
        int o = 240;
        r[o++] = 53;
        r[o++] = 1;
        r[o++] = (byte) answer;
        r[o++] = 54;
        r[o++] = 4;
        Packets.put32(r, o, gateway);
        o += 4;
        if (answer != NAK) {
            if (type != INFORM) {
                r[o++] = 51;
                r[o++] = 4;
                Packets.put32(r, o, 86400);
                o += 4;
            }
            r[o++] = 1;
            r[o++] = 4;
            Packets.put32(r, o, mask);
            o += 4;
            r[o++] = 3;
            r[o++] = 4;
            Packets.put32(r, o, gateway);
            o += 4;
            r[o++] = 6;
            r[o++] = 4;
            Packets.put32(r, o, dns);
            o += 4;
        }
        r[o] = (byte) 255;
        return r;
    }
}
