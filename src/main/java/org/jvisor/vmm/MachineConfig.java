package org.jvisor.vmm;

import java.util.List;

/**
 * What a machine is made of, independent of how it was asked for (CLI flags today, the daemon's
 * definitions later): RAM and the devices in their PCI slot order. A snapshot keeps it, and a
 * restore builds the same machine from it before it loads the state into it.
 */
public record MachineConfig(long memoryBytes, List<Disk> disks, List<Nic> nics, boolean rng, boolean balloon) {
    public MachineConfig {
        disks = disks == null ? List.of() : List.copyOf(disks);
        nics = nics == null ? List.of() : List.copyOf(nics);
    }

    /**
     * A virtio-blk disk: the image file, its format, the serial the guest sees, and its I/O limits
     * (requests and bytes per second; 0, as in a state file from before they existed: none).
     */
    public record Disk(String path, String format, boolean readOnly, String serial, long iops, long bps) {
        public Disk(String path, String format, boolean readOnly, String serial) {
            this(path, format, readOnly, serial, 0, 0);
        }
    }

    /**
     * A virtio-net NIC on a TAP (empty name: the kernel picks one) or, when {@code user} is
     * set, on the user-mode NAT stack; with the guest's MAC, an optional host address for the
     * TAP, and rate limits in bytes per second of what the guest receives and sends (0, as in a
     * state file from before they existed: none).
     */
    public record Nic(String tap, String mac, String hostIp, long rxBps, long txBps, User user) {
        public Nic(String tap, String mac, String hostIp) {
            this(tap, mac, hostIp, 0, 0, null);
        }

        public Nic(String tap, String mac, String hostIp, long rxBps, long txBps) {
            this(tap, mac, hostIp, rxBps, txBps, null);
        }
    }

    /** User-mode networking's options: forwarded ports (QEMU's hostfwd form), the DNS server to relay to (IP[:PORT], null: the host's), restrict to the host. */
    public record User(List<String> hostForwards, String dns, boolean restrict) {
        public User {
            hostForwards = hostForwards == null ? List.of() : List.copyOf(hostForwards);
        }
    }
}
