package org.jvisor.vmm;

import java.io.OutputStream;
import java.util.List;
import java.util.Map;

/**
 * A VM's life around its {@link Machine}: booted (again after each reboot, unless told not to),
 * paused and resumed, powered down by its button or stopped hard, asked how it is. The control
 * API and the CLI drive VMs through this, never the machine directly; every operation checks the
 * state first and refuses (with {@link Conflict}) what the state does not allow, changing nothing.
 */
public final class Vm {
    public enum State { CREATED, RUNNING, PAUSED, SHUT_DOWN }

    /** Makes a fresh, booted machine whose console goes to {@code console}: for the first boot and each reboot. */
    @FunctionalInterface
    public interface MachineFactory {
        Machine create(OutputStream console) throws BuildException;
    }

    /** A machine could not be made: the message says what in the VM's configuration was wrong. */
    public static final class BuildException extends Exception {
        public BuildException(String message) {
            super(message);
        }
    }

    /** The request does not fit the VM's state (pause a paused VM, resume a running one...). */
    public static final class Conflict extends Exception {
        public Conflict(String message) {
            super(message);
        }
    }

    /** What {@link #info()} reports: a program's view, so plain values with units in their names. */
    public record Info(String state, long memoryBytes, int vcpus, long ramResidentBytes, int boots, double uptimeSeconds,
                       long instructions, long interpretedInstructions, long translatedBlockRuns, long consoleBytes,
                       List<Map<String, Object>> devices, String exitReason, MigrationSender.Progress migration) {}

    static final long PAUSE_TIMEOUT_MS = 5_000;

    private final MachineFactory factory;
    private final ConsoleRing console;
    private final MachineConfig config;
    private final long memoryBytes;
    private final boolean noReboot;
    private final long started = System.nanoTime();
    private State state = State.CREATED;
    private Machine machine;
    private int boots;
    private boolean stopping;
    private MachineExit exit;
    private boolean migrating;
    private String migratedTo;
    private volatile MigrationSender.Progress migration;

    public Vm(MachineConfig config, MachineFactory factory, OutputStream console, boolean noReboot) {
        this.config = config;
        this.memoryBytes = config.memoryBytes();
        this.factory = factory;
        this.console = new ConsoleRing(console, 64 << 10);
        this.noReboot = noReboot;
    }

    /**
     * Runs the VM on the calling thread (a platform thread: it becomes the vCPU) until it is
     * over: powered off, stopped, crashed, or reset with no-reboot. Returns why.
     */
    public MachineExit run() throws BuildException {
        for (;;) {
            Machine m = factory.create(console);
            synchronized (this) {
                if (stopping) {
                    m.close();
                    return finish(new MachineExit.Stopped());
                }
                machine = m;
                boots++;
                state = State.RUNNING;
            }
            MachineExit e;
            try {
                e = m.run();
            } finally {
                synchronized (this) {
                    machine = null;
                }
                m.close();
            }
            synchronized (this) {
                if (migratedTo != null) return finish(new MachineExit.Migrated(migratedTo));
                if (e instanceof MachineExit.Reset && !noReboot && !stopping) continue;
                return finish(e);
            }
        }
    }

    private synchronized MachineExit finish(MachineExit e) {
        exit = e;
        state = State.SHUT_DOWN;
        notifyAll();
        return e;
    }

    public synchronized State state() {
        return state;
    }

    public ConsoleRing console() {
        return console;
    }

    /** Console input for the guest's UART; it waits there until the guest reads it (dropped between boots). */
    public void typeOnConsole(byte[] b, int off, int len) {
        Machine m;
        synchronized (this) {
            m = machine;
        }
        if (m != null) m.serial().receive(b, off, len); // outside the lock: it may wait for the guest to read
    }

    /** Stops the vCPU at an instruction boundary; devices and timers go on (interrupts wait for the resume). */
    public synchronized void pause() throws Conflict, InterruptedException {
        Machine m = requireState(State.RUNNING, "pause");
        if (!m.pause(PAUSE_TIMEOUT_MS)) {
            m.resume();
            throw new IllegalStateException("the vCPU did not stop within " + PAUSE_TIMEOUT_MS + " ms");
        }
        state = State.PAUSED;
    }

    public synchronized void resume() throws Conflict {
        Machine m = requireState(State.PAUSED, "resume");
        m.resume();
        state = State.RUNNING;
    }

    /** The ACPI power button: the guest shuts itself down (if its OS listens for the button). */
    public synchronized void powerButton() throws Conflict {
        requireState(State.RUNNING, "press the power button of").pressPowerButton();
    }

