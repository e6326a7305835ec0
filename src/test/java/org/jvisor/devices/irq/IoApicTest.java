package org.jvisor.devices.irq;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.concurrent.ScheduledThreadPoolExecutor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The IOAPIC through IOREGSEL/IOWIN, with its local APIC as the receiver. */
class IoApicTest {
    final ScheduledThreadPoolExecutor timers = new ScheduledThreadPoolExecutor(1);
    final LocalApic lapic = new LocalApic(0, System::nanoTime, timers);
    final IoApic io = new IoApic(0, lapic);

    @AfterEach
    void stop() {
        timers.shutdownNow();
    }

    int reg(int r) {
        io.write(0, 4, r);
        return (int) io.read(0x10, 4);
    }

    void set(int r, long v) {
        io.write(0, 4, r);
        io.write(0x10, 4, v & 0xFFFFFFFFL);
    }

    void route(int pin, long entry) {
        set(0x11 + 2 * pin, entry >>> 32);
        set(0x10 + 2 * pin, entry);
    }

    int take() {
        int v = lapic.pending();
        if (v >= 0) lapic.acknowledge(v);
        return v;
    }

    void eoi() {
        lapic.write(LocalApic.EOI, 4, 0);
    }

    @Test
    void versionAndResetState() {
        assertEquals(0x00170011, reg(1));
        assertEquals(IoApic.MASKED, io.entry(5));
        assertEquals(0x10000, reg(0x10 + 10));
    }

    @Test
    void edgePinsDeliverOnTheRisingEdgeOnlyWhenUnmasked() {
        io.pulse(4);
        assertEquals(-1, take(), "masked");
        route(4, 0x34);
        io.pulse(4);
        assertEquals(0x34, take());
        eoi();
        io.set(4, true);
        io.set(4, true);
        assertEquals(0x34, take(), "one edge");
        eoi();
        assertEquals(-1, take());
    }

    @Test
    void levelPinsUseRemoteIrrAndRedeliverAfterEoi() {
        route(10, IoApic.LEVEL | 0x3A);
        io.set(10, true);
        assertEquals(0x3A, take());
        assertEquals(IoApic.REMOTE_IRR, io.entry(10) & IoApic.REMOTE_IRR);
        io.set(10, true);
        assertEquals(-1, take(), "no second message while Remote IRR is set");
        eoi();                                    // still asserted: again
        assertEquals(0x3A, take());
        io.set(10, false);
        eoi();
        assertEquals(0, io.entry(10) & IoApic.REMOTE_IRR);
        assertEquals(-1, take());
    }

    @Test
    void unmaskingAnAssertedLevelLineDelivers() {
        route(11, IoApic.MASKED | IoApic.LEVEL | 0x3B);
        io.set(11, true);
        assertEquals(-1, take());
        route(11, IoApic.LEVEL | 0x3B);
        assertEquals(0x3B, take());
    }

    @Test
    void readOnlyBitsAndOtherDeliveryModes() {
        route(3, 0xFFFF_FFFF_FFFF_FFFFL);
        long e = io.entry(3);
        assertEquals(0, e & (IoApic.REMOTE_IRR | IoApic.DELIVERY_STATUS));
        route(3, 7 << 8 | 0x40);                  // ExtINT: nowhere to go
        io.pulse(3);
        assertEquals(-1, take());
        io.set(99, true);                         // out of range: ignored
        io.set(-1, true);
    }
}
