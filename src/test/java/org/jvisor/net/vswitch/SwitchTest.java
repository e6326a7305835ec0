package org.jvisor.net.vswitch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The switch core: learning, ageing, flooding inside a VLAN only, tags at trunk ports, port security, and a million random frames. */
class SwitchTest {
    long now;

    final class TestPort implements Switch.Port {
        final String name;
        final VlanPolicy vlan;
        final byte[] secured;
        final List<byte[]> out = new ArrayList<>();
        final Switch.Counters counters = new Switch.Counters();

        TestPort(String name, VlanPolicy vlan, byte[] secured) {
            this.name = name;
            this.vlan = vlan;
            this.secured = secured;
        }

        public String name() { return name; }
        public VlanPolicy vlan() { return vlan; }
        public byte[] securedMac() { return secured; }
        public boolean deliver(byte[] f) { return out.size() < 1000 && out.add(f); }
        public Switch.Counters counters() { return counters; }
    }

    static byte[] frame(int dst, int src) {
        byte[] f = new byte[60];
        f[0] = 2;
        f[5] = (byte) dst;
        if (dst == -1) java.util.Arrays.fill(f, 0, 6, (byte) -1);
        f[6] = 2;
        f[11] = (byte) src;
        f[12] = 0x08;
        return f;
    }

    @Test
    void learnsFloodsInsideTheVlanTagsAtTrunksAndAges() {
        Switch sw = new Switch(1_000, () -> now);
        TestPort a = new TestPort("a", VlanPolicy.access(10), null), b = new TestPort("b", VlanPolicy.access(10), null),
                c = new TestPort("c", VlanPolicy.access(20), null), t = new TestPort("t", VlanPolicy.trunk(Set.of(10, 20), VlanPolicy.NONE), null);
        for (TestPort p : List.of(a, b, c, t)) sw.attach(p);
        sw.receive(a, frame(-1, 1)); // a broadcast from a: b and the trunk (tagged 10), not c
        assertEquals(1, b.out.size());
        assertEquals(0, c.out.size(), "another VLAN sees nothing");
        assertEquals(1, t.out.size());
        byte[] tagged = t.out.get(0);
        assertEquals(64, tagged.length);
        assertEquals(0x81, tagged[12] & 0xFF);
        assertEquals(10, tagged[15]);
        sw.receive(b, frame(1, 2)); // to a's learned MAC: a only
        assertEquals(1, a.out.size());
        assertEquals(1, t.out.size(), "a known address is not flooded");
        sw.receive(t, Switch.tag(frame(2, 3), 20)); // tagged 20 from the trunk to an unknown MAC: floods VLAN 20, untagged at c
        assertEquals(1, c.out.size());
        assertEquals(60, c.out.get(0).length);
        sw.receive(c, Switch.tag(frame(3, 4), 20)); // a tag on an access port
        assertEquals(1, c.counters.vlanDropped.get());
        now += 2_000; // a's entry ages out: frames to it flood again
        sw.receive(b, frame(1, 2));
        assertEquals(2, a.out.size());
        assertEquals(2, t.out.size());
    }

    @Test
    void portSecurityAndMalformedFramesAreDroppedAndCounted() {
        Switch sw = new Switch();
        byte[] mac = {2, 0, 0, 0, 0, 9};
        TestPort s = new TestPort("s", VlanPolicy.access(1), mac), o = new TestPort("o", VlanPolicy.access(1), null);
        sw.attach(s);
        sw.attach(o);
        sw.receive(s, frame(-1, 8)); // spoofed source
        assertEquals(1, s.counters.securityDropped.get());
        sw.receive(s, frame(-1, 9));
        assertEquals(1, o.out.size());
        sw.receive(o, new byte[10]);
        assertEquals(1, o.counters.malformed.get());
    }

    @Test
    void aMillionRandomFramesKeepTheTableBounded() {
        Switch sw = new Switch();
        List<TestPort> ports = List.of(new TestPort("a", VlanPolicy.access(5), null), new TestPort("b", VlanPolicy.trunk(Set.of(5, 6), 5), null),
                new TestPort("c", VlanPolicy.access(6), null));
        ports.forEach(sw::attach);
        Random r = new Random(14);
        for (int i = 0; i < 1_000_000; i++) {
            byte[] f = new byte[r.nextInt(1600)];
            r.nextBytes(f);
            if (f.length > 16 && r.nextBoolean()) { f[12] = (byte) 0x81; f[13] = 0; }
            TestPort p = ports.get(r.nextInt(3));
            sw.receive(p, f);
            if (i % 1000 == 0) ports.forEach(x -> x.out.clear());
        }
        assertTrue(sw.learned() <= Switch.MAX_MACS, "learned " + sw.learned());
    }
}
