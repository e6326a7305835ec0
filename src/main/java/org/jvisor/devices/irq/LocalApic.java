package org.jvisor.devices.irq;

import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.IntConsumer;
import java.util.function.LongSupplier;
import org.jvisor.cpu.emu.InterruptSource;
import org.jvisor.devices.StateArrays;

/**
 * A vCPU's local APIC in xAPIC mode (MMIO at 0xFEE00000): IRR/ISR/TMR with priority against
 * TPR and PPR, EOI (broadcast to the IOAPIC for level-triggered vectors), self IPIs, the LVT,
 * and the timer in one-shot, periodic and TSC-deadline modes. The timer's input clock is the
 * 1 GHz TSC; expiries are scheduled on the machine's timer thread, so they arrive on time while
 * the vCPU runs or sleeps in HLT. LINT0 in ExtINT mode passes the 8259 pair through.
 *
 * <p>The vCPU thread reads {@link #mayBePending()} at every block; everything else takes the
 * lock, because devices and timers raise interrupts from their own threads.
 */
public final class LocalApic implements InterruptSource {
    public static final long BASE = 0xFEE00000L, SIZE = 0x1000;
    public static final int MSR_APIC_BASE = 0x1B, MSR_TSC_DEADLINE = 0x6E0;
    static final int VERSION = 0x00050014; // integrated APIC, LVT entries 0-5
    static final int ID = 0x20, VER = 0x30, TPR = 0x80, APR = 0x90, PPR = 0xA0, EOI = 0xB0, LDR = 0xD0, DFR = 0xE0,
            SVR = 0xF0, ISR = 0x100, TMR = 0x180, IRR = 0x200, ESR = 0x280, ICR_LOW = 0x300, ICR_HIGH = 0x310,
            LVT_TIMER = 0x320, LVT_LINT0 = 0x350, LVT_ERROR = 0x370, TIMER_INITIAL = 0x380, TIMER_CURRENT = 0x390,
            TIMER_DIVIDE = 0x3E0;
    static final int LVT_MASKED = 1 << 16, SVR_ENABLED = 1 << 8;
    static final int MODE_ONESHOT = 0, MODE_PERIODIC = 1, MODE_TSC_DEADLINE = 2;
    static final int DELIVERY_FIXED = 0, DELIVERY_LOWEST = 1, DELIVERY_EXTINT = 7;
    /** Writable bits of each LVT entry (timer, thermal, perf, LINT0, LINT1, error). */
    private static final int[] LVT_BITS = {0x700FF, 0x107FF, 0x107FF, 0x1A7FF, 0x1A7FF, 0x100FF};

    private final int id;
    private final LongSupplier tsc;
    private final ScheduledExecutorService timers;
    /** When the pending timer-thread wake-up ({@code armed}) is due, in TSC units. */
    private long armedAt;
    private final int[] irr = new int[8], isr = new int[8], tmr = new int[8];
    private final int[] lvt = new int[6];
    private int tpr, ldr, dfr = -1, svr = 0xFF, esr, esrPending, icrLow, icrHigh;
    private int initialCount, divideConfig, divideShift = 1;
    private long timerStart, tscDeadline, expiry = Long.MAX_VALUE;
    private ScheduledFuture<?> armed;
    private long apicBaseMsr;
    private InterruptSource extInt;
    private IntConsumer levelEoi = v -> { };
    private boolean ackFromExtInt;
    private volatile boolean requested, extIntRouted;
    private volatile Thread vcpu;

    public LocalApic(int id, LongSupplier tsc, ScheduledExecutorService timers) {
        this.id = id;
        this.tsc = tsc;
        this.timers = timers;
        this.apicBaseMsr = BASE | 1 << 11 | (id == 0 ? 1 << 8 : 0); // enabled; BSP
        java.util.Arrays.fill(lvt, LVT_MASKED);
    }

    /** The 8259 pair wired to LINT0 (taken when LINT0 is unmasked in ExtINT mode). */
    public void connectExtInt(InterruptSource pic) {
        this.extInt = pic;
    }

    /** Called with the vector of every EOI of a level-triggered interrupt (the IOAPIC clears Remote IRR). */
    public void onLevelEoi(IntConsumer listener) {
        this.levelEoi = listener;
    }

    /** The thread to unpark when an interrupt arrives (the vCPU sleeping in HLT). */
    public void setVcpuThread(Thread t) {
        this.vcpu = t;
    }

    // ---------------------------------------------------------------- interrupt delivery

