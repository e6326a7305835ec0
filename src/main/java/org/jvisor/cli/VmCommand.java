package org.jvisor.cli;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code jvisor vm ...}: the daemon's VMs from the command line. Tables by default, the API's JSON
 * with --json. Exit 0 when the daemon did it, 1 with one line on stderr when it refused.
 */
@Command(name = "vm", description = "Manage the daemon's VMs: list, create, start, stop, shutdown, reboot, pause, resume, info, console, set, delete, snapshot, snapshots, rollback, template, clone.",
        subcommands = {VmCommand.ListVms.class, VmCommand.Create.class, VmCommand.Action.Start.class, VmCommand.Action.Stop.class,
                VmCommand.Shutdown.class, VmCommand.Action.Reboot.class, VmCommand.Action.Pause.class, VmCommand.Action.Resume.class,
                VmCommand.Info.class, VmCommand.Console.class, VmCommand.Set.class, VmCommand.Delete.class, VmCommand.Snapshot.class,
                VmCommand.SnapshotList.class, VmCommand.Rollback.class, VmCommand.SnapshotDelete.class, VmCommand.Template.class, VmCommand.Clone.class, VmCommand.Migrate.class})
final class VmCommand implements Callable<Integer> {
    @Override
    public Integer call() {
        System.err.println("jvisor vm: name a subcommand (jvisor vm --help lists them)");
        return 2;
    }

    /** Options every subcommand takes: where the daemon is, and the output form. */
    static final class Common {
        @Option(names = "--state", paramLabel = "DIR", description = "the daemon's state directory (to find its URL and admin token)") Path state;
        @Option(names = "--json", description = "print the API's JSON instead of a table") boolean json;
    }

    /** Runs one call against the daemon and prints the result; failures are one line on stderr. */
    abstract static class Base implements Callable<Integer> {
        @Mixin Common common = new Common();

        abstract JsonNode run(DaemonClient c) throws DaemonClient.Failure;

        void print(JsonNode answer, PrintStream out) {
            if (answer != null) out.println(answer.toPrettyString());
        }

        @Override
        public Integer call() {
            try {
                JsonNode answer = run(new DaemonClient(common.state));
                if (common.json) {
                    if (answer != null) System.out.println(answer.toPrettyString());
                } else {
                    print(answer, System.out);
                }
                return 0;
            } catch (DaemonClient.Failure e) {
                System.err.println("jvisor: " + e.getMessage());
                return 1;
            }
        }
    }

    /** The resource limits create and set take (cgroups; a running VM takes them at once). */
    static final class Limits {
        @Option(names = "--cpu-limit", paramLabel = "CORES", description = "at most this many host cores (0: no limit)") Double cpuLimit;
        @Option(names = "--cpu-shares", paramLabel = "N", description = "CPU weight against other VMs (default 1024)") Integer cpuShares;
        @Option(names = "--memory-limit", paramLabel = "SIZE", description = "the VMM's memory ceiling (at least the RAM + 512M)") String memoryLimit;
        @Option(names = "--cpu-alert", paramLabel = "PERCENT", description = "alert when the VMM's CPU use passes this (% of a core; 0: none)") Double cpuAlert;
        @Option(names = "--ready-alert", paramLabel = "PERCENT", description = "alert when its CPU ready time passes this % (0: none)") Double readyAlert;
        @Option(names = "--disk-latency-alert", paramLabel = "MS", description = "alert when its disks' mean request latency passes this (ms; 0: none)") Double diskLatencyAlert;
        @Option(names = "--memory-reservation", paramLabel = "SIZE", description = "memory the host keeps for it while it runs (a start that cannot have it is refused)") String memoryReservation;
        @Option(names = "--group", paramLabel = "GROUP", description = "the resource group it belongs to (jvisor group list; \"\" for none)") String group;

