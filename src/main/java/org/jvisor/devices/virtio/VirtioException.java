package org.jvisor.devices.virtio;

/** The driver broke the virtqueue protocol; the device sets DEVICE_NEEDS_RESET and stops using the queue. */
public final class VirtioException extends Exception {
    public VirtioException(String message) {
        super(message, null, false, false);
    }
}
