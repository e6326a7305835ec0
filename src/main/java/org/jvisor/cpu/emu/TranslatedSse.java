package org.jvisor.cpu.emu;

import static java.lang.constant.ConstantDescs.CD_int;
import static java.lang.constant.ConstantDescs.CD_long;
import static java.lang.constant.ConstantDescs.CD_void;
import static org.jvisor.cpu.emu.Translator.ADDR;
import static org.jvisor.cpu.emu.Translator.C;
import static org.jvisor.cpu.emu.Translator.CD_CPU;
import static org.jvisor.cpu.emu.Translator.CD_MMU;
import static org.jvisor.cpu.emu.Translator.M;
import static org.jvisor.cpu.emu.Translator.T1;
import static org.jvisor.cpu.emu.Translator.T2;
import static org.jvisor.cpu.emu.Translator.XMM;

import java.lang.classfile.CodeBuilder;
import java.lang.classfile.Label;
import java.lang.constant.ClassDesc;
import java.lang.constant.MethodTypeDesc;
import org.jvisor.cpu.Vectors;

/**
 * The SSE instructions that string and memory functions live on -- 128-bit moves, MOVD/MOVQ,
 * the packed-integer operations computed half by half (PXOR, PCMPEQB, PMINUB, PADDQ...) and
 * PMOVMSKB -- translated like the integer ones: operands chosen here, values through the
 * interpreter's own cores ({@link SseInt#half}, {@link SseShuffle#byteMask}), the same order of
 * reads, checks and writes as {@link SseMove} and {@link SseInt}.
 */
final class TranslatedSse {
    private static final ClassDesc CD_SSE_INT = ClassDesc.of(SseInt.class.getName()), CD_SSE_SHUFFLE = ClassDesc.of(SseShuffle.class.getName());
    private static final ClassDesc CD_FAULT = ClassDesc.of(CpuFault.class.getName());

    private final Translator t;
    private final CodeBuilder c;
    private final Insn i;
    private final long next;

    TranslatedSse(Translator t, Insn i, long ripAfter) {
        this.t = t;
        this.c = t.code;
        this.i = i;
        this.next = ripAfter;
    }

    static boolean handles(Insn i) {
        return switch (i.op) {
            case Op.MOVDQU_LOAD, Op.MOVDQA_LOAD, Op.MOVDQU_STORE, Op.MOVDQA_STORE, Op.MOVD_X_E, Op.MOVD_E_X, Op.MOVQ_X_XM,
                    Op.MOVQ_XM_X, Op.PMOVMSKB -> true;
            case Op.PINT -> halfByHalf(i.aux);
            default -> false;
        };
    }

    /** The packed-integer opcodes SseInt computes as two independent 64-bit halves. */
    private static boolean halfByHalf(int opc) {
        return switch (opc) {
            case 0x60, 0x61, 0x62, 0x68, 0x69, 0x6A, 0x6C, 0x6D, 0x63, 0x67, 0x6B, 0xD1, 0xD2, 0xD3, 0xE1, 0xE2, 0xF1, 0xF2, 0xF3,
                    0x100, 0x101, 0x102, 0x103, 0x105, 0x106, 0x107 -> false;
            default -> true;
        };
    }

