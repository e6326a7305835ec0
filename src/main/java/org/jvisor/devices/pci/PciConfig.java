package org.jvisor.devices.pci;

/**
 * One PCI function's 256-byte configuration space: identity, command/status, up to six BARs
 * (32-bit memory or I/O; sizing by writing all ones), interrupt line/pin and a capability list.
 * Only the bits a real device implements are writable; everything else reads as built.
 */
public final class PciConfig {
    public static final int VENDOR = 0x00, COMMAND = 0x04, STATUS = 0x06, REVISION = 0x08, HEADER_TYPE = 0x0E,
            BAR0 = 0x10, SUBSYSTEM_VENDOR = 0x2C, SUBSYSTEM = 0x2E, CAPABILITIES = 0x34, INTERRUPT_LINE = 0x3C,
            INTERRUPT_PIN = 0x3D;
    public static final int CMD_IO = 1, CMD_MEMORY = 2, CMD_BUS_MASTER = 4, CMD_INTX_DISABLE = 1 << 10;
    static final int STATUS_INTERRUPT = 1 << 3, STATUS_CAPABILITIES = 1 << 4;

    private final byte[] bytes = new byte[256];
    private final byte[] writable = new byte[256];
    /** BAR sizes (0: unused); a BAR is memory unless marked I/O. */
    private final long[] barSize = new long[6];
    private final boolean[] barIo = new boolean[6];
    private int nextCapability = 0x40, lastCapabilityNext = CAPABILITIES;
    private final Object lock = new Object();

    public PciConfig(int vendor, int device, int classCode, int revision, int subsystemVendor, int subsystem) {
        put16(VENDOR, vendor);
        put16(VENDOR + 2, device);
        put8(REVISION, revision);
        put8(REVISION + 1, classCode);
        put8(REVISION + 2, classCode >>> 8);
        put8(REVISION + 3, classCode >>> 16);
        put16(SUBSYSTEM_VENDOR, subsystemVendor);
        put16(SUBSYSTEM, subsystem);
        allowWrite(COMMAND, 2, CMD_IO | CMD_MEMORY | CMD_BUS_MASTER | CMD_INTX_DISABLE);
        allowWrite(INTERRUPT_LINE, 1, 0xFF);
    }

    void put8(int off, int v) {
        bytes[off] = (byte) v;
    }

    void put16(int off, int v) {
        put8(off, v);
        put8(off + 1, v >>> 8);
    }

    void put32(int off, int v) {
        put16(off, v);
        put16(off + 2, v >>> 16);
    }

    int get8(int off) {
        return bytes[off] & 0xFF;
    }

    int get16(int off) {
        return get8(off) | get8(off + 1) << 8;
    }

    int get32(int off) {
        return get16(off) | get16(off + 2) << 16;
    }

    /** Marks {@code bits} (little-endian over {@code len} bytes from {@code off}) guest-writable. */
    void allowWrite(int off, int len, long bits) {
        for (int i = 0; i < len; i++) writable[off + i] = (byte) (bits >>> (8 * i));
    }

    /** Declares BAR {@code n}: a power-of-two size of at least 16 bytes (memory) or 4 (I/O). */
    public void declareBar(int n, long size, boolean io) {
        if (Long.bitCount(size) != 1 || size < (io ? 4 : 16) || size > (1L << 31)) throw new IllegalArgumentException("BAR size " + size);
        barSize[n] = size;
        barIo[n] = io;
        put32(BAR0 + 4 * n, io ? 1 : 0);
    }

    public long barSize(int n) {
        return barSize[n];
    }

    public boolean barIsIo(int n) {
        return barIo[n];
    }

    /** The address the BAR decodes (with its decoding enabled in COMMAND), or -1. */
    public long barAddress(int n) {
        synchronized (lock) {
            if (barSize[n] == 0) return -1;
            int cmd = get16(COMMAND);
            if ((cmd & (barIo[n] ? CMD_IO : CMD_MEMORY)) == 0) return -1;
            long a = get32(BAR0 + 4 * n) & 0xFFFFFFFFL;
            return a & (barIo[n] ? ~3L : ~15L);
        }
    }

