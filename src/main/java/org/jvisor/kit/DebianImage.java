package org.jvisor.kit;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.UUID;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.jvisor.block.BlockException;
import org.jvisor.block.ImageOps;

/**
 * Builds a bootable Debian disk image from Debian's packages: debootstrap into a scratch folder,
 * configuration for a VM (serial getty, systemd-networkd with DHCP, SSH host keys made on first
 * boot, cloud-init's NoCloud source), an ext4 filesystem made from the folder, a GPT disk with
 * that filesystem in partition 1, written as qcow2 or raw. The image carries Debian's kernel and
 * initramfs, which jvisor boots from the disk itself. Needs root (debootstrap chroots).
 */
public final class DebianImage {
    /** Bump when the image's contents change for the same spec, so cached templates are rebuilt. */
    public static final int LAYOUT = 5;
    public static final List<String> BASE_PACKAGES = List.of("systemd-sysv", "udev", "kmod", "dbus", "iproute2", "procps",
            "openssh-server", "sudo", "e2fsprogs", "linux-image-amd64", "cloud-init", "less", "ca-certificates");
    static final List<String> INITRAMFS_MODULES = List.of("virtio_pci", "virtio_blk", "virtio_scsi", "virtio_net",
            "virtio_console", "crc32c_generic", "crc32c-intel", "ext4");
    static final long PART_START = 1L << 20; // 1 MiB, as partitioners align

    /**
     * What to build. {@code rootPassword} null leaves root locked (cloud-init's user logs in);
     * {@code mirror} null takes the host's apt mirror.
     */
    public record Spec(String release, long size, List<String> extraPackages, String hostname, String rootPassword, String mirror) {
        public List<String> packages() {
            LinkedHashSet<String> all = new LinkedHashSet<>(BASE_PACKAGES);
            all.addAll(extraPackages);
            return List.copyOf(all);
        }
    }

    /** A step that cannot go on, with what the user can do about it. */
    public static final class BuildException extends Exception {
        public BuildException(String message) {
            super(message);
        }

        BuildException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    private DebianImage() {}

