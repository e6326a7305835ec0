package org.jvisor.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Memory reservations as admission control, on a host of 4 GiB: what is promised and what is refused. */
class AdmissionTest {
    static final long MIB = 1 << 20, HOST = 4096 * MIB;
    static final ObjectMapper JSON = new ObjectMapper();

    static VmSpec vm(String name, long reserveMib, String group) throws Exception {
        return JSON.readValue("{\"name\":\"" + name + "\",\"memoryReservationBytes\":" + reserveMib * MIB
                + (group == null ? "" : ",\"group\":\"" + group + "\"") + "}", VmSpec.class);
    }

    static GroupSpec group(String name, long reserveMib) {
        return new GroupSpec(name, null, null, null, reserveMib * MIB);
    }

    @Test
    void ungroupedReservationsAddUpToTheHost() throws Exception {
        List<VmSpec> running = List.of(vm("a", 2048, null), vm("b", 1024, null));
        assertNull(Admission.check(vm("c", 1024, null), running, Map.of(), HOST), "exactly what is left");
        String why = Admission.check(vm("c", 1025, null), running, Map.of(), HOST);
        assertTrue(why != null && why.contains("3072 MiB are reserved already"), why);
        assertNull(Admission.check(vm("c", 0, null), running, Map.of(), HOST), "no reservation: always admitted");
        assertNull(Admission.check(vm("a", 3072, null), running, Map.of(), HOST), "a running VM's own old reservation does not count against its new one");
    }

    @Test
    void aGroupsReservationIsPromisedWholeAndItsVmsReserveInsideIt() throws Exception {
        Map<String, GroupSpec> groups = Map.of("web", group("web", 2048));
        List<VmSpec> running = List.of(vm("w1", 1024, "web"));
        assertEquals(2048 * MIB, Admission.promised(running, groups, null), "the group's 2 GiB, not its VM's 1 GiB on top");
        assertNull(Admission.check(vm("w2", 1024, "web"), running, groups, HOST));
        String full = Admission.check(vm("w2", 1025, "web"), running, groups, HOST);
        assertTrue(full != null && full.contains("group 'web'") && full.contains("w1 1024 MiB"), full);
        assertNull(Admission.check(vm("x", 2048, null), running, groups, HOST), "the host's other 2 GiB");
        assertTrue(Admission.check(vm("x", 2049, null), running, groups, HOST) != null);
        assertTrue(Admission.check(vm("y", 1, "nosuch"), running, groups, HOST).contains("does not exist"));
    }

    @Test
    void aGroupMustFitTheHostAndItsRunningMembers() throws Exception {
        Map<String, GroupSpec> groups = Map.of("web", group("web", 2048), "db", group("db", 1024));
        List<VmSpec> running = List.of(vm("w1", 1024, "web"), vm("solo", 512, null));
        assertNull(Admission.checkGroup(group("db", 1536), running, groups, HOST), "2048 + 512 + 1536 = 4096");
        assertTrue(Admission.checkGroup(group("db", 1537), running, groups, HOST).contains("reserved already"));
        assertTrue(Admission.checkGroup(group("web", 512), running, groups, HOST).contains("running VMs reserve 1024 MiB"));
        assertNull(Admission.checkGroup(group("web", 0), running, groups, HOST), "without its reservation, w1's own 1 GiB is promised instead");
        assertTrue(Admission.checkGroup(group("new", 3000), running, groups, HOST) != null);
    }
}
