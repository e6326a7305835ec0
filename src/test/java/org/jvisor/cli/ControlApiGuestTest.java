package org.jvisor.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
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
 * {@code jvisor run --api-socket} on a real boot, driven by {@code jvisor ctl}: info, a pause that
 * really stops the guest (a counter loop prints nothing, no instruction runs) and a resume that
 * goes on from the same count, the balloon, refusals that change nothing, and a hard stop.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ControlApiGuestTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final Pattern TICK = Pattern.compile("tick (\\d+)");
    static Path dir, socket;
    static GuestConsole vm;

    @BeforeAll
    static void boot() throws Exception {
        dir = Files.createTempDirectory("jvisor-ctl");
        socket = dir.resolve("vm.sock");
        vm = new GuestConsole(GuestConsole.jvisorRun("--api-socket", socket.toString(), "--balloon"));
        vm.waitFor(GuestKit.READY, 300);
    }

    /** Runs `jvisor ctl SOCKET ARGS` on this test's VM; returns {exit code, stdout, stderr}. */
    static Object[] ctl(String... args) {
        return GuestConsole.ctl(socket, args);
    }

    static JsonNode info() throws Exception {
        Object[] r = ctl("info");
        assertEquals(0, r[0], (String) r[2]);
        return JSON.readTree((String) r[1]);
    }

    static int lastTick() {
        Matcher m = TICK.matcher(vm.text());
        int last = -1;
        while (m.find()) last = Integer.parseInt(m.group(1));
        return last;
    }

    @Test
    @Order(1)
    void infoReportsTheRunningVm() throws Exception {
        JsonNode i = info();
        assertEquals("running", i.get("state").asText());
        assertEquals(512L << 20, i.get("memoryBytes").asLong());
        assertEquals(1, i.get("boots").asInt());
        assertTrue(i.get("instructions").asLong() > 0);
        assertTrue(i.get("ramResidentBytes").asLong() > (8L << 20), i.toString());
        assertTrue(i.get("devices").toString().contains("\"balloon\""), i.toString());
        Object[] c = ctl("console");
        assertEquals(0, c[0]);
        assertTrue(((String) c[1]).contains(GuestKit.READY));
    }

    @Test
    @Order(2)
    void pauseStopsTheGuestAndResumeGoesOnFromTheSameCount() throws Exception {
        vm.type("i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.2; done &\n");
        long until = System.nanoTime() + 60_000_000_000L;
        while (lastTick() < 3) {
            assertTrue(System.nanoTime() < until, "no ticks:\n" + vm.tail());
            Thread.sleep(50);
        }
        Object[] p = ctl("pause");
        assertEquals(0, p[0], (String) p[2]);
        Thread.sleep(300); // output already on its way through the pipe lands
        JsonNode before = info();
        assertEquals("paused", before.get("state").asText());
        int tick = lastTick();
        Thread.sleep(1500);
        JsonNode after = info();
        assertEquals(tick, lastTick(), "the guest printed while paused");
        assertEquals(before.get("instructions").asLong(), after.get("instructions").asLong(), "instructions ran while paused");
        Object[] again = ctl("pause");
        assertEquals(1, again[0]);
        assertTrue(((String) again[2]).contains("it is paused") && ((String) again[2]).strip().lines().count() == 1, (String) again[2]);
        assertEquals(0, ctl("resume")[0]);
        until = System.nanoTime() + 30_000_000_000L;
        while (lastTick() < tick + 2) {
            assertTrue(System.nanoTime() < until, "no ticks after resume:\n" + vm.tail());
            Thread.sleep(50);
        }
        assertTrue(vm.text().contains("tick " + (tick + 1) + "\n") || vm.text().contains("tick " + (tick + 1) + "\r\n"), "the count went on from " + tick);
        assertEquals("running", info().get("state").asText());
        assertEquals(1, ctl("resume")[0], "resume of a running VM is refused");
        vm.type("kill %1\n");
    }

    @Test
    @Order(3)
    void theBalloonTakesMemoryFromTheGuest() throws Exception {
        long before = memTotalKiB();
        Object[] r = ctl("balloon", "64M");
        assertEquals(0, r[0], (String) r[2]);
        long until = System.nanoTime() + 60_000_000_000L;
        long now;
        while ((now = memTotalKiB()) > before - 60 * 1024) {
            assertTrue(System.nanoTime() < until, "MemTotal " + before + " -> " + now + " KiB after a 64M balloon");
            Thread.sleep(500);
        }
        assertEquals(0, ctl("balloon", "0")[0]);
        Object[] bad = ctl("balloon", "64X");
        assertEquals(2, bad[0], (String) bad[2]);
        Object[] tooBig = ctl("balloon", "2G");
        assertEquals(1, tooBig[0]);
        assertTrue(((String) tooBig[2]).contains("more than the VM's memory"), (String) tooBig[2]);
    }

    private static long memTotalKiB() throws Exception {
        String out = vm.shell("grep MemTotal /proc/meminfo", 30);
        Matcher m = Pattern.compile("MemTotal:\\s+(\\d+) kB").matcher(out);
        assertTrue(m.find(), out);
        return Long.parseLong(m.group(1));
    }

    @Test
    @Order(4)
    void badUsageAndAMissingSocketAreOneLineErrors() {
        Object[] r = ctl("reboot-now");
        assertEquals(2, r[0]);
        assertTrue(((String) r[2]).contains("unknown action"), (String) r[2]);
        Path saved = socket;
        socket = dir.resolve("nobody.sock");
        try {
            Object[] n = ctl("info");
            assertEquals(1, n[0]);
            assertTrue(((String) n[2]).contains("no API socket"), (String) n[2]);
        } finally {
            socket = saved;
        }
    }

    @Test
    @Order(9)
    void stopEndsTheVmmWithExitZeroAndRemovesTheSocket() throws Exception {
        assertEquals(0, ctl("stop")[0]);
        assertTrue(vm.process.waitFor(30, TimeUnit.SECONDS), "no exit after stop:\n" + vm.tail());
        assertEquals(0, vm.process.exitValue(), vm.tail());
        assertFalse(Files.exists(socket));
    }

    @AfterAll
    static void cleanUp() throws Exception {
        if (vm != null) vm.close();
        try (var s = Files.walk(dir)) {
            for (Path p : s.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }
}
