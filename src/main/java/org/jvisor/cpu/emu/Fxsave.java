package org.jvisor.cpu.emu;

import org.jvisor.cpu.Vectors;

/** FXSAVE/FXRSTOR images (512 bytes, 16-byte aligned), LDMXCSR. */
public final class Fxsave {
    /** MXCSR bits software may set: flags, DAZ, masks, rounding, FTZ. */
    public static final int MXCSR_MASK = 0xFFFF;

    private Fxsave() {}

    static void save(Cpu c, Insn i) {
        long a = c.ea(i);
        if ((a & 15) != 0) throw c.fault(Vectors.GP, 0);
        c.mmu.probeWrite(a, 512);
        byte[] img = new byte[512];
        saveTo(c, img);
        for (int k = 0; k < 512; k += 8) c.mmu.write64(a + k, getLong(img, k));
    }

    static void restore(Cpu c, Insn i) {
        long a = c.ea(i);
        if ((a & 15) != 0) throw c.fault(Vectors.GP, 0);
        byte[] img = new byte[512];
        for (int k = 0; k < 512; k += 8) putLong(img, k, c.mmu.read64(a + k));
        if ((getInt(img, 24) & ~MXCSR_MASK) != 0) throw c.fault(Vectors.GP, 0);
        restoreFrom(c, img);
    }

    static void ldmxcsr(Cpu c, int v) {
        if ((v & ~MXCSR_MASK) != 0) throw c.fault(Vectors.GP, 0);
        c.mxcsr = v;
    }

    /** Writes the x87, MXCSR and XMM state into a 512-byte image (instruction pointers as zero). */
    public static void saveTo(Cpu c, byte[] img) {
        X87 f = c.fpu;
        java.util.Arrays.fill(img, 0, 160, (byte) 0);
        putShort(img, 0, f.fcw);
        putShort(img, 2, f.statusWord());
        img[4] = (byte) f.abridgedTag();
        putInt(img, 24, c.mxcsr);
        putInt(img, 28, MXCSR_MASK);
        for (int k = 0; k < 8; k++) {
            int p = f.phys(k);
            putLong(img, 32 + 16 * k, f.mant[p]);
            putShort(img, 40 + 16 * k, f.se[p]);
        }
        for (int k = 0; k < 32; k++) putLong(img, 160 + 8 * k, c.xmm[k]);
    }

    public static void restoreFrom(Cpu c, byte[] img) {
        X87 f = c.fpu;
        f.fcw = getShort(img, 0) | 0x40;
        int sw = getShort(img, 2);
        f.top = (sw >>> 11) & 7;
        f.fsw = sw & ~0x3800;
        c.mxcsr = getInt(img, 24) & MXCSR_MASK;
        for (int k = 0; k < 8; k++) {
            int p = f.phys(k);
            f.mant[p] = getLong(img, 32 + 16 * k);
            f.se[p] = getShort(img, 40 + 16 * k);
        }
        f.setAbridgedTag(img[4] & 0xFF);
        for (int k = 0; k < 32; k++) c.xmm[k] = getLong(img, 160 + 8 * k);
    }

    static int getShort(byte[] b, int o) {
        return (b[o] & 0xFF) | (b[o + 1] & 0xFF) << 8;
    }

    static int getInt(byte[] b, int o) {
        return getShort(b, o) | getShort(b, o + 2) << 16;
    }

    static long getLong(byte[] b, int o) {
        return (getInt(b, o) & 0xFFFFFFFFL) | (long) getInt(b, o + 4) << 32;
    }

    static void putShort(byte[] b, int o, int v) {
        b[o] = (byte) v;
        b[o + 1] = (byte) (v >>> 8);
    }

    static void putInt(byte[] b, int o, int v) {
        putShort(b, o, v);
        putShort(b, o + 2, v >>> 16);
    }

    static void putLong(byte[] b, int o, long v) {
        putInt(b, o, (int) v);
        putInt(b, o + 4, (int) (v >>> 32));
    }
}
