package org.jvisor.boot;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;

/**
 * Finds what to boot in one filesystem, in a bootloader's order: extlinux/syslinux config, GRUB
 * config, Debian's /vmlinuz and /initrd.img symlinks, then the newest /boot/vmlinuz-*.
 */
final class BootEntryFinder {
    static final long MAX_IMAGE = 512L << 20, MAX_CONFIG = 4L << 20;
    static final List<String> EXTLINUX = List.of("/boot/extlinux/extlinux.conf", "/extlinux/extlinux.conf", "/extlinux.conf",
            "/boot/syslinux/syslinux.cfg", "/syslinux/syslinux.cfg", "/syslinux.cfg");
    static final List<String> GRUB = List.of("/boot/grub/grub.cfg", "/grub/grub.cfg");

    private final Ext4 fs;
    private final Partition part;
    private final String partUuid;
    private final long maxImage;

    BootEntryFinder(Ext4 fs, Partition part, long volumeLength) {
        this.fs = fs;
        this.part = part;
        this.partUuid = part.partUuid();
        // a kernel is not sparse: it cannot be larger than the filesystem holding it
        this.maxImage = Math.min(MAX_IMAGE, volumeLength);
    }

    /** The entry, or null when this filesystem holds nothing bootable. */
    BootEntry find() throws BootException {
        for (String cfg : EXTLINUX) {
            byte[] text = fs.readPath(cfg, MAX_CONFIG);
            if (text == null) continue;
            ConfigEntry e = ExtlinuxConfig.parse(new String(text, StandardCharsets.UTF_8), cfg.substring(0, cfg.lastIndexOf('/')));
            BootEntry b = e == null ? null : load(e, cfg);
            if (b != null) return b;
        }
        for (String cfg : GRUB) {
            byte[] text = fs.readPath(cfg, MAX_CONFIG);
            if (text == null) continue;
            ConfigEntry e = GrubConfig.parse(new String(text, StandardCharsets.UTF_8));
            BootEntry b = e == null ? null : load(e, cfg);
            if (b != null) return b;
        }
        for (String dir : List.of("", "/boot")) {
            OptionalLong k = fs.lookup(dir + "/vmlinuz", true);
            if (k.isPresent() && fs.isRegular(k.getAsLong())) {
                OptionalLong i = fs.lookup(dir + "/initrd.img", true);
                List<String> initrds = i.isPresent() && fs.isRegular(i.getAsLong()) ? List.of(dir + "/initrd.img") : List.of();
                BootEntry b = load(new ConfigEntry(realName(dir + "/vmlinuz"), initrds.stream().map(this::realNameUnchecked).toList(), null), "symlink");
                if (b != null) return b;
            }
        }
        String newest = newestKernel();
        if (newest != null) {
            String initrd = "/boot/initrd.img-" + newest;
            OptionalLong i = fs.lookup(initrd, true);
            return load(new ConfigEntry("/boot/vmlinuz-" + newest, i.isPresent() && fs.isRegular(i.getAsLong()) ? List.of(initrd) : List.of(), null), "newest version");
        }
        return null;
    }

    /** Where a symlink points, for the message: /vmlinuz → boot/vmlinuz-6.1.0-18-amd64. */
    private String realName(String path) throws BootException {
        OptionalLong l = fs.lookup(path, false);
        if (l.isPresent() && fs.isSymlink(l.getAsLong())) {
            String t = fs.readlink(l.getAsLong());
            String dir = path.substring(0, path.lastIndexOf('/'));
            String resolved = t.startsWith("/") ? t : dir + "/" + t;
            if (fs.lookup(resolved, true).isPresent()) return resolved;
        }
        return path;
    }

    private String realNameUnchecked(String path) {
        try {
            return realName(path);
        } catch (BootException e) {
            return path;
        }
    }

    private String newestKernel() throws BootException {
        OptionalLong boot = fs.lookup("/boot", true);
        if (boot.isEmpty() || !fs.isDirectory(boot.getAsLong())) return null;
        String best = null;
        for (DirEntry e : fs.list(boot.getAsLong())) {
            if (!e.name().startsWith("vmlinuz-")) continue;
            String v = e.name().substring(8);
            if (!v.isEmpty() && (best == null || Versions.compare(v, best) > 0)) best = v;
        }
        return best;
    }

    /** The entry with its files read, or null when its kernel is missing (a bootloader would move on). */
    private BootEntry load(ConfigEntry e, String method) throws BootException {
        byte[] kernel = file(e.kernel());
        if (kernel == null) return null;
        byte[] initrd = null;
        String initrdPath = null;
        if (!e.initrds().isEmpty()) {
            ByteArrayOutputStream all = new ByteArrayOutputStream();
            for (String p : e.initrds()) {
                byte[] one = file(p);
                if (one == null) throw new BootException(method + ": initrd " + p + " not found on " + part.device());
                if (all.size() + (long) one.length > maxImage) throw new BootException(method + ": initrds larger than " + maxImage + " bytes");
                all.writeBytes(one);
            }
            initrd = all.toByteArray();
            initrdPath = String.join(",", e.initrds());
        }
        String cmdline = e.cmdline() != null ? e.cmdline() : defaultCmdline();
        return new BootEntry(kernel, initrd, cmdline, new BootEntry.Source(part.device(), fs.type(), method, e.kernel(), initrdPath));
    }

    /** A file by a config's path; a separate /boot partition names its files without the /boot prefix. */
    private byte[] file(String path) throws BootException {
        byte[] b = fs.readPath(path, maxImage);
        if (b == null && !path.startsWith("/boot/")) b = fs.readPath("/boot" + (path.startsWith("/") ? "" : "/") + path, maxImage);
        return b;
    }

    private String defaultCmdline() throws BootException {
        if (fs.uuid() != null) return "root=UUID=" + fs.uuid() + " ro";
        if (partUuid != null) return "root=PARTUUID=" + partUuid + " ro";
        return "root=" + part.device() + " ro";
    }

}