        void into(Map<String, Object> m) throws DaemonClient.Failure {
            if (cpuLimit != null) m.put("cpuLimit", cpuLimit);
            if (cpuShares != null) m.put("cpuShares", cpuShares);
            if (memoryLimit != null) m.put("memoryLimitBytes", size(memoryLimit));
            if (cpuAlert != null) m.put("cpuAlertPercent", cpuAlert);
            if (readyAlert != null) m.put("readyAlertPercent", readyAlert);
            if (diskLatencyAlert != null) m.put("diskLatencyAlertMs", diskLatencyAlert);
            if (memoryReservation != null) m.put("memoryReservationBytes", size(memoryReservation));
            if (group != null) m.put("group", group);
        }
    }

    static String path(String name) {
        return "/vms/" + java.net.URLEncoder.encode(name, java.nio.charset.StandardCharsets.UTF_8);
    }

    static void table(PrintStream out, JsonNode vms) {
        out.printf("%-24s %-9s %8s %6s %6s%n", "NAME", "STATE", "PID", "VCPUS", "MEMORY");
        for (JsonNode v : vms) {
            out.printf("%-24s %-9s %8s %6d %5dM%s%n", v.get("name").asText(), v.get("state").asText(), v.get("pid").isNull() ? "-" : v.get("pid").asText(),
                    v.get("spec").get("vcpus").asInt(), v.get("spec").get("memoryBytes").asLong() >> 20, v.get("pendingRestart").asBoolean() ? "  (restart pending)" : "");
        }
    }

    @Command(name = "list", description = "List the VMs and their state.")
    static final class ListVms extends Base {
        @Override
        JsonNode run(DaemonClient c) throws DaemonClient.Failure {
            return c.get("/vms");
        }

        @Override
        void print(JsonNode answer, PrintStream out) {
            table(out, answer);
        }
    }

    @Command(name = "create", description = "Define a VM (it boots the guest kit's Debian kernel unless told otherwise).")
    static final class Create extends Base {
        @Parameters(index = "0", paramLabel = "NAME") String name;
        @Option(names = "--memory", description = "guest RAM, e.g. 256M (default), 1G") String memory;
        @Option(names = "--kernel", description = "bzImage or vmlinux, an absolute path") Path kernel;
        @Option(names = "--initrd", description = "initramfs, an absolute path") Path initrd;
        @Option(names = "--cmdline", description = "kernel command line") String cmdline;
        @Option(names = "--disk", paramLabel = "PATH|POOL:VOLUME[,readonly=on][,iops=N][,bps=SIZE]", description = "a disk: an image file, or a pool's volume, with optional I/O limits (repeatable)") List<String> disks = new ArrayList<>();
        @Option(names = "--nic", paramLabel = "TAP[,mac=M][,bps|rx-bps|tx-bps=SIZE]",
                description = "a virtio-net NIC on an existing TAP interface, optionally rate-limited in bytes per second (repeatable)") List<String> nics = new ArrayList<>();
        @Option(names = "--balloon", description = "a virtio-balloon device") boolean balloon;
        @Option(names = "--rng", description = "a virtio-rng device") boolean rng;
        @Option(names = "--autostart", description = "start the VM when the daemon starts") boolean autostart;
        @Option(names = "--restart", paramLabel = "POLICY", description = "no (default) or on-failure: start it again when its VMM dies") String restart;
        @Mixin Limits limits = new Limits();

