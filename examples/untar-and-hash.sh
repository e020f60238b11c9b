#!/bin/sh
# The quick-start job: unpack a source tarball and hash every file, once
# natively and once under `defuse trace -c -f`, then show the system-call
# summary, both times, and check that both runs produced the same hash.
set -eu
DEFUSE=${DEFUSE:-"$(dirname "$0")/../build/src/defuse"}
work=$(mktemp -d /tmp/defuse-example.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM

# A source tree every Debian build machine has: the C library's headers.
tar czf "$work/src.tar.gz" -C /usr include 2>/dev/null

job='mkdir -p "$1" && tar xzf "$0" -C "$1" &&
     cd "$1" && find . -type f | LC_ALL=C sort | xargs sha256sum | sha256sum'

now() { date +%s%N; }

t0=$(now)
native=$(sh -c "$job" "$work/src.tar.gz" "$work/native")
t1=$(now)
traced=$("$DEFUSE" trace -c -f -o "$work/summary.txt" -- \
	sh -c "$job" "$work/src.tar.gz" "$work/traced")
t2=$(now)

echo "== defuse trace -c -f: system calls of tar, find, sort, xargs and sha256sum"
head -n 22 "$work/summary.txt"
echo "   ..."
tail -n 2 "$work/summary.txt"
echo
echo "native run:           $(( (t1 - t0) / 1000000 )) ms"
echo "under defuse trace:   $(( (t2 - t1) / 1000000 )) ms"
if [ "$native" = "$traced" ]; then
	echo "same result both ways: $native"
else
	echo "MISMATCH: native '$native' vs traced '$traced'" >&2
	exit 1
fi
