package org.jvisor.cpu.emu;

import org.jvisor.cpu.Vectors;

/**
 * System instructions: control and debug registers, MSRs, descriptor tables, task and LDT
 * registers, SYSCALL/SYSRET, SWAPGS, software interrupts and IRET, far transfers, segment
 * loads, port I/O, CPUID, the TSC. Privileged ones raise #GP(0) above CPL 0.
 */
final class SystemOps {
    private SystemOps() {}

    private static void needCpl0(Cpu c) {
        if (c.cpl() != 0) throw c.fault(Vectors.GP, 0);
    }

    static void exec(Cpu c, Insn i) {
        switch (i.op) {
            case Op.CPUID -> CpuidModel.cpuid(c);
            case Op.RDTSC -> {
                long t = c.tsc();
                c.r[Reg.AX] = t & 0xFFFFFFFFL;
                c.r[Reg.DX] = t >>> 32;
            }
            case Op.MOV_R_CR -> { needCpl0(c); c.r[i.rm] = readCr(c, i.aux); }
            case Op.MOV_CR_R -> { needCpl0(c); writeCr(c, i.aux, c.r[i.rm]); }
            case Op.MOV_R_DR -> { needCpl0(c); c.r[i.rm] = c.dr[i.aux]; }
            case Op.MOV_DR_R -> { needCpl0(c); c.dr[i.aux] = c.r[i.rm]; }
            case Op.RDMSR -> { needCpl0(c); rdmsr(c); }
            case Op.WRMSR -> { needCpl0(c); wrmsr(c); }
            case Op.SYS_GRP7 -> grp7(c, i);
            case Op.SYS_GRP6 -> grp6(c, i);
            case Op.CLTS -> { needCpl0(c); c.cr0 &= ~Cpu.CR0_TS; }
            case Op.WBINVD -> needCpl0(c);
            case Op.CLI -> { if (c.cpl() > iopl(c)) throw c.fault(Vectors.GP, 0); c.rflags &= ~Flags.IF; }
            case Op.STI -> {
                if (c.cpl() > iopl(c)) throw c.fault(Vectors.GP, 0);
                if ((c.rflags & Flags.IF) == 0) c.interruptShadow = true;
                c.rflags |= Flags.IF;
            }
            case Op.SYSCALL -> syscall(c);
            case Op.SYSRET -> sysret(c, i);
            case Op.INT -> softInt(c, (int) i.imm & 0xFF);
            case Op.INTO -> { if (c.of()) softInt(c, Vectors.OF); }
            case Op.IRET -> Interrupts.iret(c, i);
            case Op.RETF -> farReturn(c, i);
            case Op.JMPF_E, Op.CALLF_E -> farIndirect(c, i);
            case Op.MOV_SEG_E -> {
                int sel = (int) c.rmOp(i, 2);
                Segments.loadData(c, i.aux, sel);
                if (i.aux == Seg.SS) c.interruptShadow = true;
            }
            case Op.MOV_E_SEG -> c.setRmOp(i, i.mem ? 2 : i.sz, c.segSel[i.aux]);
            case Op.PUSH_SEG -> c.push(c.segSel[i.aux], i.sz);
            case Op.POP_SEG -> {
                long sp = c.r[Reg.SP];
                int sel = (int) c.pop(i.sz);
                try {
                    Segments.loadData(c, i.aux, sel);
                } catch (CpuFault f) {
                    c.r[Reg.SP] = sp;
                    throw f;
                }
            }
            case Op.IN -> in(c, i);
            case Op.OUT -> out(c, i);
            case Op.INS, Op.OUTS -> stringIo(c, i);
            default -> throw c.fault(Vectors.UD);
        }
    }

    static int iopl(Cpu c) {
        return (int) ((c.rflags >>> 12) & 3);
    }

    static void softInt(Cpu c, int vector) {
        Interrupts.deliver(c, vector, false, 0, true);
    }

    // ---- control registers ----