    /**
     * Saves the VM to {@code file}: pauses it (if it runs), flushes its disks, writes the state,
     * and resumes it when {@code resume} says so and it was running. A failure leaves no file and
     * the VM as it was.
     */
    public synchronized SnapshotResult snapshot(java.nio.file.Path file, boolean resume) throws Conflict, InterruptedException, java.io.IOException {
        if (migrating) throw new Conflict("cannot snapshot the VM: a migration is under way");
        if (state != State.RUNNING && state != State.PAUSED) throw new Conflict("cannot snapshot the VM: it is " + describe(state));
        boolean wasRunning = state == State.RUNNING;
        long t0 = System.nanoTime();
        if (wasRunning) pause();
        double[] downtime = {0};
        boolean[] resumed = {false};
        Snapshot.Written w;
        try {
            // The guest runs on once its state is in the file's pages; forcing them to disk is not its downtime.
            w = Snapshot.write(file, config, machine, () -> {
                if (wasRunning && resume) {
                    machine.resume();
                    state = State.RUNNING;
                    resumed[0] = true;
                    downtime[0] = (System.nanoTime() - t0) / 1e6;
                }
            });
        } finally {
            if (wasRunning && resume && !resumed[0]) resume();
        }
        return new SnapshotResult(w.path(), w.fileBytes(), w.ramBytes(), w.writeMillis(), downtime[0], wireName(state));
    }

    /** What a snapshot wrote and cost: the guest stood still for {@code downtimeMillis} (0 when it stays paused). */
    public record SnapshotResult(String path, long fileBytes, long ramBytes, double writeMillis, double downtimeMillis, String state) {}

    /**
     * Live-migrates the running VM to a destination waiting on {@code uri} (see
     * {@link MigrationReceiver}), keeping the guest's downtime within {@code downtimeBudgetMillis}
     * when the guest's write rate lets it. Returns when the destination runs the guest; this VM is
     * then over ({@link MachineExit.Migrated}). On failure the guest runs on here and the
     * IOException says why. Progress is in {@link #info()} meanwhile.
     */
    public MigrationSender.Progress migrate(MigrationUri uri, long downtimeBudgetMillis) throws Conflict, InterruptedException, java.io.IOException {
        Machine m;
        synchronized (this) {
            m = requireState(State.RUNNING, "migrate");
            migrating = true;
        }
        try {
            MigrationSender.Progress p = new MigrationSender(m, config, uri, downtimeBudgetMillis, x -> migration = x).send();
            synchronized (this) {
                migratedTo = uri.text();
                stopping = true;
                m.stop();
            }
            return p;
        } finally {
            synchronized (this) {
                migrating = false;
            }
        }
    }

    /** Pulls the plug: no guest shutdown, disks keep what was written so far. */
    public synchronized void stop() throws Conflict {
        if (state == State.SHUT_DOWN) throw new Conflict("the VM is already shut down");
        stopping = true;
        if (machine != null) machine.stop();
    }

    /** Waits up to {@code millis} for the VM to be over; returns whether it is. */
    public synchronized boolean awaitShutDown(long millis) throws InterruptedException {
        long end = System.nanoTime() + millis * 1_000_000;
        while (state != State.SHUT_DOWN) {
            long left = (end - System.nanoTime()) / 1_000_000;
            if (left <= 0) return false;
            wait(left);
        }
        return true;
    }

    /** The running (or paused) machine, for device-level requests; a {@link Conflict} when there is none. */
    public synchronized Machine machine(String forWhat) throws Conflict {
        if (machine == null) throw new Conflict("cannot " + forWhat + ": the VM is " + describe(state));
        return machine;
    }

    public synchronized Info info() {
        Machine m = machine;
        long resident = m == null ? 0 : m.ram().residentBytes();
        long insns = m == null ? 0 : m.cpu().icount;
        long interp = m == null ? 0 : m.cpu().interpretedInsns;
        long runs = m == null ? 0 : m.cpu().translatedRuns;
        List<Map<String, Object>> devices = m == null ? List.of() : m.deviceInfo();
        String why = exit == null ? null : exit.toString();
        return new Info(wireName(state), memoryBytes, 1, resident, boots, (System.nanoTime() - started) / 1e9, insns, interp, runs,
                console.total(), devices, why, migration);
    }

    private Machine requireState(State wanted, String what) throws Conflict {
        if (migrating) throw new Conflict("cannot " + what + " the VM: a migration is under way");
        if (state != wanted || machine == null) throw new Conflict("cannot " + what + " the VM: it is " + describe(state));
        return machine;
    }

    /** The state as the API spells it: created, running, paused, shutdown. */
    public static String wireName(State s) {
        return s.name().toLowerCase(java.util.Locale.ROOT).replace("_", "");
    }

    static String describe(State s) {
        return switch (s) {
            case CREATED -> "not started yet";
            case RUNNING -> "running";
            case PAUSED -> "paused";
            case SHUT_DOWN -> "shut down";
        };
    }
}
