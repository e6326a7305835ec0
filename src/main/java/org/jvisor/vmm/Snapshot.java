package org.jvisor.vmm;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.jvisor.devices.virtio.Block;
import org.jvisor.memory.GuestMemory;
import org.jvisor.state.StateFileException;
import org.jvisor.state.StateReader;
import org.jvisor.state.StateWriter;

/**
 * A machine's state in a file and back: the configuration it was built from, each device's
 * record as JSON in a section of its own, the disks it used (to check them at restore), and RAM,
 * sparse, mapped lazily by the restore. The sections' records only ever gain fields (a missing
 * one reads as its default), so a file from an older jvisor restores in a newer one.
 */
public final class Snapshot {
    /** A section jvisor writes that a restore cannot do without (an unknown one in a file is skipped when optional). */
    static final String CONFIG = "config", DISKS = "disks", RAM = "ram";
    private static final ObjectMapper JSON = JsonMapper.builder()
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES) // a newer jvisor's extra fields
            .build();

    private Snapshot() {}

    /** What a save wrote: the file, its size, the RAM pages in it, and how long the writing took. */
    public record Written(String path, long fileBytes, long ramBytes, double writeMillis) {}

    /** A disk as the snapshot saw it: a restore refuses one whose size (as the guest sees it) differs, and warns when it changed since. */
    public record DiskCheck(String path, long sizeBytes, long modifiedMillis) {}

    /** Writes the state of a paused machine to {@code file} (atomically: a failure leaves no file). */
    public static Written write(Path file, MachineConfig config, Machine m) throws IOException {
        return write(file, config, m, () -> { });
    }

    /**
     * Writes the machine's state to {@code file}; {@code whenCaptured} runs as soon as the state
     * is in the file's pages (the guest may run on from there: a caller resumes it then), before
     * the file is forced to disk and renamed into place.
     */
    public static Written write(Path file, MachineConfig config, Machine m, Runnable whenCaptured) throws IOException {
        long t0 = System.nanoTime();
        StateWriter w;
        try {
            w = m.withDevicesQuiet(() -> capture(file, config, m));
        } catch (IOException | RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IOException(e.getMessage(), e);
        }
        try (w) {
            whenCaptured.run();
            w.makeDurable();
        }
        return new Written(file.toString(), Files.size(file), w.ramBytesWritten(), (System.nanoTime() - t0) / 1e6);
    }

    private static StateWriter capture(Path file, MachineConfig config, Machine m) throws IOException {
        try {
            m.flushDisks();
        } catch (org.jvisor.block.BlockException e) {
            throw new IOException("cannot flush a disk before the snapshot: " + e.getMessage(), e);
        }
        List<DiskCheck> disks = new ArrayList<>();
        List<Block> blocks = m.disks();
        for (int i = 0; i < config.disks().size() && i < blocks.size(); i++) {
            Path p = Path.of(config.disks().get(i).path());
            disks.add(new DiskCheck(p.toString(), blocks.get(i).sizeBytes(), Files.getLastModifiedTime(p).toMillis()));
        }
        Map<String, byte[]> sections = encodeSections(m);
        StateWriter w = StateWriter.create(file);
        try {
            w.section(CONFIG, true, encodeConfig(config));
            w.section(DISKS, false, JSON.writeValueAsBytes(disks));
            for (Map.Entry<String, byte[]> e : sections.entrySet()) w.section(e.getKey(), true, e.getValue());
            w.ram(RAM, m.ram());
            w.finishWriting();
            return w;
        } catch (IOException | RuntimeException e) {
            w.close();
            throw e;
        }
    }

    /** The configuration a state file's machine was built from, read without mapping its RAM. */
    public static MachineConfig config(StateReader r) throws StateFileException {
        MachineConfig c = decodeConfig(r.required(CONFIG));
        if (c.memoryBytes() != r.ramSize(RAM)) throw new StateFileException("the state's RAM section holds " + r.ramSize(RAM) + " bytes, its machine " + c.memoryBytes());
        return c;
    }

    /**
     * Builds the machine a state file describes and loads the state into it: RAM is mapped from
     * the file copy-on-write (pages are read when the guest touches them), the disks are opened
     * at the paths they had. The machine has not run; {@link Machine#run} continues the guest.
     */
    public static Machine restore(StateReader r, OutputStream console, java.io.PrintStream warnings)
            throws StateFileException, IOException, Vm.BuildException {
        MachineConfig config = config(r);
        for (MachineConfig.Disk d : config.disks()) {
            if (!Files.exists(Path.of(d.path()))) throw new Vm.BuildException("the snapshot's disk " + d.path() + " is missing");
        }
        Machine m = MachineBuilder.build(config, r.mapRam(RAM), console);
        try {
            checkDisks(r, m, warnings);
            List<String> names = new ArrayList<>();
            Map<String, byte[]> raw = new HashMap<>();
            for (String name : r.sectionNames()) {
                if (name.equals(CONFIG) || name.equals(DISKS) || name.equals(RAM)) continue;
                names.add(name);
                if (m.stateType(name) != null) raw.put(name, r.required(name));
            }
            load(m, names, raw::get, r::isRequired);
            return m;
        } catch (StateFileException | RuntimeException e) {
            m.close();
            throw e;
        }
    }

    /**
     * Saves and restores a small machine that never runs, so the classes and JSON readers a
     * migration's last phase needs are loaded before it, while the guest still runs: the first
     * use of each costs tens of milliseconds, which would otherwise be downtime.
     */
    private static Thread warmUp;

    /**
     * Warms up, beside a running guest, what a snapshot or migration will run: the first save in
     * a cold JVM took 400 ms instead of 100 (Jackson and the zero-page scan interpreted), all of
     * it downtime. Started once per VMM (the API at start-up, or a migration's either side); a
     * caller that needs it done joins the thread returned.
     */
    public static synchronized Thread warmUpOnce() {
        if (warmUp == null) {
            warmUp = Thread.ofPlatform().daemon().name("warm-up").start(() -> {
                warmUp();
                warmUpRamScan();
            });
        }
        return warmUp;
    }

    /** Runs the sparse RAM writer over a mostly empty 64 MiB, enough times for the JIT to compile it. */
    private static void warmUpRamScan() {
        Path tmp = null;
        try (GuestMemory ram = GuestMemory.allocate(64 << 20)) {
            tmp = Files.createTempFile("jvisor-warm-up", ".state");
            for (long a = 0; a < ram.size(); a += 256 * GuestMemory.PAGE_SIZE) ram.segment().set(java.lang.foreign.ValueLayout.JAVA_BYTE, a, (byte) 1);
            for (int i = 0; i < 4; i++) {
                try (StateWriter w = StateWriter.create(tmp)) { // closed unfinished: it leaves no file
                    w.ram(RAM, ram);
                }
            }
        } catch (IOException | RuntimeException e) {
            // only a warm-up
        } finally {
            try {
                if (tmp != null) Files.deleteIfExists(tmp);
            } catch (IOException e) {
                // a temp file left behind
            }
        }
    }

    private static final int WARM_UP_ROUNDS = 20;

    static void warmUp() {
        try (Machine m = new Machine(GuestMemory.allocate(16 << 20), OutputStream.nullOutputStream())) {
            m.addVirtio(new org.jvisor.devices.virtio.Entropy());
            m.addVirtio(new org.jvisor.devices.virtio.Balloon((a, l) -> { }));
            // Enough rounds for the JIT to compile the encoders and decoders, not just load them:
            // interpreted, a migration's state took 4 ms to encode and 9 ms to load.
            for (int round = 0; round < WARM_UP_ROUNDS; round++) {
                Map<String, Record> state = m.stateBeforeRunning();
                Map<String, byte[]> raw = new HashMap<>();
                for (Map.Entry<String, Record> e : state.entrySet()) raw.put(e.getKey(), JSON.writeValueAsBytes(e.getValue()));
                load(m, new ArrayList<>(raw.keySet()), raw::get, n -> true);
                decodeConfig(encodeConfig(new MachineConfig(16 << 20, List.of(), List.of(), true, true)));
            }
            Thread.ofVirtual().start(() -> { }).join(); // the virtual-thread scheduler, which the VMM starts its API on
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (IOException | StateFileException | RuntimeException e) {
            // only a warm-up: the real restore reports its own errors
        }
    }

    /** A configuration as it travels (in a state file or a migration stream). */
    static byte[] encodeConfig(MachineConfig config) throws IOException {
        return JSON.writeValueAsBytes(config);
    }

    /** A configuration read back, with the checks a restore relies on (sizes, paths). */
    static MachineConfig decodeConfig(byte[] raw) throws StateFileException {
        try {
            MachineConfig c = JSON.readValue(raw, MachineConfig.class);
            if (c.memoryBytes() <= 0 || c.memoryBytes() % GuestMemory.PAGE_SIZE != 0) throw new StateFileException("the state's memory size " + c.memoryBytes() + " is not whole pages");
            for (MachineConfig.Disk d : c.disks()) if (d.path() == null || d.format() == null) throw new StateFileException("a disk in the state has no path or format");
            for (MachineConfig.Nic n : c.nics()) if (n.tap() == null || n.mac() == null) throw new StateFileException("a NIC in the state has no TAP or MAC");
            return c;
        } catch (IOException e) {
            throw new StateFileException("section '" + CONFIG + "' is not a machine configuration: " + e.getMessage(), e);
        }
    }

    /** The machine's state sections (see {@link Machine#saveState}) as JSON, in their order. */
    static java.util.SequencedMap<String, byte[]> encodeSections(Machine m) throws IOException {
        java.util.LinkedHashMap<String, byte[]> out = new java.util.LinkedHashMap<>();
        for (Map.Entry<String, Record> e : m.saveState().entrySet()) out.put(e.getKey(), JSON.writeValueAsBytes(e.getValue()));
        return out;
    }

    /**
     * Loads saved sections into a machine built from their configuration: each is read as the
     * record type the machine names for it; a section it does not know is skipped when optional
     * and refused when required (a newer jvisor wrote it).
     */
    static void load(Machine m, List<String> names, java.util.function.Function<String, byte[]> raw,
                     java.util.function.Predicate<String> required) throws StateFileException {
        Map<String, Record> records = new HashMap<>();
        for (String name : names) {
            Class<? extends Record> type = m.stateType(name);
            if (type == null && required.test(name)) {
                throw new StateFileException("the state needs section '" + name + "', which this jvisor does not know: restore it with a newer jvisor");
            }
            if (type == null) continue; // a newer jvisor's optional section
            try {
                records.put(name, JSON.readValue(raw.apply(name), type));
            } catch (IOException e) {
                throw new StateFileException("section '" + name + "' does not read as " + type.getSimpleName() + ": " + e.getMessage(), e);
            }
        }
        try {
            m.restoreState(records::get);
        } catch (IllegalArgumentException | org.jvisor.devices.virtio.VirtioException e) {
            throw new StateFileException("the state does not fit its machine: " + e.getMessage(), e);
        }
    }

    private static void checkDisks(StateReader r, Machine m, java.io.PrintStream warnings) throws StateFileException {
        byte[] raw = r.section(DISKS).orElse(null);
        if (raw == null) return;
        DiskCheck[] checks;
        try {
            checks = JSON.readValue(raw, DiskCheck[].class);
        } catch (IOException e) {
            throw new StateFileException("section '" + DISKS + "' is damaged: " + e.getMessage(), e);
        }
        List<Block> blocks = m.disks();
        for (int i = 0; i < checks.length && i < blocks.size(); i++) {
            DiskCheck c = checks[i];
            if (c == null || c.path() == null) continue;
            Path p = Path.of(c.path());
            try {
                long size = blocks.get(i).sizeBytes();
                if (size != c.sizeBytes()) {
                    throw new StateFileException("disk " + c.path() + " is " + size + " bytes now, " + c.sizeBytes() + " when the snapshot was taken: restore it with the disk it had");
                }
                if (Files.getLastModifiedTime(p).toMillis() > c.modifiedMillis() + 1000) {
                    warnings.println("jvisor: warning: disk " + c.path() + " changed after the snapshot was taken; the guest may see data it did not write");
                }
            } catch (IOException e) {
                throw new StateFileException("cannot check disk " + c.path() + ": " + e.getMessage(), e);
            }
        }
    }

}
