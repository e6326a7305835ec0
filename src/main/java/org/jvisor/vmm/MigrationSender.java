package org.jvisor.vmm;

import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import org.jvisor.memory.DirtyPages;
import org.jvisor.memory.GuestMemory;

/**
 * The sending side of a live migration (pre-copy, as QEMU and cloud-hypervisor do it): all of
 * RAM while the guest runs, then round after round the pages written during the last one, until
 * what is left can go within the downtime budget at the speed the link has shown; then the guest
 * is paused, the devices stopped between requests, the disks flushed, and the last pages and the
 * device state sent. The guest stays paused here until the destination says it runs it; if
 * anything fails before that, the guest goes on here as if nothing had happened.
 */
public final class MigrationSender {
    static final int MAX_ROUNDS = 30, STALLED_ROUNDS = 5;
    static final long REPLY_TIMEOUT_MS = 60_000, PAUSE_TIMEOUT_MS = 5_000;
    private static final int PAGE = (int) GuestMemory.PAGE_SIZE;

    /** Where a migration stands, for {@code vm.info}: rates in bytes per second, times in milliseconds. */
    public record Progress(String status, String uri, int rounds, long ramBytesSent, long dirtyBytes, double dirtyBytesPerSecond,
                           double bandwidthBytesPerSecond, long downtimeBudgetMillis, Double downtimeMillis, double totalMillis,
                           boolean converged, String note) {}

    private final Machine machine;
    private final MachineConfig config;
    private final MigrationUri uri;
    private final long budgetMillis;
    private final java.util.function.Consumer<Progress> report;
    private final long started = System.nanoTime();
    private int rounds;
    private long sent;
    private double bandwidth, dirtyRate;
    private long lastDirty;

    MigrationSender(Machine machine, MachineConfig config, MigrationUri uri, long budgetMillis, java.util.function.Consumer<Progress> report) {
        this.machine = machine;
        this.config = config;
        this.uri = uri;
        this.budgetMillis = budgetMillis;
        this.report = report;
    }

    /**
     * Sends the machine; returns once the destination runs it, with the machine here left paused
     * and its devices frozen (the caller stops it). On an IOException the machine runs on here.
     */
    Progress send() throws IOException, InterruptedException {
        report("connecting", null, false, null);
        Thread warmUp = Snapshot.warmUpOnce();
        SocketChannel ch;
        try {
            ch = uri.connect();
        } catch (IOException e) {
            report("failed", null, false, "cannot reach " + uri + ": " + message(e));
            throw new IOException("cannot reach " + uri + " (" + message(e) + "): is jvisor run --incoming " + uri + " waiting there?", e);
        }
        DirtyPages dirty = null;
        boolean frozen = false;
        try (ch) {
            DataOutputStream out = new DataOutputStream(new BufferedOutputStream(Channels.newOutputStream(ch), 1 << 20));
            MigrationStream.writeHeader(out, Snapshot.encodeConfig(config));
            report("active", null, false, null);
            pause();
            dirty = machine.trackWrites();
            machine.resumeQuietly();
            MemorySegment ram = machine.ram().segment();
            long pages = ram.byteSize() / PAGE;
            byte[] buf = new byte[PAGE];
            long t = System.nanoTime();
            for (long p = 0; p < pages; p += MigrationStream.MAX_RUN) {
                int n = (int) Math.min(MigrationStream.MAX_RUN, pages - p);
                sent += MigrationStream.writeNonZeroPages(out, ram, p, n, buf); // the far side's RAM starts zero
            }
            out.flush();
            measure(sent, t);
            rounds = 1;
            report("active", null, false, null);
            long best = Long.MAX_VALUE;
            int stalled = 0;
            long[] set;
            boolean converged;
            long collectedAt = System.nanoTime();
            for (;;) {
                pause();
                set = machine.collectWritten(dirty);
                machine.resumeQuietly();
                long now = System.nanoTime();
                long n = DirtyPages.count(set);
                lastDirty = n * PAGE;
                dirtyRate = lastDirty / Math.max(1e-6, (now - collectedAt) / 1e9);
                collectedAt = now;
                double needMillis = lastDirty / Math.max(1, bandwidth) * 1000;
                converged = needMillis <= budgetMillis;
                if (n < best) {
                    best = n;
                    stalled = 0;
                } else {
                    stalled++;
                }
                if (converged || rounds >= MAX_ROUNDS || stalled >= STALLED_ROUNDS) break;
                long t0 = System.nanoTime();
                long bytes = sendSet(out, ram, set, buf);
                out.flush();
                measure(bytes, t0);
                rounds++;
                report("active", null, false, null);
            }
            // The last round: the guest stands still from here until the far side runs it.
            warmUp.join();
            long down = System.nanoTime();
            report("completing", null, converged, null);
            pause();
            long tPaused = System.nanoTime();
            machine.freezeDevices();
            frozen = true;
            machine.flushDisks();
            long tFlushed = System.nanoTime();
            long[] last = machine.collectWritten(dirty);
            for (int i = 0; i < last.length; i++) last[i] |= set[i]; // the set the loop collected but did not send
            lastDirty = DirtyPages.count(last) * PAGE;
            sendSet(out, ram, last, buf);
            long tPages = System.nanoTime();
            MigrationStream.writeState(out, Snapshot.encodeSections(machine));
            out.flush();
            long tState = System.nanoTime();
            awaitRunning(ch);
            if (Boolean.getBoolean("jvisor.migration.debug")) {
                System.err.printf("migration: pause %.1f ms, freeze+flush %.1f ms, last pages (%d KiB) %.1f ms, state %.1f ms, destination %.1f ms%n",
                        (tPaused - down) / 1e6, (tFlushed - tPaused) / 1e6, lastDirty >> 10, (tPages - tFlushed) / 1e6, (tState - tPages) / 1e6,
                        (System.nanoTime() - tState) / 1e6);
            }
            rounds++;
            double downtime = (System.nanoTime() - down) / 1e6;
            String note = converged ? null : String.format(java.util.Locale.ROOT,
                    "did not converge: the guest wrote %.0f MiB/s while the link carried %.0f MiB/s, so the last %.1f MiB could not go within %d ms",
                    dirtyRate / (1 << 20), bandwidth / (1 << 20), lastDirty / (double) (1 << 20), budgetMillis);
            machine.stopTrackingWrites();
            return report("completed", downtime, converged, note);
        } catch (IOException | RuntimeException e) {
            machine.stopTrackingWrites();
            if (frozen) machine.thawDevices();
            if (machine.paused()) machine.resume();
            String why = "migration to " + uri + " failed: " + message(e) + "; the VM goes on running here";
            report("failed", null, false, why);
            throw new IOException(why, e);
        }
    }

