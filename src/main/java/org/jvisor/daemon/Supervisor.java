package org.jvisor.daemon;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Function;
import org.jvisor.api.ApiClient;

/**
 * Runs one VMM process per VM and watches them. A VM is {@code stopped} (no VMM), {@code starting}
 * (the VMM runs, its API is not up yet), {@code running} or {@code paused} (as its VMM says), or
 * {@code crashed} (its VMM ended without a guest poweroff and without being asked to). A watcher
 * looks at every VMM four times a second, so a VMM killed from outside is seen within a second;
 * a VM whose restart policy is on-failure is then started again (at most
 * {@link #MAX_RESTARTS} times a minute, so a VM that cannot boot does not spin).
 */
public final class Supervisor implements AutoCloseable {
    static final long WATCH_MILLIS = 250;
    static final int MAX_RESTARTS = 3;
    static final long API_WAIT_MILLIS = 120_000;
    private static final ObjectMapper JSON = new ObjectMapper();

    /** A failure the caller can act on: 409 for the wrong state, 500/502 for the VMM's side. */
    public static final class Refused extends Exception {
        final int status;

        Refused(int status, String message) {
            super(message);
            this.status = status;
        }

        public int status() {
            return status;
        }
    }

    /** A VM's live side: its VMM, how it ended, and what it printed last when it crashed. */
    private static final class Instance {
        final String name;
        volatile ProcessHandle process;
        volatile ApiClient api;
        volatile String state = "stopped";
        volatile String crashConsole;
        volatile String startedSpec;
        volatile boolean stopping;
        volatile String deathEvidence;
        /** Whether the VM's CPU and memory limits are enforced ("enforced", "none", or why not). */
        volatile String limits;
        /** Bumped by each state read outside the watcher, so that the watcher's older read does not overwrite it. */
        final java.util.concurrent.atomic.AtomicInteger reads = new java.util.concurrent.atomic.AtomicInteger();
        final List<Long> restarts = new ArrayList<>();

        Instance(String name) {
            this.name = name;
        }
    }

    /** What the API shows of a VM's live side. */
    public record Live(String state, Long pid, String startedSpec, String crashConsole, String limits) {}

    private final Path runRoot;
    private final Store store;
    private final Map<String, Instance> instances = new ConcurrentHashMap<>();
    private final AtomicBoolean closed = new AtomicBoolean();
    private final Thread watcher;
    private final Function<String, Optional<VmSpec>> specs;
    private final Cgroups cgroups = new Cgroups(Cgroups.ROOT);
    /** Turns a definition into what the VMM is started with (pool volumes become paths). */
    private volatile java.util.function.UnaryOperator<VmSpec> resolver = s -> s;

    public Supervisor(Path runRoot, Store store) throws IOException {
        this.runRoot = runRoot;
        this.store = store;
        Files.createDirectories(runRoot);
        this.specs = name -> {
            try {
                return store.vm(name).map(Store.VmRow::spec);
            } catch (SQLException e) {
                return Optional.empty();
            }
        };
        this.watcher = Thread.ofPlatform().daemon().name("vmm-watcher").unstarted(this::watch);
    }

    void setResolver(java.util.function.UnaryOperator<VmSpec> r) {
        this.resolver = r;
    }

    RunDir runDir(String name) {
        return new RunDir(runRoot.resolve(name));
    }

    private Instance instance(String name) {
        return instances.computeIfAbsent(name, Instance::new);
    }

    /**
     * Finds the VMMs a previous daemon started (status files whose pid still runs the process
     * started then) and takes them over; a VM that should run but whose VMM is gone is crashed,
     * or stopped when its VMM wrote that the guest powered off. Then starts watching.
     */
    public void adopt(List<Store.VmRow> vms) {
        for (Store.VmRow row : vms) {
            String name = row.spec().name();
            Instance in = instance(name);
            RunDir rd = runDir(name);
            Optional<RunDir.Status> st = rd.status();
            Optional<ProcessHandle> p = st.flatMap(s -> ProcessHandle.of(s.pid())).filter(h -> sameProcess(h, st.get()));
            synchronized (in) {
                if (p.isPresent()) {
                    in.process = p.get();
                    in.startedSpec = st.get().specJson();
                    in.state = "starting";
                    connect(in, rd, 10_000);
                    setLimits(in, row.spec(), p.get().pid()); // the same limits, written again
                    event(name, "adopted", "the VMM (pid " + p.get().pid() + ") runs on from before the daemon started");
                } else if (st.isPresent() || row.shouldRun()) {
                    ended(in, rd);
                }
            }
        }
        watcher.start();
    }

