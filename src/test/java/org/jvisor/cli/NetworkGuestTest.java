package org.jvisor.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import org.jvisor.kit.GuestKit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * virtio-net on a TAP, end to end: `jvisor run --net tap=...,host-ip=...` runs inside a network
 * namespace this test creates, so every packet stays between the guest and that namespace. Ping
 * both ways and a 64 MiB TCP transfer to busybox nc, with the same MD5 on both sides.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class NetworkGuestTest {
    static TestNamespace ns;
    static final String HOST = "10.0.2.1", GUEST = "10.0.2.15", LIMITED_GUEST = "10.0.3.15";
    static final long LIMIT = 2 << 20;
    static GuestConsole vm;
    static Path payload, socketDir;

    @BeforeAll
    static void boot() throws Exception {
        GuestKit.ensure(System.out::println);
        ns = new TestNamespace("jvisor-nettest");
        socketDir = Files.createTempDirectory("jvisor-nettest");
        // a second NIC held to 2 MiB/s each way
        vm = new GuestConsole(ns.exec(GuestConsole.jvisorRun("--net", "tap=jvnet0,host-ip=" + HOST + "/24",
                "--net", "tap=jvnet1,host-ip=10.0.3.1/24,bps=" + LIMIT, "--api-socket", socketDir.resolve("vm.sock").toString())));
        vm.waitFor(GuestKit.READY, 300);
        vm.command("ip addr add " + GUEST + "/24 dev eth0 && ip link set eth0 up && ip addr add " + LIMITED_GUEST
                + "/24 dev eth1 && ip link set eth1 up && echo net-up", "net-up", 60);
    }

    @AfterAll
    static void cleanUp() throws Exception {
        if (vm != null) vm.close();
        if (ns != null) ns.close();
        if (payload != null) Files.deleteIfExists(payload);
        if (socketDir != null) {
            Files.deleteIfExists(socketDir.resolve("vm.sock"));
            Files.deleteIfExists(socketDir);
        }
    }

    static String sh(String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (p.waitFor() != 0) throw new AssertionError(String.join(" ", cmd) + " failed:\n" + out);
        return out;
    }

    @Test
    @Order(1)
    void guestPingsTheHost() throws Exception {
        vm.command("ping -c 3 " + HOST + " | grep -o '3 packets received'; echo ping-done", "ping-done", 60);
        assertTrue(vm.tail().contains("3 packets received"), vm.tail());
    }

    @Test
    @Order(2)
    void hostPingsTheGuest() throws Exception {
        String out = sh(ns.exec(List.of("ping", "-c", "3", "-W", "5", GUEST)).toArray(String[]::new));
        assertTrue(out.contains("3 received"), out);
    }

    @Test
    @Order(3)
    void tcpTransferOf64MiBKeepsItsChecksum() throws Exception {
        payload = Files.createTempFile("jvisor-net", ".bin");
        byte[] data = new byte[64 << 20];
        new Random(20261121).nextBytes(data);
        Files.write(payload, data);
        String md5 = HexFormat.of().formatHex(MessageDigest.getInstance("MD5").digest(data));
        vm.type("nc -l -p 5000 | md5sum | sed 's/^/guest-md5: /'\n");
        Thread.sleep(3000);
        long t0 = System.nanoTime();
        String send = "import socket,sys,time\n"
                + "for i in range(50):\n"
                + "    try:\n"
                + "        s = socket.create_connection(('" + GUEST + "', 5000)); break\n"
                + "    except OSError: time.sleep(0.2)\n"
                + "s.sendall(open(sys.argv[1], 'rb').read()); s.close()\n";
        sh(ns.exec(List.of("python3", "-c", send, payload.toString())).toArray(String[]::new));
        vm.waitFor("guest-md5: " + md5, 300);
        double s = (System.nanoTime() - t0) / 1e9;
        System.out.printf("net: 64 MiB host -> guest over TCP in %.1f s (%.1f MB/s), MD5 equal%n", s, 64 * 1.048576 / s);
    }

    /** Sends {@code data} from the namespace to the guest's nc on {@code address}; returns the seconds until the guest printed its MD5. */
    static double sendToGuest(String address, byte[] data) throws Exception {
        Path file = Files.createTempFile("jvisor-net", ".bin");
        try {
            Files.write(file, data);
            String md5 = HexFormat.of().formatHex(MessageDigest.getInstance("MD5").digest(data));
            vm.type("nc -l -p 5001 | md5sum | sed 's/^/guest-md5: /'\n");
            Thread.sleep(3000);
            long t0 = System.nanoTime();
            String send = "import socket,sys,time\n"
                    + "for i in range(50):\n"
                    + "    try:\n"
                    + "        s = socket.create_connection(('" + address + "', 5001)); break\n"
                    + "    except OSError: time.sleep(0.2)\n"
                    + "s.sendall(open(sys.argv[1], 'rb').read()); s.close()\n";
            sh(ns.exec(List.of("python3", "-c", send, file.toString())).toArray(String[]::new));
            vm.waitFor("guest-md5: " + md5, 300);
            return (System.nanoTime() - t0) / 1e9;
        } finally {
            Files.deleteIfExists(file);
        }
    }

    @Test
    @Order(4)
    void aRateLimitedNicHoldsTcpToItsLimitAndCountsWhatPassed() throws Exception {
        byte[] data = new byte[8 << 20];
        new Random(4).nextBytes(data);
        double s = sendToGuest(LIMITED_GUEST, data);
        System.out.printf("net: 8 MiB through a 2 MiB/s NIC limit in %.1f s%n", s);
        // 8 MiB at 2 MiB/s is 4 s, less the tenth of a second of burst; without the limit it takes well under a second
        assertTrue(s > 3.5, "8 MiB through a 2 MiB/s limit took only " + s + " s");
        Object[] r = GuestConsole.ctl(socketDir.resolve("vm.sock"), "info");
        assertEquals(0, r[0], (String) r[2]);
        com.fasterxml.jackson.databind.JsonNode nic = null;
        for (var d : new com.fasterxml.jackson.databind.ObjectMapper().readTree((String) r[1]).get("devices"))
            if ("jvnet1".equals(d.path("name").asText())) nic = d;
        assertTrue(nic != null, (String) r[1]);
        var stats = nic.get("stats");
        assertTrue(stats.get("rxBytes").asLong() >= data.length, stats.toString());
        assertTrue(stats.get("rxPackets").asLong() > 100, stats.toString());
        assertTrue(stats.get("rxThrottled").asLong() > 0, stats.toString());
        assertTrue(stats.get("txPackets").asLong() > 0, "the guest's ACKs went out: " + stats);
    }

    @Test
    @Order(100)
    void poweroffExitsZero() throws Exception {
        vm.type("poweroff\n");
        assertTrue(vm.process.waitFor(60, java.util.concurrent.TimeUnit.SECONDS), vm.tail());
        assertEquals(0, vm.process.exitValue(), vm.tail());
    }
}
