package org.jvisor.cpu.emu;

import static org.jvisor.cpu.emu.SoftFloat.*;

import java.math.BigInteger;

/** SSE/SSE2 conversions between integers, floats and doubles, rounding as MXCSR says. */
final class SseConvert {
    static final int SI2SS = 0, SI2SD = 1, TSS2SI = 2, TSD2SI = 3, SS2SI = 4, SD2SI = 5, PS2PD = 6, PD2PS = 7,
            SS2SD = 8, SD2SS = 9, DQ2PS = 10, PS2DQ = 11, TPS2DQ = 12, TPD2DQ = 13, DQ2PD = 14, PD2DQ = 15;

    private SseConvert() {}

    static void exec(Cpu c, Insn i) {
        long[] x = c.xmm;
        int d = i.reg * 2;
        SoftFloat sf = SseFloat.begin(c);
        int rc = (c.mxcsr >>> 13) & 3;
        switch (i.aux) {
            case SI2SS, SI2SD -> {
                int sz = i.rexW() ? 8 : 4;
                long v = Cpu.sext(c.rmOp(i, sz), sz);
                boolean dbl = i.aux == SI2SD;
                long r = fromInt(sf, v, dbl ? F64 : F32, rc);
                SseFloat.finish(c, sf);
                x[d] = dbl ? r : (x[d] & ~0xFFFFFFFFL) | r;
            }
            case TSS2SI, TSD2SI, SS2SI, SD2SI -> {
                boolean dbl = (i.aux & 1) == 1;
                long v = scalarSrc(c, i, dbl);
                int bits = i.rexW() ? 64 : 32;
                long r = toInt(c, sf, v, dbl ? F64 : F32, bits, i.aux <= TSD2SI ? RC_ZERO : rc);
                SseFloat.finish(c, sf);
                c.setReg(i.reg, bits / 8, r);
            }
            case PS2PD -> {
                long v = i.mem ? c.mmu.read64(c.ea(i)) : x[i.rm * 2];
                long r0 = f2d(c, sf, v & 0xFFFFFFFFL), r1 = f2d(c, sf, v >>> 32);
                SseFloat.finish(c, sf);
                x[d] = r0;
                x[d + 1] = r1;
            }
            case PD2PS -> {
                long[] s = c.xmmSrc(i, true);
                long r0 = d2f(c, sf, s[0], rc), r1 = d2f(c, sf, s[1], rc);
                SseFloat.finish(c, sf);
                x[d] = r0 | r1 << 32;
                x[d + 1] = 0;
            }
            case SS2SD -> {
                long r = f2d(c, sf, scalarSrc(c, i, false));
                SseFloat.finish(c, sf);
                x[d] = r;
            }
            case SD2SS -> {
                long r = d2f(c, sf, scalarSrc(c, i, true), rc);
                SseFloat.finish(c, sf);
                x[d] = (x[d] & ~0xFFFFFFFFL) | r;
            }
            case DQ2PS -> {
                long[] s = c.xmmSrc(i, true);
                long r0 = pi2ps(sf, s[0], rc), r1 = pi2ps(sf, s[1], rc);
                SseFloat.finish(c, sf);
                x[d] = r0;
                x[d + 1] = r1;
            }
            case PS2DQ, TPS2DQ -> {
                long[] s = c.xmmSrc(i, true);
                int mode = i.aux == TPS2DQ ? RC_ZERO : rc;
                long r0 = ps2pi(c, sf, s[0], mode), r1 = ps2pi(c, sf, s[1], mode);
                SseFloat.finish(c, sf);
                x[d] = r0;
                x[d + 1] = r1;
            }
            case TPD2DQ, PD2DQ -> {
                long[] s = c.xmmSrc(i, true);
                long r = pd2pi(c, sf, s[0], s[1], i.aux == TPD2DQ ? RC_ZERO : rc);
                SseFloat.finish(c, sf);
                x[d] = r;
                x[d + 1] = 0;
            }
            case DQ2PD -> pi2pd(x, d, i.mem ? c.mmu.read64(c.ea(i)) : x[i.rm * 2]);
            default -> throw new IllegalStateException("conversion " + i.aux);
        }
    }

    // Two-lane cores, shared with the MMX forms (CVTPI2PS, CVTPS2PI, CVTPD2PI, CVTPI2PD).

