package org.jvisor.boot;

import java.util.List;
import org.jvisor.block.DiskImage;

/** What a disk's first sectors say about its layout. */
public sealed interface PartitionTable {
    List<Partition> partitions();

    record Gpt(List<Partition> partitions) implements PartitionTable {}

    record Mbr(List<Partition> partitions) implements PartitionTable {}

    /** A filesystem (or nothing) on the whole disk. */
    record None(List<Partition> partitions) implements PartitionTable {}

    /** GPT when its header is valid, else MBR when its signature and entries are, else the whole disk. */
    static PartitionTable read(DiskImage disk) throws BootException {
        Volume v = Volume.whole(disk);
        if (v.length() >= 1024) {
            List<Partition> gpt = GptReader.read(v);
            if (gpt != null) return new Gpt(gpt);
            List<Partition> mbr = MbrReader.read(v);
            if (mbr != null) return new Mbr(mbr);
        }
        return new None(List.of(new Partition(0, 0, v.length(), null)));
    }
}