    static long readCr(Cpu c, int n) {
        return switch (n) {
            case 0 -> c.cr0;
            case 2 -> c.cr2;
            case 3 -> c.cr3;
            case 4 -> c.cr4;
            case 8 -> {
                int apic = c.interrupts == null ? -1 : c.interrupts.taskPriorityClass();
                yield apic >= 0 ? apic : c.cr8;
            }
            default -> throw c.fault(Vectors.UD);
        };
    }

    static void writeCr(Cpu c, int n, long v) {
        switch (n) {
            case 0 -> {
                if ((v >>> 32) != 0) throw c.fault(Vectors.GP, 0);
                if ((v & Cpu.CR0_PG) != 0 && (v & Cpu.CR0_PE) == 0) throw c.fault(Vectors.GP, 0);
                // Only 4-level paging is modelled: paging needs long mode enabled (EFER.LME) and PAE.
                if ((v & Cpu.CR0_PG) != 0 && ((c.efer & Cpu.EFER_LME) == 0 || (c.cr4 & Cpu.CR4_PAE) == 0)) {
                    throw c.fault(Vectors.GP, 0);
                }
                c.cr0 = v | Cpu.CR0_ET;
                c.updateMode();
                c.flushTlb();
            }
            case 2 -> c.cr2 = v;
            case 3 -> {
                c.cr3 = v;
                c.flushTlb();
            }
            case 4 -> {
                long allowed = Cpu.CR4_PSE | Cpu.CR4_PAE | Cpu.CR4_PGE | Cpu.CR4_OSFXSR | Cpu.CR4_OSXMMEXCPT | 0x40 /* MCE */ | 0x8 /* DE */;
                if ((v & ~allowed) != 0) throw c.fault(Vectors.GP, 0);
                if ((c.efer & Cpu.EFER_LMA) != 0 && (v & Cpu.CR4_PAE) == 0) throw c.fault(Vectors.GP, 0);
                c.cr4 = v;
                c.flushTlb();
            }
            case 8 -> {
                if ((v & ~15L) != 0) throw c.fault(Vectors.GP, 0);
                c.cr8 = v;
                if (c.interrupts != null) c.interrupts.setTaskPriorityClass((int) v);
            }
            default -> throw c.fault(Vectors.UD);
        }
    }

    // ---- MSRs ----

    static void rdmsr(Cpu c) {
        int idx = (int) c.r[Reg.CX];
        if (c.msrDevice != null && c.msrDevice.claims(idx)) {
            long v = c.msrDevice.read(idx);
            c.r[Reg.AX] = v & 0xFFFFFFFFL;
            c.r[Reg.DX] = v >>> 32;
            return;
        }
        long v = switch (idx) {
            case Msrs.EFER -> c.efer;
            case Msrs.FS_BASE -> c.segBase[Seg.FS];
            case Msrs.GS_BASE -> c.segBase[Seg.GS];
            case Msrs.TSC -> c.tsc();
            default -> {
                Long m = c.msrs.get(idx);
                if (m == null) throw c.fault(Vectors.GP, 0);
                yield m;
            }
        };
        c.r[Reg.AX] = v & 0xFFFFFFFFL;
        c.r[Reg.DX] = v >>> 32;
    }

