package org.jvisor.bench;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.util.HexFormat;
import org.jvisor.cpu.VcpuExit;
import org.jvisor.cpu.emu.Cpu;
import org.jvisor.cpu.emu.Jit;
import org.jvisor.cpu.emu.Reg;
import org.jvisor.memory.GuestMemory;

/**
 * Guest MIPS of the software CPU on two fixed workloads (bench/workloads.S), and the same code
 * run natively for the ratio. Run by bench/cpu-mips.sh; prints "mips: N" last (integer loop).
 */
public final class CpuMips {
    // Machine code of bench/workloads.S; each ends where the source has its trailing NOP.
    static final String INT_LOOP = "31c9ba452301"+"00488b04cf4801d04831c24c6bc00d49c1e8034d8d4c50074c890ccf41f6c1017403"
            + "4c29c2ffc181e1ff00000048ffce75cf";
    static final String SSE_LOOP = "660fefc031c0660f6f0c07660f6f540710f30f7f8c0700100000f30f7f94071010000048"
            + "83c020483d0010000072d731c0660f6f9c0700100000660f74d8660fd7d34883c01085d274e748ffce75b5";
    static final long CODE = 0x1000, BUF = 0x100000;

    public static void main(String[] args) throws Exception {
        String nativeRunner = args.length > 0 ? args[0] : null;
        double seconds = args.length > 1 ? Double.parseDouble(args[1]) : 3;
        workload("integer ALU/branch/memory loop, interpreted", INT_LOOP, "int", 200_000, null, seconds, false);
        double intMips = workload("integer ALU/branch/memory loop, translated", INT_LOOP, "int", 200_000, nativeRunner, seconds, true);
        workload("SSE2 memcpy/strlen loop, interpreted", SSE_LOOP, "sse", 20, null, seconds, false);
        workload("SSE2 memcpy/strlen loop, translated", SSE_LOOP, "sse", 20, nativeRunner, seconds, true);
        System.out.printf("mips: %.0f%n", intMips);
    }

    static double workload(String name, String hex, String kind, long itersPerRun, String nativeRunner, double seconds,
            boolean translate) throws Exception {
        byte[] code = HexFormat.of().parseHex(hex);
        try (GuestMemory mem = GuestMemory.allocate(4 << 20)) {
            mem.write(CODE, code);
            mem.write(CODE + code.length, new byte[] {0x0F, 0x0B}); // UD2 ends the run
            if (kind.equals("sse")) {
                byte[] s = new byte[4096];
                java.util.Arrays.fill(s, 0, 4095, (byte) 'a');
                mem.write(BUF, s);
            }
            Cpu cpu = new Cpu(mem);
            if (translate) cpu.setJit(new Jit(Jit.DEFAULT_THRESHOLD, false));
            // Warm up the JIT, then measure whole runs for about the given time.
            long deadline = System.nanoTime() + (long) (seconds * 1e9);
            while (System.nanoTime() < deadline) runOnce(cpu, itersPerRun);
            long insns = 0, t0 = System.nanoTime(), runs = 0;
            deadline = t0 + (long) (seconds * 1e9);
            while (System.nanoTime() < deadline) {
                insns += runOnce(cpu, itersPerRun);
                runs++;
            }
            double secs = (System.nanoTime() - t0) / 1e9;
            double mips = insns / secs / 1e6;
            long perRun = insns / runs;
            String ratio = "";
            if (nativeRunner != null) {
                long nativeIters = itersPerRun * 50;
                double nativeSecs = runNative(nativeRunner, hex, nativeIters, kind);
                double nativeMips = perRun * 50 / nativeSecs / 1e6;
                ratio = String.format("; native %.0f MIPS; jvisor/native = 1/%.1f", nativeMips, nativeMips / mips);
            }
            System.out.printf("%s: jvisor %.1f MIPS (%d instructions in %.2f s)%s%n", name, mips, insns, secs, ratio);
            return mips;
        }
    }

    static long runOnce(Cpu cpu, long iters) {
        cpu.r[Reg.DI] = BUF;
        cpu.r[Reg.SI] = iters;
        cpu.r[Reg.SP] = 0x80000;
        cpu.rip = CODE;
        long before = cpu.icount;
        VcpuExit e = cpu.run(Long.MAX_VALUE / 2);
        if (!(e instanceof VcpuExit.Fault f) || f.vector() != org.jvisor.cpu.Vectors.UD) {
            throw new IllegalStateException("workload did not finish cleanly: " + e);
        }
        return cpu.icount - before;
    }

    static double runNative(String runner, String hex, long iters, String kind) throws Exception {
        Process p = new ProcessBuilder(runner, hex, Long.toString(iters), kind).redirectErrorStream(true).start();
        try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream()))) {
            String line = r.readLine();
            if (p.waitFor() != 0 || line == null) throw new IllegalStateException("native run failed");
            return Double.parseDouble(line.trim());
        }
    }
}
