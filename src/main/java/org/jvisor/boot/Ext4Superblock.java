package org.jvisor.boot;

/**
 * The fields of an ext2/3/4 superblock (at byte 1024) that reading needs, validated so that
 * every later computation on them stays in range.
 */
record Ext4Superblock(int blockSize, long blocksCount, long firstDataBlock, long blocksPerGroup, long inodesPerGroup,
                      long inodesCount, int inodeSize, int descSize, long compat, long incompat, long roCompat, byte[] uuid,
                      String volumeName) {
    static final int MAGIC = 0xEF53;
    static final long COMPAT_HAS_JOURNAL = 0x4;
    static final long INCOMPAT_COMPRESSION = 0x1, INCOMPAT_FILETYPE = 0x2, INCOMPAT_RECOVER = 0x4, INCOMPAT_JOURNAL_DEV = 0x8,
            INCOMPAT_META_BG = 0x10, INCOMPAT_EXTENTS = 0x40, INCOMPAT_64BIT = 0x80, INCOMPAT_MMP = 0x100,
            INCOMPAT_FLEX_BG = 0x200, INCOMPAT_EA_INODE = 0x400, INCOMPAT_DIRDATA = 0x1000, INCOMPAT_CSUM_SEED = 0x2000,
            INCOMPAT_LARGEDIR = 0x4000, INCOMPAT_INLINE_DATA = 0x8000, INCOMPAT_ENCRYPT = 0x10000, INCOMPAT_CASEFOLD = 0x20000;
    /** Features that change nothing for a reader that ignores xattrs, checksums and the journal. */
    static final long READABLE = INCOMPAT_FILETYPE | INCOMPAT_RECOVER | INCOMPAT_EXTENTS | INCOMPAT_64BIT | INCOMPAT_MMP
            | INCOMPAT_FLEX_BG | INCOMPAT_EA_INODE | INCOMPAT_CSUM_SEED | INCOMPAT_LARGEDIR | INCOMPAT_INLINE_DATA
            | INCOMPAT_ENCRYPT | INCOMPAT_CASEFOLD;

    /** Whether a volume starts like an ext filesystem (the magic only). */
    static boolean probe(Volume v) throws BootException {
        return v.length() >= 2048 && Le.u16(v.read(1024 + 0x38, 2), 0) == MAGIC;
    }

    static Ext4Superblock read(Volume v) throws BootException {
        if (v.length() < 2048) throw new BootException("ext4: volume too small for a superblock");
        byte[] s = v.read(1024, 1024);
        if (Le.u16(s, 0x38) != MAGIC) throw new BootException("ext4: no superblock magic");
        long logBlock = Le.u32(s, 0x18);
        if (logBlock > 6) throw new BootException("ext4: block size 2^" + (10 + logBlock) + " is invalid");
        int blockSize = 1024 << logBlock;
        long incompat = Le.u32(s, 0x60);
        long unknown = incompat & ~READABLE;
        if (unknown != 0) throw new BootException(String.format("ext4: unsupported incompatible features 0x%x%s", unknown, names(unknown)));
        int rev = (int) Le.u32(s, 0x4C);
        int inodeSize = rev == 0 ? 128 : Le.u16(s, 0x58);
        if (inodeSize < 128 || inodeSize > blockSize || Integer.bitCount(inodeSize) != 1) throw new BootException("ext4: inode size " + inodeSize + " is invalid");
        boolean is64 = (incompat & INCOMPAT_64BIT) != 0;
        int descSize = is64 ? Le.u16(s, 0xFE) : 32;
        if (descSize < 32 || descSize > 1024 || Integer.bitCount(descSize) != 1 || (is64 && descSize < 64)) throw new BootException("ext4: group descriptor size " + descSize + " is invalid");
        long blocks = Le.u32(s, 0x4) | (is64 ? Le.u32(s, 0x150) << 32 : 0);
        long firstData = Le.u32(s, 0x14), bpg = Le.u32(s, 0x20), ipg = Le.u32(s, 0x28), inodes = Le.u32(s, 0x0);
        if (firstData != (blockSize == 1024 ? 1 : 0)) throw new BootException("ext4: first data block " + firstData + " is invalid for " + blockSize + "-byte blocks");
        if (bpg == 0 || bpg > 8L * blockSize) throw new BootException("ext4: blocks per group " + bpg + " is invalid");
        if (ipg == 0 || ipg > 8L * blockSize) throw new BootException("ext4: inodes per group " + ipg + " is invalid");
        if (blocks <= firstData || blocks > v.length() / blockSize) throw new BootException("ext4: block count " + blocks + " exceeds the volume (" + v.length() / blockSize + " blocks)");
        byte[] uuid = java.util.Arrays.copyOfRange(s, 0x68, 0x78);
        String name = new String(s, 0x78, 16, java.nio.charset.StandardCharsets.ISO_8859_1).replace("\0", "");
        return new Ext4Superblock(blockSize, blocks, firstData, bpg, ipg, inodes, inodeSize, descSize, Le.u32(s, 0x5C), incompat,
                Le.u32(s, 0x64), uuid, name);
    }

    private static String names(long f) {
        StringBuilder b = new StringBuilder();
        if ((f & INCOMPAT_COMPRESSION) != 0) b.append(" compression");
        if ((f & INCOMPAT_JOURNAL_DEV) != 0) b.append(" journal_dev (an external journal device, no filesystem)");
        if ((f & INCOMPAT_META_BG) != 0) b.append(" meta_bg");
        if ((f & INCOMPAT_DIRDATA) != 0) b.append(" dirdata");
        return b.length() == 0 ? "" : " (" + b.toString().trim() + ")";
    }

    long groupCount() {
        return (blocksCount - firstDataBlock + blocksPerGroup - 1) / blocksPerGroup;
    }

    /** ext4 when it uses any ext4-only layout feature, ext3 with a journal, else ext2. */
    String type() {
        if ((incompat & (INCOMPAT_EXTENTS | INCOMPAT_64BIT | INCOMPAT_FLEX_BG | INCOMPAT_INLINE_DATA)) != 0) return "ext4";
        return (compat & COMPAT_HAS_JOURNAL) != 0 ? "ext3" : "ext2";
    }

    /** The UUID as Linux's root=UUID= spells it, or null when it is all zeros. */
    String uuidString() {
        boolean zero = true;
        for (byte x : uuid) zero &= x == 0;
        if (zero) return null;
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < 16; i++) {
            if (i == 4 || i == 6 || i == 8 || i == 10) b.append('-');
            b.append(String.format("%02x", uuid[i]));
        }
        return b.toString();
    }
}
