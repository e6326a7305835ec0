/** The x86 PC: memory layout, the Linux boot protocol (zero page, e820), boot page tables and GDT. */
package org.jvisor.arch.x86;
