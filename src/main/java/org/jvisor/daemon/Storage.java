package org.jvisor.daemon;

import java.io.IOException;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.jvisor.block.BlockException;
import org.jvisor.block.DiskImage;
import org.jvisor.block.ImageOps;
import org.jvisor.block.Images;
import org.jvisor.block.qcow2.Qcow2Image;
import org.jvisor.block.raw.HostFiles;

/**
 * Directory storage pools and the volumes in them (one image file each, the directory being the
 * truth, as in libvirt's dir pools). A pool keeps a free-space reserve (20 % of its file system
 * by default): an operation that would write the pool's free space below it is refused before it
 * starts. Thin volumes (qcow2, sparse raw) count what they hold now; imports and full clones count
 * the bytes they will write.
 */
public final class Storage {
    public static final double DEFAULT_RESERVE_PERCENT = 20;
    public static final List<String> FORMATS = List.of("raw", "qcow2");
    public static final long MAX_VOLUME = 16L << 40;

    /** A pool as the API shows it: its numbers in bytes. */
    public record PoolView(String name, String path, double reservePercent, long capacityBytes, long freeBytes, long reserveBytes,
                           long allocationBytes, long provisionedBytes, int volumes, String created) {}

    /** A volume as the API shows it. */
    public record VolumeView(String name, String pool, String path, String format, long sizeBytes, long allocationBytes, String backing,
                             List<String> usedBy) {}

    private final Store store;

    public Storage(Store store) {
        this.store = store;
    }

    /** Removes what imports a killed daemon left half written (hidden ".NAME.part" files); returns how many. */
    public int removePartialImports() throws SQLException {
        int n = 0;
        for (Store.PoolRow p : store.pools()) {
            try (Stream<Path> files = Files.list(Path.of(p.path()))) {
                for (Path f : files.toList()) {
                    String name = f.getFileName().toString();
                    if (name.startsWith(".") && name.endsWith(".part") && Files.deleteIfExists(f)) n++;
                }
            } catch (IOException e) {
                // a pool whose directory is gone: its listing says so
            }
        }
        return n;
    }

    Store.PoolRow pool(String name) throws ApiError, SQLException {
        return store.pool(name).orElseThrow(() -> new ApiError(404, "no pool named '" + name + "'"));
    }

    /** Defines a pool on a directory, making the directory when it does not exist. */
    public PoolView create(String name, String path, Double reservePercent) throws ApiError, SQLException, IOException {
        Map<String, String> bad = new LinkedHashMap<>();
        if (name == null || !VmSpec.NAME.matcher(name).matches()) bad.put("name", "1-63 letters, digits, '.', '_' or '-'");
        if (path == null || !Path.of(path).isAbsolute()) bad.put("path", "an absolute directory path is required");
        else if (Files.exists(Path.of(path)) && !Files.isDirectory(Path.of(path))) bad.put("path", "not a directory: " + path);
        double reserve = reservePercent == null ? DEFAULT_RESERVE_PERCENT : reservePercent;
        if (reserve < 0 || reserve > 99) bad.put("reservePercent", "must be 0-99");
        if (!bad.isEmpty()) throw new ApiError(400, "the pool definition has errors", bad);
        Path dir = Path.of(path).normalize();
        for (Store.PoolRow p : store.pools()) {
            if (p.name().equals(name)) throw new ApiError(409, "a pool named '" + name + "' exists");
            if (p.path().equals(dir.toString())) throw new ApiError(409, "pool '" + p.name() + "' already is " + dir);
        }
        Files.createDirectories(dir);
        if (!store.insertPool(name, dir.toString(), reserve)) throw new ApiError(409, "a pool named '" + name + "' exists");
        store.event(null, "pool-created", "pool '" + name + "' at " + dir);
        return view(pool(name));
    }

    public PoolView view(Store.PoolRow p) throws IOException, SQLException {
        Path dir = Path.of(p.path());
        FileStore fs = Files.getFileStore(dir);
        long capacity = fs.getTotalSpace(), free = fs.getUsableSpace();
        long alloc = 0, provisioned = 0;
        int n = 0;
        for (VolumeView v : volumes(p)) {
            alloc += v.allocationBytes();
            provisioned += v.sizeBytes();
            n++;
        }
        return new PoolView(p.name(), p.path(), p.reservePercent(), capacity, free, (long) (capacity * p.reservePercent() / 100), alloc, provisioned, n, p.created());
    }

    public List<VolumeView> volumes(Store.PoolRow p) throws IOException, SQLException {
        List<VolumeView> out = new ArrayList<>();
        try (Stream<Path> files = Files.list(Path.of(p.path()))) {
            for (Path f : files.sorted().toList()) {
                String n = f.getFileName().toString();
                if (!Files.isRegularFile(f) || !VmSpec.NAME.matcher(n).matches()) continue; // partial imports (".name.part") stay hidden
                out.add(volume(p, n));
            }
        }
        return out;
    }

