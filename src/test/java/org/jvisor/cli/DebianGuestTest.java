package org.jvisor.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.jvisor.block.Images;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * A full Debian (systemd, udev, networkd, sshd, cloud-init), built by {@code jvisor image debian}
 * and booted by {@code jvisor run --disk} alone from a qcow2 overlay on the cached template: the
 * kernel and initramfs are the image's own, found in its ext4 partition, and cloud-init's seed
 * disk gives the guest its host name, user and key. Booted once; each check asks the guest.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class DebianGuestTest {
    static final String HOSTNAME = "jvtest", USER = "debian", PASSWORD = "jvisor-test-pw";
    static final String KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJvisorTestKeyJvisorTestKeyJvisorTestKey12 jvisor@test";
    static Path dir;
    static GuestConsole vm;
    static double bootSeconds;

    @BeforeAll
    static void boot() throws Exception {
        Path base = DebianTemplate.ensure();
        dir = Files.createTempDirectory("jvisor-debian");
        Path overlay = dir.resolve("vm.qcow2");
        Images.create(overlay, "qcow2", -1, base.toString(), "qcow2", 16);
        Path key = dir.resolve("id.pub");
        Files.writeString(key, KEY + "\n");
        long t0 = System.nanoTime();
        vm = new GuestConsole(GuestConsole.jvisorRun("--memory", "1G", "--disk", overlay.toString(),
                "--hostname", HOSTNAME, "--password", PASSWORD, "--ssh-key", key.toString()));
        vm.waitFor(HOSTNAME + " login:", 1500);
        bootSeconds = (System.nanoTime() - t0) / 1e9;
        System.out.printf("debian: reached the login prompt in %.1f s on jvisor%n", bootSeconds);
        vm.type(USER + "\n");
        vm.waitFor("Password:", 60);
        vm.type(PASSWORD + "\n");
        // Typed ahead, a command is lost: login flushes the terminal's input before the shell starts.
        vm.waitFor(USER + "@" + HOSTNAME + ":~$ ", 300);
        // A prompt of our own, and the kernel kept off the console, so output can be read exactly.
        vm.command("sudo dmesg -n 1; export PS1='jv$ '; stty -echo cols 250", "jv$ ", 120);
    }

    /** Runs a command in the guest's shell and returns what it printed. */
    static String run(String command, int seconds) throws Exception {
        // Echo is off (stty -echo above), so the output starts right where the typing does.
        int from = vm.text().length();
        vm.type(command + "; printf '@@%s\\n' \"END $?\"\n");
        vm.waitFor("@@END", from, seconds);
        String all = vm.text().substring(from);
        int end = all.lastIndexOf("@@END");
        // A prompt can land after the offset was taken; it is never part of a command's output.
        String out = all.substring(0, end).replace("\r", "").replace("jv$ ", "");
        return out.strip();
    }

    @Test
    @Order(1)
    void systemdSaysRunningWithNoFailedUnit() throws Exception {
        String state = run("systemctl is-system-running --wait", 600);
        String failed = run("systemctl --failed --no-legend --plain", 60);
        assertEquals("", failed, "failed units:\n" + failed);
        assertTrue(state.endsWith("running"), state + "\n" + vm.tail());
        System.out.printf("debian: system running %.1f s after start%n", bootSeconds);
    }

    @Test
    @Order(2)
    void theJournalHasNoErrors() throws Exception {
        String errors = run("sudo journalctl -b -p err --no-pager -q", 120);
        assertEquals("", errors, "journal errors:\n" + errors);
    }

    @Test
    @Order(3)
    void dynamicallyLinkedProgramsOfEachKindRun() throws Exception {
        assertTrue(run("ldd /usr/bin/ls", 30).contains("libc.so.6"));
        assertEquals("3", run("printf 'a\\nb\\nc\\n' | sort -r | wc -l", 30).strip());
        assertEquals("1267650600228229401496703205376", run("python3 -c 'print(2**100)'", 120));
        assertEquals("perl 42", run("perl -MPOSIX -e 'print \"perl \", POSIX::floor(42.7), \"\\n\"'", 60));
        String policy = run("apt-cache policy systemd", 60);
        assertTrue(policy.contains("Installed:"), policy);
        String ssh = run("systemctl is-active ssh; sudo ss -ltn | grep -c ':22 '", 30);
        assertTrue(ssh.startsWith("active"), ssh);
    }

    @Test
    @Order(4)
    void cloudInitGaveTheGuestItsNameUserAndKey() throws Exception {
        assertEquals(HOSTNAME, run("hostname", 30));
        assertEquals(KEY, run("cat ~/.ssh/authorized_keys", 30));
        assertTrue(run("sudo -n true && echo sudo-ok", 30).endsWith("sudo-ok"));
        String status = run("cloud-init status --long", 120);
        assertTrue(status.contains("done"), status);
    }

    @Test
    @Order(5)
    void theDisksOwnKernelBootedItFromPartitionOne() throws Exception {
        String cmdline = run("cat /proc/cmdline; findmnt -no SOURCE /", 30);
        assertTrue(cmdline.contains("root=UUID="), cmdline);
        assertTrue(cmdline.endsWith("/dev/vda1"), cmdline);
        assertEquals(run("readlink -f /vmlinuz", 30), "/boot/vmlinuz-" + run("uname -r", 30));
    }

    @Test
    @Order(9)
    void poweroffExitsZero() throws Exception {
        vm.type("sudo systemctl poweroff\n");
        assertTrue(vm.process.waitFor(300, java.util.concurrent.TimeUnit.SECONDS), "no exit after poweroff:\n" + vm.tail());
        assertEquals(0, vm.process.exitValue(), vm.tail());
    }

    @AfterAll
    static void cleanUp() throws Exception {
        if (vm != null) vm.close();
        if (dir != null) {
            try (var s = Files.walk(dir)) {
                for (Path p : s.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
            }
        }
    }
}
