package org.jvisor.cpu.emu;

import static org.jvisor.cpu.emu.SoftFloat.*;

import java.math.BigInteger;
import org.jvisor.cpu.Vectors;

/**
 * The x87 FPU: eight 80-bit registers as a stack, control/status/tag words, and the
 * instructions glibc and busybox use. Arithmetic is exact through {@link SoftFloat} with the
 * control word's precision and rounding; exceptions are recorded as masked (unmasked ones
 * set ES and are reported at the next waiting instruction, which this model treats as masked).
 */
public final class X87 {
    public final long[] mant = new long[8]; // physical registers: significand
    public final int[] se = new int[8];     // physical registers: sign and exponent
    public int top;
    public int fcw = 0x37F;
    public int fsw;                          // without TOP (bits 11-13), which lives in top
    public int tagWord = 0xFFFF;             // 2 bits per physical register, 3 = empty

    static final int C0 = 0x100, C1 = 0x200, C2 = 0x400, C3 = 0x4000, SF = 0x40, ES = 0x80;
    static final long INDEF_MANT = 0xC000000000000000L;
    static final int INDEF_SE = 0xFFFF;

    private final SoftFloat sf = new SoftFloat();
    private final Val va = new Val(), vb = new Val();

    public void reset() {
        fcw = 0x37F;
        fsw = 0;
        top = 0;
        tagWord = 0xFFFF;
    }

    public int statusWord() {
        return (fsw & ~0x3800) | (top << 11);
    }

    int phys(int i) {
        return (top + i) & 7;
    }

    boolean empty(int i) {
        return ((tagWord >>> (2 * phys(i))) & 3) == 3;
    }

    private void setTag(int p, boolean isEmpty) {
        int t;
        if (isEmpty) t = 3;
        else {
            int e = se[p] & 0x7FFF;
            t = e == 0x7FFF ? 2 : e == 0 ? (mant[p] == 0 ? 1 : 2) : (mant[p] < 0 ? 0 : 2);
        }
        tagWord = (tagWord & ~(3 << (2 * p))) | t << (2 * p);
    }

    /** Recomputes full tags from an abridged tag (FXRSTOR). */
    void setAbridgedTag(int abridged) {
        for (int p = 0; p < 8; p++) setTag(p, (abridged & (1 << p)) == 0);
    }

    int abridgedTag() {
        int r = 0;
        for (int p = 0; p < 8; p++) if (((tagWord >>> (2 * p)) & 3) != 3) r |= 1 << p;
        return r;
    }

    private void set(int i, int s, long m) {
        int p = phys(i);
        se[p] = s;
        mant[p] = m;
        setTag(p, false);
    }

    /** Pushes a value; on stack overflow pushes the indefinite NaN. */
    private void push(int s, long m) {
        top = (top - 1) & 7;
        if (!empty(0)) {
            sf.denormalOperand = false;
            fsw |= IE | SF | C1;
            s = INDEF_SE;
            m = INDEF_MANT;
        } else {
            fsw &= ~C1;
        }
        set(0, s, m);
    }

    private void pop() {
        setTag(phys(0), true);
        top = (top + 1) & 7;
    }

    /** Stack underflow check for reading ST(i): flags it and returns true. */
    private boolean underflow(int i) {
        if (!empty(i)) return false;
        fsw = (fsw | IE | SF) & ~C1;
        return true;
    }

    private Fmt precision() {
        return switch ((fcw >>> 8) & 3) {
            case 0 -> new Fmt(24, -16382, 16383, K80);
            case 2 -> new Fmt(53, -16382, 16383, K80);
            default -> F80;
        };
    }

    private int rc() {
        return (fcw >>> 10) & 3;
    }

    private void begin() {
        sf.flags = 0;
        sf.ftz = false;
        sf.denormalOperand = false;
    }

    private void end() {
        fsw |= sf.flags;
        if ((sf.flags & ~fcw & 0x3F) != 0) fsw |= ES;
    }

    void exec(Cpu c, Insn i) {
        int opc = i.aux >>> 3, reg = i.aux & 7;
        begin();
        if (i.mem) memory(c, i, opc, reg);
        else register(c, i, opc, reg, i.rm & 7);
        end();
    }

    // =========================== memory forms ===========================

