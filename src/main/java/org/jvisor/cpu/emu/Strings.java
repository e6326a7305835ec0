package org.jvisor.cpu.emu;

/**
 * MOVS, STOS, LODS, CMPS, SCAS with REP/REPE/REPNE. A repeated instruction runs at most
 * {@link #CHUNK} iterations per execution and then re-executes itself, so a huge RCX never
 * starves interrupts; its registers are consistent after every iteration, so a fault restarts it.
 */
final class Strings {
    static final int CHUNK = 1 << 16;

    private Strings() {}

    private static long count(Cpu c, Insn i) {
        return c.r[Reg.CX] & Cpu.mask(i.asz);
    }

    private static void setCount(Cpu c, Insn i, long v) {
        c.setReg(Reg.CX, i.asz, v);
    }

    private static long src(Cpu c, Insn i) {
        return c.segAddr(i, Seg.DS, c.r[Reg.SI] & Cpu.mask(i.asz));
    }

    private static long dst(Cpu c, Insn i) {
        long off = c.r[Reg.DI] & Cpu.mask(i.asz);
        if (c.mode == Decoder.MODE64) return off;
        return (off + c.segBase[Seg.ES]) & 0xFFFFFFFFL;
    }

    private static void advance(Cpu c, Insn i, int reg, long delta) {
        c.setReg(reg, i.asz, c.r[reg] + delta);
    }

    private static boolean repeated(Insn i) {
        return (i.prefixes & (Insn.P_REP | Insn.P_REPNE)) != 0;
    }

    static void movs(Cpu c, Insn i) {
        long d = c.df() ? -i.sz : i.sz;
        if (!repeated(i)) {
            c.write(dst(c, i), i.sz, c.read(src(c, i), i.sz));
            advance(c, i, Reg.SI, d);
            advance(c, i, Reg.DI, d);
            return;
        }
        long n = count(c, i);
        for (int k = 0; n != 0; k++) {
            if (k == CHUNK) { c.rip -= i.len; return; }
            c.write(dst(c, i), i.sz, c.read(src(c, i), i.sz));
            advance(c, i, Reg.SI, d);
            advance(c, i, Reg.DI, d);
            setCount(c, i, --n);
        }
    }

    static void stos(Cpu c, Insn i) {
        long d = c.df() ? -i.sz : i.sz;
        long v = i.sz == 1 ? c.getReg8(0) : c.getReg(0, i.sz);
        if (!repeated(i)) {
            c.write(dst(c, i), i.sz, v);
            advance(c, i, Reg.DI, d);
            return;
        }
        long n = count(c, i);
        for (int k = 0; n != 0; k++) {
            if (k == CHUNK) { c.rip -= i.len; return; }
            c.write(dst(c, i), i.sz, v);
            advance(c, i, Reg.DI, d);
            setCount(c, i, --n);
        }
    }

    static void lods(Cpu c, Insn i) {
        long d = c.df() ? -i.sz : i.sz;
        long n = repeated(i) ? count(c, i) : 1;
        for (int k = 0; n != 0; k++) {
            if (k == CHUNK) { c.rip -= i.len; return; }
            long v = c.read(src(c, i), i.sz);
            if (i.sz == 1) c.setReg8(0, v);
            else c.setReg(0, i.sz, v);
            advance(c, i, Reg.SI, d);
            if (repeated(i)) setCount(c, i, --n);
            else n = 0;
        }
    }

    static void cmps(Cpu c, Insn i) {
        long d = c.df() ? -i.sz : i.sz;
        boolean rep = repeated(i);
        long n = rep ? count(c, i) : 1;
        for (int k = 0; n != 0; k++) {
            if (k == CHUNK) { c.rip -= i.len; return; }
            long a = c.read(src(c, i), i.sz);
            long b = c.read(dst(c, i), i.sz);
            Alu.alu(c, Alu.CMP, a, b, i.sz);
            advance(c, i, Reg.SI, d);
            advance(c, i, Reg.DI, d);
            if (!rep) return;
            setCount(c, i, --n);
            if (c.zf() != i.rep()) return; // REPE stops on ZF=0, REPNE on ZF=1
        }
    }

    static void scas(Cpu c, Insn i) {
        long d = c.df() ? -i.sz : i.sz;
        long acc = i.sz == 1 ? c.getReg8(0) : c.getReg(0, i.sz);
        boolean rep = repeated(i);
        long n = rep ? count(c, i) : 1;
        for (int k = 0; n != 0; k++) {
            if (k == CHUNK) { c.rip -= i.len; return; }
            Alu.alu(c, Alu.CMP, acc, c.read(dst(c, i), i.sz), i.sz);
            advance(c, i, Reg.DI, d);
            if (!rep) return;
            setCount(c, i, --n);
            if (c.zf() != i.rep()) return;
        }
    }
}
