package org.jvisor.cpu.emu;

import static org.jvisor.cpu.emu.Lanes.*;

/** Packed-integer SSE2/SSSE3 operations on XMM registers; {@code aux} is the opcode (0x1xx for 0F38). */
final class SseInt {
    private SseInt() {}

    static void exec(Cpu c, Insn i) {
        long[] s = c.xmmSrc(i, true);
        long b0 = s[0], b1 = s[1];
        long[] x = c.xmm;
        int d = i.reg * 2;
        long a0 = x[d], a1 = x[d + 1];
        int opc = i.aux;
        switch (opc) {
            case 0x60, 0x61, 0x62 -> { int bits = 8 << (opc - 0x60); x[d] = interleave(a0, b0, bits); x[d + 1] = interleave(a0 >>> 32, b0 >>> 32, bits); }
            case 0x68, 0x69, 0x6A -> { int bits = 8 << (opc - 0x68); x[d] = interleave(a1, b1, bits); x[d + 1] = interleave(a1 >>> 32, b1 >>> 32, bits); }
            case 0x6C -> x[d + 1] = b0;
            case 0x6D -> { x[d] = a1; x[d + 1] = b1; }
            case 0x63 -> { x[d] = pack(a0, a1, 16, true); x[d + 1] = pack(b0, b1, 16, true); }
            case 0x67 -> { x[d] = pack(a0, a1, 16, false); x[d + 1] = pack(b0, b1, 16, false); }
            case 0x6B -> { x[d] = pack(a0, a1, 32, true); x[d + 1] = pack(b0, b1, 32, true); }
            case 0xD1, 0xD2, 0xD3, 0xE1, 0xE2, 0xF1, 0xF2, 0xF3 -> {
                x[d] = shiftBy(opc, a0, b0);
                x[d + 1] = shiftBy(opc, a1, b0);
            }
            case 0x100 -> {
                x[d] = pshufb(b0, a0, a1, 15);
                x[d + 1] = pshufb(b1, a0, a1, 15);
            }
            case 0x101, 0x102, 0x103, 0x105, 0x106, 0x107 -> {
                x[d] = horizontal(opc, a0, a1);
                x[d + 1] = horizontal(opc, b0, b1);
            }
            default -> {
                x[d] = half(opc, a0, b0);
                x[d + 1] = half(opc, a1, b1);
            }
        }
    }

    /**
     * The MMX form of a packed-integer opcode on one 64-bit pair: the same lane arithmetic, where
     * the unpacks take the halves of the 64-bit operands and the packs narrow dst then src.
     */
    static long op64(int opc, long a, long b) {
        return switch (opc) {
            case 0x60, 0x61, 0x62 -> interleave(a, b, 8 << (opc - 0x60));
            case 0x68, 0x69, 0x6A -> interleave(a >>> 32, b >>> 32, 8 << (opc - 0x68));
            case 0x63 -> pack(a, b, 16, true);
            case 0x67 -> pack(a, b, 16, false);
            case 0x6B -> pack(a, b, 32, true);
            case 0xD1, 0xD2, 0xD3, 0xE1, 0xE2, 0xF1, 0xF2, 0xF3 -> shiftBy(opc, a, b);
            case 0x100 -> pshufb(b, a, a, 7);
            case 0x101, 0x102, 0x103, 0x105, 0x106, 0x107 -> horizontal(opc, a, b);
            default -> half(opc, a, b);
        };
    }

    /** PSRLW/D/Q, PSRAW/D, PSLLW/D/Q by a register count. */
    private static long shiftBy(int opc, long v, long count) {
        int bits = switch (opc & 3) { case 1 -> 16; case 2 -> 32; default -> 64; };
        int kind = opc < 0xE0 ? 0 : opc < 0xF0 ? 1 : 2;
        return shift(v, count, bits, kind);
    }

    /**
     * Eight bytes of PSHUFB: each selector byte picks a byte of the table t0:t1 by its low bits
     * ({@code mask} 15 for XMM, 7 for MMX, whose table is one register) or zero when bit 7 is set.
     */
    private static long pshufb(long sel, long t0, long t1, int mask) {
        long r = 0;
        for (int k = 0; k < 8; k++) {
            int s = (int) lane(sel, k, 8);
            if ((s & 0x80) == 0) r = put(r, k, 8, lane((s & mask & 8) == 0 ? t0 : t1, s & 7, 8));
        }
        return r;
    }

