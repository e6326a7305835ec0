package org.jvisor.cpu.emu;

/** A run of decoded instructions ending at a control transfer, a page end or a size cap. */
final class Block {
    final long rip;
    final long pa;
    /** The physical address of its last byte (another page when the block crosses a page end). */
    final long lastPa;
    final Insn[] insns;
    final int byteLen;
    /** The decode mode it was decoded in (a mode switch must not reuse it). */
    final int mode;
    boolean valid = true;
    /** Interpreted executions so far (counts up to the JIT's threshold). */
    int hits;
    /** The next block decoded at the same linear address from other physical code (the code cache's chain). */
    Block sameRip;
    /**
     * The blocks that last followed this one, each with the MMU epoch it was seen in: the run loop
     * goes straight to one of them when RIP matches and the epoch is unchanged, skipping the
     * code cache's lookup and TLB check.
     */
    Block next0, next1;
    int epoch0, epoch1;
    /** Runs of its translation (counts up to the JIT's hot threshold). */
    int runs;
    /** The translation, once the JIT has made one; the run loop then runs it instead of {@link #insns}. */
    volatile CompiledBlock compiled;

    Block(long rip, long pa, long lastPa, Insn[] insns, int byteLen, int mode) {
        this.rip = rip;
        this.pa = pa;
        this.lastPa = lastPa;
        this.insns = insns;
        this.byteLen = byteLen;
        this.mode = mode;
    }
}
