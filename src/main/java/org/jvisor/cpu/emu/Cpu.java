package org.jvisor.cpu.emu;

import java.lang.foreign.MemorySegment;
import org.jvisor.cpu.VcpuExit;
import org.jvisor.cpu.Vectors;
import org.jvisor.memory.GuestMemory;

/**
 * The software x86-64 CPU: architectural state, lazy flags, operand access and the run loop.
 * Instruction semantics live in the handler classes that {@link Exec} dispatches to.
 * One thread runs a Cpu at a time.
 */
public final class Cpu {
    // ---- General-purpose state ----
    public final long[] r = new long[16];
    public long rip;
    /** Current privilege level (0 kernel, 3 user); set through {@link #setCpl}, which the MMU follows. */
    private int cpl;
    /** RFLAGS bits other than the six status flags, plus those status flags while {@code fk == K_NONE}. */
    long rflags = Flags.FIXED;
    // Lazy status flags: kind, operands, masked result, size in bytes, carry-in (ADC/SBB) or kept CF (INC/DEC).
    int fk;
    long fa, fb, fr, fc;
    int fsz;

    // ---- Segments (selector, base, limit, attributes) ----
    public final int[] segSel = new int[6];
    public final long[] segBase = new long[6];
    public final int[] segLimit = {0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF};
    public final int[] segAttr = new int[6];
    /** Decoder mode derived from CS and EFER: {@link Decoder#MODE64}, MODE32 or MODE16. */
    public int mode = Decoder.MODE64;

    // ---- System state ----
    public static final long CR0_PE = 1, CR0_MP = 2, CR0_EM = 4, CR0_TS = 8, CR0_ET = 0x10, CR0_NE = 0x20,
            CR0_WP = 0x10000, CR0_AM = 0x40000, CR0_NW = 1L << 29, CR0_CD = 1L << 30, CR0_PG = 1L << 31;
    public static final long CR4_PSE = 0x10, CR4_PAE = 0x20, CR4_PGE = 0x80, CR4_OSFXSR = 0x200,
            CR4_OSXMMEXCPT = 0x400, CR4_FSGSBASE = 0x10000;
    public static final long EFER_SCE = 1, EFER_LME = 0x100, EFER_LMA = 0x400, EFER_NXE = 0x800;
    public long cr0 = CR0_ET | CR0_NW | CR0_CD, cr2, cr3, cr4, cr8;
    public long efer;
    public final long[] dr = {0, 0, 0, 0, 0xFFFF0FF0L, 0x400, 0xFFFF0FF0L, 0x400};
    public long gdtBase, idtBase;
    public int gdtLimit = 0xFFFF, idtLimit = 0xFFFF;
    public int trSel, ldtrSel;
    public long trBase, ldtrBase;
    public int trLimit, ldtrLimit;
    public final Msrs msrs = new Msrs();
    /** Exceptions go through the guest's IDT (a machine) rather than ending run() (a bare test harness). */
    public boolean deliverToGuest;
    /** STI and MOV SS hold off interrupts until after the next instruction. */
    boolean interruptShadow;
    public PortIo ports = PortIo.NONE;
    /** External interrupts (the local APIC); null when there are none. */
    public InterruptSource interrupts;
    /** Platform MSRs (APIC, paravirtual clock); null when there are none. */
    public MsrDevice msrDevice;
    /** TSC = nanoseconds since its last write (a 1 GHz TSC, which CPUID states). */
    private long tscOffset = System.nanoTime();

    // ---- SSE and x87 ----
    /** XMM registers as (low, high) pairs: xmm[2n] is bits 0-63 of XMMn. */
    public final long[] xmm = new long[32];
    public int mxcsr = 0x1F80;
    /**
     * Which NaN a dot product (DPPS/DPPD) returns when several lanes are NaN: the architecture
     * leaves it open and vendors differ. The model's vendor (AMD) sums pairwise as the SDM writes
     * it; the differential test switches to Intel's order on an Intel host.
     */
    public boolean intelDotProductLanes;
    public final X87 fpu = new X87();
    final SoftFloat softFloat = new SoftFloat();

