/**
 * A bootloader in the host: finds a kernel, initrd and command line inside a disk image the way
 * extlinux or GRUB would (partition tables, a read-only ext2/3/4 reader, their config files).
 * Depends only on {@code org.jvisor.block}. Every image is hostile: anything malformed gives a
 * {@link org.jvisor.boot.BootException}, with work and memory bounded by fixed caps.
 */
package org.jvisor.boot;
