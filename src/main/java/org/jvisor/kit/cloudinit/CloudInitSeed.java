package org.jvisor.kit.cloudinit;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.List;
import org.apache.commons.codec.digest.Sha2Crypt;

/**
 * A cloud-init NoCloud seed: a FAT volume labelled CIDATA holding meta-data (instance id, host
 * name) and user-data, which cloud-init finds by its label on first boot (as cloud-localds makes
 * it for QEMU). The user-data is either the user's own file, passed through, or made from a host
 * name, SSH keys and a password for the default user, stored only as a SHA-512 crypt hash.
 */
public final class CloudInitSeed {
    /** The user made from options, as Debian's cloud images name theirs; in the sudo group, no password asked. */
    public static final String DEFAULT_USER = "debian";

    private CloudInitSeed() {}

    /** Bad seed input, with a message that names it. */
    public static final class SeedException extends Exception {
        public SeedException(String message) {
            super(message);
        }
    }

    /** Checks that the user's own user-data is something cloud-init acts on. */
    public static void checkUserData(byte[] userData) throws SeedException {
        String head = new String(userData, 0, Math.min(userData.length, 256), StandardCharsets.UTF_8).stripLeading();
        if (!(head.startsWith("#cloud-config") || head.startsWith("#!") || head.startsWith("Content-Type: multipart/")
                || head.startsWith("MIME-Version:") || head.startsWith("#include") || head.startsWith("## template: jinja"))) {
            throw new SeedException("user-data must start with #cloud-config, a #! script line or a MIME multipart header");
        }
    }

    /** Checks one OpenSSH public key line: TYPE BASE64 [COMMENT]. */
    public static String checkSshKey(String line) throws SeedException {
        String key = line.strip();
        String[] f = key.split("\\s+", 3);
        if (f.length < 2 || !f[0].matches("(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\\.com)")
                || !f[1].matches("[A-Za-z0-9+/]{16,}={0,2}") || key.contains("\n")) {
            throw new SeedException("not an OpenSSH public key (expected e.g. 'ssh-ed25519 AAAA... comment'): "
                    + (key.length() > 40 ? key.substring(0, 40) + "..." : key));
        }
        return key;
    }

    /** SHA-512 crypt ($6$), what /etc/shadow and cloud-init's passwd take. */
    public static String hashPassword(String password, String salt) {
        return Sha2Crypt.sha512Crypt(password.getBytes(StandardCharsets.UTF_8), "$6$" + salt);
    }

    static String randomSalt() {
        String alphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        SecureRandom r = new SecureRandom();
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < 16; i++) s.append(alphabet.charAt(r.nextInt(alphabet.length())));
        return s.toString();
    }

    /** user-data for the default user with these keys and (when not null) this password. */
    public static String userData(String hostname, List<String> sshKeys, String password) {
        StringBuilder y = new StringBuilder("#cloud-config\n");
        if (hostname != null) y.append("hostname: ").append(hostname).append("\n");
        y.append("users:\n  - name: ").append(DEFAULT_USER).append("\n")
                .append("    groups: [sudo]\n    shell: /bin/bash\n    sudo: \"ALL=(ALL) NOPASSWD:ALL\"\n");
        if (password != null) {
            y.append("    lock_passwd: false\n    passwd: \"").append(hashPassword(password, randomSalt())).append("\"\n");
        }
        if (!sshKeys.isEmpty()) {
            y.append("    ssh_authorized_keys:\n");
            for (String k : sshKeys) y.append("      - \"").append(k.replace("\"", "")).append("\"\n");
        }
        return y.toString();
    }

    /**
     * The seed volume for the user's own user-data. The instance id follows the content, so
     * changed data makes cloud-init run its per-instance modules again, and the same data does not.
     */
    public static byte[] build(byte[] userData, String hostname) {
        return build(userData, userData, hostname);
    }

    /**
     * The seed for user-data made from options: its password hash has a random salt, so the
     * instance id is taken from the same options with a fixed salt instead. Otherwise every start
     * would look like a new instance to cloud-init, which would then make new SSH host keys.
     */
    public static byte[] fromOptions(String hostname, List<String> sshKeys, String password) {
        byte[] userData = userData(hostname, sshKeys, password).getBytes(StandardCharsets.UTF_8);
        String identity = hostname + "\n" + String.join("\n", sshKeys) + "\n"
                + (password == null ? "" : hashPassword(password, "jvisor.instance"));
        return build(userData, identity.getBytes(StandardCharsets.UTF_8), hostname);
    }

    private static byte[] build(byte[] userData, byte[] identity, String hostname) {
        String localHostname = hostname != null ? hostname : "debian";
        String id = "jvisor-" + sha256(identity, localHostname).substring(0, 16);
        String metaData = "instance-id: " + id + "\nlocal-hostname: " + localHostname + "\n";
        return new FatImage("CIDATA")
                .add("meta-data", metaData.getBytes(StandardCharsets.UTF_8))
                .add("user-data", userData)
                .toBytes();
    }

    private static String sha256(byte[] data, String extra) {
        try {
            MessageDigest d = MessageDigest.getInstance("SHA-256");
            d.update(data);
            d.update(extra.getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(d.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
