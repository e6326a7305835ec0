package org.jvisor.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.jvisor.daemon.Daemon;
import org.jvisor.daemon.DaemonHttp;
import org.jvisor.kit.GuestKit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A running VM moved between two jvisord on this host (each with its own state directory, as two
 * hosts with shared storage would be) with `jvisor vm migrate`: the guest's shell goes on with its
 * variables on the far side, the near side forgets the VM, the far side controls it.
 */
class DaemonMigrationGuestTest {
    @Test
    void aRunningVmMovesToAnotherDaemonAndGoesOn(@TempDir Path dir) throws Exception {
        PrintStream quiet = new PrintStream(new ByteArrayOutputStream());
        GuestKit.ensure(System.out::println);
        Path a = dir.resolve("a"), b = dir.resolve("b");
        try (Daemon da = Daemon.start(a, "127.0.0.1:0", quiet); Daemon db = Daemon.start(b, "127.0.0.1:0", quiet)) {
            String ta = Files.readString(a.resolve("admin-token")).strip(), tb = Files.readString(b.resolve("admin-token")).strip();
            DaemonHttp ha = new DaemonHttp(da.port()), hb = new DaemonHttp(db.port());
            Long farPid = null;
            try {
                assertEquals(201, ha.post("/vms", ta, "{\"name\":\"mover\",\"memoryBytes\":268435456}").status());
                assertEquals(200, ha.post("/vms/mover/start", ta, null).status());
                DaemonGuestTest.http = ha;
                DaemonGuestTest.token = ta;
                DaemonGuestTest.waitForConsole("mover", GuestKit.READY, 120);
                DaemonGuestTest.shell("mover", "M=moved-with-me; echo s@et", "s@et", 30);
                DaemonGuestTest.state = a;
                Object[] r = DaemonGuestTest.cli("vm", "migrate", "mover", "--to", "http://127.0.0.1:" + db.port(), "--to-token", tb);
                assertEquals(0, r[0], (String) r[2]);
                assertTrue(((String) r[1]).contains("runs on"), (String) r[1]);
                assertEquals(404, ha.get("/vms/mover", ta).status(), "the near daemon forgot it");
                JsonNode vm = hb.get("/vms/mover", tb).json();
                farPid = vm.get("pid").asLong();
                long end = System.currentTimeMillis() + 30_000;
                while (!hb.get("/vms/mover", tb).json().get("state").asText().equals("running")) {
                    assertTrue(System.currentTimeMillis() < end, "not running on the far side: " + hb.get("/vms/mover", tb).body());
                    Thread.sleep(50);
                }
                DaemonGuestTest.http = hb;
                DaemonGuestTest.token = tb;
                DaemonGuestTest.shell("mover", "echo \"m=$M\"; echo f@ar", "f@ar", 30);
                assertTrue(DaemonGuestTest.console("mover").contains("m=moved-with-me"), DaemonGuestTest.console("mover"));
                boolean migrated = false;
                for (JsonNode e : ha.get("/events", ta).json()) migrated |= e.get("kind").asText().equals("migrated");
                assertTrue(migrated);
                assertEquals(200, hb.post("/vms/mover/stop", tb, null).status());
                farPid = null;
            } finally {
                if (farPid != null) ProcessHandle.of(farPid).ifPresent(ProcessHandle::destroyForcibly);
                for (DaemonHttp h : new DaemonHttp[] {ha, hb}) {
                    try {
                        for (JsonNode v : h.get("/vms", h == ha ? ta : tb).json()) {
                            if (!v.get("pid").isNull()) ProcessHandle.of(v.get("pid").asLong()).ifPresent(ProcessHandle::destroyForcibly);
                        }
                    } catch (Exception e) {
                        // cleaning up
                    }
                }
            }
        }
    }
}
