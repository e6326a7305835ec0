package org.jvisor.boot;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/** MBR primaries and the EBR chain of an extended partition. */
final class MbrReader {
    static final int MAX_LOGICAL = 128;

    private MbrReader() {}

    /** The partitions, or null when sector 0 is no MBR (no signature, or entries that cannot be one). */
    static List<Partition> read(Volume v) throws BootException {
        byte[] s = v.read(0, 512);
        if (Le.u8(s, 510) != 0x55 || Le.u8(s, 511) != 0xAA) return null;
        String sig = String.format("%08x", Le.u32(s, 440));
        long sectors = v.length() / 512;
        List<Partition> out = new ArrayList<>();
        long extended = -1, extendedLen = 0;
        for (int i = 0; i < 4; i++) {
            int e = 446 + 16 * i;
            int status = Le.u8(s, e), type = Le.u8(s, e + 4);
            long lba = Le.u32(s, e + 8), count = Le.u32(s, e + 12);
            // A boot sector of a filesystem (FAT, or a bootloader's) carries 0x55AA too; its
            // "entries" are code, so a non-0/0x80 status means it is no partition table.
            if (status != 0 && status != 0x80) return null;
            if (type == 0 || count == 0) continue;
            if (type == 0xEE) return null;
            if (isExtended(type)) {
                if (extended < 0) {
                    extended = lba;
                    extendedLen = count;
                }
                continue;
            }
            if (lba + count <= sectors && lba > 0) out.add(new Partition(i + 1, lba * 512, count * 512, sig + "-" + String.format("%02d", i + 1)));
        }
        if (extended > 0) logical(v, s, extended, extendedLen, sig, out);
        return out;
    }

    private static boolean isExtended(int type) {
        return type == 0x05 || type == 0x0F || type == 0x85;
    }

    private static void logical(Volume v, byte[] mbr, long base, long baseLen, String sig, List<Partition> out) throws BootException {
        long sectors = v.length() / 512;
        Set<Long> seen = new HashSet<>();
        long ebr = base;
        int number = 5;
        while (ebr > 0 && ebr < sectors && number < 5 + MAX_LOGICAL) {
            if (!seen.add(ebr)) throw new BootException("MBR: the extended partition's EBR chain loops at sector " + ebr);
            byte[] s = v.read(ebr * 512, 512);
            if (Le.u8(s, 510) != 0x55 || Le.u8(s, 511) != 0xAA) throw new BootException("MBR: EBR at sector " + ebr + " has no signature");
            int type = Le.u8(s, 446 + 4);
            long start = ebr + Le.u32(s, 446 + 8), count = Le.u32(s, 446 + 12);
            if (type != 0 && count > 0 && start + count <= sectors) {
                out.add(new Partition(number, start * 512, count * 512, sig + "-" + String.format("%02d", number)));
            }
            number++;
            long next = Le.u32(s, 446 + 16 + 8);
            if (Le.u8(s, 446 + 16 + 4) == 0 || next == 0) break;
            if (next >= baseLen) throw new BootException("MBR: EBR link at sector " + ebr + " points outside the extended partition");
            ebr = base + next;
        }
    }
}
