package org.jvisor.cpu.emu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import java.util.HexFormat;
import org.jvisor.cpu.VcpuExit;
import org.jvisor.cpu.Vectors;
import org.jvisor.memory.GuestMemory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Behaviour the differential test cannot reach: code changes, long REP runs, faults, budgets. */
class CpuTest {
    static final long CODE = 0x1000;
    GuestMemory mem;
    Cpu cpu;

    @BeforeEach
    void setUp() {
        mem = GuestMemory.allocate(1 << 20);
        cpu = new Cpu(mem);
        cpu.r[Reg.SP] = 0x80000;
    }

    @AfterEach
    void tearDown() {
        mem.close();
    }

    private VcpuExit run(String hex) {
        byte[] code = HexFormat.of().parseHex(hex);
        mem.write(CODE, code);
        cpu.invalidateCode(CODE, code.length);
        cpu.rip = CODE;
        return cpu.run(10_000_000);
    }

    @Test
    void haltEndsTheRun() {
        VcpuExit e = run("b82a000000f4"); // mov eax, 42; hlt
        assertInstanceOf(VcpuExit.Halted.class, e);
        assertEquals(42, cpu.r[Reg.AX]);
    }

    @Test
    void selfModifyingCodeSeesItsOwnStores() {
        // A loop that runs "mov eax, 1" once, then patches the immediate to 2 and runs it again.
        //   L: mov eax, imm32     b8 01 00 00 00        (at 0x1000)
        //      add ebx, eax       01 c3
        //      mov byte [0x1001], 2   c6 04 25 01 10 00 00 02
        //      inc ecx            ff c1
        //      cmp ecx, 2         83 f9 02
        //      jne L              75 e9
        //      hlt
        VcpuExit e = run("b801000000" + "01c3" + "c6042501100000" + "02" + "ffc1" + "83f902" + "75ea" + "f4");
        assertInstanceOf(VcpuExit.Halted.class, e);
        assertEquals(1 + 2, cpu.r[Reg.BX]);
    }

    @Test
    void longRepMovsIsResumableAndCompletes() {
        byte[] src = new byte[200_000];
        for (int k = 0; k < src.length; k++) src[k] = (byte) (k * 7);
        mem.write(0x10000, src);
        cpu.r[Reg.SI] = 0x10000;
        cpu.r[Reg.DI] = 0x50000;
        cpu.r[Reg.CX] = src.length;
        VcpuExit e = run("f3a4f4"); // rep movsb; hlt
        assertInstanceOf(VcpuExit.Halted.class, e);
        byte[] dst = new byte[src.length];
        mem.read(0x50000, dst, 0, dst.length);
        assertEquals(java.util.Arrays.hashCode(src), java.util.Arrays.hashCode(dst));
        assertEquals(0, cpu.r[Reg.CX]);
    }

    @Test
    void budgetStopsAnEndlessLoopAndResumes() {
        VcpuExit e = run("ebfe"); // jmp $
        assertInstanceOf(VcpuExit.BudgetExhausted.class, e);
        assertEquals(CODE, cpu.rip);
    }

    @Test
    void divideByZeroRaisesDeAtTheInstruction() {
        VcpuExit e = run("31c9" + "f7f1"); // xor ecx, ecx; div ecx
        VcpuExit.Fault f = assertInstanceOf(VcpuExit.Fault.class, e);
        assertEquals(Vectors.DE, f.vector());
        assertEquals(CODE + 2, f.rip());
    }

    @Test
    void unimplementedAndInvalidEncodingsRaiseUd() {
        for (String hex : new String[] {"0f0b", "c4e27d18c0", "f001c0", "0f3810c0", "0f6cc0", "0f73d800", "0f73f800", "d6", "0f0d c0".replace(" ", "")}) {
            VcpuExit e = run(hex);
            VcpuExit.Fault f = assertInstanceOf(VcpuExit.Fault.class, e, hex);
            assertEquals(Vectors.UD, f.vector(), hex);
        }
    }

    @Test
    void accessOutsideRamIsAPageFaultWithTheAddress() {
        VcpuExit e = run("48b80000000001000000" + "8b00"); // mov rax, 1<<32; mov eax, [rax]
        VcpuExit.Fault f = assertInstanceOf(VcpuExit.Fault.class, e);
        assertEquals(Vectors.PF, f.vector());
        assertEquals(1L << 32, f.address());
    }

    @Test
    void instructionsLongerThanFifteenBytesRaiseGp() {
        VcpuExit e = run("66".repeat(15) + "90");
        VcpuExit.Fault f = assertInstanceOf(VcpuExit.Fault.class, e);
        assertEquals(Vectors.GP, f.vector());
    }

    @Test
    void misalignedMovapsRaisesGp() {
        cpu.r[Reg.AX] = 0x2008;
        VcpuExit e = run("0f2800"); // movaps xmm0, [rax]
        VcpuExit.Fault f = assertInstanceOf(VcpuExit.Fault.class, e);
        assertEquals(Vectors.GP, f.vector());
    }

