package org.jvisor.cpu.emu.diff;

import static org.jvisor.cpu.emu.diff.Asm.*;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Consumer;

/**
 * Random test cases for the differential test: an initial state with edge-case values and a
 * sequence of instructions drawn from every implemented opcode form. Each form has a name for
 * the coverage count. Flags an instruction leaves undefined are tracked; before a flag reader
 * a CMP makes them defined again, and at the end they are masked from the comparison.
 */
final class CaseGen {
    static final long CF = 1, PF = 4, AF = 0x10, ZF = 0x40, SF = 0x80, OF = 0x800, ALL = CF | PF | AF | ZF | SF | OF;

    record Form(String name, int weight, Consumer<Asm> emit) {}

    final List<Form> forms = new ArrayList<>();
    private int totalWeight;

    CaseGen() {
        integerForms();
        controlForms();
        sseForms();
        x87Forms();
        MmxForms.addTo(this);
        Sse41Forms.addTo(this);
        Sse42Forms.addTo(this);
        for (Form f : forms) totalWeight += f.weight;
    }

    void add(String name, int weight, Consumer<Asm> emit) {
        forms.add(new Form(name, weight, emit));
    }

    // ============================ values ============================

    static long interesting(SplittableRandom r) {
        return switch (r.nextInt(16)) {
            case 0 -> 0;
            case 1 -> -1;
            case 2 -> 1;
            case 3 -> Long.MIN_VALUE;
            case 4 -> Long.MAX_VALUE;
            case 5 -> 0x80000000L;
            case 6 -> 0x7FFFFFFFL;
            case 7 -> 0xFFFFFFFFL;
            case 8 -> 0x8000;
            case 9 -> 0x7F;
            case 10 -> 0x80;
            case 11 -> r.nextInt(64);
            case 12 -> -r.nextInt(64);
            default -> r.nextLong();
        };
    }

    static long interestingFloat32(SplittableRandom r) {
        return switch (r.nextInt(20)) {
            case 0 -> 0;
            case 1 -> 0x80000000L;
            case 2 -> 0x3F800000L;           // 1
            case 3 -> 0xBF800000L;           // -1
            case 4 -> 0x7F800000L;           // inf
            case 5 -> 0xFF800000L;           // -inf
            case 6 -> 0x7FC00000L | r.nextInt(1 << 22); // QNaN
            case 7 -> 0x7F800001L + r.nextInt((1 << 22) - 1); // SNaN
            case 8 -> r.nextInt(1 << 23);    // denormal
            case 9 -> 0x7F7FFFFFL;           // max
            case 10 -> 0x00800000L;          // min normal
            case 11 -> 0x4F000000L;          // 2^31
            case 12 -> Float.floatToRawIntBits((float) (r.nextInt(2000) - 1000) / 4) & 0xFFFFFFFFL;
            case 13 -> Float.floatToRawIntBits(r.nextInt(1 << 24) - (1 << 23)) & 0xFFFFFFFFL;
            default -> Float.floatToRawIntBits((float) ((r.nextDouble() - 0.5) * Math.pow(2, r.nextInt(80) - 40))) & 0xFFFFFFFFL;
        };
    }

    static long interestingFloat64(SplittableRandom r) {
        return switch (r.nextInt(20)) {
            case 0 -> 0;
            case 1 -> Long.MIN_VALUE;
            case 2 -> Double.doubleToRawLongBits(1);
            case 3 -> Double.doubleToRawLongBits(-1);
            case 4 -> 0x7FF0000000000000L;
            case 5 -> 0xFFF0000000000000L;
            case 6 -> 0x7FF8000000000000L | r.nextLong(1L << 51);
            case 7 -> 0x7FF0000000000001L + r.nextLong((1L << 51) - 1);
            case 8 -> r.nextLong(1L << 52);
            case 9 -> 0x7FEFFFFFFFFFFFFFL;
            case 10 -> 0x0010000000000000L;
            case 11 -> Double.doubleToRawLongBits(0x1p63);
            case 12 -> Double.doubleToRawLongBits((r.nextInt(2000) - 1000) / 4.0);
            case 13 -> Double.doubleToRawLongBits(r.nextLong(1L << 53) - (1L << 52));
            case 14 -> Double.doubleToRawLongBits(0x1p-1022 * (r.nextDouble() + 0.5));
            default -> Double.doubleToRawLongBits((r.nextDouble() - 0.5) * Math.pow(2, r.nextInt(200) - 100));
        };
    }

    /** A random initial state: registers, flags, FPU/SSE state and data. */
    MachineState initial(SplittableRandom r) {
        MachineState s = new MachineState();
        for (int k = 0; k < 16; k++) s.regs[k] = interesting(r);
        s.regs[4] = MachineState.STACK_TOP;
        long status = r.nextLong() & (ALL | 0x400);
        s.rflags = status | 0x202;
        for (int k = 0; k < MachineState.DATA_SIZE; k += 8) {
            long v = switch (r.nextInt(3)) {
                case 0 -> interesting(r);
                case 1 -> interestingFloat64(r);
                default -> interestingFloat32(r) | interestingFloat32(r) << 32;
            };
            for (int b = 0; b < 8; b++) s.data[k + b] = (byte) (v >>> (8 * b));
        }
        byte[] fx = s.fx;
        int rc = r.nextInt(4) == 0 ? r.nextInt(4) : 0;
        int pc = r.nextInt(4) == 0 ? 2 : 3;
        int fcw = 0x3F | 0x40 | pc << 8 | rc << 10;
        put(fx, 0, fcw, 2);
        int depth = r.nextInt(9);
        int top = (8 - depth) & 7;
        put(fx, 2, top << 11, 2);
        int tags = 0;
        for (int k = 0; k < depth; k++) tags |= 1 << ((top + k) & 7);
        fx[4] = (byte) tags;
        for (int k = 0; k < 8; k++) {
            long[] v = x87Value(r);
            put(fx, 32 + 16 * k, v[0], 8);
            put(fx, 40 + 16 * k, v[1], 2);
        }
        int mxcsr = 0x1F80 | (r.nextInt(3) == 0 ? r.nextInt(4) << 13 : 0) | (r.nextInt(4) == 0 ? 0x40 : 0)
                | (r.nextInt(4) == 0 ? 0x8000 : 0) | (r.nextInt(4) == 0 ? r.nextInt(64) : 0);
        put(fx, 24, mxcsr, 4);
        put(fx, 28, 0xFFFF, 4);
        for (int k = 0; k < 32; k++) {
            long v = switch (r.nextInt(3)) {
                case 0 -> interesting(r);
                case 1 -> interestingFloat64(r);
                default -> interestingFloat32(r) | interestingFloat32(r) << 32;
            };
            put(fx, 160 + 8 * k, v, 8);
        }
        return s;
    }

    /** An 80-bit value as {significand, sign/exponent}, built from interesting doubles or raw. */
    static long[] x87Value(SplittableRandom r) {
        if (r.nextInt(6) == 0) return new long[] {r.nextLong() | Long.MIN_VALUE, r.nextInt(0x7FFE) + 1 | (r.nextBoolean() ? 0x8000 : 0)};
        double d = Double.longBitsToDouble(interestingFloat64(r));
        if (Double.isNaN(d)) return new long[] {0xC000000000000000L, 0x7FFF};
        if (Double.isInfinite(d)) return new long[] {Long.MIN_VALUE, d > 0 ? 0x7FFF : 0xFFFF};
        if (d == 0 || Math.abs(d) < 0x1p-1000) return new long[] {0, d < 0 || (1 / d) < 0 ? 0x8000 : 0};
        long bits = Double.doubleToRawLongBits(d);
        int e = (int) ((bits >>> 52) & 0x7FF) - 1023;
        long m = ((bits & 0xFFFFFFFFFFFFFL) << 11) | Long.MIN_VALUE;
        return new long[] {m, (e + 16383) | (d < 0 ? 0x8000 : 0)};
    }

