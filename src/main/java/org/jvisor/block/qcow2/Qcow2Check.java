package org.jvisor.block.qcow2;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import org.jvisor.block.BlockException;

/**
 * Consistency check as qemu-img check does it: count every reference to every host cluster
 * (header, L1, L2 and data clusters, refcount table and blocks, snapshot tables) and compare
 * with the stored refcounts. A stored count below the references is a corruption; above, a
 * leak. Also flags entries that point outside the file or are unaligned, and wrong COPIED flags.
 */
public final class Qcow2Check {
    /** Exit codes as qemu-img check's: 0 clean, 2 corruptions, 3 leaks only. */
    public record Result(int corruptions, int leaks, List<String> messages, long imageEnd, int repairedLeaks) {
        public int exitCode() {
            return corruptions > 0 ? 2 : leaks > 0 ? 3 : 0;
        }
    }

    private Qcow2Check() {}

    public static Result check(Qcow2Image img, boolean repairLeaks) throws BlockException {
        long cs = img.cs;
        int cb = img.cb;
        long fileEnd = img.fileEnd();
        long clusters = (fileEnd + cs - 1) >>> cb;
        // Bounded by the file's real size: one counter per existing cluster.
        int[] refs = new int[(int) Math.min(clusters + 1, Integer.MAX_VALUE - 8)];
        List<String> msgs = new ArrayList<>();
        int[] corrupt = {0};
        Qcow2Header h = img.h;

        Counter count = (off, what) -> {
            long c = off >>> cb;
            if (off < 0 || c >= refs.length) {
                note(msgs, "ERROR %s offset=%x beyond the end of the image", what, off);
                corrupt[0]++;
                return false;
            }
            refs[(int) c]++;
            return true;
        };
        count.add(0, "header");
        countRange(count, h.l1TableOffset, h.l1Size * 8L, cs, "L1 table");
        countRange(count, h.refcountTableOffset, h.refcountTableClusters * cs, cs, "refcount table");
        long[] rt = img.refTable();
        for (long e : rt) {
            long off = e & Qcow2Image.OFFSET_MASK;
            if (off == 0) continue;
            if ((off & (cs - 1)) != 0) {
                note(msgs, "ERROR refcount block offset %x unaligned", off);
                corrupt[0]++;
                continue;
            }
            count.add(off, "refcount block");
        }
        List<long[]> l2Checks = new ArrayList<>();
        java.util.Set<Long> walked = new java.util.HashSet<>();
        walkL1(img, img.l1(), count, msgs, corrupt, true, l2Checks, walked);
        walkSnapshots(img, count, msgs, corrupt, walked);

        int leaks = 0, repaired = 0;
        // Compare stored and expected counts: every cluster of the file, and every cluster a (distinct)
        // refcount block covers; work stays proportional to the file's real size.
        int bits = img.refsPerBlockBits();
        java.util.HashSet<Long> seenBlocks = new java.util.HashSet<>();
        java.util.TreeSet<Long> ranges = new java.util.TreeSet<>();
        for (int bi = 0; bi < rt.length; bi++) {
            long off = rt[bi] & Qcow2Image.OFFSET_MASK;
            if (off != 0 && (off & (cs - 1)) == 0 && seenBlocks.add(off)) ranges.add((long) bi);
        }
        long fileBlocks = ((long) refs.length + (1L << bits) - 1) >>> bits;
        for (long bi = 0; bi < fileBlocks; bi++) ranges.add(bi);
        outer:
        for (long bi : ranges) {
            byte[] block;
            try {
                block = img.refBlockAt(bi);
            } catch (BlockException e) {
                note(msgs, "ERROR reading refcount block " + bi + ": " + e.getMessage());
                corrupt[0]++;
                continue;
            }
            for (int i = 0; i < 1 << bits; i++) {
                long c = (bi << bits) + i;
                long expected = c < refs.length ? refs[(int) c] : 0;
                long stored = block == null ? 0 : img.refEntry(block, i);
                if (stored == expected) continue;
                if (stored < expected) {
                    note(msgs, "ERROR cluster %d refcount=%d reference=%d", c, stored, expected);
                    corrupt[0]++;
                } else {
                    note(msgs, "Leaked cluster %d refcount=%d reference=%d", c, stored, expected);
                    leaks++;
                    if (repairLeaks && !img.readOnly()) {
                        img.setRefcount(c, expected);
                        repaired++;
                    }
                }
                if (corrupt[0] + leaks > 100_000_000) break outer;
            }
        }
        // COPIED must be set exactly on clusters with refcount 1.
        for (long[] l : l2Checks) {
            long off = l[0];
            boolean copied = l[1] != 0;
            long rc = img.refcount(off >>> cb);
            if (copied != (rc == 1)) {
                note(msgs, "ERROR OFLAG_COPIED %s: offset=%x refcount=%d", l[2] == 0 ? "L2 cluster" : "data cluster", off, rc);
                corrupt[0]++;
            }
        }
        return new Result(corrupt[0], leaks - repaired, msgs, fileEnd, repaired);
    }