    /** Two int32 to two floats. */
    static long pi2ps(SoftFloat sf, long v, int rc) {
        long r0 = fromInt(sf, (int) v, F32, rc), r1 = fromInt(sf, (int) (v >>> 32), F32, rc);
        return (r0 & 0xFFFFFFFFL) | r1 << 32;
    }

    /** Two floats to two int32. */
    static long ps2pi(Cpu c, SoftFloat sf, long v, int rc) {
        long r0 = toInt(c, sf, v & 0xFFFFFFFFL, F32, 32, rc), r1 = toInt(c, sf, v >>> 32, F32, 32, rc);
        return r0 | r1 << 32;
    }

    /** Two doubles to two int32. */
    static long pd2pi(Cpu c, SoftFloat sf, long lo, long hi, int rc) {
        long r0 = toInt(c, sf, lo, F64, 32, rc), r1 = toInt(c, sf, hi, F64, 32, rc);
        return r0 | r1 << 32;
    }

    /** Two int32 to two doubles in x[d], x[d + 1] (always exact). */
    static void pi2pd(long[] x, int d, long v) {
        x[d] = Double.doubleToRawLongBits((int) v);
        x[d + 1] = Double.doubleToRawLongBits((int) (v >>> 32));
    }

    private static long scalarSrc(Cpu c, Insn i, boolean dbl) {
        if (i.mem) return dbl ? c.mmu.read64(c.ea(i)) : c.mmu.read32(c.ea(i)) & 0xFFFFFFFFL;
        long v = c.xmm[i.rm * 2];
        return dbl ? v : v & 0xFFFFFFFFL;
    }

    static long fromInt(SoftFloat sf, long v, Fmt f, int rc) {
        if (v == 0) return 0;
        BigInteger m = BigInteger.valueOf(v).abs();
        return sf.round(v < 0, m, 0, false, f, rc);
    }

    /** Float or double to a 32/64-bit integer; NaN and out-of-range give the integer indefinite. */
    static long toInt(Cpu c, SoftFloat sf, long v, Fmt f, int bits, int rc) {
        v = SseFloat.daz(c, v, f);
        int cls = classify(v, f);
        long indefinite = bits == 64 ? Long.MIN_VALUE : 0x80000000L;
        if (cls >= INF) {
            sf.flags |= IE;
            return indefinite;
        }
        double x = SseFloat.toDouble(v, f);
        double r = switch (rc) {
            case RC_NEAREST -> Math.rint(x);
            case RC_DOWN -> Math.floor(x);
            case RC_UP -> Math.ceil(x);
            default -> x < 0 ? Math.ceil(x) : Math.floor(x);
        };
        boolean inRange = bits == 64 ? r >= -0x1p63 && r < 0x1p63 : r >= -0x1p31 && r <= 0x1p31 - 1;
        if (!inRange) {
            sf.flags |= IE;
            return indefinite;
        }
        if (r != x) sf.flags |= PE;
        long n = (long) r;
        return bits == 64 ? n : n & 0xFFFFFFFFL;
    }

    static long f2d(Cpu c, SoftFloat sf, long v) {
        v = SseFloat.daz(c, v, F32);
        int cls = classify32((int) v);
        if (cls == SNAN || cls == QNAN) {
            if (cls == SNAN) sf.flags |= IE;
            long sign = (v & 0x80000000L) << 32;
            return sign | 0x7FF8000000000000L | ((v & 0x3FFFFFL) << 29);
        }
        if (cls == DENORMAL) sf.flags |= DE;
        return Double.doubleToRawLongBits(Float.intBitsToFloat((int) v));
    }

    static long d2f(Cpu c, SoftFloat sf, long v, int rc) {
        v = SseFloat.daz(c, v, F64);
        int cls = classify64(v);
        boolean neg = v < 0;
        switch (cls) {
            case SNAN, QNAN -> {
                if (cls == SNAN) sf.flags |= IE;
                return (neg ? 0x80000000L : 0) | 0x7FC00000L | ((v >>> 29) & 0x3FFFFFL);
            }
            case INF -> { return inf(neg, F32); }
            case ZERO -> { return zero(neg, F32); }
            case DENORMAL -> sf.flags |= DE;
            default -> { }
        }
        Val val = new Val();
        unpack(v, F64, val);
        return sf.round(neg, BigInteger.valueOf(val.mant), val.exp, false, F32, rc);
    }
}