    // ---- Memory and code ----
    final Mmu mmu;
    final CodeCache code;
    final Decoder decoder = new Decoder();

    // ---- Faults ----
    int faultVector, faultError;
    long faultAddress;
    boolean faultHasError;

    // ---- Debugging: the most recent block addresses, when enabled ----
    /** When non-null, the start of every block executed goes round this ring (for post-mortems). */
    public long[] recentBlocks;
    public int recentAt;
    /** Called with (vector, error code) before an exception is delivered to the guest; for debugging. */
    public java.util.function.BiConsumer<Integer, Integer> onException;

    // ---- Run-loop state ----
    public long icount;
    int exitRequest; // EXIT_* set by HLT and friends, seen at block end
    static final int EXIT_NONE = 0, EXIT_HALT = 1, EXIT_STOP = 2;

    /** Makes run() return at the end of the current block (a device asked for a reset or stop). */
    public void requestStop() {
        exitRequest = EXIT_STOP;
    }
    final long[] tmp = new long[2]; // scratch 128-bit operand

    public int cpl() {
        return cpl;
    }

    public void setCpl(int cpl) {
        this.cpl = cpl;
        mmu.privilegeChanged();
    }

    public Cpu(GuestMemory memory) {
        this.mmu = new Mmu(this, memory);
        this.code = new CodeCache(this);
        segAttr[Seg.CS] = 0;
    }

    /** Reads for the CPU's own structures (GDT, LDT, IDT, TSS): supervisor accesses at any CPL. */
    long sysRead64(long la) {
        boolean was = mmu.setSupervisor(true);
        try {
            return mmu.read64(la);
        } finally {
            mmu.setSupervisor(was);
        }
    }

    int sysRead16(long la) {
        boolean was = mmu.setSupervisor(true);
        try {
            return mmu.read16(la);
        } finally {
            mmu.setSupervisor(was);
        }
    }

    void sysWrite8(long la, int v) {
        boolean was = mmu.setSupervisor(true);
        try {
            mmu.write8(la, v);
        } finally {
            mmu.setSupervisor(was);
        }
    }

    /** For reproducible runs (debugging): the TSC advances 4 ns per instruction instead of with wall time. */
    public boolean deterministicTsc;

    public long tsc() {
        return deterministicTsc ? icount * 4 - tscOffset : System.nanoTime() - tscOffset;
    }

    public void setTsc(long v) {
        tscOffset = (deterministicTsc ? icount * 4 : System.nanoTime()) - v;
    }

    /** The architectural state, at an instruction boundary (the vCPU is not running). */
    public CpuState saveState() {
        return new CpuState(r.clone(), rip, rflags(), cpl, segSel.clone(), segBase.clone(), segLimit.clone(), segAttr.clone(),
                cr0, cr2, cr3, cr4, cr8, efer, dr.clone(), gdtBase, gdtLimit, idtBase, idtLimit,
                trSel, trBase, trLimit, ldtrSel, ldtrBase, ldtrLimit, msrs.snapshot(), xmm.clone(), mxcsr,
                fpu.mant.clone(), fpu.se.clone(), fpu.top, fpu.fcw, fpu.fsw, fpu.tagWord, interruptShadow, tsc());
    }

