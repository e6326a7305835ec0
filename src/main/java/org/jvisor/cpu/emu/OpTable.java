package org.jvisor.cpu.emu;

import static org.jvisor.cpu.emu.Decoder.*;

/**
 * Which handler runs each encoding: attribute tables (ModRM, immediate kind) and the
 * resolution of opcode, mandatory prefix and ModRM.reg into an {@link Op}.
 */
final class OpTable {
    private static final byte[] ATTR1 = new byte[256], ATTR0F = new byte[256];
    /** SSE ops of the 0F map indexed by opcode * 4 + prefix (0 none, 1 66, 2 F3, 3 F2). */
    private static final int[] SSE_OP = new int[1024], SSE_AUX = new int[1024];

    /** aux of JMPF_E/CALLF_E taking selector:offset from the instruction (EA/9A) instead of memory. */
    static final int FAR_DIRECT = 1;

    private OpTable() {}

    static {
        for (int b = 0; b < 0x40; b++) {
            int f = b & 7;
            if (f < 4) ATTR1[b] = ATTR_MODRM;
            else if (f == 4) ATTR1[b] = I_B;
            else if (f == 5) ATTR1[b] = I_Z;
        }
        set1(ATTR_MODRM, 0x62, 0x63, 0x69, 0x6B, 0xC0, 0xC1, 0xC4, 0xC5, 0xC6, 0xC7, 0xD0, 0xD1, 0xD2, 0xD3,
                0xF6, 0xF7, 0xFE, 0xFF);
        for (int b = 0x80; b <= 0x8F; b++) ATTR1[b] = ATTR_MODRM;
        for (int b = 0xD8; b <= 0xDF; b++) ATTR1[b] = ATTR_MODRM;
        ATTR1[0x69] |= I_Z;
        ATTR1[0x6B] |= I_B;
        ATTR1[0x80] |= I_B;
        ATTR1[0x81] |= I_Z;
        ATTR1[0x82] |= I_B;
        ATTR1[0x83] |= I_B;
        ATTR1[0xC0] |= I_B;
        ATTR1[0xC1] |= I_B;
        ATTR1[0xC6] |= I_B;
        ATTR1[0xC7] |= I_Z;
        set1(I_B, 0x6A, 0xA8, 0xCD, 0xD4, 0xD5, 0xEB, 0xE0, 0xE1, 0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7);
        for (int b = 0x70; b <= 0x7F; b++) ATTR1[b] = I_B;
        for (int b = 0xB0; b <= 0xB7; b++) ATTR1[b] = I_B;
        for (int b = 0xB8; b <= 0xBF; b++) ATTR1[b] = I_V;
        set1(I_Z, 0x68, 0xA9, 0xE8, 0xE9);
        set1(I_W, 0xC2, 0xCA);
        ATTR1[0xC8] = I_WB;
        set1(I_MOFFS, 0xA0, 0xA1, 0xA2, 0xA3);
        set1(I_FAR, 0x9A, 0xEA);

        for (int b = 0; b < 256; b++) ATTR0F[b] = ATTR_MODRM;
        for (int b : new int[] {0x05, 0x06, 0x07, 0x08, 0x09, 0x0B, 0x0E, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35,
                0x37, 0x77, 0xA0, 0xA1, 0xA2, 0xA8, 0xA9, 0xAA}) ATTR0F[b] = 0;
        for (int b = 0xC8; b <= 0xCF; b++) ATTR0F[b] = 0;
        for (int b = 0x80; b <= 0x8F; b++) ATTR0F[b] = I_Z;
        for (int b : new int[] {0x70, 0x71, 0x72, 0x73, 0xA4, 0xAC, 0xBA, 0xC2, 0xC4, 0xC5, 0xC6}) ATTR0F[b] |= I_B;

        buildSse();
    }

    private static void set1(int attr, int... bs) {
        for (int b : bs) ATTR1[b] |= (byte) attr;
    }

    static int attributes(int map, int opc, int mode) {
        return switch (map) {
            case 0 -> ATTR1[opc];
            case 1 -> ATTR0F[opc];
            case 2 -> ATTR_MODRM;
            default -> ATTR_MODRM | I_B;
        };
    }

