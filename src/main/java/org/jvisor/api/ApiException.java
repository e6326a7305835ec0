package org.jvisor.api;

/** A request the API refuses: the HTTP status and a message that says what was wrong. */
public final class ApiException extends Exception {
    private final int status;

    public ApiException(int status, String message) {
        super(message);
        this.status = status;
    }

    public int status() {
        return status;
    }
}
