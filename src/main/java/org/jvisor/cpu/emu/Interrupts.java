package org.jvisor.cpu.emu;

import org.jvisor.cpu.Vectors;

/**
 * Delivers exceptions and interrupts through the guest's IDT (long mode) or IVT (real mode):
 * stack switch by privilege level or IST, the frame push, gate type and privilege checks. A fault
 * while delivering becomes #DF; a fault while delivering #DF is a triple fault (shutdown).
 */
final class Interrupts {
    private Interrupts() {}

    /** Thrown up to the run loop for a triple fault. */
    static final class TripleFault extends RuntimeException {
        TripleFault(String why) {
            super(why, null, false, false);
        }
    }

    static boolean contributory(int v) {
        return v == Vectors.DE || (v >= Vectors.TS && v <= Vectors.GP);
    }

    /**
     * Delivers vector with the given error code (or none); {@code software} for INT n/INT3/INTO,
     * whose gate DPL is checked against CPL. rip already holds the return address.
     */
    static void deliver(Cpu c, int vector, boolean hasError, int error, boolean software) {
        if ((c.cr0 & Cpu.CR0_PE) == 0) {
            real(c, vector);
            return;
        }
        if ((c.efer & Cpu.EFER_LMA) == 0) {
            legacy(c, vector, hasError, error, software);
            return;
        }
        long gateAt = c.idtBase + vector * 16L;
        if (vector * 16 + 15 > c.idtLimit) throw c.fault(Vectors.GP, vector * 8 + 2);
        long lo = c.sysRead64(gateAt), hi = c.sysRead64(gateAt + 8);
        int type = (int) (lo >>> 40) & 0x1F;
        int dpl = (int) (lo >>> 45) & 3;
        if (type != 0x0E && type != 0x0F) throw c.fault(Vectors.GP, vector * 8 + 2);
        if (software && dpl < c.cpl()) throw c.fault(Vectors.GP, vector * 8 + 2);
        if (((lo >>> 47) & 1) == 0) throw c.fault(Vectors.NP, vector * 8 + 2);
        int sel = (int) (lo >>> 16) & 0xFFFF;
        long target = (lo & 0xFFFF) | ((lo >>> 32) & 0xFFFF0000L) | (hi << 32);
        int ist = (int) (lo >>> 32) & 7;
        long cd = Segments.descriptor(c, sel);
        int newCpl = (Segments.attr(cd) >>> 5) & 3;
        if ((Segments.attr(cd) & Segments.A_CONFORMING) != 0) newCpl = c.cpl();
        if (newCpl > c.cpl()) throw c.fault(Vectors.GP, sel & 0xFFFC);
        long oldSs = c.segSel[Seg.SS], oldRsp = c.r[Reg.SP], oldCs = c.segSel[Seg.CS];
        long flags = c.rflags();
        long rsp;
        if (ist != 0) rsp = c.sysRead64(c.trBase + 0x24 + (ist - 1) * 8L);
        else if (newCpl < c.cpl()) rsp = c.sysRead64(c.trBase + 4 + newCpl * 8L);
        else rsp = oldRsp;
        rsp &= ~0xFL;
        // Build the frame; a fault here happens before any register changes.
        long[] frame = hasError ? new long[] {error, c.rip, oldCs, flags, oldRsp, oldSs} : new long[] {c.rip, oldCs, flags, oldRsp, oldSs};
        long sp = rsp - frame.length * 8L;
        // The frame goes on the new level's stack, so it is checked at that level.
        boolean was = c.mmu.setSupervisor(newCpl < 3);
        try {
            c.mmu.probeWrite(sp, frame.length * 8);
            for (int k = 0; k < frame.length; k++) c.mmu.write64(sp + k * 8L, frame[k]);
        } finally {
            c.mmu.setSupervisor(was);
        }
        Segments.loadCode(c, sel, newCpl);
        if (newCpl != (int) (oldCs & 3)) {
            c.segSel[Seg.SS] = newCpl; // a null SS with RPL = new CPL
            c.segAttr[Seg.SS] = 0;
            c.segBase[Seg.SS] = 0;
        }
        c.r[Reg.SP] = sp;
        long nf = flags & ~(Flags.TF | Flags.NT | Flags.RF | Flags.VM);
        if (type == 0x0E) nf &= ~Flags.IF;
        c.setRflags(nf);
        c.rip = target;
    }

