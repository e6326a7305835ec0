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
 * ({@code jvisor/NAME}) under the daemon's own group, in cgroup v2 (cpu.max, cpu.weight,
 * memory.max) or, on a host with the v1 hierarchies, in the cpu and memory ones
 * (cpu.cfs_quota_us, cpu.shares, memory.limit_in_bytes). Where neither can be written the limits
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

    /** The VM's group directory for one controller (v1) or for all (v2, controller ""). */
    private Path group(String controller, String vm) {
        Map<String, String> own = ownGroups();
        if (controller.isEmpty()) return root.resolve(rel(own.getOrDefault("", "/"))).resolve("jvisor").resolve(vm);
        return root.resolve(controller).resolve(rel(own.getOrDefault(controller, "/"))).resolve("jvisor").resolve(vm);
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
     * Puts the VMM in the VM's group and sets its limits (null: none); a running VM's limits
     * change at once. Returns null when done, else why the limits are not enforced.
     */
    String apply(String vm, long pid, Double cpuLimit, Integer cpuShares, Long memoryLimit) {
        if (cpuLimit == null && cpuShares == null && memoryLimit == null && !Files.isDirectory(group(v2() ? "" : "cpu", vm))) return null;
        try {
            if (v2()) {
                Path g = group("", vm);
                Path parent = g.getParent();
                Files.createDirectories(g);
                enable(parent.getParent());
                enable(parent);
                write(g.resolve("cpu.max"), cpuLimit == null || cpuLimit <= 0 ? "max " + PERIOD_US : (long) (cpuLimit * PERIOD_US) + " " + PERIOD_US);
                write(g.resolve("cpu.weight"), Long.toString(cpuShares == null ? 100 : Math.max(1, Math.min(10_000, cpuShares * 100L / 1024))));
                write(g.resolve("memory.max"), memoryLimit == null ? "max" : Long.toString(memoryLimit));
                write(g.resolve("cgroup.procs"), Long.toString(pid));
            } else {
                Path cpu = group("cpu", vm), mem = group("memory", vm);
                Files.createDirectories(cpu);
                Files.createDirectories(mem);
                write(cpu.resolve("cpu.cfs_period_us"), Long.toString(PERIOD_US));
                write(cpu.resolve("cpu.cfs_quota_us"), cpuLimit == null || cpuLimit <= 0 ? "-1" : Long.toString((long) (cpuLimit * PERIOD_US)));
                write(cpu.resolve("cpu.shares"), Integer.toString(cpuShares == null ? 1024 : cpuShares));
                write(mem.resolve("memory.limit_in_bytes"), memoryLimit == null ? "-1" : Long.toString(memoryLimit));
                write(cpu.resolve("cgroup.procs"), Long.toString(pid));
                write(mem.resolve("cgroup.procs"), Long.toString(pid));
            }
            return null;
        } catch (IOException | RuntimeException e) {
            return "limits not enforced: cannot write the host's cgroups (" + e.getMessage() + ")";
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

    /** Removes the VM's (empty) groups once its VMM is gone. */
    void remove(String vm) {
        List<Path> groups = new ArrayList<>();
        if (v2()) groups.add(group("", vm));
        else {
            groups.add(group("cpu", vm));
            groups.add(group("memory", vm));
        }
        for (Path g : groups) {
            try {
                Files.deleteIfExists(g); // rmdir: a cgroup directory goes when no process is left in it
            } catch (IOException e) {
                // still busy, or never made
            }
        }
    }

    /** The CPU quota the VM's group has, in cores (0: none), for the tests and info. */
    double cpuLimit(String vm) {
        try {
            if (v2()) {
                String[] f = Files.readString(group("", vm).resolve("cpu.max")).strip().split(" ");
                return f[0].equals("max") ? 0 : Double.parseDouble(f[0]) / Double.parseDouble(f[1]);
            }
            long q = Long.parseLong(Files.readString(group("cpu", vm).resolve("cpu.cfs_quota_us")).strip());
            return q < 0 ? 0 : (double) q / PERIOD_US;
        } catch (IOException | RuntimeException e) {
            return 0;
        }
    }
}
