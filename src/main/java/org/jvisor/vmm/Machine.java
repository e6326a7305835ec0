package org.jvisor.vmm;

import java.io.OutputStream;
import org.jvisor.arch.x86.LinuxBoot;
import org.jvisor.cpu.VcpuExit;
import org.jvisor.cpu.emu.Cpu;
import org.jvisor.cpu.emu.PortIo;
import org.jvisor.devices.legacy.Serial16550;
import org.jvisor.loader.KernelImageException;
import org.jvisor.memory.GuestMemory;

/**
 * A PC with one vCPU, RAM and a serial console, booting Linux directly. This is the machine's
 * first stage: legacy ports other than COM1 read as absent, and there are no interrupt sources
 * yet (the APICs, PIT and RTC come next).
 */
public final class Machine implements AutoCloseable {
    private final GuestMemory ram;
    private final Cpu cpu;
    private final Serial16550 serial;
    private volatile boolean stop;

    public Machine(long ramBytes, OutputStream console) {
        this.ram = GuestMemory.allocate(ramBytes);
        this.cpu = new Cpu(ram);
        this.serial = new Serial16550(console);
        cpu.deliverToGuest = true;
        cpu.ports = new PortIo() {
            @Override
            public int in(int port, int size) {
                if (port >= Serial16550.COM1 && port < Serial16550.COM1 + 8) return serial.read(port - Serial16550.COM1);
                return PortIo.NONE.in(port, size);
            }

            @Override
            public void out(int port, int size, int value) {
                if (port >= Serial16550.COM1 && port < Serial16550.COM1 + 8) serial.write(port - Serial16550.COM1, value);
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
            VcpuExit e = cpu.run(10_000_000);
            switch (e) {
                case VcpuExit.BudgetExhausted b -> { }
                case VcpuExit.Halted h -> { return h; } // no interrupt sources yet: a halt is final
                case VcpuExit.Shutdown s -> { return s; }
                case VcpuExit.Fault f -> { return f; }
            }
        }
        return new VcpuExit.BudgetExhausted(cpu.rip);
    }

    public void stop() {
        stop = true;
    }

    @Override
    public void close() {
        ram.close();
    }
}