    /** LOCK is only valid on these read-modify-write forms with a memory destination. */
    static boolean lockable(int op, boolean mem) {
        if (!mem) return false;
        return switch (op) {
            case Op.ALU_EG, Op.ALU_EI, Op.INC_E, Op.DEC_E, Op.NOT, Op.NEG, Op.XCHG_EG, Op.XADD, Op.CMPXCHG,
                    Op.CMPXCHG8B, Op.BT_EG, Op.BT_EI -> true;
            default -> false;
        };
    }

    static void resolve(Decoder d) {
        switch (d.map) {
            case 0 -> one(d);
            case 1 -> twoByte(d);
            case 2 -> map0F38(d);
            default -> map0F3A(d);
        }
    }

    private static int d64(Decoder d) {
        if (d.mode != MODE64) return d.osz;
        return (d.prefixes & Insn.P_OPSIZE) != 0 ? 2 : 8;
    }

    private static void set(Decoder d, int op, int aux) {
        d.op = op;
        d.aux = aux;
    }

    private static void one(Decoder d) {
        int b = d.opc;
        boolean m64 = d.mode == MODE64;
        if (b < 0x40 && (b & 7) < 6) {
            int kind = b >>> 3;
            switch (b & 7) {
                case 0 -> { set(d, Op.ALU_EG, kind); d.sz = 1; }
                case 1 -> set(d, Op.ALU_EG, kind);
                case 2 -> { set(d, Op.ALU_GE, kind); d.sz = 1; }
                case 3 -> set(d, Op.ALU_GE, kind);
                case 4 -> { set(d, Op.ALU_AI, kind); d.sz = 1; }
                default -> set(d, Op.ALU_AI, kind);
            }
            return;
        }
        if (b >= 0x40 && b <= 0x4F) { // only reached outside 64-bit mode
            set(d, b < 0x48 ? Op.INC_R : Op.DEC_R, b & 7);
            return;
        }
        if (b >= 0x50 && b <= 0x57) { set(d, Op.PUSH_R, (b & 7) | (d.rex & 1) << 3); d.sz = d64(d); return; }
        if (b >= 0x58 && b <= 0x5F) { set(d, Op.POP_R, (b & 7) | (d.rex & 1) << 3); d.sz = d64(d); return; }
        if (b >= 0x70 && b <= 0x7F) { set(d, Op.JCC, b & 15); d.sz = d64(d); return; }
        if (b >= 0x91 && b <= 0x97) { set(d, Op.XCHG_AR, (b & 7) | (d.rex & 1) << 3); return; }
        if (b >= 0xB0 && b <= 0xB7) {
            int r = (b & 7) | (d.rex & 1) << 3;
            set(d, Op.MOV_RI, d.rex == 0 && r >= 4 ? 16 + r - 4 : r);
            d.sz = 1;
            return;
        }
        if (b >= 0xB8 && b <= 0xBF) { set(d, Op.MOV_RI, (b & 7) | (d.rex & 1) << 3); return; }
        if (b >= 0xD8 && b <= 0xDF) { set(d, Op.X87, (b & 7) << 3 | d.regField); return; }
        switch (b) {
            // Outside 64-bit mode: direct far transfers and the ES/CS/SS/DS pushes and pops.
            case 0x9A -> { if (!m64) set(d, Op.CALLF_E, FAR_DIRECT); }
            case 0xEA -> { if (!m64) set(d, Op.JMPF_E, FAR_DIRECT); }
            case 0x06, 0x0E, 0x16, 0x1E -> { if (!m64) set(d, Op.PUSH_SEG, b >>> 3); }
            case 0x07, 0x17, 0x1F -> { if (!m64) set(d, Op.POP_SEG, b >>> 3); }
            case 0x63 -> { if (m64) set(d, Op.MOVSXD, 0); }
            case 0x68, 0x6A -> { set(d, Op.PUSH_I, 0); d.sz = d64(d); }
            case 0x69, 0x6B -> set(d, Op.IMUL_GEI, 0);
            case 0x80, 0x82 -> { if (b == 0x80 || !m64) { set(d, Op.ALU_EI, d.regField); d.sz = 1; } }
            case 0x81, 0x83 -> set(d, Op.ALU_EI, d.regField);
            case 0x84 -> { set(d, Op.TEST_EG, 0); d.sz = 1; }
            case 0x85 -> set(d, Op.TEST_EG, 0);
            case 0x86 -> { set(d, Op.XCHG_EG, 0); d.sz = 1; }
            case 0x87 -> set(d, Op.XCHG_EG, 0);
            case 0x88 -> { set(d, Op.MOV_EG, 0); d.sz = 1; }
            case 0x89 -> set(d, Op.MOV_EG, 0);
            case 0x8A -> { set(d, Op.MOV_GE, 0); d.sz = 1; }
            case 0x8B -> set(d, Op.MOV_GE, 0);
            case 0x8C -> { if (d.regField < 6) set(d, Op.MOV_E_SEG, d.regField); if (d.mod != 3) d.sz = 2; }
            case 0x8D -> { if (d.mod != 3) set(d, Op.LEA, 0); }
            case 0x8E -> { if (d.regField < 6 && d.regField != Seg.CS) set(d, Op.MOV_SEG_E, d.regField); d.sz = 2; }
            case 0x8F -> { if (d.regField == 0) { set(d, Op.POP_E, 0); d.sz = d64(d); } }
            case 0x90 -> {
                if ((d.rex & 1) != 0) set(d, Op.XCHG_AR, 8);
                else set(d, d.repKind == 0xF3 ? Op.PAUSE : Op.NOP, 0);
            }
            case 0x98 -> set(d, Op.CBW, 0);
            case 0x99 -> set(d, Op.CWD, 0);
            case 0x9B -> set(d, Op.FWAIT, 0);
            case 0x9C -> { set(d, Op.PUSHF, 0); d.sz = d64(d); }
            case 0x9D -> { set(d, Op.POPF, 0); d.sz = d64(d); }
            case 0x9E -> set(d, Op.SAHF, 0);
            case 0x9F -> set(d, Op.LAHF, 0);
            case 0xA0, 0xA1, 0xA2, 0xA3 -> { set(d, Op.MOV_MOFFS, b & 2); if ((b & 1) == 0) d.sz = 1; }
            case 0xA4, 0xA5 -> str(d, Op.MOVS);
            case 0xA6, 0xA7 -> str(d, Op.CMPS);
            case 0xAA, 0xAB -> str(d, Op.STOS);
            case 0xAC, 0xAD -> str(d, Op.LODS);
            case 0xAE, 0xAF -> str(d, Op.SCAS);
            case 0x6C, 0x6D -> str(d, Op.INS);
            case 0x6E, 0x6F -> str(d, Op.OUTS);
            case 0xA8 -> { set(d, Op.TEST_AI, 0); d.sz = 1; }
            case 0xA9 -> set(d, Op.TEST_AI, 0);
            case 0xC0, 0xD0, 0xD2 -> { shift(d, b); d.sz = 1; }
            case 0xC1, 0xD1, 0xD3 -> shift(d, b);
            case 0xC2, 0xC3 -> { set(d, Op.RET, 0); d.sz = d64(d); }
            case 0xC6 -> { if (d.regField == 0) { set(d, Op.MOV_EI, 0); d.sz = 1; } }
            case 0xC7 -> { if (d.regField == 0) set(d, Op.MOV_EI, 0); }
            case 0xC8 -> { set(d, Op.ENTER, 0); d.sz = d64(d); }
            case 0xC9 -> { set(d, Op.LEAVE, 0); d.sz = d64(d); }
            case 0xCA, 0xCB -> set(d, Op.RETF, 0);
            case 0xCC -> set(d, Op.INT3, 0);
            case 0xCD -> set(d, Op.INT, 0);
            case 0xCE -> { if (!m64) set(d, Op.INTO, 0); }
            case 0xCF -> set(d, Op.IRET, 0);
            case 0xD7 -> { set(d, Op.XLAT, 0); d.sz = 1; }
            case 0xE0, 0xE1, 0xE2 -> { set(d, Op.LOOP, b & 3); d.sz = d64(d); }
            case 0xE3 -> { set(d, Op.JRCXZ, 0); d.sz = d64(d); }
            case 0xE4, 0xEC -> { set(d, Op.IN, b == 0xE4 ? 0 : 1); d.sz = 1; }
            case 0xE5, 0xED -> { set(d, Op.IN, b == 0xE5 ? 0 : 1); if (d.sz == 8) d.sz = 4; }
            case 0xE6, 0xEE -> { set(d, Op.OUT, b == 0xE6 ? 0 : 1); d.sz = 1; }
            case 0xE7, 0xEF -> { set(d, Op.OUT, b == 0xE7 ? 0 : 1); if (d.sz == 8) d.sz = 4; }
            case 0xE8 -> { set(d, Op.CALL_REL, 0); d.sz = d64(d); }
            case 0xE9, 0xEB -> { set(d, Op.JMP_REL, 0); d.sz = d64(d); }
            case 0xF1 -> set(d, Op.INT1, 0);
            case 0xF4 -> set(d, Op.HLT, 0);
            case 0xF5 -> set(d, Op.CMC, 0);
            case 0xF6, 0xF7 -> {
                if (b == 0xF6) d.sz = 1;
                switch (d.regField) {
                    case 0, 1 -> { set(d, Op.TEST_EI, 0); d.immKind = b == 0xF6 ? I_B : I_Z; }
                    case 2 -> set(d, Op.NOT, 0);
                    case 3 -> set(d, Op.NEG, 0);
                    default -> set(d, Op.MULDIV, d.regField - 4);
                }
            }
            case 0xF8 -> set(d, Op.CLC, 0);
            case 0xF9 -> set(d, Op.STC, 0);
            case 0xFA -> set(d, Op.CLI, 0);
            case 0xFB -> set(d, Op.STI, 0);
            case 0xFC -> set(d, Op.CLD, 0);
            case 0xFD -> set(d, Op.STD, 0);
            case 0xFE -> {
                d.sz = 1;
                if (d.regField == 0) set(d, Op.INC_E, 0);
                else if (d.regField == 1) set(d, Op.DEC_E, 0);
            }
            case 0xFF -> {
                switch (d.regField) {
                    case 0 -> set(d, Op.INC_E, 0);
                    case 1 -> set(d, Op.DEC_E, 0);
                    case 2 -> { set(d, Op.CALL_E, 0); d.sz = d64(d); }
                    case 3 -> { if (d.mod != 3) set(d, Op.CALLF_E, 0); }
                    case 4 -> { set(d, Op.JMP_E, 0); d.sz = d64(d); }
                    case 5 -> { if (d.mod != 3) set(d, Op.JMPF_E, 0); }
                    case 6 -> { set(d, Op.PUSH_E, 0); d.sz = d64(d); }
                    default -> { }
                }
            }
            default -> { } // stays UD: invalid in this mode, or not implemented
        }
    }

