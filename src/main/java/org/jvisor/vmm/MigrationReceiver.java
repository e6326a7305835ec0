package org.jvisor.vmm;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.jvisor.memory.GuestMemory;
import org.jvisor.state.StateFileException;

/**
 * The receiving side of a live migration ({@code jvisor run --incoming}): waits for one source,
 * takes its configuration and RAM, and once the device state has come builds the machine (only
 * then are the disks opened: the source has flushed them and stopped writing), loads the state,
 * and tells the source it runs the guest. A stream that is not a migration, or does not fit this
 * jvisor, is refused with a message the source shows.
 */
public final class MigrationReceiver implements AutoCloseable {
    private final SocketChannel channel;
    private final MachineConfig config;
    private final GuestMemory ram;
    private final MigrationStream.Received received;
    private boolean taken;
    private final long receivedAt = System.nanoTime();

    private MigrationReceiver(SocketChannel channel, MachineConfig config, GuestMemory ram, MigrationStream.Received received) {
        this.channel = channel;
        this.config = config;
        this.ram = ram;
        this.received = received;
    }

    /**
     * Listens on {@code uri} for one source and receives everything up to the device state,
     * reporting progress on {@code log}; a source that sends something broken is refused, and the
     * wait goes on for the next one.
     */
    public static MigrationReceiver receive(MigrationUri uri, PrintStream log) throws IOException {
        try (ServerSocketChannel server = uri.listen()) {
            log.println("jvisor: waiting for a migration on " + uri);
            Snapshot.warmUpOnce();
            try {
                for (;;) {
                    SocketChannel c = server.accept();
                    try {
                        return receiveFrom(c, log);
                    } catch (IOException | StateFileException | RuntimeException e) {
                        String why = e.getMessage() != null ? e.getMessage() : e.toString();
                        log.println("jvisor: refused an incoming migration: " + why);
                        refuse(c, why);
                        c.close();
                    }
                }
            } finally {
                if (uri.address() instanceof java.net.UnixDomainSocketAddress u) Files.deleteIfExists(u.getPath());
            }
        }
    }

    private static MigrationReceiver receiveFrom(SocketChannel c, PrintStream log) throws IOException, StateFileException {
        DataInputStream in = new DataInputStream(new BufferedInputStream(Channels.newInputStream(c), 1 << 20));
        MachineConfig config;
        GuestMemory ram;
        try {
            config = Snapshot.decodeConfig(MigrationStream.readHeader(in));
            if (config.memoryBytes() > (1L << 40)) throw new StateFileException("a machine of " + config.memoryBytes() + " bytes is more than this jvisor runs");
            for (MachineConfig.Disk d : config.disks()) {
                if (!Files.exists(Path.of(d.path()))) throw new StateFileException("disk " + d.path() + " is not here: the destination needs the same disk paths (shared storage)");
            }
        } catch (EOFException e) {
            throw new MigrationStream.MigrationException("the stream ended inside the header");
        }
        ram = GuestMemory.allocate(config.memoryBytes());
        try {
            long[] shown = {0};
            MigrationStream.Received r = MigrationStream.readFrames(in, ram.segment(), bytes -> {
                if (bytes - shown[0] >= 64 << 20) {
                    shown[0] = bytes;
                    log.printf("jvisor: migration: %d MiB received%n", bytes >> 20);
                }
            });
            return new MigrationReceiver(c, config, ram, r);
        } catch (EOFException e) {
            ram.close();
            throw new MigrationStream.MigrationException("the stream ended early");
        } catch (IOException | RuntimeException e) {
            ram.close();
            throw e;
        }
    }

    private static void refuse(SocketChannel c, String why) {
        try {
            DataOutputStream out = new DataOutputStream(Channels.newOutputStream(c));
            byte[] m = why.getBytes(StandardCharsets.UTF_8);
            out.writeByte(MigrationStream.FAILED);
            out.writeShort(Math.min(m.length, 60_000));
            out.write(m, 0, Math.min(m.length, 60_000));
            out.flush();
        } catch (IOException e) {
            // the source went away: nothing to tell
        }
    }

    public MachineConfig config() {
        return config;
    }

    /**
     * Builds the machine, loads the received state and tells the source this side runs it now;
     * the machine has not run yet ({@link Machine#run} continues the guest). On a failure the
     * source is told why (and keeps the guest).
     */
    public Machine take(OutputStream console) throws Vm.BuildException {
        if (taken) throw new Vm.BuildException("a migrated VM cannot reboot yet: start it again with jvisor run");
        taken = true;
        Machine m = null;
        try {
            long t0 = System.nanoTime();
            m = MachineBuilder.build(config, ram, console);
            long t1 = System.nanoTime();
            Snapshot.load(m, received.sectionNames(), received.sections()::get, received.required()::contains);
            DataOutputStream out = new DataOutputStream(Channels.newOutputStream(channel));
            out.writeByte(MigrationStream.RUNNING);
            out.flush();
            if (Boolean.getBoolean("jvisor.migration.debug")) {
                System.err.printf("migration: state in %.1f ms before the machine was asked for; build %.1f ms, load %.1f ms%n",
                        (t0 - receivedAt) / 1e6, (t1 - t0) / 1e6, (System.nanoTime() - t1) / 1e6);
            }
            m.announceNics();
            return m;
        } catch (Vm.BuildException | StateFileException | IOException | RuntimeException e) {
            String why = e.getMessage() != null ? e.getMessage() : e.toString();
            refuse(channel, why);
            if (m != null) m.close();
            throw new Vm.BuildException("the incoming VM cannot run here: " + why);
        } finally {
            try {
                channel.close();
            } catch (IOException e) {
                // told already
            }
        }
    }

    @Override
    public void close() throws IOException {
        channel.close();
        if (!taken) ram.close();
    }
}
