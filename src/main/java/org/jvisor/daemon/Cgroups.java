package org.jvisor.daemon;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * CPU and memory limits of a VMM process through the host's cgroups: a group per VM
 * ({@code jvisor/NAME}, or {@code jvisor/_group.GROUP/NAME} in a resource group) under the
 * daemon's own group, in cgroup v2 (cpu.max, cpu.weight, memory.max, memory.min) or, on a host
 * with the v1 hierarchies, in the cpu and memory ones (cpu.cfs_quota_us, cpu.shares,
 * memory.limit_in_bytes, memory.soft_limit_in_bytes). Where neither can be written the limits
 * are not enforced, and {@link #apply} says so.
 */
final class Cgroups {
    static final Path ROOT = Path.of("/sys/fs/cgroup");
    static final long PERIOD_US = 100_000;
    private final Path root;

    Cgroups(Path root) {
        this.root = root;
    }

    /** The daemon's own group in each hierarchy: controller ("" for v2) to path under the root. */
    private static Map<String, String> ownGroups() {
        Map<String, String> m = new HashMap<>();
        try {
            for (String l : Files.readAllLines(Path.of("/proc/self/cgroup"))) {
                String[] f = l.split(":", 3);
                if (f.length < 3) continue;
                for (String c : f[1].split(",")) m.put(c, f[2]);
            }
        } catch (IOException e) {
            // not Linux: no groups
        }
        return m;
    }

    private boolean v2() {
        return Files.isRegularFile(root.resolve("cgroup.controllers"));
    }

    /** Limits of one group (a VM's or a resource group's); null fields: none. */
    record Limits(Double cpuLimit, Integer cpuShares, Long memoryLimit, Long memoryReservation) {
        static Limits of(VmSpec s) {
            return new Limits(s.cpuLimit(), s.cpuShares(), s.memoryLimitBytes(), s.memoryReservationBytes());
        }

        static Limits of(GroupSpec g) {
            return new Limits(g.cpuLimit(), g.cpuShares(), g.memoryLimitBytes() != null && g.memoryLimitBytes() == 0 ? null : g.memoryLimitBytes(),
                    g.memoryReservationBytes());
        }

        boolean any() {
            return cpuLimit != null && cpuLimit > 0 || cpuShares != null || memoryLimit != null || memoryReservation != null && memoryReservation > 0;
        }
    }

    /** jvisor's directory for one controller (v1) or for all (v2, controller ""). */
    private Path base(String controller) {
        Map<String, String> own = ownGroups();
        Path r = controller.isEmpty() ? root : root.resolve(controller);
        return r.resolve(rel(own.getOrDefault(controller, "/"))).resolve("jvisor");
    }

    /** A resource group's directory: VM names cannot start with '_', so no VM's collides with it. */
    private Path groupDir(String controller, String group) {
        return base(controller).resolve("_group." + group);
    }

    private Path vmDir(String controller, String group, String vm) {
        return (group == null ? base(controller) : groupDir(controller, group)).resolve(vm);
    }

    private static String rel(String p) {
        return p.startsWith("/") ? p.substring(1) : p;
    }

    /** Whether limits can be enforced on this host. */
    boolean available() {
        if (v2()) return Files.isWritable(root);
        return Files.isWritable(root.resolve("cpu")) && Files.isWritable(root.resolve("memory"));
    }

    /**
     * Puts the VMM in the VM's group (inside its resource group's, if it has one) and sets the
     * limits of both (null fields: none); a running VM's limits change at once. Returns null when
     * done, else why the limits are not enforced.
     */
    String apply(String vm, long pid, Limits own, String group, Limits groupLimits) {
        if (group == null && !own.any() && !Files.isDirectory(vmDir(v2() ? "" : "cpu", null, vm))) return null;
        try {
            for (String c : v2() ? List.of("") : List.of("cpu", "memory")) {
                if (group != null) write(c, groupDir(c, group), groupLimits, true);
                Path g = vmDir(c, group, vm);
                write(c, g, own, true);
                write(g.resolve("cgroup.procs"), Long.toString(pid));
                removeOthers(c, group, vm);
            }
            return null;
        } catch (IOException | RuntimeException e) {
            return "limits not enforced: cannot write the host's cgroups (" + e.getMessage() + ")";
        }
    }

    /** A resource group's limits changed: they take hold at once where its directory exists (a VM of it ran). */
    String applyGroup(String group, Limits limits) {
        try {
            for (String c : v2() ? List.of("") : List.of("cpu", "memory")) if (Files.isDirectory(groupDir(c, group))) write(c, groupDir(c, group), limits, false);
            return null;
        } catch (IOException | RuntimeException e) {
            return "limits not enforced: cannot write the host's cgroups (" + e.getMessage() + ")";
        }
    }

    /** Writes one controller's files of {@code l} into {@code g} (all of v2's when controller is ""). */
    private void write(String controller, Path g, Limits l, boolean create) throws IOException {
        if (create) {
            Files.createDirectories(g);
            if (controller.isEmpty()) {
                Path own = base("").getParent();
                for (Path d = g.getParent(); d.startsWith(own); d = d.getParent()) enable(d);
            }
        }
        boolean cpu = controller.isEmpty() || controller.equals("cpu"), mem = controller.isEmpty() || controller.equals("memory");
        if (controller.isEmpty()) {
            write(g.resolve("cpu.max"), l.cpuLimit() == null || l.cpuLimit() <= 0 ? "max " + PERIOD_US : (long) (l.cpuLimit() * PERIOD_US) + " " + PERIOD_US);
            write(g.resolve("cpu.weight"), Long.toString(l.cpuShares() == null ? 100 : Math.max(1, Math.min(10_000, l.cpuShares() * 100L / 1024))));
            write(g.resolve("memory.max"), l.memoryLimit() == null ? "max" : Long.toString(l.memoryLimit()));
            write(g.resolve("memory.min"), l.memoryReservation() == null ? "0" : Long.toString(l.memoryReservation()));
            return;
        }
        if (cpu) {
            write(g.resolve("cpu.cfs_period_us"), Long.toString(PERIOD_US));
            write(g.resolve("cpu.cfs_quota_us"), l.cpuLimit() == null || l.cpuLimit() <= 0 ? "-1" : Long.toString((long) (l.cpuLimit() * PERIOD_US)));
            write(g.resolve("cpu.shares"), Integer.toString(l.cpuShares() == null ? 1024 : l.cpuShares()));
        }
        if (mem) {
            write(g.resolve("memory.limit_in_bytes"), l.memoryLimit() == null ? "-1" : Long.toString(l.memoryLimit()));
            // v1 has no memory.min: a soft limit is what reclaim under pressure spares
            write(g.resolve("memory.soft_limit_in_bytes"), l.memoryReservation() == null || l.memoryReservation() == 0 ? "-1" : Long.toString(l.memoryReservation()));
        }
    }

    /** The VM's directories in other groups than {@code group} (it moved): empty now, so removable. */
    private void removeOthers(String controller, String group, String vm) {
        Path b = base(controller);
        List<Path> places = new ArrayList<>();
        if (group != null) places.add(b.resolve(vm));
        try (var ds = Files.newDirectoryStream(b, "_group.*")) {
            for (Path d : ds) if (group == null || !d.getFileName().toString().equals("_group." + group)) places.add(d.resolve(vm));
        } catch (IOException e) {
            // no groups yet
        }
        for (Path p : places) {
            try {
                Files.deleteIfExists(p);
            } catch (IOException e) {
                // a process still in it
            }
        }
    }

    private static void enable(Path dir) {
        try {
            write(dir.resolve("cgroup.subtree_control"), "+cpu +memory");
        } catch (IOException e) {
            // already on, or not ours to change: writing the VM's own files then says
        }
    }

    private static void write(Path f, String value) throws IOException {
        Files.writeString(f, value);
    }

    /** Removes the VM's (empty) groups once its VMM is gone, wherever its resource group put them. */
    void remove(String vm) {
        for (String c : v2() ? List.of("") : List.of("cpu", "memory")) {
            removeOthers(c, null, vm);
            try {
                Files.deleteIfExists(vmDir(c, null, vm)); // rmdir: a cgroup directory goes when no process is left in it
            } catch (IOException e) {
                // still busy, or never made
            }
        }
    }

    /** Removes a resource group's directories (once it has no VM). */
    void removeGroup(String group) {
        for (String c : v2() ? List.of("") : List.of("cpu", "memory")) {
            try {
                Files.deleteIfExists(groupDir(c, group));
            } catch (IOException e) {
                // a VM still in it
            }
        }
    }

    /** The CPU quota a resource group's cgroup holds, in cores (0: none). */
    double groupCpuLimit(String group) {
        return quota(v2() ? groupDir("", group) : groupDir("cpu", group));
    }

    /** The CPU quota the VM's group has, in cores (0: none), for the tests and info. */
    double cpuLimit(String vm, String group) {
        return quota(vmDir(v2() ? "" : "cpu", group, vm));
    }

    private double quota(Path g) {
        try {
            if (v2()) {
                String[] f = Files.readString(g.resolve("cpu.max")).strip().split(" ");
                return f[0].equals("max") ? 0 : Double.parseDouble(f[0]) / Double.parseDouble(f[1]);
            }
            long q = Long.parseLong(Files.readString(g.resolve("cpu.cfs_quota_us")).strip());
            return q < 0 ? 0 : (double) q / PERIOD_US;
        } catch (IOException | RuntimeException e) {
            return 0;
        }
    }
}