    /** Whether the pid still runs the VMM the status file names: the same start time, a jvisor command line, not a zombie. */
    private static boolean sameProcess(ProcessHandle h, RunDir.Status s) {
        return s.startTicks() > 0 && HostFacts.startTicks(h.pid()) == s.startTicks() && HostFacts.commandLine(h.pid()).contains("org.jvisor.cli.Main")
                && !HostFacts.dead(h);
    }

    /** Starts the VM's VMM and waits until its API answers. */
    public void start(VmSpec spec) throws Refused, IOException {
        start(spec, null);
    }

    /** Starts the VM's VMM, booting it, or continuing the guest saved in {@code restoreFrom}; waits until its API answers. */
    public void start(VmSpec spec, Path restoreFrom) throws Refused, IOException {
        start(spec, restoreFrom, null);
    }

    /**
     * Starts a VMM that waits on {@code uri} for the VM live-migrated from another daemon, and
     * returns once it listens; its API comes up when the VM has arrived.
     */
    public void startIncoming(VmSpec spec, String uri) throws Refused, IOException {
        start(spec, null, uri);
    }

    private void start(VmSpec spec, Path restoreFrom, String incoming) throws Refused, IOException {
        if (Boolean.TRUE.equals(spec.template())) throw new Refused(409, "VM '" + spec.name() + "' is a template: clone it, and start the clone");
        Instance in = instance(spec.name());
        synchronized (in) {
            if (in.process != null && !HostFacts.dead(in.process)) throw new Refused(409, "VM '" + spec.name() + "' is already " + in.state);
            RunDir rd = runDir(spec.name());
            Files.createDirectories(rd.dir());
            Files.deleteIfExists(rd.socket());
            Files.deleteIfExists(rd.exitFile());
            List<String> cmd = new ArrayList<>(VmmCommand.prefix());
            VmSpec resolved;
            try {
                resolved = resolver.apply(spec);
            } catch (RuntimeException e) {
                throw new Refused(409, "VM '" + spec.name() + "' cannot start: " + e.getMessage());
            }
            for (VmSpec.Disk d : resolved.disks()) {
                if (!Files.isRegularFile(Path.of(d.path()))) throw new Refused(409, "VM '" + spec.name() + "' cannot start: its disk " + d.path() + " is missing");
            }
            if (restoreFrom != null) cmd.addAll(List.of("--restore", restoreFrom.toString())); // the machine comes from the state file
            else if (incoming != null) cmd.addAll(List.of("--incoming", incoming)); // or from the migration's source
            else cmd.addAll(resolved.runArguments());
            // A JVM sizes its heap from the RAM it sees at start, before it is put in its cgroup: tell it the limit.
            if (spec.memoryLimitBytes() != null) cmd.add(cmd.indexOf("-cp"), "-XX:MaxRAM=" + (spec.memoryLimitBytes() - spec.memoryBytes()));
            cmd.addAll(List.of("--api-socket", rd.socket().toString(), "--exit-file", rd.exitFile().toString()));
            ProcessHandle h;
            String specJson = JSON.writeValueAsString(spec);
            synchronized (admission) { // two starts at once must not both take the last of the memory they reserve
                String refused = admit(spec);
                if (refused != null) throw new Refused(409, "VM '" + spec.name() + "' cannot start: " + refused);
                Process proc = new ProcessBuilder(cmd).directory(rd.dir().toFile())
                        .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                        .redirectOutput(ProcessBuilder.Redirect.appendTo(rd.console().toFile()))
                        .redirectError(ProcessBuilder.Redirect.appendTo(rd.log().toFile()))
                        .start();
                h = proc.toHandle();
                rd.writeStatus(new RunDir.Status(h.pid(), HostFacts.startTicks(h.pid()), specJson));
                in.process = h;
                in.startedSpec = specJson;
            }
            in.crashConsole = null;
            in.stopping = false;
            in.state = "starting";
            try {
                store.setShouldRun(spec.name(), true);
            } catch (SQLException e) {
                throw new IOException(e.getMessage(), e);
            }
            event(spec.name(), "started", "VMM pid " + h.pid());
            setLimits(in, spec, h.pid());
            if (incoming != null) {
                awaitListening(in, rd, h);
                return;
            }
            if (!connect(in, rd, API_WAIT_MILLIS)) {
                String why = rd.consoleTail(400) + tail(rd.log());
                h.destroyForcibly();
                throw new Refused(500, "the VMM did not come up: " + why.strip());
            }
        }
    }

