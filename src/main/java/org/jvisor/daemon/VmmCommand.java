package org.jvisor.daemon;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The command line that starts a VMM: this JVM's own java and classpath running
 * {@code org.jvisor.cli.Main run}, with the JVM flags jvisor's launcher uses (and its AOT cache,
 * when the daemon was started from it), in a session of its own so that a Ctrl-C meant for a
 * daemon in the foreground does not reach its VMs.
 */
final class VmmCommand {
    private VmmCommand() {}

    static List<String> prefix() {
        List<String> cmd = new ArrayList<>();
        if (Files.isExecutable(Path.of("/usr/bin/setsid"))) cmd.add("/usr/bin/setsid");
        cmd.add(ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        cmd.add("--enable-native-access=ALL-UNNAMED");
        cmd.add("-XX:+UseParallelGC");
        for (String a : java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (a.startsWith("-XX:AOTCache=")) cmd.add(a);
        }
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), "org.jvisor.cli.Main", "run"));
        return cmd;
    }
}