    /**
     * Puts a saved state into this CPU, which has not run yet (a fresh machine): its caches are
     * empty, so nothing decoded or translated from before can survive. Throws
     * IllegalArgumentException for a state that is not whole.
     */
    public void restoreState(CpuState s) {
        s.validate();
        System.arraycopy(s.gpr(), 0, r, 0, 16);
        rip = s.rip();
        setRflags(s.rflags());
        System.arraycopy(s.segSel(), 0, segSel, 0, 6);
        System.arraycopy(s.segBase(), 0, segBase, 0, 6);
        System.arraycopy(s.segLimit(), 0, segLimit, 0, 6);
        System.arraycopy(s.segAttr(), 0, segAttr, 0, 6);
        cr0 = s.cr0();
        cr2 = s.cr2();
        cr3 = s.cr3();
        cr4 = s.cr4();
        cr8 = s.cr8();
        efer = s.efer();
        System.arraycopy(s.dr(), 0, dr, 0, 8);
        gdtBase = s.gdtBase();
        gdtLimit = s.gdtLimit();
        idtBase = s.idtBase();
        idtLimit = s.idtLimit();
        trSel = s.trSel();
        trBase = s.trBase();
        trLimit = s.trLimit();
        ldtrSel = s.ldtrSel();
        ldtrBase = s.ldtrBase();
        ldtrLimit = s.ldtrLimit();
        msrs.restore(s.msrs());
        System.arraycopy(s.xmm(), 0, xmm, 0, 32);
        mxcsr = s.mxcsr();
        System.arraycopy(s.fpuMantissa(), 0, fpu.mant, 0, 8);
        System.arraycopy(s.fpuSignExponent(), 0, fpu.se, 0, 8);
        fpu.top = s.fpuTop();
        fpu.fcw = s.fpuControl();
        fpu.fsw = s.fpuStatus();
        fpu.tagWord = s.fpuTags();
        interruptShadow = s.interruptShadow();
        setTsc(s.tsc());
        setCpl(s.cpl());
        updateMode();
        mmu.flushTlb();
    }

    /** Guest-physical accesses outside RAM go to this bus (without one they fault). */
    public void setMmio(MmioBus bus) {
        mmu.mmio = bus;
    }

    /** The devices mapped into guest-physical space. */
    public interface MmioBus {
        long read(long pa, int size);

        void write(long pa, int size, long value);
    }

    /** After a change of CR0, CR4, EFER or CS: recompute long-mode activation, paging and the decode mode. */
    public void updateMode() {
        boolean pg = (cr0 & CR0_PG) != 0;
        if (pg && (efer & EFER_LME) != 0) efer |= EFER_LMA;
        else efer &= ~EFER_LMA;
        boolean wasPaging = mmu.paging;
        mmu.paging = pg;
        if (wasPaging != pg) mmu.flushTlb();
        mmu.epoch++; // blocks are per decode mode: successor links made in another mode must not be followed
        if ((cr0 & CR0_PE) == 0) mode = Decoder.MODE16;
        else if ((efer & EFER_LMA) != 0 && (segAttr[Seg.CS] & SEG_L) != 0) mode = Decoder.MODE64;
        else mode = (segAttr[Seg.CS] & SEG_DB) != 0 ? Decoder.MODE32 : Decoder.MODE16;
    }

    static final int SEG_L = 0x2000;

    /** Drops cached translations (CR3 reload, INVLPG of everything). */
    public void flushTlb() {
        mmu.flushTlb();
    }

    public MemorySegment ram() {
        return mmu.ram;
    }

    private final java.util.concurrent.ConcurrentLinkedQueue<long[]> dmaWrites = new java.util.concurrent.ConcurrentLinkedQueue<>();
    private volatile boolean dmaPending;

    /**
     * Thread-safe: a device wrote guest RAM at [pa, pa+len). Translated code from those pages is
     * dropped before the vCPU starts its next block (only pages that hold code are queued).
     */
    public void dmaWritten(long pa, long len) {
        if (len <= 0 || pa < 0) return;
        byte[] pages = mmu.codePage;
        long last = Math.min((pa + len - 1) >>> 12, pages.length - 1L);
        for (long p = pa >>> 12; p <= last; p++) {
            if (pages[(int) p] != 0) {
                dmaWrites.add(new long[] {pa, len});
                dmaPending = true;
                return;
            }
        }
    }

    private void drainDma() {
        dmaPending = false;
        for (long[] w; (w = dmaWrites.poll()) != null; ) {
            long end = Math.min(w[0] + w[1], mmu.codePage.length * 4096L);
            if (end > w[0]) code.invalidate(w[0], (int) Math.min(end - w[0], Integer.MAX_VALUE));
        }
    }

    /** Tells the CPU that guest RAM at [pa, pa+len) changed behind its back (loader, DMA). */
    /**
     * Forgets the pages mapped for writing, so each is reported written again on its next write
     * (see {@link GuestMemory#trackWrites}); only while the vCPU is stopped.
     */
    public void forgetWritablePages() {
        mmu.dropWriteEntries();
    }

