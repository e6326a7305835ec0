package org.jvisor.cpu.emu;

/**
 * What the translator compiles as one method: a hot block (the head, where the region is entered)
 * and the warm blocks reachable from it by direct branches and fall-through without leaving its
 * page, so that a loop whose body spans several blocks runs inside one compiled method. Staying
 * in one page means the head's TLB check at entry covers every member; the code cache drops the
 * region when any page it was built from is written.
 */
record Region(Block[] blocks) {
    static final int MAX_BLOCKS = 24, MAX_INSNS = 320;

    /**
     * Gathers the region around {@code head}, breadth first, from blocks the cache already holds
     * that have run at least {@code minHits} times (cold paths stay out: they would only make the
     * method larger).
     */
    static Region form(Block head, CodeCache cache, int minHits) {
        java.util.ArrayList<Block> members = new java.util.ArrayList<>();
        members.add(head);
        int insns = head.insns.length;
        for (int at = 0; at < members.size() && members.size() < MAX_BLOCKS; at++) {
            Block b = members.get(at);
            for (long target : successors(b)) {
                if ((target >>> 12) != (head.rip >>> 12)) continue;
                Block s = cache.peek(target, head.pa >>> 12, head.mode);
                if (s == null || s.hits < minHits) continue;
                if (members.contains(s) || insns + s.insns.length > MAX_INSNS || members.size() >= MAX_BLOCKS) continue;
                members.add(s);
                insns += s.insns.length;
            }
        }
        return new Region(members.toArray(Block[]::new));
    }

    /** Where a block can go next by a direct branch or by falling through. */
    private static long[] successors(Block b) {
        Insn last = b.insns[b.insns.length - 1];
        long end = b.rip + b.byteLen;
        if (last.op == Op.JCC) return new long[] {end + last.imm, end};
        if (last.op == Op.JMP_REL) return new long[] {end + last.imm};
        if (Exec.endsBlock(last.op)) return new long[0];
        return new long[] {end}; // cut at a page end or the size cap
    }
}
