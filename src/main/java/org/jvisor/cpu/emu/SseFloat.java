package org.jvisor.cpu.emu;

import static org.jvisor.cpu.emu.SoftFloat.*;

import org.jvisor.cpu.Vectors;

/**
 * SSE floating-point arithmetic, compares and COMISS/UCOMISS with MXCSR rounding, DAZ, FTZ
 * and exception flags. Common cases run on the JVM's doubles with an exactness check;
 * everything else goes through {@link SoftFloat}.
 */
final class SseFloat {
    static final int ADD = 0, SUB = 1, MUL = 2, DIV = 3, MIN = 4, MAX = 5, SQRT = 6, RSQRT = 7, RCP = 8;
    static final int MXCSR_DAZ = 0x40, MXCSR_FTZ = 0x8000;

    private SseFloat() {}

    static void arith(Cpu c, Insn i) {
        int kind = i.aux >> 2, type = i.aux & 3;
        lanes(c, i, type, kind);
    }

    /** HADDPS/PD, HSUBPS/PD, ADDSUBPS/PD; aux 0-5 as decoded. */
    static void horizontal(Cpu c, Insn i) {
        int type = (i.aux & 1) == 0 ? 0 : 1;
        long[] s = c.xmmSrc(i, true);
        long[] x = c.xmm;
        int d = i.reg * 2;
        Fmt f = type == 0 ? F32 : F64;
        SoftFloat sf = begin(c);
        int n = type == 0 ? 4 : 2;
        long[] a = split(x[d], x[d + 1], n), b = split(s[0], s[1], n), r = new long[n];
        int group = i.aux >> 1; // 0 hadd, 1 hsub, 2 addsub
        for (int k = 0; k < n; k++) {
            if (group == 2) {
                r[k] = lane(c, sf, (k & 1) == 0 ? SUB : ADD, a[k], b[k], f);
            } else {
                long[] src = k < n / 2 ? a : b;
                int p = (k % (n / 2)) * 2;
                r[k] = lane(c, sf, group == 0 ? ADD : SUB, src[p], src[p + 1], f);
            }
        }
        finish(c, sf);
        join(r, x, d);
    }

    private static void lanes(Cpu c, Insn i, int type, int kind) {
        long[] x = c.xmm;
        int d = i.reg * 2;
        boolean dbl = (type & 1) == 1;
        Fmt f = dbl ? F64 : F32;
        SoftFloat sf = begin(c);
        if (type >= 2) {
            long b = i.mem ? (dbl ? c.mmu.read64(c.ea(i)) : c.mmu.read32(c.ea(i)) & 0xFFFFFFFFL)
                    : (dbl ? x[i.rm * 2] : x[i.rm * 2] & 0xFFFFFFFFL);
            long a = dbl ? x[d] : x[d] & 0xFFFFFFFFL;
            long r = lane(c, sf, kind, a, b, f);
            finish(c, sf);
            x[d] = dbl ? r : (x[d] & ~0xFFFFFFFFL) | (r & 0xFFFFFFFFL);
            return;
        }
        long[] s = c.xmmSrc(i, true);
        int n = dbl ? 2 : 4;
        long[] a = split(x[d], x[d + 1], n), b = split(s[0], s[1], n);
        for (int k = 0; k < n; k++) a[k] = lane(c, sf, kind, a[k], b[k], f);
        finish(c, sf);
        join(a, x, d);
    }

    static long[] split(long lo, long hi, int n) {
        if (n == 2) return new long[] {lo, hi};
        return new long[] {lo & 0xFFFFFFFFL, lo >>> 32, hi & 0xFFFFFFFFL, hi >>> 32};
    }

    static void join(long[] v, long[] x, int d) {
        if (v.length == 2) {
            x[d] = v[0];
            x[d + 1] = v[1];
        } else {
            x[d] = (v[0] & 0xFFFFFFFFL) | v[1] << 32;
            x[d + 1] = (v[2] & 0xFFFFFFFFL) | v[3] << 32;
        }
    }

    static SoftFloat begin(Cpu c) {
        SoftFloat sf = c.softFloat;
        sf.flags = 0;
        sf.ftz = (c.mxcsr & MXCSR_FTZ) != 0;
        return sf;
    }