    void emit() {
        int d = i.reg * 2;
        switch (i.op) {
            case Op.MOVDQU_LOAD, Op.MOVDQA_LOAD -> {
                source(i.op == Op.MOVDQA_LOAD);
                setXmm(d, T1);
                setXmm(d + 1, T2);
            }
            case Op.MOVDQU_STORE, Op.MOVDQA_STORE -> {
                if (!i.mem) {
                    copyXmm(i.rm * 2, d);
                    copyXmm(i.rm * 2 + 1, d + 1);
                    return;
                }
                t.address(i, next);
                if (i.op == Op.MOVDQA_STORE) alignedOrGp();
                c.aload(M).lload(ADDR).loadConstant(16).invokevirtual(CD_MMU, "probeWrite", MethodTypeDesc.of(CD_void, CD_long, CD_int));
                xmm(d);
                c.lstore(T1);
                t.write(8, T1);
                c.lload(ADDR).loadConstant(8L).ladd().lstore(ADDR);
                xmm(d + 1);
                c.lstore(T1);
                t.write(8, T1);
            }
            case Op.MOVD_X_E -> {
                int sz = i.rexW() ? 8 : 4;
                if (i.mem) {
                    t.address(i, next);
                    t.read(sz);
                } else {
                    t.loadReg(i.rm, sz);
                }
                c.lstore(T1);
                setXmm(d, T1);
                c.lconst_0().lstore(T2);
                setXmm(d + 1, T2);
            }
            case Op.MOVD_E_X -> {
                int sz = i.rexW() ? 8 : 4;
                xmm(d);
                c.lstore(T1);
                if (i.mem) {
                    t.address(i, next);
                    t.write(sz, T1);
                } else {
                    c.lload(T1);
                    t.storeReg(i.rm, sz);
                }
            }
            case Op.MOVQ_X_XM -> {
                if (i.mem) {
                    t.address(i, next);
                    t.read(8);
                } else {
                    xmm(i.rm * 2);
                }
                c.lstore(T1);
                setXmm(d, T1);
                c.lconst_0().lstore(T2);
                setXmm(d + 1, T2);
            }
            case Op.MOVQ_XM_X -> {
                if (i.mem) {
                    t.address(i, next);
                    xmm(d);
                    c.lstore(T1);
                    t.write(8, T1);
                } else {
                    copyXmm(i.rm * 2, d);
                    c.lconst_0().lstore(T2);
                    setXmm(i.rm * 2 + 1, T2);
                }
            }
            case Op.PMOVMSKB -> {
                MethodTypeDesc mask = MethodTypeDesc.of(CD_long, CD_long);
                xmm(i.rm * 2);
                c.invokestatic(CD_SSE_SHUFFLE, "byteMask", mask);
                xmm(i.rm * 2 + 1);
                c.invokestatic(CD_SSE_SHUFFLE, "byteMask", mask).loadConstant(8).lshl().lor();
                t.storeReg(i.reg, 8);
            }
            default -> packed(d); // PINT, computed half by half
        }
    }

    /** dst = dst (op) src, per 64-bit half; the source is read (and checked) whole first, as xmmSrc does. */
    private void packed(int d) {
        source(true);
        half(d, T1);
        half(d + 1, T2);
    }

    private void half(int x, int b) {
        int opc = i.aux;
        c.aload(XMM).loadConstant(x);
        switch (opc) {
            case 0xDB -> { xmm(x); c.lload(b).land(); }
            case 0xEB -> { xmm(x); c.lload(b).lor(); }
            case 0xEF -> { xmm(x); c.lload(b).lxor(); }
            case 0xDF -> { xmm(x); c.loadConstant(-1L).lxor().lload(b).land(); }
            default -> {
                c.loadConstant(opc);
                xmm(x);
                c.lload(b).invokestatic(CD_SSE_INT, "half", MethodTypeDesc.of(CD_long, CD_int, CD_long, CD_long));
            }
        }
        c.lastore();
    }

    /** The 128-bit r/m source into T1 (low) and T2 (high); a memory source must be aligned when {@code aligned}. */
    private void source(boolean aligned) {
        if (!i.mem) {
            xmm(i.rm * 2);
            c.lstore(T1);
            xmm(i.rm * 2 + 1);
            c.lstore(T2);
            return;
        }
        t.address(i, next);
        if (aligned) alignedOrGp();
        t.read(8);
        c.lstore(T1);
        c.lload(ADDR).loadConstant(8L).ladd().lstore(ADDR);
        t.read(8);
        c.lstore(T2);
    }

    /** #GP(0) unless ADDR is 16-byte aligned. */
    private void alignedOrGp() {
        Label ok = c.newLabel();
        c.lload(ADDR).loadConstant(15L).land().lconst_0().lcmp().ifeq(ok);
        c.aload(C).loadConstant(Vectors.GP).iconst_0().invokevirtual(CD_CPU, "fault", MethodTypeDesc.of(CD_FAULT, CD_int, CD_int)).athrow();
        c.labelBinding(ok);
    }

    private void xmm(int index) {
        c.aload(XMM).loadConstant(index).laload();
    }

    private void setXmm(int index, int from) {
        c.aload(XMM).loadConstant(index).lload(from).lastore();
    }

    private void copyXmm(int to, int from) {
        c.aload(XMM).loadConstant(to);
        xmm(from);
        c.lastore();
    }
}
