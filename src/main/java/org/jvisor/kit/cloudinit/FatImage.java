package org.jvisor.kit.cloudinit;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A FAT12 volume with files in its root directory, written whole into memory: the shape of a
 * cloud-init seed disk. Names longer than 8.3 get VFAT long-name entries (cloud-init's files
 * are "user-data", "meta-data", "network-config"). Clusters are sized so the volume stays FAT12
 * (fewer than 4,085 clusters), which is how every FAT driver tells the type.
 */
public final class FatImage {
    static final int SECTOR = 512, ROOT_ENTRIES = 224, RESERVED = 1, FATS = 2;
    static final int MAX_CLUSTERS = 4084;
    /** Large enough for any sensible seed; a bigger one is refused rather than silently made FAT16. */
    public static final long MAX_CONTENT = 32L << 20;
    // 2020-01-01 00:00: fixed, so the same files always give the same image.
    private static final int DATE = (2020 - 1980) << 9 | 1 << 5 | 1, TIME = 0;

    private final String label;
    private final Map<String, byte[]> files = new LinkedHashMap<>();

    /** {@code label}: up to 11 characters, upper case letters, digits, '-' and '_'. */
    public FatImage(String label) {
        if (!label.matches("[A-Z0-9_-]{1,11}")) throw new IllegalArgumentException("bad FAT volume label: " + label);
        this.label = label;
    }

    public FatImage add(String name, byte[] content) {
        if (!name.matches("[A-Za-z0-9._-]{1,64}") || name.startsWith(".")) throw new IllegalArgumentException("bad file name: " + name);
        if (files.containsKey(name)) throw new IllegalArgumentException("duplicate file name: " + name);
        files.put(name, content.clone());
        return this;
    }

    public byte[] toBytes() {
        long content = files.values().stream().mapToLong(b -> b.length).sum();
        if (content > MAX_CONTENT) throw new IllegalArgumentException("seed files too large: " + content + " bytes (at most " + MAX_CONTENT + ")");
        int rootSectors = ROOT_ENTRIES * 32 / SECTOR;
        // Smallest cluster that keeps the count FAT12-sized, with room for every file plus slack.
        int spc = 1;
        long neededClusters;
        for (;;) {
            long cluster = (long) spc * SECTOR;
            neededClusters = 16 + files.values().stream().mapToLong(b -> (b.length + cluster - 1) / cluster).sum();
            if (neededClusters <= MAX_CLUSTERS) break;
            spc *= 2;
        }
        int clusters = (int) Math.max(neededClusters, 1024 / spc); // at least 512 KiB of data, like a small floppy
        clusters = Math.min(clusters, MAX_CLUSTERS);
        int fatSectors = ((clusters + 2) * 3 / 2 + SECTOR - 1) / SECTOR;
        int dataStart = RESERVED + FATS * fatSectors + rootSectors;
        int total = dataStart + clusters * spc;
        ByteBuffer img = ByteBuffer.allocate(total * SECTOR).order(ByteOrder.LITTLE_ENDIAN);
        bootSector(img, spc, fatSectors, total);

        byte[] fat = new byte[fatSectors * SECTOR];
        setFat(fat, 0, 0xFF8);
        setFat(fat, 1, 0xFFF);
        ByteBuffer root = ByteBuffer.allocate(rootSectors * SECTOR).order(ByteOrder.LITTLE_ENDIAN);
        root.put(padded(label, 11)).put((byte) 0x08).put(new byte[10]).putShort((short) TIME).putShort((short) DATE)
                .putShort((short) 0).putInt(0); // the volume label entry
        int next = 2;
        Set<String> shortNames = new HashSet<>();
        for (Map.Entry<String, byte[]> f : files.entrySet()) {
            byte[] data = f.getValue();
            int n = (int) ((data.length + (long) spc * SECTOR - 1) / ((long) spc * SECTOR));
            int first = n == 0 ? 0 : next;
            for (int k = 0; k < n; k++) setFat(fat, next + k, k == n - 1 ? 0xFFF : next + k + 1);
            img.put((dataStart + (next - 2) * spc) * SECTOR, data);
            next += n;
            byte[] shortName = shortName(f.getKey(), shortNames);
            if (!isPlainShortName(f.getKey())) longNameEntries(root, f.getKey(), checksum(shortName));
            root.put(shortName).put((byte) 0x20).put((byte) 0).put((byte) 0).putShort((short) TIME).putShort((short) DATE)
                    .putShort((short) DATE).putShort((short) 0).putShort((short) TIME).putShort((short) DATE)
                    .putShort((short) first).putInt(data.length);
        }
        for (int i = 0; i < FATS; i++) img.put((RESERVED + i * fatSectors) * SECTOR, fat);
        img.put((RESERVED + FATS * fatSectors) * SECTOR, root.array());
        return img.array();
    }

