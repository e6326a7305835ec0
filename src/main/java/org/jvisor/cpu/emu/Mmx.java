package org.jvisor.cpu.emu;

import static org.jvisor.cpu.emu.Lanes.*;
import static org.jvisor.cpu.emu.SoftFloat.RC_ZERO;

import org.jvisor.cpu.Vectors;

/**
 * MMX: eight 64-bit registers that are the significands of the x87 physical registers (mm<i>i</i>
 * is {@code X87.mant[i]}, whatever TOP is), and the instructions on them. The lane arithmetic is
 * SSE2's ({@link SseInt#op64}, the shuffle, mask and conversion cores); what is MMX's own is the
 * x87 interplay of SDM vol. 1 ch. 9.5 and vol. 3 ch. 12.2: an instruction that touches an MMX
 * register sets TOP to 0 and every tag valid, and a write to mm<i>i</i> sets that register's sign and exponent to all
 * ones, so x87 code that runs afterwards without EMMS sees NaNs rather than stale numbers.
 *
 * <p>{@link Insn#aux}: the opcode for the 0F map (0x1xx for 0F38, 0x2xx for 0F3A), {@link #P66},
 * {@link #PF3} or {@link #PF2} or'ed in for the prefixed forms, {@link #SHIFT_IMM} | group * 8 +
 * ModRM.reg for 0F 71-73. Register numbers are ModRM's 3 bits: REX does not extend MMX registers.
 */
final class Mmx {
    static final int P66 = 0x400, PF3 = 0x800, PF2 = 0xC00, SHIFT_IMM = 0x1000;
    static final int MOVQ2DQ = PF3 | 0xD6, MOVDQ2Q = PF2 | 0xD6;
    private static final int SE_MMX = 0xFFFF;

    private Mmx() {}

    static void exec(Cpu c, Insn i) {
        check(c);
        X87 f = c.fpu;
        int op = i.aux;
        switch (op) {
            case 0x6E -> set(f, i.reg, c.rmOp(i, i.rexW() ? 8 : 4));
            case 0x7E -> c.setRmOp(i, i.rexW() ? 8 : 4, get(f, i.reg));
            case 0x6F -> set(f, i.reg, src(c, i));
            case 0x7F, 0xE7 -> {
                if (i.mem) c.mmu.write64(c.ea(i), get(f, i.reg));
                else set(f, i.rm, get(f, i.reg));
            }
            case 0x70 -> set(f, i.reg, SseShuffle.shuffleWords(src(c, i), (int) i.imm));
            case 0xC4 -> {
                long v = i.mem ? c.read(c.ea(i), 2) : c.r[i.rm] & 0xFFFF;
                set(f, i.reg, put(get(f, i.reg), (int) i.imm & 3, 16, v));
            }
            case 0xC5 -> c.setReg(i.reg, i.rexW() ? 8 : 4, lane(get(f, i.rm), (int) i.imm & 3, 16));
            case 0xD7 -> c.setReg(i.reg, 8, SseShuffle.byteMask(get(f, i.rm)));
            case 0xF7 -> SseMove.maskStore(c, SseMove.maskBase(c, i), get(f, i.reg), get(f, i.rm));
            case 0x20F -> set(f, i.reg, SseShuffle.alignBytes(src(c, i), get(f, i.reg), 0, 0, (int) i.imm & 0xFF));
            case MOVQ2DQ -> {
                c.xmm[i.reg * 2] = get(f, i.rm);
                c.xmm[i.reg * 2 + 1] = 0;
            }
            case MOVDQ2Q -> set(f, i.reg, c.xmm[i.rm * 2]);
            case 0x2A, 0x2C, 0x2D, P66 | 0x2A, P66 | 0x2C, P66 | 0x2D -> {
                // From memory, CVTPI2PS/PD touch no MMX register and leave the x87 state alone.
                if (!convert(c, i, op)) return;
            }
            default -> {
                if (op >= SHIFT_IMM) shiftImm(f, i, op - SHIFT_IMM);
                else set(f, i.reg, SseInt.op64(op, get(f, i.reg), src(c, i)));
            }
        }
        f.top = 0;
        f.setAbridgedTag(0xFF);
    }

