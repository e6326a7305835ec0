package org.jvisor.arch.x86;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import org.jvisor.devices.irq.IoApic;
import org.jvisor.devices.irq.LocalApic;
import org.jvisor.devices.legacy.AcpiPowerControl;
import org.jvisor.devices.legacy.Serial16550;
import org.jvisor.devices.pci.PciHost;

/**
 * The ACPI tables of the PC: RSDP, XSDT, a hardware-reduced FADT (sleep control/status and reset
 * registers, no SCI, no PM timer, no 8042), the MADT (local APICs, the IOAPIC, ISA overrides), the
 * MCFG (ECAM) and a DSDT describing the PCI root bridge, COM1, the CMOS clock and the \_S5
 * power-off state. They are written into the
 * reserved BIOS area below 1 MiB; the zero page points the kernel at the RSDP.
 */
public final class AcpiTables {
    public static final long BASE = 0xE0000, LIMIT = 0x100000;
    /** The IOAPIC input the power button's event device raises (edge): no ISA device uses it. */
    public static final int POWER_BUTTON_GSI = 9;
    static final byte[] OEM_ID = "JVISOR".getBytes(StandardCharsets.US_ASCII);
    /** FADT flags: reset register supported, hardware-reduced ACPI. */
    static final int FADT_RESET_REG_SUP = 1 << 10, FADT_HW_REDUCED = 1 << 20;
    static final int GAS_SYSTEM_IO = 1;

    /** Where the tables went: the RSDP address for the zero page and the bytes, for tests. */
    public record Layout(long rsdp, byte[] image) {}

    private AcpiTables() {}

    public static Layout build(int cpus) {
        long at = BASE;
        long rsdp = at;
        at += 64;
        byte[] dsdt = table("DSDT", 2, dsdtBody());
        long dsdtAt = at;
        at = align(at + dsdt.length);
        byte[] fadt = table("FACP", 6, fadtBody(dsdtAt));
        long fadtAt = at;
        at = align(at + fadt.length);
        byte[] madt = table("APIC", 5, madtBody(cpus));
        long madtAt = at;
        at = align(at + madt.length);
        byte[] mcfg = table("MCFG", 1, mcfgBody());
        long mcfgAt = at;
        at = align(at + mcfg.length);
        long[] entries = {fadtAt, madtAt, mcfgAt};
        ByteBuffer x = le(entries.length * 8);
        for (long e : entries) x.putLong(e);
        byte[] xsdt = table("XSDT", 1, x.array());
        long xsdtAt = at;
        at = align(at + xsdt.length);
        if (at > LIMIT) throw new IllegalStateException("ACPI tables overflow the BIOS area");

        byte[] image = new byte[(int) (at - BASE)];
        System.arraycopy(rsdp(xsdtAt), 0, image, 0, 36);
        System.arraycopy(dsdt, 0, image, (int) (dsdtAt - BASE), dsdt.length);
        System.arraycopy(fadt, 0, image, (int) (fadtAt - BASE), fadt.length);
        System.arraycopy(madt, 0, image, (int) (madtAt - BASE), madt.length);
        System.arraycopy(mcfg, 0, image, (int) (mcfgAt - BASE), mcfg.length);
        System.arraycopy(xsdt, 0, image, (int) (xsdtAt - BASE), xsdt.length);
        return new Layout(rsdp, image);
    }

    private static long align(long a) {
        return (a + 15) & ~15L;
    }

