package org.jvisor.cpu.emu;

import static org.jvisor.cpu.emu.Lanes.*;

/**
 * SSE4.2 beyond PCMPGTQ (which is lane arithmetic, {@link SseInt}'s): CRC32 (0F38 F0/F1, aux
 * 0x1F0/0x1F1) and the string compares PCMPESTRM/ESTRI/ISTRM/ISTRI (0F3A 60-63, aux 0x260-0x263)
 * with every imm8 mode of SDM vol. 2, 4.1.
 */
final class Sse42 {
    /** CRC-32C (Castagnoli), bit-reflected, a byte at a time; the instruction neither pre- nor post-inverts. */
    private static final int[] CRC32C = new int[256];

    static {
        for (int n = 0; n < 256; n++) {
            int crc = n;
            for (int b = 0; b < 8; b++) crc = (crc >>> 1) ^ (0x82F63B78 & -(crc & 1));
            CRC32C[n] = crc;
        }
    }

    private Sse42() {}

    static void exec(Cpu c, Insn i) {
        if (i.aux == 0x1F0 || i.aux == 0x1F1) crc32(c, i);
        else strings(c, i);
    }

    private static void crc32(Cpu c, Insn i) {
        int sz = i.aux == 0x1F0 ? 1 : i.sz;
        long v = c.rmOp(i, sz);
        int crc = (int) c.r[i.reg];
        for (int k = 0; k < sz; k++) crc = (crc >>> 8) ^ CRC32C[(crc ^ (int) (v >>> (8 * k))) & 0xFF];
        c.setReg(i.reg, 8, crc & 0xFFFFFFFFL);
    }

    private static void strings(Cpu c, Insn i) {
        int imm = (int) i.imm & 0xFF;
        long[] s = c.xmmSrc(i, false);
        boolean words = (imm & 1) != 0, signed = (imm & 2) != 0;
        int n = words ? 8 : 16, bits = words ? 16 : 8;
        long[] a = elements(c.xmm[i.reg * 2], c.xmm[i.reg * 2 + 1], n, bits, signed);
        long[] b = elements(s[0], s[1], n, bits, signed);
        boolean explicit = (i.aux & 2) == 0;
        int la = explicit ? explicitLength(c.r[Reg.AX], i.rexW(), n) : implicitLength(a);
        int lb = explicit ? explicitLength(c.r[Reg.DX], i.rexW(), n) : implicitLength(b);
        int all = (1 << n) - 1;
        int res1 = aggregate((imm >>> 2) & 3, a, la, b, lb, n);
        int res2 = switch ((imm >>> 4) & 3) {
            case 1 -> ~res1 & all;
            case 3 -> res1 ^ ((1 << lb) - 1); // only the valid elements of the second operand
            default -> res1;
        };
        long fl = (res2 != 0 ? Flags.CF : 0) | (lb < n ? Flags.ZF : 0) | (la < n ? Flags.SF : 0) | ((res2 & 1) != 0 ? Flags.OF : 0);
        if ((i.aux & 1) != 0) {
            int index = res2 == 0 ? n : (imm & 0x40) != 0 ? 31 - Integer.numberOfLeadingZeros(res2) : Integer.numberOfTrailingZeros(res2);
            c.setReg(Reg.CX, 4, index);
        } else if ((imm & 0x40) != 0) {
            long lo = 0, hi = 0;
            for (int k = 0; k < n; k++) {
                if (((res2 >>> k) & 1) == 0) continue;
                if (k < n / 2) lo = put(lo, k, bits, -1);
                else hi = put(hi, k - n / 2, bits, -1);
            }
            c.xmm[0] = lo;
            c.xmm[1] = hi;
        } else {
            c.xmm[0] = res2;
            c.xmm[1] = 0;
        }
        c.setStatus(Flags.ARITH, fl);
    }

    private static long[] elements(long lo, long hi, int n, int bits, boolean signed) {
        long[] e = new long[n];
        for (int k = 0; k < n; k++) {
            long w = k < n / 2 ? lo : hi;
            e[k] = signed ? slane(w, k % (n / 2), bits) : lane(w, k % (n / 2), bits);
        }
        return e;
    }

    /** EAX/EDX (RAX/RDX with REX.W) as a signed count: its absolute value, at most n. */
    private static int explicitLength(long r, boolean w, int n) {
        long v = Math.abs(w ? r : (int) r);
        return v < 0 || v > n ? n : (int) v;
    }

    /** The elements before the first zero. */
    private static int implicitLength(long[] e) {
        for (int k = 0; k < e.length; k++) if (e[k] == 0) return k;
        return e.length;
    }

    /**
     * IntRes1, bit j for element j of the second operand (b); a is the first (the register).
     * Invalid elements (past la, lb) compare as SDM Table 4-7 forces them.
     */
    private static int aggregate(int mode, long[] a, int la, long[] b, int lb, int n) {
        int r = 0;
        for (int j = 0; j < n; j++) {
            boolean hit = switch (mode) {
                case 0 -> { // equal any: b[j] is one of a's elements
                    boolean any = false;
                    for (int k = 0; k < la && j < lb; k++) any |= a[k] == b[j];
                    yield any;
                }
                case 1 -> { // ranges: b[j] lies in one of a's [low, high] pairs
                    boolean any = false;
                    for (int k = 0; k + 1 < la && j < lb; k += 2) any |= a[k] <= b[j] && b[j] <= a[k + 1];
                    yield any;
                }
                case 2 -> j < la && j < lb ? a[j] == b[j] : j >= la && j >= lb; // equal each
                default -> { // equal ordered: a occurs in b at j (a may run past b's end only where a is invalid)
                    boolean all = true;
                    for (int k = 0; k < n - j && all; k++) {
                        if (k >= la) break;
                        all = j + k < lb && a[k] == b[j + k];
                    }
                    yield all;
                }
            };
            if (hit) r |= 1 << j;
        }
        return r;
    }
}
