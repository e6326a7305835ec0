package org.jvisor.devices.pci;

/** Where message-signalled interrupts go: a write of {@code data} to {@code address} (0xFEExxxxx). */
@FunctionalInterface
public interface MsiSink {
    void deliver(long address, int data);
}
