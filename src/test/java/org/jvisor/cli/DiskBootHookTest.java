package org.jvisor.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.jvisor.boot.BootEntry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The run command's disk boot: a bootable disk is booted, anything else falls back to the kit. */
class DiskBootHookTest {
    @TempDir Path tmp;

    private static void run(String... cmd) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(List.of(cmd)).redirectErrorStream(true);
        pb.environment().put("PATH", "/usr/sbin:/sbin:" + System.getenv("PATH"));
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes());
        assertEquals(0, p.waitFor(), out);
    }

    @Test
    void bootsADiskAndFallsBackForDataDisks() throws Exception {
        Path root = Files.createDirectories(tmp.resolve("root/boot"));
        Files.write(root.resolve("vmlinuz-6.1.0-18-amd64"), new byte[1000]);
        Path img = tmp.resolve("d.img");
        run("mke2fs", "-q", "-F", "-t", "ext4", "-d", tmp.resolve("root").toString(), img.toString(), "8M");
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        BootEntry e = DiskBootHook.find(img, "raw", new PrintStream(err, true));
        assertEquals(1000, e.kernel().length);
        assertTrue(DiskBootHook.cmdline(e).matches("root=UUID=\\S+ ro console=ttyS0 panic=-1"), DiskBootHook.cmdline(e));
        assertTrue(err.toString().startsWith("booting vmlinuz-6.1.0-18-amd64 from /dev/vda (ext4"), err.toString());

        Path data = tmp.resolve("data.img");
        Files.write(data, new byte[1 << 20]);
        assertNull(DiskBootHook.find(data, "raw", new PrintStream(new ByteArrayOutputStream())));
        Path empty = tmp.resolve("empty.img");
        run("mke2fs", "-q", "-F", "-t", "ext4", empty.toString(), "8M");
        err.reset();
        assertNull(DiskBootHook.find(empty, "raw", new PrintStream(err, true)));
        assertTrue(err.toString().contains("booting the guest kit"), err.toString());
    }
}