    /** Raises #XM for an unmasked exception (results are then not written), else records the flags. */
    static void finish(Cpu c, SoftFloat sf) {
        int unmasked = sf.flags & ~(c.mxcsr >>> 7) & 0x3F;
        if (unmasked != 0) {
            c.mxcsr |= sf.flags;
            throw c.fault(Vectors.XM);
        }
        c.mxcsr |= sf.flags;
    }

    static long daz(Cpu c, long v, Fmt f) {
        if ((c.mxcsr & MXCSR_DAZ) == 0 || classify(v, f) != DENORMAL) return v;
        return zero(f.kind() == K32 ? (v & 0x80000000L) != 0 : v < 0, f);
    }

    private static boolean isNaN(int cls) {
        return cls >= QNAN;
    }

    /** One lane of an arithmetic op: a is the destination's element, b the source's. */
    static long lane(Cpu c, SoftFloat sf, int kind, long a, long b, Fmt f) {
        int before = sf.flags;
        sf.flags = 0;
        sf.denormalOperand = false;
        long r = laneOp(c, sf, kind, a, b, f);
        sf.settleDenormal(before);
        return r;
    }

    private static long laneOp(Cpu c, SoftFloat sf, int kind, long a, long b, Fmt f) {
        a = daz(c, a, f);
        b = daz(c, b, f);
        boolean unary = kind >= SQRT;
        int ca = unary ? ZERO : classify(a, f), cb = classify(b, f);
        if (kind == MIN || kind == MAX) return minMax(sf, kind, a, b, ca, cb, f);
        if (isNaN(ca) || isNaN(cb)) {
            if (ca == SNAN || cb == SNAN) sf.flags |= IE;
            return isNaN(ca) ? quiet(a, f) : quiet(b, f);
        }
        sf.denormalOperand = ca == DENORMAL || cb == DENORMAL;
        int rc = (c.mxcsr >>> 13) & 3;
        boolean negA = f.kind() == K32 ? (a & 0x80000000L) != 0 : a < 0;
        boolean negB = f.kind() == K32 ? (b & 0x80000000L) != 0 : b < 0;
        switch (kind) {
            case ADD, SUB -> {
                boolean nb = kind == SUB ? !negB : negB;
                if (ca == INF || cb == INF) {
                    if (ca == INF && cb == INF && negA != nb) { sf.flags |= IE; return defaultNaN(f); }
                    return ca == INF ? inf(negA, f) : inf(nb, f);
                }
            }
            case MUL -> {
                if (ca == INF || cb == INF) {
                    if (ca == ZERO || cb == ZERO) { sf.flags |= IE; return defaultNaN(f); }
                    return inf(negA != negB, f);
                }
            }
            case DIV -> {
                if (ca == INF) {
                    if (cb == INF) { sf.flags |= IE; return defaultNaN(f); }
                    return inf(negA != negB, f);
                }
                if (cb == INF) return zero(negA != negB, f);
                if (cb == ZERO) {
                    if (ca == ZERO) { sf.flags |= IE; return defaultNaN(f); }
                    sf.flags |= ZE;
                    return inf(negA != negB, f);
                }
            }
            case SQRT -> {
                if (cb == ZERO) return b;
                if (negB) { sf.flags |= IE; return defaultNaN(f); }
                if (cb == INF) return b;
            }
            case RSQRT, RCP -> { return approx(kind, b, cb, negB, f); }
            default -> throw new IllegalStateException();
        }
        if (rc == RC_NEAREST && ca != DENORMAL && cb != DENORMAL) {
            long r = f.kind() == K64 ? fast64(sf, kind, a, b) : fast32(sf, kind, a, b);
            if (r != NO_FAST) {
                if (sf.fastInexact) sf.flags |= PE;
                return r;
            }
        }
        return slow(sf, kind, a, b, f, rc);
    }

    private static final long NO_FAST = 0x7FF4DEADBEEF0001L; // an SNaN no arithmetic returns

