package org.jvisor.devices.legacy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** The legacy PC devices driven through their I/O ports, as the kernel programs them. */
class LegacyDevicesTest {
    /** The kernel's 8259 initialisation: vectors 0x30 (master) and 0x38 (slave), cascade on IRQ 2. */
    static Pic8259Pair initialisedPic() {
        Pic8259Pair pic = new Pic8259Pair();
        pic.write(0x20, 0x11);
        pic.write(0x21, 0x30);
        pic.write(0x21, 0x04);
        pic.write(0x21, 0x01);
        pic.write(0xA0, 0x11);
        pic.write(0xA1, 0x38);
        pic.write(0xA1, 0x02);
        pic.write(0xA1, 0x01);
        pic.write(0x21, 0x00); // unmask all
        pic.write(0xA1, 0x00);
        return pic;
    }

    /** A prompt that ends no line reaches a buffered console by itself: a login prompt once waited for the next line. */
    @Test
    void uartOutputWithoutANewlineIsFlushedSoon() throws Exception {
        ByteArrayOutputStream sink = new ByteArrayOutputStream();
        java.io.BufferedOutputStream buffered = new java.io.BufferedOutputStream(sink, 8192);
        Serial16550 uart = new Serial16550(buffered, () -> { });
        try {
            for (char c : "jvtest login: ".toCharArray()) uart.write(0, c);
            long until = System.nanoTime() + 2_000_000_000L;
            while (sink.size() == 0 && System.nanoTime() < until) Thread.sleep(1);
            assertEquals("jvtest login: ", sink.toString(java.nio.charset.StandardCharsets.US_ASCII));
        } finally {
            uart.close();
        }
    }

    @Test
    void picDeliversByPriorityAndWaitsForEoi() {
        Pic8259Pair pic = initialisedPic();
        assertEquals(-1, pic.pending());
        assertFalse(pic.mayBePending());
        pic.raise(4);
        pic.raise(0);
        assertTrue(pic.mayBePending());
        assertEquals(0x30, pic.pending(), "IRQ 0 has the highest priority");
        pic.acknowledge(0x30);
        assertEquals(-1, pic.pending(), "IRQ 4 waits while IRQ 0 is in service");
        pic.write(0x20, 0x20); // non-specific EOI
        assertEquals(0x34, pic.pending());
        pic.acknowledge(0x34);
        pic.write(0x20, 0x20);
        // A slave line comes through the cascade with the slave's vector.
        pic.raise(12);
        assertEquals(0x38 + 4, pic.pending());
        pic.acknowledge(0x3C);
        pic.write(0xA0, 0x20);
        pic.write(0x20, 0x20);
        assertEquals(-1, pic.pending());
        // Masked lines stay pending until unmasked.
        pic.write(0x21, 0x01);
        pic.raise(0);
        assertEquals(-1, pic.pending());
        pic.write(0x21, 0x00);
        assertEquals(0x30, pic.pending());
    }

    @Test
    void pitChannel0TicksAndChannel2GatesThroughPort61() {
        Pic8259Pair pic = initialisedPic();
        AtomicLong now = new AtomicLong(1_000_000_000L);
        Pit8254 pit = new Pit8254(() -> pic.raise(0), now::get);
        // Channel 0, lobyte/hibyte, mode 2, 1193 counts (1 ms).
        pit.write(0x43, 0x34);
        pit.write(0x40, 1193 & 0xFF);
        pit.write(0x40, 1193 >> 8);
        pit.poll();
        assertEquals(-1, pic.pending());
        now.addAndGet(1_000_000);
        pit.poll();
        assertEquals(0x30, pic.pending(), "IRQ 0 after one period");
        // The counter counts down in between.
        pit.write(0x43, 0x00); // latch channel 0
        int lo = pit.read(0x40), hi = pit.read(0x40);
        assertTrue((lo | hi << 8) <= 1193);
        // Channel 2 in mode 0 with the gate on: OUT2 (port 0x61 bit 5) rises when the count runs out.
        pit.write(0x61, 0x01);
        pit.write(0x43, 0xB0);
        pit.write(0x42, 0xFF);
        pit.write(0x42, 0xFF);
        assertEquals(0, pit.read(0x61) & 0x20);
        now.addAndGet(60_000_000); // more than 65535 / 1.193182 MHz
        assertEquals(0x20, pit.read(0x61) & 0x20);
    }

