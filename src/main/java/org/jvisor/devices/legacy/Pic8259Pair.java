package org.jvisor.devices.legacy;

import org.jvisor.cpu.emu.InterruptSource;

/**
 * The two cascaded 8259A interrupt controllers of a PC (master 0x20/0x21 with IRQ 0-7, slave
 * 0xA0/0xA1 with IRQ 8-15 on the master's IRQ 2): initialization words, masks, edge-triggered
 * requests, fixed priority, specific and non-specific EOI, auto-EOI. The vCPU asks it for a
 * vector when interrupts are enabled.
 */
public final class Pic8259Pair implements InterruptSource {
    private static final class Chip {
        int irr, isr, imr = 0xFF, vectorBase, icwStep, readRegister; // readRegister: 0 IRR, 1 ISR
        boolean autoEoi, needIcw4;

        int highestPending() {
            int pending = irr & ~imr;
            for (int i = 0; i < 8; i++) {
                if ((isr & (1 << i)) != 0) return -1; // a higher (or equal) priority one is in service
                if ((pending & (1 << i)) != 0) return i;
            }
            return -1;
        }

        void command(int v) {
            if ((v & 0x10) != 0) { // ICW1
                icwStep = 2;
                needIcw4 = (v & 1) != 0;
                imr = 0;
                isr = 0;
                irr = 0;
                readRegister = 0;
                return;
            }
            if ((v & 0x18) == 0x08) { // OCW3
                if ((v & 2) != 0) readRegister = v & 1;
                return;
            }
            // OCW2: EOI
            int kind = v >>> 5;
            if (kind == 1) { // non-specific
                for (int i = 0; i < 8; i++) if ((isr & (1 << i)) != 0) { isr &= ~(1 << i); break; }
            } else if (kind == 3) { // specific
                isr &= ~(1 << (v & 7));
            }
        }

        void data(int v) {
            switch (icwStep) {
                case 2 -> { vectorBase = v & 0xF8; icwStep = 3; }
                case 3 -> icwStep = needIcw4 ? 4 : 0;
                case 4 -> { autoEoi = (v & 2) != 0; icwStep = 0; }
                default -> imr = v & 0xFF;
            }
        }

        int read(boolean data) {
            if (data) return imr;
            return readRegister == 1 ? isr : irr;
        }

        ChipState state() {
            return new ChipState(irr, isr, imr, vectorBase, icwStep, readRegister, autoEoi, needIcw4);
        }

        void restore(ChipState s) {
            irr = s.irr() & 0xFF;
            isr = s.isr() & 0xFF;
            imr = s.imr() & 0xFF;
            vectorBase = s.vectorBase() & 0xF8;
            icwStep = s.icwStep() & 7;
            readRegister = s.readRegister() & 1;
            autoEoi = s.autoEoi();
            needIcw4 = s.needIcw4();
        }
    }

    /** One 8259's registers and where its initialization sequence stands. */
    public record ChipState(int irr, int isr, int imr, int vectorBase, int icwStep, int readRegister, boolean autoEoi, boolean needIcw4) {}

    public record State(ChipState master, ChipState slave) {}

    public synchronized State state() {
        return new State(master.state(), slave.state());
    }

    public synchronized void restore(State s) {
        if (s.master() == null || s.slave() == null) throw new IllegalArgumentException("pic state needs both chips");
        master.restore(s.master());
        slave.restore(s.slave());
        update();
    }

    private final Chip master = new Chip(), slave = new Chip();
    /** Whether any unmasked request is waiting; read without the lock by the vCPU at every block. */
    private volatile boolean requested;

    private void update() {
        requested = ((master.irr & ~master.imr) | (slave.irr & ~slave.imr)) != 0;
    }

    @Override
    public boolean mayBePending() {
        return requested;
    }

    /** An edge on IRQ line 0-15. */
    public synchronized void raise(int irq) {
        if (irq < 8) {
            master.irr |= 1 << irq;
        } else {
            slave.irr |= 1 << (irq - 8);
            master.irr |= 1 << 2;
        }
        update();
    }

    public synchronized int read(int port) {
        return switch (port) {
            case 0x20 -> master.read(false);
            case 0x21 -> master.read(true);
            case 0xA0 -> slave.read(false);
            default -> slave.read(true);
        };
    }

    public synchronized void write(int port, int v) {
        switch (port) {
            case 0x20 -> master.command(v);
            case 0x21 -> master.data(v);
            case 0xA0 -> slave.command(v);
            default -> slave.data(v);
        }
        update();
    }

    @Override
    public synchronized int pending() {
        int m = master.highestPending();
        if (m < 0) return -1;
        if (m == 2) {
            int s = slave.highestPending();
            if (s < 0) return -1;
            return slave.vectorBase + s;
        }
        return master.vectorBase + m;
    }

    @Override
    public synchronized void acknowledge(int vector) {
        int m = master.highestPending();
        if (m == 2) {
            int s = slave.highestPending();
            slave.irr &= ~(1 << s);
            if (!slave.autoEoi) slave.isr |= 1 << s;
            if ((slave.irr & ~slave.imr) == 0) master.irr &= ~(1 << 2);
        } else if (m >= 0) {
            master.irr &= ~(1 << m);
        }
        if (m >= 0 && !master.autoEoi) master.isr |= 1 << m;
        update();
    }
}
