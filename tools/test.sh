#!/bin/sh
# Installs what is missing, builds, and runs the whole test suite: unit and integration tests on
# the release build, then the unit tests again on a sanitizer build (address, undefined; any
# report fails the test). Ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
tools/install-deps.sh
tools/build.sh >/dev/null || { echo "build failed"; tools/build.sh; exit 1; }
meson test -C build --print-errorlogs --num-processes 2 "$@"
rc=$?
[ -f build-asan/build.ninja ] ||
	meson setup build-asan --buildtype=debugoptimized -Db_sanitize=address,undefined \
		-Db_lundef=false -Dc_args=-Wno-error >/dev/null # GCC's warnings under ASan are noise
if ninja -C build-asan >/dev/null; then
	ASAN_OPTIONS=halt_on_error=1:detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		meson test -C build-asan --suite unit --print-errorlogs --num-processes 2 \
		--timeout-multiplier 4 || rc=1
else
	echo "sanitizer build failed"
	rc=1
fi
python3 - build/meson-logs/testlog.json build-asan/meson-logs/testlog.json <<'PY'
import json, os, sys
res = [json.loads(l) for f in sys.argv[1:] if os.path.exists(f) for l in open(f) if l.strip()]
ok = sum(r["result"] in ("OK", "EXPECTEDFAIL") for r in res)
skip = sum(r["result"] == "SKIP" for r in res)
print(f"{ok} passed, {len(res) - ok - skip} failed, {skip} skipped")
PY
exit $rc
