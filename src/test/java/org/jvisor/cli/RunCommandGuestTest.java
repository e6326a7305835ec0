package org.jvisor.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.PipedInputStream;
import java.io.PipedOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicInteger;
import org.jvisor.kit.GuestKit;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** jvisor run's exit-code contract, on real boots: reboot with --no-reboot exits 0, a panic exits 1. */
class RunCommandGuestTest {
    /** Boots with `jvisor run ARGS`, types {@code command} at the shell, returns (exit code, stdout, stderr). */
    static Object[] boot(String command, String... args) throws Exception {
        return boot(new String[] {command}, args);
    }

    /** As above, typing each command after the next ready line (a reboot brings another). */
    static Object[] boot(String[] commands, String... args) throws Exception {
        InputStream oldIn = System.in;
        PrintStream oldOut = System.out, oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        PipedOutputStream keys = new PipedOutputStream();
        PipedInputStream in = new PipedInputStream(keys, 4096);
        AtomicInteger rc = new AtomicInteger(-1);
        System.setIn(in);
        System.setOut(new PrintStream(out, true));
        System.setErr(new PrintStream(err, true));
        try {
            Thread t = Thread.ofPlatform().start(() -> rc.set(new CommandLine(new Main()).execute(args)));
            long deadline = System.nanoTime() + 300_000_000_000L * commands.length;
            for (int k = 0; k < commands.length; k++) {
                while (readyLines(out.toString(StandardCharsets.ISO_8859_1)) <= k) {
                    if (!t.isAlive() || System.nanoTime() > deadline) throw new AssertionError("no ready line:\n" + out + "\n" + err);
                    Thread.sleep(50);
                }
                Thread.sleep(500);
                keys.write((commands[k] + "\n").getBytes(StandardCharsets.US_ASCII));
                keys.flush();
            }
            t.join(120_000);
            return new Object[] {rc.get(), out.toString(StandardCharsets.ISO_8859_1), err.toString(StandardCharsets.ISO_8859_1)};
        } finally {
            System.setIn(oldIn);
            System.setOut(oldOut);
            System.setErr(oldErr);
            keys.close();
        }
    }

    static int readyLines(String s) {
        int n = 0;
        for (int at = s.indexOf(GuestKit.READY); at >= 0; at = s.indexOf(GuestKit.READY, at + 1)) n++;
        return n;
    }

    @Test
    void rebootRestartsTheVmAndPoweroffEndsIt() throws Exception {
        Object[] r = boot(new String[] {"reboot", "poweroff"}, "run");
        String out = (String) r[1];
        assertEquals(0, r[0], (String) r[2]);
        assertEquals(2, readyLines(out), out);
        assertTrue(out.contains("reboot: Restarting system") && out.contains("reboot: Power down"), out);
    }

    /** Also the devices that need no host set-up, as the CLI adds them: --rng and --balloon. */
    @Test
    void rebootWithNoRebootExitsZero() throws Exception {
        Object[] r = boot("echo \"devices: $(cat /sys/class/misc/hw_random/rng_current) $(ls /sys/bus/virtio/drivers/virtio_balloon | grep -c virtio)\"; reboot",
                "run", "--no-reboot", "--rng", "--balloon");
        String out = (String) r[1];
        assertEquals(0, r[0], (String) r[2]);
        assertTrue(out.contains("devices: virtio_rng.0 1"), out);
        assertTrue(out.contains("reboot: Restarting system"), out);
    }

    @Test
    void guestPanicExitsOneWithTheReason() throws Exception {
        Object[] r = boot("echo c > /proc/sysrq-trigger", "run");
        assertEquals(1, r[0]);
        String err = (String) r[2];
        assertTrue(err.strip().lines().count() == 1 && err.contains("jvisor: guest panic: Kernel panic - not syncing"), err);
    }

    /** As `printf 'uname -sm\npoweroff\n' | jvisor run`: input that comes before the guest listens waits for it. */
    @Test
    void inputTypedBeforeTheGuestReadsItIsKept() throws Exception {
        try (GuestConsole vm = new GuestConsole(GuestConsole.jvisorRun())) {
            vm.type("uname -sm\npoweroff\n"); // before the kernel has even started
            assertTrue(vm.process.waitFor(300, java.util.concurrent.TimeUnit.SECONDS), "no exit:\n" + vm.tail());
            assertEquals(0, vm.process.exitValue(), vm.tail());
            assertTrue(vm.text().contains("Linux x86_64"), vm.tail());
        }
    }
}