        @Override
        JsonNode run(DaemonClient c) throws DaemonClient.Failure {
            Map<String, Object> spec = new LinkedHashMap<>();
            spec.put("name", name);
            if (memory != null) spec.put("memoryBytes", size(memory));
            if (kernel != null) spec.put("kernel", kernel.toAbsolutePath().toString());
            if (initrd != null) spec.put("initrd", initrd.toAbsolutePath().toString());
            if (cmdline != null) spec.put("cmdline", cmdline);
            List<Map<String, Object>> ds = new ArrayList<>();
            for (String d : disks) {
                String[] parts = d.split(",");
                Map<String, Object> m = new LinkedHashMap<>();
                int colon = parts[0].indexOf(':');
                if (colon > 0 && !parts[0].startsWith("/")) {
                    m.put("pool", parts[0].substring(0, colon));
                    m.put("volume", parts[0].substring(colon + 1));
                } else {
                    m.put("path", Path.of(parts[0]).toAbsolutePath().toString());
                }
                for (int i = 1; i < parts.length; i++) {
                    String[] kv = parts[i].split("=", 2);
                    String v = kv.length == 2 ? kv[1] : "";
                    switch (kv[0]) {
                        case "readonly" -> m.put("readonly", v.equals("on"));
                        case "iops" -> {
                            try {
                                m.put("iops", Long.parseLong(v));
                            } catch (NumberFormatException e) {
                                throw new DaemonClient.Failure("--disk " + d + ": iops takes a number");
                            }
                        }
                        case "bps" -> m.put("bps", size(v));
                        default -> throw new DaemonClient.Failure("--disk " + d + ": unknown option '" + kv[0] + "' (readonly, iops, bps)");
                    }
                }
                ds.add(m);
            }
            if (!ds.isEmpty()) spec.put("disks", ds);
            List<Map<String, Object>> ns = new ArrayList<>();
            for (String n : nics) ns.add(nic(n));
            if (!ns.isEmpty()) spec.put("nics", ns);
            if (balloon) spec.put("balloon", true);
            if (rng) spec.put("rng", true);
            if (autostart) spec.put("autostart", true);
            if (restart != null) spec.put("restart", restart);
            limits.into(spec);
            return c.post("/vms", spec);
        }

        @Override
        void print(JsonNode answer, PrintStream out) {
            out.println("created VM '" + answer.get("name").asText() + "' (start it with: jvisor vm start " + answer.get("name").asText() + ")");
        }
    }

    /** One --nic: TAP[,mac=M][,bps|rx-bps|tx-bps=SIZE] as the API's Nic (rx: to the guest). */
    static Map<String, Object> nic(String n) throws DaemonClient.Failure {
        String[] parts = n.split(",");
        Map<String, Object> m = new LinkedHashMap<>(Map.of("tap", parts[0]));
        for (int i = 1; i < parts.length; i++) {
            String[] kv = parts[i].split("=", 2);
            String v = kv.length == 2 ? kv[1] : "";
            switch (kv[0]) {
                case "mac" -> m.put("mac", v);
                case "bps" -> {
                    m.put("rxBps", size(v));
                    m.put("txBps", size(v));
                }
                case "rx-bps" -> m.put("rxBps", size(v));
                case "tx-bps" -> m.put("txBps", size(v));
                default -> throw new DaemonClient.Failure("--nic " + n + ": unknown option '" + kv[0] + "' (mac, bps, rx-bps, tx-bps)");
            }
        }
        return m;
    }

    static long size(String s) throws DaemonClient.Failure {
        try {
            return Sizes.parse(s);
        } catch (IllegalArgumentException e) {
            throw new DaemonClient.Failure("size " + s + ": " + e.getMessage());
        }
    }

    /** The actions that take only a VM's name. */
    abstract static class Action extends Base {
        @Parameters(index = "0", paramLabel = "NAME") String name;

        abstract String verb();

        @Override
        JsonNode run(DaemonClient c) throws DaemonClient.Failure {
            return c.post(path(name) + "/" + verb(), null);
        }

        @Override
        void print(JsonNode answer, PrintStream out) {
            out.println(name + ": " + (answer != null && answer.has("state") ? answer.get("state").asText() : "done"));
        }

        @Command(name = "start", description = "Start a VM (its VMM process).")
        static final class Start extends Action {
            String verb() {
                return "start";
            }
        }

        @Command(name = "stop", description = "Stop a VM at once, as pulling its plug would.")
        static final class Stop extends Action {
            String verb() {
                return "stop";
            }
        }

