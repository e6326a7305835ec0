package org.jvisor.daemon;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.sql.SQLException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;
import org.jvisor.block.BlockException;
import org.jvisor.block.Images;

/**
 * VM snapshots as qcow2 chains, the VM's disks keeping their paths: taking snapshot S freezes
 * each disk image under the name {@code DISK.snap-S} and puts a fresh overlay on it at the disk's
 * path; with memory, the guest is saved first (paused, disks flushed) and continued from that
 * state on the new overlays, so it loses nothing. Rolling back to S replaces each disk's overlay
 * by a fresh one on S's frozen image and, when S holds memory, continues the guest saved then.
 * Deleting S drops its memory; its frozen images stay in the chain the later images build on.
 */
final class Snapshots {
    private final Store store;
    private final Supervisor supervisor;
    private final Path root;
    private final UnaryOperator<VmSpec> resolver;

    /** A snapshot as the API shows it. */
    public record SnapshotView(String name, String created, boolean memory, List<String> disks) {}

    Snapshots(Store store, Supervisor supervisor, Path root, UnaryOperator<VmSpec> resolver) {
        this.store = store;
        this.supervisor = supervisor;
        this.root = root;
        this.resolver = resolver;
    }

    static SnapshotView view(Store.SnapshotRow r) {
        return new SnapshotView(r.name(), r.created(), r.memory(), r.disks());
    }

    private List<Path> disks(VmSpec spec) throws ApiError {
        List<Path> out = new ArrayList<>();
        for (VmSpec.Disk d : resolver.apply(spec).disks()) {
            Path p = Path.of(d.path());
            try {
                if (!"qcow2".equals(Images.probe(p))) throw new ApiError(409, "disk " + p + " is not qcow2: snapshots need qcow2 disks (import the image as a qcow2 volume)");
            } catch (BlockException e) {
                throw new ApiError(409, "disk " + p + ": " + e.getMessage());
            }
            if (d.readonly()) continue; // it never changes: nothing to freeze
            out.add(p);
        }
        return out;
    }

    SnapshotView create(VmSpec spec, String name, boolean memory) throws Exception {
        String vm = spec.name();
        if (name == null || !VmSpec.NAME.matcher(name).matches()) throw new ApiError(400, "bad snapshot name", Map.of("name", "1-63 letters, digits, '.', '_' or '-'"));
        for (Store.SnapshotRow r : store.snapshots(vm)) if (r.name().equals(name)) throw new ApiError(409, "VM '" + vm + "' has a snapshot '" + name + "' already");
        List<Path> disks = disks(spec);
        for (Path d : disks) {
            if (Files.exists(frozen(d, name))) throw new ApiError(409, frozen(d, name) + " exists: pick another snapshot name");
        }
        boolean running = supervisor.active(vm);
        if (memory && !running) throw new ApiError(409, "VM '" + vm + "' is not running: a snapshot with memory needs a running guest (or leave memory out)");
        // A running VM's disks change under a new overlay while its VMM is down: the guest is saved
        // and continued from that state, which a disk-only snapshot then does not keep.
        Path state = null;
        if (running) {
            Files.createDirectories(root.resolve(vm));
            state = root.resolve(vm).resolve(memory ? name + ".state" : "." + name + ".disk-only.state");
            supervisor.call(vm, "PUT", "/vm.snapshot", DaemonApi.JSON.writeValueAsString(Map.of("path", state.toString(), "resume", false)), "snapshot");
            supervisor.stop(vm);
        }
        List<String> frozenImages = new ArrayList<>();
        for (Path d : disks) {
            Path f = frozen(d, name);
            Files.move(d, f, StandardCopyOption.ATOMIC_MOVE);
            Images.create(d, "qcow2", -1, f.getFileName().toString(), "qcow2", 16);
            frozenImages.add(f.toString());
        }
        store.insertSnapshot(new Store.SnapshotRow(vm, name, Instant.now().toString(), memory, memory ? state.toString() : null, frozenImages));
        store.event(vm, "snapshot-created", name + (memory ? " (with memory)" : " (disks)"));
        if (running) {
            supervisor.start(spec, state);
            if (!memory) Files.deleteIfExists(state);
        }
        return view(store.snapshots(vm).stream().filter(r -> r.name().equals(name)).findFirst().orElseThrow());
    }

    static Path frozen(Path disk, String snapshot) {
        return disk.resolveSibling(disk.getFileName() + ".snap-" + snapshot);
    }

    Store.SnapshotRow find(String vm, String name) throws ApiError, SQLException {
        for (Store.SnapshotRow r : store.snapshots(vm)) if (r.name().equals(name)) return r;
        throw new ApiError(404, "VM '" + vm + "' has no snapshot '" + name + "'");
    }

    /** Back to the snapshot: the disks as they were then and, with memory, the guest running from that moment. */
    String rollback(VmSpec spec, String name) throws Exception {
        String vm = spec.name();
        Store.SnapshotRow s = find(vm, name);
        List<Path> disks = disks(spec);
        if (disks.size() != s.disks().size()) throw new ApiError(409, "VM '" + vm + "' has other disks than when '" + name + "' was taken");
        if (supervisor.active(vm)) supervisor.stop(vm);
        for (int i = 0; i < disks.size(); i++) {
            Path d = disks.get(i), f = Path.of(s.disks().get(i));
            if (!Files.isRegularFile(f)) throw new ApiError(409, "the snapshot's image " + f + " is missing");
            Path tmp = d.resolveSibling("." + d.getFileName() + ".rollback");
            Files.deleteIfExists(tmp);
            Images.create(tmp, "qcow2", -1, f.getFileName().toString(), "qcow2", 16);
            Files.move(tmp, d, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE); // the writes since are dropped
        }
        store.event(vm, "snapshot-rollback", name);
        if (s.memory()) {
            supervisor.start(spec, Path.of(s.statePath()));
            return "rolled back to '" + name + "': the guest runs on from then";
        }
        return "rolled back to '" + name + "': the disks are as they were (the VM is stopped)";
    }

    void delete(String vm, String name) throws ApiError, SQLException, IOException {
        Store.SnapshotRow s = find(vm, name);
        if (s.statePath() != null) Files.deleteIfExists(Path.of(s.statePath()));
        store.deleteSnapshot(vm, name);
        store.event(vm, "snapshot-deleted", name);
    }

    /** A VM's snapshots go with it: its state files, and the frozen images no other VM's chain uses. */
    void deleteAll(String vm) throws SQLException, IOException {
        for (Store.SnapshotRow s : store.snapshots(vm)) {
            if (s.statePath() != null) Files.deleteIfExists(Path.of(s.statePath()));
            store.deleteSnapshot(vm, s.name());
        }
    }
}
