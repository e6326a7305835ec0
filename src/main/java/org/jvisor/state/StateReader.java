package org.jvisor.state;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.jvisor.memory.GuestMemory;
import org.jvisor.memory.GuestMemoryException;

/**
 * Reads a state file. Opening checks the header, the trailer, the index and every section's
 * CRC; every length and offset is checked against the file before anything is allocated for it,
 * so a truncated, damaged or hostile file ends in a {@link StateFileException} that names what
 * is wrong, never in another exception or an allocation the file's size does not justify.
 */
public final class StateReader implements AutoCloseable {
    /** Where the bytes come from: a file, or memory (the fuzzer's mutations). */
    interface Source extends AutoCloseable {
        long size() throws IOException;

        void read(long at, ByteBuffer into) throws IOException;

        @Override
        void close() throws IOException;
    }

    /** A run of RAM pages in the file. */
    record Run(long guest, long length, long fileOffset) {}

    private final Source src;
    private final Path file; // null for memory
    private final int version;
    private final Map<String, StateFormat.Entry> index;

    private StateReader(Source src, Path file, Set<String> known) throws StateFileException, IOException {
        this.src = src;
        this.file = file;
        long size = src.size();
        if (size < StateFormat.HEADER + StateFormat.TRAILER) throw new StateFileException("not a jvisor state file: only " + size + " bytes");
        ByteBuffer h = read(0, 16);
        byte[] magic = new byte[8];
        h.get(magic);
        if (!Arrays.equals(magic, StateFormat.MAGIC)) throw new StateFileException("not a jvisor state file (no JVSTATE header)");
        version = h.getInt();
        if (version < 1) throw new StateFileException("state file format version " + version + " is not valid");
        if (version > StateFormat.VERSION) {
            throw new StateFileException("the state file needs jvisor format version " + version + ", this jvisor reads up to " + StateFormat.VERSION);
        }
        if (h.getInt() != StateFormat.HEADER) throw new StateFileException("state file header size is not " + StateFormat.HEADER);
        ByteBuffer t = read(size - StateFormat.TRAILER, StateFormat.TRAILER);
        long indexAt = t.getLong();
        int indexLen = t.getInt(), indexCrc = t.getInt();
        byte[] end = new byte[8];
        t.get(end);
        if (!Arrays.equals(end, StateFormat.END)) throw new StateFileException("the state file is truncated (no JVSTEND trailer)");
        if (indexLen < 4 || indexAt < StateFormat.HEADER || indexAt + indexLen != size - StateFormat.TRAILER) {
            throw new StateFileException("the state file's index is out of place (offset " + indexAt + ", " + indexLen + " bytes)");
        }
        ByteBuffer idx = read(indexAt, indexLen);
        if (StateWriter.crc(idx.array(), 0, indexLen) != indexCrc) throw new StateFileException("the state file's index is damaged (CRC mismatch)");
        index = parseIndex(idx, indexAt);
        for (StateFormat.Entry e : index.values()) {
            if (e.required() && known != null && !known.contains(e.name())) {
                throw new StateFileException("the state file needs section '" + e.name() + "', which this jvisor does not know: restore it with a newer jvisor");
            }
            if ((e.flags() & StateFormat.FLAG_RAM) == 0) payload(e); // checks the CRC now, so later reads cannot fail halfway through a restore
        }
    }