    private void memory(Cpu c, Insn i, int opc, int reg) {
        long a = c.ea(i);
        switch (opc) {
            case 0 -> arith(reg, 0, fromF32(c.read(a, 4)), true);
            case 2 -> arith(reg, 0, fromInt(Cpu.sext(c.read(a, 4), 4)), true);
            case 4 -> arith(reg, 0, fromF64(c.read(a, 8)), true);
            case 6 -> arith(reg, 0, fromInt(Cpu.sext(c.read(a, 2), 2)), true);
            case 1 -> { switch (reg) {
                case 0 -> { long m = fromF32(c.read(a, 4)); push(tmpSe, quietOnLoad(tmpSe, m)); sf.settleDenormal(0); }
                case 2, 3 -> { c.write(a, 4, storeCheck(c, a, 4) ? toFloat(F32) : 0xFFC00000L); if (reg == 3) pop(); }
                case 4 -> loadEnv(c, a, i.sz == 2);
                case 5 -> fcw = (int) c.read(a, 2) | 0x40;
                case 6 -> storeEnv(c, a, i.sz == 2);
                case 7 -> c.write(a, 2, fcw);
                default -> throw c.fault(Vectors.UD);
            } }
            case 3 -> { switch (reg) {
                case 0 -> { long m = fromInt(Cpu.sext(c.read(a, 4), 4)); push(tmpSe, m); }
                case 1, 2, 3 -> { c.write(a, 4, storeCheck(c, a, 4) ? toInt(32, reg == 1) : 0x80000000L); if (reg != 2) pop(); }
                case 5 -> { long m = c.read(a, 8); int s = (int) c.read(a + 8, 2); push(s, m); }
                case 7 -> {
                    boolean ok = storeCheck(c, a, 10);
                    fsw &= ~C1;
                    c.write(a, 8, ok ? mant[phys(0)] : INDEF_MANT);
                    c.write(a + 8, 2, ok ? se[phys(0)] : INDEF_SE);
                    pop();
                }
                default -> throw c.fault(Vectors.UD);
            } }
            case 5 -> { switch (reg) {
                case 0 -> { long m = fromF64(c.read(a, 8)); push(tmpSe, quietOnLoad(tmpSe, m)); sf.settleDenormal(0); }
                case 1 -> { c.write(a, 8, storeCheck(c, a, 8) ? toInt(64, true) : Long.MIN_VALUE); pop(); }
                case 2, 3 -> { c.write(a, 8, storeCheck(c, a, 8) ? toFloat(F64) : 0xFFF8000000000000L); if (reg == 3) pop(); }
                case 4 -> { loadEnv(c, a, i.sz == 2); loadRegs(c, a + (i.sz == 2 ? 14 : 28)); }
                case 6 -> { storeEnv(c, a, i.sz == 2); storeRegs(c, a + (i.sz == 2 ? 14 : 28)); reset(); }
                case 7 -> c.write(a, 2, statusWord());
                default -> throw c.fault(Vectors.UD);
            } }
            default -> { switch (reg) { // 7 (DF)
                case 0 -> { long m = fromInt(Cpu.sext(c.read(a, 2), 2)); push(tmpSe, m); }
                case 1, 2, 3 -> { c.write(a, 2, storeCheck(c, a, 2) ? toInt(16, reg == 1) : 0x8000); if (reg != 2) pop(); }
                case 5 -> { long m = fromInt(c.read(a, 8)); push(tmpSe, m); }
                case 7 -> { c.write(a, 8, storeCheck(c, a, 8) ? toInt(64, false) : Long.MIN_VALUE); pop(); }
                default -> throw c.fault(Vectors.UD); // FBLD/FBSTP: not implemented
            } }
        }
    }

    /**
     * Before a store from ST(0): checks the destination is writable, and flags a stack underflow
     * when ST(0) is empty; the caller then stores the indefinite value instead (the register is untouched).
     */
    private boolean storeCheck(Cpu c, long a, int len) {
        c.mmu.probeWrite(a, len);
        return !underflow(0);
    }

    /** Loading an SNaN raises #I and loads it quieted. */
    private long quietOnLoad(int s, long m) {
        if ((s & 0x7FFF) == 0x7FFF && m != Long.MIN_VALUE && (m & 0x4000000000000000L) == 0) {
            sf.flags |= IE;
            return m | INDEF_MANT;
        }
        return m;
    }

    // Conversions into 80-bit: the significand is returned, sign/exponent left in tmpSe.
    private int tmpSe;

    private long fromF32(long bits) {
        int b = (int) bits;
        int cls = classify32(b);
        int sign = b < 0 ? 0x8000 : 0;
        int e = (b >>> 23) & 0xFF;
        long m = (long) (b & 0x7FFFFF) << 40;
        switch (cls) {
            case ZERO -> { tmpSe = sign; return 0; }
            case INF -> { tmpSe = sign | 0x7FFF; return Long.MIN_VALUE; }
            case QNAN, SNAN -> {
                tmpSe = sign | 0x7FFF;
                return Long.MIN_VALUE | m;
            }
            case DENORMAL -> {
                sf.denormalOperand = true;
                int shift = Long.numberOfLeadingZeros(m);
                tmpSe = sign | (-126 + 16383 - shift);
                return m << shift;
            }
            default -> { tmpSe = sign | (e - 127 + 16383); return Long.MIN_VALUE | m; }
        }
    }

    private long fromF64(long b) {
        int cls = classify64(b);
        int sign = b < 0 ? 0x8000 : 0;
        int e = (int) ((b >>> 52) & 0x7FF);
        long m = (b & 0xFFFFFFFFFFFFFL) << 11;
        switch (cls) {
            case ZERO -> { tmpSe = sign; return 0; }
            case INF -> { tmpSe = sign | 0x7FFF; return Long.MIN_VALUE; }
            case QNAN, SNAN -> {
                tmpSe = sign | 0x7FFF;
                return Long.MIN_VALUE | m;
            }
            case DENORMAL -> {
                sf.denormalOperand = true;
                int shift = Long.numberOfLeadingZeros(m);
                tmpSe = sign | (-1022 + 16383 - shift);
                return m << shift;
            }
            default -> { tmpSe = sign | (e - 1023 + 16383); return Long.MIN_VALUE | m; }
        }
    }

    private long fromInt(long v) {
        if (v == 0) { tmpSe = 0; return 0; }
        int sign = v < 0 ? 0x8000 : 0;
        long m = v < 0 ? -v : v; // Long.MIN_VALUE stays itself: 2^63 as unsigned
        int shift = Long.numberOfLeadingZeros(m);
        tmpSe = sign | (63 - shift + 16383);
        return m << shift;
    }

