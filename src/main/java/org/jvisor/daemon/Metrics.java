package org.jvisor.daemon;

import com.fasterxml.jackson.databind.JsonNode;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.MultiCollector;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.ClassicHistogramBuckets;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.prometheus.metrics.model.snapshots.HistogramSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * /metrics in the Prometheus text format (the Prometheus Java client): per VM its state, the
 * VMM's CPU time and RSS, and what the VMM itself counts (guest instructions, RAM the guest
 * touched, the balloon, each disk's requests, bytes and latency histogram, each NIC's packets
 * and bytes); host totals; and the API's own requests. VM figures are read at scrape time from
 * each running VMM's control API.
 */
public final class Metrics {
    static final List<String> STATES = List.of("stopped", "starting", "running", "paused", "crashed");
    private final PrometheusRegistry registry = new PrometheusRegistry();
    private final Counter requests;
    private volatile Store store;
    private volatile Supervisor supervisor;

    public Metrics() {
        requests = Counter.builder().name("jvisor_api_requests").help("REST API requests answered, by method and status")
                .labelNames("method", "status").register(registry);
        registry.register((MultiCollector) this::collectVms);
    }

    void attach(Store store, Supervisor supervisor) {
        this.store = store;
        this.supervisor = supervisor;
    }

    void request(String method, int status) {
        requests.labelValues(method, Integer.toString(status)).inc();
    }

