package org.jvisor.devices.legacy;

import java.time.ZoneOffset;
import java.time.ZonedDateTime;

/** The CMOS real-time clock (0x70/0x71): the host's current UTC time in BCD, and NVRAM bytes. */
public final class Cmos {
    private int index;
    private final int[] nvram = new int[128];

    public Cmos() {
        nvram[0x0A] = 0x26;     // 32.768 kHz, 1024 Hz rate
        nvram[0x0B] = 0x02;     // 24-hour, BCD
        nvram[0x0D] = 0x80;     // battery good
    }

    private static int bcd(int v) {
        return (v / 10) << 4 | (v % 10);
    }

    public synchronized int read(int port) {
        if (port == 0x70) return index;
        ZonedDateTime t = ZonedDateTime.now(ZoneOffset.UTC);
        return switch (index) {
            case 0x00 -> bcd(t.getSecond());
            case 0x02 -> bcd(t.getMinute());
            case 0x04 -> bcd(t.getHour());
            case 0x06 -> t.getDayOfWeek().getValue() % 7 + 1;
            case 0x07 -> bcd(t.getDayOfMonth());
            case 0x08 -> bcd(t.getMonthValue());
            case 0x09 -> bcd(t.getYear() % 100);
            case 0x32 -> bcd(t.getYear() / 100);
            case 0x0A -> nvram[0x0A] & 0x7F; // never "update in progress"
            case 0x0C -> 0;
            default -> nvram[index];
        };
    }

    /** The index register and NVRAM; the clock itself is the host's, so it is not kept. */
    public record State(int index, int[] nvram) {}

    public synchronized State state() {
        return new State(index, nvram.clone());
    }

    public synchronized void restore(State s) {
        int[] n = org.jvisor.devices.StateArrays.ints(s.nvram(), 128, "cmos nvram");
        index = s.index() & 0x7F;
        for (int i = 0; i < 128; i++) nvram[i] = n[i] & 0xFF;
    }

    public synchronized void write(int port, int v) {
        if (port == 0x70) index = v & 0x7F;
        else if (index != 0x0C && index != 0x0D) nvram[index] = v & 0xFF;
    }
}
