package org.jvisor.cpu.emu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.HexFormat;
import org.jvisor.cpu.VcpuExit;
import org.jvisor.memory.GuestMemory;
import org.junit.jupiter.api.Test;

/**
 * A vCPU saved in the middle of a loop (integer, SSE and x87 state live, flags lazy), written as
 * JSON the way a snapshot keeps it, and restored into a fresh CPU on a copy of its memory, ends the
 * loop in exactly the state the uninterrupted CPU does.
 */
class CpuStateTest {
    // mov ecx,2000; xor eax,eax; fninit; fld1; fldz
    // 1: add rax,rcx; imul rdx,rax,3; xor rbx,rdx; movq xmm1,rax; paddq xmm0,xmm1; pshufd xmm2,xmm0,0x4e;
    //    fadd st,st(1); cmp ecx,1000; dec ecx; jnz 1b
    // fstp qword [0x5000]; movq rsi,xmm0; hlt
    static final String LOOP = "b9d007000031c0dbe3d9e8d9ee4801c8486bd0034831d366480f6ec8660fd4c1660f70d04ed8c181f9e8030000ffc975dc"
            + "dd1c250050000066480f7ec6f4";
    static final long CODE = 0x1000;

    /** A flat 64-bit machine: LongModeTest's page tables and GDT, the loop at CODE. */
    static Cpu machine(GuestMemory mem) {
        LongModeTest setup = new LongModeTest();
        setup.mem = mem;
        setup.cpu = new Cpu(mem);
        setup.setUp0();
        mem.write(CODE, HexFormat.of().parseHex(LOOP));
        setup.cpu.rip = CODE;
        setup.cpu.deterministicTsc = true;
        return setup.cpu;
    }

    @Test
    void aRestoredCpuFinishesExactlyAsTheOriginal() throws Exception {
        try (GuestMemory a = GuestMemory.allocate(16 << 20); GuestMemory b = GuestMemory.allocate(16 << 20)) {
            Cpu original = machine(a);
            assertInstanceOf(VcpuExit.BudgetExhausted.class, original.run(5_000), "stopped in the middle of the loop");
            String json = new ObjectMapper().writeValueAsString(original.saveState());
            byte[] ram = new byte[16 << 20];
            a.read(0, ram, 0, ram.length);
            b.write(0, ram);
            Cpu restored = new Cpu(b);
            restored.deterministicTsc = true;
            restored.restoreState(new ObjectMapper().readValue(json, CpuState.class));
            assertInstanceOf(VcpuExit.Halted.class, original.run(1_000_000));
            assertInstanceOf(VcpuExit.Halted.class, restored.run(1_000_000));
            CpuState x = original.saveState(), y = restored.saveState();
            assertArrayEquals(x.gpr(), y.gpr());
            assertEquals(x.rip(), y.rip());
            assertEquals(x.rflags(), y.rflags());
            assertArrayEquals(x.xmm(), y.xmm());
            assertArrayEquals(x.fpuMantissa(), y.fpuMantissa());
            assertArrayEquals(x.fpuSignExponent(), y.fpuSignExponent());
            assertEquals(x.fpuTop(), y.fpuTop());
            assertEquals(x.msrs(), y.msrs());
            assertEquals(a.read64(0x5000), b.read64(0x5000), "the x87 sum stored");
            assertEquals(2000.0, Double.longBitsToDouble(b.read64(0x5000)), "2000 additions of 1.0");
        }
    }

    @Test
    void aStateWithMissingOrWrongSizedPartsIsRefused() throws Exception {
        try (GuestMemory m = GuestMemory.allocate(1 << 20)) {
            Cpu cpu = new Cpu(m);
            CpuState s = cpu.saveState();
            String json = new ObjectMapper().writeValueAsString(s).replace("\"gpr\":[0,0,", "\"gpr\":[");
            CpuState shortGpr = new ObjectMapper().readValue(json, CpuState.class);
            assertEquals("gpr needs 16 entries, has 14",
                    assertThrows(IllegalArgumentException.class, () -> cpu.restoreState(shortGpr)).getMessage());
            CpuState noMsrs = new ObjectMapper().readValue(new ObjectMapper().writeValueAsString(s).replaceAll("\"msrs\":\\{[^}]*\\}", "\"msrs\":null"), CpuState.class);
            assertThrows(IllegalArgumentException.class, () -> cpu.restoreState(noMsrs));
        }
    }
}
