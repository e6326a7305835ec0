package org.jvisor.vmm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.jvisor.block.Images;
import org.jvisor.devices.virtio.Block;
import org.jvisor.devices.virtio.Balloon;
import org.jvisor.devices.virtio.Console;
import org.jvisor.devices.virtio.Entropy;
import org.jvisor.devices.virtio.VirtioPci;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicReference;
import org.jvisor.kit.GuestKit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * Debian's stock kernel with the project's initramfs, booted once on jvisor's software CPU; the
 * checks drive the busybox shell on the serial console and assert what the guest reports.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class BootGuestTest {
    static final String CMDLINE = "console=ttyS0 panic=-1";
    static GuestKit.Kit kit;
    static Machine machine;
    static final ByteArrayOutputStream console = new ByteArrayOutputStream();
    static Thread vcpu;
    static final AtomicReference<MachineExit> exit = new AtomicReference<>();
    static double bootSeconds;
    static int marker;

    static Console hvc;
    static VirtioPci hvcPci;
    static final ByteArrayOutputStream hvcOut = new ByteArrayOutputStream();
    static Balloon balloon;
    static VirtioPci balloonPci;
    static Path disks;
    static Path ext4, pattern, readOnly;

    @BeforeAll
    static void boot() throws Exception {
        kit = GuestKit.ensure(System.out::println);
        machine = new Machine(512L << 20, console);
        // virtio devices: an ext4 disk made on the host, a raw disk, a read-only disk, entropy.
        disks = Files.createTempDirectory("jvisor-boot-disks");
        ext4 = disks.resolve("ext4.img");
        pattern = disks.resolve("raw.img");
        readOnly = disks.resolve("ro.img");
        try (var f = java.nio.channels.FileChannel.open(ext4, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            f.truncate(0).write(java.nio.ByteBuffer.allocate(1), (64L << 20) - 1);
        }
        exec("mkfs.ext4", "-q", "-F", ext4.toString());
        Files.write(pattern, new byte[8 << 20]);
        byte[] ro = new byte[1 << 20];
        java.util.Arrays.fill(ro, (byte) 0x5A);
        Files.write(readOnly, ro);
        machine.addVirtio(new Block(Images.open(ext4, "raw", false), false, "jvisor-ext4"));
        machine.addVirtio(new Block(Images.open(pattern, "raw", false), false, "jvisor-raw"));
        machine.addVirtio(new Block(Images.open(readOnly, "raw", true), true, "jvisor-ro"));
        machine.addVirtio(new Entropy());
        hvc = new Console(hvcOut);
        hvcPci = machine.addVirtio(hvc);
        balloon = new Balloon(machine::releaseGuestPages);
        balloonPci = machine.addVirtio(balloon);
        machine.boot(Files.readAllBytes(kit.kernel()), Files.readAllBytes(kit.initramfs()), CMDLINE);
        long t0 = System.nanoTime();
        vcpu = Thread.ofPlatform().name("vcpu0").start(() -> exit.set(machine.run()));
        waitFor(GuestKit.READY, 300);
        bootSeconds = (System.nanoTime() - t0) / 1e9;
        System.out.printf("boot: Debian %s reached '%s' in %.1f s on jvisor%n", kit.kernelVersion(), GuestKit.READY, bootSeconds);
        run("stty -echo 2>/dev/null", 30); // a quieter console for parsing
    }

    @AfterAll
    static void shutdown() throws Exception {
        if (machine != null) {
            machine.stop();
            vcpu.join(10_000);
            machine.close();
        }
        if (disks != null) {
            try (var s = Files.list(disks)) {
                for (Path p : s.toList()) Files.delete(p);
            }
            Files.delete(disks);
        }
    }

    static String exec(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (p.waitFor() != 0) throw new AssertionError(String.join(" ", cmd) + " failed:\n" + out);
        return out;
    }

    static synchronized String text() {
        return console.toString(StandardCharsets.ISO_8859_1);
    }

    static void waitFor(String what, int seconds) throws InterruptedException {
        long deadline = System.nanoTime() + seconds * 1_000_000_000L;
        while (!text().contains(what)) {
            if (!vcpu.isAlive()) throw new AssertionError("the VM stopped (" + exit.get() + ") before '" + what + "':\n" + tail());
            if (System.nanoTime() > deadline) throw new AssertionError("no '" + what + "' within " + seconds + " s:\n" + tail());
            Thread.sleep(20);
        }
    }

    static String tail() {
        String t = text();
        return t.length() > 4000 ? t.substring(t.length() - 4000) : t;
    }

    /** Runs a shell command in the guest and returns its output. */
    static String run(String cmd, int seconds) throws InterruptedException {
        int n = ++marker;
        String begin = "@@B" + n + "@@", end = "@@E" + n + "@@";
        int from = text().length();
        byte[] line = ("echo " + begin.replace("@", "\\@") + "; " + cmd + "; echo " + end.replace("@", "\\@") + "\n").getBytes(StandardCharsets.US_ASCII);
        machine.serial().receive(line, 0, line.length);
        long deadline = System.nanoTime() + seconds * 1_000_000_000L;
        while (true) {
            String t = text().substring(from);
            int b = t.indexOf(begin + "\r\n") >= 0 ? t.indexOf(begin + "\r\n") + begin.length() + 2 : t.indexOf(begin + "\n") >= 0 ? t.indexOf(begin + "\n") + begin.length() + 1 : -1;
            int e = t.lastIndexOf(end);
            if (b >= 0 && e >= b) return t.substring(b, e).replace("\r", "").strip();
            if (System.nanoTime() > deadline) throw new AssertionError("'" + cmd + "' did not finish within " + seconds + " s:\n" + tail());
            Thread.sleep(10);
        }
    }

    @Test
    @Order(1)
    void unameReportsDebiansKernel() throws Exception {
        assertEquals(kit.kernelVersion(), run("uname -r", 60));
    }

    @Test
    @Order(2)
    void cpuinfoFlagsMatchTheCpuidModel() throws Exception {
        String flagsLine = run("grep -m1 '^flags' /proc/cpuinfo", 60);
        Set<String> flags = new TreeSet<>(Set.of(flagsLine.replaceFirst("^flags\\s*:\\s*", "").split("\\s+")));
        Set<String> advertised = Set.of("fpu", "mmx", "de", "pse", "tsc", "msr", "pae", "cx8", "mtrr", "pge", "cmov", "pat",
                "clflush", "fxsr", "sse", "sse2", "syscall", "nx", "pdpe1gb", "rdtscp", "lm", "pni", "ssse3", "sse4_1", "sse4_2", "cx16",
                "popcnt", "hypervisor", "lahf_lm", "abm", "arch_capabilities", "apic", "tsc_deadline_timer", "arat");
        for (String f : advertised) assertTrue(flags.contains(f), "missing " + f + " in " + flags);
        for (String f : new String[] {"avx", "avx2", "xsave", "aes", "bmi1", "fma", "rdrand"}) {
            assertFalse(flags.contains(f), f + " is not implemented but shows in " + flags);
        }
    }

    @Test
    @Order(3)
    void dmesgIsClean() throws Exception {
        String dmesg = run("dmesg", 60);
        for (String bad : new String[] {"WARNING", "unchecked MSR", "Bad RIP", "Call Trace", "BUG:", "Oops"}) {
            assertFalse(dmesg.contains(bad), "dmesg contains '" + bad + "':\n" + dmesg);
        }
    }

    @Test
    @Order(4)
    void guestClockFollowsTheHost() throws Exception {
        long guest = Long.parseLong(run("date +%s", 60));
        long host = System.currentTimeMillis() / 1000;
        assertTrue(Math.abs(guest - host) <= 60, "guest " + guest + " host " + host);
    }

    @Test
    @Order(5)
    void sleepTakesTheRightWallTime() throws Exception {
        run("true", 30);
        long t0 = System.nanoTime();
        run("sleep 2", 30);
        double s = (System.nanoTime() - t0) / 1e9;
        System.out.printf("boot: 'sleep 2' took %.2f s of wall time%n", s);
        assertTrue(s >= 1.5 && s <= 2.5, "sleep 2 took " + s + " s");
    }

    @Test
    @Order(6)
    void awkDoesFloatingPoint() throws Exception {
        // (Debian's busybox awk has no math library: no sqrt.)
        assertEquals("8.0179 0.3333 1.0000e+20 -2.5000", run("awk 'BEGIN { printf \"%.4f %.4f %.4e %.4f\\n\", 3.5*2.25+1/7, 1/3, 1e10*1e10, -10/4 }'", 60));
    }

    @Test
    @Order(7)
    void thePcIsAcpiWithApicsAndKvmclock() throws Exception {
        String tables = run("ls /sys/firmware/acpi/tables", 60);
        for (String t : new String[] {"APIC", "DSDT", "FACP"}) assertTrue(tables.contains(t), tables);
        String clocks = run("cat /sys/devices/system/clocksource/clocksource0/available_clocksource", 60);
        assertTrue(clocks.contains("kvm-clock") && clocks.contains("tsc"), clocks);
        String dmesg = run("dmesg", 60);
        for (String line : new String[] {"ACPI: PM: (supports S0 S5)", "IOAPIC[0]: apic_id 0", "TSC deadline timer available",
                "tsc: Detected 1000.000 MHz processor", "kvm-clock: Using msrs 4b564d01 and 4b564d00"}) {
            assertTrue(dmesg.contains(line), "dmesg lacks '" + line + "':\n" + dmesg);
        }
        // The serial port's interrupt arrives through the IOAPIC; the timer ticks in the local APIC.
        String before = run("cat /proc/interrupts", 60);
        assertTrue(before.matches("(?s).*IO-APIC.*ttyS0.*"), before);
        run("sleep 1", 30);
        String after = run("cat /proc/interrupts", 60);
        long loc0 = localTimerCount(before), loc1 = localTimerCount(after);
        assertTrue(loc1 > loc0, "local APIC timer interrupts " + loc0 + " -> " + loc1);
        // With ARAT the LAPIC is a one-shot timer Linux trusts: high-resolution timers and a
        // tickless idle, not a periodic tick that a restored guest would replay.
        String timers = run("grep -E 'hres_active|nohz_mode|event_handler' /proc/timer_list", 60);
        assertTrue(timers.contains(".hres_active    : 1") && timers.contains("hrtimer_interrupt") && !timers.contains("tick_handle_periodic"), timers);
    }

    static long localTimerCount(String interrupts) {
        for (String l : interrupts.split("\n")) {
            String t = l.strip();
            if (t.startsWith("LOC:")) return Long.parseLong(t.split("\\s+")[1]);
        }
        throw new AssertionError("no LOC line in\n" + interrupts);
    }

    // ---- PCI and virtio (issue 4) ----

    static String guestMd5;

    @Test
    @Order(20)
    void pciListsTheVirtioFunctions() throws Exception {
        String ids = run("for d in /sys/bus/pci/devices/*; do echo $(basename $d) $(cat $d/vendor) $(cat $d/device); done", 60);
        assertTrue(ids.contains("0000:00:00.0 0x1b36 0x0008"), ids);
        assertEquals(3, ids.split("0x1af4 0x1042", -1).length - 1, "three virtio-blk functions:\n" + ids);
        assertTrue(ids.contains("0x1af4 0x1044"), ids);
        String irqs = run("grep -c PCI-MSI /proc/interrupts", 60);
        assertTrue(Integer.parseInt(irqs) >= 4, "MSI-X vectors in use: " + irqs);
    }

    @Test
    @Order(21)
    void disksShowTheirSizeSerialAndReadOnlyFlag() throws Exception {
        assertEquals("jvisor-ext4 131072 0", run("echo $(cat /sys/block/vda/serial) $(cat /sys/block/vda/size) $(cat /sys/block/vda/ro)", 60));
        assertEquals("jvisor-raw 16384 0", run("echo $(cat /sys/block/vdb/serial) $(cat /sys/block/vdb/size) $(cat /sys/block/vdb/ro)", 60));
        assertEquals("jvisor-ro 1", run("echo $(cat /sys/block/vdc/serial) $(cat /sys/block/vdc/ro)", 60));
    }

    @Test
    @Order(22)
    void guestWritesExt4AndRawDisks() throws Exception {
        run("mkdir -p /mnt && mount -t ext4 /dev/vda /mnt", 60);
        run("echo hello-from-the-guest > /mnt/hello.txt && dd if=/dev/urandom of=/mnt/blob bs=64k count=64 2>/dev/null", 120);
        guestMd5 = run("md5sum /mnt/blob", 60).split("\\s+")[0];
        run("sync && umount /mnt", 60);
        run("printf 'jvisor-pattern' | dd of=/dev/vdb bs=4096 seek=100 conv=sync,fsync 2>/dev/null", 60);
        assertEquals(32, guestMd5.length(), guestMd5);
    }

    @Test
    @Order(23)
    void readOnlyDiskRefusesWrites() throws Exception {
        String r = run("dd if=/dev/zero of=/dev/vdc bs=512 count=1 conv=fsync 2>&1; echo rc=$?", 60);
        assertTrue(r.contains("rc=1") || r.contains("Operation not permitted") || r.contains("Read-only"), r);
        assertEquals("5a5a5a5a", run("dd if=/dev/vdc bs=4 count=1 2>/dev/null | od -An -tx1 | tr -d ' '", 60));
    }

    @Test
    @Order(24)
    void hwrngYieldsBytes() throws Exception {
        assertEquals("virtio_rng.0", run("cat /sys/class/misc/hw_random/rng_current", 60));
        String n = run("dd if=/dev/hwrng bs=1024 count=4 2>/dev/null | wc -c", 60);
        assertEquals("4096", n.strip());
    }

    @Test
    @Order(25)
    void hvc0CarriesAShell() throws Exception {
        run("(setsid sh -c 'exec sh </dev/hvc0 >/dev/hvc0 2>&1' &)", 60);
        byte[] cmd = "echo hvc-$((6*7))\r".getBytes(StandardCharsets.US_ASCII);
        long end = System.nanoTime() + 30_000_000_000L;
        while (!hvcText().contains("built-in shell")) { // an interactive ash flushes what came before it
            if (System.nanoTime() > end) throw new AssertionError("no shell on hvc0: '" + hvcText() + "'");
            Thread.sleep(20);
        }
        Thread.sleep(500);
        hvc.receive(cmd, 0, cmd.length);
        while (!hvcText().contains("hvc-42")) {
            if (System.nanoTime() > end) throw new AssertionError("no answer on hvc0: '" + hvcText() + "' status " + hvcPci.status() + " " + hvcPci.lastError() + " " + run("ps; cat /sys/class/tty/console/active; grep virtio /proc/interrupts", 30));
            Thread.sleep(20);
        }
        hvc.receive("exit\n".getBytes(StandardCharsets.US_ASCII), 0, 5);
    }

    static String hvcText() {
        synchronized (hvcOut) {
            return hvcOut.toString(StandardCharsets.ISO_8859_1);
        }
    }

    @Test
    @Order(26)
    void balloonBindsInflatesAndReportsStatistics() throws Exception {
        String bound = run("ls /sys/bus/virtio/drivers/virtio_balloon/ | grep -c virtio", 60);
        assertEquals("1", bound);
        balloon.setTarget(1024); // 4 MiB
        balloonPci.configChanged();
        long end = System.nanoTime() + 60_000_000_000L;
        while (balloon.actual() != 1024 || balloon.inflatedPages() < 1024) {
            if (System.nanoTime() > end) throw new AssertionError("balloon at " + balloon.actual() + " pages, " + balloon.inflatedPages() + " inflated");
            Thread.sleep(50);
        }
        balloon.requestStats();
        end = System.nanoTime() + 30_000_000_000L;
        while (!balloon.stats().containsKey("free-memory")) {
            if (System.nanoTime() > end) throw new AssertionError("no statistics: " + balloon.stats());
            Thread.sleep(50);
        }
        assertTrue(balloon.stats().get("total-memory") > 100L << 20, balloon.stats().toString());
        balloon.setTarget(0);
        balloonPci.configChanged();
    }

    @Test
    @Order(100)
    void poweroffStopsTheMachine() throws Exception {
        byte[] cmd = "poweroff\n".getBytes(StandardCharsets.US_ASCII);
        machine.serial().receive(cmd, 0, cmd.length);
        vcpu.join(60_000);
        assertFalse(vcpu.isAlive(), "still running after poweroff:\n" + tail());
        MachineExit e = exit.get();
        assertInstanceOf(MachineExit.PowerOff.class, e, "exit " + e + "\n" + tail());
        assertTrue(text().contains("reboot: Power down"), tail());
    }

    @Test
    @Order(101)
    void hostSeesWhatTheGuestWrote() throws Exception {
        assertTrue(exec("debugfs", "-R", "cat /hello.txt", ext4.toString()).contains("hello-from-the-guest"));
        Path blob = disks.resolve("blob");
        exec("debugfs", "-R", "dump /blob " + blob, ext4.toString());
        byte[] digest = java.security.MessageDigest.getInstance("MD5").digest(Files.readAllBytes(blob));
        assertEquals(guestMd5, java.util.HexFormat.of().formatHex(digest), "the file's MD5 as the guest computed it");
        exec("e2fsck", "-f", "-n", ext4.toString());
        byte[] raw = Files.readAllBytes(pattern);
        assertEquals("jvisor-pattern", new String(raw, 100 * 4096, 14, StandardCharsets.US_ASCII));
        assertEquals(0, raw[100 * 4096 + 14]);
        byte[] ro = Files.readAllBytes(readOnly);
        for (byte b : ro) assertEquals(0x5A, b);
    }
}
