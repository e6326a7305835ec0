package org.jvisor.devices.pci;

/**
 * MSI-X for one function: the capability in configuration space (enable, function mask), the
 * vector table and the pending-bit array in a BAR. A masked vector's message is held as pending and
 * sent when it is unmasked, as the PCI specification asks.
 */
public final class MsiX {
    public static final int CAP_ID = 0x11;
    /** The "no vector" value of virtio's MSI-X vector registers. */
    public static final int NO_VECTOR = 0xFFFF;
    static final int ENABLE = 1 << 15, FUNCTION_MASK = 1 << 14;

    private final PciConfig config;
    private final int cap;
    private final int vectors;
    private final long[] address;
    private final int[] data;
    private final boolean[] masked, pending;
    private final MsiSink sink;

    /** Adds the capability: {@code vectors} entries, table at {@code tableOffset} and PBA at {@code pbaOffset} of BAR {@code bar}. */
    public MsiX(PciConfig config, int vectors, int bar, int tableOffset, int pbaOffset, MsiSink sink) {
        if (vectors < 1 || vectors > 2048) throw new IllegalArgumentException("MSI-X vectors " + vectors);
        this.config = config;
        this.vectors = vectors;
        this.sink = sink;
        this.address = new long[vectors];
        this.data = new int[vectors];
        this.masked = new boolean[vectors];
        this.pending = new boolean[vectors];
        java.util.Arrays.fill(masked, true);
        byte[] body = new byte[10];
        int control = vectors - 1;
        body[0] = (byte) control;
        body[1] = (byte) (control >>> 8);
        putInt(body, 2, tableOffset | bar);
        putInt(body, 6, pbaOffset | bar);
        this.cap = config.addCapability(CAP_ID, body);
        config.allowWrite(cap + 2, 2, ENABLE | FUNCTION_MASK);
        config.onWrite((off, size) -> {
            if (off < cap + 4 && off + size > cap + 2) controlWritten();
        });
    }

    private static void putInt(byte[] b, int at, int v) {
        for (int i = 0; i < 4; i++) b[at + i] = (byte) (v >>> (8 * i));
    }

    public int vectors() {
        return vectors;
    }

    private int control() {
        return config.read(cap + 2, 2);
    }

    public boolean enabled() {
        return (control() & ENABLE) != 0;
    }

    /** Signals vector {@code v}; false when MSI-X is off (the caller falls back to INTx). */
    public boolean trigger(int v) {
        if (!enabled()) return false;
        if (v < 0 || v >= vectors) return true; // NO_VECTOR or out of range: no message at all
        long a;
        int d;
        synchronized (this) {
            if (masked[v] || (control() & FUNCTION_MASK) != 0) {
                pending[v] = true;
                return true;
            }
            a = address[v];
            d = data[v];
        }
        sink.deliver(a, d);
        return true;
    }

    private void controlWritten() {
        flushPending();
    }

    private void flushPending() {
        if (!enabled() || (control() & FUNCTION_MASK) != 0) return;
        for (int v = 0; v < vectors; v++) {
            long a;
            int d;
            synchronized (this) {
                if (!pending[v] || masked[v]) continue;
                pending[v] = false;
                a = address[v];
                d = data[v];
            }
            sink.deliver(a, d);
        }
    }

    /** Table reads: 16-byte entries of address low, address high, data, vector control. */
    public synchronized long tableRead(long offset, int size) {
        if (offset < 0 || offset + size > vectors * 16L) return 0;
        int v = (int) (offset >>> 4), reg = (int) (offset & 15);
        long entry = switch (reg & ~3) {
            case 0 -> address[v] & 0xFFFFFFFFL;
            case 4 -> address[v] >>> 32;
            case 8 -> data[v] & 0xFFFFFFFFL;
            default -> masked[v] ? 1 : 0;
        };
        if (size == 8 && (reg & 7) == 0) {
            long hi = reg == 0 ? address[v] >>> 32 : (masked[v] ? 1 : 0);
            return entry | hi << 32;
        }
        return (entry >>> (8 * (reg & 3))) & ((1L << (8 * Math.min(size, 4))) - 1);
    }

    public void tableWrite(long offset, int size, long value) {
        if (offset < 0 || offset + size > vectors * 16L) return;
        if (size == 8) {
            tableWrite(offset, 4, value & 0xFFFFFFFFL);
            tableWrite(offset + 4, 4, value >>> 32);
            return;
        }
        if (size != 4 || (offset & 3) != 0) return; // the table takes aligned dword and qword accesses
        int v = (int) (offset >>> 4);
        synchronized (this) {
            switch ((int) (offset & 15)) {
                case 0 -> address[v] = (address[v] & ~0xFFFFFFFFL) | (value & 0xFFFFFFFCL);
                case 4 -> address[v] = (address[v] & 0xFFFFFFFFL) | (value << 32);
                case 8 -> data[v] = (int) value;
                default -> masked[v] = (value & 1) != 0;
            }
        }
        flushPending();
    }

    /** The table and the pending bits (the enable and mask bits live in configuration space). */
    public record State(long[] address, int[] data, boolean[] masked, boolean[] pending) {}

    public synchronized State state() {
        return new State(address.clone(), data.clone(), masked.clone(), pending.clone());
    }

    public synchronized void restore(State s) {
        long[] a = org.jvisor.devices.StateArrays.longs(s.address(), vectors, "msi-x address");
        int[] d = org.jvisor.devices.StateArrays.ints(s.data(), vectors, "msi-x data");
        boolean[] m = org.jvisor.devices.StateArrays.booleans(s.masked(), vectors, "msi-x masked");
        boolean[] p = org.jvisor.devices.StateArrays.booleans(s.pending(), vectors, "msi-x pending");
        System.arraycopy(a, 0, address, 0, vectors);
        System.arraycopy(d, 0, data, 0, vectors);
        System.arraycopy(m, 0, masked, 0, vectors);
        System.arraycopy(p, 0, pending, 0, vectors);
    }

    public synchronized long pbaRead(long offset, int size) {
        long bits = 0;
        for (int i = 0; i < 64; i++) {
            int v = (int) (offset * 8) + i;
            if (v < vectors && pending[v]) bits |= 1L << i;
        }
        return size == 8 ? bits : bits & ((1L << (8 * size)) - 1);
    }
}
