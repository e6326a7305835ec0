#!/usr/bin/env bash
# Guest MIPS of jvisor's software CPU on two fixed workloads, each also run natively for the ratio.
# usage: bench/cpu-mips.sh [SECONDS per measurement, default 3]
set -euo pipefail
source "$(dirname "$(readlink -f "$0")")/../scripts/env.sh"
cd "$jvisor_root"
"$jvisor_root/scripts/prereqs.sh"
mvn -B -q -DskipTests test-compile dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory=target/lib >&2
mkdir -p target
gcc -O2 -o target/native-run bench/native-run.c
echo "host: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, $(java -version 2>&1 | head -1)"
exec java --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC -cp "target/classes:target/test-classes:target/lib/*" org.jvisor.bench.CpuMips target/native-run "${1:-3}"
