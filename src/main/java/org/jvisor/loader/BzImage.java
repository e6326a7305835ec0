package org.jvisor.loader;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.zip.GZIPInputStream;
import org.tukaani.xz.SingleXZInputStream;

/**
 * A Linux bzImage (x86 boot protocol 2.12 and later): the real-mode setup header and the
 * compressed vmlinux payload inside the protected-mode part. Every field is checked against the
 * file, and decompression is capped, because the file is user input.
 */
public final class BzImage {
    /** The decompressed kernel is refused beyond this size. */
    public static final int MAX_VMLINUX = 512 << 20;
    static final int HDR = 0x1F1;

    private final byte[] file;
    private final ByteBuffer b;
    public final int setupSects;
    public final int version;
    public final int loadFlags;
    public final int xloadFlags;
    public final long kernelAlignment;
    public final boolean relocatable;
    public final int cmdlineSize;
    public final long initrdAddrMax;
    public final long prefAddress;
    public final long initSize;
    private final int payloadOffset, payloadLength;

    private BzImage(byte[] file) throws KernelImageException {
        this.file = file;
        this.b = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN);
        if (file.length < 0x268) throw new KernelImageException("not a kernel: file too small (" + file.length + " bytes)");
        if ((b.getShort(0x1FE) & 0xFFFF) != 0xAA55 || b.getInt(0x202) != 0x53726448) {
            throw new KernelImageException("not a bzImage: no Linux boot header (HdrS)");
        }
        version = b.getShort(0x206) & 0xFFFF;
        if (version < 0x020C) {
            throw new KernelImageException(String.format("boot protocol %d.%02d is too old (2.12 or later needed)", version >> 8, version & 0xFF));
        }
        int ss = file[HDR] & 0xFF;
        setupSects = ss == 0 ? 4 : ss;
        loadFlags = file[0x211] & 0xFF;
        kernelAlignment = b.getInt(0x230) & 0xFFFFFFFFL;
        relocatable = file[0x234] != 0;
        xloadFlags = b.getShort(0x236) & 0xFFFF;
        cmdlineSize = b.getInt(0x238);
        initrdAddrMax = b.getInt(0x22C) & 0xFFFFFFFFL;
        payloadOffset = b.getInt(0x248);
        payloadLength = b.getInt(0x24C);
        prefAddress = b.getLong(0x258);
        initSize = b.getInt(0x260) & 0xFFFFFFFFL;
        if ((xloadFlags & 1) == 0) throw new KernelImageException("not a 64-bit kernel (no XLF_KERNEL_64)");
        long pm = protectedModeOffset();
        if (pm >= file.length) throw new KernelImageException("truncated bzImage: setup claims " + setupSects + " sectors");
        if (payloadOffset < 0 || payloadLength <= 4 || pm + payloadOffset + (long) payloadLength > file.length) {
            throw new KernelImageException("truncated bzImage: the compressed kernel extends past the end of the file");
        }
    }

    public static BzImage parse(byte[] file) throws KernelImageException {
        return new BzImage(file);
    }

    public long protectedModeOffset() {
        return (setupSects + 1L) * 512;
    }

    /** The setup header as the boot protocol copies it into the zero page (bytes 0x1F1..). */
    public byte[] setupHeader() {
        int end = 0x202 + (file[0x201] & 0xFF);
        byte[] h = new byte[Math.min(end, file.length) - HDR];
        System.arraycopy(file, HDR, h, 0, h.length);
        return h;
    }

    /** Decompresses the payload: the vmlinux ELF. XZ and gzip are supported (Debian uses XZ). */
    public byte[] vmlinux() throws KernelImageException {
        int at = (int) (protectedModeOffset() + payloadOffset);
        // The build appends the uncompressed size (little-endian) after the compressed data.
        long declared = b.getInt(at + payloadLength - 4) & 0xFFFFFFFFL;
        if (declared == 0 || declared > MAX_VMLINUX) {
            throw new KernelImageException("compressed kernel declares an implausible size of " + declared + " bytes");
        }
        InputStream raw = new ByteArrayInputStream(file, at, payloadLength - 4);
        try (InputStream in = decompressor(raw, at)) {
            byte[] out = new byte[(int) declared];
            int got = in.readNBytes(out, 0, out.length);
            if (got != declared) throw new KernelImageException("compressed kernel is truncated: " + got + " of " + declared + " bytes");
            return out;
        } catch (IOException e) {
            throw new KernelImageException("compressed kernel is damaged: " + e.getMessage(), e);
        }
    }

    private InputStream decompressor(InputStream raw, int at) throws IOException, KernelImageException {
        int m0 = file[at] & 0xFF, m1 = file[at + 1] & 0xFF;
        if (m0 == 0xFD && m1 == 0x37 && file[at + 2] == 0x7A && file[at + 3] == 0x58 && file[at + 4] == 0x5A) {
            return new SingleXZInputStream(raw, 64 << 10); // KiB: Debian uses a 32 MiB dictionary; refuse bigger demands
        }
        if (m0 == 0x1F && m1 == 0x8B) return new GZIPInputStream(raw, 1 << 16);
        throw new KernelImageException(String.format("kernel payload compressed with an unsupported method (magic %02x %02x); XZ and gzip are supported", m0, m1));
    }
}