    /** Waits for the incoming VMM to say it listens, then follows it in the background until its API is up (the VM arrived). */
    private void awaitListening(Instance in, RunDir rd, ProcessHandle h) throws Refused {
        long end = System.currentTimeMillis() + API_WAIT_MILLIS;
        while (!tail(rd.log()).contains("waiting for a migration on")) {
            if (HostFacts.dead(h) || System.currentTimeMillis() > end) {
                h.destroyForcibly();
                throw new Refused(500, "the incoming VMM did not listen: " + tail(rd.log()).strip());
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new Refused(503, "the daemon is stopping");
            }
        }
        in.state = "incoming";
        Thread.ofVirtual().start(() -> connect(in, rd, 30 * 60_000L));
    }

    private static String tail(Path f) {
        try {
            String s = Files.readString(f);
            return s.length() > 600 ? s.substring(s.length() - 600) : s;
        } catch (IOException e) {
            return "";
        }
    }

    /** Waits for the VMM's API socket and opens a client on it; false when the VMM died or never served. */
    private boolean connect(Instance in, RunDir rd, long waitMillis) {
        long end = System.currentTimeMillis() + waitMillis;
        while (System.currentTimeMillis() < end) {
            ProcessHandle h = in.process;
            if (h == null || HostFacts.dead(h)) return false;
            if (Files.exists(rd.socket())) {
                try {
                    ApiClient c = new ApiClient(rd.socket());
                    ApiClient.Result r = c.send("GET", "/vm.info", null, 5);
                    if (r.ok()) {
                        in.api = c;
                        in.state = JSON.readTree(r.body()).get("state").asText();
                        return true;
                    }
                    c.close();
                } catch (IOException | RuntimeException e) {
                    // not serving yet
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return false;
                }
            }
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }
        return false;
    }

    private ApiClient api(String name, String forWhat) throws Refused {
        Instance in = instances.get(name);
        if (in == null || in.process == null || HostFacts.dead(in.process)) throw new Refused(409, "VM '" + name + "' is not running: cannot " + forWhat);
        ApiClient c = in.api;
        if (c == null) throw new Refused(409, "VM '" + name + "' is still starting: cannot " + forWhat + " yet");
        return c;
    }

