package org.jvisor.devices.virtio;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;
import org.jvisor.devices.StateArrays;
import org.jvisor.devices.pci.MsiSink;
import org.jvisor.devices.pci.MsiX;
import org.jvisor.devices.pci.PciConfig;
import org.jvisor.devices.pci.PciFunction;
import org.jvisor.memory.GuestMemory;

/**
 * The virtio 1.x modern PCI transport (virtio 1.2, 4.1): vendor capabilities pointing into BAR 0
 * at the common configuration, notification, ISR and device configuration areas, plus MSI-X
 * (one vector per queue and one for configuration changes) and INTx for drivers without MSI-X.
 * A notification only wakes the device's worker thread, so the vCPU never waits for device work.
 */
public final class VirtioPci implements PciFunction, AutoCloseable {
    public static final int VENDOR = 0x1AF4, DEVICE_BASE = 0x1040;
    static final long F_VERSION_1 = 1L << 32, F_INDIRECT_DESC = 1L << 28, F_EVENT_IDX = 1L << 29;
    static final int ACKNOWLEDGE = 1, DRIVER = 2, DRIVER_OK = 4, FEATURES_OK = 8, NEEDS_RESET = 64, FAILED = 128;
    static final int COMMON = 0x0000, ISR = 0x1000, DEVICE = 0x2000, NOTIFY = 0x3000, MSIX_TABLE = 0x4000, MSIX_PBA = 0x5000;
    static final int BAR_SIZE = 0x8000, NOTIFY_MULTIPLIER = 4;
    static final int CAP_VENDOR = 0x09, CFG_COMMON = 1, CFG_NOTIFY = 2, CFG_ISR = 3, CFG_DEVICE = 4;

    private final VirtioDevice device;
    private final GuestMemory mem;
    private final Virtqueue.DmaObserver dma;
    private final PciConfig config;
    private final MsiX msix;
    private final Consumer<Boolean> intx;
    private final int queues;

    // Transport state, guarded by this.
    private int status, deviceFeatureSelect, driverFeatureSelect, queueSelect, configVector = MsiX.NO_VECTOR, generation;
    private long driverFeatures;
    private final int[] queueSize, queueVector;
    private final boolean[] queueEnabled;
    private final long[] queueDesc, queueDriver, queueDevice;
    private final Virtqueue[] rings;
    private int isr;
    private String lastError;

    private final AtomicInteger kicked = new AtomicInteger();
    private final Thread worker;
    private volatile boolean closed;

    /** {@code intx} drives the function's INTx line (true = asserted). */
    public VirtioPci(VirtioDevice device, GuestMemory mem, Virtqueue.DmaObserver dma, MsiSink msi, Consumer<Boolean> intx) {
        this.device = device;
        this.mem = mem;
        this.dma = dma;
        this.intx = intx;
        this.queues = device.queueCount();
        if (queues < 1 || queues > 32) throw new IllegalArgumentException("queues " + queues);
        this.queueSize = new int[queues];
        this.queueVector = new int[queues];
        this.queueEnabled = new boolean[queues];
        this.queueDesc = new long[queues];
        this.queueDriver = new long[queues];
        this.queueDevice = new long[queues];
        this.rings = new Virtqueue[queues];
        this.config = new PciConfig(VENDOR, DEVICE_BASE + device.type(), device.pciClass(), 1, VENDOR, DEVICE_BASE + device.type());
        config.declareBar(0, BAR_SIZE, false);
        config.setInterruptPin(1);
        vendorCap(CFG_COMMON, COMMON, 0x40, false);
        vendorCap(CFG_NOTIFY, NOTIFY, queues * NOTIFY_MULTIPLIER, true);
        vendorCap(CFG_ISR, ISR, 4, false);
        vendorCap(CFG_DEVICE, DEVICE, 0x1000, false);
        this.msix = new MsiX(config, queues + 1, 0, MSIX_TABLE, MSIX_PBA, msi);
        resetState();
        device.bind(this::kick);
        this.worker = Thread.ofPlatform().daemon().name("virtio-" + device.type()).start(this::work);
    }

    private void vendorCap(int type, int offset, int length, boolean notify) {
        byte[] b = new byte[notify ? 18 : 14];
        b[0] = (byte) (notify ? 20 : 16); // cap_len, counting the two header bytes
        b[1] = (byte) type;
        b[2] = 0;                         // BAR 0
        putInt(b, 6, offset);
        putInt(b, 10, length);
        if (notify) putInt(b, 14, NOTIFY_MULTIPLIER);
        config.addCapability(CAP_VENDOR, b);
    }

    private static void putInt(byte[] b, int at, int v) {
        for (int i = 0; i < 4; i++) b[at + i] = (byte) (v >>> (8 * i));
    }

    @Override
    public PciConfig config() {
        return config;
    }

