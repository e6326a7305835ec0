package org.jvisor.devices.legacy;

/**
 * The registers a hardware-reduced ACPI platform offers for power: the sleep control register
 * (SLP_TYPx and SLP_EN; S5 means power off), the sleep status register, and the reset register of
 * the FADT. Byte-wide I/O ports; the FADT and the DSDT's \_S5 object point the guest at them.
 */
public final class AcpiPowerControl {
    public static final int SLEEP_CONTROL_PORT = 0x600, SLEEP_STATUS_PORT = 0x601, RESET_PORT = 0x602;
    public static final int RESET_VALUE = 0x42;
    /** The SLP_TYP value the DSDT's \_S5 package names. */
    public static final int S5_SLEEP_TYPE = 5;
    static final int SLP_EN = 1 << 5;

    /** What the guest asked for. */
    public enum Request { POWER_OFF, RESET }

    private final java.util.function.Consumer<Request> sink;

    public AcpiPowerControl(java.util.function.Consumer<Request> sink) {
        this.sink = sink;
    }

    public static boolean claims(int port) {
        return port >= SLEEP_CONTROL_PORT && port <= RESET_PORT;
    }

    public int read(int port) {
        return 0; // never asleep, so WAK_STS stays clear
    }

    public void write(int port, int value) {
        value &= 0xFF;
        if (port == SLEEP_CONTROL_PORT && (value & SLP_EN) != 0 && (value >>> 2 & 7) == S5_SLEEP_TYPE) {
            sink.accept(Request.POWER_OFF);
        } else if (port == RESET_PORT && value == RESET_VALUE) {
            sink.accept(Request.RESET);
        }
        // Other sleep states (S1-S4) are not offered: \_S1.._S4 are absent, so the guest never asks.
    }
}
