package org.jvisor.cpu.emu;

import org.jvisor.cpu.Vectors;

/** SSE data movement between XMM registers, memory and general registers. */
final class SseMove {
    private SseMove() {}

    static void exec(Cpu c, Insn i) {
        long[] x = c.xmm;
        int d = i.reg * 2;
        switch (i.op) {
            case Op.MOVDQU_LOAD, Op.MOVDQA_LOAD -> {
                long[] s = c.xmmSrc(i, i.op == Op.MOVDQA_LOAD);
                x[d] = s[0];
                x[d + 1] = s[1];
            }
            case Op.MOVDQU_STORE, Op.MOVDQA_STORE -> store128(c, i, i.op == Op.MOVDQA_STORE);
            case Op.MOVSS_LOAD -> {
                if (i.mem) {
                    x[d] = c.mmu.read32(c.ea(i)) & 0xFFFFFFFFL;
                    x[d + 1] = 0;
                } else {
                    x[d] = (x[d] & ~0xFFFFFFFFL) | (x[i.rm * 2] & 0xFFFFFFFFL);
                }
            }
            case Op.MOVSD_LOAD -> {
                if (i.mem) {
                    x[d] = c.mmu.read64(c.ea(i));
                    x[d + 1] = 0;
                } else {
                    x[d] = x[i.rm * 2];
                }
            }
            case Op.MOVSS_STORE -> {
                if (i.mem) c.mmu.write32(c.ea(i), (int) x[d]);
                else x[i.rm * 2] = (x[i.rm * 2] & ~0xFFFFFFFFL) | (x[d] & 0xFFFFFFFFL);
            }
            case Op.MOVSD_STORE -> {
                if (i.mem) c.mmu.write64(c.ea(i), x[d]);
                else x[i.rm * 2] = x[d];
            }
            case Op.MOVLPS_LOAD -> x[d] = c.mmu.read64(c.ea(i));
            case Op.MOVHPS_LOAD -> x[d + 1] = c.mmu.read64(c.ea(i));
            case Op.MOVLPS_STORE -> c.mmu.write64(c.ea(i), x[d]);
            case Op.MOVHPS_STORE -> c.mmu.write64(c.ea(i), x[d + 1]);
            case Op.MOVHLPS -> x[d] = x[i.rm * 2 + 1];
            case Op.MOVLHPS -> x[d + 1] = x[i.rm * 2];
            case Op.MOVSLDUP, Op.MOVSHDUP -> {
                long[] s = c.xmmSrc(i, true);
                int sh = i.op == Op.MOVSLDUP ? 0 : 32;
                x[d] = dup32(s[0] >>> sh);
                x[d + 1] = dup32(s[1] >>> sh);
            }
            case Op.MOVDDUP -> {
                long v = i.mem ? c.mmu.read64(c.ea(i)) : x[i.rm * 2];
                x[d] = v;
                x[d + 1] = v;
            }
            case Op.MOVD_X_E -> {
                int sz = i.rexW() ? 8 : 4;
                x[d] = c.rmOp(i, sz);
                x[d + 1] = 0;
            }
            case Op.MOVD_E_X -> c.setRmOp(i, i.rexW() ? 8 : 4, x[d]);
            case Op.MOVQ_X_XM -> {
                x[d] = i.mem ? c.mmu.read64(c.ea(i)) : x[i.rm * 2];
                x[d + 1] = 0;
            }
            case Op.MOVQ_XM_X -> {
                if (i.mem) {
                    c.mmu.write64(c.ea(i), x[d]);
                } else {
                    x[i.rm * 2] = x[d];
                    x[i.rm * 2 + 1] = 0;
                }
            }
            case Op.MASKMOVDQU -> maskmov(c, i);
            default -> throw c.fault(Vectors.UD);
        }
    }

    private static long dup32(long v) {
        v &= 0xFFFFFFFFL;
        return v | v << 32;
    }

    private static void store128(Cpu c, Insn i, boolean aligned) {
        long[] x = c.xmm;
        int s = i.reg * 2;
        if (!i.mem) {
            x[i.rm * 2] = x[s];
            x[i.rm * 2 + 1] = x[s + 1];
            return;
        }
        long a = c.ea(i);
        if (aligned && (a & 15) != 0) throw c.fault(Vectors.GP, 0);
        c.mmu.probeWrite(a, 16);
        c.mmu.write64(a, x[s]);
        c.mmu.write64(a + 8, x[s + 1]);
    }

    private static void maskmov(Cpu c, Insn i) {
        long base = maskBase(c, i);
        maskStore(c, base, c.xmm[i.reg * 2], c.xmm[i.rm * 2]);
        maskStore(c, base + 8, c.xmm[i.reg * 2 + 1], c.xmm[i.rm * 2 + 1]);
    }

    /** MASKMOVDQU and MASKMOVQ store to DS:rDI (a segment override applies). */
    static long maskBase(Cpu c, Insn i) {
        return c.segAddr(i, Seg.DS, c.r[Reg.DI] & Cpu.mask(i.asz));
    }

    /** Stores the bytes of data whose mask byte has its top bit set. */
    static void maskStore(Cpu c, long addr, long data, long mask) {
        for (int b = 0; b < 8; b++) {
            if (((mask >>> (8 * b)) & 0x80) != 0) c.mmu.write8(addr + b, (int) (data >>> (8 * b)));
        }
    }
}
