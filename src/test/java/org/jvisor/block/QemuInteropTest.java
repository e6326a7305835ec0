package org.jvisor.block;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.SplittableRandom;
import org.jvisor.block.qcow2.Qcow2Check;
import org.jvisor.block.qcow2.Qcow2Image;
import org.jvisor.block.raw.RawImage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Images jvisor writes pass qemu-img check/compare; images qemu-img makes read back byte-exact. */
class QemuInteropTest {
    static final long SIZE = 8 << 20;

    @TempDir
    Path dir;

    /** A raw disk with scattered random data, zero runs and holes. */
    static byte[] pattern(long seed, int size) {
        SplittableRandom r = new SplittableRandom(seed);
        byte[] d = new byte[size];
        for (int n = 0; n < 60; n++) {
            int len = 1 + r.nextInt(200_000);
            int off = r.nextInt(size - len);
            if (n % 3 == 0) {
                for (int i = 0; i < len; i++) d[off + i] = (byte) (i / 64); // compressible
            } else {
                byte[] x = new byte[len];
                r.nextBytes(x);
                System.arraycopy(x, 0, d, off, len);
            }
        }
        return d;
    }

    static byte[] readAll(DiskImage img) throws BlockException {
        ByteBuffer b = ByteBuffer.allocate((int) img.size());
        img.read(0, b);
        return b.array();
    }

