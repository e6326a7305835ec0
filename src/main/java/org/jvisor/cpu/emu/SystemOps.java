package org.jvisor.cpu.emu;

/** CPUID and RDTSC as the user-mode core needs them; the full CPU model arrives with the PC. */
final class SystemOps {
    private SystemOps() {}

    static void exec(Cpu c, Insn i) {
        switch (i.op) {
            case Op.CPUID -> CpuidModel.cpuid(c);
            case Op.RDTSC -> {
                long t = System.nanoTime();
                c.r[Reg.AX] = t & 0xFFFFFFFFL;
                c.r[Reg.DX] = t >>> 32;
            }
            default -> throw c.fault(org.jvisor.cpu.Vectors.UD);
        }
    }
}
