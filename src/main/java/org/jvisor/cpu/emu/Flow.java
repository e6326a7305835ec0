package org.jvisor.cpu.emu;

/** Near control transfers and the stack: Jcc, JMP, CALL, RET, LOOP, PUSH/POP forms, ENTER, LEAVE. */
final class Flow {
    private Flow() {}

    static void jump(Cpu c, Insn i, long target) {
        c.rip = i.sz == 8 ? target : target & Cpu.mask(i.sz);
    }

    static void call(Cpu c, Insn i, long target) {
        c.push(c.rip, i.sz);
        jump(c, i, target);
    }

    static void ret(Cpu c, Insn i) {
        long target = c.pop(i.sz);
        if (i.imm != 0) c.setReg(Reg.SP, c.stackSize(), c.r[Reg.SP] + (i.imm & 0xFFFF));
        jump(c, i, target);
    }

    static void loop(Cpu c, Insn i) {
        long count = (c.r[Reg.CX] - 1) & Cpu.mask(i.asz);
        c.setReg(Reg.CX, i.asz, count);
        boolean go = count != 0 && switch (i.aux) {
            case 0 -> !c.zf();
            case 1 -> c.zf();
            default -> true;
        };
        if (go) jump(c, i, c.rip + i.imm);
    }

    static void jrcxz(Cpu c, Insn i) {
        if ((c.r[Reg.CX] & Cpu.mask(i.asz)) == 0) jump(c, i, c.rip + i.imm);
    }

    static void popE(Cpu c, Insn i) {
        long v = c.peek(i.sz, 0);
        long sp = c.r[Reg.SP];
        // The destination address is computed with RSP already incremented.
        c.setReg(Reg.SP, c.stackSize(), sp + i.sz);
        try {
            c.setRmOp(i, i.sz, v);
        } catch (CpuFault f) {
            c.r[Reg.SP] = sp;
            throw f;
        }
    }

    static void popf(Cpu c, Insn i) {
        long v = c.pop(i.sz);
        long writable = Flags.ARITH | Flags.TF | Flags.DF | Flags.NT | Flags.AC | Flags.ID;
        int iopl = (int) ((c.rflags >>> 12) & 3);
        if (c.cpl() == 0) writable |= Flags.IOPL;
        if (c.cpl() <= iopl) writable |= Flags.IF;
        if (i.sz == 2) writable &= 0xFFFF;
        long old = c.rflags();
        c.setRflags((old & ~writable) | (v & writable));
        c.rflags &= ~(Flags.RF | Flags.VM);
    }

    static void enter(Cpu c, Insn i) {
        int sz = i.sz;
        int ss = c.stackSize();
        int level = (int) (i.imm2 & 31);
        long frame;
        long bp = c.r[Reg.BP];
        long sp0 = c.r[Reg.SP];
        try {
            c.push(c.getReg(Reg.BP, sz), sz);
            frame = c.r[Reg.SP] & Cpu.mask(ss);
            for (int n = 1; n < level; n++) {
                bp = (bp - sz) & Cpu.mask(ss);
                long la = c.mode == Decoder.MODE64 ? bp : (bp + c.segBase[Seg.SS]) & 0xFFFFFFFFL;
                c.push(c.read(la, sz), sz);
            }
            if (level > 0) c.push(frame, sz);
            // The final frame must be writable before RSP moves below it.
            c.setReg(Reg.BP, sz, frame);
            c.setReg(Reg.SP, ss, c.r[Reg.SP] - i.imm);
        } catch (CpuFault f) {
            c.r[Reg.SP] = sp0;
            throw f;
        }
    }

    static void leave(Cpu c, Insn i) {
        int ss = c.stackSize();
        long sp0 = c.r[Reg.SP];
        c.setReg(Reg.SP, ss, c.r[Reg.BP]);
        try {
            c.setReg(Reg.BP, i.sz, c.pop(i.sz));
        } catch (CpuFault f) {
            c.r[Reg.SP] = sp0;
            throw f;
        }
    }
}
