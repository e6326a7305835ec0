package org.jvisor.cpu;

/** Why a vCPU's run loop returned to its caller. Exhaustive: a new kind must be handled everywhere. */
public sealed interface VcpuExit {
    /** The guest executed HLT with nothing left to wake it. */
    record Halted(long rip) implements VcpuExit {}

    /** A triple fault or an unrecoverable state: the machine resets or stops. */
    record Shutdown(String reason, long rip) implements VcpuExit {}

    /** The instruction budget given to run() was used up. */
    record BudgetExhausted(long rip) implements VcpuExit {}

    /**
     * An exception the backend could not deliver to the guest (no IDT yet, or a triple fault).
     * {@code rip} is the faulting instruction's address.
     */
    record Fault(int vector, int errorCode, long rip, long address) implements VcpuExit {
        public String describe() {
            return String.format("%s (vector %d) error 0x%x at rip 0x%x, address 0x%x",
                    Vectors.name(vector), vector, errorCode, rip, address);
        }
    }
}
