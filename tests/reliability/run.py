#!/usr/bin/env python3
"""Hostile-program cases (issue 15), natively and through DEFUSE, compared.

    run.py --prog HOSTILE --defuse DEFUSE --module PASSTHROUGH.so
           [--timeout SECONDS] [--nofile N] [--sanitized] CASE...

Each CASE of `hostile` (tests/reliability/hostile.c) runs three times in a
fresh scratch directory S, as tests/lifecycle/run.py does:

  native    hostile CASE S/n
  kernel    defuse run -m S/k=passthrough:S/kb -- hostile CASE S/k
  emulated  defuse run -m S/e=passthrough:emulated=S/eb -- hostile CASE S/e
  memfs     defuse run -m S/m=MEMFS:NAME -- hostile CASE S/m   (--modes ...,memfs)
  fuse      defuse run -m S/f=fuse:PASSTHROUGH_LL.so:-o source=S/fb -- hostile CASE S/f
            (--modes ...,fuse --fuse-ll PASSTHROUGH_LL.so: libfuse's example in process)

The DEFUSE runs must print exactly what the native one printed, exit the
same way, leave their backing directory holding the same tree as S/n, and
leave their mount point empty.  The native run must itself pass (exit 0, no
FAIL line).

These cases exist because DEFUSE used to hang in them, so each run has a
time limit (--timeout, default 90 s, far above a normal run): a run that
outlives it is killed with its whole process group and reported as hung.
Every run starts a process group of its own so that nothing it started
outlives it either.

--own-mounts runs everything in a private mount namespace made for the
run (cases that mount; root only, else skipped).

--nofile N lowers the soft RLIMIT_NOFILE to N before the program (and so
before DEFUSE) starts, as `ulimit -n N` in a shell would.

With --sanitized (an ASan/UBSan build) every run gets ASAN_OPTIONS and
UBSAN_OPTIONS that stop at the first error.

A case whose native run exits with status 77 cannot run here (it says why
on stderr, printed here): it is skipped, not compared.

Exit status: 0 all passed, 1 a failure, 2 bad usage, 77 every case skipped
(meson's SKIP).
"""
import argparse
import ctypes
import os
import resource
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from difftest import SANITIZED_ENV, differences, how, run_guarded, tree  # noqa: E402


SKIP = 77


def own_mount_namespace():
    """Moves this process (and so every run it starts) to a mount namespace
    of its own, private, so that what the cases mount is seen nowhere else
    and goes with the last process in it.  Returns why not, or None."""
    if os.geteuid() != 0:
        return "mounting needs root"
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                           ctypes.c_ulong, ctypes.c_void_p]
    if libc.unshare(0x00020000):  # CLONE_NEWNS
        return "unshare(CLONE_NEWNS): " + os.strerror(ctypes.get_errno())
    if libc.mount(None, b"/", None, 16384 | (1 << 18), None):  # MS_REC | MS_PRIVATE
        return "mount --make-rprivate /: " + os.strerror(ctypes.get_errno())
    return None


def unmount_below(top):
    """Detaches every mount below top (deepest first) that a case left when
    it failed halfway, so that the scratch tree under them can go too.
    Only in our own mount namespace (--own-mounts)."""
    libc = ctypes.CDLL(None, use_errno=True)
    points = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].encode().decode("unicode_escape")
            if point.startswith(top + "/"):
                points.append(point)
    for point in sorted(points, key=len, reverse=True):
        libc.umount2(point.encode(), 2)  # MNT_DETACH


def run(cmd, args, extra_env):
    """(exit code or None if hung, stdout, stderr) of one run, started with
    the descriptor limit --nofile asks for."""
    def limit():
        if args.nofile:
            hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
            resource.setrlimit(resource.RLIMIT_NOFILE, (args.nofile, hard))

    return run_guarded(cmd, args.timeout, extra_env, limit)


