package org.jvisor.vmm;

/** Why a machine stopped running. */
public sealed interface MachineExit {
    /** The guest powered off (ACPI S5). */
    record PowerOff() implements MachineExit {}

    /** The guest asked for a reset (ACPI reset register or the i8042). {@code how} names the path. */
    record Reset(String how) implements MachineExit {}

    /** The vCPU halted with interrupts disabled: nothing can ever wake it (Linux's "System halted"). */
    record Halted() implements MachineExit {}

    /** The guest kernel panicked; {@code message} is its panic line. */
    record Panic(String message) implements MachineExit {}

    /** The CPU cannot go on: a triple fault or an exception it could not deliver. */
    record Crash(String reason) implements MachineExit {}

    /** The machine went to another VMM by live migration, which runs it now. */
    record Migrated(String to) implements MachineExit {}

    /** The host stopped the machine ({@link Machine#stop()}). */
    record Stopped() implements MachineExit {}
}
