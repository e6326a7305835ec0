package org.jvisor.cpu.emu;

import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.atomic.AtomicLong;
import javax.management.ObjectName;

/**
 * Which code gets translated to bytecode, and when. A block the interpreter has run
 * {@link #threshold} times becomes the head of a region ({@link Region}), queued for a background
 * thread that translates it and attaches the result to the block; the vCPU then runs that instead
 * of interpreting. Cold code -- most of a boot's instruction addresses -- is never worth a class.
 *
 * <p>Two tiers, because HotSpot's own compile cost is the limit on a small machine: a region is
 * first translated as a "warm" class that a compiler directive keeps away from C2 (C1 compiles it
 * in milliseconds); only a region whose translation then runs {@link #HOT_THRESHOLD} more times is
 * translated again as a "hot" class that C2 may compile, which costs tens of milliseconds and pays
 * back only on code that keeps running.
 */
public final class Jit implements AutoCloseable {
    /** Interpreted executions before a block is translated. */
    public static final int DEFAULT_THRESHOLD = 2000;
    /** Runs of a warm translation before its region is translated for C2. */
    static final int HOT_THRESHOLD = 100_000;
    private static final int QUEUE = 4096;

    /** -Djvisor.jit.profile=true: translated code counts the instructions it hands to the interpreter, by opcode. */
    static final boolean PROFILE = Boolean.getBoolean("jvisor.jit.profile");
    private static final long[] FALLBACKS = new long[Op.COUNT];
    private static volatile boolean directivesInstalled;

    static void countFallback(int op) {
        FALLBACKS[op]++;
    }

    /** With profiling on: the instructions translated code left to the interpreter, most frequent first. */
    public static String fallbackProfile() {
        StringBuilder sb = new StringBuilder();
        java.util.stream.IntStream.range(0, Op.COUNT).boxed().filter(op -> FALLBACKS[op] > 0)
                .sorted((a, b) -> Long.compare(FALLBACKS[b], FALLBACKS[a])).limit(25)
                .forEach(op -> sb.append(String.format("  %-14s %,d%n", Op.name(op), FALLBACKS[op])));
        return sb.toString();
    }

    final int threshold;
    private final boolean synchronous, hotAtOnce;
    private final ArrayBlockingQueue<Job> queue = new ArrayBlockingQueue<>(QUEUE);
    private final Thread worker;
    private final AtomicLong translated = new AtomicLong(), promoted = new AtomicLong(), untranslatable = new AtomicLong(),
            failed = new AtomicLong();
    private volatile boolean closed;

    private record Job(Region region, boolean hot) {}

    /**
     * @param threshold interpreted executions before translation (0: before the first)
     * @param synchronous translate on the vCPU thread at once (tests); otherwise a background thread does it
     */
    public Jit(int threshold, boolean synchronous) {
        this(threshold, synchronous, false);
    }

    /** As above; {@code hotAtOnce} makes every translation a hot one (for tests of that tier). */
    public Jit(int threshold, boolean synchronous, boolean hotAtOnce) {
        if (threshold < 0) throw new IllegalArgumentException("threshold must not be negative");
        this.threshold = threshold;
        this.synchronous = synchronous;
        this.hotAtOnce = hotAtOnce;
        this.worker = synchronous ? null : Thread.ofPlatform().daemon().name("jit").start(this::work);
    }

    /** Called by the run loop (on the vCPU thread) when a block's interpreted count reaches the threshold. */
    void hot(Block b, CodeCache cache) {
        submit(new Job(cache.region(b, Math.max(1, threshold / 4)), hotAtOnce));
    }

    /** Called by the run loop when a block's warm translation has run {@link #HOT_THRESHOLD} times. */
    void hotter(Block b, CodeCache cache) {
        if (!hotAtOnce) submit(new Job(cache.region(b, Math.max(1, threshold / 4)), true));
    }

    private void submit(Job job) {
        if (synchronous) install(job);
        else queue.offer(job); // a full queue drops it: the block stays as it is
    }

    private void work() {
        installDirectives();
        try {
            while (!closed) install(queue.take());
        } catch (InterruptedException e) {
            // closed
        }
    }

    private void install(Job job) {
        Block b = job.region().blocks()[0];
        if (!b.valid) return;
        try {
            CompiledBlock c = Translator.translate(job.region(), job.hot());
            if (c == null) {
                untranslatable.incrementAndGet();
            } else {
                b.compiled = c;
                (job.hot() ? promoted : translated).incrementAndGet();
            }
        } catch (ReflectiveOperationException | RuntimeException | LinkageError e) {
            // A translator bug must not take the guest down: the block stays as it is.
            if (failed.getAndIncrement() == 0) System.err.println("jvisor: block at 0x" + Long.toHexString(b.rip) + " not translated: " + e);
        }
    }

    /**
     * Tells HotSpot, once per JVM, to leave warm regions to C1 (a compiler directive added through
     * the DiagnosticCommand MBean: no command-line flags). Without it everything still works; warm
     * regions just cost C2 time too.
     */
    private static synchronized void installDirectives() {
        if (directivesInstalled) return;
        directivesInstalled = true;
        try {
            Path f = Files.createTempFile("jvisor-directives", ".json");
            try {
                String cls = Translator.class.getPackageName().replace('.', '/') + "/" + Translator.WARM;
                Files.writeString(f, "[{ match: \"" + cls + "*.*\", c2: { Exclude: true } }]");
                ManagementFactory.getPlatformMBeanServer().invoke(new ObjectName("com.sun.management:type=DiagnosticCommand"),
                        "compilerDirectivesAdd", new Object[] {new String[] {f.toString()}}, new String[] {String[].class.getName()});
            } finally {
                Files.deleteIfExists(f);
            }
        } catch (Exception e) {
            System.err.println("jvisor: compiler directive not installed (" + e + "); translated code compiles more slowly");
        }
    }

    /** Regions translated (warm, then hot), left interpreted (too large or not 64-bit code), and failed. */
    public String stats() {
        return String.format("translated %d regions, %d hot, %d untranslatable, %d failed", translated.get(), promoted.get(),
                untranslatable.get(), failed.get());
    }

    public long translatedBlocks() {
        return translated.get() + promoted.get();
    }

    /** Translations that threw (a translator bug; the block stayed as it was). */
    public long failedBlocks() {
        return failed.get();
    }

    @Override
    public void close() {
        closed = true;
        if (worker != null) worker.interrupt();
    }
}
