package org.jvisor.vmm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Random;
import java.util.SequencedMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The migration stream without a guest: what is sent is what arrives (pages, zero runs, the state
 * sections), and a destination fed broken or hostile streams (100,000 mutations of a good one)
 * only ever ends with a clean error, touching no RAM outside the machine.
 */
class MigrationStreamTest {
    static final int PAGES = 64, PAGE = 4096;

    static byte[] goodStream(MemorySegment ram) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        DataOutputStream out = new DataOutputStream(bytes);
        MigrationStream.writeHeader(out, "{\"memoryBytes\":262144}".getBytes(StandardCharsets.UTF_8));
        byte[] buf = new byte[PAGE];
        MigrationStream.writeNonZeroPages(out, ram, 0, PAGES, buf);
        ram.asSlice(7L * PAGE, PAGE).fill((byte) 0); // a page that became zero after the first pass
        ram.set(ValueLayout.JAVA_BYTE, 9L * PAGE + 5, (byte) 0x5a); // and one written again
        MigrationStream.writePages(out, ram, 7, 3, buf);
        SequencedMap<String, byte[]> sections = new LinkedHashMap<>();
        sections.put("machine", "{\"halted\":false}".getBytes(StandardCharsets.UTF_8));
        sections.put("cpu0", "{\"rip\":4096}".getBytes(StandardCharsets.UTF_8));
        MigrationStream.writeState(out, sections);
        out.flush();
        return bytes.toByteArray();
    }

    static MemorySegment pattern(Arena arena) {
        MemorySegment ram = arena.allocate((long) PAGES * PAGE, PAGE);
        Random r = new Random(7);
        for (int p = 0; p < PAGES; p += 3) { // every third page has data, the rest is zero
            for (int i = 0; i < PAGE; i += 8) ram.set(ValueLayout.JAVA_LONG, (long) p * PAGE + i, r.nextLong());
        }
        return ram;
    }

    @Test
    void whatIsSentArrives() throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment src = pattern(arena);
            byte[] stream = goodStream(src);
            assertTrue(stream.length < (PAGES / 3 + 2) * PAGE + 1000, "zero pages cost nothing: " + stream.length);
            MemorySegment dst = arena.allocate((long) PAGES * PAGE, PAGE);
            DataInputStream in = new DataInputStream(new ByteArrayInputStream(stream));
            assertEquals("{\"memoryBytes\":262144}", new String(MigrationStream.readHeader(in), StandardCharsets.UTF_8));
            MigrationStream.Received r = MigrationStream.readFrames(in, dst, b -> { });
            assertEquals(-1, src.mismatch(dst), "RAM arrived as it was sent");
            assertEquals(java.util.List.of("machine", "cpu0"), r.sectionNames());
            assertArrayEquals("{\"rip\":4096}".getBytes(StandardCharsets.UTF_8), r.sections().get("cpu0"));
            assertEquals(r.sectionNames(), r.required());
        }
    }

    @Test
    void brokenStreamsEndInCleanErrors() throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            byte[] good = goodStream(pattern(arena));
            MemorySegment dst = arena.allocate((long) PAGES * PAGE, PAGE);
            assertThrows(MigrationStream.MigrationException.class, () -> read("HELLO WORLD, NOT A VM".getBytes(StandardCharsets.US_ASCII), dst));
            byte[] v2 = good.clone();
            v2[11] = 2; // the version
            assertTrue(assertThrows(MigrationStream.MigrationException.class, () -> read(v2, dst)).getMessage().contains("version 2"));
            byte[] huge = good.clone();
            huge[13] = 0x7f; // the configuration's length
            assertThrows(MigrationStream.MigrationException.class, () -> read(huge, dst));
            Random r = new Random(20261203);
            int clean = 0, accepted = 0;
            for (int i = 0; i < 100_000; i++) {
                byte[] m = good.clone();
                switch (r.nextInt(3)) {
                    case 0 -> m[r.nextInt(m.length)] ^= (byte) (1 << r.nextInt(8));
                    case 1 -> m = java.util.Arrays.copyOf(m, r.nextInt(m.length));
                    default -> {
                        int at = r.nextInt(m.length - 4);
                        for (int k = 0; k < 4; k++) m[at + k] = (byte) r.nextInt(256);
                    }
                }
                try {
                    read(m, dst);
                    accepted++; // a flip inside page contents or a section body is still a well-formed stream
                } catch (IOException e) {
                    clean++;
                }
            }
            System.out.printf("migration stream fuzz: %d of 100000 mutations refused cleanly, %d well-formed%n", clean, accepted);
            assertEquals(100_000, clean + accepted);
        }
    }

    private static void read(byte[] stream, MemorySegment ram) throws IOException {
        DataInputStream in = new DataInputStream(new ByteArrayInputStream(stream));
        MigrationStream.readHeader(in);
        MigrationStream.readFrames(in, ram, b -> { });
    }

    @Test
    void aDestinationRefusesWhatIsNotAMigrationAndWaitsForTheNext(@TempDir Path dir) throws Exception {
        MigrationUri uri = MigrationUri.parse("unix:" + dir.resolve("in.sock"));
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        Thread receiver = Thread.ofPlatform().start(() -> {
            try {
                MigrationReceiver.receive(uri, new java.io.PrintStream(log, true)).close();
            } catch (IOException e) {
                // interrupted at the end of the test
            }
        });
        try {
            for (String garbage : new String[] {"GET / HTTP/1.1\r\n\r\n", "JVMIGRAT\0\0\0\7"}) {
                SocketChannel c = null;
                for (int k = 0; k < 200 && c == null; k++) {
                    try {
                        c = SocketChannel.open(uri.address());
                    } catch (IOException e) {
                        Thread.sleep(20);
                    }
                }
                try (SocketChannel ch = c) {
                    ch.write(java.nio.ByteBuffer.wrap(garbage.getBytes(StandardCharsets.ISO_8859_1)));
                    ch.shutdownOutput();
                    DataInputStream in = new DataInputStream(Channels.newInputStream(ch));
                    assertEquals(MigrationStream.FAILED, in.readByte());
                    String why = new String(in.readNBytes(in.readUnsignedShort()), StandardCharsets.UTF_8);
                    assertTrue(why.contains(garbage.startsWith("GET") ? "bad magic" : "version 7"), why);
                }
            }
            assertTrue(receiver.isAlive(), "still waiting for a real source");
            assertTrue(log.toString().contains("refused"), log.toString());
        } finally {
            receiver.interrupt();
            receiver.join(5000);
        }
    }
}
