package org.jvisor.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The daemon's API without a guest: the OpenAPI document matches the routes, every route checks
 * its token and role, bad input gets a 4xx naming the field and changes nothing, and definitions
 * survive a restart of the daemon. A daemon in this JVM on a loopback port of its own.
 */
class DaemonApiTest {
    static final ObjectMapper JSON = new ObjectMapper();
    @TempDir static Path state;
    static Daemon daemon;
    static DaemonHttp http;
    static String admin, operator, auditor;
    static Path kernel;

    @BeforeAll
    static void start() throws Exception {
        daemon = Daemon.start(state, "127.0.0.1:0", new PrintStream(new ByteArrayOutputStream()));
        http = new DaemonHttp(daemon.port());
        admin = Files.readString(state.resolve("admin-token")).strip();
        operator = http.post("/tokens", admin, "{\"name\":\"op\",\"role\":\"operator\"}").json().get("token").asText();
        auditor = http.post("/tokens", admin, "{\"name\":\"aud\",\"role\":\"auditor\"}").json().get("token").asText();
        kernel = Files.writeString(state.resolve("fake-kernel"), "not really a kernel");
    }

    @AfterAll
    static void stop() {
        if (daemon != null) daemon.close();
    }

    @Test
    void theOpenApiDocumentListsExactlyTheRoutesAndTheirRoles() throws Exception {
        JsonNode doc = JSON.readTree(DaemonApi.openApi());
        TreeSet<String> documented = new TreeSet<>();
        DaemonApi api = new DaemonApi(null, null, null, new Metrics(), null, null, null);
        Map<String, Role> roles = api.routeRoles();
        for (Iterator<Map.Entry<String, JsonNode>> p = doc.get("paths").fields(); p.hasNext(); ) {
            Map.Entry<String, JsonNode> e = p.next();
            for (Iterator<Map.Entry<String, JsonNode>> m = e.getValue().fields(); m.hasNext(); ) {
                Map.Entry<String, JsonNode> op = m.next();
                String route = op.getKey().toUpperCase() + " " + e.getKey();
                documented.add(route);
                JsonNode role = op.getValue().get("x-jvisor-role");
                Role r = roles.get(route);
                assertEquals(r == null ? null : r.wireName(), role == null ? null : role.asText(), "role of " + route);
            }
        }
        assertEquals(new TreeSet<>(api.routeNames()), documented);
        JsonNode schemas = doc.get("components").get("schemas");
        assertEquals(fields(VmSpec.class), names(schemas.get("VmSpec").get("properties")));
        assertEquals(fields(VmSpec.Disk.class), names(schemas.get("Disk").get("properties")));
        assertEquals(fields(VmSpec.Nic.class), names(schemas.get("Nic").get("properties")));
        assertEquals(fields(DaemonApi.VmView.class), names(schemas.get("Vm").get("properties")));
        assertEquals(fields(DaemonApi.HostView.class), names(schemas.get("Host").get("properties")));
        assertEquals(fields(DaemonApi.ShutdownRequest.class), names(schemas.get("ShutdownRequest").get("properties")));
        assertEquals(fields(DaemonApi.ConsoleInput.class), names(schemas.get("ConsoleInput").get("properties")));
        assertEquals(fields(DaemonApi.TokenRequest.class), names(schemas.get("TokenRequest").get("properties")));
        assertEquals(fields(DaemonApi.TokenCreated.class), names(schemas.get("TokenCreated").get("properties")));
        assertEquals(fields(DaemonApi.TokenInfo.class), names(schemas.get("TokenInfo").get("properties")));
        assertEquals(fields(Store.Event.class), names(schemas.get("Event").get("properties")));
        assertEquals(fields(Store.TaskRow.class), names(schemas.get("Task").get("properties")));
        assertEquals(fields(Storage.PoolView.class), names(schemas.get("Pool").get("properties")));
        assertEquals(fields(Storage.VolumeView.class), names(schemas.get("Volume").get("properties")));
        assertEquals(fields(DaemonApi.PoolRequest.class), names(schemas.get("PoolRequest").get("properties")));
        assertEquals(fields(DaemonApi.VolumeRequest.class), names(schemas.get("VolumeRequest").get("properties")));
        assertEquals(fields(DaemonApi.ImportRequest.class), names(schemas.get("ImportRequest").get("properties")));
        assertEquals(fields(DaemonApi.CloneRequest.class), names(schemas.get("CloneRequest").get("properties")));
        assertEquals(fields(DaemonApi.ResizeRequest.class), names(schemas.get("ResizeRequest").get("properties")));
        assertEquals(fields(DaemonApi.TaskStarted.class), names(schemas.get("TaskStarted").get("properties")));
        assertEquals(fields(DaemonApi.SnapshotRequest.class), names(schemas.get("SnapshotRequest").get("properties")));
        assertEquals(fields(Snapshots.SnapshotView.class), names(schemas.get("Snapshot").get("properties")));
        assertEquals(fields(DaemonApi.MigrateRequest.class), names(schemas.get("MigrateRequest").get("properties")));
        assertEquals(fields(DaemonApi.IncomingRequest.class), names(schemas.get("IncomingRequest").get("properties")));
        assertEquals(fields(DaemonApi.IncomingReply.class), names(schemas.get("IncomingReply").get("properties")));
        assertEquals(fields(Monitor.Alert.class), names(schemas.get("Alert").get("properties")));
        assertEquals(fields(DaemonApi.VmCloneRequest.class), names(schemas.get("VmCloneRequest").get("properties")));
        assertEquals(fields(GroupSpec.class), names(schemas.get("GroupSpec").get("properties")));
        assertEquals(fields(ResourceGroups.GroupView.class), names(schemas.get("Group").get("properties")));
        assertEquals(200, http.get("/openapi.json", null).status(), "the document needs no token");
    }

