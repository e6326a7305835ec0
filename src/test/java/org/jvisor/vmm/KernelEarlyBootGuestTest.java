package org.jvisor.vmm;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.util.concurrent.atomic.AtomicReference;
import org.jvisor.cpu.VcpuExit;
import org.jvisor.kit.GuestKit;
import org.junit.jupiter.api.Test;

/**
 * First light: Debian's stock kernel starts at its 64-bit entry on jvisor's CPU and reports
 * itself through the early serial console. (The full boot to a shell needs the interrupt
 * controllers and timers, which come next.)
 */
class KernelEarlyBootGuestTest {
    /** The last blocks the vCPU ran, with kernel symbols: where a guest went wrong. */
    static void printRecent(Machine m, GuestKit.Kit kit) throws Exception {
        java.util.TreeMap<Long, String> syms = new java.util.TreeMap<>(Long::compareUnsigned);
        java.nio.file.Path map = kit.kernel().getParent().resolve("System.map-" + kit.kernelVersion());
        for (String line : Files.readAllLines(map)) {
            String[] f = line.split(" ");
            if (f.length == 3 && (f[1].equalsIgnoreCase("t") || f[1].equalsIgnoreCase("w"))) syms.put(Long.parseUnsignedLong(f[0], 16), f[2]);
        }
        long[] ring = m.cpu().recentBlocks;
        int n = m.cpu().recentAt;
        for (int k = Math.max(0, n - 60); k < n; k++) {
            long a = ring[k & (ring.length - 1)];
            var e = syms.floorEntry(a);
            System.out.printf("  block %016x %s+%#x%n", a, e == null ? "?" : e.getValue(), e == null ? 0 : a - e.getKey());
        }
    }

    /** -Djvisor.boot.stepFrom=N: run to instruction N, then single-step and log until rip is 0. */
    @Test
    void stepTrace() throws Exception {
        long from = Long.getLong("jvisor.boot.stepFrom", -1);
        if (from < 0) return;
        GuestKit.Kit kit = GuestKit.ensure(s -> { });
        try (Machine m = new Machine(512L << 20, java.io.OutputStream.nullOutputStream())) {
            m.boot(Files.readAllBytes(kit.kernel()), Files.readAllBytes(kit.initramfs()),
                    "earlyprintk=ttyS0,keep console=ttyS0 noapic nolapic");
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

    @Test
    void debianKernelPrintsItsBannerOnTheSerialConsole() throws Exception {
        GuestKit.Kit kit = GuestKit.ensure(System.out::println);
        ByteArrayOutputStream console = new ByteArrayOutputStream();
        try (Machine m = new Machine(512L << 20, console)) {
            m.boot(Files.readAllBytes(kit.kernel()), Files.readAllBytes(kit.initramfs()),
                    "earlyprintk=ttyS0,keep console=ttyS0 noapic nolapic");
            m.cpu().recentBlocks = new long[256];
            long[][] firstFault = new long[1][];
            m.cpu().onException = (v, err) -> {
                if (firstFault[0] == null && v == 14 && m.cpu().rip == 0) {
                    long[] ring = m.cpu().recentBlocks;
                    long[] snap = new long[64];
                    for (int k = 0; k < 64; k++) snap[k] = ring[(m.cpu().recentAt - 64 + k) & (ring.length - 1)];
                    firstFault[0] = snap;
                    System.out.printf("first #PF: rip %#x cr2 %#x error %#x icount %d%n", m.cpu().rip, m.cpu().cr2, err, m.cpu().icount);
                    for (long a : snap) System.out.printf("  before: %016x%n", a);
                    long last = snap[63];
                    byte[] code = new byte[48];
                    m.ram().read(last - 0xffffffff80000000L, code, 0, code.length);
                    System.out.println("  code at last block: " + java.util.HexFormat.of().formatHex(code));
                    System.out.printf("  rsp %#x [rsp] %#x rax %#x r11 %#x%n", m.cpu().r[4], m.cpu().r[0], m.cpu().r[0], m.cpu().r[11]);
                }
            };
            AtomicReference<VcpuExit> exit = new AtomicReference<>();
            Thread t = Thread.ofPlatform().name("vcpu0").start(() -> exit.set(m.run()));
            long deadline = System.nanoTime() + 90_000_000_000L;
            while (t.isAlive() && System.nanoTime() < deadline && !console.toString().contains("Linux version")) Thread.sleep(50);
            Thread.sleep(2000); // let it print a little more, for the log
            m.stop();
            t.join(10_000);
            String out = console.toString();
            String tail = out.length() > 3000 ? out.substring(out.length() - 3000) : out;
            System.out.printf("early boot: %d instructions, exit %s, rip %#x%n--- console tail ---%n%s%n---%n",
                    m.cpu().icount, exit.get(), m.cpu().rip, tail);
            if (Boolean.getBoolean("jvisor.boot.trace")) printRecent(m, kit);
            assertTrue(out.contains("Linux version " + kit.kernelVersion()), "no banner on the console; exit " + exit.get());
        }
    }
}
