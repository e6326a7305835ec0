package org.jvisor.cpu.emu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.jvisor.cpu.VcpuExit;
import org.jvisor.memory.GuestMemory;
import org.junit.jupiter.api.Test;

/**
 * Hostile instruction bytes: the decoder must take any byte string and either decode it (at
 * most 15 bytes) or raise the emulator's own fault, and executing random code must end in a
 * guest-visible exit, never a Java exception or a hang.
 */
class DecoderFuzzTest {
    static final int DECODES = Integer.getInteger("jvisor.fuzz.decodes", 1_000_000);
    static final int RUNS = Integer.getInteger("jvisor.fuzz.runs", 100_000);
    private static final int[] PREFIXES = {0x66, 0x67, 0xF0, 0xF2, 0xF3, 0x2E, 0x3E, 0x26, 0x36, 0x64, 0x65, 0x40, 0x48, 0x4F, 0x41, 0x0F};

    /** Random bytes biased toward prefixes and escape bytes, where decoders go wrong. */
    static void fill(SplittableRandom r, byte[] b) {
        for (int k = 0; k < b.length; k++) {
            b[k] = (byte) (r.nextInt(4) == 0 ? PREFIXES[r.nextInt(PREFIXES.length)] : r.nextInt(256));
        }
        if (r.nextInt(4) == 0) { b[0] = 0x0F; b[1] = (byte) (r.nextBoolean() ? 0x38 : 0x3A); }
    }

    @Test
    void decoderTakesAnyBytes() {
        long seed = org.jvisor.cpu.emu.diff.DifferentialTest.seed("jvisor.fuzz.seed");
        SplittableRandom r = new SplittableRandom(seed);
        Decoder d = new Decoder();
        byte[] code = new byte[32];
        int[] modes = {Decoder.MODE64, Decoder.MODE32, Decoder.MODE16};
        long ud = 0, faults = 0;
        for (int n = 0; n < DECODES; n++) {
            fill(r, code);
            int limit = 1 + r.nextInt(code.length); // bytes past the limit cannot be fetched
            Decoder.Fetch fetch = a -> {
                if (a >= limit) throw CpuFault.INSTANCE;
                return code[(int) a] & 0xFF;
            };
            try {
                Insn i = d.decode(fetch, 0, modes[n % 3]);
                assertTrue(i.len >= 1 && i.len <= 15, "length " + i.len);
                if (i.op == Op.UD) ud++;
            } catch (CpuFault f) {
                faults++;
            } catch (RuntimeException e) {
                throw new AssertionError("decoder threw " + e + " (seed " + seed + ", case " + n + ")", e);
            }
        }
        System.out.printf("decoder fuzz: seed=%d decoded %d random byte strings (%d undefined, %d fetch faults), no other outcome%n",
                seed, DECODES, ud, faults);
    }

    @Test
    void randomCodeEndsInAGuestVisibleExit() {
        long seed = org.jvisor.cpu.emu.diff.DifferentialTest.seed("jvisor.fuzz.seed");
        SplittableRandom r = new SplittableRandom(seed);
        try (GuestMemory mem = GuestMemory.allocate(1 << 20)) {
            Cpu cpu = new Cpu(mem);
            byte[] code = new byte[64];
            byte[] junk = new byte[4096];
            long exits = 0;
            for (int n = 0; n < RUNS; n++) {
                fill(r, code);
                mem.write(0x1000, code);
                cpu.invalidateCode(0x1000, code.length);
                if (n % 64 == 0) {
                    r.nextBytes(junk);
                    mem.write(0x8000, junk);
                }
                for (int k = 0; k < 16; k++) cpu.r[k] = r.nextInt(3) == 0 ? r.nextLong() : 0x8000 + r.nextInt(0x70000);
                cpu.r[Reg.SP] = 0x80000;
                cpu.rip = 0x1000;
                cpu.setCpl(r.nextBoolean() ? 0 : 3);
                // Half the runs deliver exceptions through whatever IDT the random state holds, with
                // the system state random code left behind (modes, paging, descriptor tables).
                cpu.deliverToGuest = (n & 1) == 0;
                if (n % 256 == 0) {
                    cpu.reset();
                    cpu.cr0 = Cpu.CR0_PE | Cpu.CR0_ET;
                    cpu.efer = r.nextBoolean() ? Cpu.EFER_LME | Cpu.EFER_SCE : 0;
                    cpu.segAttr[Seg.CS] = r.nextBoolean() ? 0xA09B : 0xC09B;
                    cpu.idtBase = r.nextInt(0x80000);
                    cpu.gdtBase = r.nextInt(0x80000);
                    cpu.updateMode();
                }
                cpu.setRflags(0x202 | (r.nextLong() & 0xCD5));
                cpu.mxcsr = 0x1F80 | (r.nextInt(4) << 13);
                try {
                    VcpuExit e = cpu.run(200);
                    exits++;
                    assertTrue(e != null);
                } catch (RuntimeException e) {
                    throw new AssertionError("random code threw " + e + " (seed " + seed + ", case " + n + ")", e);
                }
            }
            assertEquals(RUNS, exits);
            System.out.printf("execution fuzz: seed=%d ran %d random code snippets, each ended in a VM exit%n", seed, RUNS);
        }
    }
}