    private static void str(Decoder d, int op) {
        set(d, op, 0);
        if ((d.opc & 1) == 0) d.sz = 1;
        else if ((op == Op.INS || op == Op.OUTS) && d.sz == 8) d.sz = 4;
    }

    private static void shift(Decoder d, int b) {
        int count = switch (b) { case 0xC0, 0xC1 -> 0; case 0xD0, 0xD1 -> 1; default -> 2; };
        set(d, Op.SHIFT, d.regField | count << 4);
    }

    private static int ssePrefix(Decoder d) {
        if (d.repKind == 0xF3) return 2;
        if (d.repKind == 0xF2) return 3;
        return (d.prefixes & Insn.P_OPSIZE) != 0 ? 1 : 0;
    }

    private static void twoByte(Decoder d) {
        int b = d.opc;
        int mod3 = d.mod == 3 ? 1 : 0;
        if (b >= 0x40 && b <= 0x4F) { set(d, Op.CMOV, b & 15); return; }
        if (b >= 0x80 && b <= 0x8F) { set(d, Op.JCC, b & 15); d.sz = d64(d); return; }
        if (b >= 0x90 && b <= 0x9F) { set(d, Op.SETCC, b & 15); d.sz = 1; return; }
        if (b >= 0xC8 && b <= 0xCF) { set(d, Op.BSWAP, (b & 7) | (d.rex & 1) << 3); return; }
        if (b >= 0x18 && b <= 0x1F) { set(d, Op.NOP, 0); return; } // hint NOPs, prefetches, endbr
        switch (b) {
            case 0x00 -> set(d, Op.SYS_GRP6, d.regField);
            case 0x01 -> set(d, Op.SYS_GRP7, d.regField | d.rmField << 3 | mod3 << 6);
            case 0x05 -> set(d, Op.SYSCALL, 0);
            case 0x06 -> set(d, Op.CLTS, 0);
            case 0x07 -> set(d, Op.SYSRET, 0);
            case 0x08, 0x09 -> set(d, Op.WBINVD, 0);
            case 0x0D -> { if (mod3 == 0) set(d, Op.NOP, 0); }
            case 0x20, 0x22 -> { set(d, b == 0x20 ? Op.MOV_R_CR : Op.MOV_CR_R, d.regField | (d.rex & 4) << 1); d.sz = 8; }
            case 0x21, 0x23 -> { set(d, b == 0x21 ? Op.MOV_R_DR : Op.MOV_DR_R, d.regField); d.sz = 8; }
            case 0x30 -> set(d, Op.WRMSR, 0);
            case 0x31 -> set(d, Op.RDTSC, 0);
            case 0x32 -> set(d, Op.RDMSR, 0);
            case 0xA0, 0xA8 -> { set(d, Op.PUSH_SEG, b == 0xA0 ? Seg.FS : Seg.GS); d.sz = d64(d); }
            case 0xA1, 0xA9 -> { set(d, Op.POP_SEG, b == 0xA1 ? Seg.FS : Seg.GS); d.sz = d64(d); }
            case 0xA2 -> set(d, Op.CPUID, 0);
            case 0xA3 -> set(d, Op.BT_EG, 0);
            case 0xAB -> set(d, Op.BT_EG, 1);
            case 0xB3 -> set(d, Op.BT_EG, 2);
            case 0xBB -> set(d, Op.BT_EG, 3);
            case 0xBA -> { if (d.regField >= 4) set(d, Op.BT_EI, d.regField - 4); }
            case 0xA4 -> set(d, Op.SHXD, 0);
            case 0xA5 -> set(d, Op.SHXD, 2);
            case 0xAC -> set(d, Op.SHXD, 1);
            case 0xAD -> set(d, Op.SHXD, 3);
            case 0xAE -> grp15(d);
            case 0xAF -> set(d, Op.IMUL_GE, 0);
            case 0xB0 -> { set(d, Op.CMPXCHG, 0); d.sz = 1; }
            case 0xB1 -> set(d, Op.CMPXCHG, 0);
            case 0xB6 -> set(d, Op.MOVZX, 1);
            case 0xB7 -> set(d, Op.MOVZX, 2);
            case 0xBE -> set(d, Op.MOVSX, 1);
            case 0xBF -> set(d, Op.MOVSX, 2);
            case 0xB8 -> { if (d.repKind == 0xF3) set(d, Op.POPCNT, 0); }
            case 0xBC -> set(d, Op.BSF, 0); // TZCNT needs BMI1, which the CPU model does not advertise
            case 0xBD -> set(d, d.repKind == 0xF3 ? Op.LZCNT : Op.BSR, 0);
            case 0xC0 -> { set(d, Op.XADD, 0); d.sz = 1; }
            case 0xC1 -> set(d, Op.XADD, 0);
            case 0xC3 -> { if (mod3 == 0 && ssePrefix(d) == 0) { set(d, Op.MOV_EG, 0); d.sz = d.rex != 0 && (d.rex & 8) != 0 ? 8 : 4; } }
            case 0xC7 -> {
                if (mod3 == 0 && d.regField == 1) { set(d, Op.CMPXCHG8B, 0); d.sz = (d.rex & 8) != 0 ? 16 : 8; }
            }
            default -> sse(d, b);
        }
    }

