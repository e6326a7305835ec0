package org.jvisor.cpu.emu;

/** Where external interrupts come from (the local APIC of this vCPU). */
public interface InterruptSource {
    /** The highest-priority deliverable vector, or -1. Called when RFLAGS.IF is set. */
    int pending();

    /**
     * A cheap hint, asked at every block boundary: false when nothing can be pending, so the
     * CPU skips {@link #pending()}. Sources keep it in a volatile field.
     */
    default boolean mayBePending() {
        return true;
    }

    /** The CPU is taking {@code vector} (the APIC moves it from IRR to ISR). */
    void acknowledge(int vector);

    /** CR8 reads and writes reach the APIC's task priority (bits 7:4 of TPR); -1: no APIC behind CR8. */
    default int taskPriorityClass() {
        return -1;
    }

    default void setTaskPriorityClass(int cls) {
    }
}
