package org.jvisor.block;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The behaviour every writable {@link DiskImage} must have, checked against an in-memory model.
 * Subclasses say how to create and reopen an image of their kind.
 */
abstract class DiskImageContract {
    static final long SIZE = 8 << 20;

    @TempDir
    Path dir;

    /** A new, empty image of the given size. */
    abstract DiskImage create(Path dir, long size) throws Exception;

    /** Opens the image created last again (after close). */
    abstract DiskImage reopen() throws Exception;

    static byte[] read(DiskImage img, long off, int len) throws BlockException {
        ByteBuffer b = ByteBuffer.allocate(len);
        img.read(off, b);
        return b.array();
    }

    @Test
    void newImageReadsAsZeros() throws Exception {
        try (DiskImage img = create(dir, SIZE)) {
            assertEquals(SIZE, img.size());
            assertArrayEquals(new byte[100_000], read(img, SIZE - 100_000, 100_000));
        }
    }

    @Test
    void randomWritesReadBackAfterReopen() throws Exception {
        byte[] model = new byte[(int) SIZE];
        SplittableRandom r = new SplittableRandom(1);
        try (DiskImage img = create(dir, SIZE)) {
            for (int n = 0; n < 300; n++) {
                int len = 1 + r.nextInt(n % 10 == 0 ? 300_000 : 5000);
                long off = r.nextLong(SIZE - len);
                byte[] data = new byte[len];
                r.nextBytes(data);
                img.write(off, ByteBuffer.wrap(data));
                System.arraycopy(data, 0, model, (int) off, len);
                if (n % 7 == 0) {
                    long zoff = r.nextLong(SIZE - 200_000);
                    int zlen = r.nextInt(200_000);
                    if (n % 14 == 0) {
                        img.writeZeroes(zoff, zlen);
                        java.util.Arrays.fill(model, (int) zoff, (int) zoff + zlen, (byte) 0);
                    } else {
                        // discard: the range may read back as anything; make the model agree by reading it
                        img.discard(zoff, zlen);
                        byte[] now = read(img, zoff, zlen);
                        System.arraycopy(now, 0, model, (int) zoff, zlen);
                    }
                }
            }
            img.flush();
            assertArrayEquals(model, read(img, 0, (int) SIZE));
        }
        try (DiskImage img = reopen()) {
            assertArrayEquals(model, read(img, 0, (int) SIZE));
        }
    }

    @Test
    void writeZeroesReadsZeros() throws Exception {
        try (DiskImage img = create(dir, SIZE)) {
            byte[] ones = new byte[1 << 20];
            java.util.Arrays.fill(ones, (byte) 0xA5);
            img.write(0, ByteBuffer.wrap(ones));
            img.writeZeroes(1000, 500_000);
            byte[] got = read(img, 0, ones.length);
            for (int i = 0; i < ones.length; i++) assertEquals(i >= 1000 && i < 501_000 ? 0 : (byte) 0xA5, got[i], "byte " + i);
        }
    }

    @Test
    void resizeGrowsWithZerosAndKeepsData() throws Exception {
        try (DiskImage img = create(dir, SIZE)) {
            img.write(SIZE - 4, ByteBuffer.wrap(new byte[] {1, 2, 3, 4}));
            img.resize(3 * SIZE);
            assertEquals(3 * SIZE, img.size());
            assertArrayEquals(new byte[] {1, 2, 3, 4}, read(img, SIZE - 4, 4));
            assertArrayEquals(new byte[4096], read(img, 3 * SIZE - 4096, 4096));
            img.write(3 * SIZE - 1, ByteBuffer.wrap(new byte[] {9}));
            assertEquals(9, read(img, 3 * SIZE - 1, 1)[0]);
        }
        try (DiskImage img = reopen()) {
            assertEquals(3 * SIZE, img.size());
            assertEquals(9, read(img, 3 * SIZE - 1, 1)[0]);
        }
    }

    @Test
    void accessesOutsideTheDiskFail() throws Exception {
        try (DiskImage img = create(dir, SIZE)) {
            BlockException e = assertThrows(BlockException.class, () -> img.read(SIZE - 1, ByteBuffer.allocate(2)));
            assertEquals(BlockException.Kind.OUT_OF_RANGE, e.kind());
            assertThrows(BlockException.class, () -> img.write(-1, ByteBuffer.allocate(1)));
        }
    }

    @Test
    void concurrentWritersDoNotLoseData() throws Exception {
        int threads = 4, perThread = 200, block = 4096 + 17;
        try (DiskImage img = create(dir, SIZE); ExecutorService ex = Executors.newFixedThreadPool(threads)) {
            List<Future<?>> fs = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int tt = t;
                fs.add(ex.submit(() -> {
                    for (int n = 0; n < perThread; n++) {
                        long off = (long) (n * threads + tt) * block;
                        byte[] d = new byte[block];
                        java.util.Arrays.fill(d, (byte) (tt * 31 + n));
                        img.write(off, ByteBuffer.wrap(d));
                    }
                    return null;
                }));
            }
            for (Future<?> f : fs) f.get();
            for (int n = 0; n < perThread; n++) {
                for (int t = 0; t < threads; t++) {
                    byte[] got = read(img, (long) (n * threads + t) * block, block);
                    for (byte b : got) assertEquals((byte) (t * 31 + n), b);
                }
            }
        }
    }
}
