#!/usr/bin/env bash
# Runs every test: unit tests, the CPU's differential test against the host CPU, the fuzz tests,
# and (once the PC machine exists) the tests that boot a real guest. Ends with a one-line summary.
set -uo pipefail
source "$(dirname "$(readlink -f "$0")")/scripts/env.sh"
"$jvisor_root/scripts/prereqs.sh" || exit 2
cd "$jvisor_root"
mvn -B verify "$@"
rc=$?
python3 - <<'PY' || true
import glob, xml.etree.ElementTree as ET
tests = failed = skipped = guest = guest_skipped = 0
for f in glob.glob("target/surefire-reports/TEST-*.xml"):
    r = ET.parse(f).getroot()
    t, fl, s = int(r.get("tests")), int(r.get("failures")) + int(r.get("errors")), int(r.get("skipped"))
    tests += t; failed += fl; skipped += s
    if r.get("name", "").endswith("GuestTest"):
        guest += t; guest_skipped += s
print(f"guest-booting tests: {guest - guest_skipped} ran, {guest_skipped} skipped"
      + (" (no guest-booting tests exist yet: the PC machine arrives with the boot issue)" if guest == 0 else ""))
print(f"tests: {tests - failed - skipped} passed, {failed} failed, {skipped} skipped")
PY
exit $rc