    private static ByteBuffer le(int n) {
        return ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN);
    }

    static byte[] rsdp(long xsdt) {
        ByteBuffer b = le(36);
        b.put("RSD PTR ".getBytes(StandardCharsets.US_ASCII));
        b.put((byte) 0);        // checksum of the first 20 bytes
        b.put(OEM_ID);
        b.put((byte) 2);        // revision: ACPI 2.0+, XSDT
        b.putInt(0);            // no RSDT
        b.putInt(36);
        b.putLong(xsdt);
        b.put((byte) 0);        // extended checksum
        byte[] a = b.array();
        a[8] = checksum(a, 0, 20);
        a[32] = checksum(a, 0, 36);
        return a;
    }

    /** A system description table: the 36-byte header, the body, a checksum over both. */
    static byte[] table(String signature, int revision, byte[] body) {
        ByteBuffer b = le(36 + body.length);
        b.put(signature.getBytes(StandardCharsets.US_ASCII));
        b.putInt(36 + body.length);
        b.put((byte) revision);
        b.put((byte) 0);
        b.put(OEM_ID);
        b.put(("JV" + signature + "  ").substring(0, 8).getBytes(StandardCharsets.US_ASCII));
        b.putInt(1);
        b.put("JVSR".getBytes(StandardCharsets.US_ASCII));
        b.putInt(1);
        b.put(body);
        byte[] a = b.array();
        a[9] = checksum(a, 0, a.length);
        return a;
    }

    static byte checksum(byte[] a, int from, int to) {
        int sum = 0;
        for (int i = from; i < to; i++) sum += a[i];
        return (byte) -sum;
    }

    /** A Generic Address Structure for a byte-wide I/O port. */
    private static void gasIoByte(ByteBuffer b, int port) {
        b.put((byte) GAS_SYSTEM_IO).put((byte) 8).put((byte) 0).put((byte) 1).putLong(port);
    }

    static byte[] fadtBody(long dsdt) {
        ByteBuffer b = le(276 - 36);
        b.putInt(0);                  // 36: FIRMWARE_CTRL: no FACS (hardware-reduced)
        b.putInt((int) dsdt);         // 40: DSDT
        // 44..108: the fixed-hardware blocks: none on a hardware-reduced platform.
        b.position(109 - 36);
        b.putShort((short) 0);        // 109: IAPC_BOOT_ARCH: no legacy devices, no 8042, VGA and CMOS present
        b.position(112 - 36);
        b.putInt(FADT_RESET_REG_SUP | FADT_HW_REDUCED);
        gasIoByte(b, AcpiPowerControl.RESET_PORT); // 116: RESET_REG
        b.put((byte) AcpiPowerControl.RESET_VALUE); // 128
        b.putShort((short) 0);        // 129: ARM boot flags
        b.put((byte) 5);              // 131: FADT minor version (6.5)
        b.putLong(0);                 // 132: X_FIRMWARE_CTRL
        b.putLong(dsdt);              // 140: X_DSDT
        b.position(244 - 36);         // 148..243: the extended fixed-hardware blocks: none
        gasIoByte(b, AcpiPowerControl.SLEEP_CONTROL_PORT); // 244: SLEEP_CONTROL_REG
        gasIoByte(b, AcpiPowerControl.SLEEP_STATUS_PORT);  // 256: SLEEP_STATUS_REG
        b.put("JVISOR\0\0".getBytes(StandardCharsets.US_ASCII)); // 268: hypervisor vendor identity
        return b.array();
    }

    static byte[] madtBody(int cpus) {
        ByteBuffer b = le(8 + cpus * 8 + 12 + 10 + 6);
        b.putInt((int) LocalApic.BASE);
        b.putInt(1);                                 // PCAT_COMPAT: an 8259 pair is present (and masked)
        for (int i = 0; i < cpus; i++) {
            b.put((byte) 0).put((byte) 8).put((byte) i).put((byte) i).putInt(1); // processor i, APIC id i, enabled
        }
        b.put((byte) 1).put((byte) 12).put((byte) 0).put((byte) 0).putInt((int) IoApic.BASE).putInt(0); // IOAPIC 0, GSI 0..
        b.put((byte) 2).put((byte) 10).put((byte) 0).put((byte) 0).putInt(2).putShort((short) 0); // ISA IRQ 0 -> GSI 2
        b.put((byte) 4).put((byte) 6).put((byte) 0xFF).putShort((short) 0).put((byte) 1); // NMI on LINT1 of all CPUs
        return b.array();
    }

    /** MCFG: ECAM for segment 0, bus 0. */
    static byte[] mcfgBody() {
        ByteBuffer b = le(8 + 16);
        b.putLong(0);
        b.putLong(PcLayout.PCI_ECAM).putShort((short) 0).put((byte) 0).put((byte) 0).putInt(0);
        return b.array();
    }

    /**
     * The PCI root bridge: bus 0, the configuration ports, the I/O and memory windows, and _PRT
     * routing each slot's INTA-D to GSIs 16-23 (level, active low, as PCI lines are).
     */
    static byte[] pciRoot() {
        byte[][] routes = new byte[(PciHost.SLOTS - 1) * 4][];
        int k = 0;
        for (int slot = 1; slot < PciHost.SLOTS; slot++) {
            for (int pin = 0; pin < 4; pin++) {
                routes[k++] = Aml.packageOf(Aml.integer((long) slot << 16 | 0xFFFF), Aml.integer(pin), Aml.integer(0),
                        Aml.integer(PciHost.gsi(slot, pin + 1)));
            }
        }
        return Aml.device("PCI0",
                Aml.nameDef("_HID", Aml.integer(Aml.eisaId("PNP0A08"))),
                Aml.nameDef("_CID", Aml.integer(Aml.eisaId("PNP0A03"))),
                Aml.nameDef("_ADR", Aml.integer(0)),
                Aml.nameDef("_SEG", Aml.integer(0)),
                Aml.nameDef("_UID", Aml.integer(0)),
                Aml.nameDef("_BBN", Aml.integer(0)),
                Aml.nameDef("_CRS", Aml.resourceTemplate(
                        Aml.wordBusNumber(0, 0),
                        Aml.io(PciHost.CONFIG_ADDRESS, PciHost.CONFIG_ADDRESS, 1, 8),
                        Aml.wordIo(0, PciHost.CONFIG_ADDRESS - 1),
                        Aml.wordIo(PciHost.CONFIG_DATA + 4, 0xFFFF),
                        Aml.dwordMemory(PcLayout.PCI_MMIO_START, PcLayout.PCI_MMIO_END - 1))),
                Aml.nameDef("_PRT", Aml.packageOf(routes)));
    }

    static byte[] dsdtBody() {
        byte[] com1 = Aml.device("COM1",
                Aml.nameDef("_HID", Aml.integer(Aml.eisaId("PNP0501"))),
                Aml.nameDef("_UID", Aml.integer(1)),
                Aml.nameDef("_CRS", Aml.resourceTemplate(Aml.io(Serial16550.COM1, Serial16550.COM1, 1, 8), Aml.irqNoFlags(4))));
        byte[] rtc = Aml.device("RTC",
                Aml.nameDef("_HID", Aml.integer(Aml.eisaId("PNP0B00"))),
                Aml.nameDef("_CRS", Aml.resourceTemplate(Aml.io(0x70, 0x70, 1, 2))));
        // The ECAM window, claimed as a motherboard resource so the kernel trusts the MCFG.
        byte[] resources = Aml.device("MRES",
                Aml.nameDef("_HID", Aml.integer(Aml.eisaId("PNP0C02"))),
                Aml.nameDef("_UID", Aml.integer(1)),
                Aml.nameDef("_CRS", Aml.resourceTemplate(Aml.memory32Fixed(PcLayout.PCI_ECAM, PcLayout.PCI_ECAM_SIZE))));
        // The power button of a hardware-reduced platform: a Generic Event Device whose interrupt
        // makes the button device send its "pressed" notification (Linux turns it into KEY_POWER).
        byte[] ged = Aml.device("GED0",
                Aml.nameDef("_HID", Aml.string("ACPI0013")),
                Aml.nameDef("_UID", Aml.integer(0)),
                Aml.nameDef("_CRS", Aml.resourceTemplate(Aml.interruptEdge(POWER_BUTTON_GSI))),
                Aml.method("_EVT", 1, Aml.notify("\\_SB.PWRB", 0x80)));
        byte[] button = Aml.device("PWRB",
                Aml.nameDef("_HID", Aml.integer(Aml.eisaId("PNP0C0C"))),
                Aml.nameDef("_UID", Aml.integer(0)));
        byte[] sb = Aml.scope("\\_SB", pciRoot(), resources, com1, rtc, button, ged);
        byte[] s5 = Aml.nameDef("\\_S5", Aml.packageOf(Aml.integer(AcpiPowerControl.S5_SLEEP_TYPE), Aml.integer(0),
                Aml.integer(0), Aml.integer(0)));
        return Aml.concat(s5, sb);
    }
}
