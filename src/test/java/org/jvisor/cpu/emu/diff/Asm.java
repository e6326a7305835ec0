package org.jvisor.cpu.emu.diff;

import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * A tiny x86-64 encoder for the differential test: prefixes, REX, ModRM/SIB/displacement with
 * register, absolute, RIP-relative and base+index operands, and immediates. Memory operands
 * always land inside the test's data area; the registers they need are loaded by MOV r64, imm64
 * instructions emitted just before (which are tested too).
 */
final class Asm {
    static final int P66 = 1, PF2 = 2, PF3 = 4;

    final SplittableRandom rnd;
    final ByteArrayOutputStream out = new ByteArrayOutputStream();
    /** Start offset of each emitted instruction and the flags undefined before it. */
    final List<long[]> starts = new ArrayList<>();
    long undef;
    /** Offset of this buffer's first byte within the test code (for RIP-relative operands). */
    int base;

    Asm(SplittableRandom rnd) {
        this.rnd = rnd;
    }

    int pos() {
        return out.size();
    }

    /** A memory operand, possibly needing base/index registers loaded first. */
    static final class Mem {
        int mod, rm, sib = -1, dispSize;
        long disp, target;
        boolean ripRel, addr32;
        int rexX, rexB;
    }

    /** Register r/m operand. */
    record R(int n) {}

    /** A general register that may be written: anything but RSP. */
    int gpr() {
        int r;
        do r = rnd.nextInt(16); while (r == 4);
        return r;
    }

    /** Picks a data-area address for an access of size bytes with the given alignment, and an addressing form. */
    Mem mem(int size, int align) {
        int span = MachineState.DATA_AREA - size;
        int off = rnd.nextInt(span / align + 1) * align;
        long target = MachineState.DATA + off;
        Mem m = new Mem();
        m.target = target;
        switch (rnd.nextInt(6)) {
            case 0 -> { m.mod = 0; m.rm = 4; m.sib = 0x25; m.disp = target; m.dispSize = 4; }
            case 1 -> { m.mod = 0; m.rm = 5; m.ripRel = true; m.dispSize = 4; }
            case 2, 5 -> {
                boolean a32 = rnd.nextInt(3) == 0;
                int base = gpr();
                long disp = pickDisp();
                long val = target - disp;
                if (a32) val = (rnd.nextLong() << 32) | (val & 0xFFFFFFFFL);
                movImm64(base, val);
                encodeBase(m, base, disp);
                m.addr32 = a32;
            }
            default -> {
                boolean a32 = rnd.nextInt(3) == 0;
                int base = gpr(), index;
                do index = gpr(); while (index == base);
                int scale = rnd.nextInt(4);
                long idx = rnd.nextInt(16) - 8;
                long disp = pickDisp();
                long bval = target - disp - (idx << scale);
                long ival = idx;
                if (a32) {
                    bval = (rnd.nextLong() << 32) | (bval & 0xFFFFFFFFL);
                    ival = (rnd.nextLong() << 32) | (ival & 0xFFFFFFFFL);
                }
                movImm64(index, ival);
                movImm64(base, bval);
                int mod = disp == 0 && (base & 7) != 5 ? 0 : disp == (byte) disp ? 1 : 2;
                m.mod = mod;
                m.rm = 4;
                m.sib = scale << 6 | (index & 7) << 3 | (base & 7);
                m.rexX = index >> 3;
                m.rexB = base >> 3;
                m.disp = disp;
                m.dispSize = mod == 0 ? 0 : mod == 1 ? 1 : 4;
                m.addr32 = a32;
            }
        }
        return m;
    }

    private long pickDisp() {
        return switch (rnd.nextInt(4)) {
            case 0 -> 0;
            case 1, 2 -> rnd.nextInt(256) - 128;
            default -> rnd.nextInt(1 << 20) - (1 << 19);
        };
    }

    private static void encodeBase(Mem m, int base, long disp) {
        int mod = disp == 0 && (base & 7) != 5 ? 0 : disp == (byte) disp ? 1 : 2;
        m.mod = mod;
        m.rexB = base >> 3;
        if ((base & 7) == 4) {
            m.rm = 4;
            m.sib = 0x24; // no index, base r12
        } else {
            m.rm = base & 7;
        }
        m.disp = disp;
        m.dispSize = mod == 0 ? 0 : mod == 1 ? 1 : 4;
    }

    void mark() {
        starts.add(new long[] {pos(), undef});
    }

    /** MOV r64, imm64 (or a shorter MOV when the value allows). */
    void movImm64(int reg, long v) {
        mark();
        if (v == (v & 0xFFFFFFFFL) && rnd.nextBoolean()) {
            if (reg >= 8) out.write(0x41);
            out.write(0xB8 + (reg & 7));
            le(v, 4);
        } else {
            out.write(0x48 | (reg >> 3));
            out.write(0xB8 + (reg & 7));
            le(v, 8);
        }
    }

    void le(long v, int n) {
        for (int k = 0; k < n; k++) out.write((int) (v >>> (8 * k)));
    }

    /**
     * Emits one instruction. {@code reg} is the ModRM.reg value (register number or /digit),
     * {@code rm} a {@link R} or {@link Mem} (or null for no ModRM), {@code w} REX.W,
     * {@code byteRegs} whether GPR operands are byte registers (so REX changes their meaning).
     */
    void insn(int pfx, boolean w, int[] opcode, int reg, Object rm, long imm, int immSize, boolean byteRegs, boolean forceRex) {
        mark();
        int rexR = reg >> 3 & 1, rexX = 0, rexB = 0;
        Mem m = rm instanceof Mem mm ? mm : null;
        if (rm instanceof R r) rexB = r.n >> 3;
        if (m != null) { rexX = m.rexX; rexB = m.rexB; }
        int rex = (w ? 8 : 0) | rexR << 2 | rexX << 1 | rexB;
        boolean needRex = rex != 0 || forceRex;
        if (byteRegs && needRex) {
            // With REX, byte register 4 is SPL: never write RSP.
            if (rm instanceof R r && r.n == 4) throw new IllegalStateException("SPL");
        }
        int start = pos();
        if (m != null && m.addr32) out.write(0x67);
        if ((pfx & P66) != 0) out.write(0x66);
        if ((pfx & PF2) != 0) out.write(0xF2);
        if ((pfx & PF3) != 0) out.write(0xF3);
        if (needRex) out.write(0x40 | rex);
        for (int b : opcode) out.write(b);
        if (rm != null) {
            if (rm instanceof R r) {
                out.write(0xC0 | (reg & 7) << 3 | (r.n & 7));
            } else {
                out.write(m.mod << 6 | (reg & 7) << 3 | m.rm);
                if (m.sib >= 0) out.write(m.sib);
                if (m.ripRel) {
                    long end = MachineState.CODE + base + pos() + 4 + immSize;
                    le(m.target - end, 4);
                } else {
                    le(m.disp, m.dispSize);
                }
            }
        }
        le(imm, immSize);
    }

    byte[] bytes() {
        return out.toByteArray();
    }
}
