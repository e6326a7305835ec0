package org.jvisor.vmm;


import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.util.concurrent.atomic.AtomicReference;
import org.jvisor.cpu.VcpuExit;
import org.jvisor.kit.GuestKit;

/**
 * Tools for chasing a guest that goes wrong, off unless asked for: a single-step trace before a
 * given instruction count, and a divergence finder that runs one machine in blocks and one
 * single-stepping (with a deterministic TSC) and reports the first instruction where they differ.
 */
public final class BootDebugTools {
    /**
     * usage: BootDebugTools step N | diverge FROM TO
     * (java -cp target/classes:target/test-classes:target/lib/* org.jvisor.vmm.BootDebugTools ...)
     */
    public static void main(String[] args) throws Exception {
        switch (args.length > 0 ? args[0] : "") {
            case "step" -> {
                System.setProperty("jvisor.boot.stepFrom", args[1]);
                stepTrace();
            }
            case "diverge" -> {
                System.setProperty("jvisor.boot.diverge", args[1] + "," + args[2]);
                divergence();
            }
            default -> System.err.println("usage: BootDebugTools step N | diverge FROM TO");
        }
    }

    /**
     * diverge FROM TO: with a deterministic TSC, runs one machine in blocks and one
     * single-stepping from FROM, comparing registers at every block boundary up to TO; prints the
     * first difference (a decoder/cache bug shows up as one).
     */
    static void divergence() throws Exception {
        String arg = System.getProperty("jvisor.boot.diverge");
        if (arg == null) return;
        long from = Long.parseLong(arg.split(",")[0]), to = Long.parseLong(arg.split(",")[1]);
        GuestKit.Kit kit = GuestKit.ensure(s -> { });
        byte[] k = Files.readAllBytes(kit.kernel()), i = Files.readAllBytes(kit.initramfs());
        String cl = "earlyprintk=ttyS0 console=ttyS0 noapic nolapic";
        try (Machine a = new Machine(512L << 20, java.io.OutputStream.nullOutputStream());
             Machine b = new Machine(512L << 20, java.io.OutputStream.nullOutputStream())) {
            a.boot(k, i, cl);
            b.boot(k, i, cl);
            a.cpu().deterministicTsc = true;
            b.cpu().deterministicTsc = true;
            var ca = a.cpu();
            var cb = b.cpu();
            while (ca.icount < from) ca.run(1);
            ca.onException = null;
            while (cb.icount < ca.icount) cb.run(1);
            System.out.printf("synchronised at %d / %d, rip %x / %x%n", ca.icount, cb.icount, ca.rip, cb.rip);
            ca.onException = (v, e) -> System.out.printf("  block machine: exception %d error %#x at %x icount %d cr2 %x%n", v, e, ca.rip, ca.icount, ca.cr2);
            cb.onException = (v, e) -> System.out.printf("  step machine: exception %d error %#x at %x icount %d cr2 %x%n", v, e, cb.rip, cb.icount, cb.cr2);
            String prev = "";
            String fprevA = "", fprevB = "";
            while (ca.icount < to) {
                fprevA = ca.flagState();
                fprevB = cb.flagState();
                ca.run(1); // one block
                while (cb.icount < ca.icount) cb.step();
                String sa = state(ca), sb = state(cb);
                if (!sa.equals(sb)) {
                    System.out.printf("DIVERGED at %d%n  block: %s%n  step:  %s%n  previous: %s%n", ca.icount, sa, sb, prev);
                    System.out.printf("  flags before: block %s%n                step  %s%n  flags after:  block %s%n                step  %s%n",
                            fprevA, fprevB, ca.flagState(), cb.flagState());
                    long pr = Long.parseUnsignedLong(prev.substring(4, prev.indexOf(" ")), 16);
                    System.out.println("  decoded now at previous rip: " + ca.describeAt(pr));
                    byte[] bytes = new byte[16];
                    a.ram().read(pr - 0xffffffff80000000L, bytes, 0, 16);
                    System.out.println("  bytes: " + java.util.HexFormat.of().formatHex(bytes));
                    return;
                }
                prev = sa;
            }
            System.out.println("no divergence up to " + to + "; stepping the step machine once more:");
            System.out.println("  at " + Long.toHexString(cb.rip) + " " + cb.describeAt(cb.rip) + " " + cb.flagState() + " icount " + cb.icount);
            var ex = cb.step();
            System.out.println("  -> " + ex + " rip " + Long.toHexString(cb.rip) + " " + cb.flagState() + " icount " + cb.icount);
        }
    }

    private static String state(org.jvisor.cpu.emu.Cpu c) {
        StringBuilder sb = new StringBuilder(String.format("rip=%x fl=%x", c.rip, c.rflags()));
        for (int r = 0; r < 16; r++) sb.append(String.format(" r%d=%x", r, c.r[r]));
        return sb.toString();
    }

    /** step N: run to instruction N, then single-step and log until rip is 0. */
    static void stepTrace() throws Exception {
        long from = Long.getLong("jvisor.boot.stepFrom", -1);
        if (from < 0) return;
        GuestKit.Kit kit = GuestKit.ensure(s -> { });
        try (Machine m = new Machine(512L << 20, java.io.OutputStream.nullOutputStream())) {
            m.boot(Files.readAllBytes(kit.kernel()), Files.readAllBytes(kit.initramfs()),
                    "earlyprintk=ttyS0 console=ttyS0 noapic nolapic");
            var cpu = m.cpu();
            while (cpu.icount < from) cpu.run(Math.min(1_000_000, from - cpu.icount));
            java.util.ArrayDeque<String> log = new java.util.ArrayDeque<>();
            cpu.onException = (v, err) -> log.add(String.format("   -> exception %d error %#x cr2 %#x idt %#x", v, err, cpu.cr2, cpu.idtBase));
            for (int n = 0; n < 200_000 && cpu.rip != 0; n++) {
                String line = String.format("%016x %s rax=%x rcx=%x rdx=%x rbx=%x rsp=%x rsi=%x rdi=%x r8=%x r11=%x",
                        cpu.rip, cpu.describeAt(cpu.rip), cpu.r[0], cpu.r[1], cpu.r[2], cpu.r[3], cpu.r[4], cpu.r[6], cpu.r[7], cpu.r[8], cpu.r[11]);
                log.add(line);
                if (log.size() > 40) log.removeFirst();
                var ex = cpu.step();
                if (cpu.rip == 0) log.add("   step returned " + ex + " rsp=" + Long.toHexString(cpu.r[4]));
            }
            log.forEach(System.out::println);
        }
    }

}
