package org.jvisor.devices.legacy;

import java.io.IOException;
import java.io.OutputStream;
import java.util.ArrayDeque;

/**
 * A 16550A UART (COM1 at 0x3F8): transmit to an output stream, receive from a queue the console
 * feeds. The transmitter is always ready; receive data raises DR in LSR. Interrupt delivery
 * (IER/IIR to IRQ 4) arrives with the interrupt controllers; polling works without it.
 */
public final class Serial16550 {
    public static final int COM1 = 0x3F8;
    static final int LSR_DR = 1, LSR_THRE = 0x20, LSR_TEMT = 0x40;

    private final OutputStream out;
    private final ArrayDeque<Integer> rx = new ArrayDeque<>();
    private int ier, lcr, mcr, scr, dll = 12, dlm;
    private boolean fifo;

    public Serial16550(OutputStream out) {
        this.out = out;
    }

    /** Bytes typed on the console. */
    public synchronized void receive(byte[] b, int off, int len) {
        for (int i = 0; i < len; i++) if (rx.size() < 4096) rx.add(b[off + i] & 0xFF);
    }

    public synchronized int read(int offset) {
        boolean dlab = (lcr & 0x80) != 0;
        return switch (offset) {
            case 0 -> dlab ? dll : rx.isEmpty() ? 0 : rx.poll();
            case 1 -> dlab ? dlm : ier;
            case 2 -> (fifo ? 0xC0 : 0) | 0x01; // no interrupt pending
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
                else transmit(v);
            }
            case 1 -> { if (dlab) dlm = v; else ier = v & 0x0F; }
            case 2 -> { fifo = (v & 1) != 0; if ((v & 2) != 0) rx.clear(); }
            case 3 -> lcr = v;
            case 4 -> mcr = v & 0x1F;
            case 7 -> scr = v;
            default -> { }
        }
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
