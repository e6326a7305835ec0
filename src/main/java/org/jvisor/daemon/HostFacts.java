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
        return whyDead(h) != null;
    }

    /**
     * The process's start time in clock ticks since boot (/proc/PID/stat field 22), or -1 when it
     * is gone: with the pid, it names one process for as long as the host runs (the JDK's
     * ProcessHandle.Info is empty for a process still between fork and exec).
     */
    static long startTicks(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            return Long.parseLong(f[19]);
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    /** The process's command line as one string (arguments joined by spaces), or "" when it is gone. */
    static String commandLine(long pid) {
        try {
            return new String(Files.readAllBytes(Path.of("/proc", Long.toString(pid), "cmdline")), java.nio.charset.StandardCharsets.UTF_8).replace('\0', ' ');
        } catch (IOException e) {
            return "";
        }
    }

    /** What shows the process is gone (for the event that records it), or null while it runs. Only positive evidence counts. */
    static String whyDead(ProcessHandle h) {
        String stat;
        try {
            stat = Files.readString(Path.of("/proc", Long.toString(h.pid()), "stat"));
        } catch (java.nio.file.NoSuchFileException e) {
            return "its process is gone";
        } catch (IOException | RuntimeException e) {
            return null; // could not look (interrupted, out of descriptors): it counts as running until seen gone
        }
        int close = stat.lastIndexOf(')');
        if (close < 0 || close + 2 >= stat.length()) return null;
        char st = stat.charAt(close + 2);
        if (st == 'Z' || st == 'X') return "its process is a zombie";
        if (!h.isAlive()) return "its pid belongs to another process now"; // the JDK compares start times
        return null;
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
