package org.jvisor.vmm;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicReference;
import org.jvisor.block.Images;
import org.jvisor.devices.virtio.Block;
import org.jvisor.kit.GuestKit;

/**
 * Where a guest boot spends its time, by guest function: boots the kit while a sampler thread
 * reads the vCPU's RIP every millisecond, then has the guest write its own /proc/kallsyms to a
 * scratch virtio disk and resolves the samples against it (kernel and module symbols of this very
 * boot). A sample where no instruction ran since the last one counts as idle (HLT or a wait).
 *
 * <p>usage: GuestProfile [TOP] [COMMAND...] -- samples from power-on to the ready line, then (if a
 * command is given) while the guest runs it. -Djvisor.profile.tap=NAME adds a NIC on that TAP.
 */
public final class GuestProfile {
    public static void main(String[] args) throws Exception {
        int top = args.length > 0 ? Integer.parseInt(args[0]) : 40;
        String command = args.length > 1 ? String.join(" ", java.util.Arrays.copyOfRange(args, 1, args.length)) : null;
        GuestKit.Kit kit = GuestKit.ensure(s -> { });
        Path scratch = Files.createTempFile("jvisor-profile", ".img");
        Files.write(scratch, new byte[32 << 20]);
        ByteArrayOutputStream console = new ByteArrayOutputStream();
        try (Machine m = new Machine(512L << 20, console)) {
            m.addVirtio(new Block(Images.open(scratch, "raw", false), false, "profile"));
            String tap = System.getProperty("jvisor.profile.tap"); // an existing TAP: eth0 in the guest
            if (tap != null) m.addVirtio(new org.jvisor.devices.virtio.Net(new org.jvisor.net.TapBackend(org.jvisor.sys.Tap.open(tap)), new byte[] {2, 0x4a, 0x56, 0, 0, 1}));
            m.boot(Files.readAllBytes(kit.vmlinux()), Files.readAllBytes(kit.initramfs()), "console=ttyS0 panic=-1");
            var cpu = m.cpu();
            List<Long> samples = new ArrayList<>(1 << 20);
            long[] idle = {0};
            var sampling = new java.util.concurrent.atomic.AtomicBoolean(true);
            Thread sampler = Thread.ofPlatform().daemon().start(() -> {
                long lastCount = -1;
                while (sampling.get()) {
                    long ic = cpu.icount, rip = cpu.rip;
                    if (ic == lastCount) idle[0]++;
                    else synchronized (samples) { samples.add(rip); }
                    lastCount = ic;
                    java.util.concurrent.locks.LockSupport.parkNanos(1_000_000);
                }
            });
            AtomicReference<MachineExit> exit = new AtomicReference<>();
            long t0 = System.nanoTime();
            Thread vcpu = Thread.ofPlatform().name("vcpu0").start(() -> exit.set(m.run()));
            waitFor(console, GuestKit.READY, 600, vcpu);
            double boot = (System.nanoTime() - t0) / 1e9;
            long bootInsns = cpu.icount;
            System.out.printf("interpreted %.1f%% of %,d instructions to the ready line; %,d region entries (%.1f instructions each); %,d blocks decoded%n",
                    100.0 * cpu.interpretedInsns / bootInsns, bootInsns, cpu.translatedRuns, (double) (bootInsns - cpu.interpretedInsns) / cpu.translatedRuns,
                    cpu.blocksDecoded());
            System.out.println("to the ready line: " + cpu.tlbStats());
            if (command != null) {
                samples.clear();
                idle[0] = 0;
                long c0 = System.nanoTime(), i0 = cpu.icount, int0 = cpu.interpretedInsns;
                type(m, command + "; echo @@pro''file-done@@\n");
                waitFor(console, "@@profile-done@@", 3600, vcpu);
                double secs = (System.nanoTime() - c0) / 1e9;
                long n = cpu.icount - i0;
                System.out.printf("command '%s' took %.1f s: %,d instructions (%.0f MIPS, %.1f%% interpreted); up to now %s%n", command, secs, n,
                        n / secs / 1e6, 100.0 * (cpu.interpretedInsns - int0) / Math.max(1, n), cpu.tlbStats());
            }
            sampling.set(false);
            sampler.join();
            type(m, "cat /proc/kallsyms > /dev/vda; sync; echo @@sy''ms-done@@\n");
            waitFor(console, "@@syms-done@@", 600, vcpu);
            m.stop();
            vcpu.join(10_000);
            if (Boolean.getBoolean("jvisor.jit.profile")) System.out.print("instructions translated code handed to the interpreter:\n" + org.jvisor.cpu.emu.Jit.fallbackProfile());
            long[] heat = cpu.executionsByBlockHeat();
            long total = java.util.Arrays.stream(heat).sum();
            if (total > 0) {
                System.out.println("instructions by how often their block ran (interpreted executions only):");
                for (int d = 0; d < heat.length; d++) {
                    if (heat[d] > 0) System.out.printf("  %,14d+ runs: %5.1f%%%n", (long) Math.pow(10, d), 100.0 * heat[d] / total);
                }
            }
            TreeMap<Long, String> syms = kallsyms(scratch);
            String keep = System.getProperty("jvisor.profile.kallsyms");
            if (keep != null) Files.copy(scratch, Path.of(keep), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            Map<String, Integer> byFn = new HashMap<>();
            for (long rip : samples) {
                var e = syms.floorEntry(rip);
                byFn.merge(e == null || rip - e.getKey() > (1 << 20) ? String.format("?%x", rip) : e.getValue(), 1, Integer::sum);
            }
            int n = samples.size();
            System.out.printf("boot to ready: %.1f s, %d instructions (%.0f MIPS); %d busy samples, %d idle; jit: %s%n",
                    boot, bootInsns, bootInsns / boot / 1e6, n, idle[0], m.jitStats());
            byFn.entrySet().stream().sorted((a, b) -> b.getValue() - a.getValue()).limit(top)
                    .forEach(e -> System.out.printf("%6.2f%%  %s%n", 100.0 * e.getValue() / n, e.getKey()));
        } finally {
            Files.deleteIfExists(scratch);
        }
    }

    static void type(Machine m, String s) {
        byte[] b = s.getBytes(StandardCharsets.US_ASCII);
        m.serial().receive(b, 0, b.length);
    }

    static void waitFor(ByteArrayOutputStream console, String what, int seconds, Thread vcpu) throws InterruptedException {
        long end = System.nanoTime() + seconds * 1_000_000_000L;
        while (!console.toString(StandardCharsets.ISO_8859_1).contains(what)) {
            if (!vcpu.isAlive() || System.nanoTime() > end) throw new IllegalStateException("no '" + what + "':\n" + console);
            Thread.sleep(50);
        }
    }

    /** kallsyms lines "ADDR TYPE NAME [module]", text symbols only. */
    static TreeMap<Long, String> kallsyms(Path disk) throws Exception {
        TreeMap<Long, String> syms = new TreeMap<>();
        String text = new String(Files.readAllBytes(disk), StandardCharsets.ISO_8859_1);
        int end = text.indexOf('\0');
        for (String line : (end >= 0 ? text.substring(0, end) : text).split("\n")) {
            String[] f = line.split("\\s+");
            if (f.length < 3 || !(f[1].equalsIgnoreCase("t"))) continue;
            syms.put(Long.parseUnsignedLong(f[0], 16), f[2] + (f.length > 3 ? " " + f[3] : ""));
        }
        return syms;
    }
}
