package org.jvisor.cpu.emu;

import static org.jvisor.cpu.emu.Lanes.*;

/**
 * SSE4.1 beyond plain lane arithmetic (which is {@link SseInt}'s): blends, PTEST, sign/zero
 * extension, inserts and extracts, MPSADBW, PHMINPOSUW, PACKUSDW; the floating-point ones
 * (ROUND*, DPPS/DPPD) are {@link Sse41Float}'s. aux is 0x1xx for 0F38, 0x2xx for 0F3A.
 */
final class Sse41 {
    private Sse41() {}

    static void exec(Cpu c, Insn i) {
        long[] x = c.xmm;
        int d = i.reg * 2;
        int imm = (int) i.imm & 0xFF;
        switch (i.aux) {
            case 0x110, 0x114, 0x115 -> { // PBLENDVB, BLENDVPS, BLENDVPD: the mask is XMM0's element sign bits
                long[] s = c.xmmSrc(i, true);
                int bits = i.aux == 0x110 ? 8 : i.aux == 0x114 ? 32 : 64;
                long r0 = blend(x[d], s[0], signMask(x[0], bits)), r1 = blend(x[d + 1], s[1], signMask(x[1], bits));
                x[d] = r0;
                x[d + 1] = r1;
            }
            case 0x20C, 0x20D, 0x20E -> { // BLENDPS, BLENDPD, PBLENDW: the mask is imm's bits
                long[] s = c.xmmSrc(i, true);
                int bits = i.aux == 0x20C ? 32 : i.aux == 0x20D ? 64 : 16;
                int n = 64 / bits;
                long r0 = blend(x[d], s[0], immMask(imm, bits)), r1 = blend(x[d + 1], s[1], immMask(imm >>> n, bits));
                x[d] = r0;
                x[d + 1] = r1;
            }
            case 0x117 -> { // PTEST
                long[] s = c.xmmSrc(i, true);
                boolean zf = ((x[d] & s[0]) | (x[d + 1] & s[1])) == 0;
                boolean cf = ((~x[d] & s[0]) | (~x[d + 1] & s[1])) == 0;
                c.setStatus(Flags.ARITH, (zf ? Flags.ZF : 0) | (cf ? Flags.CF : 0));
            }
            case 0x12B -> { // PACKUSDW
                long[] s = c.xmmSrc(i, true);
                long r0 = SseInt.pack(x[d], x[d + 1], 32, false), r1 = SseInt.pack(s[0], s[1], 32, false);
                x[d] = r0;
                x[d + 1] = r1;
            }
            case 0x120, 0x121, 0x122, 0x123, 0x124, 0x125, 0x130, 0x131, 0x132, 0x133, 0x134, 0x135 -> extend(c, i);
            case 0x141 -> { // PHMINPOSUW: the lowest index wins a tie
                long[] s = c.xmmSrc(i, true);
                int at = 0;
                long min = 0x10000;
                for (int k = 0; k < 8; k++) {
                    long v = lane(s[k >> 2], k & 3, 16);
                    if (v < min) { min = v; at = k; }
                }
                x[d] = min | (long) at << 16;
                x[d + 1] = 0;
            }
            case 0x242 -> mpsadbw(c, i, imm);
            default -> insertExtract(c, i, imm);
        }
    }

    /** Where mask bits are set, b; elsewhere a. */
    private static long blend(long a, long b, long mask) {
        return (a & ~mask) | (b & mask);
    }

    /** Each element all ones where its top bit is set. */
    private static long signMask(long m, int bits) {
        long r = 0;
        for (int k = 0; k < 64 / bits; k++) if (((m >>> (k * bits + bits - 1)) & 1) != 0) r = put(r, k, bits, -1);
        return r;
    }

    /** Element k all ones where imm bit k is set. */
    private static long immMask(int imm, int bits) {
        long r = 0;
        for (int k = 0; k < 64 / bits; k++) if (((imm >>> k) & 1) != 0) r = put(r, k, bits, -1);
        return r;
    }

