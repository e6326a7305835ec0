/**
 * Disk images behind one interface, {@link org.jvisor.block.DiskImage}: raw and qcow2 (read and
 * write), VMDK and VHD (read, as import sources). Knows nothing of virtio. Every image file is
 * untrusted input: malformed ones give a {@link org.jvisor.block.BlockException}, never a crash,
 * a read outside the file, or an allocation beyond what the file's real size justifies.
 */
package org.jvisor.block;
