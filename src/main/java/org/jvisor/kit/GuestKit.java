package org.jvisor.kit;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.jvisor.loader.BzImage;
import org.jvisor.loader.ElfFile;
import org.jvisor.loader.KernelImageException;

/**
 * Fetches Debian's {@code linux-image-amd64} and {@code busybox-static} into a cache on first use
 * and writes an initramfs with busybox, the kernel's virtio and ext4 modules (with their
 * dependencies, in load order) and an /init that prints {@value #READY} and starts a shell.
 */
public final class GuestKit {
    public static final String READY = "jvisor-guest: ready";
    /** Bump when the initramfs contents change, so caches are rebuilt. */
    static final int LAYOUT = 3;
    /** Modules the guest loads, besides their dependencies; virtio and ext4 are modules in Debian's kernel. */
    static final List<String> MODULES = List.of("virtio_pci", "virtio_blk", "virtio_net", "virtio_console", "virtio_rng",
            "virtio_balloon", "crc32c_generic", "ext4", "button", "evdev");

    /**
     * The kit: Debian's bzImage ({@code kernel}), the same kernel uncompressed ({@code vmlinux},
     * what jvisor run and the benchmarks boot, so no boot pays for decompressing it), the
     * initramfs, and the modules in it in load order.
     */
    public record Kit(Path kernel, Path vmlinux, Path initramfs, String kernelVersion, List<String> modules) {}

    private GuestKit() {}

    /** $JVISOR_CACHE, else $XDG_CACHE_HOME/jvisor, else ~/.cache/jvisor. */
    public static Path cacheDir() {
        String c = System.getenv("JVISOR_CACHE");
        if (c != null && !c.isEmpty()) return Path.of(c);
        String x = System.getenv("XDG_CACHE_HOME");
        if (x != null && !x.isEmpty()) return Path.of(x, "jvisor");
        return Path.of(System.getProperty("user.home"), ".cache", "jvisor");
    }