    private static void grp15(Decoder d) {
        int pfx = ssePrefix(d);
        if (d.mod != 3) {
            if (pfx != 0 && !(pfx == 1 && d.regField == 7)) return;
            switch (d.regField) {
                case 0 -> set(d, Op.FXSAVE, 0);
                case 1 -> set(d, Op.FXRSTOR, 0);
                case 2 -> set(d, Op.LDMXCSR, 0);
                case 3 -> set(d, Op.STMXCSR, 0);
                case 7 -> set(d, Op.NOP, 0); // CLFLUSH / CLFLUSHOPT: caches are coherent here
                default -> { }
            }
        } else if (pfx == 0 && d.regField >= 5) {
            set(d, Op.NOP, 0); // LFENCE, MFENCE, SFENCE: one vCPU sees its own memory in order
        }
    }

    private static void sse(Decoder d, int b) {
        int pfx = ssePrefix(d);
        int k = b * 4 + pfx;
        int op = SSE_OP[k];
        if (op == 0) return;
        int aux = SSE_AUX[k];
        if ((aux & MEM_ONLY) != 0 && d.mod == 3) return;
        if ((aux & REG_ONLY) != 0 && d.mod != 3) return;
        aux &= ~(MEM_ONLY | REG_ONLY);
        // MOVLPS/MOVHPS with a register operand are MOVHLPS/MOVLHPS.
        if (op == Op.MOVLPS_LOAD && d.mod == 3) op = Op.MOVHLPS;
        else if (op == Op.MOVHPS_LOAD && d.mod == 3) op = Op.MOVLHPS;
        boolean mmx = op == Op.MMX;
        if (op == Op.PSHIFT_I || (mmx && b >= 0x71 && b <= 0x73)) {
            if (d.mod != 3) return;
            int g = (b - 0x71) * 8 + d.regField;
            boolean ok = switch (g) {
                case 2, 4, 6, 10, 12, 14, 18, 22 -> true;
                case 19, 23 -> pfx == 1;
                default -> false;
            };
            if (!ok) return;
            aux = mmx ? Mmx.SHIFT_IMM | g : g;
        }
        set(d, op, aux);
        d.sz = mmx ? 8 : 16;
    }

