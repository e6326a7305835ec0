package org.jvisor.net.user;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A port forwarded from the host into the guest, in QEMU's form
 * {@code tcp|udp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT}; the host address defaults to
 * 127.0.0.1 (nothing beyond the host reaches the guest unless asked), the guest's to its DHCP address.
 */
public record HostForward(boolean udp, String hostAddress, int hostPort, int guestAddress, int guestPort) {
    private static final Pattern FORM = Pattern.compile("(tcp|udp):([0-9.]*):(\\d{1,5})-([0-9.]*):(\\d{1,5})");

    /** Parses one hostfwd; the message of the exception says what is wrong. */
    public static HostForward parse(String s, int defaultGuest) {
        Matcher m = FORM.matcher(s);
        if (!m.matches()) throw new IllegalArgumentException("hostfwd '" + s + "' is not tcp|udp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT");
        int hp = Integer.parseInt(m.group(3)), gp = Integer.parseInt(m.group(5));
        if (hp < 1 || hp > 65535 || gp < 1 || gp > 65535) throw new IllegalArgumentException("hostfwd '" + s + "': ports are 1 to 65535");
        String host = m.group(2).isEmpty() ? "127.0.0.1" : m.group(2);
        if (!isIpv4(host)) throw new IllegalArgumentException("hostfwd '" + s + "': bad host address '" + host + "'");
        int guest = defaultGuest;
        if (!m.group(4).isEmpty()) {
            if (!isIpv4(m.group(4))) throw new IllegalArgumentException("hostfwd '" + s + "': bad guest address '" + m.group(4) + "'");
            String[] p = m.group(4).split("\\.");
            guest = Packets.ip(Integer.parseInt(p[0]), Integer.parseInt(p[1]), Integer.parseInt(p[2]), Integer.parseInt(p[3]));
        }
        return new HostForward(m.group(1).equals("udp"), host, hp, guest, gp);
    }

    static boolean isIpv4(String s) {
        String[] p = s.split("\\.", -1);
        if (p.length != 4) return false;
        for (String x : p) {
            if (x.isEmpty() || x.length() > 3) return false;
            for (char c : x.toCharArray()) if (c < '0' || c > '9') return false;
            if (Integer.parseInt(x) > 255) return false;
        }
        return true;
    }

    @Override
    public String toString() {
        return (udp ? "udp:" : "tcp:") + hostAddress + ":" + hostPort + "-" + Packets.ipText(guestAddress) + ":" + guestPort;
    }
}
