package org.jvisor.vmm;

import java.io.OutputStream;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.locks.LockSupport;
import org.jvisor.arch.x86.AcpiTables;
import org.jvisor.arch.x86.KvmClock;
import org.jvisor.arch.x86.LinuxBoot;
import org.jvisor.arch.x86.PcLayout;
import org.jvisor.arch.x86.ResetVector;
import org.jvisor.cpu.VcpuExit;
import org.jvisor.cpu.emu.Cpu;
import org.jvisor.cpu.emu.Jit;
import org.jvisor.cpu.emu.MsrDevice;
import org.jvisor.cpu.emu.PortIo;
import org.jvisor.devices.irq.IoApic;
import org.jvisor.devices.irq.LocalApic;
import org.jvisor.devices.legacy.AcpiPowerControl;
import org.jvisor.devices.legacy.Cmos;
import org.jvisor.devices.legacy.Pic8259Pair;
import org.jvisor.devices.legacy.Pit8254;
import org.jvisor.devices.legacy.Serial16550;
import org.jvisor.devices.pci.PciHost;
import org.jvisor.devices.virtio.VirtioDevice;
import org.jvisor.devices.virtio.VirtioPci;
import org.jvisor.loader.KernelImageException;
import org.jvisor.memory.DirtyPages;
import org.jvisor.memory.GuestMemory;

/**
 * A PC with one vCPU: RAM below the PCI hole, the local APIC and an IOAPIC, a masked 8259 pair,
 * the 8254 PIT, the CMOS clock, COM1, an i8042 that only resets, ACPI tables with a
 * hardware-reduced FADT, and kvmclock. It boots Linux directly and runs until the guest powers
 * off, resets, panics or crashes.
 */
public final class Machine implements AutoCloseable {
    private final GuestMemory ram;
    private final Cpu cpu;
    private final Jit jit;
    private final ScheduledThreadPoolExecutor timers;
    private final LocalApic lapic;
    private final IoApic ioapic;
    private final Pic8259Pair pic = new Pic8259Pair();
    private final Serial16550 serial;
    private final Pit8254 pit;
    private final Cmos cmos = new Cmos();
    private final KvmClock kvmClock;
    private final AcpiPowerControl power;
    private final PciHost pci = new PciHost(PcLayout.PCI_ECAM, PcLayout.PCI_MMIO_START, PcLayout.PCI_MMIO_END);
    private final java.util.List<VirtioPci> virtio = new java.util.ArrayList<>();
    private final java.util.List<Integer> slots = new java.util.ArrayList<>();
    private volatile boolean stop;
    /** Pause: asked for by a control thread, honoured by the vCPU at an instruction boundary. */
    private volatile boolean pauseWanted;
    private boolean parked; // guarded by pauseLock: the vCPU sits in parkWhilePaused
    private final Object pauseLock = new Object();
    private volatile Thread vcpuThread;
    /** Set by a device (power off, reset) or the panic watcher; the vCPU stops at the end of its block. */
    private volatile MachineExit request;

    /** True while the guest sits in HLT waiting for an interrupt; only the vCPU thread changes it (and a restore before it runs). */
    private boolean halted;

    public Machine(long ramBytes, OutputStream console) {
        this(GuestMemory.allocate(ramBytes), console);
    }

