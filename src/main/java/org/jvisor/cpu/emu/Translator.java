package org.jvisor.cpu.emu;

import static java.lang.constant.ConstantDescs.BSM_CLASS_DATA;
import static java.lang.constant.ConstantDescs.CD_boolean;
import static java.lang.constant.ConstantDescs.CD_int;
import static java.lang.constant.ConstantDescs.CD_long;
import static java.lang.constant.ConstantDescs.CD_void;
import static java.lang.constant.ConstantDescs.DEFAULT_NAME;
import static java.lang.constant.ConstantDescs.INIT_NAME;
import static java.lang.constant.ConstantDescs.MTD_void;

import java.lang.classfile.Attributes;
import java.lang.classfile.ClassFile;
import java.lang.classfile.ClassHierarchyResolver;
import java.lang.classfile.CodeBuilder;
import java.lang.classfile.Label;
import java.lang.constant.ClassDesc;
import java.lang.constant.DynamicConstantDesc;
import java.lang.constant.MethodTypeDesc;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.util.ArrayList;
import java.util.List;

/**
 * Translates a region of 64-bit guest code -- a hot block and the warm blocks it branches to
 * within its page ({@link Region}) -- into a JVM class whose {@code run} method does what the
 * interpreter would do for the same instructions, with everything the interpreter decides per
 * execution -- which handler, which operands, which size -- decided once here, and branches
 * between the region's blocks turned into JVM jumps, so loops stay inside one compiled method.
 *
 * <p>How the generated method is laid out:
 * <pre>
 *   prologue    m = c.mmu; r = c.r; each guest register the region names -> a JVM local
 *   block j:    insn 0..n, each first noting (j, k) in a local for the fault handler;
 *               a branch to a member block jumps there (back-edges count iterations, at most
 *               LOOP_CAP per call), any other target leaves: registers back to c.r, c.rip,
 *               c.icount += instructions run, return
 *   handler:    (one, for CpuFault anywhere) registers back to c.r; count;
 *               c.translatedFault(block j, k); rethrow
 * </pre>
 * Instructions without a translation here run through {@link Exec#exec} in place, with the
 * cached registers written back before and reloaded after. Semantics stay in one place: the
 * generated code calls the interpreter's own cores (shifts, multiplies, conditions it cannot
 * work out statically) with constant arguments, writes the same lazy flags (see
 * {@link FlagCode}) and mirrors the order of the handlers' reads and writes, so a fault leaves
 * the same state in both.
 */
final class Translator {
    /** Back-edges a region takes per call before returning to the run loop (interrupts, budget). */
    static final int LOOP_CAP = 4096;
    /** HotSpot compiles no method over 8,000 bytes of bytecode; larger translations are cut down. */
    static final int MAX_CODE = 7000;

    static final ClassDesc CD_CPU = desc(Cpu.class), CD_MMU = desc(Mmu.class), CD_BLOCK = desc(Block.class),
            CD_INSN = desc(Insn.class), CD_FAULT = desc(CpuFault.class), CD_EXEC = desc(Exec.class),
            CD_SHIFT = desc(Shift.class), CD_MULDIV = desc(MulDiv.class);
    /**
     * Class names by tier: the JIT's compiler directive keeps C2 away from warm regions (C1 code
     * at once, cheap to make), while hot regions are left to the JVM's full tiering.
     */
    static final String WARM = "WarmRegion", HOT = "HotRegion";
    private static final MethodHandles.Lookup LOOKUP = MethodHandles.lookup();
    private static final ClassFile CLASS_FILE = ClassFile.of(
            ClassFile.ClassHierarchyResolverOption.of(ClassHierarchyResolver.ofClassLoading(LOOKUP)));
    /** The region's blocks, the hidden class's class data. */
    private static final DynamicConstantDesc<Block[]> THE_BLOCKS =
            DynamicConstantDesc.ofNamed(BSM_CLASS_DATA, DEFAULT_NAME, CD_BLOCK.arrayType());

    // Local variable slots of the generated method.
    static final int C = 1, M = 2, R = 3, REG = 4, ITER = 36, K = 37, EXC = 38, INT_TEMP = 39;
    /** Long temporaries: the memory operand's address, then scratch values. */
    static final int ADDR = 40, T1 = 42, T2 = 44, T3 = 46, T4 = 48; // then FlagCode's locals from 50
    /** Instructions of the blocks completed in this call (a long). */
    static final int DONE = 60;
    /** Scratch for writes of registers kept in c.r. */
    static final int REG_TEMP = 62;
    /** c.xmm, the SSE registers. */
    static final int XMM = 64;

    private final Block[] blocks;
    /** Instructions translated from each block (all of them, except when one huge block is cut). */
    private final int[] counts;
    final boolean[] cached = new boolean[16];
    CodeBuilder code;
    FlagCode flags;
    private Label[] entries;
    private int current;

