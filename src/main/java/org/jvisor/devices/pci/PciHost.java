package org.jvisor.devices.pci;


/**
 * The PCI host bridge of bus 0: configuration cycles through 0xCF8/0xCFC (mechanism #1) and ECAM,
 * BAR placement in the memory window below 4 GiB (and an I/O window), and the decoding of BAR
 * accesses to their functions. Slot 0 is the bridge itself.
 */
public final class PciHost {
    public static final int CONFIG_ADDRESS = 0xCF8, CONFIG_DATA = 0xCFC;
    public static final int SLOTS = 32;
    public static final int IO_WINDOW_START = 0xC000, IO_WINDOW_END = 0x10000;

    private final PciFunction[] slots = new PciFunction[SLOTS];
    private final long ecamBase, mmioStart, mmioEnd;
    private long nextMmio;
    private int nextIo = IO_WINDOW_START;
    private int address;

    public PciHost(long ecamBase, long mmioStart, long mmioEnd) {
        this.ecamBase = ecamBase;
        this.mmioStart = mmioStart;
        this.mmioEnd = mmioEnd;
        this.nextMmio = mmioStart;
        PciConfig bridge = new PciConfig(0x1B36, 0x0008, 0x060000, 0, 0x1B36, 0x0008); // a host bridge, Red Hat's QEMU ID
        slots[0] = new PciFunction() {
            @Override
            public PciConfig config() {
                return bridge;
            }

            @Override
            public long barRead(int bar, long offset, int size) {
                return 0;
            }

            @Override
            public void barWrite(int bar, long offset, int size, long value) {
            }
        };
    }

    public long ecamBase() {
        return ecamBase;
    }

    public static long ecamSize() {
        return 1L << 20; // bus 0 only
    }

    /** Plugs a function into the next free slot, places its BARs and enables their decoding; returns the slot. */
    public synchronized int add(PciFunction f) {
        int slot = 1;
        while (slot < SLOTS && slots[slot] != null) slot++;
        if (slot == SLOTS) throw new IllegalStateException("no free PCI slot (at most " + (SLOTS - 1) + " devices)");
        PciConfig c = f.config();
        int command = 0;
        for (int n = 0; n < 6; n++) {
            long size = c.barSize(n);
            if (size == 0) continue;
            if (c.barIsIo(n)) {
                int at = (int) ((nextIo + size - 1) & -size);
                if (at + size > IO_WINDOW_END) throw new IllegalStateException("PCI I/O window exhausted");
                c.placeBar(n, at);
                nextIo = (int) (at + size);
                command |= PciConfig.CMD_IO;
            } else {
                long at = (nextMmio + size - 1) & -size;
                if (at + size > mmioEnd) throw new IllegalStateException("PCI memory window exhausted");
                c.placeBar(n, at);
                nextMmio = at + size;
                command |= PciConfig.CMD_MEMORY;
            }
        }
        c.write(PciConfig.COMMAND, 2, command | PciConfig.CMD_BUS_MASTER);
        slots[slot] = f;
        return slot;
    }

    private PciFunction function(int bus, int dev, int fn) {
        if (bus != 0 || fn != 0 || dev < 0 || dev >= SLOTS) return null;
        return slots[dev];
    }

    // ---- mechanism #1 ----

    public static boolean claimsPort(int port) {
        return port >= CONFIG_ADDRESS && port < CONFIG_DATA + 4;
    }

    public int ioRead(int port, int size) {
        if (port == CONFIG_ADDRESS && size == 4) {
            synchronized (this) {
                return address;
            }
        }
        if (port >= CONFIG_DATA) {
            int a;
            synchronized (this) {
                a = address;
            }
            if ((a & 0x80000000) == 0) return ones(size);
            PciFunction f = function(a >>> 16 & 0xFF, a >>> 11 & 0x1F, a >>> 8 & 7);
            int off = (a & 0xFC) + (port - CONFIG_DATA);
            return f == null ? ones(size) : f.config().read(off, Math.min(size, 256 - off));
        }
        return ones(size);
    }

    public void ioWrite(int port, int size, int value) {
        if (port == CONFIG_ADDRESS && size == 4) {
            synchronized (this) {
                address = value & 0x80FFFFFC;
            }
            return;
        }
        if (port >= CONFIG_DATA) {
            int a;
            synchronized (this) {
                a = address;
            }
            if ((a & 0x80000000) == 0) return;
            PciFunction f = function(a >>> 16 & 0xFF, a >>> 11 & 0x1F, a >>> 8 & 7);
            if (f != null) f.config().write((a & 0xFC) + (port - CONFIG_DATA), size, value);
        }
    }

    static int ones(int size) {
        return size == 4 ? -1 : (1 << (size * 8)) - 1;
    }

    // ---- ECAM ----

    public boolean claimsEcam(long pa) {
        return pa >= ecamBase && pa < ecamBase + ecamSize();
    }

    public long ecamRead(long pa, int size) {
        long off = pa - ecamBase;
        PciFunction f = function((int) (off >>> 20), (int) (off >>> 15) & 0x1F, (int) (off >>> 12) & 7);
        int reg = (int) (off & 0xFFF);
        if (f == null || reg >= 256 || size > 4) return size == 8 ? -1L : ones(size) & 0xFFFFFFFFL;
        return f.config().read(reg, size) & 0xFFFFFFFFL;
    }

    public void ecamWrite(long pa, int size, long value) {
        long off = pa - ecamBase;
        PciFunction f = function((int) (off >>> 20), (int) (off >>> 15) & 0x1F, (int) (off >>> 12) & 7);
        int reg = (int) (off & 0xFFF);
        if (f != null && reg < 256 && size <= 4) f.config().write(reg, size, (int) value);
    }

    // ---- BARs ----

    public boolean claimsMmio(long pa) {
        return pa >= mmioStart && pa < mmioEnd;
    }

    /** A memory access in the window: the function whose enabled BAR decodes it, or all ones. */
    public long mmioRead(long pa, int size) {
        for (PciFunction f : slots) {
            if (f == null) continue;
            for (int n = 0; n < 6; n++) {
                long base = f.config().barAddress(n);
                if (base >= 0 && !f.config().barIsIo(n) && pa >= base && pa + size <= base + f.config().barSize(n)) {
                    return f.barRead(n, pa - base, size);
                }
            }
        }
        return size == 8 ? -1L : ones(size) & 0xFFFFFFFFL;
    }

    public void mmioWrite(long pa, int size, long value) {
        for (PciFunction f : slots) {
            if (f == null) continue;
            for (int n = 0; n < 6; n++) {
                long base = f.config().barAddress(n);
                if (base >= 0 && !f.config().barIsIo(n) && pa >= base && pa + size <= base + f.config().barSize(n)) {
                    f.barWrite(n, pa - base, size, value);
                    return;
                }
            }
        }
    }

    /** For the ACPI tables: (slot, INTx pin) pairs of the functions that raise INTx. */
    public synchronized int[][] intxPins() {
        java.util.List<int[]> out = new java.util.ArrayList<>();
        for (int s = 1; s < SLOTS; s++) {
            if (slots[s] == null) continue;
            int pin = slots[s].config().read(PciConfig.INTERRUPT_PIN, 1);
            if (pin != 0) out.add(new int[] {s, pin});
        }
        return out.toArray(new int[0][]);
    }

    /** The GSI that (slot, pin) is wired to: the usual swizzle over GSIs 16-23. */
    public static int gsi(int slot, int pin) {
        return 16 + ((slot + pin - 1) & 7);
    }

}
