package org.jvisor.cpu.emu.diff;

import java.util.ArrayList;
import java.util.List;

/** Compares an emulated and a native end state; returns the differences (empty when equal). */
final class Compare {
    static final String[] REG = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"};
    static final long FLAG_MASK = 0x8D5 | 0x400; // CF PF AF ZF SF OF, DF

    private Compare() {}

    static List<String> diff(MachineState emu, MachineState host, long undefFlags) {
        List<String> d = new ArrayList<>();
        if (emu.vector != host.vector) d.add("outcome: emulator " + vec(emu.vector) + " host " + vec(host.vector));
        if (emu.rip != host.rip) d.add(String.format("rip: emulator %x host %x", emu.rip, host.rip));
        if (!d.isEmpty()) return d;
        for (int k = 0; k < 16; k++) {
            if (emu.regs[k] != host.regs[k]) d.add(String.format("%s: emulator %016x host %016x", REG[k], emu.regs[k], host.regs[k]));
        }
        long mask = FLAG_MASK & ~undefFlags;
        if ((emu.rflags & mask) != (host.rflags & mask)) {
            d.add(String.format("rflags: emulator %x host %x (compared bits %x)", emu.rflags & mask, host.rflags & mask, mask));
        }
        field(d, "fcw", emu.fx, host.fx, 0, 2);
        field(d, "fsw", emu.fx, host.fx, 2, 2);
        field(d, "ftw", emu.fx, host.fx, 4, 1);
        field(d, "mxcsr", emu.fx, host.fx, 24, 4);
        for (int k = 0; k < 8; k++) field(d, "st" + k, emu.fx, host.fx, 32 + 16 * k, 10);
        for (int k = 0; k < 16; k++) field(d, "xmm" + k, emu.fx, host.fx, 160 + 16 * k, 16);
        for (int k = 0; k < MachineState.DATA_SIZE; k++) {
            if (emu.data[k] != host.data[k]) {
                int q = k & ~7;
                d.add(String.format("data+%x: emulator %s host %s", q, hexLe(emu.data, q), hexLe(host.data, q)));
                k = q + 7;
            }
        }
        return d;
    }

    private static void field(List<String> d, String name, byte[] a, byte[] b, int off, int len) {
        for (int k = 0; k < len; k++) {
            if (a[off + k] != b[off + k]) {
                d.add(name + ": emulator " + hexLe(a, off, len) + " host " + hexLe(b, off, len));
                return;
            }
        }
    }

    static String hexLe(byte[] b, int off) {
        return hexLe(b, off, 8);
    }

    static String hexLe(byte[] b, int off, int len) {
        StringBuilder sb = new StringBuilder();
        for (int k = len - 1; k >= 0; k--) sb.append(String.format("%02x", b[off + k] & 0xFF));
        return sb.toString();
    }

    static String vec(int v) {
        return v < 0 ? "end" : org.jvisor.cpu.Vectors.name(v);
    }
}
