#!/bin/sh
# The quick-start job: unpack a source tarball and hash every file, three
# ways, and check that all three produce the same hash:
#   1. natively, in a scratch directory;
#   2. on a DEFUSE passthrough mount (`defuse run -m`): the files land in a
#      backing directory, served to tar, find and sha256sum from inside their
#      own processes;
#   3. natively again, under `defuse trace -c -f`, to show the system calls.
set -eu
DEFUSE=${DEFUSE:-"$(dirname "$0")/../build/src/defuse"}
work=$(mktemp -d /tmp/defuse-example.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM
mkdir "$work/mnt" "$work/backing"

# A source tree every Debian build machine has: the C library's headers.
tar czf "$work/src.tar.gz" -C /usr include 2>/dev/null

job='mkdir -p "$1" && cd "$1" && tar xzf "$0" &&
     find . -type f | LC_ALL=C sort | xargs sha256sum | sha256sum'

now() { date +%s%N; }
ms() { echo "$(( ($2 - $1) / 1000000 )) ms"; }

t0=$(now)
native=$(sh -c "$job" "$work/src.tar.gz" "$work/native")
t1=$(now)
mounted=$("$DEFUSE" run -m "$work/mnt=passthrough:$work/backing" -- \
	sh -c "$job" "$work/src.tar.gz" "$work/mnt/tree")
t2=$(now)
traced=$("$DEFUSE" trace -c -f -o "$work/summary.txt" -- \
	sh -c "$job" "$work/src.tar.gz" "$work/traced")
t3=$(now)

echo "== defuse trace -c -f: system calls of tar, find, sort, xargs and sha256sum"
head -n 22 "$work/summary.txt"
echo "   ..."
tail -n 2 "$work/summary.txt"
echo
echo "native:                          $(ms "$t0" "$t1")"
echo "on a passthrough mount (run -m): $(ms "$t1" "$t2")"
echo "under defuse trace -c -f:        $(ms "$t2" "$t3")"
files=$(find "$work/backing/tree" -type f | wc -l)
echo "files that landed in the backing directory: $files"
if [ "$native" = "$mounted" ] && [ "$native" = "$traced" ]; then
	echo "same result all three ways: $native"
else
	echo "MISMATCH: native '$native', mounted '$mounted', traced '$traced'" >&2
	exit 1
fi
