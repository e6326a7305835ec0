package org.jvisor.daemon;

import java.util.Map;

/** An API failure: its status, a message, and for bad input the message of each field. */
public final class ApiError extends Exception {
    final int status;
    final Map<String, String> fields;

    ApiError(int status, String message) {
        this(status, message, Map.of());
    }

    ApiError(int status, String message, Map<String, String> fields) {
        super(message);
        this.status = status;
        this.fields = fields;
    }
}
