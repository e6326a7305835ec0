package org.jvisor.kit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The guest kit is right when a reference machine boots it: QEMU (TCG) boots Debian's kernel with
 * the project's initramfs to the ready line, the modules load, the shell answers, poweroff ends it.
 * (jvisor's own boot tests arrive with its PC machine; this one validates the kit they will use.)
 */
class GuestKitQemuTest {
    @Test
    void qemuBootsTheKitToAShell() throws Exception {
        GuestKit.Kit kit = GuestKit.ensure(System.out::println);
        assertEquals(GuestKit.MODULES.size() + 9, kit.modules().size(), "modules with dependencies: " + kit.modules());
        Process p = new ProcessBuilder("qemu-system-x86_64", "-accel", "tcg", "-cpu", "qemu64", "-M", "q35", "-m", "512M",
                "-nographic", "-no-reboot", "-kernel", kit.kernel().toString(), "-initrd", kit.initramfs().toString(),
                "-append", "console=ttyS0 panic=-1").redirectErrorStream(true).start();
        long t0 = System.nanoTime();
        StringBuilder out = new StringBuilder();
        InputStream in = p.getInputStream();
        OutputStream to = p.getOutputStream();
        try {
            expect(in, out, GuestKit.READY, 180);
            double ready = (System.nanoTime() - t0) / 1e9;
            to.write("echo modules=$(cat /proc/modules | wc -l) kernel=$(uname -r)\n".getBytes(StandardCharsets.UTF_8));
            to.flush();
            expect(in, out, "kernel=" + kit.kernelVersion(), 60);
            to.write("poweroff\n".getBytes(StandardCharsets.UTF_8));
            to.flush();
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), "QEMU did not exit after poweroff");
            in.transferTo(OutputStream.nullOutputStream());
            System.out.printf("guest kit: QEMU TCG booted %s to '%s' in %.1f s and powered off in %.1f s%n",
                    kit.kernelVersion(), GuestKit.READY, ready, (System.nanoTime() - t0) / 1e9);
        } finally {
            p.destroyForcibly();
        }
        assertEquals(0, p.exitValue());
        assertTrue(out.toString().contains("modules=" + kit.modules().size()), out.toString());
        assertFalse(out.toString().contains("cannot load"), out.toString());
    }

    /** Reads the console until it shows {@code what}; fails with the console log on timeout. */
    static void expect(InputStream in, StringBuilder out, String what, int seconds) throws Exception {
        long deadline = System.nanoTime() + seconds * 1_000_000_000L;
        byte[] buf = new byte[4096];
        while (out.indexOf(what) < 0) {
            if (System.nanoTime() > deadline) throw new AssertionError("no '" + what + "' within " + seconds + " s:\n" + out);
            if (in.available() == 0) {
                Thread.sleep(20);
                continue;
            }
            int n = in.read(buf);
            if (n < 0) throw new AssertionError("console closed before '" + what + "':\n" + out);
            out.append(new String(buf, 0, n, StandardCharsets.ISO_8859_1));
        }
    }
}
