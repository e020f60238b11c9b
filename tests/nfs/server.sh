#!/bin/sh
# A real NFS server for the NFS module's tests, on loopback only:
#
#   server.sh run COMMAND [ARG...]
#
# starts rpcbind and nfs-ganesha (NFSv3 over TCP, the VFS backend) with a
# configuration of its own, exporting a fresh directory on tmpfs as
# nfs://127.0.0.1/export, waits until a real client (nfs-ls) lists it, runs
# COMMAND with
#
#   DEFUSE_NFS_URL     nfs://127.0.0.1/export
#   DEFUSE_NFS_DIR     the exported directory (the server's side of it)
#   DEFUSE_NFS_SERVER  "THIS_SCRIPT STATE_DIR": append "stop" or "start" to
#                      stop ganesha or start it again (the fault test)
#
# and then stops both servers by their pids (a trap: also when COMMAND or a
# start fails, or the script is interrupted) and removes every file it made.
# Its exit status is COMMAND's; 77 (skip, with the reason printed) if the
# programs are not installed or the servers cannot start here.
#
# It installs nothing (scripts/setup.sh does).  Ganesha's ports (2049, and
# rpcbind's 111) are fixed, so one instance runs at a time on a machine:
# a second caller waits for the first on a lock (flock(1) on ganesha.nfsd's
# binary: the same file for every checkout).
#
# Why the configuration says what it says is written beside each setting
# below; the facts behind it are in docs/nfs.md ("The test server").
set -u

# Whether process $1 is still running (a zombie has ended).
running() {
	kill -0 "$1" 2>/dev/null &&
		! grep -q '^[0-9]* (.*) Z ' "/proc/$1/stat" 2>/dev/null
}

if [ "${1:-}" = ganesha ]; then
	# server.sh ganesha STATE_DIR stop|start: used by the fault test
	# through DEFUSE_NFS_SERVER while `run` is in charge of the servers.
	state=$2
	case $3 in
	stop)
		pid=$(cat "$state/ganesha.pid" 2>/dev/null) || exit 0
		kill -TERM "$pid" 2>/dev/null
		# ganesha is no child of the caller: wait for it by its pid.
		while running "$pid"; do sleep 0.05; done
		rm -f "$state/ganesha.pid"
		exit 0;;
	start)
		ganesha.nfsd -F -f "$state/ganesha.conf" -p "$state/ganesha.pidfile" \
			-L "$state/ganesha.log" -N NIV_EVENT </dev/null >/dev/null 2>&1 &
		echo $! >"$state/ganesha.pid"
		exec "$0" wait "$state";;
	esac
	echo "server.sh: ganesha STATE_DIR stop|start" >&2
	exit 2
fi

if [ "${1:-}" = wait ]; then
	# Ready when a real client lists the export: a bounded loop (40 s,
	# far above the 0.1 s it takes here), ending early if ganesha died.
	state=$2
	pid=$(cat "$state/ganesha.pid")
	n=0
	while [ $n -lt 400 ]; do
		if ! kill -0 "$pid" 2>/dev/null; then
			# gone: its pid is no longer ours to signal
			rm -f "$state/ganesha.pid"
			echo "server.sh: ganesha.nfsd exited at start; its log:" >&2
			tail -5 "$state/ganesha.log" >&2
			exit 1
		fi
		nfs-ls nfs://127.0.0.1/export/ >/dev/null 2>&1 && exit 0
		sleep 0.1
		n=$((n + 1))
	done
	echo "server.sh: nfs://127.0.0.1/export/ not ready after 40 s" >&2
	exit 1
fi

