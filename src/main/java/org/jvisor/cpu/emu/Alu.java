package org.jvisor.cpu.emu;

/** The eight ALU operations, moves, exchanges, sign extensions and conditional moves. */
final class Alu {
    static final int ADD = 0, OR = 1, ADC = 2, SBB = 3, AND = 4, SUB = 5, XOR = 6, CMP = 7;

    private Alu() {}

    /** Computes a (kind) b at size sz, sets the lazy flags, returns the masked result. */
    static long alu(Cpu c, int kind, long a, long b, int sz) {
        long m = Cpu.mask(sz);
        long r;
        switch (kind) {
            case ADD -> { r = (a + b) & m; c.setLazy(Flags.K_ADD, a, b, r, sz); }
            case OR -> { r = (a | b) & m; c.setLazy(Flags.K_LOGIC, 0, 0, r, sz); }
            case ADC -> {
                long cin = c.cf() ? 1 : 0;
                r = (a + b + cin) & m;
                c.fc = cin;
                c.setLazy(Flags.K_ADC, a, b, r, sz);
            }
            case SBB -> {
                long cin = c.cf() ? 1 : 0;
                r = (a - b - cin) & m;
                c.fc = cin;
                c.setLazy(Flags.K_SBB, a, b, r, sz);
            }
            case AND -> { r = (a & b) & m; c.setLazy(Flags.K_LOGIC, 0, 0, r, sz); }
            case XOR -> { r = (a ^ b) & m; c.setLazy(Flags.K_LOGIC, 0, 0, r, sz); }
            default -> { r = (a - b) & m; c.setLazy(Flags.K_SUB, a, b, r, sz); } // SUB, CMP
        }
        return r;
    }

    static void logicFlags(Cpu c, long r, int sz) {
        c.setLazy(Flags.K_LOGIC, 0, 0, r & Cpu.mask(sz), sz);
    }

    static void aluEG(Cpu c, Insn i) {
        aluRm(c, i, c.regOp(i, i.sz));
    }

    static void aluGE(Cpu c, Insn i) {
        int sz = i.sz;
        long r = alu(c, i.aux, c.regOp(i, sz), c.rmOp(i, sz), sz);
        if (i.aux != CMP) c.setRegOp(i, sz, r);
    }

    static void aluEI(Cpu c, Insn i) {
        aluRm(c, i, i.imm & Cpu.mask(i.sz));
    }

    /** r/m = r/m (aux) b, computing the memory address once; CMP writes nothing. */
    private static void aluRm(Cpu c, Insn i, long b) {
        int sz = i.sz;
        if (i.mem) {
            long addr = c.ea(i);
            long r = alu(c, i.aux, c.read(addr, sz), b, sz);
            if (i.aux != CMP) c.write(addr, sz, r);
        } else {
            long a = sz == 1 ? c.getReg8(i.rm8) : c.getReg(i.rm, sz);
            long r = alu(c, i.aux, a, b, sz);
            if (i.aux != CMP) {
                if (sz == 1) c.setReg8(i.rm8, r);
                else c.setReg(i.rm, sz, r);
            }
        }
    }

    static void aluAI(Cpu c, Insn i) {
        int sz = i.sz;
        long a = sz == 1 ? c.getReg8(0) : c.getReg(0, sz);
        long r = alu(c, i.aux, a, i.imm & Cpu.mask(sz), sz);
        if (i.aux != CMP) {
            if (sz == 1) c.setReg8(0, r);
            else c.setReg(0, sz, r);
        }
    }

    static void testEG(Cpu c, Insn i) {
        logicFlags(c, c.rmOp(i, i.sz) & c.regOp(i, i.sz), i.sz);
    }

    static void movEG(Cpu c, Insn i) {
        c.setRmOp(i, i.sz, c.regOp(i, i.sz));
    }

    static void movGE(Cpu c, Insn i) {
        c.setRegOp(i, i.sz, c.rmOp(i, i.sz));
    }

