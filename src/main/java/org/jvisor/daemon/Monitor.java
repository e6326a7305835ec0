package org.jvisor.daemon;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.SQLException;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;

/**
 * Watches each running VM's VMM against its alert thresholds every {@link #INTERVAL_MILLIS}: CPU
 * (the VMM's CPU time per wall time, in percent of one core) and CPU ready (time its threads
 * were runnable but waited for a host CPU, from /proc's schedstat: vSphere's "CPU ready",
 * libvirt's vcpu delay), and disk latency (the mean time of the requests of all its disks that
 * completed in the interval, from the VMM's counters). Crossing a threshold raises an "alert"
 * event, going back below it an "alert-cleared" one; the alerts standing now are listed by GET
 * /alerts.
 */
final class Monitor implements AutoCloseable {
    static final long INTERVAL_MILLIS = 2000;

    /** An alert that stands: which VM, what, the threshold and the last value. */
    public record Alert(String vm, String metric, double threshold, double value, String since) {}

    private record Sample(long nanos, double cpuSeconds, double readySeconds, double diskSeconds, long diskRequests) {}

    private static final List<String> METRICS = List.of("cpu", "ready", "disk-latency");

    private final Store store;
    private final Supervisor supervisor;
    private final Map<String, Sample> last = new ConcurrentHashMap<>();
    private final Map<String, Alert> standing = new ConcurrentHashMap<>();
    private final Thread thread;
    private volatile boolean closed;

    Monitor(Store store, Supervisor supervisor) {
        this.store = store;
        this.supervisor = supervisor;
        this.thread = Thread.ofPlatform().daemon().name("vm-monitor").start(this::loop);
    }

    /** Seconds the process's threads waited runnable for a CPU (the second field of each task's schedstat). */
    static double readySeconds(long pid) {
        double ns = 0;
        try (Stream<Path> tasks = Files.list(Path.of("/proc", Long.toString(pid), "task"))) {
            for (Path t : tasks.toList()) {
                try {
                    String[] f = Files.readString(t.resolve("schedstat")).strip().split(" ");
                    ns += Long.parseLong(f[1]);
                } catch (IOException | RuntimeException e) {
                    // a thread that just ended
                }
            }
        } catch (IOException e) {
            return 0;
        }
        return ns / 1e9;
    }

    private void loop() {
        while (!closed) {
            try {
                Thread.sleep(INTERVAL_MILLIS);
                check();
            } catch (InterruptedException e) {
                return;
            } catch (SQLException | RuntimeException e) {
                System.err.println("jvisord: monitor: " + e.getMessage());
            }
        }
    }

    private void check() throws SQLException {
        Map<String, Long> pids = supervisor.pids();
        for (Store.VmRow r : store.vms()) {
            String vm = r.spec().name();
            Long pid = pids.get(vm);
            if (pid == null) {
                last.remove(vm);
                for (String m : METRICS) clear(vm, m);
                continue;
            }
            double[] disk = diskTotals(vm, r.spec().diskLatencyAlertMs());
            Sample now = new Sample(System.nanoTime(), HostFacts.cpuSeconds(pid), readySeconds(pid), disk[0], (long) disk[1]);
            Sample before = last.put(vm, now);
            if (before == null) continue;
            double wall = (now.nanos() - before.nanos()) / 1e9;
            if (wall <= 0) continue;
            judge(vm, "cpu", r.spec().cpuAlertPercent(), 100 * (now.cpuSeconds() - before.cpuSeconds()) / wall);
            judge(vm, "ready", r.spec().readyAlertPercent(), 100 * (now.readySeconds() - before.readySeconds()) / wall);
            long requests = now.diskRequests() - before.diskRequests();
            // an idle disk has no latency: a standing alert stays until requests are fast again
            if (requests > 0) judge(vm, "disk-latency", r.spec().diskLatencyAlertMs(), 1000 * (now.diskSeconds() - before.diskSeconds()) / requests);
            else if (r.spec().diskLatencyAlertMs() == null || r.spec().diskLatencyAlertMs() <= 0) clear(vm, "disk-latency");
        }
    }

    /** The sum of request seconds and the count of requests of all the VM's disks, when it has a threshold to judge them by. */
    private double[] diskTotals(String vm, Double threshold) {
        double seconds = 0, count = 0;
        if (threshold == null || threshold <= 0) return new double[] {0, 0};
        try {
            for (var d : supervisor.call(vm, "GET", "/vm.info", null, "read its disk counters").path("devices")) {
                var lat = d.path("stats").path("latency");
                if (lat.isMissingNode()) continue;
                seconds += lat.path("sumSeconds").asDouble();
                for (var c : lat.path("counts")) count += c.asLong();
            }
        } catch (Supervisor.Refused | RuntimeException e) {
            // starting or ending: no figures this time
        }
        return new double[] {seconds, count};
    }

    private void judge(String vm, String metric, Double threshold, double value) throws SQLException {
        String key = vm + "/" + metric;
        if (threshold == null || threshold <= 0) {
            clear(vm, metric);
            return;
        }
        Alert a = standing.get(key);
        if (value > threshold) {
            if (a == null) {
                standing.put(key, new Alert(vm, metric, threshold, value, java.time.Instant.now().toString()));
                String unit = unit(metric);
                String msg = String.format("%s at %.0f %s is above its threshold of %.0f %s", metric, value, unit, threshold, unit);
                store.event(vm, "alert", msg);
                System.err.println("jvisord: alert: " + vm + ": " + msg);
            } else {
                standing.put(key, new Alert(vm, metric, threshold, value, a.since()));
            }
        } else if (a != null) {
            standing.remove(key);
            String unit = unit(metric);
            store.event(vm, "alert-cleared", String.format("%s back at %.0f %s (threshold %.0f %s)", metric, value, unit, threshold, unit));
        }
    }

    private static String unit(String metric) {
        return metric.equals("disk-latency") ? "ms" : "%";
    }

    private void clear(String vm, String metric) throws SQLException {
        if (standing.remove(vm + "/" + metric) != null) store.event(vm, "alert-cleared", metric + ": the VM stopped or its threshold was removed");
    }

    List<Alert> standing() {
        return List.copyOf(new TreeMap<>(standing).values());
    }

    @Override
    public void close() {
        closed = true;
        thread.interrupt();
    }
}
