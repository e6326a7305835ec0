package org.jvisor.cpu.emu.diff;

import static org.jvisor.cpu.emu.diff.Asm.*;

import org.jvisor.cpu.emu.diff.Asm.Mem;
import org.jvisor.cpu.emu.diff.Asm.R;

/**
 * The MMX forms of the differential test. They mix with the x87 forms of the same case, so the
 * x87 side effects (TOP, tags, the exponents of written registers, EMMS) are compared through the
 * FXSAVE image like everything else. MMX register numbers are drawn from 0-15: REX.R/B must be
 * ignored for them.
 */
final class MmxForms {
    private MmxForms() {}

    static void addTo(CaseGen g) {
        int[] pint = {0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6A, 0x6B, 0x74, 0x75, 0x76,
                0xD1, 0xD2, 0xD3, 0xD4, 0xD5, 0xD8, 0xD9, 0xDA, 0xDB, 0xDC, 0xDD, 0xDE, 0xDF, 0xE0, 0xE1, 0xE2, 0xE3, 0xE4,
                0xE5, 0xE8, 0xE9, 0xEA, 0xEB, 0xEC, 0xED, 0xEE, 0xEF, 0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF8, 0xF9, 0xFA,
                0xFB, 0xFC, 0xFD, 0xFE};
        for (int o : pint) g.add(String.format("mmx.%02x", o), 1, a -> mm(a, 0, new int[] {0x0F, o}, 8, -1));
        int[] ssse3 = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x1C, 0x1D, 0x1E};
        for (int o : ssse3) g.add(String.format("mmx.38%02x", o), 1, a -> mm(a, 0, new int[] {0x0F, 0x38, o}, 8, -1));
        g.add("mmx.palignr", 1, a -> mm(a, 0, new int[] {0x0F, 0x3A, 0x0F}, 8, a.rnd.nextInt(3) == 0 ? a.rnd.nextInt(256) : a.rnd.nextInt(20)));
        g.add("mmx.pshufw", 1, a -> mm(a, 0, new int[] {0x0F, 0x70}, 8, a.rnd.nextInt(256)));
        int[][] shImm = {{0x71, 2}, {0x71, 4}, {0x71, 6}, {0x72, 2}, {0x72, 4}, {0x72, 6}, {0x73, 2}, {0x73, 6}};
        for (int[] si : shImm) {
            g.add(String.format("mmx.shift.%02x/%d", si[0], si[1]), 1, a -> {
                int cnt = a.rnd.nextInt(3) == 0 ? a.rnd.nextInt(256) : a.rnd.nextInt(70);
                a.insn(0, false, new int[] {0x0F, si[0]}, si[1], new R(reg(a)), cnt, 1, false, false);
            });
        }
        g.add("mmx.movd.ld", 1, a -> a.insn(0, false, new int[] {0x0F, 0x6E}, reg(a), CaseGen.rm(a, 4, 1), 0, 0, false, false));
        g.add("mmx.movq.ldg", 1, a -> a.insn(0, true, new int[] {0x0F, 0x6E}, reg(a), CaseGen.rm(a, 8, 1), 0, 0, false, false));
        g.add("mmx.movd.st", 1, a -> a.insn(0, false, new int[] {0x0F, 0x7E}, reg(a), CaseGen.rm(a, 4, 1), 0, 0, false, false));
        g.add("mmx.movq.stg", 1, a -> a.insn(0, true, new int[] {0x0F, 0x7E}, reg(a), CaseGen.rm(a, 8, 1), 0, 0, false, false));
        g.add("mmx.movq.ld", 2, a -> mm(a, 0, new int[] {0x0F, 0x6F}, 8, -1));
        g.add("mmx.movq.st", 2, a -> mm(a, 0, new int[] {0x0F, 0x7F}, 8, -1));
        g.add("mmx.movntq", 1, a -> a.insn(0, false, new int[] {0x0F, 0xE7}, reg(a), a.mem(8, 1), 0, 0, false, false));
        g.add("mmx.pinsrw", 1, a -> {
            Object rm = a.rnd.nextBoolean() ? a.mem(2, 1) : new R(a.gpr());
            a.insn(0, a.rnd.nextBoolean(), new int[] {0x0F, 0xC4}, reg(a), rm, a.rnd.nextInt(256), 1, false, false);
        });
        g.add("mmx.pextrw", 1, a -> a.insn(0, a.rnd.nextBoolean(), new int[] {0x0F, 0xC5}, a.gpr(), new R(reg(a)), a.rnd.nextInt(256), 1, false, false));
        g.add("mmx.pmovmskb", 1, a -> a.insn(0, a.rnd.nextBoolean(), new int[] {0x0F, 0xD7}, a.gpr(), new R(reg(a)), 0, 0, false, false));
        g.add("mmx.maskmovq", 1, a -> {
            a.movImm64(7, MachineState.DATA + a.rnd.nextInt(900));
            a.insn(0, false, new int[] {0x0F, 0xF7}, reg(a), new R(reg(a)), 0, 0, false, false);
        });
        g.add("mmx.movq2dq", 1, a -> a.insn(PF3, false, new int[] {0x0F, 0xD6}, reg(a), new R(reg(a)), 0, 0, false, false));
        g.add("mmx.movdq2q", 1, a -> a.insn(PF2, false, new int[] {0x0F, 0xD6}, reg(a), new R(reg(a)), 0, 0, false, false));
        g.add("mmx.emms", 2, a -> { a.mark(); a.out.write(0x0F); a.out.write(0x77); });
        g.add("cvtpi2ps", 1, a -> mm(a, 0, new int[] {0x0F, 0x2A}, 8, -1));
        g.add("cvtpi2pd", 1, a -> mm(a, P66, new int[] {0x0F, 0x2A}, 8, -1));
        g.add("cvttps2pi", 1, a -> mm(a, 0, new int[] {0x0F, 0x2C}, 8, -1));
        g.add("cvtps2pi", 1, a -> mm(a, 0, new int[] {0x0F, 0x2D}, 8, -1));
        g.add("cvttpd2pi", 1, a -> mm(a, P66, new int[] {0x0F, 0x2C}, 16, -1));
        g.add("cvtpd2pi", 1, a -> mm(a, P66, new int[] {0x0F, 0x2D}, 16, -1));
    }

    /** An MMX (or XMM, for the conversions) register number; 8-15 only add an ignored REX bit for mm. */
    private static int reg(Asm a) {
        return a.rnd.nextInt(16);
    }

    /** op reg, reg/m: memory of size bytes at its natural alignment a third of the time. */
    private static void mm(Asm a, int pfx, int[] opcode, int size, int imm) {
        Object rm = a.rnd.nextInt(3) == 0 ? a.mem(size, size == 16 ? 16 : 1) : new R(reg(a));
        a.insn(pfx, a.rnd.nextInt(8) == 0, opcode, reg(a), rm, Math.max(imm, 0), imm >= 0 ? 1 : 0, false, false);
    }
}