    /** An interrupt message for this APIC (from the IOAPIC, an MSI, an IPI or the timer). */
    public void accept(int vector, boolean level) {
        synchronized (this) {
            if (vector < 16) { // vectors 0-15 are illegal for fixed delivery
                esrPending |= 1 << 6;
                return;
            }
            irr[vector >>> 5] |= 1 << vector;
            if (level) tmr[vector >>> 5] |= 1 << vector;
            else tmr[vector >>> 5] &= ~(1 << vector);
            requested = true;
        }
        Thread t = vcpu;
        if (t != null) LockSupport.unpark(t);
    }

    /** Whether the destination of a message (physical or logical) names this APIC. */
    public synchronized boolean matches(int dest, boolean logical) {
        if (dest == 0xFF) return true;
        if (!logical) return dest == id;
        int mine = ldr >>> 24;
        if ((dfr >>> 28) == 0xF) return (mine & dest) != 0; // flat model
        return (mine >>> 4) == (dest >>> 4) && (mine & dest & 0xF) != 0; // cluster model
    }

    @Override
    public boolean mayBePending() {
        return requested || (extIntRouted && extInt.mayBePending());
    }

    /** Whether an interrupt could be taken now if RFLAGS.IF allowed it (wakes HLT). */
    public boolean hasDeliverable() {
        return mayBePending() && pending() >= 0;
    }

    @Override
    public synchronized int pending() {
        if (extIntRouted) {
            int v = extInt.pending();
            if (v >= 0) {
                ackFromExtInt = true;
                return v;
            }
        }
        ackFromExtInt = false;
        int v = highest(irr);
        if (v < 0) return -1;
        return (v & 0xF0) > (ppr() & 0xF0) ? v : -1;
    }

    @Override
    public synchronized void acknowledge(int vector) {
        if (ackFromExtInt) {
            ackFromExtInt = false;
            extInt.acknowledge(vector);
            return;
        }
        irr[vector >>> 5] &= ~(1 << vector);
        isr[vector >>> 5] |= 1 << vector;
        requested = highest(irr) >= 0;
    }

    @Override
    public synchronized int taskPriorityClass() {
        return tpr >>> 4;
    }

    @Override
    public synchronized void setTaskPriorityClass(int cls) {
        tpr = (cls & 15) << 4;
        requested = highest(irr) >= 0;
    }

    private int ppr() {
        int isrv = Math.max(highest(isr), 0);
        return (tpr & 0xF0) >= (isrv & 0xF0) ? tpr : isrv & 0xF0;
    }

    private static int highest(int[] bits) {
        for (int i = 7; i >= 0; i--) if (bits[i] != 0) return i * 32 + 31 - Integer.numberOfLeadingZeros(bits[i]);
        return -1;
    }

    private void endOfInterrupt() {
        int v;
        boolean level;
        synchronized (this) {
            v = highest(isr);
            if (v < 0) return;
            isr[v >>> 5] &= ~(1 << v);
            level = (tmr[v >>> 5] & (1 << v)) != 0;
            requested = highest(irr) >= 0;
        }
        if (level) levelEoi.accept(v); // outside the lock: the IOAPIC may deliver again at once
        Thread t = vcpu;
        if (t != null && requested) LockSupport.unpark(t);
    }

    // ---------------------------------------------------------------- registers

    public long read(long offset, int size) {
        int off = (int) (offset & 0xFF0);
        int v = register(off);
        int shift = (int) (offset & 3) * 8;
        return size >= 4 ? v & 0xFFFFFFFFL : (v >>> shift) & ((1L << (size * 8)) - 1);
    }

    private synchronized int register(int off) {
        if (off >= ISR && off < ISR + 0x80) return isr[(off - ISR) >>> 4];
        if (off >= TMR && off < TMR + 0x80) return tmr[(off - TMR) >>> 4];
        if (off >= IRR && off < IRR + 0x80) return irr[(off - IRR) >>> 4];
        if (off >= LVT_TIMER && off <= LVT_ERROR) return lvt[(off - LVT_TIMER) >>> 4];
        return switch (off) {
            case ID -> id << 24;
            case VER -> VERSION;
            case TPR -> tpr;
            case PPR -> ppr();
            case LDR -> ldr;
            case DFR -> dfr;
            case SVR -> svr;
            case ESR -> esr;
            case ICR_LOW -> icrLow & ~(1 << 12); // delivery status: always idle
            case ICR_HIGH -> icrHigh;
            case TIMER_INITIAL -> initialCount;
            case TIMER_CURRENT -> currentCount(tsc.getAsLong());
            case TIMER_DIVIDE -> divideConfig;
            default -> 0;
        };
    }

