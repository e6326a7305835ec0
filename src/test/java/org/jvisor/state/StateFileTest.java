package org.jvisor.state;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.jvisor.memory.GuestMemory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The state file container: round trips, sparse and lazily mapped RAM, the compatibility rule, and hostile files. */
class StateFileTest {
    @TempDir Path dir;

    static final Set<String> KNOWN = Set.of("config", "cpu0", "ram", "note");

    /** RAM with a few scattered non-zero pages and a run of them. */
    static void scatter(GuestMemory ram) {
        ram.write64(0, 0x1122334455667788L);
        for (long p = 5; p < 9; p++) ram.write32(p * 4096 + 100, (int) p);
        ram.write8(ram.size() - 1, 0x7F);
        ram.write64((ram.size() / 2) & -4096L, -1L);
    }

    static Path write(Path file, GuestMemory ram) throws Exception {
        try (StateWriter w = StateWriter.create(file)) {
            w.section("config", true, "{\"memoryBytes\":1}".getBytes(StandardCharsets.UTF_8));
            w.section("note", false, new byte[0]);
            w.section("cpu0", true, new byte[] {1, 2, 3});
            w.ram("ram", ram);
            w.commit();
        }
        return file;
    }

    static boolean sameContent(GuestMemory a, GuestMemory b) {
        return a.size() == b.size() && MemorySegment.mismatch(a.segment(), 0, a.size(), b.segment(), 0, b.size()) < 0;
    }

