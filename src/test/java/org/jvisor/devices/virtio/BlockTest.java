package org.jvisor.devices.virtio;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import org.jvisor.block.Images;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** virtio-blk requests through the PCI transport over a raw image file. */
class BlockTest {
    static final long HDR = 0x200000, DATA = 0x201000, STATUS = 0x300000;
    @TempDir Path dir;
    Path image;
    FakeDriver d;
    Block block;
    int done;

    @BeforeEach
    void setUp() throws Exception {
        image = dir.resolve("disk.img");
        byte[] content = new byte[1 << 20];
        for (int i = 0; i < content.length; i++) content[i] = (byte) (i * 7 + i / 512);
        Files.write(image, content);
    }

    @AfterEach
    void tearDown() {
        if (d != null) d.close();
    }

    void start(boolean readOnly) {
        block = new Block(uncheck(readOnly), readOnly, "serial-123");
        d = new FakeDriver(block, 16);
        d.start(0);
    }

    org.jvisor.block.DiskImage uncheck(boolean ro) {
        try {
            return Images.open(image, "raw", ro);
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    /** Sends one request; returns its status byte. */
    int request(int type, long sector, long dataLen, boolean dataWritable) throws Exception {
        d.mem.write32(HDR, type);
        d.mem.write32(HDR + 4, 0);
        d.mem.write64(HDR + 8, sector);
        d.mem.write8(STATUS, 0xEE);
        long[][] chain = dataLen > 0
                ? new long[][] {{HDR, 16, 0}, {DATA, dataLen, dataWritable ? 1 : 0}, {STATUS, 1, 1}}
                : new long[][] {{HDR, 16, 0}, {STATUS, 1, 1}};
        d.offer(chain);
        d.awaitUsed(++done);
        return d.mem.read8(STATUS);
    }

    @Test
    void configReportsCapacityAndFeatures() {
        start(false);
        assertEquals(2048, d.pci.barRead(0, VirtioPci.DEVICE, 8), "capacity in 512-byte sectors");
        long f = d.deviceFeatures();
        assertEquals(Block.F_FLUSH | Block.F_DISCARD | Block.F_WRITE_ZEROES, f & (Block.F_FLUSH | Block.F_DISCARD | Block.F_WRITE_ZEROES | Block.F_RO));
    }

    @Test
    void readWriteFlushAndId() throws Exception {
        start(false);
        assertEquals(Block.S_OK, request(Block.T_IN, 3, 1024, true));
        byte[] disk = Files.readAllBytes(image);
        for (int i = 0; i < 1024; i++) assertEquals(disk[3 * 512 + i], (byte) d.mem.read8(DATA + i));
        for (int i = 0; i < 512; i++) d.mem.write8(DATA + i, 0xA5);
        assertEquals(Block.S_OK, request(Block.T_OUT, 10, 512, false));
        assertEquals(Block.S_OK, request(Block.T_FLUSH, 0, 0, false));
        disk = Files.readAllBytes(image);
        for (int i = 0; i < 512; i++) assertEquals((byte) 0xA5, disk[10 * 512 + i]);
        assertEquals(Block.S_OK, request(Block.T_GET_ID, 0, 20, true));
        byte[] id = new byte[10];
        d.mem.read(DATA, id, 0, 10);
        assertEquals("serial-123", new String(id));
    }

    @Test
    void outOfRangeUnalignedAndUnknownRequests() throws Exception {
        start(false);
        assertEquals(Block.S_IOERR, request(Block.T_IN, 2047, 1024, true), "past the end");
        assertEquals(Block.S_IOERR, request(Block.T_IN, -1, 512, true));
        assertEquals(Block.S_IOERR, request(Block.T_OUT, 0, 100, false), "not whole sectors");
        assertEquals(Block.S_UNSUPP, request(77, 0, 0, false));
    }

    @Test
    void discardAndWriteZeroes() throws Exception {
        start(false);
        d.mem.write64(DATA, 4);
        d.mem.write32(DATA + 8, 2);
        d.mem.write32(DATA + 12, 0);
        assertEquals(Block.S_OK, request(Block.T_WRITE_ZEROES, 0, 16, false));
        byte[] disk = Files.readAllBytes(image);
        for (int i = 4 * 512; i < 6 * 512; i++) assertEquals(0, disk[i]);
        assertEquals(disk[6 * 512], (byte) (6 * 512 * 7 + 6));
        assertEquals(Block.S_OK, request(Block.T_DISCARD, 0, 16, false));
        d.mem.write32(DATA + 8, 1 << 30);
        assertEquals(Block.S_IOERR, request(Block.T_DISCARD, 0, 16, false), "too many sectors");
    }

    @Test
    void readOnlyDisksRefuseWrites() throws Exception {
        start(true);
        assertEquals(Block.F_RO, d.deviceFeatures() & Block.F_RO);
        assertEquals(Block.S_IOERR, request(Block.T_OUT, 0, 512, false));
        assertEquals(Block.S_OK, request(Block.T_IN, 0, 512, true));
        assertEquals(Block.S_OK, request(Block.T_FLUSH, 0, 0, false));
    }

    @Test
    @SuppressWarnings("unchecked")
    void countersAndLatencyHistogramCountEveryRequest() throws Exception {
        start(false);
        Block b = block;
        assertEquals(Block.S_OK, request(Block.T_IN, 0, 4096, true));
        assertEquals(Block.S_OK, request(Block.T_IN, 8, 512, true));
        assertEquals(Block.S_OK, request(Block.T_OUT, 16, 1024, false));
        assertEquals(Block.S_OK, request(Block.T_FLUSH, 0, 0, false));
        assertEquals(Block.S_IOERR, request(Block.T_IN, 2047, 1024, true));
        var c = b.counters();
        assertEquals(3L, c.get("readRequests"));
        assertEquals(1L, c.get("writeRequests"));
        assertEquals(1L, c.get("flushRequests"));
        assertEquals(1L, c.get("failedRequests"));
        assertEquals(4608L, c.get("readBytes"), "a failed read moves no bytes");
        assertEquals(1024L, c.get("writtenBytes"));
        var latency = (java.util.Map<String, Object>) c.get("latency");
        long[] counts = (long[]) latency.get("counts");
        assertEquals(LatencyHistogram.BOUNDS_SECONDS.length + 1, counts.length);
        assertEquals(5, java.util.Arrays.stream(counts).sum());
        assertEquals(true, (double) latency.get("sumSeconds") > 0);
    }
}
