package org.jvisor.daemon;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

/**
 * Serves the {@link DaemonApi} over HTTP with Jetty, on loopback only for now: tokens travel in
 * the clear over plain HTTP, so an address beyond loopback is refused until TLS is offered.
 */
public final class DaemonServer implements AutoCloseable {
    static final int MAX_BODY = 1 << 20;
    private final Server server;
    private final int port;

    private DaemonServer(Server server, int port) {
        this.server = server;
        this.port = port;
    }

    /** Parses HOST:PORT; without TLS, refuses a host that is not a loopback address. */
    static InetSocketAddress listenAddress(String listen) throws IOException {
        return listenAddress(listen, false);
    }

    static InetSocketAddress listenAddress(String listen, boolean tls) throws IOException {
        int colon = listen.lastIndexOf(':');
        if (colon <= 0) throw new IOException("--listen " + listen + ": give HOST:PORT, e.g. 127.0.0.1:8006");
        String host = listen.substring(0, colon).replaceAll("^\\[|]$", "");
        int port;
        try {
            port = Integer.parseInt(listen.substring(colon + 1));
        } catch (NumberFormatException e) {
            throw new IOException("--listen " + listen + ": the port is not a number");
        }
        if (port < 0 || port > 65535) throw new IOException("--listen " + listen + ": the port must be 0-65535");
        InetAddress a = InetAddress.getByName(host);
        if (!a.isLoopbackAddress() && !tls) {
            throw new IOException("--listen " + listen + ": beyond loopback the API needs TLS (tokens would cross the network in the clear): give --tls");
        }
        return new InetSocketAddress(a, port);
    }

    public static DaemonServer start(DaemonApi api, String listen) throws IOException {
        return start(api, listen, null);
    }

    /** Serves on {@code listen}; with a key store, over TLS (https). */
    public static DaemonServer start(DaemonApi api, String listen, Tls.KeyStoreFile tls) throws IOException {
        InetSocketAddress addr = listenAddress(listen, tls != null);
        QueuedThreadPool pool = new QueuedThreadPool(32, 4);
        pool.setName("jvisord-http");
        pool.setVirtualThreadsExecutor(java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor()); // handlers block on VMMs
        Server server = new Server(pool);
        ServerConnector c;
        if (tls != null) {
            org.eclipse.jetty.util.ssl.SslContextFactory.Server ssl = new org.eclipse.jetty.util.ssl.SslContextFactory.Server();
            ssl.setKeyStorePath(tls.path().toString());
            ssl.setKeyStorePassword(tls.password());
            ssl.setKeyStoreType("PKCS12");
            c = new ServerConnector(server, ssl);
        } else {
            c = new ServerConnector(server);
        }
        c.setHost(addr.getAddress().getHostAddress());
        c.setPort(addr.getPort());
        server.addConnector(c);
        org.eclipse.jetty.websocket.server.WebSocketUpgradeHandler ws = org.eclipse.jetty.websocket.server.WebSocketUpgradeHandler.from(server, container -> {
            container.setIdleTimeout(java.time.Duration.ofHours(12)); // a console may sit idle
            container.addMapping(new org.eclipse.jetty.http.pathmap.UriTemplatePathSpec(DaemonApi.PREFIX + "/vms/{name}/console/ws"), (rq, rs, cb) -> {
                String path = Request.getPathInContext(rq);
                String vm = java.net.URLDecoder.decode(path.substring((DaemonApi.PREFIX + "/vms/").length(), path.length() - "/console/ws".length()),
                        StandardCharsets.UTF_8);
                Object answer = api.consoleSocket(rq.getHeaders().get(HttpHeader.AUTHORIZATION), vm);
                if (answer instanceof DaemonApi.Reply r) {
                    rs.setStatus(r.status());
                    rs.getHeaders().put(HttpHeader.CONTENT_TYPE, r.contentType());
                    Content.Sink.write(rs, true, r.body(), cb);
                    return null;
                }
                return answer;
            });
        });
        server.setHandler(ws);
        ws.setHandler(new Handler.Abstract() {
            @Override
            public boolean handle(Request request, Response response, Callback callback) throws Exception {
                String path = Request.getPathInContext(request);
                String auth = request.getHeaders().get(HttpHeader.AUTHORIZATION);
                DaemonApi.Reply reply;
                if (request.getLength() > MAX_BODY) {
                    reply = DaemonApi.error(413, "the request body is larger than " + MAX_BODY + " bytes");
                } else if (path.equals("/metrics") && request.getMethod().equals("GET")) {
                    reply = api.metrics(auth);
                } else {
                    String body = Content.Source.asString(request, StandardCharsets.UTF_8);
                    reply = body.length() > MAX_BODY ? DaemonApi.error(413, "the request body is larger than " + MAX_BODY + " bytes")
                            : api.handle(request.getMethod(), path, auth, body);
                }
                response.setStatus(reply.status());
                if (reply.status() == 401) response.getHeaders().put(HttpHeader.WWW_AUTHENTICATE, "Bearer");
                if (reply.body() == null) {
                    callback.succeeded();
                } else {
                    response.getHeaders().put(HttpHeader.CONTENT_TYPE, reply.contentType());
                    Content.Sink.write(response, true, reply.body(), callback);
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
            throw new IOException("cannot listen on " + listen + ": " + e.getMessage(), e);
        }
        return new DaemonServer(server, c.getLocalPort());
    }

    public int port() {
        return port;
    }

    @Override
    public void close() {
        try {
            server.stop();
        } catch (Exception e) {
            // stopping anyway
        }
    }
}
