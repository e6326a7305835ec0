package org.jvisor.boot;

import java.util.ArrayList;
import java.util.List;
import java.util.zip.CRC32;

/** The primary GPT at LBA 1 (512-byte sectors), its header and entry-array CRCs checked. */
final class GptReader {
    static final int MAX_ENTRIES_BYTES = 1 << 20;

    private GptReader() {}

    /** The used entries, or null when there is no GPT signature at LBA 1. */
    static List<Partition> read(Volume v) throws BootException {
        byte[] h = v.read(512, 512);
        if (!new String(h, 0, 8, java.nio.charset.StandardCharsets.ISO_8859_1).equals("EFI PART")) return null;
        long headerSize = Le.u32(h, 12);
        if (headerSize < 92 || headerSize > 512) throw new BootException("GPT: header size " + headerSize + " is invalid");
        long crc = Le.u32(h, 16);
        byte[] copy = h.clone();
        copy[16] = copy[17] = copy[18] = copy[19] = 0;
        if (crc32(copy, (int) headerSize) != crc) throw new BootException("GPT: header CRC mismatch");
        long entriesLba = Le.u64(h, 72), count = Le.u32(h, 80), entrySize = Le.u32(h, 84);
        if (entrySize < 128 || entrySize > 4096 || entrySize % 8 != 0) throw new BootException("GPT: entry size " + entrySize + " is invalid");
        if (count * entrySize > MAX_ENTRIES_BYTES) throw new BootException("GPT: " + count + " entries is too many");
        if (entriesLba < 2 || entriesLba > v.length() / 512) throw new BootException("GPT: entry array at LBA " + entriesLba + " is outside the disk");
        byte[] entries = v.read(entriesLba * 512, (int) (count * entrySize));
        if (crc32(entries, entries.length) != Le.u32(h, 88)) throw new BootException("GPT: partition entry array CRC mismatch");
        long sectors = v.length() / 512;
        List<Partition> out = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            int e = (int) (i * entrySize);
            boolean unused = true;
            for (int k = 0; k < 16; k++) unused &= entries[e + k] == 0;
            if (unused) continue;
            long first = Le.u64(entries, e + 32), last = Le.u64(entries, e + 40);
            if (first < 1 || last < first || last >= sectors) throw new BootException("GPT: entry " + (i + 1) + " spans LBA " + first + ".." + last + ", outside the disk");
            out.add(new Partition(i + 1, first * 512, (last - first + 1) * 512, guid(entries, e + 16)));
        }
        return out;
    }

    private static long crc32(byte[] b, int len) {
        CRC32 c = new CRC32();
        c.update(b, 0, len);
        return c.getValue();
    }

    /** GUIDs store their first three fields little-endian, the last two as bytes. */
    static String guid(byte[] b, int o) {
        return String.format("%08x-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x", Le.u32(b, o), Le.u16(b, o + 4), Le.u16(b, o + 6),
                b[o + 8], b[o + 9], b[o + 10], b[o + 11], b[o + 12], b[o + 13], b[o + 14], b[o + 15]);
    }
}
