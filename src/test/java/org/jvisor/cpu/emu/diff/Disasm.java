package org.jvisor.cpu.emu.diff;

import java.nio.file.Files;
import java.nio.file.Path;

/** Disassembles test code with objdump for mismatch reports (best effort). */
final class Disasm {
    private Disasm() {}

    static String of(byte[] code) {
        try {
            Path f = Files.createTempFile("jvisor-case", ".bin");
            Files.write(f, code);
            Process p = new ProcessBuilder("objdump", "-D", "-b", "binary", "-mi386:x86-64",
                    "--adjust-vma=0x" + Long.toHexString(MachineState.CODE), f.toString()).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes());
            p.waitFor();
            Files.deleteIfExists(f);
            int at = out.indexOf("<.data>:");
            return at >= 0 ? out.substring(at + 8) : out;
        } catch (Exception e) {
            return "(objdump unavailable: " + e.getMessage() + ")";
        }
    }

    static String hex(byte[] b) {
        StringBuilder sb = new StringBuilder();
        for (byte x : b) sb.append(String.format("%02x", x & 0xFF));
        return sb.toString();
    }
}
