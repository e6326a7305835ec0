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
            throw new TripleFault("protected-mode (32-bit) interrupt delivery is not implemented (vector " + vector + ")");
        }
        long gateAt = c.idtBase + vector * 16L;
        if (vector * 16 + 15 > c.idtLimit) throw c.fault(Vectors.GP, vector * 8 + 2);
        long lo = c.sysRead64(gateAt), hi = c.sysRead64(gateAt + 8);
        int type = (int) (lo >>> 40) & 0x1F;
        int dpl = (int) (lo >>> 45) & 3;
        if (type != 0x0E && type != 0x0F) throw c.fault(Vectors.GP, vector * 8 + 2);
        if (software && dpl < c.cpl) throw c.fault(Vectors.GP, vector * 8 + 2);
        if (((lo >>> 47) & 1) == 0) throw c.fault(Vectors.NP, vector * 8 + 2);
        int sel = (int) (lo >>> 16) & 0xFFFF;
        long target = (lo & 0xFFFF) | ((lo >>> 32) & 0xFFFF0000L) | (hi << 32);
        int ist = (int) (lo >>> 32) & 7;
        long cd = Segments.descriptor(c, sel);
        int newCpl = (Segments.attr(cd) >>> 5) & 3;
        if ((Segments.attr(cd) & Segments.A_CONFORMING) != 0) newCpl = c.cpl;
        if (newCpl > c.cpl) throw c.fault(Vectors.GP, sel & 0xFFFC);
        long oldSs = c.segSel[Seg.SS], oldRsp = c.r[Reg.SP], oldCs = c.segSel[Seg.CS];
        long flags = c.rflags();
        long rsp;
        if (ist != 0) rsp = c.sysRead64(c.trBase + 0x24 + (ist - 1) * 8L);
        else if (newCpl < c.cpl) rsp = c.sysRead64(c.trBase + 4 + newCpl * 8L);
        else rsp = oldRsp;
        rsp &= ~0xFL;
        // Build the frame; a fault here happens before any register changes.
        long[] frame = hasError ? new long[] {error, c.rip, oldCs, flags, oldRsp, oldSs} : new long[] {c.rip, oldCs, flags, oldRsp, oldSs};
        long sp = rsp - frame.length * 8L;
        // The frame goes on the new level's stack, so it is checked at that level.
        boolean was = c.mmu.supervisor;
        c.mmu.supervisor = newCpl < 3;
        try {
            c.mmu.probeWrite(sp, frame.length * 8);
            for (int k = 0; k < frame.length; k++) c.mmu.write64(sp + k * 8L, frame[k]);
        } finally {
            c.mmu.supervisor = was;
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
        if ((c.efer & Cpu.EFER_LMA) == 0) throw c.fault(Vectors.GP, 0);
        int w = c.mode == Decoder.MODE64 && i.rexW() ? 8 : sz == 2 ? 2 : 4;
        long ip = c.peek(w, 0), cs = c.peek(w, w) & 0xFFFF, fl = c.peek(w, 2 * w);
        int newCpl = (int) cs & 3;
        if (newCpl < c.cpl) throw c.fault(Vectors.GP, (int) cs & 0xFFFC);
        boolean toCompat = false;
        long sp, ss;
        if (c.mode == Decoder.MODE64 || newCpl != c.cpl) {
            sp = c.peek(w, 3 * w);
            ss = c.peek(w, 4 * w) & 0xFFFF;
        } else {
            sp = c.r[Reg.SP] + 3L * w;
            ss = c.segSel[Seg.SS];
        }
        int oldCpl = c.cpl;
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
