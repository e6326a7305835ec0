package org.jvisor.cpu.emu;

import static org.jvisor.cpu.emu.SoftFloat.*;

/** SSE4.1's floating point: ROUNDPS/PD/SS/SD and the dot products DPPS/DPPD, under MXCSR. */
final class Sse41Float {
    private Sse41Float() {}

    static void exec(Cpu c, Insn i, int imm) {
        long[] x = c.xmm;
        int d = i.reg * 2;
        SoftFloat sf = SseFloat.begin(c);
        switch (i.aux) {
            case 0x208, 0x209 -> {
                long[] s = c.xmmSrc(i, true);
                boolean dbl = i.aux == 0x209;
                long r0 = roundPacked(c, sf, s[0], dbl, imm), r1 = roundPacked(c, sf, s[1], dbl, imm);
                SseFloat.finish(c, sf);
                x[d] = r0;
                x[d + 1] = r1;
            }
            case 0x20A -> {
                long v = i.mem ? c.read(c.ea(i), 4) : x[i.rm * 2] & 0xFFFFFFFFL;
                long r = round(c, sf, v, F32, imm);
                SseFloat.finish(c, sf);
                x[d] = (x[d] & ~0xFFFFFFFFL) | r;
            }
            case 0x20B -> {
                long v = i.mem ? c.mmu.read64(c.ea(i)) : x[i.rm * 2];
                long r = round(c, sf, v, F64, imm);
                SseFloat.finish(c, sf);
                x[d] = r;
            }
            case 0x240 -> dpps(c, sf, i, imm);
            case 0x241 -> dppd(c, sf, i, imm);
            default -> throw new IllegalStateException("SSE4.1 op " + Integer.toHexString(i.aux));
        }
    }

    private static long roundPacked(Cpu c, SoftFloat sf, long v, boolean dbl, int imm) {
        if (dbl) return round(c, sf, v, F64, imm);
        return round(c, sf, v & 0xFFFFFFFFL, F32, imm) | round(c, sf, v >>> 32, F32, imm) << 32;
    }

    /**
     * One element to an integral value: imm[1:0] the rounding, or MXCSR's with imm[2]; imm[3]
     * suppresses the precision exception. An SNaN is quieted with #I; no denormal flag.
     */
    static long round(Cpu c, SoftFloat sf, long v, Fmt f, int imm) {
        v = SseFloat.daz(c, v, f);
        int cls = classify(v, f);
        if (cls == SNAN || cls == QNAN) {
            if (cls == SNAN) sf.flags |= IE;
            return v | (f.kind() == K32 ? 0x400000L : 0x8000000000000L);
        }
        if (cls == INF || cls == ZERO) return v;
        int rc = (imm & 4) != 0 ? (c.mxcsr >>> 13) & 3 : imm & 3;
        double a = f.kind() == K32 ? Float.intBitsToFloat((int) v) : Double.longBitsToDouble(v);
        double r = switch (rc) {
            case RC_NEAREST -> Math.rint(a);
            case RC_DOWN -> Math.floor(a);
            case RC_UP -> Math.ceil(a);
            default -> a < 0 ? Math.ceil(a) : Math.floor(a);
        };
        if (r != a && (imm & 8) == 0) sf.flags |= PE;
        return f.kind() == K32 ? Float.floatToRawIntBits((float) r) & 0xFFFFFFFFL : Double.doubleToRawLongBits(r);
    }

    /**
     * Products of the elements imm[7:4] selects (others +0), summed pairwise, into the elements
     * imm[3:0] selects. The sums are the same in every lane; only the NaN chosen when two are NaN
     * depends on the order, which on Intel cores differs per lane (see Cpu.intelDotProductLanes).
     */
    private static void dpps(Cpu c, SoftFloat sf, Insn i, int imm) {
        long[] s = c.xmmSrc(i, true);
        long[] x = c.xmm;
        int d = i.reg * 2;
        long[] p = new long[4];
        for (int k = 0; k < 4; k++) {
            if (((imm >>> (4 + k)) & 1) == 0) continue;
            long a = Lanes.lane(x[d + (k >> 1)], k & 1, 32), b = Lanes.lane(s[k >> 1], k & 1, 32);
            p[k] = SseFloat.lane(c, sf, SseFloat.MUL, a, b, F32);
        }
        long[] sum = new long[4];
        if (c.intelDotProductLanes) {
            long[] half = new long[4];
            for (int k = 0; k < 4; k++) half[k] = SseFloat.lane(c, sf, SseFloat.ADD, p[k ^ 1], p[k], F32);
            for (int k = 0; k < 4; k++) sum[k] = SseFloat.lane(c, sf, SseFloat.ADD, half[k], half[k ^ 2], F32);
        } else {
            long lo = SseFloat.lane(c, sf, SseFloat.ADD, p[0], p[1], F32);
            long hi = SseFloat.lane(c, sf, SseFloat.ADD, p[2], p[3], F32);
            java.util.Arrays.fill(sum, SseFloat.lane(c, sf, SseFloat.ADD, lo, hi, F32));
        }
        SseFloat.finish(c, sf);
        long r0 = 0, r1 = 0;
        for (int k = 0; k < 4; k++) {
            if (((imm >>> k) & 1) == 0) continue;
            if (k < 2) r0 = Lanes.put(r0, k, 32, sum[k]);
            else r1 = Lanes.put(r1, k - 2, 32, sum[k]);
        }
        x[d] = r0;
        x[d + 1] = r1;
    }

    private static void dppd(Cpu c, SoftFloat sf, Insn i, int imm) {
        long[] s = c.xmmSrc(i, true);
        long[] x = c.xmm;
        int d = i.reg * 2;
        long p0 = (imm & 0x10) != 0 ? SseFloat.lane(c, sf, SseFloat.MUL, x[d], s[0], F64) : 0;
        long p1 = (imm & 0x20) != 0 ? SseFloat.lane(c, sf, SseFloat.MUL, x[d + 1], s[1], F64) : 0;
        long sum0 = SseFloat.lane(c, sf, SseFloat.ADD, p0, p1, F64);
        long sum1 = c.intelDotProductLanes ? SseFloat.lane(c, sf, SseFloat.ADD, p1, p0, F64) : sum0;
        SseFloat.finish(c, sf);
        x[d] = (imm & 1) != 0 ? sum0 : 0;
        x[d + 1] = (imm & 2) != 0 ? sum1 : 0;
    }
}
