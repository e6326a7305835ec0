package org.jvisor.boot;

import java.util.ArrayList;
import java.util.List;
import org.jvisor.block.DiskImage;

/**
 * The bootloader's entry point: reads a disk's partition table, then each ext filesystem on it
 * in partition order, and returns the first boot entry found.
 */
public final class DiskBoot {
    private DiskBoot() {}

    /** What to boot from this disk; a BootException names why nothing is (and, for a hostile image, what is malformed). */
    public static BootEntry find(DiskImage disk) throws BootException {
        try {
            return search(disk);
        } catch (BootException e) {
            throw e;
        } catch (RuntimeException e) {
            // a parser bug must not take the VMM down with an image's help; report it as the disk's fault
            throw new BootException("malformed disk image: " + e, e);
        }
    }

    /** Whether the disk looks like it holds a filesystem to search at all (so a data disk is not an error). */
    public static boolean hasFilesystem(DiskImage disk) {
        try {
            for (Partition p : PartitionTable.read(disk).partitions()) {
                if (Ext4.probe(new Volume(disk, p.offset(), p.length()))) return true;
            }
        } catch (BootException | RuntimeException e) {
            return false;
        }
        return false;
    }

    private static BootEntry search(DiskImage disk) throws BootException {
        PartitionTable table = PartitionTable.read(disk);
        List<String> problems = new ArrayList<>();
        for (Partition p : table.partitions()) {
            Volume v = new Volume(disk, p.offset(), p.length());
            if (!Ext4.probe(v)) continue;
            try {
                BootEntry e = new BootEntryFinder(Ext4.open(v), p, v.length()).find();
                if (e != null) return e;
                problems.add(p.device() + ": no kernel found");
            } catch (BootException e) {
                problems.add(p.device() + ": " + e.getMessage());
            }
        }
        String kind = switch (table) {
            case PartitionTable.Gpt g -> "GPT with " + g.partitions().size() + " partitions";
            case PartitionTable.Mbr m -> "MBR with " + m.partitions().size() + " partitions";
            case PartitionTable.None n -> "no partition table";
        };
        if (problems.isEmpty()) throw new BootException("nothing bootable on the disk (" + kind + "): no ext2/3/4 filesystem");
        throw new BootException("nothing bootable on the disk (" + kind + "): " + String.join("; ", problems));
    }
}
