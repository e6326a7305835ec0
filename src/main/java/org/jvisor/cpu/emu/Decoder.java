package org.jvisor.cpu.emu;

import org.jvisor.cpu.Vectors;

/**
 * x86 instruction decoder: legacy prefixes, REX, the one-byte, 0F, 0F38 and 0F3A maps,
 * ModRM/SIB with 16-, 32- and 64-bit addressing, displacements and immediates.
 * Produces immutable {@link Insn}s; which handler runs them is decided by {@link OpTable}.
 * Not thread-safe: one decoder per vCPU. Undecodable or unimplemented encodings decode to
 * {@link Op#UD} (raising #UD when executed), so decoding itself only ever faults on fetch.
 */
public final class Decoder {
    /** Reads one code byte; throws {@link CpuFault} when the byte cannot be fetched. */
    @FunctionalInterface
    public interface Fetch {
        int byteAt(long addr);
    }

    public static final int MODE16 = 2, MODE32 = 4, MODE64 = 8;
    static final int MAX_LEN = 15;

    // Immediate kinds in the attribute tables.
    static final int I_NONE = 0, I_B = 1, I_W = 2, I_Z = 3, I_V = 4, I_WB = 5, I_MOFFS = 6, I_FAR = 7;
    static final int ATTR_MODRM = 0x10;

    private Fetch fetch;
    private long start;
    private int pos;

    // Parse state handed to OpTable.
    int mode;
    int prefixes;
    int rex;
    int repKind;     // 0, 0xF2 or 0xF3: the last of them
    int segOverride; // -1 or ES..GS
    int osz, asz;
    int map, opc;
    boolean hasModrm;
    int mod, regField, rmField; // raw 3-bit fields
    // Results set by OpTable.
    int op, aux, sz, immKind;

    /** Decodes the instruction at {@code addr}. */
    public Insn decode(Fetch f, long addr, int mode) {
        this.fetch = f;
        this.start = addr;
        this.pos = 0;
        this.mode = mode;
        prefixes = 0;
        rex = 0;
        repKind = 0;
        segOverride = -1;
        int b;
        for (;;) {
            if (pos >= MAX_LEN) return tooLong();
            b = next();
            switch (b) {
                case 0xF0 -> { prefixes |= Insn.P_LOCK; rex = 0; }
                case 0xF2 -> { repKind = 0xF2; rex = 0; }
                case 0xF3 -> { repKind = 0xF3; rex = 0; }
                case 0x66 -> { prefixes |= Insn.P_OPSIZE; rex = 0; }
                case 0x67 -> { prefixes |= Insn.P_ADSIZE; rex = 0; }
                case 0x26 -> { segOverride = mode == MODE64 ? segOverride : Seg.ES; rex = 0; }
                case 0x2E -> { segOverride = mode == MODE64 ? segOverride : Seg.CS; rex = 0; }
                case 0x36 -> { segOverride = mode == MODE64 ? segOverride : Seg.SS; rex = 0; }
                case 0x3E -> { segOverride = mode == MODE64 ? segOverride : Seg.DS; rex = 0; }
                case 0x64 -> { segOverride = Seg.FS; rex = 0; }
                case 0x65 -> { segOverride = Seg.GS; rex = 0; }
                default -> {
                    if (mode == MODE64 && (b & 0xF0) == 0x40) { rex = b; continue; }
                    // Not a prefix: b is the opcode.
                    return decodeOpcode(b);
                }
            }
        }
    }

