package org.jvisor.devices.legacy;

import java.io.IOException;
import java.io.OutputStream;
import java.util.ArrayDeque;

/**
 * A 16550A UART (COM1 at 0x3F8, IRQ 4): transmit to an output stream, receive from the console.
 * The transmitter is always ready, so a transmit-empty interrupt follows every write while it is
 * enabled; received data raises DR and, when enabled, a receive interrupt.
 *
 * <p>Console input is never lost: it waits on the host side ({@link #pendingInput}) until the guest
 * listens (receive interrupt enabled), and only then moves into the receiver FIFO, a FIFO's worth
 * at a time. Linux resets the FIFO and reads the receive register while it opens the port; bytes
 * that sat in the FIFO then would be gone, which is how typed-ahead input used to vanish.
 */
public final class Serial16550 {
    public static final int COM1 = 0x3F8;
    static final int LSR_DR = 1, LSR_THRE = 0x20, LSR_TEMT = 0x40;
    static final int FIFO_SIZE = 16;
    /** How much typed-ahead input the host side holds before the typist (a pipe, a test) waits. */
    static final int PENDING_LIMIT = 1 << 20;

    private final OutputStream out;
    /** Raises the UART's interrupt line (an edge on the PIC). */
    private final Runnable irq;
    private boolean thrEmptyPending;
    private final ArrayDeque<Integer> rx = new ArrayDeque<>();
    private final ArrayDeque<Byte> pending = new ArrayDeque<>();
    private int ier, lcr, mcr, scr, dll = 12, dlm;
    private boolean fifo;
    private Thread feeder; // started with the first input
    private Thread flusher; // started with the first output that does not end a line
    private boolean unflushed;
    private boolean rxHasLoopback; // the receiver holds bytes the guest sent itself in loopback mode

    public Serial16550(OutputStream out, Runnable irq) {
        this.out = out;
        this.irq = irq;
    }

    /**
     * Bytes typed on the console. They are all kept; when more than {@link #PENDING_LIMIT} wait
     * for the guest, the caller blocks until it reads (an interrupt ends the wait, keeping the
     * interrupt status, and drops the rest: the typist is going away).
     */
    public void receive(byte[] b, int off, int len) {
        if (TRACE != null) trace("typed " + new String(b, off, len, java.nio.charset.StandardCharsets.ISO_8859_1).replace("\n", "\\n").replace("\r", "\\r"));
        synchronized (this) {
            for (int i = 0; i < len; i++) {
                while (pending.size() >= PENDING_LIMIT) {
                    try {
                        wait();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        return;
                    }
                }
                pending.add(b[off + i]);
            }
            if (feeder == null) feeder = Thread.ofVirtual().name("uart-feeder").start(this::feed);
            notifyAll();
        }
    }

    /**
     * Moves input into the receiver a moment after the guest is ready for it, never in the same
     * register access: Linux enables the receive interrupt and then, "for luck", reads the receive
     * register once more, which would swallow a byte put there at once. A real line delivers the
     * next character a character time later, which is what this models.
     */
    private void feed() {
        try {
            while (true) {
                synchronized (this) {
                    while (!readyForInput()) wait();
                }
                Thread.sleep(0, 200_000);
                synchronized (this) {
                    if (readyForInput()) refill();
                }
            }
        } catch (InterruptedException e) {
            // the machine is going away
        }
    }

    private boolean readyForInput() {
        return !pending.isEmpty() && rx.isEmpty() && (ier & 1) != 0 && (mcr & 0x10) == 0;
    }

    /** Stops the thread that feeds input in; what was not read yet is dropped with the machine. */
    public synchronized void close() {
        if (feeder != null) feeder.interrupt();
        if (flusher != null) flusher.interrupt();
    }

    /** Bytes typed that the guest has not read yet (in the FIFO or still on the host side). */
    public synchronized int pendingInput() {
        return pending.size() + rx.size();
    }

