package org.jvisor.arch.x86;

import org.jvisor.devices.legacy.AcpiPowerControl;
import org.jvisor.memory.GuestMemory;

/**
 * The code at the PC's reset entry point F000:FFF0. A kernel that reboots "through the BIOS"
 * (Linux does on hardware-reduced ACPI without EFI) drops to real mode and jumps here; there is no
 * BIOS to run, so the stub asks the platform for a reset through the FADT's reset register.
 */
public final class ResetVector {
    public static final long ADDRESS = 0xFFFF0;
    private static final byte[] STUB = {
            (byte) 0xB0, (byte) AcpiPowerControl.RESET_VALUE,                                           // mov al, RESET_VALUE
            (byte) 0xBA, (byte) AcpiPowerControl.RESET_PORT, (byte) (AcpiPowerControl.RESET_PORT >>> 8), // mov dx, RESET_PORT
            (byte) 0xEE,                                                                                // out dx, al
            (byte) 0xF4,                                                                                // hlt
            (byte) 0xEB, (byte) 0xFD,                                                                   // jmp to the hlt
    };

    private ResetVector() {}

    public static void write(GuestMemory ram) {
        ram.write(ADDRESS, STUB);
    }
}