    private long sendSet(DataOutputStream out, MemorySegment ram, long[] set, byte[] buf) throws IOException {
        long bytes = 0;
        for (int w = 0; w < set.length; w++) {
            long word = set[w];
            while (word != 0) {
                int bit = Long.numberOfTrailingZeros(word);
                long first = (long) w * 64 + bit;
                int n = Long.numberOfTrailingZeros(~(word >>> bit)); // a run of set bits inside this word
                if (bit + n >= 64) n = 64 - bit;
                bytes += MigrationStream.writePages(out, ram, first, n, buf);
                word &= n == 64 ? 0 : ~(((1L << n) - 1) << bit);
            }
        }
        sent += bytes;
        return bytes;
    }

    private void measure(long bytes, long since) {
        double s = (System.nanoTime() - since) / 1e9;
        if (bytes >= 64 * PAGE && s > 0) bandwidth = bytes / s; // small rounds say more about latency than speed
        else if (bandwidth == 0) bandwidth = 1e9;
    }

    private void pause() throws InterruptedException, IOException {
        if (!machine.pause(PAUSE_TIMEOUT_MS)) throw new IOException("the vCPU did not stop within " + PAUSE_TIMEOUT_MS + " ms");
    }

    /** The destination's answer: it runs the guest, or it says why not. A watchdog ends a wait for a peer that never answers. */
    private static void awaitRunning(SocketChannel ch) throws IOException {
        Thread watchdog = Thread.ofVirtual().start(() -> {
            try {
                Thread.sleep(REPLY_TIMEOUT_MS);
                ch.close();
            } catch (InterruptedException | IOException e) {
                // answered in time
            }
        });
        try {
            DataInputStream in = new DataInputStream(Channels.newInputStream(ch));
            int r = in.read();
            if (r == MigrationStream.RUNNING) return;
            if (r == MigrationStream.FAILED) {
                int len = in.readUnsignedShort();
                byte[] m = in.readNBytes(len);
                throw new IOException("the destination refused the VM: " + new String(m, StandardCharsets.UTF_8));
            }
            throw new IOException(r < 0 ? "the destination closed the connection without taking the VM" : "the destination answered " + r);
        } catch (java.nio.channels.AsynchronousCloseException e) {
            throw new IOException("the destination did not answer within " + REPLY_TIMEOUT_MS / 1000 + " s");
        } finally {
            watchdog.interrupt();
        }
    }

    private Progress report(String status, Double downtime, boolean converged, String note) {
        Progress p = new Progress(status, uri.text(), rounds, sent, lastDirty, dirtyRate, bandwidth, budgetMillis, downtime,
                (System.nanoTime() - started) / 1e6, converged, note);
        report.accept(p);
        return p;
    }

    private static String message(Throwable e) {
        return e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
    }
}
