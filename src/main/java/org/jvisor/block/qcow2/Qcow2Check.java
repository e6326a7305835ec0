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
                msgs.add(String.format("ERROR %s offset=%x beyond the end of the image", what, off));
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
                msgs.add(String.format("ERROR refcount block offset %x unaligned", off));
                corrupt[0]++;
                continue;
            }
            count.add(off, "refcount block");
        }
        List<long[]> l2Checks = new ArrayList<>();
        walkL1(img, img.l1(), count, msgs, corrupt, true, l2Checks);
        walkSnapshots(img, count, msgs, corrupt);

        int leaks = 0, repaired = 0;
        long maxCluster = Math.max(refs.length, (long) rt.length << img.refsPerBlockBits());
        for (long c = 0; c < maxCluster; c++) {
            long expected = c < refs.length ? refs[(int) c] : 0;
            long stored;
            try {
                stored = img.refcount(c);
            } catch (BlockException e) {
                msgs.add("ERROR reading refcount of cluster " + c + ": " + e.getMessage());
                corrupt[0]++;
                break;
            }
            if (stored == expected) continue;
            if (c >= refs.length && stored > 0 && c << cb >= fileEnd) {
                // Counted clusters past the end of the file: a leak (a crash after allocation).
            }
            if (stored < expected) {
                msgs.add(String.format("ERROR cluster %d refcount=%d reference=%d", c, stored, expected));
                corrupt[0]++;
            } else {
                msgs.add(String.format("Leaked cluster %d refcount=%d reference=%d", c, stored, expected));
                leaks++;
                if (repairLeaks && !img.readOnly()) {
                    img.setRefcount(c, expected);
                    repaired++;
                }
            }
        }
        // COPIED must be set exactly on clusters with refcount 1.
        for (long[] l : l2Checks) {
            long off = l[0];
            boolean copied = l[1] != 0;
            long rc = img.refcount(off >>> cb);
            if (copied != (rc == 1)) {
                msgs.add(String.format("ERROR OFLAG_COPIED %s: offset=%x refcount=%d", l[2] == 0 ? "L2 cluster" : "data cluster", off, rc));
                corrupt[0]++;
            }
        }
        return new Result(corrupt[0], leaks - repaired, msgs, fileEnd, repaired);
    }

    @FunctionalInterface
    private interface Counter {
        boolean add(long off, String what);
    }

    private static void countRange(Counter count, long off, long len, long cs, String what) {
        for (long o = off & -cs; o < off + len; o += cs) count.add(o, what);
    }

    private static void walkL1(Qcow2Image img, long[] l1, Counter count, List<String> msgs, int[] corrupt,
                               boolean active, List<long[]> copiedChecks) throws BlockException {
        long cs = img.cs;
        for (long e1 : l1) {
            long l2off = e1 & Qcow2Image.OFFSET_MASK;
            if (l2off == 0) continue;
            if ((l2off & (cs - 1)) != 0) {
                msgs.add(String.format("ERROR L2 table offset %x unaligned", l2off));
                corrupt[0]++;
                continue;
            }
            if (!count.add(l2off, "L2 table")) continue;
            if (active) copiedChecks.add(new long[] {l2off, e1 & Qcow2Image.COPIED, 0});
            ByteBuffer b = ByteBuffer.allocate((int) cs);
            Qcow2Image.readFully(img.channel(), b, l2off, img.path());
            b.flip();
            int x = 62 - (img.cb - 8);
            for (int i = 0; i < cs / 8; i++) {
                long e = b.getLong(i * 8);
                if ((e & Qcow2Image.COMPRESSED) != 0) {
                    long host = e & ((1L << x) - 1);
                    long sectors = ((e & ~Qcow2Image.COMPRESSED & ~Qcow2Image.COPIED) >>> x) + 1;
                    long end = (host & ~511L) + sectors * 512;
                    for (long c = host >>> img.cb; c <= (end - 1) >>> img.cb; c++) count.add(c << img.cb, "compressed cluster");
                    continue;
                }
                long off = e & Qcow2Image.OFFSET_MASK;
                if (off == 0) continue;
                if ((off & (cs - 1)) != 0) {
                    msgs.add(String.format("ERROR data cluster offset %x unaligned", off));
                    corrupt[0]++;
                    continue;
                }
                if (count.add(off, "data cluster") && active) copiedChecks.add(new long[] {off, e & Qcow2Image.COPIED, 1});
            }
        }
    }

    private static void walkSnapshots(Qcow2Image img, Counter count, List<String> msgs, int[] corrupt) throws BlockException {
        Qcow2Header h = img.h;
        if (h.nbSnapshots == 0) return;
        long at = h.snapshotsOffset;
        long fileEnd = img.fileEnd();
        for (int s = 0; s < h.nbSnapshots; s++) {
            ByteBuffer sh = ByteBuffer.allocate(40);
            Qcow2Image.readFully(img.channel(), sh, at, img.path());
            long l1off = sh.getLong(0);
            int l1size = sh.getInt(8);
            int idLen = sh.getShort(12) & 0xFFFF, nameLen = sh.getShort(14) & 0xFFFF;
            int extra = sh.getInt(36);
            if (l1size < 0 || l1off < 0 || l1off + l1size * 8L > fileEnd || extra < 0 || extra > 1 << 16) {
                msgs.add("ERROR snapshot " + s + " table entry invalid");
                corrupt[0]++;
                return;
            }
            countRange(count, l1off, l1size * 8L, img.cs, "snapshot L1 table");
            ByteBuffer t = ByteBuffer.allocate(l1size * 8);
            Qcow2Image.readFully(img.channel(), t, l1off, img.path());
            long[] l1 = new long[l1size];
            t.flip().asLongBuffer().get(l1);
            walkL1(img, l1, count, msgs, corrupt, false, new ArrayList<>());
            long len = 40L + extra + idLen + nameLen;
            at += (len + 7) & ~7L;
        }
        countRange(count, h.snapshotsOffset, at - h.snapshotsOffset, img.cs, "snapshot table");
    }
}
