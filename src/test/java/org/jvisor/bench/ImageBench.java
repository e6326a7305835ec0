package org.jvisor.bench;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import org.jvisor.block.DiskImage;
import org.jvisor.block.Images;

/**
 * One I/O pattern against one image through jvisor's block layer, as qemu-img bench runs it:
 * {@code count} requests of {@code size} bytes, one at a time, each {@code step} bytes after the
 * previous modulo the disk size (a step coprime to the size walks the disk in scattered order).
 * Prints "IOPS MBps". usage: ImageBench FILE FORMAT read|write SIZE STEP COUNT [nowarm]
 * ("nowarm" measures from the first request: for allocating writes, where a warm-up would
 * pre-allocate clusters the measured requests then find ready).
 */
public final class ImageBench {
    public static void main(String[] args) throws Exception {
        Path file = Path.of(args[0]);
        String format = args[1];
        boolean write = args[2].equals("write");
        int size = Integer.parseInt(args[3]);
        long step = Long.parseLong(args[4]);
        long count = Long.parseLong(args[5]);
        try (DiskImage img = Images.open(file, format, !write)) {
            ByteBuffer buf = ByteBuffer.allocateDirect(size);
            for (int i = 0; i < size; i++) buf.put(i, (byte) (i * 13 + 1));
            long disk = img.size();
            // Warm up the JIT on a few thousand requests, in the same pattern, then measure.
            long off = 0;
            long t0 = 0;
            long warm = args.length > 6 && args[6].equals("nowarm") ? 0 : Math.min(count / 5, 20_000);
            for (long n = 0; n < warm + count; n++) {
                if (n == warm) t0 = System.nanoTime();
                buf.clear();
                if (write) img.write(off, buf);
                else img.read(off, buf);
                off = (off + step) % disk;
                if (off + size > disk) off = 0;
            }
            if (write) img.flush();
            double secs = (System.nanoTime() - t0) / 1e9;
            System.out.printf("%.0f %.1f%n", count / secs, count * (double) size / secs / 1e6);
        }
    }
}
