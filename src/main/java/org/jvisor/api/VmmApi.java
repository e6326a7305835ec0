package org.jvisor.api;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.MapperFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.exc.MismatchedInputException;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.jvisor.vmm.Vm;

/**
 * The routes of the control API and what each does to the {@link Vm}, independent of the HTTP
 * server that carries them. Request bodies are strict: an unknown field, a wrong type or a missing
 * one is a 400, a request the VM's state does not allow is a 409, and neither changes anything.
 */
public final class VmmApi {
    public static final String PREFIX = "/api/v1";
    static final String OPENAPI_RESOURCE = "/org/jvisor/api/vmm-openapi.json";

    /** A response: status and JSON text (null for 204). */
    public record Reply(int status, String json) {}

    /** PUT /vm.balloon's body. */
    public record BalloonRequest(Long sizeBytes) {}

    /** PUT /vm.snapshot's body: an absolute path for the state file, and whether a running VM goes on afterwards (default true). */
    public record SnapshotRequest(String path, Boolean resume) {}

    /** PUT /vm.migrate's body: where the destination waits (tcp:HOST:PORT or unix:PATH), and the downtime to aim for (default 10 ms). */
    public record MigrateRequest(String uri, Long downtimeMillis) {}

    static final long DEFAULT_DOWNTIME_MS = 10, MAX_DOWNTIME_MS = 60_000;

    /** PUT /vm.console-input's body: text typed on the serial console (UTF-8). */
    public record ConsoleInput(String text) {}

    static final int MAX_CONSOLE_INPUT = 4096;

    /** GET /vm.console's reply: how much the guest ever printed, and the last of it. */
    public record ConsoleReply(long totalBytes, String text) {}

    @FunctionalInterface
    interface Action {
        Reply handle(String body) throws Exception;
    }

    /** One route: method, path under {@link #PREFIX}, and what it does. */
    record Route(String method, String path, Action action) {}

    static final ObjectMapper JSON = JsonMapper.builder()
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .disable(MapperFeature.ALLOW_COERCION_OF_SCALARS)
            .disable(DeserializationFeature.ACCEPT_FLOAT_AS_INT)
            .build();

    private final Vm vm;
    private final List<Route> routes;

    public VmmApi(Vm vm) {
        this.vm = vm;
        this.routes = List.of(
                new Route("GET", "/vm.info", b -> ok(vm.info())),
                new Route("PUT", "/vm.pause", b -> {
                    noBody(b);
                    vm.pause();
                    return done();
                }),
                new Route("PUT", "/vm.resume", b -> {
                    noBody(b);
                    vm.resume();
                    return done();
                }),
                new Route("PUT", "/vm.power-button", b -> {
                    noBody(b);
                    vm.powerButton();
                    return done();
                }),
                new Route("PUT", "/vm.stop", b -> {
                    noBody(b);
                    vm.stop();
                    return done();
                }),
                new Route("PUT", "/vm.balloon", b -> {
                    BalloonRequest r = parse(b, BalloonRequest.class);
                    if (r.sizeBytes() == null) throw new ApiException(400, "sizeBytes is required");
                    if (r.sizeBytes() < 0) throw new ApiException(400, "sizeBytes must not be negative");
                    Vm.Info info = vm.info();
                    if (r.sizeBytes() > info.memoryBytes()) {
                        throw new ApiException(400, "sizeBytes " + r.sizeBytes() + " is more than the VM's memory (" + info.memoryBytes() + ")");
                    }
                    if (!vm.machine("resize the balloon").setBalloonSize(r.sizeBytes())) {
                        throw new ApiException(409, "the VM has no balloon device (start it with --balloon)");
                    }
                    return done();
                }),
                new Route("PUT", "/vm.snapshot", b -> {
                    SnapshotRequest r = parse(b, SnapshotRequest.class);
                    if (r.path() == null || r.path().isBlank()) throw new ApiException(400, "path is required");
                    java.nio.file.Path p = java.nio.file.Path.of(r.path());
                    if (!p.isAbsolute()) throw new ApiException(400, "path must be absolute (the VMM's working directory is not the caller's): " + r.path());
                    java.nio.file.Path dir = p.toAbsolutePath().getParent();
                    if (dir == null || !java.nio.file.Files.isDirectory(dir)) throw new ApiException(400, "no directory " + dir + " for the snapshot");
                    if (java.nio.file.Files.isDirectory(p)) throw new ApiException(400, r.path() + " is a directory");
                    try {
                        return ok(vm.snapshot(p, r.resume() == null || r.resume()));
                    } catch (IOException e) {
                        throw new ApiException(500, "the snapshot failed: " + e.getMessage());
                    }
                }),
                new Route("PUT", "/vm.migrate", b -> {
                    MigrateRequest r = parse(b, MigrateRequest.class);
                    org.jvisor.vmm.MigrationUri uri;
                    try {
                        uri = org.jvisor.vmm.MigrationUri.parse(r.uri());
                    } catch (IllegalArgumentException e) {
                        throw new ApiException(400, e.getMessage());
                    }
                    long budget = r.downtimeMillis() == null ? DEFAULT_DOWNTIME_MS : r.downtimeMillis();
                    if (budget < 1 || budget > MAX_DOWNTIME_MS) throw new ApiException(400, "downtimeMillis must be 1-" + MAX_DOWNTIME_MS);
                    try {
                        return ok(vm.migrate(uri, budget));
                    } catch (IOException e) {
                        throw new ApiException(502, e.getMessage());
                    }
                }),
                new Route("GET", "/vm.console", b -> ok(new ConsoleReply(vm.console().total(), vm.console().text()))),
                new Route("PUT", "/vm.console-input", b -> {
                    ConsoleInput r = parse(b, ConsoleInput.class);
                    if (r.text() == null || r.text().isEmpty()) throw new ApiException(400, "text is required");
                    byte[] bytes = r.text().getBytes(java.nio.charset.StandardCharsets.UTF_8);
                    if (bytes.length > MAX_CONSOLE_INPUT) throw new ApiException(400, "text is longer than " + MAX_CONSOLE_INPUT + " bytes: send it in parts");
                    if (vm.state() != Vm.State.RUNNING && vm.state() != Vm.State.PAUSED) throw new ApiException(409, "the VM is not running: nothing reads the console");
                    vm.typeOnConsole(bytes, 0, bytes.length);
                    return done();
                }),
                new Route("GET", "/openapi.json", b -> new Reply(200, openApi())));
    }

