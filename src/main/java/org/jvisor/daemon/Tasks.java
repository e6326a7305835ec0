package org.jvisor.daemon;

import java.sql.SQLException;
import java.time.Instant;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Long operations (imports, full clones) run as tasks: the request gets the task's id at once,
 * the work goes on in a virtual thread, and its state, progress and log are kept in the database
 * (so a task a killed daemon left behind is marked failed by the next one). A task is cancelled
 * by setting its flag; the work checks it between chunks and cleans up what it made.
 */
public final class Tasks {
    /** The work of a task; it reports progress and checks for cancellation through the handle. */
    @FunctionalInterface
    public interface Work {
        String run(Handle h) throws Exception;
    }

    /** Thrown by the work when it sees the task was cancelled. */
    public static final class Cancelled extends Exception {
        Cancelled() {
            super("cancelled");
        }
    }

    /** What the work sees of its task. */
    public final class Handle {
        private final String id;
        private volatile Store.TaskRow row;
        private volatile boolean cancelled;
        private long lastSaved;

        Handle(Store.TaskRow row) {
            this.id = row.id();
            this.row = row;
        }

        /** Progress from 0 to 1; saved at most ten times a second. */
        public void progress(double p) throws Cancelled {
            if (cancelled) throw new Cancelled();
            row = with(row, "running", Math.max(0, Math.min(1, p)), row.message(), null, null);
            long now = System.currentTimeMillis();
            if (now - lastSaved >= 100) {
                lastSaved = now;
                save(row);
            }
        }

        public void log(String line) {
            row = with(row, row.state(), row.progress(), row.message(), row.log() + Instant.now() + " " + line + "\n", null);
            save(row);
        }

        public boolean cancelled() {
            return cancelled;
        }
    }

    private final Store store;
    private final Map<String, Handle> running = new ConcurrentHashMap<>();

    public Tasks(Store store) throws SQLException {
        this.store = store;
        store.failOrphanedTasks();
    }

    private static Store.TaskRow with(Store.TaskRow t, String state, double progress, String message, String log, String finished) {
        return new Store.TaskRow(t.id(), t.kind(), t.target(), state, progress, message, log != null ? log : t.log(), t.created(),
                finished != null ? finished : t.finished());
    }

    private void save(Store.TaskRow t) {
        try {
            store.saveTask(t);
        } catch (SQLException e) {
            System.err.println("jvisord: cannot record task " + t.id() + ": " + e.getMessage());
        }
    }

    /** Starts a task and returns it (state running). */
    public Store.TaskRow start(String kind, String target, Work work) {
        Store.TaskRow t = new Store.TaskRow(UUID.randomUUID().toString().substring(0, 13), kind, target, "running", 0, null, "", Instant.now().toString(), null);
        save(t);
        Handle h = new Handle(t);
        running.put(t.id(), h);
        Thread.ofVirtual().name("task-" + t.id()).start(() -> {
            String state, message;
            try {
                message = work.run(h);
                state = "succeeded";
            } catch (Cancelled e) {
                state = "cancelled";
                message = "cancelled";
            } catch (Exception e) {
                state = "failed";
                message = e.getMessage();
            }
            h.row = with(h.row, state, state.equals("succeeded") ? 1 : h.row.progress(), message, null, Instant.now().toString());
            save(h.row);
            running.remove(t.id());
        });
        return t;
    }

    /** The live row of a running task, else what the database has. */
    public java.util.Optional<Store.TaskRow> get(String id) throws SQLException {
        Handle h = running.get(id);
        return h != null ? java.util.Optional.of(h.row) : store.task(id);
    }

    /** Asks a running task to stop; false when it is not running. */
    public boolean cancel(String id) {
        Handle h = running.get(id);
        if (h == null) return false;
        h.cancelled = true;
        return true;
    }
}