    /** Protected mode without long mode: 8-byte interrupt and trap gates (16- or 32-bit), TSS32 stacks. */
    private static void legacy(Cpu c, int vector, boolean hasError, int error, boolean software) {
        if (vector * 8 + 7 > c.idtLimit) throw c.fault(Vectors.GP, vector * 8 + 2);
        long g = c.sysRead64(c.idtBase + vector * 8L);
        int type = (int) (g >>> 40) & 0x1F;
        int dpl = (int) (g >>> 45) & 3;
        if (type == 0x05) throw new TripleFault("task gates are not implemented (vector " + vector + ")");
        if (type != 0x06 && type != 0x07 && type != 0x0E && type != 0x0F) throw c.fault(Vectors.GP, vector * 8 + 2);
        if (software && dpl < c.cpl()) throw c.fault(Vectors.GP, vector * 8 + 2);
        if (((g >>> 47) & 1) == 0) throw c.fault(Vectors.NP, vector * 8 + 2);
        int w = (type & 8) != 0 ? 4 : 2;
        int sel = (int) (g >>> 16) & 0xFFFF;
        long target = (g & 0xFFFF) | ((g >>> 32) & 0xFFFF0000L);
        long cd = Segments.descriptor(c, sel);
        int newCpl = (Segments.attr(cd) & Segments.A_CONFORMING) != 0 ? c.cpl() : (Segments.attr(cd) >>> 5) & 3;
        if (newCpl > c.cpl()) throw c.fault(Vectors.GP, sel & 0xFFFC);
        long oldSs = c.segSel[Seg.SS], oldSp = c.r[Reg.SP], oldCs = c.segSel[Seg.CS], flags = c.rflags();
        if ((flags & Flags.VM) != 0) throw new TripleFault("virtual-8086 mode is not implemented");
        if (newCpl < c.cpl()) { // inner level: its stack comes from the 32-bit TSS
            long sp = c.sysRead64(c.trBase + 4 + newCpl * 8L) & 0xFFFFFFFFL;
            int ss = c.sysRead16(c.trBase + 8 + newCpl * 8L);
            c.setCpl(newCpl);
            Segments.loadData(c, Seg.SS, ss);
            c.r[Reg.SP] = sp;
            c.push(oldSs, w);
            c.push(oldSp, w);
        }
        c.push(flags, w);
        c.push(oldCs, w);
        c.push(c.rip, w);
        if (hasError) c.push(error, w);
        Segments.loadCode(c, sel, newCpl);
        long nf = flags & ~(Flags.TF | Flags.NT | Flags.RF | Flags.VM);
        if ((type & 1) == 0) nf &= ~Flags.IF;
        c.setRflags(nf);
        c.rip = target & Cpu.mask(w);
    }

    private static void real(Cpu c, int vector) {
        if (vector * 4 + 3 > c.idtLimit) throw new TripleFault("vector " + vector + " beyond the real-mode IVT");
        long ent = c.mmu.read32(c.idtBase + vector * 4L) & 0xFFFFFFFFL;
        c.push(c.rflags() & 0xFFFF, 2);
        c.push(c.segSel[Seg.CS], 2);
        c.push(c.rip & 0xFFFF, 2);
        c.setRflags(c.rflags() & ~(Flags.IF | Flags.TF | Flags.AC));
        Segments.loadReal(c, Seg.CS, (int) (ent >>> 16));
        c.rip = ent & 0xFFFF;
    }

    /** IRET in 16/32-bit protected mode: to the same level, or out to an outer one with its stack. */
    private static void iretProtected(Cpu c, int w) {
        if ((c.rflags() & Flags.NT) != 0) throw c.fault(Vectors.GP, 0); // a task return: no task switching here
        long ip = c.peek(w, 0), cs = c.peek(w, w) & 0xFFFF, fl = c.peek(w, 2 * w);
        if (w == 4 && (fl & Flags.VM) != 0 && c.cpl() == 0) throw c.fault(Vectors.GP, 0); // no virtual-8086 mode
        int newCpl = (int) cs & 3, oldCpl = c.cpl();
        if (newCpl < oldCpl) throw c.fault(Vectors.GP, (int) cs & 0xFFFC);
        long sp = 0, ss = 0;
        if (newCpl != oldCpl) {
            sp = c.peek(w, 3 * w);
            ss = c.peek(w, 4 * w) & 0xFFFF;
        }
        Segments.loadCode(c, (int) cs, newCpl);
        if (newCpl != oldCpl) {
            Segments.loadData(c, Seg.SS, (int) ss);
            c.setReg(Reg.SP, c.stackSize(), sp);
        } else {
            c.setReg(Reg.SP, c.stackSize(), c.r[Reg.SP] + 3L * w);
        }
        long writable = Flags.ARITH | Flags.TF | Flags.DF | Flags.NT | Flags.AC | Flags.ID | Flags.RF;
        if (oldCpl == 0) writable |= Flags.IOPL;
        if (oldCpl <= (int) ((c.rflags() >>> 12) & 3)) writable |= Flags.IF;
        if (w == 2) writable &= 0xFFFF;
        c.setRflags((c.rflags() & ~writable) | (fl & writable));
        c.rip = ip & Cpu.mask(w);
    }