    static void put(byte[] b, int off, long v, int n) {
        for (int k = 0; k < n; k++) b[off + k] = (byte) (v >>> (8 * k));
    }

    /** Emits count random instructions (plus the setup they need). */
    void sequence(Asm a, int count, int[] coverage) {
        for (int n = 0; n < count; n++) {
            int pick = a.rnd.nextInt(totalWeight);
            int k = 0;
            for (; k < forms.size(); k++) {
                pick -= forms.get(k).weight;
                if (pick < 0) break;
            }
            if (a.rnd.nextInt(6) == 0) a.movImm64(a.gpr(), interesting(a.rnd));
            forms.get(k).emit.accept(a);
            coverage[k]++;
        }
    }

    // ============================ helpers ============================

    static int sizePfx(int sz) {
        return sz == 2 ? P66 : 0;
    }

    /** Register or memory r/m operand of the given size. */
    static Object rm(Asm a, int sz, int align) {
        if (a.rnd.nextInt(3) == 0) return a.mem(sz, align);
        return new R(byteSafe(a, sz));
    }

    static int byteSafe(Asm a, int sz) {
        int r = a.gpr();
        // Byte registers 4-7 are AH-BH without REX and SPL-DIL with it; 4 never appears with REX.
        if (sz == 1 && r == 4) r = 0;
        return r;
    }

    /** Reg operand for byte ops: avoid 4 (it would be SPL once any REX appears). */
    static int regFor(Asm a, int sz) {
        int r = a.gpr();
        if (sz == 1 && (r & 7) == 4) r = 0;
        return r;
    }

    /** Makes every status flag defined before an instruction that reads flags. */
    static void needFlags(Asm a) {
        if (a.undef == 0) return;
        a.insn(0, true, new int[] {0x39}, a.gpr(), new R(a.gpr()), 0, 0, false, false);
        a.undef = 0;
    }

    static void flags(Asm a, long defined, long undefined) {
        a.undef = (a.undef & ~defined) | undefined;
    }

    static int immSize(int sz) {
        return Math.min(sz, 4);
    }

    private static final String[] SZ = {"", "b", "w", "", "d", "", "", "", "q"};

    // ============================ integer ============================

