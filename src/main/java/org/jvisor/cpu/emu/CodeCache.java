package org.jvisor.cpu.emu;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;

/**
 * Decoded blocks by address, decoded once and kept (with their translations) until the code
 * under them changes. A direct-mapped table answers the common lookup; behind it a map holds
 * every valid block by linear address (with alternatives for the same address mapping other
 * physical code, as in another process), so a table collision costs a map lookup, never a
 * second decode. Blocks are also listed by the physical pages they came from, so a write to
 * such a page drops them (self-modifying code, module loading, text patching, page reuse).
 */
final class CodeCache {
    private static final int SIZE = 1 << 15;
    static final int MAX_BLOCK_INSNS = 64;

    private final Cpu cpu;
    private final Block[] table = new Block[SIZE];
    /** Every valid block by linear address; blocks for the same address chain through {@link Block#sameRip}. */
    private final HashMap<Long, Block> byRip = new HashMap<>();
    /** Alternatives kept per linear address (processes mapping different code there). */
    private static final int MAX_ALTERNATIVES = 8;
    private final HashMap<Long, List<Block>> byPage = new HashMap<>();
    private final Insn[] scratch = new Insn[MAX_BLOCK_INSNS];
    /** Blocks decoded so far (statistics). */
    long builds;
    private final Decoder.Fetch fetch;

    CodeCache(Cpu cpu) {
        this.cpu = cpu;
        this.fetch = a -> cpu.mmu.fetch8(a);
    }

    Block lookup(long rip) {
        int h = (int) (rip ^ (rip >>> 15)) & (SIZE - 1);
        Block b = table[h];
        // With paging, the same linear address may now map other code (a new CR3, a changed PTE).
        if (b != null && b.rip == rip && b.valid && b.mode == cpu.mode && (!cpu.mmu.paging || b.pa == cpu.mmu.codeAddress(rip))) {
            return b;
        }
        long pa = cpu.mmu.codeAddress(rip);
        b = find(rip, pa, cpu.mode);
        if (b == null) b = build(rip);
        table[h] = b;
        return b;
    }

    private Block find(long rip, long pa, int mode) {
        for (Block c = byRip.get(rip); c != null; c = c.sameRip) {
            if (c.valid && c.mode == mode && c.pa == pa) return c;
        }
        return null;
    }

    /** A valid block already decoded at {@code rip} from physical page {@code physPage}, or null (no decoding). */
    Block peek(long rip, long physPage, int mode) {
        for (Block c = byRip.get(rip); c != null; c = c.sameRip) {
            if (c.valid && c.mode == mode && (c.pa >>> 12) == physPage) return c;
        }
        return null;
    }

    /** Files a new block under its address, first among the alternatives; the oldest beyond the limit go. */
    private void remember(Block b) {
        Block head = byRip.get(b.rip);
        b.sameRip = head;
        byRip.put(b.rip, b);
        int n = 1;
        for (Block c = b; c.sameRip != null; c = c.sameRip) {
            if (++n > MAX_ALTERNATIVES || !c.sameRip.valid) {
                c.sameRip = c.sameRip.sameRip; // drop the dead or the oldest
                n--;
                if (c.sameRip == null) break;
            }
        }
    }

    private void forget(Block b) {
        Block head = byRip.get(b.rip);
        if (head == b) {
            if (b.sameRip == null) byRip.remove(b.rip);
            else byRip.put(b.rip, b.sameRip);
            return;
        }
        for (Block c = head; c != null && c.sameRip != null; c = c.sameRip) {
            if (c.sameRip == b) {
                c.sameRip = b.sameRip;
                return;
            }
        }
    }

    /**
     * A region for translation around a hot block; the head is also listed under every page its
     * members came from, so a write to any of them drops the region.
     */
    Region region(Block head, int minHits) {
        Region r = Region.form(head, this, minHits);
        for (Block m : r.blocks()) {
            if (m == head) continue;
            long first = m.pa >>> 12, last = m.lastPa >>> 12;
            if (first != head.pa >>> 12) register(first, head);
            if (last != first && last != head.pa >>> 12) register(last, head);
        }
        return r;
    }

    private Block build(long rip) {
        long pa = cpu.mmu.codeAddress(rip);
        int n = 0;
        long at = rip;
        int mode = cpu.mode;
        try {
            while (n < MAX_BLOCK_INSNS) {
                Insn i = cpu.decoder.decode(fetch, at, mode);
                scratch[n++] = i;
                long end = at + i.len;
                if (Exec.endsBlock(i.op)) break;
                if (((at ^ (end - 1)) >>> 12) != 0 || (end & 4095) == 0) { at = end; break; }
                at = end;
            }
        } catch (CpuFault f) {
            // A fetch fault: the block ends before the instruction that cannot be fetched;
            // an empty block re-raises the fault for the first instruction.
            if (n == 0) throw f;
        }
        Insn[] insns = java.util.Arrays.copyOf(scratch, n);
        int len = sum(n);
        long lastPa = cpu.mmu.codeAddress(rip + len - 1);
        Block b = new Block(rip, pa, lastPa, insns, len, mode);
        long firstPage = pa >>> 12;
        register(firstPage, b);
        if ((lastPa >>> 12) != firstPage) register(lastPa >>> 12, b);
        remember(b);
        builds++;
        return b;
    }

    private int sum(int n) {
        int s = 0;
        for (int k = 0; k < n; k++) s += scratch[k].len;
        return s;
    }

    private void register(long page, Block b) {
        byPage.computeIfAbsent(page, p -> new ArrayList<>()).add(b);
        if (cpu.mmu.codePage[(int) page] == 0) {
            cpu.mmu.codePage[(int) page] = 1;
            cpu.mmu.codeAppeared(page);
        }
    }

    /** Drops every block built from the pages that [pa, pa+len) touches. */
    void invalidate(long pa, int len) {
        for (long p = pa >>> 12; p <= (pa + len - 1) >>> 12; p++) {
            List<Block> bs = byPage.remove(p);
            if (bs != null) {
                for (Block b : bs) {
                    if (b.valid) forget(b);
                    b.valid = false;
                }
            }
            cpu.mmu.codePage[(int) p] = 0;
        }
    }

    /** Every cached block (a block spanning two pages appears twice), for statistics. */
    void forEach(java.util.function.Consumer<Block> action) {
        for (List<Block> bs : byPage.values()) bs.forEach(action);
    }

    void flush() {
        java.util.Arrays.fill(table, null);
        for (List<Block> bs : byPage.values()) for (Block b : bs) b.valid = false;
        byPage.clear();
        byRip.clear();
        java.util.Arrays.fill(cpu.mmu.codePage, (byte) 0);
    }
}
