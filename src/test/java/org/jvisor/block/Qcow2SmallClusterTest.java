package org.jvisor.block;

/** qcow2 with 512-byte clusters: refcount blocks and the refcount table must grow often. */
class Qcow2SmallClusterTest extends Qcow2ImageTest {
    @Override
    int clusterBits() {
        return 9;
    }
}
