package org.jvisor.cpu.emu;

import static java.lang.constant.ConstantDescs.CD_boolean;
import static java.lang.constant.ConstantDescs.CD_int;
import static java.lang.constant.ConstantDescs.CD_long;
import static java.lang.constant.ConstantDescs.CD_void;
import static org.jvisor.cpu.emu.Translator.ADDR;
import static org.jvisor.cpu.emu.Translator.C;
import static org.jvisor.cpu.emu.Translator.CD_CPU;
import static org.jvisor.cpu.emu.Translator.CD_MULDIV;
import static org.jvisor.cpu.emu.Translator.CD_SHIFT;
import static org.jvisor.cpu.emu.Translator.T1;
import static org.jvisor.cpu.emu.Translator.T2;
import static org.jvisor.cpu.emu.Translator.T3;
import static org.jvisor.cpu.emu.Translator.T4;

import java.lang.classfile.CodeBuilder;
import java.lang.classfile.Label;
import java.lang.constant.MethodTypeDesc;

/**
 * The bytecode for each instruction the translator handles itself: the common integer
 * instructions of 64-bit code (moves, ALU, tests, INC/DEC/NEG/NOT, shifts, multiplies, the
 * stack, branches, calls and returns). Each mirrors its interpreter handler (named in the
 * comments) step for step, with the operand choices made here instead of at run time.
 */
final class TranslatedOps {
    private static final MethodTypeDesc SHIFT = MethodTypeDesc.of(CD_long, CD_CPU, CD_long, CD_int, CD_int);
    private static final MethodTypeDesc IMUL = MethodTypeDesc.of(CD_long, CD_CPU, CD_long, CD_long, CD_int);
    private static final MethodTypeDesc MUL_FLAGS = MethodTypeDesc.of(CD_void, CD_CPU, CD_long, CD_int, CD_boolean);
    private static final MethodTypeDesc LONG_LONG = MethodTypeDesc.of(CD_long, CD_long, CD_long);

    private final Translator t;
    private final FlagCode flags;
    private final CodeBuilder c;
    private final Insn i;
    private final long next;

    TranslatedOps(Translator t, Insn i, long ripAfter) {
        this.t = t;
        this.flags = t.flags;
        this.c = t.code;
        this.i = i;
        this.next = ripAfter;
    }

    /** Whether the translator emits this instruction itself (else the interpreter runs it in place). */
    static boolean native_(Insn i) {
        return switch (i.op) {
            case Op.MOV_EG, Op.MOV_GE, Op.MOV_EI, Op.MOV_RI, Op.LEA, Op.ALU_EG, Op.ALU_GE, Op.ALU_EI, Op.ALU_AI,
                    Op.TEST_EG, Op.TEST_EI, Op.TEST_AI, Op.INC_E, Op.DEC_E, Op.INC_R, Op.DEC_R, Op.NOT, Op.NEG,
                    Op.MOVZX, Op.MOVSX, Op.MOVSXD, Op.CBW, Op.CWD, Op.XCHG_EG, Op.XCHG_AR, Op.SETCC, Op.CMOV,
                    Op.NOP, Op.PAUSE, Op.IMUL_GE, Op.IMUL_GEI, Op.CLD, Op.STD, Op.XADD, Op.CMPXCHG -> true;
            case Op.SHIFT -> true;
            case Op.MULDIV -> i.aux <= 1 && i.sz == 8;
            case Op.JCC, Op.JMP_REL, Op.JMP_E, Op.CALL_REL, Op.CALL_E, Op.RET, Op.PUSH_R, Op.POP_R, Op.PUSH_I -> i.sz == 8;
            default -> TranslatedSse.handles(i);
        };
    }

    /** Marks the guest registers a translated instruction may read or write. */
    static void registers(Insn i, boolean[] regs) {
        if (i.mem) {
            if (i.base >= 0 && i.base < 16) regs[i.base] = true;
            if (i.index >= 0) regs[i.index] = true;
        } else {
            regs[i.rm] = true;
            regs[i.rm8 & 15] = true; // 16-19 (AH-BH) live in registers 0-3
        }
        regs[i.reg] = true;
        regs[i.reg8 & 15] = true;
        switch (i.op) {
            case Op.MOV_RI -> regs[i.aux >= 16 ? i.aux - 16 : i.aux] = true;
            case Op.INC_R, Op.DEC_R -> regs[i.aux] = true;
            case Op.XCHG_AR -> { regs[i.aux] = true; regs[Reg.AX] = true; }
            case Op.PUSH_R, Op.POP_R -> { regs[i.aux] = true; regs[Reg.SP] = true; }
            case Op.PUSH_I, Op.CALL_REL, Op.CALL_E, Op.RET -> regs[Reg.SP] = true;
            case Op.ALU_AI, Op.TEST_AI, Op.CBW, Op.CMPXCHG -> regs[Reg.AX] = true;
            case Op.CWD, Op.MULDIV -> { regs[Reg.AX] = true; regs[Reg.DX] = true; }
            case Op.SHIFT -> regs[Reg.CX] = true;
            default -> { }
        }
    }