    private Translator(Block[] blocks, int headCount, boolean hot) {
        this.blocks = blocks;
        this.registersInLocals = hot;
        this.counts = new int[blocks.length];
        for (int j = 0; j < blocks.length; j++) {
            counts[j] = j == 0 ? headCount : blocks[j].insns.length;
            for (int k = 0; k < counts[j]; k++) {
                Insn i = blocks[j].insns[k];
                if (TranslatedOps.native_(i)) TranslatedOps.registers(i, cached);
            }
        }
    }

    /**
     * Translates a region (64-bit code only), or returns null when it has nothing worth running
     * as bytecode. A region too large for one method loses its last blocks; a single block too
     * large is translated in part, the rest running interpreted from where the translation stops.
     */
    static CompiledBlock translate(Region region, boolean hot) throws ReflectiveOperationException {
        Block[] blocks = region.blocks();
        if (blocks[0].mode != Decoder.MODE64) return null;
        int members = blocks.length, headCount = blocks[0].insns.length;
        while (headCount > 0) {
            Block[] use = java.util.Arrays.copyOf(blocks, members);
            byte[] bytes = new Translator(use, headCount, hot).classBytes();
            if (codeLength(bytes) <= MAX_CODE) return instantiate(bytes, use);
            if (members > 1) members = Math.max(1, members / 2);
            else headCount /= 2;
        }
        return null;
    }

    /** -Djvisor.jit.dump=DIR writes every generated class there (for javap). */
    private static final String DUMP = System.getProperty("jvisor.jit.dump");
    private static final java.util.concurrent.atomic.AtomicInteger DUMPED = new java.util.concurrent.atomic.AtomicInteger();

