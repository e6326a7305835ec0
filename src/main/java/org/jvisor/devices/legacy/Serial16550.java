package org.jvisor.devices.legacy;

import java.io.IOException;
import java.io.OutputStream;
import java.util.ArrayDeque;

/**
 * A 16550A UART (COM1 at 0x3F8, IRQ 4): transmit to an output stream, receive from a queue the
 * console feeds. The transmitter is always ready, so a transmit-empty interrupt follows every
 * write while it is enabled; received data raises DR and, when enabled, a receive interrupt.
 */
public final class Serial16550 {
    public static final int COM1 = 0x3F8;
    static final int LSR_DR = 1, LSR_THRE = 0x20, LSR_TEMT = 0x40;

    private final OutputStream out;
    /** Raises the UART's interrupt line (an edge on the PIC). */
    private final Runnable irq;
    private boolean thrEmptyPending;
    private final ArrayDeque<Integer> rx = new ArrayDeque<>();
    private int ier, lcr, mcr, scr, dll = 12, dlm;
    private boolean fifo;

    public Serial16550(OutputStream out, Runnable irq) {
        this.out = out;
        this.irq = irq;
    }

    /** Bytes typed on the console. */
    public synchronized void receive(byte[] b, int off, int len) {
        boolean was = !rx.isEmpty();
        for (int i = 0; i < len; i++) if (rx.size() < 4096) rx.add(b[off + i] & 0xFF);
        if (!was && !rx.isEmpty() && (ier & 1) != 0) irq.run();
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
                else if ((mcr & 0x10) != 0) rx.add(v); // loopback
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
                    ier = v & 0x0F;
                    if (txOn) { thrEmptyPending = true; irq.run(); }
                    if ((ier & 1) != 0 && !rx.isEmpty()) irq.run();
                }
            }
            case 2 -> { fifo = (v & 1) != 0; if ((v & 2) != 0) rx.clear(); }
            case 3 -> lcr = v;
            case 4 -> mcr = v & 0x1F;
            case 7 -> scr = v;
            default -> { }
        }
    }

    private int rxByte() {
        int b = rx.poll();
        if (!rx.isEmpty() && (ier & 1) != 0) irq.run();
        return b;
    }

    private void transmit(int v) {
        try {
            out.write(v);
            if (v == '\n') out.flush();
        } catch (IOException e) {
            // The console went away: output is dropped, the guest carries on.
        }
    }
}