    private void bootSector(ByteBuffer b, int spc, int fatSectors, int total) {
        b.put(0, new byte[] {(byte) 0xEB, 0x3C, (byte) 0x90});
        b.put(3, "JVISOR  ".getBytes(StandardCharsets.US_ASCII));
        b.putShort(11, (short) SECTOR).put(13, (byte) spc).putShort(14, (short) RESERVED).put(16, (byte) FATS)
                .putShort(17, (short) ROOT_ENTRIES).putShort(19, (short) (total < 65536 ? total : 0)).put(21, (byte) 0xF8)
                .putShort(22, (short) fatSectors).putShort(24, (short) 32).putShort(26, (short) 2).putInt(28, 0)
                .putInt(32, total < 65536 ? 0 : total);
        b.put(36, (byte) 0x80).put(38, (byte) 0x29).putInt(39, label.hashCode() ^ files.keySet().hashCode());
        b.put(43, padded(label, 11)).put(54, "FAT12   ".getBytes(StandardCharsets.US_ASCII));
        b.put(510, (byte) 0x55).put(511, (byte) 0xAA);
    }

    static void setFat(byte[] fat, int n, int v) {
        int off = n * 3 / 2;
        if ((n & 1) == 0) {
            fat[off] = (byte) v;
            fat[off + 1] = (byte) ((fat[off + 1] & 0xF0) | (v >> 8 & 0x0F));
        } else {
            fat[off] = (byte) ((fat[off] & 0x0F) | (v << 4 & 0xF0));
            fat[off + 1] = (byte) (v >> 4);
        }
    }

    private static boolean isPlainShortName(String name) {
        return name.matches("[A-Z0-9_-]{1,8}(\\.[A-Z0-9_-]{1,3})?");
    }

    /** An 8.3 name: the name itself when it fits, else the usual BASE~N form, unique in the directory. */
    static byte[] shortName(String name, Set<String> taken) {
        String upper = name.toUpperCase();
        if (isPlainShortName(upper) && upper.equals(name)) {
            int dot = upper.indexOf('.');
            String s = dot < 0 ? padded8(upper) + "   " : padded8(upper.substring(0, dot)) + pad(upper.substring(dot + 1), 3);
            taken.add(s);
            return s.getBytes(StandardCharsets.US_ASCII);
        }
        int dot = upper.lastIndexOf('.');
        String base = (dot > 0 ? upper.substring(0, dot) : upper).replaceAll("[^A-Z0-9_-]", "");
        String ext = dot > 0 ? upper.substring(dot + 1).replaceAll("[^A-Z0-9_-]", "") : "";
        ext = ext.length() > 3 ? ext.substring(0, 3) : ext;
        for (int i = 1; ; i++) {
            String tail = "~" + i;
            String b = base.length() > 8 - tail.length() ? base.substring(0, 8 - tail.length()) : base;
            String s = padded8(b + tail) + pad(ext, 3);
            if (taken.add(s)) return s.getBytes(StandardCharsets.US_ASCII);
        }
    }

    static int checksum(byte[] shortName) {
        int sum = 0;
        for (byte c : shortName) sum = (((sum & 1) << 7) + ((sum & 0xFF) >> 1) + (c & 0xFF)) & 0xFF;
        return sum;
    }

    /** The long name in 13-character pieces, last piece first, as VFAT stores them before the short entry. */
    private static void longNameEntries(ByteBuffer dir, String name, int checksum) {
        int pieces = (name.length() + 12) / 13;
        List<byte[]> entries = new ArrayList<>();
        for (int p = 0; p < pieces; p++) {
            ByteBuffer e = ByteBuffer.allocate(32).order(ByteOrder.LITTLE_ENDIAN);
            e.put(0, (byte) ((p + 1) | (p == pieces - 1 ? 0x40 : 0)));
            e.put(11, (byte) 0x0F).put(12, (byte) 0).put(13, (byte) checksum).putShort(26, (short) 0);
            int[] slots = {1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30};
            for (int k = 0; k < 13; k++) {
                int i = p * 13 + k;
                int ch = i < name.length() ? name.charAt(i) : i == name.length() ? 0 : 0xFFFF;
                e.putShort(slots[k], (short) ch);
            }
            entries.add(e.array());
        }
        for (int p = pieces - 1; p >= 0; p--) dir.put(entries.get(p));
    }

    private static String padded8(String s) {
        return pad(s, 8);
    }

    private static String pad(String s, int n) {
        return (s + " ".repeat(n)).substring(0, n);
    }

    private static byte[] padded(String s, int n) {
        return pad(s, n).getBytes(StandardCharsets.US_ASCII);
    }
}
