package org.jvisor.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.jvisor.kit.GuestKit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** jvisor run's bad-input contract: one clear line on stderr, exit code 2, never a stack trace. */
class RunCommandBadInputTest {
    @TempDir Path dir;

    /** Runs `jvisor run ARGS` with no console input; returns stderr after checking the contract. */
    String rejected(String... args) {
        PrintStream oldErr = System.err;
        java.io.InputStream oldIn = System.in;
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        System.setErr(new PrintStream(err, true));
        // The test JVM's real stdin is the build tool's command channel: never let a run read it.
        System.setIn(java.io.InputStream.nullInputStream());
        int rc;
        try {
            List<String> all = new ArrayList<>(List.of("run"));
            all.addAll(List.of(args));
            rc = new CommandLine(new Main()).execute(all.toArray(new String[0]));
        } finally {
            System.setErr(oldErr);
            System.setIn(oldIn);
        }
        String e = err.toString(StandardCharsets.UTF_8);
        assertEquals(2, rc, String.join(" ", args) + " -> " + e);
        assertEquals(1, e.strip().lines().count(), "one line: " + e);
        assertFalse(e.contains("Exception") || e.contains("\tat "), e);
        return e;
    }

    Path file(String name, byte[] content) throws Exception {
        Path p = dir.resolve(name);
        Files.write(p, content);
        return p;
    }

    @Test
    void badKernels() throws Exception {
        Path initrd = file("initrd", new byte[1024]);
        assertTrue(rejected("--kernel", dir.resolve("nope").toString(), "--initrd", initrd.toString()).contains("no such file"));
        assertTrue(rejected("--kernel", dir.toString(), "--initrd", initrd.toString()).contains("not a readable file"));
        byte[] junk = new byte[100_000];
        new java.util.Random(1).nextBytes(junk);
        rejected("--kernel", file("junk", junk).toString(), "--initrd", initrd.toString());
        GuestKit.Kit kit = GuestKit.ensure(s -> { });
        byte[] bz = Files.readAllBytes(kit.kernel());
        Path truncated = file("truncated", java.util.Arrays.copyOf(bz, bz.length / 3));
        rejected("--kernel", truncated.toString(), "--initrd", initrd.toString());
    }

    @Test
    void badMemoryCpusAndCommandLine() {
        assertTrue(rejected("--memory", "0").contains("--memory"));
        assertTrue(rejected("--memory", "abc").contains("--memory"));
        assertTrue(rejected("--memory", "100T").contains("--memory"));
        assertTrue(rejected("--cpus", "2").contains("cpus"));
        String e = rejected("--cmdline", "x".repeat(5000));
        assertTrue(e.contains("command line"), e);
    }

    @Test
    void badDevices() throws Exception {
        assertTrue(rejected("--disk", dir.resolve("missing.img").toString()).contains("no such file"));
        Path img = file("d.img", new byte[1 << 20]);
        assertTrue(rejected("--disk", img + ",readonly=maybe").contains("readonly"));
        assertTrue(rejected("--disk", img + ",colour=blue").contains("unknown option"));
        assertTrue(rejected("--disk", img + ",serial=" + "s".repeat(21)).contains("serial"));
        Path bad = file("bad.qcow2", "QFI\u00fbgarbage".getBytes(StandardCharsets.ISO_8859_1));
        rejected("--disk", bad + ",format=qcow2");
        assertTrue(rejected("--net", "slirp").contains("user"));
        assertTrue(rejected("--net", "user,hostfwd=tcp:2222-22").contains("HOSTPORT"));
        assertTrue(rejected("--net", "user,hostfwd=tcp::70000-:22").contains("1 to 65535"));
        assertTrue(rejected("--net", "user,hostfwd=tcp:1.2.3:22-:22").contains("host address"));
        assertTrue(rejected("--net", "user,dns=resolver").contains("IP[:PORT]"));
        assertTrue(rejected("--net", "user,restrict=maybe").contains("on or off"));
        assertTrue(rejected("--net", "user,host-ip=10.0.2.1/24").contains("10.0.2.2"));
        assertTrue(rejected("--net", "tap,hostfwd=tcp::1-:2").contains("--net user"));
        assertTrue(rejected("--net", "none", "--net", "user").contains("alone"));
        assertTrue(rejected("--net", "tap=" + "x".repeat(16)).contains("interface name"));
        assertTrue(rejected("--net", "tap,mac=01:00:00:00:00:01").contains("multicast"));
        assertTrue(rejected("--net", "tap,mac=zz").contains("mac"));
        assertTrue(rejected("--net", "tap,host-ip=10.0.0.1").contains("CIDR"));
        assertTrue(rejected("--net", "tap,bps=fast").contains("bytes per second"));
        assertTrue(rejected("--net", "tap,rx-bps=-1").contains("rx-bps"));
    }

    @Test
    void badStateFiles() throws Exception {
        assertTrue(rejected("--restore", dir.resolve("nope.state").toString()).contains("no such file"));
        assertTrue(rejected("--restore", file("zeros.state", new byte[8192]).toString()).contains("not a jvisor state file"));
        byte[] good;
        try (var in = getClass().getResourceAsStream("/state/v1.state")) {
            good = in.readAllBytes();
        }
        assertTrue(rejected("--restore", file("cut.state", java.util.Arrays.copyOf(good, good.length - 100)).toString()).contains("truncated"));
        byte[] flipped = good.clone();
        flipped[flipped.length - 40] ^= 1; // inside the index
        assertTrue(rejected("--restore", file("flipped.state", flipped).toString()).contains("damaged"));
        Path ok = file("ok.state", good);
        assertTrue(rejected("--restore", ok.toString(), "--memory", "1G").contains("leave out"));
        assertTrue(rejected("--restore", ok.toString(), "--disk", ok.toString()).contains("leave out"));
    }

    @Test
    void badIncomingMigrations() throws Exception {
        assertTrue(rejected("--incoming", "ftp://example").contains("not a migration URI"));
        assertTrue(rejected("--incoming", "tcp:127.0.0.1:99999").contains("port 99999"));
        assertTrue(rejected("--incoming", "tcp:nohostport").contains("host and port"));
        assertTrue(rejected("--incoming", "unix:").contains("no socket path"));
        assertTrue(rejected("--incoming", "unix:" + dir.resolve("in.sock"), "--memory", "1G").contains("leave out"));
        assertTrue(rejected("--incoming", "unix:" + dir.resolve("in.sock"), "--restore", dir.resolve("x.state").toString()).contains("give one"));
        assertTrue(rejected("--incoming", "unix:" + dir).contains("is a directory"));
    }
}
