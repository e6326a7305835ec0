/**
 * jvisor's software x86-64 CPU: {@link org.jvisor.cpu.emu.Decoder} turns bytes into immutable
 * {@link org.jvisor.cpu.emu.Insn}s (cached per block), {@link org.jvisor.cpu.emu.Exec} dispatches
 * them to small handler classes (integer, SSE, x87), status flags are computed lazily, and
 * floating point is exact through {@link org.jvisor.cpu.emu.SoftFloat} where the JVM's own
 * arithmetic cannot match the hardware. Hot code is translated to JVM bytecode
 * ({@link org.jvisor.cpu.emu.Jit}, {@link org.jvisor.cpu.emu.Translator}) that reuses the
 * handlers' semantics. Verified instruction by instruction against the host CPU, interpreted and
 * translated (src/test/java/org/jvisor/cpu/emu/diff). Depends on {@code cpu} and {@code memory}
 * only (and the JDK's management API, for one compiler directive).
 */
package org.jvisor.cpu.emu;
