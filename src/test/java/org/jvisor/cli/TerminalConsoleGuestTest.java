package org.jvisor.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
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
    static GuestConsole vm;

    @BeforeAll
    static void boot() throws Exception {
        GuestKit.ensure(System.out::println);
        String run = GuestConsole.jvisorRun("--memory", "256M").stream().map(TerminalConsoleGuestTest::quote).collect(Collectors.joining(" "));
        // -e: script exits with jvisor's code; -f: output is not held back; /dev/null: no typescript file.
        vm = new GuestConsole(List.of("script", "-qfec", run, "/dev/null"));
        vm.waitFor(GuestKit.READY, 300);
        Thread.sleep(500);
    }

    static String quote(String s) {
        return "'" + s.replace("'", "'\\''") + "'";
    }

    @AfterAll
    static void cleanUp() throws Exception {
        if (vm != null) vm.close();
    }

    @Test
    @Order(1)
    void typedLinesReachTheGuestShell() throws Exception {
        vm.type("echo term-$((6*7))\r");
        vm.waitFor("term-42", 60);
    }

    @Test
    @Order(2)
    void ctrlCGoesToTheGuestNotToJvisor() throws Exception {
        vm.type("\u0003");
        Thread.sleep(500);
        assertTrue(vm.process.isAlive(), "Ctrl-C killed jvisor: the terminal was not raw\n" + vm.tail());
        vm.type("echo still-$((1+1))\r");
        vm.waitFor("still-2", 60);
    }

    @Test
    @Order(3)
    void ctrlAhPrintsTheKeys() throws Exception {
        vm.type("\u0001h");
        vm.waitFor("C-a x    exit jvisor", 30);
    }

    @Test
    @Order(4)
    void ctrlAxQuitsWithExitZero() throws Exception {
        vm.type("\u0001x");
        assertTrue(vm.process.waitFor(30, TimeUnit.SECONDS), "jvisor did not quit on Ctrl-A x\n" + vm.tail());
        assertEquals(0, vm.process.exitValue(), vm.tail());
    }
}
