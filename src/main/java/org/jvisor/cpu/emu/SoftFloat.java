package org.jvisor.cpu.emu;

import java.math.BigInteger;

/**
 * Exact IEEE-754 arithmetic with x86 rounding and exception flags, for the cases the JVM's
 * own float arithmetic cannot cover: directed rounding, denormals, flush-to-zero, exception
 * flags, and the x87's 64-bit significand. Values are unpacked to sign * mant * 2^exp,
 * computed exactly with BigInteger, and rounded once. One instance per CPU; not thread-safe.
 */
final class SoftFloat {
    // MXCSR / x87 status flag bits, in the same positions for both.
    static final int IE = 1, DE = 2, ZE = 4, OE = 8, UE = 16, PE = 32;
    static final int RC_NEAREST = 0, RC_DOWN = 1, RC_UP = 2, RC_ZERO = 3;

    /** A binary format: significand bits (with the leading one), exponent range, packing. */
    record Fmt(int p, int emin, int emax, int kind) {}

    static final int K32 = 0, K64 = 1, K80 = 2;
    static final Fmt F32 = new Fmt(24, -126, 127, K32);
    static final Fmt F64 = new Fmt(53, -1022, 1023, K64);
    static final Fmt F80 = new Fmt(64, -16382, 16383, K80);

    /** Accumulated exception flags since the caller last cleared them. */
    int flags;
    /** High 16 bits (sign and exponent) of the last packed 80-bit result. */
    int hi80;
    boolean ftz;
    /** Set by the fast paths: the last result was inexact. */
    boolean fastInexact;
    /** The last round() increased the magnitude (the x87 reports this in C1). */
    boolean roundedUp;
    /** An operand of the current operation was denormal; DE is reported unless #I or #Z wins. */
    boolean denormalOperand;

    /** Reports DE for a denormal operand unless the operation raised invalid or divide-by-zero. */
    void settleDenormal(int flagsBefore) {
        if (denormalOperand && (flags & (IE | ZE)) == 0) flags |= DE;
        flags |= flagsBefore;
        denormalOperand = false;
    }

    // ---- unpacked operand (from unpack) ----
    static final int ZERO = 0, DENORMAL = 1, NORMAL = 2, INF = 3, QNAN = 4, SNAN = 5;

    /** Unpacked finite value: neg, significand, exponent of its lowest bit. */
    static final class Val {
        int cls;
        boolean neg;
        long mant;
        int exp;
    }

    static int classify(long bits, Fmt f) {
        return switch (f.kind()) {
            case K32 -> classify32((int) bits);
            case K64 -> classify64(bits);
            default -> throw new IllegalArgumentException();
        };
    }

    static int classify32(int b) {
        int e = (b >>> 23) & 0xFF, m = b & 0x7FFFFF;
        if (e == 0) return m == 0 ? ZERO : DENORMAL;
        if (e == 0xFF) return m == 0 ? INF : (m & 0x400000) != 0 ? QNAN : SNAN;
        return NORMAL;
    }

    static int classify64(long b) {
        int e = (int) ((b >>> 52) & 0x7FF);
        long m = b & 0xFFFFFFFFFFFFFL;
        if (e == 0) return m == 0 ? ZERO : DENORMAL;
        if (e == 0x7FF) return m == 0 ? INF : (m & 0x8000000000000L) != 0 ? QNAN : SNAN;
        return NORMAL;
    }

    static void unpack(long bits, Fmt f, Val v) {
        if (f.kind() == K32) {
            int b = (int) bits;
            v.cls = classify32(b);
            v.neg = b < 0;
            int e = (b >>> 23) & 0xFF;
            v.mant = b & 0x7FFFFF;
            if (e != 0) v.mant |= 0x800000;
            v.exp = (e == 0 ? 1 : e) - 127 - 23;
        } else {
            v.cls = classify64(bits);
            v.neg = bits < 0;
            int e = (int) ((bits >>> 52) & 0x7FF);
            v.mant = bits & 0xFFFFFFFFFFFFFL;
            if (e != 0) v.mant |= 1L << 52;
            v.exp = (e == 0 ? 1 : e) - 1023 - 52;
        }
    }

