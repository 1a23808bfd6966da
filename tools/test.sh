#!/bin/sh
# Installs what is missing, builds, and runs the whole test suite (unit + integration).
# Ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
tools/install-deps.sh
tools/build.sh >/dev/null || { echo "build failed"; tools/build.sh; exit 1; }
meson test -C build --print-errorlogs --num-processes 2 "$@"
rc=$?
python3 - build/meson-logs/testlog.json <<'PY'
import json, sys
res = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ok = sum(r["result"] in ("OK", "EXPECTEDFAIL") for r in res)
skip = sum(r["result"] == "SKIP" for r in res)
print(f"{ok} passed, {len(res) - ok - skip} failed, {skip} skipped")
PY
exit $rc
