package org.jvisor.cli;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code jvisor pool ...}, {@code jvisor volume ...} and {@code jvisor task ...}: the daemon's storage and long operations. */
final class StorageCommands {
    private StorageCommands() {}

    static String mib(JsonNode n) {
        return (n.asLong() >> 20) + "M";
    }

    /**
     * Follows a task to its end, with a progress bar on a terminal (one line at the end
     * otherwise); fails with the task's message unless it succeeded.
     */
    static JsonNode follow(DaemonClient c, String taskId, PrintStream err) throws DaemonClient.Failure {
        boolean tty = System.console() != null;
        JsonNode t;
        while (true) {
            t = c.get("/tasks/" + taskId);
            double p = t.get("progress").asDouble();
            if (tty) {
                int filled = (int) (p * 30);
                err.printf("\r%s %s [%s%s] %3.0f%%", t.get("kind").asText(), t.get("target").asText(), "#".repeat(filled), " ".repeat(30 - filled), p * 100);
            }
            if (!t.get("state").asText().equals("running")) break;
            try {
                Thread.sleep(200);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new DaemonClient.Failure("interrupted; the task goes on: jvisor task show " + taskId);
            }
        }
        if (tty) err.println();
        if (!t.get("state").asText().equals("succeeded")) throw new DaemonClient.Failure("task " + taskId + " " + t.get("state").asText() + ": " + t.get("message").asText());
        return t;
    }

    @Command(name = "pool", description = "Manage storage pools: list, create NAME PATH [--reserve PERCENT], info NAME, delete NAME.",
            subcommands = {PoolList.class, PoolCreate.class, PoolInfo.class, PoolDelete.class})
    static final class Pool implements java.util.concurrent.Callable<Integer> {
        @Override
        public Integer call() {
            System.err.println("jvisor pool: name a subcommand (list, create, info, delete)");
            return 2;
        }
    }

    static void poolTable(PrintStream out, Iterable<JsonNode> pools) {
        out.printf("%-16s %9s %9s %9s %9s %7s  %s%n", "NAME", "CAPACITY", "FREE", "RESERVE", "ALLOCATED", "VOLUMES", "PATH");
        for (JsonNode p : pools) {
            out.printf("%-16s %9s %9s %9s %9s %7d  %s%n", p.get("name").asText(), mib(p.get("capacityBytes")), mib(p.get("freeBytes")), mib(p.get("reserveBytes")),
                    mib(p.get("allocationBytes")), p.get("volumes").asInt(), p.get("path").asText());
        }
    }

    @Command(name = "list", description = "List the pools with their space.")
    static final class PoolList extends VmCommand.Base {
        JsonNode run(DaemonClient c) throws DaemonClient.Failure {
            return c.get("/pools");
        }

        void print(JsonNode a, PrintStream out) {
            poolTable(out, a);
        }
    }

    @Command(name = "create", description = "Define a directory pool.")
    static final class PoolCreate extends VmCommand.Base {
        @Parameters(index = "0", paramLabel = "NAME") String name;
        @Parameters(index = "1", paramLabel = "PATH") Path path;
        @Option(names = "--reserve", paramLabel = "PERCENT", description = "free space kept (default 20)") Double reserve;

        JsonNode run(DaemonClient c) throws DaemonClient.Failure {
            Map<String, Object> m = new LinkedHashMap<>(Map.of("name", name, "path", path.toAbsolutePath().toString()));
            if (reserve != null) m.put("reservePercent", reserve);
            return c.post("/pools", m);
        }

        void print(JsonNode a, PrintStream out) {
            poolTable(out, java.util.List.of(a));
        }
    }

    @Command(name = "info", description = "Show a pool's numbers.")
    static final class PoolInfo extends VmCommand.Base {
        @Parameters(index = "0", paramLabel = "NAME") String name;

        JsonNode run(DaemonClient c) throws DaemonClient.Failure {
            return c.get("/pools/" + name);
        }

        void print(JsonNode a, PrintStream out) {
            poolTable(out, java.util.List.of(a));
        }
    }