    public void invalidateCode(long pa, int len) {
        if (len > 0) code.invalidate(pa, len);
    }

    // =========================== run loop ===========================

    /** Runs until HLT, an undeliverable exception, or {@code budget} instructions have run. */
    public VcpuExit run(long budget) {
        long limit = icount + budget;
        Block prev = null;
        for (;;) {
            Insn cur = null;
            int k = 0;
            try {
                while (icount < limit) {
                    if (interrupts != null && (rflags & Flags.IF) != 0 && interrupts.mayBePending()) {
                        if (interruptShadow) interruptShadow = false;
                        else checkInterrupt();
                    }
                    if (dmaPending) drainDma();
                    long la = mode == Decoder.MODE64 ? rip : codeLinear(rip);
                    Block b = prev == null ? null : follow(prev, la);
                    if (b == null) {
                        b = code.lookup(la);
                        if (prev != null) link(prev, b);
                    }
                    prev = b;
                    if (recentBlocks != null) recentBlocks[recentAt++ & (recentBlocks.length - 1)] = rip;
                    CompiledBlock compiled = b.compiled;
                    if (compiled == null && jit != null && b.hits++ == jit.threshold) {
                        jit.hot(b, code);
                        compiled = b.compiled; // set at once when the JIT is synchronous
                    }
                    if (compiled != null) {
                        translatedRuns++;
                        if (++b.runs == Jit.HOT_THRESHOLD && jit != null) jit.hotter(b, code);
                        compiled.run(this); // counts its own instructions
                    } else {
                        Insn[] ins = b.insns;
                        for (k = 0; k < ins.length; k++) {
                            cur = ins[k];
                            rip += cur.len;
                            Exec.exec(this, cur);
                        }
                        icount += k;
                        interpretedInsns += k;
                        k = 0;
                        cur = null;
                    }
                    if (exitRequest != EXIT_NONE) {
                        int e = exitRequest;
                        exitRequest = EXIT_NONE;
                        if (e == EXIT_HALT) return new VcpuExit.Halted(rip);
                        return new VcpuExit.BudgetExhausted(rip);
                    }
                }
                return new VcpuExit.BudgetExhausted(rip);
            } catch (CpuFault f) {
                icount += k;
                int back = cur != null ? cur.len : translatedFaultLen;
                translatedFaultLen = 0;
                if (back != 0 && faultIsFault(faultVector)) rip -= back;
                if (!deliverToGuest) return new VcpuExit.Fault(faultVector, faultError, rip, faultAddress);
                if (onException != null) onException.accept(faultVector, faultError);
                try {
                    deliverException(faultVector, faultHasError, faultError);
                } catch (Interrupts.TripleFault t) {
                    return new VcpuExit.Shutdown(t.getMessage(), rip);
                }
            } catch (Interrupts.TripleFault t) {
                return new VcpuExit.Shutdown(t.getMessage(), rip);
            }
        }
    }

    /** Instructions run by the interpreter (the rest of {@link #icount} ran as translated code). */
    public long interpretedInsns;
    /** Page walks and whole-TLB flushes so far (statistics). */
    public String tlbStats() {
        return String.format("%,d page walks, %,d TLB flushes", mmu.walks, mmu.flushes);
    }

    /** Blocks decoded so far. */
    public long blocksDecoded() {
        return code.builds;
    }

    /** Entries into translated regions (each is one trip through the run loop). */
    public long translatedRuns;

    /** The translator, when enabled: hot blocks run as bytecode. */
    Jit jit;
    /** Set by {@link #translatedFault}: the length of the translated instruction that faulted. */
    private int translatedFaultLen;

    /** Runs hot code as translated bytecode from now on (null: interpret everything). */
    public void setJit(Jit jit) {
        this.jit = jit;
    }

    /**
     * Called by translated code when instruction k of its block raises an exception: counts the
     * instructions before it and leaves RIP after it, which is where the interpreter would be.
     */
    void translatedFault(Block b, int k) {
        icount += k;
        long ip = b.rip;
        for (int j = 0; j <= k; j++) ip += b.insns[j].len;
        rip = ip;
        translatedFaultLen = b.insns[k].len;
    }

