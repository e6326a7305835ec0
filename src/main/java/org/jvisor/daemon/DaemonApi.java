package org.jvisor.daemon;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MapperFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.exc.MismatchedInputException;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The daemon's REST API under {@code /api/v1}: its routes, who may call each, and what each does,
 * apart from the HTTP server that carries them. Bodies are strict (an unknown field, a wrong type
 * or a bad value is a 400 naming the field, and changes nothing); a request the VM's state does
 * not allow is a 409; a missing token is a 401, a token whose role is too low a 403.
 */
public final class DaemonApi {
    public static final String PREFIX = "/api/v1";
    static final String OPENAPI_RESOURCE = "/org/jvisor/daemon/daemon-openapi.json";
    static final long DEFAULT_SHUTDOWN_SECONDS = 60, MAX_SHUTDOWN_SECONDS = 3600;

    /** An HTTP answer: status, content type and body (null for 204). */
    public record Reply(int status, String contentType, String body) {}

    /** POST /vms/{name}/shutdown's optional body. */
    public record ShutdownRequest(Long timeoutSeconds) {}

    /** POST /vms/{name}/console's body. */
    public record ConsoleInput(String text) {}

    /** POST /tokens' body. */
    public record TokenRequest(String name, String role) {}

    /** POST /tokens' answer: the secret, shown this once. */
    public record TokenCreated(String name, String role, String token) {}

    /** GET /tokens' items: never the secret or its hash. */
    public record TokenInfo(String name, String role, String created) {}

    /** A VM as GET /vms and /vms/{name} show it. */
    public record VmView(String name, String state, Long pid, VmSpec spec, String created, boolean pendingRestart, String crashConsole,
                         String limits, JsonNode guest) {}

    /** GET /host: this host, and how much of it the VMs were promised. */
    public record HostView(String version, int cpus, long memoryBytes, int vms, int running, int vcpusRunning, long memoryRunningBytes,
                           double cpuOvercommit, double memoryOvercommit, long memoryReservedBytes) {}

    /** POST /pools' body. */
    public record PoolRequest(String name, String path, Double reservePercent) {}

    /** POST /pools/{pool}/volumes' body: an empty volume. */
    public record VolumeRequest(String name, String format, Long sizeBytes) {}

    /** POST /pools/{pool}/volumes/import's body: an image file copied in (raw, qcow2, vmdk or vhd). */
    public record ImportRequest(String name, String source, String format) {}

    /** POST /pools/{pool}/volumes/{volume}/clone's body: linked (a qcow2 overlay, at once) or full (a task). */
    public record CloneRequest(String name, Boolean linked) {}

    /** POST /pools/{pool}/volumes/{volume}/resize's body. */
    public record ResizeRequest(Long sizeBytes) {}

    /** POST /vms/{name}/snapshots' body. */
    public record SnapshotRequest(String name, Boolean memory) {}

    /** POST /vms/{name}/clone's body. */
    public record VmCloneRequest(String name, Boolean linked) {}

    /** POST /vms/{name}/migrate's body: the daemon to move the VM to, and a token of it (admin). */
    public record MigrateRequest(String url, String token, Long downtimeMillis) {}

    /** POST /vms/incoming's body: the VM that is coming (disks as paths this host sees too). */
    public record IncomingRequest(VmSpec spec) {}

    /** POST /vms/incoming's answer: where the waiting VMM listens. */
    public record IncomingReply(String uri) {}

    /** A task's id and where to follow it, for the requests that start one (202). */
    public record TaskStarted(String taskId, String location) {}

    /** One route: method, path pattern ({name} is a segment), the least role that may call it (null: anyone). */
    record Route(String method, String pattern, Role role, Action action) {}

    @FunctionalInterface
    interface Action {
        Reply handle(Map<String, String> params, String body) throws Exception;
    }

    static final ObjectMapper JSON = JsonMapper.builder()
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .disable(MapperFeature.ALLOW_COERCION_OF_SCALARS)
            .disable(DeserializationFeature.ACCEPT_FLOAT_AS_INT)
            .build();

    private final Store store;
    private final Supervisor supervisor;
    private final Tokens tokens;
    private final Metrics metrics;
    private final Storage storage;
    private final Tasks tasks;
    private final Snapshots snapshots;
    private final ResourceGroups groups;
    private volatile Monitor monitor;
    private final List<Route> routes = new ArrayList<>();
    /** One lock per VM name: create, start, update and delete of one VM do not interleave. */
    private final Map<String, Object> locks = new java.util.concurrent.ConcurrentHashMap<>();

