package org.jvisor.cpu.emu;

import static org.jvisor.cpu.emu.Lanes.*;

/** Shuffles, inserts/extracts, byte alignment and sign-mask extraction. */
final class SseShuffle {
    private SseShuffle() {}

    static void exec(Cpu c, Insn i) {
        long[] x = c.xmm;
        int d = i.reg * 2;
        int imm = (int) i.imm & 0xFF;
        switch (i.op) {
            case Op.PSHUFD -> {
                long[] s = c.xmmSrc(i, true);
                long s0 = s[0], s1 = s[1];
                long r0 = 0, r1 = 0;
                for (int k = 0; k < 4; k++) {
                    int sel = (imm >>> (2 * k)) & 3;
                    long v = lane(sel < 2 ? s0 : s1, sel & 1, 32);
                    if (k < 2) r0 = put(r0, k, 32, v);
                    else r1 = put(r1, k - 2, 32, v);
                }
                x[d] = r0;
                x[d + 1] = r1;
            }
            case Op.PSHUFHW, Op.PSHUFLW -> {
                long[] s = c.xmmSrc(i, true);
                boolean high = i.op == Op.PSHUFHW;
                long r = shuffleWords(high ? s[1] : s[0], imm);
                x[d] = high ? s[0] : r;
                x[d + 1] = high ? r : s[1];
            }
            case Op.SHUFPS -> {
                long[] s = c.xmmSrc(i, true);
                long a0 = x[d], a1 = x[d + 1];
                long e0 = pick32(a0, a1, imm & 3), e1 = pick32(a0, a1, (imm >>> 2) & 3);
                long e2 = pick32(s[0], s[1], (imm >>> 4) & 3), e3 = pick32(s[0], s[1], (imm >>> 6) & 3);
                x[d] = e0 | e1 << 32;
                x[d + 1] = e2 | e3 << 32;
            }
            case Op.SHUFPD -> {
                long[] s = c.xmmSrc(i, true);
                long r0 = (imm & 1) == 0 ? x[d] : x[d + 1];
                long r1 = (imm & 2) == 0 ? s[0] : s[1];
                x[d] = r0;
                x[d + 1] = r1;
            }
            case Op.UNPCKLPS -> {
                long[] s = c.xmmSrc(i, true);
                long a0 = x[d];
                x[d] = interleave(a0, s[0], 32);
                x[d + 1] = interleave(a0 >>> 32, s[0] >>> 32, 32);
            }
            case Op.UNPCKHPS -> {
                long[] s = c.xmmSrc(i, true);
                long a1 = x[d + 1];
                x[d] = interleave(a1, s[1], 32);
                x[d + 1] = interleave(a1 >>> 32, s[1] >>> 32, 32);
            }
            case Op.PINSRW -> {
                long v = i.mem ? c.read(c.ea(i), 2) : c.r[i.rm] & 0xFFFF;
                int k = imm & 7;
                x[d + (k >> 2)] = put(x[d + (k >> 2)], k & 3, 16, v);
            }
            case Op.PEXTRW -> {
                int k = imm & 7;
                c.setReg(i.reg, i.rexW() ? 8 : 4, lane(x[i.rm * 2 + (k >> 2)], k & 3, 16));
            }
            case Op.PALIGNR -> {
                long[] s = c.xmmSrc(i, true);
                long r0 = alignBytes(s[0], s[1], x[d], x[d + 1], imm), r1 = alignBytes(s[0], s[1], x[d], x[d + 1], imm + 8);
                x[d] = r0;
                x[d + 1] = r1;
            }
            case Op.MOVMSKPS -> {
                long lo = x[i.rm * 2], hi = x[i.rm * 2 + 1];
                long m = (lo >>> 31 & 1) | (lo >>> 62 & 2) | (hi >>> 29 & 4) | (hi >>> 60 & 8);
                c.setReg(i.reg, 8, m);
            }
            case Op.MOVMSKPD -> c.setReg(i.reg, 8, (x[i.rm * 2] >>> 63) | (x[i.rm * 2 + 1] >>> 63) << 1);
            case Op.PMOVMSKB -> c.setReg(i.reg, 8, byteMask(x[i.rm * 2]) | byteMask(x[i.rm * 2 + 1]) << 8);
            default -> throw new IllegalStateException(Op.name(i.op));
        }
    }

    /** PSHUFW / PSHUFLW: four words of src picked by the 2-bit fields of imm. */
    static long shuffleWords(long src, int imm) {
        long r = 0;
        for (int k = 0; k < 4; k++) r = put(r, k, 16, lane(src, (imm >>> (2 * k)) & 3, 16));
        return r;
    }

    /**
     * PALIGNR: the eight bytes starting at byte {@code at} of the 32-byte string w0 w1 w2 w3
     * (little-endian, src below dst), zeros past its end. MMX passes src, dst, 0, 0.
     */
    static long alignBytes(long w0, long w1, long w2, long w3, int at) {
        long r = 0;
        for (int k = 0; k < 8 && at + k < 32; k++) {
            int b = at + k;
            long w = switch (b >>> 3) { case 0 -> w0; case 1 -> w1; case 2 -> w2; default -> w3; };
            r |= ((w >>> (8 * (b & 7))) & 0xFF) << (8 * k);
        }
        return r;
    }

    private static long pick32(long lo, long hi, int sel) {
        return lane(sel < 2 ? lo : hi, sel & 1, 32);
    }

    /** The top bit of each byte, gathered into 8 bits. */
    static long byteMask(long v) {
        long t = v & 0x8080808080808080L;
        return ((t >>> 7) * 0x0102040810204080L) >>> 56;
    }
}
