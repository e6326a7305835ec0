package org.jvisor.cpu.emu.diff;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The host CPU as the oracle: random instruction sequences over every implemented opcode form
 * run natively (in a helper process) and on jvisor's CPU from the same state; everything must
 * match afterwards, undefined flags excepted. Reproduce a case with
 * {@code -Djvisor.diff.seed=S -Djvisor.diff.case=N}; widen a run with {@code -Djvisor.diff.insns=N}.
 */
public class DifferentialTest {
    static final long MIN_INSNS = Long.getLong("jvisor.diff.insns", 2_000_000);
    /** Translated runs cost a class per block, so they compare fewer instructions per CI run. */
    static final long MIN_TRANSLATED_INSNS = Long.getLong("jvisor.diff.translatedInsns", 300_000);

    @Test
    void interpreterMatchesHostCpu() throws Exception {
        compare(false, false, MIN_INSNS);
    }

    /** The same cases with every block translated to bytecode (a warm class) before it first runs. */
    @Test
    void warmTranslationsMatchHostCpu() throws Exception {
        compare(true, false, MIN_TRANSLATED_INSNS);
    }

    /** And as hot classes, whose guest registers live in JVM locals. */
    @Test
    void hotTranslationsMatchHostCpu() throws Exception {
        compare(true, true, MIN_TRANSLATED_INSNS);
    }

    private void compare(boolean translate, boolean hot, long minInsns) throws Exception {
        String what = !translate ? "differential (interpreted)" : hot ? "differential (hot translations)" : "differential (warm translations)";
        long seed = seed("jvisor.diff.seed");
        long onlyCase = Long.getLong("jvisor.diff.case", -1);
        CaseGen gen = new CaseGen();
        int[] coverage = new int[gen.forms.size()];
        List<String> failures = new ArrayList<>();
        long compared = 0, cases = 0, faults = 0;
        long t0 = System.nanoTime();
        String jitStats = "";
        try (HostOracle host = new HostOracle(); Emulated emu = new Emulated(translate, hot)) {
            for (long n = onlyCase >= 0 ? onlyCase : 0; compared < minInsns || onlyCase >= 0; n++) {
                SplittableRandom r = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + n);
                MachineState init = gen.initial(r);
                Asm a = new Asm(r);
                gen.sequence(a, 4 + r.nextInt(24), coverage);
                byte[] code = a.bytes();
                MachineState want = host.run(code, init);
                MachineState got = emu.run(code, init);
                long undef = undefAt(a, code.length, want);
                List<String> d = Compare.diff(got, want, undef);
                cases++;
                compared += emu.executed;
                if (want.vector >= 0) faults++;
                if (!d.isEmpty()) {
                    String first = firstDivergence(host, emu, a, code, init);
                    failures.add(String.format("MISMATCH seed=%d case=%d (rerun: -Djvisor.diff.seed=%d -Djvisor.diff.case=%d)%n"
                            + "  bytes: %s%n  %s%n  first divergence: %s%n  disassembly:%s", seed, n, seed, n, Disasm.hex(code),
                            String.join("\n  ", d), first, Disasm.of(code)));
                    if (failures.size() >= 10) break;
                }
                if (onlyCase >= 0) break;
            }
            if (translate) {
                jitStats = emu.jit.stats();
                assertEquals(0, emu.jit.failedBlocks(), "translations that failed: " + jitStats);
                assertTrue(emu.jit.translatedBlocks() > cases, "blocks translated: " + jitStats);
            }
        }
        double secs = (System.nanoTime() - t0) / 1e9;
        int covered = 0;
        List<String> missing = new ArrayList<>();
        for (int k = 0; k < coverage.length; k++) {
            if (coverage[k] > 0) covered++;
            else missing.add(gen.forms.get(k).name());
        }
        System.out.printf("%s: seed=%d cases=%d instructions compared=%d (cases ending in a fault: %d) in %.1f s%n",
                what, seed, cases, compared, faults, secs);
        System.out.printf("%s: opcode-form coverage %d of %d forms%s%n", what, covered, coverage.length,
                missing.isEmpty() || onlyCase >= 0 ? "" : " (not drawn this run: " + missing + ")");
        System.out.printf("%s: mismatches=%d%s%n", what, failures.size(), translate ? "; " + jitStats : "");
        failures.forEach(System.out::println);
        assertTrue(failures.isEmpty(), failures.size() + " mismatches against the host CPU (seed " + seed + "), first:\n"
                + (failures.isEmpty() ? "" : failures.getFirst()));
        if (onlyCase < 0) {
            assertTrue(compared >= minInsns, "compared only " + compared + " instructions");
            assertEquals(coverage.length, covered, "forms never drawn: " + missing);
        }
    }

    /**
     * Runs ever longer prefixes of the case (cut at instruction starts) on both CPUs and names the
     * first instruction after which they disagree: the place to look.
     */
    private static String firstDivergence(HostOracle host, Emulated emu, Asm a, byte[] code, MachineState init) {
        try {
            for (int k = 1; k <= a.starts.size(); k++) {
                int end = k < a.starts.size() ? (int) a.starts.get(k)[0] : code.length;
                long undef = k < a.starts.size() ? a.starts.get(k)[1] : a.undef;
                byte[] prefix = java.util.Arrays.copyOf(code, end);
                // A prefix that cuts a branch body short is not meaningful; skip those that fault differently.
                MachineState want = host.run(prefix, init);
                // A prefix cut inside a branch body jumps past its end: not a meaningful state.
                if (want.vector >= 0 && want.rip >= MachineState.CODE + end) continue;
                MachineState got = emu.run(prefix, init);
                if (got.vector >= 0 && got.rip >= MachineState.CODE + end) continue;
                List<String> d = Compare.diff(got, want, undef);
                if (!d.isEmpty()) {
                    long at = a.starts.get(k - 1)[0];
                    return String.format("after the instruction at %x: %s", MachineState.CODE + at, d);
                }
            }
        } catch (Exception e) {
            return "(bisection failed: " + e + ")";
        }
        return "(no prefix differs)";
    }

    /** A fixed default seed keeps CI deterministic; {@code -Dprop=random} explores new cases. */
    public static long seed(String property) {
        String v = System.getProperty(property, "20261121");
        return v.equals("random") ? System.nanoTime() : Long.parseLong(v);
    }

    /** Flags undefined before the instruction where the host stopped (the end, or a fault). */
    private static long undefAt(Asm a, int codeLen, MachineState host) {
        long off = host.vector < 0 ? codeLen : host.rip - MachineState.CODE;
        if (host.vector < 0) return a.undef;
        for (long[] s : a.starts) if (s[0] == off) return s[1];
        return CaseGen.ALL;
    }
}
