#!/bin/bash
# Plan-cache images (src/capture/plan_cache.c): a patched library's image is
# mapped once its plan is cached; a library changed since (here: a new
# mtime) never gets its old image; processes racing to fill an empty cache
# all run; an object without a build-id is cached by its file's identity;
# an unusable cache directory only makes start-up slower; a plan of no
# sites is cached too.
#   images.sh DEFUSE_CLI NO_SITES_PROGRAM
set -eu
defuse=$1
no_sites=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -m 700 "$tmp/cache" "$tmp/lib"
export DEFUSE_CACHE_DIR="$tmp/cache"
libc=$(ldd /bin/cat | awk '/libc\.so/ {print $3}')
cp "$libc" "$tmp/lib/"
copy="$tmp/lib/$(basename "$libc")"
maps() { LD_LIBRARY_PATH="$tmp/lib" "$defuse" run -- /bin/cat /proc/self/maps; }
text_from_image() { grep ' r-xp ' | grep -q '\.img$'; }

maps > /dev/null	# plans
maps > /dev/null	# images made from the cached plans
maps | text_from_image || { echo "FAIL: no image mapped on the third start"; exit 1; }
echo "image mapped: ok"

touch -d '2001-01-01 00:00' "$copy"
out=$(maps)
if ! grep -q " r-xp .* $copy\$" <<< "$out"; then
	echo "FAIL: a changed library's code came from its old image:"
	grep ' r-xp ' <<< "$out"
	exit 1
fi
echo "changed library not given its old image: ok"
maps | grep -q " r-xp .*\.img$" || { echo "FAIL: no new image after the change"; exit 1; }
echo "new image made: ok"

# Twice: racing to write the plans (empty cache), then the images.
rm -rf "$tmp/cache"/*
for round in plans images; do
	pids=()
	for i in $(seq 12); do
		LD_LIBRARY_PATH="$tmp/lib" "$defuse" run -- /bin/cat "$copy" > "$tmp/out.$i" &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || { echo "FAIL: a racing start failed ($round)"; exit 1; }; done
	for i in $(seq 12); do cmp -s "$copy" "$tmp/out.$i" || { echo "FAIL: output $i ($round)"; exit 1; }; done
	ls "$tmp/cache" | grep -q '\.tmp$' && { echo "FAIL: temporary files left ($round)"; exit 1; }
done
maps | text_from_image || { echo "FAIL: no image mapped after the races"; exit 1; }
echo "racing starts: ok"

# An object without a build-id (here libc with its note removed) is cached
# by its file's identity: planned once, then mapped from an image, and a
# change of the file (a new change time) is a new key, never the old image.
# Before, such an object was planned at every start (rustc: 1.1 s each).
rm -rf "$tmp/cache"/*
mkdir "$tmp/nobid"
objcopy --remove-section=.note.gnu.build-id "$libc" "$tmp/nobid/$(basename "$libc")"
nobid="$tmp/nobid/$(basename "$libc")"
readelf -n "$nobid" | grep -q 'Build ID' && { echo "FAIL: $nobid still has a build-id"; exit 1; }
nobid_maps() { LD_LIBRARY_PATH="$tmp/nobid" "$defuse" run -- /bin/cat /proc/self/maps; }
nobid_maps > /dev/null
ls "$tmp/cache" | grep -q '^file-.*\.plan$' ||
	{ echo "FAIL: no plan cached for the object without a build-id"; ls "$tmp/cache"; exit 1; }
nobid_maps > /dev/null
out=$(nobid_maps)
grep ' r-xp ' <<< "$out" | grep -q '/file-[0-9a-f]*-[0-9a-f]*\.img$' ||
	{ echo "FAIL: the object without a build-id has no image on the third start:"; grep ' r-xp ' <<< "$out"; exit 1; }
old_img=$(grep ' r-xp ' <<< "$out" | grep -o 'file-[0-9a-f]*-[0-9a-f]*\.img$' | head -1)
touch "$nobid"
out=$(nobid_maps)
if grep -q "$old_img" <<< "$out" || ! grep -q " r-xp .* $nobid\$" <<< "$out"; then
	echo "FAIL: the changed object without a build-id was not planned anew:"
	grep ' r-xp ' <<< "$out"
	exit 1
fi
echo "object without a build-id cached by its identity: ok"

# An object with byte pairs but no sites (no_sites.c): planned once, and its
# empty plan kept, so the next start neither scans it nor runs the planner.
id=$(readelf -n "$no_sites" | awk '/Build ID/ {print $3}')
[ -n "$id" ] || { echo "FAIL: $no_sites has no build-id"; exit 1; }
"$defuse" run -- "$no_sites" || { echo "FAIL: no_sites did not run"; exit 1; }
ls "$tmp/cache" | grep -q "^$id-.*\.plan\$" ||
	{ echo "FAIL: the plan of no sites was not cached (the planner would run at every start)"; exit 1; }
"$defuse" run -- "$no_sites" || { echo "FAIL: no_sites did not run from the cache"; exit 1; }
ls "$tmp/cache" | grep -q "^$id-.*\.img\$" ||
	{ echo "FAIL: no image saying 'no sites' after the second start"; exit 1; }
echo "plan of no sites cached: ok"

: > "$tmp/notadir"
DEFUSE_CACHE_DIR="$tmp/notadir/x" LD_LIBRARY_PATH="$tmp/lib" "$defuse" run -- /bin/true
chmod 777 "$tmp/cache"	# writable by others: not trusted, not used
out=$(maps)
grep ' r-xp ' <<< "$out" | grep -q '\.img$' && { echo "FAIL: image from an untrusted cache"; exit 1; }
echo "unusable cache directories: ok"
