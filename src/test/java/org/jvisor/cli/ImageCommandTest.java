package org.jvisor.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** The image CLI end to end, in process: what a user types and the exit codes qemu-img would give. */
class ImageCommandTest {
    @TempDir
    Path dir;

    record Run(int exit, String out, String err) {}

    Run jvisor(String... args) {
        PrintStream oldOut = System.out, oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true));
        System.setErr(new PrintStream(err, true));
        try {
            int rc = new CommandLine(new Main()).execute(args);
            return new Run(rc, out.toString(), err.toString());
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    String p(String name) {
        return dir.resolve(name).toString();
    }

    @Test
    void lifecycleThroughTheCli() throws Exception {
        assertEquals(0, jvisor("image", "create", "-f", "qcow2", p("base.qcow2"), "64M").exit());
        assertEquals(0, jvisor("image", "snapshot", p("base.qcow2"), p("top.qcow2")).exit());
        Run info = jvisor("image", "info", "--json", p("top.qcow2"));
        assertEquals(0, info.exit());
        assertTrue(info.out().contains("base.qcow2\""), info.out());
        assertTrue(info.out().contains("\"virtual-size\" : 67108864"), info.out());
        assertEquals(0, jvisor("image", "resize", p("top.qcow2"), "+64M").exit());
        assertEquals(128L << 20, ((Number) org.jvisor.block.ImageOps.info(dir.resolve("top.qcow2"), null).get("virtual-size")).longValue());
        Run shrink = jvisor("image", "resize", p("top.qcow2"), "1M");
        assertEquals(1, shrink.exit());
        assertTrue(shrink.err().contains("--shrink"), shrink.err());
        assertEquals(0, jvisor("image", "check", p("top.qcow2")).exit());
        assertEquals(0, jvisor("image", "commit", p("top.qcow2")).exit());
        assertEquals(0, jvisor("image", "convert", "-O", "raw", p("top.qcow2"), p("flat.raw")).exit());
        assertEquals(128L << 20, Files.size(dir.resolve("flat.raw")));
        assertEquals(0, jvisor("image", "convert", "-c", "-O", "qcow2", p("flat.raw"), p("small.qcow2")).exit());
        assertEquals(63, jvisor("image", "check", p("flat.raw")).exit());
    }

    @Test
    void badInputGivesOneLineAndExitOne() throws Exception {
        for (String[] args : new String[][] {
                {"image", "info", p("missing.qcow2")},
                {"image", "create", p("x.qcow2"), "abc"},
                {"image", "create", "-f", "vmdk", p("y.vmdk"), "1M"},
                {"image", "convert", "-c", "-O", "raw", p("missing"), p("out")},
                {"image", "create", "-b", p("nobase.qcow2"), p("z.qcow2")}}) {
            Run r = jvisor(args);
            assertEquals(1, r.exit(), String.join(" ", args) + ": " + r.err());
            assertEquals(1, r.err().strip().lines().count(), r.err());
            assertFalse(r.err().contains("Exception"), r.err());
        }
        Files.write(dir.resolve("junk.qcow2"), "QFI\u00fbnot really a qcow2 image".getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
        Run r = jvisor("image", "info", p("junk.qcow2"));
        assertEquals(1, r.exit(), r.err());
    }
}
