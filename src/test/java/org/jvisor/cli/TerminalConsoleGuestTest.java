package org.jvisor.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.jvisor.kit.GuestKit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * `jvisor run` on a real terminal: the test runs it under util-linux `script`, which gives it a
 * pseudo-terminal, so the console goes raw and QEMU's Ctrl-A keys work. Ctrl-C must reach the
 * guest instead of killing jvisor; Ctrl-A h prints the keys; Ctrl-A x ends jvisor with exit 0.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class TerminalConsoleGuestTest {
    static Process vm;
    static OutputStream keys;
    static final StringBuffer console = new StringBuffer();

    @BeforeAll
    static void boot() throws Exception {
        GuestKit.ensure(System.out::println);
        String java = ProcessHandle.current().info().command().orElse("java");
        String run = String.join(" ", List.of(quote(java), "--enable-native-access=ALL-UNNAMED", "-XX:+UseParallelGC",
                "-cp", quote(System.getProperty("java.class.path")), "org.jvisor.cli.Main", "run", "--memory", "256M"));
        // -e: script exits with jvisor's code; -f: output is not held back; /dev/null: no typescript file.
        vm = new ProcessBuilder("script", "-qfec", run, "/dev/null").redirectErrorStream(true).start();
        keys = vm.getOutputStream();
        Thread.ofVirtual().start(() -> pump(vm.getInputStream()));
        waitFor(GuestKit.READY, 300);
        Thread.sleep(500);
    }

    static String quote(String s) {
        return "'" + s.replace("'", "'\\''") + "'";
    }

    static void pump(InputStream in) {
        byte[] b = new byte[4096];
        try {
            for (int n; (n = in.read(b)) > 0; ) console.append(new String(b, 0, n, StandardCharsets.ISO_8859_1));
        } catch (IOException e) {
            // the VM exited
        }
    }

    @AfterAll
    static void cleanUp() throws Exception {
        if (vm != null && vm.isAlive()) vm.destroyForcibly().waitFor();
    }

    static void waitFor(String what, int seconds) throws InterruptedException {
        long end = System.nanoTime() + seconds * 1_000_000_000L;
        while (!console.toString().contains(what)) {
            if (System.nanoTime() > end || !vm.isAlive()) throw new AssertionError("no '" + what + "' on the console:\n" + console);
            Thread.sleep(50);
        }
    }

    static void type(String s) throws IOException {
        keys.write(s.getBytes(StandardCharsets.ISO_8859_1));
        keys.flush();
    }

    @Test
    @Order(1)
    void typedLinesReachTheGuestShell() throws Exception {
        type("echo term-$((6*7))\r");
        waitFor("term-42", 60);
    }

    @Test
    @Order(2)
    void ctrlCGoesToTheGuestNotToJvisor() throws Exception {
        type("\u0003");
        Thread.sleep(500);
        assertTrue(vm.isAlive(), "Ctrl-C killed jvisor: the terminal was not raw\n" + console);
        type("echo still-$((1+1))\r");
        waitFor("still-2", 60);
    }

    @Test
    @Order(3)
    void ctrlAhPrintsTheKeys() throws Exception {
        type("\u0001h");
        waitFor("C-a x    exit jvisor", 30);
    }

    @Test
    @Order(4)
    void ctrlAxQuitsWithExitZero() throws Exception {
        type("\u0001x");
        assertTrue(vm.waitFor(30, TimeUnit.SECONDS), "jvisor did not quit on Ctrl-A x\n" + console);
        assertEquals(0, vm.exitValue(), console.toString());
    }
}
