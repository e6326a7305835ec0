package org.jvisor.cpu.emu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import org.jvisor.cpu.VcpuExit;
import org.jvisor.cpu.Vectors;
import org.jvisor.memory.GuestMemory;
import org.junit.jupiter.api.Test;

/**
 * Translated code against the interpreter on what random instruction sequences rarely reach:
 * regions whose loops span several blocks, the iteration cap, faults in the middle of a block
 * with registers already changed, interpreter fallbacks inside a region, self-modifying code in a
 * loop, flags carried across blocks. Each program runs interpreted, then translated with regions
 * formed on first sight and after a few iterations, as warm (registers in c.r) and as hot
 * (registers in JVM locals) classes; every register, the flags, RIP, the instruction count, the
 * exit and the data page must come out the same.
 */
class TranslatorTest {
    static final long CODE = 0x1000, DATA = 0x4000;

    record Outcome(String exit, long[] regs, long rflags, long rip, long icount, byte[] data, long translated) {
        String describe() {
            StringBuilder sb = new StringBuilder(exit + String.format(" rip=%x fl=%x icount=%d", rip, rflags, icount));
            for (int k = 0; k < 16; k++) sb.append(String.format(" r%d=%x", k, regs[k]));
            return sb.toString();
        }
    }

    static Outcome run(String hex, Jit jit) {
        try (GuestMemory mem = GuestMemory.allocate(1 << 20)) {
            Cpu cpu = new Cpu(mem);
            cpu.setJit(jit);
            byte[] code = HexFormat.of().parseHex(hex);
            mem.write(CODE, code);
            byte[] data = new byte[4096];
            for (int k = 0; k < data.length; k++) data[k] = (byte) (k * 37 + 11);
            mem.write(DATA, data);
            cpu.r[Reg.SP] = 0x80000;
            cpu.r[Reg.DI] = DATA;
            cpu.rip = CODE;
            VcpuExit e = cpu.run(50_000_000);
            String exit = switch (e) {
                case VcpuExit.Fault f -> "fault " + Vectors.name(f.vector()) + " at " + Long.toHexString(f.rip());
                case VcpuExit.Halted h -> "halted";
                case VcpuExit.BudgetExhausted b -> "budget";
                case VcpuExit.Shutdown s -> "shutdown";
            };
            mem.read(DATA, data, 0, data.length);
            return new Outcome(exit, cpu.r.clone(), cpu.rflags(), cpu.rip, cpu.icount, data, jit == null ? 0 : jit.translatedBlocks());
        }
    }

    /** Runs the program interpreted and translated (two region policies); all must agree. */
    static Outcome same(String hex) {
        Outcome want = run(hex, null);
        List<String> diffs = new ArrayList<>();
        for (int policy = 0; policy < 4; policy++) {
            int threshold = (policy & 1) == 0 ? 0 : 3;
            boolean hot = policy >= 2;
            Outcome got = run(hex, new Jit(threshold, true, hot));
            if (threshold == 0) assertTrue(got.translated > 0, "nothing was translated");
            if (!got.describe().equals(want.describe()) || !java.util.Arrays.equals(got.data, want.data)) {
                diffs.add("threshold " + threshold + (hot ? " hot" : " warm") + ":\n  interpreted " + want.describe() + "\n  translated  " + got.describe()
                        + (java.util.Arrays.equals(got.data, want.data) ? "" : "\n  data differs"));
            }
        }
        assertTrue(diffs.isEmpty(), String.join("\n", diffs));
        return want;
    }

    @Test
    void loopSpanningSeveralBlocks() {
        // ecx = 1000; L: add rax, rcx; test cl, 1; jz E; add rbx, rcx; E: dec ecx; jnz L; hlt
        Outcome o = same("b9e80300004801c8f6c10174034801cbffc975f1f4");
        assertEquals("halted", o.exit());
        assertEquals(500500, o.regs()[Reg.AX]);
        assertEquals(250000, o.regs()[Reg.BX]);
    }