    /** A machine on the given RAM (a restore's, mapped from its state file); the machine owns it from now on. */
    public Machine(GuestMemory ram, OutputStream console) {
        this.ram = ram;
        this.cpu = new Cpu(ram);
        this.timers = new ScheduledThreadPoolExecutor(1, r -> Thread.ofPlatform().daemon().name("vm-timers").unstarted(r));
        timers.setRemoveOnCancelPolicy(true);
        this.lapic = new LocalApic(0, cpu::tsc, timers);
        this.ioapic = new IoApic(0, lapic);
        lapic.connectExtInt(pic);
        this.serial = new Serial16550(new PanicWatcher(console), () -> isaIrq(4));
        this.pit = new Pit8254(() -> isaIrq(0), cpu::tsc);
        this.kvmClock = new KvmClock(ram, cpu::tsc, (pa, len) -> cpu.invalidateCode(pa, len));
        this.power = new AcpiPowerControl(r -> request(switch (r) {
            case POWER_OFF -> new MachineExit.PowerOff();
            case RESET -> new MachineExit.Reset("ACPI reset");
        }));
        // -Djvisor.jit=off interprets everything (for comparing the two); -Djvisor.jit.threshold=N tunes when code counts as hot.
        this.jit = "off".equals(System.getProperty("jvisor.jit")) ? null
                : new Jit(Integer.getInteger("jvisor.jit.threshold", Jit.DEFAULT_THRESHOLD), false);
        cpu.setJit(jit);
        cpu.deliverToGuest = true;
        cpu.interrupts = lapic;
        cpu.msrDevice = new PlatformMsrs();
        cpu.ports = new Ports();
        cpu.setMmio(new Mmio());
    }

    /**
     * Plugs a virtio device into the next PCI slot (before {@link #boot}): MSI-X to the local APIC,
     * INTx to the IOAPIC pin the ACPI _PRT names for the slot.
     */
    public VirtioPci addVirtio(VirtioDevice device) {
        java.util.concurrent.atomic.AtomicInteger gsi = new java.util.concurrent.atomic.AtomicInteger(-1);
        VirtioPci f = new VirtioPci(device, ram, cpu::dmaWritten, this::deliverMsi, level -> {
            int g = gsi.get();
            if (g >= 0) ioapic.set(g, level);
        });
        int slot = pci.add(f);
        gsi.set(PciHost.gsi(slot, 1));
        virtio.add(f);
        slots.add(slot);
        return f;
    }

    /**
     * Guest pages the balloon took: back to the host, and any translated code from them dropped
     * (they read as zero from now on).
     */
    public void releaseGuestPages(long address, long length) {
        ram.discard(address, length);
        cpu.dmaWritten(address, length);
    }

    /** A message-signalled interrupt: a write to 0xFEExxxxx names the APIC and the vector. */
    private void deliverMsi(long address, int data) {
        if ((address >>> 20) != 0xFEE) return; // not an interrupt message: dropped, as a stray DMA write
        int dest = (int) (address >>> 12) & 0xFF;
        boolean logical = (address & 4) != 0;
        int mode = data >>> 8 & 7;
        if ((mode == 0 || mode == 1) && lapic.matches(dest, logical)) lapic.accept(data & 0xFF, false);
    }

    /** An ISA interrupt line: the PIC sees it on its pin, the IOAPIC on its GSI (IRQ 0 is GSI 2). */
    private void isaIrq(int irq) {
        pic.raise(irq);
        ioapic.pulse(irq == 0 ? 2 : irq);
    }

    private void request(MachineExit why) {
        if (request == null) request = why;
        cpu.requestStop();
        synchronized (pauseLock) {
            pauseLock.notifyAll();
        }
    }

    /** The virtio devices as the guest sees them: kind, PCI slot, driver status, the last error a device saw, a name (vda, the TAP) and what it counted. */
    public java.util.List<java.util.Map<String, Object>> deviceInfo() {
        java.util.List<java.util.Map<String, Object>> out = new java.util.ArrayList<>();
        int disks = 0;
        for (int i = 0; i < virtio.size(); i++) {
            VirtioPci f = virtio.get(i);
            java.util.Map<String, Object> d = new java.util.LinkedHashMap<>();
            d.put("kind", VirtioDevice.kindName(f.device().type()));
            d.put("pciSlot", slots.get(i));
            d.put("driverStatus", f.status());
            String err = f.lastError();
            if (err != null) d.put("lastError", err);
            if (f.device() instanceof org.jvisor.devices.virtio.Block) d.put("name", "vd" + (char) ('a' + disks++));
            if (f.device() instanceof org.jvisor.devices.virtio.Net n) d.put("name", n.tapName());
            java.util.Map<String, Object> stats = f.device().counters();
            if (!stats.isEmpty()) d.put("stats", stats);
            out.add(d);
        }
        return out;
    }

