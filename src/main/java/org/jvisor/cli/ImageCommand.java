package org.jvisor.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.jvisor.block.BlockException;
import org.jvisor.block.DiskImage;
import org.jvisor.block.ImageOps;
import org.jvisor.block.Images;
import org.jvisor.block.qcow2.Qcow2Check;
import org.jvisor.block.qcow2.Qcow2Image;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code jvisor image}: disk image tools with qemu-img's commands, options and exit codes. */
@Command(name = "image", description = "Create, inspect, convert and check disk images (qemu-img compatible).",
        subcommands = {ImageCommand.Create.class, ImageCommand.Info.class, ImageCommand.Convert.class,
                ImageCommand.Resize.class, ImageCommand.Snapshot.class, ImageCommand.Commit.class, ImageCommand.Check.class,
                ImageDebianCommand.class})
final class ImageCommand implements Callable<Integer> {
    @Override
    public Integer call() {
        System.err.println("jvisor image: a subcommand is needed (create, info, convert, resize, snapshot, commit, check, debian)");
        return 2;
    }

    /** Runs an action, turning bad input and image errors into one line on stderr and exit code 1. */
    static int guarded(String what, Action a) {
        try {
            return a.run();
        } catch (BlockException e) {
            System.err.println("jvisor image " + what + ": " + e.getMessage());
            return 1;
        } catch (IllegalArgumentException e) {
            System.err.println("jvisor image " + what + ": " + e.getMessage());
            return 1;
        }
    }

    @FunctionalInterface
    interface Action {
        int run() throws BlockException;
    }

    @Command(name = "create", description = "Create an image: jvisor image create [-f qcow2|raw] [-b BACKING [-F FMT]] FILE [SIZE]")
    static final class Create implements Callable<Integer> {
        @Option(names = "-f", description = "format: qcow2 (default) or raw") String format = "qcow2";
        @Option(names = "-b", description = "backing file (relative names are relative to FILE)") String backing;
        @Option(names = "-F", description = "backing file format (probed when omitted)") String backingFormat;
        @Option(names = "-o", description = "options: cluster_size=N") String options;
        @Parameters(index = "0") Path file;
        @Parameters(index = "1", arity = "0..1") String size;

        @Override
        public Integer call() {
            return guarded("create", () -> {
                long bytes = size == null ? -1 : Sizes.parse(size);
                int clusterBits = 16;
                if (options != null) {
                    for (String o : options.split(",")) {
                        String[] kv = o.split("=", 2);
                        if (kv[0].equals("cluster_size") && kv.length == 2) {
                            long cs = Sizes.parse(kv[1]);
                            if (Long.bitCount(cs) != 1) throw new IllegalArgumentException("cluster size must be a power of two");
                            clusterBits = Long.numberOfTrailingZeros(cs);
                        } else {
                            throw new IllegalArgumentException("unknown option '" + o + "'");
                        }
                    }
                }
                Images.create(file, format, bytes, backing, backingFormat, clusterBits);
                System.out.printf("Formatting '%s', fmt=%s size=%d%n", file, format,
                        bytes >= 0 ? bytes : Images.open(file, format, true).size());
                return 0;
            });
        }
    }

    @Command(name = "info", description = "Show an image's format, sizes and backing chain.")
    static final class Info implements Callable<Integer> {
        @Option(names = "-f") String format;
        @Option(names = "--output", description = "human or json") String output = "human";
        @Option(names = "--json", description = "same as --output=json") boolean json;
        @Option(names = "--backing-chain") boolean chain;
        @Parameters(index = "0") Path file;

        @Override
        public Integer call() {
            return guarded("info", () -> {
                List<Map<String, Object>> infos = chain ? ImageOps.chainInfo(file, format) : List.of(ImageOps.info(file, format));
                if (json || output.equals("json")) {
                    ObjectMapper om = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
                    try {
                        System.out.println(om.writeValueAsString(chain ? infos : infos.getFirst()));
                    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                        throw new IllegalStateException(e);
                    }
                    return 0;
                }
                boolean first = true;
                for (Map<String, Object> m : infos) {
                    if (!first) System.out.println();
                    first = false;
                    System.out.println("image: " + m.get("filename"));
                    System.out.println("file format: " + m.get("format"));
                    long vs = (Long) m.get("virtual-size");
                    System.out.println("virtual size: " + Sizes.human(vs) + " (" + vs + " bytes)");
                    System.out.println("disk size: " + Sizes.human((Long) m.get("actual-size")));
                    if (m.containsKey("cluster-size")) System.out.println("cluster_size: " + m.get("cluster-size"));
                    if (m.containsKey("backing-filename")) {
                        System.out.println("backing file: " + m.get("backing-filename")
                                + (m.get("backing-filename").equals(m.get("full-backing-filename")) ? "" : " (actual path: " + m.get("full-backing-filename") + ")"));
                        if (m.containsKey("backing-filename-format")) System.out.println("backing file format: " + m.get("backing-filename-format"));
                    }
                    if (Boolean.TRUE.equals(m.get("dirty-flag"))) System.out.println("dirty: yes");
                }
                return 0;
            });
        }
    }

