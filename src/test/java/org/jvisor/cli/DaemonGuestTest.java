package org.jvisor.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.jvisor.daemon.DaemonHttp;
import org.jvisor.kit.GuestKit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * jvisord with real guests: a daemon process on a loopback port and a state directory of this
 * test's, two VMs from the guest kit started through the API and the CLI, their consoles used,
 * the daemon killed with -9 and started again (both VMs run on and answer), a VMM killed from
 * outside (crashed within a second; with restart=on-failure it comes back), an ACPI shutdown,
 * and /metrics read by a Prometheus text parser while the counters move.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class DaemonGuestTest {
    @TempDir static Path state; // DaemonStorageGuestTest points it elsewhere for its own daemon
    static Process daemon;
    static DaemonHttp http;
    static String token;
    static final List<Long> vmmPids = new ArrayList<>();

    @BeforeAll
    static void startDaemon() throws Exception {
        GuestKit.ensure(System.out::println); // the VMMs find the kit ready
        daemon = startDaemonProcess();
        token = Files.readString(state.resolve("admin-token")).strip();
    }

    static Process startDaemonProcess() throws Exception {
        Files.deleteIfExists(state.resolve("url"));
        String java = ProcessHandle.current().info().command().orElse("java");
        Process p = new ProcessBuilder(java, "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                "org.jvisor.cli.Main", "daemon", "--listen", "127.0.0.1:0", "--state", state.toString())
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(state.resolve("daemon.log").toFile()))
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
        long end = System.currentTimeMillis() + 60_000;
        while (!Files.exists(state.resolve("url"))) {
            if (!p.isAlive()) throw new AssertionError("the daemon exited:\n" + Files.readString(state.resolve("daemon.log")));
            if (System.currentTimeMillis() > end) throw new AssertionError("the daemon did not come up");
            Thread.sleep(50);
        }
        String url = Files.readString(state.resolve("url")).strip();
        http = new DaemonHttp(Integer.parseInt(url.substring(url.lastIndexOf(':') + 1)));
        return p;
    }

    @AfterAll
    static void cleanUp() throws Exception {
        for (long pid : vmmPids) ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
        vmmPids.clear();
        if (http != null) {
            try {
                for (JsonNode vm : http.get("/vms", token).json()) {
                    if (!vm.get("pid").isNull()) ProcessHandle.of(vm.get("pid").asLong()).ifPresent(ProcessHandle::destroyForcibly);
                }
            } catch (Exception e) {
                // the daemon is gone already
            }
        }
        if (daemon != null) daemon.destroyForcibly().waitFor();
    }

    /** Runs `jvisor ARGS --state STATE` in this JVM; returns {exit code, stdout, stderr}. */
    static Object[] cli(String... args) {
        PrintStream out = System.out, err = System.err;
        ByteArrayOutputStream o = new ByteArrayOutputStream(), e = new ByteArrayOutputStream();
        System.setOut(new PrintStream(o, true));
        System.setErr(new PrintStream(e, true));
        try {
            List<String> all = new ArrayList<>(List.of(args));
            all.addAll(List.of("--state", state.toString()));
            int rc = new CommandLine(new Main()).execute(all.toArray(String[]::new));
            return new Object[] {rc, o.toString(StandardCharsets.UTF_8), e.toString(StandardCharsets.UTF_8)};
        } finally {
            System.setOut(out);
            System.setErr(err);
        }
    }

    static JsonNode vm(String name) throws Exception {
        return http.get("/vms/" + name, token).json();
    }

    static String console(String name) throws Exception {
        DaemonHttp.Answer a = http.get("/vms/" + name + "/console", token);
        return a.status() == 200 ? a.json().get("text").asText() : "";
    }

    static void waitForConsole(String name, String what, int seconds) throws Exception {
        long end = System.currentTimeMillis() + seconds * 1000L;
        while (!console(name).contains(what)) {
            if (System.currentTimeMillis() > end) throw new AssertionError(name + " printed no '" + what + "' within " + seconds + " s:\n" + console(name));
            Thread.sleep(100);
        }
    }

    /** Types a command whose output holds a marker the typing's echo cannot (the backslash), and waits for it. */
    static void shell(String name, String command, String marker, int seconds) throws Exception {
        String typed = command.replace(marker, marker.substring(0, 1) + "\\" + marker.substring(1));
        assertEquals(204, http.post("/vms/" + name + "/console", token, DaemonHttp.JSON.writeValueAsString(Map.of("text", typed + "\n"))).status());
        waitForConsole(name, marker, seconds);
    }

    static String waitForState(String name, String wanted, long millis) throws Exception {
        long end = System.currentTimeMillis() + millis;
        String s;
        while (!(s = vm(name).get("state").asText()).equals(wanted)) {
            if (System.currentTimeMillis() > end) return s;
            Thread.sleep(50);
        }
        return s;
    }

    @Test
    @Order(1)
    void twoVmsAreCreatedStartedAndListedAsRunning() throws Exception {
        assertEquals(0, cli("vm", "create", "alpha", "--memory", "256M", "--restart", "on-failure")[0]);
        assertEquals(201, http.post("/vms", token, "{\"name\":\"beta\",\"memoryBytes\":268435456}").status());
        Object[] bad = cli("vm", "create", "alpha");
        assertEquals(1, bad[0]);
        assertTrue(((String) bad[2]).contains("exists"), (String) bad[2]);
        Object[] a = cli("vm", "start", "alpha");
        assertEquals(0, a[0], (String) a[2]);
        DaemonHttp.Answer b = http.post("/vms/beta/start", token, null);
        assertEquals(200, b.status(), b.body());
        assertEquals(409, http.post("/vms/beta/start", token, null).status(), "no double start");
        waitForConsole("alpha", GuestKit.READY, 120);
        waitForConsole("beta", GuestKit.READY, 120);
        String list = (String) cli("vm", "list")[1];
        assertTrue(list.matches("(?s).*alpha\\s+running.*beta\\s+running.*"), list);
        for (String n : new String[] {"alpha", "beta"}) vmmPids.add(vm(n).get("pid").asLong());
        JsonNode host = http.get("/host", token).json();
        assertEquals(2, host.get("running").asInt());
        assertEquals(512L << 20, host.get("memoryRunningBytes").asLong());
    }

    @Test
    @Order(2)
    void typingIntoOneConsoleRunsTheCommandThere() throws Exception {
        Object[] r = cli("vm", "console", "alpha", "--type", "echo hello-from-@lpha\\n");
        assertEquals(0, r[0], (String) r[2]);
        waitForConsole("alpha", "hello-from-@lpha", 30);
        shell("alpha", "echo \"alpha-ok $((6*7))\"", "alpha-ok 42", 30);
        assertTrue(!console("beta").contains("hello-from"), "beta's console is its own");
        assertEquals(0, cli("vm", "pause", "beta")[0]);
        assertEquals("paused", vm("beta").get("state").asText());
        assertEquals(0, cli("vm", "resume", "beta")[0]);
        assertEquals("running", waitForState("beta", "running", 2000));
    }

    /** CPU seconds the process used over {@code millis}, per second: the cores it kept busy. */
    static double coresUsed(long pid, long millis) throws Exception {
        double c0 = cpuSeconds(pid);
        long t0 = System.nanoTime();
        Thread.sleep(millis);
        return (cpuSeconds(pid) - c0) / ((System.nanoTime() - t0) / 1e9);
    }

    static double cpuSeconds(long pid) throws Exception {
        String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return (Long.parseLong(f[11]) + Long.parseLong(f[12])) / 100.0;
    }

    /** A CPU limit set on a running VM holds its VMM to it at once (cgroups), and lifting it gives the core back. */
    @Test
    @Order(3)
    void aCpuLimitTakesHoldAtOnce() throws Exception {
        long pid = vm("beta").get("pid").asLong();
        shell("beta", "(while :; do :; done) & echo b@usy", "b@usy", 30);
        try {
            // a CPU alert at 50 % of a core: the busy guest passes it
            assertEquals(200, http.send("PATCH", "/api/v1/vms/beta", token, "{\"cpuAlertPercent\":50}").status());
            long until = System.currentTimeMillis() + 15_000;
            while (!http.get("/alerts", token).body().contains("\"vm\":\"beta\"")) {
                assertTrue(System.currentTimeMillis() < until, "no CPU alert for the busy beta: " + http.get("/events", token).body());
                Thread.sleep(200);
            }
            DaemonHttp.Answer a = http.send("PATCH", "/api/v1/vms/beta", token, "{\"cpuLimit\":0.25}");
            assertEquals(200, a.status(), a.body());
            JsonNode v = vm("beta");
            assertEquals("enforced", v.get("limits").asText(), v.toString());
            assertTrue(!v.get("pendingRestart").asBoolean(), "a limit needs no restart");
            Thread.sleep(500);
            double limited = coresUsed(pid, 3000);
            until = System.currentTimeMillis() + 10_000;
            while (http.get("/alerts", token).body().contains("\"vm\":\"beta\"")) {
                assertTrue(System.currentTimeMillis() < until, "the alert stands under the 25 % limit: " + http.get("/alerts", token).body());
                Thread.sleep(200);
            }
            assertEquals(200, http.send("PATCH", "/api/v1/vms/beta", token, "{\"cpuLimit\":0,\"cpuAlertPercent\":0}").status());
            Thread.sleep(500);
            double free = coresUsed(pid, 3000);
            System.out.printf("daemon: a busy guest's VMM used %.2f cores with cpuLimit 0.25, %.2f without%n", limited, free);
            assertTrue(limited < 0.4, "with cpuLimit 0.25 the VMM used " + limited + " cores");
            assertTrue(free > limited * 1.5, "without the limit " + free + " cores, with it " + limited);
        } finally {
            shell("beta", "kill %1; echo st@opped", "st@opped", 30);
        }
        assertEquals(400, http.send("PATCH", "/api/v1/vms/beta", token, "{\"memoryLimitBytes\":300000000}").status(), "below RAM + the VMM's room");
    }

    /**
     * A resource group's CPU limit holds its VMs together (both busy, their VMMs share 0.3 of a
     * core), and its memory reservation is admission control: a running VM's reservation that
     * does not fit is refused, as is the start of one more.
     */
    @Test
    @Order(3)
    void aResourceGroupSharesItsLimitAndGuardsItsReservation() throws Exception {
        Object[] g = cli("group", "create", "pair", "--cpu-limit", "0.3", "--memory-reservation", "256M");
        assertEquals(0, g[0], (String) g[2]);
        long a = vm("alpha").get("pid").asLong(), b = vm("beta").get("pid").asLong();
        shell("alpha", "(while :; do :; done) & echo a@busy", "a@busy", 30);
        shell("beta", "(while :; do :; done) & echo b@busy", "b@busy", 30);
        try {
            for (String n : new String[] {"alpha", "beta"}) {
                Object[] r = cli("vm", "set", n, "--group", "pair");
                assertEquals(0, r[0], (String) r[2]);
                assertEquals("enforced", vm(n).get("limits").asText(), vm(n).toString());
            }
            String list = (String) cli("group", "list")[1];
            assertTrue(list.matches("(?s).*pair\\s+0\\.3\\s+-\\s+-\\s+256M\\s+alpha\\* beta\\*.*"), list);
            Thread.sleep(500);
            double[] c0 = {cpuSeconds(a), cpuSeconds(b)};
            long t0 = System.nanoTime();
            Thread.sleep(4000);
            double wall = (System.nanoTime() - t0) / 1e9;
            double both = (cpuSeconds(a) - c0[0] + cpuSeconds(b) - c0[1]) / wall;
            System.out.printf("daemon: two busy guests in a group with cpuLimit 0.3 used %.2f cores together%n", both);
            assertTrue(both < 0.45, "the group's two VMMs used " + both + " cores under a limit of 0.3");

            assertEquals(200, http.send("PATCH", "/api/v1/vms/alpha", token, "{\"memoryReservationBytes\":209715200}").status());
            DaemonHttp.Answer over = http.send("PATCH", "/api/v1/vms/beta", token, "{\"memoryReservationBytes\":209715200}");
            assertEquals(409, over.status(), over.body());
            assertTrue(over.body().contains("group 'pair'") && over.body().contains("alpha 200 MiB"), over.body());
            assertTrue(vm("beta").get("spec").path("memoryReservationBytes").isNull()
                    || vm("beta").get("spec").path("memoryReservationBytes").isMissingNode(), "a refused change changes nothing");
            assertEquals(201, http.post("/vms", token, "{\"name\":\"gamma\",\"group\":\"pair\",\"memoryReservationBytes\":104857600}").status());
            DaemonHttp.Answer start = http.post("/vms/gamma/start", token, null);
            assertEquals(409, start.status(), start.body());
            assertTrue(start.body().contains("56 MiB left"), start.body());
            assertEquals("stopped", vm("gamma").get("state").asText());
            assertEquals(1, cli("group", "delete", "pair")[0], "a group with VMs stays");
        } finally {
            shell("alpha", "kill %1; echo a@stopped", "a@stopped", 30);
            shell("beta", "kill %1; echo b@stopped", "b@stopped", 30);
            http.send("DELETE", "/api/v1/vms/gamma", token, null);
            for (String n : new String[] {"alpha", "beta"}) {
                assertEquals(200, http.send("PATCH", "/api/v1/vms/" + n, token, "{\"group\":\"\",\"memoryReservationBytes\":0}").status());
            }
        }
        Object[] d = cli("group", "delete", "pair");
        assertEquals(0, d[0], (String) d[2]);
        assertEquals(0L, http.get("/host", token).json().get("memoryReservedBytes").asLong());
    }

    /** The console as a WebSocket (the JDK's client): history first, then what a typed command prints. */
    @Test
    @Order(3)
    void theConsoleIsAWebSocketWithItsHistory() throws Exception {
        StringBuffer got = new StringBuffer();
        java.util.concurrent.CountDownLatch answered = new java.util.concurrent.CountDownLatch(1);
        java.net.http.WebSocket.Listener listener = new java.net.http.WebSocket.Listener() {
            @Override
            public java.util.concurrent.CompletionStage<?> onBinary(java.net.http.WebSocket ws, java.nio.ByteBuffer data, boolean last) {
                byte[] b = new byte[data.remaining()];
                data.get(b);
                got.append(new String(b, StandardCharsets.ISO_8859_1));
                if (got.indexOf("ws-@ok 9") >= 0) answered.countDown();
                ws.request(1);
                return null;
            }
        };
        java.net.http.HttpClient client = java.net.http.HttpClient.newHttpClient();
        String uri = "ws://127.0.0.1:" + http.port() + "/api/v1/vms/beta/console/ws";
        java.net.http.WebSocket ws = client.newWebSocketBuilder().header("Authorization", "Bearer " + token)
                .buildAsync(java.net.URI.create(uri), listener).get(10, java.util.concurrent.TimeUnit.SECONDS);
        ws.sendText("echo ws-\\@ok $((4+5))\n", true).get(10, java.util.concurrent.TimeUnit.SECONDS);
        assertTrue(answered.await(30, java.util.concurrent.TimeUnit.SECONDS), "no answer over the WebSocket:\n" + got);
        assertTrue(got.indexOf(GuestKit.READY) >= 0, "the history comes first: " + got);
        ws.sendClose(1000, "done").get(10, java.util.concurrent.TimeUnit.SECONDS);
        var e = org.junit.jupiter.api.Assertions.assertThrows(java.util.concurrent.ExecutionException.class,
                () -> client.newWebSocketBuilder().buildAsync(java.net.URI.create(uri), listener).get(10, java.util.concurrent.TimeUnit.SECONDS));
        assertTrue(e.getCause() instanceof java.net.http.WebSocketHandshakeException h && h.getResponse().statusCode() == 401, String.valueOf(e.getCause()));
    }

    @Test
    @Order(3)
    void metricsParseAndTheirCountersMove() throws Exception {
        double before = instructions("alpha");
        shell("alpha", "i=0; while [ $i -lt 3000 ]; do i=$((i+1)); done; echo loop-done", "loop-done", 60);
        double after = instructions("alpha");
        assertTrue(after > before, "guest instructions " + before + " -> " + after);
        // and the whole page is valid Prometheus text, read by the Prometheus project's own parser
        String text = http.send("GET", "/metrics", token, null).body();
        Path f = state.resolve("metrics.txt");
        Files.writeString(f, text);
        String python = Files.isExecutable(Path.of("/usr/bin/python3")) ? "/usr/bin/python3" : "python3"; // Debian's, where apt puts its modules
        Process p = new ProcessBuilder(python, "-c", """
                import sys
                from prometheus_client.parser import text_string_to_metric_families
                names = {m.name for m in text_string_to_metric_families(open(sys.argv[1]).read())}
                need = {"jvisor_vm_guest_instructions", "jvisor_vmm_rss_bytes", "jvisor_vm_state", "jvisor_host_vms", "jvisor_api_requests"}
                missing = need - names
                print("missing:", missing) if missing else print("parsed", len(names), "families")
                sys.exit(1 if missing else 0)
                """, f.toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertEquals(0, p.waitFor(), out);
    }

    static double instructions(String vm) throws Exception {
        String text = http.send("GET", "/metrics", token, null).body();
        Matcher m = Pattern.compile("(?m)^jvisor_vm_guest_instructions_total\\{vm=\"" + vm + "\"} (\\S+)").matcher(text);
        assertTrue(m.find(), text);
        return Double.parseDouble(m.group(1));
    }

    @Test
    @Order(4)
    void aKilledDaemonLosesNoVmAndItsSuccessorControlsThem() throws Exception {
        Map<String, Long> pids = new TreeMap<>();
        for (String n : new String[] {"alpha", "beta"}) pids.put(n, vm(n).get("pid").asLong());
        // and a task in flight: an import of 256 MiB of data
        Path pool = state.resolve("pool"), big = state.resolve("big.img");
        assertEquals(201, http.post("/pools", token, "{\"name\":\"p\",\"path\":\"" + pool + "\",\"reservePercent\":0}").status());
        byte[] chunk = new byte[1 << 20];
        new java.util.Random(3).nextBytes(chunk);
        try (var out = Files.newOutputStream(big)) {
            for (int i = 0; i < 256; i++) out.write(chunk);
        }
        DaemonHttp.Answer imp = http.post("/pools/p/volumes/import", token, "{\"name\":\"big.qcow2\",\"source\":\"" + big + "\"}");
        assertEquals(202, imp.status(), imp.body());
        String task = imp.json().get("taskId").asText();
        Thread.sleep(100);
        daemon.destroyForcibly().waitFor(); // kill -9
        for (long pid : pids.values()) assertTrue(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "VMM " + pid + " died with the daemon");
        daemon = startDaemonProcess();
        for (String n : pids.keySet()) {
            assertEquals("running", waitForState(n, "running", 10_000), n);
            assertEquals((long) pids.get(n), vm(n).get("pid").asLong(), n + " is the same VMM; events: " + http.get("/events", token).body()
                    + "\ndaemon log:\n" + Files.readString(state.resolve("daemon.log")));
        }
        shell("beta", "echo \"beta-after-restart $((2+3))\"", "beta-after-restart 5", 30);
        JsonNode t = http.get("/tasks/" + task, token).json();
        assertTrue(t.get("state").asText().equals("failed") || t.get("state").asText().equals("succeeded"), "the task in flight is finished or failed: " + t);
        try (var files = Files.list(pool)) {
            List<String> names = files.map(f -> f.getFileName().toString()).toList();
            assertTrue(t.get("state").asText().equals("succeeded") ? names.equals(List.of("big.qcow2")) : names.isEmpty(), "no half volume: " + names);
        }
        Files.delete(big);
        boolean adopted = false;
        for (JsonNode e : http.get("/events", token).json()) adopted |= e.get("kind").asText().equals("adopted");
        assertTrue(adopted);
    }

    @Test
    @Order(5)
    void aVmmKilledFromOutsideIsCrashedWithinASecondAndOnFailureComesBack() throws Exception {
        long beta = vm("beta").get("pid").asLong();
        long t0 = System.currentTimeMillis();
        ProcessHandle.of(beta).orElseThrow().destroyForcibly();
        assertEquals("crashed", waitForState("beta", "crashed", 1000), "beta within a second");
        System.out.printf("daemon: a killed VMM was seen as crashed after %d ms%n", System.currentTimeMillis() - t0);
        JsonNode b = vm("beta");
        assertTrue(b.get("crashConsole").asText().contains("beta-after-restart"), "the last console lines are kept: " + b);
        long alpha = vm("alpha").get("pid").asLong();
        ProcessHandle.of(alpha).orElseThrow().destroyForcibly();
        long end = System.currentTimeMillis() + 60_000;
        JsonNode a;
        while ((a = vm("alpha")).get("pid").isNull() || a.get("pid").asLong() == alpha) {
            assertTrue(System.currentTimeMillis() < end, "alpha was not restarted: " + a);
            Thread.sleep(100);
        }
        vmmPids.add(a.get("pid").asLong());
        assertNotEquals(alpha, a.get("pid").asLong());
        long crashes = 0;
        for (JsonNode e : http.get("/events", token).json()) if ("alpha".equals(e.get("vm").asText()) && e.get("kind").asText().equals("crashed")) crashes++;
        assertEquals(1, crashes);
        waitForConsole("alpha", GuestKit.READY, 120);
        shell("alpha", "echo \"alpha-again $((1+1))\"", "alpha-again 2", 30);
    }

    @Test
    @Order(6)
    void anAcpiShutdownPowersTheGuestOffAndAStoppedVmIsDeleted() throws Exception {
        Object[] r = cli("vm", "shutdown", "alpha", "--timeout", "60");
        assertEquals(0, r[0], (String) r[2]);
        assertTrue(((String) r[1]).contains("powered off"), (String) r[1]);
        assertEquals("stopped", vm("alpha").get("state").asText());
        assertEquals(409, http.post("/vms/alpha/pause", token, null).status());
        assertEquals(0, cli("vm", "delete", "alpha")[0]);
        assertEquals(0, cli("vm", "delete", "beta")[0], "a crashed VM has no VMM: it can be deleted");
        assertEquals(0, http.get("/vms", token).json().size());
        assertTrue(!Files.exists(state.resolve("run").resolve("alpha")), "the run directory went with it");
    }
}
