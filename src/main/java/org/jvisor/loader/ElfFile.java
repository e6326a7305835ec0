package org.jvisor.loader;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * A little-endian ELF64 file in memory: its section and program headers, validated against the
 * file's length (every offset is untrusted).
 */
public final class ElfFile {
    public record Section(String name, int type, long offset, long size) {}

    public record Segment(int type, long offset, long vaddr, long paddr, long fileSize, long memSize) {}

    public static final int PT_LOAD = 1;

    private final ByteBuffer b;
    private final List<Section> sections = new ArrayList<>();
    private final List<Segment> segments = new ArrayList<>();
    private final long entry;

    public ElfFile(byte[] bytes) {
        b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        if (bytes.length < 64 || b.getInt(0) != 0x464C457F) throw new IllegalArgumentException("not an ELF file");
        if (bytes[4] != 2 || bytes[5] != 1) throw new IllegalArgumentException("not a little-endian ELF64 file");
        entry = b.getLong(24);
        long phoff = b.getLong(32), shoff = b.getLong(40);
        int phentsize = b.getShort(54) & 0xFFFF, phnum = b.getShort(56) & 0xFFFF;
        int shentsize = b.getShort(58) & 0xFFFF, shnum = b.getShort(60) & 0xFFFF, shstrndx = b.getShort(62) & 0xFFFF;
        if (phnum > 0) {
            check(phoff, (long) phentsize * phnum, "program headers");
            if (phentsize < 56) throw new IllegalArgumentException("program header entries too small");
            for (int i = 0; i < phnum; i++) {
                int at = (int) (phoff + (long) i * phentsize);
                segments.add(new Segment(b.getInt(at), b.getLong(at + 8), b.getLong(at + 16), b.getLong(at + 24),
                        b.getLong(at + 32), b.getLong(at + 40)));
            }
        }
        if (shnum > 0) {
            check(shoff, (long) shentsize * shnum, "section headers");
            if (shentsize < 64 || shstrndx >= shnum) throw new IllegalArgumentException("bad section header table");
            int strAt = (int) (shoff + (long) shstrndx * shentsize);
            long strOff = b.getLong(strAt + 24), strSize = b.getLong(strAt + 32);
            check(strOff, strSize, "section names");
            for (int i = 0; i < shnum; i++) {
                int at = (int) (shoff + (long) i * shentsize);
                int nameOff = b.getInt(at);
                long off = b.getLong(at + 24), size = b.getLong(at + 32);
                int type = b.getInt(at + 4);
                String name = nameOff >= 0 && nameOff < strSize ? cString(strOff + nameOff, strSize - nameOff) : "";
                sections.add(new Section(name, type, off, size));
            }
        }
    }

    private void check(long off, long len, String what) {
        if (off < 0 || len < 0 || off > b.capacity() - len) throw new IllegalArgumentException(what + " outside the file");
    }

    private String cString(long off, long max) {
        int end = (int) off;
        while (end < off + max && b.get(end) != 0) end++;
        return new String(b.array(), (int) off, end - (int) off, StandardCharsets.UTF_8);
    }

    public long entry() {
        return entry;
    }

    public List<Section> sections() {
        return sections;
    }

    public List<Segment> segments() {
        return segments;
    }

    public Optional<Section> section(String name) {
        return sections.stream().filter(s -> s.name.equals(name)).findFirst();
    }

    /** The bytes of a section (NOBITS sections have none). */
    public byte[] contents(Section s) {
        if (s.type == 8) return new byte[0];
        check(s.offset, s.size, "section " + s.name);
        byte[] out = new byte[(int) s.size];
        b.get((int) s.offset, out);
        return out;
    }

    /** The key=value strings of a kernel module's .modinfo section. */
    public List<String> modinfo() {
        List<String> out = new ArrayList<>();
        section(".modinfo").ifPresent(s -> {
            byte[] d = contents(s);
            int start = 0;
            for (int i = 0; i <= d.length; i++) {
                if (i == d.length || d[i] == 0) {
                    if (i > start) out.add(new String(d, start, i - start, StandardCharsets.UTF_8));
                    start = i + 1;
                }
            }
        });
        return out;
    }
}