    /** ST(0) rounded to a float or double by RC (not PC). */
    private long toFloat(Fmt f) {
        fsw &= ~C1;
        int p = phys(0);
        if (unsupported(se[p], mant[p])) {
            sf.flags |= IE;
            return f.kind() == K32 ? 0xFFC00000L : 0xFFF8000000000000L;
        }
        unpack80(se[p], mant[p], va);
        switch (va.cls) {
            case ZERO -> { return zero(va.neg, f); }
            case INF -> { return inf(va.neg, f); }
            case QNAN, SNAN -> {
                if (va.cls == SNAN) sf.flags |= IE;
                long frac = (mant[p] | INDEF_MANT) & Long.MAX_VALUE;
                if (f.kind() == K32) return (va.neg ? 0x80000000L : 0) | 0x7F800000L | (frac >>> 40);
                return (va.neg ? Long.MIN_VALUE : 0) | 0x7FF0000000000000L | (frac >>> 11);
            }
            default -> { } // a denormal source is not reported (#D) by a store
        }
        long r = sf.round(va.neg, big(va.mant), va.exp, false, f, rc());
        if (sf.roundedUp) fsw |= C1;
        return r;
    }

    /** ST(0) to a 16/32/64-bit integer, rounded by RC or truncated; invalid gives the indefinite. */
    private long toInt(int bits, boolean truncate) {
        fsw &= ~C1;
        int p = phys(0);
        if (unsupported(se[p], mant[p])) {
            sf.flags |= IE;
            return bits == 64 ? Long.MIN_VALUE : (1L << (bits - 1));
        }
        unpack80(se[p], mant[p], va);
        long indefinite = 1L << (bits - 1);
        long mask = bits == 64 ? -1L : (1L << bits) - 1;
        if (va.cls >= INF) { sf.flags |= IE; return indefinite & mask; }
        if (va.cls == ZERO) return 0;
        BigInteger m = big(va.mant);
        BigInteger q;
        boolean inexact;
        if (va.exp >= 0) {
            if (va.exp > 64) { sf.flags |= IE; return indefinite & mask; }
            q = m.shiftLeft(va.exp);
            inexact = false;
        } else {
            int drop = -va.exp;
            q = drop >= 128 ? BigInteger.ZERO : m.shiftRight(drop);
            BigInteger rest = m.subtract(q.shiftLeft(drop));
            inexact = rest.signum() != 0;
            if (inexact) {
                int mode = truncate ? RC_ZERO : rc();
                BigInteger half = BigInteger.ONE.shiftLeft(drop - 1);
                boolean up = switch (mode) {
                    case RC_NEAREST -> rest.compareTo(half) > 0 || (rest.equals(half) && q.testBit(0));
                    case RC_DOWN -> va.neg;
                    case RC_UP -> !va.neg;
                    default -> false;
                };
                if (up) {
                    q = q.add(BigInteger.ONE);
                    fsw |= C1;
                }
            }
        }
        BigInteger limit = BigInteger.ONE.shiftLeft(bits - 1);
        if (va.neg ? q.compareTo(limit) > 0 : q.compareTo(limit) >= 0) {
            sf.flags |= IE;
            fsw &= ~C1;
            return indefinite & mask;
        }
        if (inexact) sf.flags |= PE;
        long v = q.longValue();
        return (va.neg ? -v : v) & mask;
    }

    // =========================== register forms ===========================

    private void register(Cpu c, Insn i, int opc, int reg, int rm) {
        switch (opc) {
            case 0 -> arithReg(reg, 0, rm, false);
            case 4 -> arithReg(reg >= 4 ? reg ^ 1 : reg, rm, 0, false);
            case 6 -> {
                if (reg == 3 && rm == 1) { compare(0, 1, false, 2); }
                else if (reg != 2 && reg != 3) arithReg(reg >= 4 ? reg ^ 1 : reg, rm, 0, true);
                else throw c.fault(Vectors.UD);
            }
            case 1 -> d9(c, reg, rm);
            case 2 -> {
                if (reg < 4) fcmov(c, reg, rm, false);
                else if (reg == 5 && rm == 1) compare(0, 1, true, 2);
                else throw c.fault(Vectors.UD);
            }
            case 3 -> {
                if (reg < 4) fcmov(c, reg, rm, true);
                else if (reg == 4 && rm == 2) fsw &= ~(0xFF | 0x8000); // FNCLEX
                else if (reg == 4 && rm == 3) reset();                 // FNINIT
                else if (reg == 5) compareFlags(c, rm, true, false);   // FUCOMI
                else if (reg == 6) compareFlags(c, rm, false, false);  // FCOMI
                else if (reg == 4) { } // FENI/FDISI/FSETPM: no-ops on a 387+
                else throw c.fault(Vectors.UD);
            }
            case 5 -> {
                switch (reg) {
                    case 0 -> { setTag(phys(rm), true); fsw &= ~C1; } // FFREE
                    case 2, 3 -> {
                        fsw &= ~C1;
                        if (underflow(0)) {
                            set(rm, INDEF_SE, INDEF_MANT);
                        } else {
                            int p = phys(0);
                            set(rm, se[p], mant[p]);
                        }
                        if (reg == 3) pop();
                    }
                    case 4 -> compare(0, rm, true, 0);
                    case 5 -> compare(0, rm, true, 1);
                    default -> throw c.fault(Vectors.UD);
                }
            }
            default -> { // DF
                if (reg == 4 && rm == 0) c.setReg(Reg.AX, 2, statusWord());
                else if (reg == 5) { compareFlags(c, rm, true, true); }
                else if (reg == 6) { compareFlags(c, rm, false, true); }
                else if (reg == 0) { setTag(phys(rm), true); pop(); }
                else throw c.fault(Vectors.UD);
            }
        }
    }