    private void integerForms() {
        String[] alu = {"add", "or", "adc", "sbb", "and", "sub", "xor", "cmp"};
        for (int k = 0; k < 8; k++) {
            final int kind = k;
            boolean logic = k == 1 || k == 4 || k == 6;
            boolean reads = k == 2 || k == 3;
            long und = logic ? AF : 0;
            Consumer<Asm> pre = a -> { if (reads) needFlags(a); };
            for (int sz : new int[] {1, 2, 4, 8}) {
                int s = sz;
                int base = kind * 8 + (sz == 1 ? 0 : 1);
                String n = alu[k] + "." + SZ[sz];
                add(n + ".EG", 3, a -> { pre.accept(a); Object rm = rm(a, s, 1); a.insn(sizePfx(s), s == 8, new int[] {base}, regFor(a, s), rm, 0, 0, s == 1, false); flags(a, ALL & ~und, und); });
                add(n + ".GE", 3, a -> { pre.accept(a); Object rm = rm(a, s, 1); a.insn(sizePfx(s), s == 8, new int[] {base + 2}, regFor(a, s), rm, 0, 0, s == 1, false); flags(a, ALL & ~und, und); });
                add(n + ".AI", 1, a -> { pre.accept(a); a.mark(); emitAccImm(a, base + 4, s); flags(a, ALL & ~und, und); });
                int grp = sz == 1 ? 0x80 : 0x81;
                add(n + ".EI", 2, a -> { pre.accept(a); Object rm = rm(a, s, 1); a.insn(sizePfx(s), s == 8, new int[] {grp}, kind, rm, interesting(a.rnd), immSize(s), s == 1, false); flags(a, ALL & ~und, und); });
                if (sz > 1) add(n + ".EIb", 2, a -> { pre.accept(a); Object rm = rm(a, s, 1); a.insn(sizePfx(s), s == 8, new int[] {0x83}, kind, rm, interesting(a.rnd), 1, false, false); flags(a, ALL & ~und, und); });
            }
        }
        for (int sz : new int[] {1, 2, 4, 8}) {
            int s = sz;
            String n = "." + SZ[sz];
            int v = sz == 1 ? 0 : 1;
            add("test" + n, 2, a -> { Object rm = rm(a, s, 1); a.insn(sizePfx(s), s == 8, new int[] {0x84 + v}, regFor(a, s), rm, 0, 0, s == 1, false); flags(a, ALL & ~AF, AF); });
            add("test.I" + n, 1, a -> { Object rm = rm(a, s, 1); a.insn(sizePfx(s), s == 8, new int[] {0xF6 + v}, 0, rm, interesting(a.rnd), immSize(s), s == 1, false); flags(a, ALL & ~AF, AF); });
            add("test.AI" + n, 1, a -> { a.mark(); emitAccImm(a, 0xA8 + v, s); flags(a, ALL & ~AF, AF); });
            add("xchg" + n, 1, a -> { Object rm = rm(a, s, 1); a.insn(sizePfx(s), s == 8, new int[] {0x86 + v}, regFor(a, s), rm, 0, 0, s == 1, false); });
            add("mov.EG" + n, 3, a -> { Object rm = rm(a, s, 1); a.insn(sizePfx(s), s == 8, new int[] {0x88 + v}, regFor(a, s), rm, 0, 0, s == 1, false); });
            add("mov.GE" + n, 3, a -> { Object rm = rm(a, s, 1); a.insn(sizePfx(s), s == 8, new int[] {0x8A + v}, regFor(a, s), rm, 0, 0, s == 1, false); });
            add("mov.EI" + n, 1, a -> { Object rm = rm(a, s, 1); a.insn(sizePfx(s), s == 8, new int[] {0xC6 + v}, 0, rm, interesting(a.rnd), immSize(s), s == 1, false); });
            add("inc" + n, 1, a -> { Object rm = rm(a, s, 1); a.insn(sizePfx(s), s == 8, new int[] {0xFE + v}, 0, rm, 0, 0, s == 1, false); flags(a, ALL & ~CF, 0); });
            add("dec" + n, 1, a -> { Object rm = rm(a, s, 1); a.insn(sizePfx(s), s == 8, new int[] {0xFE + v}, 1, rm, 0, 0, s == 1, false); flags(a, ALL & ~CF, 0); });
            add("not" + n, 1, a -> { Object rm = rm(a, s, 1); a.insn(sizePfx(s), s == 8, new int[] {0xF6 + v}, 2, rm, 0, 0, s == 1, false); });
            add("neg" + n, 1, a -> { Object rm = rm(a, s, 1); a.insn(sizePfx(s), s == 8, new int[] {0xF6 + v}, 3, rm, 0, 0, s == 1, false); flags(a, ALL, 0); });
            add("mul" + n, 1, a -> { Object rm = rm(a, s, 1); a.insn(sizePfx(s), s == 8, new int[] {0xF6 + v}, 4, rm, 0, 0, s == 1, false); flags(a, CF | OF, SF | ZF | AF | PF); });
            add("imul1" + n, 1, a -> { Object rm = rm(a, s, 1); a.insn(sizePfx(s), s == 8, new int[] {0xF6 + v}, 5, rm, 0, 0, s == 1, false); flags(a, CF | OF, SF | ZF | AF | PF); });
            add("div" + n, 1, a -> divide(a, s, 6));
            add("idiv" + n, 1, a -> divide(a, s, 7));
            for (int k = 0; k < 8; k++) {
                if (k == 6) continue; // SAL is SHL
                int kind = k;
                String[] sh = {"rol", "ror", "rcl", "rcr", "shl", "shr", "sal", "sar"};
                add(sh[k] + ".I" + n, 1, a -> shift(a, s, kind, 0));
                add(sh[k] + ".1" + n, 1, a -> shift(a, s, kind, 1));
                add(sh[k] + ".CL" + n, 1, a -> shift(a, s, kind, 2));
            }
            if (sz == 1) continue;
            add("imul2" + n, 1, a -> { Object rm = rm(a, s, 1); a.insn(sizePfx(s), s == 8, new int[] {0x0F, 0xAF}, a.gpr(), rm, 0, 0, false, false); flags(a, CF | OF, SF | ZF | AF | PF); });
            add("imul3" + n, 1, a -> { Object rm = rm(a, s, 1); a.insn(sizePfx(s), s == 8, new int[] {0x69}, a.gpr(), rm, interesting(a.rnd), immSize(s), false, false); flags(a, CF | OF, SF | ZF | AF | PF); });
            add("imul3b" + n, 1, a -> { Object rm = rm(a, s, 1); a.insn(sizePfx(s), s == 8, new int[] {0x6B}, a.gpr(), rm, interesting(a.rnd), 1, false, false); flags(a, CF | OF, SF | ZF | AF | PF); });
            for (int k = 0; k < 4; k++) {
                int kind = k;
                String[] bt = {"bt", "bts", "btr", "btc"};
                add(bt[k] + ".reg" + n, 1, a -> { a.insn(sizePfx(s), s == 8, new int[] {0x0F, 0xA3 + 8 * kind}, a.gpr(), new R(a.gpr()), 0, 0, false, false); flags(a, CF, OF | SF | AF | PF); });
                add(bt[k] + ".mem" + n, 1, a -> btMem(a, s, kind));
                add(bt[k] + ".I" + n, 1, a -> { Object rm = rm(a, s, 1); a.insn(sizePfx(s), s == 8, new int[] {0x0F, 0xBA}, 4 + kind, rm, a.rnd.nextInt(256), 1, false, false); flags(a, CF, OF | SF | AF | PF); });
            }
            add("bsf" + n, 1, a -> { Object rm = rm(a, s, 1); a.insn(sizePfx(s), s == 8, new int[] {0x0F, 0xBC}, a.gpr(), rm, 0, 0, false, false); flags(a, ZF, CF | OF | SF | AF | PF); });
            add("bsr" + n, 1, a -> { Object rm = rm(a, s, 1); a.insn(sizePfx(s), s == 8, new int[] {0x0F, 0xBD}, a.gpr(), rm, 0, 0, false, false); flags(a, ZF, CF | OF | SF | AF | PF); });
            add("lzcnt" + n, 1, a -> { Object rm = rm(a, s, 1); a.insn(sizePfx(s) | PF3, s == 8, new int[] {0x0F, 0xBD}, a.gpr(), rm, 0, 0, false, false); flags(a, ZF | CF, OF | SF | AF | PF); });
            add("popcnt" + n, 1, a -> { Object rm = rm(a, s, 1); a.insn(sizePfx(s) | PF3, s == 8, new int[] {0x0F, 0xB8}, a.gpr(), rm, 0, 0, false, false); flags(a, ALL, 0); });
            for (int k = 0; k < 4; k++) {
                int kind = k;
                String[] nm = {"shld.I", "shrd.I", "shld.CL", "shrd.CL"};
                add(nm[k] + n, 1, a -> shxd(a, s, kind));
            }
            add("movzx.b" + n, 1, a -> { Object rm = rm(a, 1, 1); a.insn(sizePfx(s), s == 8, new int[] {0x0F, 0xB6}, a.gpr(), rm, 0, 0, true, false); });
            add("movsx.b" + n, 1, a -> { Object rm = rm(a, 1, 1); a.insn(sizePfx(s), s == 8, new int[] {0x0F, 0xBE}, a.gpr(), rm, 0, 0, true, false); });
            add("cmov" + n, 3, a -> { needFlags(a); Object rm = rm(a, s, 1); a.insn(sizePfx(s), s == 8, new int[] {0x0F, 0x40 + a.rnd.nextInt(16)}, a.gpr(), rm, 0, 0, false, false); });
            add("xadd" + n, 1, a -> { Object rm = rm(a, s, 1); a.insn(sizePfx(s), s == 8, new int[] {0x0F, 0xC1}, a.gpr(), rm, 0, 0, false, false); flags(a, ALL, 0); });
            add("cmpxchg" + n, 1, a -> { Object rm = rm(a, s, 1); a.insn(sizePfx(s), s == 8, new int[] {0x0F, 0xB1}, a.gpr(), rm, 0, 0, false, false); flags(a, ALL, 0); });
            add("lea" + n, 2, a -> { Mem m = a.mem(1, 1); a.insn(sizePfx(s), s == 8, new int[] {0x8D}, a.gpr(), m, 0, 0, false, false); });
            add("mov.RI" + n, 1, a -> { int r = a.gpr(); a.mark(); if (s == 2) a.out.write(0x66); int rex = (s == 8 ? 8 : 0) | r >> 3; if (rex != 0) a.out.write(0x40 | rex); a.out.write(0xB8 + (r & 7)); a.le(interesting(a.rnd), s); });
            add("xchg.AR" + n, 1, a -> { int r = a.gpr(); if (r == 0) r = 1; a.mark(); if (s == 2) a.out.write(0x66); int rex = (s == 8 ? 8 : 0) | r >> 3; if (rex != 0) a.out.write(0x40 | rex); a.out.write(0x90 + (r & 7)); });
            add("cbw" + n, 1, a -> { a.mark(); if (s == 2) a.out.write(0x66); if (s == 8) a.out.write(0x48); a.out.write(0x98); });
            add("cwd" + n, 1, a -> { a.mark(); if (s == 2) a.out.write(0x66); if (s == 8) a.out.write(0x48); a.out.write(0x99); });
        }
        add("movzx.w.d", 1, a -> { Object rm = rm(a, 2, 1); a.insn(0, false, new int[] {0x0F, 0xB7}, a.gpr(), rm, 0, 0, false, false); });
        add("movzx.w.q", 1, a -> { Object rm = rm(a, 2, 1); a.insn(0, true, new int[] {0x0F, 0xB7}, a.gpr(), rm, 0, 0, false, false); });
        add("movsx.w.d", 1, a -> { Object rm = rm(a, 2, 1); a.insn(0, false, new int[] {0x0F, 0xBF}, a.gpr(), rm, 0, 0, false, false); });
        add("movsx.w.q", 1, a -> { Object rm = rm(a, 2, 1); a.insn(0, true, new int[] {0x0F, 0xBF}, a.gpr(), rm, 0, 0, false, false); });
        add("movsxd", 1, a -> { Object rm = rm(a, 4, 1); a.insn(0, true, new int[] {0x63}, a.gpr(), rm, 0, 0, false, false); });
        add("movsxd.nw", 1, a -> { Object rm = rm(a, 4, 1); a.insn(0, false, new int[] {0x63}, a.gpr(), rm, 0, 0, false, false); });
        add("bswap.d", 1, a -> { int r = a.gpr(); a.insn(0, false, new int[] {0x0F, 0xC8 + (r & 7)}, 0, null, 0, 0, false, r >= 8); fixRexB(a, r); });
        add("bswap.q", 1, a -> { int r = a.gpr(); a.insn(0, true, new int[] {0x0F, 0xC8 + (r & 7)}, 0, null, 0, 0, false, false); fixRexB(a, r); });
        add("setcc", 3, a -> { needFlags(a); Object rm = rm(a, 1, 1); a.insn(0, false, new int[] {0x0F, 0x90 + a.rnd.nextInt(16)}, 0, rm, 0, 0, true, false); });
        add("xadd.b", 1, a -> { Object rm = rm(a, 1, 1); a.insn(0, false, new int[] {0x0F, 0xC0}, regFor(a, 1), rm, 0, 0, true, false); flags(a, ALL, 0); });
        add("cmpxchg.b", 1, a -> { Object rm = rm(a, 1, 1); a.insn(0, false, new int[] {0x0F, 0xB0}, regFor(a, 1), rm, 0, 0, true, false); flags(a, ALL, 0); });
        add("cmpxchg8b", 1, a -> { Mem m = a.mem(8, 8); a.insn(0, false, new int[] {0x0F, 0xC7}, 1, m, 0, 0, false, false); flags(a, ZF, 0); });
        add("cmpxchg16b", 1, a -> { Mem m = a.mem(16, 16); a.insn(0, true, new int[] {0x0F, 0xC7}, 1, m, 0, 0, false, false); flags(a, ZF, 0); });
        add("lock.add", 1, a -> { Mem m = a.mem(8, 8); a.out.write(0xF0); a.insn(0, true, new int[] {0x01}, a.gpr(), m, 0, 0, false, false); fixLock(a); flags(a, ALL, 0); });
        add("lock.reg.ud", 1, a -> { a.mark(); a.out.write(0xF0); a.out.write(0x01); a.out.write(0xC0 | a.rnd.nextInt(64) & 0x3B); });
        add("invalid.ud", 1, a -> {
            int[][] bad = {{0x0F, 0x0B}, {0x06}, {0x07}, {0x0E}, {0x16}, {0x17}, {0x1E}, {0x1F}, {0x27}, {0x2F}, {0x37},
                    {0x3F}, {0x60}, {0x61}, {0xCE}, {0xD4, 0x0A}, {0xD5, 0x0A}, {0x0F, 0xFF, 0xC0}, {0x0F, 0xB9, 0xC0}};
            int[] b = bad[a.rnd.nextInt(bad.length)];
            a.mark();
            for (int x : b) a.out.write(x);
        });
        add("lahf", 1, a -> { needFlags(a); a.mark(); a.out.write(0x9F); });
        add("sahf", 1, a -> { a.mark(); a.out.write(0x9E); flags(a, CF | PF | AF | ZF | SF, 0); });
        add("clc", 1, a -> { a.mark(); a.out.write(0xF8); flags(a, CF, 0); });
        add("stc", 1, a -> { a.mark(); a.out.write(0xF9); flags(a, CF, 0); });
        add("cmc", 1, a -> { needFlags(a); a.mark(); a.out.write(0xF5); });
        add("cld", 1, a -> { a.mark(); a.out.write(0xFC); });
        add("std", 1, a -> { a.mark(); a.out.write(0xFD); });
        add("nop", 1, a -> { a.mark(); a.out.write(0x90); });
        add("nopl", 1, a -> { Object rm = rm(a, 4, 1); a.insn(a.rnd.nextBoolean() ? P66 : 0, false, new int[] {0x0F, 0x1F}, 0, rm, 0, 0, false, false); });
        add("xlat", 1, a -> { a.movImm64(3, MachineState.DATA + a.rnd.nextInt(700)); a.mark(); a.out.write(0xD7); });
        for (int k = 0; k < 5; k++) {
            int kind = k;
            String[] nm = {"movs", "stos", "lods", "cmps", "scas"};
            for (int sz : new int[] {1, 2, 4, 8}) {
                int s = sz;
                add(nm[k] + "." + SZ[sz], 1, a -> string(a, kind, s));
            }
        }
    }