    VolumeView volume(Store.PoolRow p, String name) throws IOException, SQLException {
        Path f = Path.of(p.path(), name);
        String format = "raw", backing = null;
        long size, alloc;
        try {
            format = Images.probe(f);
            try (DiskImage img = Images.open(f, format, true)) {
                size = img.size();
                if (img instanceof Qcow2Image q && q.header().backingFile != null) backing = Qcow2Image.resolve(f, q.header().backingFile).getFileName().toString();
            }
            alloc = HostFiles.allocatedBytes(f);
        } catch (BlockException e) {
            size = Files.size(f);
            alloc = size;
        }
        return new VolumeView(name, p.name(), f.toString(), format, size, alloc, backing, usedBy(f));
    }

    /** The VMs whose definition names this image (by path or as a volume), and the volumes backed by it. */
    List<String> usedBy(Path image) throws SQLException, IOException {
        List<String> users = new ArrayList<>();
        for (Store.VmRow r : store.vms()) {
            for (VmSpec.Disk d : r.spec().disks()) {
                Path p = d.path() != null ? Path.of(d.path()) : store.pool(d.pool()).map(pl -> Path.of(pl.path(), d.volume())).orElse(null);
                if (p != null && p.normalize().equals(image.normalize())) users.add("vm:" + r.spec().name());
            }
        }
        Path dir = image.getParent();
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.toList()) {
                if (f.equals(image) || !Files.isRegularFile(f)) continue;
                try {
                    if (!"qcow2".equals(Images.probe(f))) continue;
                    try (DiskImage img = Images.open(f, "qcow2", true)) {
                        if (img instanceof Qcow2Image q && q.header().backingFile != null && Qcow2Image.resolve(f, q.header().backingFile).normalize().equals(image.normalize())) {
                            users.add("volume:" + f.getFileName());
                        }
                    }
                } catch (BlockException e) {
                    // not an image of ours
                }
            }
        }
        return users;
    }

    static void checkVolumeName(String field, String name) throws ApiError {
        if (name == null || !VmSpec.NAME.matcher(name).matches()) {
            throw new ApiError(400, "bad volume name", Map.of(field, "1-63 letters, digits, '.', '_' or '-' (a file name in the pool, no path)"));
        }
    }

    /** Refuses an operation that writes {@code bytes} into the pool when that would break its free-space reserve. */
    void checkReserve(Store.PoolRow p, long bytes, String what) throws ApiError, IOException, SQLException {
        PoolView v = view(p);
        if (v.freeBytes() - bytes < v.reserveBytes()) {
            throw new ApiError(409, what + " would leave " + mib(v.freeBytes() - bytes) + " free in pool '" + p.name() + "', below its reserve of "
                    + mib(v.reserveBytes()) + " (" + p.reservePercent() + " % of " + mib(v.capacityBytes()) + "): free space first, or lower the pool's reserve");
        }
    }

    private static String mib(long b) {
        return (b >> 20) + " MiB";
    }

    /** Makes an empty volume: thin (sparse raw, or qcow2), so it counts nothing against the reserve yet. */
    public VolumeView create(String poolName, String name, String format, Long sizeBytes) throws ApiError, IOException, SQLException {
        Store.PoolRow p = pool(poolName);
        checkVolumeName("name", name);
        String fmt = format == null ? "qcow2" : format;
        if (!FORMATS.contains(fmt)) throw new ApiError(400, "bad format", Map.of("format", "one of " + FORMATS));
        if (sizeBytes == null || sizeBytes < 1 << 20 || sizeBytes > MAX_VOLUME || sizeBytes % 512 != 0) {
            throw new ApiError(400, "bad size", Map.of("sizeBytes", "a multiple of 512 from 1 MiB to 16 TiB"));
        }
        Path f = Path.of(p.path(), name);
        if (Files.exists(f)) throw new ApiError(409, "pool '" + poolName + "' already has a volume '" + name + "'");
        checkReserve(p, 1 << 20, "creating " + name);
        try {
            Images.create(f, fmt, sizeBytes, null, null, 16);
        } catch (BlockException e) {
            throw new ApiError(500, "cannot create " + f + ": " + e.getMessage());
        }
        store.event(null, "volume-created", poolName + "/" + name);
        return volume(p, name);
    }

    /** A linked clone: a qcow2 overlay over the source, which from now on must not change (it is in use by the clone). */
    public VolumeView linkedClone(String poolName, String source, String name) throws ApiError, IOException, SQLException {
        Store.PoolRow p = pool(poolName);
        checkVolumeName("name", name);
        Path src = Path.of(p.path(), source), f = Path.of(p.path(), name);
        if (!Files.isRegularFile(src)) throw new ApiError(404, "pool '" + poolName + "' has no volume '" + source + "'");
        if (Files.exists(f)) throw new ApiError(409, "pool '" + poolName + "' already has a volume '" + name + "'");
        checkReserve(p, 1 << 20, "cloning " + source);
        try {
            Images.create(f, "qcow2", -1, source, Images.probe(src), 16);
        } catch (BlockException e) {
            throw new ApiError(500, "cannot create " + f + ": " + e.getMessage());
        }
        store.event(null, "volume-cloned", poolName + "/" + source + " -> " + name + " (linked)");
        return volume(p, name);
    }

    /**
     * Copies an image file (raw, qcow2, vmdk or vhd; a full clone when it is a volume) into a new
     * volume, reporting progress to the task. The copy is written under a hidden name and renamed
     * when complete, so a failed, cancelled or killed import leaves no half volume.
     */
    public String copy(Tasks.Handle task, Path src, Store.PoolRow p, String name, String format) throws Exception {
        Path f = Path.of(p.path(), name), part = Path.of(p.path(), "." + name + ".part");
        String srcFormat;
        long size;
        try {
            srcFormat = Images.probe(src);
            try (DiskImage in = Images.open(src, srcFormat, true)) {
                size = in.size();
            }
        } catch (BlockException e) {
            throw new ApiError(400, src + " is not an image jvisor reads: " + e.getMessage());
        }
        task.log("copying " + src + " (" + srcFormat + ", " + size + " bytes) to " + f + " (" + format + ")");
        Files.deleteIfExists(part);
        try {
            final long total = size;
            ImageOps.convert(src, srcFormat, part, format, false, done -> {
                try {
                    task.progress((double) done / total);
                } catch (Tasks.Cancelled c) {
                    throw new CancelledCopy();
                }
            });
            if (Files.exists(f)) throw new ApiError(409, "pool '" + p.name() + "' got a volume '" + name + "' meanwhile");
            Files.move(part, f, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        } catch (CancelledCopy c) {
            throw new Tasks.Cancelled();
        } finally {
            Files.deleteIfExists(part);
        }
        task.log("done: " + HostFiles.allocatedBytes(f) + " bytes allocated");
        store.event(null, "volume-imported", p.name() + "/" + name + " from " + src);
        return "volume " + p.name() + "/" + name + " ready";
    }

    /** Carries a cancellation out of the converter's progress callback. */
    private static final class CancelledCopy extends RuntimeException {
        CancelledCopy() {
            super("cancelled", null, false, false);
        }
    }

    /** What an import or full clone will write: the source's allocated bytes (zero runs are not copied). */
    static long bytesToCopy(Path src) throws ApiError {
        try {
            return HostFiles.allocatedBytes(src);
        } catch (BlockException e) {
            throw new ApiError(400, "cannot read " + src + ": " + e.getMessage());
        }
    }

    /** Grows a volume (never shrinks: the guest's file systems would lose their end). */
    public VolumeView resize(String poolName, String name, Long sizeBytes) throws ApiError, IOException, SQLException {
        Store.PoolRow p = pool(poolName);
        VolumeView v = existing(p, name);
        if (sizeBytes == null || sizeBytes % 512 != 0 || sizeBytes > MAX_VOLUME) throw new ApiError(400, "bad size", Map.of("sizeBytes", "a multiple of 512, at most 16 TiB"));
        if (sizeBytes < v.sizeBytes()) throw new ApiError(400, "bad size", Map.of("sizeBytes", "volumes only grow: " + name + " is " + v.sizeBytes() + " bytes"));
        try (DiskImage img = Images.open(Path.of(v.path()), v.format(), false)) {
            img.resize(sizeBytes);
            img.flush();
        } catch (BlockException e) {
            throw new ApiError(500, "cannot resize " + v.path() + ": " + e.getMessage());
        }
        store.event(null, "volume-resized", poolName + "/" + name + " to " + sizeBytes);
        return volume(p, name);
    }

    VolumeView existing(Store.PoolRow p, String name) throws ApiError, IOException, SQLException {
        checkVolumeName("volume", name);
        if (!Files.isRegularFile(Path.of(p.path(), name))) throw new ApiError(404, "pool '" + p.name() + "' has no volume '" + name + "'");
        return volume(p, name);
    }

    public void delete(String poolName, String name) throws ApiError, IOException, SQLException {
        Store.PoolRow p = pool(poolName);
        VolumeView v = existing(p, name);
        if (!v.usedBy().isEmpty()) throw new ApiError(409, "volume '" + name + "' is in use by " + String.join(", ", v.usedBy()) + ": delete or change those first");
        Files.delete(Path.of(v.path()));
        store.event(null, "volume-deleted", poolName + "/" + name);
    }
}
