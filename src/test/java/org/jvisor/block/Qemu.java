package org.jvisor.block;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;

/** Runs qemu-img / qemu-io, the independent judges of image files. */
final class Qemu {
    record Result(int exit, String output) {}

    private Qemu() {}

    static Result run(String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(List.of(cmd)).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        return new Result(p.waitFor(), out);
    }

    static String ok(String... cmd) throws IOException, InterruptedException {
        Result r = run(cmd);
        if (r.exit != 0) throw new AssertionError(String.join(" ", cmd) + " failed (" + r.exit + "):\n" + r.output);
        return r.output;
    }
}