    /** Moves a REX.B into place for opcodes with the register in the low bits (bswap, push r). */
    private static void fixRexB(Asm a, int r) {
        if (r < 8) return;
        byte[] b = a.out.toByteArray();
        int start = (int) a.starts.getLast()[0];
        // insn() emitted REX (0x40 or 0x48) then the opcode; set REX.B.
        b[start] |= 1;
        a.out.reset();
        a.out.write(b, 0, b.length);
    }

    /** Moves the LOCK byte written before insn()'s mark to the instruction's start. */
    private static void fixLock(Asm a) {
        // The F0 byte was written just before the instruction's recorded start: move the mark back.
        long[] last = a.starts.getLast();
        last[0] -= 1;
    }

    private static void emitAccImm(Asm a, int opc, int s) {
        if (s == 2) a.out.write(0x66);
        if (s == 8) a.out.write(0x48);
        a.out.write(opc);
        a.le(interesting(a.rnd), immSize(s));
    }

    private static void divide(Asm a, int s, int kind) {
        // Usually a dividend whose quotient fits; sometimes anything (then #DE is the answer).
        int roll = a.rnd.nextInt(8);
        if (roll < 4) a.movImm64(2, 0);
        else if (roll < 6) { a.mark(); if (s == 2) a.out.write(0x66); if (s == 8) a.out.write(0x48); a.out.write(0x99); }
        Object rm = rm(a, s, 1);
        if (rm instanceof R r && (r.n() == 0 || r.n() == 2) && a.rnd.nextInt(4) != 0) rm = new R(1);
        a.insn(sizePfx(s), s == 8, new int[] {s == 1 ? 0xF6 : 0xF7}, kind, rm, 0, 0, s == 1, false);
        flags(a, 0, ALL);
    }

    private static void shift(Asm a, int s, int kind, int countSrc) {
        int width = s * 8;
        int count = switch (a.rnd.nextInt(6)) {
            case 0 -> 0;
            case 1 -> 1;
            case 2 -> width - 1;
            case 3 -> width;
            case 4 -> width + 1;
            default -> a.rnd.nextInt(256);
        };
        if (countSrc == 1) count = 1;
        if (kind == 2 || kind == 3) needFlags(a);
        Object rm = rm(a, s, 1);
        if (countSrc == 2) {
            // CL is loaded after the operand's address registers, so the operand must not use RCX.
            if (rm instanceof Mem m && usesReg(m, 1) || rm instanceof R r && r.n() == 1) rm = new R(0);
            a.mark();
            a.out.write(0xB1);
            a.out.write(count);
        }
        int opc = s == 1 ? (countSrc == 0 ? 0xC0 : countSrc == 1 ? 0xD0 : 0xD2) : (countSrc == 0 ? 0xC1 : countSrc == 1 ? 0xD1 : 0xD3);
        a.insn(sizePfx(s), s == 8, new int[] {opc}, kind, rm, count, countSrc == 0 ? 1 : 0, s == 1, false);
        int c = count & (s == 8 ? 63 : 31);
        if (c == 0) return;
        long ofDef = c == 1 ? OF : 0;
        if (kind < 4) {
            flags(a, CF | ofDef, OF & ~ofDef);
        } else {
            long cf = (s <= 2 && c > width) ? 0 : CF;
            flags(a, cf | ofDef | SF | ZF | PF, AF | (OF & ~ofDef) | (CF & ~cf));
        }
    }

    private static void shxd(Asm a, int s, int kind) {
        int width = s * 8;
        int count = switch (a.rnd.nextInt(4)) {
            case 0 -> 1;
            case 1 -> width - 1;
            case 2 -> 0;
            default -> a.rnd.nextInt(s == 2 ? 17 : width);
        };
        boolean cl = kind >= 2;
        Object rm = rm(a, s, 1);
        if (cl) {
            if (rm instanceof Mem m && usesReg(m, 1) || rm instanceof R r && r.n() == 1) rm = new R(0);
            a.mark();
            a.out.write(0xB1);
            a.out.write(count | (a.rnd.nextBoolean() ? 0x40 : 0));
        }
        int opc = (kind & 1) == 0 ? (cl ? 0xA5 : 0xA4) : (cl ? 0xAD : 0xAC);
        a.insn(sizePfx(s), s == 8, new int[] {0x0F, opc}, a.gpr(), rm, count, cl ? 0 : 1, false, false);
        if (count == 0) return;
        long ofDef = count == 1 ? OF : 0;
        flags(a, CF | SF | ZF | PF | ofDef, AF | (OF & ~ofDef));
    }

