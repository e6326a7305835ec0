package org.jvisor.boot;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.OptionalLong;
import java.util.Random;
import java.util.Set;
import java.util.stream.Stream;
import org.jvisor.block.DiskImage;
import org.jvisor.block.Images;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Images built by the host's mke2fs -d, read back byte-exact against the directory they came from. */
class Ext4ReaderTest {
    @TempDir static Path tmp;
    static Path tree;

    @BeforeAll
    static void buildTree() throws IOException {
        tree = tmp.resolve("tree");
        Random r = new Random(42);
        Files.createDirectories(tree.resolve("boot"));
        int[] sizes = {0, 1, 59, 60, 61, 1023, 1024, 1025, 4096, 12 * 1024, 13 * 1024, 300_000, 3_000_000};
        for (int s : sizes) {
            byte[] b = new byte[s];
            r.nextBytes(b);
            Files.write(tree.resolve("f" + s), b);
        }
        Path deep = tree;
        for (int i = 0; i < 30; i++) deep = deep.resolve("d" + i);
        Files.createDirectories(deep);
        Files.writeString(deep.resolve("leaf.txt"), "at the bottom\n");
        Files.createSymbolicLink(tree.resolve("rel"), Path.of("d0/d1/../d1/d2"));
        Files.createSymbolicLink(tree.resolve("abs"), Path.of("/f4096"));
        Files.createSymbolicLink(tree.resolve("chain"), Path.of("rel"));
        Files.createSymbolicLink(tree.resolve("loop1"), Path.of("loop2"));
        Files.createSymbolicLink(tree.resolve("loop2"), Path.of("loop1"));
        String longTarget = "d0/" + "./".repeat(40) + "d1/d2/d3";
        Files.createSymbolicLink(tree.resolve("slow"), Path.of(longTarget));
        Path many = Files.createDirectories(tree.resolve("many"));
        for (int i = 0; i < 2000; i++) Files.writeString(many.resolve("entry-with-a-long-name-" + i), Integer.toString(i));
    }

    @ParameterizedTest
    @ValueSource(strings = {"ext4", "ext4 -b 1024", "ext4 -O ^64bit", "ext4 -O ^extent,^64bit -b 1024", "ext4 -O ^64bit,^flex_bg -I 128",
            "ext4 -I 1024", "ext3", "ext2", "ext2 -b 4096", "ext4 -O inline_data"})
    void readsEveryFileByteExact(String variant) throws Exception {
        String[] parts = variant.split(" ");
        String[] opts = java.util.Arrays.copyOfRange(parts, 1, parts.length);
        Path img = HostTools.mkfs(tmp.resolve("fs.img"), parts[0], 48L << 20, tree, opts);
        HostTools.feed(null, "e2fsck", "-fyD", img.toString());
        try (DiskImage disk = Images.open(img, "raw", true)) {
            Ext4 fs = Ext4.open(Volume.whole(disk));
            assertEquals(parts[0].equals("ext4") ? "ext4" : parts[0], fs.type());
            assertTrue(fs.uuid().matches("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"));
            compareTree(fs);
            assertEquals("at the bottom\n", new String(fs.readPath("/rel/d3/d4/d5/d6/d7/d8/d9/d10/d11/d12/d13/d14/d15/d16/d17/d18/d19/d20/d21/d22/d23/d24/d25/d26/d27/d28/d29/leaf.txt", 100)));
            assertArrayEquals(Files.readAllBytes(tree.resolve("f4096")), fs.readPath("/chain/../../../abs", 1 << 20));
            assertEquals(fs.lookup("/d0/d1/d2/d3").getAsLong(), fs.lookup("/slow").getAsLong());
            BootException loop = org.junit.jupiter.api.Assertions.assertThrows(BootException.class, () -> fs.lookup("/loop1"));
            assertTrue(loop.getMessage().contains("symlinks"), loop.getMessage());
            assertTrue(fs.lookup("/loop1", false).isPresent());
            assertTrue(fs.lookup("/nope/x").isEmpty());
            assertTrue(fs.lookup("/f1/x").isEmpty());
            long many = fs.lookup("/many").getAsLong();
            assertEquals(2002, fs.list(many).size());
            if (!variant.startsWith("ext2")) assertTrue(fs.inode(many).hasFlag(0x1000), "e2fsck -D made /many an htree");
        }
    }