    /** Applies the same random operations to a jvisor image and a raw model. */
    static void randomOps(DiskImage img, DiskImage model, long seed, int ops) throws BlockException {
        SplittableRandom r = new SplittableRandom(seed);
        for (int n = 0; n < ops; n++) {
            long size = img.size();
            int kind = r.nextInt(10);
            int len = 1 + r.nextInt(kind == 0 ? 400_000 : 70_000);
            long off = r.nextLong(size - len);
            if (kind < 7) {
                byte[] d = new byte[len];
                r.nextBytes(d);
                img.write(off, ByteBuffer.wrap(d));
                model.write(off, ByteBuffer.wrap(d));
            } else if (kind < 9) {
                img.writeZeroes(off, len);
                model.writeZeroes(off, len);
            } else {
                img.discard(off, len);
                ByteBuffer now = ByteBuffer.allocate(len);
                img.read(off, now);
                model.write(off, now.flip());
            }
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {9, 12, 16, 21})
    void imagesJvisorWritesPassQemuCheckAndCompare(int clusterBits) throws Exception {
        Path img = dir.resolve("j.qcow2"), model = dir.resolve("model.raw");
        Images.create(img, "qcow2", SIZE, null, null, clusterBits);
        try (DiskImage q = Images.open(img, "qcow2", false); DiskImage m = RawImage.create(model, SIZE)) {
            randomOps(q, m, clusterBits, 150);
            q.resize(2 * SIZE);
            m.resize(2 * SIZE);
            randomOps(q, m, clusterBits + 100, 50);
            q.flush();
        }
        assertEquals(0, Qemu.run("qemu-img", "check", img.toString()).exit(), Qemu.run("qemu-img", "check", img.toString()).output());
        Qemu.ok("qemu-img", "compare", "-f", "qcow2", "-F", "raw", img.toString(), model.toString());
    }

    @Test
    void overlaysJvisorWritesPassQemu() throws Exception {
        Path base = dir.resolve("base.qcow2"), top = dir.resolve("top.qcow2"), model = dir.resolve("model.raw");
        byte[] p = pattern(7, (int) SIZE);
        Files.write(model, p);
        Qemu.ok("qemu-img", "convert", "-f", "raw", "-O", "qcow2", model.toString(), base.toString());
        Images.create(top, "qcow2", -1, "base.qcow2", null, 16);
        try (DiskImage t = Images.open(top, null, false); DiskImage m = RawImage.open(model, false)) {
            randomOps(t, m, 3, 120);
            t.flush();
        }
        Qemu.ok("qemu-img", "check", top.toString());
        Qemu.ok("qemu-img", "compare", "-F", "raw", top.toString(), model.toString());
    }

    @ParameterizedTest
    @ValueSource(strings = {"qcow2:compat=0.10", "qcow2:compat=1.1,cluster_size=4096", "qcow2:cluster_size=2M",
            "qcow2:refcount_bits=64", "qcow2:refcount_bits=8,cluster_size=512", "qcow2-c:", "vmdk:subformat=monolithicSparse",
            "vmdk:subformat=monolithicFlat", "vpc:subformat=dynamic", "vpc:subformat=fixed"})
    void imagesQemuMakesReadBackExactly(String spec) throws Exception {
        String[] fo = spec.split(":", 2);
        boolean compress = fo[0].equals("qcow2-c");
        String fmt = compress ? "qcow2" : fo[0];
        Path src = dir.resolve("src.raw"), img = dir.resolve("img." + fmt), back = dir.resolve("back.raw");
        Files.write(src, pattern(spec.hashCode(), (int) SIZE));
        var cmd = new java.util.ArrayList<>(java.util.List.of("qemu-img", "convert", "-f", "raw", "-O", fmt));
        if (compress) cmd.add("-c");
        if (!fo[1].isEmpty()) { cmd.add("-o"); cmd.add(fo[1]); }
        cmd.add(src.toString());
        cmd.add(img.toString());
        Qemu.ok(cmd.toArray(String[]::new));
        // The truth is what qemu-img reads from its own image (told the format: it probes fixed VHDs as raw).
        Qemu.ok("qemu-img", "convert", "-f", fmt, "-O", "raw", img.toString(), back.toString());
        byte[] want = Files.readAllBytes(back);
        assertEquals(fmt, Images.probe(img));
        try (DiskImage d = Images.open(img, null, true)) {
            assertEquals(want.length, d.size(), "virtual size");
            assertArrayEquals(want, readAll(d));
        }
    }

    @Test
    void backingChainsQemuMakesReadBackExactly() throws Exception {
        Path base = dir.resolve("base.raw"), mid = dir.resolve("sub/mid.qcow2"), top = dir.resolve("top.qcow2");
        Files.createDirectories(mid.getParent());
        Files.write(base, pattern(11, (int) SIZE));
        Qemu.ok("qemu-img", "create", "-f", "qcow2", "-b", "../base.raw", "-F", "raw", mid.toString());
        Qemu.ok("qemu-io", "-c", "write -P 0xab 100k 300k", "-c", "write -z 1M 64k", "-c", "write -P 0x11 7M 1M", mid.toString());
        Qemu.ok("qemu-img", "create", "-f", "qcow2", "-b", "sub/mid.qcow2", "-F", "qcow2", top.toString());
        Qemu.ok("qemu-io", "-c", "write -P 0xcd 200k 4k", "-c", "discard 7M 64k", "-c", "write -P 0x22 3M 100k", top.toString());
        Path want = dir.resolve("want.raw");
        Qemu.ok("qemu-img", "convert", "-O", "raw", top.toString(), want.toString());
        try (DiskImage d = Images.open(top, null, true)) {
            assertArrayEquals(Files.readAllBytes(want), readAll(d));
        }
    }

    @Test
    void compressedConvertIsSmallerAndExact() throws Exception {
        Path src = dir.resolve("src.raw"), out = dir.resolve("out.qcow2");
        byte[] p = pattern(13, (int) SIZE);
        Files.write(src, p);
        ImageOps.convert(src, "raw", out, "qcow2", true, null);
        Qemu.ok("qemu-img", "check", out.toString());
        Qemu.ok("qemu-img", "compare", "-F", "raw", out.toString(), src.toString());
        Path plain = dir.resolve("plain.qcow2");
        ImageOps.convert(src, "raw", plain, "qcow2", false, null);
        Qemu.ok("qemu-img", "compare", "-F", "raw", plain.toString(), src.toString());
        assertTrue(Files.size(out) < Files.size(plain), Files.size(out) + " vs " + Files.size(plain));
        // And everything qemu-img can import, jvisor converts back to the same bytes.
        for (String f : new String[] {"vmdk", "vpc"}) {
            Path other = dir.resolve("x." + f), back = dir.resolve("x-" + f + ".raw");
            Qemu.ok("qemu-img", "convert", "-f", "raw", "-O", f, src.toString(), other.toString());
            ImageOps.convert(other, null, back, "raw", false, null);
            Path truth = dir.resolve("truth-" + f + ".raw");
            Qemu.ok("qemu-img", "convert", "-f", f, "-O", "raw", other.toString(), truth.toString());
            assertArrayEquals(Files.readAllBytes(truth), Files.readAllBytes(back), f);
        }
    }

    @Test
    void snapshotAndCommit() throws Exception {
        Path base = dir.resolve("base.qcow2"), over = dir.resolve("over.qcow2");
        Images.create(base, "qcow2", SIZE, null, null, 16);
        try (DiskImage b = Images.open(base, null, false)) {
            b.write(0, ByteBuffer.wrap(pattern(1, 1 << 20)));
        }
        Images.create(over, "qcow2", -1, "base.qcow2", "qcow2", 16);
        byte[] top = pattern(2, 1 << 20);
        try (DiskImage o = Images.open(over, null, false)) {
            o.write(512 * 1024, ByteBuffer.wrap(top));
        }
        Path want = dir.resolve("want.raw");
        Qemu.ok("qemu-img", "convert", "-O", "raw", over.toString(), want.toString());
        ImageOps.commit(over);
        Qemu.ok("qemu-img", "check", base.toString());
        Qemu.ok("qemu-img", "check", over.toString());
        Qemu.ok("qemu-img", "compare", "-F", "raw", base.toString(), want.toString());
        Qemu.ok("qemu-img", "compare", "-F", "raw", over.toString(), want.toString());
    }

    @Test
    void infoMatchesQemuImg() throws Exception {
        Path base = dir.resolve("b.qcow2"), over = dir.resolve("o.qcow2");
        Qemu.ok("qemu-img", "create", "-f", "qcow2", "-o", "cluster_size=4096", base.toString(), "5G");
        Images.create(over, "qcow2", -1, "b.qcow2", null, 16);
        JsonNode q = new ObjectMapper().readTree(Qemu.ok("qemu-img", "info", "--output=json", over.toString()));
        Map<String, Object> j = ImageOps.info(over, null);
        for (String k : new String[] {"virtual-size", "format", "cluster-size", "backing-filename", "backing-filename-format"}) {
            assertEquals(q.get(k).asText(), String.valueOf(j.get(k)), k);
        }
        assertEquals(5L << 30, ImageOps.info(base, null).get("virtual-size"));
    }

    @Test
    void checkFindsLeaksAndCorruptionsAsQemuDoes() throws Exception {
        Path img = dir.resolve("c.qcow2");
        Images.create(img, "qcow2", SIZE, null, null, 16);
        try (DiskImage d = Images.open(img, null, false)) {
            d.write(0, ByteBuffer.wrap(pattern(3, 1 << 20)));
        }
        // A leak: a cluster appended to the file and counted, but referenced by nothing.
        try (var ch = java.nio.channels.FileChannel.open(img, java.nio.file.StandardOpenOption.WRITE)) {
            long leakCluster = (Files.size(img) + 65535) / 65536;
            ch.write(ByteBuffer.allocate(65536), leakCluster * 65536);
            ch.write(ByteBuffer.allocate(2).putShort(0, (short) 1), 2 * 65536 + 2 * leakCluster);
        }
        assertEquals(3, Qemu.run("qemu-img", "check", img.toString()).exit());
        try (Qcow2Image q = (Qcow2Image) Images.open(img, null, true)) {
            assertEquals(3, Qcow2Check.check(q, false).exitCode());
        }
        // A corruption: the L1 table's refcount set to zero.
        var ch = java.nio.channels.FileChannel.open(img, java.nio.file.StandardOpenOption.WRITE);
        ch.write(ByteBuffer.allocate(2), 2 * 65536 + 2 * 3);
        ch.close();
        assertEquals(2, Qemu.run("qemu-img", "check", img.toString()).exit());
        try (Qcow2Image q = (Qcow2Image) Images.open(img, null, true)) {
            assertEquals(2, Qcow2Check.check(q, false).exitCode());
        }
    }
}
