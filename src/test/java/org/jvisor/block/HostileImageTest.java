package org.jvisor.block;

import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.SplittableRandom;
import org.jvisor.block.qcow2.Qcow2Check;
import org.jvisor.block.qcow2.Qcow2Image;
import org.jvisor.block.vhd.VhdImage;
import org.jvisor.block.vmdk.VmdkImage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Mutated headers, L1/L2 tables, refcount structures, grain directories and block tables: opening,
 * reading and checking them must end in a BlockException or in data, never another exception, a
 * hang, a read outside the file, or an allocation beyond a bound set by the file's real size.
 */
class HostileImageTest {
    static final int MUTATIONS = Integer.getInteger("jvisor.hostile.mutations", 100_000);

    @TempDir
    Path tmp;

    private static final long[] NASTY = {0, -1, 1, 0x7FFFFFFFFFFFFFFFL, 0x8000000000000000L, 0xFFFFFFFFL, 0x10000, 0x200,
            1L << 40, 0x00FFFFFFFFFFFE00L, 0xC000000000000000L, 0x4000000000000200L};

    /** Small, metadata-dense base images in every format, made by jvisor and by qemu-img. */
    private byte[][] bases(Path d) throws Exception {
        Path src = d.resolve("src.raw");
        byte[] data = new byte[256 * 1024];
        new SplittableRandom(3).nextBytes(data);
        java.util.Arrays.fill(data, 60_000, 130_000, (byte) 0);
        Files.write(src, data);
        Path j = d.resolve("j.qcow2");
        Images.create(j, "qcow2", data.length, null, null, 9);
        try (DiskImage img = Images.open(j, "qcow2", false)) {
            img.write(0, ByteBuffer.wrap(data, 0, 50_000));
            img.writeZeroes(70_000, 2000);
        }
        Path c = d.resolve("c.qcow2");
        ImageOps.convert(src, "raw", c, "qcow2", true, null);
        Path q2 = d.resolve("q2.qcow2"), vm = d.resolve("v.vmdk"), vh = d.resolve("v.vpc");
        Qemu.ok("qemu-img", "convert", "-f", "raw", "-O", "qcow2", "-o", "compat=0.10,cluster_size=512", src.toString(), q2.toString());
        Qemu.ok("qemu-img", "convert", "-f", "raw", "-O", "vmdk", src.toString(), vm.toString());
        Qemu.ok("qemu-img", "convert", "-f", "raw", "-O", "vpc", src.toString(), vh.toString());
        return new byte[][] {Files.readAllBytes(j), Files.readAllBytes(c), Files.readAllBytes(q2), Files.readAllBytes(vm), Files.readAllBytes(vh)};
    }

