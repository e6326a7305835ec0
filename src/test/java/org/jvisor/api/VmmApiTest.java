package org.jvisor.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Iterator;
import java.util.Map;
import java.util.TreeSet;
import org.jvisor.vmm.Vm;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The control API's contract without a guest: the OpenAPI document names exactly the routes the
 * server has, and every malformed or ill-timed request gets its status and a JSON error while the
 * VM (here one never started) is left as it was. Through the real server and client on a socket.
 */
class VmmApiTest {
    static final ObjectMapper JSON = new ObjectMapper();
    @TempDir static Path dir;
    static Vm vm;
    static ApiServer server;
    static ApiClient client;

    @BeforeAll
    static void start() throws Exception {
        vm = new Vm(new org.jvisor.vmm.MachineConfig(256L << 20, null, null, false, false), console -> { throw new Vm.BuildException("never booted"); }, new ByteArrayOutputStream(), true);
        server = ApiServer.start(new VmmApi(vm), dir.resolve("api.sock"));
        client = new ApiClient(dir.resolve("api.sock"));
    }

    @AfterAll
    static void stop() {
        if (client != null) client.close();
        if (server != null) server.close();
    }

    @Test
    void theOpenApiDocumentListsExactlyTheRoutes() throws Exception {
        JsonNode doc = JSON.readTree(VmmApi.openApi());
        TreeSet<String> documented = new TreeSet<>();
        for (Iterator<Map.Entry<String, JsonNode>> p = doc.get("paths").fields(); p.hasNext(); ) {
            Map.Entry<String, JsonNode> e = p.next();
            for (Iterator<String> m = e.getValue().fieldNames(); m.hasNext(); ) documented.add(m.next().toUpperCase() + " " + e.getKey());
        }
        assertEquals(new TreeSet<>(new VmmApi(vm).routeNames()), documented);
    }

    @Test
    void theDocumentedSchemasMatchTheRecords() throws Exception {
        JsonNode schemas = JSON.readTree(VmmApi.openApi()).get("components").get("schemas");
        assertEquals(fields(Vm.Info.class), names(schemas.get("VmInfo").get("properties")));
        assertEquals(fields(VmmApi.BalloonRequest.class), names(schemas.get("BalloonRequest").get("properties")));
        assertEquals(fields(VmmApi.ConsoleReply.class), names(schemas.get("ConsoleReply").get("properties")));
        assertEquals(fields(VmmApi.SnapshotRequest.class), names(schemas.get("SnapshotRequest").get("properties")));
        assertEquals(fields(Vm.SnapshotResult.class), names(schemas.get("SnapshotResult").get("properties")));
        assertEquals(fields(VmmApi.ConsoleInput.class), names(schemas.get("ConsoleInput").get("properties")));
        assertEquals(fields(VmmApi.MigrateRequest.class), names(schemas.get("MigrateRequest").get("properties")));
        assertEquals(fields(org.jvisor.vmm.MigrationSender.Progress.class), names(schemas.get("MigrationProgress").get("properties")));
        // and what the server sends has those fields
        assertEquals(fields(Vm.Info.class), names(JSON.readTree(client.get("/vm.info").body())));
    }

    private static TreeSet<String> fields(Class<? extends Record> r) {
        return new TreeSet<>(Arrays.stream(r.getRecordComponents()).map(c -> c.getName()).toList());
    }

    private static TreeSet<String> names(JsonNode n) {
        TreeSet<String> s = new TreeSet<>();
        n.fieldNames().forEachRemaining(s::add);
        return s;
    }

    @Test
    void infoAndTheDocumentAreServed() throws Exception {
        ApiClient.Result r = client.get("/vm.info");
        assertEquals(200, r.status());
        JsonNode info = JSON.readTree(r.body());
        assertEquals("created", info.get("state").asText());
        assertEquals(256L << 20, info.get("memoryBytes").asLong());
        assertEquals(200, client.get("/openapi.json").status());
        assertEquals(200, client.get("/vm.console").status());
    }

