package org.jvisor.cpu.emu;

/**
 * One decoded x86 instruction: immutable, decoded once and cached with its block.
 * Register numbers include the REX extension bits; for byte operands {@code reg8}/{@code rm8}
 * are 0-15 for the low bytes and 16-19 for AH, CH, DH, BH (only without REX).
 */
public final class Insn {
    public static final int NONE = -1, RIP = 16;
    /** Prefix flags. */
    public static final int P_LOCK = 1, P_REP = 2, P_REPNE = 4, P_OPSIZE = 8, P_ADSIZE = 16, P_REX = 32, P_REXW = 64;

    public final int op;        // Op.* handler id
    public final int aux;       // per-op detail: ALU kind, condition code, group index...
    public final int len;
    public final int sz;        // operand size in bytes: 1, 2, 4, 8 (16 for whole-XMM operands)
    public final int asz;       // address size in bytes: 2, 4, 8
    public final int reg, rm, reg8, rm8;
    public final boolean mem;   // the r/m operand is memory
    public final int base, index, scale, seg;
    public final long disp, imm, imm2;
    public final int prefixes;
    public final int opcode;    // map << 8 | byte, for diagnostics: 0x0XX, 0x1XX (0F), 0x2XX (0F38), 0x3XX (0F3A)

    Insn(int op, int aux, int len, int sz, int asz, int reg, int rm, int reg8, int rm8, boolean mem,
         int base, int index, int scale, int seg, long disp, long imm, long imm2, int prefixes, int opcode) {
        this.op = op;
        this.aux = aux;
        this.len = len;
        this.sz = sz;
        this.asz = asz;
        this.reg = reg;
        this.rm = rm;
        this.reg8 = reg8;
        this.rm8 = rm8;
        this.mem = mem;
        this.base = base;
        this.index = index;
        this.scale = scale;
        this.seg = seg;
        this.disp = disp;
        this.imm = imm;
        this.imm2 = imm2;
        this.prefixes = prefixes;
        this.opcode = opcode;
    }

    public boolean rep() { return (prefixes & P_REP) != 0; }
    public boolean repne() { return (prefixes & P_REPNE) != 0; }
    public boolean rexW() { return (prefixes & P_REXW) != 0; }
    public boolean lock() { return (prefixes & P_LOCK) != 0; }

    @Override
    public String toString() {
        return String.format("%s/%d sz=%d len=%d reg=%d rm=%d mem=%s base=%d idx=%d sc=%d disp=%x imm=%x",
                Op.name(op), aux, sz, len, reg, rm, mem, base, index, scale, disp, imm);
    }
}
