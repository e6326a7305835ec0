package org.jvisor.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.jvisor.api.ApiClient;
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
    static Path socket;

    @BeforeAll
    static void boot() throws Exception {
        Path base = DebianTemplate.ensure();
        dir = Files.createTempDirectory("jvisor-debian");
        Path overlay = dir.resolve("vm.qcow2");
        Images.create(overlay, "qcow2", -1, base.toString(), "qcow2", 16);
        Path key = dir.resolve("id.pub");
        Files.writeString(key, KEY + "\n");
        long t0 = System.nanoTime();
        socket = dir.resolve("vm.sock");
        vm = new GuestConsole(GuestConsole.jvisorRun("--memory", "1G", "--disk", overlay.toString(), "--api-socket", socket.toString(),
                "--hostname", HOSTNAME, "--password", PASSWORD, "--ssh-key", key.toString()));
        vm.waitFor(HOSTNAME + " login:", 1500);
        bootSeconds = (System.nanoTime() - t0) / 1e9;
        System.out.printf("debian: reached the login prompt in %.1f s on jvisor%n", bootSeconds);
        logIn(600);
        // A prompt of our own, and the kernel kept off the console, so output can be read exactly.
        // cloud-init's last stage is let finish first: twice a sudo typed as it ended never returned.
        try {
            vm.command("cloud-init status --wait >/dev/null; sudo dmesg -n 1; bind 'set enable-bracketed-paste off'; export PS1='jv$ '; stty -echo cols 250",
                    "jv$ ", 400);
        } catch (AssertionError e) {
            throw new AssertionError(e.getMessage() + "\n" + vcpuProgress(), e);
        }
    }

    /** Whether the guest's CPU still runs (two samples of the instruction count a second apart): tells a hung VMM from a hung guest program. */
    private static String vcpuProgress() {
        try (ApiClient api = new ApiClient(socket)) {
            ObjectMapper json = new ObjectMapper();
            long a = json.readTree(api.get("/vm.info").body()).get("instructions").asLong();
            Thread.sleep(1000);
            JsonNode info = json.readTree(api.get("/vm.info").body());
            return "vCPU: " + (info.get("instructions").asLong() - a) + " instructions in the last second; " + info;
        } catch (Exception | AssertionError x) {
            return "the control API did not answer: " + x;
        }
    }

    /**
     * Logs in on the serial getty. cloud-init's stages write to the same console while the prompt
     * waits, and a name typed while getty re-prints or flushes is lost: each try waits for the
     * prompt that follows it, and types again.
     */
    static void logIn(int seconds) throws Exception {
        long end = System.nanoTime() + seconds * 1_000_000_000L;
        String shell = USER + "@" + HOSTNAME + ":~$ ";
        // cloud-init sets the password in its config stage and writes to the console until its
        // final stage ends: a login before that races its output (typed names and passwords were
        // seen echoed, flushed or lost). After it, the console is quiet and a fresh prompt is asked for.
        vm.waitFor("Cloud-init v.", 0, seconds);
        long waited = System.nanoTime();
        while (!cloudInitFinished()) {
            if (!vm.process.isAlive()) throw new AssertionError("jvisor exited while cloud-init ran:\n" + vm.tail());
            if (System.nanoTime() > end) throw new AssertionError("cloud-init did not finish within " + seconds + " s:\n" + vm.tail());
            Thread.sleep(100);
        }
        System.out.printf("debian: cloud-init finished %.0f s after the login prompt%n", (System.nanoTime() - waited) / 1e9);
        Thread.sleep(2000);
        int start = vm.text().length();
        vm.type("\n");
        waitQuietly("login: ", start, 60);
        Thread.sleep(1000);
        while (true) {
            // Judged by what the console shows, not by which step this loop thinks it is at: once a
            // login got through (even one whose prompt was read as a timeout), the shell is there.
            if (vm.text().indexOf(shell, start) >= 0) return;
            int from = vm.text().length();
            vm.type(USER + "\n");
            if (waitQuietly("Password:", from, 30)) {
                Thread.sleep(2000); // PAM prints the prompt, then turns echo off flushing the input: typed at once, the password was seen echoed and lost
                int at = vm.text().length();
                vm.type(PASSWORD + "\n");
                // Typed ahead, a command is lost: login flushes the terminal's input before the shell starts.
                long until = System.nanoTime() + 300_000_000_000L;
                while (System.nanoTime() < until) {
                    String t = vm.text();
                    if (t.indexOf(shell, at) >= 0) return;
                    if (t.indexOf("Login incorrect", at) >= 0 || t.indexOf("Login timed out", at) >= 0) break;
                    if (!vm.process.isAlive()) throw new AssertionError("jvisor exited while logging in:\n" + vm.tail());
                    Thread.sleep(50);
                }
                waitQuietly("login: ", at, 60); // the next prompt, then try again
            }
            if (System.nanoTime() > end) throw new AssertionError("could not log in within " + seconds + " s:\n" + vm.tail());
        }
    }

    private static boolean cloudInitFinished() {
        String t = vm.text();
        int i = t.indexOf("Cloud-init v.");
        while (i >= 0) {
            int eol = t.indexOf('\n', i);
            if (eol < 0) return false;
            if (t.substring(i, eol).contains(" finished at ")) return true;
            i = t.indexOf("Cloud-init v.", eol);
        }
        return false;
    }

    private static boolean waitQuietly(String what, int from, int seconds) throws InterruptedException {
        try {
            vm.waitFor(what, from, seconds);
            return true;
        } catch (AssertionError e) {
            if (!vm.process.isAlive()) throw e;
            return false;
        }
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
        // Nor are the terminal controls bash and less send (bracketed paste on and off, erase to end of line).
        String out = all.substring(0, end).replaceAll("\u001B\\[[0-9;?]*[A-Za-z]", "").replace("\r", "").replace("jv$ ", "");
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
    @Order(6)
    void theControlApiSeesTheRunningGuest() throws Exception {
        try (ApiClient api = new ApiClient(socket)) {
            JsonNode info = new ObjectMapper().readTree(api.get("/vm.info").body());
            assertEquals("running", info.get("state").asText(), info.toString());
            assertEquals(2, info.get("devices").findValuesAsText("kind").stream().filter("block"::equals).count(), info.toString());
        }
    }

    /** The ACPI power button, as a host's shutdown sends it: logind sees KEY_POWER and powers the system off. */
    @Test
    @Order(9)
    void thePowerButtonPowersItOffAndTheVmmExitsZero() throws Exception {
        try (ApiClient api = new ApiClient(socket)) {
            assertEquals(204, api.put("/vm.power-button", null).status());
        }
        assertTrue(vm.process.waitFor(300, java.util.concurrent.TimeUnit.SECONDS), "no exit after the power button:\n" + vm.tail());
        assertEquals(0, vm.process.exitValue(), vm.tail());
        assertTrue(vm.text().contains("reboot: Power down"), vm.tail());
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
