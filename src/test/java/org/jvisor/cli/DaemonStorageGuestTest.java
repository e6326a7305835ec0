package org.jvisor.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import org.jvisor.daemon.DaemonHttp;
import org.jvisor.kit.GuestKit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * jvisord's storage with real guests: an ext4 image imported into a pool (a task with progress),
 * a VM on that volume that reads and writes it, a snapshot with memory taken while a shell holds
 * state, more work, and a rollback that brings back both the shell's variable and the file's old
 * content; then the VM made a template, a linked clone of it booted and shut down by ACPI, and
 * the pool's numbers checked against its volumes. Shares DaemonGuestTest's daemon helpers.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class DaemonStorageGuestTest {
    static Path pool;

    @BeforeAll
    static void start(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        DaemonGuestTest.state = dir.resolve("state");
        Files.createDirectories(DaemonGuestTest.state);
        DaemonGuestTest.startDaemon();
        pool = dir.resolve("pool");
        // an ext4 image with a file in it, made by the host's mkfs
        Path content = Files.createDirectories(dir.resolve("content"));
        Files.writeString(content.resolve("hello.txt"), "hello from the pool\n");
        Path img = dir.resolve("data.img");
        Process p = new ProcessBuilder("mkfs.ext4", "-q", "-F", "-d", content.toString(), img.toString(), "64M").redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertEquals(0, p.waitFor(), out);
        Files.writeString(dir.resolve("image-path"), img.toString());
    }

    @AfterAll
    static void stop() throws Exception {
        DaemonGuestTest.cleanUp();
    }

    static Object[] cli(String... args) {
        return DaemonGuestTest.cli(args);
    }

    @Test
    @Order(1)
    void anImageIsImportedIntoAPoolAndAVmUsesIt() throws Exception {
        Object[] r = cli("pool", "create", "images", pool.toString());
        assertEquals(0, r[0], (String) r[2]);
        Path img = Path.of(Files.readString(DaemonGuestTest.state.getParent().resolve("image-path")));
        r = cli("volume", "import", "images", "data.qcow2", img.toString());
        assertEquals(0, r[0], (String) r[2]);
        assertTrue(((String) r[1]).contains("ready"), (String) r[1]);
        r = cli("vm", "create", "gamma", "--memory", "256M", "--disk", "images:data.qcow2");
        assertEquals(0, r[0], (String) r[2]);
        assertEquals(0, cli("vm", "start", "gamma")[0]);
        DaemonGuestTest.waitForConsole("gamma", GuestKit.READY, 120);
        DaemonGuestTest.shell("gamma", "mkdir -p /mnt && mount /dev/vda /mnt && cat /mnt/hello.txt && echo m@unted", "m@unted", 60);
        assertTrue(DaemonGuestTest.console("gamma").contains("hello from the pool"), DaemonGuestTest.console("gamma"));
    }

    @Test
    @Order(2)
    void aSnapshotWithMemoryIsTakenAndRolledBack() throws Exception {
        DaemonGuestTest.shell("gamma", "X=before-snapshot; echo one > /mnt/state; sync; echo s@aved", "s@aved", 60);
        Object[] r = cli("vm", "snapshot", "gamma", "s1");
        assertEquals(0, r[0], (String) r[2]);
        assertTrue(((String) r[1]).contains("with memory"), (String) r[1]);
        // the guest goes on from the snapshot, in a new VMM: its shell still has X
        DaemonGuestTest.shell("gamma", "echo \"x=$X\" && echo a@fter1", "a@fter1", 60);
        assertTrue(DaemonGuestTest.console("gamma").contains("x=before-snapshot"), DaemonGuestTest.console("gamma"));
        DaemonGuestTest.shell("gamma", "X=after-snapshot; echo two > /mnt/state; sync; echo w@rote", "w@rote", 60);
        r = cli("vm", "rollback", "gamma", "s1");
        assertEquals(0, r[0], (String) r[2]);
        DaemonGuestTest.shell("gamma", "echo \"x=$X state=$(cat /mnt/state)\" && echo r@olled", "r@olled", 60);
        String c = DaemonGuestTest.console("gamma");
        assertTrue(c.contains("x=before-snapshot state=one"), c);
        // a disk-only snapshot of the running VM: the guest goes on where it was
        DaemonGuestTest.shell("gamma", "X=before-disk-snapshot; echo three > /mnt/state; sync; echo s@ynced", "s@ynced", 60);
        r = cli("vm", "snapshot", "gamma", "s2", "--no-memory");
        assertEquals(0, r[0], (String) r[2]);
        assertTrue(((String) r[1]).contains("(disks)"), (String) r[1]);
        DaemonGuestTest.shell("gamma", "echo \"x=$X state=$(cat /mnt/state)\" && echo a@fter2", "a@fter2", 60);
        c = DaemonGuestTest.console("gamma");
        assertTrue(c.contains("x=before-disk-snapshot state=three"), c);
        JsonNode snaps = DaemonGuestTest.http.get("/vms/gamma/snapshots", DaemonGuestTest.token).json();
        assertEquals(2, snaps.size(), snaps.toString());
        assertTrue(snaps.get(0).get("memory").asBoolean());
        assertTrue(!snaps.get(1).get("memory").asBoolean(), snaps.toString());
        try (var files = Files.walk(DaemonGuestTest.state)) {
            // the state the guest was carried over in is gone once it runs again
            assertTrue(files.noneMatch(f -> f.toString().endsWith(".disk-only.state")), "a disk-only snapshot keeps no memory");
        }
        // and the disk chain is sound for an independent reader
        Process q = new ProcessBuilder("qemu-img", "check", pool.resolve("data.qcow2").toString()).redirectErrorStream(true).start();
        String qo = new String(q.getInputStream().readAllBytes());
        assertEquals(0, q.waitFor(), qo);
    }

    @Test
    @Order(3)
    void aTemplatesLinkedCloneBootsAndTheTemplateStaysPut() throws Exception {
        DaemonGuestTest.shell("gamma", "umount /mnt; sync; echo u@mounted", "u@mounted", 60);
        assertEquals(0, cli("vm", "stop", "gamma")[0]);
        assertEquals(0, cli("vm", "template", "gamma")[0]);
        assertEquals(409, DaemonGuestTest.http.post("/vms/gamma/start", DaemonGuestTest.token, null).status(), "a template does not start");
        Object[] r = cli("vm", "clone", "gamma", "delta");
        assertEquals(0, r[0], (String) r[2]);
        JsonNode vol = DaemonGuestTest.http.get("/pools/images/volumes/delta-disk0.qcow2", DaemonGuestTest.token).json();
        assertEquals("data.qcow2", vol.get("backing").asText());
        // its disk held to 2 MiB/s: 8 MiB read by the guest take about 4 s
        DaemonHttp.Answer set = DaemonGuestTest.http.send("PATCH", "/api/v1/vms/delta", DaemonGuestTest.token,
                "{\"disks\":[{\"pool\":\"images\",\"volume\":\"delta-disk0.qcow2\",\"bps\":2097152}],\"diskLatencyAlertMs\":20}");
        assertEquals(200, set.status(), set.body());
        assertEquals(0, cli("vm", "start", "delta")[0]);
        DaemonGuestTest.waitForConsole("delta", GuestKit.READY, 120);
        DaemonGuestTest.shell("delta", "time dd if=/dev/vda of=/dev/null bs=1M count=8 skip=32; echo dd-d@ne", "dd-d@ne", 60);
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("real\\s+(\\d+)m\\s*([0-9.]+)s").matcher(DaemonGuestTest.console("delta"));
        assertTrue(m.find(), DaemonGuestTest.console("delta"));
        double seconds = Integer.parseInt(m.group(1)) * 60 + Double.parseDouble(m.group(2));
        System.out.printf("daemon: 8 MiB read through a 2 MiB/s disk limit in %.1f s%n", seconds);
        assertTrue(seconds > 3.0, "the bps limit did not hold: 8 MiB in " + seconds + " s");
        diskLatencyIsAlertedAndInTheMetrics();
        DaemonGuestTest.shell("delta", "mkdir -p /mnt && mount /dev/vda /mnt && cat /mnt/hello.txt /mnt/state && echo clone-on > /mnt/clone && sync && umount /mnt && echo d@one", "d@one", 60);
        String c = DaemonGuestTest.console("delta");
        assertTrue(c.contains("hello from the pool") && c.contains("one"), c);
        r = cli("vm", "shutdown", "delta", "--timeout", "60");
        assertEquals(0, r[0], (String) r[2]);
        assertTrue(((String) r[1]).contains("powered off"), (String) r[1]);
    }

    /** Requests held by the limit take far longer than the 20 ms threshold: an alert, and a latency histogram that parses. */
    static void diskLatencyIsAlertedAndInTheMetrics() throws Exception {
        long until = System.currentTimeMillis() + 10_000;
        String alerts;
        while (!(alerts = DaemonGuestTest.http.get("/alerts", DaemonGuestTest.token).body()).contains("\"metric\":\"disk-latency\"")) {
            assertTrue(System.currentTimeMillis() < until, "no disk-latency alert: " + alerts + " " + DaemonGuestTest.http.get("/events", DaemonGuestTest.token).body());
            Thread.sleep(200);
        }
        assertTrue(alerts.contains("\"vm\":\"delta\""), alerts);
        String events = DaemonGuestTest.http.get("/events", DaemonGuestTest.token).body();
        assertTrue(events.matches("(?s).*disk-latency at \\d+ ms is above its threshold of 20 ms.*"), events);
        Path f = DaemonGuestTest.state.resolve("metrics-disk.txt");
        Files.writeString(f, DaemonGuestTest.http.send("GET", "/metrics", DaemonGuestTest.token, null).body());
        String python = Files.isExecutable(Path.of("/usr/bin/python3")) ? "/usr/bin/python3" : "python3";
        Process p = new ProcessBuilder(python, "-c", """
                import sys
                from prometheus_client.parser import text_string_to_metric_families
                fams = {m.name: m for m in text_string_to_metric_families(open(sys.argv[1]).read())}
                h = fams["jvisor_vm_disk_request_seconds"]
                assert h.type == "histogram", h.type
                s = {(x.name, x.labels.get("le")): x.value for x in h.samples if x.labels.get("vm") == "delta" and x.labels.get("disk") == "vda"}
                count, total = s[("jvisor_vm_disk_request_seconds_count", None)], s[("jvisor_vm_disk_request_seconds_sum", None)]
                assert count > 0 and s[("jvisor_vm_disk_request_seconds_bucket", "+Inf")] == count, s
                slow = count - s[("jvisor_vm_disk_request_seconds_bucket", "0.025")]
                reads = [x.value for x in fams["jvisor_vm_disk_bytes"].samples if x.labels.get("vm") == "delta" and x.labels.get("op") == "read"]
                assert reads and reads[0] >= 8 << 20, reads
                print("requests", int(count), "slower than 25 ms", int(slow), "seconds", round(total, 1))
                sys.exit(0 if slow > 0 and total > 3 else 1)
                """, f.toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertEquals(0, p.waitFor(), out);
        System.out.println("daemon: disk latency histogram of delta: " + out.strip());
    }

    @Test
    @Order(4)
    void thePoolsNumbersAddUpAndVolumesInUseStay() throws Exception {
        JsonNode p = DaemonGuestTest.http.get("/pools/images", DaemonGuestTest.token).json();
        long alloc = 0, size = 0;
        int n = 0;
        for (JsonNode v : DaemonGuestTest.http.get("/pools/images/volumes", DaemonGuestTest.token).json()) {
            alloc += v.get("allocationBytes").asLong();
            size += v.get("sizeBytes").asLong();
            n++;
        }
        assertEquals(4, n, "data.qcow2, its frozen images of s1 and s2, and the clone's overlay");
        assertEquals(alloc, p.get("allocationBytes").asLong());
        assertEquals(size, p.get("provisionedBytes").asLong());
        assertTrue(p.get("freeBytes").asLong() <= p.get("capacityBytes").asLong());
        assertEquals(409, DaemonGuestTest.http.send("DELETE", "/api/v1/pools/images/volumes/data.qcow2", DaemonGuestTest.token, null).status());
        assertEquals(0, cli("vm", "delete", "delta")[0]);
        assertEquals(204, DaemonGuestTest.http.send("DELETE", "/api/v1/pools/images/volumes/delta-disk0.qcow2", DaemonGuestTest.token, null).status());
        Process q = new ProcessBuilder("qemu-img", "check", pool.resolve("data.qcow2").toString()).redirectErrorStream(true).start();
        q.getInputStream().readAllBytes();
        assertEquals(0, q.waitFor(), "the template's chain is unharmed");
    }
}
