package org.jvisor.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.ArrayList;
import java.util.List;
import org.jvisor.block.BlockException;
import org.jvisor.block.Images;
import org.jvisor.boot.BootEntry;
import org.jvisor.kit.GuestKit;
import org.jvisor.loader.KernelImageException;
import org.jvisor.sys.Terminal;
import org.jvisor.api.ApiServer;
import org.jvisor.api.VmmApi;
import org.jvisor.vmm.Machine;
import org.jvisor.vmm.MachineBuilder;
import org.jvisor.vmm.MachineConfig;
import org.jvisor.vmm.Snapshot;
import org.jvisor.state.StateFileException;
import org.jvisor.state.StateReader;
import org.jvisor.vmm.Vm;
import org.jvisor.vmm.MachineExit;
import org.jvisor.kit.cloudinit.CloudInitSeed;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code jvisor run}: boots a VM in the foreground with its serial console on this terminal.
 * Exit codes: 0 after a guest poweroff (or Ctrl-A x, or a reboot with --no-reboot), 1 for a
 * guest panic or triple fault (with a one-line reason on stderr), 2 for bad input.
 */
@Command(name = "run", description = "Boot a VM with the console on this terminal (Ctrl-A x quits, Ctrl-A h helps).")
final class RunCommand implements Callable<Integer> {
    static final String DEFAULT_CMDLINE = "console=ttyS0 panic=-1";
    static final long MIN_MEMORY = 64L << 20, MAX_MEMORY = 3L << 30;

    @Option(names = "--kernel", description = "bzImage or vmlinux (default: the guest kit's Debian kernel)") Path kernel;
    @Option(names = "--initrd", description = "initramfs (default: the guest kit's)") Path initrd;
    @Option(names = "--cmdline", description = "kernel command line (default: " + DEFAULT_CMDLINE + ")") String cmdline;
    @Option(names = "--memory", description = "guest RAM, e.g. 512M (default), 1G") String memory;
    @Option(names = "--cpus", description = "vCPUs (1 for now)") int cpus = 1;
    @Option(names = "--disk", paramLabel = "PATH[,readonly=on][,serial=S][,format=F][,iops=N][,bps=SIZE]",
            description = "a virtio-blk disk (repeatable; the first is /dev/vda); raw, qcow2, vmdk or vhd") List<String> disks = new ArrayList<>();
    @Option(names = "--net", paramLabel = "user[,hostfwd=tcp:[HOST]:PORT-[GUEST]:PORT][,dns=IP[:PORT]][,restrict=on] | tap[=NAME][,host-ip=CIDR], [,mac=M][,bps|rx-bps|tx-bps=SIZE]",
            description = "a virtio-net NIC (repeatable; without --net: user; none: no NIC): user is NAT without root (guest 10.0.2.15 by DHCP, gateway 10.0.2.2 = the host's loopback, DNS 10.0.2.3); tap an existing TAP, or one jvisor creates and gives a host address")
    List<String> nets = new ArrayList<>();
    @Option(names = "--rng", description = "a virtio-rng device fed from the host's entropy") boolean rng;
    @Option(names = "--balloon", description = "a virtio-balloon device (inflated pages go back to the host)") boolean balloon;
    @Option(names = "--no-reboot", description = "exit (code 0) when the guest reboots instead of restarting it") boolean noReboot;
    @Mixin CloudInitOptions cloudInit = new CloudInitOptions();

    @Option(names = "--restore", paramLabel = "FILE",
            description = "continue the VM saved in this state file (jvisor ctl SOCKET snapshot FILE) instead of booting one") Path restore;
    @Option(names = "--incoming", paramLabel = "URI",
            description = "wait on tcp:HOST:PORT or unix:PATH for a VM live-migrated from another jvisor (jvisor ctl SOCKET migrate URI), then run it") String incoming;
    @Option(names = "--api-socket", paramLabel = "PATH",
            description = "serve the control API (HTTP/JSON, see jvisor ctl) on this Unix socket") Path apiSocket;
    @Option(names = "--exit-file", paramLabel = "PATH",
            description = "write {\"exitCode\": N} here when the VMM ends (a supervisor tells a guest poweroff from a VMM that was killed)") Path exitFile;

