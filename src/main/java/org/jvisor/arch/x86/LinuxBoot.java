package org.jvisor.arch.x86;

import java.nio.charset.StandardCharsets;
import org.jvisor.cpu.emu.Cpu;
import org.jvisor.cpu.emu.Reg;
import org.jvisor.cpu.emu.Seg;
import org.jvisor.loader.BzImage;
import org.jvisor.loader.ElfFile;
import org.jvisor.loader.KernelImageException;
import org.jvisor.memory.GuestMemory;

/**
 * Direct Linux boot by the 64-bit boot protocol: the vmlinux inside a bzImage (or a vmlinux ELF)
 * is loaded at its physical addresses, a zero page describes memory (e820), the command line and
 * the initrd, and the CPU starts at startup_64 in long mode with identity-mapped memory, the boot
 * GDT (__BOOT_CS 0x10, __BOOT_DS 0x18) and RSI pointing at the zero page.
 */
public final class LinuxBoot {
    public static final long GDT = 0x500, ZERO_PAGE = 0x7000, PML4 = 0x9000, PDPT = 0xA000, CMDLINE = 0x20000;
    public static final long HIGH_MEMORY = PcLayout.HIGH_MEMORY;

    public record Loaded(long entry, long kernelEnd, long initrdAddr, long initrdSize) {}

    private LinuxBoot() {}

    /** Loads the kernel and its boot data; {@code rsdp} (0 for none) tells the kernel where the ACPI tables are. */
    public static Loaded load(GuestMemory mem, Cpu cpu, byte[] kernel, byte[] initrd, String cmdline, long rsdp) throws KernelImageException {
        byte[] setupHeader = null;
        int cmdlineMax = 2047;
        long initrdMax = 0x7FFFFFFFL;
        byte[] vmlinux;
        if (kernel.length >= 4 && (kernel[0] & 0xFF) == 0x7F && kernel[1] == 'E' && kernel[2] == 'L' && kernel[3] == 'F') {
            vmlinux = kernel;
        } else {
            BzImage bz = BzImage.parse(kernel);
            setupHeader = bz.setupHeader();
            cmdlineMax = bz.cmdlineSize;
            initrdMax = bz.initrdAddrMax;
            vmlinux = bz.vmlinux();
        }
        ElfFile elf;
        try {
            elf = new ElfFile(vmlinux);
        } catch (IllegalArgumentException e) {
            throw new KernelImageException("the kernel is not a valid vmlinux: " + e.getMessage());
        }
        long ram = mem.size();
        long end = 0;
        for (ElfFile.Segment s : elf.segments()) {
            if (s.type() != ElfFile.PT_LOAD) continue;
            if (s.paddr() < HIGH_MEMORY || s.memSize() < s.fileSize() || s.paddr() + s.memSize() > ram
                    || s.offset() < 0 || s.offset() + s.fileSize() > vmlinux.length) {
                throw new KernelImageException(String.format("kernel segment at %#x (%d bytes) does not fit in %d MiB of memory",
                        s.paddr(), s.memSize(), ram >> 20));
            }
            mem.write(s.paddr(), vmlinux, (int) s.offset(), (int) s.fileSize());
            end = Math.max(end, s.paddr() + s.memSize());
        }
        if (end == 0) throw new KernelImageException("the kernel has nothing to load");
        if (elf.entry() < HIGH_MEMORY || elf.entry() >= end) throw new KernelImageException("kernel entry point outside the kernel");
        byte[] cl = cmdline.getBytes(StandardCharsets.US_ASCII);
        if (cl.length > cmdlineMax) {
            throw new KernelImageException("kernel command line is " + cl.length + " bytes; this kernel takes at most " + cmdlineMax);
        }
        // The zero page.
        mem.write(ZERO_PAGE, new byte[4096]);
        if (setupHeader != null) mem.write(ZERO_PAGE + 0x1F1, setupHeader);
        else mem.write32(ZERO_PAGE + 0x202, 0x53726448); // "HdrS" for a bare vmlinux
        mem.write8(ZERO_PAGE + 0x210, 0xFF);              // type_of_loader: undefined
        mem.write8(ZERO_PAGE + 0x211, mem.read8(ZERO_PAGE + 0x211) | 0x01); // LOADED_HIGH
        mem.write(CMDLINE, cl);
        mem.write8(CMDLINE + cl.length, 0);
        mem.write32(ZERO_PAGE + 0x228, (int) CMDLINE);
        long initrdAddr = 0;
        if (initrd != null && initrd.length > 0) {
            long top = Math.min(ram, initrdMax + 1);
            initrdAddr = (top - initrd.length) & ~0xFFFL;
            if (initrdAddr < ((end + 0xFFF) & ~0xFFFL)) {
                throw new KernelImageException("the initrd (" + (initrd.length >> 20) + " MiB) does not fit in memory above the kernel");
            }
            mem.write(initrdAddr, initrd);
            mem.write32(ZERO_PAGE + 0x218, (int) initrdAddr);
            mem.write32(ZERO_PAGE + 0x21C, initrd.length);
        }
        if (rsdp != 0) mem.write64(ZERO_PAGE + 0x070, rsdp); // acpi_rsdp_addr (boot protocol 2.14)
        long[][] e820 = PcLayout.e820(ram);
        for (int i = 0; i < e820.length; i++) {
            long at = ZERO_PAGE + 0x2D0 + i * 20L;
            mem.write64(at, e820[i][0]);
            mem.write64(at + 8, e820[i][1]);
            mem.write32(at + 16, (int) e820[i][2]);
        }
        mem.write8(ZERO_PAGE + 0x1E8, e820.length);
        // Identity-map the first 4 GiB with 1 GiB pages (the kernel builds its own tables at once).
        mem.write(PML4, new byte[4096]);
        mem.write(PDPT, new byte[4096]);
        mem.write64(PML4, PDPT | 3);
        for (int i = 0; i < 4; i++) mem.write64(PDPT + i * 8L, ((long) i << 30) | 0x83);
        // Boot GDT: 0x10 flat 64-bit code, 0x18 flat data.
        mem.write64(GDT + 0x10, 0x00AF9A000000FFFFL);
        mem.write64(GDT + 0x18, 0x00CF92000000FFFFL);
        setLongMode(cpu, elf.entry());
        return new Loaded(elf.entry(), end, initrdAddr, initrd == null ? 0 : initrd.length);
    }