    private static TreeSet<String> fields(Class<? extends Record> r) {
        TreeSet<String> s = new TreeSet<>();
        for (var c : r.getRecordComponents()) s.add(c.getName());
        return s;
    }

    private static TreeSet<String> names(JsonNode n) {
        TreeSet<String> s = new TreeSet<>();
        n.fieldNames().forEachRemaining(s::add);
        return s;
    }

    /** Every route, with no token, a wrong one, and each role: 401, 401, and 403 exactly below the route's role. */
    @Test
    void everyRouteChecksTheTokenAndItsRole() throws Exception {
        http.post("/vms", admin, "{\"name\":\"authvm\",\"kernel\":\"" + kernel + "\"}"); // a start fails at once: no guest boots here
        Map<String, Role> roles = new DaemonApi(null, null, null, new Metrics(), null, null, null).routeRoles();
        Map<Role, String> tokens = Map.of(Role.ADMIN, admin, Role.OPERATOR, operator, Role.AUDITOR, auditor);
        for (Map.Entry<String, Role> e : roles.entrySet()) {
            String[] mp = e.getKey().split(" ", 2);
            String path = mp[1].replace("{name}", mp[1].startsWith("/api/v1/tokens") ? "nosuchtoken" : "authvm")
                    .replace("{pool}", "nosuchpool").replace("{volume}", "novolume").replace("{id}", "notask").replace("{snapshot}", "nosnap").replace("{group}", "nosuchgroup");
            if (e.getValue() == null) {
                assertEquals(200, http.send(mp[0], path, null, null).status(), e.getKey());
                continue;
            }
            assertEquals(401, http.send(mp[0], path, null, null).status(), e.getKey() + " without a token");
            assertEquals(401, http.send(mp[0], path, "jv_wrong", null).status(), e.getKey() + " with a wrong token");
            for (Role r : Role.values()) {
                if (r == Role.ADMIN && (mp[0].equals("DELETE") || mp[0].equals("POST") && path.equals("/api/v1/vms"))) continue; // would change what the others test
                int status = http.send(mp[0], path, tokens.get(r), null).status();
                if (r.allows(e.getValue())) assertTrue(status != 401 && status != 403, e.getKey() + " as " + r + " got " + status);
                else assertEquals(403, status, e.getKey() + " as " + r);
            }
        }
        assertEquals(401, http.send("GET", "/metrics", null, null).status());
        assertEquals(200, http.send("GET", "/metrics", auditor, null).status());
    }

