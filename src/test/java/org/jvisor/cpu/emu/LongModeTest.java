package org.jvisor.cpu.emu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HexFormat;
import org.jvisor.cpu.VcpuExit;
import org.jvisor.cpu.Vectors;
import org.jvisor.memory.GuestMemory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The system half in long mode, as a kernel uses it: 4-level paging with 2 MiB pages, the IDT
 * (with a TSS stack switch), IRETQ to user mode, SYSCALL/SYSRET, INT 0x80, page faults with CR2
 * and error codes, NX, Accessed/Dirty, CR3 reloads, and a triple fault.
 */
class LongModeTest {
    static final long PML4 = 0x10000, PDPT = 0x11000, PD = 0x12000, GDT = 0x20000, TSS = 0x21000, IDT = 0x22000;
    static final long KCODE = 0x1000, HANDLERS = 0x3000, KSTACK = 0x80000, RSP0 = 0x90000;
    static final long P = 1, RW = 2, US = 4, PS = 0x80, A = 0x20, D = 0x40, NX = 1L << 63;
    // Machine code assembled with GNU as (see the comments for the source).
    static final String MAIN_PF = "488b0c2500000040" + "f4";            // mov rcx,[0x40000000]; hlt
    static final String H_PF = "0f20d0" + "5b" + "f4";                 // mov rax,cr2; pop rbx; hlt
    static final String MAIN_AD = "48c7042500003000" + "07000000" + "f4"; // mov qword [0x300000],7; hlt
    static final String MAIN_USER = "6a1b" + "6800004800" + "6802020000" + "6a23" + "6800004000" + "48cf"; // push ss,rsp,rflags,cs,rip; iretq
    static final String USER1 = "49c7c511110000" + "0f05" + "49c7c622220000" + "cd80" + "488b042500001000" + "f4";
    static final String K_SYS = "4989cc" + "480f07";                   // mov r12,rcx; sysretq
    static final String K_INT80 = "4989e7" + "48cf";                   // mov r15,rsp; iretq
    static final String K_HALT = "f4";

    GuestMemory mem;
    Cpu cpu;

    @BeforeEach
    void setUp() {
        mem = GuestMemory.allocate(16 << 20);
        cpu = new Cpu(mem);
        setUp0();
    }

    /** The page tables, GDT, TSS and IDT in {@code mem}, and {@code cpu} in 64-bit kernel mode on them. */
    void setUp0() {
        // Identity-map 0-8 MiB with 2 MiB pages: kernel, kernel, user, no-execute.
        mem.write64(PML4, PDPT | P | RW | US);
        mem.write64(PDPT, PD | P | RW | US);
        mem.write64(PD, 0x000000 | P | RW | PS);
        mem.write64(PD + 8, 0x200000 | P | RW | PS);
        mem.write64(PD + 16, 0x400000 | P | RW | US | PS);
        mem.write64(PD + 24, 0x600000 | P | RW | PS | NX);
        // GDT: null, kernel code (0x08), kernel data (0x10), user data (0x18), user code (0x20), TSS (0x28).
        mem.write64(GDT + 0x08, 0x00AF9A000000FFFFL);
        mem.write64(GDT + 0x10, 0x00CF92000000FFFFL);
        mem.write64(GDT + 0x18, 0x00CFF2000000FFFFL);
        mem.write64(GDT + 0x20, 0x00AFFA000000FFFFL);
        mem.write64(GDT + 0x28, 0x0000890000000067L | (TSS & 0xFFFFFF) << 16);
        mem.write64(TSS + 4, RSP0);
        // IDT: every vector halts, #PF has its own handler, INT 0x80 is callable from ring 3.
        for (int v = 0; v < 256; v++) gate(v, HANDLERS + 0x100, 0x8E);
        gate(Vectors.PF, HANDLERS, 0x8E);
        gate(0x80, HANDLERS + 0x80, 0xEE);
        put(HANDLERS, H_PF);
        put(HANDLERS + 0x40, K_SYS);
        put(HANDLERS + 0x80, K_INT80);
        put(HANDLERS + 0x100, K_HALT);
        cpu.gdtBase = GDT;
        cpu.gdtLimit = 0x37;
        cpu.idtBase = IDT;
        cpu.idtLimit = 256 * 16 - 1;
        cpu.cr4 = Cpu.CR4_PAE | Cpu.CR4_PGE | Cpu.CR4_OSFXSR | Cpu.CR4_OSXMMEXCPT;
        cpu.efer = Cpu.EFER_SCE | Cpu.EFER_LME | Cpu.EFER_NXE;
        cpu.cr3 = PML4;
        cpu.cr0 = Cpu.CR0_PE | Cpu.CR0_MP | Cpu.CR0_ET | Cpu.CR0_NE | Cpu.CR0_WP | Cpu.CR0_PG;
        Segments.loadCode(cpu, 0x08, 0);
        for (int s : new int[] {Seg.DS, Seg.ES, Seg.SS}) Segments.loadData(cpu, s, 0x10);
        Segments.loadTr(cpu, 0x28);
        cpu.msrs.set(Msrs.STAR, (0x10L << 48) | (0x08L << 32));
        cpu.msrs.set(Msrs.LSTAR, HANDLERS + 0x40);
        cpu.msrs.set(Msrs.SFMASK, Flags.IF | Flags.TF | Flags.DF);
        cpu.r[Reg.SP] = KSTACK;
        cpu.deliverToGuest = true;
        assertEquals(Decoder.MODE64, cpu.mode);
    }

    @AfterEach
    void tearDown() {
        mem.close();
    }

