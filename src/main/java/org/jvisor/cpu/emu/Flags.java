package org.jvisor.cpu.emu;

/** RFLAGS bits and the kinds of lazily evaluated arithmetic results. */
public final class Flags {
    public static final long CF = 1, PF = 4, AF = 0x10, ZF = 0x40, SF = 0x80, TF = 0x100, IF = 0x200,
            DF = 0x400, OF = 0x800, IOPL = 0x3000, NT = 0x4000, RF = 0x10000, VM = 0x20000, AC = 0x40000,
            VIF = 0x80000, VIP = 0x100000, ID = 0x200000;
    /** The six status flags that arithmetic computes. */
    public static final long ARITH = CF | PF | AF | ZF | SF | OF;
    /** Bit 1 always reads as one. */
    public static final long FIXED = 2;

    // Lazy kinds: how the status flags follow from (a, b, result, size).
    static final int K_NONE = 0, K_ADD = 1, K_ADC = 2, K_SUB = 3, K_SBB = 4, K_LOGIC = 5, K_INC = 6, K_DEC = 7;

    private Flags() {}

    static boolean parity(long v) {
        return (Long.bitCount(v & 0xFF) & 1) == 0;
    }
}
