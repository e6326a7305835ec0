package org.jvisor.boot;

/**
 * An inode's fields that reading needs; iBlock is the 60-byte i_block area (block map, extent
 * root, inline data or fast symlink), raw the whole on-disk inode (its in-inode xattrs hold the
 * rest of inline data).
 */
record Ext4Inode(long number, int mode, long size, long flags, byte[] iBlock, byte[] raw) {
    static final int S_IFMT = 0xF000, S_IFDIR = 0x4000, S_IFREG = 0x8000, S_IFLNK = 0xA000;
    static final long FL_ENCRYPT = 0x800, FL_EXTENTS = 0x80000, FL_INLINE_DATA = 0x10000000;

    boolean isDirectory() {
        return (mode & S_IFMT) == S_IFDIR;
    }

    boolean isRegular() {
        return (mode & S_IFMT) == S_IFREG;
    }

    boolean isSymlink() {
        return (mode & S_IFMT) == S_IFLNK;
    }

    boolean hasFlag(long f) {
        return (flags & f) != 0;
    }
}
