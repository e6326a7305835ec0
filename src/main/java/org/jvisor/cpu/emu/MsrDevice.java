package org.jvisor.cpu.emu;

/**
 * MSRs that belong to the platform rather than the core: the local APIC's TSC deadline, the
 * paravirtual clock. The CPU asks it before its own table; an index it does not claim falls
 * through (and raises #GP when the CPU has no such MSR either).
 */
public interface MsrDevice {
    boolean claims(int index);

    long read(int index);

    /** False rejects the value: the guest gets #GP. */
    boolean write(int index, long value);
}