    private void d9(Cpu c, int reg, int rm) {
        switch (reg) {
            case 0 -> { // FLD ST(i)
                if (underflow(rm)) {
                    top = (top - 1) & 7;
                    set(0, INDEF_SE, INDEF_MANT);
                    return;
                }
                int p = phys(rm);
                push(se[p], mant[p]);
            }
            case 1 -> { // FXCH
                if (empty(0) || empty(rm)) {
                    underflow(0);
                    underflow(rm);
                    if (empty(0)) set(0, INDEF_SE, INDEF_MANT);
                    if (empty(rm)) set(rm, INDEF_SE, INDEF_MANT);
                }
                int p0 = phys(0), pi = phys(rm);
                int s = se[p0];
                long m = mant[p0];
                se[p0] = se[pi];
                mant[p0] = mant[pi];
                se[pi] = s;
                mant[pi] = m;
                setTag(p0, false);
                setTag(pi, false);
                fsw &= ~C1;
            }
            case 2 -> { if (rm != 0) throw c.fault(Vectors.UD); } // FNOP
            case 4 -> {
                switch (rm) {
                    case 0 -> unary(0); // FCHS
                    case 1 -> unary(1); // FABS
                    case 4 -> { if (!underflow(0)) { tmpSe = 0; compareWith(0, 0, 0L, false, 0); } else fsw |= C0 | C2 | C3; } // FTST
                    case 5 -> fxam();
                    default -> throw c.fault(Vectors.UD);
                }
            }
            case 5 -> {
                switch (rm) {
                    case 0 -> push(0x3FFF, Long.MIN_VALUE);              // FLD1
                    case 1 -> constant(0x4000, 0xD49A784BCD1B8AFEL, false); // FLDL2T
                    case 2 -> constant(0x3FFF, 0xB8AA3B295C17F0BBL, true);  // FLDL2E
                    case 3 -> constant(0x4000, 0xC90FDAA22168C234L, true);  // FLDPI
                    case 4 -> constant(0x3FFD, 0x9A209A84FBCFF798L, true);  // FLDLG2
                    case 5 -> constant(0x3FFE, 0xB17217F7D1CF79ABL, true);  // FLDLN2
                    case 6 -> push(0, 0);                                // FLDZ
                    default -> throw c.fault(Vectors.UD);
                }
            }
            case 6 -> {
                switch (rm) {
                    case 6 -> { top = (top - 1) & 7; fsw &= ~C1; } // FDECSTP
                    case 7 -> { top = (top + 1) & 7; fsw &= ~C1; } // FINCSTP
                    case 4 -> fxtract();
                    case 5 -> fprem(true);
                    default -> transcendental(reg, rm);
                }
            }
            case 7 -> {
                switch (rm) {
                    case 0 -> fprem(false);
                    case 2 -> sqrt();
                    case 4 -> frndint();
                    case 5 -> fscale();
                    default -> transcendental(reg, rm);
                }
            }
            default -> throw c.fault(Vectors.UD);
        }
    }

    /** Pushes a constant given truncated to 64 bits; it rounds up for RC=up, and for nearest when asked. */
    private void constant(int se, long truncated, boolean nearestRoundsUp) {
        int rc = rc();
        boolean up = rc == RC_UP || (rc == RC_NEAREST && nearestRoundsUp);
        push(se, up ? truncated + 1 : truncated);
    }

    private void unary(int kind) {
        if (underflow(0)) { set(0, INDEF_SE, INDEF_MANT); return; }
        int p = phys(0);
        se[p] = kind == 0 ? se[p] ^ 0x8000 : se[p] & 0x7FFF;
        fsw &= ~C1;
    }

    private void fxam() {
        int p = phys(0);
        int s = se[p];
        int cc;
        if (empty(0)) cc = C3 | C0;
        else if (unsupported(s, mant[p])) cc = 0;
        else {
            unpack80(s, mant[p], va);
            cc = switch (va.cls) {
                case ZERO -> C3;
                case DENORMAL -> C3 | C2;
                case INF -> C2 | C0;
                case QNAN, SNAN -> (s & 0x7FFF) == 0x7FFF ? C0 : 0;
                default -> C2;
            };
        }
        fsw = (fsw & ~(C0 | C1 | C2 | C3)) | cc | ((s & 0x8000) != 0 ? C1 : 0);
    }

    // =========================== arithmetic ===========================

    /** ST(0) = ST(0) op operand (operand unpacked from tmpSe and m), kinds as ModRM.reg. */
    private void arith(int kind, int dst, long m, boolean memOperand) {
        int s = tmpSe;
        if (kind == 2 || kind == 3) {
            compareWith(dst, s, m, false, kind == 3 ? 1 : 0);
            return;
        }
        if (underflow(dst)) {
            sf.denormalOperand = false;
            set(dst, INDEF_SE, INDEF_MANT);
            return;
        }
        int p = phys(dst);
        binary(kind, dst, se[p], mant[p], s, m);
    }

    /** dst = dst op src for register operands; pop afterwards if asked. */
    private void arithReg(int kind, int dst, int src, boolean popAfter) {
        if (kind == 2 || kind == 3) {
            compare(dst, src, false, kind == 3 ? 1 : 0);
            return;
        }
        if (underflow(dst) | underflow(src)) {
            set(dst, INDEF_SE, INDEF_MANT);
        } else {
            int pd = phys(dst), ps = phys(src);
            binary(kind, dst, se[pd], mant[pd], se[ps], mant[ps]);
        }
        if (popAfter) pop();
    }

