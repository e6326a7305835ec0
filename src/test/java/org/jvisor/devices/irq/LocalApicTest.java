package org.jvisor.devices.irq;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import org.jvisor.devices.legacy.Pic8259Pair;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The local APIC driven through its registers and MSRs, as the guest drives it. */
class LocalApicTest {
    final ScheduledThreadPoolExecutor timers = new ScheduledThreadPoolExecutor(1);
    final LocalApic apic = new LocalApic(0, System::nanoTime, timers);

    @AfterEach
    void stop() {
        timers.shutdownNow();
    }

    int reg(int off) {
        return (int) apic.read(off, 4);
    }

    void set(int off, int v) {
        apic.write(off, 4, v & 0xFFFFFFFFL);
    }

    void enable() {
        set(LocalApic.SVR, 0x1FF);
    }

    /** Takes the next interrupt as the CPU would: pending, acknowledge; -1 when none. */
    int take() {
        int v = apic.pending();
        if (v >= 0) apic.acknowledge(v);
        return v;
    }

    /** Waits (up to 2 s) for the next interrupt. */
    int await() throws InterruptedException {
        long end = System.nanoTime() + 2_000_000_000L;
        while (System.nanoTime() < end) {
            int v = take();
            if (v >= 0) return v;
            Thread.sleep(1);
        }
        return -1;
    }

    @Test
    void identityAndVersion() {
        assertEquals(0, reg(LocalApic.ID));
        assertEquals(0x00050014, reg(LocalApic.VER));
        assertEquals(0xFEE00900L, apic.apicBaseMsr());
        assertFalse(apic.setApicBaseMsr(0xFEE00000L | 1 << 11 | 1 << 10), "x2APIC mode is not offered");
        assertFalse(apic.setApicBaseMsr(0xFED00000L | 1 << 11), "the xAPIC does not move");
        assertTrue(apic.setApicBaseMsr(0xFEE00000L | 1 << 11 | 1 << 8));
    }

    @Test
    void priorityInServiceAndEoi() {
        enable();
        apic.accept(0x41, false);
        apic.accept(0x82, false);
        assertEquals(0x82, take(), "the highest vector first");
        assertEquals(1 << 2, reg(LocalApic.ISR + 0x40), "vector 0x82 in service");
        assertEquals(-1, apic.pending(), "0x41 waits while a higher class is in service");
        assertEquals(0x80, reg(LocalApic.PPR));
        set(LocalApic.EOI, 0);
        assertEquals(0, reg(LocalApic.ISR + 0x40));
        set(LocalApic.TPR, 0x50);
        assertEquals(-1, apic.pending(), "TPR 0x50 masks class 4");
        assertEquals(5, apic.taskPriorityClass(), "CR8 sees TPR[7:4]");
        apic.setTaskPriorityClass(0);
        assertEquals(0x41, take());
        set(LocalApic.EOI, 0);
        assertFalse(apic.mayBePending());
    }

    @Test
    void levelTriggeredEoiIsBroadcast() {
        enable();
        List<Integer> eois = new ArrayList<>();
        apic.onLevelEoi(eois::add);
        apic.accept(0x30, true);
        assertEquals(0x30, take());
        assertEquals(1 << 16, reg(LocalApic.TMR + 0x10), "vector 0x30 marked level");
        set(LocalApic.EOI, 0);
        apic.accept(0x31, false);
        assertEquals(0x31, take());
        set(LocalApic.EOI, 0);
        assertEquals(List.of(0x30), eois, "edge-triggered EOIs stay local");
    }

    @Test
    void illegalVectorsAreReportedInEsr() {
        enable();
        apic.accept(5, false);
        assertEquals(-1, apic.pending());
        set(LocalApic.ESR, 0);
        assertEquals(1 << 6, reg(LocalApic.ESR));
    }

    @Test
    void selfAndPhysicalIpis() {
        enable();
        set(LocalApic.ICR_LOW, 1 << 18 | 0xF6);             // shorthand self
        assertEquals(0xF6, take());
        set(LocalApic.EOI, 0);
        set(LocalApic.ICR_HIGH, 0);
        set(LocalApic.ICR_LOW, 0xE1);                        // physical destination 0: this APIC
        assertEquals(0xE1, take());
        set(LocalApic.EOI, 0);
        set(LocalApic.ICR_HIGH, 3 << 24);
        set(LocalApic.ICR_LOW, 0xE2);                        // APIC 3 does not exist
        set(LocalApic.ICR_LOW, 3 << 18 | 0xE3);              // all but self: nobody
        set(LocalApic.ICR_LOW, 5 << 8 | 3 << 18);            // INIT to the others: nobody
        assertEquals(-1, take());
        assertEquals(0, reg(LocalApic.ICR_LOW) & 1 << 12, "delivery status idle");
    }