    static void wrmsr(Cpu c) {
        int idx = (int) c.r[Reg.CX];
        long v = (c.r[Reg.DX] & 0xFFFFFFFFL) << 32 | (c.r[Reg.AX] & 0xFFFFFFFFL);
        if (c.msrDevice != null && c.msrDevice.claims(idx)) {
            if (!c.msrDevice.write(idx, v)) throw c.fault(Vectors.GP, 0);
            return;
        }
        switch (idx) {
            case Msrs.EFER -> {
                long allowed = Cpu.EFER_SCE | Cpu.EFER_LME | Cpu.EFER_NXE | Cpu.EFER_LMA;
                if ((v & ~allowed) != 0) throw c.fault(Vectors.GP, 0);
                if ((c.cr0 & Cpu.CR0_PG) != 0 && ((v ^ c.efer) & Cpu.EFER_LME) != 0) throw c.fault(Vectors.GP, 0);
                c.efer = (v & ~Cpu.EFER_LMA) | (c.efer & Cpu.EFER_LMA);
                c.updateMode();
                c.flushTlb();
            }
            case Msrs.FS_BASE, Msrs.GS_BASE, Msrs.KERNEL_GS_BASE, Msrs.LSTAR, Msrs.CSTAR -> {
                if ((v >> 47) != 0 && (v >> 47) != -1) throw c.fault(Vectors.GP, 0);
                if (idx == Msrs.FS_BASE) c.segBase[Seg.FS] = v;
                else if (idx == Msrs.GS_BASE) c.segBase[Seg.GS] = v;
                else c.msrs.set(idx, v);
            }
            case Msrs.TSC -> c.setTsc(v);
            case Msrs.MTRRCAP, Msrs.BIOS_SIGN_ID, Msrs.ARCH_CAPABILITIES -> { } // read-only
            default -> {
                if (!c.msrs.has(idx)) throw c.fault(Vectors.GP, 0);
                c.msrs.set(idx, v);
            }
        }
    }

    // ---- descriptor tables, INVLPG, SWAPGS, RDTSCP ----

    static void grp7(Cpu c, Insn i) {
        int reg = i.aux & 7, rm = (i.aux >>> 3) & 7;
        boolean mod3 = (i.aux & 0x40) != 0;
        if (mod3) {
            switch (reg << 3 | rm) {
                case 0x39 -> { // RDTSCP (0F 01 F9)
                    long t = c.tsc();
                    c.r[Reg.AX] = t & 0xFFFFFFFFL;
                    c.r[Reg.DX] = t >>> 32;
                    c.r[Reg.CX] = c.msrs.get(Msrs.TSC_AUX) & 0xFFFFFFFFL;
                }
                case 0x38 -> { // SWAPGS
                    if (c.mode != Decoder.MODE64) throw c.fault(Vectors.UD);
                    needCpl0(c);
                    long k = c.msrs.get(Msrs.KERNEL_GS_BASE);
                    c.msrs.set(Msrs.KERNEL_GS_BASE, c.segBase[Seg.GS]);
                    c.segBase[Seg.GS] = k;
                }
                default -> {
                    if (reg == 4) c.setRmOp(i, i.sz, c.cr0 & 0xFFFF);           // SMSW r
                    else if (reg == 6) { needCpl0(c); lmsw(c, c.rmOp(i, 2)); } // LMSW r
                    else throw c.fault(Vectors.UD);
                }
            }
            return;
        }
        long a = c.ea(i);
        switch (reg) {
            case 0, 1 -> { // SGDT, SIDT
                if (c.cpl() != 0 && (c.cr4 & 0x800) != 0) throw c.fault(Vectors.GP, 0); // UMIP
                c.mmu.write16(a, reg == 0 ? c.gdtLimit : c.idtLimit);
                long base = reg == 0 ? c.gdtBase : c.idtBase;
                if (c.mode == Decoder.MODE64) c.mmu.write64(a + 2, base);
                else c.mmu.write32(a + 2, (int) base);
            }
            case 2, 3 -> { // LGDT, LIDT
                needCpl0(c);
                int limit = c.mmu.read16(a);
                long base = c.mode == Decoder.MODE64 ? c.mmu.read64(a + 2) : c.mmu.read32(a + 2) & (i.sz == 2 ? 0xFFFFFFL : 0xFFFFFFFFL);
                if (reg == 2) { c.gdtLimit = limit; c.gdtBase = base; } else { c.idtLimit = limit; c.idtBase = base; }
            }
            case 4 -> c.write(a, 2, c.cr0 & 0xFFFF);                 // SMSW m16
            case 6 -> { needCpl0(c); lmsw(c, c.read(a, 2)); }        // LMSW m16
            case 7 -> { needCpl0(c); c.mmu.invalidatePage(a); } // INVLPG (blocks are checked against the translation)
            default -> throw c.fault(Vectors.UD);
        }
    }