    /** Emits the instruction; returns true when it left the block on every path. */
    boolean emit() {
        int sz = i.sz;
        switch (i.op) {
            case Op.MOV_EG -> { t.loadReg(regNo(), sz); c.lstore(T1); setRm(sz, T1, true); }
            case Op.MOV_GE -> { rm(sz); setRegOp(sz); }
            case Op.MOV_EI -> { c.loadConstant(i.imm).lstore(T1); setRm(sz, T1, true); }
            case Op.MOV_RI -> { c.loadConstant(i.imm); t.storeReg(i.aux, sz); }
            case Op.LEA -> lea();
            case Op.ALU_EG -> { t.loadReg(regNo(), sz); c.lstore(T2); aluRm(i.aux); }
            case Op.ALU_EI -> { c.loadConstant(i.imm & Cpu.mask(sz)).lstore(T2); aluRm(i.aux); }
            case Op.ALU_GE -> aluGE();
            case Op.ALU_AI -> aluAI();
            case Op.TEST_EG -> { rm(sz); t.loadReg(regNo(), sz); c.land(); test(); }
            case Op.TEST_EI -> { rm(sz); c.loadConstant(i.imm & Cpu.mask(sz)).land(); test(); }
            case Op.TEST_AI -> { t.loadReg(0, sz); c.loadConstant(i.imm & Cpu.mask(sz)).land(); test(); }
            case Op.INC_E, Op.DEC_E -> incDec(i.op == Op.INC_E, true);
            case Op.INC_R, Op.DEC_R -> incDec(i.op == Op.INC_R, false);
            case Op.NOT -> { rm(sz); c.loadConstant(-1L).lxor().lstore(T1); setRm(sz, T1, false); }
            case Op.NEG -> neg();
            case Op.MOVZX -> { rm(i.aux); t.storeReg(i.reg, sz); }
            case Op.MOVSX -> { rm(i.aux); sext(i.aux); t.storeReg(i.reg, sz); }
            case Op.MOVSXD -> { rm(4); sext(4); t.storeReg(i.reg, sz); }
            case Op.CBW -> cbw();
            case Op.CWD -> { t.loadReg(0, sz); sext(sz); c.loadConstant(63).lshr(); t.storeReg(Reg.DX, sz); }
            case Op.XCHG_EG -> xchg();
            case Op.XCHG_AR -> {
                t.loadReg(0, sz);
                c.lstore(T1);
                t.loadReg(i.aux, sz);
                t.storeReg(0, sz);
                c.lload(T1);
                t.storeReg(i.aux, sz);
            }
            case Op.XADD -> xadd();
            case Op.CMPXCHG -> cmpxchg();
            case Op.SETCC -> setcc();
            case Op.CMOV -> cmov();
            case Op.NOP, Op.PAUSE -> { }
            case Op.CLD, Op.STD -> {
                c.aload(C).dup().getfield(CD_CPU, "rflags", CD_long);
                if (i.op == Op.CLD) c.loadConstant(~Flags.DF).land();
                else c.loadConstant(Flags.DF).lor();
                c.putfield(CD_CPU, "rflags", CD_long);
            }
            case Op.IMUL_GE -> {
                rm(sz);
                c.lstore(T1);
                c.aload(C);
                t.loadReg(i.reg, sz);
                sext(sz);
                c.lload(T1);
                sext(sz);
                c.loadConstant(sz).invokestatic(CD_MULDIV, "imul", IMUL);
                t.storeReg(i.reg, sz);
                flags.forget();
            }
            case Op.IMUL_GEI -> {
                c.aload(C);
                rm(sz);
                sext(sz);
                c.loadConstant(Cpu.sext(i.imm, sz)).loadConstant(sz).invokestatic(CD_MULDIV, "imul", IMUL);
                t.storeReg(i.reg, sz);
                flags.forget();
            }
            case Op.MULDIV -> mul64(i.aux == 1);
            case Op.SHIFT -> shift();
            case Op.PUSH_R -> { t.loadReg(i.aux, 8); c.lstore(T1); push(T1); }
            case Op.PUSH_I -> { c.loadConstant(i.imm).lstore(T1); push(T1); }
            case Op.POP_R -> {
                t.getR(Reg.SP);
                c.lstore(ADDR);
                t.read(8);
                c.lstore(T1);
                c.lload(ADDR).loadConstant(8L).ladd();
                t.putR(Reg.SP);
                c.lload(T1);
                t.putR(i.aux);
            }
            case Op.JMP_REL -> { t.branch(next + i.imm); return true; }
            case Op.JMP_E -> { rm(8); return exitTo(); }
            case Op.CALL_REL -> { c.loadConstant(next).lstore(T1); push(T1); t.exit(next + i.imm); return true; }
            case Op.CALL_E -> {
                rm(8);
                c.lstore(T3);
                c.loadConstant(next).lstore(T1);
                push(T1);
                c.lload(T3);
                return exitTo();
            }
            case Op.RET -> {
                t.getR(Reg.SP);
                c.lstore(ADDR);
                t.read(8);
                c.lstore(T3);
                c.lload(ADDR).loadConstant(8L + (i.imm & 0xFFFF)).ladd();
                t.putR(Reg.SP);
                c.lload(T3);
                return exitTo();
            }
            case Op.JCC -> {
                Label notTaken = c.newLabel();
                flags.condition(i.aux);
                c.ifeq(notTaken);
                t.branch(next + i.imm);
                c.labelBinding(notTaken);
                t.branch(next);
                return true;
            }
            default -> new TranslatedSse(t, i, next).emit();
        }
        return false;
    }