    private Insn decodeOpcode(int b) {
        if (repKind == 0xF3) prefixes |= Insn.P_REP;
        else if (repKind == 0xF2) prefixes |= Insn.P_REPNE;
        if (rex != 0) prefixes |= Insn.P_REX;
        if ((rex & 8) != 0) prefixes |= Insn.P_REXW;
        boolean p66 = (prefixes & Insn.P_OPSIZE) != 0, p67 = (prefixes & Insn.P_ADSIZE) != 0;
        switch (mode) {
            case MODE64 -> { osz = (rex & 8) != 0 ? 8 : p66 ? 2 : 4; asz = p67 ? 4 : 8; }
            case MODE32 -> { osz = p66 ? 2 : 4; asz = p67 ? 2 : 4; }
            default -> { osz = p66 ? 4 : 2; asz = p67 ? 4 : 2; }
        }
        map = 0;
        opc = b;
        if (b == 0x0F) {
            opc = next();
            map = 1;
            if (opc == 0x38) { map = 2; opc = next(); }
            else if (opc == 0x3A) { map = 3; opc = next(); }
        }
        int attr = OpTable.attributes(map, opc, mode);
        hasModrm = (attr & ATTR_MODRM) != 0;
        immKind = attr & 0xF;
        mod = 3;
        regField = 0;
        rmField = 0;
        int base = Insn.NONE, index = Insn.NONE, scale = 0;
        long disp = 0;
        boolean mem = false;
        int defaultSeg = Seg.DS;
        if (hasModrm) {
            int m = next();
            mod = m >>> 6;
            regField = (m >>> 3) & 7;
            rmField = m & 7;
            if (mod != 3) {
                mem = true;
                if (asz == 2) {
                    switch (rmField) {
                        case 0 -> { base = Reg.BX; index = Reg.SI; }
                        case 1 -> { base = Reg.BX; index = Reg.DI; }
                        case 2 -> { base = Reg.BP; index = Reg.SI; defaultSeg = Seg.SS; }
                        case 3 -> { base = Reg.BP; index = Reg.DI; defaultSeg = Seg.SS; }
                        case 4 -> base = Reg.SI;
                        case 5 -> base = Reg.DI;
                        case 6 -> { if (mod != 0) { base = Reg.BP; defaultSeg = Seg.SS; } }
                        default -> base = Reg.BX;
                    }
                    if (mod == 1) disp = (byte) next();
                    else if (mod == 2 || (mod == 0 && rmField == 6)) disp = (short) next16();
                } else {
                    int rm = rmField;
                    if (rm == 4) {
                        int sib = next();
                        scale = sib >>> 6;
                        int idx = ((sib >>> 3) & 7) | ((rex & 2) << 2);
                        if (idx != 4) index = idx;
                        int bse = sib & 7;
                        if (bse == 5 && mod == 0) {
                            disp = next32();
                        } else {
                            base = bse | ((rex & 1) << 3);
                        }
                    } else if (rm == 5 && mod == 0) {
                        if (mode == MODE64) base = Insn.RIP;
                        disp = next32();
                    } else {
                        base = rm | ((rex & 1) << 3);
                    }
                    if (mod == 1) disp = (byte) next();
                    else if (mod == 2) disp = next32();
                    if (base == Reg.SP || base == Reg.BP) defaultSeg = Seg.SS;
                }
            }
        }
        int reg = regField | ((rex & 4) << 1);
        int rm = rmField | ((rex & 1) << 3);
        op = Op.UD;
        aux = 0;
        sz = osz;
        OpTable.resolve(this);
        // Immediates (OpTable may adjust immKind for groups such as F6/F7 TEST).
        long imm = 0, imm2 = 0;
        switch (immKind) {
            case I_B -> imm = (byte) next();
            case I_W -> imm = (short) next16();
            case I_Z -> imm = (osz == 2 && !(mode == MODE64 && isNearBranch())) ? (short) next16() : next32();
            case I_V -> imm = osz == 2 ? (short) next16() : osz == 4 ? next32() : next64();
            case I_WB -> { imm = next16() & 0xFFFF; imm2 = next() & 0xFF; }
            case I_MOFFS -> imm = asz == 2 ? next16() & 0xFFFF : asz == 4 ? next32() & 0xFFFFFFFFL : next64();
            case I_FAR -> { imm = osz == 2 ? next16() & 0xFFFF : next32() & 0xFFFFFFFFL; imm2 = next16() & 0xFFFF; }
            default -> { }
        }
        if (pos > MAX_LEN) return tooLong();
        if ((prefixes & Insn.P_LOCK) != 0 && !OpTable.lockable(op, mem)) op = Op.UD;
        int seg = segOverride >= 0 ? segOverride : (mode == MODE64 ? Insn.NONE : defaultSeg);
        int reg8 = byteReg(regField, rex, reg);
        int rm8 = byteReg(rmField, rex, rm);
        return new Insn(op, aux, pos, sz, asz, reg, rm, reg8, rm8, mem, base, index, scale, seg, disp, imm, imm2,
                prefixes, map << 8 | opc);
    }

    private boolean isNearBranch() {
        return (map == 0 && (opc == 0xE8 || opc == 0xE9)) || (map == 1 && (opc & 0xF0) == 0x80);
    }

    private static int byteReg(int field, int rex, int full) {
        return rex == 0 && field >= 4 ? 16 + field - 4 : full;
    }

    private Insn tooLong() {
        // More than 15 bytes: #GP(0) when executed.
        return new Insn(Op.BADLEN, Vectors.GP, MAX_LEN, 4, 8, 0, 0, 0, 0, false, Insn.NONE, Insn.NONE, 0,
                Insn.NONE, 0, 0, 0, prefixes, 0);
    }

    private int next() {
        if (pos >= MAX_LEN + 1) {
            // Keep reading bounded: an over-long instruction is reported by the length check.
            pos++;
            return 0x90;
        }
        return fetch.byteAt(start + pos++) & 0xFF;
    }

    private int next16() {
        int lo = next();
        return lo | next() << 8;
    }

    private long next32() {
        int v = next16();
        return (int) (v | next16() << 16);
    }

    private long next64() {
        long lo = next32() & 0xFFFFFFFFL;
        return lo | next32() << 32;
    }
}
