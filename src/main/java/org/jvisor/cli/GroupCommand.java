package org.jvisor.cli;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.PrintStream;
import java.util.LinkedHashMap;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code jvisor group ...}: resource groups, VMs that share CPU and memory limits and a memory reservation. */
@Command(name = "group", description = "Manage resource groups (shared CPU and memory limits, memory reservations): list, create, info, set, delete. A VM joins one with jvisor vm create|set --group.",
        subcommands = {GroupCommand.ListGroups.class, GroupCommand.Create.class, GroupCommand.Info.class, GroupCommand.Set.class, GroupCommand.Delete.class})
final class GroupCommand implements java.util.concurrent.Callable<Integer> {
    @Override
    public Integer call() {
        System.err.println("jvisor group: name a subcommand (list, create, info, set, delete)");
        return 2;
    }

    static String path(String name) {
        return "/groups/" + java.net.URLEncoder.encode(name, java.nio.charset.StandardCharsets.UTF_8);
    }

    /** The group's limits, for create and set. */
    static final class Limits {
        @Option(names = "--cpu-limit", paramLabel = "CORES", description = "host cores all its VMs together may use (0: no limit)") Double cpuLimit;
        @Option(names = "--cpu-shares", paramLabel = "N", description = "its CPU weight against other groups and VMs (default 1024)") Integer cpuShares;
        @Option(names = "--memory-limit", paramLabel = "SIZE", description = "memory ceiling of all its VMMs together (0: none)") String memoryLimit;
        @Option(names = "--memory-reservation", paramLabel = "SIZE", description = "memory the host keeps for the group; its VMs' reservations come out of it") String memoryReservation;

        Map<String, Object> into(Map<String, Object> m) throws DaemonClient.Failure {
            if (cpuLimit != null) m.put("cpuLimit", cpuLimit);
            if (cpuShares != null) m.put("cpuShares", cpuShares);
            if (memoryLimit != null) m.put("memoryLimitBytes", VmCommand.size(memoryLimit));
            if (memoryReservation != null) m.put("memoryReservationBytes", VmCommand.size(memoryReservation));
            return m;
        }
    }

    static String or(JsonNode n, String unset) {
        return n == null || n.isNull() || n.isMissingNode() ? unset : n.asText();
    }

    static String mib(JsonNode n) {
        return n == null || n.isNull() || n.isMissingNode() || n.asLong() == 0 ? "-" : (n.asLong() >> 20) + "M";
    }

    @Command(name = "list", description = "List the groups, their limits and VMs.")
    static final class ListGroups extends VmCommand.Base {
        @Override
        JsonNode run(DaemonClient c) throws DaemonClient.Failure {
            return c.get("/groups");
        }

        @Override
        void print(JsonNode answer, PrintStream out) {
            out.printf("%-20s %8s %7s %9s %9s %s%n", "NAME", "CPU", "SHARES", "MEM-LIMIT", "RESERVED", "VMS (running)");
            for (JsonNode g : answer) {
                JsonNode s = g.get("spec");
                StringBuilder vms = new StringBuilder();
                for (JsonNode v : g.get("vms")) {
                    boolean running = false;
                    for (JsonNode r : g.get("running")) running |= r.asText().equals(v.asText());
                    vms.append(vms.isEmpty() ? "" : " ").append(v.asText()).append(running ? "*" : "");
                }
                out.printf("%-20s %8s %7s %9s %9s %s%n", s.get("name").asText(), or(s.get("cpuLimit"), "-"), or(s.get("cpuShares"), "-"),
                        mib(s.get("memoryLimitBytes")), mib(s.get("memoryReservationBytes")), vms);
            }
        }
    }

    @Command(name = "create", description = "Define a resource group.")
    static final class Create extends VmCommand.Base {
        @Parameters(index = "0", paramLabel = "NAME") String name;
        @Mixin Limits limits = new Limits();

        @Override
        JsonNode run(DaemonClient c) throws DaemonClient.Failure {
            Map<String, Object> spec = new LinkedHashMap<>();
            spec.put("name", name);
            return c.post("/groups", limits.into(spec));
        }

        @Override
        void print(JsonNode answer, PrintStream out) {
            out.println("created group '" + name + "' (put a VM in it with: jvisor vm set VM --group " + name + ")");
        }
    }

    @Command(name = "info", description = "A group's limits, VMs and how its limits are enforced.")
    static final class Info extends VmCommand.Base {
        @Parameters(index = "0", paramLabel = "NAME") String name;

        @Override
        JsonNode run(DaemonClient c) throws DaemonClient.Failure {
            return c.get(path(name));
        }
    }

    @Command(name = "set", description = "Change a group's limits or reservation; its running VMs take them at once.")
    static final class Set extends VmCommand.Base {
        @Parameters(index = "0", paramLabel = "NAME") String name;
        @Mixin Limits limits = new Limits();

        @Override
        JsonNode run(DaemonClient c) throws DaemonClient.Failure {
            Map<String, Object> patch = limits.into(new LinkedHashMap<>());
            if (patch.isEmpty()) throw new DaemonClient.Failure("nothing to change: give --cpu-limit, --cpu-shares, --memory-limit or --memory-reservation");
            return c.send("PATCH", path(name), patch);
        }

        @Override
        void print(JsonNode answer, PrintStream out) {
            out.println(name + ": changed (" + answer.get("limits").asText() + ")");
        }
    }

    @Command(name = "delete", description = "Delete a group that has no VMs.")
    static final class Delete extends VmCommand.Base {
        @Parameters(index = "0", paramLabel = "NAME") String name;

        @Override
        JsonNode run(DaemonClient c) throws DaemonClient.Failure {
            return c.send("DELETE", path(name), null);
        }

        @Override
        void print(JsonNode answer, PrintStream out) {
            out.println("deleted group '" + name + "'");
        }
    }
}
