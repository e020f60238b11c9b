#!/usr/bin/env python3
"""A real build on a mount (issue 14): zlib's own ./configure, make and
make test, natively and on every kind of mount: passthrough kernel-backed
and emulated, memfs (--memfs), libfuse's passthrough_ll in process
(--examples), Debian's fuse2fs on an ext4 image (one instance for the
tree: docs/fuse-compat.md) and NFS (--nfs, under tests/nfs/server.sh),
from the source package scripts/setup.sh
fetched into build-sources/.  The outputs (with the tree's path made DIR)
and the names in the resulting trees must match, the shared-library test
must load the libz.so.1 just built, not the system's (LD_DEBUG tells), and
fuse2fs's image must pass `e2fsck -fn` after.  The tarball is unpacked
through the mount by tar itself.  Exit 77 with the reason if the source is
not there; a mount kind whose module or program is missing is skipped,
saying so.

    zlib.py --defuse build/src/defuse --module .../passthrough.so --source SRCROOT
            [--memfs .../memfs.so] [--fuse .../fuse.so [--examples DIR]]
            [--nfs .../nfs.so]
            [--modes native,nfs]
"""
import argparse
import difflib
import glob
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from difftest import drop_memfs  # noqa: E402

SKIP = 77
STEPS = "./configure && make && make test"


def run(cmd, cwd, timeout):
    p = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=timeout, start_new_session=True)
    return p.returncode, p.stdout


def which_libz(cmd_prefix, d, timeout):
    """The libz.so.1 the shared-library test program loads from d (the
    command starts outside it: this script itself does not see a mount).
    The whole of its output is read: a reader that stops at the first match
    (grep -m1) lets SIGPIPE kill the program at its next line of loader
    output, before or after it wrote its foo.gz, as timing falls."""
    rc, out = run(cmd_prefix + ["sh", "-c", "cd '%s' && LD_LIBRARY_PATH=. LD_DEBUG=libs "
                                "./examplesh 2>&1 >/dev/null" % d], "/", timeout)
    for line in out.splitlines():
        if "calling init:" in line and "libz" in line:
            return line.split("calling init:")[-1].strip()
    return ""


def fuse_kinds(args, scratch):
    """The mounts through the fuse module: libfuse's passthrough_ll example
    and Debian's fuse2fs on an ext4 image, each where it is there."""
    kinds = []
    ll = args.examples and os.path.join(os.path.abspath(args.examples), "passthrough_ll.so")
    if ll and os.path.exists(ll):
        os.mkdir(scratch + "/back-ll")
        kinds.append(("passthrough_ll", "%s:%s:-o source=%s" % (args.fuse, ll,
                                                               scratch + "/back-ll")))
    else:
        print("skip passthrough_ll: no --examples")
    f2 = shutil.which("fuse2fs") or "/usr/sbin/fuse2fs"
    if os.path.exists(f2) and shutil.which("mke2fs") and shutil.which("e2fsck"):
        img = scratch + "/ext4.img"
        with open(img, "wb") as f:
            f.truncate(256 << 20)
        # no journal: fuse2fs warns on stderr that it cannot write one
        rc, out = run(["mke2fs", "-q", "-t", "ext4", "-O", "^has_journal", "-F", img], "/", 120)
        if rc == 0:
            kinds.append(("fuse2fs", "%s:%s:%s" % (args.fuse, f2, img)))
        else:
            print("skip fuse2fs: mke2fs failed:\n" + out)
    else:
        print("skip fuse2fs: not installed (apt-get install fuse2fs e2fsprogs)")
    return kinds


