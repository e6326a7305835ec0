package org.jvisor.vmm;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.jvisor.sys.NativeException;
import org.jvisor.sys.Tap;

/** Opens the TAP a {@link MachineConfig.Nic} names, gives it the host address when asked, and brings it up. */
final class TapNic {
    private TapNic() {}

    static Tap open(MachineConfig.Nic nic) throws IOException {
        Tap t;
        try {
            t = Tap.open(nic.tap());
        } catch (NativeException e) {
            throw new IOException("cannot open TAP '" + nic.tap() + "' (" + e.getMessage() + "; creating one needs CAP_NET_ADMIN)");
        }
        try {
            if (nic.hostIp() != null) ip("addr", "replace", nic.hostIp(), "dev", t.name()); // replace: a migration's far side finds it set
            ip("link", "set", t.name(), "up");
        } catch (IOException e) {
            t.close();
            throw e;
        }
        return t;
    }

    /** The guest's MAC from its text form (02:4a:56:00:00:01). */
    static byte[] mac(String text) throws IOException {
        String[] b = text == null ? new String[0] : text.split(":");
        if (b.length != 6) throw new IOException("bad MAC address '" + text + "'");
        byte[] mac = new byte[6];
        try {
            for (int k = 0; k < 6; k++) mac[k] = (byte) Integer.parseInt(b[k], 16);
        } catch (NumberFormatException e) {
            throw new IOException("bad MAC address '" + text + "'");
        }
        return mac;
    }

    private static void ip(String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of("ip"));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes()).strip();
        try {
            if (p.waitFor() != 0) throw new IOException(String.join(" ", cmd) + ": " + out);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted");
        }
    }
}
