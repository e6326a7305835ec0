package org.jvisor.daemon;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;

/**
 * The daemon's TLS certificate: a PKCS#12 key store given with --tls-cert, or one the daemon makes
 * on first need with the JDK's keytool (a self-signed EC key for localhost, 127.0.0.1 and this
 * host's name, ten years) in {@code STATE/tls.p12}, its password in {@code STATE/tls.password}
 * (0600). The CLI on the same host trusts that certificate through the same files.
 */
public final class Tls {
    public static final String STORE = "tls.p12", PASSWORD = "tls.password";

    /** A key store and its password. */
    public record KeyStoreFile(Path path, String password) {}

    private Tls() {}

    static KeyStoreFile generated(Path stateDir) throws IOException {
        Path store = stateDir.resolve(STORE), pw = stateDir.resolve(PASSWORD);
        if (Files.isRegularFile(store) && Files.isRegularFile(pw)) return new KeyStoreFile(store, Files.readString(pw).strip());
        String password = Tokens.newSecret();
        Files.deleteIfExists(pw);
        Files.createFile(pw, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        Files.writeString(pw, password + "\n");
        String host;
        try {
            host = java.net.InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            host = "localhost";
        }
        Path keytool = Path.of(System.getProperty("java.home"), "bin", "keytool");
        Path tmp = stateDir.resolve(STORE + ".tmp");
        Files.deleteIfExists(tmp);
        List<String> cmd = List.of(keytool.toString(), "-genkeypair", "-alias", "jvisord", "-keyalg", "EC", "-groupname", "secp256r1", "-validity", "3650",
                "-dname", "CN=jvisord", "-ext", "SAN=dns:localhost,ip:127.0.0.1,dns:" + host, "-keystore", tmp.toString(), "-storetype", "PKCS12",
                "-storepass", password);
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        try {
            if (p.waitFor() != 0) throw new IOException("keytool could not make the daemon's certificate: " + out.strip());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while making the certificate");
        }
        Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rw-------"));
        Files.move(tmp, store, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        return new KeyStoreFile(store, password);
    }

    /** An SSL context that trusts the certificate in the given key store (the CLI's side). */
    public static javax.net.ssl.SSLContext trusting(Path store, String password) throws IOException {
        try {
            java.security.KeyStore ks = java.security.KeyStore.getInstance("PKCS12");
            try (var in = Files.newInputStream(store)) {
                ks.load(in, password.toCharArray());
            }
            javax.net.ssl.TrustManagerFactory tmf = javax.net.ssl.TrustManagerFactory.getInstance(javax.net.ssl.TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(ks);
            javax.net.ssl.SSLContext ctx = javax.net.ssl.SSLContext.getInstance("TLS");
            ctx.init(null, tmf.getTrustManagers(), null);
            return ctx;
        } catch (java.security.GeneralSecurityException e) {
            throw new IOException("cannot read the certificate in " + store + ": " + e.getMessage(), e);
        }
    }
}