    /** The virtio disks, in slot order. */
    public java.util.List<org.jvisor.devices.virtio.Block> disks() {
        java.util.List<org.jvisor.devices.virtio.Block> out = new java.util.ArrayList<>();
        for (VirtioPci f : virtio) if (f.device() instanceof org.jvisor.devices.virtio.Block b) out.add(b);
        return out;
    }

    /** The first virtio device of {@code type} (a {@link VirtioDevice} class), or null. */
    public <T extends VirtioDevice> T device(Class<T> type) {
        for (VirtioPci f : virtio) if (type.isInstance(f.device())) return type.cast(f.device());
        return null;
    }

    /**
     * Sets the balloon's size (guest RAM the guest is asked to give back), rounded down to pages.
     * Returns false when the machine has no balloon.
     */
    public boolean setBalloonSize(long bytes) {
        for (VirtioPci f : virtio) {
            if (f.device() instanceof org.jvisor.devices.virtio.Balloon b) {
                b.setTarget((int) Math.min(Integer.MAX_VALUE, bytes / GuestMemory.PAGE_SIZE));
                f.configChanged();
                return true;
            }
        }
        return false;
    }

    /** Presses the ACPI power button: the guest's OS decides what to do (systemd powers off). */
    public void pressPowerButton() {
        ioapic.pulse(AcpiTables.POWER_BUTTON_GSI);
    }

    public LinuxBoot.Loaded boot(byte[] kernel, byte[] initrd, String cmdline) throws KernelImageException {
        AcpiTables.Layout acpi = AcpiTables.build(1);
        ram.write(AcpiTables.BASE, acpi.image());
        ResetVector.write(ram);
        return LinuxBoot.load(ram, cpu, kernel, initrd, cmdline, acpi.rsdp());
    }

    public Serial16550 serial() {
        return serial;
    }

    public Cpu cpu() {
        return cpu;
    }

    /** The translator's counts, or null when it is off. */
    public String jitStats() {
        return jit == null ? null : jit.stats();
    }

    public GuestMemory ram() {
        return ram;
    }

    /** Runs the vCPU on the calling thread until the guest stops (or {@link #stop()}); returns why. */
    public MachineExit run() {
        vcpuThread = Thread.currentThread();
        lapic.setVcpuThread(Thread.currentThread());
        try {
            while (request == null && !stop) {
                if (pauseWanted) {
                    parkWhilePaused();
                    continue;
                }
                if (halted) {
                    if (!waitForInterrupt()) continue;
                    halted = false;
                }
                pit.poll();
                VcpuExit e = cpu.run(200_000);
                switch (e) {
                    case VcpuExit.BudgetExhausted b -> { }
                    case VcpuExit.Halted h -> {
                        if (!cpu.interruptsEnabled()) return request != null ? request : new MachineExit.Halted();
                        halted = true;
                    }
                    case VcpuExit.Shutdown s -> { return request != null ? request : new MachineExit.Crash(s.reason()); }
                    case VcpuExit.Fault f -> { return new MachineExit.Crash(f.describe()); }
                }
            }
            return request != null ? request : new MachineExit.Stopped();
        } finally {
            lapic.setVcpuThread(null);
            vcpuThread = null;
            synchronized (pauseLock) {
                pauseLock.notifyAll(); // a pause() waiting for a vCPU that has stopped for good
            }
        }
    }

    private void parkWhilePaused() {
        synchronized (pauseLock) {
            parked = true;
            pauseLock.notifyAll();
            try {
                while (pauseWanted && !stop && request == null) pauseLock.wait();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                stop = true;
            } finally {
                parked = false;
            }
        }
    }

