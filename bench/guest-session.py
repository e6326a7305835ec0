#!/usr/bin/env python3
"""Boots a guest with COMMAND, waits for the ready line, runs shell SCRIPT lines on its console
and prints every line of guest output that starts with "bench:" (the scripts' results), then
powers the guest off. Used by bench/disk.sh and bench/net.sh for jvisor and QEMU alike.

usage: guest-session.py READY_TEXT SCRIPT_FILE [HOST_HOOK] -- COMMAND...
HOST_HOOK, when given, is a shell command run on the host when the guest prints "bench:host-go".
"""
import os, select, subprocess, sys, time

def main():
    ready = sys.argv[1].encode()
    script = open(sys.argv[2]).read().splitlines()
    sep = sys.argv.index("--")
    hook = sys.argv[3] if sep > 3 else None
    cmd = sys.argv[sep + 1:]
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    buf = b""
    sent = False
    hooked = False
    powered_off = False
    deadline = time.monotonic() + 1200
    while time.monotonic() < deadline:
        r, _, _ = select.select([p.stdout], [], [], 0.05)
        if r:
            chunk = os.read(p.stdout.fileno(), 65536)
            if not chunk:
                break
            buf += chunk
            if not sent and ready in buf:
                time.sleep(0.5)
                for line in script:
                    p.stdin.write((line + "\n").encode())
                p.stdin.write(b"echo bench:done\n")
                p.stdin.flush()
                sent = True
            if hook and not hooked and b"bench:host-go" in buf.replace(b"echo bench:host-go", b""):
                hooked = True
                subprocess.run(hook, shell=True, check=True)
            if sent and not powered_off and b"\nbench:done" in buf.replace(b"\r", b""):
                p.stdin.write(b"poweroff\n")
                p.stdin.flush()
                powered_off = True
        if p.poll() is not None:
            break
    if p.poll() is None:
        p.kill()
    text = buf.decode(errors="replace").replace("\r", "")
    results = [l for l in text.splitlines() if l.startswith("bench:") and l not in ("bench:done", "bench:host-go")]
    if not results:
        sys.exit("no results; console tail:\n" + text[-3000:])
    for l in results:
        print(l)

main()
