#!/bin/bash
# The planner's fast instruction-length decoder (src/planner/patch.c) must
# sweep exactly as capstone does: every code segment of libc, the loader
# and a few more system objects, in its check mode.
#   planner_check.sh DEFUSE_PLANNER
set -eu
planner=$1
n=0
for f in $(ldd /bin/bash /usr/bin/python3 2>/dev/null | awk '$3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u) /bin/bash; do
	[ -f "$f" ] || continue
	while read -r va sz; do
		DEFUSE_PLANNER_CHECK=1 "$planner" "$f" "$va" "$((sz))" > /dev/null ||
			{ echo "FAIL: $f segment $va"; exit 1; }
		n=$((n + 1))
	done < <(readelf -lW "$f" | awk '$1 == "LOAD" && / E / {print $3, $5}')
done
[ "$n" -ge 2 ] || { echo "FAIL: only $n segments checked"; exit 1; }
echo "$n code segments swept alike: ok"