    /**
     * EMMS: all tags empty; TOP goes to 0 as for every MMX instruction (SDM vol. 3, 12.2, though
     * EMMS's own page names only the tags; the host CPU agrees).
     */
    static void emms(Cpu c) {
        check(c);
        c.fpu.top = 0;
        c.fpu.tagWord = 0xFFFF;
    }

    /**
     * The checks every MMX instruction makes before it runs, as x87 instructions would: no FPU
     * (CR0.EM) is #UD, a task switch not yet followed by CLTS (CR0.TS) is #NM, and a pending
     * unmasked x87 exception (FSW.ES) is reported first as #MF. With CR0.NE clear that report
     * would go through the FERR# pin, which this machine does not have: the instruction runs.
     */
    private static void check(Cpu c) {
        if ((c.cr0 & Cpu.CR0_EM) != 0) throw c.fault(Vectors.UD);
        if ((c.cr0 & Cpu.CR0_TS) != 0) throw c.fault(Vectors.NM);
        if ((c.fpu.fsw & X87.ES) != 0 && (c.cr0 & Cpu.CR0_NE) != 0) throw c.fault(Vectors.MF);
    }

    private static long get(X87 f, int n) {
        return f.mant[n & 7];
    }

    private static void set(X87 f, int n, long v) {
        f.mant[n & 7] = v;
        f.se[n & 7] = SE_MMX;
    }

    /** The mm/m64 operand. */
    private static long src(Cpu c, Insn i) {
        return i.mem ? c.mmu.read64(c.ea(i)) : get(c.fpu, i.rm);
    }

    /** PSRLW/PSRAW/PSLLW and their D/Q forms by an immediate; g = group * 8 + ModRM.reg. */
    private static void shiftImm(X87 f, Insn i, int g) {
        int bits = g < 8 ? 16 : g < 16 ? 32 : 64;
        int kind = switch (g & 7) { case 2 -> 0; case 4 -> 1; default -> 2; };
        set(f, i.rm, SseInt.shift(get(f, i.rm), i.imm & 0xFF, bits, kind));
    }

    /** The conversions with an MMX operand; false when they did not touch an MMX register. */
    private static boolean convert(Cpu c, Insn i, int op) {
        long[] x = c.xmm;
        int d = i.reg * 2;
        SoftFloat sf = SseFloat.begin(c);
        int rc = (c.mxcsr >>> 13) & 3;
        switch (op) {
            case 0x2A -> { // CVTPI2PS: the upper half of the XMM register is kept
                long r = SseConvert.pi2ps(sf, src(c, i), rc);
                SseFloat.finish(c, sf);
                x[d] = r;
            }
            case P66 | 0x2A -> SseConvert.pi2pd(x, d, src(c, i)); // CVTPI2PD
            case 0x2C, 0x2D -> { // CVTTPS2PI, CVTPS2PI
                long v = i.mem ? c.mmu.read64(c.ea(i)) : x[i.rm * 2];
                long r = SseConvert.ps2pi(c, sf, v, op == 0x2C ? RC_ZERO : rc);
                SseFloat.finish(c, sf);
                set(c.fpu, i.reg, r);
            }
            default -> { // CVTTPD2PI, CVTPD2PI: a 16-byte aligned source like every SSE2 m128
                long[] s = c.xmmSrc(i, true);
                long r = SseConvert.pd2pi(c, sf, s[0], s[1], op == (P66 | 0x2C) ? RC_ZERO : rc);
                SseFloat.finish(c, sf);
                set(c.fpu, i.reg, r);
            }
        }
        return !(i.mem && (op & 0xFF) == 0x2A);
    }
}