    private void gate(int v, long target, int typeAttr) {
        long lo = (target & 0xFFFF) | (0x08L << 16) | ((long) typeAttr << 40) | ((target >>> 16) & 0xFFFF) << 48;
        mem.write64(IDT + v * 16L, lo);
        mem.write64(IDT + v * 16L + 8, target >>> 32);
    }

    private void put(long at, String hex) {
        mem.write(at, HexFormat.of().parseHex(hex));
    }

    private VcpuExit runAt(long rip) {
        cpu.rip = rip;
        return cpu.run(100_000);
    }

    @Test
    void pageFaultIsDeliveredWithCr2AndErrorCode() {
        put(KCODE, MAIN_PF);
        VcpuExit e = runAt(KCODE);
        assertInstanceOf(VcpuExit.Halted.class, e);
        assertEquals(0x40000000L, cpu.r[Reg.AX], "CR2");
        assertEquals(0, cpu.r[Reg.BX], "error code: not present, read, supervisor");
        assertEquals(HANDLERS + 5, cpu.rip, "halted in the handler");
    }

    @Test
    void walksSetAccessedAndDirty() {
        put(KCODE, MAIN_AD);
        assertInstanceOf(VcpuExit.Halted.class, runAt(KCODE));
        assertEquals(7, mem.read64(0x300000));
        long pde = mem.read64(PD + 8);
        assertTrue((pde & A) != 0 && (pde & D) != 0, Long.toHexString(pde));
        assertEquals(0, mem.read64(PD + 24) & A, "untouched page stays un-accessed");
    }

    @Test
    void userModeSyscallSysretAndInt80() {
        put(KCODE, MAIN_USER);
        put(0x400000, USER1);
        VcpuExit e = runAt(KCODE);
        // The user program ends by reading kernel memory: #PF (present, user), then the handler halts.
        assertInstanceOf(VcpuExit.Halted.class, e, e.toString());
        assertEquals(0x1111, cpu.r[Reg.R13]);
        assertEquals(0x400000 + 9, cpu.r[Reg.R12], "SYSCALL saved the return address in RCX");
        assertEquals(0x2222, cpu.r[Reg.R14]);
        assertEquals(RSP0 - 40, cpu.r[Reg.R15], "INT 0x80 from ring 3 switched to TSS.RSP0 and pushed 5 words");
        assertEquals(0x100000L, cpu.r[Reg.AX], "CR2 of the user's kernel read");
        assertEquals(Mmu.PF_P | Mmu.PF_USER, cpu.r[Reg.BX], "error code: present, read, user");
        assertEquals(0, cpu.cpl());
    }

    @Test
    void noExecutePagesFaultOnFetch() {
        put(0x600000, K_HALT);
        VcpuExit e = runAt(0x600000);
        assertInstanceOf(VcpuExit.Halted.class, e);
        assertEquals(0x600000L, cpu.r[Reg.AX]);
        assertEquals(Mmu.PF_P | Mmu.PF_FETCH, cpu.r[Reg.BX]);
    }

    @Test
    void cr3ReloadSeesNewMappings() {
        // mov rax,[0x200000]; mov cr3,rbx; mov rcx,[0x200000]; hlt
        put(KCODE, "488b042500002000" + "0f22db" + "488b0c2500002000" + "f4");
        mem.write64(0x200000, 111);
        mem.write64(0x500000, 222);
        cpu.r[Reg.BX] = PML4;
        // After the first read is cached, point the page at 0x400000 (which holds 0x500000's neighbour) and reload CR3.
        put(0x400000 + 0x100000, "");
        mem.write64(0x400000, 222);
        cpu.rip = KCODE;
        cpu.run(1); // first block up to the CR3 write
        mem.write64(PD + 8, 0x400000 | P | RW | PS);
        VcpuExit e = cpu.run(100);
        assertInstanceOf(VcpuExit.Halted.class, e);
        assertEquals(111, cpu.r[Reg.AX]);
        assertEquals(222, cpu.r[Reg.CX]);
    }

    @Test
    void instructionsSpanningPagesFetchBothPagesWithPaging() {
        // mov rax, imm64 split across a 4 KiB boundary (and a 2 MiB one), then hlt.
        long at = 0x200000 - 5;
        put(at, "48b8" + "8877665544332211" + "f4");
        VcpuExit e = runAt(at);
        assertInstanceOf(VcpuExit.Halted.class, e, e.toString());
        assertEquals(0x1122334455667788L, cpu.r[Reg.AX]);
        // And single-stepping, which fetches without the block cache's translation first.
        cpu.r[Reg.AX] = 0;
        cpu.flushTlb();
        cpu.rip = at;
        cpu.step();
        assertEquals(0x1122334455667788L, cpu.r[Reg.AX]);
    }

    @Test
    void rdtscpAndSwapgs() {
        cpu.msrs.set(Msrs.TSC_AUX, 7);
        cpu.msrs.set(Msrs.KERNEL_GS_BASE, 0x1234);
        put(KCODE, "0f01f9" + "0f01f8" + "f4"); // rdtscp; swapgs; hlt
        assertInstanceOf(VcpuExit.Halted.class, runAt(KCODE));
        assertEquals(7, cpu.r[Reg.CX]);
        assertEquals(0x1234, cpu.segBase[Seg.GS]);
    }

    @Test
    void faultWithoutAUsableIdtIsATripleFault() {
        cpu.idtLimit = 0;
        put(KCODE, "0f0b"); // ud2
        VcpuExit e = runAt(KCODE);
        VcpuExit.Shutdown s = assertInstanceOf(VcpuExit.Shutdown.class, e);
        assertTrue(s.reason().contains("triple fault"), s.reason());
    }
}
