package org.jvisor.net;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import org.jvisor.sys.Tap;

/** A NIC on a host TAP interface: frames go to and come from the host's kernel. */
public final class TapBackend implements NetBackend {
    private final Tap tap;

    public TapBackend(Tap tap) {
        this.tap = tap;
    }

    @Override
    public String name() {
        return tap.name();
    }

    @Override
    public int read(MemorySegment buf, int timeoutMs) throws IOException {
        return tap.read(buf, timeoutMs);
    }

    @Override
    public void write(MemorySegment frame, long len) throws IOException {
        tap.write(frame, len);
    }

    @Override
    public void setOffload(int flags) throws IOException {
        tap.setOffload(flags);
    }

    @Override
    public void close() {
        tap.close();
    }
}
