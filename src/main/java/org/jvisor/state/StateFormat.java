package org.jvisor.state;

import java.nio.charset.StandardCharsets;

/** The constants of the state file layout described in the package documentation. */
final class StateFormat {
    private StateFormat() {}

    static final byte[] MAGIC = "JVSTATE\0".getBytes(StandardCharsets.US_ASCII);
    static final byte[] END = "JVSTEND\0".getBytes(StandardCharsets.US_ASCII);
    static final int VERSION = 1;
    static final int HEADER = 4096, TRAILER = 24, PAGE = 4096;
    static final int FLAG_REQUIRED = 1, FLAG_RAM = 2;
    /** A section (other than RAM pages) larger than this is damage, not state. */
    static final long MAX_SECTION = 64L << 20;
    static final long MAX_RAM = 1L << 40;
    static final int MAX_SECTIONS = 4096, MAX_NAME = 200;

    /** One index entry. */
    record Entry(String name, int flags, long offset, long length, int crc) {
        boolean required() {
            return (flags & FLAG_REQUIRED) != 0;
        }
    }
}
