package org.jvisor.block;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.SplittableRandom;

/**
 * The victim of {@link CrashSafetyTest}: applies a deterministic stream of writes to a qcow2 image
 * and prints "FLUSHED n" after each flush that made the first n operations durable. It is killed
 * with SIGKILL at a random moment.
 */
public final class CrashWriter {
    /** One operation of the stream: a write of random bytes, or zeroes. */
    record Op(boolean zeroes, long offset, int length, long dataSeed) {}

    static Op op(SplittableRandom r, long diskSize) {
        boolean z = r.nextInt(8) == 0;
        int len = 1 + r.nextInt(r.nextInt(4) == 0 ? 300_000 : 20_000);
        long off = r.nextLong(diskSize - len);
        return new Op(z, off, len, r.nextLong());
    }

    static byte[] data(Op op) {
        byte[] d = new byte[op.length];
        new SplittableRandom(op.dataSeed).nextBytes(d);
        return d;
    }

    public static void main(String[] args) throws Exception {
        Path image = Path.of(args[0]);
        long seed = Long.parseLong(args[1]);
        int ops = Integer.parseInt(args[2]);
        SplittableRandom r = new SplittableRandom(seed);
        try (DiskImage img = Images.open(image, "qcow2", false)) {
            for (int n = 1; n <= ops; n++) {
                Op op = op(r, img.size());
                if (op.zeroes) img.writeZeroes(op.offset, op.length);
                else img.write(op.offset, ByteBuffer.wrap(data(op)));
                if (n % 5 == 0) {
                    img.flush();
                    System.out.println("FLUSHED " + n);
                    System.out.flush();
                }
            }
            img.flush();
            System.out.println("FLUSHED " + ops);
        }
    }
}