    /** Computes (aS,aM) op (bS,bM) into ST(dst); kind: 0 add, 1 mul, 4 sub, 5 subr, 6 div, 7 divr. */
    private void binary(int kind, int dst, int aS, long aM, int bS, long bM) {
        fsw &= ~C1;
        int before = sf.flags;
        sf.flags = 0;
        binaryOp(kind, dst, aS, aM, bS, bM);
        sf.settleDenormal(before);
    }

    private void binaryOp(int kind, int dst, int aS, long aM, int bS, long bM) {
        if (kind == 5 || kind == 7) {
            int ts = aS; aS = bS; bS = ts;
            long tm = aM; aM = bM; bM = tm;
            kind--;
        }
        if (unsupported(aS, aM) || unsupported(bS, bM)) { invalid(dst); return; }
        unpack80(aS, aM, va);
        unpack80(bS, bM, vb);
        fsw &= ~C1;
        if (va.cls >= QNAN || vb.cls >= QNAN) {
            sf.denormalOperand = false;
            if (va.cls == SNAN || vb.cls == SNAN) sf.flags |= IE;
            setNaN(dst, pickNaN(va.cls, aS, aM, vb.cls, bS, bM), aS, aM, bS, bM);
            return;
        }
        if (va.cls == DENORMAL || vb.cls == DENORMAL) sf.denormalOperand = true;
        boolean na = va.neg, nb = vb.neg;
        switch (kind) {
            case 0, 4 -> {
                boolean nbEff = kind == 4 ? !nb : nb;
                if (va.cls == INF || vb.cls == INF) {
                    if (va.cls == INF && vb.cls == INF && na != nbEff) { invalid(dst); return; }
                    set(dst, ((va.cls == INF ? na : nbEff) ? 0x8000 : 0) | 0x7FFF, Long.MIN_VALUE);
                    return;
                }
                vb.neg = nbEff;
                store(dst, sf.add(va, vb, precision(), rc()));
            }
            case 1 -> {
                if (va.cls == INF || vb.cls == INF) {
                    if (va.cls == ZERO || vb.cls == ZERO) { invalid(dst); return; }
                    set(dst, (na != nb ? 0x8000 : 0) | 0x7FFF, Long.MIN_VALUE);
                    return;
                }
                store(dst, sf.mul(va, vb, precision(), rc()));
            }
            default -> {
                if (va.cls == INF) {
                    if (vb.cls == INF) { invalid(dst); return; }
                    set(dst, (na != nb ? 0x8000 : 0) | 0x7FFF, Long.MIN_VALUE);
                    return;
                }
                if (vb.cls == INF) { set(dst, na != nb ? 0x8000 : 0, 0); return; }
                if (vb.cls == ZERO) {
                    if (va.cls == ZERO) { invalid(dst); return; }
                    sf.flags |= ZE;
                    set(dst, (na != nb ? 0x8000 : 0) | 0x7FFF, Long.MIN_VALUE);
                    return;
                }
                store(dst, sf.div(va, vb, precision(), rc()));
            }
        }
    }

    private void store(int dst, long m) {
        set(dst, sf.hi80, m);
        fsw = (fsw & ~C1) | (sf.roundedUp ? C1 : 0);
    }

    /** Masked #I: the indefinite, which is not a rounded result (C1 = 0). */
    private void invalid(int dst) {
        sf.flags |= IE;
        fsw &= ~C1;
        set(dst, INDEF_SE, INDEF_MANT);
    }

    /** Unnormals, pseudo-NaNs and pseudo-infinities (integer bit clear, exponent nonzero): #I today. */
    static boolean unsupported(int se, long m) {
        int e = se & 0x7FFF;
        return e != 0 && m >= 0;
    }

    /** Which NaN the x87 propagates: a QNaN over an SNaN, else the larger significand, else the first. */
    private static int pickNaN(int ca, int as, long am, int cb, int bs, long bm) {
        boolean an = ca >= QNAN, bn = cb >= QNAN;
        if (!bn) return 0;
        if (!an) return 1;
        if (ca != cb) return ca == QNAN ? 0 : 1;
        long x = am | INDEF_MANT, y = bm | INDEF_MANT;
        if (x == y) return (as & 0x8000) == 0 ? 0 : 1; // equal significands: the positive one
        return Long.compareUnsigned(x, y) > 0 ? 0 : 1;
    }

    /** NaN result: the quieted NaN operand (the larger significand when both are NaNs). */
    private void setNaN(int dst, int which, int aS, long aM, int bS, long bM) {
        if (which == 0) set(dst, aS, aM | INDEF_MANT);
        else set(dst, bS, bM | INDEF_MANT);
    }

    private void sqrt() {
        if (underflow(0)) { set(0, INDEF_SE, INDEF_MANT); return; }
        int p = phys(0);
        if (unsupported(se[p], mant[p])) { invalid(0); return; }
        unpack80(se[p], mant[p], va);
        fsw &= ~C1;
        switch (va.cls) {
            case QNAN, SNAN -> { if (va.cls == SNAN) sf.flags |= IE; set(0, se[p], mant[p] | INDEF_MANT); }
            case ZERO -> { }
            case INF -> { if (va.neg) invalid(0); }
            default -> {
                if (va.neg) { invalid(0); return; }
                if (va.cls == DENORMAL) sf.flags |= DE;
                store(0, sf.sqrt(va, precision(), rc()));
            }
        }
    }