    private static void btMem(Asm a, int s, int kind) {
        // Bit offsets reaching a little before and after the operand, staying in the data area.
        int off = a.rnd.nextInt(512) - 128;
        Mem m = a.mem(8, 8);
        // Keep the bit address in range: target is at least 16 bytes in from the start of the area.
        if (m.target - MachineState.DATA < 32 || m.target - MachineState.DATA > MachineState.DATA_AREA - 96) {
            a.insn(sizePfx(s), s == 8, new int[] {0x0F, 0xA3 + 8 * kind}, a.gpr(), new R(a.gpr()), 0, 0, false, false);
        } else {
            int reg = a.gpr();
            // The offset register must not be one the addressing uses; load it last.
            a.movImm64(reg, off);
            Mem m2 = m;
            if (usesReg(m2, reg)) {
                a.insn(sizePfx(s), s == 8, new int[] {0x0F, 0xA3 + 8 * kind}, a.gpr(), new R(a.gpr()), 0, 0, false, false);
            } else {
                a.insn(sizePfx(s), s == 8, new int[] {0x0F, 0xA3 + 8 * kind}, reg, m2, 0, 0, false, false);
            }
        }
        flags(a, CF, OF | SF | AF | PF);
    }

    private static boolean usesReg(Mem m, int reg) {
        if (m.sib < 0) {
            return m.mod != 0 || m.rm != 5 ? ((m.rm | m.rexB << 3) == reg && !(m.mod == 0 && m.rm == 5)) : false;
        }
        int base = (m.sib & 7) | m.rexB << 3, index = ((m.sib >> 3) & 7) | m.rexX << 3;
        boolean noBase = (m.sib & 7) == 5 && m.mod == 0;
        return (!noBase && base == reg) || (index != 4 && index == reg);
    }

    private static void string(Asm a, int kind, int s) {
        int n = a.rnd.nextInt(12);
        boolean down = a.rnd.nextInt(4) == 0;
        a.mark();
        a.out.write(down ? 0xFD : 0xFC);
        long src = MachineState.DATA + (down ? 200 : 0) + a.rnd.nextInt(300);
        long dst = MachineState.DATA + (down ? 200 : 0) + a.rnd.nextInt(300);
        a.movImm64(6, src);
        a.movImm64(7, dst);
        a.movImm64(1, n);
        int rep = switch (a.rnd.nextInt(3)) { case 0 -> 0; case 1 -> 0xF3; default -> 0xF2; };
        a.mark();
        if (s == 2) a.out.write(0x66);
        if (rep != 0) a.out.write(rep);
        if (s == 8) a.out.write(0x48);
        int[] base = {0xA4, 0xAA, 0xAC, 0xA6, 0xAE};
        a.out.write(base[kind] + (s == 1 ? 0 : 1));
        // CMPS/SCAS set the flags, unless a repeat count of zero skips them entirely.
        if ((kind == 3 || kind == 4) && (rep == 0 || n > 0)) flags(a, ALL, 0);
    }

    // ============================ control flow and stack ============================

    private void controlForms() {
        add("jcc.short", 3, a -> { needFlags(a); branchOver(a, new int[] {0x70 + a.rnd.nextInt(16)}, 1); });
        add("jcc.near", 2, a -> { needFlags(a); branchOver(a, new int[] {0x0F, 0x80 + a.rnd.nextInt(16)}, 4); });
        add("jmp.short", 1, a -> branchOver(a, new int[] {0xEB}, 1));
        add("jmp.near", 1, a -> branchOver(a, new int[] {0xE9}, 4));
        add("jrcxz", 1, a -> { if (a.rnd.nextBoolean()) a.movImm64(1, a.rnd.nextInt(2)); branchOver(a, new int[] {0xE3}, 1); });
        add("loop", 1, a -> { a.movImm64(1, a.rnd.nextInt(3)); branchOver(a, new int[] {0xE2}, 1); });
        add("loope", 1, a -> { needFlags(a); a.movImm64(1, a.rnd.nextInt(3)); branchOver(a, new int[] {0xE1}, 1); });
        add("loopne", 1, a -> { needFlags(a); a.movImm64(1, a.rnd.nextInt(3)); branchOver(a, new int[] {0xE0}, 1); });
        add("call.ret", 2, a -> callRet(a, false));
        add("call.reti", 1, a -> callRet(a, true));
        add("call.ind", 1, a -> callIndirect(a));
        add("jmp.ind", 1, a -> jmpIndirect(a));
        add("push.r", 2, a -> { int r = a.gpr(); a.mark(); if (r >= 8) a.out.write(0x41); a.out.write(0x50 + (r & 7)); });
        add("push.r16", 1, a -> { int r = a.gpr(); a.mark(); a.out.write(0x66); if (r >= 8) a.out.write(0x41); a.out.write(0x50 + (r & 7)); });
        add("pop.r", 2, a -> { pushSomething(a); int r = a.gpr(); a.mark(); if (r >= 8) a.out.write(0x41); a.out.write(0x58 + (r & 7)); });
        add("push.i", 1, a -> { a.mark(); a.out.write(0x68); a.le(interesting(a.rnd), 4); });
        add("push.ib", 1, a -> { a.mark(); a.out.write(0x6A); a.out.write(a.rnd.nextInt(256)); });
        add("push.m", 1, a -> { Mem m = a.mem(8, 1); a.insn(0, false, new int[] {0xFF}, 6, m, 0, 0, false, false); });
        add("pop.m", 1, a -> { pushSomething(a); Mem m = a.mem(8, 1); a.insn(0, false, new int[] {0x8F}, 0, m, 0, 0, false, false); });
        add("pushf", 1, a -> { needFlags(a); a.mark(); a.out.write(0x9C); });
        add("popf", 1, a -> {
            long v = (a.rnd.nextLong() & (ALL | 0x400)) | 0x202;
            a.mark(); a.out.write(0x68); a.le(v, 4);
            a.mark(); a.out.write(0x9D);
            flags(a, ALL, 0);
        });
        add("enter.leave", 1, a -> {
            a.movImm64(5, MachineState.STACK_TOP - 64 - a.rnd.nextInt(64));
            a.mark(); a.out.write(0xC8); a.le(a.rnd.nextInt(64), 2); a.out.write(a.rnd.nextInt(3) == 0 ? a.rnd.nextInt(4) : 0);
            if (a.rnd.nextBoolean()) { a.mark(); a.out.write(0x50 + a.rnd.nextInt(4)); }
            a.mark(); a.out.write(0xC9);
        });
    }

    /** Emits a branch over one random instruction (which runs when the branch is not taken). */
    private void branchOver(Asm a, int[] opcode, int relSize) {
        Asm inner = new Asm(a.rnd);
        inner.base = a.base + a.pos() + opcode.length + relSize;
        inner.undef = a.undef;
        pickSimple(inner);
        byte[] body = inner.bytes();
        // The skipped instruction's offsets shift by the branch's length.
        a.mark();
        for (int b : opcode) a.out.write(b);
        a.le(body.length, relSize);
        int base = a.pos();
        for (long[] s : inner.starts) a.starts.add(new long[] {s[0] + base, s[1]});
        a.out.write(body, 0, body.length);
        // Flags may or may not have been changed by the skipped instruction.
        a.undef |= inner.undef;
    }

    /** An instruction with no control flow or stack effect, for branch bodies. */
    private void pickSimple(Asm a) {
        String[] pool = {"add.q.EG", "sub.d.GE", "xor.b.EG", "mov.EG.q", "inc.d", "neg.q", "not.w", "lea.q", "shl.I.d"};
        String name = pool[a.rnd.nextInt(pool.length)];
        for (Form f : forms) if (f.name.equals(name)) { f.emit.accept(a); return; }
        throw new IllegalStateException(name);
    }