    /** Keeps the report bounded however broken the image. */
    private static void note(List<String> msgs, String m) {
        if (msgs.size() < 1000) msgs.add(m);
    }

    /** Formats only what is kept: a badly broken image can have millions of errors. */
    private static void note(List<String> msgs, String format, Object... args) {
        if (msgs.size() < 1000) msgs.add(String.format(format, args));
    }

    @FunctionalInterface
    private interface Counter {
        boolean add(long off, String what);
    }

    private static void countRange(Counter count, long off, long len, long cs, String what) {
        for (long o = off & -cs; o < off + len; o += cs) count.add(o, what);
    }

    /**
     * Counts the L2 tables an L1 table references, and the clusters of each L2 table the first time
     * it is seen: an L2 table shared by several L1 tables (snapshots) holds one reference to its data.
     */
    private static void walkL1(Qcow2Image img, long[] l1, Counter count, List<String> msgs, int[] corrupt,
                               boolean active, List<long[]> copiedChecks, java.util.Set<Long> walked) throws BlockException {
        long cs = img.cs;
        for (long e1 : l1) {
            long l2off = e1 & Qcow2Image.OFFSET_MASK;
            if (l2off == 0) continue;
            if ((l2off & (cs - 1)) != 0) {
                note(msgs, "ERROR L2 table offset %x unaligned", l2off);
                corrupt[0]++;
                continue;
            }
            if (!count.add(l2off, "L2 table")) continue;
            if (active) copiedChecks.add(new long[] {l2off, e1 & Qcow2Image.COPIED, 0});
            if (!walked.add(l2off)) continue;
            ByteBuffer b = ByteBuffer.allocate((int) cs);
            Qcow2Image.readFully(img.channel(), b, l2off, img.path());
            b.flip();
            for (int i = 0; i < cs / 8; i++) {
                long e = b.getLong(i * 8);
                if ((e & Qcow2Image.COMPRESSED) != 0) {
                    long end = img.compressedEnd(e);
                    for (long c = img.compressedOffset(e) >>> img.cb; c <= (end - 1) >>> img.cb; c++) {
                        count.add(c << img.cb, "compressed cluster");
                    }
                    continue;
                }
                long off = e & Qcow2Image.OFFSET_MASK;
                if (off == 0) continue;
                if ((off & (cs - 1)) != 0) {
                    note(msgs, "ERROR data cluster offset %x unaligned", off);
                    corrupt[0]++;
                    continue;
                }
                if (count.add(off, "data cluster") && active) copiedChecks.add(new long[] {off, e & Qcow2Image.COPIED, 1});
            }
        }
    }

    private static void walkSnapshots(Qcow2Image img, Counter count, List<String> msgs, int[] corrupt,
                                      java.util.Set<Long> walked) throws BlockException {
        Qcow2Header h = img.h;
        if (h.nbSnapshots == 0) return;
        long at = h.snapshotsOffset;
        long fileEnd = img.fileEnd();
        long l1Budget = fileEnd; // every snapshot's L1 table occupies its own space in the file
        for (int s = 0; s < h.nbSnapshots; s++) {
            ByteBuffer sh = ByteBuffer.allocate(40);
            Qcow2Image.readFully(img.channel(), sh, at, img.path());
            long l1off = sh.getLong(0);
            int l1size = sh.getInt(8);
            int idLen = sh.getShort(12) & 0xFFFF, nameLen = sh.getShort(14) & 0xFFFF;
            int extra = sh.getInt(36);
            if (l1size < 0 || l1off < 0 || l1off + l1size * 8L > fileEnd || extra < 0 || extra > 1 << 16) {
                note(msgs, "ERROR snapshot " + s + " table entry invalid");
                corrupt[0]++;
                return;
            }
            l1Budget -= l1size * 8L;
            if (l1Budget < 0) {
                note(msgs, "ERROR snapshot L1 tables add up to more than the file");
                corrupt[0]++;
                return;
            }
            countRange(count, l1off, l1size * 8L, img.cs, "snapshot L1 table");
            ByteBuffer t = ByteBuffer.allocate(l1size * 8);
            Qcow2Image.readFully(img.channel(), t, l1off, img.path());
            long[] l1 = new long[l1size];
            t.flip().asLongBuffer().get(l1);
            walkL1(img, l1, count, msgs, corrupt, false, new ArrayList<>(), walked);
            long len = 40L + extra + idLen + nameLen;
            at += (len + 7) & ~7L;
        }
        countRange(count, h.snapshotsOffset, at - h.snapshotsOffset, img.cs, "snapshot table");
    }
}
