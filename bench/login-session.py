#!/usr/bin/env python3
"""Boots a systemd guest with COMMAND and times it on the serial console: the "login:" prompt, then
(logged in as root) `systemctl is-system-running --wait` printing its state, then the exit after
`systemctl poweroff`. Used by bench/debian.sh for jvisor and QEMU alike.

usage: login-session.py PASSWORD TIMEOUT_S CONSOLE_LOG -- COMMAND...
Prints "login S running S exit S state STATE" (seconds from the process start; "-" for what never
came), then one "failed: UNIT ..." line per failed unit when the state is not "running".
The whole console goes to CONSOLE_LOG. The guest is killed at TIMEOUT_S so the run always ends.
"""
import os, re, select, subprocess, sys, time

ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")

def main():
    password = sys.argv[1].encode()
    timeout = float(sys.argv[2])
    log = open(sys.argv[3], "wb")
    cmd = sys.argv[sys.argv.index("--") + 1:]
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    buf = b""          # the console so far, escapes and CRs removed
    mark = 0           # where in buf to look for the next step's text
    step = "login"
    t = {"login": None, "running": None, "exit": None}
    state = None

    def send(text, then):
        nonlocal step, mark
        time.sleep(0.5)  # let getty/login/the shell start reading
        p.stdin.write(text)
        p.stdin.flush()
        step, mark = then, len(buf)

    while time.monotonic() < t0 + timeout:
        r, _, _ = select.select([p.stdout], [], [], 0.05)
        if r:
            chunk = os.read(p.stdout.fileno(), 65536)
            if not chunk:
                break
            log.write(chunk)
            buf += ANSI.sub(b"", chunk).replace(b"\r", b"")
            tail = buf[mark:]
            if step == "login" and b"login: " in tail:
                t["login"] = time.monotonic() - t0
                send(b"root\n", "password")
            elif step == "password" and b"Password: " in tail:
                send(password + b"\n", "shell")
            elif step == "password" and b"login: " in tail:
                send(b"root\n", "password")  # getty restarted under us: try again
            elif step == "shell" and b"Login incorrect" in tail:
                break
            elif step == "shell" and b"# " in tail:
                send(b's=$(systemctl is-system-running --wait); echo "bench:state=$s"\n', "state")
            elif step == "state" and (m := re.search(rb"\nbench:state=(\w+)", tail)):
                t["running"] = time.monotonic() - t0
                state = m.group(1).decode()
                if state != "running":
                    send(b"systemctl --failed --plain --no-legend --no-pager | sed 's/^/bench:failed: /'; echo bench:failed-end\n", "failed")
                else:
                    send(b"systemctl poweroff\n", "exit")
            elif step == "failed" and b"\nbench:failed-end" in tail:
                send(b"systemctl poweroff\n", "exit")
        if p.poll() is not None:
            break
    if p.poll() is None:
        p.kill()
        p.wait()
    elif step == "exit":
        t["exit"] = time.monotonic() - t0
    log.close()
    f = lambda v: "-" if v is None else f"{v:.1f}"
    print(f"login {f(t['login'])} running {f(t['running'])} exit {f(t['exit'])} state {state or '-'}")
    text = buf.decode(errors="replace")
    for l in text.splitlines():
        if l.startswith("bench:failed: "):
            print("failed: " + l[len("bench:failed: "):].strip())
    if t["running"] is None:
        print("console tail:\n" + text[-2000:], file=sys.stderr)

main()
