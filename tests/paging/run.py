#!/usr/bin/env python3
"""mmap of files (issue 10), natively and through DEFUSE, compared.

    run.py --prog PAGING --defuse DEFUSE --passthrough PASSTHROUGH.so
           --memfs MEMFS.so [--sanitized] [--modes LIST] CASE [ARGS...]

Each CASE of the program (tests/paging/paging.c, or fsx.c with --prog and
its own arguments) runs in a fresh scratch directory S:

  native       PROG CASE S/n
  kernel       defuse run -m S/k=passthrough:S/kb -- PROG CASE S/k
  emulated     defuse run -m S/e=passthrough:emulated=S/eb -- ...  (the
               module gives its backing file for mmap: map_fd)
  emulated-nomap  the same with passthrough:emulated-nomap=: the user-space
               pager serves the mappings over a real file system
  memfs        defuse run -m S/m=memfs:NAME -- ...       (no kernel file
               behind any file: the user-space pager does all the work)
  memfs-eager  the same with DEFUSE_PAGING=eager (the pager's fallback
               without userfaultfd)

Every DEFUSE run must print exactly what the native one printed and exit
the same way; the native run must succeed with no FAIL line.  A known
difference (KNOWN below) must still differ, or the entry is stale.  S and
the memfs segments are removed afterwards, whatever happened.

Exit status: 0 all passed, 1 a failure, 2 bad usage, 77 skipped (the
program says why: a tool it needs is missing).
"""
import argparse
import os
import shutil
import sys
import tempfile
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from difftest import SANITIZED_ENV, how, run_guarded  # noqa: E402

MODES = ["kernel", "emulated", "emulated-nomap", "memfs", "memfs-eager"]

# (case, mode) -> why a run is expected to differ from the native one.
KNOWN = {}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prog", required=True)
    ap.add_argument("--defuse", required=True)
    ap.add_argument("--passthrough", required=True)
    ap.add_argument("--memfs", required=True)
    ap.add_argument("--sanitized", action="store_true")
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--timeout", type=int, default=300)
    ap.add_argument("case")
    ap.add_argument("args", nargs="*")
    a = ap.parse_args()
    env = dict(SANITIZED_ENV) if a.sanitized else {}
    ok = True
    s = tempfile.mkdtemp(prefix="defuse-paging-")
    segments = []
    try:
        native = os.path.join(s, "n")
        os.mkdir(native)
        rc, out, err = run_guarded([a.prog, a.case, native] + a.args, a.timeout, env)
        if rc == 77:
            print(f"{a.case}: skipped: {out.strip()}")
            return 77
        if rc != 0 or "FAIL" in out:
            print(f"{a.case}: native run failed ({how(rc)}):\n{out}{err}")
            return 1
        for mode in a.modes.split(","):
            point = os.path.join(s, mode)
            os.mkdir(point)
            menv = dict(env)
            if mode == "kernel":
                spec = f"{a.passthrough}:{point}-b"
                os.mkdir(point + "-b")
            elif mode in ("emulated", "emulated-nomap"):
                spec = f"{a.passthrough}:{mode}={point}-b"
                os.mkdir(point + "-b")
            else:
                name = "paging-" + uuid.uuid4().hex[:12]
                segments.append("/dev/shm/defuse-memfs." + name)
                spec = f"{a.memfs}:{name},size=512M"
                if mode == "memfs-eager":
                    menv["DEFUSE_PAGING"] = "eager"
            cmd = [a.defuse, "run", "-m", f"{point}={spec}", "--", a.prog, a.case, point] + a.args
            rc2, out2, err2 = run_guarded(cmd, a.timeout, menv)
            bad = []
            if rc2 != rc:
                bad.append(f"{how(rc2)}, natively {how(rc)}")
            if out2 != out:
                bad.append("output differs:\n" + "".join(
                    f"  native: {x}\n  {mode}: {y}\n"
                    for x, y in zip(out.splitlines() + ["<end>"] * 99,
                                    out2.splitlines() + ["<end>"] * 99)
                    if x != y)[:4000])
            known = KNOWN.get((a.case, mode))
            if known and not bad:
                print(f"{a.case} [{mode}]: matches the native run, but KNOWN says "
                      f"it differs ({known}): take it off")
                ok = False
            elif known:
                print(f"{a.case} [{mode}]: known difference: {known}")
            elif bad:
                print(f"{a.case} [{mode}]: " + "; ".join(bad))
                if err2.strip():
                    print("  stderr: " + err2.strip()[-2000:])
                ok = False
            else:
                print(f"{a.case} [{mode}]: same as native")
    finally:
        shutil.rmtree(s, ignore_errors=True)
        for seg in segments:
            try:
                os.unlink(seg)
            except FileNotFoundError:
                pass
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
