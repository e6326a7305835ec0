package org.jvisor.boot;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Linear directory blocks. An htree directory reads the same way: its index blocks look like
 * one empty entry spanning the block, and checksum tails have inode 0.
 */
final class Ext4Directory {
    static final int MAX_ENTRIES = 1 << 20;

    private Ext4Directory() {}

    static List<DirEntry> parse(byte[] data, int blockSize, boolean fileType, long ino) throws BootException {
        List<DirEntry> out = new ArrayList<>();
        for (int block = 0; block < data.length; block += blockSize) {
            entries(data, block, Math.min(data.length, block + blockSize), fileType, ino, out);
        }
        return out;
    }

    /** An inline directory: the parent's inode number, then entries in i_block and on in the system.data xattr. */
    static List<DirEntry> parseInline(List<DirEntry> parent, byte[] iBlock, byte[] rest, boolean fileType) throws BootException {
        List<DirEntry> out = new ArrayList<>(parent);
        entries(iBlock, 4, iBlock.length, fileType, 0, out);
        entries(rest, 0, rest.length, fileType, 0, out);
        return out;
    }

    private static void entries(byte[] b, int from, int end, boolean fileType, long ino, List<DirEntry> out) throws BootException {
        for (int at = from; at + 8 <= end; ) {
            long inode = Le.u32(b, at);
            int recLen = Le.u16(b, at + 4);
            int nameLen = fileType ? Le.u8(b, at + 6) : Le.u16(b, at + 6);
            if (recLen < 8 || recLen % 4 != 0 || at + recLen > end) {
                throw new BootException("ext4: directory inode " + ino + " has a bad entry (rec_len " + recLen + ") at byte " + at);
            }
            if (inode != 0) {
                if (8 + nameLen > recLen) throw new BootException("ext4: directory inode " + ino + " has a name longer than its entry at byte " + at);
                if (out.size() >= MAX_ENTRIES) throw new BootException("ext4: directory inode " + ino + " has more than " + MAX_ENTRIES + " entries");
                out.add(new DirEntry(new String(b, at + 8, nameLen, StandardCharsets.UTF_8), inode, fileType ? Le.u8(b, at + 7) : 0));
            }
            at += recLen;
        }
    }
}
