package org.jvisor.vmm;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import org.jvisor.net.user.HostForward;
import org.jvisor.net.user.UserNet;

/** Starts the user-mode network stack a {@link MachineConfig.Nic} asks for. */
final class UserNic {
    private UserNic() {}

    static UserNet open(MachineConfig.Nic nic) throws IOException {
        MachineConfig.User u = nic.user();
        List<HostForward> forwards = new ArrayList<>();
        try {
            for (String f : u.hostForwards()) forwards.add(HostForward.parse(f, UserNet.GUEST));
        } catch (IllegalArgumentException e) {
            throw new IOException(e.getMessage());
        }
        return new UserNet(TapNic.mac(nic.mac()), new UserNet.Config(forwards, dns(u.dns()), u.restrict()));
    }

    /** IP or IP:PORT (port 53 when not given). */
    static InetSocketAddress dns(String s) throws IOException {
        if (s == null || s.isEmpty()) return null;
        String[] p = s.split(":", 2);
        if (!p[0].matches("\\d{1,3}(\\.\\d{1,3}){3}")) throw new IOException("dns " + s + ": an IPv4 address, optionally :PORT");
        int port = 53;
        if (p.length == 2) {
            try {
                port = Integer.parseInt(p[1]);
            } catch (NumberFormatException e) {
                port = -1;
            }
            if (port < 1 || port > 65535) throw new IOException("dns " + s + ": the port is 1 to 65535");
        }
        return new InetSocketAddress(InetAddress.getByName(p[0]), port);
    }
}
