package org.jvisor.cpu.emu.diff;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.jvisor.cpu.Vectors;

/**
 * Runs instruction sequences on the host CPU through the {@code oracle} helper process
 * (src/test/native/oracle.c, built with gcc on first use). A crash of the helper costs that
 * process, never the test JVM: it is restarted and the case reported.
 */
final class HostOracle implements AutoCloseable {
    private static final Path SOURCE = Path.of("src/test/native/oracle.c");
    private static final Path BINARY = Path.of("target/oracle");

    /** Whether the host CPU is Intel's, whose dot products pick NaNs in their own lane order. */
    static boolean intelHost() {
        try {
            return Files.readAllLines(Path.of("/proc/cpuinfo")).stream().anyMatch(l -> l.startsWith("vendor_id") && l.contains("GenuineIntel"));
        } catch (java.io.IOException e) {
            return false;
        }
    }

    private Process proc;
    private OutputStream out;
    private DataInputStream in;
    private final ByteBuffer buf = ByteBuffer.allocate(8192).order(ByteOrder.LITTLE_ENDIAN);

    HostOracle() throws IOException, InterruptedException {
        build();
        start();
    }

    static void build() throws IOException, InterruptedException {
        if (Files.exists(BINARY) && Files.getLastModifiedTime(BINARY).compareTo(Files.getLastModifiedTime(SOURCE)) > 0) {
            return;
        }
        Files.createDirectories(BINARY.getParent());
        Process p = new ProcessBuilder("gcc", "-O2", "-Wall", "-o", BINARY.toString(), SOURCE.toString())
                .redirectErrorStream(true).start();
        String log = new String(p.getInputStream().readAllBytes());
        if (p.waitFor() != 0) throw new IOException("building the oracle failed:\n" + log);
    }

    private void start() throws IOException {
        proc = new ProcessBuilder(BINARY.toAbsolutePath().toString()).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        out = new BufferedOutputStream(proc.getOutputStream(), 1 << 16);
        InputStream is = new BufferedInputStream(proc.getInputStream(), 1 << 16);
        in = new DataInputStream(is);
    }

    /** Runs code from the initial state; returns the final (or faulting) state. */
    MachineState run(byte[] code, MachineState init) throws IOException {
        buf.clear();
        buf.putInt(code.length);
        buf.put(code);
        for (long r : init.regs) buf.putLong(r);
        buf.putLong(init.rflags);
        buf.put(init.fx);
        buf.put(init.data);
        try {
            out.write(buf.array(), 0, buf.position());
            out.flush();
            byte[] head = new byte[8 + 8 + 8 + 128 + 8 + 512 + MachineState.DATA_SIZE];
            in.readFully(head);
            ByteBuffer r = ByteBuffer.wrap(head).order(ByteOrder.LITTLE_ENDIAN);
            int sig = r.getInt(), code2 = r.getInt();
            MachineState m = new MachineState();
            m.rip = r.getLong();
            m.faultAddress = r.getLong();
            for (int k = 0; k < 16; k++) m.regs[k] = r.getLong();
            m.rflags = r.getLong();
            r.get(m.fx);
            r.get(m.data);
            m.vector = vectorOf(sig, code2);
            return m;
        } catch (IOException e) {
            restart();
            throw new IOException("the oracle process died on this case", e);
        }
    }

    /** The x86 exception that Linux reports as this signal. */
    static int vectorOf(int sig, int siCode) {
        return switch (sig) {
            case 0 -> -1;
            case 8 -> Vectors.DE;                             // SIGFPE
            case 4 -> Vectors.UD;                             // SIGILL
            case 5 -> Vectors.BP;                             // SIGTRAP
            case 7 -> Vectors.AC;                             // SIGBUS
            case 11 -> siCode == 0x80 ? Vectors.GP : Vectors.PF; // SIGSEGV: SI_KERNEL is #GP
            default -> 100 + sig;
        };
    }

    private void restart() throws IOException {
        proc.destroyForcibly();
        start();
    }

    @Override
    public void close() throws Exception {
        out.close();
        proc.waitFor(5, TimeUnit.SECONDS);
        proc.destroyForcibly();
    }
}