    private void frndint() {
        fsw &= ~C1;
        if (underflow(0)) { set(0, INDEF_SE, INDEF_MANT); return; }
        int p = phys(0);
        if (unsupported(se[p], mant[p])) { invalid(0); return; }
        unpack80(se[p], mant[p], va);
        if (va.cls == SNAN) { sf.flags |= IE; set(0, se[p], mant[p] | INDEF_MANT); return; }
        if (va.cls != NORMAL && va.cls != DENORMAL) return;
        if (va.cls == DENORMAL) sf.flags |= DE;
        if (va.exp >= 0) return;
        long r = toIntegralValue();
        set(0, sf.hi80, r); // C1 was set by the integer rounding
    }

    /** Rounds ST(0) (unpacked in va, exp < 0) to an integer value by RC, as an 80-bit value. */
    private long toIntegralValue() {
        BigInteger m = big(va.mant);
        int drop = -va.exp;
        BigInteger q = drop >= 128 ? BigInteger.ZERO : m.shiftRight(drop);
        BigInteger rest = m.subtract(q.shiftLeft(Math.min(drop, 128)));
        if (rest.signum() != 0) {
            sf.flags |= PE;
            BigInteger half = BigInteger.ONE.shiftLeft(drop - 1);
            boolean up = switch (rc()) {
                case RC_NEAREST -> rest.compareTo(half) > 0 || (rest.equals(half) && q.testBit(0));
                case RC_DOWN -> va.neg;
                case RC_UP -> !va.neg;
                default -> false;
            };
            if (up) q = q.add(BigInteger.ONE);
            fsw = (fsw & ~C1) | (up ? C1 : 0);
        } else {
            fsw &= ~C1;
        }
        int flagsBefore = sf.flags;
        long r = sf.round(va.neg, q, 0, false, F80, RC_ZERO);
        sf.flags = flagsBefore;
        return r;
    }

    private void fscale() {
        fsw &= ~C1;
        if (underflow(0) | underflow(1)) { set(0, INDEF_SE, INDEF_MANT); return; }
        int p0 = phys(0), p1 = phys(1);
        if (unsupported(se[p0], mant[p0]) || unsupported(se[p1], mant[p1])) { invalid(0); return; }
        unpack80(se[p0], mant[p0], va);
        unpack80(se[p1], mant[p1], vb);
        if (va.cls >= QNAN || vb.cls >= QNAN) {
            if (va.cls == SNAN || vb.cls == SNAN) sf.flags |= IE;
            setNaN(0, pickNaN(va.cls, se[p0], mant[p0], vb.cls, se[p1], mant[p1]), se[p0], mant[p0], se[p1], mant[p1]);
            return;
        }
        if (vb.cls == INF && ((va.cls == ZERO && !vb.neg) || (va.cls == INF && vb.neg))) { invalid(0); return; }
        if (va.cls == DENORMAL || vb.cls == DENORMAL) sf.flags |= DE;
        if (va.cls == ZERO || va.cls == INF) return;
        if (vb.cls == INF) {
            if (vb.neg) set(0, se[p0] & 0x8000, 0);
            else set(0, (se[p0] & 0x8000) | 0x7FFF, Long.MIN_VALUE);
            return;
        }
        // Scale by the integer part of ST(1), truncated, clamped far past any exponent range.
        long n = 0;
        if (vb.cls != ZERO && vb.exp > -64) {
            BigInteger m = big(vb.mant);
            BigInteger ip = vb.exp >= 0 ? m.shiftLeft(Math.min(vb.exp, 40)) : m.shiftRight(-vb.exp);
            n = ip.min(BigInteger.valueOf(1 << 20)).longValue();
            if (vb.neg) n = -n;
        }
        store(0, sf.round(va.neg, big(va.mant), (int) (va.exp + n), false, F80, rc())); // PC does not apply to FSCALE
    }

    private void fxtract() {
        if (underflow(0)) { // C1 = 0: underflow
            set(0, INDEF_SE, INDEF_MANT);
            top = (top - 1) & 7;
            set(0, INDEF_SE, INDEF_MANT);
            return;
        }
        if (!empty(7)) { // the push would overflow: C1 = 1
            set(0, INDEF_SE, INDEF_MANT);
            push(INDEF_SE, INDEF_MANT);
            return;
        }
        int p = phys(0);
        int s = se[p];
        long m = mant[p];
        if (unsupported(s, m)) {
            invalid(0);
            push(INDEF_SE, INDEF_MANT);
            return;
        }
        unpack80(s, m, va);
        int sign = s & 0x8000;
        switch (va.cls) {
            case QNAN, SNAN -> {
                if (va.cls == SNAN) sf.flags |= IE;
                set(0, s, m | INDEF_MANT);
                push(s, m | INDEF_MANT);
            }
            case ZERO -> {
                sf.flags |= ZE;
                set(0, 0xFFFF, Long.MIN_VALUE); // exponent -inf
                push(sign, 0);
            }
            case INF -> {
                set(0, 0x7FFF, Long.MIN_VALUE);
                push(s, m);
            }
            default -> {
                if (va.cls == DENORMAL) sf.flags |= DE;
                int shift = Long.numberOfLeadingZeros(m);
                int e = (s & 0x7FFF) - 16383 - shift + (va.cls == DENORMAL ? 1 : 0);
                long em = fromInt(e);
                set(0, tmpSe, em);
                push(sign | 16383, m << shift);
            }
        }
    }

