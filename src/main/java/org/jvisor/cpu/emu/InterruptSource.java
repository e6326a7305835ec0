package org.jvisor.cpu.emu;

/** Where external interrupts come from (the local APIC of this vCPU). */
public interface InterruptSource {
    /** The highest-priority deliverable vector, or -1. Called when RFLAGS.IF is set. */
    int pending();

    /** The CPU is taking {@code vector} (the APIC moves it from IRR to ISR). */
    void acknowledge(int vector);
}
