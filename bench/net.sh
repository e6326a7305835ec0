#!/usr/bin/env bash
# Guest <-> host TCP throughput over virtio-net on a TAP, jvisor against QEMU TCG (-M q35,
# virtio-net-pci, vhost off), same kernel, initramfs, memory and one vCPU. Everything runs in a
# network namespace this script creates (and deletes): 32 MiB host -> guest into busybox nc, then
# 32 MiB guest -> host. Medians over RUNS boots.
# Then the same through user-mode networking, jvisor's --net user against QEMU's -netdev user,
# with the host's side on 127.0.0.1: host -> guest through a forwarded port, guest -> host to the
# gateway's address, which both map to the host's loopback. (Not restrict=on: QEMU's cuts the
# guest off from the host too; the guest here only ever talks to 10.0.2.2.)
# Last lines: net-ratio (TAP) and usernet-ratio (user-mode), jvisor / QEMU, geometric means of
# both directions; higher is better.
# usage: bench/net.sh [RUNS, default 3]   (needs root for the namespace and the TAP)
set -euo pipefail
source "$(dirname "$(readlink -f "$0")")/../scripts/env.sh"
cd "$jvisor_root"
"$jvisor_root/scripts/prereqs.sh"
jvisor_build_if_stale
RUNS=${1:-3}
source bench/lib-guest.sh
NS=jvisor-bench-$$
TAP=jvbench0
MB=32
SCRIPT=$(mktemp /tmp/jvisor-bench-net.XXXXXX)
PAYLOAD=$(mktemp /tmp/jvisor-bench-net-payload.XXXXXX)
cleanup() { ip netns del "$NS" 2>/dev/null || true; rm -f "$SCRIPT" "$PAYLOAD"; }
trap cleanup EXIT
ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" tuntap add "$TAP" mode tap
ip -n "$NS" addr add 10.0.3.1/24 dev "$TAP"
ip -n "$NS" link set "$TAP" up
head -c $((MB << 20)) /dev/urandom > "$PAYLOAD"
cat > "$SCRIPT" <<GUEST
t() { cut -d' ' -f1 /proc/uptime; }
ip addr add 10.0.3.15/24 dev eth0; ip link set eth0 up; sleep 1
echo bench:host-go
a=\$(t); nc -l -p 5000 </dev/null >/dev/null; b=\$(t); echo "bench:rx \$a \$b"
sleep 1; a=\$(t); dd if=/dev/zero bs=64k count=$((MB * 16)) 2>/dev/null | nc 10.0.3.1 5001; b=\$(t); echo "bench:tx \$a \$b"
GUEST
# The host side: a sink for the guest's upload (reads MB MiB, then closes), and the download to the guest.
# The sink runs in the background: its output goes nowhere (it must not hold the session's pipe)
# and it gives up after 15 minutes, so a guest that never connects cannot hang the script.
HOOK="ip netns exec $NS timeout 900 python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((\"10.0.3.1\", 5001)); s.listen(1)
c, _ = s.accept(); n = 0
while n < $((MB << 20)):
    d = c.recv(1 << 20)
    if not d: break
    n += len(d)
