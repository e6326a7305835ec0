package org.jvisor.vmm;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;

/** Where a migration goes: {@code tcp:HOST:PORT} or {@code unix:PATH}, as QEMU and cloud-hypervisor spell them. */
public record MigrationUri(String text, SocketAddress address) {
    /** Reads a URI; IllegalArgumentException says what is wrong with it. */
    public static MigrationUri parse(String text) {
        if (text == null || text.isBlank()) throw new IllegalArgumentException("no migration URI (tcp:HOST:PORT or unix:PATH)");
        if (text.startsWith("unix:")) {
            String p = text.substring(5);
            if (p.isEmpty()) throw new IllegalArgumentException("'" + text + "' names no socket path (unix:PATH)");
            return new MigrationUri(text, UnixDomainSocketAddress.of(Path.of(p).toAbsolutePath()));
        }
        if (text.startsWith("tcp:")) {
            String hp = text.substring(4);
            int colon = hp.lastIndexOf(':');
            if (colon <= 0) throw new IllegalArgumentException("'" + text + "' has no host and port (tcp:HOST:PORT)");
            String host = hp.substring(0, colon);
            if (host.startsWith("[") && host.endsWith("]")) host = host.substring(1, host.length() - 1);
            int port;
            try {
                port = Integer.parseInt(hp.substring(colon + 1));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("'" + text + "': the port is not a number");
            }
            if (port < 1 || port > 65535) throw new IllegalArgumentException("'" + text + "': port " + port + " is not in 1-65535");
            return new MigrationUri(text, InetSocketAddress.createUnresolved(host, port));
        }
        throw new IllegalArgumentException("'" + text + "' is not a migration URI: use tcp:HOST:PORT or unix:PATH");
    }

    /** Connects to a destination waiting with {@code jvisor run --incoming}. */
    SocketChannel connect() throws IOException {
        if (address instanceof InetSocketAddress a) {
            InetSocketAddress resolved = new InetSocketAddress(a.getHostString(), a.getPort());
            if (resolved.isUnresolved()) throw new IOException("cannot resolve host '" + a.getHostString() + "'");
            SocketChannel c = SocketChannel.open(resolved);
            c.socket().setTcpNoDelay(true);
            return c;
        }
        return SocketChannel.open(address);
    }

    /** Listens for one source (a stale socket file from an earlier run is replaced). */
    public ServerSocketChannel listen() throws IOException {
        if (address instanceof InetSocketAddress a) {
            ServerSocketChannel s = ServerSocketChannel.open();
            s.bind(new InetSocketAddress(a.getHostString(), a.getPort()), 1);
            return s;
        }
        Path p = ((UnixDomainSocketAddress) address).getPath();
        if (Files.isDirectory(p)) throw new IOException(p + " is a directory");
        Files.deleteIfExists(p);
        ServerSocketChannel s = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        s.bind(address, 1);
        return s;
    }

    @Override
    public String toString() {
        return text;
    }
}
