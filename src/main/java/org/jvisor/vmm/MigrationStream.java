package org.jvisor.vmm;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.SequencedMap;
import org.jvisor.memory.GuestMemory;

/**
 * The live-migration wire format, big-endian. The source sends a header ({@link #MAGIC}, format
 * version), the machine's configuration, then frames: runs of pages with their contents, runs of
 * pages that are zero now, and last the device state sections followed by an end mark. The
 * destination answers one byte, {@link #RUNNING} (it took the machine and runs it) or
 * {@link #FAILED} with a message. Every length is checked against the machine before anything is
 * allocated or written, so a hostile or broken stream ends in a {@link MigrationException}.
 */
final class MigrationStream {
    static final byte[] MAGIC = "JVMIGRAT".getBytes(StandardCharsets.US_ASCII);
    static final int VERSION = 1;
    static final byte CONFIG = 'C', PAGES = 'P', ZERO = 'Z', STATE = 'S', END = 'E';
    static final byte RUNNING = 'R', FAILED = 'F';
    static final int MAX_CONFIG = 1 << 20, MAX_SECTION = 16 << 20, MAX_SECTIONS = 4096, MAX_RUN = 256;
    private static final int PAGE = (int) GuestMemory.PAGE_SIZE;

    /** The stream does not hold a migration this jvisor can take; the message says what was wrong. */
    static final class MigrationException extends IOException {
        MigrationException(String message) {
            super(message);
        }
    }

    private MigrationStream() {}

    // ------------------------------------------------------------------ sending

    static void writeHeader(DataOutputStream out, byte[] config) throws IOException {
        out.write(MAGIC);
        out.writeInt(VERSION);
        out.writeByte(CONFIG);
        out.writeInt(config.length);
        out.write(config);
    }

    /** Sends the pages of [first, first + count) from RAM; pages that are zero go as a zero run. */
    static long writePages(DataOutputStream out, MemorySegment ram, long first, int count, byte[] buf) throws IOException {
        long sent = 0;
        long p = first, end = first + count;
        while (p < end) {
            boolean zero = isZero(ram, p);
            long q = p + 1;
            while (q < end && q - p < MAX_RUN && isZero(ram, q) == zero) q++;
            int n = (int) (q - p);
            out.writeByte(zero ? ZERO : PAGES);
            out.writeLong(p);
            out.writeInt(n);
            if (!zero) {
                for (long k = p; k < q; k++) {
                    MemorySegment.copy(ram, ValueLayout.JAVA_BYTE, k * PAGE, buf, 0, PAGE);
                    out.write(buf, 0, PAGE);
                }
                sent += (long) n * PAGE;
            }
            p = q;
        }
        return sent;
    }

    /** Sends the pages of [first, first + count) that are not zero (for a destination whose RAM is still all zero). */
    static long writeNonZeroPages(DataOutputStream out, MemorySegment ram, long first, int count, byte[] buf) throws IOException {
        long sent = 0;
        long p = first, end = first + count;
        while (p < end) {
            if (isZero(ram, p)) {
                p++;
                continue;
            }
            long q = p + 1;
            while (q < end && !isZero(ram, q)) q++;
            sent += writePages(out, ram, p, (int) (q - p), buf);
            p = q;
        }
        return sent;
    }

    private static final MemorySegment ZEROS = MemorySegment.ofArray(new byte[PAGE]);

    static boolean isZero(MemorySegment ram, long page) {
        return ram.asSlice(page * PAGE, PAGE).mismatch(ZEROS) < 0;
    }

    static void writeState(DataOutputStream out, SequencedMap<String, byte[]> sections) throws IOException {
        out.writeByte(STATE);
        out.writeInt(sections.size());
        for (var e : sections.entrySet()) {
            byte[] name = e.getKey().getBytes(StandardCharsets.UTF_8);
            out.writeShort(name.length);
            out.write(name);
            out.writeByte(1); // required: every section this version writes is
            out.writeInt(e.getValue().length);
            out.write(e.getValue());
        }
        out.writeByte(END);
    }

    // ------------------------------------------------------------------ receiving

