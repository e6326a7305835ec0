package org.jvisor.devices.pci;

/** A PCI function on the host bridge's bus: its configuration space and its BARs' registers. */
public interface PciFunction {
    PciConfig config();

    /** A read of {@code size} bytes at {@code offset} within BAR {@code bar}. */
    long barRead(int bar, long offset, int size);

    void barWrite(int bar, long offset, int size, long value);
}