    /**
     * Stops the vCPU at the next instruction boundary and waits (up to {@code timeoutMillis}) until
     * it is parked there; devices and timers go on, and interrupts they raise wait for the resume.
     * Returns whether the vCPU is parked (false: it did not get there in time, or the machine has
     * stopped running).
     */
    public boolean pause(long timeoutMillis) throws InterruptedException {
        pauseWanted = true;
        cpu.requestStop();
        Thread t = vcpuThread;
        if (t != null) LockSupport.unpark(t); // out of a HLT wait
        long end = System.nanoTime() + timeoutMillis * 1_000_000;
        synchronized (pauseLock) {
            while (!parked) {
                long left = (end - System.nanoTime()) / 1_000_000;
                if (left <= 0 || vcpuThread == null) return parked;
                pauseLock.wait(left);
            }
            return true;
        }
    }

    /**
     * Lets a paused vCPU go on from where it stopped. The TSC ran on meanwhile; kvmclock tells the
     * guest it was stopped, so its watchdogs do not count the pause as a lockup.
     */
    public void resume() {
        kvmClock.guestStopped();
        synchronized (pauseLock) {
            pauseWanted = false;
            pauseLock.notifyAll();
        }
    }

    // ---------------------------------------------------------------- live migration

    /**
     * Starts recording which RAM pages the guest and the devices write (the vCPU must be paused):
     * from now on every write is in {@link #collectWritten}.
     */
    public DirtyPages trackWrites() {
        if (!paused()) throw new IllegalStateException("write tracking starts while the vCPU is paused");
        DirtyPages d = ram.trackWrites();
        cpu.forgetWritablePages();
        return d;
    }

    /**
     * The pages written since the last call (or since tracking started), taken while the vCPU is
     * paused: its pages mapped for writing are forgotten in the same step, so a write after this
     * is in the next set.
     */
    public long[] collectWritten(DirtyPages d) {
        if (!paused()) throw new IllegalStateException("written pages are collected while the vCPU is paused");
        long[] set = d.collect();
        cpu.forgetWritablePages();
        return set;
    }

    public void stopTrackingWrites() {
        ram.stopTrackingWrites();
    }

    /** Lets the vCPU go on after a pause too short for the guest to be told about (a migration round's). */
    public void resumeQuietly() {
        synchronized (pauseLock) {
            pauseWanted = false;
            pauseLock.notifyAll();
        }
    }

    /** No device takes a request from now on (each finishes the one it is in) until {@link #thawDevices}. */
    public void freezeDevices() {
        for (VirtioPci f : virtio) f.freeze();
    }

    public void thawDevices() {
        for (VirtioPci f : virtio) f.thaw();
    }

    /** After a migration: every NIC announces the guest's MAC from its new place. */
    public void announceNics() {
        for (VirtioPci f : virtio) {
            if (f.device() instanceof org.jvisor.devices.virtio.Net n) n.announce();
        }
    }

    // ---------------------------------------------------------------- machine state

    /**
     * Runs {@code action} with every virtio device between requests (each worker waits for its
     * device's lock): no device can write RAM or move a ring while a snapshot is taken.
     */
    public <T> T withDevicesQuiet(java.util.concurrent.Callable<T> action) throws Exception {
        return quiet(0, action);
    }

    private <T> T quiet(int i, java.util.concurrent.Callable<T> action) throws Exception {
        if (i == virtio.size()) return action.call();
        synchronized (virtio.get(i)) {
            return quiet(i + 1, action);
        }
    }

    /** Flushes every writable disk image (a snapshot's disks must hold what the guest was told is written). */
    public void flushDisks() throws org.jvisor.block.BlockException {
        for (VirtioPci f : virtio) {
            if (f.device() instanceof org.jvisor.devices.virtio.Block b) {
                synchronized (f) { // no request half written
                    b.flush();
                }
            }
        }
    }

