package org.jvisor.cli;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import org.jvisor.daemon.Daemon;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code jvisor daemon}: runs jvisord in the foreground until it is stopped (SIGTERM or Ctrl-C); the VMs it runs go on. */
@Command(name = "daemon", description = "Run jvisord, the host daemon: VM definitions, one VMM per VM, the REST API and /metrics.")
final class DaemonCommand implements Callable<Integer> {
    @Option(names = "--listen", paramLabel = "HOST:PORT", description = "where the REST API listens (default " + Daemon.DEFAULT_LISTEN + "; loopback only for now)")
    String listen = Daemon.DEFAULT_LISTEN;
    @Option(names = "--tls", description = "serve https (needed beyond loopback); with no --tls-cert the daemon makes a self-signed certificate in its state directory")
    boolean tls;
    @Option(names = "--tls-cert", paramLabel = "FILE.p12", description = "a PKCS#12 key store with the daemon's key and certificate (implies --tls)") Path tlsCert;
    @Option(names = "--tls-password-file", paramLabel = "FILE", description = "the key store's password, in a file") Path tlsPasswordFile;
    @Option(names = "--state", paramLabel = "DIR", description = "the state directory (default /var/lib/jvisor as root, else ~/.local/share/jvisor)")
    Path state;

    @Override
    public Integer call() {
        Daemon d;
        try {
            String pw = tlsPasswordFile == null ? null : java.nio.file.Files.readString(tlsPasswordFile).strip();
            d = Daemon.start(state != null ? state : Daemon.defaultStateDir(), listen, tls || tlsCert != null, tlsCert, pw, System.err);
        } catch (IOException e) {
            System.err.println("jvisor daemon: " + e.getMessage());
            return 1;
        }
        CountDownLatch done = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            d.close();
            done.countDown();
        }));
        try {
            done.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return 0;
    }
}