    public void write(long offset, int size, long value) {
        int off = (int) (offset & 0xFF0);
        int v = (int) value;
        if (off == EOI) {
            endOfInterrupt();
            return;
        }
        if (off == ICR_LOW) {
            sendIpi(v);
            return;
        }
        synchronized (this) {
            if (off >= LVT_TIMER && off <= LVT_ERROR) {
                writeLvt((off - LVT_TIMER) >>> 4, v);
                return;
            }
            switch (off) {
                case TPR -> {
                    tpr = v & 0xFF;
                    requested = highest(irr) >= 0;
                }
                case LDR -> ldr = v & 0xFF000000;
                case DFR -> dfr = v | 0x0FFFFFFF;
                case SVR -> {
                    svr = v & 0x1FF;
                    if ((svr & SVR_ENABLED) == 0) {
                        for (int i = 0; i < lvt.length; i++) writeLvt(i, lvt[i] | LVT_MASKED);
                    }
                }
                case ESR -> {
                    esr = esrPending;
                    esrPending = 0;
                }
                case ICR_HIGH -> icrHigh = v & 0xFF000000;
                case TIMER_INITIAL -> {
                    if (timerMode() == MODE_TSC_DEADLINE) return;
                    initialCount = v;
                    timerStart = tsc.getAsLong();
                    rearm(v == 0 ? Long.MAX_VALUE : timerStart + ((v & 0xFFFFFFFFL) << divideShift));
                }
                case TIMER_DIVIDE -> {
                    divideConfig = v & 0xB;
                    int code = (v & 8) >>> 1 | (v & 3);
                    divideShift = (code + 1) & 7; // 0b111 divides by 1
                }
                default -> { } // ID, version, PPR and the arrays are read-only here
            }
        }
    }

    private void writeLvt(int index, int v) {
        int old = lvt[index];
        if ((svr & SVR_ENABLED) == 0) v |= LVT_MASKED;
        lvt[index] = v & LVT_BITS[index];
        if (index == 0 && ((old ^ lvt[0]) >>> 17 & 3) != 0) { // a mode change disarms the timer
            initialCount = 0;
            tscDeadline = 0;
            rearm(Long.MAX_VALUE);
        }
        if (index == 3) {
            extIntRouted = extInt != null && (lvt[3] & LVT_MASKED) == 0 && (lvt[3] >>> 8 & 7) == DELIVERY_EXTINT;
        }
    }

    private void sendIpi(int v) {
        int vector = v & 0xFF, mode = v >>> 8 & 7, shorthand = v >>> 18 & 3;
        boolean self;
        synchronized (this) {
            icrLow = v & 0x000CCFFF;
            self = switch (shorthand) {
                case 1, 2 -> true;  // self, all including self
                case 3 -> false;    // all others: there are none yet
                default -> matches(icrHigh >>> 24, (v & 1 << 11) != 0);
            };
        }
        // INIT, SIPI and NMI have no other vCPU to go to; a fixed IPI to itself is an interrupt.
        if (self && (mode == DELIVERY_FIXED || mode == DELIVERY_LOWEST)) accept(vector, false);
    }

    // ---------------------------------------------------------------- the timer

    private int timerMode() {
        return lvt[0] >>> 17 & 3;
    }

    private int currentCount(long now) {
        if (initialCount == 0 || timerMode() == MODE_TSC_DEADLINE) return 0;
        long ticks = (now - timerStart) >>> divideShift;
        long initial = initialCount & 0xFFFFFFFFL;
        if (timerMode() == MODE_PERIODIC) return (int) (initial - ticks % initial);
        return ticks >= initial ? 0 : (int) (initial - ticks);
    }

    public synchronized long tscDeadline() {
        return tscDeadline;
    }

    public synchronized void setTscDeadline(long deadline) {
        if (timerMode() != MODE_TSC_DEADLINE) return; // ignored in the other modes
        tscDeadline = deadline;
        rearm(deadline == 0 ? Long.MAX_VALUE : deadline);
    }

    /**
     * Sets the expiry. A guest reprograms the TSC deadline at nearly every idle entry and exit, so
     * the timer thread is only disturbed when the new expiry is earlier than its pending wake-up: a
     * wake-up that comes early finds a later expiry and sleeps the rest, one that finds none does
     * nothing.
     */
    private void rearm(long at) {
        expiry = at;
        if (at == Long.MAX_VALUE) return;
        long now = tsc.getAsLong();
        if (at - now <= 0) {
            expire(now);
            return;
        }
        if (armed != null && armedAt <= at) return;
        if (armed != null) armed.cancel(false);
        armedAt = at;
        armed = timers.schedule(this::timerTask, at - now, TimeUnit.NANOSECONDS);
    }