    /** Reads the header; returns the configuration's bytes. */
    static byte[] readHeader(DataInputStream in) throws IOException {
        byte[] magic = new byte[MAGIC.length];
        readFully(in, magic, "the header");
        if (!java.util.Arrays.equals(magic, MAGIC)) throw new MigrationException("the peer did not send a jvisor migration (bad magic)");
        int version = in.readInt();
        if (version != VERSION) {
            throw new MigrationException("the migration stream is version " + version + "; this jvisor takes version " + VERSION
                    + ": migrate between the same jvisor versions");
        }
        if (in.readByte() != CONFIG) throw new MigrationException("the stream does not start with the machine's configuration");
        int len = in.readInt();
        if (len <= 0 || len > MAX_CONFIG) throw new MigrationException("a configuration of " + len + " bytes");
        byte[] config = new byte[len];
        readFully(in, config, "the configuration");
        return config;
    }

    /** What the frames after the header held, once the end mark came. */
    record Received(List<String> sectionNames, SequencedMap<String, byte[]> sections, List<String> required, long pageBytes) {}

    /** Reads page frames into RAM until the state sections and the end mark; returns the sections. */
    static Received readFrames(DataInputStream in, MemorySegment ram, java.util.function.LongConsumer progress) throws IOException {
        long pages = ram.byteSize() / PAGE;
        long bytes = 0;
        byte[] buf = new byte[PAGE];
        for (;;) {
            int kind = in.read();
            if (kind < 0) throw new MigrationException("the source closed the stream before the machine's state");
            switch (kind) {
                case PAGES, ZERO -> {
                    long first = in.readLong();
                    int n = in.readInt();
                    if (n <= 0 || n > MAX_RUN || first < 0 || first > pages - n) {
                        throw new MigrationException("a run of " + n + " pages at page " + first + " is outside the machine's " + pages + " pages");
                    }
                    if (kind == ZERO) {
                        ram.asSlice(first * PAGE, (long) n * PAGE).fill((byte) 0);
                    } else {
                        for (long k = first; k < first + n; k++) {
                            readFully(in, buf, "page " + k);
                            MemorySegment.copy(buf, 0, ram, ValueLayout.JAVA_BYTE, k * PAGE, PAGE);
                        }
                        bytes += (long) n * PAGE;
                        progress.accept(bytes);
                    }
                }
                case STATE -> {
                    Sections st = readSections(in);
                    return new Received(st.names(), st.raw(), st.required(), bytes);
                }
                default -> throw new MigrationException("unknown frame type " + kind);
            }
        }
    }

    private record Sections(SequencedMap<String, byte[]> raw, List<String> names, List<String> required) {}

    private static Sections readSections(DataInputStream in) throws IOException {
        int count = in.readInt();
        if (count <= 0 || count > MAX_SECTIONS) throw new MigrationException(count + " state sections");
        SequencedMap<String, byte[]> raw = new LinkedHashMap<>();
        List<String> names = new ArrayList<>(), required = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            int nameLen = in.readUnsignedShort();
            if (nameLen == 0 || nameLen > 256) throw new MigrationException("a section name of " + nameLen + " bytes");
            byte[] name = new byte[nameLen];
            readFully(in, name, "a section name");
            String n = new String(name, StandardCharsets.UTF_8);
            boolean req = in.readByte() != 0;
            int len = in.readInt();
            if (len < 0 || len > MAX_SECTION) throw new MigrationException("section '" + n + "' of " + len + " bytes");
            byte[] body = new byte[len];
            readFully(in, body, "section '" + n + "'");
            if (raw.put(n, body) != null) throw new MigrationException("section '" + n + "' sent twice");
            names.add(n);
            if (req) required.add(n);
        }
        if (in.read() != END) throw new MigrationException("no end mark after the machine's state");
        return new Sections(raw, names, required);
    }

    private static void readFully(DataInputStream in, byte[] b, String what) throws IOException {
        try {
            in.readFully(b);
        } catch (EOFException e) {
            throw new MigrationException("the stream ended inside " + what);
        }
    }
}
