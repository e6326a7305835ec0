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
    @Test
    void debianKernelPrintsItsBannerOnTheSerialConsole() throws Exception {
        GuestKit.Kit kit = GuestKit.ensure(System.out::println);
        ByteArrayOutputStream console = new ByteArrayOutputStream();
        try (Machine m = new Machine(512L << 20, console)) {
            m.boot(Files.readAllBytes(kit.kernel()), Files.readAllBytes(kit.initramfs()),
                    "earlyprintk=ttyS0,keep console=ttyS0 noapic nolapic");
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
            assertTrue(out.contains("Linux version " + kit.kernelVersion()), "no banner on the console; exit " + exit.get());
        }
    }
}
