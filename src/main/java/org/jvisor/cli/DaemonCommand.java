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
    @Option(names = "--state", paramLabel = "DIR", description = "the state directory (default /var/lib/jvisor as root, else ~/.local/share/jvisor)")
    Path state;

    @Override
    public Integer call() {
        Daemon d;
        try {
            d = Daemon.start(state != null ? state : Daemon.defaultStateDir(), listen, System.err);
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