    /** Opens a state file; {@code known} names the sections this jvisor understands (null: do not check required ones). */
    public static StateReader open(Path file, Set<String> known) throws StateFileException, IOException {
        FileChannel ch = FileChannel.open(file, StandardOpenOption.READ);
        Source s = new Source() {
            @Override
            public long size() throws IOException {
                return ch.size();
            }

            @Override
            public void read(long at, ByteBuffer into) throws IOException {
                while (into.hasRemaining()) {
                    if (ch.read(into, at + into.position()) < 0) throw new IOException("unexpected end of file");
                }
            }

            @Override
            public void close() throws IOException {
                ch.close();
            }
        };
        try {
            return new StateReader(s, file.toAbsolutePath(), known);
        } catch (StateFileException | IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
    }

    public static StateReader open(Path file) throws StateFileException, IOException {
        return open(file, null);
    }

    /** Parses a state file held in memory (no lazy RAM mapping then, only {@link #loadRam}). */
    static StateReader parse(byte[] bytes, Set<String> known) throws StateFileException {
        Source s = new Source() {
            @Override
            public long size() {
                return bytes.length;
            }

            @Override
            public void read(long at, ByteBuffer into) throws IOException {
                if (at < 0 || at + into.remaining() > bytes.length) throw new IOException("unexpected end of file");
                into.put(bytes, (int) at, into.remaining());
            }

            @Override
            public void close() {
            }
        };
        try {
            return new StateReader(s, null, known);
        } catch (IOException e) {
            throw new StateFileException("the state file is truncated: " + e.getMessage(), e);
        }
    }

    private Map<String, StateFormat.Entry> parseIndex(ByteBuffer idx, long indexAt) throws StateFileException {
        try {
            int count = idx.getInt();
            if (count < 0 || count > StateFormat.MAX_SECTIONS) throw new StateFileException("the state file's index claims " + count + " sections");
            Map<String, StateFormat.Entry> m = new LinkedHashMap<>();
            var utf8 = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
            for (int i = 0; i < count; i++) {
                int nameLen = idx.getShort() & 0xFFFF;
                if (nameLen == 0 || nameLen > StateFormat.MAX_NAME || nameLen > idx.remaining()) throw new StateFileException("section " + i + " has a bad name length " + nameLen);
                String name;
                try {
                    name = utf8.decode(idx.slice(idx.position(), nameLen)).toString();
                } catch (CharacterCodingException e) {
                    throw new StateFileException("section " + i + "'s name is not UTF-8");
                }
                idx.position(idx.position() + nameLen);
                int flags = idx.get() & 0xFF;
                long offset = idx.getLong(), length = idx.getLong();
                int crc = idx.getInt();
                if (offset < StateFormat.HEADER || length < 0 || length > StateFormat.MAX_SECTION || offset > indexAt - length) {
                    throw new StateFileException("section '" + name + "' lies outside the file (offset " + offset + ", " + length + " bytes)");
                }
                if (m.put(name, new StateFormat.Entry(name, flags, offset, length, crc)) != null) throw new StateFileException("section '" + name + "' appears twice");
            }
            if (idx.hasRemaining()) throw new StateFileException("the state file's index has " + idx.remaining() + " stray bytes");
            return m;
        } catch (java.nio.BufferUnderflowException e) {
            throw new StateFileException("the state file's index is cut short");
        }
    }

    public int formatVersion() {
        return version;
    }

    public List<String> sectionNames() {
        return List.copyOf(index.keySet());
    }

    public boolean isRequired(String name) {
        StateFormat.Entry e = index.get(name);
        return e != null && e.required();
    }

    public Optional<byte[]> section(String name) throws StateFileException {
        StateFormat.Entry e = index.get(name);
        return e == null ? Optional.empty() : Optional.of(payload(e));
    }

    public byte[] required(String name) throws StateFileException {
        return section(name).orElseThrow(() -> new StateFileException("the state file has no section '" + name + "'"));
    }

    private byte[] payload(StateFormat.Entry e) throws StateFileException {
        ByteBuffer b;
        try {
            b = read(e.offset(), (int) e.length());
        } catch (IOException x) {
            throw new StateFileException("cannot read section '" + e.name() + "': " + x.getMessage(), x);
        }
        if (StateWriter.crc(b.array(), 0, (int) e.length()) != e.crc()) throw new StateFileException("section '" + e.name() + "' is damaged (CRC mismatch)");
        return b.array();
    }

    /** The RAM size a RAM section records. */
    public long ramSize(String name) throws StateFileException {
        return ramTable(name).size;
    }

    private record RamTable(long size, List<Run> runs) {}

    private RamTable ramTable(String name) throws StateFileException {
        StateFormat.Entry e = index.get(name);
        if (e == null || (e.flags() & StateFormat.FLAG_RAM) == 0) throw new StateFileException("the state file has no RAM section '" + name + "'");
        ByteBuffer t = ByteBuffer.wrap(payload(e)).order(ByteOrder.LITTLE_ENDIAN);
        try {
            long size = t.getLong();
            int count = t.getInt();
            if (size <= 0 || size > StateFormat.MAX_RAM || size % StateFormat.PAGE != 0) throw new StateFileException("the state's RAM size " + size + " is not valid");
            if (count < 0 || (long) count * 24 != t.remaining()) throw new StateFileException("the RAM table's run count " + count + " does not match its length");
            List<Run> runs = new ArrayList<>(count);
            long next = 0, fileSize = src.size();
            for (int i = 0; i < count; i++) {
                long g = t.getLong(), len = t.getLong(), off = t.getLong();
                if (g < next || len <= 0 || g % StateFormat.PAGE != 0 || len % StateFormat.PAGE != 0 || off % StateFormat.PAGE != 0 || g > size - len) {
                    throw new StateFileException("RAM run " + i + " (guest " + g + ", " + len + " bytes) is out of order or outside RAM");
                }
                if (off < StateFormat.HEADER || off > fileSize - StateFormat.TRAILER - len) throw new StateFileException("RAM run " + i + " lies outside the file");
                runs.add(new Run(g, len, off));
                next = g + len;
            }
            return new RamTable(size, runs);
        } catch (java.nio.BufferUnderflowException x) {
            throw new StateFileException("the RAM table is cut short");
        } catch (IOException x) {
            throw new StateFileException("cannot read the state file: " + x.getMessage(), x);
        }
    }

    /** Guest RAM mapped from the file copy-on-write: pages are read when first touched; the file never changes. */
    public GuestMemory mapRam(String name) throws StateFileException {
        RamTable t = ramTable(name);
        if (file == null) throw new StateFileException("only a state file on disk can be mapped");
        int n = t.runs().size();
        long[] at = new long[n], len = new long[n], off = new long[n];
        for (int i = 0; i < n; i++) {
            at[i] = t.runs().get(i).guest();
            len[i] = t.runs().get(i).length();
            off[i] = t.runs().get(i).fileOffset();
        }
        try {
            return GuestMemory.mapPrivate(t.size(), file, at, len, off);
        } catch (GuestMemoryException e) {
            throw new StateFileException(e.getMessage(), e);
        }
    }

    /** Copies the RAM into {@code into} (same size), a run at a time. */
    public void loadRam(String name, GuestMemory into) throws StateFileException {
        RamTable t = ramTable(name);
        if (into.size() != t.size()) throw new StateFileException("the state's RAM is " + t.size() + " bytes, the machine's " + into.size());
        ByteBuffer buf = ByteBuffer.allocate(1 << 20);
        for (Run r : t.runs()) {
            for (long done = 0; done < r.length(); ) {
                int n = (int) Math.min(buf.capacity(), r.length() - done);
                buf.clear().limit(n);
                try {
                    src.read(r.fileOffset() + done, buf);
                } catch (IOException x) {
                    throw new StateFileException("cannot read RAM: " + x.getMessage(), x);
                }
                into.write(r.guest() + done, buf.array(), 0, n);
                done += n;
            }
        }
    }

    private ByteBuffer read(long at, int len) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(len).order(ByteOrder.LITTLE_ENDIAN);
        src.read(at, b);
        b.flip();
        return b;
    }

    @Override
    public void close() throws IOException {
        src.close();
    }
}
