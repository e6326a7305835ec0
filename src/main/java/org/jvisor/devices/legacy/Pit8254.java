package org.jvisor.devices.legacy;

import org.jvisor.devices.StateArrays;

/**
 * The 8254 programmable interval timer at 1.193182 MHz: channel 0 drives IRQ 0 (modes 0, 2, 3),
 * channel 2 is gated by port 0x61 and its output is readable there (the kernel calibrates the
 * TSC with it). Counters follow the host clock: no ticking thread, the count is computed from
 * the time since it was loaded.
 */
public final class Pit8254 {
    public static final long HZ = 1_193_182;

    private final class Channel {
        int mode, access = 3, reload = 0x10000, latched = -1, latchedHalf, readHalf, writeHalf, writeLow;
        long loadedAt;
        boolean counting;
        long nextIrq = Long.MAX_VALUE;

        long ticksSince(long now) {
            return (now - loadedAt) * HZ / 1_000_000_000L;
        }

        int count(long now) {
            if (!counting) return reload & 0xFFFF;
            long t = ticksSince(now);
            long r = reload;
            return switch (mode) {
                case 2, 3 -> (int) (r - (t % r)) & 0xFFFF;
                default -> (int) Math.max(0, r - t) & 0xFFFF;
            };
        }

        boolean out(long now) {
            if (!counting) return mode != 0;
            long t = ticksSince(now);
            return switch (mode) {
                case 0 -> t >= reload;
                case 3 -> (t % reload) < reload / 2;
                default -> (t % reload) != reload - 1;
            };
        }

        void load(int value, long now) {
            reload = value == 0 ? 0x10000 : value;
            loadedAt = now;
            counting = true;
            nextIrq = now + periodNs();
        }

        long periodNs() {
            return reload * 1_000_000_000L / HZ;
        }

        ChannelState state() {
            return new ChannelState(mode, access, reload, latched, latchedHalf, readHalf, writeHalf, writeLow, loadedAt, counting, nextIrq);
        }

        void restore(ChannelState s) {
            mode = StateArrays.range(s.mode(), 0, 5, "pit mode");
            access = StateArrays.range(s.access(), 1, 3, "pit access");
            reload = StateArrays.range(s.reload(), 1, 0x10000, "pit reload");
            latched = StateArrays.range(s.latched(), -1, 0xFFFF, "pit latch");
            latchedHalf = s.latchedHalf() & 1;
            readHalf = s.readHalf() & 1;
            writeHalf = s.writeHalf() & 1;
            writeLow = s.writeLow() & 0xFF;
            loadedAt = s.loadedAt();
            counting = s.counting();
            nextIrq = s.nextIrq();
        }
    }

    /** One counter, its times on the TSC. */
    public record ChannelState(int mode, int access, int reload, int latched, int latchedHalf, int readHalf, int writeHalf,
                               int writeLow, long loadedAt, boolean counting, long nextIrq) {}

    public record State(ChannelState[] channels, boolean gate2, boolean speaker) {}

    public synchronized State state() {
        return new State(new ChannelState[] {ch[0].state(), ch[1].state(), ch[2].state()}, gate2, speaker);
    }

    /** Takes a saved state (the TSC must already run from the saved value). */
    public synchronized void restore(State s) {
        if (s.channels() == null || s.channels().length != 3) throw new IllegalArgumentException("pit state needs 3 channels");
        for (int i = 0; i < 3; i++) {
            if (s.channels()[i] == null) throw new IllegalArgumentException("pit channel " + i + " is missing");
            ch[i].restore(s.channels()[i]);
        }
        gate2 = s.gate2();
        speaker = s.speaker();
    }

    private final Channel[] ch = {new Channel(), new Channel(), new Channel()};
    /** Channel 0's output: IRQ 0. */
    private final Runnable irq0;
    private final java.util.function.LongSupplier clock;
    private boolean gate2, speaker;

    public Pit8254(Runnable irq0, java.util.function.LongSupplier nanos) {
        this.irq0 = irq0;
        this.clock = nanos;
    }

    public synchronized int read(int port) {
        long now = clock.getAsLong();
        if (port == 0x61) return (gate2 ? 1 : 0) | (speaker ? 2 : 0) | (ch[2].out(now) ? 0x20 : 0);
        Channel c = ch[port - 0x40];
        int v = c.latched >= 0 ? c.latched : c.count(now);
        int access = c.access;
        int out;
        if (access == 1) out = v & 0xFF;
        else if (access == 2) out = v >>> 8;
        else {
            out = c.readHalf == 0 ? v & 0xFF : v >>> 8;
            c.readHalf ^= 1;
            if (c.readHalf == 0) c.latched = -1;
            return out;
        }
        c.latched = -1;
        return out;
    }

    public synchronized void write(int port, int v) {
        long now = clock.getAsLong();
        v &= 0xFF;
        if (port == 0x61) {
            boolean g = (v & 1) != 0;
            if (g && !gate2) ch[2].loadedAt = now; // a rising gate restarts channel 2
            gate2 = g;
            speaker = (v & 2) != 0;
            return;
        }
        if (port == 0x43) {
            int sel = v >>> 6;
            if (sel == 3) return; // read-back: not used by our guests
            Channel c = ch[sel];
            int access = (v >>> 4) & 3;
            if (access == 0) { // latch
                c.latched = c.count(now);
                c.readHalf = 0;
                return;
            }
            c.access = access;
            c.mode = (v >>> 1) & 7;
            if (c.mode > 5) c.mode &= 3;
            c.readHalf = 0;
            c.writeHalf = 0;
            c.counting = false;
            c.nextIrq = Long.MAX_VALUE;
            return;
        }
        Channel c = ch[port - 0x40];
        switch (c.access) {
            case 1 -> c.load(v, now);
            case 2 -> c.load(v << 8, now);
            default -> {
                if (c.writeHalf == 0) {
                    c.writeLow = v;
                    c.writeHalf = 1;
                } else {
                    c.load(c.writeLow | v << 8, now);
                    c.writeHalf = 0;
                }
            }
        }
    }

    /** Raises IRQ 0 when channel 0's period (or one-shot count) has elapsed. Returns the next deadline. */
    public synchronized long poll() {
        long now = clock.getAsLong();
        Channel c = ch[0];
        if (c.counting && now >= c.nextIrq) {
            irq0.run();
            if (c.mode == 2 || c.mode == 3) {
                long period = Math.max(c.periodNs(), 100_000);
                c.nextIrq += period;
                if (c.nextIrq < now) c.nextIrq = now + period; // missed ticks are dropped, as a late PIT would
            } else {
                c.nextIrq = Long.MAX_VALUE;
            }
        }
        return c.nextIrq;
    }
}