    /** PMOVSX (0F38 2x) / PMOVZX (3x): the low element sizes widen to the high ones. */
    private static void extend(Cpu c, Insn i) {
        int kind = i.aux & 0xF;
        boolean signed = (i.aux & 0xF0) == 0x20;
        int from = switch (kind) { case 0, 1, 2 -> 8; case 3, 4 -> 16; default -> 32; };
        int to = switch (kind) { case 0 -> 16; case 1, 3 -> 32; default -> 64; };
        int n = 128 / to;
        int bytes = n * from / 8;
        long v = i.mem ? c.read(c.ea(i), bytes) : c.xmm[i.rm * 2];
        long r0 = 0, r1 = 0;
        int half = n / 2;
        for (int k = 0; k < n; k++) {
            long e = signed ? slane(v, k, from) : lane(v, k, from);
            if (k < half) r0 = put(r0, k, to, e);
            else r1 = put(r1, k - half, to, e);
        }
        c.xmm[i.reg * 2] = r0;
        c.xmm[i.reg * 2 + 1] = r1;
    }

    /** Eight sums of absolute differences of 4-byte windows of dst against one 4-byte block of src. */
    private static void mpsadbw(Cpu c, Insn i, int imm) {
        long[] s = c.xmmSrc(i, true);
        long[] x = c.xmm;
        int d = i.reg * 2;
        int aOff = (imm & 4) != 0 ? 4 : 0, bOff = (imm & 3) * 4;
        long a0 = x[d], a1 = x[d + 1];
        long r0 = 0, r1 = 0;
        for (int k = 0; k < 8; k++) {
            long sum = 0;
            for (int j = 0; j < 4; j++) {
                int ai = aOff + k + j, bi = bOff + j;
                sum += Math.abs(lane(ai < 8 ? a0 : a1, ai & 7, 8) - lane(bi < 8 ? s[0] : s[1], bi & 7, 8));
            }
            if (k < 4) r0 = put(r0, k, 16, sum);
            else r1 = put(r1, k - 4, 16, sum);
        }
        x[d] = r0;
        x[d + 1] = r1;
    }

    /** PEXTRB/W/D/Q, EXTRACTPS, PINSRB/D/Q, INSERTPS; ROUND* and DP* are Sse41Float's. */
    private static void insertExtract(Cpu c, Insn i, int imm) {
        long[] x = c.xmm;
        int d = i.reg * 2;
        switch (i.aux) {
            case 0x214, 0x215, 0x216, 0x217 -> {
                int bits = switch (i.aux) { case 0x214 -> 8; case 0x215 -> 16; default -> i.aux == 0x216 && i.rexW() ? 64 : 32; };
                int n = 128 / bits, k = imm & (n - 1);
                long v = lane(x[d + k / (n / 2)], k % (n / 2), bits);
                // A register destination is written whole (zero-extended); memory gets the element.
                if (i.mem) c.write(c.ea(i), bits / 8, v);
                else c.setReg(i.rm, bits == 64 ? 8 : 4, v);
            }
            case 0x220, 0x222 -> {
                int bits = i.aux == 0x220 ? 8 : i.rexW() ? 64 : 32;
                long v = i.mem ? c.read(c.ea(i), bits / 8) : c.r[i.rm];
                int n = 128 / bits, k = imm & (n - 1);
                x[d + k / (n / 2)] = put(x[d + k / (n / 2)], k % (n / 2), bits, v);
            }
            case 0x221 -> { // INSERTPS
                long v = i.mem ? c.read(c.ea(i), 4) : lane(x[i.rm * 2 + (imm >>> 7)], (imm >>> 6) & 1, 32);
                int k = (imm >>> 4) & 3;
                x[d + (k >> 1)] = put(x[d + (k >> 1)], k & 1, 32, v);
                for (int z = 0; z < 4; z++) if (((imm >>> z) & 1) != 0) x[d + (z >> 1)] = put(x[d + (z >> 1)], z & 1, 32, 0);
            }
            default -> Sse41Float.exec(c, i, imm);
        }
    }
}