    /** Unpacks an 80-bit value given as sign/exponent word and 64-bit significand. */
    static void unpack80(int se, long m, Val v) {
        int e = se & 0x7FFF;
        v.neg = (se & 0x8000) != 0;
        v.mant = m;
        v.exp = (e == 0 ? 1 : e) - 16383 - 63;
        if (e == 0x7FFF) {
            long frac = m & Long.MAX_VALUE;
            v.cls = frac == 0 ? INF : (m & 0x4000000000000000L) != 0 ? QNAN : SNAN;
        } else if (e == 0) {
            v.cls = m == 0 ? ZERO : DENORMAL;
        } else {
            v.cls = m < 0 ? NORMAL : SNAN; // an unnormal is invalid on today's x87
        }
    }

    static long defaultNaN(Fmt f) {
        return f.kind() == K32 ? 0xFFC00000L : 0xFFF8000000000000L;
    }

    static long quiet(long bits, Fmt f) {
        return f.kind() == K32 ? (bits | 0x400000L) & 0xFFFFFFFFL : bits | 0x8000000000000L;
    }

    static long inf(boolean neg, Fmt f) {
        if (f.kind() == K32) return (neg ? 0x80000000L : 0) | 0x7F800000L;
        return (neg ? Long.MIN_VALUE : 0) | 0x7FF0000000000000L;
    }

    static long zero(boolean neg, Fmt f) {
        if (f.kind() == K32) return neg ? 0x80000000L : 0;
        return neg ? Long.MIN_VALUE : 0;
    }

    /**
     * Rounds sign * (mant * 2^exp, plus a little more when {@code sticky}) to format f,
     * setting PE, UE, OE as x86 does (tininess after rounding). For K80 the result's
     * significand is returned and its sign/exponent left in {@link #hi80}.
     */
    long round(boolean neg, BigInteger mant, int exp, boolean sticky, Fmt f, int rc) {
        roundedUp = false;
        if (mant.signum() == 0) {
            if (!sticky) return pack(neg, 0, 0, f, true);
            // Only an infinitely small remainder: rounds as the tiniest value does.
            mant = BigInteger.ONE;
            exp = f.emin() - f.p() - 8;
        }
        int len = mant.bitLength();
        int e = exp + len - 1; // exponent of the leading bit
        // 1. Round with unbounded exponent to p bits, to decide tininess (x86 detects it after rounding).
        int eu = e;
        int dropU = len - f.p();
        if (dropU > 0 && roundBits(neg, mant, dropU, sticky, rc).bitLength() > f.p()) eu++;
        boolean tiny = eu < f.emin();
        // 2. Round for real: the lowest kept bit is max(e - p + 1, emin - p + 1).
        int lowest = Math.max(e - f.p() + 1, f.emin() - f.p() + 1);
        int drop = lowest - exp;
        BigInteger q;
        boolean inexact;
        if (drop > 0) {
            inexact = sticky || mant.getLowestSetBit() < drop;
            q = roundBits(neg, mant, drop, sticky, rc);
            roundedUp = !q.equals(mant.shiftRight(drop));
        } else {
            inexact = sticky;
            q = mant.shiftLeft(-drop);
        }
        int qe = lowest; // q * 2^lowest
        if (tiny && inexact) flags |= UE;
        if (inexact) flags |= PE;
        if (tiny && ftz && f.kind() != K80) {
            flags |= UE | PE;
            return pack(neg, 0, 0, f, true);
        }
        if (q.bitLength() > f.p()) { // carried into a new bit
            q = q.shiftRight(1);
            qe++;
        }
        int top = qe + f.p() - 1;
        if (q.bitLength() == f.p() && top > f.emax()) {
            flags |= OE | PE;
            boolean toInf = rc == RC_NEAREST || (rc == RC_UP && !neg) || (rc == RC_DOWN && neg);
            roundedUp = toInf;
            return toInf ? pack(neg, f.emax() + 1, 0, f, false) : pack(neg, f.emax(), maxSig(f), f, false);
        }
        long m = q.longValue();
        boolean normal = q.bitLength() == f.p();
        return pack(neg, normal ? top : f.emin() - 1, m, f, false);
    }

    private static long maxSig(Fmt f) {
        return f.p() == 64 ? -1L : (1L << f.p()) - 1;
    }

