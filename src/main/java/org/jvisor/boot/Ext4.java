package org.jvisor.boot;

import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.OptionalLong;

/**
 * A read-only ext2/ext3/ext4 filesystem on a volume: inodes, file contents, directories and path
 * lookup with symlinks. The journal is not replayed (a bootloader does not either).
 */
public final class Ext4 {
    public static final long ROOT = 2;
    static final int MAX_SYMLINKS = 40, MAX_SYMLINK_BYTES = 4096;
    static final long MAX_DIRECTORY = 64L << 20;

    private final Volume volume;
    private final Ext4Superblock sb;

    private Ext4(Volume volume, Ext4Superblock sb) {
        this.volume = volume;
        this.sb = sb;
    }

    public static Ext4 open(Volume volume) throws BootException {
        return new Ext4(volume, Ext4Superblock.read(volume));
    }

    /** Whether the volume carries an ext superblock magic (it may still fail to open). */
    public static boolean probe(Volume volume) throws BootException {
        return Ext4Superblock.probe(volume);
    }

    /** ext2, ext3 or ext4. */
    public String type() {
        return sb.type();
    }

    /** The filesystem UUID as root=UUID= wants it, or null when it has none. */
    public String uuid() {
        return sb.uuidString();
    }

    public String label() {
        return sb.volumeName();
    }

    int blockSize() {
        return sb.blockSize();
    }

    void checkBlocks(long start, long count, String where) throws BootException {
        if (start < sb.firstDataBlock() || count < 0 || start > sb.blocksCount() - count) {
            throw new BootException("ext4: " + where + " points at blocks " + start + "+" + count + ", outside the filesystem (" + sb.blocksCount() + " blocks)");
        }
    }

    byte[] readBlock(long block) throws BootException {
        checkBlocks(block, 1, "a block reference");
        return volume.read(block * sb.blockSize(), sb.blockSize());
    }

    Ext4Inode inode(long ino) throws BootException {
        if (ino < 1 || ino > sb.inodesCount()) throw new BootException("ext4: inode " + ino + " out of range (1.." + sb.inodesCount() + ")");
        long group = (ino - 1) / sb.inodesPerGroup(), index = (ino - 1) % sb.inodesPerGroup();
        if (group >= sb.groupCount()) throw new BootException("ext4: inode " + ino + " is in group " + group + ", past the last group");
        long descOffset = (sb.firstDataBlock() + 1) * sb.blockSize() + group * sb.descSize();
        if (descOffset / sb.blockSize() >= sb.blocksCount()) throw new BootException("ext4: group descriptor " + group + " lies outside the filesystem");
        byte[] d = volume.read(descOffset, sb.descSize());
        long table = Le.u32(d, 0x8) | (sb.descSize() >= 64 ? Le.u32(d, 0x28) << 32 : 0);
        long byteInTable = index * sb.inodeSize();
        checkBlocks(table + byteInTable / sb.blockSize(), 1, "group " + group + "'s inode table");
        byte[] raw = volume.read(table * sb.blockSize() + byteInTable, sb.inodeSize());
        long size = Le.u32(raw, 0x4) | Le.u32(raw, 0x6C) << 32;
        return new Ext4Inode(ino, Le.u16(raw, 0), size, Le.u32(raw, 0x20), java.util.Arrays.copyOfRange(raw, 0x28, 0x28 + 60), raw);
    }

    /** The whole file, refused when larger than max bytes; holes read as zeros. */
    public byte[] readFile(long ino, long max) throws BootException {
        return read(inode(ino), max);
    }

    byte[] read(Ext4Inode in, long max) throws BootException {
        if (in.hasFlag(Ext4Inode.FL_ENCRYPT)) throw new BootException("ext4: inode " + in.number() + " is encrypted");
        if (in.size() < 0 || in.size() > max) throw new BootException("ext4: inode " + in.number() + " is " + in.size() + " bytes, over the limit of " + max);
        int size = (int) in.size();
        byte[] out = new byte[size];
        if (in.hasFlag(Ext4Inode.FL_INLINE_DATA)) {
            byte[] rest = InlineData.continuation(in);
            if (size > 60 + rest.length) throw new BootException("ext4: inode " + in.number() + " claims " + size + " bytes of inline data but holds " + (60 + rest.length));
            System.arraycopy(in.iBlock(), 0, out, 0, Math.min(60, size));
            if (size > 60) System.arraycopy(rest, 0, out, 60, size - 60);
            return out;
        }
        int bs = sb.blockSize();
        long fileBlocks = (in.size() + bs - 1) / bs;
        for (BlockRun r : FileBlocks.map(this, in, fileBlocks)) {
            long from = r.logical() * bs, to = Math.min(size, (r.logical() + r.count()) * bs);
            long disk = r.physical() * bs;
            for (long at = from; at < to; ) {
                int n = (int) Math.min(1 << 20, to - at);
                volume.read(disk + (at - from), out, (int) at, n);
                at += n;
            }
        }
        return out;
    }