    public DaemonApi(Store store, Supervisor supervisor, Tokens tokens, Metrics metrics, Storage storage, Tasks tasks, Snapshots snapshots) {
        this.store = store;
        this.supervisor = supervisor;
        this.tokens = tokens;
        this.metrics = metrics;
        this.storage = storage;
        this.tasks = tasks;
        this.snapshots = snapshots;
        this.groups = new ResourceGroups(store, supervisor);
        route("GET", "/openapi.json", null, (p, b) -> new Reply(200, "application/json", openApi()));
        route("GET", "/host", Role.AUDITOR, (p, b) -> ok(host()));
        route("GET", "/vms", Role.AUDITOR, (p, b) -> {
            List<VmView> out = new ArrayList<>();
            for (Store.VmRow r : store.vms()) out.add(view(r, false));
            return ok(out);
        });
        route("POST", "/vms", Role.ADMIN, (p, b) -> create(b));
        route("GET", "/vms/{name}", Role.AUDITOR, (p, b) -> ok(view(row(p), true)));
        route("PATCH", "/vms/{name}", Role.ADMIN, (p, b) -> update(p.get("name"), b));
        route("DELETE", "/vms/{name}", Role.ADMIN, (p, b) -> {
            String name = p.get("name");
            synchronized (lock(name)) {
                row(p);
                noBody(b);
                if (supervisor.active(name)) throw new ApiError(409, "VM '" + name + "' is " + supervisor.live(name).state() + ": stop it before deleting it");
                store.deleteVm(name);
                snapshots.deleteAll(name);
                supervisor.forget(name);
                store.event(name, "deleted", "definition removed");
                return done();
            }
        });
        route("POST", "/vms/{name}/start", Role.OPERATOR, (p, b) -> {
            noBody(b);
            String name = p.get("name");
            synchronized (lock(name)) {
                Store.VmRow r = row(p);
                supervisor.start(r.spec());
                return ok(view(store.vm(name).orElseThrow(), true));
            }
        });
        route("POST", "/vms/{name}/stop", Role.OPERATOR, (p, b) -> {
            noBody(b);
            row(p);
            supervisor.stop(p.get("name"));
            return ok(view(row(p), false));
        });
        route("POST", "/vms/{name}/shutdown", Role.OPERATOR, (p, b) -> {
            row(p);
            ShutdownRequest r = b.isBlank() ? new ShutdownRequest(null) : parse(b, ShutdownRequest.class);
            long t = r.timeoutSeconds() == null ? DEFAULT_SHUTDOWN_SECONDS : r.timeoutSeconds();
            if (t < 0 || t > MAX_SHUTDOWN_SECONDS) throw new ApiError(400, "bad request", Map.of("timeoutSeconds", "must be 0-" + MAX_SHUTDOWN_SECONDS));
            String how = supervisor.shutdown(p.get("name"), t * 1000);
            return ok(Map.of("result", how, "state", supervisor.live(p.get("name")).state()));
        });
        route("POST", "/vms/{name}/reboot", Role.OPERATOR, (p, b) -> {
            noBody(b);
            String name = p.get("name");
            synchronized (lock(name)) {
                Store.VmRow r = row(p);
                if (!supervisor.active(name)) throw new ApiError(409, "VM '" + name + "' is not running: start it instead");
                supervisor.stop(name);
                supervisor.start(store.vm(name).orElse(r).spec());
                return ok(view(store.vm(name).orElseThrow(), true));
            }
        });
        route("POST", "/vms/{name}/pause", Role.OPERATOR, (p, b) -> {
            noBody(b);
            row(p);
            supervisor.call(p.get("name"), "PUT", "/vm.pause", null, "pause");
            supervisor.refresh(p.get("name"));
            return ok(view(row(p), true));
        });
        route("POST", "/vms/{name}/resume", Role.OPERATOR, (p, b) -> {
            noBody(b);
            row(p);
            supervisor.call(p.get("name"), "PUT", "/vm.resume", null, "resume");
            supervisor.refresh(p.get("name"));
            return ok(view(row(p), true));
        });
        route("GET", "/vms/{name}/console", Role.OPERATOR, (p, b) -> {
            row(p);
            return ok(supervisor.call(p.get("name"), "GET", "/vm.console", null, "read the console"));
        });
        route("POST", "/vms/{name}/console", Role.OPERATOR, (p, b) -> {
            row(p);
            ConsoleInput in = parse(b, ConsoleInput.class);
            if (in.text() == null || in.text().isEmpty()) throw new ApiError(400, "bad request", Map.of("text", "required"));
            supervisor.call(p.get("name"), "PUT", "/vm.console-input", JSON.writeValueAsString(Map.of("text", in.text())), "type on the console");
            return done();
        });
        storageRoutes();
        route("GET", "/vms/{name}/snapshots", Role.AUDITOR, (p, b) -> ok(store.snapshots(row(p).spec().name()).stream().map(Snapshots::view).toList()));
        route("POST", "/vms/{name}/snapshots", Role.OPERATOR, (p, b) -> {
            SnapshotRequest r = parse(b, SnapshotRequest.class);
            synchronized (lock(p.get("name"))) {
                VmSpec spec = row(p).spec();
                if (Boolean.TRUE.equals(spec.template())) throw new ApiError(409, "VM '" + spec.name() + "' is a template: its disks never change");
                boolean memory = r.memory() != null ? r.memory() : supervisor.active(spec.name());
                return new Reply(201, "application/json", JSON.writeValueAsString(snapshots.create(spec, r.name(), memory)));
            }
        });
        route("POST", "/vms/{name}/snapshots/{snapshot}/rollback", Role.OPERATOR, (p, b) -> {
            noBody(b);
            synchronized (lock(p.get("name"))) {
                String how = snapshots.rollback(row(p).spec(), p.get("snapshot"));
                return ok(Map.of("result", how, "state", supervisor.live(p.get("name")).state()));
            }
        });
        route("DELETE", "/vms/{name}/snapshots/{snapshot}", Role.OPERATOR, (p, b) -> {
            noBody(b);
            synchronized (lock(p.get("name"))) {
                snapshots.delete(row(p).spec().name(), p.get("snapshot"));
                return done();
            }
        });
        route("POST", "/vms/{name}/template", Role.ADMIN, (p, b) -> {
            noBody(b);
            synchronized (lock(p.get("name"))) {
                VmSpec spec = row(p).spec();
                if (supervisor.active(spec.name())) throw new ApiError(409, "VM '" + spec.name() + "' is running: stop it before making it a template");
                for (VmSpec.Disk d : spec.disks()) {
                    if (d.path() != null) throw new ApiError(409, "VM '" + spec.name() + "' has a disk outside the pools (" + d.path() + "): a template's disks must be pool volumes");
                }
                store.updateVm(spec.asTemplate(true));
                store.event(spec.name(), "template", "now a template: it cannot start, its clones share its disks");
                return ok(view(row(p), false));
            }
        });
        route("POST", "/vms/incoming", Role.ADMIN, (p, b) -> incoming(parse(b, IncomingRequest.class)));
        route("POST", "/vms/{name}/migrate", Role.ADMIN, (p, b) -> migrate(row(p).spec(), parse(b, MigrateRequest.class)));
        route("POST", "/vms/{name}/clone", Role.ADMIN, (p, b) -> clone(p.get("name"), parse(b, VmCloneRequest.class)));
        route("GET", "/vms/{name}/console/ws", Role.OPERATOR, (p, b) -> {
            row(p);
            throw new ApiError(400, "this is the console as a WebSocket: connect with an Upgrade: websocket request");
        });
        route("GET", "/groups", Role.AUDITOR, (p, b) -> ok(groups.list()));
        route("POST", "/groups", Role.ADMIN, (p, b) -> new Reply(201, "application/json", JSON.writeValueAsString(groups.create(parse(b, GroupSpec.class)))));
        route("GET", "/groups/{group}", Role.AUDITOR, (p, b) -> ok(groups.get(p.get("group"))));
        route("PATCH", "/groups/{group}", Role.ADMIN, (p, b) -> ok(groups.update(p.get("group"), parse(b, GroupSpec.class))));
        route("DELETE", "/groups/{group}", Role.ADMIN, (p, b) -> {
            noBody(b);
            groups.delete(p.get("group"));
            return done();
        });
        route("GET", "/alerts", Role.AUDITOR, (p, b) -> ok(monitor == null ? List.of() : monitor.standing()));
        route("GET", "/events", Role.AUDITOR, (p, b) -> ok(store.events(200)));
        route("GET", "/tokens", Role.ADMIN, (p, b) -> ok(store.tokens().stream().map(t -> new TokenInfo(t.name(), t.role(), t.created())).toList()));
        route("POST", "/tokens", Role.ADMIN, (p, b) -> {
            TokenRequest r = parse(b, TokenRequest.class);
            Map<String, String> bad = new LinkedHashMap<>();
            if (r.name() == null || !VmSpec.NAME.matcher(r.name()).matches()) bad.put("name", "1-63 letters, digits, '.', '_' or '-'");
            Role role = r.role() == null ? null : Role.parse(r.role());
            if (role == null) bad.put("role", "one of admin, operator, auditor");
            if (!bad.isEmpty()) throw new ApiError(400, "bad request", bad);
            String secret = tokens.create(r.name(), role);
            if (secret == null) throw new ApiError(409, "a token named '" + r.name() + "' exists: delete it first or pick another name");
            store.event(null, "token-created", "token '" + r.name() + "' (" + role.wireName() + ")");
            return new Reply(201, "application/json", JSON.writeValueAsString(new TokenCreated(r.name(), role.wireName(), secret)));
        });
        route("DELETE", "/tokens/{name}", Role.ADMIN, (p, b) -> {
            noBody(b);
            if (Tokens.ADMIN_NAME.equals(p.get("name"))) throw new ApiError(409, "the admin token cannot be deleted (delete the admin-token file and restart the daemon to replace it)");
            if (!store.deleteToken(p.get("name"))) throw new ApiError(404, "no token named '" + p.get("name") + "'");
            return done();
        });
    }

