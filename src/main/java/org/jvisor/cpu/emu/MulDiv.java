package org.jvisor.cpu.emu;

import java.math.BigInteger;
import org.jvisor.cpu.Vectors;

/** MUL, IMUL (one, two and three operands), DIV and IDIV with #DE on zero or overflow. */
final class MulDiv {
    private MulDiv() {}

    static void exec(Cpu c, Insn i) {
        long src = c.rmOp(i, i.sz);
        switch (i.aux) {
            case 0 -> mul(c, i.sz, src);
            case 1 -> imul1(c, i.sz, src);
            case 2 -> div(c, i.sz, src);
            default -> idiv(c, i.sz, src);
        }
    }

    /** CF and OF from the overflow test; SF, ZF, PF from the low half as the host CPUs leave them. */
    static void mulFlags(Cpu c, long lo, int sz, boolean overflow) {
        c.setResultFlags(lo, sz, overflow, overflow);
    }

    private static void mul(Cpu c, int sz, long src) {
        switch (sz) {
            case 1 -> {
                long p = (c.r[0] & 0xFF) * src;
                c.setReg(0, 2, p);
                mulFlags(c, p, 1, (p >>> 8) != 0);
            }
            case 2 -> {
                long p = (c.r[0] & 0xFFFF) * src;
                c.setReg(0, 2, p);
                c.setReg(Reg.DX, 2, p >>> 16);
                mulFlags(c, p, 2, (p >>> 16) != 0);
            }
            case 4 -> {
                long p = (c.r[0] & 0xFFFFFFFFL) * src;
                c.r[0] = p & 0xFFFFFFFFL;
                c.r[Reg.DX] = p >>> 32;
                mulFlags(c, p, 4, (p >>> 32) != 0);
            }
            default -> {
                long a = c.r[0];
                long hi = Math.unsignedMultiplyHigh(a, src);
                long lo = a * src;
                c.r[0] = lo;
                c.r[Reg.DX] = hi;
                mulFlags(c, lo, 8, hi != 0);
            }
        }
    }

    private static void imul1(Cpu c, int sz, long src) {
        long s = Cpu.sext(src, sz);
        switch (sz) {
            case 1 -> {
                long p = (byte) c.r[0] * s;
                c.setReg(0, 2, p);
                mulFlags(c, p, 1, p != (byte) p);
            }
            case 2 -> {
                long p = (short) c.r[0] * s;
                c.setReg(0, 2, p);
                c.setReg(Reg.DX, 2, p >> 16);
                mulFlags(c, p, 2, p != (short) p);
            }
            case 4 -> {
                long p = (int) c.r[0] * s;
                c.r[0] = p & 0xFFFFFFFFL;
                c.r[Reg.DX] = (p >> 32) & 0xFFFFFFFFL;
                mulFlags(c, p, 4, p != (int) p);
            }
            default -> {
                long a = c.r[0];
                long hi = Math.multiplyHigh(a, s);
                long lo = a * s;
                c.r[0] = lo;
                c.r[Reg.DX] = hi;
                mulFlags(c, lo, 8, hi != (lo >> 63));
            }
        }
    }

    static void imul2(Cpu c, Insn i, long src) {
        long a = Cpu.sext(c.getReg(i.reg, i.sz), i.sz);
        c.setReg(i.reg, i.sz, imul(c, a, Cpu.sext(src, i.sz), i.sz));
    }

    static void imul3(Cpu c, Insn i) {
        long a = Cpu.sext(c.rmOp(i, i.sz), i.sz);
        c.setReg(i.reg, i.sz, imul(c, a, Cpu.sext(i.imm, i.sz), i.sz));
    }

    /** The two- and three-operand IMUL of sign-extended operands: flags set, the product returned. */
    static long imul(Cpu c, long a, long b, int sz) {
        long lo = a * b;
        boolean ovf;
        if (sz == 8) ovf = Math.multiplyHigh(a, b) != (lo >> 63);
        else ovf = lo != Cpu.sext(lo, sz);
        mulFlags(c, lo, sz, ovf);
        return lo;
    }