    public VirtioDevice device() {
        return device;
    }

    /** The last protocol violation that put the device into DEVICE_NEEDS_RESET, or null. */
    public synchronized String lastError() {
        return lastError;
    }

    public synchronized int status() {
        return status;
    }

    private long offeredFeatures() {
        return device.features() | F_VERSION_1 | F_INDIRECT_DESC | F_EVENT_IDX;
    }

    private void resetState() {
        status = 0;
        driverFeatures = 0;
        deviceFeatureSelect = driverFeatureSelect = queueSelect = 0;
        configVector = MsiX.NO_VECTOR;
        isr = 0;
        for (int q = 0; q < queues; q++) {
            queueSize[q] = device.maxQueueSize();
            queueVector[q] = MsiX.NO_VECTOR;
            queueEnabled[q] = false;
            queueDesc[q] = queueDriver[q] = queueDevice[q] = 0;
            rings[q] = null;
        }
        intx.accept(false);
    }

    // ---------------------------------------------------------------- BAR 0

    @Override
    public long barRead(int bar, long offset, int size) {
        if (offset >= MSIX_TABLE && offset < MSIX_PBA) return msix.tableRead(offset - MSIX_TABLE, size);
        if (offset >= MSIX_PBA && offset < BAR_SIZE) return msix.pbaRead(offset - MSIX_PBA, size);
        if (offset >= DEVICE && offset < NOTIFY) return deviceConfigRead((int) (offset - DEVICE), size);
        if (offset == ISR) return readIsr();
        if (offset < 0x40) return commonRead((int) offset, size);
        return 0;
    }

    @Override
    public void barWrite(int bar, long offset, int size, long value) {
        if (offset >= MSIX_TABLE && offset < MSIX_PBA) {
            msix.tableWrite(offset - MSIX_TABLE, size, value);
        } else if (offset >= NOTIFY && offset < NOTIFY + (long) queues * NOTIFY_MULTIPLIER) {
            kick((int) ((offset - NOTIFY) / NOTIFY_MULTIPLIER));
        } else if (offset >= DEVICE && offset < NOTIFY) {
            byte[] b = new byte[size];
            for (int i = 0; i < size; i++) b[i] = (byte) (value >>> (8 * i));
            device.writeConfig((int) (offset - DEVICE), b);
        } else if (offset < 0x40) {
            commonWrite((int) offset, size, value);
        }
    }

    private long deviceConfigRead(int off, int size) {
        byte[] c = device.config();
        long v = 0;
        for (int i = 0; i < size; i++) if (off + i < c.length) v |= (long) (c[off + i] & 0xFF) << (8 * i);
        return v;
    }

    private synchronized int readIsr() {
        int v = isr;
        isr = 0;
        config.setInterruptStatus(false);
        intx.accept(false);
        return v;
    }

    private synchronized long commonRead(int off, int size) {
        int q = queueSelect < queues ? queueSelect : -1;
        long v = switch (off & ~1) {
            case 0x00 -> deviceFeatureSelect;
            case 0x04 -> deviceFeatureSelect < 2 ? (offeredFeatures() >>> (32 * deviceFeatureSelect)) & 0xFFFFFFFFL : 0;
            case 0x08 -> driverFeatureSelect;
            case 0x0C -> driverFeatureSelect < 2 ? (driverFeatures >>> (32 * driverFeatureSelect)) & 0xFFFFFFFFL : 0;
            case 0x10 -> configVector;
            case 0x12 -> queues;
            case 0x14 -> (status & 0xFF) | (generation & 0xFF) << 8;
            case 0x16 -> queueSelect;
            case 0x18 -> q < 0 ? 0 : queueSize[q];
            case 0x1A -> q < 0 ? MsiX.NO_VECTOR : queueVector[q];
            case 0x1C -> q < 0 ? 0 : queueEnabled[q] ? 1 : 0;
            case 0x1E -> q < 0 ? 0 : q;                    // queue_notify_off: notify at q * multiplier
            case 0x20, 0x22 -> q < 0 ? 0 : queueDesc[q] >>> (off == 0x20 ? 0 : 16);
            case 0x24, 0x26 -> q < 0 ? 0 : queueDesc[q] >>> (32 + (off - 0x24) * 8);
            case 0x28, 0x2A, 0x2C, 0x2E -> q < 0 ? 0 : queueDriver[q] >>> ((off - 0x28) * 8);
            case 0x30, 0x32, 0x34, 0x36 -> q < 0 ? 0 : queueDevice[q] >>> ((off - 0x30) * 8);
            default -> 0;
        };
        if ((off & 1) != 0) v >>>= 8; // byte access to the odd half (device status / generation)
        return v & (size == 8 ? -1L : (1L << (size * 8)) - 1);
    }