        @Command(name = "reboot", description = "Stop a VM and start it again (with its definition's latest changes).")
        static final class Reboot extends Action {
            String verb() {
                return "reboot";
            }
        }

        @Command(name = "pause", description = "Pause a VM's vCPUs.")
        static final class Pause extends Action {
            String verb() {
                return "pause";
            }
        }

        @Command(name = "resume", description = "Resume a paused VM.")
        static final class Resume extends Action {
            String verb() {
                return "resume";
            }
        }
    }

    @Command(name = "shutdown", description = "Press a VM's ACPI power button; stop it if the guest has not powered off in time.")
    static final class Shutdown extends Base {
        @Parameters(index = "0", paramLabel = "NAME") String name;
        @Option(names = "--timeout", paramLabel = "SECONDS", description = "how long the guest may take (default 60)") Long timeout;

        @Override
        JsonNode run(DaemonClient c) throws DaemonClient.Failure {
            return c.post(path(name) + "/shutdown", timeout == null ? null : Map.of("timeoutSeconds", timeout));
        }

        @Override
        void print(JsonNode answer, PrintStream out) {
            out.println(name + ": " + answer.get("result").asText());
        }
    }

    @Command(name = "info", description = "Show a VM's definition, state and what its VMM reports.")
    static final class Info extends Base {
        @Parameters(index = "0", paramLabel = "NAME") String name;

        @Override
        JsonNode run(DaemonClient c) throws DaemonClient.Failure {
            return c.get(path(name));
        }
    }

    @Command(name = "set", description = "Change a VM's definition; a running VM takes limits, reservation, group and alerts at once, the rest at its next start.")
    static final class Set extends Base {
        @Parameters(index = "0", paramLabel = "NAME") String name;
        @Option(names = "--memory") String memory;
        @Option(names = "--cmdline") String cmdline;
        @Option(names = "--autostart", arity = "1", paramLabel = "true|false") Boolean autostart;
        @Option(names = "--restart", paramLabel = "POLICY") String restart;
        @Mixin Limits limits = new Limits();

        @Override
        JsonNode run(DaemonClient c) throws DaemonClient.Failure {
            Map<String, Object> patch = new LinkedHashMap<>();
            if (memory != null) patch.put("memoryBytes", size(memory));
            if (cmdline != null) patch.put("cmdline", cmdline);
            if (autostart != null) patch.put("autostart", autostart);
            if (restart != null) patch.put("restart", restart);
            limits.into(patch);
            if (patch.isEmpty()) throw new DaemonClient.Failure("nothing to change: give --memory, --cmdline, --autostart, --restart or a limit (jvisor vm set --help)");
            return c.send("PATCH", path(name), patch);
        }

        @Override
        void print(JsonNode answer, PrintStream out) {
            out.println(name + ": changed" + (answer.get("pendingRestart").asBoolean() ? " (takes effect when the VM next starts)" : ""));
        }
    }

    @Command(name = "delete", description = "Delete a stopped VM's definition (its disk images are left alone).")
    static final class Delete extends Base {
        @Parameters(index = "0", paramLabel = "NAME") String name;

        @Override
        JsonNode run(DaemonClient c) throws DaemonClient.Failure {
            return c.send("DELETE", path(name), null);
        }

        @Override
        void print(JsonNode answer, PrintStream out) {
            out.println("deleted VM '" + name + "'");
        }
    }

    /**
     * The serial console: --type sends text, --history prints what the guest printed; with
     * neither, attaches (output as it comes, keys to the guest, Ctrl-] detaches as in virsh).
     */
    @Command(name = "console", description = "Attach to a VM's serial console (Ctrl-] detaches), or --type TEXT / --history.")
    static final class Console extends Base {
        @Parameters(index = "0", paramLabel = "NAME") String name;
        @Option(names = "--type", paramLabel = "TEXT", description = "type TEXT on the console (\\n for Enter) and exit") String type;
        @Option(names = "--history", description = "print the console's output history and exit") boolean history;