    static void movRI(Cpu c, Insn i) {
        if (i.sz == 1) c.setReg8(i.aux, i.imm);
        else c.setReg(i.aux, i.sz, i.imm);
    }

    static void movMoffs(Cpu c, Insn i) {
        long addr = c.segAddr(i, Seg.DS, i.imm);
        if (i.aux == 0) {
            long v = c.read(addr, i.sz);
            if (i.sz == 1) c.setReg8(0, v);
            else c.setReg(0, i.sz, v);
        } else {
            c.write(addr, i.sz, i.sz == 1 ? c.getReg8(0) : c.getReg(0, i.sz));
        }
    }

    static void lea(Cpu c, Insn i) {
        long a = i.disp;
        if (i.base >= 0) a += i.base == Insn.RIP ? c.rip : c.r[i.base];
        if (i.index >= 0) a += c.r[i.index] << i.scale;
        if (i.asz != 8) a &= Cpu.mask(i.asz); // a narrower address is zero-extended
        c.setReg(i.reg, i.sz, a);
    }

    static void incDec(Cpu c, Insn i, boolean inc) {
        int sz = i.sz;
        long cf = c.cf() ? 1 : 0;
        if (i.mem) {
            long addr = c.ea(i);
            long a = c.read(addr, sz);
            long r = (inc ? a + 1 : a - 1) & Cpu.mask(sz);
            c.write(addr, sz, r);
            c.fc = cf;
            c.setLazy(inc ? Flags.K_INC : Flags.K_DEC, a, 1, r, sz);
        } else {
            long a = sz == 1 ? c.getReg8(i.rm8) : c.getReg(i.rm, sz);
            long r = (inc ? a + 1 : a - 1) & Cpu.mask(sz);
            if (sz == 1) c.setReg8(i.rm8, r);
            else c.setReg(i.rm, sz, r);
            c.fc = cf;
            c.setLazy(inc ? Flags.K_INC : Flags.K_DEC, a, 1, r, sz);
        }
    }

    static void incDecR(Cpu c, Insn i) {
        int sz = i.sz;
        long cf = c.cf() ? 1 : 0;
        long a = c.getReg(i.aux, sz);
        boolean inc = i.op == Op.INC_R;
        long r = (inc ? a + 1 : a - 1) & Cpu.mask(sz);
        c.setReg(i.aux, sz, r);
        c.fc = cf;
        c.setLazy(inc ? Flags.K_INC : Flags.K_DEC, a, 1, r, sz);
    }

    static void neg(Cpu c, Insn i) {
        int sz = i.sz;
        if (i.mem) {
            long addr = c.ea(i);
            long v = c.read(addr, sz);
            long r = (-v) & Cpu.mask(sz);
            c.write(addr, sz, r);
            c.setLazy(Flags.K_SUB, 0, v, r, sz);
        } else {
            long v = c.rmOp(i, sz);
            long r = (-v) & Cpu.mask(sz);
            c.setRmOp(i, sz, r);
            c.setLazy(Flags.K_SUB, 0, v, r, sz);
        }
    }

    static void cbw(Cpu c, Insn i) {
        switch (i.sz) {
            case 2 -> c.setReg(0, 2, (byte) c.r[0]);
            case 4 -> c.setReg(0, 4, (short) c.r[0]);
            default -> c.r[0] = (int) c.r[0];
        }
    }

    static void cwd(Cpu c, Insn i) {
        long a = Cpu.sext(c.getReg(0, i.sz), i.sz);
        c.setReg(Reg.DX, i.sz, a < 0 ? -1 : 0);
    }

    static void xchg(Cpu c, Insn i) {
        int sz = i.sz;
        long g = c.regOp(i, sz);
        if (i.mem) {
            long addr = c.ea(i);
            long m = c.read(addr, sz);
            c.write(addr, sz, g);
            c.setRegOp(i, sz, m);
        } else {
            long m = sz == 1 ? c.getReg8(i.rm8) : c.getReg(i.rm, sz);
            c.setRmOp(i, sz, g);
            c.setRegOp(i, sz, m);
        }
    }