    /** The routes as "METHOD /api/v1/path", for the test that keeps the OpenAPI document in step. */
    public List<String> routeNames() {
        return routes.stream().map(r -> r.method() + " " + PREFIX + r.path()).toList();
    }

    /** Answers one request; never throws: every failure becomes a status and a JSON error body. */
    public Reply handle(String method, String path, String body) {
        if (!path.startsWith(PREFIX + "/")) return error(404, "no such resource: " + path + " (the API is under " + PREFIX + ")");
        String rel = path.substring(PREFIX.length());
        boolean known = false;
        for (Route r : routes) {
            if (!r.path().equals(rel)) continue;
            known = true;
            if (!r.method().equals(method)) continue;
            try {
                return r.action().handle(body == null ? "" : body);
            } catch (ApiException e) {
                return error(e.status(), e.getMessage());
            } catch (Vm.Conflict e) {
                return error(409, e.getMessage());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return error(503, "the VMM is shutting down");
            } catch (Exception e) {
                return error(500, e.getClass().getSimpleName() + ": " + e.getMessage());
            }
        }
        if (known) {
            String allowed = String.join(", ", routes.stream().filter(r -> r.path().equals(rel)).map(Route::method).toList());
            return error(405, method + " is not allowed on " + path + " (use " + allowed + ")");
        }
        return error(404, "no such resource: " + path);
    }

    static Reply ok(Object value) throws JsonProcessingException {
        return new Reply(200, JSON.writeValueAsString(value));
    }

    static Reply done() {
        return new Reply(204, null);
    }

    static Reply error(int status, String message) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("error", message);
        try {
            return new Reply(status, JSON.writeValueAsString(m));
        } catch (JsonProcessingException e) {
            return new Reply(status, "{\"error\":\"unprintable error\"}");
        }
    }

    /** Actions without a body accept none, or an empty JSON object. */
    static void noBody(String body) throws ApiException {
        String b = body.strip();
        if (b.isEmpty() || b.equals("{}")) return;
        throw new ApiException(400, "this request takes no body");
    }

    static <T> T parse(String body, Class<T> type) throws ApiException {
        if (body.isBlank()) throw new ApiException(400, "a JSON body is required");
        try {
            T t = JSON.readValue(body, type);
            if (t == null) throw new ApiException(400, "the body must be a JSON object");
            return t;
        } catch (UnrecognizedPropertyException e) {
            throw new ApiException(400, "unknown field '" + e.getPropertyName() + "' (known: " + e.getKnownPropertyIds() + ")");
        } catch (MismatchedInputException e) {
            String field = e.getPath().isEmpty() ? "the body" : "field '" + e.getPath().getLast().getFieldName() + "'";
            throw new ApiException(400, field + " has the wrong type: " + e.getOriginalMessage().lines().findFirst().orElse(""));
        } catch (JsonProcessingException e) {
            throw new ApiException(400, "the body is not valid JSON: " + e.getOriginalMessage());
        }
    }

    static String openApi() throws IOException {
        try (InputStream in = VmmApi.class.getResourceAsStream(OPENAPI_RESOURCE)) {
            if (in == null) throw new IOException("the OpenAPI document is missing from the build");
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }
}