        @Override
        JsonNode run(DaemonClient c) throws DaemonClient.Failure {
            if (type != null) return c.post(path(name) + "/console", Map.of("text", type.replace("\\n", "\n")));
            if (history) return c.get(path(name) + "/console");
            attach(c);
            return null;
        }

        @Override
        void print(JsonNode answer, PrintStream out) {
            if (answer != null && answer.has("text")) out.print(answer.get("text").asText());
        }

        private void attach(DaemonClient c) throws DaemonClient.Failure {
            JsonNode first = c.get(path(name) + "/console");
            long seen = first.get("totalBytes").asLong();
            System.out.print(first.get("text").asText());
            System.out.flush();
            System.err.println("\r\n[attached to " + name + "; Ctrl-] detaches]");
            org.jvisor.sys.Terminal raw = null;
            if (org.jvisor.sys.Terminal.isTerminal(0)) {
                try {
                    raw = new org.jvisor.sys.Terminal(0);
                } catch (IOException e) {
                    // line-buffered then: Enter sends a line
                }
            }
            Thread keys = Thread.ofVirtual().start(() -> pumpKeys(c, System.in));
            try {
                while (keys.isAlive()) {
                    JsonNode now = c.get(path(name) + "/console");
                    long total = now.get("totalBytes").asLong();
                    String text = now.get("text").asText();
                    if (total > seen) {
                        byte[] bytes = text.getBytes(java.nio.charset.StandardCharsets.ISO_8859_1);
                        long fresh = Math.min(total - seen, bytes.length);
                        System.out.write(bytes, (int) (bytes.length - fresh), (int) fresh);
                        System.out.flush();
                        seen = total;
                    }
                    Thread.sleep(100);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                if (raw != null) raw.close();
            }
        }

        private void pumpKeys(DaemonClient c, InputStream in) {
            byte[] b = new byte[256];
            try {
                for (int n; (n = in.read(b)) > 0; ) {
                    int end = n;
                    for (int i = 0; i < n; i++) if (b[i] == 0x1D) end = i; // Ctrl-]
                    if (end > 0) c.post(path(name) + "/console", Map.of("text", new String(b, 0, end, java.nio.charset.StandardCharsets.UTF_8)));
                    if (end < n) return;
                }
            } catch (IOException | DaemonClient.Failure e) {
                // the daemon or the terminal went away: detach
            }
        }
    }

    @Command(name = "snapshot", description = "Take a snapshot (with memory when the VM runs, unless --no-memory; of its disks when it is stopped).")
    static final class Snapshot extends Base {
        @Parameters(index = "0", paramLabel = "NAME") String name;
        @Parameters(index = "1", paramLabel = "SNAPSHOT") String snapshot;
        @Option(names = "--no-memory", description = "disks only (a running guest is paused for the moment its disks take new overlays)") boolean noMemory;

        @Override
        JsonNode run(DaemonClient c) throws DaemonClient.Failure {
            Map<String, Object> m = new LinkedHashMap<>(Map.of("name", snapshot));
            if (noMemory) m.put("memory", false);
            return c.post(path(name) + "/snapshots", m);
        }

        @Override
        void print(JsonNode a, PrintStream out) {
            out.println(name + ": snapshot '" + snapshot + "' taken" + (a.get("memory").asBoolean() ? " with memory" : " (disks)"));
        }
    }

    @Command(name = "snapshots", description = "List a VM's snapshots.")
    static final class SnapshotList extends Base {
        @Parameters(index = "0", paramLabel = "NAME") String name;

        @Override
        JsonNode run(DaemonClient c) throws DaemonClient.Failure {
            return c.get(path(name) + "/snapshots");
        }