    /** The machine beyond its devices: whether the vCPU was in HLT, and when (TSC and wall clock) the state was taken. */
    public record State(boolean halted, long tsc, long wallNanos, int[] pciSlots, String[] virtioKinds) {}

    /**
     * The machine's state as named sections of plain records (RAM apart: the caller writes it
     * from {@link #ram()}), taken while the vCPU is parked by {@link #pause}: each device's lock
     * is held while its part is copied, so no request is half done in it.
     */
    public java.util.SequencedMap<String, Record> saveState() {
        if (!paused()) throw new IllegalStateException("the machine's state is taken only while it is paused");
        return collectState();
    }

    /** The state of a machine that has not run, to load the classes a save and restore use before a migration needs them fast. */
    java.util.SequencedMap<String, Record> stateBeforeRunning() {
        if (vcpuThread != null) throw new IllegalStateException("the machine runs");
        return collectState();
    }

    private java.util.SequencedMap<String, Record> collectState() {
        java.util.LinkedHashMap<String, Record> s = new java.util.LinkedHashMap<>();
        int[] slotArray = slots.stream().mapToInt(Integer::intValue).toArray();
        String[] kinds = virtio.stream().map(f -> VirtioDevice.kindName(f.device().type())).toArray(String[]::new);
        java.time.Instant now = java.time.Instant.now();
        s.put("machine", new State(halted, cpu.tsc(), now.getEpochSecond() * 1_000_000_000L + now.getNano(), slotArray, kinds));
        s.put("cpu0", cpu.saveState());
        s.put("lapic0", lapic.state());
        s.put("ioapic", ioapic.state());
        s.put("pic", pic.state());
        s.put("pit", pit.state());
        s.put("cmos", cmos.state());
        s.put("kvmclock", kvmClock.state());
        s.put("serial", serial.state());
        for (int i = 0; i < virtio.size(); i++) {
            VirtioPci f = virtio.get(i);
            synchronized (f) { // the transport and the device's own state from the same moment
                s.put("virtio." + slots.get(i), f.state());
                Record d = f.device().saveState();
                if (d != null) s.put("virtio." + slots.get(i) + ".device", d);
            }
        }
        return s;
    }

    /** The record type of each section {@link #saveState} writes, for reading them back. */
    public Class<? extends Record> stateType(String section) {
        return switch (section) {
            case "machine" -> State.class;
            case "cpu0" -> org.jvisor.cpu.emu.CpuState.class;
            case "lapic0" -> LocalApic.State.class;
            case "ioapic" -> IoApic.State.class;
            case "pic" -> Pic8259Pair.State.class;
            case "pit" -> Pit8254.State.class;
            case "cmos" -> Cmos.State.class;
            case "kvmclock" -> KvmClock.State.class;
            case "serial" -> Serial16550.State.class;
            default -> {
                for (int i = 0; i < virtio.size(); i++) {
                    if (section.equals("virtio." + slots.get(i))) yield VirtioPci.State.class;
                    if (section.equals("virtio." + slots.get(i) + ".device")) yield virtio.get(i).device().stateType();
                }
                yield null;
            }
        };
    }