    /**
     * The registers, the receiver FIFO and the input still waiting on the host side (capped at
     * {@link #PENDING_LIMIT} on restore): typed-ahead input survives a snapshot.
     */
    public record State(int ier, int lcr, int mcr, int scr, int dll, int dlm, boolean fifo, boolean thrEmptyPending,
                        byte[] rx, byte[] pending) {}

    public synchronized State state() {
        byte[] r = new byte[rx.size()], p = new byte[pending.size()];
        int i = 0;
        for (int b : rx) r[i++] = (byte) b;
        i = 0;
        for (byte b : pending) p[i++] = b;
        return new State(ier, lcr, mcr, scr, dll, dlm, fifo, thrEmptyPending, r, p);
    }

    public synchronized void restore(State s) {
        byte[] r = s.rx() == null ? new byte[0] : s.rx(), p = s.pending() == null ? new byte[0] : s.pending();
        if (r.length > FIFO_SIZE) throw new IllegalArgumentException("uart receiver holds " + r.length + " bytes, at most " + FIFO_SIZE);
        if (p.length > PENDING_LIMIT) throw new IllegalArgumentException("uart input of " + p.length + " bytes is over " + PENDING_LIMIT);
        ier = s.ier() & 0x0F;
        lcr = s.lcr() & 0xFF;
        mcr = s.mcr() & 0x1F;
        scr = s.scr() & 0xFF;
        dll = s.dll() & 0xFF;
        dlm = s.dlm() & 0xFF;
        fifo = s.fifo();
        thrEmptyPending = s.thrEmptyPending();
        rx.clear();
        for (byte b : r) rx.add(b & 0xFF);
        pending.clear();
        for (byte b : p) pending.add(b);
        if (!pending.isEmpty() && feeder == null) feeder = Thread.ofVirtual().name("uart-feeder").start(this::feed);
        notifyAll();
    }

    /** Moves waiting input into the receiver while the guest listens, interrupting when data arrives. */
    private void refill() {
        boolean was = !rx.isEmpty();
        int room = (fifo ? FIFO_SIZE : 1) - rx.size();
        StringBuilder moved = TRACE != null ? new StringBuilder() : null;
        for (; room > 0 && !pending.isEmpty(); room--) {
            int b = pending.poll() & 0xFF;
            if (moved != null) moved.append(b < 32 ? String.format("\\x%02x", b) : String.valueOf((char) b));
            rx.add(b);
        }
        if (moved != null) trace("to rx: " + moved + " pending=" + pending.size());
        if (pending.size() < PENDING_LIMIT) notifyAll();
        if (!was && !rx.isEmpty()) irq.run();
    }

    private int iir() {
        if ((ier & 1) != 0 && !rx.isEmpty()) return 0x04;
        if ((ier & 2) != 0 && thrEmptyPending) return 0x02;
        return 0x01;
    }

    public synchronized int read(int offset) {
        boolean dlab = (lcr & 0x80) != 0;
        return switch (offset) {
            case 0 -> dlab ? dll : rx.isEmpty() ? 0 : rxByte();
            case 1 -> dlab ? dlm : ier;
            case 2 -> {
                int id = iir();
                if (id == 0x02) thrEmptyPending = false; // reading IIR acknowledges transmit-empty
                yield (fifo ? 0xC0 : 0) | id;
            }
            case 3 -> lcr;
            case 4 -> mcr;
            case 5 -> LSR_THRE | LSR_TEMT | (rx.isEmpty() ? 0 : LSR_DR);
            case 6 -> (mcr & 0x10) != 0 ? ((mcr & 0x0F) << 4) : 0xB0; // loopback, else CTS DSR DCD
            default -> scr;
        };
    }