c.close()' >/dev/null 2>&1 & ip netns exec $NS python3 -c '
import socket, sys, time
for i in range(100):
    try:
        s = socket.create_connection((\"10.0.3.15\", 5000)); break
    except OSError: time.sleep(0.2)
s.sendall(open(\"$PAYLOAD\", \"rb\").read()); s.close()'"
measure() { # prints "rx_MBps tx_MBps" for one boot
  ip netns exec "$NS" python3 bench/guest-session.py "$READY" "$SCRIPT" "$HOOK" -- "$@" | awk -v mb="$MB" '
    /^bench:rx/ { r = mb * 1.048576 / ($3 - $2) } /^bench:tx/ { t = mb * 1.048576 / ($3 - $2) }
    END { printf "%.2f %.2f\n", r, t }'
}
echo "host: $(host_line)"
for who in jvisor qemu; do
  : > "/tmp/jvisor-bench-net-$who"
  for n in $(seq "$RUNS"); do
    if [ $who = jvisor ]; then
      m=$(measure ./jvisor run --memory 512M --no-reboot --net tap=$TAP)
    else
      m=$(measure qemu-system-x86_64 -accel tcg -cpu qemu64 -M q35 -m 512M -smp 1 -nographic -no-reboot \
            -kernel "$VMLINUX" -initrd "$INITRD" -append "console=ttyS0 panic=-1" \
            -netdev tap,id=n0,ifname=$TAP,script=no,downscript=no,vhost=off -device virtio-net-pci,netdev=n0,mac=02:4a:56:00:00:01)
    fi
    echo "  $who run $n: host->guest $(echo $m | cut -d' ' -f1) MB/s, guest->host $(echo $m | cut -d' ' -f2) MB/s"
    echo "$m" >> "/tmp/jvisor-bench-net-$who"
  done
done
med() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
JR=$(cut -d' ' -f1 /tmp/jvisor-bench-net-jvisor | med); JT=$(cut -d' ' -f2 /tmp/jvisor-bench-net-jvisor | med)
QR=$(cut -d' ' -f1 /tmp/jvisor-bench-net-qemu | med); QT=$(cut -d' ' -f2 /tmp/jvisor-bench-net-qemu | med)
rm -f /tmp/jvisor-bench-net-jvisor /tmp/jvisor-bench-net-qemu
echo "median host->guest: jvisor $JR MB/s, QEMU $QR MB/s; guest->host: jvisor $JT MB/s, QEMU $QT MB/s"
NET_RATIO=$(awk -v a="$JR" -v b="$QR" -v c="$JT" -v d="$QT" 'BEGIN { printf "%.2f", exp((log(a / b) + log(c / d)) / 2) }')

# ---- user-mode networking: no namespace, no TAP; the host's side on its loopback ----
FWD=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
SINK=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$SCRIPT" <<GUEST
t() { cut -d' ' -f1 /proc/uptime; }
ip addr add 10.0.2.15/24 dev eth0; ip link set eth0 up; ip route add default via 10.0.2.2; sleep 1
echo bench:host-go
a=\$(t); nc -l -p 5000 </dev/null >/dev/null; b=\$(t); echo "bench:rx \$a \$b"
sleep 1; a=\$(t); dd if=/dev/zero bs=64k count=$((MB * 16)) 2>/dev/null | nc 10.0.2.2 $SINK && b=\$(t) && echo "bench:tx \$a \$b"
GUEST
# The forwarder accepts before the guest's nc listens: a connection the guest resets is made again.
HOOK="timeout 900 python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((\"127.0.0.1\", $SINK)); s.listen(1)
c, _ = s.accept(); n = 0
while n < $((MB << 20)):
    d = c.recv(1 << 20)
    if not d: break
    n += len(d)
c.close()' >/dev/null 2>&1 & python3 -c '
import socket, time
data = open(\"$PAYLOAD\", \"rb\").read()
for i in range(100):
    try:
        s = socket.create_connection((\"127.0.0.1\", $FWD)); time.sleep(0.3); s.sendall(data); s.close(); break
    except OSError: time.sleep(0.3)'"
measure_user() { python3 bench/guest-session.py "$READY" "$SCRIPT" "$HOOK" -- "$@" | awk -v mb="$MB" '
    /^bench:rx/ { r = mb * 1.048576 / ($3 - $2) } /^bench:tx/ { t = mb * 1.048576 / ($3 - $2) }
    END { printf "%.2f %.2f\n", r, t }'
}
for who in jvisor qemu; do
  : > "/tmp/jvisor-bench-usernet-$who"
  for n in $(seq "$RUNS"); do
    if [ $who = jvisor ]; then
      m=$(measure_user ./jvisor run --memory 512M --no-reboot --net user,hostfwd=tcp:127.0.0.1:$FWD-:5000)
    else
      m=$(measure_user qemu-system-x86_64 -accel tcg -cpu qemu64 -M q35 -m 512M -smp 1 -nographic -no-reboot \
            -kernel "$VMLINUX" -initrd "$INITRD" -append "console=ttyS0 panic=-1" \
            -netdev user,id=n0,hostfwd=tcp:127.0.0.1:$FWD-:5000 -device virtio-net-pci,netdev=n0,mac=02:4a:56:00:00:01)
    fi
    echo "  user-mode $who run $n: host->guest $(echo $m | cut -d' ' -f1) MB/s, guest->host $(echo $m | cut -d' ' -f2) MB/s"
    echo "$m" >> "/tmp/jvisor-bench-usernet-$who"
  done
done
UJR=$(cut -d' ' -f1 /tmp/jvisor-bench-usernet-jvisor | med); UJT=$(cut -d' ' -f2 /tmp/jvisor-bench-usernet-jvisor | med)
UQR=$(cut -d' ' -f1 /tmp/jvisor-bench-usernet-qemu | med); UQT=$(cut -d' ' -f2 /tmp/jvisor-bench-usernet-qemu | med)
rm -f /tmp/jvisor-bench-usernet-jvisor /tmp/jvisor-bench-usernet-qemu
echo "user-mode median host->guest: jvisor $UJR MB/s, QEMU $UQR MB/s; guest->host: jvisor $UJT MB/s, QEMU $UQT MB/s"
echo "net-ratio: $NET_RATIO"
awk -v a="$UJR" -v b="$UQR" -v c="$UJT" -v d="$UQT" 'BEGIN { printf "usernet-ratio: %.2f\n", exp((log(a / b) + log(c / d)) / 2) }'
