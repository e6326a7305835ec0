package org.jvisor.boot;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Mutated GPT headers and entries, superblocks, group descriptors, inodes (their extent headers
 * and block maps) and directory blocks of a bootable disk: the search must end in a boot entry
 * or a BootException, never another exception, a hang, or an allocation the caps do not bound.
 */
class HostileDiskTest {
    static final int ITERATIONS = Integer.getInteger("jvisor.boot.fuzz", 20_000);

    @TempDir Path tmp;

    private record Region(String name, long from, long to) {}

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void mutatedMetadataGivesOnlyTheCleanError() throws Exception {
        for (String variant : new String[] {"ext4", "ext2"}) {
            fuzz(variant, ITERATIONS / 2);
        }
    }

    private void fuzz(String type, int iterations) throws Exception {
        Path root = Files.createDirectories(tmp.resolve("root-" + type));
        Random r = new Random(1);
        Files.createDirectories(root.resolve("boot/grub"));
        byte[] k = new byte[30_000];
        r.nextBytes(k);
        Files.write(root.resolve("boot/vmlinuz-6.1.0-18-amd64"), k);
        Files.write(root.resolve("boot/initrd.img-6.1.0-18-amd64"), new byte[5_000]);
        Files.writeString(root.resolve("boot/grub/grub.cfg"), DiskBootTest.GRUB_CFG);
        Files.createSymbolicLink(root.resolve("vmlinuz"), Path.of("boot/vmlinuz-6.1.0-18-amd64"));
        for (int i = 0; i < 40; i++) Files.writeString(root.resolve("boot/file-" + i), "x".repeat(i * 50));
        // 40 islands of data: an extent tree with index blocks on ext4, indirect blocks on ext2
        try (java.io.RandomAccessFile f = new java.io.RandomAccessFile(root.resolve("sparse").toFile(), "rw")) {
            for (int i = 0; i < 40; i++) {
                f.seek(i * 4096L);
                f.write(k, i, 10);
            }
        }
        Path fs = HostTools.mkfs(tmp.resolve("fs-" + type + ".img"), type, 2L << 20, root, "-b", "1024", "-N", "128");
        Path disk = HostTools.partitioned(tmp.resolve("disk-" + type + ".img"), 4L << 20, "label: gpt\nstart=2048, size=4096, type=L\n", 1, fs);
        byte[] bytes = Files.readAllBytes(disk);
        MemoryDisk d = new MemoryDisk(bytes);
        assertNotNull(DiskBoot.find(d));

        long fsOff = 2048L * 512;
        Ext4 ext = Ext4.open(new Volume(d, fsOff, 4096L * 512));
        List<Region> regions = new ArrayList<>();
        regions.add(new Region("GPT header", 512, 512 + 92));
        regions.add(new Region("GPT entries", 1024, 1024 + 512));
        regions.add(new Region("protective MBR", 446, 512));
        regions.add(new Region("superblock", fsOff + 1024, fsOff + 1024 + 256));
        regions.add(new Region("group descriptors", fsOff + 2048, fsOff + 2048 + 64));
        for (String p : new String[] {"/", "/boot", "/boot/grub", "/boot/grub/grub.cfg", "/boot/vmlinuz-6.1.0-18-amd64", "/vmlinuz", "/sparse"}) {
            long ino = ext.lookup(p, false).getAsLong();
            long inodeAt = inodeOffset(bytes, fsOff, ino);
            regions.add(new Region("inode " + p, inodeAt, inodeAt + 128));
            regions.add(new Region("i_block " + p, inodeAt + 0x28, inodeAt + 0x28 + 16));
            Ext4Inode in = ext.inode(ino);
            for (long meta : metadataBlocks(in)) regions.add(new Region("map block " + p, fsOff + meta * 1024, fsOff + meta * 1024 + 1024));
            if (in.isDirectory()) {
                for (BlockRun run : FileBlocks.map(ext, in, (in.size() + 1023) / 1024)) {
                    regions.add(new Region("directory " + p, fsOff + run.physical() * 1024, fsOff + (run.physical() + run.count()) * 1024));
                }
            }
        }
        assertTrue(regions.stream().anyMatch(x -> x.name().equals("map block /sparse")), "the sparse file has map blocks to mutate");
        long start = System.nanoTime();
        Random m = new Random(2);
        int clean = 0, booted = 0;
        long slowest = 0;
        String slowestRegion = "";
        for (int it = 0; it < iterations; it++) {
            Region g = regions.get(m.nextInt(regions.size()));
            int n = 1 + m.nextInt(6);
            int[] at = new int[n];
            byte[] old = new byte[n * 4];
            for (int j = 0; j < n; j++) {
                at[j] = (int) (g.from() + m.nextInt((int) Math.max(1, g.to() - g.from() - 4)));
                System.arraycopy(bytes, at[j], old, j * 4, 4);
                switch (m.nextInt(4)) {
                    case 0 -> bytes[at[j]] ^= (byte) (1 << m.nextInt(8));
                    case 1 -> bytes[at[j]] = (byte) m.nextInt();
                    case 2 -> { for (int b = 0; b < 4; b++) bytes[at[j] + b] = (byte) 0xff; }
                    default -> { int v = m.nextInt(1 << 16); bytes[at[j]] = (byte) v; bytes[at[j] + 1] = (byte) (v >> 8); }
                }
            }
            long t0 = System.nanoTime();
            try {
                // the boot search never reads /sparse; read it when its own metadata was mutated
                if (g.name().endsWith("/sparse")) {
                    try {
                        Ext4.open(new Volume(d, fsOff, 4096L * 512)).readPath("/sparse", 4 << 20);
                    } catch (BootException e) {
                        if (e.getCause() instanceof RuntimeException re) throw re;
                    }
                }
                DiskBoot.find(d);
                booted++;
            } catch (BootException e) {
                // DiskBoot wraps a RuntimeException as a last line of defence; here it is a parser bug
                if (e.getCause() instanceof RuntimeException re) fail(type + " iteration " + it + " mutating " + g.name() + ": " + re, re);
                clean++;
            } catch (Throwable t) {
                fail(type + " iteration " + it + " mutating " + g.name() + ": " + t, t);
            }
            long took = System.nanoTime() - t0;
            if (took > slowest) {
                slowest = took;
                slowestRegion = g.name();
            }
            for (int j = n - 1; j >= 0; j--) System.arraycopy(old, j * 4, bytes, at[j], 4);
        }
        long ms = (System.nanoTime() - start) / 1_000_000;
        System.out.printf("HostileDiskTest %s: %d mutations in %d ms, %d booted anyway, %d clean errors, slowest %d ms (%s)%n",
                type, iterations, ms, booted, clean, slowest / 1_000_000, slowestRegion);
        assertEquals(iterations, booted + clean);
    }

    /** The extent index children (ext4) or indirect blocks (ext2) named in an inode's i_block. */
    private static List<Long> metadataBlocks(Ext4Inode in) {
        List<Long> out = new ArrayList<>();
        byte[] b = in.iBlock();
        if (in.hasFlag(Ext4Inode.FL_EXTENTS)) {
            if (Le.u16(b, 6) > 0) for (int i = 0; i < Le.u16(b, 2); i++) out.add(Le.u32(b, 12 + 12 * i + 4));
        } else if (!in.isSymlink()) {
            for (int i = 12; i < 15; i++) if (Le.u32(b, 4 * i) != 0) out.add(Le.u32(b, 4 * i));
        }
        return out;
    }

    /** Where an inode lies, found from group 0's descriptor (every inode of this small image is in group 0). */
    private static long inodeOffset(byte[] b, long fsOff, long ino) {
        long table = Le.u32(b, (int) (fsOff + 2048 + 8));
        int inodeSize = Le.u16(b, (int) (fsOff + 1024 + 0x58));
        return fsOff + table * 1024 + (ino - 1) * inodeSize;
    }
}