    /** Four NaNs with distinct payloads dotted with ones: which payload lands where is the vendor's choice. */
    @Test
    void dotProductNaNsFollowTheVendorsLaneOrder() {
        long ones = 0x3F8000003F800000L;
        for (boolean intel : new boolean[] {false, true}) {
            cpu.intelDotProductLanes = intel;
            cpu.xmm[0] = 0x7FC000027FC00001L;
            cpu.xmm[1] = 0x7FC000047FC00003L;
            cpu.xmm[2] = ones;
            cpu.xmm[3] = ones;
            run("660f3a40c1fff4"); // dpps xmm0, xmm1, 0xff; hlt
            // AMD (the model's vendor) as the SDM writes it: (p0 + p1) + (p2 + p3) in every lane;
            // Intel, as measured on a Xeon: lane k is (p[k^1] + p[k]) + (the same for lane k^2).
            assertEquals(intel ? 0x7FC000017FC00002L : 0x7FC000017FC00001L, cpu.xmm[0]);
            assertEquals(intel ? 0x7FC000037FC00004L : 0x7FC000017FC00001L, cpu.xmm[1]);
        }
    }

    @Test
    void unmaskedSseExceptionRaisesXm() {
        cpu.mxcsr = 0x1F80 & ~0x200; // unmask divide-by-zero
        cpu.xmm[0] = Double.doubleToRawLongBits(1.0);
        cpu.xmm[2] = 0;
        VcpuExit e = run("f20f5ec1"); // divsd xmm0, xmm1
        VcpuExit.Fault f = assertInstanceOf(VcpuExit.Fault.class, e);
        assertEquals(Vectors.XM, f.vector());
        assertEquals(Double.doubleToRawLongBits(1.0), cpu.xmm[0]); // not written
    }

    @Test
    void mmxChecksCr0AndPendingX87ExceptionsFirst() {
        long cr0 = cpu.cr0;
        cpu.cr0 = cr0 | Cpu.CR0_EM;
        assertEquals(Vectors.UD, assertInstanceOf(VcpuExit.Fault.class, run("0ffcc1")).vector()); // paddb mm0, mm1
        cpu.cr0 = cr0 | Cpu.CR0_TS;
        assertEquals(Vectors.NM, assertInstanceOf(VcpuExit.Fault.class, run("0f77")).vector()); // emms
        cpu.cr0 = cr0 | Cpu.CR0_NE;
        cpu.fpu.fsw = X87.ES | X87.C0;
        VcpuExit.Fault f = assertInstanceOf(VcpuExit.Fault.class, run("0ffcc1"));
        assertEquals(Vectors.MF, f.vector());
        assertEquals(CODE, f.rip());
        cpu.fpu.fsw = 0;
        cpu.fpu.top = 5;
        cpu.fpu.mant[0] = 0x0101010101010101L;
        cpu.fpu.mant[1] = 0x0202020202020202L;
        assertInstanceOf(VcpuExit.Halted.class, run("0ffcc1f4"));
        assertEquals(0x0303030303030303L, cpu.fpu.mant[0]);
        assertEquals(0xFFFF, cpu.fpu.se[0]); // written: sign and exponent all ones
        assertEquals(0, cpu.fpu.top);
        assertEquals(0xFF, cpu.fpu.abridgedTag());
        assertInstanceOf(VcpuExit.Halted.class, run("0f77f4"));
        assertEquals(0, cpu.fpu.abridgedTag());
    }

    @Test
    void fxsaveRoundTrips() {
        cpu.xmm[5] = 0x1122334455667788L;
        cpu.mxcsr = 0x3F80;
        cpu.r[Reg.AX] = 0x4000;
        // fld1; fxsave [rax]; fninit; fxrstor [rax]; hlt
        VcpuExit e = run("d9e8" + "0fae00" + "dbe3" + "0fae08" + "f4");
        assertInstanceOf(VcpuExit.Halted.class, e);
        assertEquals(0x1122334455667788L, cpu.xmm[5]);
        assertEquals(0x3F80, cpu.mxcsr);
        assertEquals(0x3FFF, cpu.fpu.se[cpu.fpu.top]);
    }

    @Test
    void cpuidAdvertisesTheModel() {
        cpu.r[Reg.AX] = 1;
        run("0fa2f4");
        assertEquals(CpuidModel.L1_EDX & 0xFFFFFFFFL, cpu.r[Reg.DX]);
        assertEquals(CpuidModel.L1_ECX & 0xFFFFFFFFL, cpu.r[Reg.CX]);
        // A vendor glibc knows, or it never reads leaf 1 and refuses dynamically linked programs.
        cpu.r[Reg.AX] = 0;
        run("0fa2f4");
        byte[] v = new byte[12];
        for (int k = 0; k < 4; k++) {
            v[k] = (byte) (cpu.r[Reg.BX] >>> (8 * k));
            v[4 + k] = (byte) (cpu.r[Reg.DX] >>> (8 * k));
            v[8 + k] = (byte) (cpu.r[Reg.CX] >>> (8 * k));
        }
        assertEquals("AuthenticAMD", new String(v, java.nio.charset.StandardCharsets.US_ASCII));
    }
}
