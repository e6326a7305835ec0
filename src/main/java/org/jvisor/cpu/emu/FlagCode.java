package org.jvisor.cpu.emu;

import static java.lang.constant.ConstantDescs.CD_boolean;
import static java.lang.constant.ConstantDescs.CD_int;
import static java.lang.constant.ConstantDescs.CD_long;
import static org.jvisor.cpu.emu.Translator.C;
import static org.jvisor.cpu.emu.Translator.CD_CPU;

import java.lang.classfile.CodeBuilder;
import java.lang.classfile.Label;
import java.lang.constant.ClassDesc;
import java.lang.constant.MethodTypeDesc;

/**
 * The lazy flags in translated code. Every flag-producing instruction stores the same lazy state
 * the interpreter's {@link Cpu#setLazy} does, so the fields are always current; in addition its
 * operands and result stay in JVM locals, and while the translator knows which instruction made
 * the flags (the last producer in this block, nothing opaque since), a condition is computed
 * from those locals -- {@code cmp; jb} becomes one unsigned compare -- instead of through
 * {@link Cpu#cond}. The formulas are those of Cpu.cf/zf/sf/of/pf.
 */
final class FlagCode {
    /** Locals holding the last producer's operands, result and carry-in. */
    static final int FA = 50, FB = 52, FR = 54, FC = 56;
    private static final int UNKNOWN = -1;
    private static final ClassDesc CD_LONG = ClassDesc.of("java.lang.Long"), CD_FLAGS = ClassDesc.of(Flags.class.getName());

    private final CodeBuilder c;
    private int kind = UNKNOWN, size;

    FlagCode(CodeBuilder c) {
        this.c = c;
    }

    /** Something set the flags without telling us (a fallback, a shift, the loop head): ask the fields. */
    void forget() {
        kind = UNKNOWN;
    }

    /**
     * Records a producer whose operands and result are in locals a, b, r (and, for ADC, SBB, INC
     * and DEC, the carry-in in {@link #FC}): the fields as setLazy leaves them, the locals for later
     * conditions. LOGIC results need no operands (CF=OF=AF=0).
     */
    void produced(int k, int a, int b, int r, int sz) {
        c.aload(C).loadConstant(k).putfield(CD_CPU, "fk", CD_int);
        if (k != Flags.K_LOGIC) {
            c.lload(a).lstore(FA);
            c.lload(b).lstore(FB);
            c.aload(C).lload(FA).putfield(CD_CPU, "fa", CD_long);
            c.aload(C).lload(FB).putfield(CD_CPU, "fb", CD_long);
        }
        c.lload(r).lstore(FR);
        c.aload(C).lload(FR).putfield(CD_CPU, "fr", CD_long);
        c.aload(C).loadConstant(sz).putfield(CD_CPU, "fsz", CD_int);
        if (k == Flags.K_ADC || k == Flags.K_SBB || k == Flags.K_INC || k == Flags.K_DEC) {
            c.aload(C).lload(FC).putfield(CD_CPU, "fc", CD_long);
        }
        kind = k;
        size = sz;
    }

    /** Pushes CF as a long 0 or 1 (the carry-in of ADC/SBB, the CF that INC/DEC keep). */
    void carryAsLong() {
        if (kind == UNKNOWN) {
            c.aload(C).invokevirtual(CD_CPU, "cf", MethodTypeDesc.of(CD_boolean)).i2l();
        } else {
            cf();
            c.i2l();
        }
    }

    /** Pushes condition cc (Jcc/SETcc/CMOVcc numbering) as an int 0 or 1. */
    void condition(int cc) {
        if (kind == UNKNOWN) {
            c.aload(C).loadConstant(cc).invokevirtual(CD_CPU, "cond", MethodTypeDesc.of(CD_boolean, CD_int));
            return;
        }
        boolean sub = kind == Flags.K_SUB;
        switch (cc >>> 1) {
            case 0 -> of();
            case 1 -> cf();
            case 2 -> zf();
            case 3 -> {
                if (sub) unsignedLess(FA, FB, true);
                else {
                    cf();
                    zf();
                    c.ior();
                }
            }
            case 4 -> sf();
            case 5 -> c.lload(FR).invokestatic(CD_FLAGS, "parity", MethodTypeDesc.of(CD_boolean, CD_long));
            case 6 -> {
                if (sub) signedLess(false);
                else {
                    sf();
                    of();
                    c.ixor();
                }
            }
            default -> {
                if (sub) signedLess(true);
                else {
                    zf();
                    sf();
                    of();
                    c.ixor().ior();
                }
            }
        }
        if ((cc & 1) != 0) c.iconst_1().ixor();
    }

