package org.jvisor.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.jvisor.kit.GuestKit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A daemon VM with a NIC: the daemon runs inside a network namespace this test makes, with a TAP
 * there; the VM's NIC names the TAP, and the guest pings the namespace's side of it. The test
 * reaches the daemon with curl inside the namespace, so no packet leaves it.
 */
class DaemonNetworkGuestTest {
    static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void aVmsNicOnATapReachesTheHostSide(@TempDir Path state) throws Exception {
        GuestKit.ensure(System.out::println);
        try (TestNamespace ns = new TestNamespace("jvisor-dnet")) {
            NetworkGuestTest.sh(ns.exec(List.of("ip", "tuntap", "add", "jvd0", "mode", "tap")).toArray(String[]::new));
            NetworkGuestTest.sh(ns.exec(List.of("ip", "addr", "add", "10.0.3.1/24", "dev", "jvd0")).toArray(String[]::new));
            NetworkGuestTest.sh(ns.exec(List.of("ip", "link", "set", "jvd0", "up")).toArray(String[]::new));
            String javaCmd = ProcessHandle.current().info().command().orElse("java");
            Process daemon = new ProcessBuilder(ns.exec(List.of(javaCmd, "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                    "org.jvisor.cli.Main", "daemon", "--listen", "127.0.0.1:0", "--state", state.toString())))
                    .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(state.resolve("daemon.log").toFile()))
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
            Long pid = null;
            try {
                long end = System.currentTimeMillis() + 60_000;
                while (!Files.exists(state.resolve("url"))) {
                    assertTrue(daemon.isAlive() && System.currentTimeMillis() < end, "the daemon did not come up");
                    Thread.sleep(50);
                }
                Api api = new Api(ns, Files.readString(state.resolve("url")).strip(), Files.readString(state.resolve("admin-token")).strip());
                assertEquals(201, api.status("POST", "/vms", "{\"name\":\"net1\",\"nics\":[{\"tap\":\"jvd0\",\"mac\":\"02:4a:56:00:10:01\"}]}"));
                assertEquals(200, api.status("POST", "/vms/net1/start", null));
                pid = api.json("GET", "/vms/net1", null).get("pid").asLong();
                api.waitForConsole(GuestKit.READY, 120);
                api.status("POST", "/vms/net1/console", JSON.writeValueAsString(java.util.Map.of("text",
                        "ip addr add 10.0.3.15/24 dev eth0 && ip link set eth0 up && ping -c 3 10.0.3.1 | grep -o '3 packets received'; echo p\\ing-done\n")));
                api.waitForConsole("ping-done", 60);
                assertTrue(api.console().contains("3 packets received"), api.console());
                assertEquals(200, api.status("POST", "/vms/net1/stop", null));
                pid = null;
            } finally {
                if (pid != null) ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
                daemon.destroyForcibly().waitFor();
            }
        }
    }

    /** The daemon's API through curl inside the namespace. */
    record Api(TestNamespace ns, String url, String token) {
        String call(String method, String path, String body) throws Exception {
            List<String> cmd = new ArrayList<>(List.of("curl", "-s", "-o", "-", "-w", "\n%{http_code}", "-X", method, "-H", "Authorization: Bearer " + token));
            if (body != null) cmd.addAll(List.of("-H", "Content-Type: application/json", "--data-binary", body));
            cmd.add(url + "/api/v1" + path);
            Process p = new ProcessBuilder(ns.exec(cmd)).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            p.waitFor();
            return out;
        }

        int status(String method, String path, String body) throws Exception {
            String out = call(method, path, body);
            return Integer.parseInt(out.substring(out.lastIndexOf('\n') + 1).strip());
        }

        JsonNode json(String method, String path, String body) throws Exception {
            String out = call(method, path, body);
            return JSON.readTree(out.substring(0, out.lastIndexOf('\n')));
        }

        String console() throws Exception {
            JsonNode c = json("GET", "/vms/net1/console", null);
            return c.has("text") ? c.get("text").asText() : "";
        }

        void waitForConsole(String what, int seconds) throws Exception {
            long end = System.currentTimeMillis() + seconds * 1000L;
            while (!console().contains(what)) {
                assertTrue(System.currentTimeMillis() < end, "no '" + what + "' within " + seconds + " s:\n" + console());
                Thread.sleep(200);
            }
        }
    }
}
