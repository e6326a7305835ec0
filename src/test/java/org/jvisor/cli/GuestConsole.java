package org.jvisor.cli;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import picocli.CommandLine;

/** A jvisor process driven through its console: output is collected as it comes, keys are typed in. */
final class GuestConsole implements AutoCloseable {
    final Process process;
    private final OutputStream keys;
    private final StringBuffer text = new StringBuffer();

    GuestConsole(List<String> command) throws IOException {
        process = new ProcessBuilder(command).redirectErrorStream(true).start();
        keys = process.getOutputStream();
        Thread.ofVirtual().start(() -> pump(process.getInputStream()));
    }

    /** The command line that runs `jvisor run ARGS` from this test JVM's own classpath. */
    static List<String> jvisorRun(String... args) {
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> cmd = new java.util.ArrayList<>(List.of(java, "--enable-native-access=ALL-UNNAMED", "-XX:+UseParallelGC",
                "-cp", System.getProperty("java.class.path"), "org.jvisor.cli.Main", "run"));
        cmd.addAll(List.of(args));
        return cmd;
    }

    /** Runs `jvisor ctl SOCKET ARGS` in this JVM; returns {exit code, stdout, stderr}. */
    static Object[] ctl(Path socket, String... args) {
        PrintStream out = System.out, err = System.err;
        ByteArrayOutputStream o = new ByteArrayOutputStream(), e = new ByteArrayOutputStream();
        System.setOut(new PrintStream(o, true));
        System.setErr(new PrintStream(e, true));
        try {
            String[] all = new String[args.length + 2];
            all[0] = "ctl";
            all[1] = socket.toString();
            System.arraycopy(args, 0, all, 2, args.length);
            int rc = new CommandLine(new Main()).execute(all);
            return new Object[] {rc, o.toString(StandardCharsets.UTF_8), e.toString(StandardCharsets.UTF_8)};
        } finally {
            System.setOut(out);
            System.setErr(err);
        }
    }

    private void pump(InputStream in) {
        byte[] b = new byte[4096];
        try {
            for (int n; (n = in.read(b)) > 0; ) text.append(new String(b, 0, n, StandardCharsets.ISO_8859_1));
        } catch (IOException e) {
            // the process exited
        }
    }

    String text() {
        return text.toString();
    }

    /** The last few KiB of output, for assertion messages. */
    String tail() {
        String t = text.toString();
        return t.length() > 3000 ? t.substring(t.length() - 3000) : t;
    }

    void waitFor(String what, int seconds) throws InterruptedException {
        waitFor(what, 0, seconds);
    }

    /** Waits for {@code what} to appear at or after offset {@code from} of the output. */
    void waitFor(String what, int from, int seconds) throws InterruptedException {
        long end = System.nanoTime() + seconds * 1_000_000_000L;
        while (text.indexOf(what, from) < 0) {
            if (!process.isAlive()) throw new AssertionError("jvisor exited before '" + what + "':\n" + tail());
            if (System.nanoTime() > end) throw new AssertionError("no '" + what + "' within " + seconds + " s:\n" + tail());
            Thread.sleep(20);
        }
    }

    void type(String keystrokes) throws IOException {
        keys.write(keystrokes.getBytes(StandardCharsets.ISO_8859_1));
        keys.flush();
    }

    /** Types a command line and waits for {@code marker} to appear after its echo. */
    void command(String command, String marker, int seconds) throws Exception {
        int from = text.length() + command.length();
        type(command + "\n");
        waitFor(marker, from, seconds);
    }

    private int marker;

    /**
     * Runs a command in the guest's (busybox or bash) shell and returns what it printed between two
     * markers; the markers are typed with backslashes, so the echo of the typing never matches.
     */
    String shell(String command, int seconds) throws Exception {
        int n = ++marker;
        String begin = "@@B" + n + "@@", end = "@@E" + n + "@@";
        int from = text.length();
        type("echo " + begin.replace("@", "\\@") + "; " + command + "; echo " + end.replace("@", "\\@") + "\n");
        waitFor(end, from, seconds);
        String all = text.substring(from);
        int b = all.indexOf(begin), e = all.indexOf(end);
        return b < 0 || e < b ? "" : all.substring(b + begin.length(), e).replace("\r", "").strip();
    }

    @Override
    public void close() throws InterruptedException {
        if (process.isAlive()) process.destroyForcibly().waitFor();
    }
}