    /** Sends a request to the VM's VMM; its errors come back with their status and message. */
    public JsonNode call(String name, String method, String path, String body, String forWhat) throws Refused {
        ApiClient c = api(name, forWhat);
        try {
            ApiClient.Result r = c.send(method, path, body, 60);
            if (!r.ok()) {
                String msg = r.body();
                try {
                    msg = JSON.readTree(r.body()).get("error").asText();
                } catch (IOException | RuntimeException e) {
                    // not JSON: pass the text on
                }
                throw new Refused(r.status() == 400 ? 400 : 409, msg);
            }
            return r.body().isEmpty() ? null : JSON.readTree(r.body());
        } catch (IOException e) {
            throw new Refused(502, "VM '" + name + "': no answer from its VMM: " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new Refused(503, "the daemon is stopping");
        }
    }

    private void setLimits(Instance in, VmSpec spec, long pid) {
        GroupSpec g = null;
        if (Admission.grouped(spec)) {
            try {
                g = store.group(spec.group()).map(Store.GroupRow::spec).orElse(null);
            } catch (SQLException e) {
                g = null;
            }
        }
        Cgroups.Limits own = Cgroups.Limits.of(spec), groupLimits = g == null ? null : Cgroups.Limits.of(g);
        boolean any = own.any() || groupLimits != null && groupLimits.any();
        String why = cgroups.apply(spec.name(), pid, own, g == null ? null : g.name(), groupLimits);
        in.limits = why != null ? why : any ? "enforced" : "none";
        if (why != null && any) event(spec.name(), "limits-not-enforced", why);
    }

    /** Held while a reservation is checked and taken (a start, a change of a running VM or a group). */
    final Object admission = new Object();

    /** Null if the VM's memory reservation fits beside the running VMs' and the groups' (see {@link Admission}), else why not. */
    String admit(VmSpec spec) {
        try {
            Map<String, GroupSpec> groups = new java.util.HashMap<>();
            for (Store.GroupRow g : store.groups()) groups.put(g.spec().name(), g.spec());
            return Admission.check(spec, runningSpecs(spec.name()), groups, HostFacts.memoryBytes());
        } catch (SQLException e) {
            return "the daemon's database failed: " + e.getMessage();
        }
    }

    /** The definitions the running VMs (all but {@code except}) run with, limits as they are now. */
    List<VmSpec> runningSpecs(String except) {
        List<VmSpec> out = new ArrayList<>();
        for (Instance in : instances.values()) {
            if (in.name.equals(except) || in.process == null || HostFacts.dead(in.process) || in.startedSpec == null) continue;
            try {
                out.add(JSON.readValue(in.startedSpec, VmSpec.class));
            } catch (IOException e) {
                // a status file from an older daemon: no reservation known
            }
        }
        return out;
    }

    /** A resource group's limits changed: its cgroup takes them at once. Null when done, else why not. */
    String applyGroup(GroupSpec g) {
        return cgroups.applyGroup(g.name(), Cgroups.Limits.of(g));
    }

    void removeGroup(String group) {
        cgroups.removeGroup(group);
    }

    /** A running VM takes its definition's new CPU and memory limits at once. */
    public void applyLimits(VmSpec spec) {
        Instance in = instances.get(spec.name());
        ProcessHandle h = in == null ? null : in.process;
        if (h == null || HostFacts.dead(h)) return;
        setLimits(in, spec, h.pid());
        try {
            VmSpec started = JSON.readValue(in.startedSpec, VmSpec.class);
            in.startedSpec = JSON.writeValueAsString(started.copy().live(spec).build());
        } catch (IOException e) {
            // pendingRestart then shows the limits too
        }
    }

    /** The definition as its VMM is started with it: pool volumes as paths. */
    VmSpec resolve(VmSpec spec) {
        return resolver.apply(spec);
    }

    /** Waits until the VM's VMM has ended (a migration's source exits once the far side runs), as a requested stop. */
    void awaitGone(String name, long millis) {
        Instance in = instances.get(name);
        if (in == null) return;
        in.stopping = true;
        ProcessHandle h = in.process;
        awaitExit(h, millis);
        reap(in);
    }

    /** The CPU quota a resource group's cgroup holds, in cores (0: none). */
    public double enforcedGroupCpuLimit(String group) {
        return cgroups.groupCpuLimit(group);
    }

    /** Reads the VM's state from its VMM now (after a pause or resume), rather than at the watcher's next round. */
    public void refresh(String name) throws Refused {
        JsonNode info = call(name, "GET", "/vm.info", null, "read its state");
        Instance in = instances.get(name);
        if (in != null && info != null) {
            in.reads.incrementAndGet();
            in.state = info.get("state").asText();
        }
    }

    /** Hard stop: the VMM is told to stop, and killed if it does not end within 5 s. */
    public void stop(String name) throws Refused {
        Instance in = instances.get(name);
        if (in == null) throw new Refused(409, "VM '" + name + "' is not running");
        ProcessHandle h;
        synchronized (in) {
            h = in.process;
            if (h == null || HostFacts.dead(h)) throw new Refused(409, "VM '" + name + "' is not running");
            in.stopping = true;
        }
        try {
            if (in.api != null) in.api.send("PUT", "/vm.stop", null, 5);
        } catch (IOException e) {
            // it is killed below
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (!awaitExit(h, 5000)) {
            h.destroy();
            if (!awaitExit(h, 3000)) h.destroyForcibly();
        }
        awaitExit(h, 3000);
        reap(in);
    }

    /** ACPI power button, then a hard stop when the guest has not powered off within {@code timeoutMillis}. Returns how it ended. */
    public String shutdown(String name, long timeoutMillis) throws Refused {
        Instance in = instances.get(name);
        ProcessHandle h = in == null ? null : in.process;
        call(name, "PUT", "/vm.power-button", null, "shut down");
        if (in != null) in.stopping = true;
        if (awaitExit(h, timeoutMillis)) {
            reap(in);
            return "the guest powered off";
        }
        stop(name);
        return "the guest did not power off within " + timeoutMillis / 1000 + " s: stopped";
    }

    /** Waits for the process to end (or turn zombie: see {@link HostFacts#dead}); false when it still runs after {@code millis}. */
    private static boolean awaitExit(ProcessHandle h, long millis) {
        if (h == null) return true;
        long end = System.currentTimeMillis() + millis;
        while (!HostFacts.dead(h)) {
            if (System.currentTimeMillis() > end) return false;
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return HostFacts.dead(h);
            }
        }
        return true;
    }

    public Live live(String name) {
        Instance in = instances.get(name);
        if (in == null) return new Live("stopped", null, null, null, null);
        ProcessHandle h = in.process;
        return new Live(in.state, h != null && !HostFacts.dead(h) ? h.pid() : null, in.startedSpec, in.crashConsole, in.limits);
    }

    /** Whether the VM has a VMM (running, paused or starting). */
    public boolean active(String name) {
        Instance in = instances.get(name);
        return in != null && in.process != null && !HostFacts.dead(in.process);
    }

    /** Forgets a deleted VM (it must not be running) and removes its run directory. */
    public void forget(String name) throws IOException {
        Instance in = instances.remove(name);
        if (in != null && in.api != null) in.api.close();
        Path dir = runDir(name).dir();
        if (Files.isDirectory(dir)) {
            try (var files = Files.list(dir)) {
                for (Path f : files.toList()) Files.deleteIfExists(f);
            }
            Files.deleteIfExists(dir);
        }
    }

    /** The pids of the running VMMs, by VM name. */
    public Map<String, Long> pids() {
        Map<String, Long> m = new java.util.TreeMap<>();
        instances.forEach((n, in) -> {
            ProcessHandle h = in.process;
            if (h != null && !HostFacts.dead(h)) m.put(n, h.pid());
        });
        return m;
    }

    private void watch() {
        while (!closed.get()) {
            for (Instance in : instances.values()) {
                ProcessHandle h = in.process;
                if (h == null) continue;
                String why = HostFacts.whyDead(h);
                if (why != null) {
                    synchronized (in) {
                        if (in.process == h) {
                            in.deathEvidence = why;
                            ended(in, runDir(in.name));
                        }
                    }
                    continue;
                }
                ApiClient c = in.api;
                if (c != null && !in.stopping) {
                    try {
                        int reads = in.reads.get();
                        ApiClient.Result r = c.send("GET", "/vm.info", null, 2);
                        if (r.ok() && in.reads.get() == reads) in.state = JSON.readTree(r.body()).get("state").asText();
                    } catch (IOException | RuntimeException e) {
                        // the exit is seen on the next round
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            }
            try {
                Thread.sleep(WATCH_MILLIS);
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    private void reap(Instance in) {
        if (in == null) return;
        synchronized (in) {
            if (in.process != null && HostFacts.dead(in.process)) ended(in, runDir(in.name));
        }
    }

    /** The VMM is gone: record how it ended, and start it again when its policy says so. Called holding the instance. */
    private void ended(Instance in, RunDir rd) {
        Optional<Integer> code = rd.exitCode();
        boolean clean = in.stopping || code.isPresent() && code.get() == 0;
        if (in.api != null) in.api.close();
        in.api = null;
        in.process = null;
        try {
            rd.clearStatus();
        } catch (IOException e) {
            // a stale status file names a dead pid: it is not adopted
        }
        cgroups.remove(in.name);
        if (clean) {
            in.state = "stopped";
            in.crashConsole = null;
            setShouldRun(in.name, false);
            event(in.name, "stopped", in.stopping ? "stopped by request" : "the guest powered off");
        } else {
            in.state = "crashed";
            in.crashConsole = rd.consoleTail(2000);
            event(in.name, "crashed", "the VMM ended " + code.map(c -> "with exit code " + c).orElse("without an exit status (killed?)")
                    + (in.deathEvidence != null ? "; " + in.deathEvidence : ""));
            in.deathEvidence = null;
            VmSpec spec = specs.apply(in.name).orElse(null);
            if (spec != null && "on-failure".equals(spec.restart()) && !closed.get()) restartLater(in, spec);
        }
        in.stopping = false;
    }

    private void restartLater(Instance in, VmSpec spec) {
        long now = System.currentTimeMillis();
        in.restarts.removeIf(t -> t < now - 60_000);
        if (in.restarts.size() >= MAX_RESTARTS) {
            event(in.name, "restart-given-up", MAX_RESTARTS + " restarts within a minute: left crashed");
            return;
        }
        in.restarts.add(now);
        Thread.ofVirtual().start(() -> {
            try {
                start(spec);
                event(in.name, "restarted", "restart policy on-failure");
            } catch (Refused | IOException e) {
                event(in.name, "restart-failed", e.getMessage());
            }
        });
    }

    private void setShouldRun(String name, boolean run) {
        try {
            store.setShouldRun(name, run);
        } catch (SQLException e) {
            // the VM may have been deleted meanwhile
        }
    }

    private void event(String vm, String kind, String message) {
        try {
            store.event(vm, kind, message);
        } catch (SQLException e) {
            System.err.println("jvisord: cannot record event " + kind + " of " + vm + ": " + e.getMessage());
        }
    }

    /** Stops watching; the VMMs run on (a new daemon adopts them). */
    @Override
    public void close() {
        closed.set(true);
        watcher.interrupt();
        for (Instance in : instances.values()) if (in.api != null) in.api.close();
    }
}