    private static CompiledBlock instantiate(byte[] bytes, Block[] blocks) throws ReflectiveOperationException {
        if (DUMP != null) {
            try {
                java.nio.file.Files.write(java.nio.file.Path.of(DUMP, String.format("T%05d-%x.class", DUMPED.incrementAndGet(), blocks[0].rip)), bytes);
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }
        MethodHandles.Lookup l = LOOKUP.defineHiddenClassWithClassData(bytes, blocks, false);
        try {
            return (CompiledBlock) l.findConstructor(l.lookupClass(), MethodType.methodType(void.class)).invoke();
        } catch (ReflectiveOperationException | RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private static int codeLength(byte[] bytes) {
        for (var m : ClassFile.of().parse(bytes).methods()) {
            if (m.methodName().equalsString("run")) return m.findAttribute(Attributes.code()).orElseThrow().codeLength();
        }
        throw new IllegalStateException("no run method");
    }

    private byte[] classBytes() {
        return CLASS_FILE.build(ClassDesc.of(Translator.class.getPackageName() + "." + (registersInLocals ? HOT : WARM)), cls -> {
            cls.withFlags(ClassFile.ACC_FINAL | ClassFile.ACC_SUPER);
            cls.withSuperclass(desc(CompiledBlock.class));
            cls.withMethodBody(INIT_NAME, MTD_void, 0, c -> c.aload(0).invokespecial(desc(CompiledBlock.class), INIT_NAME, MTD_void).return_());
            cls.withMethodBody("run", MethodTypeDesc.of(CD_void, CD_CPU), ClassFile.ACC_FINAL, this::body);
        });
    }

    private void body(CodeBuilder c) {
        code = c;
        flags = new FlagCode(c);
        c.aload(C).getfield(CD_CPU, "mmu", CD_MMU).astore(M);
        c.aload(C).getfield(CD_CPU, "r", CD_long.arrayType()).astore(R);
        c.aload(C).getfield(CD_CPU, "xmm", CD_long.arrayType()).astore(XMM);
        loadRegisters();
        c.iconst_0().istore(ITER);
        c.iconst_0().istore(K);
        c.lconst_0().lstore(DONE);
        entries = new Label[blocks.length];
        for (int j = 0; j < blocks.length; j++) entries[j] = c.newLabel();
        Label bodyStart = c.newLabel(), bodyEnd = c.newLabel(), handler = c.newLabel();
        c.labelBinding(bodyStart);
        for (int j = 0; j < blocks.length; j++) {
            current = j;
            c.labelBinding(entries[j]);
            flags.forget(); // several ways in: the flags are whatever the fields say
            boolean ended = false;
            for (int k = 0; k < counts[j]; k++) {
                Insn i = blocks[j].insns[k];
                boolean last = k == counts[j] - 1;
                // Which instruction is running, for the handler: a local store the JIT keeps only in its debug info.
                if (i.op != Op.NOP && i.op != Op.PAUSE) c.loadConstant(j << 8 | k).istore(K);
                if (TranslatedOps.native_(i)) ended = new TranslatedOps(this, i, ripAfter(j, k)).emit();
                else ended = fallback(i, j, k, last);
            }
            if (!ended) branch(ripAfter(j, counts[j] - 1));
        }
        c.labelBinding(bodyEnd);
        c.exceptionCatch(bodyStart, bodyEnd, handler, CD_FAULT);
        c.labelBinding(handler);
        c.astore(EXC);
        storeRegisters();
        c.aload(C).dup().getfield(CD_CPU, "icount", CD_long).lload(DONE).ladd().putfield(CD_CPU, "icount", CD_long);
        c.aload(C).loadConstant(THE_BLOCKS).iload(K).loadConstant(8).ishr().aaload().iload(K).loadConstant(0xFF).iand()
                .invokevirtual(CD_CPU, "translatedFault", MethodTypeDesc.of(CD_void, CD_BLOCK, CD_int));
        c.aload(EXC).athrow();
    }

    /** The address after instruction k of block j (what RIP-relative operands and fall-through use). */
    private long ripAfter(int j, int k) {
        long ip = blocks[j].rip;
        for (int n = 0; n <= k; n++) ip += blocks[j].insns[n].len;
        return ip;
    }

    // ---- guest registers in JVM locals ----

    /**
     * In hot regions guest registers live in JVM locals (loaded at entry, stored at exits, faults
     * and fallbacks), which C2 keeps in host registers; warm regions read and write c.r directly,
     * which is nearly as fast under C1 and much cheaper to compile.
     */
    private final boolean registersInLocals;

    private static int slot(int reg) {
        return REG + 2 * reg;
    }

    private void loadRegisters() {
        if (!registersInLocals) return;
        for (int n = 0; n < 16; n++) if (cached[n]) code.aload(R).loadConstant(n).laload().lstore(slot(n));
    }

    void storeRegisters() {
        if (!registersInLocals) return;
        for (int n = 0; n < 16; n++) if (cached[n]) code.aload(R).loadConstant(n).lload(slot(n)).lastore();
    }

    /** Pushes the whole of guest register n. */
    void getR(int n) {
        if (registersInLocals) code.lload(slot(n));
        else code.aload(R).loadConstant(n).laload();
    }

    /** Pops a long into the whole of guest register n. */
    void putR(int n) {
        if (registersInLocals) {
            code.lstore(slot(n));
        } else {
            code.lstore(REG_TEMP);
            code.aload(R).loadConstant(n).lload(REG_TEMP).lastore();
        }
    }

    /** Pushes register n zero-extended from sz bytes; for sz 1, n is a byte-register number (16-19: AH-BH). */
    void loadReg(int n, int sz) {
        switch (sz) {
            case 1 -> {
                if (n < 16) getR(n);
                else {
                    getR(n - 16);
                    code.loadConstant(8).lushr();
                }
                code.loadConstant(0xFFL).land();
            }
            case 2 -> { getR(n); code.loadConstant(0xFFFFL).land(); }
            case 4 -> { getR(n); code.loadConstant(0xFFFFFFFFL).land(); }
            default -> getR(n);
        }
    }

    /** Pops a long into register n as a write of sz bytes does (merge for 1 and 2, zero-extend for 4). */
    void storeReg(int n, int sz) {
        switch (sz) {
            case 1 -> {
                code.loadConstant(0xFFL).land();
                if (n < 16) {
                    getR(n);
                    code.loadConstant(~0xFFL).land().lor();
                    putR(n);
                } else {
                    code.loadConstant(8).lshl();
                    getR(n - 16);
                    code.loadConstant(~0xFF00L).land().lor();
                    putR(n - 16);
                }
            }
            case 2 -> {
                code.loadConstant(0xFFFFL).land();
                getR(n);
                code.loadConstant(~0xFFFFL).land().lor();
                putR(n);
            }
            case 4 -> { code.loadConstant(0xFFFFFFFFL).land(); putR(n); }
            default -> putR(n);
        }
    }

    // ---- memory operands ----

    /** Computes the memory operand's linear address into {@link #ADDR}, as {@link Cpu#ea} does in 64-bit mode. */
    void address(Insn i, long ripAfter) {
        long constant = i.disp + (i.base == Insn.RIP ? ripAfter : 0);
        code.loadConstant(constant);
        if (i.base >= 0 && i.base != Insn.RIP) {
            getR(i.base);
            code.ladd();
        }
        if (i.index >= 0) {
            getR(i.index);
            if (i.scale != 0) code.loadConstant(i.scale).lshl();
            code.ladd();
        }
        if (i.asz != 8) code.loadConstant(Cpu.mask(i.asz)).land();
        if (i.seg >= 0) code.aload(C).getfield(CD_CPU, "segBase", CD_long.arrayType()).loadConstant(i.seg).laload().ladd();
        code.lstore(ADDR);
    }

    /** Pushes the sz-byte value at {@link #ADDR}, zero-extended. */
    void read(int sz) {
        code.aload(M).lload(ADDR);
        switch (sz) {
            case 1 -> code.invokevirtual(CD_MMU, "read8", MethodTypeDesc.of(CD_int, CD_long)).i2l();
            case 2 -> code.invokevirtual(CD_MMU, "read16", MethodTypeDesc.of(CD_int, CD_long)).i2l();
            case 4 -> code.invokevirtual(CD_MMU, "read32", MethodTypeDesc.of(CD_int, CD_long)).i2l().loadConstant(0xFFFFFFFFL).land();
            default -> code.invokevirtual(CD_MMU, "read64", MethodTypeDesc.of(CD_long, CD_long));
        }
    }

    /** Writes the low sz bytes of the long in local {@code from} to {@link #ADDR}. */
    void write(int sz, int from) {
        code.aload(M).lload(ADDR).lload(from);
        switch (sz) {
            case 1 -> code.l2i().invokevirtual(CD_MMU, "write8", MethodTypeDesc.of(CD_void, CD_long, CD_int));
            case 2 -> code.l2i().invokevirtual(CD_MMU, "write16", MethodTypeDesc.of(CD_void, CD_long, CD_int));
            case 4 -> code.l2i().invokevirtual(CD_MMU, "write32", MethodTypeDesc.of(CD_void, CD_long, CD_int));
            default -> code.invokevirtual(CD_MMU, "write64", MethodTypeDesc.of(CD_void, CD_long, CD_long));
        }
    }

    // ---- leaving the block ----

    /** Leaves the region for {@code target}: registers back, RIP, instruction count. */
    void exit(long target) {
        storeRegisters();
        code.aload(C).loadConstant(target).putfield(CD_CPU, "rip", CD_long);
        countAndReturn();
    }

    /** Leaves the region for the target on the operand stack (indirect jumps, calls, returns). */
    void exitToStackTarget() {
        code.lstore(T4);
        storeRegisters();
        code.aload(C).lload(T4).putfield(CD_CPU, "rip", CD_long);
        countAndReturn();
    }

    /** Adds the instructions run (the blocks completed before, and the current one) to c.icount; returns. */
    private void countAndReturn() {
        code.aload(C).dup().getfield(CD_CPU, "icount", CD_long).lload(DONE).ladd().loadConstant((long) counts[current]).ladd()
                .putfield(CD_CPU, "icount", CD_long);
        code.return_();
    }

    /**
     * The current block is done and control goes to {@code target}: into the member block there
     * (unless the code cache has dropped the region since, or a loop has gone round
     * {@link #LOOP_CAP} times in this call), else out of the region.
     */
    void branch(long target) {
        int j = member(target);
        if (j < 0) {
            exit(target);
            return;
        }
        Label leave = code.newLabel();
        // Self-modifying code: a store that hit one of the region's pages dropped the head block.
        code.loadConstant(THE_BLOCKS).iconst_0().aaload().getfield(CD_BLOCK, "valid", CD_boolean).ifeq(leave);
        if (j <= current) code.iinc(ITER, 1).iload(ITER).loadConstant(LOOP_CAP).if_icmpge(leave);
        code.lload(DONE).loadConstant((long) counts[current]).ladd().lstore(DONE);
        code.goto_(entries[j]);
        code.labelBinding(leave);
        exit(target);
    }

    /** The member block starting at {@code rip} (translated whole), or -1. */
    private int member(long rip) {
        for (int j = 0; j < blocks.length; j++) {
            if (blocks[j].rip == rip && counts[j] == blocks[j].insns.length) return j;
        }
        return -1;
    }

    /** An instruction without a translation: the interpreter runs it on the registers in c.r. */
    private boolean fallback(Insn i, int j, int k, boolean last) {
        if (Jit.PROFILE) code.loadConstant(i.op).invokestatic(desc(Jit.class), "countFallback", MethodTypeDesc.of(CD_void, CD_int));
        storeRegisters();
        code.aload(C).loadConstant(ripAfter(j, k)).putfield(CD_CPU, "rip", CD_long);
        code.aload(C).loadConstant(THE_BLOCKS).loadConstant(j).aaload().getfield(CD_BLOCK, "insns", CD_INSN.arrayType())
                .loadConstant(k).aaload().invokestatic(CD_EXEC, "exec", MethodTypeDesc.of(CD_void, CD_CPU, CD_INSN));
        flags.forget();
        if (last && Exec.endsBlock(i.op)) {
            countAndReturn(); // RIP is wherever the instruction left it; c.r holds the registers
            return true;
        }
        loadRegisters();
        return false;
    }

    private static ClassDesc desc(Class<?> c) {
        return ClassDesc.of(c.getName());
    }
}
