#!/usr/bin/env python3
"""Lifecycle cases (issue 4), natively and through DEFUSE, compared.

    run.py --life LIFE --defuse DEFUSE --module PASSTHROUGH.so CASE...

Each CASE of `life` (tests/lifecycle/life.c) runs three times in a fresh
scratch directory S:

  native    life CASE S/n
  kernel    defuse run -m S/k=passthrough:S/kb -- life CASE S/k
  emulated  defuse run -m S/e=passthrough:emulated=S/eb -- life CASE S/e
  memfs     with --memfs MEMFS.so: defuse run -m S/m=MEMFS.so:NAME -- life
            CASE S/m, on a memfs segment of its own (no backing tree to
            compare: the output says what the case saw)

With --sanitized (an ASan/UBSan build: the program, libdefuse.so and the
module all instrumented) every run gets ASAN_OPTIONS/UBSAN_OPTIONS that
stop at the first error.  The sanitizer's runtime has unpatchable system
call sites, so the SUD net is armed in those runs.

The two DEFUSE runs must print exactly what the native one printed, exit the
same way, leave their backing directory (S/kb, S/eb) holding the same tree
as S/n (names, types, sizes, contents), and leave their mount point empty.
The native run must itself succeed (exit 0, no FAIL line), so a case whose
expectations are wrong is noticed too.  S is removed afterwards, whatever
happened.

Exit status: 0 all passed, 1 a failure, 2 bad usage, 77 skipped.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from difftest import SANITIZED_ENV, differences, tree  # noqa: E402


extra_env = {}

# Known differences: (case, mode) -> why.  Such a run must differ (an
# expected failure); if it matches the native run, the entry is stale and
# the case fails, so that it is taken off.
KNOWN_DIFFERENCES = {
    ("lock-reopen", "emulated"):
        "opening a file again drops the process's record locks on it: the "
        "module's new descriptor moves to DEFUSE's band by dup and close, and "
        "closing any descriptor of a file drops them (docs/core.md)",
}

# Cases that cannot run in the sanitized build, and why (meson shows SKIP).
SANITIZED_SKIP = {}


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, env={**os.environ, **extra_env})
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def one_case(args, case):
    ok = True
    s = tempfile.mkdtemp(prefix="defuse-life-")
    try:
        native = os.path.join(s, "n")
        os.mkdir(native)
        rc, out, err = run([args.life, case, native])
        if rc != 0 or "FAIL" in out:
            print(f"{case}: native run failed (exit {rc}):\n{out}{err}")
            return False
        want_tree = tree(native)
        modes = [("kernel", ""), ("emulated", "emulated=")]
        if args.memfs:
            modes.append(("memfs", None))
        for mode, spec in modes:
            point, backing = os.path.join(s, mode[0]), os.path.join(s, mode[0] + "b")
            os.mkdir(point)
            if spec is None:
                segment = f"life-{os.getpid()}-{case}"
                cmd = [args.defuse, "run", "-m", f"{point}={args.memfs}:{segment}",
                       "--", args.life, case, point]
                try:
                    rc2, out2, err2 = run(cmd)
                finally:
                    if os.path.exists(f"/dev/shm/defuse-memfs.{segment}"):
                        os.unlink(f"/dev/shm/defuse-memfs.{segment}")
                bad = differences(mode, (rc, out), (rc2, out2), (), point)
            else:
                os.mkdir(backing)
                cmd = [args.defuse, "run", "-m", f"{point}={args.module}:{spec}{backing}",
                       "--", args.life, case, point]
                rc2, out2, err2 = run(cmd)
                bad = differences(mode, (rc, out), (rc2, out2),
                                  (("tree", want_tree, tree(backing)),), point)
            known = KNOWN_DIFFERENCES.get((case, mode))
            if bad and known:
                print(f"{case} [{mode}]: expected failure: {known}\n" + "\n".join(bad))
            elif bad:
                ok = False
                print(f"{case} [{mode}]: " + "\n".join(bad))
                if err2:
                    print(f"stderr:\n{err2}")
            elif known:
                ok = False
                print(f"{case} [{mode}]: passes now, but is listed as a known "
                      f"difference in run.py: take it off")
            else:
                print(f"{case} [{mode}]: ok")
        if ok:
            sys.stdout.write("".join("  | " + line for line in out.splitlines(True)))
        return ok
    finally:
        shutil.rmtree(s, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--life", required=True)
    ap.add_argument("--defuse", required=True)
    ap.add_argument("--module", required=True)
    ap.add_argument("--memfs", help="the memfs module: run in memfs mode too")
    ap.add_argument("--sanitized", action="store_true",
                    help="an ASan/UBSan build (see the top)")
    ap.add_argument("cases", nargs="+")
    args = ap.parse_args()
    if args.sanitized:
        extra_env.update(SANITIZED_ENV)
        skipped = [c for c in args.cases if c in SANITIZED_SKIP]
        for c in skipped:
            print(f"{c}: skipped in the sanitized build: {SANITIZED_SKIP[c]}")
        args.cases = [c for c in args.cases if c not in SANITIZED_SKIP]
        if not args.cases:
            return 77
    # The cases change directory: every path handed down must be absolute.
    args.life, args.defuse, args.module = (os.path.abspath(p) for p in
                                           (args.life, args.defuse, args.module))
    if args.memfs:
        args.memfs = os.path.abspath(args.memfs)
    for p in (args.life, args.defuse, args.module) + ((args.memfs,) if args.memfs else ()):
        if not os.path.exists(p):
            print(f"run.py: {p}: not found", file=sys.stderr)
            return 2
    ok = all([one_case(args, c) for c in args.cases])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