    private static void lmsw(Cpu c, long v) {
        // LMSW sets PE (never clears it), MP, EM, TS.
        long nv = (c.cr0 & ~0xEL) | (v & 0xF) | (c.cr0 & Cpu.CR0_PE);
        writeCr(c, 0, nv);
    }

    static void grp6(Cpu c, Insn i) {
        if ((c.cr0 & Cpu.CR0_PE) == 0) throw c.fault(Vectors.UD);
        switch (i.aux) {
            case 0 -> c.setRmOp(i, i.mem ? 2 : i.sz, c.ldtrSel); // SLDT
            case 1 -> c.setRmOp(i, i.mem ? 2 : i.sz, c.trSel);   // STR
            case 2 -> { needCpl0(c); Segments.loadLdt(c, (int) c.rmOp(i, 2)); }
            case 3 -> { needCpl0(c); Segments.loadTr(c, (int) c.rmOp(i, 2)); }
            default -> throw c.fault(Vectors.UD); // VERR/VERW: not used by our guests
        }
    }

    // ---- SYSCALL / SYSRET ----

    static void syscall(Cpu c) {
        if ((c.efer & Cpu.EFER_SCE) == 0 || c.mode != Decoder.MODE64) throw c.fault(Vectors.UD);
        long star = c.msrs.get(Msrs.STAR);
        int cs = (int) (star >>> 32) & 0xFFFC;
        c.r[Reg.CX] = c.rip;
        c.r[Reg.R11] = c.rflags() & ~Flags.RF;
        c.setRflags(c.rflags() & ~c.msrs.get(Msrs.SFMASK) & ~Flags.RF);
        // Flat 64-bit code and data segments, as SYSCALL defines them (no descriptor loads).
        c.segSel[Seg.CS] = cs;
        c.segBase[Seg.CS] = 0;
        c.segAttr[Seg.CS] = 0xA09B;
        c.segSel[Seg.SS] = cs + 8;
        c.segBase[Seg.SS] = 0;
        c.segAttr[Seg.SS] = 0xC093;
        c.setCpl(0);
        c.updateMode();
        c.rip = c.msrs.get(Msrs.LSTAR);
    }

    static void sysret(Cpu c, Insn i) {
        if ((c.efer & Cpu.EFER_SCE) == 0 || c.mode != Decoder.MODE64) throw c.fault(Vectors.UD);
        needCpl0(c);
        long star = c.msrs.get(Msrs.STAR);
        int base = (int) (star >>> 48) & 0xFFFF;
        boolean to64 = i.rexW();
        long target = c.r[Reg.CX];
        if (to64 && (target >> 47) != 0 && (target >> 47) != -1) throw c.fault(Vectors.GP, 0);
        c.segSel[Seg.CS] = (to64 ? base + 16 : base) | 3;
        c.segBase[Seg.CS] = 0;
        c.segAttr[Seg.CS] = to64 ? 0xA0FB : 0xC0FB;
        c.segSel[Seg.SS] = (base + 8) | 3;
        c.segAttr[Seg.SS] = 0xC0F3;
        c.setCpl(3);
        c.setRflags((c.r[Reg.R11] & 0x3C7FD7L) | Flags.FIXED);
        c.updateMode();
        c.rip = to64 ? target : target & 0xFFFFFFFFL;
    }

    // ---- far transfers ----

    static void farReturn(Cpu c, Insn i) {
        int w = c.mode == Decoder.MODE64 ? (i.rexW() ? 8 : 4) : i.sz;
        long ip = c.peek(w, 0), cs = c.peek(w, w) & 0xFFFF;
        int newCpl = (c.cr0 & Cpu.CR0_PE) == 0 ? 0 : (int) cs & 3;
        if (newCpl < c.cpl()) throw c.fault(Vectors.GP, (int) cs & 0xFFFC);
        if (newCpl > c.cpl()) throw c.fault(Vectors.GP, (int) cs & 0xFFFC); // returns to outer levels: not used by our guests
        Segments.loadCode(c, (int) cs, c.cpl());
        c.setReg(Reg.SP, c.stackSize(), c.r[Reg.SP] + 2L * w + (i.imm & 0xFFFF));
        c.rip = c.mode == Decoder.MODE64 ? ip : ip & Cpu.mask(Math.min(w, 4));
    }

