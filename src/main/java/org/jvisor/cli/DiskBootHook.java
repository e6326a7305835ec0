package org.jvisor.cli;

import java.io.PrintStream;
import java.nio.file.Path;
import org.jvisor.block.BlockException;
import org.jvisor.block.DiskImage;
import org.jvisor.block.Images;
import org.jvisor.boot.BootEntry;
import org.jvisor.boot.BootException;
import org.jvisor.boot.DiskBoot;
import org.jvisor.loader.BzImage;
import org.jvisor.loader.KernelImageException;

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

    /**
     * The entry's cmdline with the serial console jvisor's terminal shows, unless it names one
     * already, and panic=-1 (unless it sets panic=) so a guest panic ends jvisor with exit code 1.
     */
    static String cmdline(BootEntry e) {
        String c = e.cmdline();
        if (!c.contains("console=ttyS0")) c = c + " console=ttyS0";
        if (!c.contains("panic=")) c = c + " panic=-1";
        return c.strip();
    }

    /**
     * The kernel as jvisor boots it fastest: a bzImage's payload is decompressed here, once, as the
     * guest kit's kernel is, instead of by the guest's own decompressor on the software CPU (about
     * 20 s of a boot). Anything the loader does not recognise is booted as it is.
     */
    static byte[] unpacked(byte[] kernel) {
        try {
            return BzImage.parse(kernel).vmlinux();
        } catch (KernelImageException e) {
            return kernel; // the boot itself reports what is wrong with it
        }
    }
}
