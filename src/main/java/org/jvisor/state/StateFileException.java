package org.jvisor.state;

/** A state file that cannot be used: the message says what in it is wrong. */
public final class StateFileException extends Exception {
    public StateFileException(String message) {
        super(message);
    }

    public StateFileException(String message, Throwable cause) {
        super(message, cause);
    }
}