    /**
     * Loads a saved state into this machine, which must be built from the same configuration and
     * not have run (RAM already holds the guest's memory). The TSC goes on from the saved value
     * plus the wall-clock time since the save, so the guest's clocks are right again; kvmclock
     * tells the guest it was stopped. {@code sections} gives the record of a section, or null.
     * Throws IllegalArgumentException, naming the section, for a state that does not fit.
     */
    public void restoreState(java.util.function.Function<String, Record> sections) throws org.jvisor.devices.virtio.VirtioException {
        State m = need(sections, "machine", State.class);
        int[] slotArray = slots.stream().mapToInt(Integer::intValue).toArray();
        String[] kinds = virtio.stream().map(f -> VirtioDevice.kindName(f.device().type())).toArray(String[]::new);
        if (!java.util.Arrays.equals(m.pciSlots(), slotArray) || !java.util.Arrays.equals(m.virtioKinds(), kinds)) {
            throw new IllegalArgumentException("the state's devices " + java.util.Arrays.toString(m.virtioKinds()) + " in slots "
                    + java.util.Arrays.toString(m.pciSlots()) + " are not this machine's " + java.util.Arrays.toString(kinds));
        }
        cpu.restoreState(need(sections, "cpu0", org.jvisor.cpu.emu.CpuState.class));
        java.time.Instant now = java.time.Instant.now();
        long away = now.getEpochSecond() * 1_000_000_000L + now.getNano() - m.wallNanos();
        cpu.setTsc(cpu.tsc() + Math.max(0, away)); // a wall clock that went back leaves the TSC where it was
        lapic.restore(need(sections, "lapic0", LocalApic.State.class));
        ioapic.restore(need(sections, "ioapic", IoApic.State.class));
        pic.restore(need(sections, "pic", Pic8259Pair.State.class));
        pit.restore(need(sections, "pit", Pit8254.State.class));
        cmos.restore(need(sections, "cmos", Cmos.State.class));
        kvmClock.restore(need(sections, "kvmclock", KvmClock.State.class));
        serial.restore(need(sections, "serial", Serial16550.State.class));
        for (int i = 0; i < virtio.size(); i++) {
            String name = "virtio." + slots.get(i);
            try {
                virtio.get(i).restore(need(sections, name, VirtioPci.State.class), sections.apply(name + ".device"));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(name + ": " + e.getMessage(), e);
            }
        }
        halted = m.halted();
        kvmClock.guestStopped();
        for (VirtioPci f : virtio) f.kickAll(); // what the driver offered after the save point
    }

    private static <T extends Record> T need(java.util.function.Function<String, Record> sections, String name, Class<T> type) {
        Record r = sections.apply(name);
        if (r == null) throw new IllegalArgumentException("the state has no '" + name + "' section");
        if (!type.isInstance(r)) throw new IllegalArgumentException("section '" + name + "' is not a " + type.getSimpleName());
        return type.cast(r);
    }

    public boolean paused() {
        synchronized (pauseLock) {
            return parked;
        }
    }

    /**
     * HLT with interrupts on: sleep until an interrupt can be taken (the APIC unparks this thread).
     * Returns true then, false when a stop or pause came first.
     */
    private boolean waitForInterrupt() {
        while (request == null && !stop && !pauseWanted) {
            long deadline = pit.poll();
            if (lapic.hasDeliverable()) return true;
            long wait = Math.min(deadline - cpu.tsc(), 10_000_000);
            if (wait > 0) LockSupport.parkNanos(wait);
        }
        return false;
    }

    /** Asks the vCPU to stop; {@link #run()} returns {@link MachineExit.Stopped} soon after. */
    public void stop() {
        stop = true;
        cpu.requestStop();
        synchronized (pauseLock) {
            pauseLock.notifyAll();
        }
    }

    @Override
    public void close() {
        serial.close();
        for (VirtioPci v : virtio) v.close();
        if (jit != null) jit.close();
        timers.shutdownNow();
        ram.close();
    }

    private final class Ports implements PortIo {
        @Override
        public int in(int port, int size) {
            if (port >= Serial16550.COM1 && port < Serial16550.COM1 + 8) return serial.read(port - Serial16550.COM1);
            if (AcpiPowerControl.claims(port)) return power.read(port);
            if (PciHost.claimsPort(port)) return pci.ioRead(port, size);
            return switch (port) {
                case 0x20, 0x21, 0xA0, 0xA1 -> pic.read(port);
                case 0x40, 0x41, 0x42, 0x43, 0x61 -> pit.read(port);
                case 0x70, 0x71 -> cmos.read(port);
                case 0x64 -> 0x1C;  // i8042: no data, system flag set, last write was a command
                case 0x60 -> 0;
                default -> PortIo.NONE.in(port, size);
            };
        }

