package org.jvisor.devices.irq;

import org.jvisor.devices.StateArrays;

/**
 * An 82093AA-style IOAPIC (version 0x11) at 0xFEC00000 with 24 input pins: IOREGSEL/IOWIN, the
 * redirection table, edge and level triggering with Remote IRR cleared by the local APIC's EOI
 * broadcast. Device lines are logical: {@link #set} says asserted or not, whatever the
 * polarity the guest programmed. There is one vCPU, so every message goes to its local APIC.
 */
public final class IoApic {
    public static final long BASE = 0xFEC00000L, SIZE = 0x1000;
    public static final int PINS = 24;
    static final int VERSION = (PINS - 1) << 16 | 0x11;
    static final long MASKED = 1L << 16, LEVEL = 1L << 15, REMOTE_IRR = 1L << 14, DELIVERY_STATUS = 1L << 12;
    /** Bits the guest writes: vector, delivery mode, destination mode, polarity, trigger, mask, destination. */
    static final long WRITABLE = 0xFF00_0000_0001_AFFFL;

    private final LocalApic lapic;
    private final long[] redirection = new long[PINS];
    private final boolean[] asserted = new boolean[PINS];
    private int select, id;

    public IoApic(int id, LocalApic lapic) {
        this.id = id;
        this.lapic = lapic;
        java.util.Arrays.fill(redirection, MASKED);
        lapic.onLevelEoi(this::endOfInterrupt);
    }

    /** A device drives its line: level-triggered pins deliver while asserted, edge pins on the rising edge. */
    public void set(int pin, boolean level) {
        if (pin < 0 || pin >= PINS) return;
        int vector = -1;
        boolean lvl = false;
        synchronized (this) {
            boolean rising = level && !asserted[pin];
            asserted[pin] = level;
            long e = redirection[pin];
            if ((e & MASKED) != 0) return;
            if ((e & LEVEL) != 0) {
                if (level && (e & REMOTE_IRR) == 0) {
                    redirection[pin] = e | REMOTE_IRR;
                    vector = (int) (e & 0xFF);
                    lvl = true;
                }
            } else if (rising) {
                vector = (int) (e & 0xFF);
            }
            if (vector >= 0 && !routable(e)) vector = -1;
        }
        if (vector >= 0) lapic.accept(vector, lvl);
    }

    /** An edge: asserted then released at once (the ISA devices' way). */
    public void pulse(int pin) {
        set(pin, true);
        set(pin, false);
    }

    /** Fixed and lowest-priority messages reach the APIC; ExtINT, NMI, SMI and INIT have nowhere to go here. */
    private static boolean routable(long e) {
        int mode = (int) (e >>> 8 & 7);
        return mode == LocalApic.DELIVERY_FIXED || mode == LocalApic.DELIVERY_LOWEST;
    }

    private void endOfInterrupt(int vector) {
        int again = -1;
        synchronized (this) {
            for (int pin = 0; pin < PINS; pin++) {
                long e = redirection[pin];
                if ((e & LEVEL) == 0 || (e & 0xFF) != vector || (e & REMOTE_IRR) == 0) continue;
                e &= ~REMOTE_IRR;
                if (asserted[pin] && (e & MASKED) == 0 && routable(e)) { // still asserted: deliver again
                    e |= REMOTE_IRR;
                    again = vector;
                }
                redirection[pin] = e;
            }
        }
        if (again >= 0) lapic.accept(again, true);
    }

    public synchronized long read(long offset, int size) {
        return switch ((int) offset & 0xFF) {
            case 0x00 -> select;
            case 0x10 -> register(select) & 0xFFFFFFFFL;
            default -> 0;
        };
    }

    private int register(int r) {
        if (r == 0 || r == 2) return id << 24;
        if (r == 1) return VERSION;
        if (r >= 0x10 && r < 0x10 + 2 * PINS) {
            long e = redirection[(r - 0x10) >>> 1];
            return (r & 1) == 0 ? (int) e : (int) (e >>> 32);
        }
        return 0;
    }

    public void write(long offset, int size, long value) {
        int pin = -1;
        synchronized (this) {
            switch ((int) offset & 0xFF) {
                case 0x00 -> select = (int) value & 0xFF;
                case 0x10 -> {
                    int r = select, v = (int) value;
                    if (r == 0) id = v >>> 24 & 0xF;
                    else if (r >= 0x10 && r < 0x10 + 2 * PINS) {
                        pin = (r - 0x10) >>> 1;
                        long e = redirection[pin];
                        long half = (r & 1) == 0 ? (e & ~0xFFFFFFFFL) | (v & 0xFFFFFFFFL) : (e & 0xFFFFFFFFL) | (long) v << 32;
                        redirection[pin] = (half & WRITABLE) | (e & REMOTE_IRR);
                        if ((redirection[pin] & LEVEL) == 0) redirection[pin] &= ~REMOTE_IRR;
                    }
                }
                default -> { }
            }
        }
        if (pin >= 0) retrigger(pin);
    }

    /** After unmasking or reprogramming: a level line still asserted delivers now. */
    private void retrigger(int pin) {
        boolean level;
        synchronized (this) {
            level = asserted[pin] && (redirection[pin] & LEVEL) != 0;
        }
        if (level) set(pin, true);
    }

    /** The redirection table, the lines' levels and the register window. */
    public record State(long[] redirection, boolean[] asserted, int select, int id) {}

    public synchronized State state() {
        return new State(redirection.clone(), asserted.clone(), select, id);
    }

    public synchronized void restore(State s) {
        long[] r = StateArrays.longs(s.redirection(), PINS, "ioapic redirection");
        boolean[] a = StateArrays.booleans(s.asserted(), PINS, "ioapic asserted");
        for (int pin = 0; pin < PINS; pin++) redirection[pin] = r[pin] & (WRITABLE | REMOTE_IRR);
        System.arraycopy(a, 0, asserted, 0, PINS);
        select = s.select() & 0xFF;
        id = s.id() & 0xF;
    }

    /** For tests and monitoring: the redirection entry of a pin. */
    public synchronized long entry(int pin) {
        return redirection[pin];
    }
}
