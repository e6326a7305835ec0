package org.jvisor.daemon;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** What /proc says about the host and about a VMM process. */
final class HostFacts {
    private HostFacts() {}

    /** MemTotal in bytes, or 0 when /proc cannot be read. */
    static long memoryBytes() {
        return kib(Path.of("/proc/meminfo"), "MemTotal:") * 1024;
    }

    /** A process's resident set in bytes, or 0 when it is gone. */
    static long rssBytes(long pid) {
        return kib(Path.of("/proc", Long.toString(pid), "status"), "VmRSS:") * 1024;
    }

    /** A process's user + system CPU time in seconds, or 0 when it is gone. */
    static double cpuSeconds(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            return (Long.parseLong(f[11]) + Long.parseLong(f[12])) / 100.0; // utime, stime in clock ticks (USER_HZ = 100)
        } catch (IOException | RuntimeException e) {
            return 0;
        }
    }

    /**
     * Whether the process is gone or a zombie. A VMM adopted from an earlier daemon is no child of
     * this one: when it dies, whoever inherited it reaps it, or (a container whose init reaps
     * nothing) never does, and a zombie still answers kill(pid, 0) as alive.
     */
    static boolean dead(ProcessHandle h) {
        if (!h.isAlive()) return true;
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(h.pid()), "stat"));
            char st = stat.charAt(stat.lastIndexOf(')') + 2);
            return st == 'Z' || st == 'X';
        } catch (IOException | RuntimeException e) {
            return true;
        }
    }

    private static long kib(Path file, String key) {
        try {
            for (String l : Files.readAllLines(file)) {
                if (l.startsWith(key)) return Long.parseLong(l.substring(key.length()).strip().split("\\s+")[0]);
            }
        } catch (IOException | RuntimeException e) {
            // gone, or not Linux
        }
        return 0;
    }
}