    private volatile Vm vm;
    private Thread input; // guarded by this
    private volatile boolean quit;

    private static int bad(String msg) {
        System.err.println("jvisor run: " + msg);
        return 2;
    }

    @Override
    public Integer call() {
        int rc = runVm();
        if (exitFile != null) {
            try {
                Path tmp = exitFile.resolveSibling(exitFile.getFileName() + ".tmp");
                Files.writeString(tmp, "{\"exitCode\": " + rc + "}\n");
                Files.move(tmp, exitFile, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException e) {
                System.err.println("jvisor run: cannot write --exit-file " + exitFile + ": " + e.getMessage());
            }
        }
        return rc;
    }

    private int runVm() {
        if (restore != null && incoming != null) return bad("--restore and --incoming both say where the VM comes from: give one");
        if (restore != null) return restoreAndRun();
        if (incoming != null) return receiveAndRun();
        long ram;
        try {
            ram = Sizes.parse(memory == null ? "512M" : memory);
        } catch (IllegalArgumentException e) {
            return bad("--memory: " + e.getMessage());
        }
        if (ram < MIN_MEMORY) return bad("--memory " + memory + " is too small (at least 64M)");
        if (ram > MAX_MEMORY) return bad("--memory " + memory + " is too large (at most 3G for now)");
        if (cpus != 1) return bad("--cpus " + cpus + ": only 1 vCPU is supported for now");
        byte[] kernelBytes, initrdBytes;
        try {
            BootEntry fromDisk = null;
            if (kernel == null && !disks.isEmpty()) {
                DiskSpec first = DiskSpec.parse(disks.getFirst(), 0);
                fromDisk = DiskBootHook.find(first.path(), first.format(), System.err);
            }
            if (fromDisk != null) {
                kernelBytes = DiskBootHook.unpacked(fromDisk.kernel());
                initrdBytes = initrd != null ? readInput(initrd, "initrd") : fromDisk.initrd();
                if (cmdline == null) cmdline = DiskBootHook.cmdline(fromDisk);
            } else {
                if (kernel == null || initrd == null) {
                    GuestKit.Kit kit = GuestKit.ensure(System.err::println);
                    if (kernel == null) kernel = kit.vmlinux();
                    if (initrd == null && (kernel.equals(kit.vmlinux()) || kernel.equals(kit.kernel()))) initrd = kit.initramfs();
                }
                kernelBytes = readInput(kernel, "kernel");
                initrdBytes = initrd == null ? null : readInput(initrd, "initrd");
            }
        } catch (BadInput e) {
            return bad(e.getMessage());
        } catch (IOException e) {
            return bad("cannot prepare the guest kit: " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return 1;
        }
        List<DiskSpec> diskSpecs = new ArrayList<>();
        for (String d : disks) {
            try {
                diskSpecs.add(DiskSpec.parse(d, diskSpecs.size()));
            } catch (BadInput e) {
                return bad("--disk " + d + ": " + e.getMessage());
            }
        }
        try {
            Path seed = cloudInit.writeSeed();
            if (seed != null) diskSpecs.add(new DiskSpec(seed, "raw", true, "cidata", 0, 0));
        } catch (CloudInitSeed.SeedException e) {
            return bad(e.getMessage());
        }
        List<NetSpec> netSpecs = new ArrayList<>();
        if (nets.contains("none") && nets.size() > 1) return bad("--net none means no NIC: give it alone");
        for (String n : nets) {
            if (n.equals("none")) continue;
            try {
                netSpecs.add(NetSpec.parse(n, netSpecs.size()));
            } catch (BadInput e) {
                return bad("--net " + n + ": " + e.getMessage());
            }
        }
        if (nets.isEmpty()) {
            try {
                netSpecs.add(NetSpec.parse("user", 0)); // as QEMU does: a NAT'd NIC unless told otherwise
            } catch (BadInput e) {
                throw new IllegalStateException(e);
            }
        }
        String cl = cmdline != null ? cmdline : DEFAULT_CMDLINE;
        Terminal raw = openTerminal();
        final boolean escapes = raw != null;
        List<MachineConfig.Disk> diskConfigs = diskSpecs.stream()
                .map(d -> new MachineConfig.Disk(d.path().toAbsolutePath().toString(), d.format(), d.readOnly(), d.serial(), d.iops(), d.bps())).toList();
        List<MachineConfig.Nic> nicConfigs = netSpecs.stream().map(n -> new MachineConfig.Nic(n.tap(), macText(n.mac()), n.hostIp(), n.rxBps(), n.txBps(), n.user())).toList();
        MachineConfig config = new MachineConfig(ram, diskConfigs, nicConfigs, rng, balloon);
        final String cl2 = cl;
        final byte[] kernelImage = kernelBytes, initrdImage = initrdBytes;
        Vm.MachineFactory factory = console -> {
            Machine m = MachineBuilder.build(config, console);
            try {
                m.boot(kernelImage, initrdImage, cl2);
            } catch (KernelImageException | RuntimeException e) {
                m.close();
                if (e instanceof KernelImageException k) throw new Vm.BuildException(k.getMessage());
                throw (RuntimeException) e;
            }
            startInput(escapes);
            return m;
        };
        return serve(new Vm(config, factory, System.out, noReboot), raw);
    }

    /**
     * Started only once a machine exists: a rejected disk or kernel must not leave a reader
     * behind that keeps consuming the caller's stdin (a blocked read cannot be interrupted).
     */
    private synchronized void startInput(boolean escapes) {
        if (input == null) input = Thread.ofVirtual().start(() -> pumpInput(System.in, escapes));
    }

    /** The console in raw mode when stdin is a terminal (Ctrl-A escapes then work), else null. */
    private static Terminal openTerminal() {
        if (!Terminal.isTerminal(0)) return null;
        try {
            return new Terminal(0);
        } catch (IOException e) {
            return null; // not fatal: the console just stays line-buffered
        }
    }

    private static String macText(byte[] mac) {
        StringBuilder s = new StringBuilder();
        for (byte b : mac) s.append(s.isEmpty() ? "" : ":").append(String.format("%02x", b & 0xFF));
        return s.toString();
    }

    /** --restore: the machine comes from the state file, so the options that describe one are refused. */
    private Integer restoreAndRun() {
        if (kernel != null || initrd != null || cmdline != null || memory != null || !disks.isEmpty() || !nets.isEmpty() || rng || balloon
                || cloudInit.given()) {
            return bad("--restore takes the machine (memory, disks, NICs, kernel) from " + restore + ": leave out the options that describe one");
        }
        if (!Files.isRegularFile(restore)) return bad("--restore " + restore + ": no such file");
        StateReader reader;
        MachineConfig config;
        try {
            reader = StateReader.open(restore);
            config = Snapshot.config(reader);
        } catch (StateFileException | IOException e) {
            return bad("--restore " + restore + ": " + e.getMessage());
        }
        Terminal raw = openTerminal();
        final boolean escapes = raw != null;
        java.util.concurrent.atomic.AtomicBoolean first = new java.util.concurrent.atomic.AtomicBoolean(true);
        Vm.MachineFactory factory = console -> {
            // A restored guest has no kernel here to boot again: a reboot ends the VMM, as with --no-reboot.
            if (!first.getAndSet(false)) throw new Vm.BuildException("a restored VM cannot reboot yet: start it again with jvisor run");
            Machine m;
            try {
                m = Snapshot.restore(reader, console, System.err);
            } catch (StateFileException | IOException e) {
                throw new Vm.BuildException("--restore " + restore + ": " + e.getMessage());
            } finally {
                try {
                    reader.close(); // RAM stays mapped from the file; the descriptor is no longer needed
                } catch (IOException e) {
                    // nothing held that matters
                }
            }
            startInput(escapes);
            return m;
        };
        return serve(new Vm(config, factory, System.out, true), raw);
    }

    /** --incoming: the machine comes from the migration's source, so the options that describe one are refused. */
    private Integer receiveAndRun() {
        if (kernel != null || initrd != null || cmdline != null || memory != null || !disks.isEmpty() || !nets.isEmpty() || rng || balloon
                || cloudInit.given()) {
            return bad("--incoming takes the machine (memory, disks, NICs, kernel) from the migration's source: leave out the options that describe one");
        }
        org.jvisor.vmm.MigrationUri uri;
        try {
            uri = org.jvisor.vmm.MigrationUri.parse(incoming);
        } catch (IllegalArgumentException e) {
            return bad("--incoming: " + e.getMessage());
        }
        // The terminal is set up while waiting: doing it once the VM has arrived would add to its downtime.
        Terminal raw = openTerminal();
        org.jvisor.vmm.MigrationReceiver receiver;
        try {
            receiver = org.jvisor.vmm.MigrationReceiver.receive(uri, System.err);
        } catch (IOException e) {
            if (raw != null) raw.close();
            return bad("--incoming " + incoming + ": " + e.getMessage());
        }
        final boolean escapes = raw != null;
        Vm.MachineFactory factory = console -> {
            Machine m = receiver.take(console); // a second call (a reboot) is refused: the kernel is not here
            startInput(escapes);
            return m;
        };
        return serve(new Vm(receiver.config(), factory, System.out, true), raw);
    }

    /** Runs the VM with the control API when asked for; the exit code follows how the guest ended. */
    private Integer serve(Vm vm, Terminal raw) {
        this.vm = vm;
        // The API comes up beside the guest, not before it: starting the HTTP server costs more
        // than restoring a machine, and a restored guest should not wait for it.
        java.util.concurrent.atomic.AtomicReference<ApiServer> api = new java.util.concurrent.atomic.AtomicReference<>();
        java.util.concurrent.atomic.AtomicReference<String> apiFailed = new java.util.concurrent.atomic.AtomicReference<>();
        Thread apiStarter = null;
        try {
            if (apiSocket != null) {
                apiStarter = Thread.ofVirtual().start(() -> {
                    try {
                        ApiServer served = ApiServer.start(new VmmApi(vm), apiSocket);
                        api.set(served);
                        org.jvisor.vmm.Snapshot.warmUpOnce(); // a VM with an API may be saved or moved
                        Runtime.getRuntime().addShutdownHook(new Thread(served::close)); // a kill leaves no socket file behind
                    } catch (IOException e) {
                        apiFailed.set("--api-socket: " + e.getMessage());
                        try {
                            vm.stop();
                        } catch (Vm.Conflict c) {
                            // over already
                        }
                    }
                });
            }
            MachineExit exit;
            try {
                exit = vm.run();
            } catch (Vm.BuildException e) {
                return bad(e.getMessage());
            }
            System.out.flush();
            if (apiStarter != null) apiStarter.join();
            if (apiFailed.get() != null) return bad(apiFailed.get());
            if (quit) return 0;
            switch (exit) {
                case MachineExit.Panic p -> {
                    System.err.println("jvisor: guest panic: " + p.message());
                    return 1;
                }
                case MachineExit.Crash c -> {
                    System.err.println("jvisor: guest stopped: " + c.reason());
                    return 1;
                }
                case MachineExit.Migrated g -> {
                    System.err.println("jvisor: the VM went to " + g.to() + ", which runs it now");
                    return 0;
                }
                default -> {
                    return 0; // powered off, halted, stopped, or reset with --no-reboot
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return 1;
        } finally {
            if (apiStarter != null) {
                try {
                    apiStarter.join();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            if (api.get() != null) api.get().close();
            if (raw != null) raw.close();
            synchronized (this) {
                if (input != null) input.interrupt();
            }
        }
    }

    /** One --disk: the image, how to open it, and the serial the guest sees. */
    record DiskSpec(Path path, String format, boolean readOnly, String serial, long iops, long bps) {
        static DiskSpec parse(String spec, int index) throws BadInput {
            String[] parts = spec.split(",");
            if (parts[0].isEmpty()) throw new BadInput("no image path");
            Path p = Path.of(parts[0]);
            boolean ro = false;
            String serial = "jvisor-disk" + index, format = null;
            long iops = 0, bps = 0;
            for (int i = 1; i < parts.length; i++) {
                String[] kv = parts[i].split("=", 2);
                String v = kv.length == 2 ? kv[1] : "";
                switch (kv[0]) {
                    case "readonly" -> {
                        if (!v.equals("on") && !v.equals("off")) throw new BadInput("readonly takes on or off");
                        ro = v.equals("on");
                    }
                    case "serial" -> {
                        if (v.isEmpty() || v.length() > 20 || !v.chars().allMatch(ch -> ch > 32 && ch < 127)) {
                            throw new BadInput("serial must be 1-20 printable characters");
                        }
                        serial = v;
                    }
                    case "format" -> format = v;
                    case "iops" -> {
                        if (!v.matches("\\d{1,9}")) throw new BadInput("iops takes a number of requests per second");
                        iops = Long.parseLong(v);
                    }
                    case "bps" -> {
                        try {
                            bps = Sizes.parse(v);
                        } catch (IllegalArgumentException e) {
                            throw new BadInput("bps takes bytes per second, e.g. 10M: " + e.getMessage());
                        }
                    }
                    default -> throw new BadInput("unknown option '" + kv[0] + "' (readonly, serial, format, iops, bps)");
                }
            }
            if (!Files.exists(p)) throw new BadInput("no such file");
            if (format == null) {
                try {
                    format = Images.probe(p);
                } catch (BlockException e) {
                    throw new BadInput(e.getMessage());
                }
            }
            return new DiskSpec(p, format, ro, serial, iops, bps);
        }
    }

    /** One --net: the TAP's name (empty: the kernel picks), the guest's MAC, an address for the host side, rate limits. */
    record NetSpec(String tap, byte[] mac, String hostIp, long rxBps, long txBps, MachineConfig.User user) {
        static NetSpec parse(String spec, int index) throws BadInput {
            String[] parts = spec.split(",");
            boolean user = parts[0].equals("user");
            if (!user && !parts[0].equals("tap") && !parts[0].startsWith("tap=")) throw new BadInput("the network is user (NAT, no root) or tap[=NAME]");
            String name = parts[0].startsWith("tap=") ? parts[0].substring(4) : "";
            List<String> forwards = new ArrayList<>();
            String dns = null;
            boolean restrict = false;
            if (name.length() > 15 || !name.matches("[A-Za-z0-9_.-]*")) throw new BadInput("bad interface name '" + name + "'");
            byte[] mac = {0x02, 0x4A, 0x56, 0x00, 0x00, (byte) (index + 1)}; // locally administered
            String hostIp = null;
            long rxBps = 0, txBps = 0;
            for (int i = 1; i < parts.length; i++) {
                String[] kv = parts[i].split("=", 2);
                String v = kv.length == 2 ? kv[1] : "";
                switch (kv[0]) {
                    case "mac" -> {
                        if (!v.matches("([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}")) throw new BadInput("mac must look like 02:4a:56:00:00:01");
                        String[] b = v.split(":");
                        for (int k = 0; k < 6; k++) mac[k] = (byte) Integer.parseInt(b[k], 16);
                        if ((mac[0] & 1) != 0) throw new BadInput("mac " + v + " is a multicast address");
                    }
                    case "hostfwd" -> {
                        if (!user) throw new BadInput("hostfwd is for --net user (a TAP's host reaches the guest directly)");
                        try {
                            org.jvisor.net.user.HostForward.parse(v, org.jvisor.net.user.UserNet.GUEST);
                        } catch (IllegalArgumentException e) {
                            throw new BadInput(e.getMessage());
                        }
                        forwards.add(v);
                    }
                    case "dns" -> {
                        if (!user) throw new BadInput("dns is for --net user");
                        if (!v.matches("\\d{1,3}(\\.\\d{1,3}){3}(:\\d{1,5})?")) throw new BadInput("dns takes IP[:PORT] of the server to relay queries to");
                        dns = v;
                    }
                    case "restrict" -> {
                        if (!user) throw new BadInput("restrict is for --net user");
                        if (!v.equals("on") && !v.equals("off")) throw new BadInput("restrict is on or off");
                        restrict = v.equals("on");
                    }
                    case "host-ip" -> {
                        if (user) throw new BadInput("host-ip is for tap: the user network's host is 10.0.2.2");
                        if (!v.matches("\\d{1,3}(\\.\\d{1,3}){3}/\\d{1,2}")) throw new BadInput("host-ip must be an IPv4 CIDR like 10.0.2.1/24");
                        hostIp = v;
                    }
                    case "bps", "rx-bps", "tx-bps" -> {
                        long b;
                        try {
                            b = Sizes.parse(v);
                        } catch (IllegalArgumentException e) {
                            throw new BadInput(kv[0] + " takes bytes per second, e.g. 10M: " + e.getMessage());
                        }
                        if (!kv[0].equals("tx-bps")) rxBps = b;
                        if (!kv[0].equals("rx-bps")) txBps = b;
                    }
                    default -> throw new BadInput("unknown option '" + kv[0] + "' (mac, bps, rx-bps, tx-bps; tap: host-ip; user: hostfwd, dns, restrict)");
                }
            }
            return new NetSpec(name, mac, hostIp, rxBps, txBps, user ? new MachineConfig.User(forwards, dns, restrict) : null);
        }
    }

    private static final class BadInput extends Exception {
        BadInput(String m) {
            super(m);
        }
    }

    private static byte[] readInput(Path p, String what) throws BadInput {
        if (!Files.exists(p)) throw new BadInput(what + " " + p + ": no such file");
        if (!Files.isRegularFile(p) || !Files.isReadable(p)) throw new BadInput(what + " " + p + ": not a readable file");
        try {
            if (Files.size(p) > (1L << 30)) throw new BadInput(what + " " + p + ": too large");
            return Files.readAllBytes(p);
        } catch (IOException e) {
            throw new BadInput(what + " " + p + ": " + e.getMessage());
        }
    }

    /** Console input: bytes to the guest's UART; on a raw terminal, Ctrl-A starts an escape. */
    private void pumpInput(InputStream in, boolean escapes) {
        PrintStream err = System.err;
        boolean ctrlA = false;
        byte[] one = new byte[1];
        try {
            int b;
            while ((b = in.read()) >= 0) {
                if (escapes && ctrlA) {
                    ctrlA = false;
                    if (b == 'x') {
                        quit = true;
                        Vm v = vm;
                        try {
                            if (v != null) v.stop();
                        } catch (Vm.Conflict e) {
                            // already over
                        }
                        return;
                    }
                    if (b == 'h') {
                        err.print("\r\nC-a h    this help\r\nC-a x    exit jvisor\r\nC-a C-a  send C-a to the guest\r\n");
                        continue;
                    }
                    if (b != 1) continue;
                } else if (escapes && b == 1) {
                    ctrlA = true;
                    continue;
                }
                one[0] = (byte) b;
                Vm v = vm;
                if (v != null) v.typeOnConsole(one, 0, 1);
            }
        } catch (IOException e) {
            // stdin closed: the guest keeps running without input
        }
    }
}
