package org.jvisor.daemon;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * A VM's definition as the API takes it and the database keeps it. Fields left out get their
 * defaults ({@link #withDefaults}); {@link #problems} names every field that is wrong, so one
 * answer tells a client all it must fix.
 */
public record VmSpec(String name, Integer vcpus, Long memoryBytes, String kernel, String initrd, String cmdline,
                     List<Disk> disks, Boolean balloon, Boolean rng, Boolean autostart, String restart, Boolean template,
                     Double cpuLimit, Integer cpuShares, Long memoryLimitBytes, Double cpuAlertPercent, Double readyAlertPercent,
                     List<Nic> nics, String group, Long memoryReservationBytes, Double diskLatencyAlertMs) {

    /**
     * A virtio-net NIC on a host TAP interface (an existing one by name; the virtual switch comes
     * with the networking issue), with rate limits in bytes per second of what the guest receives
     * and sends (null or 0: none).
     */
    public record Nic(String tap, String mac, Long rxBps, Long txBps) {
        public Nic(String tap, String mac) {
            this(tap, mac, null, null);
        }
    }

    static final Pattern TAP = Pattern.compile("[A-Za-z0-9_.-]{1,15}"), MAC = Pattern.compile("([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}");
    public static final int MAX_NICS = 4;

    /** A disk: an image by absolute path, or a volume of a storage pool. */
    public record Disk(String path, Boolean readonly, String pool, String volume, Long iops, Long bps) {
        public Disk(String path, Boolean readonly, String pool, String volume) {
            this(path, readonly, pool, volume, null, null);
        }
    }

    public static final long MIN_MEMORY = 64L << 20, MAX_MEMORY = 3L << 30, DEFAULT_MEMORY = 256L << 20;
    public static final int MAX_DISKS = 8;
    /** What a VMM needs beyond its guest's RAM (JVM, translated code, buffers), for memoryLimitBytes. */
    public static final long VMM_OVERHEAD = 512L << 20;
    /** Names become directory names and URL segments: no path characters, nothing a shell quotes. */
    static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.-]{0,62}");
    public static final List<String> RESTART_POLICIES = List.of("no", "on-failure");

    public VmSpec withDefaults() {
        return new VmSpec(name, vcpus == null ? 1 : vcpus, memoryBytes == null ? DEFAULT_MEMORY : memoryBytes, kernel, initrd, cmdline,
                disks == null ? List.of() : disks.stream().map(d -> new Disk(d.path(), d.readonly() != null && d.readonly(), d.pool(), d.volume(), d.iops(), d.bps())).toList(),
                balloon != null && balloon, rng != null && rng, autostart != null && autostart, restart == null ? "no" : restart,
                template != null && template, cpuLimit, cpuShares, memoryLimitBytes, cpuAlertPercent, readyAlertPercent, nics == null ? List.of() : nics,
                group == null || group.isEmpty() ? null : group, memoryReservationBytes, diskLatencyAlertMs);
    }

    /** A copy to change a few fields of (records have no withers). */
    Copy copy() {
        return new Copy(this);
    }

    static final class Copy {
        String name, kernel, initrd, cmdline, restart, group;
        Integer vcpus, cpuShares;
        Long memoryBytes, memoryLimitBytes, memoryReservationBytes;
        List<Disk> disks;
        List<Nic> nics;
        Boolean balloon, rng, autostart, template;
        Double cpuLimit, cpuAlertPercent, readyAlertPercent, diskLatencyAlertMs;

        Copy(VmSpec s) {
            name = s.name; vcpus = s.vcpus; memoryBytes = s.memoryBytes; kernel = s.kernel; initrd = s.initrd; cmdline = s.cmdline;
            disks = s.disks; balloon = s.balloon; rng = s.rng; autostart = s.autostart; restart = s.restart; template = s.template;
            cpuLimit = s.cpuLimit; cpuShares = s.cpuShares; memoryLimitBytes = s.memoryLimitBytes; cpuAlertPercent = s.cpuAlertPercent;
            readyAlertPercent = s.readyAlertPercent; nics = s.nics; group = s.group; memoryReservationBytes = s.memoryReservationBytes;
            diskLatencyAlertMs = s.diskLatencyAlertMs;
        }

        /** Takes {@code o}'s limits, reservation, group and alert thresholds: what a running VM changes at once. */
        Copy live(VmSpec o) {
            cpuLimit = o.cpuLimit; cpuShares = o.cpuShares; memoryLimitBytes = o.memoryLimitBytes; memoryReservationBytes = o.memoryReservationBytes;
            group = o.group; cpuAlertPercent = o.cpuAlertPercent; readyAlertPercent = o.readyAlertPercent; diskLatencyAlertMs = o.diskLatencyAlertMs;
            return this;
        }

        VmSpec build() {
            return new VmSpec(name, vcpus, memoryBytes, kernel, initrd, cmdline, disks, balloon, rng, autostart, restart, template, cpuLimit, cpuShares,
                    memoryLimitBytes, cpuAlertPercent, readyAlertPercent, nics, group, memoryReservationBytes, diskLatencyAlertMs);
        }
    }

    /** Field name to what is wrong with it; empty when the (defaulted) spec is good. */
    public Map<String, String> problems() {
        Map<String, String> p = new LinkedHashMap<>();
        if (name == null || name.isEmpty()) p.put("name", "required");
        else if (!NAME.matcher(name).matches()) p.put("name", "1-63 letters, digits, '.', '_' or '-', starting with a letter or digit: '" + name + "'");
        if (vcpus != null && vcpus != 1) p.put("vcpus", "only 1 vCPU is supported for now");
        if (memoryBytes != null && (memoryBytes < MIN_MEMORY || memoryBytes > MAX_MEMORY)) {
            p.put("memoryBytes", "must be " + MIN_MEMORY + " to " + MAX_MEMORY + " (64 MiB to 3 GiB)");
        }
        file(p, "kernel", kernel);
        file(p, "initrd", initrd);
        if (cmdline != null && cmdline.length() > 2000) p.put("cmdline", "longer than 2000 characters");
        if (initrd != null && kernel == null) p.put("initrd", "an initrd needs a kernel");
        if (disks != null) {
            if (disks.size() > MAX_DISKS) p.put("disks", "at most " + MAX_DISKS);
            List<String> seen = new ArrayList<>();
            for (int i = 0; i < disks.size(); i++) {
                Disk d = disks.get(i);
                String f = "disks[" + i + "].path";
                if (d != null && (d.iops() != null && (d.iops() < 0 || d.iops() > 1_000_000_000L) || d.bps() != null && (d.bps() < 0 || d.bps() > (1L << 40)))) {
                    p.put("disks[" + i + "]", "iops and bps must be 0 (no limit) or positive (iops at most 1e9, bps at most 1 TiB/s)");
                }
                if (d != null && d.path() == null && (d.pool() != null || d.volume() != null)) {
                    if (d.pool() == null || d.volume() == null) p.put("disks[" + i + "]", "a volume needs both pool and volume");
                    else if (seen.contains(d.pool() + "/" + d.volume())) p.put("disks[" + i + "]", "the same volume twice");
                    else seen.add(d.pool() + "/" + d.volume());
                    continue;
                }
                if (d != null && d.path() != null && (d.pool() != null || d.volume() != null)) p.put("disks[" + i + "]", "give a path or a pool's volume, not both");
                else if (d == null || d.path() == null) p.put(f, "required (or pool and volume)");
                else if (seen.contains(d.path())) p.put(f, "the same image twice: " + d.path());
                else if (d.path().contains(",")) p.put(f, "a disk's path may not contain ','");
                else {
                    file(p, f, d.path());
                    seen.add(d.path());
                }
            }
        }
        int cores = Runtime.getRuntime().availableProcessors();
        if (cpuLimit != null && (cpuLimit < 0 || cpuLimit > cores)) p.put("cpuLimit", "cores, 0 (no limit) to " + cores);
        else if (cpuLimit != null && cpuLimit > 0 && cpuLimit < 0.01) p.put("cpuLimit", "at least 0.01 of a core (or 0 for no limit)");
        if (cpuShares != null && (cpuShares < 2 || cpuShares > 262_144)) p.put("cpuShares", "2 to 262144 (1024 is the default weight)");
        long mem = memoryBytes == null ? DEFAULT_MEMORY : memoryBytes;
        if (memoryLimitBytes != null && memoryLimitBytes < mem + VMM_OVERHEAD) {
            p.put("memoryLimitBytes", "must leave the VMM room beyond the guest's RAM: at least " + (mem + VMM_OVERHEAD) + " (memoryBytes + 512 MiB)");
        }
        if (cpuAlertPercent != null && (cpuAlertPercent < 0 || cpuAlertPercent > 100.0 * cores)) p.put("cpuAlertPercent", "0 (none) to " + 100 * cores + " (% of one core)");
        if (readyAlertPercent != null && (readyAlertPercent < 0 || readyAlertPercent > 100.0 * cores)) p.put("readyAlertPercent", "0 (none) to " + 100 * cores);
        if (diskLatencyAlertMs != null && (diskLatencyAlertMs < 0 || diskLatencyAlertMs > 600_000)) p.put("diskLatencyAlertMs", "0 (none) to 600000 (ms of mean request latency)");
        if (group != null && !group.isEmpty() && !NAME.matcher(group).matches()) p.put("group", "a resource group's name (\"\" for none)");
        long most = memoryLimitBytes != null ? memoryLimitBytes : mem + VMM_OVERHEAD;
        if (memoryReservationBytes != null && (memoryReservationBytes < 0 || memoryReservationBytes > most)) {
            p.put("memoryReservationBytes", "0 (none) to " + most + " (memoryLimitBytes, or memoryBytes + 512 MiB)");
        }
        if (nics != null) {
            if (nics.size() > MAX_NICS) p.put("nics", "at most " + MAX_NICS);
            for (int i = 0; i < nics.size(); i++) {
                Nic n = nics.get(i);
                if (n == null || n.tap() == null || !TAP.matcher(n.tap()).matches()) p.put("nics[" + i + "].tap", "an existing TAP interface's name: 1-15 letters, digits, '.', '_' or '-'");
                if (n != null && n.mac() != null && (!MAC.matcher(n.mac()).matches() || (Integer.parseInt(n.mac().substring(0, 2), 16) & 1) != 0)) {
                    p.put("nics[" + i + "].mac", "a unicast MAC like 02:4a:56:00:00:01");
                }
                for (Long bps : n == null ? List.<Long>of() : java.util.Arrays.asList(n.rxBps(), n.txBps())) {
                    if (bps != null && (bps < 0 || bps > (1L << 40))) p.put("nics[" + i + "]", "rxBps and txBps must be 0 (no limit) to 1 TiB/s");
                }
            }
        }
        if (restart != null && !RESTART_POLICIES.contains(restart)) p.put("restart", "one of " + RESTART_POLICIES);
        return p;
    }

    private static void file(Map<String, String> p, String field, String path) {
        if (path == null) return;
        Path f = Path.of(path);
        if (!f.isAbsolute()) p.put(field, "must be an absolute path: " + path);
        else if (!Files.isRegularFile(f)) p.put(field, "no such file: " + path);
        else if (!Files.isReadable(f)) p.put(field, "not readable: " + path);
    }

    /** Whether the two differ only in what a running VM takes at once (limits, reservation, group, alert thresholds). */
    boolean sameButLimits(VmSpec o) {
        return copy().live(o).build().equals(o);
    }

    /** The same VM under another name with other disks: a clone (never a template, never autostarted). */
    VmSpec cloned(String newName, List<Disk> newDisks) {
        // a clone's NICs get MACs of their own (jvisor's default for each slot) rather than the source's
        Copy c = copy();
        c.name = newName;
        c.disks = newDisks;
        c.autostart = false;
        c.template = false;
        c.nics = nics == null ? List.of() : nics.stream().map(n -> new Nic(n.tap(), null, n.rxBps(), n.txBps())).toList();
        return c.build();
    }

    /** This spec marked as a template (or not). */
    VmSpec asTemplate(boolean t) {
        Copy c = copy();
        c.template = t;
        return c.build();
    }

    /** This spec with each pool volume replaced by its path (from {@code poolPath}, pool name to directory). */
    VmSpec resolved(java.util.function.Function<String, String> poolPath) {
        Copy c = copy();
        c.disks = disks.stream().map(d -> d.path() != null ? d
                : new Disk(Path.of(poolPath.apply(d.pool()), d.volume()).toString(), d.readonly(), null, null, d.iops(), d.bps())).toList();
        return c.build();
    }

    /** The arguments of {@code jvisor run} that build this VM (the API socket and files come from the supervisor). */
    List<String> runArguments() {
        List<String> a = new ArrayList<>(List.of("--memory", (memoryBytes >> 20) + "M"));
        if (kernel != null) a.addAll(List.of("--kernel", kernel));
        if (initrd != null) a.addAll(List.of("--initrd", initrd));
        if (cmdline != null) a.addAll(List.of("--cmdline", cmdline));
        for (Disk d : disks) {
            if (d.path() == null) throw new IllegalStateException("disk " + d.pool() + "/" + d.volume() + " was not resolved to a path");
            a.addAll(List.of("--disk", d.path() + (d.readonly() ? ",readonly=on" : "") + (d.iops() != null && d.iops() > 0 ? ",iops=" + d.iops() : "")
                    + (d.bps() != null && d.bps() > 0 ? ",bps=" + d.bps() : "")));
        }
        for (Nic n : nics == null ? List.<Nic>of() : nics) {
            a.addAll(List.of("--net", "tap=" + n.tap() + (n.mac() != null ? ",mac=" + n.mac() : "") + (n.rxBps() != null && n.rxBps() > 0 ? ",rx-bps=" + n.rxBps() : "")
                    + (n.txBps() != null && n.txBps() > 0 ? ",tx-bps=" + n.txBps() : "")));
        }
        if (balloon) a.add("--balloon");
        if (rng) a.add("--rng");
        return a;
    }
}