    public synchronized void write(int offset, int v) {
        v &= 0xFF;
        boolean dlab = (lcr & 0x80) != 0;
        switch (offset) {
            case 0 -> {
                if (dlab) dll = v;
                else if ((mcr & 0x10) != 0) { // loopback
                    rx.add(v);
                    rxHasLoopback = true;
                }
                else {
                    transmit(v);
                    thrEmptyPending = true; // sent at once: the holding register is empty again
                    if ((ier & 2) != 0) irq.run();
                }
            }
            case 1 -> {
                if (dlab) {
                    dlm = v;
                } else {
                    boolean txOn = (v & 2) != 0 && (ier & 2) == 0;
                    if (TRACE != null && ((v ^ ier) & 1) != 0) trace("IER rx " + ((v & 1) != 0 ? "on" : "off") + " pending=" + pending.size() + " rx=" + rx.size());
                    ier = v & 0x0F;
                    if (txOn) { thrEmptyPending = true; irq.run(); }
                    if ((ier & 1) != 0 && !rx.isEmpty()) irq.run();
                    notifyAll();
                }
            }
            case 2 -> {
                fifo = (v & 1) != 0;
                if ((v & 2) != 0) {
                    if (TRACE != null) trace("FCR clear rx, " + rx.size() + " back to pending=" + pending.size());
                    // Typed bytes the guest never read go back to wait for it: Linux resets the
                    // FIFO when a port opens or closes, which would lose input typed ahead
                    // (a piped "uname; poweroff" was seen lost). A loopback self-test's bytes are the guest's own.
                    if (!rxHasLoopback) while (!rx.isEmpty()) pending.addFirst((byte) (int) rx.pollLast());
                    rx.clear();
                    rxHasLoopback = false;
                }
                notifyAll();
            }
            case 3 -> lcr = v;
            case 4 -> {
                mcr = v & 0x1F;
                notifyAll();
            }
            case 7 -> scr = v;
            default -> { }
        }
    }

    /** -Djvisor.serial.trace=FILE: the receive side's events, for finding where typed input went. */
    private static final java.io.PrintStream TRACE = openTrace(System.getProperty("jvisor.serial.trace"));

    private static java.io.PrintStream openTrace(String file) {
        try {
            return file == null ? null : new java.io.PrintStream(new java.io.FileOutputStream(file, true), true);
        } catch (IOException e) {
            return null;
        }
    }

    private static void trace(String what) {
        if (TRACE != null) TRACE.printf("%.3f %s%n", System.nanoTime() / 1e9, what);
    }

    private int rxByte() {
        int b = rx.poll();
        if (TRACE != null) trace("guest read " + (b < 32 ? String.format("\\x%02x", b) : String.valueOf((char) b)));
        if (rx.isEmpty()) notifyAll();
        else if ((ier & 1) != 0) irq.run();
        return b;
    }

    /**
     * Sends a byte to the console. A line goes out when it ends; what does not end a line (a
     * "login: " or "Password: " prompt) goes out a moment later, when the guest has stopped
     * writing: flushed on every byte, a boot's log would cost a system call per character.
     */
    private void transmit(int v) {
        try {
            out.write(v);
            if (v == '\n') {
                out.flush();
                unflushed = false;
            } else if (!unflushed) {
                unflushed = true;
                if (flusher == null) flusher = Thread.ofVirtual().name("uart-flusher").start(this::flushLater);
                notifyAll();
            }
        } catch (IOException e) {
            // The console went away: output is dropped, the guest carries on.
        }
    }

    private void flushLater() {
        try {
            while (true) {
                synchronized (this) {
                    while (!unflushed) wait();
                }
                Thread.sleep(FLUSH_DELAY_MS);
                synchronized (this) {
                    if (!unflushed) continue;
                    unflushed = false;
                    try {
                        out.flush();
                    } catch (IOException e) {
                        // the console went away
                    }
                }
            }
        } catch (InterruptedException e) {
            // the machine is going away
        }
    }

    /** How long output that does not end a line may wait for more (a prompt shows after this). */
    static final int FLUSH_DELAY_MS = 5;
}
