package org.jvisor.cpu.emu;

import org.jvisor.cpu.Vectors;

/** Dispatches a decoded instruction to its handler. Kept small so the JIT compiles it whole. */
final class Exec {
    private Exec() {}

    /** Instructions after which decoding stops: they change RIP, the mode, or need the loop. */
    static boolean endsBlock(int op) {
        return switch (op) {
            case Op.JCC, Op.JMP_REL, Op.JMP_E, Op.CALL_REL, Op.CALL_E, Op.RET, Op.LOOP, Op.JRCXZ, Op.HLT,
                    Op.INT, Op.INT3, Op.INT1, Op.INTO, Op.IRET, Op.RETF, Op.CALLF_E, Op.JMPF_E, Op.SYSCALL,
                    Op.SYSRET, Op.UD, Op.BADLEN, Op.POPF, Op.STI, Op.CLI, Op.MOV_CR_R, Op.MOV_SEG_E, Op.WBINVD, Op.CLTS,
                    Op.POP_SEG, Op.WRMSR, Op.SYS_GRP7, Op.SYS_GRP6, Op.FXRSTOR, Op.CPUID,
                    Op.MOVS, Op.STOS, Op.LODS, Op.CMPS, Op.SCAS, Op.INS, Op.OUTS -> true;
            default -> false;
        };
    }

    static void exec(Cpu c, Insn i) {
        switch (i.op) {
            case Op.MOV_EG -> Alu.movEG(c, i);
            case Op.MOV_GE -> Alu.movGE(c, i);
            case Op.MOV_EI -> c.setRmOp(i, i.sz, i.imm);
            case Op.MOV_RI -> Alu.movRI(c, i);
            case Op.MOV_MOFFS -> Alu.movMoffs(c, i);
            case Op.LEA -> Alu.lea(c, i);
            case Op.ALU_EG -> Alu.aluEG(c, i);
            case Op.ALU_GE -> Alu.aluGE(c, i);
            case Op.ALU_EI -> Alu.aluEI(c, i);
            case Op.ALU_AI -> Alu.aluAI(c, i);
            case Op.TEST_EG -> Alu.testEG(c, i);
            case Op.TEST_EI -> Alu.logicFlags(c, c.rmOp(i, i.sz) & i.imm, i.sz);
            case Op.TEST_AI -> Alu.logicFlags(c, (i.sz == 1 ? c.getReg8(0) : c.getReg(0, i.sz)) & i.imm, i.sz);
            case Op.INC_E -> Alu.incDec(c, i, true);
            case Op.DEC_E -> Alu.incDec(c, i, false);
            case Op.INC_R, Op.DEC_R -> Alu.incDecR(c, i);
            case Op.NOT -> c.setRmOp(i, i.sz, ~c.rmOp(i, i.sz));
            case Op.NEG -> Alu.neg(c, i);
            case Op.MULDIV -> MulDiv.exec(c, i);
            case Op.IMUL_GE -> MulDiv.imul2(c, i, c.rmOp(i, i.sz));
            case Op.IMUL_GEI -> MulDiv.imul3(c, i);
            case Op.SHIFT -> Shift.exec(c, i);
            case Op.SHXD -> Shift.shxd(c, i);
            case Op.BT_EG, Op.BT_EI -> Bits.bt(c, i);
            case Op.BSF -> Bits.bsf(c, i);
            case Op.BSR -> Bits.bsr(c, i);
            case Op.LZCNT -> Bits.lzcnt(c, i);
            case Op.POPCNT -> Bits.popcnt(c, i);
            case Op.BSWAP -> Bits.bswap(c, i);
            case Op.MOVZX -> c.setReg(i.reg, i.sz, c.rmOp(i, i.aux));
            case Op.MOVSX -> c.setReg(i.reg, i.sz, Cpu.sext(c.rmOp(i, i.aux), i.aux));
            case Op.MOVSXD -> c.setReg(i.reg, i.sz, Cpu.sext(c.rmOp(i, 4), 4));
            case Op.CBW -> Alu.cbw(c, i);
            case Op.CWD -> Alu.cwd(c, i);
            case Op.XCHG_EG -> Alu.xchg(c, i);
            case Op.XCHG_AR -> Alu.xchgAR(c, i);
            case Op.XADD -> Alu.xadd(c, i);
            case Op.CMPXCHG -> Alu.cmpxchg(c, i);
            case Op.CMPXCHG8B -> Alu.cmpxchg8b(c, i);
            case Op.SETCC -> c.setRmOp(i, 1, c.cond(i.aux) ? 1 : 0);
            case Op.CMOV -> Alu.cmov(c, i);
            case Op.LAHF -> c.setReg8(16, c.rflags() & 0xD7 | 2);
            case Op.SAHF -> c.setStatus(Flags.CF | Flags.PF | Flags.AF | Flags.ZF | Flags.SF, c.getReg8(16));
            case Op.CLC -> c.setStatus(Flags.CF, 0);
            case Op.STC -> c.setStatus(Flags.CF, Flags.CF);
            case Op.CMC -> c.setStatus(Flags.CF, c.cf() ? 0 : Flags.CF);
            case Op.CLD -> c.rflags &= ~Flags.DF;
            case Op.STD -> c.rflags |= Flags.DF;
            case Op.NOP, Op.PAUSE, Op.FWAIT -> { }
            case Op.XLAT -> Alu.xlat(c, i);
            default -> exec2(c, i);
        }
    }

