#!/bin/sh
# Sets up, builds and runs every test, then the unit tests and the process
# lifecycle suite (the whole of DEFUSE instrumented) again in an ASan/UBSan
# build.  Ends with "N passed, N failed"; exits non-zero if any
# test failed.
set -u
cd "$(dirname "$0")/.."
./scripts/setup.sh || exit 1

status=0
meson test -C build --print-errorlogs --num-processes 2 || status=1

[ -f build-asan/build.ninja ] ||
	meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false >/dev/null ||
	status=1
ninja -C build-asan > build-asan.log 2>&1 || { cat build-asan.log; status=1; }
rm -f build-asan.log
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	meson test -C build-asan --suite unit --suite lifecycle --num-processes 2 \
		--print-errorlogs || status=1

python3 scripts/summarize-tests.py build/meson-logs/testlog.json \
	build-asan/meson-logs/testlog.json || status=1
exit $status
