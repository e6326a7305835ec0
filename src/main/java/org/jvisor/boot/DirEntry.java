package org.jvisor.boot;

/** One directory entry; type is ext4's file-type byte (1 file, 2 directory, 7 symlink; 0 unknown). */
public record DirEntry(String name, long inode, int type) {}
