package org.jvisor.daemon;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.eclipse.jetty.websocket.api.Callback;
import org.eclipse.jetty.websocket.api.Session;

/**
 * A VM's serial console as a WebSocket: first the output history the VMM keeps, then new output
 * as binary frames of the guest's bytes (a terminal emulator decodes them), polled from the VMM
 * every 50 ms; text or binary frames from the client are typed on the console. Closes (1000)
 * when the VM's VMM ends.
 */
public final class ConsoleSocket implements Session.Listener.AutoDemanding {
    static final long POLL_MILLIS = 50;
    private final Supervisor supervisor;
    private final String vm;
    private volatile Session session;
    private volatile boolean closed;

    ConsoleSocket(Supervisor supervisor, String vm) {
        this.supervisor = supervisor;
        this.vm = vm;
    }

    @Override
    public void onWebSocketOpen(Session s) {
        session = s;
        Thread.ofVirtual().name("console-" + vm).start(this::pump);
    }

    private void pump() {
        long seen = -1;
        try {
            while (!closed && session.isOpen()) {
                if (!supervisor.active(vm)) {
                    session.close(1000, "the VM's VMM ended", Callback.NOOP);
                    return;
                }
                JsonNode c = supervisor.call(vm, "GET", "/vm.console", null, "read the console");
                long total = c.get("totalBytes").asLong();
                byte[] ring = c.get("text").asText().getBytes(StandardCharsets.ISO_8859_1);
                long fresh = seen < 0 ? ring.length : Math.min(total - seen, ring.length);
                if (fresh > 0) session.sendBinary(ByteBuffer.wrap(ring, (int) (ring.length - fresh), (int) fresh), Callback.NOOP);
                seen = total;
                Thread.sleep(POLL_MILLIS);
            }
        } catch (Supervisor.Refused e) {
            if (session.isOpen()) session.close(1011, e.getMessage().length() > 120 ? e.getMessage().substring(0, 120) : e.getMessage(), Callback.NOOP);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void type(String text) {
        if (text.isEmpty()) return;
        try {
            supervisor.call(vm, "PUT", "/vm.console-input", DaemonApi.JSON.writeValueAsString(Map.of("text", text)), "type on the console");
        } catch (Exception e) {
            Session s = session;
            if (s != null && s.isOpen()) s.close(1011, "cannot type on the console", Callback.NOOP);
        }
    }

    @Override
    public void onWebSocketText(String text) {
        type(text);
    }

    @Override
    public void onWebSocketBinary(ByteBuffer payload, Callback callback) {
        byte[] b = new byte[payload.remaining()];
        payload.get(b);
        type(new String(b, StandardCharsets.UTF_8));
        callback.succeed();
    }

    @Override
    public void onWebSocketClose(int status, String reason) {
        closed = true;
    }

    @Override
    public void onWebSocketError(Throwable cause) {
        closed = true;
    }
}
