package org.jvisor.boot;

/**
 * What to boot: the kernel image, the initrd (null when there is none), the command line, and
 * where they were found.
 */
public record BootEntry(byte[] kernel, byte[] initrd, String cmdline, Source source) {
    /**
     * device: the guest's name for the partition (/dev/vda1); fsType: ext2/ext3/ext4; method:
     * what named the kernel (extlinux.conf path, grub.cfg path, "symlink", "newest version");
     * kernelPath and initrdPath (null without an initrd) as found in the filesystem.
     */
    public record Source(String device, String fsType, String method, String kernelPath, String initrdPath) {}

    /** One line for the console, e.g. "booting vmlinuz-6.1.0-18-amd64 from /dev/vda1 (ext4)". */
    public String describe() {
        String k = source.kernelPath();
        return "booting " + k.substring(k.lastIndexOf('/') + 1) + " from " + source.device() + " (" + source.fsType() + ", " + source.method() + ")";
    }
}
