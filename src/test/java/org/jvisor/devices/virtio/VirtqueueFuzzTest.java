package org.jvisor.devices.virtio;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.jvisor.block.DiskImage;
import org.jvisor.block.Images;
import org.jvisor.memory.GuestMemory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A hostile driver: at least 1,000,000 descriptor chains per run -- loops, addresses outside RAM
 * or straddling its end, wrong directions, zero and huge lengths, indirect tables inside indirect
 * tables, queue sizes and indices out of range, and well-formed requests among them -- offered to
 * virtio-blk and virtio-rng. The devices must only ever complete a request (with a status) or
 * raise the protocol error that becomes DEVICE_NEEDS_RESET; nothing else may escape, and no request
 * may make the device allocate more than a fixed bound.
 */
class VirtqueueFuzzTest {
    static final int RAM = 1 << 20;
    static final long CHAINS = Long.getLong("jvisor.fuzz.chains", 1_000_000L);
    /** Per serve() call: the largest request buffers plus bookkeeping (entropy fills at most 64 KiB). */
    static final long ALLOCATION_BOUND = 256 * 1024, WARM_UP = 10_000;
    @TempDir Path dir;

    record Stats(long offered, long completed, long protocolErrors, long maxAllocated) {}

    @Test
    void hostileChainsNeverEscapeTheDevice() throws Exception {
        long seed = Long.getLong("jvisor.fuzz.seed", 20261121L);
        Path image = dir.resolve("fuzz.img");
        Files.write(image, new byte[64 * 1024]);
        try (GuestMemory mem = GuestMemory.allocate(RAM); DiskImage disk = Images.open(image, "raw", false)) {
            VirtioDevice[] devices = {new Block(disk, false, "fuzz"), new Entropy()};
            Stats s = run(mem, devices, new SplittableRandom(seed), CHAINS);
            System.out.printf("virtio fuzz: %d chains offered (seed %d), %d completed with a status, %d protocol errors -> DEVICE_NEEDS_RESET, "
                    + "max %d bytes allocated per serve%n", s.offered, seed, s.completed, s.protocolErrors, s.maxAllocated);
            assertTrue(s.offered >= CHAINS);
            assertTrue(s.completed > CHAINS / 20, "well-formed requests must get through too: " + s.completed);
            assertTrue(s.protocolErrors > 1000, "the fuzzer must reach the protocol checks: " + s.protocolErrors);
            assertTrue(s.maxAllocated <= ALLOCATION_BOUND, "allocated " + s.maxAllocated);
        }
    }

    static Stats run(GuestMemory mem, VirtioDevice[] devices, SplittableRandom rnd, long target) {
        var threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long offered = 0, completed = 0, errors = 0, maxAlloc = 0;
        while (offered < target) {
            VirtioDevice dev = devices[rnd.nextInt(devices.length)];
            int size = ringSize(rnd);
            // Separate areas (so the statistics mean something), but now and then misplaced or overlapping.
            long desc = place(rnd, 0x10000, 16), avail = place(rnd, 0x20000, 2), used = place(rnd, 0x30000, 4);
            if (mem.contains(used, 4)) mem.write32(used, rnd.nextInt(8) == 0 ? rnd.nextInt() : 0);
            if (mem.contains(avail, 4)) mem.write32(avail, 0);
            Virtqueue q;
            try {
                q = new Virtqueue(mem, size, desc, avail, used, rnd.nextBoolean());
            } catch (VirtioException e) {
                errors++;
                offered++; // a ring the device refuses: its chains never reach the device
                continue;
            }
            int availIdx = mem.read16(avail + 2);
            for (int batch = 0; batch < 64 && offered < target; batch++) {
                int n = 1 + rnd.nextInt(Math.min(size, 8));
                for (int k = 0; k < n; k++) {
                    int head = rnd.nextInt(16) == 0 ? rnd.nextInt(0x10000) : rnd.nextInt(size);
                    if (rnd.nextInt(3) == 0) head = wellFormed(mem, rnd, desc, size, dev);
                    else scribble(mem, rnd, desc, size);
                    mem.write16(avail + 4 + 2L * (availIdx & (size - 1)), head);
                    availIdx = (availIdx + 1) & 0xFFFF;
                }
                if (rnd.nextInt(50) == 0) availIdx = (availIdx + size + 1 + rnd.nextInt(100)) & 0xFFFF; // the index runs away
                mem.write16(avail + 2, availIdx);
                offered += n;
                int before = mem.read16(used + 2);
                long a0 = threads.getCurrentThreadAllocatedBytes();
                boolean dead = false;
                try {
                    dev.serve(0, q);
                } catch (VirtioException e) {
                    errors++;
                    dead = true;
                } catch (RuntimeException e) {
                    throw new AssertionError("device threw " + e + " out of serve()", e);
                }
                // After a warm-up: the first calls load classes and seed the host's SecureRandom.
                if (offered > WARM_UP) maxAlloc = Math.max(maxAlloc, threads.getCurrentThreadAllocatedBytes() - a0);
                completed += (mem.read16(used + 2) - before) & 0xFFFF;
                if (dead) break;
            }
        }
        return new Stats(offered, completed, errors, maxAlloc);
    }

