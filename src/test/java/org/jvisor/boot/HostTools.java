package org.jvisor.boot;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** The host's e2fsprogs, sfdisk, sgdisk and qemu-img, which build the images the reader is checked against. */
final class HostTools {
    private HostTools() {}

    static String run(String... cmd) throws IOException, InterruptedException {
        return feed(null, cmd);
    }

    static String feed(String stdin, String... cmd) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(List.of(cmd)).redirectErrorStream(true);
        pb.environment().put("PATH", "/usr/sbin:/sbin:" + System.getenv("PATH"));
        Process p = pb.start();
        if (stdin != null) p.getOutputStream().write(stdin.getBytes(StandardCharsets.UTF_8));
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (p.waitFor() != 0) throw new IOException(String.join(" ", cmd) + " failed: " + out);
        return out;
    }

    /** mkfs of type with extra options over dir's contents into a new image of size bytes. */
    static Path mkfs(Path image, String type, long size, Path dir, String... options) throws IOException, InterruptedException {
        Files.deleteIfExists(image);
        String[] cmd = new String[8 + options.length];
        cmd[0] = "mke2fs";
        cmd[1] = "-q";
        cmd[2] = "-F";
        cmd[3] = "-t";
        cmd[4] = type;
        cmd[5] = "-d";
        cmd[6] = dir.toString();
        System.arraycopy(options, 0, cmd, 7, options.length);
        cmd[cmd.length - 1] = image.toString();
        String[] withSize = java.util.Arrays.copyOf(cmd, cmd.length + 1);
        withSize[cmd.length] = (size / 1024) + "k";
        run(withSize);
        return image;
    }

    /** A raw disk of size bytes partitioned by an sfdisk script, fs written at partition number's start. */
    static Path partitioned(Path disk, long size, String sfdiskScript, int number, Path fs) throws IOException, InterruptedException {
        Files.deleteIfExists(disk);
        run("truncate", "-s", Long.toString(size), disk.toString());
        feed(sfdiskScript, "sfdisk", "-q", disk.toString());
        String start = run("sfdisk", "--json", disk.toString());
        long offset = startOf(start, disk + (disk.toString().matches(".*\\d$") ? "p" : "") + number);
        run("dd", "if=" + fs, "of=" + disk, "bs=512", "seek=" + offset, "conv=notrunc,sparse", "status=none");
        return disk;
    }

    private static long startOf(String json, String node) throws IOException {
        int at = json.indexOf("\"" + node + "\"");
        if (at < 0) throw new IOException("no " + node + " in " + json);
        int s = json.indexOf("\"start\":", at) + 8;
        int e = s;
        while (!Character.isDigit(json.charAt(e))) e++;
        s = e;
        while (Character.isDigit(json.charAt(e))) e++;
        return Long.parseLong(json.substring(s, e));
    }
}