    static void farIndirect(Cpu c, Insn i) {
        int w = i.sz;
        long ip;
        int sel;
        if (i.aux == OpTable.FAR_DIRECT) {
            ip = i.imm;
            sel = (int) i.imm2;
        } else {
            long a = c.ea(i);
            ip = c.read(a, w);
            sel = (int) c.read(a + w, 2);
        }
        if (i.op == Op.CALLF_E) {
            int oldCs = c.segSel[Seg.CS];
            long ret = c.rip;
            c.mmu.probeWrite(c.r[Reg.SP] - 2L * w, 2 * w);
            Segments.loadCode(c, sel, c.cpl());
            c.push(oldCs, w);
            c.push(ret, w);
        } else {
            Segments.loadCode(c, sel, c.cpl());
        }
        c.rip = ip & Cpu.mask(w);
    }

    // ---- port I/O ----

    private static boolean portAllowed(Cpu c, int port, int size) {
        if ((c.cr0 & Cpu.CR0_PE) == 0 || c.cpl() <= iopl(c)) return true;
        // The TSS I/O permission bitmap.
        if (c.trLimit < 0x67) return false;
        int mapBase = c.sysRead16(c.trBase + 0x66);
        long byteAt = mapBase + (port >>> 3);
        if (byteAt + 1 > c.trLimit) return false;
        int bits = c.sysRead16(c.trBase + byteAt);
        return ((bits >>> (port & 7)) & ((1 << size) - 1)) == 0;
    }

    static void in(Cpu c, Insn i) {
        int port = i.aux == 0 ? (int) i.imm & 0xFF : (int) c.r[Reg.DX] & 0xFFFF;
        if (!portAllowed(c, port, i.sz)) throw c.fault(Vectors.GP, 0);
        int v = c.ports.in(port, i.sz);
        if (i.sz == 1) c.setReg8(0, v);
        else c.setReg(0, i.sz, v & 0xFFFFFFFFL);
    }

    static void out(Cpu c, Insn i) {
        int port = i.aux == 0 ? (int) i.imm & 0xFF : (int) c.r[Reg.DX] & 0xFFFF;
        if (!portAllowed(c, port, i.sz)) throw c.fault(Vectors.GP, 0);
        c.ports.out(port, i.sz, (int) (c.r[Reg.AX] & Cpu.mask(i.sz)));
    }

    static void stringIo(Cpu c, Insn i) {
        int port = (int) c.r[Reg.DX] & 0xFFFF;
        if (!portAllowed(c, port, i.sz)) throw c.fault(Vectors.GP, 0);
        boolean rep = (i.prefixes & (Insn.P_REP | Insn.P_REPNE)) != 0;
        long n = rep ? c.r[Reg.CX] & Cpu.mask(i.asz) : 1;
        long d = c.df() ? -i.sz : i.sz;
        for (int k = 0; n != 0; k++) {
            if (k == Strings.CHUNK) { c.rip -= i.len; return; }
            if (i.op == Op.INS) {
                long at = c.mode == Decoder.MODE64 ? c.r[Reg.DI] & Cpu.mask(i.asz) : (c.segBase[Seg.ES] + (c.r[Reg.DI] & Cpu.mask(i.asz))) & 0xFFFFFFFFL;
                c.mmu.probeWrite(at, i.sz);
                c.write(at, i.sz, c.ports.in(port, i.sz));
                c.setReg(Reg.DI, i.asz, c.r[Reg.DI] + d);
            } else {
                long at = c.segAddr(i, Seg.DS, c.r[Reg.SI] & Cpu.mask(i.asz));
                c.ports.out(port, i.sz, (int) c.read(at, i.sz));
                c.setReg(Reg.SI, i.asz, c.r[Reg.SI] + d);
            }
            n--;
            if (rep) c.setReg(Reg.CX, i.asz, n);
        }
    }
}
