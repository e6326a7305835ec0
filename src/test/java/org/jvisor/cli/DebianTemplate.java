package org.jvisor.cli;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import org.jvisor.kit.DebianImage;
import org.jvisor.kit.GuestKit;
import picocli.CommandLine;

/**
 * The Debian template the guest tests boot: built once by {@code jvisor image debian} and kept in
 * the cache under a name derived from everything that goes into it, so a change to the package
 * list or the image layout builds a new one and an unchanged one is reused across runs.
 */
final class DebianTemplate {
    static final String RELEASE = "bookworm";
    /** Beyond the image's own packages; none are needed for the programs the test runs. */
    static final List<String> EXTRA = List.of(); // python3 comes with cloud-init, perl with the base system

    private DebianTemplate() {}

    static Path ensure() throws IOException, InterruptedException {
        String key = RELEASE + "|" + DebianImage.LAYOUT + "|" + new DebianImage.Spec(RELEASE, 4L << 30, EXTRA, "debian", null, null).packages();
        Path dir = GuestKit.cacheDir().resolve("debian");
        Files.createDirectories(dir);
        Path image = dir.resolve(RELEASE + "-" + sha256(key).substring(0, 16) + ".qcow2");
        try (FileChannel lockFile = FileChannel.open(dir.resolve(".lock"), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
             FileLock lock = lockFile.lock()) {
            if (Files.exists(image)) return image;
            if (!DebianImage.runningAsRoot()) {
                throw new AssertionError("the Debian guest tests build their image with debootstrap, which needs root (CI runs as root)");
            }
            System.out.println("debian-template: building " + image + " (" + key + ")");
            long t0 = System.nanoTime();
            Path tmp = dir.resolve(image.getFileName() + ".tmp.qcow2");
            List<String> args = new java.util.ArrayList<>(List.of("image", "debian", "--release", RELEASE, "--size", "4G"));
            if (!EXTRA.isEmpty()) args.addAll(List.of("--packages", String.join(",", EXTRA)));
            args.add(tmp.toString());
            int rc = new CommandLine(new Main()).execute(args.toArray(String[]::new));
            if (rc != 0) throw new AssertionError("jvisor image debian failed with exit code " + rc);
            Files.move(tmp, image, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            System.out.printf("debian-template: built in %d s%n", (System.nanoTime() - t0) / 1_000_000_000L);
            return image;
        }
    }

    private static String sha256(String s) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
