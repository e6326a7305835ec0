package org.jvisor.arch.x86;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * Just enough of the ACPI Machine Language encoder for a DSDT: names, scopes, devices, integers,
 * strings, packages and resource-template buffers (ACPI 6.5, chapter 20). Every term is a byte
 * array; containers wrap their contents with a PkgLength.
 */
final class Aml {
    private Aml() {}

    static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) out.writeBytes(p);
        return out.toByteArray();
    }

    /** A PkgLength covering itself and {@code body}, followed by the body. */
    static byte[] withPkgLength(byte[] body) {
        int n = body.length;
        byte[] len;
        if (n + 1 < 0x40) {
            len = new byte[] {(byte) (n + 1)};
        } else if (n + 2 < 0x1000) {
            int t = n + 2;
            len = new byte[] {(byte) (0x40 | (t & 0xF)), (byte) (t >>> 4)};
        } else if (n + 3 < 0x100000) {
            int t = n + 3;
            len = new byte[] {(byte) (0x80 | (t & 0xF)), (byte) (t >>> 4), (byte) (t >>> 12)};
        } else {
            int t = n + 4;
            len = new byte[] {(byte) (0xC0 | (t & 0xF)), (byte) (t >>> 4), (byte) (t >>> 12), (byte) (t >>> 20)};
        }
        return concat(len, body);
    }

    /** A name path: "\\_SB_", "COM1", "\\_SB_.PCI0"; segments shorter than four are padded with '_'. */
    static byte[] name(String path) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        String p = path;
        if (p.startsWith("\\")) {
            out.write('\\');
            p = p.substring(1);
        }
        String[] segs = p.split("\\.");
        if (segs.length == 2) out.write(0x2E); // DualNamePrefix
        else if (segs.length > 2) {
            out.write(0x2F); // MultiNamePrefix
            out.write(segs.length);
        }
        for (String s : segs) {
            if (s.isEmpty() || s.length() > 4) throw new IllegalArgumentException("bad AML name segment: " + s);
            out.writeBytes((s + "___").substring(0, 4).getBytes(StandardCharsets.US_ASCII));
        }
        return out.toByteArray();
    }

    static byte[] nameDef(String name, byte[] value) {
        return concat(new byte[] {0x08}, name(name), value);
    }

    static byte[] scope(String name, byte[]... terms) {
        return concat(new byte[] {0x10}, withPkgLength(concat(name(name), concat(terms))));
    }

    static byte[] device(String name, byte[]... terms) {
        return concat(new byte[] {0x5B, (byte) 0x82}, withPkgLength(concat(name(name), concat(terms))));
    }

    static byte[] integer(long v) {
        if (v == 0) return new byte[] {0x00};
        if (v == 1) return new byte[] {0x01};
        if (v >= 0 && v <= 0xFF) return new byte[] {0x0A, (byte) v};
        if (v >= 0 && v <= 0xFFFF) return new byte[] {0x0B, (byte) v, (byte) (v >>> 8)};
        if (v >= 0 && v <= 0xFFFFFFFFL) return new byte[] {0x0C, (byte) v, (byte) (v >>> 8), (byte) (v >>> 16), (byte) (v >>> 24)};
        byte[] q = new byte[9];
        q[0] = 0x0E;
        for (int i = 0; i < 8; i++) q[1 + i] = (byte) (v >>> (8 * i));
        return q;
    }

    static byte[] string(String s) {
        return concat(new byte[] {0x0D}, s.getBytes(StandardCharsets.US_ASCII), new byte[] {0});
    }

    /** Method(NAME, args, NotSerialized) { terms }. */
    static byte[] method(String name, int args, byte[]... terms) {
        return concat(new byte[] {0x14}, withPkgLength(concat(name(name), new byte[] {(byte) (args & 7)}, concat(terms))));
    }

    /** Notify(object, value). */
    static byte[] notify(String object, int value) {
        return concat(new byte[] {(byte) 0x86}, name(object), integer(value));
    }

    /** Interrupt(ResourceConsumer, Edge, ActiveHigh, Exclusive) { gsi }: the extended interrupt descriptor. */
    static byte[] interruptEdge(int gsi) {
        return new byte[] {(byte) 0x89, 6, 0, 0x03, 1, (byte) gsi, (byte) (gsi >>> 8), (byte) (gsi >>> 16), (byte) (gsi >>> 24)};
    }

    /** EISAID("PNP0501"): three letters in five bits each and four hex digits, stored big-endian. */
    static long eisaId(String id) {
        if (id.length() != 7) throw new IllegalArgumentException("EISA id needs 7 characters: " + id);
        int letters = (id.charAt(0) - 0x40) << 10 | (id.charAt(1) - 0x40) << 5 | (id.charAt(2) - 0x40);
        int product = Integer.parseInt(id.substring(3), 16);
        int be = letters << 16 | product;
        return Integer.reverseBytes(be) & 0xFFFFFFFFL;
    }

    static byte[] packageOf(byte[]... elements) {
        return concat(new byte[] {0x12}, withPkgLength(concat(new byte[] {(byte) elements.length}, concat(elements))));
    }

    /** ResourceTemplate(): the descriptors plus an end tag, as a Buffer. */
    static byte[] resourceTemplate(byte[]... descriptors) {
        byte[] body = concat(concat(descriptors), new byte[] {0x79, 0x00});
        return concat(new byte[] {0x11}, withPkgLength(concat(integer(body.length), body)));
    }

    /** IO(Decode16, min, max, alignment, length). */
    static byte[] io(int min, int max, int align, int length) {
        return new byte[] {0x47, 0x01, (byte) min, (byte) (min >>> 8), (byte) max, (byte) (max >>> 8), (byte) align, (byte) length};
    }

    /** IRQNoFlags(){irq}: edge-triggered, active high, ISA style. */
    static byte[] irqNoFlags(int irq) {
        int mask = 1 << irq;
        return new byte[] {0x22, (byte) mask, (byte) (mask >>> 8)};
    }

    /** WordBusNumber(ResourceProducer, MinFixed, MaxFixed, PosDecode, 0, min, max, 0, count). */
    static byte[] wordBusNumber(int min, int max) {
        return wordAddress(2, 0, min, max);
    }

    /** WordIO(ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange, 0, min, max, 0, length). */
    static byte[] wordIo(int min, int max) {
        return wordAddress(1, 3, min, max);
    }

    private static byte[] wordAddress(int type, int typeFlags, int min, int max) {
        int len = max - min + 1;
        return new byte[] {(byte) 0x88, 13, 0, (byte) type, 0x0C, (byte) typeFlags, 0, 0,
                (byte) min, (byte) (min >>> 8), (byte) max, (byte) (max >>> 8), 0, 0, (byte) len, (byte) (len >>> 8)};
    }

    /** DWordMemory(ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite, 0, min, max, 0, length). */
    static byte[] dwordMemory(long min, long max) {
        long len = max - min + 1;
        byte[] b = new byte[26];
        b[0] = (byte) 0x87;
        b[1] = 23;
        b[3] = 0;       // memory range
        b[4] = 0x0C;    // min and max fixed, positive decode, producer
        b[5] = 0x01;    // read-write, non-cacheable
        long[] fields = {0, min, max, 0, len};
        for (int f = 0; f < 5; f++) for (int i = 0; i < 4; i++) b[6 + 4 * f + i] = (byte) (fields[f] >>> (8 * i));
        return b;
    }

    /** Memory32Fixed(ReadWrite, base, length). */
    static byte[] memory32Fixed(long base, long length) {
        return new byte[] {(byte) 0x86, 9, 0, 1, (byte) base, (byte) (base >>> 8), (byte) (base >>> 16), (byte) (base >>> 24),
                (byte) length, (byte) (length >>> 8), (byte) (length >>> 16), (byte) (length >>> 24)};
    }
}
