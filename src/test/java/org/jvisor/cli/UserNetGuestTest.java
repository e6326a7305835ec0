package org.jvisor.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.Random;
import org.jvisor.kit.GuestKit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * `--net user` with the stock guest: its address by DHCP (busybox udhcpc), a ping of the
 * gateway, a name resolved by the test's own DNS stub on the host's loopback (the stack relays
 * to it), 32 MiB fetched with wget from an HTTP server on 127.0.0.1 through the gateway's
 * address, and host clients reaching the guest's nc through hostfwd, both ways; MD5s equal. No
 * TAP and no address beyond the loopback.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class UserNetGuestTest {
    static final int SIZE = 32 << 20;
    static GuestConsole vm;
    static HttpServer http;
    static DatagramSocket dns;
    static Thread dnsThread;
    static byte[] blob;
    static String blobMd5;
    static int forwardPort;

    @BeforeAll
    static void boot() throws Exception {
        GuestKit.ensure(System.out::println);
        blob = new byte[SIZE];
        new Random(32).nextBytes(blob);
        blobMd5 = md5(blob);
        http = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        http.createContext("/blob", ex -> {
            ex.sendResponseHeaders(200, blob.length);
            try (OutputStream o = ex.getResponseBody()) {
                o.write(blob);
            }
        });
        http.start();
        dns = new DatagramSocket(0, InetAddress.getLoopbackAddress());
        dnsThread = Thread.ofVirtual().start(UserNetGuestTest::answerDns);
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            forwardPort = s.getLocalPort();
        }
        vm = new GuestConsole(GuestConsole.jvisorRun("--net", "user,restrict=on,dns=127.0.0.1:" + dns.getLocalPort() + ",hostfwd=tcp:127.0.0.1:" + forwardPort + "-:5000"));
        vm.waitFor(GuestKit.READY, 300);
    }

    /** A DNS stub: "jvisor.test" is 10.0.2.2 (the gateway, so the host's loopback); anything else has no answer. */
    static void answerDns() {
        byte[] buf = new byte[512];
        while (!dns.isClosed()) {
            try {
                DatagramPacket q = new DatagramPacket(buf, buf.length);
                dns.receive(q);
                int n = q.getLength();
                int end = 12;
                while (end < n && buf[end] != 0) end += (buf[end] & 0xFF) + 1;
                end += 5; // the name's last zero, type, class
                if (end > n) continue;
                String name = new String(buf, 13, Math.max(0, end - 18)).replace((char) 4, '.');
                int type = (buf[end - 4] & 0xFF) << 8 | buf[end - 3] & 0xFF;
                boolean a = type == 1 && name.startsWith("jvisor") && name.endsWith("test");
                java.io.ByteArrayOutputStream r = new java.io.ByteArrayOutputStream();
                r.write(buf, 0, 2); // id
                r.write(new byte[] {(byte) 0x81, (byte) 0x80, 0, 1, 0, (byte) (a ? 1 : 0), 0, 0, 0, 0});
                r.write(buf, 12, end - 12);
                if (a) r.write(new byte[] {(byte) 0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 2, 2});
                dns.send(new DatagramPacket(r.toByteArray(), r.size(), q.getSocketAddress()));
            } catch (Exception e) {
                return;
            }
        }
    }

    @AfterAll
    static void cleanUp() throws Exception {
        if (vm != null) vm.close();
        if (http != null) http.stop(0);
        if (dns != null) dns.close();
    }

    static String md5(byte[] b) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("MD5").digest(b));
    }

    @Test
    @Order(1)
    void theGuestGetsItsAddressByDhcpAndPingsTheGateway() throws Exception {
        // udhcpc hands what it got to a script; this one configures the interface the way Debian's does
        vm.command("printf '#!/bin/sh\\n[ \"$1\" = bound ] || exit 0\\nip addr add $ip/$mask dev $interface\\nip route add default via $router\\n"
                + "echo nameserver $dns > /etc/resolv.conf\\n' > /tmp/dhcp.sh; chmod +x /tmp/dhcp.sh; ip link set eth0 up; "
                + "udhcpc -i eth0 -n -q -s /tmp/dhcp.sh && echo dhcp-d\\one", "dhcp-done", 60);
        String addr = vm.shell("ip -4 addr show eth0; ip route; cat /etc/resolv.conf", 30);
        assertTrue(addr.contains("10.0.2.15/24"), addr);
        assertTrue(addr.contains("default via 10.0.2.2"), addr);
        assertTrue(addr.contains("nameserver 10.0.2.3"), addr);
        String ping = vm.shell("ping -c 3 10.0.2.2", 30);
        assertTrue(ping.contains("3 packets received"), ping);
    }

    @Test
    @Order(2)
    void aNameResolvesThroughTheRelayAndWgetFetches32MiBFromTheHostsLoopback() throws Exception {
        String ns = vm.shell("nslookup jvisor.test", 30);
        assertTrue(ns.contains("10.0.2.2"), ns);
        long t0 = System.nanoTime();
        String got = vm.shell("wget -q -O /tmp/blob http://jvisor.test:" + http.getAddress().getPort() + "/blob && md5sum /tmp/blob", 300);
        double s = (System.nanoTime() - t0) / 1e9;
        assertTrue(got.contains(blobMd5), got);
        System.out.printf("usernet: 32 MiB host -> guest by HTTP in %.1f s (%.1f MB/s), MD5 equal%n", s, 32 * 1.048576 / s);
    }

    @Test
    @Order(3)
    void hostClientsReachTheGuestThroughAForwardedPortBothWays() throws Exception {
        byte[] up = new byte[8 << 20];
        new Random(8).nextBytes(up);
        vm.type("nc -l -p 5000 | md5sum | sed 's/^/fwd-md5: /'\n");
        Thread.sleep(2000);
        long t0 = System.nanoTime();
        try (Socket c = connectForward()) {
            c.getOutputStream().write(up);
            c.shutdownOutput();
            vm.waitFor("fwd-md5: " + md5(up), 300);
        }
        double s = (System.nanoTime() - t0) / 1e9;
        System.out.printf("usernet: 8 MiB host -> guest through hostfwd in %.1f s, MD5 equal%n", s);
        // and back: the guest serves the file it fetched; the host reads it whole
        vm.type("nc -l -p 5000 < /tmp/blob\n");
        Thread.sleep(2000);
        t0 = System.nanoTime();
        byte[] back = new byte[SIZE];
        try (Socket c = connectForwardAndRead(back)) {
            c.setSoTimeout(120_000);
            InputStream in = c.getInputStream();
            assertEquals(SIZE - 1, in.readNBytes(back, 1, SIZE - 1));
        }
        vm.command("echo nc-\\done", "nc-done", 60);
        s = (System.nanoTime() - t0) / 1e9;
        assertEquals(blobMd5, md5(back), "the guest's copy came back whole");
        System.out.printf("usernet: 32 MiB guest -> host through hostfwd in %.1f s (%.1f MB/s), MD5 equal%n", s, 32 * 1.048576 / s);
    }

    /** The guest's nc listens a moment after it is typed: a refused or reset connection is tried again. */
    static Socket connectForward() throws Exception {
        long end = System.currentTimeMillis() + 30_000;
        for (;;) {
            Socket c = new Socket(InetAddress.getLoopbackAddress(), forwardPort);
            // the stack accepts at once and then asks the guest; a guest without a listener resets it
            c.setSoTimeout(500);
            try {
                int b = c.getInputStream().read();
                if (b == -1) throw new java.io.IOException("closed by the guest");
                throw new AssertionError("the guest spoke first: " + b);
            } catch (java.net.SocketTimeoutException e) {
                c.setSoTimeout(0);
                return c; // held open: the guest accepted
            } catch (java.io.IOException e) {
                c.close();
                if (System.currentTimeMillis() > end) throw e;
                Thread.sleep(200);
            }
        }
    }

    /** Connects until the guest's nc, which speaks first, sends its first byte (into {@code first[0]}). */
    static Socket connectForwardAndRead(byte[] first) throws Exception {
        long end = System.currentTimeMillis() + 30_000;
        for (;;) {
            Socket c = new Socket(InetAddress.getLoopbackAddress(), forwardPort);
            c.setSoTimeout(5000);
            try {
                int b = c.getInputStream().read();
                if (b == -1) throw new java.io.IOException("closed by the guest");
                first[0] = (byte) b;
                return c;
            } catch (java.io.IOException e) {
                c.close();
                if (System.currentTimeMillis() > end) throw e;
                Thread.sleep(200);
            }
        }
    }

    @Test
    @Order(100)
    void poweroffExitsZero() throws Exception {
        vm.type("poweroff\n");
        assertTrue(vm.process.waitFor(60, java.util.concurrent.TimeUnit.SECONDS), vm.tail());
        assertEquals(0, vm.process.exitValue(), vm.tail());
    }
}
