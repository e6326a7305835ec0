#!/usr/bin/env python3
"""jvisord under load: time from the API's clone of a template (linked) to a guest at its shell,
for 1 VM and for N VMs cloned and started at once; GET /api/v1/vms latency (p50/p99) with the N
VMs running; the daemon's RSS. Then the same N guests as plain QEMU TCG processes started at once,
for the ratio. Prints "result:" lines of key=value pairs.

usage: manage-driver.py JVISOR_LAUNCHER STATE_DIR N READY_TEXT -- QEMU_COMMAND...
"""
import json, os, statistics, subprocess, sys, threading, time, urllib.request

jvisor, state, n, ready = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
qemu = sys.argv[sys.argv.index("--") + 1:]
ERR = sys.stderr if os.environ.get("JVISOR_BENCH_DEBUG") else subprocess.DEVNULL

daemon = subprocess.Popen([jvisor, "daemon", "--listen", "127.0.0.1:0", "--state", state], stdin=subprocess.DEVNULL, stdout=ERR, stderr=ERR)
url_file = os.path.join(state, "url")
for _ in range(600):
    if os.path.exists(url_file):
        break
    time.sleep(0.05)
else:
    raise SystemExit("the daemon did not come up")
url = open(url_file).read().strip() + "/api/v1"
token = open(os.path.join(state, "admin-token")).read().strip()

def api(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url + path, data=data, method=method, headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=600) as r:
            text = r.read()
            return json.loads(text) if text else None
    except urllib.error.HTTPError as e:
        raise SystemExit("%s %s: %s" % (method, path, e.read().decode(errors="replace")))

def wait_ready(name, timeout=600):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if ready in api("GET", "/vms/%s/console" % name)["text"]:
                return
        except SystemExit:
            pass
        time.sleep(0.05)
    raise SystemExit("%s did not reach its shell" % name)

def clone_start(name, times):
    t0 = time.monotonic()
    api("POST", "/vms/tmpl/clone", {"name": name, "linked": True})
    api("POST", "/vms/%s/start" % name)
    wait_ready(name)
    times[name] = time.monotonic() - t0

def rss_mib(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0

try:
    api("POST", "/pools", {"name": "bench", "path": os.path.join(state, "pool")})
    api("POST", "/pools/bench/volumes", {"name": "tmpl.qcow2", "format": "qcow2", "sizeBytes": 1 << 30})
    api("POST", "/vms", {"name": "tmpl", "memoryBytes": 256 << 20, "disks": [{"pool": "bench", "volume": "tmpl.qcow2"}]})
    api("POST", "/vms/tmpl/template")
    times = {}
    clone_start("one", times)
    print("result: jvisor_start1_s=%.1f" % times["one"], flush=True)
    api("POST", "/vms/one/stop")
    times = {}
    t0 = time.monotonic()
    threads = [threading.Thread(target=clone_start, args=("vm%d" % i, times)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    startn = time.monotonic() - t0
    if len(times) != n:
        raise SystemExit("only %d of %d VMs came up" % (len(times), n))
    lat = []
    for _ in range(200):
        t = time.monotonic()
        vms = api("GET", "/vms")
        lat.append((time.monotonic() - t) * 1000)
    running = sum(1 for v in vms if v["state"] == "running")
    lat.sort()
    vmm_rss = [rss_mib(v["pid"]) for v in vms if v["pid"]]
    print("result: jvisor_startN_s=%.1f slowest_vm_s=%.1f running=%d list_p50_ms=%.1f list_p99_ms=%.1f daemon_rss_mib=%.0f vmm_rss_mean_mib=%.0f"
          % (startn, max(times.values()), running, lat[len(lat) // 2], lat[int(len(lat) * 0.99) - 1], rss_mib(daemon.pid), statistics.mean(vmm_rss)), flush=True)
    for v in vms:
        if v["pid"]:
            api("POST", "/vms/%s/stop" % v["name"])
finally:
    try:
        for v in api("GET", "/vms"):
            if v["pid"]:
                os.kill(v["pid"], 9)
    except Exception:
        pass
    daemon.kill()

# QEMU TCG: the same N guests started at once, each until its shell is ready
def qemu_one(results, i):
    t0 = time.monotonic()
    p = subprocess.Popen(qemu, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=ERR)
    buf = b""
    end = time.monotonic() + 600
    while ready.encode() not in buf and time.monotonic() < end:
        chunk = os.read(p.stdout.fileno(), 65536)
        if not chunk:
            break
        buf += chunk
    results[i] = time.monotonic() - t0 if ready.encode() in buf else None
    p.kill()
    p.wait()

for count in (1, n):
    results = {}
    t0 = time.monotonic()
    threads = [threading.Thread(target=qemu_one, args=(results, i)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if None in results.values():
        raise SystemExit("a QEMU guest did not reach its shell")
    print("result: qemu_start%s_s=%.1f" % ("1" if count == 1 else "N", time.monotonic() - t0), flush=True)