    @Test
    void mutatedImagesFailCleanly() throws Exception {
        long seed = org.jvisor.cpu.emu.diff.DifferentialTest.seed("jvisor.hostile.seed");
        byte[][] bases = bases(tmp);
        String[] formats = {"qcow2", "qcow2", "qcow2", "vmdk", "vpc"};
        Path shm = Path.of("/dev/shm");
        Path work = Files.isDirectory(shm) && Files.isWritable(shm) ? Files.createTempDirectory(shm, "jvisor-hostile") : tmp;
        // One file per base, kept equal to it: each mutation is written in place and undone afterwards.
        Path[] files = new Path[bases.length];
        java.nio.channels.FileChannel[] chans = new java.nio.channels.FileChannel[bases.length];
        for (int b = 0; b < bases.length; b++) {
            files[b] = work.resolve("victim" + b + ".img");
            Files.write(files[b], bases[b]);
            chans[b] = java.nio.channels.FileChannel.open(files[b], java.nio.file.StandardOpenOption.WRITE);
        }
        var threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        int[] outcomes = new int[3]; // opened and read, rejected at open, rejected while reading
        long[] worstAlloc = {0};
        assertTimeoutPreemptively(Duration.ofMinutes(10), () -> {
            long tid = Thread.currentThread().threadId(); // the timeout runs this on its own thread
            SplittableRandom r = new SplittableRandom(seed);
            ByteBuffer buf = ByteBuffer.allocate(64 * 1024);
            for (int n = 0; n < MUTATIONS; n++) {
                int which = n % bases.length;
                byte[] img = bases[which];
                java.util.List<int[]> edits = mutate(r, img, which);
                apply(chans[which], img, edits, true);
                long before = threads.getThreadAllocatedBytes(tid);
                try {
                    exercise(files[which], formats[which], r, buf, outcomes);
                } catch (BlockException e) {
                    // the expected way to refuse
                } catch (Throwable t) {
                    throw new AssertionError("mutation " + n + " of base " + which + " (seed " + seed + ") threw " + t, t);
                }
                long alloc = threads.getThreadAllocatedBytes(tid) - before;

                worstAlloc[0] = Math.max(worstAlloc[0], alloc);
                long bound = 64L * img.length + (16 << 20); // proportional to the file, never to what it claims
                if (alloc > bound) Files.copy(files[which], Path.of("target/hostile-failure.img"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                apply(chans[which], img, edits, false);
                assertTrue(alloc <= bound, "mutation " + n + " of base " + which + " allocated " + alloc + " bytes for a "
                        + img.length + "-byte file (seed " + seed + "); by phase (open, reads, check): "
                        + java.util.Arrays.toString(PHASES));
            }
        });
        System.out.printf("hostile images: seed=%d %d mutated images (%d read through, %d refused at open, %d refused while reading); "
                + "worst allocation %d KiB; only clean errors%n", seed, MUTATIONS, outcomes[0], outcomes[1], outcomes[2], worstAlloc[0] >> 10);
        for (int b = 0; b < bases.length; b++) {
            chans[b].close();
            Files.deleteIfExists(files[b]);
        }
    }

    /** Picks 1-4 edits {position, value...}: random bytes, bit flips, nasty big-endian integers. */
    private static java.util.List<int[]> mutate(SplittableRandom r, byte[] img, int which) {
        java.util.List<int[]> edits = new java.util.ArrayList<>();
        int count = 1 + r.nextInt(4);
        for (int e = 0; e < count; e++) {
            // Mostly where the metadata is: the header and the first few KiB (tables of small images),
            // and for VHD the footer and block table.
            int region = which == 4 && r.nextBoolean() ? img.length - 512 : 0;
            int span = Math.min(img.length - region, r.nextInt(4) == 0 ? img.length : 4096);
            int at = region + r.nextInt(span);
            switch (r.nextInt(4)) {
                case 0 -> edits.add(new int[] {at, r.nextInt(256)});
                case 1 -> edits.add(new int[] {at, (img[at] ^ (1 << r.nextInt(8))) & 0xFF});
                default -> {
                    long v = r.nextBoolean() ? NASTY[r.nextInt(NASTY.length)] : r.nextLong() >>> r.nextInt(64);
                    int width = 1 << (1 + r.nextInt(3));
                    at = at & ~(width - 1);
                    for (int k = 0; k < width && at + k < img.length; k++) {
                        edits.add(new int[] {at + k, (int) (v >>> (8 * (width - 1 - k))) & 0xFF}); // big-endian
                    }
                }
            }
        }
        return edits;
    }

    /** Writes the edits into the file (or puts the original bytes back). */
    private static void apply(java.nio.channels.FileChannel ch, byte[] base, java.util.List<int[]> edits, boolean mutate)
            throws java.io.IOException {
        for (int[] e : edits) {
            byte v = mutate ? (byte) e[1] : base[e[0]];
            ch.write(ByteBuffer.wrap(new byte[] {v}), e[0]);
        }
    }

    static final long[] PHASES = new long[3];

    private static long allocated() {
        return ((com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean()).getThreadAllocatedBytes(Thread.currentThread().threadId());
    }

    /** Opens (never following backing files), reads samples, and for qcow2 runs the check. */
    private static void exercise(Path file, String format, SplittableRandom r, ByteBuffer buf, int[] outcomes) throws BlockException {
        DiskImage img;
        long t0 = allocated();
        java.util.Arrays.fill(PHASES, 0);
        try {
            img = switch (format) {
                case "qcow2" -> Qcow2Image.open(file, true, (p, f) -> {
                    throw new BlockException(BlockException.Kind.UNSUPPORTED, "no backing files in this test");
                });
                case "vmdk" -> VmdkImage.open(file);
                default -> VhdImage.open(file);
            };
        } catch (BlockException e) {
            outcomes[1]++;
            throw e;
        }
        PHASES[0] = allocated() - t0;
        try (img) {
            long size = img.size();
            try {
                for (int k = 0; k < 8 && size > 0; k++) {
                    long off = k == 0 ? 0 : k == 1 ? Math.max(0, size - buf.capacity()) : r.nextLong(size);
                    buf.clear().limit((int) Math.min(buf.capacity(), size - off));
                    img.read(off, buf);
                }
                PHASES[1] = allocated() - t0 - PHASES[0];
                if (img instanceof Qcow2Image q) Qcow2Check.check(q, false);
                PHASES[2] = allocated() - t0 - PHASES[0] - PHASES[1];
                outcomes[0]++;
            } catch (BlockException e) {
                outcomes[2]++;
                throw e;
            }
        }
    }
}
