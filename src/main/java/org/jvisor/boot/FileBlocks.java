package org.jvisor.boot;

import java.util.ArrayList;
import java.util.List;

/**
 * Maps a file's logical blocks to disk blocks, by extent tree or by the old direct/indirect
 * block map, into runs. Only blocks below the file's size are mapped, so the work is bounded by
 * the size the caller accepted, whatever the tree claims.
 */
final class FileBlocks {
    static final int EXTENT_MAGIC = 0xF30A, MAX_DEPTH = 5, MAX_NODES = 1 << 16;

    private final Ext4 fs;
    private final long fileBlocks;
    private final List<BlockRun> runs = new ArrayList<>();
    private int nodes;

    private FileBlocks(Ext4 fs, long fileBlocks) {
        this.fs = fs;
        this.fileBlocks = fileBlocks;
    }

    static List<BlockRun> map(Ext4 fs, Ext4Inode inode, long fileBlocks) throws BootException {
        FileBlocks m = new FileBlocks(fs, fileBlocks);
        if (inode.hasFlag(Ext4Inode.FL_EXTENTS)) {
            m.extentNode(inode.iBlock(), -1, "inode " + inode.number());
        } else {
            m.indirect(inode);
        }
        return m.runs;
    }

    private void extentNode(byte[] b, int expectDepth, String where) throws BootException {
        if (++nodes > MAX_NODES) throw new BootException("ext4: extent tree of more than " + MAX_NODES + " nodes");
        if (Le.u16(b, 0) != EXTENT_MAGIC) throw new BootException("ext4: bad extent header magic in " + where);
        int entries = Le.u16(b, 2), max = Le.u16(b, 4), depth = Le.u16(b, 6);
        if (entries > max || 12 + 12L * max > b.length) throw new BootException("ext4: extent header in " + where + " claims " + entries + "/" + max + " entries");
        if (depth > MAX_DEPTH || (expectDepth >= 0 && depth != expectDepth)) throw new BootException("ext4: extent depth " + depth + " in " + where + " is invalid");
        for (int i = 0; i < entries; i++) {
            int e = 12 + 12 * i;
            long logical = Le.u32(b, e);
            if (logical >= fileBlocks) break;
            if (depth > 0) {
                long child = Le.u32(b, e + 4) | (long) Le.u16(b, e + 8) << 32;
                extentNode(fs.readBlock(child), depth - 1, "extent block " + child);
            } else {
                int len = Le.u16(b, e + 4);
                long start = Le.u32(b, e + 8) | (long) Le.u16(b, e + 6) << 32;
                if (len > 32768) continue; // uninitialized: reads as zeros
                fs.checkBlocks(start, len, where);
                add(logical, start, len);
            }
        }
    }

    private void indirect(Ext4Inode inode) throws BootException {
        byte[] b = inode.iBlock();
        for (int i = 0; i < 12 && i < fileBlocks; i++) pointer(Le.u32(b, 4 * i), i);
        long per = fs.blockSize() / 4, base = 12;
        for (int level = 1; level <= 3 && base < fileBlocks; level++) {
            long ptr = Le.u32(b, 4 * (11 + level));
            if (ptr != 0) indirectBlock(ptr, level, base, per);
            long span = 1;
            for (int k = 0; k < level; k++) span *= per;
            base += span;
        }
    }

    private void indirectBlock(long block, int level, long base, long per) throws BootException {
        if (++nodes > MAX_NODES * 16) throw new BootException("ext4: block map of more than " + MAX_NODES * 16 + " indirect blocks");
        byte[] b = fs.readBlock(block);
        long span = 1;
        for (int k = 1; k < level; k++) span *= per;
        for (int i = 0; i < per; i++) {
            long logical = base + i * span;
            if (logical >= fileBlocks) return;
            long ptr = Le.u32(b, 4 * i);
            if (ptr == 0) continue;
            if (level == 1) pointer(ptr, logical);
            else indirectBlock(ptr, level - 1, logical, per);
        }
    }

    private void pointer(long ptr, long logical) throws BootException {
        if (ptr == 0) return;
        fs.checkBlocks(ptr, 1, "block map");
        add(logical, ptr, 1);
    }

    private void add(long logical, long physical, long count) {
        count = Math.min(count, fileBlocks - logical);
        if (!runs.isEmpty()) {
            BlockRun last = runs.getLast();
            if (last.logical() + last.count() == logical && last.physical() + last.count() == physical) {
                runs.set(runs.size() - 1, new BlockRun(last.logical(), last.physical(), last.count() + count));
                return;
            }
        }
        runs.add(new BlockRun(logical, physical, count));
    }
}
