package org.jvisor.vmm;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Path;
import org.jvisor.block.BlockException;
import org.jvisor.block.DiskImage;
import org.jvisor.block.Images;
import org.jvisor.devices.virtio.Balloon;
import org.jvisor.devices.virtio.Block;
import org.jvisor.devices.virtio.Entropy;
import org.jvisor.devices.virtio.Net;
import org.jvisor.memory.GuestMemory;

/**
 * Builds the machine a {@link MachineConfig} describes, its devices in slot order (disks, NICs,
 * rng, balloon), ready to boot a kernel or to take a saved state. Whatever fails closes what was
 * opened and says which part of the configuration was wrong.
 */
public final class MachineBuilder {
    private MachineBuilder() {}

    /** On fresh RAM of the configured size. */
    public static Machine build(MachineConfig c, OutputStream console) throws Vm.BuildException {
        return build(c, GuestMemory.allocate(c.memoryBytes()), console);
    }

    /** On the given RAM (a restore's); it is closed with the machine, or here when the build fails. */
    public static Machine build(MachineConfig c, GuestMemory ram, OutputStream console) throws Vm.BuildException {
        if (ram.size() != c.memoryBytes()) {
            ram.close();
            throw new Vm.BuildException("RAM of " + ram.size() + " bytes for a machine of " + c.memoryBytes());
        }
        Machine m = new Machine(ram, console);
        try {
            for (MachineConfig.Disk d : c.disks()) {
                DiskImage image;
                try {
                    image = Images.open(Path.of(d.path()), d.format(), d.readOnly());
                } catch (BlockException e) {
                    throw new Vm.BuildException("--disk " + d.path() + ": " + e.getMessage());
                }
                m.addVirtio(new Block(image, d.readOnly(), d.serial(), new org.jvisor.devices.virtio.Throttle(d.iops(), d.bps())));
            }
            for (MachineConfig.Nic n : c.nics()) {
                try {
                    m.addVirtio(new Net(n.user() != null ? UserNic.open(n) : new org.jvisor.net.TapBackend(TapNic.open(n)), TapNic.mac(n.mac()), new org.jvisor.devices.virtio.Throttle(0, n.rxBps()),
                            new org.jvisor.devices.virtio.Throttle(0, n.txBps())));
                } catch (IOException e) {
                    throw new Vm.BuildException("--net: " + e.getMessage());
                }
            }
            if (c.rng()) m.addVirtio(new Entropy());
            if (c.balloon()) m.addVirtio(new Balloon(m::releaseGuestPages));
            return m;
        } catch (Vm.BuildException | RuntimeException e) {
            m.close();
            throw e;
        }
    }
}