    /** The byte-register or register number of the ModRM reg operand at this size. */
    private int regNo() {
        return i.sz == 1 ? i.reg8 : i.reg;
    }

    private int rmRegNo(int sz) {
        return sz == 1 ? i.rm8 : i.rm;
    }

    /** Pushes the r/m operand (Cpu.rmOp); a memory operand leaves its address in ADDR. */
    private void rm(int sz) {
        if (i.mem) {
            t.address(i, next);
            t.read(sz);
        } else {
            t.loadReg(rmRegNo(sz), sz);
        }
    }

    /** Cpu.setRmOp from a local; {@code computeAddress} when no earlier read of this instruction did. */
    private void setRm(int sz, int from, boolean computeAddress) {
        if (i.mem) {
            if (computeAddress) t.address(i, next);
            t.write(sz, from);
        } else {
            c.lload(from);
            t.storeReg(rmRegNo(sz), sz);
        }
    }

    private void setRegOp(int sz) {
        t.storeReg(regNo(), sz);
    }

    private void sext(int sz) {
        switch (sz) {
            case 1 -> c.l2i().i2b().i2l();
            case 2 -> c.l2i().i2s().i2l();
            case 4 -> c.l2i().i2l();
            default -> { }
        }
    }

    private void lea() {
        c.loadConstant(i.disp + (i.base == Insn.RIP ? next : 0));
        if (i.base >= 0 && i.base != Insn.RIP) {
            t.getR(i.base);
            c.ladd();
        }
        if (i.index >= 0) {
            t.getR(i.index);
            if (i.scale != 0) c.loadConstant(i.scale).lshl();
            c.ladd();
        }
        if (i.asz != 8) c.loadConstant(Cpu.mask(i.asz)).land();
        t.storeReg(i.reg, i.sz);
    }

    /**
     * Alu.alu inline: T3 = T1 (kind) T2 at the instruction's size, with the lazy flags recorded
     * (ADC and SBB take their carry-in first, as the interpreter does).
     */
    private void alu(int kind) {
        int sz = i.sz;
        long m = Cpu.mask(sz);
        if (kind == Alu.ADC || kind == Alu.SBB) {
            flags.carryAsLong();
            c.lstore(T4);
        }
        c.lload(T1).lload(T2);
        switch (kind) {
            case Alu.ADD, Alu.ADC -> c.ladd();
            case Alu.OR -> c.lor();
            case Alu.AND -> c.land();
            case Alu.XOR -> c.lxor();
            default -> c.lsub(); // SUB, SBB, CMP
        }
        if (kind == Alu.ADC) c.lload(T4).ladd();
        if (kind == Alu.SBB) c.lload(T4).lsub();
        if (sz != 8 && kind != Alu.OR && kind != Alu.AND && kind != Alu.XOR) c.loadConstant(m).land();
        c.lstore(T3);
        if (kind == Alu.ADC || kind == Alu.SBB) c.lload(T4).lstore(FlagCode.FC);
        int lazy = switch (kind) {
            case Alu.ADD -> Flags.K_ADD;
            case Alu.ADC -> Flags.K_ADC;
            case Alu.SBB -> Flags.K_SBB;
            case Alu.OR, Alu.AND, Alu.XOR -> Flags.K_LOGIC;
            default -> Flags.K_SUB;
        };
        flags.produced(lazy, T1, T2, T3, sz);
    }

