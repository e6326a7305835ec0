package org.jvisor.daemon;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Optional;

/**
 * A VM's run directory: the VMM's API socket, console and log, the status file that lets a new
 * daemon find a VMM the old one started (pid and start time, so a reused pid is not mistaken for
 * it), and the exit file the VMM writes when it ends on its own.
 */
record RunDir(Path dir) {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** What the status file records about a running VMM: its pid and start time (see {@link HostFacts#startTicks}), and the definition it runs. */
    record Status(long pid, long startTicks, String specJson) {}

    Path socket() {
        return dir.resolve("api.sock");
    }

    Path console() {
        return dir.resolve("console.log");
    }

    Path log() {
        return dir.resolve("vmm.log");
    }

    Path statusFile() {
        return dir.resolve("vmm.json");
    }

    Path exitFile() {
        return dir.resolve("exit.json");
    }

    void writeStatus(Status s) throws IOException {
        Path tmp = dir.resolve("vmm.json.tmp");
        Files.write(tmp, JSON.writeValueAsBytes(s));
        Files.move(tmp, statusFile(), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    Optional<Status> status() {
        try {
            return Optional.of(JSON.readValue(statusFile().toFile(), Status.class));
        } catch (IOException e) {
            return Optional.empty(); // none, or torn by a crash: either way no VMM to adopt
        }
    }

    void clearStatus() throws IOException {
        Files.deleteIfExists(statusFile());
    }

    /** The VMM's exit code from its exit file, or empty when it wrote none (it was killed). */
    Optional<Integer> exitCode() {
        try {
            return Optional.of(JSON.readTree(exitFile().toFile()).get("exitCode").asInt());
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }

    /** The last {@code max} bytes of the console, as text: what a crashed VM printed last. */
    String consoleTail(int max) {
        try (RandomAccessFile f = new RandomAccessFile(console().toFile(), "r")) {
            long len = f.length(), from = Math.max(0, len - max);
            byte[] b = new byte[(int) (len - from)];
            f.seek(from);
            f.readFully(b);
            return new String(b, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "";
        }
    }
}
