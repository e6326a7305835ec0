package org.jvisor.net.vswitch;

import java.util.Set;
import java.util.TreeSet;

/**
 * A port's VLAN membership, as on a managed switch: an access port carries one VLAN and its
 * frames untagged; a trunk port carries the VLANs it allows with 802.1Q tags, and its native
 * VLAN (if any) untagged.
 */
public record VlanPolicy(int access, Set<Integer> allowed, int nativeVlan) {
    public static final int NONE = 0, DEFAULT = 1;

    public VlanPolicy {
        allowed = allowed == null ? Set.of() : Set.copyOf(allowed);
    }

    public static VlanPolicy access(int vlan) {
        check(vlan);
        return new VlanPolicy(vlan, Set.of(), NONE);
    }

    /** A trunk of {@code allowed} VLANs, tagged, and untagged frames in {@code nativeVlan} (NONE: untagged frames are dropped). */
    public static VlanPolicy trunk(Set<Integer> allowed, int nativeVlan) {
        if (allowed.isEmpty()) throw new IllegalArgumentException("a trunk needs at least one VLAN");
        for (int v : allowed) check(v);
        if (nativeVlan != NONE) check(nativeVlan);
        return new VlanPolicy(NONE, new TreeSet<>(allowed), nativeVlan);
    }

    static void check(int vlan) {
        if (vlan < 1 || vlan > 4094) throw new IllegalArgumentException("VLAN " + vlan + " is outside 1 to 4094");
    }

    public boolean trunk() {
        return access == NONE;
    }

    /** Whether frames of {@code vlan} leave through this port. */
    boolean carries(int vlan) {
        return trunk() ? allowed.contains(vlan) || vlan == nativeVlan : vlan == access;
    }

    /** The hello's form: vlan=N, or trunk=A:B:C[/native=N]. */
    public String wire() {
        if (!trunk()) return "vlan=" + access;
        StringBuilder b = new StringBuilder("trunk=");
        for (int v : allowed) b.append(b.length() > 6 ? ":" : "").append(v);
        if (nativeVlan != NONE) b.append(" native=").append(nativeVlan);
        return b.toString();
    }
}
