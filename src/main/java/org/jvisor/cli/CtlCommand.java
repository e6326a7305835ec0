package org.jvisor.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.jvisor.api.ApiClient;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/**
 * {@code jvisor ctl SOCKET ACTION [ARG]}: the thin client of a VMM's control API. Exit 0 when the
 * VMM did it, 1 with one line on stderr when it refused or could not be reached, 2 for bad usage.
 */
@Command(name = "ctl", description = "Control a running VM through its --api-socket: info, pause, resume, stop, powerdown, balloon SIZE, snapshot FILE, migrate URI, console.")
final class CtlCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "SOCKET", description = "the VMM's --api-socket") Path socket;
    @Parameters(index = "1", paramLabel = "ACTION", description = "info | pause | resume | stop | powerdown | balloon SIZE | snapshot FILE | migrate URI | console") String action;
    @Parameters(index = "2", arity = "0..1", paramLabel = "ARG",
            description = "balloon: the balloon's size, e.g. 256M (memory taken from the guest); snapshot: the state file to write; migrate: tcp:HOST:PORT or unix:PATH of a jvisor run --incoming") String arg;
    @picocli.CommandLine.Option(names = "--no-resume", description = "snapshot: leave the VM paused afterwards") boolean noResume;
    @picocli.CommandLine.Option(names = "--downtime", paramLabel = "MS", description = "migrate: how long the guest may stand still at the end (default 10)") Long downtime;

    private static final ObjectMapper JSON = new ObjectMapper();

    @Override
    public Integer call() {
        String method, path, body = null;
        switch (action) {
            case "info" -> { method = "GET"; path = "/vm.info"; }
            case "console" -> { method = "GET"; path = "/vm.console"; }
            case "pause" -> { method = "PUT"; path = "/vm.pause"; }
            case "resume" -> { method = "PUT"; path = "/vm.resume"; }
            case "stop" -> { method = "PUT"; path = "/vm.stop"; }
            case "powerdown" -> { method = "PUT"; path = "/vm.power-button"; }
            case "balloon" -> {
                if (arg == null) return usage("balloon needs a size, e.g. jvisor ctl " + socket + " balloon 256M");
                long size;
                try {
                    size = Sizes.parse(arg);
                } catch (IllegalArgumentException e) {
                    return usage("balloon " + arg + ": " + e.getMessage());
                }
                method = "PUT";
                path = "/vm.balloon";
                body = "{\"sizeBytes\":" + size + "}";
            }
            case "snapshot" -> {
                if (arg == null) return usage("snapshot needs a file, e.g. jvisor ctl " + socket + " snapshot vm.state");
                method = "PUT";
                path = "/vm.snapshot";
                java.util.Map<String, Object> req = new java.util.LinkedHashMap<>();
                req.put("path", Path.of(arg).toAbsolutePath().toString()); // the VMM's working directory is not ours
                req.put("resume", !noResume);
                try {
                    body = JSON.writeValueAsString(req);
                } catch (IOException e) {
                    return usage("snapshot " + arg + ": " + e.getMessage());
                }
            }
            case "migrate" -> {
                if (arg == null) return usage("migrate needs where to, e.g. jvisor ctl " + socket + " migrate tcp:127.0.0.1:4444");
                try {
                    org.jvisor.vmm.MigrationUri.parse(arg);
                } catch (IllegalArgumentException e) {
                    return usage("migrate: " + e.getMessage());
                }
                method = "PUT";
                path = "/vm.migrate";
                java.util.Map<String, Object> req = new java.util.LinkedHashMap<>();
                req.put("uri", arg);
                if (downtime != null) req.put("downtimeMillis", downtime);
                try {
                    body = JSON.writeValueAsString(req);
                } catch (IOException e) {
                    return usage("migrate " + arg + ": " + e.getMessage());
                }
            }
            default -> {
                return usage("unknown action '" + action + "' (info, pause, resume, stop, powerdown, balloon SIZE, snapshot FILE, migrate URI, console)");
            }
        }
        if (arg != null && !action.equals("balloon") && !action.equals("snapshot") && !action.equals("migrate")) return usage(action + " takes no argument");
        if (downtime != null && !action.equals("migrate")) return usage("--downtime goes with migrate only");
        if (noResume && !action.equals("snapshot")) return usage("--no-resume goes with snapshot only");
        try (ApiClient client = new ApiClient(socket)) {
            ApiClient.Result r;
            if (action.equals("migrate")) {
                Thread progress = Thread.ofVirtual().start(() -> showProgress(socket));
                try {
                    r = client.send(method, path, body, 24 * 3600);
                } finally {
                    progress.interrupt();
                }
            } else {
                r = client.send(method, path, body);
            }
            if (!r.ok()) {
                System.err.println("jvisor ctl: " + action + ": " + errorText(r));
                return 1;
            }
            if (action.equals("console")) {
                System.out.print(JSON.readTree(r.body()).path("text").asText());
            } else if (!r.body().isEmpty()) {
                System.out.println(JSON.writerWithDefaultPrettyPrinter().writeValueAsString(JSON.readTree(r.body())));
            }
            return 0;
        } catch (IOException e) {
            System.err.println("jvisor ctl: " + e.getMessage());
            return 1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return 1;
        }
    }

    /** A line on stderr each second while a migration goes: its round, what was sent, how fast the guest writes. */
    private static void showProgress(Path socket) {
        try (ApiClient info = new ApiClient(socket)) {
            for (;;) {
                Thread.sleep(1000);
                JsonNode m = JSON.readTree(info.get("/vm.info").body()).path("migration");
                if (m.isMissingNode() || m.isNull()) continue;
                System.err.printf("jvisor ctl: migration %s: round %d, %d MiB sent, %d MiB to send, guest writes %.0f MiB/s, link %.0f MiB/s%n",
                        m.path("status").asText(), m.path("rounds").asInt(), m.path("ramBytesSent").asLong() >> 20,
                        m.path("dirtyBytes").asLong() >> 20, m.path("dirtyBytesPerSecond").asDouble() / (1 << 20),
                        m.path("bandwidthBytesPerSecond").asDouble() / (1 << 20));
            }
        } catch (InterruptedException e) {
            // the migration answered
        } catch (IOException e) {
            // no progress to show; the migration's own answer says how it went
        }
    }

    private static String errorText(ApiClient.Result r) {
        try {
            JsonNode n = JSON.readTree(r.body());
            if (n != null && n.hasNonNull("error")) return n.get("error").asText() + " (HTTP " + r.status() + ")";
        } catch (IOException e) {
            // not JSON: say what came
        }
        return "HTTP " + r.status() + (r.body().isBlank() ? "" : ": " + r.body().strip().lines().findFirst().orElse(""));
    }

    private static int usage(String msg) {
        System.err.println("jvisor ctl: " + msg);
        return 2;
    }
}
