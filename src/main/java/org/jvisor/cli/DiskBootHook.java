package org.jvisor.cli;

import java.io.PrintStream;
import java.nio.file.Path;
import org.jvisor.block.BlockException;
import org.jvisor.block.DiskImage;
import org.jvisor.block.Images;
import org.jvisor.boot.BootEntry;
import org.jvisor.boot.BootException;
import org.jvisor.boot.DiskBoot;

/**
 * {@code jvisor run --disk D} without --kernel: boots what the first disk's bootloader config
 * names, as a PC would. A disk with no filesystem, or nothing bootable on it, leaves the guest
 * kit to boot (it may be a data disk), with a note on stderr for the second case.
 */
final class DiskBootHook {
    private DiskBootHook() {}

    /** The first disk's boot entry, or null to fall back to the guest kit. */
    static BootEntry find(Path image, String format, PrintStream err) {
        try (DiskImage disk = Images.open(image, format, true)) {
            if (!DiskBoot.hasFilesystem(disk)) return null;
            BootEntry e = DiskBoot.find(disk);
            err.println(e.describe());
            return e;
        } catch (BootException e) {
            err.println("not booting from " + image + ": " + e.getMessage() + "; booting the guest kit");
            return null;
        } catch (BlockException e) {
            return null; // opening it for the VM reports this
        }
    }

    /** The entry's cmdline with the serial console jvisor's terminal shows, unless it names one already. */
    static String cmdline(BootEntry e) {
        String c = e.cmdline();
        return c.contains("console=ttyS0") ? c : (c + " console=ttyS0").strip();
    }
}