    /** The block that last followed {@code prev} at {@code la}, if still valid under the current translations. */
    private Block follow(Block prev, long la) {
        int e = mmu.epoch;
        Block n = prev.next0;
        if (n != null && n.rip == la && prev.epoch0 == e && n.valid) return n;
        n = prev.next1;
        if (n != null && n.rip == la && prev.epoch1 == e && n.valid) return n;
        return null;
    }

    /** Remembers that {@code b} followed {@code prev} (two successors per block, the older one replaced). */
    private void link(Block prev, Block b) {
        prev.next1 = prev.next0;
        prev.epoch1 = prev.epoch0;
        prev.next0 = b;
        prev.epoch0 = mmu.epoch;
    }

    private void checkInterrupt() {
        int v = interrupts.pending();
        if (v < 0) return;
        interrupts.acknowledge(v);
        try {
            Interrupts.deliver(this, v, false, 0, false);
        } catch (CpuFault f) {
            deliverException(faultVector, faultHasError, faultError);
        }
    }

    /** Delivers an exception, turning a fault during delivery into #DF, and one during #DF into a triple fault. */
    void deliverException(int vector, boolean hasError, int error) {
        try {
            Interrupts.deliver(this, vector, hasError, error, vector == Vectors.BP || vector == Vectors.OF);
        } catch (CpuFault second) {
            int v2 = faultVector;
            if (vector == Vectors.DF) throw new Interrupts.TripleFault("triple fault: " + Vectors.name(v2) + " while delivering #DF");
            boolean firstSerious = Interrupts.contributory(vector) || vector == Vectors.PF;
            boolean secondSerious = Interrupts.contributory(v2) || (v2 == Vectors.PF && vector == Vectors.PF);
            if (firstSerious && secondSerious) {
                try {
                    Interrupts.deliver(this, Vectors.DF, true, 0, false);
                } catch (CpuFault third) {
                    throw new Interrupts.TripleFault("triple fault: " + Vectors.name(faultVector) + " while delivering #DF after "
                            + Vectors.name(vector) + " and " + Vectors.name(v2));
                }
            } else {
                deliverException(v2, faultHasError, faultError);
            }
        }
    }

    /** Executes exactly one instruction, bypassing the block cache (for tracing and debugging). */
    public VcpuExit step() {
        Insn i;
        try {
            i = decoder.decode(a -> mmu.fetch8(a), codeLinear(rip), mode);
        } catch (CpuFault f) {
            return stepFault();
        }
        try {
            rip += i.len;
            Exec.exec(this, i);
            icount++;
        } catch (CpuFault f) {
            if (faultIsFault(faultVector)) rip -= i.len;
            return stepFault();
        }
        if (exitRequest == EXIT_HALT) {
            exitRequest = EXIT_NONE;
            return new VcpuExit.Halted(rip);
        }
        return new VcpuExit.BudgetExhausted(rip);
    }

    /** Where a vCPU starts after reset or INIT: real mode at F000:FFF0. */
    public void reset() {
        cr0 = CR0_ET | CR0_NW | CR0_CD;
        cr2 = cr3 = cr4 = cr8 = 0;
        efer = 0;
        setRflags(Flags.FIXED);
        for (int s = 0; s < 6; s++) {
            segSel[s] = 0;
            segBase[s] = 0;
            segLimit[s] = 0xFFFF;
            segAttr[s] = 0x93;
        }
        segSel[Seg.CS] = 0xF000;
        segBase[Seg.CS] = 0xFFFF0000L;
        segAttr[Seg.CS] = 0x9B;
        rip = 0xFFF0;
        setCpl(0);
        gdtBase = idtBase = 0;
        gdtLimit = idtLimit = 0xFFFF;
        java.util.Arrays.fill(r, 0);
        updateMode();
    }

    private VcpuExit stepFault() {
        if (!deliverToGuest) return new VcpuExit.Fault(faultVector, faultError, rip, faultAddress);
        if (onException != null) onException.accept(faultVector, faultError);
        try {
            deliverException(faultVector, faultHasError, faultError);
        } catch (Interrupts.TripleFault t) {
            return new VcpuExit.Shutdown(t.getMessage(), rip);
        }
        return new VcpuExit.BudgetExhausted(rip);
    }

