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
    private volatile boolean stop;
    /** Set by a device (power off, reset) or the panic watcher; the vCPU stops at the end of its block. */
    private volatile MachineExit request;

    public Machine(long ramBytes, OutputStream console) {
        this.ram = GuestMemory.allocate(ramBytes);
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
        lapic.setVcpuThread(Thread.currentThread());
        try {
            while (request == null && !stop) {
                pit.poll();
                VcpuExit e = cpu.run(200_000);
                switch (e) {
                    case VcpuExit.BudgetExhausted b -> { }
                    case VcpuExit.Halted h -> {
                        if (!cpu.interruptsEnabled()) return request != null ? request : new MachineExit.Halted();
                        waitForInterrupt();
                    }
                    case VcpuExit.Shutdown s -> { return request != null ? request : new MachineExit.Crash(s.reason()); }
                    case VcpuExit.Fault f -> { return new MachineExit.Crash(f.describe()); }
                }
            }
            return request != null ? request : new MachineExit.Stopped();
        } finally {
            lapic.setVcpuThread(null);
        }
    }

    /** HLT with interrupts on: sleep until an interrupt can be taken (the APIC unparks this thread). */
    private void waitForInterrupt() {
        while (request == null && !stop) {
            long deadline = pit.poll();
            if (lapic.hasDeliverable()) return;
            long wait = Math.min(deadline - cpu.tsc(), 10_000_000);
            if (wait > 0) LockSupport.parkNanos(wait);
        }
    }

    /** Asks the vCPU to stop; {@link #run()} returns {@link MachineExit.Stopped} soon after. */
    public void stop() {
        stop = true;
        cpu.requestStop();
    }

    @Override
    public void close() {
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
