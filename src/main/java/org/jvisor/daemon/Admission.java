package org.jvisor.daemon;

import java.util.List;
import java.util.Map;

/**
 * Memory reservations as admission control, the way vSphere does it: the host promises each
 * group its reservation, and each running VM outside a group its own; a VM's reservation inside
 * a group comes out of the group's. A start (or a change) that would promise more than the host
 * has, or more than a group holds, is refused with what is taken and by whom.
 */
final class Admission {
    private Admission() {}

    static long reservation(VmSpec s) {
        return s.memoryReservationBytes() == null ? 0 : s.memoryReservationBytes();
    }

    static boolean grouped(VmSpec s) {
        return s.group() != null && !s.group().isEmpty();
    }

    /**
     * Null if {@code candidate} may run beside {@code running} (the other running VMs' specs)
     * with these groups on a host of {@code hostMemory} bytes, else why not.
     */
    static String check(VmSpec candidate, List<VmSpec> running, Map<String, GroupSpec> groups, long hostMemory) {
        long want = reservation(candidate);
        if (grouped(candidate)) {
            GroupSpec g = groups.get(candidate.group());
            if (g == null) return "its group '" + candidate.group() + "' does not exist";
            if (want > 0 && g.reservation() > 0) {
                long taken = 0;
                StringBuilder who = new StringBuilder();
                for (VmSpec r : running) {
                    if (!candidate.group().equals(r.group()) || reservation(r) == 0) continue;
                    taken += reservation(r);
                    who.append(who.isEmpty() ? "" : ", ").append(r.name()).append(' ').append(mib(reservation(r)));
                }
                if (taken + want > g.reservation()) {
                    return "it reserves " + mib(want) + " in group '" + g.name() + "', which holds " + mib(g.reservation()) + " and has "
                            + mib(g.reservation() - taken) + " left" + (who.isEmpty() ? "" : " (" + who + ")")
                            + ": lower its memoryReservationBytes, stop one of them, or raise the group's";
                }
                return null; // inside the group's reservation, which the host already keeps
            }
        }
        if (want == 0) return null;
        long promised = promised(running, groups, candidate.name());
        if (promised + want > hostMemory) {
            return "it reserves " + mib(want) + " but the host has " + mib(hostMemory) + " of which " + mib(promised)
                    + " are reserved already (groups and running VMs): lower its memoryReservationBytes or stop a VM";
        }
        return null;
    }

    /** What the host has promised: every group's reservation, and running VMs' own outside groups with one. */
    static long promised(List<VmSpec> running, Map<String, GroupSpec> groups, String except) {
        long sum = 0;
        for (GroupSpec g : groups.values()) sum += g.reservation();
        for (VmSpec r : running) {
            if (r.name().equals(except)) continue;
            GroupSpec g = grouped(r) ? groups.get(r.group()) : null;
            if (g == null || g.reservation() == 0) sum += reservation(r);
        }
        return sum;
    }

    /** Null if {@code group} (new or changed) fits the host and its running members, else why not. */
    static String checkGroup(GroupSpec group, List<VmSpec> running, Map<String, GroupSpec> groups, long hostMemory) {
        long members = 0;
        for (VmSpec r : running) if (group.name().equals(r.group())) members += reservation(r);
        if (group.reservation() > 0 && members > group.reservation()) {
            return "its running VMs reserve " + mib(members) + ", more than the " + mib(group.reservation()) + " asked: stop some or lower theirs first";
        }
        Map<String, GroupSpec> others = new java.util.HashMap<>(groups);
        others.remove(group.name());
        long promised = 0;
        for (GroupSpec g : others.values()) promised += g.reservation();
        for (VmSpec r : running) {
            if (group.name().equals(r.group())) continue;
            GroupSpec g = grouped(r) ? others.get(r.group()) : null;
            if (g == null || g.reservation() == 0) promised += reservation(r);
        }
        // without a reservation of its own, the group's running VMs are promised theirs one by one
        long asked = group.reservation() > 0 ? group.reservation() : members;
        if (promised + asked > hostMemory) {
            return "it reserves " + mib(asked) + " but the host has " + mib(hostMemory) + " of which " + mib(promised) + " are reserved already";
        }
        return null;
    }

    static String mib(long bytes) {
        return (bytes >> 20) + " MiB";
    }
}
