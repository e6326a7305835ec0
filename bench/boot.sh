#!/usr/bin/env bash
# Boot time of Debian's stock kernel with the project's initramfs, jvisor against QEMU's fastest
# software path here (TCG, -M q35, the uncompressed vmlinux via its PVH entry), same memory, one
# vCPU: median wall time to "jvisor-guest: ready" and to the exit after poweroff, over N runs.
# Last line: boot-ratio (jvisor / QEMU, time to ready; below 1 means jvisor is faster).
# usage: bench/boot.sh [RUNS, default 3]
set -euo pipefail
source "$(dirname "$(readlink -f "$0")")/../scripts/env.sh"
cd "$jvisor_root"
"$jvisor_root/scripts/prereqs.sh"
jvisor_build_if_stale
RUNS=${1:-3}
source bench/lib-guest.sh
echo "host: $(host_line)"
echo "jvisor (software CPU, 512 MiB, 1 vCPU):"
J=$(python3 bench/boot-driver.py "$RUNS" "$READY" -- ./jvisor run --memory 512M --no-reboot | tee /dev/stderr | tail -1)
echo "QEMU TCG (-cpu qemu64 -M q35, vmlinux via PVH, 512 MiB, 1 vCPU):"
Q=$(python3 bench/boot-driver.py "$RUNS" "$READY" -- qemu-system-x86_64 -accel tcg -cpu qemu64 -M q35 -m 512M -smp 1 \
      -nographic -no-reboot -kernel "$VMLINUX" -initrd "$INITRD" -append "console=ttyS0 panic=-1" | tee /dev/stderr | tail -1)
jr=$(echo "$J" | awk '{print $3}'); je=$(echo "$J" | awk '{print $5}')
qr=$(echo "$Q" | awk '{print $3}'); qe=$(echo "$Q" | awk '{print $5}')
echo "median to ready: jvisor ${jr} s, QEMU ${qr} s; to exit: jvisor ${je} s, QEMU ${qe} s"
awk -v a="$jr" -v b="$qr" 'BEGIN { printf "boot-ratio: %.2f\n", a / b }'