def one_case(args, case, extra_env):
    ok = True
    s = tempfile.mkdtemp(prefix="defuse-rel-")
    shm = []
    try:
        native = os.path.join(s, "n")
        os.mkdir(native)
        rc, out, err = run([args.prog, case, native], args,
                           {**extra_env, "HOSTILE_BACKING": native})
        if rc == SKIP:
            print(f"{case}: skipped: the native run says why:\n{err}")
            return SKIP
        if rc != 0 or "FAIL" in out:
            print(f"{case}: native run failed ({how(rc)}):\n{out}{err}")
            return False
        want_tree = tree(native)
        for mode, spec in (("kernel", ""), ("emulated", "emulated="), ("memfs", None),
                           ("fuse", "fuse")):
            if mode not in args.modes.split(","):
                continue
            point, backing = os.path.join(s, mode[0]), os.path.join(s, mode[0] + "b")
            os.mkdir(point)
            os.mkdir(backing)
            if spec is None:
                # memfs has no backing directory: its segment, named
                # after the scratch directory, goes with it.
                segment = "rel-" + os.path.basename(s)
                shm.append("/dev/shm/defuse-memfs." + segment)
                mount = f"{point}={args.memfs}:{segment}"
            elif spec == "fuse":
                mount = f"{point}=fuse:{args.fuse_ll}:-o source={backing}"
            else:
                mount = f"{point}={args.module}:{spec}{backing}"
            cmd = [args.defuse, "run", "-m", mount, "--", args.prog, case, point]
            # FIFOs' and sockets' stand-ins of modules with no kernel
            # directories (src/core/special.c) go with the scratch tree;
            # defuse takes DEFUSE_SPECIAL_DIR out of the program's
            # environment, so cases that look there get it again.
            # The same for a FUSE file system's lock carriers.
            special = os.path.join(s, "special")
            rc2, out2, err2 = run(cmd, args, {**extra_env, "HOSTILE_BACKING": backing,
                                              "DEFUSE_SPECIAL_DIR": special,
                                              "TEST_SPECIAL_DIR": special,
                                              "DEFUSE_FUSE_LOCKDIR": os.path.join(s, "locks")})
            trees = (("tree", want_tree, tree(backing)),) if spec is not None else ()
            bad = differences(mode, (rc, out), (rc2, out2), trees, point)
            if bad:
                ok = False
                print(f"{case} [{mode}]: " + "\n".join(bad))
                if err2:
                    print(f"stderr:\n{err2}")
            else:
                print(f"{case} [{mode}]: ok")
        if ok:
            sys.stdout.write("".join("  | " + line for line in out.splitlines(True)))
        return ok
    finally:
        if args.own_mounts:
            unmount_below(s)
        shutil.rmtree(s, ignore_errors=True)
        for f in shm:
            if os.path.exists(f):
                os.unlink(f)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--prog", required=True)
    ap.add_argument("--defuse", required=True)
    ap.add_argument("--module", required=True)
    ap.add_argument("--timeout", type=float, default=90,
                    help="seconds one run may take before it counts as hung")
    ap.add_argument("--nofile", type=int, default=0,
                    help="soft RLIMIT_NOFILE to start the runs with")
    ap.add_argument("--sanitized", action="store_true",
                    help="an ASan/UBSan build (see the top)")
    ap.add_argument("--modes", default="kernel,emulated",
                    help="the mount modes to compare with the native run "
                         "(kernel, emulated, memfs, fuse)")
    ap.add_argument("--memfs", help="memfs.so, for the memfs mode")
    ap.add_argument("--fuse-ll", help="libfuse's passthrough_ll example as a module, "
                                      "for the fuse mode (in process, -o source=DIR)")
    ap.add_argument("--own-mounts", action="store_true",
                    help="run everything in a private mount namespace of its own, "
                         "for cases that mount (root only: else every case is skipped)")
    ap.add_argument("cases", nargs="+")
    args = ap.parse_args()
    if args.own_mounts:
        why = own_mount_namespace()
        if why:
            print(f"run.py: skipped: {why}")
            return SKIP
    extra_env = dict(SANITIZED_ENV) if args.sanitized else {}
    # The cases are handed paths from the scratch directory: all absolute.
    args.prog, args.defuse, args.module = (os.path.abspath(p) for p in
                                           (args.prog, args.defuse, args.module))
    if "memfs" in args.modes.split(","):
        if not args.memfs:
            print("run.py: the memfs mode needs --memfs", file=sys.stderr)
            return 2
        args.memfs = os.path.abspath(args.memfs)
    if "fuse" in args.modes.split(","):
        if not args.fuse_ll:
            print("run.py: the fuse mode needs --fuse-ll", file=sys.stderr)
            return 2
        args.fuse_ll = os.path.abspath(args.fuse_ll)
    for p in ((args.prog, args.defuse, args.module) + ((args.memfs,) if args.memfs else ()) +
              ((args.fuse_ll,) if args.fuse_ll else ())):
        if not os.path.exists(p):
            print(f"run.py: {p}: not found", file=sys.stderr)
            return 2
    results = [one_case(args, c, extra_env) for c in args.cases]
    if all(r == SKIP for r in results):
        return SKIP
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
