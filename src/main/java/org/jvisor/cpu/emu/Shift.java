package org.jvisor.cpu.emu;

/** Shifts and rotates (ROL ROR RCL RCR SHL SHR SAR), SHLD and SHRD. */
final class Shift {
    private Shift() {}

    static void exec(Cpu c, Insn i) {
        int sz = i.sz;
        int src = i.aux >>> 4;
        int cnt = (int) (src == 0 ? i.imm : src == 1 ? 1 : c.r[Reg.CX]) & (sz == 8 ? 63 : 31);
        long a = c.rmOp(i, sz);
        if (cnt == 0) {
            zeroExtendAnyway(c, i);
            return;
        }
        c.setRmOp(i, sz, shift(c, i.aux & 7, a, cnt, sz));
    }

    /**
     * Shifts or rotates {@code a} ({@code kind} is the ModRM reg field: ROL ROR RCL RCR SHL SHR
     * SAL SAR) by a nonzero, already masked count; sets the flags and returns the result.
     */
    static long shift(Cpu c, int kind, long a, int cnt, int sz) {
        return switch (kind) {
            case 0 -> rol(c, a, cnt, sz);
            case 1 -> ror(c, a, cnt, sz);
            case 2 -> rcl(c, a, cnt, sz);
            case 3 -> rcr(c, a, cnt, sz);
            case 4, 6 -> shl(c, a, cnt, sz);
            case 5 -> shr(c, a, cnt, sz);
            default -> sar(c, a, cnt, sz);
        };
    }

    static long rol(Cpu c, long a, int cnt, int sz) {
        int w = sz * 8, k = cnt & (w - 1);
        long r = k == 0 ? a : ((a << k) | (a >>> (w - k))) & Cpu.mask(sz);
        boolean cf = (r & 1) != 0;
        rotateFlags(c, cf, ((r & Cpu.signBit(sz)) != 0) ^ cf);
        return r;
    }

    static long ror(Cpu c, long a, int cnt, int sz) {
        int w = sz * 8, k = cnt & (w - 1);
        long sign = Cpu.signBit(sz);
        long r = k == 0 ? a : ((a >>> k) | (a << (w - k))) & Cpu.mask(sz);
        boolean msb = (r & sign) != 0, next = (r & (sign >>> 1)) != 0;
        rotateFlags(c, msb, msb ^ next);
        return r;
    }

    static long rcl(Cpu c, long a, int cnt, int sz) {
        int w = sz * 8;
        int k = sz <= 2 ? cnt % (w + 1) : cnt;
        long m = Cpu.mask(sz), sign = Cpu.signBit(sz);
        boolean cf = c.cf();
        long r = a;
        for (int n = 0; n < k; n++) {
            boolean out = (r & sign) != 0;
            r = ((r << 1) | (cf ? 1 : 0)) & m;
            cf = out;
        }
        rotateFlags(c, cf, ((r & sign) != 0) ^ cf);
        return r;
    }

    static long rcr(Cpu c, long a, int cnt, int sz) {
        int w = sz * 8;
        int k = sz <= 2 ? cnt % (w + 1) : cnt;
        long sign = Cpu.signBit(sz);
        boolean cf = c.cf();
        long r = a;
        for (int n = 0; n < k; n++) {
            boolean out = (r & 1) != 0;
            r = (r >>> 1) | (cf ? sign : 0);
            cf = out;
        }
        boolean msb = (r & sign) != 0, next = (r & (sign >>> 1)) != 0;
        rotateFlags(c, cf, msb ^ next);
        return r;
    }

    static long shl(Cpu c, long a, int cnt, int sz) {
        int w = sz * 8;
        long r = cnt >= 64 ? 0 : (a << cnt) & Cpu.mask(sz);
        boolean cf = cnt <= w && ((a >>> (w - cnt)) & 1) != 0;
        c.setResultFlags(r, sz, cf, ((r & Cpu.signBit(sz)) != 0) ^ cf);
        return r;
    }

    static long shr(Cpu c, long a, int cnt, int sz) {
        long r = a >>> cnt;
        boolean cf = ((a >>> (cnt - 1)) & 1) != 0;
        c.setResultFlags(r, sz, cf, cnt == 1 && (a & Cpu.signBit(sz)) != 0);
        return r;
    }

    static long sar(Cpu c, long a, int cnt, int sz) {
        long s = Cpu.sext(a, sz);
        long r = (s >> Math.min(cnt, 63)) & Cpu.mask(sz);
        boolean cf = ((s >> Math.min(cnt - 1, 63)) & 1) != 0;
        c.setResultFlags(r, sz, cf, false);
        return r;
    }

    /** A 32-bit register destination is written, so zero-extended, even by a zero count. */
    private static void zeroExtendAnyway(Cpu c, Insn i) {
        if (i.sz == 4 && !i.mem) c.r[i.rm] &= 0xFFFFFFFFL;
    }

    private static void rotateFlags(Cpu c, boolean cf, boolean of) {
        c.setStatus(Flags.CF | Flags.OF, (cf ? Flags.CF : 0) | (of ? Flags.OF : 0));
    }

    static void shxd(Cpu c, Insn i) {
        int sz = i.sz, w = sz * 8;
        boolean right = (i.aux & 1) != 0;
        int cnt = (int) ((i.aux & 2) != 0 ? c.r[Reg.CX] : i.imm) & (sz == 8 ? 63 : 31);
        long a = c.rmOp(i, sz);
        if (cnt == 0) {
            zeroExtendAnyway(c, i);
            return;
        }
        long b = c.getReg(i.reg, sz);
        long m = Cpu.mask(sz), sign = Cpu.signBit(sz);
        long r;
        boolean cf;
        if (sz == 2 && cnt > 16) {
            // Undefined by the manuals; the result models a 32-bit funnel of dest:src:dest as hardware does.
            long wide = right ? (b << 16 | a) | (a << 32) : (a << 32 | b << 16 | a);
            if (right) { r = (wide >>> cnt) & m; cf = ((wide >>> (cnt - 1)) & 1) != 0; }
            else { r = (wide >>> (32 - cnt)) & m; cf = ((wide >>> (48 - cnt)) & 1) != 0; }
        } else if (right) {
            r = ((a >>> cnt) | (b << (w - cnt))) & m;
            cf = ((a >>> (cnt - 1)) & 1) != 0;
        } else {
            r = ((a << cnt) | (b >>> (w - cnt))) & m;
            cf = ((a >>> (w - cnt)) & 1) != 0;
        }
        c.setResultFlags(r, sz, cf, ((r ^ a) & sign) != 0);
        c.setRmOp(i, sz, r);
    }
}
