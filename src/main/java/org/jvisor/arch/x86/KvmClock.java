package org.jvisor.arch.x86;

import java.util.function.LongSupplier;
import org.jvisor.memory.GuestMemory;

/**
 * KVM's paravirtual clock (kvmclock, "MSR_KVM_SYSTEM_TIME_NEW" and "MSR_KVM_WALL_CLOCK_NEW"): the
 * guest names a page, the VMM writes into it how to turn TSC readings into nanoseconds and what
 * the wall-clock time was at system time zero. The TSC here counts nanoseconds (1 GHz), so the
 * scale is exactly 1; the guest learns the TSC frequency from it instead of calibrating against
 * the PIT, and reads the time of day from it instead of the CMOS clock.
 */
public final class KvmClock {
    public static final int MSR_WALL_CLOCK = 0x4B564D00, MSR_SYSTEM_TIME = 0x4B564D01;
    /** CPUID 0x40000001 EAX: kvmclock on the new MSRs, and a TSC stable across vCPUs. */
    public static final int FEATURE_CLOCKSOURCE2 = 1 << 3, FEATURE_CLOCKSOURCE_STABLE = 1 << 24;
    static final int PVCLOCK_TSC_STABLE = 1, PVCLOCK_GUEST_STOPPED = 2;

    private final GuestMemory ram;
    private final LongSupplier tsc;
    private final java.util.function.BiConsumer<Long, Integer> memoryChanged;
    private long wallClockMsr, systemTimeMsr;
    private int version;

    /** {@code memoryChanged} (address, length) tells the CPU that guest memory changed behind it (cached code). */
    public KvmClock(GuestMemory ram, LongSupplier tsc, java.util.function.BiConsumer<Long, Integer> memoryChanged) {
        this.ram = ram;
        this.tsc = tsc;
        this.memoryChanged = memoryChanged;
    }

    public static boolean claims(int msr) {
        return msr == MSR_WALL_CLOCK || msr == MSR_SYSTEM_TIME;
    }

    public synchronized long read(int msr) {
        return msr == MSR_WALL_CLOCK ? wallClockMsr : systemTimeMsr;
    }

    /** A write naming a structure outside RAM is refused (#GP), as KVM refuses it. */
    public synchronized boolean write(int msr, long value) {
        if (msr == MSR_WALL_CLOCK) {
            if (!fits(value, 12)) return false;
            wallClockMsr = value;
            writeWallClock(value);
            memoryChanged.accept(value, 12);
        } else {
            long gpa = value & ~1L;
            if ((value & 1) != 0 && !fits(gpa, 32)) return false;
            systemTimeMsr = value;
            if ((value & 1) != 0) {
                writeTimeInfo(gpa);
                memoryChanged.accept(gpa, 32);
            }
        }
        return true;
    }

    /** The MSRs the guest wrote; the structures they name are in RAM, saved with it. */
    public record State(long wallClockMsr, long systemTimeMsr, int version) {}

    public synchronized State state() {
        return new State(wallClockMsr, systemTimeMsr, version);
    }

    public synchronized void restore(State s) {
        long gpa = s.systemTimeMsr() & ~1L;
        if ((s.systemTimeMsr() & 1) != 0 && !fits(gpa, 32)) throw new IllegalArgumentException("kvmclock structure at " + Long.toHexString(gpa) + " is outside RAM");
        wallClockMsr = s.wallClockMsr();
        systemTimeMsr = s.systemTimeMsr();
        version = s.version() & ~1;
    }

    /**
     * Tells the guest that the host stopped it (PVCLOCK_GUEST_STOPPED, as KVM_KVMCLOCK_CTRL does):
     * after a pause or a restore the TSC has moved on by the time the guest did not run, and the
     * guest's soft-lockup and RCU stall detectors check this flag before they report that gap.
     */
    public synchronized void guestStopped() {
        if ((systemTimeMsr & 1) == 0) return;
        long gpa = systemTimeMsr & ~1L;
        if (!fits(gpa, 32)) return;
        version += 2;
        ram.write32(gpa, version);
        ram.write8(gpa + 29, ram.read8(gpa + 29) | PVCLOCK_GUEST_STOPPED);
        memoryChanged.accept(gpa, 32);
    }

    private boolean fits(long gpa, int len) {
        return gpa >= 0 && gpa <= ram.size() - len;
    }

    /** pvclock_wall_clock: version, seconds and nanoseconds of the wall time at system time 0. */
    private void writeWallClock(long gpa) {
        java.time.Instant now = java.time.Instant.now();
        long bootNanos = now.getEpochSecond() * 1_000_000_000L + now.getNano() - tsc.getAsLong();
        version += 2;
        ram.write32(gpa, version);
        ram.write32(gpa + 4, (int) (bootNanos / 1_000_000_000L));
        ram.write32(gpa + 8, (int) (bootNanos % 1_000_000_000L));
    }

    /**
     * pvclock_vcpu_time_info: system time = system_time + ((tsc - tsc_timestamp) << shift) * mul >> 32;
     * with shift 1 and mul 2^31 that is the TSC itself.
     */
    private void writeTimeInfo(long gpa) {
        long now = tsc.getAsLong();
        version += 2;
        ram.write32(gpa, version);
        ram.write32(gpa + 4, 0);
        ram.write64(gpa + 8, now);            // tsc_timestamp
        ram.write64(gpa + 16, now);           // system_time (ns)
        ram.write32(gpa + 24, 1 << 31);       // tsc_to_system_mul
        ram.write8(gpa + 28, 1);              // tsc_shift
        ram.write8(gpa + 29, PVCLOCK_TSC_STABLE);
        ram.write16(gpa + 30, 0);
    }
}