    private void commonWrite(int off, int size, long value) {
        synchronized (this) {
            int q = queueSelect < queues ? queueSelect : -1;
            int v = (int) value;
            switch (off) {
                case 0x00 -> deviceFeatureSelect = v;
                case 0x08 -> driverFeatureSelect = v;
                case 0x0C -> {
                    if (driverFeatureSelect < 2 && (status & FEATURES_OK) == 0) {
                        long shift = 32L * driverFeatureSelect;
                        driverFeatures = (driverFeatures & ~(0xFFFFFFFFL << shift)) | ((value & 0xFFFFFFFFL) << shift);
                    }
                }
                case 0x10 -> configVector = v & 0xFFFF;
                case 0x14 -> { setStatus(v & 0xFF); return; }
                case 0x16 -> queueSelect = v & 0xFFFF;
                case 0x18 -> {
                    if (q >= 0 && !queueEnabled[q]) queueSize[q] = v & 0xFFFF;
                }
                case 0x1A -> { if (q >= 0) queueVector[q] = v & 0xFFFF; }
                case 0x1C -> { if (q >= 0 && (v & 1) != 0 && !queueEnabled[q]) enableQueue(q); }
                default -> {
                    if (q >= 0 && off >= 0x20 && off < 0x38 && !queueEnabled[q]) {
                        long[] target = off < 0x28 ? queueDesc : off < 0x30 ? queueDriver : queueDevice;
                        int shift = (off & 7) * 8;
                        long mask = size == 8 ? -1L : ((1L << (size * 8)) - 1) << shift;
                        target[q] = (target[q] & ~mask) | ((value << shift) & mask);
                    }
                }
            }
        }
    }

    private void setStatus(int v) {
        if (v == 0) {
            // Reset: wait until the worker is between requests, then forget everything.
            synchronized (this) {
                resetState();
                device.reset();
                generation++;
            }
            return;
        }
        if ((v & FEATURES_OK) != 0 && (status & FEATURES_OK) == 0) {
            long unknown = driverFeatures & ~offeredFeatures();
            if (unknown != 0 || (driverFeatures & F_VERSION_1) == 0) v &= ~FEATURES_OK; // refused: the driver reads it back
        }
        boolean nowOk = (v & DRIVER_OK) != 0 && (status & DRIVER_OK) == 0;
        status = (v & ~NEEDS_RESET) | (status & NEEDS_RESET);
        if (nowOk) {
            device.activate(driverFeatures);
            for (int q = 0; q < queues; q++) if (queueEnabled[q]) kick(q); // buffers offered before DRIVER_OK
        }
    }

    private void enableQueue(int q) {
        try {
            rings[q] = new Virtqueue(mem, dma, queueSize[q], queueDesc[q], queueDriver[q], queueDevice[q], (driverFeatures & F_EVENT_IDX) != 0);
            queueEnabled[q] = true;
        } catch (VirtioException e) {
            needsReset("queue " + q + ": " + e.getMessage());
        }
    }

    /** The device changed its configuration structure: bump the generation and tell the driver. */
    public synchronized void configChanged() {
        generation++;
        if ((status & DRIVER_OK) != 0) signal(configVector, 2);
    }

    /** DEVICE_NEEDS_RESET (virtio 1.2, 2.1.1) and a configuration-change interrupt. Holds the lock. */
    private void needsReset(String why) {
        lastError = why;
        status |= NEEDS_RESET;
        for (int q = 0; q < queues; q++) {
            queueEnabled[q] = false;
            rings[q] = null;
        }
        generation++;
        signal(configVector, 2);
    }

    // ---------------------------------------------------------------- machine state

    /**
     * The transport as the driver left it: configuration space, MSI-X, feature and queue
     * registers, and each enabled ring's position. A request is never half done here: the worker
     * serves a queue under this object's lock, so a state taken under it sees every popped chain
     * pushed back (a device that holds one says so in its own state).
     */
    public record State(byte[] pciConfig, MsiX.State msix, int status, int deviceFeatureSelect, int driverFeatureSelect, int queueSelect,
                        int configVector, int generation, long driverFeatures, int[] queueSize, int[] queueVector, boolean[] queueEnabled,
                        long[] queueDesc, long[] queueDriver, long[] queueDevice, Virtqueue.State[] rings, int isr, String lastError) {}

    public synchronized State state() {
        Virtqueue.State[] r = new Virtqueue.State[queues];
        for (int q = 0; q < queues; q++) r[q] = rings[q] == null ? null : rings[q].state();
        return new State(config.snapshot(), msix.state(), status, deviceFeatureSelect, driverFeatureSelect, queueSelect, configVector,
                generation, driverFeatures, queueSize.clone(), queueVector.clone(), queueEnabled.clone(), queueDesc.clone(),
                queueDriver.clone(), queueDevice.clone(), r, isr, lastError);
    }