    private void storageRoutes() {
        route("GET", "/pools", Role.AUDITOR, (p, b) -> {
            List<Storage.PoolView> out = new ArrayList<>();
            for (Store.PoolRow r : store.pools()) out.add(storage.view(r));
            return ok(out);
        });
        route("POST", "/pools", Role.ADMIN, (p, b) -> {
            PoolRequest r = parse(b, PoolRequest.class);
            return new Reply(201, "application/json", JSON.writeValueAsString(storage.create(r.name(), r.path(), r.reservePercent())));
        });
        route("GET", "/pools/{pool}", Role.AUDITOR, (p, b) -> ok(storage.view(storage.pool(p.get("pool")))));
        route("DELETE", "/pools/{pool}", Role.ADMIN, (p, b) -> {
            noBody(b);
            Store.PoolRow pool = storage.pool(p.get("pool"));
            for (Storage.VolumeView v : storage.volumes(pool)) {
                for (String u : v.usedBy()) if (u.startsWith("vm:")) throw new ApiError(409, "pool '" + pool.name() + "' holds volume " + v.name() + ", used by " + u + ": the pool stays");
            }
            store.deletePool(pool.name());
            store.event(null, "pool-deleted", "pool '" + pool.name() + "' (its files stay in " + pool.path() + ")");
            return done();
        });
        route("GET", "/pools/{pool}/volumes", Role.AUDITOR, (p, b) -> ok(storage.volumes(storage.pool(p.get("pool")))));
        route("POST", "/pools/{pool}/volumes", Role.ADMIN, (p, b) -> {
            VolumeRequest r = parse(b, VolumeRequest.class);
            return new Reply(201, "application/json", JSON.writeValueAsString(storage.create(p.get("pool"), r.name(), r.format(), r.sizeBytes())));
        });
        route("POST", "/pools/{pool}/volumes/import", Role.ADMIN, (p, b) -> {
            ImportRequest r = parse(b, ImportRequest.class);
            Store.PoolRow pool = storage.pool(p.get("pool"));
            Storage.checkVolumeName("name", r.name());
            String fmt = r.format() == null ? "qcow2" : r.format();
            if (!Storage.FORMATS.contains(fmt)) throw new ApiError(400, "bad format", Map.of("format", "one of " + Storage.FORMATS));
            if (r.source() == null || !java.nio.file.Path.of(r.source()).isAbsolute() || !java.nio.file.Files.isRegularFile(java.nio.file.Path.of(r.source()))) {
                throw new ApiError(400, "bad source", Map.of("source", "an absolute path of a readable image file"));
            }
            if (java.nio.file.Files.exists(java.nio.file.Path.of(pool.path(), r.name()))) throw new ApiError(409, "pool '" + pool.name() + "' already has a volume '" + r.name() + "'");
            java.nio.file.Path src = java.nio.file.Path.of(r.source());
            storage.checkReserve(pool, Storage.bytesToCopy(src), "importing " + r.source());
            Store.TaskRow t = tasks.start("import", pool.name() + "/" + r.name(), h -> storage.copy(h, src, pool, r.name(), fmt));
            return taskStarted(t);
        });
        route("POST", "/pools/{pool}/volumes/{volume}/clone", Role.ADMIN, (p, b) -> {
            CloneRequest r = parse(b, CloneRequest.class);
            Store.PoolRow pool = storage.pool(p.get("pool"));
            Storage.VolumeView src = storage.existing(pool, p.get("volume"));
            if (r.linked() == null || r.linked()) return new Reply(201, "application/json", JSON.writeValueAsString(storage.linkedClone(pool.name(), src.name(), r.name())));
            Storage.checkVolumeName("name", r.name());
            if (java.nio.file.Files.exists(java.nio.file.Path.of(pool.path(), r.name()))) throw new ApiError(409, "pool '" + pool.name() + "' already has a volume '" + r.name() + "'");
            storage.checkReserve(pool, src.allocationBytes(), "a full clone of " + src.name());
            Store.TaskRow t = tasks.start("clone", pool.name() + "/" + r.name(), h -> storage.copy(h, java.nio.file.Path.of(src.path()), pool, r.name(), src.format()));
            return taskStarted(t);
        });
        route("POST", "/pools/{pool}/volumes/{volume}/resize", Role.ADMIN, (p, b) -> {
            ResizeRequest r = parse(b, ResizeRequest.class);
            Storage.VolumeView v = storage.existing(storage.pool(p.get("pool")), p.get("volume"));
            for (String u : v.usedBy()) {
                if (u.startsWith("vm:") && supervisor.active(u.substring(3))) throw new ApiError(409, "volume '" + v.name() + "' is in use by running " + u + ": stop it first");
            }
            return ok(storage.resize(p.get("pool"), p.get("volume"), r.sizeBytes()));
        });
        route("GET", "/pools/{pool}/volumes/{volume}", Role.AUDITOR, (p, b) -> ok(storage.existing(storage.pool(p.get("pool")), p.get("volume"))));
        route("DELETE", "/pools/{pool}/volumes/{volume}", Role.ADMIN, (p, b) -> {
            noBody(b);
            storage.delete(p.get("pool"), p.get("volume"));
            return done();
        });
        route("GET", "/tasks", Role.AUDITOR, (p, b) -> ok(store.tasks(100)));
        route("GET", "/tasks/{id}", Role.AUDITOR, (p, b) -> ok(tasks.get(p.get("id")).orElseThrow(() -> new ApiError(404, "no task " + p.get("id")))));
        route("DELETE", "/tasks/{id}", Role.ADMIN, (p, b) -> {
            noBody(b);
            Store.TaskRow t = tasks.get(p.get("id")).orElseThrow(() -> new ApiError(404, "no task " + p.get("id")));
            if (!tasks.cancel(t.id())) throw new ApiError(409, "task " + t.id() + " is " + t.state() + ": nothing to cancel");
            return new Reply(202, "application/json", JSON.writeValueAsString(t));
        });
    }