    private static long fast64(SoftFloat sf, int kind, long ab, long bb) {
        double x = Double.longBitsToDouble(ab), y = Double.longBitsToDouble(bb);
        // Error terms of tiny or huge operands could underflow or overflow: leave those to SoftFloat.
        if (!inRange(x, 0x1p-900, 0x1p900) || !inRange(y, 0x1p-900, 0x1p900)) return NO_FAST;
        double r;
        double err;
        switch (kind) {
            case ADD -> { r = x + y; err = twoSumErr(x, y, r); }
            case SUB -> { r = x - y; err = twoSumErr(x, -y, r); }
            case MUL -> { r = x * y; err = Math.fma(x, y, -r); if (r == 0 && x != 0 && y != 0) return NO_FAST; }
            case DIV -> { r = x / y; err = Math.fma(-r, y, x); if (r == 0 && x != 0) return NO_FAST; }
            default -> { r = Math.sqrt(y); err = Math.fma(-r, r, y); }
        }
        double m = Math.abs(r);
        if (m != 0 && (m < 0x1p-960 || m > 0x1p1020)) return NO_FAST;
        sf.fastInexact = err != 0;
        return Double.doubleToRawLongBits(r);
    }

    private static long fast32(SoftFloat sf, int kind, long ab, long bb) {
        double x = Float.intBitsToFloat((int) ab), y = Float.intBitsToFloat((int) bb);
        if (!inRange(x, 0x1p-100, 0x1p100) || !inRange(y, 0x1p-100, 0x1p100)) return NO_FAST;
        double d;
        double err;
        switch (kind) {
            case ADD -> { d = x + y; err = twoSumErr(x, y, d); }
            case SUB -> { d = x - y; err = twoSumErr(x, -y, d); }
            case MUL -> { d = x * y; err = 0; }
            case DIV -> { d = x / y; err = Math.fma(-d, y, x); }
            default -> { d = Math.sqrt(y); err = Math.fma(-d, d, y); }
        }
        float r = (float) d;
        double m = Math.abs(d);
        if (m != 0 && (m < 0x1p-120 || m > 0x1p120)) return NO_FAST;
        if (d == 0 && (kind == MUL || kind == DIV) && x != 0 && (kind == DIV || y != 0)) return NO_FAST;
        sf.fastInexact = err != 0 || r != d;
        return Float.floatToRawIntBits(r) & 0xFFFFFFFFL;
    }

    private static boolean inRange(double v, double lo, double hi) {
        double m = Math.abs(v);
        return m == 0 || (m >= lo && m <= hi);
    }

    private static double twoSumErr(double a, double b, double s) {
        double bb = s - a;
        return (a - (s - bb)) + (b - bb);
    }

    static long slow(SoftFloat sf, int kind, long a, long b, Fmt f, int rc) {
        Val va = new Val(), vb = new Val();
        unpack(a, f, va);
        unpack(b, f, vb);
        return switch (kind) {
            case ADD -> sf.add(va, vb, f, rc);
            case SUB -> { vb.neg = !vb.neg; yield sf.add(va, vb, f, rc); }
            case MUL -> sf.mul(va, vb, f, rc);
            case DIV -> sf.div(va, vb, f, rc);
            default -> sf.sqrt(vb, f, rc);
        };
    }

    private static long minMax(SoftFloat sf, int kind, long a, long b, int ca, int cb, Fmt f) {
        if (isNaN(ca) || isNaN(cb)) {
            sf.flags |= IE;
            return b;
        }
        sf.denormalOperand = ca == DENORMAL || cb == DENORMAL;
        if (ca == ZERO && cb == ZERO) return b;
        double x = toDouble(a, f), y = toDouble(b, f);
        if (kind == MIN) return x < y ? a : b;
        return x > y ? a : b;
    }

    static double toDouble(long v, Fmt f) {
        return f.kind() == K32 ? Float.intBitsToFloat((int) v) : Double.longBitsToDouble(v);
    }

    /** RCPPS/RSQRTPS: approximations (the hardware's are model-specific); exact values truncated to 12 bits. */
    private static long approx(int kind, long b, int cb, boolean neg, Fmt f) {
        float x = Float.intBitsToFloat((int) b);
        float r;
        if (kind == RCP) r = 1f / x;
        else if (neg && cb != ZERO) return defaultNaN(f);
        else r = (float) (1 / Math.sqrt(x));
        int bits = Float.floatToRawIntBits(r);
        if (Float.isFinite(r) && r != 0) bits &= ~0x7FF;
        return bits & 0xFFFFFFFFL;
    }