    /**
     * Takes a saved transport state into this freshly made function (same device, same slot) and
     * then the device's own; the rings are re-checked against RAM as the driver's writes would be.
     */
    public synchronized void restore(State s, Record deviceState) throws VirtioException {
        config.restore(s.pciConfig());
        if (s.msix() == null) throw new IllegalArgumentException("virtio state has no msi-x table");
        msix.restore(s.msix());
        int[] size = StateArrays.ints(s.queueSize(), queues, "queue sizes"), vector = StateArrays.ints(s.queueVector(), queues, "queue vectors");
        boolean[] enabled = StateArrays.booleans(s.queueEnabled(), queues, "queue enables");
        long[] descs = StateArrays.longs(s.queueDesc(), queues, "queue descriptor tables");
        long[] drivers = StateArrays.longs(s.queueDriver(), queues, "queue driver areas");
        long[] devices = StateArrays.longs(s.queueDevice(), queues, "queue device areas");
        if (s.rings() == null || s.rings().length != queues) throw new IllegalArgumentException("virtio state needs " + queues + " ring positions");
        status = s.status() & 0xFF;
        deviceFeatureSelect = s.deviceFeatureSelect();
        driverFeatureSelect = s.driverFeatureSelect();
        queueSelect = s.queueSelect() & 0xFFFF;
        configVector = s.configVector() & 0xFFFF;
        generation = s.generation();
        driverFeatures = s.driverFeatures();
        isr = s.isr() & 3;
        lastError = s.lastError();
        for (int q = 0; q < queues; q++) {
            queueSize[q] = size[q] & 0xFFFF;
            queueVector[q] = vector[q] & 0xFFFF;
            queueDesc[q] = descs[q];
            queueDriver[q] = drivers[q];
            queueDevice[q] = devices[q];
            queueEnabled[q] = false;
            rings[q] = null;
            if (enabled[q]) {
                if (s.rings()[q] == null) throw new IllegalArgumentException("queue " + q + " is enabled but has no ring position");
                rings[q] = new Virtqueue(mem, dma, queueSize[q], queueDesc[q], queueDriver[q], queueDevice[q], (driverFeatures & F_EVENT_IDX) != 0);
                rings[q].restore(s.rings()[q]);
                queueEnabled[q] = true;
            }
        }
        if ((status & DRIVER_OK) != 0) device.activate(driverFeatures);
        if (deviceState != null) device.restoreState(deviceState, q -> q >= 0 && q < queues ? rings[q] : null);
    }

    /** Serves every enabled queue once: buffers the driver offered while the state was being saved or moved. */
    public void kickAll() {
        for (int q = 0; q < queues; q++) kick(q);
    }

    // ---------------------------------------------------------------- work

    /** Asks the worker to serve queue {@code q} (a driver notification, or new input for the device). */
    public void kick(int q) {
        if (q < 0 || q >= queues) return;
        kicked.getAndUpdate(m -> m | 1 << q);
        LockSupport.unpark(worker);
    }

    private void work() {
        while (!closed) {
            int m = kicked.getAndSet(0);
            if (m == 0) {
                LockSupport.park(this);
                continue;
            }
            for (int q = 0; q < queues; q++) if ((m & (1 << q)) != 0) serve(q);
        }
    }

    /**
     * Stops taking requests (a live migration's last phase): waits until the one in progress is
     * done, and serves nothing until {@link #thaw}. Kicks that come meanwhile are answered by the thaw.
     */
    public synchronized void freeze() {
        frozen = true;
    }

    /** Takes requests again, first those that came while frozen. */
    public void thaw() {
        synchronized (this) {
            frozen = false;
        }
        kickAll();
    }

    private boolean frozen; // guarded by this

    private void serve(int q) {
        synchronized (this) {
            if (frozen) return; // the thaw kicks every queue
            Virtqueue ring = rings[q];
            if (ring == null || (status & DRIVER_OK) == 0 || (status & NEEDS_RESET) != 0) return;
            try {
                device.serve(q, ring);
            } catch (VirtioException e) {
                needsReset("queue " + q + ": " + e.getMessage());
                return;
            } catch (RuntimeException e) {
                needsReset("queue " + q + ": " + e); // a device bug must not take the VMM down
                return;
            }
            if (ring.shouldInterrupt()) signal(queueVector[q], 1);
        }
    }

    /** Interrupts the driver: MSI-X vector {@code vector} when enabled, else ISR bit {@code isrBit} and INTx. Holds the lock. */
    private void signal(int vector, int isrBit) {
        if (msix.trigger(vector)) return;
        isr |= isrBit;
        config.setInterruptStatus(true);
        if ((config.command() & PciConfig.CMD_INTX_DISABLE) == 0) intx.accept(true);
    }

    @Override
    public void close() {
        closed = true;
        LockSupport.unpark(worker);
        try {
            worker.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        device.close();
    }
}
