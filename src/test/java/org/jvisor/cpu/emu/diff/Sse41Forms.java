package org.jvisor.cpu.emu.diff;

import static org.jvisor.cpu.emu.diff.Asm.*;

import org.jvisor.cpu.emu.diff.Asm.R;

/** The SSE4.1 forms of the differential test (and PCMPGTQ of SSE4.2). */
final class Sse41Forms {
    private Sse41Forms() {}

    static void addTo(CaseGen g) {
        int[] m128 = {0x10, 0x14, 0x15, 0x28, 0x29, 0x2B, 0x37, 0x38, 0x39, 0x3A, 0x3B, 0x3C, 0x3D, 0x3E, 0x3F, 0x40, 0x41};
        for (int o : m128) g.add(String.format("sse41.38%02x", o), 1, a -> xmm(a, new int[] {0x0F, 0x38, o}, 16, 16, -1));
        g.add("ptest", 1, a -> { xmm(a, new int[] {0x0F, 0x38, 0x17}, 16, 16, -1); CaseGen.flags(a, CaseGen.ALL, 0); });
        int[] ext = {0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35};
        int[] extBytes = {8, 4, 2, 8, 4, 8};
        for (int o : ext) g.add(String.format("pmovx.38%02x", o), 1, a -> xmm(a, new int[] {0x0F, 0x38, o}, 1, extBytes[o & 0xF], -1));
        g.add("movntdqa", 1, a -> a.insn(P66, false, new int[] {0x0F, 0x38, 0x2A}, a.rnd.nextInt(16), a.mem(16, 16), 0, 0, false, false));
        for (int o : new int[] {0x08, 0x09}) g.add(String.format("round.3a%02x", o), 2, a -> xmm(a, new int[] {0x0F, 0x3A, o}, 16, 16, a.rnd.nextInt(16)));
        g.add("roundss", 2, a -> xmm(a, new int[] {0x0F, 0x3A, 0x0A}, 1, 4, a.rnd.nextInt(16)));
        g.add("roundsd", 2, a -> xmm(a, new int[] {0x0F, 0x3A, 0x0B}, 1, 8, a.rnd.nextInt(16)));
        for (int o : new int[] {0x0C, 0x0D, 0x0E, 0x40, 0x41, 0x42}) {
            g.add(String.format("sse41.3a%02x", o), o >= 0x40 ? 2 : 1, a -> xmm(a, new int[] {0x0F, 0x3A, o}, 16, 16, a.rnd.nextInt(256)));
        }
        // Extracts to a GPR or memory, inserts from one.
        int[][] extr = {{0x14, 1}, {0x15, 2}, {0x16, 4}, {0x17, 4}};
        for (int[] e : extr) {
            g.add(String.format("pextr.3a%02x", e[0]), 1, a -> {
                Object rm = a.rnd.nextInt(3) == 0 ? a.mem(e[1], 1) : new R(a.gpr());
                a.insn(P66, false, new int[] {0x0F, 0x3A, e[0]}, a.rnd.nextInt(16), rm, a.rnd.nextInt(256), 1, false, false);
            });
        }
        g.add("pextrq", 1, a -> {
            Object rm = a.rnd.nextInt(3) == 0 ? a.mem(8, 1) : new R(a.gpr());
            a.insn(P66, true, new int[] {0x0F, 0x3A, 0x16}, a.rnd.nextInt(16), rm, a.rnd.nextInt(256), 1, false, false);
        });
        int[][] ins = {{0x20, 1}, {0x22, 4}};
        for (int[] e : ins) {
            g.add(String.format("pinsr.3a%02x", e[0]), 1, a -> {
                Object rm = a.rnd.nextInt(3) == 0 ? a.mem(e[1], 1) : new R(a.gpr());
                a.insn(P66, false, new int[] {0x0F, 0x3A, e[0]}, a.rnd.nextInt(16), rm, a.rnd.nextInt(256), 1, false, false);
            });
        }
        g.add("pinsrq", 1, a -> {
            Object rm = a.rnd.nextInt(3) == 0 ? a.mem(8, 1) : new R(a.gpr());
            a.insn(P66, true, new int[] {0x0F, 0x3A, 0x22}, a.rnd.nextInt(16), rm, a.rnd.nextInt(256), 1, false, false);
        });
        g.add("insertps", 1, a -> xmm(a, new int[] {0x0F, 0x3A, 0x21}, 1, 4, a.rnd.nextInt(256)));
    }

    /** 66-prefixed op xmm, xmm/m (size bytes, alignment align). */
    private static void xmm(Asm a, int[] opcode, int align, int size, int imm) {
        Object rm = a.rnd.nextInt(3) == 0 ? a.mem(size, align) : new R(a.rnd.nextInt(16));
        a.insn(P66, false, opcode, a.rnd.nextInt(16), rm, Math.max(imm, 0), imm >= 0 ? 1 : 0, false, false);
    }
}
