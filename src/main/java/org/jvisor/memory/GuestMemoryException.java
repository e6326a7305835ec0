package org.jvisor.memory;

/** A guest-physical access outside the RAM it was meant for; carries the guest address. */
public final class GuestMemoryException extends RuntimeException {
    private final long address;

    public GuestMemoryException(long address, long length, String message) {
        super(String.format("%s: guest address 0x%x length %d", message, address, length), null, false, false);
        this.address = address;
    }

    public long address() {
        return address;
    }
}
