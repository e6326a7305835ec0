package org.jvisor.cpu.emu;

/** Segment register numbers as encoded in instructions. */
public final class Seg {
    public static final int ES = 0, CS = 1, SS = 2, DS = 3, FS = 4, GS = 5;

    private Seg() {}
}
