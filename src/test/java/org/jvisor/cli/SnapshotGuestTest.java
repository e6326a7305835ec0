package org.jvisor.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.jvisor.kit.GuestKit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * Snapshot and restore of a real guest in the middle of work: a shell loop printing a counter, a
 * writer appending to a file on an ext4 virtio disk, and a TCP echo session from a network
 * namespace this test makes, through the VM's TAP. The VM is snapshotted paused (with a command
 * typed but not yet read), killed with SIGKILL, and restored in a new VMM process: the counter
 * goes on from where it was, the typed command runs, the file ends with the right checksum, the
 * TCP session carries on without losing a byte, the guest's clock is the host's again, and
 * e2fsck finds the disk clean.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class SnapshotGuestTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final Pattern TICK = Pattern.compile("tick (\\d+)");
    static final int LINES = 20000;
    static final String HOST = "10.0.4.1", GUEST = "10.0.4.15";
    static Path dir, disk, state;
    static GuestConsole vm;
    static EchoSession echo;
    static TestNamespace ns;
    static int tickAtSnapshot;

    @BeforeAll
    static void boot() throws Exception {
        dir = Files.createTempDirectory("jvisor-snap");
        disk = dir.resolve("data.img");
        try (var f = java.nio.channels.FileChannel.open(disk, java.nio.file.StandardOpenOption.CREATE_NEW, java.nio.file.StandardOpenOption.WRITE)) {
            f.truncate(64L << 20);
            f.write(java.nio.ByteBuffer.wrap(new byte[1]), (64L << 20) - 1);
        }
        exec("mkfs.ext4", "-q", "-F", disk.toString());
        state = dir.resolve("vm.state");
        ns = new TestNamespace("jvisor-snaptest");
        vm = new GuestConsole(ns.exec(GuestConsole.jvisorRun("--api-socket", dir.resolve("a.sock").toString(), "--disk", disk.toString(),
                "--rng", "--balloon", "--net", "tap=jvsnap0,host-ip=" + HOST + "/24")));
        vm.waitFor(GuestKit.READY, 300);
    }

    static void exec(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), String.join(" ", cmd) + ": " + out);
    }

    static int lastTick(String text) {
        Matcher m = TICK.matcher(text);
        int last = -1;
        while (m.find()) last = Integer.parseInt(m.group(1));
        return last;
    }

    static int firstTick(String text) {
        Matcher m = TICK.matcher(text);
        return m.find() ? Integer.parseInt(m.group(1)) : -1;
    }

    @Test
    @Order(1)
    void aPausedGuestInTheMiddleOfWorkIsSavedAndKilled() throws Exception {
        vm.shell("ip addr add " + GUEST + "/24 dev eth0 && ip link set eth0 up && mkdir -p /mnt && mount -t ext4 /dev/vda /mnt", 60);
        vm.type("(nc -l -p 7000 -e cat &)\n"); // not a job of this shell: the kill of the jobs later spares it
        echo = new EchoSession(ns, GUEST, 7000, dir.resolve("stop-echo"));
        // The writer: LINES numbered lines, flushed to the disk as it goes, slow enough to be cut in the middle.
        vm.type("(i=0; while [ $i -lt " + LINES + " ]; do echo \"line $i\" >> /mnt/data; i=$((i+1)); "
                + "[ $((i % 200)) = 0 ] && sync; done; sync; echo WRITER-\\DONE) &\n");
        vm.type("t=0; while :; do t=$((t+1)); echo tick $t; sleep 0.2; done &\n");
        long until = System.nanoTime() + 120_000_000_000L;
        while (lastTick(vm.text()) < 5 || !echo.connected()) {
            assertTrue(System.nanoTime() < until, "no ticks or no echo connection:\n" + vm.tail() + "\n" + echo.output());
            Thread.sleep(50);
        }
        Path a = dir.resolve("a.sock");
        assertEquals(0, GuestConsole.ctl(a, "pause")[0]);
        Thread.sleep(300); // what the guest printed before the pause is through the pipe
        tickAtSnapshot = lastTick(vm.text());
        assertTrue(!vm.text().contains("WRITER-DONE"), "the writer finished before the snapshot: make it longer\n" + vm.tail());
        vm.type("echo typed-while-\\paused\n"); // waits in the UART's host side: the guest is not running
        Thread.sleep(300);
        Object[] s = GuestConsole.ctl(a, "snapshot", state.toString(), "--no-resume");
        assertEquals(0, s[0], (String) s[2]);
        JsonNode r = JSON.readTree((String) s[1]);
        assertEquals("paused", r.get("state").asText());
        assertTrue(r.get("ramBytes").asLong() < (512L << 20) / 2, "RAM is written sparsely: " + r);
        assertTrue(Files.size(state) < (512L << 20) / 2, "the state file holds only touched pages: " + Files.size(state));
        System.out.printf("snapshot: %d bytes of RAM, file %d bytes, written in %.0f ms%n", r.get("ramBytes").asLong(), Files.size(state),
                r.get("writeMillis").asDouble());
        vm.process.destroyForcibly().waitFor(); // SIGKILL: nothing of the old VMM survives but the file and the disk
        Thread.sleep(1000);
        assertEquals(tickAtSnapshot, lastTick(vm.text()), "the paused guest printed");
    }

    /** Runs `jvisor run ARGS` to its end; returns {exit code, output}. */
    static Object[] runToEnd(String... args) throws Exception {
        try (GuestConsole c = new GuestConsole(ns.exec(GuestConsole.jvisorRun(args)))) {
            assertTrue(c.process.waitFor(60, TimeUnit.SECONDS), c.tail());
            return new Object[] {c.process.exitValue(), c.text()};
        }
    }

    @Test
    @Order(2)
    void aMissingOrResizedDiskIsRefused() throws Exception {
        Path away = dir.resolve("data.away");
        Files.move(disk, away);
        Object[] r = runToEnd("--restore", state.toString());
        Files.move(away, disk);
        assertEquals(2, r[0], (String) r[1]);
        assertTrue(((String) r[1]).contains("disk " + disk + " is missing"), (String) r[1]);
        try (var f = java.nio.channels.FileChannel.open(disk, java.nio.file.StandardOpenOption.WRITE)) {
            f.write(java.nio.ByteBuffer.wrap(new byte[1]), (65L << 20) - 1); // a MiB longer
        }
        r = runToEnd("--restore", state.toString());
        try (var f = java.nio.channels.FileChannel.open(disk, java.nio.file.StandardOpenOption.WRITE)) {
            f.truncate(64L << 20);
        }
        assertEquals(2, r[0], (String) r[1]);
        assertTrue(((String) r[1]).contains("restore it with the disk it had"), (String) r[1]);
    }

    @Test
    @Order(3)
    void theRestoredGuestGoesOnWhereItStopped() throws Exception {
        Path b = dir.resolve("b.sock");
        long t0 = System.nanoTime();
        vm = new GuestConsole(ns.exec(GuestConsole.jvisorRun("--restore", state.toString(), "--api-socket", b.toString())));
        long until = System.nanoTime() + 120_000_000_000L;
        while (lastTick(vm.text()) < tickAtSnapshot + 3) {
            assertTrue(vm.process.isAlive(), "the restored VMM exited:\n" + vm.tail());
            assertTrue(System.nanoTime() < until, "no ticks after the restore:\n" + vm.tail());
            Thread.sleep(20);
        }
        System.out.printf("restore: ticking again %.0f ms after the VMM started%n", (System.nanoTime() - t0) / 1e6);
        assertEquals(tickAtSnapshot + 1, firstTick(vm.text()), "the counter did not go on from " + tickAtSnapshot + ":\n" + vm.tail());
        vm.waitFor("typed-while-paused", 60);
        JsonNode info = JSON.readTree((String) GuestConsole.ctl(b, "info")[1]);
        assertEquals("running", info.get("state").asText());
        assertEquals(4, info.get("devices").size(), info.toString()); // the disk, NIC, rng and balloon, rebuilt from the state file
    }

    @Test
    @Order(4)
    void theFileOnTheDiskFinishesWithTheRightChecksum() throws Exception {
        vm.waitFor("WRITER-DONE", 600);
        vm.type("kill $(jobs -p) 2>/dev/null\n");
        Thread.sleep(1000);
        StringBuilder expected = new StringBuilder();
        for (int i = 0; i < LINES; i++) expected.append("line ").append(i).append('\n');
        String md5 = HexFormat.of().formatHex(MessageDigest.getInstance("MD5").digest(expected.toString().getBytes(StandardCharsets.US_ASCII)));
        String got = vm.shell("md5sum /mnt/data", 120);
        assertTrue(got.startsWith(md5), "md5sum in the guest: " + got + ", expected " + md5);
    }

    @Test
    @Order(5)
    void theTcpSessionCarriedOnAcrossTheRestore() throws Exception {
        echo.finishAndCheck();
    }

    @Test
    @Order(6)
    void theGuestClockIsTheHostsAgain() throws Exception {
        long guest = Long.parseLong(vm.shell("date +%s", 60).lines().reduce((x, y) -> y).orElse("0").strip());
        long host = System.currentTimeMillis() / 1000;
        assertTrue(Math.abs(guest - host) <= 5, "guest time " + guest + ", host time " + host);
    }

    @Test
    @Order(7)
    void theDiskIsCleanAfterAPoweroff() throws Exception {
        vm.shell("umount /mnt", 120);
        vm.type("poweroff -f\n");
        assertTrue(vm.process.waitFor(120, TimeUnit.SECONDS), vm.tail());
        assertEquals(0, vm.process.exitValue(), vm.tail());
        exec("e2fsck", "-f", "-n", disk.toString());
    }

    @AfterAll
    static void cleanUp() throws Exception {
        if (echo != null) echo.close();
        if (vm != null) vm.close();
        if (ns != null) ns.close();
        if (dir != null) {
            try (var s = Files.walk(dir)) {
                for (Path p : s.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
            }
        }
    }
}