    public boolean interruptsEnabled() {
        return (rflags & Flags.IF) != 0;
    }

    /**
     * For profiling (call on the vCPU thread, or with it stopped): instructions executed in blocks,
     * by how often the block ran: element d counts blocks run 10^d to 10^(d+1)-1 times. Only
     * interpreted executions are counted, so this is meaningful with the JIT's threshold out of reach.
     */
    public long[] executionsByBlockHeat() {
        long[] byDecade = new long[12];
        java.util.Set<Block> seen = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
        code.forEach(b -> {
            if (b.hits > 0 && seen.add(b)) byDecade[(int) Math.log10(b.hits)] += (long) b.hits * b.insns.length;
        });
        return byDecade;
    }

    /** The lazy flag state, for debugging. */
    public String flagState() {
        return String.format("fk=%d fa=%x fb=%x fr=%x fsz=%d fc=%x rflags=%x", fk, fa, fb, fr, fsz, fc, rflags);
    }

    /** The linear address of code at offset {@code ip} in CS: CS.base + ip outside 64-bit mode. */
    long codeLinear(long ip) {
        return mode == Decoder.MODE64 ? ip : (segBase[Seg.CS] + ip) & 0xFFFFFFFFL;
    }

    /** The instruction at rip, decoded (for traces). */
    public String describeAt(long addr) {
        try {
            return decoder.decode(a -> mmu.fetch8(a), codeLinear(addr), mode).toString();
        } catch (CpuFault f) {
            return "(unfetchable)";
        }
    }

    private static boolean faultIsFault(int v) {
        return v != Vectors.BP && v != Vectors.OF && v != Vectors.DB;
    }

    /** Raises an exception without error code; never returns normally. */
    public CpuFault fault(int vector) {
        faultVector = vector;
        faultError = 0;
        faultHasError = false;
        faultAddress = 0;
        throw CpuFault.INSTANCE;
    }

    public CpuFault fault(int vector, int error) {
        faultVector = vector;
        faultError = error;
        faultHasError = true;
        faultAddress = 0;
        throw CpuFault.INSTANCE;
    }

    public CpuFault pageFault(long address, int error) {
        if (deliverToGuest) cr2 = address;
        faultVector = Vectors.PF;
        faultError = error;
        faultHasError = true;
        faultAddress = address;
        throw CpuFault.INSTANCE;
    }

    // =========================== registers ===========================

    static long mask(int sz) {
        return sz == 8 ? -1L : (1L << (sz * 8)) - 1;
    }

    static long signBit(int sz) {
        return 1L << (sz * 8 - 1);
    }

    /** Sign-extends the low {@code sz} bytes of v. */
    static long sext(long v, int sz) {
        return switch (sz) {
            case 1 -> (byte) v;
            case 2 -> (short) v;
            case 4 -> (int) v;
            default -> v;
        };
    }

    /** Reads a byte register by its byte-register number (16-19 are AH, CH, DH, BH). */
    public long getReg8(int n) {
        return n < 16 ? r[n] & 0xFF : (r[n - 16] >>> 8) & 0xFF;
    }

    public void setReg8(int n, long v) {
        if (n < 16) r[n] = (r[n] & ~0xFFL) | (v & 0xFF);
        else r[n - 16] = (r[n - 16] & ~0xFF00L) | ((v & 0xFF) << 8);
    }

    /** Reads register {@code n} at size 2, 4 or 8 (size 1 goes through {@link #getReg8}). */
    public long getReg(int n, int sz) {
        return switch (sz) {
            case 2 -> r[n] & 0xFFFF;
            case 4 -> r[n] & 0xFFFFFFFFL;
            default -> r[n];
        };
    }

    public void setReg(int n, int sz, long v) {
        switch (sz) {
            case 2 -> r[n] = (r[n] & ~0xFFFFL) | (v & 0xFFFF);
            case 4 -> r[n] = v & 0xFFFFFFFFL;
            default -> r[n] = v;
        }
    }

