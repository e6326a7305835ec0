package org.jvisor.arch.x86;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * The ACPI tables, checked twice: structurally here (checksums, pointers, lengths) and by ACPICA's
 * own disassembler (iasl, from acpica-tools, installed by scripts/prereqs.sh), which must read
 * every table without complaint and show what the guest will see.
 */
class AcpiTablesTest {
    final AcpiTables.Layout layout = AcpiTables.build(1);

    ByteBuffer at(long address) {
        return ByteBuffer.wrap(layout.image()).order(ByteOrder.LITTLE_ENDIAN).position((int) (address - AcpiTables.BASE));
    }

    byte[] table(long address) {
        int len = at(address + 4).getInt();
        byte[] t = new byte[len];
        at(address).get(t);
        return t;
    }

    static int sum(byte[] b, int from, int to) {
        int s = 0;
        for (int i = from; i < to; i++) s += b[i];
        return s & 0xFF;
    }

    long xsdt() {
        return at(layout.rsdp() + 24).getLong();
    }

    long entry(String signature) {
        byte[] x = table(xsdt());
        for (int off = 36; off < x.length; off += 8) {
            long a = ByteBuffer.wrap(x).order(ByteOrder.LITTLE_ENDIAN).getLong(off);
            if (new String(table(a), 0, 4, StandardCharsets.US_ASCII).equals(signature)) return a;
        }
        throw new AssertionError(signature + " not in the XSDT");
    }

    @Test
    void rsdpAndTablesAreChecksummedAndLinked() {
        byte[] rsdp = new byte[36];
        at(layout.rsdp()).get(rsdp);
        assertEquals("RSD PTR ", new String(rsdp, 0, 8, StandardCharsets.US_ASCII));
        assertEquals(0, sum(rsdp, 0, 20));
        assertEquals(0, sum(rsdp, 0, 36));
        assertEquals(2, rsdp[15]);
        for (String sig : new String[] {"FACP", "APIC"}) assertEquals(0, sum(table(entry(sig)), 0, table(entry(sig)).length), sig);
        byte[] fadt = table(entry("FACP"));
        ByteBuffer f = ByteBuffer.wrap(fadt).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(276, fadt.length);
        long dsdt = f.getLong(140);
        assertEquals(dsdt, f.getInt(40) & 0xFFFFFFFFL);
        assertEquals("DSDT", new String(table(dsdt), 0, 4, StandardCharsets.US_ASCII));
        assertEquals(0, sum(table(dsdt), 0, table(dsdt).length));
        assertTrue((f.getInt(112) & AcpiTables.FADT_HW_REDUCED) != 0);
        assertTrue(layout.image().length + AcpiTables.BASE <= ResetVector.ADDRESS, "tables stay below the reset vector");
    }

    @Test
    void amlEncodings() {
        assertEquals(0x0105D041L, Aml.eisaId("PNP0501"));
        assertEquals(0x0A, Aml.withPkgLength(new byte[9])[0]);
        byte[] two = Aml.withPkgLength(new byte[100]);
        assertEquals(0x40 | (102 & 0xF), two[0] & 0xFF);
        assertEquals(102 >>> 4, two[1]);
        assertEquals(100 + 2, two.length);
        byte[] three = Aml.withPkgLength(new byte[5000]);
        assertEquals(0x80 | (5003 & 0xF), three[0] & 0xFF);
    }

    /** iasl -d: ACPICA's disassembler must parse each table and report its content. */
    @Test
    void acpicaDisassemblesEveryTable() throws Exception {
        Path dir = Files.createTempDirectory("jvisor-acpi");
        try {
            String dsdt = disassemble(dir, "dsdt", table(at(entry("FACP") + 140).getLong()));
            assertTrue(dsdt.contains("PNP0501") && dsdt.contains("0x03F8") && dsdt.contains("{4}"), dsdt);
            assertTrue(dsdt.contains("_S5_") && dsdt.contains("PNP0B00"), dsdt);
            String facp = disassemble(dir, "facp", table(entry("FACP")));
            assertTrue(facp.matches("(?s).*Hardware Reduced \\(V5\\) : 1.*"), facp);
            assertTrue(facp.matches("(?s).*Reset Register Supported \\(V2\\) : 1.*"), facp);
            assertTrue(facp.matches("(?s).*Value to cause reset : 42.*"), facp);
            String madt = disassemble(dir, "apic", table(entry("APIC")));
            assertTrue(madt.contains("Local Apic Address : FEE00000"), madt);
            assertTrue(madt.contains("[I/O APIC]") && madt.contains("Address : FEC00000"), madt);
            assertTrue(madt.contains("[Interrupt Source Override]"), madt);
        } finally {
            try (var s = Files.list(dir)) {
                for (Path p : s.toList()) Files.delete(p);
            }
            Files.delete(dir);
        }
    }

    static String disassemble(Path dir, String name, byte[] table) throws IOException, InterruptedException {
        Path bin = dir.resolve(name + ".dat");
        Files.write(bin, table);
        Process p = new ProcessBuilder("iasl", "-d", bin.getFileName().toString()).directory(dir.toFile()).redirectErrorStream(true).start();
        String log = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), "iasl -d " + name + ":\n" + log);
        assertTrue(!log.contains("Error") && !log.contains("Warning "), log);
        return Files.readString(dir.resolve(name + ".dsl"));
    }
}