    static String sha(Path p) throws Exception {
        return java.util.HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(p)));
    }

    @Test
    void sectionsAndSparseRamComeBackAndTheMappedRamIsCopyOnWrite() throws Exception {
        try (GuestMemory ram = GuestMemory.allocate(64L << 20)) {
            scatter(ram);
            Path f = dir.resolve("vm.state");
            long ramWritten;
            try (StateWriter w = StateWriter.create(f)) {
                w.section("config", true, "{}".getBytes(StandardCharsets.UTF_8));
                w.ram("ram", ram);
                ramWritten = w.ramBytesWritten();
                w.commit();
            }
            assertEquals(7 * 4096, ramWritten, "only the non-zero pages are written");
            assertTrue(Files.size(f) < 64 * 1024, "a 64 MiB guest with 7 touched pages: " + Files.size(f) + " bytes");
            assertFalse(Files.exists(dir.resolve("vm.state.tmp")));
            String before = sha(f);
            try (StateReader r = StateReader.open(f)) {
                assertEquals(1, r.formatVersion());
                assertEquals(List.of("config", "ram"), r.sectionNames());
                assertArrayEquals("{}".getBytes(StandardCharsets.UTF_8), r.required("config"));
                assertEquals(64L << 20, r.ramSize("ram"));
                try (GuestMemory mapped = r.mapRam("ram"); GuestMemory copy = GuestMemory.allocate(64L << 20)) {
                    assertTrue(sameContent(ram, mapped));
                    r.loadRam("ram", copy);
                    assertTrue(sameContent(ram, copy));
                    mapped.write64(0, 42); // copy-on-write: the guest's write stays in this process
                    mapped.write64(20 * 4096, 43);
                    assertEquals(42, mapped.read64(0));
                    mapped.discard(5 * 4096, 4096); // a page the balloon took reads as zero, not as the file's
                    assertEquals(0, mapped.read32(5 * 4096 + 100));
                    assertEquals(6, mapped.read32(6 * 4096 + 100));
                }
            }
            assertEquals(before, sha(f), "the state file changed under the restored guest");
        }
    }

    @Test
    void anAbandonedSaveLeavesNoFileAndKeepsAnOlderOne() throws Exception {
        Path f = dir.resolve("old.state");
        try (GuestMemory ram = GuestMemory.allocate(1 << 20)) {
            write(f, ram);
            String before = sha(f);
            try (StateWriter w = StateWriter.create(f)) {
                w.section("config", true, new byte[10]);
            } // no commit
            assertEquals(before, sha(f));
            assertFalse(Files.exists(dir.resolve("old.state.tmp")));
            try (StateWriter w = StateWriter.create(dir.resolve("new.state"))) {
                w.section("x", true, new byte[1]);
                assertThrows(java.io.IOException.class, () -> w.section("x", true, new byte[1]), "a name twice");
            }
            assertFalse(Files.exists(dir.resolve("new.state")));
        }
    }

    @Test
    void unknownSectionsAreSkippedUnlessRequiredAndNewerVersionsAreRefused() throws Exception {
        Path f = dir.resolve("vm.state");
        try (GuestMemory ram = GuestMemory.allocate(1 << 20)) {
            try (StateWriter w = StateWriter.create(f)) {
                w.section("config", true, new byte[] {1});
                w.section("from-the-future", false, new byte[] {2});
                w.ram("ram", ram);
                w.commit();
            }
            try (StateReader r = StateReader.open(f, KNOWN)) {
                assertEquals(List.of("config", "from-the-future", "ram"), r.sectionNames());
                assertFalse(r.isRequired("from-the-future"));
                assertTrue(r.section("nothing").isEmpty());
                StateFileException e = assertThrows(StateFileException.class, () -> r.required("nothing"));
                assertTrue(e.getMessage().contains("no section 'nothing'"), e.getMessage());
            }
            try (StateWriter w = StateWriter.create(f)) {
                w.section("must-know", true, new byte[] {2});
                w.commit();
            }
            StateFileException e = assertThrows(StateFileException.class, () -> StateReader.open(f, KNOWN).close());
            assertTrue(e.getMessage().contains("'must-know'"), e.getMessage());
            byte[] b = Files.readAllBytes(f);
            ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putInt(8, 2);
            Files.write(f, b);
            e = assertThrows(StateFileException.class, () -> StateReader.open(f).close());
            assertTrue(e.getMessage().contains("version 2") && e.getMessage().contains("up to 1"), e.getMessage());
        }
    }

    static byte[] smallFile(Path dir) throws Exception {
        try (GuestMemory ram = GuestMemory.allocate(64 << 10)) {
            scatter(ram);
            return Files.readAllBytes(write(dir.resolve("small.state"), ram));
        }
    }

    /** Opens, reads every section and the RAM; true when the file was accepted. Only StateFileException may come out. */
    static boolean readAll(byte[] file, GuestMemory into) throws StateFileException {
        StateReader r = StateReader.parse(file, KNOWN);
        for (String n : r.sectionNames()) {
            if (!n.equals("ram")) r.section(n);
        }
        r.ramSize("ram");
        r.loadRam("ram", into);
        return true;
    }

    @Test
    void everyTruncationIsACleanError() throws Exception {
        byte[] f = smallFile(dir);
        try (GuestMemory into = GuestMemory.allocate(64 << 10)) {
            assertTrue(readAll(f, into));
            for (int len = 0; len < f.length; len++) {
                byte[] cut = java.util.Arrays.copyOf(f, len);
                StateFileException e = assertThrows(StateFileException.class, () -> readAll(cut, into), "truncated to " + len);
                assertFalse(e.getMessage().isBlank());
            }
        }
    }

    @Test
    void aHundredThousandMutationsGiveOnlyCleanErrors() throws Exception {
        byte[] f = smallFile(dir);
        Random rnd = new Random(20261202);
        int runs = 100_000, rejected = 0;
        try (GuestMemory into = GuestMemory.allocate(64 << 10)) {
            for (int i = 0; i < runs; i++) {
                byte[] m = mutate(f, rnd);
                try {
                    readAll(m, into);
                } catch (StateFileException e) {
                    rejected++;
                } catch (RuntimeException | OutOfMemoryError e) {
                    throw new AssertionError("mutation " + i + " escaped as " + e, e);
                }
            }
        }
        System.out.printf("state file fuzz: %d mutations, %d rejected with a clean error, %d accepted%n", runs, rejected, runs - rejected);
        assertTrue(rejected > runs / 4, "too few mutations were caught: " + rejected);
    }

    /** Byte flips, truncations, inserted bytes, and length or offset fields set to hostile values. */
    static byte[] mutate(byte[] f, Random rnd) {
        byte[] m = f.clone();
        int kind = rnd.nextInt(6);
        switch (kind) {
            case 0 -> { for (int k = 1 + rnd.nextInt(4); k > 0; k--) m[rnd.nextInt(m.length)] ^= (byte) (1 << rnd.nextInt(8)); }
            case 1 -> m = java.util.Arrays.copyOf(m, rnd.nextInt(m.length));
            case 2 -> {
                int at = rnd.nextInt(m.length), n = 1 + rnd.nextInt(16);
                byte[] g = new byte[m.length + n];
                System.arraycopy(m, 0, g, 0, at);
                System.arraycopy(m, at, g, at + n, m.length - at);
                m = g;
            }
            case 3 -> { // a long field anywhere in the index or trailer set to something huge or negative
                int at = m.length - 24 - rnd.nextInt(Math.min(m.length - 8, 400));
                long v = switch (rnd.nextInt(4)) {
                    case 0 -> Long.MAX_VALUE;
                    case 1 -> -1L;
                    case 2 -> 1L << 40;
                    default -> rnd.nextLong();
                };
                ByteBuffer.wrap(m).order(ByteOrder.LITTLE_ENDIAN).putLong(Math.max(0, at), v);
            }
            case 4 -> { // an int field set to a hostile count
                int at = Math.max(0, m.length - 24 - rnd.nextInt(Math.min(m.length - 4, 400)));
                ByteBuffer.wrap(m).order(ByteOrder.LITTLE_ENDIAN).putInt(at, rnd.nextBoolean() ? Integer.MAX_VALUE : rnd.nextInt());
            }
            default -> m[rnd.nextInt(m.length)] = (byte) rnd.nextInt(256);
        }
        if (rnd.nextBoolean()) fixIndexCrc(m); // so that half the damage gets past the index check to the fields behind it
        return m;
    }

    /** Recomputes the index CRC when the trailer still locates the index, as a careful attacker would. */
    static void fixIndexCrc(byte[] m) {
        if (m.length < 4096 + 24) return;
        ByteBuffer b = ByteBuffer.wrap(m).order(ByteOrder.LITTLE_ENDIAN);
        long at = b.getLong(m.length - 24);
        int len = b.getInt(m.length - 16);
        if (at < 0 || len < 0 || at > m.length || at + len > m.length - 24) return;
        b.putInt(m.length - 12, StateWriter.crc(m, (int) at, len));
    }
}
