package org.jvisor.cpu.emu;

/** Shifts and rotates (ROL ROR RCL RCR SHL SHR SAR), SHLD and SHRD. */
final class Shift {
    private Shift() {}

    static void exec(Cpu c, Insn i) {
        int sz = i.sz, w = sz * 8;
        int src = i.aux >>> 4;
        int cnt = (int) (src == 0 ? i.imm : src == 1 ? 1 : c.r[Reg.CX]) & (sz == 8 ? 63 : 31);
        long a = c.rmOp(i, sz);
        if (cnt == 0) {
            zeroExtendAnyway(c, i);
            return;
        }
        long m = Cpu.mask(sz), sign = Cpu.signBit(sz);
        long r;
        switch (i.aux & 7) {
            case 0 -> { // ROL
                int k = cnt & (w - 1);
                r = k == 0 ? a : ((a << k) | (a >>> (w - k))) & m;
                boolean cf = (r & 1) != 0;
                rotateFlags(c, cf, ((r & sign) != 0) ^ cf);
            }
            case 1 -> { // ROR
                int k = cnt & (w - 1);
                r = k == 0 ? a : ((a >>> k) | (a << (w - k))) & m;
                boolean msb = (r & sign) != 0, next = (r & (sign >>> 1)) != 0;
                rotateFlags(c, msb, msb ^ next);
            }
            case 2 -> { // RCL
                int k = sz <= 2 ? cnt % (w + 1) : cnt;
                boolean cf = c.cf();
                r = a;
                for (int n = 0; n < k; n++) {
                    boolean out = (r & sign) != 0;
                    r = ((r << 1) | (cf ? 1 : 0)) & m;
                    cf = out;
                }
                rotateFlags(c, cf, ((r & sign) != 0) ^ cf);
            }
            case 3 -> { // RCR
                int k = sz <= 2 ? cnt % (w + 1) : cnt;
                boolean cf = c.cf();
                r = a;
                for (int n = 0; n < k; n++) {
                    boolean out = (r & 1) != 0;
                    r = (r >>> 1) | (cf ? sign : 0);
                    cf = out;
                }
                boolean msb = (r & sign) != 0, next = (r & (sign >>> 1)) != 0;
                rotateFlags(c, cf, msb ^ next);
            }
            case 4, 6 -> { // SHL / SAL
                r = cnt >= 64 ? 0 : (a << cnt) & m;
                boolean cf = cnt <= w && ((a >>> (w - cnt)) & 1) != 0;
                c.setResultFlags(r, sz, cf, ((r & sign) != 0) ^ cf);
            }
            case 5 -> { // SHR
                r = a >>> cnt;
                boolean cf = ((a >>> (cnt - 1)) & 1) != 0;
                c.setResultFlags(r, sz, cf, cnt == 1 && (a & sign) != 0);
            }
            default -> { // SAR
                long s = Cpu.sext(a, sz);
                r = (s >> Math.min(cnt, 63)) & m;
                boolean cf = ((s >> Math.min(cnt - 1, 63)) & 1) != 0;
                c.setResultFlags(r, sz, cf, false);
            }
        }
        c.setRmOp(i, sz, r);
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