    /** Alu.aluRm: r/m = r/m (kind) T2; CMP writes nothing. */
    private void aluRm(int kind) {
        int sz = i.sz;
        rm(sz);
        c.lstore(T1);
        alu(kind);
        if (kind != Alu.CMP) setRm(sz, T3, false);
    }

    private void aluGE() {
        int sz = i.sz;
        t.loadReg(regNo(), sz);
        c.lstore(T1);
        rm(sz);
        c.lstore(T2);
        alu(i.aux);
        if (i.aux != Alu.CMP) {
            c.lload(T3);
            setRegOp(sz);
        }
    }

    private void aluAI() {
        int sz = i.sz;
        t.loadReg(0, sz);
        c.lstore(T1);
        c.loadConstant(i.imm & Cpu.mask(sz)).lstore(T2);
        alu(i.aux);
        if (i.aux != Alu.CMP) {
            c.lload(T3);
            t.storeReg(0, sz);
        }
    }

    /** TEST: the value on the stack is the AND result (Alu.logicFlags). */
    private void test() {
        c.lstore(T3);
        flags.produced(Flags.K_LOGIC, T3, T3, T3, i.sz);
    }

    /** Alu.incDec / incDecR: CF is kept (read first), the result written, then the lazy flags. */
    private void incDec(boolean inc, boolean rmForm) {
        int sz = i.sz;
        flags.carryAsLong();
        c.lstore(T4);
        if (rmForm) rm(sz);
        else t.loadReg(i.aux, sz);
        c.lstore(T1);
        c.lload(T1).loadConstant(inc ? 1L : -1L).ladd().loadConstant(Cpu.mask(sz)).land().lstore(T3);
        if (rmForm) {
            setRm(sz, T3, false);
        } else {
            c.lload(T3);
            t.storeReg(i.aux, sz);
        }
        c.lload(T4).lstore(FlagCode.FC);
        c.loadConstant(1L).lstore(T2);
        flags.produced(inc ? Flags.K_INC : Flags.K_DEC, T1, T2, T3, sz);
    }

    private void neg() {
        int sz = i.sz;
        rm(sz);
        c.lstore(T2);
        c.lload(T2).lneg().loadConstant(Cpu.mask(sz)).land().lstore(T3);
        setRm(sz, T3, false);
        c.lconst_0().lstore(T1);
        flags.produced(Flags.K_SUB, T1, T2, T3, sz);
    }

    private void cbw() {
        switch (i.sz) {
            case 2 -> { t.loadReg(0, 1); sext(1); t.storeReg(0, 2); }
            case 4 -> { t.loadReg(0, 2); sext(2); t.storeReg(0, 4); }
            default -> { t.getR(0); sext(4); t.storeReg(0, 8); }
        }
    }

    private void xchg() {
        int sz = i.sz;
        t.loadReg(regNo(), sz);
        c.lstore(T1);
        rm(sz);
        c.lstore(T2);
        setRm(sz, T1, false);
        c.lload(T2);
        setRegOp(sz);
    }

    private void xadd() {
        int sz = i.sz;
        t.loadReg(regNo(), sz);
        c.lstore(T2); // the source register
        rm(sz);
        c.lstore(T1); // the destination
        alu(Alu.ADD);
        if (i.mem) {
            t.write(sz, T3);
            c.lload(T1);
            setRegOp(sz);
        } else {
            c.lload(T1);
            setRegOp(sz);
            c.lload(T3);
            t.storeReg(rmRegNo(sz), sz);
        }
    }

    private void cmpxchg() {
        int sz = i.sz;
        t.loadReg(0, sz);
        c.lstore(T1); // the accumulator
        rm(sz);
        c.lstore(T2); // the destination
        alu(Alu.CMP);
        Label differ = c.newLabel(), done = c.newLabel();
        c.lload(T1).lload(T2).lcmp().ifne(differ);
        t.loadReg(regNo(), sz);
        c.lstore(T3);
        setRm(sz, T3, false);
        c.goto_(done);
        c.labelBinding(differ);
        if (i.mem) t.write(sz, T2); // the destination is written either way, as the hardware does
        c.lload(T2);
        t.storeReg(0, sz);
        c.labelBinding(done);
    }

