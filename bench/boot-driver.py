#!/usr/bin/env python3
"""Boots a guest N times with a given command, timing the console's ready line and the exit.

usage: boot-driver.py RUNS READY_TEXT -- COMMAND...
Prints one line per run ("run N: ready S exit S") and a final "median ready S exit S".
After the ready line it types "poweroff" on the console (stdin) and waits for the process to end.
"""
import os, select, statistics, subprocess, sys, time

def one(cmd, ready):
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    buf = b""
    t_ready = None
    deadline = t0 + 600
    while time.monotonic() < deadline:
        r, _, _ = select.select([p.stdout], [], [], 0.05)
        if r:
            chunk = os.read(p.stdout.fileno(), 65536)
            if not chunk:
                break
            buf += chunk
            if t_ready is None and ready.encode() in buf:
                t_ready = time.monotonic() - t0
                time.sleep(0.5)  # let the shell start reading
                p.stdin.write(b"poweroff\n")
                p.stdin.flush()
        if p.poll() is not None:
            break
    p.wait(timeout=60)
    t_exit = time.monotonic() - t0
    if t_ready is None:
        sys.exit("no ready line; console tail:\n" + buf[-2000:].decode(errors="replace"))
    return t_ready, t_exit, p.returncode

def main():
    runs = int(sys.argv[1]); ready = sys.argv[2]; cmd = sys.argv[sys.argv.index("--") + 1:]
    rs, es = [], []
    for n in range(runs):
        r, e, rc = one(cmd, ready)
        print(f"  run {n + 1}: ready {r:.2f} s, exit {e:.2f} s (exit code {rc})", flush=True)
        rs.append(r); es.append(e)
    print(f"median ready {statistics.median(rs):.2f} exit {statistics.median(es):.2f}")

main()