    public static boolean runningAsRoot() {
        try {
            return ((Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid")) == 0;
        } catch (IOException | UnsupportedOperationException e) {
            return false;
        }
    }

    /** Builds the image at {@code out} (qcow2 unless the name ends in .raw or .img), reporting each step to {@code log}. */
    public static void build(Spec spec, Path out, Consumer<String> log) throws BuildException, InterruptedException {
        if (!runningAsRoot()) throw new BuildException("building a Debian image needs root (debootstrap chroots into the new system): run it with sudo");
        if (spec.size() < (1L << 30)) throw new BuildException("--size " + spec.size() + " is too small for Debian (at least 1G)");
        for (String tool : List.of("debootstrap", "mkfs.ext4", "sfdisk", "chroot")) {
            if (!onPath(tool)) throw new BuildException(tool + " is missing: apt-get install debootstrap e2fsprogs fdisk");
        }
        String mirror = spec.mirror();
        try {
            if (mirror == null) mirror = AptMirror.find().orElseThrow(() -> new BuildException(
                    "no Debian archive is configured in /etc/apt: pass --mirror URL"));
        } catch (IOException e) {
            throw new BuildException("cannot read /etc/apt: " + e.getMessage(), e);
        }
        Path dir = out.toAbsolutePath().getParent();
        Path work;
        try {
            Files.createDirectories(dir);
            work = Files.createTempDirectory(dir, ".jvisor-debian-");
        } catch (IOException e) {
            throw new BuildException("cannot write in " + dir + ": " + e.getMessage(), e);
        }
        Path root = work.resolve("root"), fs = work.resolve("root.ext4"), disk = work.resolve("disk.raw");
        String uuid = UUID.randomUUID().toString();
        List<String> pkgs = spec.packages();
        boolean done = false;
        try {
            log.accept("[1/5] debootstrap " + spec.release() + " (minimal base)");
            run(log, "debootstrap", "--variant=minbase", "--components=main", spec.release(), root.toString(), mirror);
            // apt, not debootstrap, resolves the rest: debootstrap cannot choose among virtual
            // packages (cloud-init's python3-cryptography needs one), apt can.
            log.accept("[2/5] installing " + String.join(" ", pkgs) + " and their dependencies");
            install(root, pkgs, log);
            log.accept("      configuring the system for a VM");
            configure(spec, root, mirror, uuid, log);
            long diskSize = spec.size() & ~((1L << 20) - 1);
            long partSize = diskSize - PART_START - (1L << 20); // the backup GPT lives in the last MiB
            log.accept("[3/5] making the ext4 filesystem (" + (partSize >> 20) + " MiB)");
            run(log, "mkfs.ext4", "-q", "-F", "-d", root.toString(), "-U", uuid, "-L", "debian-root", fs.toString(),
                    (partSize >> 10) + "k");
            log.accept("[4/5] writing the GPT disk");
            writeDisk(disk, diskSize, fs, partSize, log);
            boolean raw = out.getFileName().toString().matches(".*\\.(raw|img)$");
            log.accept("[5/5] writing " + out + (raw ? " (raw)" : " (qcow2)"));
            Files.deleteIfExists(out);
            if (raw) {
                Files.move(disk, out);
            } else {
                ImageOps.convert(disk, "raw", out, "qcow2", false, null);
            }
            done = true;
        } catch (BlockException e) {
            throw new BuildException("writing " + out + ": " + e.getMessage(), e);
        } catch (IOException e) {
            throw new BuildException(e.getMessage(), e);
        } finally {
            cleanUp(work, root);
            if (!done) {
                try {
                    Files.deleteIfExists(out);
                } catch (IOException ignored) {
                    // nothing of value was there
                }
            }
        }
    }

    /** apt-get install in the new system, with /proc, /sys and /dev/pts mounted and no service started. */
    private static void install(Path root, List<String> pkgs, Consumer<String> log) throws IOException, InterruptedException, BuildException {
        write(root, "usr/sbin/policy-rc.d", "#!/bin/sh\nexit 101\n");
        // Written before the kernel is installed, so its first initramfs is already the small one: only
        // what a VM's root needs (virtio, ext4), not "most" of the drivers, which a software CPU would
        // spend most of a minute unpacking and probing on every boot.
        write(root, "etc/initramfs-tools/conf.d/jvisor.conf", "MODULES=list\n");
        write(root, "etc/initramfs-tools/modules", String.join("\n", INITRAMFS_MODULES) + "\n");
        root.resolve("usr/sbin/policy-rc.d").toFile().setExecutable(true);
        String r = root.toString();
        run(log, "mount", "-t", "proc", "proc", r + "/proc");
        try {
            run(log, "mount", "-t", "sysfs", "sysfs", r + "/sys");
            run(log, "mount", "-t", "devpts", "devpts", r + "/dev/pts");
            List<String> cmd = new ArrayList<>(List.of("chroot", r, "apt-get", "install", "-y", "-q", "--no-install-recommends"));
            cmd.addAll(pkgs);
            run(log, cmd.toArray(String[]::new));
            run(log, "chroot", r, "apt-get", "clean");
        } finally {
            for (String m : List.of("/dev/pts", "/sys", "/proc")) {
                new ProcessBuilder("umount", "-l", r + m).redirectErrorStream(true).start().waitFor();
            }
            Files.deleteIfExists(root.resolve("usr/sbin/policy-rc.d"));
        }
    }

    private static void configure(Spec spec, Path root, String mirror, String uuid, Consumer<String> log)
            throws IOException, InterruptedException, BuildException {
        write(root, "etc/hostname", spec.hostname() + "\n");
        write(root, "etc/hosts", "127.0.0.1\tlocalhost\n127.0.1.1\t" + spec.hostname() + "\n::1\tlocalhost ip6-localhost ip6-loopback\n");
        write(root, "etc/fstab", "UUID=" + uuid + "\t/\text4\terrors=remount-ro\t0\t1\n");
        write(root, "etc/apt/sources.list", "deb " + mirror + " " + spec.release() + " main\n");
        // Any NIC the VM gets asks DHCP for an address; none at all is not an error.
        write(root, "etc/systemd/network/80-jvisor-dhcp.network", """
                [Match]
                Name=en* eth*

                [Network]
                DHCP=yes
                """);
        // network-online.target waits for one link with an address, not for all of them, and only
        // when the VM has a NIC at all: without one, waiting would end in a failed unit after two
        // minutes, and systemd would call the whole system degraded.
        write(root, "etc/systemd/system/systemd-networkd-wait-online.service.d/jvisor.conf", """
                [Service]
                ExecCondition=/bin/sh -c 'ls /sys/class/net | grep -qvx lo'
                ExecStart=
                ExecStart=/lib/systemd/systemd-networkd-wait-online --any --timeout=120
                """);
        // Each VM made from the image needs its own host keys: made on first boot, unless
        // cloud-init made them already.
        try (Stream<Path> s = Files.list(root.resolve("etc/ssh"))) {
            for (Path k : s.filter(p -> p.getFileName().toString().startsWith("ssh_host_")).toList()) Files.delete(k);
        }
        write(root, "etc/systemd/system/jvisor-ssh-host-keys.service", """
                [Unit]
                Description=Make the SSH host keys of this machine
                Before=ssh.service
                ConditionPathExistsGlob=!/etc/ssh/ssh_host_*_key

                [Service]
                Type=oneshot
                ExecStart=/usr/bin/ssh-keygen -A

                [Install]
                WantedBy=multi-user.target
                """);
        // A software CPU boots several times slower than hardware: systemd's 90 s default for a job
        // (a device to appear, a service to start) was seen to expire on jvisor before udev had
        // announced /dev/ttyS0, which took the serial getty with it.
        write(root, "etc/systemd/system.conf.d/50-jvisor-timeouts.conf", """
                [Manager]
                DefaultTimeoutStartSec=600s
                DefaultDeviceTimeoutSec=600s
                """);
        // Likewise the machine id: empty means "first boot", and systemd makes one.
        write(root, "etc/machine-id", "");
        Files.deleteIfExists(root.resolve("var/lib/dbus/machine-id"));
        if (Files.isDirectory(root.resolve("etc/cloud"))) {
            // Only the seed disk jvisor makes: probing cloud metadata servers would wait for a network that is not there.
            // The 127.0.1.1 line of /etc/hosts follows the host name cloud-init sets (sudo looks it up).
            // The built-in C.UTF-8 locale: cloud-init's default, en_US.UTF-8, is not generated in a
            // minimal system, and its locale module failed making it. Ed25519 and ECDSA host keys
            // only: an RSA key costs a software CPU tens of seconds on every first boot (user-data
            // may ask for RSA).
            write(root, "etc/cloud/cloud.cfg.d/90-jvisor.cfg", """
                    datasource_list: [ NoCloud, None ]
                    network: {config: disabled}
                    locale: C.UTF-8
                    ssh_genkeytypes: [ed25519, ecdsa]
                    manage_etc_hosts: localhost
                    """);
        }
        // systemd-networkd asks for the nl80211 netlink family, which autoloads the Wi-Fi stack; a VM
        // has no Wi-Fi, and cfg80211 logs an error for the regulatory database it cannot find.
        write(root, "etc/modprobe.d/jvisor-vm.conf", "# no Wi-Fi in a VM\nblacklist cfg80211\n");
        run(log, "chroot", root.toString(), "systemctl", "enable", "systemd-networkd.service", "jvisor-ssh-host-keys.service");
        // e2scrub checks ext4 volumes on LVM; this disk has none, and the scan costs a software CPU most of a minute.
        run(log, "chroot", root.toString(), "systemctl", "disable", "e2scrub_reap.service", "e2scrub_all.timer");
        if (spec.rootPassword() != null) {
            runWithInput(log, "root:" + spec.rootPassword() + "\n", "chroot", root.toString(), "chpasswd");
        }
        Files.deleteIfExists(root.resolve("etc/resolv.conf")); // the build host's, not the VM's
    }

    /** A sparse raw disk: protective MBR and GPT by sfdisk, the filesystem copied in without its holes. */
    private static void writeDisk(Path disk, long diskSize, Path fs, long partSize, Consumer<String> log)
            throws IOException, InterruptedException, BuildException {
        try (RandomAccessFile f = new RandomAccessFile(disk.toFile(), "rw")) {
            f.setLength(diskSize);
        }
        runWithInput(log, "label: gpt\nstart=" + (PART_START >> 9) + ", size=" + (partSize >> 9)
                + ", type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=root\n", "sfdisk", "-q", disk.toString());
        try (FileChannel in = FileChannel.open(fs, StandardOpenOption.READ);
             FileChannel o = FileChannel.open(disk, StandardOpenOption.WRITE)) {
            ByteBuffer buf = ByteBuffer.allocateDirect(1 << 20);
            for (long off = 0; off < in.size(); off += buf.capacity()) {
                buf.clear();
                while (buf.hasRemaining() && in.read(buf, off + buf.position()) > 0) { }
                buf.flip();
                if (ImageOps.isZero(buf)) continue;
                o.write(buf, PART_START + off);
            }
        }
    }

    private static void write(Path root, String rel, String text) throws IOException {
        Path p = root.resolve(rel);
        Files.createDirectories(p.getParent());
        Files.writeString(p, text);
    }

    /** Removes the scratch folder, but never through a file system still mounted inside it. */
    private static void cleanUp(Path work, Path root) {
        try {
            String abs = root.toAbsolutePath().toString();
            for (String line : Files.readAllLines(Path.of("/proc/mounts"))) {
                String[] f = line.split(" ");
                if (f.length > 1 && f[1].startsWith(abs)) {
                    new ProcessBuilder("umount", "-l", f[1]).inheritIO().start().waitFor();
                }
            }
            for (String line : Files.readAllLines(Path.of("/proc/mounts"))) {
                if (line.split(" ")[1].startsWith(abs)) return; // leave it rather than delete through a mount
            }
            try (Stream<Path> s = Files.walk(work)) {
                for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
            }
        } catch (IOException | RuntimeException e) {
            // a scratch folder left behind costs disk space, not correctness
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static boolean onPath(String tool) {
        for (String d : (System.getenv().getOrDefault("PATH", "") + ":/usr/sbin:/sbin").split(":")) {
            if (!d.isEmpty() && Files.isExecutable(Path.of(d, tool))) return true;
        }
        return false;
    }

    private static void run(Consumer<String> log, String... cmd) throws IOException, InterruptedException, BuildException {
        runWithInput(log, null, cmd);
    }

    /** Runs a tool; its progress lines ("I: ...") go to the log, the rest is kept for the error message. */
    private static void runWithInput(Consumer<String> log, String input, String... cmd)
            throws IOException, InterruptedException, BuildException {
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().put("DEBIAN_FRONTEND", "noninteractive");
        pb.environment().put("LC_ALL", "C.UTF-8");
        pb.environment().merge("PATH", "/usr/sbin:/sbin", (a, b) -> a + ":" + b);
        Process p = pb.start();
        if (input != null) p.getOutputStream().write(input.getBytes(StandardCharsets.UTF_8));
        p.getOutputStream().close();
        List<String> tail = new ArrayList<>();
        try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            for (String line; (line = r.readLine()) != null; ) {
                // One line a package is too many; debootstrap's stages and apt's "Setting up" are progress enough.
                if (line.startsWith("I: Retrieving") || line.startsWith("I: Validating")) continue;
                if (line.startsWith("I: ")) log.accept("      " + line.substring(3));
                if (line.startsWith("Setting up ")) log.accept("      " + line);
                tail.add(line);
                if (tail.size() > 20) tail.removeFirst();
            }
        }
        int rc = p.waitFor();
        if (rc != 0) {
            throw new BuildException(cmd[0] + " failed (exit " + rc + "):\n  " + String.join("\n  ", tail));
        }
    }
}