    static int ringSize(SplittableRandom rnd) {
        return switch (rnd.nextInt(20)) {
            case 0 -> 0;
            case 1 -> 3 + rnd.nextInt(100);
            case 2 -> 65536;
            default -> 1 << rnd.nextInt(9);
        };
    }

    /** A ring address: usually a proper one, sometimes misaligned, at the end of RAM or outside it. */
    static long place(SplittableRandom rnd, long area, int align) {
        return switch (rnd.nextInt(30)) {
            case 0 -> rnd.nextLong();
            case 1 -> RAM - 8;
            case 2 -> area + 1;
            case 3 -> (0x10000 + rnd.nextInt(0x30000)) & -align;
            default -> area + (rnd.nextInt(0x100) & -align);
        };
    }

    /** A descriptor address: inside RAM, straddling its end, far outside, or negative. */
    static long address(SplittableRandom rnd) {
        return switch (rnd.nextInt(12)) {
            case 0 -> RAM - 1 - rnd.nextInt(64);
            case 1 -> RAM + rnd.nextInt(1 << 20);
            case 2 -> rnd.nextLong();
            default -> 0x80000 + rnd.nextInt(0x70000);
        };
    }

    static int length(SplittableRandom rnd) {
        return switch (rnd.nextInt(10)) {
            case 0 -> 0;
            case 1 -> -1;                 // 4 GiB - 1
            case 2 -> rnd.nextInt();
            case 3 -> 1;
            case 4 -> 16;
            default -> 512 * (1 + rnd.nextInt(8));
        };
    }

    static void descriptor(GuestMemory mem, long at, long addr, int len, int flags, int next) {
        mem.write64(at, addr);
        mem.write32(at + 8, len);
        mem.write16(at + 12, flags);
        mem.write16(at + 14, next);
    }

    /** Random descriptors over part of the table, and now and then random indirect tables (nested too). */
    static void scribble(GuestMemory mem, SplittableRandom rnd, long desc, int size) {
        int count = 1 + rnd.nextInt(Math.min(size, 16));
        for (int k = 0; k < count; k++) {
            int i = rnd.nextInt(size);
            int flags = rnd.nextInt(8) == 0 ? rnd.nextInt(0x10000) : rnd.nextInt(8);
            int next = rnd.nextInt(8) == 0 ? rnd.nextInt(0x10000) : rnd.nextInt(size);
            long addr = address(rnd);
            int len = length(rnd);
            if ((flags & Virtqueue.DESC_INDIRECT) != 0 && rnd.nextBoolean()) {
                long table = 0xC0000 + 16L * rnd.nextInt(0x2000);
                int entries = 1 + rnd.nextInt(32);
                addr = table;
                len = rnd.nextInt(6) == 0 ? length(rnd) : entries * 16;
                for (int e = 0; e < entries && table + 16L * e + 16 <= RAM; e++) {
                    descriptor(mem, table + 16L * e, address(rnd), length(rnd), rnd.nextInt(8), rnd.nextInt(entries + 2));
                }
            }
            descriptor(mem, desc + 16L * i, addr, len, flags, next);
        }
    }

    /** A proper request for the device (block: header, data, status; entropy: writable buffers); returns the head. */
    static int wellFormed(GuestMemory mem, SplittableRandom rnd, long desc, int size, VirtioDevice dev) {
        int head = rnd.nextInt(size);
        if (dev instanceof Entropy || size < 3) {
            descriptor(mem, desc + 16L * head, 0x80000 + rnd.nextInt(0x10000), rnd.nextInt(4096), Virtqueue.DESC_WRITE, 0);
            return head;
        }
        int h = head, d = (head + 1) % size, st = (head + 2) % size;
        long hdr = 0x90000 + 16L * rnd.nextInt(256);
        int[] types = {Block.T_IN, Block.T_OUT, Block.T_FLUSH, Block.T_GET_ID, Block.T_DISCARD, Block.T_WRITE_ZEROES, rnd.nextInt()};
        int type = types[rnd.nextInt(types.length)];
        mem.write32(hdr, type);
        mem.write64(hdr + 8, rnd.nextInt(10) == 0 ? rnd.nextLong() : rnd.nextInt(140));
        boolean toDevice = type == Block.T_OUT || type == Block.T_DISCARD || type == Block.T_WRITE_ZEROES;
        long data = 0xA0000 + 512L * rnd.nextInt(64);
        int len = type == Block.T_DISCARD || type == Block.T_WRITE_ZEROES ? 16 * (1 + rnd.nextInt(3)) : 512 * (1 + rnd.nextInt(8));
        if (len == 16 || len == 32 || len == 48) {
            for (int s = 0; s < len; s += 16) {
                mem.write64(data + s, rnd.nextInt(140));
                mem.write32(data + s + 8, rnd.nextInt(16));
                mem.write32(data + s + 12, rnd.nextInt(4) == 0 ? 1 : 0);
            }
        }
        descriptor(mem, desc + 16L * h, hdr, 16, Virtqueue.DESC_NEXT, d);
        descriptor(mem, desc + 16L * d, data, len, Virtqueue.DESC_NEXT | (toDevice ? 0 : Virtqueue.DESC_WRITE), st);
        descriptor(mem, desc + 16L * st, 0xB0000 + rnd.nextInt(4096), 1, Virtqueue.DESC_WRITE, 0);
        return h;
    }
}
