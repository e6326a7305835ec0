package org.jvisor.cpu.emu;

/** A run of decoded instructions ending at a control transfer, a page end or a size cap. */
final class Block {
    final long rip;
    final long pa;
    final Insn[] insns;
    final int byteLen;
    /** The decode mode it was decoded in (a mode switch must not reuse it). */
    final int mode;
    boolean valid = true;

    Block(long rip, long pa, Insn[] insns, int byteLen, int mode) {
        this.rip = rip;
        this.pa = pa;
        this.insns = insns;
        this.byteLen = byteLen;
        this.mode = mode;
    }
}
