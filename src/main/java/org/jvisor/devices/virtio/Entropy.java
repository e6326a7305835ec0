package org.jvisor.devices.virtio;

import java.security.SecureRandom;

/** virtio-rng: every writable buffer offered is filled from the host's entropy source. */
public final class Entropy implements VirtioDevice {
    /** At most this much per request, as QEMU's default rate limit-free backend does in one go. */
    static final int MAX_CHUNK = 64 * 1024;
    private final SecureRandom random = new SecureRandom();
    private final byte[] chunk = new byte[4096];

    @Override
    public int type() {
        return ENTROPY;
    }

    @Override
    public int pciClass() {
        return 0x00FF00;
    }

    @Override
    public long features() {
        return 0;
    }

    @Override
    public int queueCount() {
        return 1;
    }

    @Override
    public byte[] config() {
        return new byte[0];
    }

    @Override
    public void serve(int index, Virtqueue queue) throws VirtioException {
        for (Chain c; (c = queue.pop()) != null; ) {
            int want = (int) Math.min(c.writableBytes(), MAX_CHUNK), done = 0;
            while (done < want) {
                random.nextBytes(chunk);
                done += c.write(done, chunk, 0, Math.min(chunk.length, want - done));
            }
            queue.push(c, done);
        }
    }
}
