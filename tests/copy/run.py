#!/usr/bin/env python3
"""Copies with an emulated end (issue 14, item 6), natively and through
DEFUSE, compared.

    run.py --prog COPYTEST --defuse DEFUSE --module PASSTHROUGH.so
           [--timeout SECONDS] [--sanitized] CASE...

Each CASE of `copytest` (tests/copy/copytest.c) runs three times in a fresh
scratch directory S:

  native    copytest CASE S/n S/no
  kernel    defuse run -m S/k=passthrough:S/kb -- copytest CASE S/k S/ko
  emulated  defuse run -m S/e=passthrough:emulated=S/eb -- copytest CASE S/e S/eo

(S/*o: a directory outside the mount, for the other end of a copy.)  The
DEFUSE runs must print exactly what the native one printed, exit the same
way, and leave the same trees behind (backing directory and outside
directory), and the mount point empty.  The native run must itself pass.

These cases used to hang DEFUSE (a splice into a pipe wrote more than the
pipe holds), so each run has a time limit (--timeout, default 90 s, far
above a normal run; copytest also stops itself after 60 s): a run that
outlives it is killed with its process group and reported as hung.

With --sanitized (an ASan/UBSan build) every run gets ASAN_OPTIONS and
UBSAN_OPTIONS that stop at the first error.

Exit status: 0 all passed, 1 a failure, 2 bad usage.
"""
import argparse
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from difftest import SANITIZED_ENV, differences, how, run_guarded, tree  # noqa: E402


def one_case(args, case, extra_env):
    s = tempfile.mkdtemp(prefix="defuse-copy-")
    try:
        native, nout = os.path.join(s, "n"), os.path.join(s, "no")
        os.mkdir(native)
        os.mkdir(nout)
        rc, out, err = run_guarded([args.prog, case, native, nout], args.timeout, extra_env)
        if rc != 0 or "FAIL" in out:
            print(f"{case}: native run failed ({how(rc)}):\n{out}{err}")
            return False
        want = (tree(native), tree(nout))
        ok = True
        for mode, spec in (("kernel", ""), ("emulated", "emulated=")):
            point, backing = os.path.join(s, mode[0]), os.path.join(s, mode[0] + "b")
            outside = os.path.join(s, mode[0] + "o")
            for d in (point, backing, outside):
                os.mkdir(d)
            cmd = [args.defuse, "run", "-m", f"{point}={args.module}:{spec}{backing}",
                   "--", args.prog, case, point, outside]
            rc2, out2, err2 = run_guarded(cmd, args.timeout, extra_env)
            bad = differences(mode, (rc, out), (rc2, out2),
                              (("backing tree", want[0], tree(backing)),
                               ("outside tree", want[1], tree(outside))), point)
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
        shutil.rmtree(s, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--prog", required=True)
    ap.add_argument("--defuse", required=True)
    ap.add_argument("--module", required=True)
    ap.add_argument("--timeout", type=float, default=90,
                    help="seconds one run may take before it counts as hung")
    ap.add_argument("--sanitized", action="store_true",
                    help="an ASan/UBSan build (see the top)")
    ap.add_argument("cases", nargs="+")
    args = ap.parse_args()
    extra_env = dict(SANITIZED_ENV) if args.sanitized else {}
    args.prog, args.defuse, args.module = (os.path.abspath(p) for p in
                                           (args.prog, args.defuse, args.module))
    for p in (args.prog, args.defuse, args.module):
        if not os.path.exists(p):
            print(f"run.py: {p}: not found", file=sys.stderr)
            return 2
    ok = all([one_case(args, c, extra_env) for c in args.cases])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