    public String scrape() throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrometheusTextFormatWriter.create().write(out, registry.scrape());
        return out.toString(StandardCharsets.UTF_8);
    }

    private MetricSnapshots collectVms() {
        Store s = store;
        Supervisor sv = supervisor;
        if (s == null || sv == null) return MetricSnapshots.of();
        List<Store.VmRow> vms;
        try {
            vms = s.vms();
        } catch (SQLException e) {
            return MetricSnapshots.of();
        }
        GaugeSnapshot.Builder state = GaugeSnapshot.builder().name("jvisor_vm_state").help("1 for the state the VM is in, by state");
        GaugeSnapshot.Builder memory = GaugeSnapshot.builder().name("jvisor_vm_memory_bytes").help("guest RAM the VM is defined with");
        GaugeSnapshot.Builder touched = GaugeSnapshot.builder().name("jvisor_vm_ram_resident_bytes").help("guest RAM the guest has touched (resident in the VMM)");
        GaugeSnapshot.Builder rss = GaugeSnapshot.builder().name("jvisor_vmm_rss_bytes").help("resident set of the VM's VMM process");
        CounterSnapshot.Builder cpu = CounterSnapshot.builder().name("jvisor_vmm_cpu_seconds").help("CPU time of the VM's VMM process (all its threads)");
        CounterSnapshot.Builder ready = CounterSnapshot.builder().name("jvisor_vmm_cpu_ready_seconds").help("time the VMM's threads were runnable but waited for a host CPU (CPU ready)");
        CounterSnapshot.Builder instr = CounterSnapshot.builder().name("jvisor_vm_guest_instructions").help("guest instructions the vCPUs executed");
        CounterSnapshot.Builder interp = CounterSnapshot.builder().name("jvisor_vm_guest_interpreted_instructions").help("guest instructions run by the interpreter rather than translated code");
        Devices dev = new Devices();
        Map<String, Integer> byState = new TreeMap<>();
        for (String st : STATES) byState.put(st, 0);
        Map<String, Long> pids = sv.pids();
        for (Store.VmRow r : vms) {
            String name = r.spec().name();
            String st = sv.live(name).state();
            byState.merge(st, 1, Integer::sum);
            for (String each : STATES) state.dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder().labels(Labels.of("vm", name, "state", each)).value(each.equals(st) ? 1 : 0).build());
            Labels vm = Labels.of("vm", name);
            memory.dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder().labels(vm).value(r.spec().memoryBytes()).build());
            Long pid = pids.get(name);
            if (pid == null) continue;
            rss.dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder().labels(vm).value(HostFacts.rssBytes(pid)).build());
            cpu.dataPoint(CounterSnapshot.CounterDataPointSnapshot.builder().labels(vm).value(HostFacts.cpuSeconds(pid)).build());
            ready.dataPoint(CounterSnapshot.CounterDataPointSnapshot.builder().labels(vm).value(Monitor.readySeconds(pid)).build());
            try {
                JsonNode info = sv.call(name, "GET", "/vm.info", null, "read its counters");
                touched.dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder().labels(vm).value(info.get("ramResidentBytes").asDouble()).build());
                instr.dataPoint(CounterSnapshot.CounterDataPointSnapshot.builder().labels(vm).value(info.get("instructions").asDouble()).build());
                interp.dataPoint(CounterSnapshot.CounterDataPointSnapshot.builder().labels(vm).value(info.get("interpretedInstructions").asDouble()).build());
                for (JsonNode d : info.path("devices")) dev.add(name, d);
            } catch (Supervisor.Refused | RuntimeException e) {
                // starting or ending: its counters are left out of this scrape
            }
        }
        GaugeSnapshot.Builder host = GaugeSnapshot.builder().name("jvisor_host_vms").help("VMs defined on this host, by state");
        byState.forEach((st, n) -> host.dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder().labels(Labels.of("state", st)).value(n).build()));
        List<MetricSnapshot> all = new ArrayList<>(List.of(state.build(), memory.build(), touched.build(), rss.build(), cpu.build(), ready.build(), instr.build(),
                interp.build(), host.build()));
        all.addAll(dev.build());
        return new MetricSnapshots(all);
    }

    /** The per-device series, from the devices in each VMM's vm.info. */
    private static final class Devices {
        final CounterSnapshot.Builder diskRequests = CounterSnapshot.builder().name("jvisor_vm_disk_requests").help("virtio-blk requests completed, by disk and operation");
        final CounterSnapshot.Builder diskBytes = CounterSnapshot.builder().name("jvisor_vm_disk_bytes").help("bytes read and written by the guest, by disk");
        final CounterSnapshot.Builder diskFailed = CounterSnapshot.builder().name("jvisor_vm_disk_failed_requests").help("virtio-blk requests that completed with an error");
        final HistogramSnapshot.Builder diskLatency = HistogramSnapshot.builder().name("jvisor_vm_disk_request_seconds")
                .help("how long virtio-blk requests took, from the ring to completion (throttle waits included)");
        final CounterSnapshot.Builder netPackets = CounterSnapshot.builder().name("jvisor_vm_net_packets").help("frames through a NIC, by direction (rx: to the guest)");
        final CounterSnapshot.Builder netBytes = CounterSnapshot.builder().name("jvisor_vm_net_bytes").help("bytes through a NIC, by direction (rx: to the guest)");
        final CounterSnapshot.Builder netDropped = CounterSnapshot.builder().name("jvisor_vm_net_dropped").help("frames dropped by a NIC, by direction");
        final GaugeSnapshot.Builder balloon = GaugeSnapshot.builder().name("jvisor_vm_balloon_bytes").help("guest RAM the balloon holds (given back to the host)");

        void add(String vmName, JsonNode d) {
            JsonNode st = d.path("stats");
            if (st.isMissingNode()) return;
            String kind = d.path("kind").asText(), dn = d.path("name").asText("");
            switch (kind) {
                case "block" -> {
                    for (String op : List.of("read", "write", "flush", "other")) {
                        counter(diskRequests, st.path(op + "Requests").asDouble(), "vm", vmName, "disk", dn, "op", op);
                    }
                    counter(diskBytes, st.path("readBytes").asDouble(), "vm", vmName, "disk", dn, "op", "read");
                    counter(diskBytes, st.path("writtenBytes").asDouble(), "vm", vmName, "disk", dn, "op", "write");
                    counter(diskFailed, st.path("failedRequests").asDouble(), "vm", vmName, "disk", dn);
                    JsonNode lat = st.path("latency");
                    int n = lat.path("boundsSeconds").size();
                    double[] bounds = new double[n + 1];
                    long[] counts = new long[n + 1];
                    for (int i = 0; i < n; i++) bounds[i] = lat.path("boundsSeconds").get(i).asDouble();
                    bounds[n] = Double.POSITIVE_INFINITY;
                    for (int i = 0; i <= n; i++) counts[i] = lat.path("counts").path(i).asLong();
                    diskLatency.dataPoint(HistogramSnapshot.HistogramDataPointSnapshot.builder().labels(Labels.of("vm", vmName, "disk", dn))
                            .classicHistogramBuckets(ClassicHistogramBuckets.of(bounds, counts)).sum(lat.path("sumSeconds").asDouble()).build());
                }
                case "net" -> {
                    for (String dir : List.of("rx", "tx")) {
                        counter(netPackets, st.path(dir + "Packets").asDouble(), "vm", vmName, "nic", dn, "direction", dir);
                        counter(netBytes, st.path(dir + "Bytes").asDouble(), "vm", vmName, "nic", dn, "direction", dir);
                        counter(netDropped, st.path(dir + "Dropped").asDouble(), "vm", vmName, "nic", dn, "direction", dir);
                    }
                }
                case "balloon" -> balloon.dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder().labels(Labels.of("vm", vmName))
                        .value(st.path("actualPages").asDouble() * 4096).build());
                default -> { }
            }
        }

        private static void counter(CounterSnapshot.Builder b, double v, String... labels) {
            b.dataPoint(CounterSnapshot.CounterDataPointSnapshot.builder().labels(Labels.of(labels)).value(v).build());
        }

        List<MetricSnapshot> build() {
            return List.of(diskRequests.build(), diskBytes.build(), diskFailed.build(), diskLatency.build(), netPackets.build(), netBytes.build(),
                    netDropped.build(), balloon.build());
        }
    }
}
