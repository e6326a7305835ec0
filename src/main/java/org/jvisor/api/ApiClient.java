package org.jvisor.api;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.eclipse.jetty.client.ContentResponse;
import org.eclipse.jetty.client.HttpClient;
import org.eclipse.jetty.client.Request;
import org.eclipse.jetty.client.StringRequestContent;
import org.eclipse.jetty.io.Transport;

/** A client of a VMM's control API on its Unix socket (Jetty's HTTP client). */
public final class ApiClient implements AutoCloseable {
    /** What came back: the status and the body (empty for 204). */
    public record Result(int status, String body) {
        public boolean ok() {
            return status / 100 == 2;
        }
    }

    private final HttpClient http;
    private final Transport transport;

    public ApiClient(Path socket) throws IOException {
        if (!Files.exists(socket)) throw new IOException("no API socket at " + socket + " (is the VMM running with --api-socket?)");
        transport = new Transport.TCPUnix(socket.toAbsolutePath());
        http = new HttpClient();
        http.setName("vmm-api-client");
        try {
            http.start();
        } catch (Exception e) {
            throw new IOException("cannot start the HTTP client: " + e.getMessage(), e);
        }
    }

    public Result get(String path) throws IOException, InterruptedException {
        return send("GET", path, null);
    }

    public Result put(String path, String json) throws IOException, InterruptedException {
        return send("PUT", path, json);
    }

    /** Sends one request; {@code path} is under /api/v1 (e.g. "/vm.info"). */
    public Result send(String method, String path, String json) throws IOException, InterruptedException {
        return send(method, path, json, 30);
    }

    /** Sends one request and waits up to {@code seconds} for the answer (a migration takes as long as the guest's RAM needs). */
    public Result send(String method, String path, String json, long seconds) throws IOException, InterruptedException {
        Request r = http.newRequest("http://localhost" + VmmApi.PREFIX + path).method(method).transport(transport)
                .timeout(seconds, TimeUnit.SECONDS);
        if (json != null) r.body(new StringRequestContent("application/json", json));
        try {
            ContentResponse resp = r.send();
            return new Result(resp.getStatus(), resp.getContentAsString());
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            Throwable c = e.getCause() != null ? e.getCause() : e;
            throw new IOException("no answer from the VMM: " + c.getMessage(), c);
        }
    }

    @Override
    public void close() {
        try {
            http.stop();
        } catch (Exception e) {
            // closing
        }
    }
}