    /** FPREM / FPREM1: partial remainder with the quotient's low bits in C0, C3, C1. */
    private void fprem(boolean ieee) {
        if (underflow(0) | underflow(1)) {
            set(0, INDEF_SE, INDEF_MANT);
            fsw &= ~C2;
            return;
        }
        int p0 = phys(0), p1 = phys(1);
        if (unsupported(se[p0], mant[p0]) || unsupported(se[p1], mant[p1])) {
            invalid(0);
            fsw &= ~(C1 | C2);
            return;
        }
        unpack80(se[p0], mant[p0], va);
        unpack80(se[p1], mant[p1], vb);
        if (va.cls >= QNAN || vb.cls >= QNAN || va.cls == INF || vb.cls == ZERO) {
            if (va.cls >= QNAN || vb.cls >= QNAN) {
                if (va.cls == SNAN || vb.cls == SNAN) sf.flags |= IE;
                setNaN(0, pickNaN(va.cls, se[p0], mant[p0], vb.cls, se[p1], mant[p1]), se[p0], mant[p0], se[p1], mant[p1]);
            }
            else invalid(0);
            fsw &= ~(C1 | C2);
            return;
        }
        if (va.cls == DENORMAL || vb.cls == DENORMAL) sf.flags |= DE;
        if (va.cls == ZERO || vb.cls == INF) {
            // The remainder is ST(0) itself; a pseudo-denormal comes out normalized.
            if (va.cls == DENORMAL) store(0, sf.round(va.neg, big(va.mant), va.exp, false, F80, RC_ZERO));
            fsw &= ~(C0 | C1 | C2 | C3);
            return;
        }
        int expDiff = (va.exp + 63 - Long.numberOfLeadingZeros(va.mant)) - (vb.exp + 63 - Long.numberOfLeadingZeros(vb.mant));
        BigInteger a = big(va.mant), b = big(vb.mant);
        int e = Math.min(va.exp, vb.exp);
        if (expDiff >= 64) {
            // Partial reduction: reduce by b * 2^(expDiff - k) for some k in 32..63 and set C2.
            int k = 32 + (expDiff % 32);
            int scale = expDiff - k;
            BigInteger x = a.shiftLeft(va.exp - e), y = b.shiftLeft(vb.exp - e).shiftLeft(scale);
            BigInteger r = x.mod(y);
            store(0, sf.round(va.neg, r, e, false, F80, RC_ZERO));
            fsw = (fsw & ~(C0 | C1 | C3)) | C2;
            return;
        }
        BigInteger x = a.shiftLeft(va.exp - e), y = b.shiftLeft(vb.exp - e);
        BigInteger[] qr = x.divideAndRemainder(y);
        BigInteger q = qr[0], r = qr[1];
        boolean neg = va.neg;
        if (ieee) {
            BigInteger twice = r.shiftLeft(1);
            int cmp = twice.compareTo(y);
            if (cmp > 0 || (cmp == 0 && q.testBit(0))) {
                q = q.add(BigInteger.ONE);
                r = y.subtract(r);
                neg = !neg;
            }
        }
        int flagsBefore = sf.flags;
        if (r.signum() == 0) store(0, sf.round(va.neg, BigInteger.ZERO, 0, false, F80, RC_ZERO));
        else store(0, sf.round(neg, r, e, false, F80, RC_ZERO));
        sf.flags = flagsBefore;
        long ql = q.longValue();
        fsw = (fsw & ~(C0 | C1 | C2 | C3)) | ((ql & 4) != 0 ? C0 : 0) | ((ql & 2) != 0 ? C3 : 0) | ((ql & 1) != 0 ? C1 : 0);
    }

    private void transcendentalInvalid() {
        invalid(0);
    }

    /** F2XM1, FYL2X, FPTAN, FPATAN, FYL2XP1, FSINCOS, FSIN, FCOS: computed in double precision. */
    private void transcendental(int reg, int rm) {
        if (underflow(0)) { set(0, INDEF_SE, INDEF_MANT); return; }
        double x = toDouble(0);
        int code = reg << 3 | rm;
        switch (code) {
            case 0x30 -> setDouble(0, Math.expm1(x * Math.log(2))); // F2XM1
            case 0x31 -> { double y = toDouble(1); pop(); setDouble(0, y * (Math.log(x) / Math.log(2))); } // FYL2X
            case 0x32 -> { setDouble(0, Math.tan(x)); push(0x3FFF, Long.MIN_VALUE); fsw &= ~C2; } // FPTAN
            case 0x33 -> { double y = toDouble(1); pop(); setDouble(0, Math.atan2(y, x)); } // FPATAN
            case 0x39 -> { double y = toDouble(1); pop(); setDouble(0, y * (Math.log1p(x) / Math.log(2))); } // FYL2XP1
            case 0x3B -> { double cv = Math.cos(x); setDouble(0, Math.sin(x)); push(0, 0); setDouble(0, cv); fsw &= ~C2; } // FSINCOS
            case 0x3E -> { setDouble(0, Math.sin(x)); fsw &= ~C2; }
            case 0x3F -> { setDouble(0, Math.cos(x)); fsw &= ~C2; }
            default -> invalid(0);
        }
        sf.flags |= PE;
    }

    private double toDouble(int i) {
        int p = phys(i);
        long save = sf.flags;
        int savedTop = top;
        top = p; // toFloat reads ST(0)
        long bits = toFloat(F64);
        top = savedTop;
        sf.flags = (int) save;
        return Double.longBitsToDouble(bits);
    }

    private void setDouble(int i, double v) {
        long m = fromF64(Double.doubleToRawLongBits(v));
        set(i, tmpSe, m);
    }