    private static void exec2(Cpu c, Insn i) {
        switch (i.op) {
            case Op.JCC -> { if (c.cond(i.aux)) Flow.jump(c, i, c.rip + i.imm); }
            case Op.JMP_REL -> Flow.jump(c, i, c.rip + i.imm);
            case Op.JMP_E -> Flow.jump(c, i, c.rmOp(i, i.sz));
            case Op.CALL_REL -> Flow.call(c, i, c.rip + i.imm);
            case Op.CALL_E -> Flow.call(c, i, c.rmOp(i, i.sz));
            case Op.RET -> Flow.ret(c, i);
            case Op.LOOP -> Flow.loop(c, i);
            case Op.JRCXZ -> Flow.jrcxz(c, i);
            case Op.PUSH_R -> c.push(c.getReg(i.aux, i.sz), i.sz);
            case Op.POP_R -> c.setReg(i.aux, i.sz, c.pop(i.sz));
            case Op.PUSH_I -> c.push(i.imm, i.sz);
            case Op.PUSH_E -> c.push(c.rmOp(i, i.sz), i.sz);
            case Op.POP_E -> Flow.popE(c, i);
            case Op.PUSHF -> c.push(c.rflags() & 0xFCFFFF, i.sz);
            case Op.POPF -> Flow.popf(c, i);
            case Op.ENTER -> Flow.enter(c, i);
            case Op.LEAVE -> Flow.leave(c, i);
            case Op.HLT -> {
                if (c.cpl() != 0) throw c.fault(Vectors.GP, 0);
                c.exitRequest = Cpu.EXIT_HALT;
            }
            case Op.MOVS -> Strings.movs(c, i);
            case Op.STOS -> Strings.stos(c, i);
            case Op.LODS -> Strings.lods(c, i);
            case Op.CMPS -> Strings.cmps(c, i);
            case Op.SCAS -> Strings.scas(c, i);
            case Op.X87 -> c.fpu.exec(c, i);
            case Op.FXSAVE -> Fxsave.save(c, i);
            case Op.FXRSTOR -> Fxsave.restore(c, i);
            case Op.LDMXCSR -> Fxsave.ldmxcsr(c, c.mmu.read32(c.ea(i)));
            case Op.STMXCSR -> c.write(c.ea(i), 4, c.mxcsr);
            case Op.EMMS -> Mmx.emms(c);
            case Op.MMX -> Mmx.exec(c, i);
            case Op.BADLEN -> throw c.fault(Vectors.GP, 0);
            case Op.INT3 -> {
                if (!c.deliverToGuest) throw c.fault(Vectors.BP);
                SystemOps.softInt(c, Vectors.BP);
            }
            case Op.INT1 -> throw c.fault(Vectors.DB);
            default -> execSse(c, i);
        }
    }

    private static void execSse(Cpu c, Insn i) {
        switch (i.op) {
            case Op.MOVDQU_LOAD, Op.MOVDQA_LOAD, Op.MOVDQU_STORE, Op.MOVDQA_STORE, Op.MOVSS_LOAD, Op.MOVSD_LOAD,
                    Op.MOVSS_STORE, Op.MOVSD_STORE, Op.MOVLPS_LOAD, Op.MOVLPS_STORE, Op.MOVHPS_LOAD,
                    Op.MOVHPS_STORE, Op.MOVHLPS, Op.MOVLHPS, Op.MOVSLDUP, Op.MOVSHDUP, Op.MOVDDUP, Op.MOVD_X_E,
                    Op.MOVD_E_X, Op.MOVQ_X_XM, Op.MOVQ_XM_X, Op.MASKMOVDQU -> SseMove.exec(c, i);
            case Op.PINT -> SseInt.exec(c, i);
            case Op.SSE41 -> Sse41.exec(c, i);
            case Op.SSE42 -> Sse42.exec(c, i);
            case Op.PSHIFT_I -> SseInt.shiftImm(c, i);
            case Op.PSHUFD, Op.PSHUFHW, Op.PSHUFLW, Op.SHUFPS, Op.SHUFPD, Op.UNPCKLPS, Op.UNPCKHPS, Op.PINSRW,
                    Op.PEXTRW, Op.PALIGNR, Op.MOVMSKPS, Op.MOVMSKPD, Op.PMOVMSKB -> SseShuffle.exec(c, i);
            case Op.FPARITH -> SseFloat.arith(c, i);
            case Op.FPHORIZ -> SseFloat.horizontal(c, i);
            case Op.FPCMP -> SseFloat.compare(c, i);
            case Op.COMIS -> SseFloat.comis(c, i);
            case Op.CVT -> SseConvert.exec(c, i);
            case Op.CPUID, Op.RDTSC, Op.MOV_R_CR, Op.MOV_CR_R, Op.MOV_R_DR, Op.MOV_DR_R, Op.RDMSR, Op.WRMSR,
                    Op.SYS_GRP7, Op.SYS_GRP6, Op.CLTS, Op.WBINVD, Op.CLI, Op.STI, Op.SYSCALL, Op.SYSRET, Op.INT,
                    Op.INTO, Op.IRET, Op.RETF, Op.JMPF_E, Op.CALLF_E, Op.MOV_SEG_E, Op.MOV_E_SEG, Op.PUSH_SEG,
                    Op.POP_SEG, Op.IN, Op.OUT, Op.INS, Op.OUTS -> SystemOps.exec(c, i);
            default -> throw c.fault(Vectors.UD);
        }
    }
}