    /** Firmware placement: the host bridge puts BAR {@code n} at {@code address}. */
    public void placeBar(int n, long address) {
        synchronized (lock) {
            put32(BAR0 + 4 * n, (int) address | (barIo[n] ? 1 : 0));
        }
    }

    /** INTx pin (1 = INTA) the device raises; 0 for none. */
    public void setInterruptPin(int pin) {
        put8(INTERRUPT_PIN, pin);
    }

    /** Adds a capability with the given ID and body (after the two-byte header); returns its offset. */
    public int addCapability(int id, byte[] body) {
        int at = nextCapability;
        if (at + 2 + body.length > 256) throw new IllegalStateException("configuration space full");
        put8(at, id);
        put8(at + 1, 0);
        System.arraycopy(body, 0, bytes, at + 2, body.length);
        put8(lastCapabilityNext, at);
        lastCapabilityNext = at + 1;
        nextCapability = (at + 2 + body.length + 3) & ~3;
        put16(STATUS, get16(STATUS) | STATUS_CAPABILITIES);
        return at;
    }

    public int command() {
        synchronized (lock) {
            return get16(COMMAND);
        }
    }

    public int read(int off, int size) {
        if (off < 0 || off + size > 256) return size == 4 ? -1 : (1 << (size * 8)) - 1;
        synchronized (lock) {
            int v = 0;
            for (int i = 0; i < size; i++) v |= get8(off + i) << (8 * i);
            return v;
        }
    }

    /** A configuration write: BARs size themselves, other bytes take their writable bits. */
    public void write(int off, int size, int value) {
        if (off < 0 || off + size > 256) return;
        synchronized (lock) {
            for (int i = 0; i < size; i++) {
                int at = off + i, b = (value >>> (8 * i)) & 0xFF;
                if (at >= BAR0 && at < BAR0 + 24) {
                    writeBarByte(at, b);
                } else {
                    int w = writable[at] & 0xFF;
                    bytes[at] = (byte) ((bytes[at] & ~w) | (b & w));
                }
            }
        }
        written(off, size);
    }

    private void writeBarByte(int at, int b) {
        int n = (at - BAR0) >>> 2, shift = 8 * ((at - BAR0) & 3);
        if (barSize[n] == 0) return;
        int mask = (int) ~(barSize[n] - 1) & (barIo[n] ? ~3 : ~15);
        int keep = barIo[n] ? 1 : 0;
        int cur = get32(BAR0 + 4 * n);
        int next = (cur & ~(0xFF << shift)) | (b << shift);
        put32(BAR0 + 4 * n, (next & mask) | keep);
    }

    /** A hook for capability registers with side effects (MSI-X message control). */
    private java.util.function.BiConsumer<Integer, Integer> onWrite = (o, s) -> { };

    void onWrite(java.util.function.BiConsumer<Integer, Integer> hook) {
        this.onWrite = hook;
    }

    private void written(int off, int size) {
        onWrite.accept(off, size);
    }

    /** The 256 bytes of configuration space as the guest left them (BAR addresses, command, capabilities). */
    public byte[] snapshot() {
        synchronized (lock) {
            return bytes.clone();
        }
    }

    /**
     * Takes saved configuration space. The identity (vendor, device, class) must be this
     * function's: a state file's device in the wrong slot is refused, not adopted.
     */
    public void restore(byte[] saved) {
        byte[] b = org.jvisor.devices.StateArrays.bytes(saved, 256, "pci config");
        synchronized (lock) {
            for (int at : new int[] {0, 1, 2, 3, 9, 10, 11}) {
                if (b[at] != bytes[at]) {
                    throw new IllegalArgumentException(String.format("pci function %04x:%04x was saved as %02x%02x:%02x%02x",
                            get16(0), get16(2), b[1], b[0], b[3], b[2]));
                }
            }
            System.arraycopy(b, 0, bytes, 0, 256);
        }
    }

    /** Sets or clears the interrupt-status bit (INTx asserted). */
    public void setInterruptStatus(boolean on) {
        synchronized (lock) {
            int s = get16(STATUS);
            put16(STATUS, on ? s | STATUS_INTERRUPT : s & ~STATUS_INTERRUPT);
        }
    }
}
