package org.jvisor.cpu.emu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.jvisor.arch.x86.ResetVector;
import org.jvisor.cpu.VcpuExit;
import org.jvisor.memory.GuestMemory;
import org.junit.jupiter.api.Test;

/**
 * The CPU's three modes and the ways between them, in the order a PC meets them: real mode (IVT
 * interrupt), 32-bit protected mode (IDT gate, IRET), long mode through PAE and EFER.LME, back to
 * compatibility mode, paging off, 16-bit protected mode, real mode, and the far jump to F000:FFF0
 * whose stub asks for a reset -- the path Linux takes when it reboots "through the BIOS". The
 * program is assembled by GNU as (binutils, installed by scripts/prereqs.sh).
 */
class ModeSwitchTest {
    static final String PROGRAM = """
            .code16
            start:                          # real mode, CS = 0, IP = 0x8000
                cli
                xor %ax, %ax
                mov %ax, %ds
                mov %ax, %ss
                mov $0x7000, %sp
                movw $rm_isr, 0x100         # IVT entry 0x40
                movw $0, 0x102
                int $0x40
                movw $0x1234, 0x500
                lgdtl gdtr
                lidtl idtr
                mov %cr0, %eax
                or $1, %eax
                mov %eax, %cr0
                ljmpl $0x08, $pm32
            rm_isr:
                movw $0xA1, 0x510
                iret
            .code32
            pm32:
                mov $0x10, %ax
                mov %ax, %ds
                mov %ax, %es
                mov %ax, %ss
                mov $0x7000, %esp
                int $0x41
                movl $0x55667788, 0x504
                mov %cr4, %eax
                or $0x20, %eax              # PAE
                mov %eax, %cr4
                mov $pml4, %eax
                mov %eax, %cr3
                mov $0xC0000080, %ecx
                rdmsr
                or $0x100, %eax             # EFER.LME
                wrmsr
                mov %cr0, %eax
                or $0x80000000, %eax        # paging on: long mode, still in 32-bit code
                mov %eax, %cr0
                ljmpl $0x18, $lm64
            pm_isr:
                movl $0xA2, 0x514
                iretl
            .code64
            lm64:
                movabs $0x1122334455667788, %rax
                mov %rax, 0x520
                ljmpl *compat_ptr(%rip)
            .code32
            compat:
                mov %cr0, %eax
                and $0x7FFFFFFF, %eax       # paging off: out of long mode
                mov %eax, %cr0
                mov $0xC0000080, %ecx
                xor %eax, %eax
                xor %edx, %edx
                wrmsr
                ljmpw $0x20, $pm16
            .code16
            pm16:
                mov %cr0, %eax
                and $0xFFFFFFFE, %eax       # protection off: real mode
                mov %eax, %cr0
                ljmp $0, $rm_again
            rm_again:
                movw $0xBEEF, 0x530
                ljmp $0xF000, $0xFFF0
            .balign 8
            gdt:
                .quad 0
                .quad 0x00CF9A000000FFFF    # 0x08 32-bit code
                .quad 0x00CF92000000FFFF    # 0x10 data
                .quad 0x00AF9A000000FFFF    # 0x18 64-bit code
                .quad 0x00009A000000FFFF    # 0x20 16-bit code
            gdtr:
                .word 5 * 8 - 1
                .long gdt
            idt:
                .fill 0x41, 8, 0
                .word pm_isr, 0x08, 0x8E00, 0
            idtr:
                .word 0x42 * 8 - 1
                .long idt
            compat_ptr:
                .long compat
                .word 0x08
            .balign 4096
            pml4:
                .quad pdpt + 3
                .fill 511, 8, 0
            pdpt:
                .quad 0x83                  # 0-1 GiB, one page
                .fill 511, 8, 0
            """;

    static byte[] assemble(String source, long origin) throws IOException, InterruptedException {
        Path dir = Files.createTempDirectory("jvisor-asm");
        try {
            Files.writeString(dir.resolve("p.s"), source);
            run(dir, "as", "--64", "-o", "p.o", "p.s");
            run(dir, "ld", "-m", "elf_x86_64", "-Ttext=" + Long.toHexString(origin), "--oformat", "binary", "-e", "0", "-o", "p.bin", "p.o");
            return Files.readAllBytes(dir.resolve("p.bin"));
        } finally {
            try (var s = Files.list(dir)) {
                for (Path p : s.toList()) Files.delete(p);
            }
            Files.delete(dir);
        }
    }

    static void run(Path dir, String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        if (p.waitFor() != 0) throw new IOException(String.join(" ", cmd) + " failed:\n" + out);
    }

    @Test
    void realToProtectedToLongAndBackToTheResetVector() throws Exception {
        byte[] code = assemble(PROGRAM, 0x8000);
        try (GuestMemory mem = GuestMemory.allocate(2 << 20)) {
            mem.write(0x8000, code);
            ResetVector.write(mem);
            Cpu cpu = new Cpu(mem);
            cpu.reset();
            cpu.deliverToGuest = true;
            Segments.loadReal(cpu, Seg.CS, 0);
            cpu.rip = 0x8000;
            cpu.updateMode();
            List<int[]> outs = new ArrayList<>();
            cpu.ports = new PortIo() {
                @Override
                public int in(int port, int size) {
                    return 0xFF;
                }

                @Override
                public void out(int port, int size, int value) {
                    outs.add(new int[] {port, value});
                }
            };
            VcpuExit e = cpu.run(10_000);
            assertInstanceOf(VcpuExit.Halted.class, e, "exit " + e);
            assertEquals(0xA1, mem.read16(0x510), "real-mode INT through the IVT");
            assertEquals(0x1234, mem.read16(0x500));
            assertEquals(0xA2, mem.read32(0x514), "32-bit interrupt gate");
            assertEquals(0x55667788, mem.read32(0x504), "back from the gate with IRETD");
            assertEquals(0x1122334455667788L, mem.read64(0x520), "64-bit code ran");
            assertEquals(0xBEEF, mem.read16(0x530), "real mode again");
            assertEquals(0, cpu.efer, "long mode left");
            assertEquals(0xF000, cpu.segSel[Seg.CS]);
            assertEquals(1, outs.size());
            assertEquals(0x602, outs.get(0)[0], "the reset stub wrote the ACPI reset register");
            assertEquals(0x42, outs.get(0)[1]);
        }
    }
}