    /** The CPU state the 64-bit boot protocol defines. */
    static void setLongMode(Cpu cpu, long entry) {
        cpu.gdtBase = GDT;
        cpu.gdtLimit = 0x1F;
        cpu.idtBase = 0;
        cpu.idtLimit = 0;
        cpu.cr4 = Cpu.CR4_PAE;
        cpu.efer = Cpu.EFER_LME | Cpu.EFER_LMA;
        cpu.cr3 = PML4;
        cpu.cr0 = Cpu.CR0_PE | Cpu.CR0_ET | Cpu.CR0_PG;
        cpu.segSel[Seg.CS] = 0x10;
        cpu.segBase[Seg.CS] = 0;
        cpu.segLimit[Seg.CS] = -1;
        cpu.segAttr[Seg.CS] = 0xA09B;
        for (int s : new int[] {Seg.DS, Seg.ES, Seg.SS, Seg.FS, Seg.GS}) {
            cpu.segSel[s] = 0x18;
            cpu.segBase[s] = 0;
            cpu.segLimit[s] = -1;
            cpu.segAttr[s] = 0xC093;
        }
        cpu.setCpl(0);
        cpu.updateMode();
        cpu.flushTlb();
        cpu.setRflags(2);
        java.util.Arrays.fill(cpu.r, 0);
        cpu.r[Reg.SI] = ZERO_PAGE;
        cpu.rip = entry;
    }
}