    private void callRet(Asm a, boolean imm) {
        // call L ; jmp short End ; L: <body> ; ret [n] ; End:
        if (imm) pushSomething(a);
        Asm inner = new Asm(a.rnd);
        inner.base = a.base + a.pos() + 5 + 2;
        inner.undef = a.undef;
        pickSimple(inner);
        byte[] body = inner.bytes();
        int retLen = imm ? 3 : 1;
        a.mark(); a.out.write(0xE8); a.le(2, 4);
        a.mark(); a.out.write(0xEB); a.out.write(body.length + retLen);
        int base = a.pos();
        for (long[] s : inner.starts) a.starts.add(new long[] {s[0] + base, s[1]});
        a.out.write(body, 0, body.length);
        a.undef = inner.undef;
        a.mark();
        if (imm) { a.out.write(0xC2); a.le(8, 2); } else a.out.write(0xC3);
    }

    private void callIndirect(Asm a) {
        // lea r, [rip + L] ; call r ; jmp short End ; L: ret ; End:
        int r = a.gpr();
        a.mark();
        a.out.write(0x48 | (r >> 3) << 2);
        a.out.write(0x8D);
        a.out.write(0x05 | (r & 7) << 3);
        a.le(2 + (r >= 8 ? 3 : 2), 4);
        a.mark();
        if (r >= 8) a.out.write(0x41);
        a.out.write(0xFF);
        a.out.write(0xD0 | (r & 7));
        a.mark(); a.out.write(0xEB); a.out.write(1);
        a.mark(); a.out.write(0xC3);
    }

    private void jmpIndirect(Asm a) {
        // lea r, [rip + End] ; jmp r ; <skipped byte> ; End:
        int r = a.gpr();
        a.mark();
        a.out.write(0x48 | (r >> 3) << 2);
        a.out.write(0x8D);
        a.out.write(0x05 | (r & 7) << 3);
        a.le((r >= 8 ? 3 : 2) + 1, 4);
        a.mark();
        if (r >= 8) a.out.write(0x41);
        a.out.write(0xFF);
        a.out.write(0xE0 | (r & 7));
        a.out.write(0xCC); // never reached
    }

    private static void pushSomething(Asm a) {
        a.mark();
        a.out.write(0x68);
        a.le(interesting(a.rnd), 4);
    }

    // ============================ SSE ============================

