/**
 * The guest kit: Debian's stock kernel and busybox, fetched with apt-get download and unpacked
 * with dpkg-deb, and an initramfs the project writes itself. Nobody on the team wrote the guest,
 * which is the point: it is the real client of the machine.
 */
package org.jvisor.kit;
