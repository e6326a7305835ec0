#!/usr/bin/env bash
# In-guest disk throughput on the same raw image, jvisor (virtio-blk on its PCI transport) against
# QEMU TCG (-M q35, virtio-blk-pci), same kernel, initramfs, memory and one vCPU: sequential read
# and write of the whole 256 MiB image (busybox dd, 1 MiB blocks, O_DIRECT in the guest; host page cache on for both) and 4 KiB random reads (one dd per read, so the
# figure includes the guest's process start-up, identical for both). Medians over RUNS boots.
# Last line: disk-ratio (jvisor / QEMU, geometric mean of the three; higher is better).
# usage: bench/disk.sh [RUNS, default 3]
set -euo pipefail
source "$(dirname "$(readlink -f "$0")")/../scripts/env.sh"
cd "$jvisor_root"
"$jvisor_root/scripts/prereqs.sh"
jvisor_build_if_stale
RUNS=${1:-3}
source bench/lib-guest.sh
IMG=$(mktemp /tmp/jvisor-bench-disk.XXXXXX)
SCRIPT=$(mktemp /tmp/jvisor-bench-disk-script.XXXXXX)
trap 'rm -f "$IMG" "$SCRIPT"' EXIT
truncate -s 256M "$IMG"
cat > "$SCRIPT" <<'GUEST'
t() { cut -d' ' -f1 /proc/uptime; }
a=$(t); dd if=/dev/zero of=/dev/vda bs=1M count=256 oflag=direct conv=fsync 2>/dev/null; b=$(t); echo "bench:write $a $b"
a=$(t); dd if=/dev/vda of=/dev/null bs=1M count=256 iflag=direct 2>/dev/null; b=$(t); echo "bench:read $a $b"
a=$(t); i=0; while [ $i -lt 300 ]; do dd if=/dev/vda of=/dev/null bs=4k count=1 skip=$(( (i * 7919) % 65536 )) iflag=direct 2>/dev/null; i=$((i+1)); done; b=$(t); echo "bench:rand $a $b"
GUEST
measure() { # prints "write_MBps read_MBps rand_iops" for one boot
  python3 bench/guest-session.py "$READY" "$SCRIPT" -- "$@" | awk '
    /^bench:write/ { w = 256 / ($3 - $2) } /^bench:read/ { r = 256 / ($3 - $2) } /^bench:rand/ { i = 300 / ($3 - $2) }
    END { printf "%.1f %.1f %.0f\n", w, r, i }'
}
echo "host: $(host_line)"
for who in jvisor qemu; do
  : > "/tmp/jvisor-bench-disk-$who"
  for n in $(seq "$RUNS"); do
    if [ $who = jvisor ]; then
      m=$(measure ./jvisor run --memory 512M --no-reboot --disk "$IMG")
    else
      m=$(measure qemu-system-x86_64 -accel tcg -cpu qemu64 -M q35 -m 512M -smp 1 -nographic -no-reboot \
            -kernel "$VMLINUX" -initrd "$INITRD" -append "console=ttyS0 panic=-1" \
            -drive file="$IMG",format=raw,if=none,id=d0 -device virtio-blk-pci,drive=d0)
    fi
    echo "  $who run $n: seq write $(echo $m | cut -d' ' -f1) MB/s, seq read $(echo $m | cut -d' ' -f2) MB/s, 4K random read $(echo $m | cut -d' ' -f3) IOPS"
    echo "$m" >> "/tmp/jvisor-bench-disk-$who"
  done
done
med() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
for k in 1 2 3; do
  J[$k]=$(cut -d' ' -f$k /tmp/jvisor-bench-disk-jvisor | med)
  Q[$k]=$(cut -d' ' -f$k /tmp/jvisor-bench-disk-qemu | med)
done
rm -f /tmp/jvisor-bench-disk-jvisor /tmp/jvisor-bench-disk-qemu
echo "median seq write: jvisor ${J[1]} MB/s, QEMU ${Q[1]} MB/s"
echo "median seq read: jvisor ${J[2]} MB/s, QEMU ${Q[2]} MB/s"
echo "median 4K random read: jvisor ${J[3]} IOPS, QEMU ${Q[3]} IOPS"
awk -v a="${J[1]}" -v b="${Q[1]}" -v c="${J[2]}" -v d="${Q[2]}" -v e="${J[3]}" -v f="${Q[3]}" \
  'BEGIN { printf "disk-ratio: %.2f\n", exp((log(a / b) + log(c / d) + log(e / f)) / 3) }'