    /** Narrows the elements of lo then hi (each {@code bits} wide) to half width, saturating. */
    static long pack(long lo, long hi, int bits, boolean signed) {
        int n = 64 / bits, out = bits / 2;
        long r = 0;
        for (int k = 0; k < 2 * n; k++) {
            long v = slane(k < n ? lo : hi, k % n, bits);
            r = put(r, k, out, signed ? satS(v, out) : satU(v, out));
        }
        return r;
    }

    /** kind 0 logical right, 1 arithmetic right, 2 left; count is the whole 64-bit source. */
    static long shift(long v, long count, int bits, int kind) {
        if (Long.compareUnsigned(count, bits - 1) > 0) {
            if (kind != 1) return 0;
            count = bits - 1;
        }
        int cnt = (int) count;
        if (bits == 64) return kind == 0 ? v >>> cnt : kind == 1 ? v >> cnt : v << cnt;
        long r = 0;
        for (int k = 0; k < 64 / bits; k++) {
            long e = kind == 1 ? slane(v, k, bits) >> cnt : kind == 0 ? lane(v, k, bits) >>> cnt : lane(v, k, bits) << cnt;
            r = put(r, k, bits, e);
        }
        return r;
    }

    /** PHADDW/D, PHADDSW, PHSUBW/D, PHSUBSW: pairs of lo, then pairs of hi. */
    private static long horizontal(int opc, long lo, long hi) {
        int bits = (opc & 3) == 2 ? 32 : 16;
        boolean sub = opc >= 0x105, sat = (opc & 3) == 3;
        int n = 64 / bits;
        long r = 0;
        for (int k = 0; k < n; k++) {
            long src = k < n / 2 ? lo : hi;
            int p = (k % (n / 2)) * 2;
            long e1 = slane(src, p, bits), e2 = slane(src, p + 1, bits);
            long v = sub ? e1 - e2 : e1 + e2;
            r = put(r, k, bits, sat ? satS(v, bits) : v);
        }
        return r;
    }

    /** Operations that work on each 64-bit half independently. */
    static long half(int opc, long a, long b) {
        switch (opc) {
            case 0xDB: return a & b;
            case 0xDF: return ~a & b;
            case 0xEB: return a | b;
            case 0xEF: return a ^ b;
            case 0xD4: return a + b;
            case 0xFB: return a - b;
            case 0x74: return cmpeq(a, b);
            case 0xF4: return (a & 0xFFFFFFFFL) * (b & 0xFFFFFFFFL);
            case 0x128: return (long) (int) a * (int) b; // PMULDQ
            case 0x129: return a == b ? -1 : 0; // PCMPEQQ
            case 0x137: return a > b ? -1 : 0; // PCMPGTQ
            case 0xF6: {
                long sum = 0;
                for (int k = 0; k < 8; k++) sum += Math.abs(lane(a, k, 8) - lane(b, k, 8));
                return sum;
            }
            case 0xF5: {
                long r = 0;
                for (int k = 0; k < 2; k++) {
                    long v = slane(a, 2 * k, 16) * slane(b, 2 * k, 16) + slane(a, 2 * k + 1, 16) * slane(b, 2 * k + 1, 16);
                    r = put(r, k, 32, v);
                }
                return r;
            }
            case 0x104: {
                long r = 0;
                for (int k = 0; k < 4; k++) {
                    long v = lane(a, 2 * k, 8) * slane(b, 2 * k, 8) + lane(a, 2 * k + 1, 8) * slane(b, 2 * k + 1, 8);
                    r = put(r, k, 16, satS(v, 16));
                }
                return r;
            }
            default:
                return lanes(opc, a, b);
        }
    }

    /** PCMPEQB without a loop: bytes equal become 0xFF. */
    private static long cmpeq(long a, long b) {
        long x = a ^ b;
        long t = ((x & 0x7F7F7F7F7F7F7F7FL) + 0x7F7F7F7F7F7F7F7FL) | x;
        long hi = ~t & 0x8080808080808080L;
        return (hi >>> 7) * 0xFF;
    }