    /** Makes sure the kit is in the cache (downloading and building what is missing) and returns it. */
    public static Kit ensure(Consumer<String> log) throws IOException, InterruptedException {
        Path dir = cacheDir().resolve("kit");
        Files.createDirectories(dir);
        try (FileChannel lockFile = FileChannel.open(dir.resolve(".lock"), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
             FileLock lock = lockFile.lock()) {
            Path root = dir.resolve("root");
            if (!Files.exists(root.resolve(".complete"))) fetch(dir, root, log);
            String version = kernelVersion(root);
            Path kernel = root.resolve("boot/vmlinuz-" + version);
            // Uncompressed: unpacking gzip would cost every boot far more guest instructions than the copy.
            Path initramfs = dir.resolve("initramfs-" + version + "-" + LAYOUT + ".cpio");
            // The module order is resolved once, when the initramfs is written, and kept beside it.
            Path orderFile = dir.resolve(initramfs.getFileName() + ".modules");
            if (!Files.exists(initramfs) || !Files.exists(orderFile)) {
                Map<String, Path> byName = moduleIndex(root.resolve("lib/modules/" + version));
                List<String> order = moduleOrder(byName);
                log.accept("jvisor: writing the guest initramfs (" + order.size() + " modules)");
                Path tmp = dir.resolve(initramfs.getFileName() + ".tmp");
                try (OutputStream os = new java.io.BufferedOutputStream(Files.newOutputStream(tmp), 1 << 16)) {
                    writeInitramfs(os, root, order, byName);
                }
                Files.write(orderFile, order);
                Files.move(tmp, initramfs, java.nio.file.StandardCopyOption.ATOMIC_MOVE, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            }
            Path vmlinux = dir.resolve("vmlinux-" + version);
            if (!Files.exists(vmlinux)) {
                log.accept("jvisor: decompressing the guest kernel (once)");
                Path tmp = dir.resolve(vmlinux.getFileName() + ".tmp");
                try {
                    Files.write(tmp, BzImage.parse(Files.readAllBytes(kernel)).vmlinux());
                } catch (KernelImageException e) {
                    throw new IOException("Debian's kernel " + kernel + ": " + e.getMessage(), e);
                }
                Files.move(tmp, vmlinux, java.nio.file.StandardCopyOption.ATOMIC_MOVE, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            }
            return new Kit(kernel, vmlinux, initramfs, version, List.copyOf(Files.readAllLines(orderFile)));
        }
    }

    private static void fetch(Path dir, Path root, Consumer<String> log) throws IOException, InterruptedException {
        Path debs = dir.resolve("debs");
        Files.createDirectories(debs);
        log.accept("jvisor: fetching the guest kit (Debian linux-image-amd64, busybox-static) into " + dir);
        download(debs, "linux-image-amd64");
        Path meta = newest(debs, "linux-image-amd64_");
        String depends = run(debs, "dpkg-deb", "-f", meta.toString(), "Depends").trim();
        String kernelPkg = depends.split("[,|]")[0].trim().split("\\s")[0];
        if (!kernelPkg.startsWith("linux-image-")) throw new IOException("unexpected kernel dependency: " + depends);
        download(debs, kernelPkg, "busybox-static");
        if (Files.exists(root)) deleteTree(root);
        Files.createDirectories(root);
        for (String prefix : new String[] {kernelPkg + "_", "busybox-static_"}) {
            run(debs, "dpkg-deb", "-x", newest(debs, prefix).toString(), root.toString());
        }
        Files.writeString(root.resolve(".complete"), kernelPkg + "\n");
    }

    /** apt-get download, after an apt-get update if the package lists are stale. */
    private static void download(Path in, String... pkgs) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("apt-get", "download", "-q"));
        cmd.addAll(List.of(pkgs));
        try {
            run(in, cmd.toArray(String[]::new));
        } catch (IOException first) {
            try {
                run(in, "apt-get", "update", "-qq");
            } catch (IOException e) {
                throw new IOException("cannot fetch " + String.join(", ", pkgs) + ": " + first.getMessage()
                        + " (and apt-get update failed: " + e.getMessage() + ")", first);
            }
            run(in, cmd.toArray(String[]::new));
        }
    }

    private static Path newest(Path dir, String prefix) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().startsWith(prefix) && p.toString().endsWith(".deb"))
                    .max(java.util.Comparator.comparing(p -> p.getFileName().toString()))
                    .orElseThrow(() -> new IOException("no " + prefix + "*.deb in " + dir));
        }
    }

    static String kernelVersion(Path root) throws IOException {
        try (Stream<Path> s = Files.list(root.resolve("lib/modules"))) {
            return s.map(p -> p.getFileName().toString()).sorted().reduce((a, b) -> b)
                    .orElseThrow(() -> new IOException("no kernel modules in the kit"));
        }
    }

    /** Every module of the kernel by name ('-' written as '_', as the kernel names them). */
    static Map<String, Path> moduleIndex(Path modules) throws IOException {
        Map<String, Path> byName = new HashMap<>();
        try (Stream<Path> s = Files.walk(modules.resolve("kernel"))) {
            s.filter(p -> p.toString().endsWith(".ko")).forEach(p -> {
                String n = p.getFileName().toString();
                byName.put(n.substring(0, n.length() - 3).replace('-', '_'), p);
            });
        }
        return byName;
    }

    /** The wanted modules and their dependencies, each after what it depends on. */
    static List<String> moduleOrder(Map<String, Path> byName) throws IOException {
        LinkedHashSet<String> order = new LinkedHashSet<>();
        for (String m : MODULES) visit(m, byName, order, new LinkedHashSet<>());
        return List.copyOf(order);
    }

    private static void visit(String name, Map<String, Path> byName, LinkedHashSet<String> order, LinkedHashSet<String> path)
            throws IOException {
        if (order.contains(name)) return;
        if (!path.add(name)) throw new IOException("module dependency cycle at " + name);
        Path file = byName.get(name);
        if (file == null) return; // built into the kernel
        for (String kv : new ElfFile(Files.readAllBytes(file)).modinfo()) {
            if (!kv.startsWith("depends=")) continue;
            for (String d : kv.substring(8).split(",")) if (!d.isBlank()) visit(d.trim().replace('-', '_'), byName, order, path);
        }
        order.add(name);
        path.remove(name);
    }

    static String initScript() {
        return """
                #!/bin/busybox sh
                /bin/busybox mkdir -p /proc /sys /dev /tmp /run /sbin /usr/bin /usr/sbin
                /bin/busybox --install -s
                mount -t proc proc /proc
                mount -t sysfs sysfs /sys
                mount -t devtmpfs devtmpfs /dev 2>/dev/null
                for m in $(cat /etc/modules); do
                    insmod /lib/modules/$m.ko || echo "jvisor-guest: cannot load $m"
                done
                hostname jvisor
                mkdir -p /var/log /var/run
                acpid -l /dev/null
                echo "%s"
                exec /sbin/init
                """.formatted(READY);
    }

    static final String INITTAB = """
            ::sysinit:/bin/true
            ::respawn:/bin/cttyhack /bin/sh
            ::ctrlaltdel:/sbin/reboot
            ::shutdown:/bin/umount -a -r
            """;

    static void writeInitramfs(OutputStream os, Path root, List<String> order, Map<String, Path> byName) throws IOException {
        try (Cpio c = new Cpio(new NonClosing(os))) {
            for (String d : new String[] {"bin", "dev", "etc", "lib", "lib/modules", "proc", "sys", "tmp", "sbin"}) c.dir(d);
            c.charDevice("dev/console", 0600, 5, 1);
            c.file("bin/busybox", 0755, Files.readAllBytes(root.resolve("bin/busybox")));
            c.symlink("bin/sh", "busybox");
            c.symlink("sbin/init", "../bin/busybox");
            c.file("init", 0755, initScript().getBytes(StandardCharsets.UTF_8));
            c.file("etc/inittab", 0644, INITTAB.getBytes(StandardCharsets.UTF_8));
            // The ACPI power button (jvisor ctl powerdown, the daemon's shutdown) powers the guest off, as on a PC.
            c.dir("etc/acpi");
            c.dir("etc/acpi/PWRF");
            c.file("etc/acpi/PWRF/00000080", 0755, "#!/bin/sh\npoweroff\n".getBytes(StandardCharsets.UTF_8));
            c.file("etc/modules", 0644, (String.join("\n", order) + "\n").getBytes(StandardCharsets.UTF_8));
            for (String m : order) c.file("lib/modules/" + m + ".ko", 0644, Files.readAllBytes(byName.get(m)));
            c.finish();
        }
    }

    /** Lets the cpio writer finish without closing the compressor under it. */
    private static final class NonClosing extends java.io.FilterOutputStream {
        NonClosing(OutputStream out) {
            super(out);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            out.write(b, off, len);
        }

        @Override
        public void close() throws IOException {
            out.flush();
        }
    }

    private static String run(Path dir, String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        p.getInputStream().transferTo(out);
        int rc = p.waitFor();
        String s = out.toString(StandardCharsets.UTF_8);
        if (rc != 0) throw new IOException(String.join(" ", cmd) + " failed (" + rc + "): " + s.strip());
        return s;
    }

    private static void deleteTree(Path p) throws IOException {
        try (Stream<Path> s = Files.walk(p)) {
            for (Path x : s.sorted(java.util.Comparator.reverseOrder()).toList()) Files.delete(x);
        }
    }
}
