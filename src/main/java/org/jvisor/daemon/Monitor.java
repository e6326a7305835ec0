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
 * libvirt's vcpu delay). Crossing a threshold raises an "alert" event, going back below it an
 * "alert-cleared" one; the alerts standing now are listed by GET /alerts.
 */
final class Monitor implements AutoCloseable {
    static final long INTERVAL_MILLIS = 2000;

    /** An alert that stands: which VM, what, the threshold and the last value. */
    public record Alert(String vm, String metric, double threshold, double value, String since) {}

    private record Sample(long nanos, double cpuSeconds, double readySeconds) {}

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
                clear(vm, "cpu");
                clear(vm, "ready");
                continue;
            }
            Sample now = new Sample(System.nanoTime(), HostFacts.cpuSeconds(pid), readySeconds(pid));
            Sample before = last.put(vm, now);
            if (before == null) continue;
            double wall = (now.nanos() - before.nanos()) / 1e9;
            if (wall <= 0) continue;
            judge(vm, "cpu", r.spec().cpuAlertPercent(), 100 * (now.cpuSeconds() - before.cpuSeconds()) / wall);
            judge(vm, "ready", r.spec().readyAlertPercent(), 100 * (now.readySeconds() - before.readySeconds()) / wall);
        }
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
                String msg = String.format("%s at %.0f %% is above its threshold of %.0f %%", metric, value, threshold);
                store.event(vm, "alert", msg);
                System.err.println("jvisord: alert: " + vm + ": " + msg);
            } else {
                standing.put(key, new Alert(vm, metric, threshold, value, a.since()));
            }
        } else if (a != null) {
            standing.remove(key);
            store.event(vm, "alert-cleared", String.format("%s back at %.0f %% (threshold %.0f %%)", metric, value, threshold));
        }
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
