package org.jvisor.boot;

/**
 * Inline data past i_block's 60 bytes lives in the inode's own extended attributes, as the value
 * of "system.data" (name index 7, name "data").
 */
final class InlineData {
    static final long XATTR_MAGIC = 0xEA020000L;
    static final int INDEX_SYSTEM = 7;

    private InlineData() {}

    /** The bytes after the first 60, empty when the inode has no system.data attribute in its body. */
    static byte[] continuation(Ext4Inode in) throws BootException {
        byte[] raw = in.raw();
        if (raw.length <= 0x82) return new byte[0];
        int extra = Le.u16(raw, 0x80);
        int header = 128 + extra;
        if (extra % 4 != 0 || header + 4 > raw.length) return new byte[0];
        if (Le.u32(raw, header) != XATTR_MAGIC) return new byte[0];
        int first = header + 4;
        for (int at = first; at + 16 <= raw.length && Le.u32(raw, at) != 0; ) {
            int nameLen = Le.u8(raw, at), index = Le.u8(raw, at + 1), valueOffs = Le.u16(raw, at + 2);
            long valueInum = Le.u32(raw, at + 4), valueSize = Le.u32(raw, at + 8);
            if (at + 16 + nameLen > raw.length) break;
            String name = new String(raw, at + 16, nameLen, java.nio.charset.StandardCharsets.ISO_8859_1);
            if (index == INDEX_SYSTEM && name.equals("data")) {
                if (valueInum != 0 || first + valueOffs + valueSize > raw.length) {
                    throw new BootException("ext4: inode " + in.number() + "'s inline data attribute points outside the inode");
                }
                return java.util.Arrays.copyOfRange(raw, first + valueOffs, first + valueOffs + (int) valueSize);
            }
            at += (16 + nameLen + 3) & ~3;
        }
        return new byte[0];
    }
}