    @Test
    void requestsTheStateDoesNotAllowAreConflicts() throws Exception {
        for (String p : new String[] {"/vm.pause", "/vm.resume", "/vm.power-button"}) {
            assertError(409, "cannot", client.put(p, null));
        }
        assertError(409, "not started", client.put("/vm.balloon", "{\"sizeBytes\": 1048576}"));
        assertError(409, "cannot migrate", client.put("/vm.migrate", "{\"uri\": \"unix:/nowhere.sock\"}"));
        assertError(409, "not running", client.put("/vm.console-input", "{\"text\": \"ls\\n\"}"));
        assertEquals("created", JSON.readTree(client.get("/vm.info").body()).get("state").asText(), "nothing changed");
    }

    @Test
    void malformedRequestsAreBadRequests() throws Exception {
        assertError(400, "unknown field 'size'", client.put("/vm.balloon", "{\"size\": 5}"));
        assertError(400, "wrong type", client.put("/vm.balloon", "{\"sizeBytes\": \"5\"}"));
        assertError(400, "wrong type", client.put("/vm.balloon", "{\"sizeBytes\": 1.5}"));
        assertError(400, "required", client.put("/vm.balloon", "{}"));
        assertError(400, "required", client.put("/vm.balloon", null));
        assertError(400, "negative", client.put("/vm.balloon", "{\"sizeBytes\": -1}"));
        assertError(400, "more than the VM's memory", client.put("/vm.balloon", "{\"sizeBytes\": 1099511627776}"));
        assertError(400, "not valid JSON", client.put("/vm.balloon", "{\"sizeBytes\": "));
        assertError(400, "not valid JSON", client.put("/vm.balloon", "{\"sizeBytes\": 1} trailing"));
        assertError(400, "JSON object", client.put("/vm.balloon", "null"));
        assertError(400, "wrong type", client.put("/vm.balloon", "[1]"));
        assertError(400, "takes no body", client.put("/vm.pause", "{\"now\": true}"));
        assertError(400, "not a migration URI", client.put("/vm.migrate", "{\"uri\": \"ftp://host\"}"));
        assertError(400, "no migration URI", client.put("/vm.migrate", "{}"));
        assertError(400, "port 0", client.put("/vm.migrate", "{\"uri\": \"tcp:127.0.0.1:0\"}"));
        assertError(400, "downtimeMillis", client.put("/vm.migrate", "{\"uri\": \"unix:/x.sock\", \"downtimeMillis\": 0}"));
        assertError(400, "unknown field 'to'", client.put("/vm.migrate", "{\"to\": \"unix:/x.sock\"}"));
        assertError(400, "required", client.put("/vm.console-input", "{\"text\": \"\"}"));
        assertError(400, "longer than 4096", client.put("/vm.console-input", "{\"text\": \"" + "x".repeat(5000) + "\"}"));
        assertError(413, "larger than", client.put("/vm.balloon", "{\"sizeBytes\": 1" + " ".repeat(70_000) + "}"));
    }

    @Test
    void unknownPathsAndMethodsAreNamed() throws Exception {
        assertError(404, "no such resource", client.get("/vm.nothing"));
        assertError(405, "use PUT", client.get("/vm.pause"));
        assertError(405, "use GET", client.put("/vm.info", null));
        assertError(405, "use GET", client.send("DELETE", "/vm.info", null));
    }

    @Test
    void aSecondServerOnALiveSocketIsRefusedAndAStaleOneReplaced() throws Exception {
        try {
            ApiServer.start(new VmmApi(vm), dir.resolve("api.sock")).close();
            throw new AssertionError("a second server took a live socket");
        } catch (java.io.IOException e) {
            assertTrue(e.getMessage().contains("in use"), e.getMessage());
        }
        Path stale = dir.resolve("stale.sock");
        Files.writeString(stale, "");
        try (ApiServer s = ApiServer.start(new VmmApi(vm), stale); ApiClient c = new ApiClient(stale)) {
            assertEquals(200, c.get("/vm.info").status());
        }
        assertFalse(Files.exists(stale), "closing removes the socket file");
    }

    static void assertError(int status, String text, ApiClient.Result r) throws Exception {
        assertEquals(status, r.status(), r.body());
        JsonNode body = JSON.readTree(r.body());
        assertTrue(body.hasNonNull("error"), r.body());
        assertTrue(body.get("error").asText().contains(text), r.body());
    }
}
