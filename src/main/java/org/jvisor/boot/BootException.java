package org.jvisor.boot;

import java.io.IOException;

/** Nothing bootable could be read from a disk; the message names what is wrong and where. */
public final class BootException extends IOException {
    public BootException(String message) {
        super(message);
    }

    public BootException(String message, Throwable cause) {
        super(message, cause);
    }
}