    long regOp(Insn i, int sz) {
        return sz == 1 ? getReg8(i.reg8) : getReg(i.reg, sz);
    }

    void setRegOp(Insn i, int sz, long v) {
        if (sz == 1) setReg8(i.reg8, v);
        else setReg(i.reg, sz, v);
    }

    // =========================== memory operands ===========================

    /** The linear address of the instruction's memory operand. */
    long ea(Insn i) {
        long a = i.disp;
        int b = i.base;
        if (b >= 0) a += b == Insn.RIP ? rip : r[b];
        if (i.index >= 0) a += r[i.index] << i.scale;
        if (i.asz != 8) a &= i.asz == 4 ? 0xFFFFFFFFL : 0xFFFF;
        if (i.seg >= 0) {
            a += segBase[i.seg];
            if (mode != Decoder.MODE64) a &= 0xFFFFFFFFL;
        }
        return a;
    }

    /** Linear address of segment {@code seg} (override in the insn wins) at offset {@code off}. */
    long segAddr(Insn i, int defSeg, long off) {
        int s = i.seg >= 0 ? i.seg : defSeg;
        if (mode == Decoder.MODE64) return s >= Seg.FS ? off + segBase[s] : off;
        return (off + segBase[s]) & 0xFFFFFFFFL;
    }

    long read(long la, int sz) {
        return switch (sz) {
            case 1 -> mmu.read8(la);
            case 2 -> mmu.read16(la);
            case 4 -> mmu.read32(la) & 0xFFFFFFFFL;
            default -> mmu.read64(la);
        };
    }

    void write(long la, int sz, long v) {
        switch (sz) {
            case 1 -> mmu.write8(la, (int) v);
            case 2 -> mmu.write16(la, (int) v);
            case 4 -> mmu.write32(la, (int) v);
            default -> mmu.write64(la, v);
        }
    }

    /** Reads the r/m operand (register or memory) at size sz. */
    long rmOp(Insn i, int sz) {
        if (i.mem) return read(ea(i), sz);
        return sz == 1 ? getReg8(i.rm8) : getReg(i.rm, sz);
    }

    void setRmOp(Insn i, int sz, long v) {
        if (i.mem) write(ea(i), sz, v);
        else if (sz == 1) setReg8(i.rm8, v);
        else setReg(i.rm, sz, v);
    }

    // =========================== stack ===========================

    int stackSize() {
        return mode == Decoder.MODE64 ? 8 : (segAttr[Seg.SS] & SEG_DB) != 0 ? 4 : 2;
    }

    static final int SEG_DB = 0x4000;

    void push(long v, int sz) {
        int ss = stackSize();
        long sp = (r[Reg.SP] - sz) & mask(ss);
        long la = mode == Decoder.MODE64 ? sp : (sp + segBase[Seg.SS]) & 0xFFFFFFFFL;
        write(la, sz, v);
        setReg(Reg.SP, ss, sp);
    }

    long pop(int sz) {
        long v = peek(sz, 0);
        int ss = stackSize();
        setReg(Reg.SP, ss, r[Reg.SP] + sz);
        return v;
    }

    long peek(int sz, int off) {
        int ss = stackSize();
        long sp = (r[Reg.SP] + off) & mask(ss);
        long la = mode == Decoder.MODE64 ? sp : (sp + segBase[Seg.SS]) & 0xFFFFFFFFL;
        return read(la, sz);
    }

    // =========================== flags ===========================

    void setLazy(int kind, long a, long b, long res, int sz) {
        fk = kind;
        fa = a;
        fb = b;
        fr = res;
        fsz = sz;
    }

    boolean cf() {
        return switch (fk) {
            case Flags.K_NONE -> (rflags & Flags.CF) != 0;
            case Flags.K_ADD -> Long.compareUnsigned(fr, fa) < 0;
            case Flags.K_ADC -> fc == 0 ? Long.compareUnsigned(fr, fa) < 0 : Long.compareUnsigned(fr, fa) <= 0;
            case Flags.K_SUB -> Long.compareUnsigned(fa, fb) < 0;
            case Flags.K_SBB -> fc == 0 ? Long.compareUnsigned(fa, fb) < 0 : Long.compareUnsigned(fa, fb) <= 0;
            case Flags.K_LOGIC -> false;
            default -> fc != 0; // INC, DEC keep CF
        };
    }