    static final int MEM_ONLY = 1 << 20, REG_ONLY = 1 << 21;

    /**
     * The 66-prefixed SSE4.1 forms of the 0F38 (0x1xx) and 0F3A (0x2xx) maps: lane arithmetic
     * joins PINT (computed half by half like SSE2's), the rest goes to {@link Sse41}.
     */
    private static boolean sse41(Decoder d, int k) {
        switch (k) {
            case 0x128, 0x129, 0x137, 0x138, 0x139, 0x13A, 0x13B, 0x13C, 0x13D, 0x13E, 0x13F, 0x140 -> set(d, Op.PINT, k);
            case 0x12A -> { if (d.mod == 3) return false; set(d, Op.MOVDQA_LOAD, 0); } // MOVNTDQA
            case 0x110, 0x114, 0x115, 0x117, 0x120, 0x121, 0x122, 0x123, 0x124, 0x125, 0x12B, 0x130, 0x131, 0x132,
                    0x133, 0x134, 0x135, 0x141, 0x208, 0x209, 0x20A, 0x20B, 0x20C, 0x20D, 0x20E, 0x214, 0x215, 0x216,
                    0x217, 0x220, 0x221, 0x222, 0x240, 0x241, 0x242 -> set(d, Op.SSE41, k);
            default -> { return false; }
        }
        d.sz = 16;
        return true;
    }

