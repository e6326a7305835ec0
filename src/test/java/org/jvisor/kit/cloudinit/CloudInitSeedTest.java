package org.jvisor.kit.cloudinit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The seed volume as the host's FAT tools read it (fsck.vfat, mtools, blkid), and the user-data it carries. */
class CloudInitSeedTest {
    @TempDir Path dir;

    static String exec(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        p.getInputStream().transferTo(out);
        int rc = p.waitFor();
        String s = out.toString(StandardCharsets.UTF_8);
        assertEquals(0, rc, String.join(" ", cmd) + ":\n" + s);
        return s;
    }

    @Test
    void hostToolsReadEveryFileBackExactly() throws Exception {
        byte[] big = new byte[300_000];
        new Random(7).nextBytes(big);
        byte[] several = "x".repeat(5000).getBytes(StandardCharsets.US_ASCII);
        Path img = dir.resolve("seed.img");
        Files.write(img, new FatImage("CIDATA").add("meta-data", new byte[0]).add("user-data", several)
                .add("network-config", big).add("README", "hi\n".getBytes(StandardCharsets.US_ASCII)).toBytes());
        exec("fsck.vfat", "-n", img.toString());
        String dirList = exec("mdir", "-i", img.toString(), "::");
        for (String n : List.of("meta-data", "user-data", "network-config", "README")) assertTrue(dirList.contains(n), dirList);
        assertTrue(exec("mlabel", "-i", img.toString(), "-s", "::").contains("CIDATA"));
        assertTrue(exec("blkid", "-o", "export", img.toString()).contains("LABEL=CIDATA"));
        for (var f : List.of(new Object[] {"meta-data", new byte[0]}, new Object[] {"user-data", several}, new Object[] {"network-config", big})) {
            Path out = dir.resolve("out-" + f[0]);
            exec("mcopy", "-i", img.toString(), "::" + f[0], out.toString());
            assertArrayEquals((byte[]) f[1], Files.readAllBytes(out), (String) f[0]);
        }
    }

    @Test
    void manySmallClustersStayFat12AndCheckClean() throws Exception {
        Path img = dir.resolve("big.img");
        Files.write(img, new FatImage("CIDATA").add("user-data", new byte[3 << 20]).toBytes());
        exec("fsck.vfat", "-n", img.toString());
        assertTrue(exec("blkid", "-o", "export", img.toString()).contains("TYPE=vfat"));
    }

    @Test
    void passwordHashIsStandardSha512Crypt() throws Exception {
        String h = CloudInitSeed.hashPassword("s3cret pw", "abcdefgh12345678");
        assertEquals(exec("openssl", "passwd", "-6", "-salt", "abcdefgh12345678", "s3cret pw").strip(), h);
        String ud = CloudInitSeed.userData("vm1", List.of("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAbCdEfGhIjKlMnOp k@h"), "s3cret pw");
        assertTrue(ud.startsWith("#cloud-config\nhostname: vm1\n"), ud);
        assertTrue(ud.contains("passwd: \"$6$") && !ud.contains("s3cret"), ud);
        assertTrue(ud.contains("- \"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAbCdEfGhIjKlMnOp k@h\""), ud);
    }

    @Test
    void badKeysAndUserDataAreRefusedByName() {
        assertThrows(CloudInitSeed.SeedException.class, () -> CloudInitSeed.checkSshKey("-----BEGIN OPENSSH PRIVATE KEY-----"));
        assertThrows(CloudInitSeed.SeedException.class, () -> CloudInitSeed.checkSshKey("ssh-ed25519"));
        assertThrows(CloudInitSeed.SeedException.class, () -> CloudInitSeed.checkUserData("hostname: x\n".getBytes()));
        assertThrows(IllegalArgumentException.class, () -> new FatImage("cidata lower"));
        assertThrows(IllegalArgumentException.class, () -> new FatImage("CIDATA").add("../x", new byte[1]));
    }

    @Test
    void instanceIdFollowsTheContent() throws Exception {
        byte[] a = CloudInitSeed.build("#cloud-config\n".getBytes(), "h"), b = CloudInitSeed.build("#cloud-config\n#2\n".getBytes(), "h");
        Path pa = dir.resolve("a.img"), pb = dir.resolve("b.img");
        Files.write(pa, a);
        Files.write(pb, b);
        exec("mcopy", "-i", pa.toString(), "::meta-data", dir.resolve("ma").toString());
        exec("mcopy", "-i", pb.toString(), "::meta-data", dir.resolve("mb").toString());
        String ma = Files.readString(dir.resolve("ma")), mb = Files.readString(dir.resolve("mb"));
        assertTrue(ma.startsWith("instance-id: jvisor-") && ma.contains("local-hostname: h"), ma);
        assertNotEquals(ma, mb);
        assertArrayEquals(a, CloudInitSeed.build("#cloud-config\n".getBytes(), "h"));
        // From options the password hash is salted afresh each time, yet the instance stays the same.
        Path o1 = dir.resolve("o1.img"), o2 = dir.resolve("o2.img");
        Files.write(o1, CloudInitSeed.fromOptions("h", List.of(), "pw"));
        Files.write(o2, CloudInitSeed.fromOptions("h", List.of(), "pw"));
        exec("mcopy", "-i", o1.toString(), "::meta-data", dir.resolve("m1").toString());
        exec("mcopy", "-i", o2.toString(), "::meta-data", dir.resolve("m2").toString());
        assertEquals(Files.readString(dir.resolve("m1")), Files.readString(dir.resolve("m2")));
    }
}