    @Command(name = "delete", description = "Forget a pool (its files stay).")
    static final class PoolDelete extends VmCommand.Base {
        @Parameters(index = "0", paramLabel = "NAME") String name;

        JsonNode run(DaemonClient c) throws DaemonClient.Failure {
            return c.send("DELETE", "/pools/" + name, null);
        }

        void print(JsonNode a, PrintStream out) {
            out.println("forgot pool '" + name + "'");
        }
    }

    @Command(name = "volume", description = "Manage a pool's volumes: list POOL, create, import, clone, resize, delete.",
            subcommands = {VolumeList.class, VolumeCreate.class, VolumeImport.class, VolumeClone.class, VolumeResize.class, VolumeDelete.class})
    static final class Volume implements java.util.concurrent.Callable<Integer> {
        @Override
        public Integer call() {
            System.err.println("jvisor volume: name a subcommand (list, create, import, clone, resize, delete)");
            return 2;
        }
    }

    @Command(name = "list", description = "List a pool's volumes.")
    static final class VolumeList extends VmCommand.Base {
        @Parameters(index = "0", paramLabel = "POOL") String pool;

        JsonNode run(DaemonClient c) throws DaemonClient.Failure {
            return c.get("/pools/" + pool + "/volumes");
        }

        void print(JsonNode a, PrintStream out) {
            out.printf("%-24s %-6s %9s %9s %-20s %s%n", "NAME", "FORMAT", "SIZE", "ALLOCATED", "BACKING", "USED BY");
            for (JsonNode v : a) {
                StringBuilder users = new StringBuilder();
                v.get("usedBy").forEach(u -> users.append(users.isEmpty() ? "" : ",").append(u.asText()));
                out.printf("%-24s %-6s %9s %9s %-20s %s%n", v.get("name").asText(), v.get("format").asText(), mib(v.get("sizeBytes")), mib(v.get("allocationBytes")),
                        v.get("backing").isNull() ? "-" : v.get("backing").asText(), users.isEmpty() ? "-" : users);
            }
        }
    }

    @Command(name = "create", description = "Make an empty volume.")
    static final class VolumeCreate extends VmCommand.Base {
        @Parameters(index = "0", paramLabel = "POOL") String pool;
        @Parameters(index = "1", paramLabel = "NAME") String name;
        @Option(names = "--size", required = true, description = "e.g. 10G") String size;
        @Option(names = "--format", description = "qcow2 (default) or raw") String format;

        JsonNode run(DaemonClient c) throws DaemonClient.Failure {
            Map<String, Object> m = new LinkedHashMap<>(Map.of("name", name, "sizeBytes", VmCommand.size(size)));
            if (format != null) m.put("format", format);
            return c.post("/pools/" + pool + "/volumes", m);
        }

        void print(JsonNode a, PrintStream out) {
            out.println("created " + pool + "/" + name + " (" + mib(a.get("sizeBytes")) + ", " + a.get("format").asText() + ")");
        }
    }

    @Command(name = "import", description = "Copy an image file (raw, qcow2, vmdk, vhd) into a new volume, with a progress bar.")
    static final class VolumeImport extends VmCommand.Base {
        @Parameters(index = "0", paramLabel = "POOL") String pool;
        @Parameters(index = "1", paramLabel = "NAME") String name;
        @Parameters(index = "2", paramLabel = "FILE") Path file;
        @Option(names = "--format", description = "the volume's format: qcow2 (default) or raw") String format;

        JsonNode run(DaemonClient c) throws DaemonClient.Failure {
            Map<String, Object> m = new LinkedHashMap<>(Map.of("name", name, "source", file.toAbsolutePath().toString()));
            if (format != null) m.put("format", format);
            return follow(c, c.post("/pools/" + pool + "/volumes/import", m).get("taskId").asText(), System.err);
        }

        void print(JsonNode a, PrintStream out) {
            out.println(a.get("message").asText());
        }
    }

    @Command(name = "clone", description = "Clone a volume: linked (default, a qcow2 overlay) or --full (a copy).")
    static final class VolumeClone extends VmCommand.Base {
        @Parameters(index = "0", paramLabel = "POOL") String pool;
        @Parameters(index = "1", paramLabel = "SOURCE") String source;
        @Parameters(index = "2", paramLabel = "NAME") String name;
        @Option(names = "--full", description = "a full copy (a task) rather than an overlay") boolean full;

