package org.jvisor.vmm;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;

/**
 * The console's output on its way to the terminal, with the last {@code capacity} bytes kept, so
 * that a control client (or the daemon after a crash) can read what the guest printed lately.
 */
public final class ConsoleRing extends OutputStream {
    private final OutputStream out;
    private final byte[] ring;
    private long written; // bytes ever written; the ring holds the last min(written, capacity)

    public ConsoleRing(OutputStream out, int capacity) {
        if (capacity <= 0) throw new IllegalArgumentException("capacity must be positive");
        this.out = out;
        this.ring = new byte[capacity];
    }

    @Override
    public void write(int b) throws IOException {
        synchronized (this) {
            ring[(int) (written++ % ring.length)] = (byte) b;
        }
        out.write(b);
    }

    @Override
    public void flush() throws IOException {
        out.flush();
    }

    /** Bytes the guest has printed since the VMM started. */
    public synchronized long total() {
        return written;
    }

    /** What the ring still holds, oldest first. */
    public synchronized byte[] snapshot() {
        int n = (int) Math.min(written, ring.length);
        byte[] b = new byte[n];
        int start = (int) ((written - n) % ring.length);
        for (int i = 0; i < n; i++) b[i] = ring[(start + i) % ring.length];
        return b;
    }

    /** The held output as text (Latin-1, so every byte survives). */
    public String text() {
        return new String(snapshot(), StandardCharsets.ISO_8859_1);
    }
}