    private void zf() {
        c.lload(FR).lconst_0().lcmp();
        bool(true);
    }

    private void sf() {
        c.lload(FR).loadConstant(Cpu.signBit(size)).land().lconst_0().lcmp();
        bool(false);
    }

    private void cf() {
        switch (kind) {
            case Flags.K_ADD -> unsignedLess(FR, FA, false);
            case Flags.K_SUB -> unsignedLess(FA, FB, false);
            case Flags.K_ADC -> carryWithCarryIn(FR, FA);
            case Flags.K_SBB -> carryWithCarryIn(FA, FB);
            case Flags.K_LOGIC -> c.iconst_0();
            default -> { // INC and DEC keep CF: it is their carry-in
                c.lload(FC).lconst_0().lcmp();
                bool(false);
            }
        }
    }

    private void of() {
        long sign = Cpu.signBit(size);
        switch (kind) {
            case Flags.K_ADD, Flags.K_ADC, Flags.K_INC -> {
                c.lload(FA).lload(FR).lxor().lload(FB).lload(FR).lxor().land();
            }
            case Flags.K_SUB, Flags.K_SBB, Flags.K_DEC -> {
                c.lload(FA).lload(FB).lxor().lload(FA).lload(FR).lxor().land();
            }
            default -> {
                c.iconst_0();
                return;
            }
        }
        c.loadConstant(sign).land().lconst_0().lcmp();
        bool(false);
    }

    /** x <u y, or x <=u y (Long.compareUnsigned, as the interpreter computes it). */
    private void unsignedLess(int x, int y, boolean orEqual) {
        c.lload(x).lload(y).invokestatic(CD_LONG, "compareUnsigned", MethodTypeDesc.of(CD_int, CD_long, CD_long));
        lessFromCompare(orEqual);
    }

    /** ADC's and SBB's carry: with a carry-in of 1 the comparison includes equality. */
    private void carryWithCarryIn(int x, int y) {
        Label withCarry = c.newLabel(), done = c.newLabel();
        c.lload(FC).lconst_0().lcmp().ifne(withCarry);
        unsignedLess(x, y, false);
        c.goto_(done);
        c.labelBinding(withCarry);
        unsignedLess(x, y, true);
        c.labelBinding(done);
    }

    /** After CMP/SUB: sext(a) < sext(b) (SF != OF), or <= (ZF or SF != OF). */
    private void signedLess(boolean orEqual) {
        c.lload(FA);
        sext();
        c.lload(FB);
        sext();
        c.lcmp();
        lessFromCompare(orEqual);
    }

    /** Turns a comparison result (negative, zero, positive) into 1 for less (or equal), else 0. */
    private void lessFromCompare(boolean orEqual) {
        Label no = c.newLabel(), done = c.newLabel();
        if (orEqual) c.ifgt(no);
        else c.ifge(no);
        c.iconst_1().goto_(done);
        c.labelBinding(no);
        c.iconst_0();
        c.labelBinding(done);
    }

    private void sext() {
        switch (size) {
            case 1 -> c.l2i().i2b().i2l();
            case 2 -> c.l2i().i2s().i2l();
            case 4 -> c.l2i().i2l();
            default -> { }
        }
    }

    /** Turns an lcmp result into 0/1: true when it was zero ({@code whenZero}) or nonzero. */
    private void bool(boolean whenZero) {
        Label yes = c.newLabel(), done = c.newLabel();
        if (whenZero) c.ifeq(yes);
        else c.ifne(yes);
        c.iconst_0().goto_(done);
        c.labelBinding(yes);
        c.iconst_1();
        c.labelBinding(done);
    }
}
