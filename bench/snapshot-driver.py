#!/usr/bin/env python3
"""Snapshot and restore of an idle guest at its shell, for jvisor (control API) or QEMU (QMP):
time to save (the API call, and how long the guest stood still), time from starting a restoring
process to a guest that answers on its console, and the restored process's RSS. Or, with
--migrate, a live migration of that guest to a second process waiting on a Unix socket: the
total time the sender reports, the downtime it reports, and the wall time until the destination
answers on its console. Prints one "result:" line of key=value pairs.

usage: snapshot-driver.py [--migrate] jvisor|qemu READY_TEXT STATE_FILE -- BOOT_COMMAND...
The restore (incoming) command is the boot command with the restore (incoming) flags appended.
"""
import json, os, select, socket, subprocess, sys, time

ERR = sys.stderr if os.environ.get("JVISOR_BENCH_DEBUG") else subprocess.DEVNULL

def spawn(cmd):
    return subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=ERR)

def read_some(p, buf, wait):
    """buf and what the process printed within wait seconds."""
    r, _, _ = select.select([p.stdout], [], [], wait)
    if r:
        chunk = os.read(p.stdout.fileno(), 65536)
        if not chunk:
            raise SystemExit("the process exited; last output: %r" % buf[-500:])
        buf += chunk
    return buf

def read_until(p, buf, needle, timeout):
    end = time.monotonic() + timeout
    while needle not in buf:
        if time.monotonic() > end:
            raise SystemExit("timed out waiting for %r; last output: %r" % (needle, buf[-500:]))
        buf = read_some(p, buf, 0.01)
    return buf

def http(sock_path, method, path, body=None):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock_path)
    data = json.dumps(body).encode() if body is not None else b""
    s.sendall(("%s /api/v1%s HTTP/1.1\r\nHost: vmm\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
               % (method, path, len(data))).encode() + data)
    out = b""
    while True:
        c = s.recv(65536)
        if not c:
            break
        out += c
    s.close()
    head, _, payload = out.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    if status >= 300:
        raise SystemExit("%s %s: %s" % (method, path, out.decode(errors="replace")))
    return json.loads(payload) if payload.strip() else None

class Qmp:
    def __init__(self, path):
        for _ in range(200):
            try:
                self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.s.connect(path)
                break
            except OSError:
                time.sleep(0.005)
        self.f = self.s.makefile("rwb")
        self.f.readline()  # greeting
        self.cmd("qmp_capabilities")

    def cmd(self, name, **args):
        self.f.write(json.dumps({"execute": name, "arguments": args}).encode() + b"\n")
        self.f.flush()
        while True:
            m = json.loads(self.f.readline())
            if "return" in m or "error" in m:
                if "error" in m:
                    raise SystemExit("QMP %s: %s" % (name, m["error"]))
                return m["return"]

