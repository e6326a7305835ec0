package org.jvisor.cli;

import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code jvisor} command line. */
@Command(name = "jvisor", mixinStandardHelpOptions = true, version = "jvisor 0.1.0",
        description = "A hypervisor platform in Java: runs x86-64 virtual machines on its own software CPU.",
        subcommands = {RunCommand.class, CtlCommand.class, ImageCommand.class, KitCommand.class, DaemonCommand.class, VmCommand.class, GroupCommand.class, TokenCommand.class,
                StorageCommands.Pool.class, StorageCommands.Volume.class, StorageCommands.Task.class})
public final class Main implements Callable<Integer> {
    @Override
    public Integer call() {
        new CommandLine(this).usage(System.out);
        return 0;
    }

    public static void main(String[] args) {
        CommandLine cl = new CommandLine(new Main());
        cl.setExecutionExceptionHandler((ex, cmd, parsed) -> {
            cmd.getErr().println("jvisor: " + ex.getMessage());
            return 1;
        });
        System.exit(cl.execute(args));
    }
}