    @Command(name = "convert", description = "Copy an image into a new one: jvisor image convert [-f FMT] [-O qcow2|raw] [-c] SRC DST")
    static final class Convert implements Callable<Integer> {
        @Option(names = "-f") String srcFormat;
        @Option(names = "-O") String dstFormat = "raw";
        @Option(names = "-c", description = "compress (qcow2 output)") boolean compress;
        @Option(names = "-p", description = "show progress even when not on a terminal") boolean progress;
        @Parameters(index = "0") Path src;
        @Parameters(index = "1") Path dst;

        @Override
        public Integer call() {
            return guarded("convert", () -> {
                boolean tty = System.console() != null && System.console().isTerminal();
                long[] total = {0};
                try (DiskImage probe = Images.open(src, srcFormat, true)) {
                    total[0] = probe.size();
                }
                long[] lastPct = {-1};
                ImageOps.convert(src, srcFormat, dst, dstFormat, compress, done -> {
                    if (!(tty || progress) || total[0] == 0) return;
                    long pct = done * 10000 / total[0];
                    if (pct != lastPct[0]) {
                        lastPct[0] = pct;
                        System.out.printf("\r    (%d.%02d/100%%)", pct / 100, pct % 100);
                    }
                });
                if (tty || progress) System.out.println();
                return 0;
            });
        }
    }

    @Command(name = "resize", description = "Change an image's virtual size: jvisor image resize FILE [+|-]SIZE")
    static final class Resize implements Callable<Integer> {
        @Option(names = "-f") String format;
        @Option(names = "--shrink", description = "allow making the image smaller") boolean shrink;
        @Parameters(index = "0") Path file;
        @Parameters(index = "1") String size;

        @Override
        public Integer call() {
            return guarded("resize", () -> {
                try (DiskImage img = Images.open(file, format, false)) {
                    long target = size.startsWith("+") ? img.size() + Sizes.parse(size.substring(1))
                            : size.startsWith("-") ? img.size() - Sizes.parse(size.substring(1)) : Sizes.parse(size);
                    if (target < 0) throw new IllegalArgumentException("resulting size would be negative");
                    if (target < img.size() && !shrink) {
                        throw new IllegalArgumentException("use --shrink to make the image smaller (data beyond the new end is lost)");
                    }
                    img.resize(target);
                    img.flush();
                }
                System.out.println("Image resized.");
                return 0;
            });
        }
    }

    @Command(name = "snapshot", description = "Create NEW as a qcow2 overlay backed by FILE: jvisor image snapshot FILE NEW")
    static final class Snapshot implements Callable<Integer> {
        @Option(names = "-F", description = "format of FILE (probed when omitted)") String backingFormat;
        @Parameters(index = "0") Path file;
        @Parameters(index = "1") Path overlay;

        @Override
        public Integer call() {
            return guarded("snapshot", () -> {
                // Store the backing name relative to the overlay when both are relative paths.
                Path dir = overlay.toAbsolutePath().getParent();
                String name = file.isAbsolute() ? file.toString() : dir.relativize(file.toAbsolutePath()).toString();
                Images.create(overlay, "qcow2", -1, name, backingFormat, 16);
                return 0;
            });
        }
    }

    @Command(name = "commit", description = "Write an overlay's changes into its backing image, then empty the overlay.")
    static final class Commit implements Callable<Integer> {
        @Parameters(index = "0") Path overlay;

        @Override
        public Integer call() {
            return guarded("commit", () -> {
                ImageOps.commit(overlay);
                System.out.println("Image committed.");
                return 0;
            });
        }
    }

    @Command(name = "check", description = "Check an image's consistency; exit 0 clean, 2 corrupt, 3 leaked clusters only.")
    static final class Check implements Callable<Integer> {
        @Option(names = "-f") String format;
        @Option(names = "-r", description = "repair: leaks") String repair;
        @Parameters(index = "0") Path file;

        @Override
        public Integer call() {
            try (DiskImage img = Images.open(file, format, repair == null)) {
                if (!(img instanceof Qcow2Image q)) {
                    System.err.println("This image format does not support checks");
                    return 63;
                }
                Qcow2Check.Result r = Qcow2Check.check(q, repair != null);
                r.messages().forEach(System.out::println);
                if (r.repairedLeaks() > 0) System.out.println("Repaired " + r.repairedLeaks() + " leaked clusters.");
                if (r.corruptions() == 0 && r.leaks() == 0) System.out.println("No errors were found on the image.");
                if (r.corruptions() > 0) System.out.println(r.corruptions() + " errors were found on the image.");
                if (r.leaks() > 0) System.out.println(r.leaks() + " leaked clusters were found on the image.");
                System.out.println("Image end offset: " + r.imageEnd());
                return r.exitCode();
            } catch (BlockException e) {
                System.err.println("jvisor image check: " + e.getMessage());
                return 1;
            }
        }
    }
}