    private static void def(int opc, int pfx, int op, int aux) {
        SSE_OP[opc * 4 + pfx] = op;
        SSE_AUX[opc * 4 + pfx] = aux;
    }

    /** Packed-integer ops on XMM registers (66 prefix); aux is the opcode itself. */
    private static void pint(int... opcs) {
        for (int o : opcs) def(o, 1, Op.PINT, o);
    }

    private static void buildSse() {
        // Moves.
        def(0x10, 0, Op.MOVDQU_LOAD, 0); def(0x10, 1, Op.MOVDQU_LOAD, 0);
        def(0x10, 2, Op.MOVSS_LOAD, 0); def(0x10, 3, Op.MOVSD_LOAD, 0);
        def(0x11, 0, Op.MOVDQU_STORE, 0); def(0x11, 1, Op.MOVDQU_STORE, 0);
        def(0x11, 2, Op.MOVSS_STORE, 0); def(0x11, 3, Op.MOVSD_STORE, 0);
        def(0x12, 0, Op.MOVLPS_LOAD, 0); def(0x12, 1, Op.MOVLPS_LOAD, MEM_ONLY);
        def(0x12, 2, Op.MOVSLDUP, 0); def(0x12, 3, Op.MOVDDUP, 0);
        def(0x13, 0, Op.MOVLPS_STORE, MEM_ONLY); def(0x13, 1, Op.MOVLPS_STORE, MEM_ONLY);
        def(0x14, 0, Op.UNPCKLPS, 0); def(0x14, 1, Op.PINT, 0x6C);
        def(0x15, 0, Op.UNPCKHPS, 0); def(0x15, 1, Op.PINT, 0x6D);
        def(0x16, 0, Op.MOVHPS_LOAD, 0); def(0x16, 1, Op.MOVHPS_LOAD, MEM_ONLY); def(0x16, 2, Op.MOVSHDUP, 0);
        def(0x17, 0, Op.MOVHPS_STORE, MEM_ONLY); def(0x17, 1, Op.MOVHPS_STORE, MEM_ONLY);
        def(0x28, 0, Op.MOVDQA_LOAD, 0); def(0x28, 1, Op.MOVDQA_LOAD, 0);
        def(0x29, 0, Op.MOVDQA_STORE, 0); def(0x29, 1, Op.MOVDQA_STORE, 0);
        def(0x2B, 0, Op.MOVDQA_STORE, MEM_ONLY); def(0x2B, 1, Op.MOVDQA_STORE, MEM_ONLY);
        def(0x6F, 1, Op.MOVDQA_LOAD, 0); def(0x6F, 2, Op.MOVDQU_LOAD, 0);
        def(0x7F, 1, Op.MOVDQA_STORE, 0); def(0x7F, 2, Op.MOVDQU_STORE, 0);
        def(0xE7, 1, Op.MOVDQA_STORE, MEM_ONLY);
        def(0xF0, 3, Op.MOVDQU_LOAD, MEM_ONLY);
        def(0x6E, 1, Op.MOVD_X_E, 0);
        def(0x7E, 1, Op.MOVD_E_X, 0);
        def(0x7E, 2, Op.MOVQ_X_XM, 0);
        def(0xD6, 1, Op.MOVQ_XM_X, 0);
        def(0x50, 0, Op.MOVMSKPS, REG_ONLY); def(0x50, 1, Op.MOVMSKPD, REG_ONLY);
        def(0xD7, 1, Op.PMOVMSKB, REG_ONLY);
        def(0xF7, 1, Op.MASKMOVDQU, REG_ONLY);
        // Float arithmetic: aux = kind << 2 | type (0 ps, 1 pd, 2 ss, 3 sd).
        int[][] arith = {{0x58, SseFloat.ADD}, {0x59, SseFloat.MUL}, {0x5C, SseFloat.SUB}, {0x5D, SseFloat.MIN},
                {0x5E, SseFloat.DIV}, {0x5F, SseFloat.MAX}, {0x51, SseFloat.SQRT}};
        for (int[] a : arith) for (int t = 0; t < 4; t++) def(a[0], t, Op.FPARITH, a[1] << 2 | t);
        def(0x52, 0, Op.FPARITH, SseFloat.RSQRT << 2); def(0x52, 2, Op.FPARITH, SseFloat.RSQRT << 2 | 2);
        def(0x53, 0, Op.FPARITH, SseFloat.RCP << 2); def(0x53, 2, Op.FPARITH, SseFloat.RCP << 2 | 2);
        def(0x7C, 1, Op.FPHORIZ, 1); def(0x7C, 3, Op.FPHORIZ, 0);
        def(0x7D, 1, Op.FPHORIZ, 3); def(0x7D, 3, Op.FPHORIZ, 2);
        def(0xD0, 1, Op.FPHORIZ, 5); def(0xD0, 3, Op.FPHORIZ, 4);
        for (int t = 0; t < 4; t++) def(0xC2, t, Op.FPCMP, t);
        def(0x2E, 0, Op.COMIS, 0); def(0x2E, 1, Op.COMIS, 1);
        def(0x2F, 0, Op.COMIS, 2); def(0x2F, 1, Op.COMIS, 3);
        // Bitwise ops on floats are the integer ones.
        def(0x54, 0, Op.PINT, 0xDB); def(0x54, 1, Op.PINT, 0xDB);
        def(0x55, 0, Op.PINT, 0xDF); def(0x55, 1, Op.PINT, 0xDF);
        def(0x56, 0, Op.PINT, 0xEB); def(0x56, 1, Op.PINT, 0xEB);
        def(0x57, 0, Op.PINT, 0xEF); def(0x57, 1, Op.PINT, 0xEF);
        // Conversions: aux names the conversion (see SseConvert).
        def(0x2A, 2, Op.CVT, SseConvert.SI2SS); def(0x2A, 3, Op.CVT, SseConvert.SI2SD);
        def(0x2C, 2, Op.CVT, SseConvert.TSS2SI); def(0x2C, 3, Op.CVT, SseConvert.TSD2SI);
        def(0x2D, 2, Op.CVT, SseConvert.SS2SI); def(0x2D, 3, Op.CVT, SseConvert.SD2SI);
        def(0x5A, 0, Op.CVT, SseConvert.PS2PD); def(0x5A, 1, Op.CVT, SseConvert.PD2PS);
        def(0x5A, 2, Op.CVT, SseConvert.SS2SD); def(0x5A, 3, Op.CVT, SseConvert.SD2SS);
        def(0x5B, 0, Op.CVT, SseConvert.DQ2PS); def(0x5B, 1, Op.CVT, SseConvert.PS2DQ);
        def(0x5B, 2, Op.CVT, SseConvert.TPS2DQ);
        def(0xE6, 1, Op.CVT, SseConvert.TPD2DQ); def(0xE6, 2, Op.CVT, SseConvert.DQ2PD);
        def(0xE6, 3, Op.CVT, SseConvert.PD2DQ);
        // Shuffles.
        def(0x70, 1, Op.PSHUFD, 0); def(0x70, 2, Op.PSHUFHW, 0); def(0x70, 3, Op.PSHUFLW, 0);
        def(0xC6, 0, Op.SHUFPS, 0); def(0xC6, 1, Op.SHUFPD, 0);
        def(0xC4, 1, Op.PINSRW, 0); def(0xC5, 1, Op.PEXTRW, REG_ONLY);
        for (int o = 0x71; o <= 0x73; o++) def(o, 1, Op.PSHIFT_I, 0);
        // Packed integer arithmetic, compares, packs and unpacks.
        pint(0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6A, 0x6B, 0x6C, 0x6D, 0x74, 0x75, 0x76);
        for (int o = 0xD1; o <= 0xFE; o++) {
            if (o == 0xD6 || o == 0xD7 || o == 0xE6 || o == 0xE7 || o == 0xF0 || o == 0xF7) continue;
            def(o, 1, Op.PINT, o);
        }
        def(0x77, 0, Op.EMMS, 0);
        buildMmx();
    }

