#!/usr/bin/env bash
# jvisord: time from a linked clone of a template through the REST API to a guest at its shell,
# for 1 VM and for N VMs (default 8) cloned and started at once on this host (2 cores here: the
# N boots share them); GET /api/v1/vms latency with the N VMs running (p50, p99); the daemon's and
# the VMMs' RSS. QEMU TCG booting the same guest (Debian's kernel and the kit's initramfs, 256 MiB)
# in N processes at once is the reference. Last line: start8-seconds (jvisor, N VMs).
# usage: bench/manage.sh [N, default 8]
set -euo pipefail
source "$(dirname "$(readlink -f "$0")")/../scripts/env.sh"
cd "$jvisor_root"
"$jvisor_root/scripts/prereqs.sh"
jvisor_build_if_stale
N=${1:-8}
source bench/lib-guest.sh
echo "host: $(host_line)"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
out=$(python3 bench/manage-driver.py ./jvisor "$dir/state" "$N" "$READY" -- qemu-system-x86_64 -accel tcg -cpu qemu64 -M q35 -m 256M -smp 1 \
        -nographic -no-reboot -kernel "$VMLINUX" -initrd "$INITRD" -append "console=ttyS0 panic=-1" | tee /dev/stderr)
field() { echo "$out" | sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }
echo "start to shell, 1 VM: jvisor $(field jvisor_start1_s) s (API clone + start), QEMU $(field qemu_start1_s) s (process start)"
echo "start to shell, $N VMs at once: jvisor $(field jvisor_startN_s) s, QEMU $(field qemu_startN_s) s"
awk -v a="$(field jvisor_startN_s)" -v b="$(field qemu_startN_s)" 'BEGIN { printf "startN-ratio: %.2f (jvisor / QEMU)\n", a / b }'
echo "GET /vms with $N VMs: p50 $(field list_p50_ms) ms, p99 $(field list_p99_ms) ms; daemon RSS $(field daemon_rss_mib) MiB, VMM RSS $(field vmm_rss_mean_mib) MiB each"
echo "start8-seconds: $(field jvisor_startN_s)"
