package org.jvisor.vmm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.jvisor.cpu.emu.CpuState;
import org.jvisor.cpu.emu.Seg;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * State files written by an older jvisor must restore in this one. {@code src/test/resources/state/}
 * keeps a file from each format version, never rewritten: a small machine stopped in the middle
 * of a real-mode program that prints the letters A-Z over and over (60 of them) and then powers
 * off through ACPI. Restored by {@code jvisor run --restore}, it must print exactly the letters it
 * had left and exit 0.
 *
 * <p>To add the file of a new format version: {@code mvn test -Dtest=StateCompatibilityTest
 * -Djvisor.state.write=src/test/resources/state/vN}, commit it, and add its name to {@link #FILES}.
 */
class StateCompatibilityTest {
    static final List<String> FILES = List.of("v1");
    static final int LETTERS = 60;
    @TempDir Path dir;

    /** 16-bit code at 0x7C00: print 'A' + i % 26 for i in 0..59, a delay of 2M loop turns after each, then power off (S5). */
    static final byte[] PROGRAM = {
            (byte) 0xBA, (byte) 0xF8, 0x03,                 // mov dx, 0x3F8
            0x31, (byte) 0xF6,                              // xor si, si
            (byte) 0x89, (byte) 0xF0,                       // next: mov ax, si
            (byte) 0xB3, 26,                                // mov bl, 26
            (byte) 0xF6, (byte) 0xF3,                       // div bl            ; ah = i % 26
            (byte) 0x88, (byte) 0xE0,                       // mov al, ah
            0x04, 'A',                                      // add al, 'A'
            (byte) 0xEE,                                    // out dx, al
            0x66, (byte) 0xB9, 0x00, 0x00, 0x20, 0x00,      // mov ecx, 0x200000
            0x66, 0x49,                                     // delay: dec ecx
            0x75, (byte) 0xFC,                              // jnz delay
            0x46,                                           // inc si
            (byte) 0x83, (byte) 0xFE, LETTERS,              // cmp si, LETTERS
            0x75, (byte) 0xE5,                              // jne next
            (byte) 0xBA, 0x00, 0x06,                        // mov dx, 0x600 (ACPI sleep control)
            (byte) 0xB0, 0x34,                              // mov al, SLP_EN | S5 << 2
            (byte) 0xEE,                                    // out dx, al
            (byte) 0xF4,                                    // hlt
    };

    static String expected() {
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < LETTERS; i++) s.append((char) ('A' + i % 26));
        return s.toString();
    }

    @Test
    void stateFilesOfEveryEarlierVersionRestore() throws Exception {
        String out = System.getProperty("jvisor.state.write");
        if (out != null) writeStateFile(Path.of(out));
        for (String v : FILES) {
            Path file = dir.resolve(v + ".state");
            String before;
            try (InputStream in = getClass().getResourceAsStream("/state/" + v + ".state");
                 InputStream printed = getClass().getResourceAsStream("/state/" + v + ".console")) {
                assertTrue(in != null && printed != null, "state/" + v + " is missing from the test resources");
                Files.copy(in, file, StandardCopyOption.REPLACE_EXISTING);
                before = new String(printed.readAllBytes(), StandardCharsets.ISO_8859_1);
            }
            String java = ProcessHandle.current().info().command().orElse("java");
            Process p = new ProcessBuilder(java, "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                    "org.jvisor.cli.Main", "run", "--restore", file.toString()).redirectErrorStream(true).start();
            p.getOutputStream().close();
            String after = new String(p.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1);
            assertTrue(p.waitFor(120, TimeUnit.SECONDS));
            assertEquals(0, p.exitValue(), v + ": " + after);
            assertTrue(before.length() > 0 && before.length() < LETTERS, v + " was saved at letter " + before.length());
            assertEquals(expected(), before + after, v + ": printed before the save '" + before + "', after the restore '" + after + "'");
        }
    }

    /** Runs the program until it has printed about a third of its letters, pauses, and writes the state file and what was printed. */
    static void writeStateFile(Path base) throws Exception {
        MachineConfig config = new MachineConfig(16L << 20, List.of(), List.of(), false, false);
        ByteArrayOutputStream console = new ByteArrayOutputStream();
        Machine m = MachineBuilder.build(config, console);
        try {
            m.ram().write(0x7C00, PROGRAM);
            ObjectMapper json = new ObjectMapper();
            ObjectNode cpu = json.valueToTree(m.cpu().saveState());
            cpu.put("rip", 0x7C00);
            ((com.fasterxml.jackson.databind.node.ArrayNode) cpu.get("segSel")).set(Seg.CS, 0);
            ((com.fasterxml.jackson.databind.node.ArrayNode) cpu.get("segBase")).set(Seg.CS, 0);
            m.cpu().restoreState(json.treeToValue(cpu, CpuState.class));
            Thread vcpu = Thread.ofPlatform().start(m::run);
            while (console.size() < LETTERS / 3) Thread.sleep(5);
            assertTrue(m.pause(5000));
            Files.createDirectories(base.toAbsolutePath().getParent());
            Snapshot.write(Path.of(base + ".state"), config, m);
            Files.write(Path.of(base + ".console"), console.toByteArray());
            m.stop();
            vcpu.join();
        } finally {
            m.close();
        }
    }
}
