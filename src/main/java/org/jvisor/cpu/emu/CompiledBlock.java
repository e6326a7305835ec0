package org.jvisor.cpu.emu;

/**
 * A block of guest code translated to JVM bytecode (a hidden class made by {@link Translator}).
 * {@link #run} executes the whole block -- and, for a block that branches back to its own start,
 * up to {@link Translator#LOOP_CAP} iterations -- leaving registers, flags, RIP and the
 * instruction count exactly as the interpreter would. When an instruction raises an x86
 * exception it calls {@link Cpu#translatedFault} (which counts the instructions before it and
 * points RIP past it, as the interpreter's loop expects) and rethrows the {@link CpuFault}.
 */
abstract class CompiledBlock {
    abstract void run(Cpu c);
}