def mounts(args, scratch):
    """(name, spec after MNT=, None for native) of every kind of mount
    this machine can run."""
    kinds = [("native", None), ("kernel", "%s:%s" % (args.module, scratch + "/back-kernel")),
             ("emulated", "%s:emulated=%s" % (args.module, scratch + "/back-emulated"))]
    os.mkdir(scratch + "/back-kernel")
    os.mkdir(scratch + "/back-emulated")
    if args.memfs:
        kinds.append(("memfs", "%s:%s" % (os.path.abspath(args.memfs), args.segment)))
    else:
        print("skip memfs: no --memfs")
    if args.fuse:
        kinds += fuse_kinds(args, scratch)
    else:
        print("skip passthrough_ll and fuse2fs: no --fuse")
    if args.nfs and os.environ.get("DEFUSE_NFS_URL"):
        kinds.append(("nfs", "%s:%s,lockdir=%s" % (os.path.abspath(args.nfs),
                                                  os.environ["DEFUSE_NFS_URL"], scratch)))
    elif args.nfs:
        print("skip nfs: no DEFUSE_NFS_URL (run under tests/nfs/server.sh)")
    return [k for k in kinds if not args.modes or k[0] in args.modes.split(",")]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--defuse", required=True)
    ap.add_argument("--module", required=True)
    ap.add_argument("--memfs")
    ap.add_argument("--examples")
    ap.add_argument("--fuse", help="the fuse module (fuse.so)")
    ap.add_argument("--nfs", help="nfs.so, for a mount of DEFUSE_NFS_URL (tests/nfs/server.sh)")
    ap.add_argument("--modes", help="only these kinds (native,kernel,...,nfs)")
    ap.add_argument("--source", required=True, help="the source tree (build-sources/ in it)")
    ap.add_argument("--timeout", type=float, default=900)
    args = ap.parse_args()
    tars = sorted(glob.glob(os.path.join(os.path.abspath(args.source), "build-sources",
                                         "zlib_*.orig.tar.*")))
    if not tars:
        print("skipped: no zlib source in build-sources/ (scripts/setup.sh fetches it "
              "from the machine's Debian archive; it could not)")
        return SKIP
    defuse = os.path.abspath(args.defuse)
    args.module = os.path.abspath(args.module)
    if args.fuse:
        args.fuse = os.path.abspath(args.fuse)
    args.segment = "zlib-test-%d" % os.getpid()
    with tarfile.open(tars[-1]) as t:
        top = t.getnames()[0].split("/")[0]
    scratch = tempfile.mkdtemp(prefix="defuse-zlib-")
    # the FUSE file systems' lock carriers and the sockets' stand-ins: ours
    os.environ["DEFUSE_FUSE_LOCKDIR"] = scratch
    os.environ["DEFUSE_SPECIAL_DIR"] = scratch
    ok = True
    try:
        results = {}
        for mode, spec in mounts(args, scratch):
            where = os.path.join(scratch, "mnt-" + mode)
            os.mkdir(where)
            prefix = [defuse, "run", "-m", "%s=%s" % (where, spec), "--"] if spec else []
            d = os.path.join(where, top)
            rc, out = run(prefix + ["sh", "-c", "tar xf '%s' -C '%s' && cd '%s' && %s"
                                    % (tars[-1], where, d, STEPS)], where, args.timeout)
            libz = which_libz(prefix, d, args.timeout)
            # Names only: objects and logs hold the tree's own path.
            lrc, names = run(prefix + ["sh", "-c", "cd '%s' && find . | LC_ALL=C sort" % d],
                             "/", args.timeout)
            results[mode] = (rc, out.replace(d, "DIR"), names if lrc == 0 else "", libz)
            print(f"{mode}: exit {rc}, {len(out.splitlines())} lines, examplesh loads {libz}")
            if mode == "fuse2fs":
                frc, fout = run(["e2fsck", "-fn", spec.split(":")[2]], "/", args.timeout)
                if frc != 0:
                    ok = False
                    print("FAIL fuse2fs: e2fsck -fn of the image after the build:\n" + fout)
        want = results.pop("native")
        if want[0] != 0 or "test OK" not in want[1]:
            print("FAIL the native build itself failed:\n" + want[1][-3000:])
            return 1
        for mode, got in results.items():
            if got[0] != want[0]:
                ok = False
                print(f"FAIL {mode}: exit {got[0]}, native {want[0]}")
            if got[1] != want[1]:
                ok = False
                print(f"FAIL {mode}: output differs:\n" + "".join(difflib.unified_diff(
                    want[1].splitlines(True), got[1].splitlines(True), "native", mode)))
            if got[2] != want[2]:
                ok = False
                print(f"FAIL {mode}: the built tree differs:\n" + "".join(difflib.unified_diff(
                    want[2].splitlines(True), got[2].splitlines(True), "native", mode)))
            if not got[3].endswith("/libz.so.1") or got[3].startswith(("/lib", "/usr")):
                ok = False
                print(f"FAIL {mode}: the shared-library test loads {got[3]!r}, "
                      "not the libz.so.1 it built")
        print("ok" if ok else "FAIL")
        return 0 if ok else 1
    finally:
        drop_memfs(args.segment)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
