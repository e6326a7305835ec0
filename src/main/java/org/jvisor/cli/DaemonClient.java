package org.jvisor.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.jvisor.daemon.Daemon;
import org.jvisor.daemon.Tokens;

/**
 * The CLI's side of the daemon's REST API. The URL and token are found without flags on the
 * daemon's own host: JVISOR_URL and JVISOR_TOKEN when set, else the url and admin-token files of
 * the state directory (--state, JVISOR_STATE, or the default one).
 */
final class DaemonClient {
    static final ObjectMapper JSON = new ObjectMapper();

    /** A failure to show in one line: the daemon's message, or why it could not be reached. */
    static final class Failure extends Exception {
        Failure(String m) {
            super(m);
        }
    }

    private final HttpClient http;
    private final String url, token;

    DaemonClient(Path stateDir) throws Failure {
        Path state = stateDir != null ? stateDir : Daemon.defaultStateDir();
        String u = System.getenv("JVISOR_URL"), t = System.getenv("JVISOR_TOKEN");
        try {
            if (u == null || u.isBlank()) u = Files.isReadable(state.resolve(Daemon.URL_FILE)) ? Files.readString(state.resolve(Daemon.URL_FILE)).strip() : "http://" + Daemon.DEFAULT_LISTEN;
            if (t == null || t.isBlank()) {
                Path f = state.resolve(Tokens.ADMIN_TOKEN_FILE);
                if (!Files.isReadable(f)) throw new Failure("no token: set JVISOR_TOKEN, or run this as the daemon's user so that " + f + " can be read");
                t = Files.readString(f).strip();
            }
        } catch (IOException e) {
            throw new Failure("cannot read the daemon's state directory " + state + ": " + e.getMessage());
        }
        this.url = u.replaceAll("/+$", "");
        this.token = t;
        HttpClient.Builder b = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5));
        // The daemon's own self-signed certificate, trusted on its host through the state directory.
        Path store = state.resolve(org.jvisor.daemon.Tls.STORE), pw = state.resolve(org.jvisor.daemon.Tls.PASSWORD);
        if (this.url.startsWith("https:") && Files.isReadable(store) && Files.isReadable(pw)) {
            try {
                b.sslContext(org.jvisor.daemon.Tls.trusting(store, Files.readString(pw).strip()));
            } catch (IOException e) {
                throw new Failure(e.getMessage());
            }
        }
        this.http = b.build();
    }

    JsonNode get(String path) throws Failure {
        return send("GET", path, null);
    }

    JsonNode post(String path, Object body) throws Failure {
        return send("POST", path, body);
    }

    /** Sends one request under /api/v1; returns the JSON answer (null for 204), or fails with the daemon's message. */
    JsonNode send(String method, String path, Object body) throws Failure {
        try {
            String json = body == null ? null : body instanceof String s ? s : JSON.writeValueAsString(body);
            HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url + "/api/v1" + path)).timeout(Duration.ofMinutes(10))
                    .header("Authorization", "Bearer " + token);
            if (json != null) b.header("Content-Type", "application/json");
            b.method(method, json == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(json));
            HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
            JsonNode answer = r.body().isEmpty() ? null : JSON.readTree(r.body());
            if (r.statusCode() / 100 != 2) {
                String msg = answer != null && answer.has("error") ? answer.get("error").asText() : "HTTP " + r.statusCode();
                if (answer != null && answer.has("fields")) {
                    StringBuilder sb = new StringBuilder(msg);
                    answer.get("fields").fields().forEachRemaining(e -> sb.append("; ").append(e.getKey()).append(": ").append(e.getValue().asText()));
                    msg = sb.toString();
                }
                throw new Failure(msg);
            }
            return answer;
        } catch (IOException e) {
            throw new Failure("cannot reach the daemon at " + url + " (is jvisor daemon running?): " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new Failure("interrupted");
        }
    }
}
