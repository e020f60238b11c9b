#!/bin/sh
# Installs what DEFUSE needs on Debian (as root, or with sudo) and builds it
# into ./build.  Safe to run again.
set -eu
cd "$(dirname "$0")/.."

PACKAGES="build-essential meson ninja-build pkg-config libcapstone-dev
libcmocka-dev strace python3 git make tar coreutils findutils gnuplot-nox
libfuse3-dev fuse3"

missing=""
for p in $PACKAGES; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	echo "setup: installing$missing"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

# Quiet when all is well, the whole story when not.
quiet() {
	log=$(mktemp)
	if ! "$@" >"$log" 2>&1; then
		cat "$log"
		rm -f "$log"
		echo "setup: failed: $*" >&2
		exit 1
	fi
	rm -f "$log"
}
[ -f build/build.ninja ] || quiet meson setup build
quiet ninja -C build
echo "setup: built ./build/src/defuse"