def rss_kib(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0

def answers(p, buf, timeout):
    """Types a marker command until its output shows: the guest runs and its shell listens. Typed
    once, it can be lost (QEMU drops console input that arrives before the incoming migration is in),
    so it is typed again every 100 ms; the first answer ends the wait."""
    end = time.monotonic() + timeout
    while b"restored-ok" not in buf:
        if time.monotonic() > end:
            raise SystemExit("no answer from the restored guest; last output: %r" % buf[-500:])
        p.stdin.write(b"echo restored-\\ok\n")
        p.stdin.flush()
        stop = time.monotonic() + 0.1
        while time.monotonic() < stop and b"restored-ok" not in buf:
            buf = read_some(p, buf, 0.005)
    return buf

def start(kind, boot, ctl, extra=()):
    qmp = ["-qmp", "unix:%s,server=on,wait=off" % ctl] if kind == "qemu" else ["--api-socket", ctl]
    return spawn(list(boot) + list(extra) + qmp)

def stop(p):
    p.stdin.write(b"poweroff -f\n")
    p.stdin.flush()
    try:
        p.wait(30)
    except subprocess.TimeoutExpired:
        p.kill()

def migrate(kind, ready, base, boot, budget_ms=10):
    """Source and destination on this host; the destination waits on base.in (a Unix socket)."""
    a_ctl, b_ctl, inc = base + ".a.sock", base + ".b.sock", base + ".in"
    for f in (a_ctl, b_ctl, inc):
        if os.path.exists(f):
            os.remove(f)
    a = start(kind, boot, a_ctl)
    read_until(a, b"", ready, 600)
    time.sleep(2)  # idle at the shell
    if kind == "jvisor":
        b = spawn(boot[:boot.index("run") + 1] + ["--incoming", "unix:" + inc, "--api-socket", b_ctl])
    else:
        b = start(kind, boot, b_ctl, ["-incoming", "unix:" + inc])
    for _ in range(6000):
        if os.path.exists(inc):
            break
        time.sleep(0.005)
    t0 = time.monotonic()
    if kind == "jvisor":
        r = http(a_ctl, "PUT", "/vm.migrate", {"uri": "unix:" + inc, "downtimeMillis": budget_ms})
        total_ms, downtime_ms, rounds = r["totalMillis"], r["downtimeMillis"], r["rounds"]
        sent_mib = r["ramBytesSent"] / 2**20
    else:
        q = Qmp(a_ctl)
        q.cmd("migrate-set-parameters", **{"max-bandwidth": 100 * 2**30, "downtime-limit": budget_ms})
        q.cmd("migrate", uri="unix:" + inc)
        while q.cmd("query-migrate").get("status") not in ("completed", "failed"):
            time.sleep(0.001)
        m = q.cmd("query-migrate")
        if m["status"] != "completed":
            raise SystemExit("QEMU's migration failed: %s" % m)
        total_ms, downtime_ms = m["total-time"], m["downtime"]
        rounds = m["ram"].get("dirty-sync-count", 0)
        sent_mib = m["ram"]["transferred"] / 2**20
    answers(b, b"", 120)
    wall_ms = (time.monotonic() - t0) * 1000
    try:
        a.wait(30)
    except subprocess.TimeoutExpired:
        a.kill()  # QEMU's source stays up, paused, after a migration
    stop(b)
    print("result: migrate_total_ms=%.0f downtime_ms=%.1f answered_ms=%.0f rounds=%d sent_mib=%.1f"
          % (total_ms, downtime_ms, wall_ms, rounds, sent_mib))

def main():
    if sys.argv[1] == "--migrate":
        boot = sys.argv[sys.argv.index("--") + 1:]
        return migrate(sys.argv[2], sys.argv[3].encode(), sys.argv[4], boot)
    kind, ready, state = sys.argv[1], sys.argv[2].encode(), sys.argv[3]
    boot = sys.argv[sys.argv.index("--") + 1:]
    ctl = state + ".sock"
    for f in (state, ctl):
        if os.path.exists(f):
            os.remove(f)
    p = start(kind, boot, ctl)
    buf = read_until(p, b"", ready, 600)
    time.sleep(2)  # idle at the shell
    t0 = time.monotonic()
    if kind == "jvisor":
        r = http(ctl, "PUT", "/vm.snapshot", {"path": os.path.abspath(state), "resume": False})
        save_ms = (time.monotonic() - t0) * 1000
        extra = "ram_written_mib=%.1f" % (r["ramBytes"] / 2**20)
    else:
        q = Qmp(ctl)
        q.cmd("migrate-set-parameters", **{"max-bandwidth": 100 * 2**30})
        q.cmd("migrate", uri="exec:cat > %s" % state)
        while q.cmd("query-migrate").get("status") not in ("completed", "failed"):
            time.sleep(0.001)
        save_ms = (time.monotonic() - t0) * 1000
        extra = "downtime_ms=%s" % q.cmd("query-migrate").get("downtime")
    p.kill()
    p.wait()
    file_mib = os.path.getsize(state) / 2**20
    os.remove(ctl) if os.path.exists(ctl) else None
    t1 = time.monotonic()
    if kind == "jvisor":
        p = spawn(boot[:boot.index("run") + 1] + ["--restore", state])
    else:
        p = spawn(boot + ["-incoming", "exec:cat %s" % state])
    answers(p, b"", 120)
    restore_ms = (time.monotonic() - t1) * 1000
    time.sleep(0.5)
    rss = rss_kib(p.pid) / 1024
    stop(p)
    print("result: save_ms=%.0f restore_ms=%.0f file_mib=%.1f rss_mib=%.0f %s" % (save_ms, restore_ms, file_mib, rss, extra))

main()