if [ "${1:-}" != run ] || [ $# -lt 2 ]; then
	echo "usage: server.sh run COMMAND [ARG...]" >&2
	exit 2
fi
shift

for prog in ganesha.nfsd rpcbind rpcinfo nfs-ls flock; do
	if ! command -v "$prog" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$prog" ]; then
		echo "SKIP: $prog is not installed (scripts/setup.sh installs nfs-ganesha," \
			"nfs-ganesha-vfs, rpcbind and libnfs-utils)"
		exit 77
	fi
done
if [ ! -e /usr/lib/x86_64-linux-gnu/ganesha/libfsalvfs.so ] &&
   ! ls /usr/lib/*/ganesha/libfsalvfs.so >/dev/null 2>&1; then
	echo "SKIP: ganesha's VFS backend is not installed (nfs-ganesha-vfs)"
	exit 77
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: ganesha's VFS backend needs root (open_by_handle_at)"
	exit 77
fi
RPCBIND=$(command -v rpcbind || echo /usr/sbin/rpcbind)

# One server at a time on this machine: the ports are the machine's, so
# every checkout's copy of this script must take the same lock.  It is
# taken on ganesha's own binary (a file every caller has and none writes:
# no lock file to leave behind), held on descriptor 9 until the script
# ends.  (A lock on this script itself kept two checkouts' test runs apart
# from neither: the second found the ports taken.)
exec 9<"$(command -v ganesha.nfsd)"
flock 9

shm=/dev/shm
[ -d $shm ] || shm=${TMPDIR:-/tmp}
state=$(mktemp -d "$shm/defuse-nfs.XXXXXX") || exit 1
rpcbind_pid=""
status=1
# What the daemons leave in /run (rpcbind's warm-start files and lock,
# ganesha's directory) is removed after them, unless it was there before.
leftovers=""
for f in /run/rpcbind/rpcbind.xdr /run/rpcbind/portmap.xdr /run/rpcbind.lock \
	 /run/rpcbind /run/ganesha; do
	[ -e "$f" ] || leftovers="$leftovers $f"
done

cleanup() {
	trap - EXIT INT TERM HUP
	"$0" ganesha "$state" stop
	if [ -n "$rpcbind_pid" ]; then
		kill -TERM "$rpcbind_pid" 2>/dev/null
		while running "$rpcbind_pid"; do sleep 0.05; done
	fi
	for f in $leftovers; do
		if [ -d "$f" ]; then rmdir "$f" 2>/dev/null; else rm -f "$f"; fi
	done
	rm -rf "$state"
	exit $status
}
trap cleanup EXIT
trap 'status=130; exit' INT
trap 'status=143; exit' TERM HUP

mkdir "$state/export" "$state/recovery"
chmod 755 "$state" "$state/export"
cat >"$state/ganesha.conf" <<EOF
# Written by tests/nfs/server.sh for one test run.
NFS_CORE_PARAM {
	# loopback only
	Bind_addr = 127.0.0.1;
	# NFSv3 is what the module speaks; v4 stays on for nfs-ls's sake
	Protocols = 3, 4;
	# no lock manager, no quota service, no UDP: nothing uses them
	Enable_NLM = false;
	Enable_RQUOTA = false;
	Enable_UDP = false;
	# the v3 MOUNT path is the pseudo path (/export), not the directory
	Mount_Path_Pseudo = true;
}
NFSv4 {
	# no 90 s grace period at each start (the fault test restarts)
	Graceless = true;
	Only_Numeric_Owners = true;
	RecoveryBackend = fs;
	RecoveryRoot = "$state/recovery";
}
MDCACHE {
	# tests change the export directory behind ganesha's back too:
	# no cached directory chunks to go stale
	Dir_Chunk = 0;
}
EXPORT {
	Export_Id = 1;
	Path = "$state/export";
	Pseudo = /export;
	Access_Type = RW;
	# the tests run as root, and check ownership as root gives it
	Squash = No_Root_Squash;
	SecType = sys;
	Transports = TCP;
	Protocols = 3, 4;
	# and no cached attributes either (see Dir_Chunk)
	Attr_Expiration_Time = 0;
	FSAL {
		Name = VFS;
	}
}
EOF

# rpcbind first: ganesha registers NFSv3 and MOUNT with it, or exits.
"$RPCBIND" -f </dev/null >"$state/rpcbind.log" 2>&1 &
rpcbind_pid=$!
n=0
while [ $n -lt 400 ] && ! rpcinfo -p 127.0.0.1 >/dev/null 2>&1; do
	kill -0 "$rpcbind_pid" 2>/dev/null || break
	sleep 0.1
	n=$((n + 1))
done
if ! kill -0 "$rpcbind_pid" 2>/dev/null; then
	echo "SKIP: rpcbind could not start (another one on port 111?):" \
		"$(tail -1 "$state/rpcbind.log")"
	rpcbind_pid=""
	status=77
	exit
fi

if ! "$0" ganesha "$state" start; then
	echo "SKIP: nfs-ganesha could not start here (see above)"
	status=77
	exit
fi

DEFUSE_NFS_URL=nfs://127.0.0.1/export
DEFUSE_NFS_DIR=$state/export
DEFUSE_NFS_SERVER="$0 ganesha $state"
export DEFUSE_NFS_URL DEFUSE_NFS_DIR DEFUSE_NFS_SERVER
"$@"
status=$?
exit
