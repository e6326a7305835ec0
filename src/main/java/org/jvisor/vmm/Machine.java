package org.jvisor.vmm;

import java.io.OutputStream;
import org.jvisor.arch.x86.LinuxBoot;
import org.jvisor.cpu.VcpuExit;
import org.jvisor.cpu.emu.Cpu;
import org.jvisor.cpu.emu.PortIo;
import org.jvisor.devices.legacy.Cmos;
import org.jvisor.devices.legacy.Pic8259Pair;
import org.jvisor.devices.legacy.Pit8254;
import org.jvisor.devices.legacy.Serial16550;
import org.jvisor.loader.KernelImageException;
import org.jvisor.memory.GuestMemory;

/**
 * A PC with one vCPU, RAM, a serial console, the 8259 PIC pair, the 8254 PIT and the CMOS clock,
 * booting Linux directly. The local APIC, IOAPIC and ACPI tables come next; until then the
 * kernel runs in legacy PIC mode (noapic nolapic).
 */
public final class Machine implements AutoCloseable {
    private final GuestMemory ram;
    private final Cpu cpu;
    private final Pic8259Pair pic = new Pic8259Pair();
    private final Serial16550 serial;
    private final Pit8254 pit;
    private final Cmos cmos = new Cmos();
    private volatile boolean stop;
    private volatile String resetReason;
    /** Set when the console shows a kernel panic (a pvpanic device comes with the PCI work). */
    private volatile String panic;

    public Machine(long ramBytes, OutputStream console) {
        this.ram = GuestMemory.allocate(ramBytes);
        this.cpu = new Cpu(ram);
        this.serial = new Serial16550(new PanicWatcher(console), () -> pic.raise(4));
        this.pit = new Pit8254(pic, cpu::tsc);
        cpu.deliverToGuest = true;
        cpu.interrupts = pic;
        cpu.ports = new PortIo() {
            @Override
            public int in(int port, int size) {
                if (port >= Serial16550.COM1 && port < Serial16550.COM1 + 8) return serial.read(port - Serial16550.COM1);
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
                switch (port) {
                    case 0x20, 0x21, 0xA0, 0xA1 -> pic.write(port, value);
                    case 0x40, 0x41, 0x42, 0x43, 0x61 -> pit.write(port, value);
                    case 0x70, 0x71 -> cmos.write(port, value);
                    case 0x64 -> {
                        if ((value & 0xFF) == 0xFE) { // pulse the reset line: the machine stops at once
                            resetReason = "i8042 reset";
                            stop = true;
                            cpu.requestStop();
                        }
                    }
                    default -> { }
                }
            }
        };
        // Nothing is mapped outside RAM yet: reads see all ones, writes vanish.
        cpu.setMmio(new Cpu.MmioBus() {
            @Override
            public long read(long pa, int size) {
                return size == 8 ? -1L : (1L << (size * 8)) - 1;
            }

            @Override
            public void write(long pa, int size, long value) {
            }
        });
    }

    public LinuxBoot.Loaded boot(byte[] kernel, byte[] initrd, String cmdline) throws KernelImageException {
        return LinuxBoot.load(ram, cpu, kernel, initrd, cmdline);
    }

    public Serial16550 serial() {
        return serial;
    }

    public Cpu cpu() {
        return cpu;
    }

    public GuestMemory ram() {
        return ram;
    }

    /** Runs until the guest stops (or {@link #stop()}); returns why. */
    public VcpuExit run() {
        while (!stop) {
            pit.poll();
            VcpuExit e = cpu.run(200_000);
            switch (e) {
                case VcpuExit.BudgetExhausted b -> { }
                case VcpuExit.Halted h -> {
                    if (!cpu.interruptsEnabled()) return h; // halted for good
                    waitForInterrupt();
                }
                case VcpuExit.Shutdown s -> { return s; }
                case VcpuExit.Fault f -> { return f; }
            }
        }
        if (panic != null) return new VcpuExit.Shutdown(panic, cpu.rip);
        if (resetReason != null) return new VcpuExit.Shutdown(resetReason, cpu.rip);
        return new VcpuExit.BudgetExhausted(cpu.rip);
    }

    /** HLT with interrupts on: sleep until the next timer deadline (or a little while). */
    private void waitForInterrupt() {
        while (!stop) {
            long deadline = pit.poll();
            if (pic.pending() >= 0) return;
            long wait = Math.min(deadline - cpu.tsc(), 10_000_000);
            if (wait > 0) java.util.concurrent.locks.LockSupport.parkNanos(wait);
        }
    }

    public String resetReason() {
        return resetReason;
    }

    public String panic() {
        return panic;
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
                if (at >= 0 && panic == null) {
                    panic = line.substring(at).strip();
                    stop = true;
                    cpu.requestStop();
                }
                line.setLength(0);
            } else if (b != '\r') {
                line.append((char) b);
            }
        }
    }

    public void stop() {
        stop = true;
    }

    @Override
    public void close() {
        ram.close();
    }
}
