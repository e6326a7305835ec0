#!/usr/bin/env bash
# Runs every test: unit tests, the CPU's differential test against the host CPU, decoder fuzzing.
set -euo pipefail
source "$(dirname "$(readlink -f "$0")")/scripts/env.sh"
"$jvisor_root/scripts/prereqs.sh"
cd "$jvisor_root"
exec mvn -B verify "$@"
