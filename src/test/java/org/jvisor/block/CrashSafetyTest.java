package org.jvisor.block;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A qcow2 writer process killed with SIGKILL at random points must leave an image that qemu-img
 * check finds free of corruption (leaks allowed) and that holds every write a flush acknowledged.
 */
class CrashSafetyTest {
    static final int RUNS = Integer.getInteger("jvisor.crash.runs", 50);
    static final long DISK = 16 << 20;
    static final int OPS = 400;

    @TempDir
    Path dir;

    @Test
    void killedWritersLeaveConsistentImages() throws Exception {
        long seed0 = org.jvisor.cpu.emu.diff.DifferentialTest.seed("jvisor.crash.seed");
        SplittableRandom pick = new SplittableRandom(seed0);
        String javaBin = ProcessHandle.current().info().command().orElse("java");
        String cp = System.getProperty("java.class.path");
        int[] bits = {9, 12, 16};
        int killedMidway = 0, leaky = 0;
        for (int run = 0; run < RUNS; run++) {
            long seed = seed0 * 1000 + run;
            Path img = dir.resolve("crash" + run + ".qcow2");
            Images.create(img, "qcow2", DISK, null, null, bits[run % 3]);
            Process p = new ProcessBuilder(javaBin, "-XX:TieredStopAtLevel=1", "-Xshare:auto", "-cp", cp,
                    CrashWriter.class.getName(), img.toString(), Long.toString(seed), Integer.toString(OPS))
                    .redirectError(ProcessBuilder.Redirect.DISCARD).start();
            int acked = 0;
            int killAfter = 1 + pick.nextInt(OPS / 5 + 10); // the flush after which to kill; past the end = no kill
            try (BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream()))) {
                String line;
                int flushes = 0;
                while ((line = out.readLine()) != null) {
                    if (line.startsWith("FLUSHED ")) {
                        acked = Integer.parseInt(line.substring(8));
                        if (++flushes == killAfter) {
                            // Let it run on a random little while so the kill lands mid-operation.
                            Thread.sleep(pick.nextInt(30));
                            p.destroyForcibly(); // SIGKILL
                            break;
                        }
                    }
                }
            }
            p.waitFor(30, TimeUnit.SECONDS);
            if (acked < OPS) killedMidway++;
            var check = Qemu.run("qemu-img", "check", img.toString());
            assertTrue(check.exit() == 0 || check.exit() == 3, "run " + run + " (seed " + seed + "): qemu-img check exit "
                    + check.exit() + "\n" + check.output());
            if (check.exit() == 3) leaky++;
            verify(img, seed, acked, run);
            java.nio.file.Files.delete(img);
        }
        System.out.printf("crash safety: %d writer processes (%d killed mid-stream, %d left leaked clusters), "
                + "no corruption, every flushed write present%n", RUNS, killedMidway, leaky);
        assertEquals(RUNS, RUNS);
    }

    /** The first {@code acked} operations must be there, except where a later (unacknowledged) one may have landed. */
    private static void verify(Path img, long seed, int acked, int run) throws Exception {
        byte[] model = new byte[(int) DISK];
        BitSet uncertain = new BitSet((int) DISK);
        SplittableRandom r = new SplittableRandom(seed);
        List<CrashWriter.Op> later = new ArrayList<>();
        for (int n = 1; n <= OPS; n++) {
            CrashWriter.Op op = CrashWriter.op(r, DISK);
            if (n <= acked) {
                if (op.zeroes()) java.util.Arrays.fill(model, (int) op.offset(), (int) op.offset() + op.length(), (byte) 0);
                else System.arraycopy(CrashWriter.data(op), 0, model, (int) op.offset(), op.length());
            } else {
                later.add(op);
            }
        }
        for (CrashWriter.Op op : later) uncertain.set((int) op.offset(), (int) op.offset() + op.length());
        byte[] got = new byte[(int) DISK];
        try (DiskImage d = Images.open(img, "qcow2", true)) {
            d.read(0, ByteBuffer.wrap(got));
        }
        for (int i = uncertain.nextClearBit(0); i < DISK; i = uncertain.nextClearBit(i + 1)) {
            if (got[i] != model[i]) {
                throw new AssertionError("run " + run + " (seed " + seed + "): byte " + i + " lost after " + acked + " acknowledged operations");
            }
        }
    }
}
