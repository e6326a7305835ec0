package org.jvisor.daemon;

import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The resource groups behind /api/v1/groups: define, change (running VMs of a group feel it at
 * once), and delete one no VM names any more; each group's view shows its VMs and how much of its
 * reservation the running ones take.
 */
final class ResourceGroups {
    /** A group as the API shows it. */
    public record GroupView(GroupSpec spec, String created, List<String> vms, List<String> running, long memoryReservedByRunningBytes,
                            String limits) {}

    private final Store store;
    private final Supervisor supervisor;

    ResourceGroups(Store store, Supervisor supervisor) {
        this.store = store;
        this.supervisor = supervisor;
    }

    Map<String, GroupSpec> all() throws SQLException {
        Map<String, GroupSpec> m = new HashMap<>();
        for (Store.GroupRow g : store.groups()) m.put(g.spec().name(), g.spec());
        return m;
    }

    List<GroupView> list() throws SQLException {
        List<GroupView> out = new ArrayList<>();
        for (Store.GroupRow g : store.groups()) out.add(view(g, null));
        return out;
    }

    GroupView get(String name) throws SQLException, ApiError {
        return view(row(name), null);
    }

    private Store.GroupRow row(String name) throws SQLException, ApiError {
        return store.group(name).orElseThrow(() -> new ApiError(404, "no resource group named '" + name + "'"));
    }

    private GroupView view(Store.GroupRow g, String limits) throws SQLException {
        String name = g.spec().name();
        List<String> vms = new ArrayList<>(), running = new ArrayList<>();
        for (Store.VmRow r : store.vms()) if (name.equals(r.spec().group())) vms.add(r.spec().name());
        long reserved = 0;
        for (VmSpec s : supervisor.runningSpecs(null)) {
            if (!name.equals(s.group())) continue;
            running.add(s.name());
            reserved += Admission.reservation(s);
        }
        java.util.Collections.sort(running);
        return new GroupView(g.spec(), g.created(), vms, running, reserved, limits);
    }

    synchronized GroupView create(GroupSpec g) throws SQLException, ApiError {
        Map<String, String> bad = g.problems();
        if (!bad.isEmpty()) throw new ApiError(400, "the group definition has errors", bad);
        synchronized (supervisor.admission) {
            String why = Admission.checkGroup(g, supervisor.runningSpecs(null), all(), HostFacts.memoryBytes());
            if (why != null) throw new ApiError(409, "group '" + g.name() + "' does not fit: " + why);
            if (!store.insertGroup(g)) throw new ApiError(409, "a resource group named '" + g.name() + "' exists: pick another name");
        }
        store.event(null, "group-defined", "resource group " + g.name() + " created");
        return view(row(g.name()), null);
    }

    synchronized GroupView update(String name, GroupSpec patch) throws SQLException, ApiError {
        Store.GroupRow r = row(name);
        if (patch.name() != null && !patch.name().equals(name)) throw new ApiError(400, "bad request", Map.of("name", "a group cannot be renamed"));
        GroupSpec merged = r.spec().merged(patch);
        Map<String, String> bad = merged.problems();
        if (!bad.isEmpty()) throw new ApiError(400, "the group definition has errors", bad);
        synchronized (supervisor.admission) {
            String why = Admission.checkGroup(merged, supervisor.runningSpecs(null), all(), HostFacts.memoryBytes());
            if (why != null) throw new ApiError(409, "group '" + name + "' cannot change so: " + why);
            store.updateGroup(merged);
        }
        store.event(null, "group-updated", "resource group " + name + " changed");
        String limits = supervisor.applyGroup(merged);
        return view(row(name), limits == null ? "enforced" : limits);
    }

    synchronized void delete(String name) throws SQLException, ApiError {
        row(name);
        List<String> users = new ArrayList<>();
        for (Store.VmRow r : store.vms()) if (name.equals(r.spec().group())) users.add(r.spec().name());
        if (!users.isEmpty()) throw new ApiError(409, "resource group '" + name + "' still has VMs " + users + ": move them out (PATCH group \"\") first");
        store.deleteGroup(name);
        supervisor.removeGroup(name);
        store.event(null, "group-deleted", "resource group " + name + " removed");
    }
}
