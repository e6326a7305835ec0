package org.jvisor.api;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.handler.GracefulHandler;
import org.eclipse.jetty.unixdomain.server.UnixDomainServerConnector;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

/**
 * Serves a {@link VmmApi} on a Unix socket with Jetty. The socket is made for its owner only
 * (0600), as Firecracker's is: whoever can connect controls the VM. A stale socket file left by a
 * VMM that died is replaced; one a live VMM listens on is an error.
 */
public final class ApiServer implements AutoCloseable {
    /** Bodies beyond this are refused: no request of this API needs more. */
    static final int MAX_BODY = 64 << 10;

    private final Server server;
    private final Path socket;

    private ApiServer(Server server, Path socket) {
        this.server = server;
        this.socket = socket;
    }

    public static ApiServer start(VmmApi api, Path socket) throws IOException {
        Path abs = socket.toAbsolutePath();
        if (Files.exists(abs)) {
            if (listening(abs)) throw new IOException(socket + " is in use by a running VMM: choose another --api-socket path");
            if (!Files.isDirectory(abs)) Files.delete(abs); // a socket left behind by a VMM that did not clean up
            else throw new IOException(socket + " is a directory");
        }
        if (abs.getParent() != null && !Files.isDirectory(abs.getParent())) {
            throw new IOException("no directory " + abs.getParent() + " for the API socket");
        }
        QueuedThreadPool pool = new QueuedThreadPool(8, 2);
        pool.setName("vmm-api");
        pool.setDaemon(true);
        Server server = new Server(pool);
        UnixDomainServerConnector connector = new UnixDomainServerConnector(server, 1, 1);
        connector.setUnixDomainPath(abs);
        server.addConnector(connector);
        // Graceful: the request that ends the VM (stop, a migration) still gets its answer when the
        // VMM closes the server right after.
        GracefulHandler graceful = new GracefulHandler();
        server.setHandler(graceful);
        server.setStopTimeout(3000);
        graceful.setHandler(new Handler.Abstract() {
            @Override
            public boolean handle(Request request, Response response, Callback callback) throws Exception {
                String body;
                long declared = request.getLength();
                VmmApi.Reply reply;
                if (declared > MAX_BODY) {
                    reply = VmmApi.error(413, "the request body is larger than " + MAX_BODY + " bytes");
                } else {
                    body = Content.Source.asString(request, StandardCharsets.UTF_8);
                    reply = body.length() > MAX_BODY ? VmmApi.error(413, "the request body is larger than " + MAX_BODY + " bytes")
                            : api.handle(request.getMethod(), Request.getPathInContext(request), body);
                }
                response.setStatus(reply.status());
                if (reply.json() == null) {
                    callback.succeeded();
                } else {
                    response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
                    Content.Sink.write(response, true, reply.json(), callback);
                }
                return true;
            }
        });
        try {
            server.start();
        } catch (Exception e) {
            try {
                server.stop();
            } catch (Exception ignored) {
                // it did not start either
            }
            throw new IOException("cannot serve the API on " + socket + ": " + e.getMessage(), e);
        }
        try {
            Files.setPosixFilePermissions(abs, PosixFilePermissions.fromString("rw-------"));
        } catch (UnsupportedOperationException | IOException e) {
            // the directory's own permissions still guard it
        }
        return new ApiServer(server, abs);
    }

    /** Whether something accepts connections on the socket file. */
    static boolean listening(Path socket) {
        try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            ch.connect(UnixDomainSocketAddress.of(socket));
            ch.write(ByteBuffer.allocate(0));
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    public Path socket() {
        return socket;
    }

    @Override
    public void close() {
        try {
            server.stop();
        } catch (Exception e) {
            // stopping; nothing more to do
        }
        try {
            Files.deleteIfExists(socket);
        } catch (IOException e) {
            // a stale socket is replaced by the next VMM that uses the path
        }
    }
}
