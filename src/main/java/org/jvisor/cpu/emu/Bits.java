package org.jvisor.cpu.emu;

/** Bit tests, scans, counts and byte swaps. */
final class Bits {
    private Bits() {}

    static void bt(Cpu c, Insn i) {
        int sz = i.sz, w = sz * 8;
        if (!i.mem || i.op == Op.BT_EI) {
            long off = i.op == Op.BT_EI ? i.imm : c.getReg(i.reg, sz);
            int bit = (int) (off & (w - 1));
            long a = c.rmOp(i, sz);
            if (test(c, i.aux, a, bit)) c.setRmOp(i, sz, modify(i.aux, a, bit));
            return;
        }
        // A register bit offset into memory is signed and may reach outside the operand.
        long off = Cpu.sext(c.getReg(i.reg, sz), sz);
        long addr = c.ea(i) + (off >> (sz == 2 ? 4 : sz == 4 ? 5 : 6)) * sz;
        if (c.mode != Decoder.MODE64) addr &= 0xFFFFFFFFL;
        int bit = (int) (off & (w - 1));
        long a = c.read(addr, sz);
        if (test(c, i.aux, a, bit)) c.write(addr, sz, modify(i.aux, a, bit));
    }

    /** Sets CF from the bit; returns whether the operation (BTS, BTR, BTC) writes back. */
    private static boolean test(Cpu c, int kind, long a, int bit) {
        c.setStatus(Flags.CF, ((a >>> bit) & 1) != 0 ? Flags.CF : 0);
        return kind != 0;
    }

    private static long modify(int kind, long a, int bit) {
        return switch (kind) {
            case 1 -> a | (1L << bit);
            case 2 -> a & ~(1L << bit);
            default -> a ^ (1L << bit);
        };
    }

    static void bsf(Cpu c, Insn i) {
        long v = c.rmOp(i, i.sz);
        if (v == 0) {
            c.setStatus(Flags.ZF, Flags.ZF);
            return;
        }
        c.setReg(i.reg, i.sz, Long.numberOfTrailingZeros(v));
        c.setStatus(Flags.ZF, 0);
    }

    static void bsr(Cpu c, Insn i) {
        long v = c.rmOp(i, i.sz);
        if (v == 0) {
            c.setStatus(Flags.ZF, Flags.ZF);
            return;
        }
        c.setReg(i.reg, i.sz, 63 - Long.numberOfLeadingZeros(v));
        c.setStatus(Flags.ZF, 0);
    }

    static void lzcnt(Cpu c, Insn i) {
        long v = c.rmOp(i, i.sz);
        int n = Long.numberOfLeadingZeros(v) - (64 - i.sz * 8);
        c.setReg(i.reg, i.sz, n);
        c.setStatus(Flags.CF | Flags.ZF, (v == 0 ? Flags.CF : 0) | (n == 0 ? Flags.ZF : 0));
    }

    static void popcnt(Cpu c, Insn i) {
        long v = c.rmOp(i, i.sz);
        c.setReg(i.reg, i.sz, Long.bitCount(v));
        c.setStatus(Flags.ARITH, v == 0 ? Flags.ZF : 0);
    }

    static void bswap(Cpu c, Insn i) {
        int n = i.aux;
        switch (i.sz) {
            case 8 -> c.r[n] = Long.reverseBytes(c.r[n]);
            case 4 -> c.r[n] = Integer.reverseBytes((int) c.r[n]) & 0xFFFFFFFFL;
            default -> c.setReg(n, 2, 0); // undefined; the hardware clears the low word
        }
    }
}