    // ---- compares ----

    /** CMPPS/PD/SS/SD with predicates 0-7 (EQ LT LE UNORD NEQ NLT NLE ORD). */
    static void compare(Cpu c, Insn i) {
        int type = i.aux;
        boolean dbl = (type & 1) == 1;
        Fmt f = dbl ? F64 : F32;
        int pred = (int) i.imm & 7;
        SoftFloat sf = begin(c);
        long[] x = c.xmm;
        int d = i.reg * 2;
        long ones = dbl ? -1L : 0xFFFFFFFFL;
        if (type >= 2) {
            long b = i.mem ? (dbl ? c.mmu.read64(c.ea(i)) : c.mmu.read32(c.ea(i)) & 0xFFFFFFFFL)
                    : (dbl ? x[i.rm * 2] : x[i.rm * 2] & 0xFFFFFFFFL);
            long a = dbl ? x[d] : x[d] & 0xFFFFFFFFL;
            long r = cmp(c, sf, pred, a, b, f) ? ones : 0;
            finish(c, sf);
            x[d] = dbl ? r : (x[d] & ~0xFFFFFFFFL) | r;
            return;
        }
        long[] s = c.xmmSrc(i, true);
        int n = dbl ? 2 : 4;
        long[] a = split(x[d], x[d + 1], n), b = split(s[0], s[1], n);
        for (int k = 0; k < n; k++) a[k] = cmp(c, sf, pred, a[k], b[k], f) ? ones : 0;
        finish(c, sf);
        join(a, x, d);
    }

    private static boolean cmp(Cpu c, SoftFloat sf, int pred, long a, long b, Fmt f) {
        a = daz(c, a, f);
        b = daz(c, b, f);
        int ca = classify(a, f), cb = classify(b, f);
        boolean unordered = isNaN(ca) || isNaN(cb);
        boolean signaling = pred == 1 || pred == 2 || pred == 5 || pred == 6;
        if (ca == SNAN || cb == SNAN || (unordered && signaling)) sf.flags |= IE;
        if (!unordered && (ca == DENORMAL || cb == DENORMAL)) sf.flags |= DE;
        double x = toDouble(a, f), y = toDouble(b, f);
        return switch (pred) {
            case 0 -> !unordered && x == y;
            case 1 -> !unordered && x < y;
            case 2 -> !unordered && x <= y;
            case 3 -> unordered;
            case 4 -> unordered || x != y;
            case 5 -> unordered || !(x < y);
            case 6 -> unordered || !(x <= y);
            default -> !unordered;
        };
    }

    /** COMISS/COMISD (aux 2, 3) and UCOMISS/UCOMISD (aux 0, 1): ZF, PF, CF; OF, SF, AF cleared. */
    static void comis(Cpu c, Insn i) {
        boolean dbl = (i.aux & 1) == 1, signaling = i.aux >= 2;
        Fmt f = dbl ? F64 : F32;
        long[] x = c.xmm;
        long b = i.mem ? (dbl ? c.mmu.read64(c.ea(i)) : c.mmu.read32(c.ea(i)) & 0xFFFFFFFFL)
                : (dbl ? x[i.rm * 2] : x[i.rm * 2] & 0xFFFFFFFFL);
        long a = dbl ? x[i.reg * 2] : x[i.reg * 2] & 0xFFFFFFFFL;
        SoftFloat sf = begin(c);
        a = daz(c, a, f);
        b = daz(c, b, f);
        int ca = classify(a, f), cb = classify(b, f);
        boolean unordered = isNaN(ca) || isNaN(cb);
        if (ca == SNAN || cb == SNAN || (unordered && signaling)) sf.flags |= IE;
        if (!unordered && (ca == DENORMAL || cb == DENORMAL)) sf.flags |= DE;
        finish(c, sf);
        long fl;
        double xa = toDouble(a, f), xb = toDouble(b, f);
        if (unordered) fl = Flags.ZF | Flags.PF | Flags.CF;
        else if (xa > xb) fl = 0;
        else if (xa < xb) fl = Flags.CF;
        else fl = Flags.ZF;
        c.setStatus(Flags.ARITH, fl);
    }
}
