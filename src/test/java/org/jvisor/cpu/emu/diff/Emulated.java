package org.jvisor.cpu.emu.diff;

import org.jvisor.cpu.VcpuExit;
import org.jvisor.cpu.Vectors;
import org.jvisor.cpu.emu.Cpu;
import org.jvisor.cpu.emu.Fxsave;
import org.jvisor.cpu.emu.Jit;
import org.jvisor.memory.GuestMemory;

/** Runs a case on jvisor's CPU at the same addresses the oracle uses, at CPL 3 like the host. */
final class Emulated implements AutoCloseable {
    private final GuestMemory mem = GuestMemory.allocate(4 << 20);
    private final Cpu cpu = new Cpu(mem);

    final Jit jit;

    /**
     * With {@code translate}, every block is translated to bytecode before it first runs: as a
     * warm class (registers in c.r) or, with {@code hot}, a hot one (registers in JVM locals).
     */
    Emulated(boolean translate, boolean hot) {
        jit = translate ? new Jit(0, true, hot) : null;
        cpu.setJit(jit);
        cpu.intelDotProductLanes = HostOracle.intelHost();
    }
    private static final byte[] UD2 = {0x0F, 0x0B};
    long executed;

    MachineState run(byte[] code, MachineState init) {
        mem.write(MachineState.CODE, code);
        mem.write(MachineState.CODE + code.length, UD2);
        cpu.invalidateCode(MachineState.CODE, code.length + 2);
        mem.write(MachineState.DATA, init.data);
        System.arraycopy(init.regs, 0, cpu.r, 0, 16);
        cpu.setRflags(init.rflags);
        cpu.setCpl(3);
        Fxsave.restoreFrom(cpu, init.fx);
        cpu.rip = MachineState.CODE;
        long before = cpu.icount;
        VcpuExit exit;
        if (Boolean.getBoolean("jvisor.diff.trace")) {
            // One instruction at a time, printing what changed: for chasing a mismatch.
            long[] prev = cpu.r.clone();
            long[] prevX = cpu.xmm.clone();
            System.out.printf("  init fcw=%x fsw=%x mxcsr=%x%n", cpu.fpu.fcw, cpu.fpu.statusWord(), cpu.mxcsr);
            for (int k = 0; k < 8; k++) {
                int p = (cpu.fpu.top + k) & 7;
                System.out.printf("  init st%d=%04x:%016x%s%n", k, cpu.fpu.se[p], cpu.fpu.mant[p], ((cpu.fpu.tagWord >>> (2 * p)) & 3) == 3 ? "(e)" : "");
            }
            do {
                long rip = cpu.rip;
                exit = cpu.step();
                StringBuilder sb = new StringBuilder(String.format("  %x: %s%n     ", rip, cpu.describeAt(rip)));
                for (int k = 0; k < 16; k++) if (cpu.r[k] != prev[k]) sb.append(String.format(" r%d=%x", k, cpu.r[k]));
                for (int k = 0; k < 32; k++) if (cpu.xmm[k] != prevX[k]) sb.append(String.format(" x%d.%d=%x", k / 2, k % 2, cpu.xmm[k]));
                sb.append(String.format(" fl=%x fsw=%x mx=%x", cpu.rflags(), cpu.fpu.statusWord(), cpu.mxcsr));
                if (cpu.describeAt(rip).startsWith("X87")) {
                    for (int k = 0; k < 3; k++) {
                        int p = (cpu.fpu.top + k) & 7;
                        sb.append(String.format(" st%d=%04x:%016x%s", k, cpu.fpu.se[p], cpu.fpu.mant[p], ((cpu.fpu.tagWord >>> (2 * p)) & 3) == 3 ? "(e)" : ""));
                    }
                }
                System.out.println(sb);
                prev = cpu.r.clone();
                prevX = cpu.xmm.clone();
            } while (exit instanceof VcpuExit.BudgetExhausted && cpu.icount - before < 10000);
        } else {
            exit = cpu.run(1_000_000);
        }
        executed = cpu.icount - before;
        MachineState m = new MachineState();
        System.arraycopy(cpu.r, 0, m.regs, 0, 16);
        m.rflags = cpu.rflags();
        System.arraycopy(init.fx, 0, m.fx, 0, 512);
        Fxsave.saveTo(cpu, m.fx);
        mem.read(MachineState.DATA, m.data, 0, MachineState.DATA_SIZE);
        switch (exit) {
            case VcpuExit.Fault f -> {
                long end = MachineState.CODE + code.length;
                if (f.vector() == Vectors.UD && f.rip() == end) {
                    m.vector = -1;
                    m.rip = end;
                } else {
                    m.vector = f.vector();
                    m.rip = f.rip();
                    m.faultAddress = f.address();
                }
            }
            case VcpuExit.Halted h -> { m.vector = 200; m.rip = h.rip(); }
            case VcpuExit.BudgetExhausted b -> { m.vector = 201; m.rip = b.rip(); }
            case VcpuExit.Shutdown s -> { m.vector = 202; m.rip = s.rip(); }
        }
        return m;
    }

    @Override
    public void close() {
        mem.close();
    }
}