    private void setcc() {
        Label zero = c.newLabel(), done = c.newLabel();
        flags.condition(i.aux);
        c.ifeq(zero).loadConstant(1L).lstore(T1).goto_(done);
        c.labelBinding(zero);
        c.lconst_0().lstore(T1);
        c.labelBinding(done);
        setRm(1, T1, true);
    }

    private void cmov() {
        int sz = i.sz;
        rm(sz); // the source is read (and may fault) even when not moved
        c.lstore(T1);
        Label no = c.newLabel(), done = c.newLabel();
        flags.condition(i.aux);
        c.ifeq(no).lload(T1);
        t.storeReg(i.reg, sz);
        c.goto_(done);
        c.labelBinding(no);
        if (sz == 4) zeroExtend(i.reg);
        c.labelBinding(done);
    }

    /** MulDiv.mul / imul1 at 64 bits: RDX:RAX = RAX * src. */
    private void mul64(boolean signed) {
        rm(8);
        c.lstore(T1);
        t.getR(0);
        c.lstore(T4);
        c.lload(T4).lload(T1).invokestatic(desc(Math.class), signed ? "multiplyHigh" : "unsignedMultiplyHigh", LONG_LONG).lstore(T2);
        c.lload(T4).lload(T1).lmul().lstore(T3);
        c.lload(T3);
        t.putR(0);
        c.lload(T2);
        t.putR(Reg.DX);
        c.aload(C).lload(T3).loadConstant(8);
        Label ovf = c.newLabel(), done = c.newLabel();
        c.lload(T2);
        if (signed) c.lload(T3).loadConstant(63).lshr();
        else c.lconst_0();
        c.lcmp().ifne(ovf).iconst_0().goto_(done);
        c.labelBinding(ovf);
        c.iconst_1();
        c.labelBinding(done);
        c.invokestatic(CD_MULDIV, "mulFlags", MUL_FLAGS);
        flags.forget();
    }

    /** Shifts and rotates (Shift.exec): a zero count changes nothing but still zero-extends a 32-bit register. */
    private void shift() {
        int sz = i.sz, src = i.aux >>> 4, kind = i.aux & 7;
        int countMask = sz == 8 ? 63 : 31;
        String core = switch (kind) {
            case 0 -> "rol";
            case 1 -> "ror";
            case 2 -> "rcl";
            case 3 -> "rcr";
            case 4, 6 -> "shl";
            case 5 -> "shr";
            default -> "sar";
        };
        rm(sz);
        c.lstore(T1);
        flags.forget();
        Label zero = c.newLabel(), done = c.newLabel();
        if (src == 2) {
            t.getR(Reg.CX);
            c.l2i().loadConstant(countMask).iand().dup().ifeq(zero);
        } else {
            int cnt = (int) (src == 0 ? i.imm : 1) & countMask;
            if (cnt == 0) {
                if (sz == 4 && !i.mem) zeroExtend(i.rm);
                return;
            }
            c.loadConstant(cnt);
        }
        // stack: [count]
        c.istore(Translator.INT_TEMP);
        c.aload(C).lload(T1).iload(Translator.INT_TEMP).loadConstant(sz).invokestatic(CD_SHIFT, core, SHIFT).lstore(T2);
        setRm(sz, T2, false);
        if (src == 2) {
            c.goto_(done);
            c.labelBinding(zero);
            c.pop();
            if (sz == 4 && !i.mem) zeroExtend(i.rm);
            c.labelBinding(done);
        }
    }

    /** A 32-bit write of a register to itself: the upper half cleared. */
    private void zeroExtend(int reg) {
        t.getR(reg);
        c.loadConstant(0xFFFFFFFFL).land();
        t.putR(reg);
    }

    /** PUSH of a local's value at 64 bits: the write may fault before RSP moves. */
    private void push(int from) {
        t.getR(Reg.SP);
        c.loadConstant(8L).lsub().lstore(ADDR);
        t.write(8, from);
        c.lload(ADDR);
        t.putR(Reg.SP);
    }

    /** Leaves the block for the target on the stack (an indirect jump, call or return). */
    private boolean exitTo() {
        t.exitToStackTarget();
        return true;
    }

    private static java.lang.constant.ClassDesc desc(Class<?> k) {
        return java.lang.constant.ClassDesc.of(k.getName());
    }
}
