#!/bin/sh
# Installs what DEFUSE needs on Debian (as root, or with sudo) and builds it
# into ./build.  Safe to run again.
set -eu
cd "$(dirname "$0")/.."

PACKAGES="build-essential meson ninja-build pkg-config libcapstone-dev
libcmocka-dev strace python3 git make tar coreutils findutils gnuplot-nox
libfuse3-dev fuse3 stress-ng"

# fio: its io_uring engine on mount files (tests/reliability, uring-fio).
PACKAGES="$PACKAGES fio"

# libfuse 2 file systems in process (tests/fusecompat): libfuse 2's headers
# for our own, and Debian's libfuse 2 programs (bindfs, fuse2fs, fuse-zip,
# archivemount, unionfs-fuse; e2fsprogs' mke2fs and e2fsck for fuse2fs).
# They install beside fuse3; the `fuse` package (libfuse 2's fusermount),
# which conflicts with fuse3, is not needed.  squashfuse is a libfuse 3
# one, and fuse-overlayfs (squashfs-tools makes squashfuse's images).
PACKAGES="$PACKAGES libfuse-dev libfuse2 bindfs fuse2fs fuse-zip e2fsprogs"
PACKAGES="$PACKAGES archivemount unionfs-fuse squashfuse squashfs-tools fuse-overlayfs"
# More of Debian's FUSE programs, each tried in process (tests/fusecompat,
# installed2): encfs and exfat-fuse parse options with getopt, fuseiso and
# convmvfs (fuse-convmvfs) are built with libfuse 2's older tables,
# fuseiso9660, disorderfs and loggedfs are C++ programs, fusefat fails
# reads at the end of a file, httpfs2 is built on libfuse 2's low level,
# mhddfs and xmount are more libfuse 2 programs; exfatprogs, genisoimage
# and dosfstools make their data.
PACKAGES="$PACKAGES encfs exfat-fuse exfatprogs fuseiso fuseiso9660 disorderfs loggedfs
fusefat fuse-convmvfs httpfs2 mhddfs xmount genisoimage dosfstools"

# The NFS module's tests (tests/nfs): libnfs, and a real server (nfs-ganesha
# and rpcbind).  Without recommends: they would pull in services this
# machine does not run.
NFS_PACKAGES="nfs-ganesha nfs-ganesha-vfs rpcbind libnfs-dev libnfs-utils"

# sshfs in process (tests/fusecompat, sshfs-*): Debian's sshfs (libfuse 3)
# and a real OpenSSH server, which the tests start themselves on loopback
# (tests/common/sshd_server.py), never the system's.  Without recommends.
# Where no init system runs (a container, CI) the package's postinst starts
# no sshd: invoke-rc.d finds no runlevel and does not start it (one
# started elsewhere listens on port 22, which the tests do not use).
SSH_PACKAGES="sshfs openssh-server"

missing=""
for p in $PACKAGES $NFS_PACKAGES $SSH_PACKAGES; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	echo "setup: installing$missing"
	$SUDO apt-get update -qq
	base="" nfs="" ssh=""
	for p in $missing; do
		case " $NFS_PACKAGES " in
		*" $p "*) nfs="$nfs $p"; continue;;
		esac
		case " $SSH_PACKAGES " in
		*" $p "*) ssh="$ssh $p";;
		*) base="$base $p";;
		esac
	done
	[ -z "$base" ] ||
		DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $base >/dev/null
	# the NFS tests skip, saying why, without them: not fatal here
	[ -z "$nfs" ] ||
		DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
			--no-install-recommends $nfs >/dev/null ||
		echo "setup: could not install$nfs (tests/nfs will skip)"
	# likewise the sshfs tests
	[ -z "$ssh" ] ||
		DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
			--no-install-recommends $ssh >/dev/null ||
		echo "setup: could not install$ssh (the sshfs tests will skip)"
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
# Real source trees for the real-program tests (tests/realprog: zlib's
# configure, make and make test on a mount), as Debian source packages into
# build-sources/; without them those tests skip and say why.  The source
# archive is the machine's own main archive (its first entry), asked for
# its sources: the release's version, which every mirror keeps.
fetch_sources() {
	mkdir -p build-sources
	for pkg in "$@"; do
		ls build-sources/"$pkg"_*.orig.tar.* >/dev/null 2>&1 && continue
		parts=$(mktemp -d)
		for f in /etc/apt/sources.list.d/*.sources; do
			[ -f "$f" ] && [ ! -f "$parts/main.sources" ] &&
				awk '/^$/ { exit } { sub(/^Types: *deb$/, "Types: deb-src"); print }' \
					"$f" >"$parts/main.sources"
		done
		[ -f "$parts/main.sources" ] || [ ! -f /etc/apt/sources.list ] ||
			sed -n 's/^deb /deb-src /p' /etc/apt/sources.list | head -1 >"$parts/main.list"
		opts="-o Dir::Etc::SourceParts=$parts -o Dir::Etc::SourceList=$parts/main.list"
		SUDO=""
		[ "$(id -u)" -eq 0 ] || SUDO=sudo
		# shellcheck disable=SC2086
		if $SUDO apt-get $opts update -qq >/dev/null 2>&1 &&
		   (cd build-sources && apt-get $opts source --download-only "$pkg" >/dev/null 2>&1); then
			echo "setup: fetched the source of $pkg"
		else
			echo "setup: could not fetch the source of $pkg (tests/realprog will skip)"
		fi
		rm -rf "$parts"
	done
}
fetch_sources zlib

[ -f build/build.ninja ] || quiet meson setup build
quiet ninja -C build
echo "setup: built ./build/src/defuse"