    @Test
    void badDefinitionsAreRefusedFieldByFieldAndChangeNothing() throws Exception {
        int before = http.get("/vms", auditor).json().size();
        String[][] cases = {
                {"{\"name\":\"../etc\"}", "name"},
                {"{\"name\":\"a/b\"}", "name"},
                {"{}", "name"},
                {"{\"name\":\"x\",\"memoryBytes\":1}", "memoryBytes"},
                {"{\"name\":\"x\",\"memoryBytes\":\"1G\"}", "memoryBytes"},
                {"{\"name\":\"x\",\"vcpus\":4}", "vcpus"},
                {"{\"name\":\"x\",\"kernel\":\"relative/path\"}", "kernel"},
                {"{\"name\":\"x\",\"kernel\":\"/no/such/kernel\"}", "kernel"},
                {"{\"name\":\"x\",\"disks\":[{\"path\":\"/no/such.img\"}]}", "disks[0].path"},
                {"{\"name\":\"x\",\"disks\":[{}]}", "disks[0].path"},
                {"{\"name\":\"x\",\"restart\":\"always\"}", "restart"},
                {"{\"name\":\"x\",\"nics\":[{\"tap\":\"tap0;rm\"}]}", "nics[0].tap"},
                {"{\"name\":\"x\",\"nics\":[{\"tap\":\"tap0\",\"mac\":\"01:00:5e:00:00:01\"}]}", "nics[0].mac"},
                {"{\"name\":\"x\",\"cpuLimit\":-1}", "cpuLimit"},
                {"{\"name\":\"x\",\"disks\":[{\"pool\":\"p\"}]}", "disks[0]"},
                {"{\"name\":\"x\",\"colour\":\"blue\"}", "colour"},
        };
        for (String[] c : cases) {
            DaemonHttp.Answer a = http.post("/vms", admin, c[0]);
            assertEquals(400, a.status(), c[0] + " -> " + a.body());
            assertTrue(a.json().has("fields") && a.json().get("fields").has(c[1]), c[0] + " should name " + c[1] + ": " + a.body());
        }
        for (String body : new String[] {"", "null", "[1]", "{\"name\":", "{\"name\":\"x\"} trailing"}) {
            assertEquals(400, http.post("/vms", admin, body).status(), body);
        }
        assertEquals(before, http.get("/vms", auditor).json().size(), "nothing was defined");
    }

    @Test
    void aVmIsDefinedOnceUpdatedAndDeleted() throws Exception {
        DaemonHttp.Answer a = http.post("/vms", admin, "{\"name\":\"web1\",\"memoryBytes\":134217728,\"kernel\":\"" + kernel + "\"}");
        assertEquals(201, a.status(), a.body());
        assertEquals("stopped", a.json().get("state").asText());
        assertEquals(1, a.json().get("spec").get("vcpus").asInt());
        assertEquals(409, http.post("/vms", admin, "{\"name\":\"web1\"}").status(), "a duplicate name");
        a = http.send("PATCH", "/api/v1/vms/web1", admin, "{\"memoryBytes\":268435456,\"autostart\":false}");
        assertEquals(200, a.status(), a.body());
        assertEquals(268435456L, a.json().get("spec").get("memoryBytes").asLong());
        assertEquals(kernel.toString(), a.json().get("spec").get("kernel").asText(), "fields not given are kept");
        assertEquals(400, http.send("PATCH", "/api/v1/vms/web1", admin, "{\"name\":\"web2\"}").status(), "no renaming");
        assertEquals(400, http.send("PATCH", "/api/v1/vms/web1", admin, "{\"memoryBytes\":5}").status());
        assertEquals(268435456L, http.get("/vms/web1", auditor).json().get("spec").get("memoryBytes").asLong(), "a bad patch changes nothing");
        assertEquals(409, http.post("/vms/web1/stop", operator, null).status(), "not running");
        assertEquals(409, http.post("/vms/web1/pause", operator, null).status(), "not running");
        assertEquals(409, http.get("/vms/web1/console", operator).status(), "not running");
        assertEquals(404, http.get("/vms/nope", auditor).status());
        assertEquals(404, http.post("/vms/nope/start", operator, null).status());
        assertEquals(405, http.send("PUT", "/api/v1/vms/web1", admin, "{}").status());
        assertEquals(404, http.get("/nothing", auditor).status());
        assertEquals(204, http.send("DELETE", "/api/v1/vms/web1", admin, null).status());
        assertEquals(404, http.get("/vms/web1", auditor).status());
        JsonNode kinds = http.get("/events", auditor).json();
        List<String> seen = new ArrayList<>();
        for (JsonNode e : kinds) if ("web1".equals(e.get("vm").asText())) seen.add(e.get("kind").asText());
        assertEquals(List.of("deleted", "updated", "defined"), seen);
    }

