package org.jvisor.cpu.emu;

/**
 * Thrown to abandon the current instruction when it raises an x86 exception. Stateless and
 * preallocated: the vector, error code and address live on the {@link Cpu} that threw it, so
 * throwing costs no allocation and no stack trace.
 */
public final class CpuFault extends RuntimeException {
    static final CpuFault INSTANCE = new CpuFault();

    private CpuFault() {
        super("x86 exception", null, false, false);
    }
}
