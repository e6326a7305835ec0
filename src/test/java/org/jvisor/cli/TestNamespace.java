package org.jvisor.cli;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * A network namespace a guest test makes for itself (its loopback up), so that the VM's TAP and
 * every packet of the test stay inside it; deleted on close.
 */
final class TestNamespace implements AutoCloseable {
    final String name;

    TestNamespace(String prefix) throws IOException, InterruptedException {
        name = prefix + "-" + ProcessHandle.current().pid();
        NetworkGuestTest.sh("ip", "netns", "add", name);
        NetworkGuestTest.sh("ip", "-n", name, "link", "set", "lo", "up");
    }

    /** {@code cmd} run inside the namespace. */
    List<String> exec(List<String> cmd) {
        List<String> all = new ArrayList<>(List.of("ip", "netns", "exec", name));
        all.addAll(cmd);
        return all;
    }

    @Override
    public void close() throws IOException, InterruptedException {
        NetworkGuestTest.sh("ip", "netns", "del", name);
    }
}