    @Test
    void resourceGroupsAreCheckedDefinedAndKeptWhileTheyHaveVms() throws Exception {
        String[][] bad = {
                {"{}", "name"},
                {"{\"name\":\"a/b\"}", "name"},
                {"{\"name\":\"g\",\"cpuLimit\":-0.5}", "cpuLimit"},
                {"{\"name\":\"g\",\"cpuShares\":1}", "cpuShares"},
                {"{\"name\":\"g\",\"memoryLimitBytes\":1048576}", "memoryLimitBytes"},
                {"{\"name\":\"g\",\"memoryReservationBytes\":-1}", "memoryReservationBytes"},
                {"{\"name\":\"g\",\"memoryLimitBytes\":1073741824,\"memoryReservationBytes\":2147483648}", "memoryReservationBytes"},
                {"{\"name\":\"g\",\"colour\":\"red\"}", "colour"},
        };
        for (String[] c : bad) {
            DaemonHttp.Answer a = http.post("/groups", admin, c[0]);
            assertEquals(400, a.status(), c[0] + " -> " + a.body());
            assertTrue(a.json().path("fields").has(c[1]), c[0] + " should name " + c[1] + ": " + a.body());
        }
        assertEquals(400, http.post("/groups", admin, "{\"name\":").status());
        long hostMemory = http.get("/host", auditor).json().get("memoryBytes").asLong();
        DaemonHttp.Answer tooBig = http.post("/groups", admin, "{\"name\":\"huge\",\"memoryReservationBytes\":" + (hostMemory + 1) + "}");
        assertEquals(409, tooBig.status(), tooBig.body());
        assertTrue(tooBig.json().get("error").asText().contains("reserved already"), tooBig.body());
        assertEquals(0, http.get("/groups", auditor).json().size(), "nothing was defined");

        DaemonHttp.Answer g = http.post("/groups", admin, "{\"name\":\"web\",\"cpuLimit\":0.5,\"memoryReservationBytes\":268435456}");
        assertEquals(201, g.status(), g.body());
        assertEquals(268435456L, http.get("/host", auditor).json().get("memoryReservedBytes").asLong(), "the group's reservation is promised at once");
        assertEquals(409, http.post("/groups", admin, "{\"name\":\"web\"}").status(), "a duplicate name");
        assertEquals(403, http.post("/groups", operator, "{\"name\":\"other\"}").status());
        DaemonHttp.Answer noGroup = http.post("/vms", admin, "{\"name\":\"gvm\",\"group\":\"nosuch\",\"kernel\":\"" + kernel + "\"}");
        assertEquals(400, noGroup.status(), noGroup.body());
        assertTrue(noGroup.json().path("fields").has("group"), noGroup.body());
        assertEquals(201, http.post("/vms", admin, "{\"name\":\"gvm\",\"group\":\"web\",\"kernel\":\"" + kernel + "\"}").status());
        JsonNode view = http.get("/groups/web", auditor).json();
        assertEquals("[\"gvm\"]", view.get("vms").toString(), view.toString());
        assertEquals(0.5, view.get("spec").get("cpuLimit").asDouble());
        assertEquals(409, http.send("DELETE", "/api/v1/groups/web", admin, null).status(), "a group with a VM stays");
        assertEquals(400, http.send("PATCH", "/api/v1/groups/web", admin, "{\"name\":\"web2\"}").status(), "no renaming");
        DaemonHttp.Answer patched = http.send("PATCH", "/api/v1/groups/web", admin, "{\"cpuShares\":2048}");
        assertEquals(200, patched.status(), patched.body());
        assertEquals(2048, patched.json().get("spec").get("cpuShares").asInt());
        assertEquals(0.5, patched.json().get("spec").get("cpuLimit").asDouble(), "fields not given are kept");
        assertEquals(200, http.send("PATCH", "/api/v1/vms/gvm", admin, "{\"group\":\"\"}").status());
        assertTrue(http.get("/vms/gvm", auditor).json().get("spec").path("group").isNull()
                || http.get("/vms/gvm", auditor).json().get("spec").path("group").isMissingNode(), "out of the group");
        assertEquals(204, http.send("DELETE", "/api/v1/groups/web", admin, null).status());
        assertEquals(404, http.get("/groups/web", auditor).status());
        assertEquals(0L, http.get("/host", auditor).json().get("memoryReservedBytes").asLong());
        assertEquals(204, http.send("DELETE", "/api/v1/vms/gvm", admin, null).status());
    }