    private static void div(Cpu c, int sz, long src) {
        if (src == 0) throw c.fault(Vectors.DE);
        switch (sz) {
            case 1 -> {
                long n = c.r[0] & 0xFFFF;
                long q = n / src;
                if (q > 0xFF) throw c.fault(Vectors.DE);
                c.setReg(0, 2, (n % src) << 8 | q);
            }
            case 2 -> {
                long n = (c.r[Reg.DX] & 0xFFFF) << 16 | (c.r[0] & 0xFFFF);
                long q = n / src;
                if (q > 0xFFFF) throw c.fault(Vectors.DE);
                c.setReg(0, 2, q);
                c.setReg(Reg.DX, 2, n % src);
            }
            case 4 -> {
                long n = (c.r[Reg.DX] & 0xFFFFFFFFL) << 32 | (c.r[0] & 0xFFFFFFFFL);
                long q = Long.divideUnsigned(n, src);
                if ((q >>> 32) != 0) throw c.fault(Vectors.DE);
                c.r[0] = q;
                c.r[Reg.DX] = Long.remainderUnsigned(n, src);
            }
            default -> {
                long hi = c.r[Reg.DX], lo = c.r[0];
                if (hi == 0) {
                    c.r[0] = Long.divideUnsigned(lo, src);
                    c.r[Reg.DX] = Long.remainderUnsigned(lo, src);
                } else {
                    if (Long.compareUnsigned(hi, src) >= 0) throw c.fault(Vectors.DE);
                    BigInteger[] qr = u128(hi, lo).divideAndRemainder(unsigned(src));
                    c.r[0] = qr[0].longValue();
                    c.r[Reg.DX] = qr[1].longValue();
                }
            }
        }
    }

    private static void idiv(Cpu c, int sz, long src) {
        long d = Cpu.sext(src, sz);
        if (d == 0) throw c.fault(Vectors.DE);
        switch (sz) {
            case 1 -> {
                long n = (short) c.r[0];
                long q = n / d;
                if (q != (byte) q) throw c.fault(Vectors.DE);
                c.setReg(0, 2, ((n % d) & 0xFF) << 8 | (q & 0xFF));
            }
            case 2 -> {
                long n = (int) ((c.r[Reg.DX] & 0xFFFF) << 16 | (c.r[0] & 0xFFFF));
                long q = n / d;
                if (q != (short) q) throw c.fault(Vectors.DE);
                c.setReg(0, 2, q);
                c.setReg(Reg.DX, 2, n % d);
            }
            case 4 -> {
                long n = (c.r[Reg.DX] & 0xFFFFFFFFL) << 32 | (c.r[0] & 0xFFFFFFFFL);
                if (n == Long.MIN_VALUE && d == -1) throw c.fault(Vectors.DE);
                long q = n / d;
                if (q != (int) q) throw c.fault(Vectors.DE);
                c.r[0] = q & 0xFFFFFFFFL;
                c.r[Reg.DX] = (n % d) & 0xFFFFFFFFL;
            }
            default -> {
                long hi = c.r[Reg.DX], lo = c.r[0];
                if (hi == (lo >> 63)) {
                    if (lo == Long.MIN_VALUE && d == -1) throw c.fault(Vectors.DE);
                    c.r[0] = lo / d;
                    c.r[Reg.DX] = lo % d;
                } else {
                    BigInteger n = u128(hi, lo);
                    if (hi < 0) n = n.subtract(BigInteger.ONE.shiftLeft(128));
                    BigInteger[] qr = n.divideAndRemainder(BigInteger.valueOf(d));
                    if (qr[0].bitLength() > 63) throw c.fault(Vectors.DE);
                    c.r[0] = qr[0].longValue();
                    c.r[Reg.DX] = qr[1].longValue();
                }
            }
        }
    }

    private static BigInteger unsigned(long v) {
        BigInteger b = BigInteger.valueOf(v & Long.MAX_VALUE);
        return v < 0 ? b.setBit(63) : b;
    }

    private static BigInteger u128(long hi, long lo) {
        return unsigned(hi).shiftLeft(64).or(unsigned(lo));
    }
}