    /** MMX: the packed-integer opcodes without a prefix; aux as {@link Mmx} reads it. */
    private static void buildMmx() {
        for (int o = 0x60; o <= 0x6B; o++) def(o, 0, Op.MMX, o);
        for (int o = 0x6E; o <= 0x76; o++) def(o, 0, Op.MMX, o);
        def(0x7E, 0, Op.MMX, 0x7E); def(0x7F, 0, Op.MMX, 0x7F);
        for (int o = 0xD1; o <= 0xFE; o++) {
            if (o == 0xD6 || o == 0xE6 || o == 0xF0) continue;
            def(o, 0, Op.MMX, o);
        }
        SSE_AUX[0xD7 * 4] |= REG_ONLY;
        SSE_AUX[0xF7 * 4] |= REG_ONLY;
        SSE_AUX[0xE7 * 4] |= MEM_ONLY;
        def(0xC4, 0, Op.MMX, 0xC4); def(0xC5, 0, Op.MMX, 0xC5 | REG_ONLY);
        def(0xD6, 2, Op.MMX, Mmx.MOVQ2DQ | REG_ONLY); def(0xD6, 3, Op.MMX, Mmx.MOVDQ2Q | REG_ONLY);
        for (int o : new int[] {0x2A, 0x2C, 0x2D}) {
            def(o, 0, Op.MMX, o);
            def(o, 1, Op.MMX, Mmx.P66 | o);
        }
    }