    private void timerTask() {
        synchronized (this) {
            armed = null;
            long now = tsc.getAsLong();
            if (expiry == Long.MAX_VALUE) return;
            if (now < expiry) { // woken early: sleep the rest
                armedAt = expiry;
                armed = timers.schedule(this::timerTask, expiry - now, TimeUnit.NANOSECONDS);
                return;
            }
            expire(now);
        }
    }

    /** The timer reached its expiry: interrupt, then the next period or nothing. Holds the lock. */
    private void expire(long now) {
        int entry = lvt[0];
        long next = Long.MAX_VALUE;
        switch (timerMode()) {
            case MODE_PERIODIC -> {
                long period = Math.max((initialCount & 0xFFFFFFFFL) << divideShift, 1000);
                next = expiry + period;
                if (next <= now) next = now + period; // late: coalesce the missed periods
            }
            case MODE_TSC_DEADLINE -> tscDeadline = 0;
            default -> { }
        }
        expiry = Long.MAX_VALUE;
        int vector = entry & 0xFF;
        if ((entry & LVT_MASKED) == 0 && vector >= 16) {
            irr[vector >>> 5] |= 1 << vector;
            tmr[vector >>> 5] &= ~(1 << vector);
            requested = true;
            Thread t = vcpu;
            if (t != null) LockSupport.unpark(t);
        }
        if (next != Long.MAX_VALUE) rearm(next);
    }

    // ---------------------------------------------------------------- machine state

    /** Everything the guest can observe; the timer is kept as its expiry on the TSC. */
    public record State(int[] irr, int[] isr, int[] tmr, int[] lvt, int tpr, int ldr, int dfr, int svr, int esr, int esrPending,
                        int icrLow, int icrHigh, int initialCount, int divideConfig, long timerStart, long tscDeadline, long expiry,
                        long apicBaseMsr) {}

    public synchronized State state() {
        return new State(irr.clone(), isr.clone(), tmr.clone(), lvt.clone(), tpr, ldr, dfr, svr, esr, esrPending, icrLow, icrHigh,
                initialCount, divideConfig, timerStart, tscDeadline, expiry, apicBaseMsr);
    }

    /** Takes a saved state (the TSC must already run from the saved value: the timer re-arms against it). */
    public synchronized void restore(State s) {
        int[] irr2 = StateArrays.ints(s.irr(), 8, "lapic irr"), isr2 = StateArrays.ints(s.isr(), 8, "lapic isr");
        int[] tmr2 = StateArrays.ints(s.tmr(), 8, "lapic tmr"), lvt2 = StateArrays.ints(s.lvt(), 6, "lapic lvt");
        if ((s.apicBaseMsr() & 0xFFFFFFFFFF000L) != BASE) throw new IllegalArgumentException("lapic base " + Long.toHexString(s.apicBaseMsr()));
        System.arraycopy(irr2, 0, irr, 0, 8);
        System.arraycopy(isr2, 0, isr, 0, 8);
        System.arraycopy(tmr2, 0, tmr, 0, 8);
        for (int i = 0; i < 6; i++) lvt[i] = lvt2[i] & LVT_BITS[i];
        tpr = s.tpr() & 0xFF;
        ldr = s.ldr() & 0xFF000000;
        dfr = s.dfr() | 0x0FFFFFFF;
        svr = s.svr() & 0x1FF;
        esr = s.esr();
        esrPending = s.esrPending();
        icrLow = s.icrLow();
        icrHigh = s.icrHigh();
        initialCount = s.initialCount();
        divideConfig = s.divideConfig() & 0xB;
        int code = (divideConfig & 8) >>> 1 | (divideConfig & 3);
        divideShift = (code + 1) & 7;
        timerStart = s.timerStart();
        tscDeadline = s.tscDeadline();
        apicBaseMsr = s.apicBaseMsr();
        extIntRouted = extInt != null && (lvt[3] & LVT_MASKED) == 0 && (lvt[3] >>> 8 & 7) == DELIVERY_EXTINT;
        requested = highest(irr) >= 0;
        if (armed != null) armed.cancel(false);
        armed = null;
        rearm(s.expiry());
    }

    // ---------------------------------------------------------------- MSRs

    public synchronized long apicBaseMsr() {
        return apicBaseMsr;
    }

    /** IA32_APIC_BASE: the xAPIC stays at its default address; x2APIC mode is not offered. */
    public synchronized boolean setApicBaseMsr(long v) {
        if ((v & ~(0xFFFFFFFFFF000L | 1 << 11 | 1 << 8)) != 0) return false;
        if ((v & 0xFFFFFFFFFF000L) != BASE) return false;
        apicBaseMsr = v;
        return true;
    }
}
