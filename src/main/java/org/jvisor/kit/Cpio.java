package org.jvisor.kit;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;

/** Writes a "newc" (SVR4, no CRC) cpio archive, the format the kernel unpacks as initramfs. */
public final class Cpio implements AutoCloseable {
    public static final int S_IFDIR = 0040000, S_IFREG = 0100000, S_IFLNK = 0120000, S_IFCHR = 0020000;

    private final OutputStream out;
    private long written;
    private int ino = 1;

    public Cpio(OutputStream out) {
        this.out = out;
    }

    public void dir(String name) throws IOException {
        entry(name, S_IFDIR | 0755, new byte[0], 0, 0);
    }

    public void file(String name, int perm, byte[] data) throws IOException {
        entry(name, S_IFREG | perm, data, 0, 0);
    }

    public void symlink(String name, String target) throws IOException {
        entry(name, S_IFLNK | 0777, target.getBytes(StandardCharsets.UTF_8), 0, 0);
    }

    public void charDevice(String name, int perm, int major, int minor) throws IOException {
        entry(name, S_IFCHR | perm, new byte[0], major, minor);
    }

    private void entry(String name, int mode, byte[] data, int rmajor, int rminor) throws IOException {
        byte[] n = name.getBytes(StandardCharsets.UTF_8);
        String hdr = String.format("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
                name.equals("TRAILER!!!") ? 0 : ino++, mode, 0, 0, (mode & S_IFDIR) == S_IFDIR ? 2 : 1, 0, data.length,
                0, 0, rmajor, rminor, n.length + 1, 0);
        write(hdr.getBytes(StandardCharsets.US_ASCII));
        write(n);
        write(new byte[] {0});
        pad();
        write(data);
        pad();
    }

    private void write(byte[] b) throws IOException {
        out.write(b);
        written += b.length;
    }

    private void pad() throws IOException {
        while ((written & 3) != 0) write(new byte[] {0});
    }

    /** Writes the trailer; the stream stays open. */
    public void finish() throws IOException {
        entry("TRAILER!!!", 0, new byte[0], 0, 0);
    }

    @Override
    public void close() throws IOException {
        out.close();
    }
}