    /** The entries of a directory inode, "." and ".." included. */
    public List<DirEntry> list(long ino) throws BootException {
        Ext4Inode in = inode(ino);
        if (!in.isDirectory()) throw new BootException("ext4: inode " + ino + " is not a directory");
        if (in.hasFlag(Ext4Inode.FL_INLINE_DATA)) {
            List<DirEntry> parent = List.of(new DirEntry("..", Le.u32(in.iBlock(), 0), 2));
            return Ext4Directory.parseInline(parent, in.iBlock(), InlineData.continuation(in), hasFileType());
        }
        return Ext4Directory.parse(read(in, MAX_DIRECTORY), sb.blockSize(), hasFileType(), ino);
    }

    private boolean hasFileType() {
        return (sb.incompat() & Ext4Superblock.INCOMPAT_FILETYPE) != 0;
    }

    /** The target of a symlink inode (fast, in the inode, or slow, in a block). */
    public String readlink(long ino) throws BootException {
        Ext4Inode in = inode(ino);
        if (!in.isSymlink()) throw new BootException("ext4: inode " + ino + " is not a symlink");
        if (in.size() > MAX_SYMLINK_BYTES) throw new BootException("ext4: symlink inode " + ino + " is " + in.size() + " bytes long");
        byte[] target;
        if (in.size() < 60 && !in.hasFlag(Ext4Inode.FL_EXTENTS) && !in.hasFlag(Ext4Inode.FL_INLINE_DATA)) {
            target = java.util.Arrays.copyOf(in.iBlock(), (int) in.size());
        } else {
            target = read(in, MAX_SYMLINK_BYTES);
        }
        return new String(target, StandardCharsets.UTF_8);
    }

    public boolean isDirectory(long ino) throws BootException {
        return inode(ino).isDirectory();
    }

    public boolean isRegular(long ino) throws BootException {
        return inode(ino).isRegular();
    }

    public boolean isSymlink(long ino) throws BootException {
        return inode(ino).isSymlink();
    }

    /**
     * The inode at an absolute path, symlinks followed (the last one too when followLast),
     * relative targets from the link's directory; empty when a component does not exist.
     */
    public OptionalLong lookup(String path, boolean followLast) throws BootException {
        Deque<String> todo = new ArrayDeque<>();
        push(todo, path);
        long cur = ROOT;
        int links = 0;
        while (!todo.isEmpty()) {
            String name = todo.pop();
            if (name.isEmpty() || name.equals(".")) continue;
            Ext4Inode dir = inode(cur);
            if (!dir.isDirectory()) return OptionalLong.empty();
            OptionalLong child = find(cur, name);
            if (child.isEmpty()) return OptionalLong.empty();
            Ext4Inode c = inode(child.getAsLong());
            if (c.isSymlink() && (followLast || !todo.isEmpty())) {
                if (++links > MAX_SYMLINKS) throw new BootException("ext4: more than " + MAX_SYMLINKS + " symlinks resolving " + path);
                String target = readlink(c.number());
                if (target.startsWith("/")) cur = ROOT;
                push(todo, target);
                continue;
            }
            cur = c.number();
        }
        return OptionalLong.of(cur);
    }

    public OptionalLong lookup(String path) throws BootException {
        return lookup(path, true);
    }

    private static void push(Deque<String> todo, String path) {
        String[] parts = path.split("/");
        for (int i = parts.length - 1; i >= 0; i--) todo.push(parts[i]);
    }

    private OptionalLong find(long dir, String name) throws BootException {
        for (DirEntry e : list(dir)) if (e.name().equals(name)) return OptionalLong.of(e.inode());
        return OptionalLong.empty();
    }

    /** The file at a path (symlinks followed), or null when there is none or it is no regular file. */
    public byte[] readPath(String path, long max) throws BootException {
        OptionalLong ino = lookup(path, true);
        if (ino.isEmpty() || !isRegular(ino.getAsLong())) return null;
        return readFile(ino.getAsLong(), max);
    }
}
