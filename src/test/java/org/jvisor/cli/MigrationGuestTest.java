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
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.jvisor.kit.GuestKit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * Live migration of a real guest under load between two VMM processes on this host, over TCP on
 * the loopback of a network namespace this test makes: a counter loop, a writer appending to a file on an ext4
 * virtio disk, a loop rewriting files in RAM as fast as it can (dirtying pages all through the
 * pre-copy), and a TCP echo session from the namespace to the guest. A migration to nowhere fails
 * and leaves the guest running; the real one moves it: the source exits 0, and on the destination
 * the counter goes on at the next number, the RAM files hold exactly what was written, the disk
 * file has the right checksum, the TCP session never broke, and e2fsck finds the disk clean.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class MigrationGuestTest {
    static TestNamespace ns;
    static final String HOST = "10.0.3.1", GUEST = "10.0.3.15";
    static final int LINES = 20000;
    static final ObjectMapper JSON = new ObjectMapper();
    static Path dir, disk;
    static GuestConsole a, b;
    static EchoSession echo;

    @BeforeAll
    static void boot() throws Exception {
        GuestKit.ensure(System.out::println);
        dir = Files.createTempDirectory("jvisor-mig");
        disk = dir.resolve("data.img");
        try (var f = java.nio.channels.FileChannel.open(disk, java.nio.file.StandardOpenOption.CREATE_NEW, java.nio.file.StandardOpenOption.WRITE)) {
            f.write(java.nio.ByteBuffer.wrap(new byte[1]), (64L << 20) - 1);
        }
        SnapshotGuestTest.exec("mkfs.ext4", "-q", "-F", disk.toString());
        ns = new TestNamespace("jvisor-migtest");
        a = new GuestConsole(ns.exec(GuestConsole.jvisorRun("--memory", "256M", "--api-socket", dir.resolve("a.sock").toString(),
                "--disk", disk.toString(), "--net", "tap=jvmig0,host-ip=" + HOST + "/24")));
        a.waitFor(GuestKit.READY, 300);
        a.shell("ip addr add " + GUEST + "/24 dev eth0 && ip link set eth0 up && mkdir -p /mnt && mount -t ext4 /dev/vda /mnt", 60);
        a.type("nc -l -p 7000 -e cat &\n");
        a.type("(i=0; while [ $i -lt " + LINES + " ]; do echo \"line $i\" >> /mnt/data; i=$((i+1)); "
                + "[ $((i % 200)) = 0 ] && sync; done; sync; echo WRITER-\\DONE) &\n");
        // The dirtier: copies of the busybox binary, rewritten round after round (each copy takes fresh page-cache pages).
        a.type("(n=0; while [ ! -e /tmp/stop ]; do n=$((n+1)); cp /bin/busybox /tmp/d.$((n % 4)); done; echo DIRTIER-\\DONE $n) &\n");
        a.type("t=0; while :; do t=$((t+1)); echo tick $t; sleep 0.2; done &\n");
        echo = new EchoSession(ns, GUEST, 7000, dir.resolve("stop-echo"));
        long until = System.nanoTime() + 120_000_000_000L;
        while (SnapshotGuestTest.lastTick(a.text()) < 5 || !echo.connected()) {
            assertTrue(System.nanoTime() < until, "no ticks or no echo connection:\n" + a.tail() + "\n" + echo.output());
            Thread.sleep(50);
        }
    }

    @AfterAll
    static void cleanUp() throws Exception {
        if (echo != null) echo.close();
        if (a != null) a.close();
        if (b != null) b.close();
        if (ns != null) ns.close();
    }

    @Test
    @Order(1)
    void aMigrationWithNoDestinationFailsAndTheGuestRunsOn() throws Exception {
        Object[] r = GuestConsole.ctl(dir.resolve("a.sock"), "migrate", "unix:" + dir.resolve("nobody.sock"));
        assertEquals(1, r[0], r[1] + " " + r[2]);
        assertTrue(((String) r[2]).contains("cannot reach"), (String) r[2]);
        int tick = SnapshotGuestTest.lastTick(a.text());
        long until = System.nanoTime() + 30_000_000_000L;
        while (SnapshotGuestTest.lastTick(a.text()) < tick + 3) {
            assertTrue(System.nanoTime() < until, "the guest stopped after the failed migration:\n" + a.tail());
            Thread.sleep(50);
        }
        Object[] info = GuestConsole.ctl(dir.resolve("a.sock"), "info");
        JsonNode m = JSON.readTree((String) info[1]).get("migration");
        assertEquals("failed", m.get("status").asText(), m.toString());
    }

    @Test
    @Order(2)
    void theGuestMovesUnderLoadAndTheSourceExitsZero() throws Exception {
        // Over TCP on the namespace's own loopback (both VMMs run in it); the failed try above used a Unix socket.
        String in = "tcp:127.0.0.1:" + (40000 + ProcessHandle.current().pid() % 20000);
        b = new GuestConsole(ns.exec(GuestConsole.jvisorRun("--incoming", in, "--api-socket", dir.resolve("b.sock").toString())));
        b.waitFor("waiting for a migration", 60);
        Object[] r = GuestConsole.ctl(dir.resolve("a.sock"), "migrate", in);
        assertEquals(0, r[0], r[1] + " " + r[2] + "\n" + b.tail());
        JsonNode p = JSON.readTree((String) r[1]);
        assertEquals("completed", p.get("status").asText(), p.toString());
        assertTrue(p.get("rounds").asInt() >= 2, "pre-copy went round at least once: " + p);
        System.out.printf("migration: %d rounds, %.1f MiB sent, downtime %.1f ms (budget %d), total %.0f ms, converged %b%s%n",
                p.get("rounds").asInt(), p.get("ramBytesSent").asLong() / 1048576.0, p.get("downtimeMillis").asDouble(),
                p.get("downtimeBudgetMillis").asLong(), p.get("totalMillis").asDouble(), p.get("converged").asBoolean(),
                p.get("note").isNull() ? "" : " (" + p.get("note").asText() + ")");
        assertTrue(a.process.waitFor(60, TimeUnit.SECONDS), "the source did not exit:\n" + a.tail());
        assertEquals(0, a.process.exitValue(), a.tail());
        assertTrue(a.text().contains("went to " + in), a.tail());
    }

    @Test
    @Order(3)
    void theCounterGoesOnFromWhereItWas() throws Exception {
        int last = SnapshotGuestTest.lastTick(a.text());
        long until = System.nanoTime() + 60_000_000_000L;
        while (SnapshotGuestTest.lastTick(b.text()) < last + 3) {
            assertTrue(System.nanoTime() < until, "no ticks on the destination:\n" + b.tail());
            Thread.sleep(50);
        }
        assertEquals(last + 1, SnapshotGuestTest.firstTick(b.text()), "source ended at " + last + ":\n" + b.tail());
    }

    @Test
    @Order(4)
    void pagesWrittenDuringThePreCopyArrived() throws Exception {
        b.type("touch /tmp/stop\n");
        b.waitFor("DIRTIER-DONE", 120);
        String out = b.shell("for f in /tmp/d.* /bin/busybox; do md5sum < $f; done", 120);
        List<String> sums = out.lines().map(String::strip).filter(l -> l.matches("[0-9a-f]{32}.*")).map(l -> l.substring(0, 32)).toList();
        assertEquals(5, sums.size(), out);
        for (String sum : sums) assertEquals(sums.getLast(), sum, "a copy differs from /bin/busybox:\n" + out);
        System.out.println("migration: the dirtier made " + b.text().replaceAll("(?s).*DIRTIER-DONE (\\d+).*", "$1") + " copies of busybox");
    }

    @Test
    @Order(5)
    void theDiskWriterFinishesWithTheRightChecksum() throws Exception {
        b.waitFor("WRITER-DONE", 600);
        StringBuilder expected = new StringBuilder();
        for (int i = 0; i < LINES; i++) expected.append("line ").append(i).append('\n');
        String sum = b.shell("md5sum /mnt/data", 120);
        if (!sum.contains(md5(expected.toString().getBytes(StandardCharsets.US_ASCII)))) {
            String where = b.shell("wc -l /mnt/data; awk '{ if ($0 != \"line \" NR-1) { print NR \": \" $0; exit } }' /mnt/data", 120);
            throw new AssertionError("the file on the disk is not what was written: " + sum + "\n" + where);
        }
    }

    @Test
    @Order(6)
    void theTcpSessionFromTheNamespaceNeverBroke() throws Exception {
        echo.finishAndCheck();
    }

    @Test
    @Order(7)
    void theDiskIsCleanAfterwards() throws Exception {
        b.shell("umount /mnt", 60);
        b.type("poweroff -f\n");
        assertTrue(b.process.waitFor(60, TimeUnit.SECONDS), b.tail());
        SnapshotGuestTest.exec("e2fsck", "-fn", disk.toString());
    }

    static String md5(byte[] b) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("MD5").digest(b));
    }
}
