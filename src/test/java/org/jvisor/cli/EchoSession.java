package org.jvisor.cli;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * An {@link EchoClient} in its own JVM inside a test's network namespace, talking to an echo
 * server in the guest: started before the guest is moved (snapshot, migration), ended after.
 */
final class EchoSession implements AutoCloseable {
    private final Process process;
    private final Path stop;
    private final StringBuffer out = new StringBuffer();

    EchoSession(TestNamespace namespace, String guest, int port, Path stopFile) throws IOException {
        this.stop = stopFile;
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> cmd = namespace.exec(List.of(java, "-cp", System.getProperty("java.class.path"),
                EchoClient.class.getName(), guest, Integer.toString(port), stopFile.toString()));
        process = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        Thread.ofVirtual().start(() -> {
            try {
                byte[] buf = new byte[1024];
                for (int n; (n = process.getInputStream().read(buf)) > 0; ) out.append(new String(buf, 0, n, StandardCharsets.UTF_8));
            } catch (IOException e) {
                // the client ended
            }
        });
    }

    boolean connected() {
        return out.toString().contains("echo: connected");
    }

    String output() {
        return out.toString();
    }

    /** Tells the client to stop sending, waits for the last echoes; asserts every line came back in order. */
    void finishAndCheck() throws Exception {
        Files.createFile(stop);
        assertTrue(process.waitFor(60, TimeUnit.SECONDS), "the echo client did not end:\n" + out);
        System.out.println(out.toString().strip());
        assertTrue(process.exitValue() == 0, "the TCP session lost or reordered data:\n" + out);
    }

    @Override
    public void close() {
        process.destroyForcibly();
    }
}