        @Override
        public void out(int port, int size, int value) {
            if (port >= Serial16550.COM1 && port < Serial16550.COM1 + 8) {
                serial.write(port - Serial16550.COM1, value);
                return;
            }
            if (AcpiPowerControl.claims(port)) {
                power.write(port, value);
                return;
            }
            if (PciHost.claimsPort(port)) {
                pci.ioWrite(port, size, value);
                return;
            }
            switch (port) {
                case 0x20, 0x21, 0xA0, 0xA1 -> pic.write(port, value);
                case 0x40, 0x41, 0x42, 0x43, 0x61 -> pit.write(port, value);
                case 0x70, 0x71 -> cmos.write(port, value);
                case 0x64 -> {
                    if ((value & 0xFF) == 0xFE) request(new MachineExit.Reset("i8042 reset")); // pulse the reset line
                }
                default -> { }
            }
        }
    }

    /** The PCI hole: the APICs, ECAM and the BARs; everything else unclaimed reads as all ones and ignores writes. */
    private final class Mmio implements Cpu.MmioBus {
        @Override
        public long read(long pa, int size) {
            if (pa >= LocalApic.BASE && pa < LocalApic.BASE + LocalApic.SIZE) return lapic.read(pa - LocalApic.BASE, size);
            if (pa >= IoApic.BASE && pa < IoApic.BASE + IoApic.SIZE) return ioapic.read(pa - IoApic.BASE, size);
            if (pci.claimsEcam(pa)) return pci.ecamRead(pa, size);
            if (pci.claimsMmio(pa)) return pci.mmioRead(pa, size);
            return size == 8 ? -1L : (1L << (size * 8)) - 1;
        }

        @Override
        public void write(long pa, int size, long value) {
            if (pa >= LocalApic.BASE && pa < LocalApic.BASE + LocalApic.SIZE) lapic.write(pa - LocalApic.BASE, size, value);
            else if (pa >= IoApic.BASE && pa < IoApic.BASE + IoApic.SIZE) ioapic.write(pa - IoApic.BASE, size, value);
            else if (pci.claimsEcam(pa)) pci.ecamWrite(pa, size, value);
            else if (pci.claimsMmio(pa)) pci.mmioWrite(pa, size, value);
        }
    }

    private final class PlatformMsrs implements MsrDevice {
        @Override
        public boolean claims(int index) {
            return index == LocalApic.MSR_APIC_BASE || index == LocalApic.MSR_TSC_DEADLINE || KvmClock.claims(index);
        }

        @Override
        public long read(int index) {
            return switch (index) {
                case LocalApic.MSR_APIC_BASE -> lapic.apicBaseMsr();
                case LocalApic.MSR_TSC_DEADLINE -> lapic.tscDeadline();
                default -> kvmClock.read(index);
            };
        }

        @Override
        public boolean write(int index, long value) {
            return switch (index) {
                case LocalApic.MSR_APIC_BASE -> lapic.setApicBaseMsr(value);
                case LocalApic.MSR_TSC_DEADLINE -> {
                    lapic.setTscDeadline(value);
                    yield true;
                }
                default -> kvmClock.write(index, value);
            };
        }
    }

    /** Passes console output through, noting "Kernel panic - not syncing: ..." lines. */
    private final class PanicWatcher extends java.io.FilterOutputStream {
        private final StringBuilder line = new StringBuilder();

        PanicWatcher(OutputStream out) {
            super(out);
        }

        @Override
        public void write(int b) throws java.io.IOException {
            out.write(b);
            if (b == '\n' || line.length() > 400) {
                int at = line.indexOf("Kernel panic - not syncing:");
                if (at >= 0) request(new MachineExit.Panic(line.substring(at).strip()));
                line.setLength(0);
            } else if (b != '\r') {
                line.append((char) b);
            }
        }
    }
}