    static void xchgAR(Cpu c, Insn i) {
        long a = c.getReg(0, i.sz), b = c.getReg(i.aux, i.sz);
        c.setReg(0, i.sz, b);
        c.setReg(i.aux, i.sz, a);
    }

    static void xadd(Cpu c, Insn i) {
        int sz = i.sz;
        long g = c.regOp(i, sz);
        if (i.mem) {
            long addr = c.ea(i);
            long m = c.read(addr, sz);
            long r = alu(c, ADD, m, g, sz);
            c.write(addr, sz, r);
            c.setRegOp(i, sz, m);
        } else {
            long m = sz == 1 ? c.getReg8(i.rm8) : c.getReg(i.rm, sz);
            long r = alu(c, ADD, m, g, sz);
            c.setRegOp(i, sz, m);
            c.setRmOp(i, sz, r);
        }
    }

    static void cmpxchg(Cpu c, Insn i) {
        int sz = i.sz;
        long acc = sz == 1 ? c.getReg8(0) : c.getReg(0, sz);
        if (i.mem) {
            long addr = c.ea(i);
            long m = c.read(addr, sz);
            alu(c, CMP, acc, m, sz);
            // The destination is written either way, as the hardware does.
            c.write(addr, sz, acc == m ? c.regOp(i, sz) : m);
            if (acc != m) setAcc(c, sz, m);
        } else {
            long m = sz == 1 ? c.getReg8(i.rm8) : c.getReg(i.rm, sz);
            alu(c, CMP, acc, m, sz);
            if (acc == m) c.setRmOp(i, sz, c.regOp(i, sz));
            else setAcc(c, sz, m);
        }
    }

    private static void setAcc(Cpu c, int sz, long v) {
        if (sz == 1) c.setReg8(0, v);
        else c.setReg(0, sz, v);
    }

    static void cmpxchg8b(Cpu c, Insn i) {
        long addr = c.ea(i);
        if (i.sz == 8) {
            long m = c.read(addr, 8);
            long expect = (c.r[Reg.DX] & 0xFFFFFFFFL) << 32 | (c.r[Reg.AX] & 0xFFFFFFFFL);
            if (m == expect) {
                c.write(addr, 8, (c.r[Reg.CX] & 0xFFFFFFFFL) << 32 | (c.r[Reg.BX] & 0xFFFFFFFFL));
                c.setStatus(Flags.ZF, Flags.ZF);
            } else {
                c.write(addr, 8, m);
                c.r[Reg.AX] = m & 0xFFFFFFFFL;
                c.r[Reg.DX] = m >>> 32;
                c.setStatus(Flags.ZF, 0);
            }
        } else {
            if ((addr & 15) != 0) throw c.fault(org.jvisor.cpu.Vectors.GP, 0);
            long lo = c.read(addr, 8), hi = c.read(addr + 8, 8);
            if (lo == c.r[Reg.AX] && hi == c.r[Reg.DX]) {
                c.mmu.probeWrite(addr, 16);
                c.write(addr, 8, c.r[Reg.BX]);
                c.write(addr + 8, 8, c.r[Reg.CX]);
                c.setStatus(Flags.ZF, Flags.ZF);
            } else {
                c.write(addr, 8, lo);
                c.write(addr + 8, 8, hi);
                c.r[Reg.AX] = lo;
                c.r[Reg.DX] = hi;
                c.setStatus(Flags.ZF, 0);
            }
        }
    }

    static void cmov(Cpu c, Insn i) {
        long v = c.rmOp(i, i.sz); // the source is read (and may fault) even when not moved
        if (c.cond(i.aux)) c.setReg(i.reg, i.sz, v);
        else if (i.sz == 4) c.r[i.reg] &= 0xFFFFFFFFL; // a 32-bit CMOV zero-extends even when false
    }

    static void xlat(Cpu c, Insn i) {
        long off = (c.r[Reg.BX] + (c.r[Reg.AX] & 0xFF)) & Cpu.mask(i.asz);
        c.setReg8(0, c.read(c.segAddr(i, Seg.DS, off), 1));
    }
}
