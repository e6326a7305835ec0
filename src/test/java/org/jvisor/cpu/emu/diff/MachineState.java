package org.jvisor.cpu.emu.diff;

import java.util.Arrays;

/** A user-mode machine state as the oracle and the emulator exchange it. */
final class MachineState {
    static final long CODE = 0x100000, DATA = 0x200000;
    static final int DATA_SIZE = 2048;
    /** Data operands live in [DATA, DATA + DATA_AREA); the rest of the region is stack. */
    static final int DATA_AREA = 1024;
    static final long STACK_TOP = DATA + 1792;

    final long[] regs = new long[16];
    long rflags;
    final byte[] fx = new byte[512];
    final byte[] data = new byte[DATA_SIZE];
    // Outcome (results only)
    int vector = -1; // -1: ran to the end
    long rip;
    long faultAddress;

    MachineState copy() {
        MachineState m = new MachineState();
        System.arraycopy(regs, 0, m.regs, 0, 16);
        m.rflags = rflags;
        System.arraycopy(fx, 0, m.fx, 0, 512);
        System.arraycopy(data, 0, m.data, 0, DATA_SIZE);
        m.vector = vector;
        m.rip = rip;
        m.faultAddress = faultAddress;
        return m;
    }

    @Override
    public String toString() {
        return "regs=" + Arrays.toString(regs) + " rflags=" + Long.toHexString(rflags);
    }
}
