#!/bin/sh
# Sets up, builds and runs every test, then the unit tests and the process
# lifecycle suite (the whole of DEFUSE instrumented) again in an ASan/UBSan
# build.  Ends with "N passed, N failed"; exits non-zero if any
# test failed.
set -u
cd "$(dirname "$0")/.."
./scripts/setup.sh || exit 1

# FUSE file systems' lock carriers and the FIFOs' and sockets' stand-ins go
# to directories shared by all users (/dev/shm/defuse-fuse-locks and
# /dev/shm/.defuse-special).  Tests that switch users or remove their trees
# through the kernel would leave files there: this run keeps its own, as
# open to every user as the defaults, and removes them at the end.
shared=$(mktemp -d /dev/shm/defuse-test.XXXXXX) || exit 1
trap 'rm -rf "$shared"' EXIT
trap 'exit 1' HUP INT TERM
chmod 0755 "$shared" && mkdir -m 1777 "$shared/locks" "$shared/special" || exit 1
export DEFUSE_FUSE_LOCKDIR="$shared/locks" DEFUSE_SPECIAL_DIR="$shared/special"

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