    // =========================== compares ===========================

    /** FCOM/FUCOM family on ST(a), ST(b): sets C3 C2 C0; pops {@code pops} times. */
    private void compare(int a, int b, boolean unordered, int pops) {
        if (underflow(a) | underflow(b)) {
            fsw |= C0 | C2 | C3;
        } else {
            int pa = phys(a), pb = phys(b);
            setCc(cmp(se[pa], mant[pa], se[pb], mant[pb], unordered));
        }
        for (int k = 0; k < pops; k++) pop();
    }

    private void compareWith(int a, int bS, long bM, boolean unordered, int pops) {
        if (underflow(a)) {
            fsw |= C0 | C2 | C3;
        } else {
            int pa = phys(a);
            setCc(cmp(se[pa], mant[pa], bS, bM, unordered));
        }
        for (int k = 0; k < pops; k++) pop();
    }

    /** -1 less, 0 equal, 1 greater, 2 unordered; raises IE as FCOM (any NaN) or FUCOM (SNaN) do. */
    private int cmp(int aS, long aM, int bS, long bM, boolean unordered) {
        if (unsupported(aS, aM) || unsupported(bS, bM)) {
            sf.denormalOperand = false;
            sf.flags |= IE;
            return 2;
        }
        unpack80(aS, aM, va);
        unpack80(bS, bM, vb);
        if (va.cls >= QNAN || vb.cls >= QNAN) {
            sf.denormalOperand = false;
            if (!unordered || va.cls == SNAN || vb.cls == SNAN) sf.flags |= IE;
            return 2;
        }
        if (va.cls == DENORMAL || vb.cls == DENORMAL || sf.denormalOperand) sf.flags |= DE;
        sf.denormalOperand = false;
        return Integer.signum(compareValues());
    }

    private int compareValues() {
        boolean za = va.cls == ZERO, zb = vb.cls == ZERO;
        if (za && zb) return 0;
        int sa = za ? 0 : va.neg ? -1 : 1, sb = zb ? 0 : vb.neg ? -1 : 1;
        if (sa != sb) return Integer.compare(sa, sb);
        int mag;
        if (va.cls == INF || vb.cls == INF) mag = va.cls == vb.cls ? 0 : va.cls == INF ? 1 : -1;
        else {
            int e = Math.min(va.exp, vb.exp);
            mag = big(va.mant).shiftLeft(va.exp - e).compareTo(big(vb.mant).shiftLeft(vb.exp - e));
        }
        return sa < 0 ? -mag : mag;
    }

    private void setCc(int r) {
        int cc = switch (r) {
            case -1 -> C0;
            case 0 -> C3;
            case 1 -> 0;
            default -> C0 | C2 | C3;
        };
        fsw = (fsw & ~(C0 | C1 | C2 | C3)) | cc;
    }

    /** FCOMI/FUCOMI(P): ZF, PF, CF from comparing ST(0) with ST(i). */
    private void compareFlags(Cpu c, int i, boolean unordered, boolean popAfter) {
        int r;
        if (underflow(0) | underflow(i)) r = 2;
        else {
            int p0 = phys(0), pi = phys(i);
            r = cmp(se[p0], mant[p0], se[pi], mant[pi], unordered);
        }
        long fl = switch (r) {
            case -1 -> Flags.CF;
            case 0 -> Flags.ZF;
            case 1 -> 0;
            default -> Flags.ZF | Flags.PF | Flags.CF;
        };
        c.setStatus(Flags.ARITH, fl);
        if (popAfter) pop();
    }

    private void fcmov(Cpu c, int reg, int rm, boolean negate) {
        boolean cond = switch (reg) {
            case 0 -> c.cf();
            case 1 -> c.zf();
            case 2 -> c.cf() || c.zf();
            default -> c.pf();
        };
        if (negate) cond = !cond;
        if (underflow(0) | underflow(rm)) { set(0, INDEF_SE, INDEF_MANT); return; }
        if (cond) {
            int p = phys(rm);
            set(0, se[p], mant[p]);
        }
    }

    // =========================== environment ===========================

    private void storeEnv(Cpu c, long a, boolean small) {
        int w = small ? 2 : 4;
        c.write(a, w, fcw | (small ? 0 : 0xFFFF0000L));
        c.write(a + w, w, statusWord() | (small ? 0 : 0xFFFF0000L));
        c.write(a + 2 * w, w, tagWord | (small ? 0 : 0xFFFF0000L));
        for (int k = 3; k < 7; k++) c.write(a + (long) k * w, w, 0);
        fcw |= 0x3F; // FNSTENV masks all exceptions afterwards
    }

    private void loadEnv(Cpu c, long a, boolean small) {
        int w = small ? 2 : 4;
        fcw = (int) c.read(a, 2) | 0x40;
        int sw = (int) c.read(a + w, 2);
        top = (sw >>> 11) & 7;
        fsw = sw & ~0x3800;
        tagWord = (int) c.read(a + 2L * w, 2);
    }

    private void storeRegs(Cpu c, long a) {
        for (int k = 0; k < 8; k++) {
            int p = phys(k);
            c.write(a + 10L * k, 8, mant[p]);
            c.write(a + 10L * k + 8, 2, se[p]);
        }
    }

    private void loadRegs(Cpu c, long a) {
        for (int k = 0; k < 8; k++) {
            int p = phys(k);
            mant[p] = c.read(a + 10L * k, 8);
            se[p] = (int) c.read(a + 10L * k + 8, 2);
        }
    }
}