    private void sseForms() {
        // Moves: {name, prefix, opcode, align (0 = unaligned), memOnly, size}
        Object[][] moves = {
            {"movups.ld", 0, 0x10, 1, 16}, {"movupd.ld", P66, 0x10, 1, 16}, {"movss.ld", PF3, 0x10, 1, 4}, {"movsd.ld", PF2, 0x10, 1, 8},
            {"movups.st", 0, 0x11, 1, 16}, {"movupd.st", P66, 0x11, 1, 16}, {"movss.st", PF3, 0x11, 1, 4}, {"movsd.st", PF2, 0x11, 1, 8},
            {"movlps.ld", 0, 0x12, 1, 8}, {"movlpd.ld", P66, 0x12, -1, 8}, {"movsldup", PF3, 0x12, 16, 16}, {"movddup", PF2, 0x12, 1, 8},
            {"movlps.st", 0, 0x13, -1, 8}, {"movlpd.st", P66, 0x13, -1, 8},
            {"unpcklps", 0, 0x14, 16, 16}, {"unpcklpd", P66, 0x14, 16, 16}, {"unpckhps", 0, 0x15, 16, 16}, {"unpckhpd", P66, 0x15, 16, 16},
            {"movhps.ld", 0, 0x16, 1, 8}, {"movhpd.ld", P66, 0x16, -1, 8}, {"movshdup", PF3, 0x16, 16, 16},
            {"movhps.st", 0, 0x17, -1, 8}, {"movhpd.st", P66, 0x17, -1, 8},
            {"movaps.ld", 0, 0x28, 16, 16}, {"movapd.ld", P66, 0x28, 16, 16}, {"movaps.st", 0, 0x29, 16, 16}, {"movapd.st", P66, 0x29, 16, 16},
            {"movntps", 0, 0x2B, -16, 16}, {"movdqa.ld", P66, 0x6F, 16, 16}, {"movdqu.ld", PF3, 0x6F, 1, 16},
            {"movdqa.st", P66, 0x7F, 16, 16}, {"movdqu.st", PF3, 0x7F, 1, 16}, {"movntdq", P66, 0xE7, -16, 16}, {"lddqu", PF2, 0xF0, -1, 16},
            {"movq.ld", PF3, 0x7E, 1, 8}, {"movq.st", P66, 0xD6, 1, 8},
        };
        for (Object[] mv : moves) {
            int pfx = (Integer) mv[1], opc = (Integer) mv[2], align = (Integer) mv[3], size = (Integer) mv[4];
            add((String) mv[0], 1, a -> sse(a, pfx, new int[] {0x0F, opc}, align, size, -1));
        }
        add("movd.ld", 1, a -> { Object rm = rm(a, 4, 1); a.insn(P66, false, new int[] {0x0F, 0x6E}, a.rnd.nextInt(16), rm, 0, 0, false, false); });
        add("movq.ldg", 1, a -> { Object rm = rm(a, 8, 1); a.insn(P66, true, new int[] {0x0F, 0x6E}, a.rnd.nextInt(16), rm, 0, 0, false, false); });
        add("movd.st", 1, a -> { Object rm = rm(a, 4, 1); a.insn(P66, false, new int[] {0x0F, 0x7E}, a.rnd.nextInt(16), rm, 0, 0, false, false); });
        add("movq.stg", 1, a -> { Object rm = rm(a, 8, 1); a.insn(P66, true, new int[] {0x0F, 0x7E}, a.rnd.nextInt(16), rm, 0, 0, false, false); });
        add("movmskps", 1, a -> a.insn(0, false, new int[] {0x0F, 0x50}, a.gpr(), new R(a.rnd.nextInt(16)), 0, 0, false, false));
        add("movmskpd", 1, a -> a.insn(P66, false, new int[] {0x0F, 0x50}, a.gpr(), new R(a.rnd.nextInt(16)), 0, 0, false, false));
        add("pmovmskb", 2, a -> a.insn(P66, false, new int[] {0x0F, 0xD7}, a.gpr(), new R(a.rnd.nextInt(16)), 0, 0, false, false));
        add("pextrw", 1, a -> a.insn(P66, false, new int[] {0x0F, 0xC5}, a.gpr(), new R(a.rnd.nextInt(16)), a.rnd.nextInt(256), 1, false, false));
        add("pinsrw", 1, a -> { Object rm = a.rnd.nextBoolean() ? a.mem(2, 1) : new R(a.gpr()); a.insn(P66, false, new int[] {0x0F, 0xC4}, a.rnd.nextInt(16), rm, a.rnd.nextInt(256), 1, false, false); });
        add("movhlps", 1, a -> a.insn(0, false, new int[] {0x0F, 0x12}, a.rnd.nextInt(16), new R(a.rnd.nextInt(16)), 0, 0, false, false));
        add("movlhps", 1, a -> a.insn(0, false, new int[] {0x0F, 0x16}, a.rnd.nextInt(16), new R(a.rnd.nextInt(16)), 0, 0, false, false));
        add("maskmovdqu", 1, a -> { a.movImm64(7, MachineState.DATA + a.rnd.nextInt(900)); a.insn(P66, false, new int[] {0x0F, 0xF7}, a.rnd.nextInt(16), new R(a.rnd.nextInt(16)), 0, 0, false, false); });
        // Packed integer.
        int[] pint = {0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6A, 0x6B, 0x6C, 0x6D, 0x74, 0x75, 0x76,
                0xD1, 0xD2, 0xD3, 0xD4, 0xD5, 0xD8, 0xD9, 0xDA, 0xDB, 0xDC, 0xDD, 0xDE, 0xDF, 0xE0, 0xE1, 0xE2, 0xE3, 0xE4,
                0xE5, 0xE8, 0xE9, 0xEA, 0xEB, 0xEC, 0xED, 0xEE, 0xEF, 0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF8, 0xF9, 0xFA,
                0xFB, 0xFC, 0xFD, 0xFE};
        for (int o : pint) add(String.format("p.%02x", o), 1, a -> sse(a, P66, new int[] {0x0F, o}, 16, 16, -1));
        int[] ssse3 = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x1C, 0x1D, 0x1E};
        for (int o : ssse3) add(String.format("p.38%02x", o), 1, a -> sse(a, P66, new int[] {0x0F, 0x38, o}, 16, 16, -1));
        add("palignr", 1, a -> sse(a, P66, new int[] {0x0F, 0x3A, 0x0F}, 16, 16, a.rnd.nextInt(40)));
        add("pshufd", 1, a -> sse(a, P66, new int[] {0x0F, 0x70}, 16, 16, a.rnd.nextInt(256)));
        add("pshufhw", 1, a -> sse(a, PF3, new int[] {0x0F, 0x70}, 16, 16, a.rnd.nextInt(256)));
        add("pshuflw", 1, a -> sse(a, PF2, new int[] {0x0F, 0x70}, 16, 16, a.rnd.nextInt(256)));
        add("shufps", 1, a -> sse(a, 0, new int[] {0x0F, 0xC6}, 16, 16, a.rnd.nextInt(256)));
        add("shufpd", 1, a -> sse(a, P66, new int[] {0x0F, 0xC6}, 16, 16, a.rnd.nextInt(4)));
        int[][] shImm = {{0x71, 2}, {0x71, 4}, {0x71, 6}, {0x72, 2}, {0x72, 4}, {0x72, 6}, {0x73, 2}, {0x73, 3}, {0x73, 6}, {0x73, 7}};
        for (int[] si : shImm) {
            add(String.format("pshift.%02x/%d", si[0], si[1]), 1, a -> {
                int cnt = a.rnd.nextInt(3) == 0 ? a.rnd.nextInt(256) : a.rnd.nextInt(20);
                a.insn(P66, false, new int[] {0x0F, si[0]}, si[1], new R(a.rnd.nextInt(16)), cnt, 1, false, false);
            });
        }
        // Bitwise on floats.
        for (int o = 0x54; o <= 0x57; o++) {
            int op = o;
            add(String.format("fp.%02x.ps", o), 1, a -> sse(a, 0, new int[] {0x0F, op}, 16, 16, -1));
            add(String.format("fp.%02x.pd", o), 1, a -> sse(a, P66, new int[] {0x0F, op}, 16, 16, -1));
        }
        // Arithmetic: ps pd ss sd.
        int[] types = {0, P66, PF3, PF2};
        String[] tn = {"ps", "pd", "ss", "sd"};
        int[] arith = {0x58, 0x59, 0x5C, 0x5D, 0x5E, 0x5F, 0x51};
        for (int o : arith) {
            for (int t = 0; t < 4; t++) {
                int pfx = types[t], size = t < 2 ? 16 : t == 2 ? 4 : 8, al = t < 2 ? 16 : 1;
                add(String.format("fp.%02x.%s", o, tn[t]), 2, a -> { sse(a, pfx, new int[] {0x0F, o}, al, size, -1); });
            }
            for (int t = 0; t < 4; t++) {
                int pfx = types[t], size = t < 2 ? 16 : t == 2 ? 4 : 8, al = t < 2 ? 16 : 1;
                if (o == 0x58) add("cmpp." + tn[t], 2, a -> sse(a, pfx, new int[] {0x0F, 0xC2}, al, size, a.rnd.nextInt(8)));
            }
        }
        add("haddps", 1, a -> sse(a, PF2, new int[] {0x0F, 0x7C}, 16, 16, -1));
        add("haddpd", 1, a -> sse(a, P66, new int[] {0x0F, 0x7C}, 16, 16, -1));
        add("hsubps", 1, a -> sse(a, PF2, new int[] {0x0F, 0x7D}, 16, 16, -1));
        add("hsubpd", 1, a -> sse(a, P66, new int[] {0x0F, 0x7D}, 16, 16, -1));
        add("addsubps", 1, a -> sse(a, PF2, new int[] {0x0F, 0xD0}, 16, 16, -1));
        add("addsubpd", 1, a -> sse(a, P66, new int[] {0x0F, 0xD0}, 16, 16, -1));
        add("ucomiss", 1, a -> { sse(a, 0, new int[] {0x0F, 0x2E}, 1, 4, -1); flags(a, ALL, 0); });
        add("ucomisd", 1, a -> { sse(a, P66, new int[] {0x0F, 0x2E}, 1, 8, -1); flags(a, ALL, 0); });
        add("comiss", 1, a -> { sse(a, 0, new int[] {0x0F, 0x2F}, 1, 4, -1); flags(a, ALL, 0); });
        add("comisd", 1, a -> { sse(a, P66, new int[] {0x0F, 0x2F}, 1, 8, -1); flags(a, ALL, 0); });
        // Conversions.
        add("cvtsi2ss.d", 1, a -> { Object rm = rm(a, 4, 1); a.insn(PF3, false, new int[] {0x0F, 0x2A}, a.rnd.nextInt(16), rm, 0, 0, false, false); });
        add("cvtsi2ss.q", 1, a -> { Object rm = rm(a, 8, 1); a.insn(PF3, true, new int[] {0x0F, 0x2A}, a.rnd.nextInt(16), rm, 0, 0, false, false); });
        add("cvtsi2sd.d", 1, a -> { Object rm = rm(a, 4, 1); a.insn(PF2, false, new int[] {0x0F, 0x2A}, a.rnd.nextInt(16), rm, 0, 0, false, false); });
        add("cvtsi2sd.q", 1, a -> { Object rm = rm(a, 8, 1); a.insn(PF2, true, new int[] {0x0F, 0x2A}, a.rnd.nextInt(16), rm, 0, 0, false, false); });
        for (int o : new int[] {0x2C, 0x2D}) {
            for (boolean w : new boolean[] {false, true}) {
                add(String.format("cvt%02x.ss.%s", o, w ? "q" : "d"), 1, a -> cvtToInt(a, PF3, o, w, 4));
                add(String.format("cvt%02x.sd.%s", o, w ? "q" : "d"), 1, a -> cvtToInt(a, PF2, o, w, 8));
            }
        }
        add("cvtps2pd", 1, a -> sse(a, 0, new int[] {0x0F, 0x5A}, 1, 8, -1));
        add("cvtpd2ps", 1, a -> sse(a, P66, new int[] {0x0F, 0x5A}, 16, 16, -1));
        add("cvtss2sd", 1, a -> sse(a, PF3, new int[] {0x0F, 0x5A}, 1, 4, -1));
        add("cvtsd2ss", 1, a -> sse(a, PF2, new int[] {0x0F, 0x5A}, 1, 8, -1));
        add("cvtdq2ps", 1, a -> sse(a, 0, new int[] {0x0F, 0x5B}, 16, 16, -1));
        add("cvtps2dq", 1, a -> sse(a, P66, new int[] {0x0F, 0x5B}, 16, 16, -1));
        add("cvttps2dq", 1, a -> sse(a, PF3, new int[] {0x0F, 0x5B}, 16, 16, -1));
        add("cvttpd2dq", 1, a -> sse(a, P66, new int[] {0x0F, 0xE6}, 16, 16, -1));
        add("cvtdq2pd", 1, a -> sse(a, PF3, new int[] {0x0F, 0xE6}, 1, 8, -1));
        add("cvtpd2dq", 1, a -> sse(a, PF2, new int[] {0x0F, 0xE6}, 16, 16, -1));
        add("movaps.misaligned", 1, a -> {
            Mem m = a.mem(24, 8);
            if ((m.target & 15) == 0) { m.target += 8; if (!m.ripRel) m.disp += 8; }
            a.insn(0, false, new int[] {0x0F, 0x28}, a.rnd.nextInt(16), m, 0, 0, false, false);
        });
        add("stmxcsr", 1, a -> { Mem m = a.mem(4, 4); a.insn(0, false, new int[] {0x0F, 0xAE}, 3, m, 0, 0, false, false); });
        add("ldmxcsr", 1, a -> {
            Mem m = a.mem(4, 4);
            int v = 0x1F80 | a.rnd.nextInt(4) << 13 | (a.rnd.nextBoolean() ? 0x40 : 0) | (a.rnd.nextBoolean() ? 0x8000 : 0) | a.rnd.nextInt(64);
            // mov dword [m], v ; ldmxcsr [m]  (the store uses the same addressing)
            a.insn(0, false, new int[] {0xC7}, 0, m, v, 4, false, false);
            a.insn(0, false, new int[] {0x0F, 0xAE}, 2, m, 0, 0, false, false);
        });
    }

    private static void cvtToInt(Asm a, int pfx, int opc, boolean w, int size) {
        Object rm = a.rnd.nextInt(3) == 0 ? a.mem(size, 1) : new R(a.rnd.nextInt(16));
        a.insn(pfx, w, new int[] {0x0F, opc}, a.gpr(), rm, 0, 0, false, false);
    }

    /** An SSE op xmm, xmm/m: align > 0 aligned memory allowed, 1 unaligned ok, negative memory only (|align|). */
    private static void sse(Asm a, int pfx, int[] opcode, int align, int size, int imm) {
        boolean memOnly = align < 0;
        int al = Math.abs(align);
        Object rm = memOnly || a.rnd.nextInt(3) == 0 ? a.mem(size, al) : new R(a.rnd.nextInt(16));
        a.insn(pfx, false, opcode, a.rnd.nextInt(16), rm, Math.max(imm, 0), imm >= 0 ? 1 : 0, false, false);
    }

    // ============================ x87 ============================

    private void x87Forms() {
        // Register forms: {name, opcode byte, modrm base}
        Object[][] regs = {
            {"fadd.st", 0xD8, 0xC0}, {"fmul.st", 0xD8, 0xC8}, {"fcom.st", 0xD8, 0xD0}, {"fcomp.st", 0xD8, 0xD8},
            {"fsub.st", 0xD8, 0xE0}, {"fsubr.st", 0xD8, 0xE8}, {"fdiv.st", 0xD8, 0xF0}, {"fdivr.st", 0xD8, 0xF8},
            {"fld.st", 0xD9, 0xC0}, {"fxch", 0xD9, 0xC8},
            {"faddp", 0xDE, 0xC0}, {"fmulp", 0xDE, 0xC8}, {"fsubrp", 0xDE, 0xE0}, {"fsubp", 0xDE, 0xE8},
            {"fdivrp", 0xDE, 0xF0}, {"fdivp", 0xDE, 0xF8}, {"fadd.to", 0xDC, 0xC0}, {"fsub.to", 0xDC, 0xE8},
            {"fdiv.to", 0xDC, 0xF8}, {"fst.st", 0xDD, 0xD0}, {"fstp.st", 0xDD, 0xD8}, {"fucom", 0xDD, 0xE0},
            {"fucomp", 0xDD, 0xE8}, {"fucomi", 0xDB, 0xE8}, {"fcomi", 0xDB, 0xF0}, {"fucomip", 0xDF, 0xE8},
            {"fcomip", 0xDF, 0xF0}, {"fcmovb", 0xDA, 0xC0}, {"fcmove", 0xDA, 0xC8}, {"fcmovnbe", 0xDB, 0xD0},
            {"ffree", 0xDD, 0xC0},
        };
        for (Object[] f : regs) {
            int op = (Integer) f[1], m = (Integer) f[2];
            String name = (String) f[0];
            boolean readsFlags = name.startsWith("fcmov"), setsFlags = name.startsWith("fcomi") || name.startsWith("fucomi");
            add(name, 1, a -> {
                if (readsFlags) needFlags(a);
                a.mark();
                a.out.write(op);
                a.out.write(m + a.rnd.nextInt(8));
                if (setsFlags) flags(a, ALL, 0);
            });
        }
        int[][] simple = {{0xD9, 0xE0}, {0xD9, 0xE1}, {0xD9, 0xE4}, {0xD9, 0xE5}, {0xD9, 0xE8}, {0xD9, 0xEE}, {0xD9, 0xFA},
                {0xD9, 0xFC}, {0xD9, 0xFD}, {0xDE, 0xD9}, {0xDA, 0xE9}, {0xD9, 0xF6}, {0xD9, 0xF7}, {0xD9, 0xF8},
                {0xD9, 0xF5}, {0xD9, 0xF4}, {0xD9, 0xEB}, {0xDB, 0xE2}};
        String[] sn = {"fchs", "fabs", "ftst", "fxam", "fld1", "fldz", "fsqrt", "frndint", "fscale", "fcompp", "fucompp",
                "fdecstp", "fincstp", "fprem", "fprem1", "fxtract", "fldpi", "fnclex"};
        for (int k = 0; k < simple.length; k++) {
            int[] b = simple[k];
            add(sn[k], 1, a -> { a.mark(); a.out.write(b[0]); a.out.write(b[1]); });
        }
        add("fnstsw.ax", 1, a -> { a.mark(); a.out.write(0xDF); a.out.write(0xE0); });
        // Memory forms: {name, opcode, /digit, size}
        Object[][] mems = {
            {"fadd.m32", 0xD8, 0, 4}, {"fmul.m32", 0xD8, 1, 4}, {"fcom.m32", 0xD8, 2, 4}, {"fsub.m32", 0xD8, 4, 4}, {"fdivr.m32", 0xD8, 7, 4},
            {"fld.m32", 0xD9, 0, 4}, {"fst.m32", 0xD9, 2, 4}, {"fstp.m32", 0xD9, 3, 4}, {"fnstcw", 0xD9, 7, 2},
            {"fiadd.m32", 0xDA, 0, 4}, {"fimul.m32", 0xDA, 1, 4}, {"fild.m32", 0xDB, 0, 4}, {"fisttp.m32", 0xDB, 1, 4},
            {"fist.m32", 0xDB, 2, 4}, {"fistp.m32", 0xDB, 3, 4}, {"fld.m80", 0xDB, 5, 10}, {"fstp.m80", 0xDB, 7, 10},
            {"fadd.m64", 0xDC, 0, 8}, {"fmul.m64", 0xDC, 1, 8}, {"fsub.m64", 0xDC, 4, 8}, {"fsubr.m64", 0xDC, 5, 8},
            {"fdiv.m64", 0xDC, 6, 8}, {"fld.m64", 0xDD, 0, 8}, {"fisttp.m64", 0xDD, 1, 8}, {"fst.m64", 0xDD, 2, 8},
            {"fstp.m64", 0xDD, 3, 8}, {"fnstsw.m", 0xDD, 7, 2}, {"fiadd.m16", 0xDE, 0, 2}, {"fild.m16", 0xDF, 0, 2},
            {"fistp.m16", 0xDF, 3, 2}, {"fild.m64", 0xDF, 5, 8}, {"fistp.m64", 0xDF, 7, 8},
        };
        for (Object[] f : mems) {
            int op = (Integer) f[1], digit = (Integer) f[2], size = (Integer) f[3];
            add((String) f[0], 1, a -> { Mem m = a.mem(size, 1); a.insn(0, false, new int[] {op}, digit, m, 0, 0, false, false); });
        }
        add("fldcw", 1, a -> {
            Mem m = a.mem(2, 2);
            int v = 0x3F | 0x40 | (a.rnd.nextBoolean() ? 3 : a.rnd.nextInt(4)) << 8 | a.rnd.nextInt(4) << 10;
            a.insn(P66, false, new int[] {0xC7}, 0, m, v, 2, false, false);
            a.insn(0, false, new int[] {0xD9}, 5, m, 0, 0, false, false);
        });
    }
}
