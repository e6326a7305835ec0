package org.jvisor.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.jvisor.kit.cloudinit.CloudInitSeed;
import org.jvisor.kit.cloudinit.CloudInitSeed.SeedException;
import picocli.CommandLine.Option;

/**
 * jvisor run's cloud-init options: a user-data file of the user's, or a host name, SSH keys and a
 * password made into user-data for the default user. Either way the seed becomes a read-only
 * disk after the user's own, in a temporary file removed when jvisor exits.
 */
final class CloudInitOptions {
    /** A host name as RFC 1123 allows one label of it. */
    static final String HOSTNAME = "[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?";

    @Option(names = "--cloud-init", paramLabel = "USER-DATA", description = "a cloud-init user-data file for the guest (NoCloud seed disk)")
    Path userData;
    @Option(names = "--hostname", description = "the guest's host name, by cloud-init") String hostname;
    @Option(names = "--ssh-key", paramLabel = "FILE", description = "an OpenSSH public key file for the default user 'debian' (repeatable)")
    List<Path> sshKeys = new ArrayList<>();
    @Option(names = "--password", description = "a password for the default user 'debian' (stored hashed on the seed disk)") String password;

    boolean given() {
        return userData != null || hostname != null || !sshKeys.isEmpty() || password != null;
    }

    /** Writes the seed disk and returns its path, or null when no option asked for one. */
    Path writeSeed() throws SeedException {
        if (!given()) return null;
        if (userData != null && (!sshKeys.isEmpty() || password != null)) {
            throw new SeedException("--ssh-key and --password make a user-data of their own: put them in " + userData
                    + " instead, or leave out --cloud-init");
        }
        if (hostname != null && !hostname.matches(HOSTNAME)) {
            throw new SeedException("--hostname '" + hostname + "' is not a valid host name (letters, digits, '-')");
        }
        byte[] seedImage;
        if (userData != null) {
            byte[] data = read(userData, "--cloud-init");
            CloudInitSeed.checkUserData(data);
            seedImage = CloudInitSeed.build(data, hostname);
        } else {
            List<String> keys = new ArrayList<>();
            for (Path k : sshKeys) {
                for (String line : new String(read(k, "--ssh-key"), java.nio.charset.StandardCharsets.UTF_8).lines().toList()) {
                    if (!line.isBlank() && !line.startsWith("#")) keys.add(CloudInitSeed.checkSshKey(line));
                }
                if (keys.isEmpty()) throw new SeedException("--ssh-key " + k + ": no key in the file");
            }
            if (password != null && password.isEmpty()) throw new SeedException("--password must not be empty");
            seedImage = CloudInitSeed.fromOptions(hostname, keys, password);
        }
        try {
            Path seed = Files.createTempFile("jvisor-cidata-", ".img");
            seed.toFile().deleteOnExit();
            Files.write(seed, seedImage);
            return seed;
        } catch (IOException e) {
            throw new SeedException("cannot write the cloud-init seed disk: " + e.getMessage());
        }
    }

    private static byte[] read(Path p, String option) throws SeedException {
        try {
            if (!Files.isRegularFile(p)) throw new SeedException(option + " " + p + ": no such file");
            if (Files.size(p) > (1 << 20)) throw new SeedException(option + " " + p + ": larger than 1 MiB");
            return Files.readAllBytes(p);
        } catch (IOException e) {
            throw new SeedException(option + " " + p + ": " + e.getMessage());
        }
    }
}
