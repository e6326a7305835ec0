package org.jvisor.cpu.emu;

/** The I/O port space (IN/OUT/INS/OUTS); the machine routes ports to its legacy devices. */
public interface PortIo {
    /** Reads {@code size} bytes (1, 2, 4); unclaimed ports read as all ones. */
    int in(int port, int size);

    void out(int port, int size, int value);

    PortIo NONE = new PortIo() {
        @Override
        public int in(int port, int size) {
            return size == 4 ? -1 : (1 << (size * 8)) - 1;
        }

        @Override
        public void out(int port, int size, int value) {
        }
    };
}
