package org.jvisor.cli;

import java.util.concurrent.Callable;
import picocli.CommandLine.Command;

/** {@code jvisor run}: boots a guest in the foreground. The x86 PC machine it needs is being built. */
@Command(name = "run", description = "Boot a VM with the console on this terminal.")
final class RunCommand implements Callable<Integer> {
    @Override
    public Integer call() {
        System.err.println("jvisor: run: the PC machine (boot loader, devices) is not built yet; "
                + "the software CPU is, see ./test.sh and bench/cpu-mips.sh");
        return 2;
    }
}
