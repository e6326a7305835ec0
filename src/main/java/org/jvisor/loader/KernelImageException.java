package org.jvisor.loader;

/** A kernel file that cannot be loaded; the message says why in terms a user can act on. */
public final class KernelImageException extends Exception {
    public KernelImageException(String message) {
        super(message);
    }

    public KernelImageException(String message, Throwable cause) {
        super(message, cause);
    }
}
