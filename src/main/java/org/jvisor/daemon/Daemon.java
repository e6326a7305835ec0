package org.jvisor.daemon;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.SQLException;

/**
 * jvisord put together: the state directory (database, admin token, the VMs' run directories),
 * the supervisor that adopts the VMMs a previous daemon left running, the autostart of VMs, and
 * the HTTP server. {@link #close} stops serving and leaves every VM running.
 */
public final class Daemon implements AutoCloseable {
    public static final String DEFAULT_LISTEN = "127.0.0.1:8006";
    /** Where the daemon says which URL it serves, for the CLI on this host. */
    public static final String URL_FILE = "url";
    private final Store store;
    private final Supervisor supervisor;
    private final DaemonServer server;
    private final Path stateDir;
    private final Monitor monitor;

    private Daemon(Path stateDir, Store store, Supervisor supervisor, DaemonServer server, Monitor monitor) {
        this.monitor = monitor;
        this.stateDir = stateDir;
        this.store = store;
        this.supervisor = supervisor;
        this.server = server;
    }

    /** The state directory when none is given: /var/lib/jvisor for root, else ~/.local/share/jvisor (JVISOR_STATE overrides both). */
    public static Path defaultStateDir() {
        String env = System.getenv("JVISOR_STATE");
        if (env != null && !env.isBlank()) return Path.of(env);
        if ("root".equals(System.getProperty("user.name"))) return Path.of("/var/lib/jvisor");
        return Path.of(System.getProperty("user.home"), ".local", "share", "jvisor");
    }

    public static Daemon start(Path stateDir, String listen, PrintStream log) throws IOException {
        return start(stateDir, listen, false, null, null, log);
    }

    /**
     * Starts the daemon. With {@code tls} (required beyond loopback) it serves https, from the
     * PKCS#12 key store {@code cert} (password {@code certPassword}), or one it makes in the state directory.
     */
    public static Daemon start(Path stateDir, String listen, boolean tls, Path cert, String certPassword, PrintStream log) throws IOException {
        Files.createDirectories(stateDir);
        try {
            Files.setPosixFilePermissions(stateDir, PosixFilePermissions.fromString("rwx------"));
        } catch (UnsupportedOperationException e) {
            // not a POSIX file system: its own permissions apply
        }
        Store store = Store.open(stateDir.resolve("jvisord.db"));
        Supervisor supervisor = null;
        try {
            Tokens tokens = new Tokens(store);
            tokens.ensureAdminToken(stateDir);
            Tasks tasks = new Tasks(store); // fails the tasks a previous daemon left running
            Storage storage = new Storage(store);
            storage.removePartialImports(); // the tasks that wrote them were just marked failed
            supervisor = new Supervisor(stateDir.resolve("run"), store);
            java.util.function.UnaryOperator<VmSpec> resolver = spec -> spec.resolved(pool -> {
                try {
                    return store.pool(pool).orElseThrow(() -> new IllegalStateException("no pool named '" + pool + "'")).path();
                } catch (SQLException e) {
                    throw new IllegalStateException(e.getMessage(), e);
                }
            });
            supervisor.setResolver(resolver);
            Snapshots snapshots = new Snapshots(store, supervisor, stateDir.resolve("snapshots"), resolver);
            supervisor.adopt(store.vms());
            Metrics metrics = new Metrics();
            metrics.attach(store, supervisor);
            DaemonApi api = new DaemonApi(store, supervisor, tokens, metrics, storage, tasks, snapshots);
            Monitor monitor = new Monitor(store, supervisor);
            api.setMonitor(monitor);
            Tls.KeyStoreFile keys = !tls ? null : cert != null ? new Tls.KeyStoreFile(cert, certPassword == null ? "" : certPassword) : Tls.generated(stateDir);
            DaemonServer server = DaemonServer.start(api, listen, keys);
            String host = DaemonServer.listenAddress(listen, tls).getAddress().getHostAddress();
            if (host.equals("0.0.0.0") || host.equals("::") || host.equals("0:0:0:0:0:0:0:0")) host = "127.0.0.1"; // what the CLI here connects to
            String url = (tls ? "https://" : "http://") + (host.contains(":") ? "[" + host + "]" : host) + ":" + server.port();
            Files.writeString(stateDir.resolve(URL_FILE), url + "\n");
            store.event(null, "daemon-started", "serving " + url);
            log.println("jvisord: serving " + url + "/api/v1 (state in " + stateDir + ")");
            Daemon d = new Daemon(stateDir, store, supervisor, server, monitor);
            d.autostart(log);
            return d;
        } catch (IOException | SQLException | RuntimeException e) {
            if (supervisor != null) supervisor.close();
            store.close();
            if (e instanceof IOException io) throw io;
            throw new IOException(e.getMessage(), e);
        }
    }

    private void autostart(PrintStream log) throws SQLException {
        for (Store.VmRow r : store.vms()) {
            if (!Boolean.TRUE.equals(r.spec().autostart()) || supervisor.active(r.spec().name())) continue;
            Thread.ofVirtual().start(() -> {
                try {
                    supervisor.start(r.spec());
                } catch (Supervisor.Refused | IOException e) {
                    log.println("jvisord: autostart of " + r.spec().name() + " failed: " + e.getMessage());
                }
            });
        }
    }

    public int port() {
        return server.port();
    }

    public Path stateDir() {
        return stateDir;
    }

    @Override
    public void close() {
        server.close();
        monitor.close();
        supervisor.close();
        store.close();
    }
}
