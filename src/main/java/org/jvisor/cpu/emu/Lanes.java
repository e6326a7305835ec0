package org.jvisor.cpu.emu;

/** Element access and saturation for packed integers held in 64-bit words. */
final class Lanes {
    private Lanes() {}

    static long lane(long v, int k, int bits) {
        return bits == 64 ? v : (v >>> (k * bits)) & ((1L << bits) - 1);
    }

    static long slane(long v, int k, int bits) {
        long u = lane(v, k, bits);
        return bits == 64 ? u : (u << (64 - bits)) >> (64 - bits);
    }

    static long put(long v, int k, int bits, long x) {
        if (bits == 64) return x;
        long m = ((1L << bits) - 1) << (k * bits);
        return (v & ~m) | ((x << (k * bits)) & m);
    }

    static long satS(long x, int bits) {
        long max = (1L << (bits - 1)) - 1, min = -max - 1;
        return x > max ? max : Math.max(x, min);
    }

    static long satU(long x, int bits) {
        long max = (1L << bits) - 1;
        return x > max ? max : Math.max(x, 0);
    }

    /** Interleaves the low 32 bits of x and y in elements of {@code bits}: x0 y0 x1 y1 ... */
    static long interleave(long x, long y, int bits) {
        long r = 0;
        int n = 32 / bits;
        for (int k = 0; k < n; k++) {
            r = put(r, 2 * k, bits, lane(x, k, bits));
            r = put(r, 2 * k + 1, bits, lane(y, k, bits));
        }
        return r;
    }
}