    /** IRET in long mode (IRETQ, or IRETD with 32-bit operands) and real mode. */
    static void iret(Cpu c, Insn i) {
        int sz = i.sz;
        if ((c.cr0 & Cpu.CR0_PE) == 0) {
            long ip = c.pop(sz), cs = c.pop(sz), fl = c.pop(sz);
            Segments.loadReal(c, Seg.CS, (int) cs);
            c.rip = ip & Cpu.mask(sz);
            c.setRflags((c.rflags() & ~Cpu.mask(sz == 2 ? 2 : 4)) | (fl & (sz == 2 ? 0xFFFF : 0x3F7FD7)));
            return;
        }
        if ((c.efer & Cpu.EFER_LMA) == 0) {
            iretProtected(c, sz == 2 ? 2 : 4);
            return;
        }
        int w = c.mode == Decoder.MODE64 && i.rexW() ? 8 : sz == 2 ? 2 : 4;
        long ip = c.peek(w, 0), cs = c.peek(w, w) & 0xFFFF, fl = c.peek(w, 2 * w);
        int newCpl = (int) cs & 3;
        if (newCpl < c.cpl()) throw c.fault(Vectors.GP, (int) cs & 0xFFFC);
        boolean toCompat = false;
        long sp, ss;
        if (c.mode == Decoder.MODE64 || newCpl != c.cpl()) {
            sp = c.peek(w, 3 * w);
            ss = c.peek(w, 4 * w) & 0xFFFF;
        } else {
            sp = c.r[Reg.SP] + 3L * w;
            ss = c.segSel[Seg.SS];
        }
        int oldCpl = c.cpl();
        Segments.loadCode(c, (int) cs, newCpl);
        toCompat = c.mode != Decoder.MODE64;
        if (newCpl != oldCpl || (ss & ~3) != 0) {
            if ((ss & ~3) == 0) {
                if (newCpl == 3 || toCompat) throw c.fault(Vectors.GP, 0);
                c.segSel[Seg.SS] = (int) ss;
                c.segAttr[Seg.SS] = 0;
            } else {
                Segments.loadData(c, Seg.SS, (int) ss);
            }
        }
        long writable = Flags.ARITH | Flags.TF | Flags.DF | Flags.NT | Flags.AC | Flags.ID | Flags.RF;
        if (oldCpl == 0) writable |= Flags.IOPL | Flags.VIF | Flags.VIP;
        int iopl = (int) ((c.rflags() >>> 12) & 3);
        if (oldCpl <= iopl) writable |= Flags.IF;
        if (w == 2) writable &= 0xFFFF;
        c.setRflags((c.rflags() & ~writable) | (fl & writable));
        c.r[Reg.SP] = toCompat ? sp & 0xFFFFFFFFL : sp;
        c.rip = toCompat ? ip & 0xFFFFFFFFL : ip;
        if (newCpl > oldCpl) {
            // Data segments the new level may not use become null.
            for (int s : new int[] {Seg.ES, Seg.DS, Seg.FS, Seg.GS}) {
                int dpl = (c.segAttr[s] >>> 5) & 3;
                boolean conformingCode = (c.segAttr[s] & (Segments.A_CODE | Segments.A_CONFORMING)) == (Segments.A_CODE | Segments.A_CONFORMING);
                if (!conformingCode && dpl < newCpl && (c.segSel[s] & ~3) != 0) {
                    c.segSel[s] = 0;
                    c.segAttr[s] = 0;
                }
            }
        }
    }
}
