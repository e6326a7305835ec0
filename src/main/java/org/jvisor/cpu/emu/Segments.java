package org.jvisor.cpu.emu;

import org.jvisor.cpu.Vectors;

/**
 * Segment register loads with descriptor checks, from the GDT or LDT. Attributes are kept in the
 * VMX layout: type, S, DPL, P in bits 0-7; AVL, L, D/B, G in bits 12-15.
 */
final class Segments {
    static final int A_P = 0x80, A_S = 0x10, A_CODE = 0x08, A_RW = 0x02, A_CONFORMING = 0x04;

    private Segments() {}

    /** The 8-byte descriptor for a selector, or a #GP(selector) when it lies outside its table. */
    static long descriptor(Cpu c, int sel) {
        boolean ldt = (sel & 4) != 0;
        long base = ldt ? c.ldtrBase : c.gdtBase;
        int limit = ldt ? c.ldtrLimit : c.gdtLimit;
        int off = sel & ~7;
        if (off + 7 > limit) throw c.fault(Vectors.GP, sel & 0xFFFC);
        return c.sysRead64(base + off);
    }

    static int attr(long d) {
        return (int) ((d >>> 40) & 0xF0FF);
    }

    static long base(long d) {
        return ((d >>> 16) & 0xFFFFFF) | ((d >>> 32) & 0xFF000000L);
    }

    static int limit(long d) {
        long l = (d & 0xFFFF) | ((d >>> 32) & 0xF0000);
        if (((d >>> 55) & 1) != 0) l = (l << 12) | 0xFFF;
        return (int) l;
    }

    /** Real mode and virtual-8086 style: base = selector * 16. */
    static void loadReal(Cpu c, int seg, int sel) {
        c.segSel[seg] = sel & 0xFFFF;
        c.segBase[seg] = (sel & 0xFFFFL) << 4;
    }

    /** MOV/POP to a data segment register or SS in protected or long mode. */
    static void loadData(Cpu c, int seg, int sel) {
        if ((c.cr0 & Cpu.CR0_PE) == 0) {
            loadReal(c, seg, sel);
            return;
        }
        sel &= 0xFFFF;
        if ((sel & ~3) == 0) {
            // A null selector: allowed in data registers; in SS only in 64-bit mode below CPL 3.
            if (seg == Seg.SS && (c.mode != Decoder.MODE64 || c.cpl() == 3 || (sel & 3) != c.cpl())) throw c.fault(Vectors.GP, 0);
            c.segSel[seg] = sel;
            c.segAttr[seg] = 0;
            if (seg != Seg.FS && seg != Seg.GS) c.segBase[seg] = 0;
            return;
        }
        long d = descriptor(c, sel);
        int a = attr(d);
        int dpl = (a >>> 5) & 3, rpl = sel & 3;
        if (seg == Seg.SS) {
            if ((a & A_S) == 0 || (a & A_CODE) != 0 || (a & A_RW) == 0 || rpl != c.cpl() || dpl != c.cpl()) throw c.fault(Vectors.GP, sel & 0xFFFC);
            if ((a & A_P) == 0) throw c.fault(Vectors.SS, sel & 0xFFFC);
        } else {
            boolean readableCode = (a & A_CODE) != 0 && (a & A_RW) != 0;
            if ((a & A_S) == 0 || ((a & A_CODE) != 0 && !readableCode)) throw c.fault(Vectors.GP, sel & 0xFFFC);
            boolean conforming = (a & A_CODE) != 0 && (a & A_CONFORMING) != 0;
            if (!conforming && (rpl > dpl || c.cpl() > dpl)) throw c.fault(Vectors.GP, sel & 0xFFFC);
            if ((a & A_P) == 0) throw c.fault(Vectors.NP, sel & 0xFFFC);
        }
        setAccessed(c, sel, d);
        c.segSel[seg] = sel;
        c.segAttr[seg] = a;
        c.segLimit[seg] = limit(d);
        c.segBase[seg] = base(d);
    }

    /** Loads CS for a far transfer or an interrupt/return, at privilege level {@code cpl}. */
    static void loadCode(Cpu c, int sel, int cpl) {
        if ((c.cr0 & Cpu.CR0_PE) == 0) {
            loadReal(c, Seg.CS, sel);
            c.updateMode();
            return;
        }
        if ((sel & ~3) == 0) throw c.fault(Vectors.GP, 0);
        long d = descriptor(c, sel);
        int a = attr(d);
        if ((a & A_S) == 0 || (a & A_CODE) == 0) throw c.fault(Vectors.GP, sel & 0xFFFC);
        if ((a & A_P) == 0) throw c.fault(Vectors.NP, sel & 0xFFFC);
        setAccessed(c, sel, d);
        c.segSel[Seg.CS] = (sel & ~3) | cpl;
        c.segAttr[Seg.CS] = a;
        c.segLimit[Seg.CS] = limit(d);
        c.segBase[Seg.CS] = base(d);
        c.setCpl(cpl);
        c.updateMode();
    }

    private static void setAccessed(Cpu c, int sel, long d) {
        if ((d & (1L << 40)) != 0) return;
        long base = (sel & 4) != 0 ? c.ldtrBase : c.gdtBase;
        c.sysWrite8(base + (sel & ~7) + 5, (int) ((d >>> 40) | 1));
    }

    /** LTR: a present, available 64-bit (or 32-bit) TSS descriptor, marked busy. */
    static void loadTr(Cpu c, int sel) {
        if ((sel & 4) != 0 || (sel & ~3) == 0) throw c.fault(Vectors.GP, sel & 0xFFFC);
        long d = descriptor(c, sel);
        int type = (int) (d >>> 40) & 0x1F;
        if (type != 0x09 && type != 0x01) throw c.fault(Vectors.GP, sel & 0xFFFC);
        if (((d >>> 47) & 1) == 0) throw c.fault(Vectors.NP, sel & 0xFFFC);
        long base = base(d);
        if (c.mode == Decoder.MODE64 || (c.efer & Cpu.EFER_LMA) != 0) base |= (c.sysRead64(c.gdtBase + (sel & ~7) + 8) & 0xFFFFFFFFL) << 32;
        c.sysWrite8(c.gdtBase + (sel & ~7) + 5, (int) ((d >>> 40) | 2)); // busy
        c.trSel = sel;
        c.trBase = base;
        c.trLimit = limit(d);
    }

    static void loadLdt(Cpu c, int sel) {
        if ((sel & ~3) == 0) {
            c.ldtrSel = 0;
            c.ldtrBase = 0;
            c.ldtrLimit = 0;
            return;
        }
        long d = descriptor(c, sel);
        if (((d >>> 40) & 0x1F) != 0x02) throw c.fault(Vectors.GP, sel & 0xFFFC);
        long base = base(d);
        if ((c.efer & Cpu.EFER_LMA) != 0) base |= (c.sysRead64(c.gdtBase + (sel & ~7) + 8) & 0xFFFFFFFFL) << 32;
        c.ldtrSel = sel;
        c.ldtrBase = base;
        c.ldtrLimit = limit(d);
    }
}