        @Override
        void print(JsonNode a, PrintStream out) {
            out.printf("%-24s %-7s %s%n", "SNAPSHOT", "MEMORY", "CREATED");
            for (JsonNode s : a) out.printf("%-24s %-7s %s%n", s.get("name").asText(), s.get("memory").asBoolean() ? "yes" : "no", s.get("created").asText());
        }
    }

    @Command(name = "rollback", description = "Go back to a snapshot (what was written since is dropped).")
    static final class Rollback extends Base {
        @Parameters(index = "0", paramLabel = "NAME") String name;
        @Parameters(index = "1", paramLabel = "SNAPSHOT") String snapshot;

        @Override
        JsonNode run(DaemonClient c) throws DaemonClient.Failure {
            return c.post(path(name) + "/snapshots/" + snapshot + "/rollback", null);
        }

        @Override
        void print(JsonNode a, PrintStream out) {
            out.println(name + ": " + a.get("result").asText());
        }
    }

    @Command(name = "snapshot-delete", description = "Delete a snapshot.")
    static final class SnapshotDelete extends Base {
        @Parameters(index = "0", paramLabel = "NAME") String name;
        @Parameters(index = "1", paramLabel = "SNAPSHOT") String snapshot;

        @Override
        JsonNode run(DaemonClient c) throws DaemonClient.Failure {
            return c.send("DELETE", path(name) + "/snapshots/" + snapshot, null);
        }

        @Override
        void print(JsonNode a, PrintStream out) {
            out.println(name + ": snapshot '" + snapshot + "' deleted");
        }
    }

    @Command(name = "template", description = "Make a stopped VM a template (it never starts again; linked clones share its volumes).")
    static final class Template extends Base {
        @Parameters(index = "0", paramLabel = "NAME") String name;

        @Override
        JsonNode run(DaemonClient c) throws DaemonClient.Failure {
            return c.post(path(name) + "/template", null);
        }

        @Override
        void print(JsonNode a, PrintStream out) {
            out.println(name + " is a template now (jvisor vm clone " + name + " NEW)");
        }
    }

    @Command(name = "clone", description = "A new VM from a template (linked, at once) or from any stopped VM (--full, a copy).")
    static final class Clone extends Base {
        @Parameters(index = "0", paramLabel = "SOURCE") String source;
        @Parameters(index = "1", paramLabel = "NAME") String name;
        @Option(names = "--full", description = "copy the volumes rather than sharing the template's") boolean full;

        @Override
        JsonNode run(DaemonClient c) throws DaemonClient.Failure {
            JsonNode a = c.post(path(source) + "/clone", Map.of("name", name, "linked", !full));
            return full ? StorageCommands.follow(c, a.get("taskId").asText(), System.err) : a;
        }

        @Override
        void print(JsonNode a, PrintStream out) {
            out.println(full ? a.get("message").asText() : "created VM '" + name + "', a linked clone of '" + source + "' (jvisor vm start " + name + ")");
        }
    }

    @Command(name = "migrate", description = "Live-migrate a running VM to another jvisord (its disks must be at paths both hosts see).")
    static final class Migrate extends Base {
        @Parameters(index = "0", paramLabel = "NAME") String name;
        @Option(names = "--to", required = true, paramLabel = "URL", description = "the other daemon, e.g. http://127.0.0.1:8007") String to;
        @Option(names = "--to-token", required = true, paramLabel = "TOKEN", description = "an admin token of the other daemon") String toToken;
        @Option(names = "--downtime", paramLabel = "MS", description = "how long the guest may stand still at the end (default 10)") Long downtime;

        @Override
        JsonNode run(DaemonClient c) throws DaemonClient.Failure {
            Map<String, Object> m = new LinkedHashMap<>(Map.of("url", to, "token", toToken));
            if (downtime != null) m.put("downtimeMillis", downtime);
            return StorageCommands.follow(c, c.post(path(name) + "/migrate", m).get("taskId").asText(), System.err);
        }

        @Override
        void print(JsonNode a, PrintStream out) {
            out.println(a.get("message").asText());
        }
    }
}
