package org.jvisor.cpu.emu.diff;

import static org.jvisor.cpu.emu.diff.Asm.*;

import org.jvisor.cpu.emu.diff.Asm.R;

/**
 * The SSE4.2 forms of the differential test beyond PCMPGTQ: CRC32 at every operand size, and
 * the four string compares over all imm8 values. Random 64-bit data almost never holds equal
 * characters, so the string operands are often first filled from a small alphabet (with NULs,
 * and bytes that are negative when signed), and the explicit lengths set small, negative or large.
 */
final class Sse42Forms {
    private static final int[] ALPHABET = {0x41, 0x42, 0x43, 0x61, 0x7A, 0x80, 0xFF, 0x41, 0x42, 0x00};

    private Sse42Forms() {}

    static void addTo(CaseGen g) {
        g.add("crc32.b", 1, a -> a.insn(PF2, false, new int[] {0x0F, 0x38, 0xF0}, a.gpr(), CaseGen.rm(a, 1, 1), 0, 0, true, false));
        g.add("crc32.qb", 1, a -> a.insn(PF2, true, new int[] {0x0F, 0x38, 0xF0}, a.gpr(), CaseGen.rm(a, 1, 1), 0, 0, true, false));
        g.add("crc32.w", 1, a -> a.insn(PF2 | P66, false, new int[] {0x0F, 0x38, 0xF1}, a.gpr(), CaseGen.rm(a, 2, 1), 0, 0, false, false));
        g.add("crc32.d", 1, a -> a.insn(PF2, false, new int[] {0x0F, 0x38, 0xF1}, a.gpr(), CaseGen.rm(a, 4, 1), 0, 0, false, false));
        g.add("crc32.q", 1, a -> a.insn(PF2, true, new int[] {0x0F, 0x38, 0xF1}, a.gpr(), CaseGen.rm(a, 8, 1), 0, 0, false, false));
        String[] names = {"pcmpestrm", "pcmpestri", "pcmpistrm", "pcmpistri"};
        for (int k = 0; k < 4; k++) {
            int opc = 0x60 + k;
            boolean explicit = k < 2;
            g.add(names[k], 3, a -> stringCompare(a, opc, explicit, false));
            if (explicit) g.add(names[k] + ".q", 1, a -> stringCompare(a, opc, true, true));
        }
    }

    private static void stringCompare(Asm a, int opc, boolean explicit, boolean w) {
        int x1 = a.rnd.nextInt(16), x2 = a.rnd.nextInt(16);
        if (a.rnd.nextInt(3) != 0) fill(a, x1);
        if (a.rnd.nextInt(3) != 0) fill(a, x2);
        if (explicit) {
            length(a, 0);
            length(a, 2);
        }
        Object rm = a.rnd.nextInt(3) == 0 ? a.mem(16, 1) : new R(a.rnd.nextInt(4) == 0 ? x1 : x2);
        a.insn(P66, w, new int[] {0x0F, 0x3A, opc}, x1, rm, a.rnd.nextInt(256), 1, false, false);
        CaseGen.flags(a, CaseGen.ALL, 0);
    }

    /** xmm n = 16 characters of the alphabet, through a GPR (MOVQ, PINSRQ). */
    private static void fill(Asm a, int n) {
        int g = a.gpr();
        for (int half = 0; half < 2; half++) {
            long v = 0;
            for (int b = 0; b < 8; b++) v |= (long) ALPHABET[a.rnd.nextInt(ALPHABET.length)] << (8 * b);
            a.movImm64(g, v);
            if (half == 0) a.insn(P66, true, new int[] {0x0F, 0x6E}, n, new R(g), 0, 0, false, false);
            else a.insn(P66, true, new int[] {0x0F, 0x3A, 0x22}, n, new R(g), 1, 1, false, false);
        }
    }

    /** An explicit length in RAX or RDX: mostly within 0-17, sometimes negative or huge. */
    private static void length(Asm a, int reg) {
        long v = switch (a.rnd.nextInt(6)) {
            case 0 -> -a.rnd.nextInt(20);
            case 1 -> CaseGen.interesting(a.rnd);
            default -> a.rnd.nextInt(18);
        };
        a.movImm64(reg, v);
    }
}