    @Test
    void loopLongerThanTheIterationCap() {
        // ecx = 20000; L: inc rax; dec ecx; jnz L; hlt  -- leaves and re-enters the region many times
        Outcome o = same("b9204e000048ffc0ffc975f9f4");
        assertEquals(20000, o.regs()[Reg.AX]);
        assertEquals(1 + 3 * 20000 + 1, o.icount());
    }

    @Test
    void faultInTheMiddleOfABlockKeepsEarlierWork() {
        // mov eax, 5; add rbx, rax; mov rcx, [0x200000] (outside RAM: #PF); mov edx, 1; hlt
        Outcome o = same("b8050000004801c3488b0c2500002000ba01000000f4");
        assertEquals("fault #PF at 1008", o.exit());
        assertEquals(5, o.regs()[Reg.BX]);
        assertEquals(0, o.regs()[Reg.DX]);
    }

    @Test
    void faultInALaterIterationOfARegion() {
        // Walks rdi up by 512 bytes a time until it leaves RAM at 1 MiB: #PF on the load.
        // L: mov rax, [rdi]; add rbx, rax; add rdi, 512; jmp L
        Outcome o = same("488b074801c34881c700020000ebf1");
        assertEquals("fault #PF at 1000", o.exit());
        assertEquals(0x100000, o.regs()[Reg.DI]);
    }

    @Test
    void interpreterFallbacksInsideARegion() {
        // ecx = 300; L: bswap eax (not translated); add eax, ecx; bsf edx, eax (not translated); dec ecx; jnz L; hlt
        Outcome o = same("b92c0100000fc801c80fbcd0ffc975f5f4");
        assertEquals("halted", o.exit());
    }

    @Test
    void divideErrorInsideARegion() {
        // ecx = 50; L: mov eax, 100; xor edx, edx; mov ebx, ecx; sub ebx, 10; div ebx; dec ecx; jnz L
        Outcome o = same("b932000000b86400000031d289cb83eb0af7f3ffc975eef4");
        assertEquals("fault #DE at 1011", o.exit());
        assertEquals(10, o.regs()[Reg.CX]);
    }

    @Test
    void selfModifyingLoop() {
        // L: mov eax, imm32 (patched each time round); add ebx, eax; inc byte [0x1001]; inc ecx; cmp ecx, 40; jne L; hlt
        Outcome o = same("b80100000001c3fe042501100000ffc183f92875ebf4");
        assertEquals("halted", o.exit());
        assertEquals(40 * 41 / 2, o.regs()[Reg.BX]);
    }

    @Test
    void carryFlowsAcrossBlocksAndIterations() {
        // A 64-bit multi-word add as mpihelp_add_n does it: adc in a loop whose flags come round the back-edge.
        // ecx = 64; clc; L: mov rax, [rdi]; adc [rdi+8], rax; lea rdi, [rdi+8]; dec ecx (keeps CF); jnz L; setc bl; hlt
        Outcome o = same("b940000000f8488b0748114708488d7f08ffc975f10f92c3f4");
        assertEquals("halted", o.exit());
    }

    @Test
    void callsAndReturnsLeaveTheRegion() {
        // ecx = 100; L: call F; dec ecx; jnz L; hlt; F: add rax, rcx; push rax; pop rdx; ret
        Outcome o = same("b964000000e805000000ffc975f7f44801c8505ac3");
        assertEquals(5050, o.regs()[Reg.AX]);
        assertEquals(5050, o.regs()[Reg.DX]);
    }

    @Test
    void conditionsAfterEveryKindOfProducer() {
        // For 300 values of rcx: flags from sub, and, add, inc, neg, sbb, then setcc and cmov on them.
        // (r8 counts; rsi and rdi accumulate what the conditions gave, so a wrong one shows.)
        Outcome o = same("41b82c0100004c89c14889c8482d800000000f9cc30f96c74821c80f94c24801c80f92c60f90c448ffc00f98c1"
                + "48f7d8480f4cf04819c80f9fc04801d64801df41ffc875c1f4");
        assertEquals("halted", o.exit());
    }
}