        JsonNode run(DaemonClient c) throws DaemonClient.Failure {
            JsonNode a = c.post("/pools/" + pool + "/volumes/" + source + "/clone", Map.of("name", name, "linked", !full));
            return full ? follow(c, a.get("taskId").asText(), System.err) : a;
        }

        void print(JsonNode a, PrintStream out) {
            out.println(full ? a.get("message").asText() : "cloned " + pool + "/" + source + " to " + name + " (linked)");
        }
    }

    @Command(name = "resize", description = "Grow a volume.")
    static final class VolumeResize extends VmCommand.Base {
        @Parameters(index = "0", paramLabel = "POOL") String pool;
        @Parameters(index = "1", paramLabel = "NAME") String name;
        @Parameters(index = "2", paramLabel = "SIZE") String size;

        JsonNode run(DaemonClient c) throws DaemonClient.Failure {
            return c.post("/pools/" + pool + "/volumes/" + name + "/resize", Map.of("sizeBytes", VmCommand.size(size)));
        }

        void print(JsonNode a, PrintStream out) {
            out.println(pool + "/" + name + " is " + mib(a.get("sizeBytes")));
        }
    }

    @Command(name = "delete", description = "Delete a volume nothing uses.")
    static final class VolumeDelete extends VmCommand.Base {
        @Parameters(index = "0", paramLabel = "POOL") String pool;
        @Parameters(index = "1", paramLabel = "NAME") String name;

        JsonNode run(DaemonClient c) throws DaemonClient.Failure {
            return c.send("DELETE", "/pools/" + pool + "/volumes/" + name, null);
        }

        void print(JsonNode a, PrintStream out) {
            out.println("deleted " + pool + "/" + name);
        }
    }

    @Command(name = "task", description = "Follow the daemon's long operations: list, show ID, cancel ID.",
            subcommands = {TaskList.class, TaskShow.class, TaskCancel.class})
    static final class Task implements java.util.concurrent.Callable<Integer> {
        @Override
        public Integer call() {
            System.err.println("jvisor task: name a subcommand (list, show, cancel)");
            return 2;
        }
    }

    @Command(name = "list", description = "The latest tasks.")
    static final class TaskList extends VmCommand.Base {
        JsonNode run(DaemonClient c) throws DaemonClient.Failure {
            return c.get("/tasks");
        }

        void print(JsonNode a, PrintStream out) {
            out.printf("%-14s %-8s %-28s %-10s %5s  %s%n", "ID", "KIND", "TARGET", "STATE", "DONE", "MESSAGE");
            for (JsonNode t : a) {
                out.printf("%-14s %-8s %-28s %-10s %4.0f%%  %s%n", t.get("id").asText(), t.get("kind").asText(), t.get("target").asText(), t.get("state").asText(),
                        t.get("progress").asDouble() * 100, t.get("message").isNull() ? "" : t.get("message").asText());
            }
        }
    }

    @Command(name = "show", description = "A task with its log.")
    static final class TaskShow extends VmCommand.Base {
        @Parameters(index = "0", paramLabel = "ID") String id;

        JsonNode run(DaemonClient c) throws DaemonClient.Failure {
            return c.get("/tasks/" + id);
        }

        void print(JsonNode t, PrintStream out) {
            out.printf("%s %s %s: %s (%.0f%%)%n%s", t.get("id").asText(), t.get("kind").asText(), t.get("target").asText(), t.get("state").asText(),
                    t.get("progress").asDouble() * 100, t.get("log").asText());
        }
    }

    @Command(name = "cancel", description = "Cancel a running task.")
    static final class TaskCancel extends VmCommand.Base {
        @Parameters(index = "0", paramLabel = "ID") String id;

        JsonNode run(DaemonClient c) throws DaemonClient.Failure {
            return c.send("DELETE", "/tasks/" + id, null);
        }

        void print(JsonNode a, PrintStream out) {
            out.println("cancelling task " + id);
        }
    }
}