    @Test
    void uartTransmitsAndInterruptsOnTransmitEmptyAndReceive() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        AtomicInteger irqs = new AtomicInteger();
        Serial16550 uart = new Serial16550(out, irqs::incrementAndGet);
        uart.write(0, 'h');
        uart.write(0, 'i');
        assertEquals("hi", out.toString());
        assertEquals(0x60, uart.read(5) & 0x60, "transmitter always empty");
        assertEquals(0x01, uart.read(2) & 0x0F, "no interrupt while IER is 0");
        uart.write(1, 0x02); // enable transmit-empty interrupts
        assertEquals(1, irqs.get());
        assertEquals(0x02, uart.read(2) & 0x0F);
        assertEquals(0x01, uart.read(2) & 0x0F, "reading IIR acknowledges it");
        uart.write(1, 0x01); // receive interrupts only
        uart.receive(new byte[] {'x', 'y'}, 0, 2);
        for (long end = System.nanoTime() + 5_000_000_000L; (uart.read(5) & 1) == 0 && System.nanoTime() < end; ) Thread.onSpinWait();
        assertEquals(2, irqs.get());
        assertEquals(1, uart.read(5) & 1, "data ready");
        assertEquals(0x04, uart.read(2) & 0x0F);
        assertEquals('x', uart.read(0));
        for (long end = System.nanoTime() + 5_000_000_000L; (uart.read(5) & 1) == 0 && System.nanoTime() < end; ) Thread.onSpinWait();
        assertEquals('y', uart.read(0), "the next character follows a moment later (no FIFO: one at a time)");
        assertEquals(0, uart.read(5) & 1);
        // Divisor latch access does not disturb data.
        uart.write(3, 0x80);
        uart.write(0, 1);
        uart.write(3, 0x03);
        assertEquals("hi", out.toString());
    }

    /** Input typed before the guest listens waits on the host side, through the FIFO reset of the port's opening. */
    @Test
    void uartKeepsInputUntilTheGuestListens() throws InterruptedException {
        AtomicInteger irqs = new AtomicInteger();
        Serial16550 uart = new Serial16550(new ByteArrayOutputStream(), irqs::incrementAndGet);
        byte[] typed = new byte[40];
        for (int i = 0; i < typed.length; i++) typed[i] = (byte) ('a' + i % 26);
        uart.receive(typed, 0, typed.length);
        assertEquals(0, uart.read(5) & 1, "nothing in the receiver while the guest does not listen");
        assertEquals(40, uart.pendingInput());
        uart.write(2, 0x07); // enable and reset the FIFOs, as Linux does when the port opens
        uart.read(0);        // and a read of the receive register to clear it
        uart.write(1, 0x01); // receive interrupts on: now it listens
        // Linux's read "for luck" right after usually finds nothing yet (the next byte comes 0.2 ms
        // later); on a loaded host the feeder can win that race, and the byte is then read here.
        int luck = uart.read(0);
        StringBuilder got = new StringBuilder();
        if (luck != 0) got.append((char) luck);
        long end = System.nanoTime() + 5_000_000_000L;
        while (got.length() < typed.length && System.nanoTime() < end) {
            if ((uart.read(5) & 1) != 0) got.append((char) uart.read(0));
            else Thread.onSpinWait();
        }
        assertEquals(new String(typed, java.nio.charset.StandardCharsets.US_ASCII), got.toString());
        assertTrue(irqs.get() >= 3, "an interrupt for each FIFO load: " + irqs.get());
        assertEquals(0, uart.pendingInput());
        uart.write(1, 0x00); // closed again: input waits once more
        uart.receive(new byte[] {'z'}, 0, 1);
        Thread.sleep(20);
        assertEquals(0, uart.read(5) & 1);
        assertEquals(1, uart.pendingInput());
        uart.close();
    }

    /** A FIFO reset (a port opening again) does not lose typed bytes the guest has not read. */
    @Test
    void aFifoResetKeepsUnreadInput() {
        Serial16550 uart = new Serial16550(new ByteArrayOutputStream(), () -> { });
        uart.write(2, 0x01);
        uart.write(1, 0x01);
        uart.receive("abc".getBytes(java.nio.charset.StandardCharsets.US_ASCII), 0, 3);
        for (long end = System.nanoTime() + 5_000_000_000L; (uart.read(5) & 1) == 0 && System.nanoTime() < end; ) Thread.onSpinWait();
        uart.write(1, 0x00);
        uart.write(2, 0x07); // the port closes and opens again before the guest read a byte
        uart.write(1, 0x01);
        StringBuilder got = new StringBuilder();
        for (long end = System.nanoTime() + 5_000_000_000L; got.length() < 3 && System.nanoTime() < end; ) {
            if ((uart.read(5) & 1) != 0) got.append((char) uart.read(0));
            else Thread.onSpinWait();
        }
        assertEquals("abc", got.toString());
        uart.close();
    }

    @Test
    void cmosReportsTheHostTimeInBcd() {
        Cmos cmos = new Cmos();
        ZonedDateTime t = ZonedDateTime.now(ZoneOffset.UTC);
        cmos.write(0x70, 0x09);
        int year = cmos.read(0x71);
        cmos.write(0x70, 0x32);
        int century = cmos.read(0x71);
        int y = (century >> 4) * 1000 + (century & 15) * 100 + (year >> 4) * 10 + (year & 15);
        assertEquals(t.getYear(), y);
        cmos.write(0x70, 0x0B);
        assertEquals(0x02, cmos.read(0x71), "24-hour BCD");
        cmos.write(0x70, 0x0A);
        assertEquals(0, cmos.read(0x71) & 0x80, "never update-in-progress");
    }
}
