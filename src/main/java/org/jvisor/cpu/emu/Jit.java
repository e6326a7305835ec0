package org.jvisor.cpu.emu;

import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Which blocks get translated to bytecode, and when: a block the interpreter has run
 * {@link #threshold} times is queued for a background thread that translates it and attaches the
 * result to the block, which the vCPU then runs instead of interpreting. Cold code -- most of a
 * boot's instruction addresses -- is never worth a class; hot loops are.
 */
public final class Jit implements AutoCloseable {
    /** Interpreted executions before a block is translated. */
    public static final int DEFAULT_THRESHOLD = 2000;
    private static final int QUEUE = 4096;

    /** -Djvisor.jit.profile=true: translated code counts the instructions it hands to the interpreter, by opcode. */
    static final boolean PROFILE = Boolean.getBoolean("jvisor.jit.profile");
    private static final long[] FALLBACKS = new long[Op.COUNT];

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
    private final boolean synchronous;
    private final ArrayBlockingQueue<Region> queue = new ArrayBlockingQueue<>(QUEUE);
    private final Thread worker;
    private final AtomicLong translated = new AtomicLong(), untranslatable = new AtomicLong(), failed = new AtomicLong();
    private volatile boolean closed;

    /**
     * @param threshold interpreted executions before translation (0: before the first)
     * @param synchronous translate on the vCPU thread at once (tests); otherwise a background thread does it
     */
    public Jit(int threshold, boolean synchronous) {
        if (threshold < 0) throw new IllegalArgumentException("threshold must not be negative");
        this.threshold = threshold;
        this.synchronous = synchronous;
        this.worker = synchronous ? null : Thread.ofPlatform().daemon().name("jit").start(this::work);
    }

    /** Called by the run loop (on the vCPU thread) when a block's interpreted count reaches the threshold. */
    void hot(Block b, CodeCache cache) {
        Region r = cache.region(b, Math.max(1, threshold / 4));
        if (synchronous) install(r);
        else queue.offer(r); // a full queue drops it: the block stays interpreted
    }

    private void work() {
        try {
            while (!closed) install(queue.take());
        } catch (InterruptedException e) {
            // closed
        }
    }

    private void install(Region r) {
        Block b = r.blocks()[0];
        if (!b.valid) return;
        try {
            CompiledBlock c = Translator.translate(r);
            if (c == null) {
                untranslatable.incrementAndGet();
            } else {
                b.compiled = c;
                translated.incrementAndGet();
            }
        } catch (ReflectiveOperationException | RuntimeException | LinkageError e) {
            // A translator bug must not take the guest down: the block stays interpreted.
            if (failed.getAndIncrement() == 0) System.err.println("jvisor: block at 0x" + Long.toHexString(b.rip) + " not translated: " + e);
        }
    }

    /** Blocks translated, left interpreted (too large or not 64-bit code), and failed. */
    public String stats() {
        return String.format("translated %d blocks, %d untranslatable, %d failed", translated.get(), untranslatable.get(), failed.get());
    }

    public long translatedBlocks() {
        return translated.get();
    }

    /** Translations that threw (a translator bug; the block stayed interpreted). */
    public long failedBlocks() {
        return failed.get();
    }

    @Override
    public void close() {
        closed = true;
        if (worker != null) worker.interrupt();
    }
}