    @Test
    void logicalDestinationsInFlatModel() {
        enable();
        set(LocalApic.DFR, 0xFFFFFFFF);
        set(LocalApic.LDR, 1 << 24);
        assertTrue(apic.matches(0x01, true));
        assertTrue(apic.matches(0x03, true));
        assertFalse(apic.matches(0x02, true));
        assertTrue(apic.matches(0xFF, false));
    }

    @Test
    void oneShotTimerFiresOnceAndCountsDown() throws Exception {
        enable();
        set(LocalApic.TIMER_DIVIDE, 0xB);                    // divide by 1: the 1 GHz clock
        set(LocalApic.LVT_TIMER, 0xEC);
        set(LocalApic.TIMER_INITIAL, 20_000_000);            // 20 ms
        int c1 = reg(LocalApic.TIMER_CURRENT);
        assertTrue(c1 > 0 && c1 <= 20_000_000, "current " + c1);
        assertEquals(0xEC, await());
        set(LocalApic.EOI, 0);
        assertEquals(0, reg(LocalApic.TIMER_CURRENT));
        Thread.sleep(50);
        assertEquals(-1, take(), "one-shot: no second interrupt");
    }

    @Test
    void periodicTimerRepeats() throws Exception {
        enable();
        set(LocalApic.TIMER_DIVIDE, 0x3);                    // divide by 16
        set(LocalApic.LVT_TIMER, 1 << 17 | 0xEC);
        set(LocalApic.TIMER_INITIAL, 125_000);               // 2 ms
        for (int i = 0; i < 5; i++) {
            assertEquals(0xEC, await(), "tick " + i);
            set(LocalApic.EOI, 0);
        }
        set(LocalApic.TIMER_INITIAL, 0);                     // stop
        Thread.sleep(10);
        take();
        set(LocalApic.EOI, 0);
        Thread.sleep(20);
        assertEquals(-1, take());
    }

    @Test
    void tscDeadlineMode() throws Exception {
        enable();
        set(LocalApic.LVT_TIMER, 2 << 17 | 0xEF);
        set(LocalApic.TIMER_INITIAL, 1000);                  // ignored in this mode
        assertEquals(0, reg(LocalApic.TIMER_CURRENT));
        long deadline = System.nanoTime() + 5_000_000;
        apic.setTscDeadline(deadline);
        assertEquals(deadline, apic.tscDeadline());
        assertEquals(0xEF, await());
        assertEquals(0, apic.tscDeadline(), "the MSR reads 0 once the deadline passed");
        set(LocalApic.EOI, 0);
        apic.setTscDeadline(System.nanoTime() - 1);         // already past: at once
        assertEquals(0xEF, take());
        set(LocalApic.EOI, 0);
        apic.setTscDeadline(System.nanoTime() + 5_000_000);
        apic.setTscDeadline(0);                              // disarmed
        Thread.sleep(20);
        assertEquals(-1, take());
    }

    @Test
    void maskedTimerStaysQuietAndModeChangeDisarms() throws Exception {
        enable();
        set(LocalApic.TIMER_DIVIDE, 0xB);
        set(LocalApic.LVT_TIMER, LocalApic.LVT_MASKED | 0xEC);
        set(LocalApic.TIMER_INITIAL, 1_000_000);
        Thread.sleep(20);
        assertEquals(-1, take());
        set(LocalApic.LVT_TIMER, 0xEC);
        set(LocalApic.TIMER_INITIAL, 5_000_000);
        set(LocalApic.LVT_TIMER, 1 << 17 | 0xEC);           // to periodic: disarmed
        Thread.sleep(20);
        assertEquals(-1, take());
    }

    @Test
    void softwareDisableMasksTheLvt() {
        set(LocalApic.SVR, 0xFF);
        set(LocalApic.LVT_TIMER, 0xEC);
        assertEquals(LocalApic.LVT_MASKED, reg(LocalApic.LVT_TIMER) & LocalApic.LVT_MASKED);
    }

    @Test
    void extIntOnLint0PassesThePicThrough() {
        Pic8259Pair pic = new Pic8259Pair();
        apic.connectExtInt(pic);
        pic.write(0x20, 0x11);
        pic.write(0x21, 0x20);
        pic.write(0x21, 0x04);
        pic.write(0x21, 0x01);
        pic.write(0x21, 0x00);
        pic.raise(3);
        assertEquals(-1, apic.pending(), "LINT0 is masked after reset");
        enable();
        set(LocalApic.LVT_LINT0, 7 << 8);                    // ExtINT
        assertTrue(apic.mayBePending());
        assertEquals(0x23, take());
        assertEquals(0, reg(LocalApic.ISR + 0x10), "the PIC keeps its own in-service bit");
    }
}