    /** The receiving side of a migration: defines the VM here and starts a VMM waiting for it on a free loopback port. */
    private Reply incoming(IncomingRequest r) throws Exception {
        if (r.spec() == null) throw new ApiError(400, "bad request", Map.of("spec", "required"));
        VmSpec spec = r.spec().asTemplate(false);
        Map<String, String> bad = spec.problems();
        checkVolumes(spec, bad);
        if (!bad.isEmpty()) throw new ApiError(400, "the incoming VM's definition does not fit this host", bad);
        spec = spec.withDefaults();
        synchronized (lock(spec.name())) {
            if (!store.insertVm(spec)) throw new ApiError(409, "a VM named '" + spec.name() + "' exists on this host");
            int port;
            try (java.net.ServerSocket probe = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
                port = probe.getLocalPort();
            }
            String uri = "tcp:127.0.0.1:" + port;
            try {
                supervisor.startIncoming(spec, uri);
            } catch (Exception e) {
                store.deleteVm(spec.name());
                throw e;
            }
            store.event(spec.name(), "incoming", "waiting for the VM on " + uri);
            return ok(new IncomingReply(uri));
        }
    }

    /** Moves a running VM to another jvisord, as a task: the far daemon gets its definition and a waiting VMM, then the VMM here sends it live. */
    private Reply migrate(VmSpec spec, MigrateRequest r) throws Exception {
        Map<String, String> bad = new LinkedHashMap<>();
        if (r.url() == null || !r.url().matches("https?://[^/\\s]+")) bad.put("url", "the other daemon's base URL, e.g. http://127.0.0.1:8007");
        if (r.token() == null || r.token().isBlank()) bad.put("token", "an admin token of the other daemon");
        if (r.downtimeMillis() != null && (r.downtimeMillis() < 1 || r.downtimeMillis() > 60_000)) bad.put("downtimeMillis", "1-60000");
        if (!bad.isEmpty()) throw new ApiError(400, "bad request", bad);
        String name = spec.name();
        if (!supervisor.active(name)) throw new ApiError(409, "VM '" + name + "' is not running: only a running VM migrates (a stopped one is its definition and disks)");
        if (!store.snapshots(name).isEmpty()) throw new ApiError(409, "VM '" + name + "' has snapshots, which stay on this host: delete them first");
        VmSpec.Copy moving = supervisor.resolve(spec).copy().live(spec);
        moving.group = null; // resource groups are this host's: the far daemon places it in its own
        VmSpec resolved = moving.build();
        Store.TaskRow t = tasks.start("migrate", "vm " + name + " -> " + r.url(), h -> {
            java.net.http.HttpClient http = java.net.http.HttpClient.newHttpClient();
            java.net.http.HttpResponse<String> a = http.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(r.url() + PREFIX + "/vms/incoming"))
                    .header("Authorization", "Bearer " + r.token()).header("Content-Type", "application/json")
                    .POST(java.net.http.HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(new IncomingRequest(resolved)))).build(),
                    java.net.http.HttpResponse.BodyHandlers.ofString());
            if (a.statusCode() != 200) throw new ApiError(502, "the other daemon refused the VM: " + a.body());
            String uri = JSON.readTree(a.body()).get("uri").asText();
            h.log("the other daemon waits on " + uri);
            h.progress(0.1);
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("uri", uri);
            if (r.downtimeMillis() != null) m.put("downtimeMillis", r.downtimeMillis());
            JsonNode done = supervisor.call(name, "PUT", "/vm.migrate", JSON.writeValueAsString(m), "migrate");
            h.log("sent: " + done);
            supervisor.awaitGone(name, 30_000);
            store.deleteVm(name);
            supervisor.forget(name);
            store.event(name, "migrated", "now runs on " + r.url());
            return "VM '" + name + "' runs on " + r.url() + " now";
        });
        return taskStarted(t);
    }

    /** A new VM with the source's definition: linked (from a template: qcow2 overlays on its volumes, at once) or full (copies, a task). */
    private Reply clone(String source, VmCloneRequest r) throws Exception {
        VmSpec src = store.vm(source).orElseThrow(() -> new ApiError(404, "no VM named '" + source + "'")).spec();
        if (r.name() == null || !VmSpec.NAME.matcher(r.name()).matches()) throw new ApiError(400, "bad name", Map.of("name", "1-63 letters, digits, '.', '_' or '-'"));
        if (store.vm(r.name()).isPresent()) throw new ApiError(409, "a VM named '" + r.name() + "' exists: pick another name");
        boolean linked = r.linked() == null || r.linked();
        if (linked && !Boolean.TRUE.equals(src.template())) {
            throw new ApiError(409, "VM '" + source + "' is not a template: a linked clone needs disks that never change (POST /vms/" + source + "/template, or clone with linked false)");
        }
        if (supervisor.active(source)) throw new ApiError(409, "VM '" + source + "' is running: stop it to clone its disks");
        for (VmSpec.Disk d : src.disks()) {
            if (d.path() != null && !d.readonly()) throw new ApiError(409, "disk " + d.path() + " is outside the pools: only pool volumes are cloned");
        }
        if (linked) {
            List<VmSpec.Disk> disks = new ArrayList<>();
            for (int i = 0; i < src.disks().size(); i++) {
                VmSpec.Disk d = src.disks().get(i);
                if (d.readonly()) {
                    disks.add(d);
                    continue;
                }
                String vol = r.name() + "-disk" + i + ".qcow2";
                storage.linkedClone(d.pool(), d.volume(), vol);
                disks.add(new VmSpec.Disk(null, false, d.pool(), vol, d.iops(), d.bps()));
            }
            VmSpec spec = src.cloned(r.name(), disks);
            if (!store.insertVm(spec)) throw new ApiError(409, "a VM named '" + r.name() + "' exists");
            store.event(r.name(), "cloned", "linked clone of template " + source);
            return new Reply(201, "application/json", JSON.writeValueAsString(view(store.vm(r.name()).orElseThrow(), false)));
        }
        long bytes = 0;
        for (VmSpec.Disk d : src.disks()) {
            if (!d.readonly()) {
                Store.PoolRow pool = storage.pool(d.pool());
                bytes += storage.existing(pool, d.volume()).allocationBytes();
            }
        }
        for (VmSpec.Disk d : src.disks()) if (!d.readonly()) storage.checkReserve(storage.pool(d.pool()), bytes, "a full clone of " + source);
        Store.TaskRow t = tasks.start("clone", "vm " + r.name(), h -> {
            List<VmSpec.Disk> disks = new ArrayList<>();
            for (int i = 0; i < src.disks().size(); i++) {
                VmSpec.Disk d = src.disks().get(i);
                if (d.readonly()) {
                    disks.add(d);
                    continue;
                }
                Store.PoolRow pool = storage.pool(d.pool());
                String vol = r.name() + "-disk" + i + ".qcow2";
                storage.copy(h, java.nio.file.Path.of(pool.path(), d.volume()), pool, vol, "qcow2");
                disks.add(new VmSpec.Disk(null, false, d.pool(), vol, d.iops(), d.bps()));
            }
            if (!store.insertVm(src.cloned(r.name(), disks))) throw new ApiError(409, "a VM named '" + r.name() + "' appeared meanwhile");
            store.event(r.name(), "cloned", "full clone of " + source);
            return "VM '" + r.name() + "' is a full clone of '" + source + "'";
        });
        return taskStarted(t);
    }

    private static Reply taskStarted(Store.TaskRow t) throws JsonProcessingException {
        return new Reply(202, "application/json", JSON.writeValueAsString(new TaskStarted(t.id(), PREFIX + "/tasks/" + t.id())));
    }

    /** Problems with the disks that name pool volumes: the pool and the volume must exist. */
    private void checkVolumes(VmSpec spec, Map<String, String> bad) throws SQLException {
        if (spec.disks() == null) return;
        for (int i = 0; i < spec.disks().size(); i++) {
            VmSpec.Disk d = spec.disks().get(i);
            if (d == null || d.path() != null || d.pool() == null || d.volume() == null) continue;
            Optional<Store.PoolRow> pool = store.pool(d.pool());
            if (pool.isEmpty()) bad.put("disks[" + i + "].pool", "no pool named '" + d.pool() + "'");
            else if (!VmSpec.NAME.matcher(d.volume()).matches() || !java.nio.file.Files.isRegularFile(java.nio.file.Path.of(pool.get().path(), d.volume()))) {
                bad.put("disks[" + i + "].volume", "pool '" + d.pool() + "' has no volume '" + d.volume() + "'");
            }
        }
    }

    void setMonitor(Monitor m) {
        this.monitor = m;
    }

    private void route(String method, String pattern, Role role, Action a) {
        routes.add(new Route(method, pattern, role, a));
    }

    private Object lock(String name) {
        return locks.computeIfAbsent(name, n -> new Object());
    }

    /** The routes as "METHOD /api/v1/pattern", for the test that keeps the OpenAPI document in step. */
    public List<String> routeNames() {
        return routes.stream().map(r -> r.method() + " " + PREFIX + r.pattern()).toList();
    }

    /** The least role each route needs ("METHOD pattern" to role; null for public routes), for the auth tests. */
    public Map<String, Role> routeRoles() {
        Map<String, Role> m = new LinkedHashMap<>();
        for (Route r : routes) m.put(r.method() + " " + PREFIX + r.pattern(), r.role());
        return m;
    }

    // ---- dispatch ----

    /** Answers one request; never throws. {@code authorization} is the Authorization header or null. */
    public Reply handle(String method, String path, String authorization, String body) {
        Reply r = dispatch(method, path, authorization, body == null ? "" : body);
        metrics.request(method, r.status());
        return r;
    }

    private Reply dispatch(String method, String path, String authorization, String body) {
        if (!path.startsWith(PREFIX + "/")) return error(404, "no such resource: " + path + " (the API is under " + PREFIX + ")");
        String[] segs = path.substring(PREFIX.length() + 1).split("/", -1);
        List<String> allowed = new ArrayList<>();
        for (Route r : routes) {
            Map<String, String> params = match(r.pattern(), segs);
            if (params == null) continue;
            if (!r.method().equals(method)) {
                allowed.add(r.method());
                continue;
            }
            try {
                if (r.role() != null) {
                    Role caller = caller(authorization);
                    if (!caller.allows(r.role())) {
                        return error(403, "this needs the " + r.role().wireName() + " role; the token's is " + caller.wireName());
                    }
                }
                return r.action().handle(params, body);
            } catch (ApiError e) {
                return error(e.status, e.getMessage(), e.fields);
            } catch (Supervisor.Refused e) {
                return error(e.status(), e.getMessage());
            } catch (SQLException e) {
                return error(500, "the daemon's database failed: " + e.getMessage());
            } catch (Exception e) {
                return error(500, e.getClass().getSimpleName() + ": " + e.getMessage());
            }
        }
        if (!allowed.isEmpty()) return error(405, method + " is not allowed on " + path + " (use " + String.join(", ", allowed) + ")");
        return error(404, "no such resource: " + path);
    }

    /**
     * A WebSocket upgrade of GET /vms/{name}/console/ws: the listener that serves it, or the
     * error to answer instead (the same token and role checks as every route).
     */
    Object consoleSocket(String authorization, String vm) {
        try {
            Role caller = caller(authorization);
            if (!caller.allows(Role.OPERATOR)) return error(403, "the console needs the operator role; the token's is " + caller.wireName());
            if (store.vm(vm).isEmpty()) return error(404, "no VM named '" + vm + "'");
            if (!supervisor.active(vm)) return error(409, "VM '" + vm + "' is not running: it has no console");
            return new ConsoleSocket(supervisor, vm);
        } catch (ApiError e) {
            return error(e.status, e.getMessage());
        } catch (SQLException e) {
            return error(500, "the daemon's database failed: " + e.getMessage());
        }
    }

    /** GET /metrics, beside the API: an auditor's token, as for every read. */
    public Reply metrics(String authorization) {
        try {
            caller(authorization);
            return new Reply(200, "text/plain; version=0.0.4; charset=utf-8", metrics.scrape());
        } catch (ApiError e) {
            return error(e.status, e.getMessage());
        } catch (Exception e) {
            return error(500, "cannot collect the metrics: " + e.getMessage());
        }
    }

    private Role caller(String authorization) throws ApiError, SQLException {
        if (authorization == null || authorization.isBlank()) {
            throw new ApiError(401, "no token: send 'Authorization: Bearer TOKEN' (the admin token is in the state directory's admin-token file)");
        }
        if (!authorization.startsWith("Bearer ")) throw new ApiError(401, "the Authorization header must be 'Bearer TOKEN'");
        Optional<Role> role = tokens.roleOf(authorization.substring(7).strip());
        if (role.isEmpty()) throw new ApiError(401, "the token is not valid (it may have been deleted)");
        return role.get();
    }

    /** The path parameters when {@code segs} fit the pattern, else null. */
    private static Map<String, String> match(String pattern, String[] segs) {
        String[] ps = pattern.substring(1).split("/", -1);
        if (ps.length != segs.length) return null;
        Map<String, String> params = new HashMap<>();
        for (int i = 0; i < ps.length; i++) {
            if (ps[i].startsWith("{")) {
                if (segs[i].isEmpty()) return null;
                params.put(ps[i].substring(1, ps[i].length() - 1), java.net.URLDecoder.decode(segs[i], StandardCharsets.UTF_8));
            } else if (!ps[i].equals(segs[i])) {
                return null;
            }
        }
        return params;
    }

    // ---- VMs ----

    private Store.VmRow row(Map<String, String> p) throws ApiError, SQLException {
        String name = p.get("name");
        return store.vm(name).orElseThrow(() -> new ApiError(404, "no VM named '" + name + "'"));
    }

    private Reply create(String body) throws Exception {
        VmSpec spec = parse(body, VmSpec.class);
        Map<String, String> bad = spec.problems();
        checkVolumes(spec, bad);
        checkGroup(spec, bad);
        if (!bad.isEmpty()) throw new ApiError(400, "the VM definition has errors", bad);
        spec = spec.withDefaults();
        synchronized (lock(spec.name())) {
            if (!store.insertVm(spec)) throw new ApiError(409, "a VM named '" + spec.name() + "' exists: pick another name");
            store.event(spec.name(), "defined", "VM created");
            return new Reply(201, "application/json", JSON.writeValueAsString(view(store.vm(spec.name()).orElseThrow(), false)));
        }
    }

    /** PATCH: the fields given replace the stored ones; a running VM takes them at its next start (pendingRestart). */
    private Reply update(String name, String body) throws Exception {
        VmSpec patch = parse(body, VmSpec.class);
        synchronized (lock(name)) {
            Store.VmRow r = store.vm(name).orElseThrow(() -> new ApiError(404, "no VM named '" + name + "'"));
            if (patch.name() != null && !patch.name().equals(name)) throw new ApiError(400, "bad request", Map.of("name", "a VM cannot be renamed"));
            VmSpec o = r.spec();
            VmSpec merged = new VmSpec(name, or(patch.vcpus(), o.vcpus()), or(patch.memoryBytes(), o.memoryBytes()), or(patch.kernel(), o.kernel()),
                    or(patch.initrd(), o.initrd()), or(patch.cmdline(), o.cmdline()), or(patch.disks(), o.disks()), or(patch.balloon(), o.balloon()),
                    or(patch.rng(), o.rng()), or(patch.autostart(), o.autostart()), or(patch.restart(), o.restart()), o.template(),
                    or(patch.cpuLimit(), o.cpuLimit()), or(patch.cpuShares(), o.cpuShares()), or(patch.memoryLimitBytes(), o.memoryLimitBytes()),
                    or(patch.cpuAlertPercent(), o.cpuAlertPercent()), or(patch.readyAlertPercent(), o.readyAlertPercent()), or(patch.nics(), o.nics()),
                    or(patch.group(), o.group()), or(patch.memoryReservationBytes(), o.memoryReservationBytes()), or(patch.diskLatencyAlertMs(), o.diskLatencyAlertMs()));
            if (patch.template() != null && !patch.template().equals(o.template())) {
                throw new ApiError(400, "bad request", Map.of("template", "use POST /vms/{name}/template to make a template (a template stays one)"));
            }
            Map<String, String> bad = merged.problems();
            checkVolumes(merged, bad);
            checkGroup(merged, bad);
            if (!bad.isEmpty()) throw new ApiError(400, "the VM definition has errors", bad);
            synchronized (supervisor.admission) {
                if (supervisor.active(name)) {
                    String why = supervisor.admit(merged.withDefaults());
                    if (why != null) throw new ApiError(409, "VM '" + name + "' runs, and cannot change so: " + why);
                }
                store.updateVm(merged.withDefaults());
                store.event(name, "updated", "definition changed");
                if (supervisor.active(name)) supervisor.applyLimits(merged.withDefaults()); // limits change at once; the rest at the next start
            }
            return ok(view(store.vm(name).orElseThrow(), false));
        }
    }

    /** A VM's group must exist ("" takes it out of its group). */
    private void checkGroup(VmSpec spec, Map<String, String> bad) throws SQLException {
        if (spec.group() != null && !spec.group().isEmpty() && !bad.containsKey("group") && store.group(spec.group()).isEmpty()) {
            bad.put("group", "no resource group named '" + spec.group() + "' (POST /groups makes one)");
        }
    }

    private static <T> T or(T a, T b) {
        return a != null ? a : b;
    }

    private VmView view(Store.VmRow r, boolean withGuest) {
        String name = r.spec().name();
        Supervisor.Live live = supervisor.live(name);
        boolean pending = false;
        if (live.startedSpec() != null && live.pid() != null) {
            try {
                pending = !JSON.readValue(live.startedSpec(), VmSpec.class).sameButLimits(r.spec());
            } catch (IOException e) {
                pending = false;
            }
        }
        JsonNode guest = null;
        if (withGuest && live.pid() != null) {
            try {
                guest = supervisor.call(name, "GET", "/vm.info", null, "read its state");
            } catch (Supervisor.Refused e) {
                guest = null;
            }
        }
        return new VmView(name, live.state(), live.pid(), r.spec(), r.created(), pending, live.crashConsole(), live.limits(), guest);
    }

    HostView host() throws SQLException {
        List<Store.VmRow> vms = store.vms();
        int running = 0, vcpus = 0;
        long mem = 0;
        for (Store.VmRow r : vms) {
            if (!supervisor.active(r.spec().name())) continue;
            running++;
            vcpus += r.spec().vcpus();
            mem += r.spec().memoryBytes();
        }
        int cpus = Runtime.getRuntime().availableProcessors();
        long hostMem = HostFacts.memoryBytes();
        return new HostView("0.1.0", cpus, hostMem, vms.size(), running, vcpus, mem, (double) vcpus / cpus, hostMem == 0 ? 0 : (double) mem / hostMem,
                Admission.promised(supervisor.runningSpecs(null), groups.all(), null));
    }

    // ---- JSON ----

    static Reply ok(Object value) throws JsonProcessingException {
        return new Reply(200, "application/json", JSON.writeValueAsString(value));
    }

    static Reply done() {
        return new Reply(204, null, null);
    }

    static Reply error(int status, String message) {
        return error(status, message, Map.of());
    }

    static Reply error(int status, String message, Map<String, String> fields) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("error", message);
        if (!fields.isEmpty()) m.put("fields", fields);
        try {
            return new Reply(status, "application/json", JSON.writeValueAsString(m));
        } catch (JsonProcessingException e) {
            return new Reply(status, "application/json", "{\"error\":\"unprintable error\"}");
        }
    }

    static void noBody(String body) throws ApiError {
        String b = body.strip();
        if (b.isEmpty() || b.equals("{}")) return;
        throw new ApiError(400, "this request takes no body");
    }

    static <T> T parse(String body, Class<T> type) throws ApiError {
        if (body.isBlank()) throw new ApiError(400, "a JSON body is required");
        try {
            T t = JSON.readValue(body, type);
            if (t == null) throw new ApiError(400, "the body must be a JSON object");
            return t;
        } catch (UnrecognizedPropertyException e) {
            throw new ApiError(400, "unknown field '" + e.getPropertyName() + "'", Map.of(e.getPropertyName(), "unknown field (known: " + e.getKnownPropertyIds() + ")"));
        } catch (MismatchedInputException e) {
            String field = e.getPath().isEmpty() ? null : e.getPath().stream()
                    .map(r -> r.getFieldName() != null ? r.getFieldName() : "[" + r.getIndex() + "]").reduce((a, c) -> c.startsWith("[") ? a + c : a + "." + c).orElse(null);
            if (field == null) throw new ApiError(400, "the body must be a JSON object of the documented fields");
            throw new ApiError(400, "wrong type for '" + field + "'", Map.of(field, "wrong type"));
        } catch (JsonProcessingException e) {
            throw new ApiError(400, "the body is not valid JSON: " + e.getOriginalMessage());
        }
    }

    static String openApi() throws IOException {
        try (InputStream in = DaemonApi.class.getResourceAsStream(OPENAPI_RESOURCE)) {
            if (in == null) throw new IOException("the OpenAPI document is missing from the jar");
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }
}
