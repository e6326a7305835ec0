/** Kernel image formats: ELF (vmlinux, kernel modules) and, next, bzImage. Depends on nothing. */
package org.jvisor.loader;
