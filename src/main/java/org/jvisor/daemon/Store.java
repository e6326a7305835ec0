package org.jvisor.daemon;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The daemon's state in SQLite: VM definitions (and whether each should be running), API tokens
 * (hashed) and events. WAL journal with synchronous=FULL: each write is one transaction that is
 * on disk when the call returns, so a kill -9 at any point loses no definition. The schema grows
 * by numbered migrations, applied in order at open and recorded in {@code user_version}.
 */
public final class Store implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Migration N (1-based) takes the schema from version N-1 to N. Append; never edit one that shipped. */
    static final List<String> MIGRATIONS = List.of(
            """
            CREATE TABLE vms (name TEXT PRIMARY KEY, spec TEXT NOT NULL, created TEXT NOT NULL,
                              should_run INTEGER NOT NULL DEFAULT 0);
            CREATE TABLE tokens (name TEXT PRIMARY KEY, role TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, created TEXT NOT NULL);
            CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT NOT NULL, vm TEXT, kind TEXT NOT NULL, message TEXT NOT NULL);
            """,
            """
            CREATE TABLE pools (name TEXT PRIMARY KEY, path TEXT NOT NULL UNIQUE, reserve_percent REAL NOT NULL, created TEXT NOT NULL);
            CREATE TABLE tasks (id TEXT PRIMARY KEY, kind TEXT NOT NULL, target TEXT NOT NULL, state TEXT NOT NULL, progress REAL NOT NULL,
                                message TEXT, log TEXT NOT NULL, created TEXT NOT NULL, finished TEXT);
            """,
            """
            CREATE TABLE snapshots (vm TEXT NOT NULL, name TEXT NOT NULL, created TEXT NOT NULL, memory INTEGER NOT NULL,
                                    state_path TEXT, disks TEXT NOT NULL, PRIMARY KEY (vm, name));
            """,
            """
            CREATE TABLE groups (name TEXT PRIMARY KEY, spec TEXT NOT NULL, created TEXT NOT NULL);
            """);

    private final Connection db;

    public record VmRow(VmSpec spec, String created, boolean shouldRun) {}

    public record TokenRow(String name, String role, String hash, String created) {}

    public record Event(long id, String time, String vm, String kind, String message) {}

    /** A VM's snapshot: its frozen disk images (one per disk, in order) and, with memory, the state file. */
    public record SnapshotRow(String vm, String name, String created, boolean memory, String statePath, List<String> disks) {}

    public record PoolRow(String name, String path, double reservePercent, String created) {}

    /** A long operation: running, then succeeded, failed or cancelled; progress from 0 to 1; its log, one line per step. */
    public record TaskRow(String id, String kind, String target, String state, double progress, String message, String log, String created,
                          String finished) {}

    private Store(Connection db) {
        this.db = db;
    }

    public static Store open(Path file) throws IOException {
        try {
            Connection c = DriverManager.getConnection("jdbc:sqlite:" + file.toAbsolutePath());
            try (Statement s = c.createStatement()) {
                s.execute("PRAGMA journal_mode=WAL");
                s.execute("PRAGMA synchronous=FULL");
                s.execute("PRAGMA busy_timeout=5000");
            }
            migrate(c);
            return new Store(c);
        } catch (SQLException e) {
            throw new IOException("cannot open the daemon's database " + file + ": " + e.getMessage(), e);
        }
    }

    static int schemaVersion(Connection c) throws SQLException {
        try (Statement s = c.createStatement(); ResultSet r = s.executeQuery("PRAGMA user_version")) {
            return r.next() ? r.getInt(1) : 0;
        }
    }

    private static void migrate(Connection c) throws SQLException, IOException {
        int v = schemaVersion(c);
        if (v > MIGRATIONS.size()) {
            throw new IOException("the database's schema is version " + v + ", newer than this jvisor knows (" + MIGRATIONS.size() + "): run a newer jvisor");
        }
        c.setAutoCommit(false);
        try {
            for (int i = v; i < MIGRATIONS.size(); i++) {
                try (Statement s = c.createStatement()) {
                    for (String stmt : MIGRATIONS.get(i).split(";")) if (!stmt.isBlank()) s.execute(stmt);
                    s.execute("PRAGMA user_version = " + (i + 1));
                }
                c.commit();
            }
        } catch (SQLException e) {
            c.rollback();
            throw e;
        } finally {
            c.setAutoCommit(true);
        }
    }

    public int schemaVersion() throws SQLException {
        return schemaVersion(db);
    }

    private static String now() {
        return Instant.now().toString();
    }

    // ---- VMs ----

    /** Adds a VM; false when the name is taken. */
    public synchronized boolean insertVm(VmSpec spec) throws SQLException {
        try (PreparedStatement p = db.prepareStatement("INSERT OR IGNORE INTO vms (name, spec, created) VALUES (?, ?, ?)")) {
            p.setString(1, spec.name());
            p.setString(2, json(spec));
            p.setString(3, now());
            return p.executeUpdate() == 1;
        }
    }

    public synchronized void updateVm(VmSpec spec) throws SQLException {
        try (PreparedStatement p = db.prepareStatement("UPDATE vms SET spec = ? WHERE name = ?")) {
            p.setString(1, json(spec));
            p.setString(2, spec.name());
            p.executeUpdate();
        }
    }

    public synchronized void setShouldRun(String name, boolean run) throws SQLException {
        try (PreparedStatement p = db.prepareStatement("UPDATE vms SET should_run = ? WHERE name = ?")) {
            p.setInt(1, run ? 1 : 0);
            p.setString(2, name);
            p.executeUpdate();
        }
    }

    public synchronized boolean deleteVm(String name) throws SQLException {
        try (PreparedStatement p = db.prepareStatement("DELETE FROM vms WHERE name = ?")) {
            p.setString(1, name);
            return p.executeUpdate() == 1;
        }
    }

    public synchronized Optional<VmRow> vm(String name) throws SQLException {
        try (PreparedStatement p = db.prepareStatement("SELECT spec, created, should_run FROM vms WHERE name = ?")) {
            p.setString(1, name);
            try (ResultSet r = p.executeQuery()) {
                return r.next() ? Optional.of(row(r)) : Optional.empty();
            }
        }
    }

    public synchronized List<VmRow> vms() throws SQLException {
        List<VmRow> out = new ArrayList<>();
        try (Statement s = db.createStatement(); ResultSet r = s.executeQuery("SELECT spec, created, should_run FROM vms ORDER BY name")) {
            while (r.next()) out.add(row(r));
        }
        return out;
    }

    private static VmRow row(ResultSet r) throws SQLException {
        try {
            return new VmRow(JSON.readValue(r.getString(1), VmSpec.class), r.getString(2), r.getInt(3) != 0);
        } catch (IOException e) {
            throw new SQLException("a VM definition in the database is not valid JSON: " + e.getMessage(), e);
        }
    }

    private static String json(Object o) throws SQLException {
        try {
            return JSON.writeValueAsString(o);
        } catch (IOException e) {
            throw new SQLException(e.getMessage(), e);
        }
    }

    // ---- tokens ----

    public synchronized boolean insertToken(String name, String role, String hash) throws SQLException {
        try (PreparedStatement p = db.prepareStatement("INSERT OR IGNORE INTO tokens (name, role, hash, created) VALUES (?, ?, ?, ?)")) {
            p.setString(1, name);
            p.setString(2, role);
            p.setString(3, hash);
            p.setString(4, now());
            return p.executeUpdate() == 1;
        }
    }

    /** Replaces a token's secret (the admin token, when its file was lost). */
    public synchronized void replaceToken(String name, String role, String hash) throws SQLException {
        try (PreparedStatement p = db.prepareStatement("INSERT OR REPLACE INTO tokens (name, role, hash, created) VALUES (?, ?, ?, ?)")) {
            p.setString(1, name);
            p.setString(2, role);
            p.setString(3, hash);
            p.setString(4, now());
            p.executeUpdate();
        }
    }

    public synchronized Optional<TokenRow> tokenByHash(String hash) throws SQLException {
        try (PreparedStatement p = db.prepareStatement("SELECT name, role, hash, created FROM tokens WHERE hash = ?")) {
            p.setString(1, hash);
            try (ResultSet r = p.executeQuery()) {
                return r.next() ? Optional.of(new TokenRow(r.getString(1), r.getString(2), r.getString(3), r.getString(4))) : Optional.empty();
            }
        }
    }

    public synchronized List<TokenRow> tokens() throws SQLException {
        List<TokenRow> out = new ArrayList<>();
        try (Statement s = db.createStatement(); ResultSet r = s.executeQuery("SELECT name, role, hash, created FROM tokens ORDER BY name")) {
            while (r.next()) out.add(new TokenRow(r.getString(1), r.getString(2), r.getString(3), r.getString(4)));
        }
        return out;
    }

    public synchronized boolean deleteToken(String name) throws SQLException {
        try (PreparedStatement p = db.prepareStatement("DELETE FROM tokens WHERE name = ?")) {
            p.setString(1, name);
            return p.executeUpdate() == 1;
        }
    }

    // ---- events ----

    public synchronized void event(String vm, String kind, String message) throws SQLException {
        try (PreparedStatement p = db.prepareStatement("INSERT INTO events (time, vm, kind, message) VALUES (?, ?, ?, ?)")) {
            p.setString(1, now());
            p.setString(2, vm);
            p.setString(3, kind);
            p.setString(4, message);
            p.executeUpdate();
        }
    }

    /** The newest events first, at most {@code limit}. */
    public synchronized List<Event> events(int limit) throws SQLException {
        List<Event> out = new ArrayList<>();
        try (PreparedStatement p = db.prepareStatement("SELECT id, time, vm, kind, message FROM events ORDER BY id DESC LIMIT ?")) {
            p.setInt(1, limit);
            try (ResultSet r = p.executeQuery()) {
                while (r.next()) out.add(new Event(r.getLong(1), r.getString(2), r.getString(3), r.getString(4), r.getString(5)));
            }
        }
        return out;
    }

    // ---- resource groups ----

    public record GroupRow(GroupSpec spec, String created) {}

    /** Adds a group; false when the name is taken. */
    public synchronized boolean insertGroup(GroupSpec g) throws SQLException {
        try (PreparedStatement p = db.prepareStatement("INSERT OR IGNORE INTO groups (name, spec, created) VALUES (?, ?, ?)")) {
            p.setString(1, g.name());
            p.setString(2, json(g));
            p.setString(3, now());
            return p.executeUpdate() == 1;
        }
    }

    public synchronized void updateGroup(GroupSpec g) throws SQLException {
        try (PreparedStatement p = db.prepareStatement("UPDATE groups SET spec = ? WHERE name = ?")) {
            p.setString(1, json(g));
            p.setString(2, g.name());
            p.executeUpdate();
        }
    }

    public synchronized List<GroupRow> groups() throws SQLException {
        List<GroupRow> out = new ArrayList<>();
        try (Statement s = db.createStatement(); ResultSet r = s.executeQuery("SELECT spec, created FROM groups ORDER BY name")) {
            while (r.next()) out.add(groupRow(r));
        }
        return out;
    }

    public synchronized Optional<GroupRow> group(String name) throws SQLException {
        try (PreparedStatement p = db.prepareStatement("SELECT spec, created FROM groups WHERE name = ?")) {
            p.setString(1, name);
            try (ResultSet r = p.executeQuery()) {
                return r.next() ? Optional.of(groupRow(r)) : Optional.empty();
            }
        }
    }

    private static GroupRow groupRow(ResultSet r) throws SQLException {
        try {
            return new GroupRow(JSON.readValue(r.getString(1), GroupSpec.class), r.getString(2));
        } catch (IOException e) {
            throw new SQLException("a group definition in the database is not valid JSON: " + e.getMessage(), e);
        }
    }

    public synchronized boolean deleteGroup(String name) throws SQLException {
        try (PreparedStatement p = db.prepareStatement("DELETE FROM groups WHERE name = ?")) {
            p.setString(1, name);
            return p.executeUpdate() == 1;
        }
    }

    // ---- pools ----

    public synchronized boolean insertPool(String name, String path, double reservePercent) throws SQLException {
        try (PreparedStatement p = db.prepareStatement("INSERT OR IGNORE INTO pools (name, path, reserve_percent, created) VALUES (?, ?, ?, ?)")) {
            p.setString(1, name);
            p.setString(2, path);
            p.setDouble(3, reservePercent);
            p.setString(4, now());
            return p.executeUpdate() == 1;
        }
    }

    public synchronized Optional<PoolRow> pool(String name) throws SQLException {
        try (PreparedStatement p = db.prepareStatement("SELECT name, path, reserve_percent, created FROM pools WHERE name = ?")) {
            p.setString(1, name);
            try (ResultSet r = p.executeQuery()) {
                return r.next() ? Optional.of(new PoolRow(r.getString(1), r.getString(2), r.getDouble(3), r.getString(4))) : Optional.empty();
            }
        }
    }

    public synchronized List<PoolRow> pools() throws SQLException {
        List<PoolRow> out = new ArrayList<>();
        try (Statement s = db.createStatement(); ResultSet r = s.executeQuery("SELECT name, path, reserve_percent, created FROM pools ORDER BY name")) {
            while (r.next()) out.add(new PoolRow(r.getString(1), r.getString(2), r.getDouble(3), r.getString(4)));
        }
        return out;
    }

    public synchronized boolean deletePool(String name) throws SQLException {
        try (PreparedStatement p = db.prepareStatement("DELETE FROM pools WHERE name = ?")) {
            p.setString(1, name);
            return p.executeUpdate() == 1;
        }
    }

    // ---- snapshots ----

    public synchronized boolean insertSnapshot(SnapshotRow r) throws SQLException {
        try (PreparedStatement p = db.prepareStatement("INSERT OR IGNORE INTO snapshots (vm, name, created, memory, state_path, disks) VALUES (?, ?, ?, ?, ?, ?)")) {
            p.setString(1, r.vm());
            p.setString(2, r.name());
            p.setString(3, r.created());
            p.setInt(4, r.memory() ? 1 : 0);
            p.setString(5, r.statePath());
            p.setString(6, json(r.disks()));
            return p.executeUpdate() == 1;
        }
    }

    public synchronized List<SnapshotRow> snapshots(String vm) throws SQLException {
        List<SnapshotRow> out = new ArrayList<>();
        try (PreparedStatement p = db.prepareStatement("SELECT vm, name, created, memory, state_path, disks FROM snapshots WHERE vm = ? ORDER BY created")) {
            p.setString(1, vm);
            try (ResultSet r = p.executeQuery()) {
                while (r.next()) {
                    try {
                        out.add(new SnapshotRow(r.getString(1), r.getString(2), r.getString(3), r.getInt(4) != 0, r.getString(5),
                                List.of(JSON.readValue(r.getString(6), String[].class))));
                    } catch (IOException e) {
                        throw new SQLException("snapshot " + r.getString(2) + " of " + vm + " is damaged: " + e.getMessage(), e);
                    }
                }
            }
        }
        return out;
    }

    public synchronized boolean deleteSnapshot(String vm, String name) throws SQLException {
        try (PreparedStatement p = db.prepareStatement("DELETE FROM snapshots WHERE vm = ? AND name = ?")) {
            p.setString(1, vm);
            p.setString(2, name);
            return p.executeUpdate() == 1;
        }
    }

    // ---- tasks ----

    public synchronized void saveTask(TaskRow t) throws SQLException {
        try (PreparedStatement p = db.prepareStatement("INSERT OR REPLACE INTO tasks (id, kind, target, state, progress, message, log, created, finished) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")) {
            p.setString(1, t.id());
            p.setString(2, t.kind());
            p.setString(3, t.target());
            p.setString(4, t.state());
            p.setDouble(5, t.progress());
            p.setString(6, t.message());
            p.setString(7, t.log());
            p.setString(8, t.created());
            p.setString(9, t.finished());
            p.executeUpdate();
        }
    }

    public synchronized List<TaskRow> tasks(int limit) throws SQLException {
        List<TaskRow> out = new ArrayList<>();
        try (PreparedStatement p = db.prepareStatement("SELECT id, kind, target, state, progress, message, log, created, finished FROM tasks ORDER BY created DESC LIMIT ?")) {
            p.setInt(1, limit);
            try (ResultSet r = p.executeQuery()) {
                while (r.next()) out.add(task(r));
            }
        }
        return out;
    }

    public synchronized Optional<TaskRow> task(String id) throws SQLException {
        try (PreparedStatement p = db.prepareStatement("SELECT id, kind, target, state, progress, message, log, created, finished FROM tasks WHERE id = ?")) {
            p.setString(1, id);
            try (ResultSet r = p.executeQuery()) {
                return r.next() ? Optional.of(task(r)) : Optional.empty();
            }
        }
    }

    private static TaskRow task(ResultSet r) throws SQLException {
        return new TaskRow(r.getString(1), r.getString(2), r.getString(3), r.getString(4), r.getDouble(5), r.getString(6), r.getString(7),
                r.getString(8), r.getString(9));
    }

    /** Tasks a daemon that died left running: they are failed now (their work stopped with it). Returns how many. */
    public synchronized int failOrphanedTasks() throws SQLException {
        try (PreparedStatement p = db.prepareStatement("UPDATE tasks SET state = 'failed', message = 'the daemon stopped while the task ran', finished = ? WHERE state = 'running'")) {
            p.setString(1, now());
            return p.executeUpdate();
        }
    }

    @Override
    public synchronized void close() {
        try {
            db.close();
        } catch (SQLException e) {
            // closing: nothing left to save
        }
    }
}
