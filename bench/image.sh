#!/usr/bin/env bash
# Throughput of jvisor's raw and qcow2 backends against qemu-img bench on the same files:
# sequential 64 KiB reads and writes, scattered 4 KiB reads and writes (a step coprime to the
# disk size, since qemu-img bench has no random mode), one request at a time for both.
# Last line: qcow2-ratio (jvisor / qemu-img on 4 KiB scattered writes to a fresh qcow2; higher is better).
# usage: bench/image.sh [DISK_MIB, default 1024]
set -euo pipefail
source "$(dirname "$(readlink -f "$0")")/../scripts/env.sh"
cd "$jvisor_root"
"$jvisor_root/scripts/prereqs.sh"
mvn -B -q -Dstyle.color=never -DskipTests test-compile dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory=target/lib >&2
MIB=${1:-1024}
DISK=$((MIB * 1024 * 1024))
W=$(mktemp -d "${TMPDIR:-/tmp}/jvisor-bench.XXXXXX")
trap 'rm -rf "$W"' EXIT
CP="target/classes:target/test-classes:target/lib/*"
jb() { java -XX:+UseParallelGC -cp "$CP" org.jvisor.bench.ImageBench "$@"; }
# qemu-img bench prints "Run completed in S seconds."; turn it into "IOPS MBps".
qb() { # FILE FMT read|write SIZE STEP COUNT
  local w=""; [ "$3" = write ] && w="-w"
  local s; s=$(qemu-img bench -f "$2" $w -d 1 -c "$6" -s "$4" -S "$5" "$1" 2>&1 | sed -n 's/Run completed in \([0-9.]*\) seconds./\1/p')
  awk -v c="$6" -v sz="$4" -v s="$s" 'BEGIN { printf "%.0f %.1f\n", c / s, c * sz / s / 1e6 }'
}
STEP4K=$((4096 * 7919))   # coprime with any power-of-two disk size above 4 KiB: every 4 KiB block once
echo "host: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; disk ${MIB} MiB in $W; $(qemu-img --version | head -1)"
head -c "$DISK" /dev/urandom > "$W/data.raw"
qemu-img convert -f raw -O qcow2 "$W/data.raw" "$W/data.qcow2"
printf '%-28s %14s %14s %8s\n' "test" "jvisor" "qemu-img" "ratio"
ratio_of() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
row() { # NAME JVISOR_OUT QEMU_OUT UNIT(1=IOPS,2=MBps)
  local j q; j=$(echo "$2" | cut -d' ' -f"$4"); q=$(echo "$3" | cut -d' ' -f"$4")
  local unit=IOPS; [ "$4" = 2 ] && unit=MB/s
  printf '%-28s %10s %-4s %10s %-4s %6s\n' "$1" "$j" "$unit" "$q" "$unit" "$(ratio_of "$j" "$q")"
  LAST_RATIO=$(ratio_of "$j" "$q")
}
SEQN=$((DISK / 65536))
RNDN=$((DISK / 4096 / 4))
for fmt in raw qcow2; do
  f="$W/data.$fmt"
  row "$fmt seq read 64K"   "$(jb "$f" $fmt read 65536 65536 $SEQN)"   "$(qb "$f" $fmt read 65536 65536 $SEQN)" 2
  row "$fmt seq write 64K"  "$(jb "$f" $fmt write 65536 65536 $SEQN)"  "$(qb "$f" $fmt write 65536 65536 $SEQN)" 2
  row "$fmt scattered read 4K"  "$(jb "$f" $fmt read 4096 $STEP4K $RNDN)"  "$(qb "$f" $fmt read 4096 $STEP4K $RNDN)" 1
  row "$fmt scattered write 4K" "$(jb "$f" $fmt write 4096 $STEP4K $RNDN)" "$(qb "$f" $fmt write 4096 $STEP4K $RNDN)" 1
done
# Allocating writes: each tool gets its own fresh, empty qcow2.
./jvisor image create -f qcow2 "$W/fresh-j.qcow2" "$DISK" > /dev/null 2>&1
qemu-img create -f qcow2 "$W/fresh-q.qcow2" "$DISK" > /dev/null
row "qcow2 fresh scattered write 4K" "$(jb "$W/fresh-j.qcow2" qcow2 write 4096 $STEP4K $RNDN nowarm)" "$(qb "$W/fresh-q.qcow2" qcow2 write 4096 $STEP4K $RNDN)" 1
R=$LAST_RATIO
# For reference: qemu-img with its default 64 requests in flight (jvisor's block layer is synchronous per caller).
qemu-img create -f qcow2 "$W/fresh-q64.qcow2" "$DISK" > /dev/null
s64=$(qemu-img bench -f qcow2 -w -c $RNDN -s 4096 -S $STEP4K "$W/fresh-q64.qcow2" 2>&1 | sed -n 's/Run completed in \([0-9.]*\) seconds./\1/p')
awk -v c=$RNDN -v s="$s64" 'BEGIN { printf "(qemu-img, 64 in flight, fresh scattered write 4K: %.0f IOPS)\n", c / s }'
LAST_RATIO=$R
echo "qcow2-ratio: $LAST_RATIO"
