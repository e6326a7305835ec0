package org.jvisor.state;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.zip.CRC32C;
import org.jvisor.memory.GuestMemory;

/**
 * Writes a state file: sections, then RAM, then {@link #commit}. It writes to a temporary file
 * beside the target and renames it into place at commit, so a failed or abandoned save leaves
 * no half file and never damages an older one.
 */
public final class StateWriter implements AutoCloseable {
    private final Path file, tmp;
    private final FileChannel ch;
    private final List<StateFormat.Entry> entries = new ArrayList<>();
    private final Set<String> names = new HashSet<>();
    private long position = StateFormat.HEADER;
    private long ramBytes;
    private boolean finished, committed;

    private StateWriter(Path file) throws IOException {
        this.file = file;
        this.tmp = file.resolveSibling(file.getFileName() + ".tmp");
        this.ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE,
                StandardOpenOption.READ);
        ByteBuffer h = le(StateFormat.HEADER);
        h.put(StateFormat.MAGIC).putInt(StateFormat.VERSION).putInt(StateFormat.HEADER).position(StateFormat.HEADER).flip();
        writeFully(h, 0);
    }

    public static StateWriter create(Path file) throws IOException {
        return new StateWriter(file.toAbsolutePath());
    }

    public void section(String name, boolean required, byte[] payload) throws IOException {
        if (payload.length > StateFormat.MAX_SECTION) throw new IOException("section '" + name + "' is larger than " + StateFormat.MAX_SECTION + " bytes");
        add(name, required ? StateFormat.FLAG_REQUIRED : 0, payload);
    }

    /** RAM, sparse: only pages holding something other than zeros are written, each run page-aligned. */
    public void ram(String name, GuestMemory ram) throws IOException {
        MemorySegment seg = ram.segment();
        long size = ram.size(), page = StateFormat.PAGE;
        MemorySegment zero = MemorySegment.ofArray(new byte[(int) page]);
        position = align(position);
        List<long[]> runs = new ArrayList<>();
        long runStart = -1;
        for (long a = 0; a <= size; a += page) {
            boolean data = a < size && MemorySegment.mismatch(seg, a, a + page, zero, 0, page) >= 0;
            if (data && runStart < 0) runStart = a;
            if (!data && runStart >= 0) {
                long len = a - runStart;
                ByteBuffer b = seg.asSlice(runStart, len).asByteBuffer();
                writeFully(b, position);
                runs.add(new long[] {runStart, len, position});
                position += len;
                ramBytes += len;
                runStart = -1;
            }
        }
        ByteBuffer t = le(12 + 24 * runs.size());
        t.putLong(size).putInt(runs.size());
        for (long[] r : runs) t.putLong(r[0]).putLong(r[1]).putLong(r[2]);
        add(name, StateFormat.FLAG_REQUIRED | StateFormat.FLAG_RAM, t.array());
    }

    /** Bytes of RAM written (the non-zero pages). */
    public long ramBytesWritten() {
        return ramBytes;
    }

    /** Writes the index and trailer, forces the file to disk and renames it over the target. */
    public void commit() throws IOException {
        finishWriting();
        makeDurable();
    }

    /**
     * Writes the index and trailer: the file's content is complete (in the host's page cache),
     * so what it captured may change from here on; {@link #makeDurable} then puts it in place.
     */
    public void finishWriting() throws IOException {
        if (finished) return;
        finished = true;
        int size = 4;
        for (StateFormat.Entry e : entries) size += 2 + e.name().getBytes(StandardCharsets.UTF_8).length + 1 + 8 + 8 + 4;
        ByteBuffer idx = le(size);
        idx.putInt(entries.size());
        for (StateFormat.Entry e : entries) {
            byte[] n = e.name().getBytes(StandardCharsets.UTF_8);
            idx.putShort((short) n.length).put(n).put((byte) e.flags()).putLong(e.offset()).putLong(e.length()).putInt(e.crc());
        }
        idx.flip();
        long indexAt = position;
        writeFully(idx, indexAt);
        ByteBuffer tr = le(StateFormat.TRAILER);
        tr.putLong(indexAt).putInt(size).putInt(crc(idx.array(), 0, size)).put(StateFormat.END).flip();
        writeFully(tr, indexAt + size);
        ch.truncate(indexAt + size + StateFormat.TRAILER);
    }

    /** Forces the finished file to disk and renames it over the target. */
    public void makeDurable() throws IOException {
        if (!finished) throw new IllegalStateException("the state file is not finished");
        ch.force(true);
        ch.close();
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        committed = true;
    }

    @Override
    public void close() throws IOException {
        if (ch.isOpen()) ch.close();
        if (!committed) Files.deleteIfExists(tmp);
    }

    private void add(String name, int flags, byte[] payload) throws IOException {
        byte[] n = name.getBytes(StandardCharsets.UTF_8);
        if (n.length == 0 || n.length > StateFormat.MAX_NAME) throw new IOException("bad section name '" + name + "'");
        if (!names.add(name)) throw new IOException("section '" + name + "' written twice");
        writeFully(ByteBuffer.wrap(payload), position);
        entries.add(new StateFormat.Entry(name, flags, position, payload.length, crc(payload, 0, payload.length)));
        position += payload.length;
    }

    private void writeFully(ByteBuffer b, long at) throws IOException {
        while (b.hasRemaining()) at += ch.write(b, at);
    }

    static long align(long v) {
        return (v + StateFormat.PAGE - 1) & -StateFormat.PAGE;
    }

    static ByteBuffer le(int n) {
        return ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN);
    }

    static int crc(byte[] b, int off, int len) {
        CRC32C c = new CRC32C();
        c.update(b, off, len);
        return (int) c.getValue();
    }
}
