package org.jvisor.daemon;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A resource group (vSphere's resource pool, a libvirt partition): VMs that share CPU and memory
 * limits between them, and a memory reservation the host keeps for them whether or not they run.
 * Its VMs' own reservations come out of the group's. Enforced as a cgroup above the VMs' own.
 */
public record GroupSpec(String name, Double cpuLimit, Integer cpuShares, Long memoryLimitBytes, Long memoryReservationBytes) {

    /** Field name to what is wrong with it; empty when the spec is good. */
    public Map<String, String> problems() {
        Map<String, String> p = new LinkedHashMap<>();
        if (name == null || name.isEmpty()) p.put("name", "required");
        else if (!VmSpec.NAME.matcher(name).matches()) p.put("name", "1-63 letters, digits, '.', '_' or '-', starting with a letter or digit: '" + name + "'");
        int cores = Runtime.getRuntime().availableProcessors();
        if (cpuLimit != null && (cpuLimit < 0 || cpuLimit > cores)) p.put("cpuLimit", "cores, 0 (no limit) to " + cores);
        else if (cpuLimit != null && cpuLimit > 0 && cpuLimit < 0.01) p.put("cpuLimit", "at least 0.01 of a core (or 0 for no limit)");
        if (cpuShares != null && (cpuShares < 2 || cpuShares > 262_144)) p.put("cpuShares", "2 to 262144 (1024 is the default weight)");
        if (memoryLimitBytes != null && memoryLimitBytes != 0 && memoryLimitBytes < VmSpec.MIN_MEMORY + VmSpec.VMM_OVERHEAD) {
            p.put("memoryLimitBytes", "0 (none), or at least " + (VmSpec.MIN_MEMORY + VmSpec.VMM_OVERHEAD) + " (the smallest VM with its VMM)");
        }
        if (memoryReservationBytes != null && memoryReservationBytes < 0) p.put("memoryReservationBytes", "0 (none) or more");
        if (memoryReservationBytes != null && memoryLimitBytes != null && memoryLimitBytes > 0 && memoryReservationBytes > memoryLimitBytes) {
            p.put("memoryReservationBytes", "more than the group's memoryLimitBytes");
        }
        return p;
    }

    long reservation() {
        return memoryReservationBytes == null ? 0 : memoryReservationBytes;
    }

    /** The fields {@code patch} gives replace these. */
    GroupSpec merged(GroupSpec patch) {
        return new GroupSpec(name, patch.cpuLimit != null ? patch.cpuLimit : cpuLimit, patch.cpuShares != null ? patch.cpuShares : cpuShares,
                patch.memoryLimitBytes != null ? patch.memoryLimitBytes : memoryLimitBytes,
                patch.memoryReservationBytes != null ? patch.memoryReservationBytes : memoryReservationBytes);
    }
}