    private static void map0F38(Decoder d) {
        int pfx = ssePrefix(d);
        int b = d.opc;
        if (pfx == 1 && sse41(d, 0x100 | b)) return;
        if (pfx == 3 && (b == 0xF0 || b == 0xF1)) { // CRC32 r, r/m8 and r, r/m16/32/64
            set(d, Op.SSE42, 0x100 | b);
            if (b == 0xF0) d.sz = 1;
            return;
        }
        if (pfx > 1 || !(b <= 0x0B || (b >= 0x1C && b <= 0x1E))) return;
        if (pfx == 1) { set(d, Op.PINT, 0x100 | b); d.sz = 16; }
        else { set(d, Op.MMX, 0x100 | b); d.sz = 8; }
    }

    private static void map0F3A(Decoder d) {
        int pfx = ssePrefix(d);
        if (pfx == 1 && sse41(d, 0x200 | d.opc)) return;
        if (pfx == 1 && d.opc >= 0x60 && d.opc <= 0x63) { set(d, Op.SSE42, 0x200 | d.opc); d.sz = 16; return; }
        if (d.opc != 0x0F) return;
        if (pfx == 1) { set(d, Op.PALIGNR, 0); d.sz = 16; }
        else if (pfx == 0) { set(d, Op.MMX, 0x200 | 0x0F); d.sz = 8; }
    }
}
