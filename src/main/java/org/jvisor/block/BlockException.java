package org.jvisor.block;

import java.io.IOException;

/** A disk image operation failed; {@link #kind()} says how, the message says where. */
public final class BlockException extends IOException {
    public enum Kind {
        /** The file is missing or cannot be opened. */
        NOT_FOUND,
        /** The file is not in the format expected, or its header is malformed. */
        BAD_FORMAT,
        /** A valid image that uses a feature this implementation does not support. */
        UNSUPPORTED,
        /** The image's metadata is inconsistent (points outside the file, overlaps...). */
        CORRUPT,
        /** A write to an image opened read-only. */
        READ_ONLY,
        /** An access beyond the virtual disk's end. */
        OUT_OF_RANGE,
        /** The host failed an I/O operation. */
        IO
    }

    private final Kind kind;

    public BlockException(Kind kind, String message) {
        super(message);
        this.kind = kind;
    }

    public BlockException(Kind kind, String message, Throwable cause) {
        super(message, cause);
        this.kind = kind;
    }

    public Kind kind() {
        return kind;
    }
}
