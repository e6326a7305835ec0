package org.jvisor.loader;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.util.SplittableRandom;
import org.jvisor.kit.GuestKit;
import org.junit.jupiter.api.Test;

/** Debian's real bzImage, and hostile variants of it. */
class BzImageTest {
    @Test
    void debiansKernelDecompressesToAVmlinuxElf() throws Exception {
        GuestKit.Kit kit = GuestKit.ensure(System.out::println);
        BzImage bz = BzImage.parse(Files.readAllBytes(kit.kernel()));
        assertTrue(bz.version >= 0x020C);
        assertTrue(bz.relocatable);
        assertEquals(0x200000, bz.kernelAlignment);
        byte[] vmlinux = bz.vmlinux();
        ElfFile elf = new ElfFile(vmlinux);
        long loads = elf.segments().stream().filter(s -> s.type() == ElfFile.PT_LOAD).count();
        assertTrue(loads >= 3, "PT_LOAD segments: " + loads);
        // The entry is the physical address of startup_64, inside the first loaded segment.
        ElfFile.Segment first = elf.segments().stream().filter(s -> s.type() == ElfFile.PT_LOAD).findFirst().orElseThrow();
        assertTrue(elf.entry() >= first.paddr() && elf.entry() < first.paddr() + first.memSize(),
                String.format("entry %x, first segment at %x", elf.entry(), first.paddr()));
        System.out.printf("bzImage: protocol %d.%02d, %d setup sectors, vmlinux %d bytes, %d PT_LOAD segments, entry %#x%n",
                bz.version >> 8, bz.version & 0xFF, bz.setupSects, vmlinux.length, loads, elf.entry());
    }

    @Test
    void badKernelsGiveClearErrors() throws Exception {
        byte[] real = Files.readAllBytes(GuestKit.ensure(s -> { }).kernel());
        KernelImageException e = assertThrows(KernelImageException.class, () -> BzImage.parse(new byte[100]));
        assertTrue(e.getMessage().contains("too small"), e.getMessage());
        e = assertThrows(KernelImageException.class, () -> BzImage.parse(new byte[100_000]));
        assertTrue(e.getMessage().contains("not a bzImage"), e.getMessage());
        byte[] truncated = java.util.Arrays.copyOf(real, real.length / 2);
        e = assertThrows(KernelImageException.class, () -> BzImage.parse(truncated));
        assertTrue(e.getMessage().contains("truncated"), e.getMessage());
        // Damage inside the compressed data: caught by XZ's checks, never an unchecked exception.
        SplittableRandom r = new SplittableRandom(9);
        for (int n = 0; n < 6; n++) {
            byte[] bad = real.clone();
            int at = 0x6000 + r.nextInt(real.length - 0x7000);
            bad[at] ^= (byte) (1 + r.nextInt(255));
            try {
                byte[] v = BzImage.parse(bad).vmlinux();
                assertTrue(v.length > 0);
            } catch (KernelImageException expected) {
                assertTrue(expected.getMessage().contains("damaged") || expected.getMessage().contains("truncated"), expected.getMessage());
            }
        }
    }
}
