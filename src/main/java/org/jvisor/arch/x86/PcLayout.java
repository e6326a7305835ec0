package org.jvisor.arch.x86;

/**
 * Guest-physical layout of the PC. RAM starts at 0 and ends below the PCI hole; the hole holds
 * the PCI memory window, the IOAPIC (0xFEC00000), the local APIC (0xFEE00000) and the reset
 * vector's BIOS area. Low memory keeps the PC's shape: conventional RAM up to the EBDA, then the
 * reserved 0x9FC00-0xFFFFF (VGA hole, ACPI tables at 0xE0000, BIOS).
 */
public final class PcLayout {
    public static final long EBDA = 0x9FC00, BIOS_AREA = 0xE0000, HIGH_MEMORY = 0x100000;
    /** Start of the 1 GiB hole below 4 GiB; RAM must end here (above-4G RAM is not mapped yet). */
    public static final long PCI_HOLE = 0xC0000000L, FOUR_GIB = 1L << 32;
    /** The window the PCI host bridge assigns BARs from, and its ECAM (bus 0) after it. */
    public static final long PCI_MMIO_START = 0xC0000000L, PCI_MMIO_END = 0xE0000000L, PCI_ECAM = 0xE0000000L,
            PCI_ECAM_SIZE = 1L << 20, PLATFORM_DEVICES = 0xFEC00000L;
    public static final int E820_RAM = 1, E820_RESERVED = 2;

    private PcLayout() {}

    /** The e820 map of a guest with {@code ram} bytes: {address, length, type} triples. */
    public static long[][] e820(long ram) {
        if (ram > PCI_HOLE) throw new IllegalArgumentException("RAM above the PCI hole is not supported yet");
        return new long[][] {
                {0, EBDA, E820_RAM},
                {EBDA, HIGH_MEMORY - EBDA, E820_RESERVED},
                {HIGH_MEMORY, ram - HIGH_MEMORY, E820_RAM},
                {PCI_ECAM, PCI_ECAM_SIZE, E820_RESERVED},
                {PLATFORM_DEVICES, FOUR_GIB - PLATFORM_DEVICES, E820_RESERVED}, // IOAPIC, LAPIC, BIOS flash
        };
    }
}