    boolean zf() {
        return fk == Flags.K_NONE ? (rflags & Flags.ZF) != 0 : fr == 0;
    }

    boolean sf() {
        return fk == Flags.K_NONE ? (rflags & Flags.SF) != 0 : (fr & signBit(fsz)) != 0;
    }

    boolean of() {
        return switch (fk) {
            case Flags.K_NONE -> (rflags & Flags.OF) != 0;
            case Flags.K_ADD, Flags.K_ADC, Flags.K_INC -> ((fa ^ fr) & (fb ^ fr) & signBit(fsz)) != 0;
            case Flags.K_SUB, Flags.K_SBB, Flags.K_DEC -> ((fa ^ fb) & (fa ^ fr) & signBit(fsz)) != 0;
            default -> false;
        };
    }

    boolean pf() {
        return fk == Flags.K_NONE ? (rflags & Flags.PF) != 0 : Flags.parity(fr);
    }

    boolean af() {
        return switch (fk) {
            case Flags.K_NONE -> (rflags & Flags.AF) != 0;
            case Flags.K_LOGIC -> false;
            default -> ((fa ^ fb ^ fr) & 0x10) != 0;
        };
    }

    /** The full RFLAGS value. */
    public long rflags() {
        if (fk == Flags.K_NONE) return rflags | Flags.FIXED;
        long f = rflags & ~Flags.ARITH;
        if (cf()) f |= Flags.CF;
        if (pf()) f |= Flags.PF;
        if (af()) f |= Flags.AF;
        if (zf()) f |= Flags.ZF;
        if (sf()) f |= Flags.SF;
        if (of()) f |= Flags.OF;
        return f | Flags.FIXED;
    }

    /** Sets RFLAGS outright (no privilege checks: callers decide which bits may change). */
    public void setRflags(long f) {
        rflags = (f & 0x3F7FD7L) | Flags.FIXED;
        fk = Flags.K_NONE;
    }

    /** Replaces only the status flags selected by {@code which}. */
    void setStatus(long which, long values) {
        long f = rflags();
        rflags = (f & ~which) | (values & which);
        fk = Flags.K_NONE;
    }

    /** Status flags from a result as logic ops define them (CF=OF=0), then CF and OF as given. */
    void setResultFlags(long res, int sz, boolean cf, boolean of) {
        long f = rflags & ~Flags.ARITH;
        if (cf) f |= Flags.CF;
        if (of) f |= Flags.OF;
        res &= mask(sz);
        if (res == 0) f |= Flags.ZF;
        if ((res & signBit(sz)) != 0) f |= Flags.SF;
        if (Flags.parity(res)) f |= Flags.PF;
        rflags = f;
        fk = Flags.K_NONE;
    }

    /** Evaluates condition code cc (0-15) as Jcc/SETcc/CMOVcc do. */
    boolean cond(int cc) {
        boolean v = switch (cc >>> 1) {
            case 0 -> of();
            case 1 -> cf();
            case 2 -> zf();
            case 3 -> cf() || zf();
            case 4 -> sf();
            case 5 -> pf();
            case 6 -> sf() != of();
            default -> zf() || sf() != of();
        };
        return v != ((cc & 1) != 0);
    }

    boolean df() {
        return (rflags & Flags.DF) != 0;
    }

    // =========================== SSE helpers ===========================

    /** Loads the 128-bit r/m operand into {@link #tmp}; {@code aligned} demands 16-byte alignment. */
    long[] xmmSrc(Insn i, boolean aligned) {
        if (!i.mem) {
            tmp[0] = xmm[i.rm * 2];
            tmp[1] = xmm[i.rm * 2 + 1];
        } else {
            long a = ea(i);
            if (aligned && (a & 15) != 0) fault(Vectors.GP, 0);
            tmp[0] = mmu.read64(a);
            tmp[1] = mmu.read64(a + 8);
        }
        return tmp;
    }
}
