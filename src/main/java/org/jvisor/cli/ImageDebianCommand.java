package org.jvisor.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import org.jvisor.kit.DebianImage;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code jvisor image debian}: a bootable Debian image (systemd, SSH, cloud-init) from Debian's
 * packages in one command, the template VMs are made from. Exit 0 when written, 1 when a step
 * failed, 2 for bad input (including not being root).
 */
@Command(name = "debian", description = "Build a bootable Debian image with debootstrap (needs root): jvisor image debian [--release bookworm] [--size 4G] [--packages a,b] OUT.qcow2")
final class ImageDebianCommand implements Callable<Integer> {
    @Option(names = "--release", description = "Debian release (default: bookworm)") String release = "bookworm";
    @Option(names = "--size", description = "virtual disk size (default: 4G)") String size = "4G";
    @Option(names = "--packages", split = ",", description = "more packages to install, comma-separated") List<String> packages = new ArrayList<>();
    @Option(names = "--hostname", description = "host name (default: debian; cloud-init's seed may change it)") String hostname = "debian";
    @Option(names = "--root-password", description = "a password for root (default: root stays locked; log in as cloud-init's user)") String rootPassword;
    @Option(names = "--mirror", description = "Debian archive URL (default: the one this host's apt uses)") String mirror;
    @Parameters(index = "0", paramLabel = "OUT", description = "the image to write: qcow2, or raw when it ends in .raw or .img") Path out;

    @Override
    public Integer call() throws InterruptedException {
        long bytes;
        try {
            bytes = Sizes.parse(size);
        } catch (IllegalArgumentException e) {
            System.err.println("jvisor image debian: --size: " + e.getMessage());
            return 2;
        }
        if (!release.matches("[a-z][a-z0-9-]*")) {
            System.err.println("jvisor image debian: --release '" + release + "' is not a Debian release name (e.g. bookworm)");
            return 2;
        }
        if (!hostname.matches(CloudInitOptions.HOSTNAME)) {
            System.err.println("jvisor image debian: --hostname '" + hostname + "' is not a valid host name");
            return 2;
        }
        packages.removeIf(String::isBlank); // "--packages a,,b" or an empty list
        for (String p : packages) {
            if (!p.matches("[a-z0-9][a-z0-9+.-]*")) {
                System.err.println("jvisor image debian: --packages: '" + p + "' is not a Debian package name");
                return 2;
            }
        }
        if (!DebianImage.runningAsRoot()) {
            System.err.println("jvisor image debian: needs root (debootstrap chroots into the new system): run it with sudo");
            return 2;
        }
        long start = System.nanoTime();
        try {
            DebianImage.build(new DebianImage.Spec(release, bytes, packages, hostname, rootPassword, mirror), out,
                    line -> System.err.println("jvisor image debian: " + line));
        } catch (DebianImage.BuildException e) {
            System.err.println("jvisor image debian: " + e.getMessage());
            return 1;
        }
        System.err.printf("jvisor image debian: %s written in %d s; boot it with: jvisor run --disk %s%n",
                out, (System.nanoTime() - start) / 1_000_000_000L, out);
        return 0;
    }
}