    @Test
    void tokensAreShownOnceStoredHashedAndCanBeRevoked() throws Exception {
        DaemonHttp.Answer a = http.post("/tokens", admin, "{\"name\":\"ci\",\"role\":\"auditor\"}");
        assertEquals(201, a.status());
        String secret = a.json().get("token").asText();
        assertEquals(200, http.get("/vms", secret).status());
        String list = http.get("/tokens", admin).body();
        assertFalse(list.contains(secret) || list.contains(Tokens.hash(secret)), "neither the secret nor its hash is listed");
        assertEquals(409, http.post("/tokens", admin, "{\"name\":\"ci\",\"role\":\"auditor\"}").status());
        assertEquals(400, http.post("/tokens", admin, "{\"name\":\"x\",\"role\":\"root\"}").status());
        assertEquals(204, http.send("DELETE", "/api/v1/tokens/ci", admin, null).status());
        assertEquals(401, http.get("/vms", secret).status(), "a deleted token is refused");
        assertEquals(409, http.send("DELETE", "/api/v1/tokens/admin", admin, null).status());
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(state.resolve("admin-token"))));
    }

    @Test
    void concurrentCreatesOfOneNameMakeOneVm() throws Exception {
        var pool = Executors.newFixedThreadPool(8);
        List<Future<Integer>> fs = new ArrayList<>();
        for (int i = 0; i < 8; i++) fs.add(pool.submit((Callable<Integer>) () -> http.post("/vms", admin, "{\"name\":\"race\"}").status()));
        int created = 0, conflicts = 0;
        for (Future<Integer> f : fs) {
            int s = f.get();
            if (s == 201) created++;
            if (s == 409) conflicts++;
        }
        pool.shutdown();
        assertEquals(1, created);
        assertEquals(7, conflicts);
    }

    @Test
    void hostAndMetricsAreServed() throws Exception {
        JsonNode host = http.get("/host", auditor).json();
        assertTrue(host.get("cpus").asInt() >= 1 && host.get("memoryBytes").asLong() > 0, host.toString());
        String metrics = http.send("GET", "/metrics", auditor, null).body();
        assertTrue(metrics.contains("jvisor_host_vms{state=\"running\"}"), metrics);
        assertTrue(metrics.contains("jvisor_api_requests_total{"), metrics);
    }

    @Test
    void onlyLoopbackIsServedWithoutTls() {
        Exception e = org.junit.jupiter.api.Assertions.assertThrows(java.io.IOException.class, () -> DaemonServer.listenAddress("0.0.0.0:8006"));
        assertTrue(e.getMessage().contains("loopback"), e.getMessage());
        org.junit.jupiter.api.Assertions.assertThrows(java.io.IOException.class, () -> DaemonServer.listenAddress("8006"));
        org.junit.jupiter.api.Assertions.assertThrows(java.io.IOException.class, () -> DaemonServer.listenAddress("127.0.0.1:99999"));
    }

    static JsonNode waitForTask(String id) throws Exception {
        long end = System.currentTimeMillis() + 60_000;
        JsonNode t;
        while ((t = http.get("/tasks/" + id, auditor).json()).get("state").asText().equals("running")) {
            assertTrue(System.currentTimeMillis() < end, "task " + t);
            Thread.sleep(20);
        }
        return t;
    }

    @Test
    void poolsHoldVolumesThatAreImportedClonedResizedAndDeleted(@TempDir Path work) throws Exception {
        Path dir = work.resolve("pool1");
        DaemonHttp.Answer a = http.post("/pools", admin, "{\"name\":\"pool1\",\"path\":\"" + dir + "\"}");
        assertEquals(201, a.status(), a.body());
        assertEquals(20.0, a.json().get("reservePercent").asDouble());
        assertEquals(409, http.post("/pools", admin, "{\"name\":\"pool1b\",\"path\":\"" + dir + "\"}").status(), "one pool per directory");
        assertEquals(400, http.post("/pools", admin, "{\"name\":\"p\",\"path\":\"relative\"}").status());
        // an image to import: 8 MiB raw with 1 MiB of data in it
        Path src = work.resolve("src.img");
        try (var f = java.nio.channels.FileChannel.open(src, java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.WRITE)) {
            byte[] data = new byte[1 << 20];
            new java.util.Random(1).nextBytes(data);
            f.write(java.nio.ByteBuffer.wrap(data), 3 << 20);
            f.truncate(8 << 20);
            f.write(java.nio.ByteBuffer.allocate(1), (8 << 20) - 1);
        }
        a = http.post("/pools/pool1/volumes/import", admin, "{\"name\":\"base.qcow2\",\"source\":\"" + src + "\"}");
        assertEquals(202, a.status(), a.body());
        JsonNode t = waitForTask(a.json().get("taskId").asText());
        assertEquals("succeeded", t.get("state").asText(), t.toString());
        assertEquals(1.0, t.get("progress").asDouble());
        JsonNode base = http.get("/pools/pool1/volumes/base.qcow2", auditor).json();
        assertEquals("qcow2", base.get("format").asText());
        assertEquals(8 << 20, base.get("sizeBytes").asLong());
        // a linked clone is an overlay on it; a full clone a copy made by a task
        a = http.post("/pools/pool1/volumes/base.qcow2/clone", admin, "{\"name\":\"linked.qcow2\"}");
        assertEquals(201, a.status(), a.body());
        assertEquals("base.qcow2", a.json().get("backing").asText());
        a = http.post("/pools/pool1/volumes/base.qcow2/clone", admin, "{\"name\":\"full.qcow2\",\"linked\":false}");
        assertEquals(202, a.status(), a.body());
        assertEquals("succeeded", waitForTask(a.json().get("taskId").asText()).get("state").asText());
        assertTrue(http.get("/pools/pool1/volumes/full.qcow2", auditor).json().get("backing").isNull());
        // qemu-img, an independent reader, agrees
        Process q = new ProcessBuilder("qemu-img", "compare", src.toString(), dir.resolve("full.qcow2").toString()).redirectErrorStream(true).start();
        String qo = new String(q.getInputStream().readAllBytes());
        assertEquals(0, q.waitFor(), qo);
        // in use: by the linked clone (as its backing), and by a VM
        assertEquals(409, http.send("DELETE", "/api/v1/pools/pool1/volumes/base.qcow2", admin, null).status());
        assertEquals(201, http.post("/vms", admin, "{\"name\":\"usesvol\",\"disks\":[{\"pool\":\"pool1\",\"volume\":\"full.qcow2\"}]}").status());
        a = http.post("/vms", admin, "{\"name\":\"badvol\",\"disks\":[{\"pool\":\"pool1\",\"volume\":\"nope.qcow2\"}]}");
        assertEquals(400, a.status());
        assertTrue(a.json().get("fields").has("disks[0].volume"), a.body());
        a = http.send("DELETE", "/api/v1/pools/pool1/volumes/full.qcow2", admin, null);
        assertEquals(409, a.status());
        assertTrue(a.body().contains("vm:usesvol"), a.body());
        assertEquals(409, http.send("DELETE", "/api/v1/pools/pool1", admin, null).status(), "a pool whose volume a VM uses stays");
        assertEquals(204, http.send("DELETE", "/api/v1/vms/usesvol", admin, null).status());
        // resize grows only
        assertEquals(200, http.post("/pools/pool1/volumes/full.qcow2/resize", admin, "{\"sizeBytes\":16777216}").status());
        assertEquals(16 << 20, http.get("/pools/pool1/volumes/full.qcow2", auditor).json().get("sizeBytes").asLong());
        assertEquals(400, http.post("/pools/pool1/volumes/full.qcow2/resize", admin, "{\"sizeBytes\":1048576}").status());
        // an empty one, bad names
        assertEquals(201, http.post("/pools/pool1/volumes", admin, "{\"name\":\"empty.raw\",\"format\":\"raw\",\"sizeBytes\":1073741824}").status());
        assertEquals(400, http.post("/pools/pool1/volumes", admin, "{\"name\":\"../x\",\"sizeBytes\":1048576}").status());
        assertEquals(400, http.post("/pools/pool1/volumes", admin, "{\"name\":\"x\",\"sizeBytes\":1000}").status());
        assertEquals(409, http.post("/pools/pool1/volumes", admin, "{\"name\":\"empty.raw\",\"sizeBytes\":1048576}").status());
        assertEquals(404, http.get("/pools/nope/volumes", auditor).status());
        // the pool's numbers add up: its volumes' allocations, and their sizes
        JsonNode pool = http.get("/pools/pool1", auditor).json();
        long alloc = 0, prov = 0;
        for (JsonNode v : http.get("/pools/pool1/volumes", auditor).json()) {
            alloc += v.get("allocationBytes").asLong();
            prov += v.get("sizeBytes").asLong();
        }
        assertEquals(4, pool.get("volumes").asInt());
        assertEquals(alloc, pool.get("allocationBytes").asLong());
        assertEquals(prov, pool.get("provisionedBytes").asLong());
        assertEquals((long) (pool.get("capacityBytes").asLong() * 0.2), pool.get("reserveBytes").asLong());
        for (String v : new String[] {"linked.qcow2", "base.qcow2", "full.qcow2", "empty.raw"}) {
            assertEquals(204, http.send("DELETE", "/api/v1/pools/pool1/volumes/" + v, admin, null).status(), v);
        }
        assertEquals(204, http.send("DELETE", "/api/v1/pools/pool1", admin, null).status());
    }

    /** A pool whose reserve leaves a few MiB: an import of more than that is refused before it starts, and nothing is written. */
    @Test
    void anImportThatWouldBreakTheReserveIsRefused(@TempDir Path work) throws Exception {
        Path dir = work.resolve("tight");
        Files.createDirectories(dir);
        var fs = Files.getFileStore(dir);
        double percent = 100.0 * (fs.getUsableSpace() - (16L << 20)) / fs.getTotalSpace();
        assertEquals(201, http.post("/pools", admin, "{\"name\":\"tight\",\"path\":\"" + dir + "\",\"reservePercent\":" + percent + "}").status());
        Path src = work.resolve("big.img");
        byte[] chunk = new byte[1 << 20];
        new java.util.Random(2).nextBytes(chunk);
        try (var out = Files.newOutputStream(src)) {
            for (int i = 0; i < 64; i++) out.write(chunk);
        }
        DaemonHttp.Answer a = http.post("/pools/tight/volumes/import", admin, "{\"name\":\"big.qcow2\",\"source\":\"" + src + "\"}");
        assertEquals(409, a.status(), a.body());
        assertTrue(a.json().get("error").asText().contains("below its reserve"), a.body());
        try (var files = Files.list(dir)) {
            assertEquals(0, files.count(), "nothing was written");
        }
        assertEquals(204, http.send("DELETE", "/api/v1/pools/tight", admin, null).status());
    }

    /** Beyond loopback only with TLS: the daemon makes its certificate, serves https, and a client trusting that certificate gets in. */
    @Test
    void beyondLoopbackTheDaemonServesTlsWithItsOwnCertificate(@TempDir Path other) throws Exception {
        Daemon d = Daemon.start(other, "0.0.0.0:0", true, null, null, new PrintStream(new ByteArrayOutputStream()));
        try {
            String url = Files.readString(other.resolve("url")).strip();
            assertTrue(url.startsWith("https://127.0.0.1:"), url);
            assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(other.resolve(Tls.STORE))));
            String token = Files.readString(other.resolve("admin-token")).strip();
            var ctx = Tls.trusting(other.resolve(Tls.STORE), Files.readString(other.resolve(Tls.PASSWORD)).strip());
            var client = java.net.http.HttpClient.newBuilder().sslContext(ctx).build();
            var r = client.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(url + "/api/v1/vms")).header("Authorization", "Bearer " + token).build(),
                    java.net.http.HttpResponse.BodyHandlers.ofString());
            assertEquals(200, r.statusCode(), r.body());
            // a client that does not trust it is refused the handshake, and plain http gets nothing useful
            org.junit.jupiter.api.Assertions.assertThrows(java.io.IOException.class, () -> java.net.http.HttpClient.newHttpClient().send(
                    java.net.http.HttpRequest.newBuilder(java.net.URI.create(url + "/api/v1/vms")).build(), java.net.http.HttpResponse.BodyHandlers.ofString()));
        } finally {
            d.close();
        }
    }

    /** A second daemon on the same state (the first one gone) has every definition, token and event. */
    @Test
    void definitionsSurviveARestartOfTheDaemon(@TempDir Path other) throws Exception {
        Daemon d = Daemon.start(other, "127.0.0.1:0", new PrintStream(new ByteArrayOutputStream()));
        String token = Files.readString(other.resolve("admin-token")).strip();
        DaemonHttp h = new DaemonHttp(d.port());
        assertEquals(201, h.post("/vms", token, "{\"name\":\"keep\",\"memoryBytes\":134217728}").status());
        d.close();
        d = Daemon.start(other, "127.0.0.1:0", new PrintStream(new ByteArrayOutputStream()));
        try {
            h = new DaemonHttp(d.port());
            JsonNode vm = h.get("/vms/keep", token).json();
            assertEquals(134217728L, vm.get("spec").get("memoryBytes").asLong());
            assertEquals("stopped", vm.get("state").asText());
            try (Store s = Store.open(other.resolve("jvisord.db"))) {
                assertEquals(Store.MIGRATIONS.size(), s.schemaVersion());
                // a task left running, as a daemon killed in the middle of an import would leave it
                s.saveTask(new Store.TaskRow("orphan", "import", "p/v", "running", 0.4, null, "", java.time.Instant.now().toString(), null));
            }
        } finally {
            d.close();
        }
        d = Daemon.start(other, "127.0.0.1:0", new PrintStream(new ByteArrayOutputStream()));
        try {
            JsonNode t = new DaemonHttp(d.port()).get("/tasks/orphan", token).json();
            assertEquals("failed", t.get("state").asText());
            assertTrue(t.get("message").asText().contains("daemon stopped"), t.toString());
        } finally {
            d.close();
        }
        assertNotEquals(token, admin);
    }
}
