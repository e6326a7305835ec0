package org.jvisor.boot;

/**
 * One partition (or the whole disk when there is no table): number as Linux counts it (1-4
 * primary, 5+ logical, GPT entry index + 1; 0 for a whole disk) and its PARTUUID as Linux shows it.
 */
public record Partition(int number, long offset, long length, String partUuid) {
    /** The device name the guest's first virtio disk gives it. */
    public String device() {
        return number == 0 ? "/dev/vda" : "/dev/vda" + number;
    }
}
