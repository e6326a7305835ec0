package org.jvisor.devices.virtio;

import java.io.IOException;
import java.io.OutputStream;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.function.IntConsumer;

/**
 * virtio-console (virtio 1.2, 5.3) with one port, the guest's hvc0: what the guest writes goes
 * to an output stream, what the host types arrives in the guest's receive buffers.
 */
public final class Console implements VirtioDevice {
    static final int RX = 0, TX = 1;
    private final OutputStream out;
    private final ArrayBlockingQueue<Byte> input = new ArrayBlockingQueue<>(64 * 1024);
    private volatile IntConsumer kick = q -> { };

    public Console(OutputStream out) {
        this.out = out;
    }

    @Override
    public int type() {
        return CONSOLE;
    }

    @Override
    public int pciClass() {
        return 0x078000;
    }

    @Override
    public long features() {
        return 0;
    }

    @Override
    public int queueCount() {
        return 2;
    }

    @Override
    public byte[] config() {
        return new byte[12]; // cols, rows, max_nr_ports, emerg_wr: unused without their features
    }

    @Override
    public void bind(IntConsumer kick) {
        this.kick = kick;
    }

    /** Host keystrokes for hvc0; beyond 64 KiB waiting, the rest is dropped. */
    public void receive(byte[] b, int off, int len) {
        for (int i = 0; i < len; i++) if (!input.offer(b[off + i])) break;
        kick.accept(RX);
    }

    @Override
    public void serve(int index, Virtqueue queue) throws VirtioException {
        if (index == TX) {
            for (Chain c; (c = queue.pop()) != null; ) {
                byte[] b = new byte[(int) Math.min(c.readableBytes(), 64 * 1024)];
                c.read(0, b);
                try {
                    out.write(b);
                    out.flush();
                } catch (IOException e) {
                    // Nobody listens any more: output is dropped, the guest carries on.
                }
                queue.push(c, 0);
            }
            return;
        }
        while (!input.isEmpty()) {
            Chain c = queue.pop();
            if (c == null) return; // the rest waits for buffers
            int n = (int) Math.min(c.writableBytes(), input.size());
            byte[] b = new byte[n];
            for (int i = 0; i < n; i++) b[i] = input.poll();
            queue.push(c, c.write(0, b, 0, n));
        }
    }
}
