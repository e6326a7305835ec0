package org.jvisor.daemon;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.sql.SQLException;
import java.util.Base64;
import java.util.HexFormat;
import java.util.Optional;

/**
 * API tokens: 32 random bytes, shown once when made; the database keeps only their SHA-256 (a
 * token is random and long, so a plain hash is enough: there is nothing to guess). On first start
 * the daemon makes an admin token and writes it to {@code STATE/admin-token}, mode 0600, for the
 * CLI on the same host; it makes a new one whenever that file is missing.
 */
public final class Tokens {
    public static final String ADMIN_TOKEN_FILE = "admin-token", ADMIN_NAME = "admin";
    private static final SecureRandom RANDOM = new SecureRandom();
    private final Store store;

    public Tokens(Store store) {
        this.store = store;
    }

    public static String newSecret() {
        byte[] b = new byte[32];
        RANDOM.nextBytes(b);
        return "jv_" + Base64.getUrlEncoder().withoutPadding().encodeToString(b);
    }

    static String hash(String token) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(token.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK has no SHA-256", e);
        }
    }

    /** The role of a presented token, or empty when it is unknown. */
    public Optional<Role> roleOf(String token) throws SQLException {
        if (token == null || token.length() > 200) return Optional.empty();
        return store.tokenByHash(hash(token)).map(t -> Role.parse(t.role()));
    }

    /** Makes a token; null when the name is taken. The secret is returned here and never again. */
    public String create(String name, Role role) throws SQLException {
        String secret = newSecret();
        return store.insertToken(name, role.wireName(), hash(secret)) ? secret : null;
    }

    /** Makes sure {@code stateDir/admin-token} holds a working admin token. */
    public void ensureAdminToken(Path stateDir) throws IOException, SQLException {
        Path f = stateDir.resolve(ADMIN_TOKEN_FILE);
        if (Files.isRegularFile(f)) {
            String t = Files.readString(f).strip();
            if (roleOf(t).orElse(null) == Role.ADMIN) return;
        }
        String secret = newSecret();
        Path tmp = stateDir.resolve(ADMIN_TOKEN_FILE + ".tmp");
        Files.deleteIfExists(tmp);
        Files.createFile(tmp, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        Files.writeString(tmp, secret + "\n", StandardOpenOption.WRITE);
        store.replaceToken(ADMIN_NAME, Role.ADMIN.wireName(), hash(secret));
        Files.move(tmp, f, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    }
}
