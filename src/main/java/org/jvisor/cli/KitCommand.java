package org.jvisor.cli;

import java.util.concurrent.Callable;
import org.jvisor.kit.GuestKit;
import picocli.CommandLine.Command;

/** {@code jvisor kit}: fetches and builds the default guest (kernel and initramfs) and prints where. */
@Command(name = "kit", description = "Prepare the default guest: Debian's kernel and an initramfs with busybox.")
final class KitCommand implements Callable<Integer> {
    @Override
    public Integer call() {
        try {
            GuestKit.Kit k = GuestKit.ensure(System.err::println);
            System.out.println("kernel: " + k.kernel());
            System.out.println("vmlinux: " + k.vmlinux());
            System.out.println("initramfs: " + k.initramfs());
            System.out.println("kernel version: " + k.kernelVersion());
            System.out.println("modules: " + String.join(" ", k.modules()));
            return 0;
        } catch (java.io.IOException e) {
            System.err.println("jvisor kit: " + e.getMessage());
            return 1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return 1;
        }
    }
}
