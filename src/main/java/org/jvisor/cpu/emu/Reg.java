package org.jvisor.cpu.emu;

/** General-purpose register numbers as encoded (REX extends them to 8-15). */
public final class Reg {
    public static final int AX = 0, CX = 1, DX = 2, BX = 3, SP = 4, BP = 5, SI = 6, DI = 7,
            R8 = 8, R9 = 9, R10 = 10, R11 = 11, R12 = 12, R13 = 13, R14 = 14, R15 = 15;

    private Reg() {}
}