    private static void compareTree(Ext4 fs) throws IOException {
        Set<String> seen = new HashSet<>();
        try (Stream<Path> all = Files.walk(tree)) {
            for (Path p : (Iterable<Path>) all::iterator) {
                String rel = "/" + tree.relativize(p).toString();
                if (Files.isSymbolicLink(p)) {
                    OptionalLong l = fs.lookup(rel, false);
                    assertEquals(Files.readSymbolicLink(p).toString(), fs.readlink(l.getAsLong()), rel);
                } else if (Files.isRegularFile(p)) {
                    assertArrayEquals(Files.readAllBytes(p), fs.readPath(rel, 1 << 30), rel);
                    seen.add(rel);
                } else {
                    assertTrue(fs.isDirectory(fs.lookup(rel).getAsLong()), rel);
                }
            }
        }
        assertTrue(seen.size() > 2000);
    }

    @ParameterizedTest
    @ValueSource(strings = {"ext4", "ext4 -b 1024", "ext2 -b 1024"})
    void readsABigSparseFile(String variant) throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("sparse"));
        Path big = dir.resolve("big");
        long size = 130L << 20;
        byte[] chunk = new byte[70_000];
        new Random(7).nextBytes(chunk);
        try (RandomAccessFile f = new RandomAccessFile(big.toFile(), "rw")) {
            f.setLength(size);
            for (long at : new long[] {0, 5 << 20, 67L << 20, 70L << 20, size - chunk.length}) {
                f.seek(at);
                f.write(chunk);
            }
            // islands of data every 256 KiB: 520 extents, past what one level of index holds with 1 KiB blocks
            for (long at = 100 << 20 >> 2; at < size - (1 << 20); at += 256 << 10) {
                f.seek(at);
                f.write(chunk, (int) (at % 1000), 100);
            }
        }
        String[] parts = variant.split(" ");
        Path img = HostTools.mkfs(tmp.resolve("sparse.img"), parts[0], 16L << 20, dir, java.util.Arrays.copyOfRange(parts, 1, parts.length));
        try (DiskImage disk = Images.open(img, "raw", true)) {
            Ext4 fs = Ext4.open(Volume.whole(disk));
            byte[] got = fs.readPath("/big", 1L << 30);
            Ext4Inode in = fs.inode(fs.lookup("/big").getAsLong());
            if (parts[0].equals("ext4")) assertTrue(Le.u16(in.iBlock(), 6) >= (variant.contains("1024") ? 2 : 1), "extent tree depth " + Le.u16(in.iBlock(), 6));
            assertEquals(-1, java.util.Arrays.mismatch(Files.readAllBytes(big), got));
            BootException tooBig = org.junit.jupiter.api.Assertions.assertThrows(BootException.class, () -> fs.readPath("/big", 1 << 20));
            assertTrue(tooBig.getMessage().contains("over the limit"), tooBig.getMessage());
        }
    }

    @Test
    void refusesUnreadableFeatures() throws Exception {
        Path img = HostTools.mkfs(tmp.resolve("meta.img"), "ext4", 8L << 20, tree.resolve("boot"), "-O", "meta_bg,^resize_inode");
        try (DiskImage disk = Images.open(img, "raw", true)) {
            BootException e = org.junit.jupiter.api.Assertions.assertThrows(BootException.class, () -> Ext4.open(Volume.whole(disk)));
            assertTrue(e.getMessage().contains("meta_bg"), e.getMessage());
        }
    }
}