    /** Drops {@code drop} low bits of mant, rounding the magnitude per rc. */
    private static BigInteger roundBits(boolean neg, BigInteger mant, int drop, boolean sticky, int rc) {
        BigInteger q = mant.shiftRight(drop);
        boolean restNonZero = sticky || mant.getLowestSetBit() < drop;
        if (!restNonZero) return q;
        boolean up = switch (rc) {
            case RC_NEAREST -> {
                boolean half = mant.testBit(drop - 1);
                boolean below = sticky || (drop >= 2 && mant.getLowestSetBit() < drop - 1);
                yield half && (below || q.testBit(0));
            }
            case RC_DOWN -> neg;
            case RC_UP -> !neg;
            default -> false;
        };
        return up ? q.add(BigInteger.ONE) : q;
    }

    /** Packs sign, unbiased exponent of the leading bit (emin-1 for denormals), significand. */
    private long pack(boolean neg, int e, long m, Fmt f, boolean isZero) {
        switch (f.kind()) {
            case K32 -> {
                if (isZero) return neg ? 0x80000000L : 0;
                int be = e + 127;
                return ((neg ? 0x80000000L : 0) | ((long) be << 23) | (m & 0x7FFFFF)) & 0xFFFFFFFFL;
            }
            case K64 -> {
                if (isZero) return neg ? Long.MIN_VALUE : 0;
                long be = e + 1023;
                return (neg ? Long.MIN_VALUE : 0) | (be << 52) | (m & 0xFFFFFFFFFFFFFL);
            }
            default -> {
                // 80-bit: explicit integer bit; reduced precisions are left-aligned in 64 bits.
                int sign = neg ? 0x8000 : 0;
                if (isZero) { hi80 = sign; return 0; }
                if (e > f.emax()) { hi80 = sign | 0x7FFF; return Long.MIN_VALUE; }
                hi80 = sign | (e + 16383);
                return m << (64 - f.p());
            }
        }
    }

    // ---- exact arithmetic on unpacked finite values ----

    static BigInteger big(long unsignedMant) {
        BigInteger b = BigInteger.valueOf(unsignedMant & Long.MAX_VALUE);
        return unsignedMant < 0 ? b.setBit(63) : b;
    }

    /** a + b (b already negated for subtraction), both finite. */
    long add(Val a, Val b, Fmt f, int rc) {
        int e = Math.min(a.exp, b.exp);
        BigInteger x = big(a.mant).shiftLeft(a.exp - e), y = big(b.mant).shiftLeft(b.exp - e);
        if (a.neg) x = x.negate();
        if (b.neg) y = y.negate();
        BigInteger s = x.add(y);
        if (s.signum() == 0) {
            // Exact zero: -0 when both are -0, or when rounding down; +0 otherwise.
            boolean neg;
            if (a.mant == 0 && b.mant == 0) neg = (a.neg && b.neg) || (a.neg != b.neg && rc == RC_DOWN);
            else neg = rc == RC_DOWN;
            return round(neg, BigInteger.ZERO, 0, false, f, rc);
        }
        return round(s.signum() < 0, s.abs(), e, false, f, rc);
    }

    long mul(Val a, Val b, Fmt f, int rc) {
        return round(a.neg != b.neg, big(a.mant).multiply(big(b.mant)), a.exp + b.exp, false, f, rc);
    }

    long div(Val a, Val b, Fmt f, int rc) {
        // Enough quotient bits for p + guard bits whatever the operands' lengths.
        int shift = f.p() + 3 + 64;
        BigInteger[] qr = big(a.mant).shiftLeft(shift).divideAndRemainder(big(b.mant));
        return round(a.neg != b.neg, qr[0], a.exp - b.exp - shift, qr[1].signum() != 0, f, rc);
    }

    long sqrt(Val a, Fmt f, int rc) {
        BigInteger m = big(a.mant);
        int e = a.exp;
        int shift = 2 * (f.p() + 3) + 2 * 64;
        if (((e - shift) & 1) != 0) shift++;
        BigInteger n = m.shiftLeft(shift);
        BigInteger r = n.sqrt();
        boolean sticky = r.multiply(r).compareTo(n) != 0;
        return round(false, r, (e - shift) / 2, sticky, f, rc);
    }
}
