#!/usr/bin/env bash
# Snapshot and restore of an idle guest at its shell (Debian's kernel, the project's initramfs,
# 256 MiB, 1 vCPU), jvisor against QEMU TCG in the same run: time to save, time from starting the
# restoring process to a guest that answers on its console, the state file's size, and the
# restored VMM's RSS. QEMU saves with "migrate exec:cat > FILE" (unthrottled) and restores with
# -incoming. Then a live migration of the same idle guest to a second process on this host over a
# Unix socket (jvisor: ctl migrate to run --incoming; QEMU: migrate to -incoming), both with a
# 10 ms downtime limit and no bandwidth limit: total time and downtime as each sender reports
# them, and the time until the destination answers on its console.
# Last line: restore-ratio (jvisor / QEMU restore time; below 1 means jvisor is faster).
# usage: bench/snapshot.sh [RUNS, default 3]
set -euo pipefail
source "$(dirname "$(readlink -f "$0")")/../scripts/env.sh"
cd "$jvisor_root"
"$jvisor_root/scripts/prereqs.sh"
jvisor_build_if_stale
RUNS=${1:-3}
source bench/lib-guest.sh
echo "host: $(host_line)"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }
run() { # KIND COMMAND...
  local kind=$1; shift
  for i in $(seq "$RUNS"); do python3 bench/snapshot-driver.py "$kind" "$READY" "$dir/$kind.state" -- "$@"; done
}
echo "jvisor (software CPU, 256 MiB, 1 vCPU; restore maps RAM from the file):"
J=$(run jvisor ./jvisor run --memory 256M | tee /dev/stderr)
echo "QEMU TCG (-cpu qemu64 -M q35, 256 MiB, 1 vCPU):"
Q=$(run qemu qemu-system-x86_64 -accel tcg -cpu qemu64 -M q35 -m 256M -smp 1 -nographic -no-reboot \
      -kernel "$VMLINUX" -initrd "$INITRD" -append "console=ttyS0 panic=-1" | tee /dev/stderr)
migrate() { # KIND COMMAND...
  local kind=$1; shift
  for i in $(seq "$RUNS"); do python3 bench/snapshot-driver.py --migrate "$kind" "$READY" "$dir/$kind.mig" -- "$@"; done
}
echo "live migration, jvisor:"
JM=$(migrate jvisor ./jvisor run --memory 256M | tee /dev/stderr)
echo "live migration, QEMU TCG:"
QM=$(migrate qemu qemu-system-x86_64 -accel tcg -cpu qemu64 -M q35 -m 256M -smp 1 -nographic -no-reboot \
      -kernel "$VMLINUX" -initrd "$INITRD" -append "console=ttyS0 panic=-1" | tee /dev/stderr)
for k in migrate_total_ms downtime_ms answered_ms; do
  echo "median $k: jvisor $(echo "$JM" | field $k | median), QEMU $(echo "$QM" | field $k | median)"
done
js=$(echo "$J" | field save_ms | median); jr=$(echo "$J" | field restore_ms | median); jm=$(echo "$J" | field rss_mib | median)
qs=$(echo "$Q" | field save_ms | median); qr=$(echo "$Q" | field restore_ms | median); qm=$(echo "$Q" | field rss_mib | median)
echo "median save: jvisor ${js} ms, QEMU ${qs} ms; restore to an answering guest: jvisor ${jr} ms, QEMU ${qr} ms; RSS after restore: jvisor ${jm} MiB, QEMU ${qm} MiB"
awk -v a="$jr" -v b="$qr" 'BEGIN { printf "restore-ratio: %.2f\n", a / b }'
