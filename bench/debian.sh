#!/usr/bin/env bash
# A full Debian bookworm boot (systemd, cloud-init limited to NoCloud) from the same image on
# jvisor and on QEMU TCG (-cpu qemu64 -M q35, the image's own kernel and initrd, 1 GiB, one vCPU,
# virtio disk), each boot on a fresh qcow2 overlay so every boot is a first boot. Measured on the
# serial console from the process start: the "login:" prompt; logged in as root,
# `systemctl is-system-running --wait` printing its state ("running", or "degraded" and then the
# failed units); the exit after `systemctl poweroff`. Medians over RUNS boots.
# Last line: debian-ratio (jvisor / QEMU, time to "running"; lower is better, below 1 means jvisor
# is faster).
# usage: bench/debian.sh [RUNS, default 1]
# The image is ${JVISOR_CACHE:-~/.cache/jvisor}/bench/debian.qcow2, built on first use by
# `jvisor image debian` (needs root, ~5 minutes); DEBIAN_IMAGE=FILE DEBIAN_PASSWORD=PW use another.
# Console logs of the last run: /tmp/jvisor-bench-debian-{jvisor,qemu}.log.
set -euo pipefail
source "$(dirname "$(readlink -f "$0")")/../scripts/env.sh"
cd "$jvisor_root"
"$jvisor_root/scripts/prereqs.sh"
jvisor_build_if_stale
RUNS=${1:-1}
TIMEOUT=900   # per boot, so a guest that never gets there still ends the run
source bench/lib-guest.sh
CACHE=${JVISOR_CACHE:-$HOME/.cache/jvisor}/bench
IMAGE=${DEBIAN_IMAGE:-$CACHE/debian.qcow2}
PASSWORD=${DEBIAN_PASSWORD:-jvisor-bench}
if [ ! -f "$IMAGE" ]; then
  [ -z "${DEBIAN_IMAGE:-}" ] || { echo "debian: no image $IMAGE" >&2; exit 2; }
  [ "$(id -u)" -eq 0 ] || { echo "debian: building $IMAGE needs root" >&2; exit 2; }
  mkdir -p "$CACHE"
  echo "building $IMAGE (about 5 minutes)..." >&2
  ./jvisor image debian --root-password "$PASSWORD" "$IMAGE.tmp" >&2
  mv "$IMAGE.tmp" "$IMAGE"
fi

# The kernel, initrd and root UUID, for QEMU (and for jvisor before it booted disks itself), read
# out of the image without mounting it and cached beside it: partition 1 of the GPT, via debugfs.
BASE=${IMAGE%.qcow2}
KERNEL=$BASE.vmlinuz INITRD_IMG=$BASE.initrd.img UUID_FILE=$BASE.root-uuid
if [ ! -s "$UUID_FILE" ] || [ "$IMAGE" -nt "$UUID_FILE" ]; then
  RAW=$(mktemp /tmp/jvisor-bench-debian-raw.XXXXXX)
  qemu-img convert -O raw "$IMAGE" "$RAW"
  OFF=$(( $(sfdisk -J "$RAW" | python3 -c 'import json, sys; print(json.load(sys.stdin)["partitiontable"]["partitions"][0]["start"])') * 512 ))
  FS="$RAW?offset=$OFF"
  VER=$(debugfs -R 'ls -p /boot' "$FS" 2>/dev/null | awk -F/ '$6 ~ /^vmlinuz-/ { sub(/^vmlinuz-/, "", $6); print $6 }' | sort -V | tail -1)
  [ -n "$VER" ] || { rm -f "$RAW"; echo "debian: no /boot/vmlinuz-* in $IMAGE" >&2; exit 2; }
  debugfs -R "dump /boot/vmlinuz-$VER $KERNEL" "$FS" 2>/dev/null
  debugfs -R "dump /boot/initrd.img-$VER $INITRD_IMG" "$FS" 2>/dev/null
  blkid -p -O "$OFF" -s UUID -o value "$RAW" > "$UUID_FILE"
  rm -f "$RAW"
fi
CMDLINE="root=UUID=$(cat "$UUID_FILE") ro console=ttyS0 panic=-1"

OVERLAY_DIR=$(mktemp -d /tmp/jvisor-bench-debian.XXXXXX)
trap 'rm -rf "$OVERLAY_DIR" /tmp/jvisor-bench-debian-jvisor.runs /tmp/jvisor-bench-debian-qemu.runs' EXIT
ABS_IMAGE=$(readlink -f "$IMAGE")
measure() { # WHO: boots once on a fresh overlay, prints "login running exit state" and failed units
  local ov="$OVERLAY_DIR/$1.qcow2"
  rm -f "$ov"
  qemu-img create -q -f qcow2 -b "$ABS_IMAGE" -F qcow2 "$ov"
  if [ "$1" = jvisor ]; then
    if [ -f src/main/java/org/jvisor/boot/DiskBoot.java ]; then  # jvisor boots the disk's own kernel
      set -- ./jvisor run --memory 1G --no-reboot --disk "$ov"
    else
      set -- ./jvisor run --memory 1G --no-reboot --disk "$ov" --kernel "$KERNEL" --initrd "$INITRD_IMG" --cmdline "$CMDLINE"
    fi
    python3 bench/login-session.py "$PASSWORD" "$TIMEOUT" /tmp/jvisor-bench-debian-jvisor.log -- "$@"
  else
    python3 bench/login-session.py "$PASSWORD" "$TIMEOUT" /tmp/jvisor-bench-debian-qemu.log -- \
      qemu-system-x86_64 -accel tcg -cpu qemu64 -M q35 -m 1G -smp 1 -nographic -no-reboot \
        -kernel "$KERNEL" -initrd "$INITRD_IMG" -append "$CMDLINE" -drive file="$ov",if=virtio,format=qcow2
  fi
}
med() { sort -n | awk '{ a[NR] = $1 } END { print (NR ? a[int((NR + 1) / 2)] : "-") }'; }
echo "host: $(host_line)"
echo "image: $IMAGE"
for who in jvisor qemu; do
  : > "/tmp/jvisor-bench-debian-$who.runs"
  for n in $(seq "$RUNS"); do
    out=$(measure $who)
    read -r _ l _ r _ e _ s <<< "$(echo "$out" | head -1)"
    echo "  $who run $n: login $l s, running $r s ($s), exit $e s"
    echo "$out" | sed -n 's/^failed: /    failed: /p'
    if [ "$r" != - ]; then echo "$l $r $e" >> "/tmp/jvisor-bench-debian-$who.runs"; fi
  done
  # medians over the runs that reached a state; "-" when none did
  L=$(cut -d' ' -f1 "/tmp/jvisor-bench-debian-$who.runs" | med)
  R=$(cut -d' ' -f2 "/tmp/jvisor-bench-debian-$who.runs" | med)
  E=$(grep -v ' -$' "/tmp/jvisor-bench-debian-$who.runs" | cut -d' ' -f3 | med)
  echo "$who: login $L s, running $R s, exit $E s"
  eval "${who}_running=\$R"
done
[ "$jvisor_running" != - ] && [ "$qemu_running" != - ] || { echo "debian: a guest never reached a state" >&2; exit 1; }
awk -v a="$jvisor_running" -v b="$qemu_running" 'BEGIN { printf "debian-ratio: %.2f\n", a / b }'