    private static int bitsOf(int opc) {
        return switch (opc) {
            case 0x64, 0xFC, 0xF8, 0xD8, 0xDC, 0xE8, 0xEC, 0xDA, 0xDE, 0xE0, 0x108, 0x11C, 0x138, 0x13C -> 8;
            case 0x66, 0x76, 0xFE, 0xFA, 0x10A, 0x11E, 0x139, 0x13B, 0x13D, 0x13F, 0x140 -> 32;
            default -> 16;
        };
    }

    private static long lanes(int opc, long a, long b) {
        int bits = bitsOf(opc);
        long r = 0;
        for (int k = 0; k < 64 / bits; k++) {
            long ua = lane(a, k, bits), ub = lane(b, k, bits);
            long sa = slane(a, k, bits), sb = slane(b, k, bits);
            long v = switch (opc) {
                case 0x64, 0x65, 0x66 -> sa > sb ? -1 : 0;
                case 0x75, 0x76 -> ua == ub ? -1 : 0;
                case 0xFC, 0xFD, 0xFE -> ua + ub;
                case 0xF8, 0xF9, 0xFA -> ua - ub;
                case 0xD8, 0xD9 -> satU(ua - ub, bits);
                case 0xDC, 0xDD -> satU(ua + ub, bits);
                case 0xE8, 0xE9 -> satS(sa - sb, bits);
                case 0xEC, 0xED -> satS(sa + sb, bits);
                case 0xDA, 0x13A, 0x13B -> Math.min(ua, ub);
                case 0xDE, 0x13E, 0x13F -> Math.max(ua, ub);
                case 0xEA, 0x138, 0x139 -> Math.min(sa, sb);
                case 0xEE, 0x13C, 0x13D -> Math.max(sa, sb);
                case 0x140 -> sa * sb;
                case 0xE0, 0xE3 -> (ua + ub + 1) >>> 1;
                case 0xD5 -> sa * sb;
                case 0xE5 -> (sa * sb) >> 16;
                case 0xE4 -> (ua * ub) >>> 16;
                case 0x10B -> ((sa * sb >> 14) + 1) >> 1;
                case 0x108, 0x109, 0x10A -> sb < 0 ? -sa : sb == 0 ? 0 : sa;
                case 0x11C, 0x11D, 0x11E -> Math.abs(sb);
                default -> throw new IllegalStateException("packed op " + Integer.toHexString(opc));
            };
            r = put(r, k, bits, v);
        }
        return r;
    }

    /** PSRLW/PSRAW/PSLLW and friends, PSRLDQ/PSLLDQ by an immediate; aux = group*8 + reg. */
    static void shiftImm(Cpu c, Insn i) {
        long[] x = c.xmm;
        int d = i.rm * 2;
        long cnt = i.imm & 0xFF;
        int g = i.aux;
        switch (g) {
            case 19, 23 -> { // PSRLDQ, PSLLDQ: whole-register byte shifts
                int n = (int) Math.min(cnt, 16);
                java.math.BigInteger v = new java.math.BigInteger(1, toBytes(x[d + 1], x[d]));
                v = g == 19 ? v.shiftRight(n * 8) : v.shiftLeft(n * 8);
                long lo = v.longValue(), hi = v.shiftRight(64).longValue();
                x[d] = lo;
                x[d + 1] = hi;
            }
            default -> {
                int bits = g < 8 ? 16 : g < 16 ? 32 : 64;
                int kind = switch (g & 7) { case 2 -> 0; case 4 -> 1; default -> 2; };
                x[d] = shift(x[d], cnt, bits, kind);
                x[d + 1] = shift(x[d + 1], cnt, bits, kind);
            }
        }
    }

    private static byte[] toBytes(long hi, long lo) {
        byte[] b = new byte[16];
        for (int k = 0; k < 8; k++) {
            b[k] = (byte) (hi >>> (56 - 8 * k));
            b[k + 8] = (byte) (lo >>> (56 - 8 * k));
        }
        return b;
    }
}
