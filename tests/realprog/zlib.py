#!/usr/bin/env python3
"""A real build on a mount (issue 14): zlib's own ./configure, make and
make test, natively and on a passthrough mount, kernel-backed and emulated,
from the source package scripts/setup.sh fetched into build-sources/.  The
outputs (with the tree's path made DIR) and the names in the resulting trees must match,
and the shared-library test must load the libz.so.1 just built, not the
system's (LD_DEBUG tells).  Exit 77 with the reason if the source is not
there.

    zlib.py --defuse build/src/defuse --module .../passthrough.so --source SRCROOT
"""
import argparse
import glob
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from difftest import tree  # noqa: E402

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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--defuse", required=True)
    ap.add_argument("--module", required=True)
    ap.add_argument("--source", required=True, help="the source tree (build-sources/ in it)")
    ap.add_argument("--timeout", type=float, default=600)
    args = ap.parse_args()
    tars = sorted(glob.glob(os.path.join(args.source, "build-sources", "zlib_*.orig.tar.*")))
    if not tars:
        print("skipped: no zlib source in build-sources/ (scripts/setup.sh fetches it "
              "from the machine's Debian archive; it could not)")
        return SKIP
    defuse, module = os.path.abspath(args.defuse), os.path.abspath(args.module)
    scratch = tempfile.mkdtemp(prefix="defuse-zlib-")
    ok = True
    try:
        results = {}
        for mode in ("native", "kernel", "emulated"):
            back = os.path.join(scratch, mode)
            os.mkdir(back)
            with tarfile.open(tars[-1]) as t:
                t.extractall(back)
            top = os.listdir(back)[0]
            if mode == "native":
                where, prefix = back, []
            else:
                where = os.path.join(scratch, "mnt-" + mode)
                os.mkdir(where)
                spec = f"{where}={module}:{'emulated=' if mode == 'emulated' else ''}{back}"
                prefix = [defuse, "run", "-m", spec, "--"]
            d = os.path.join(where, top)
            rc, out = run(prefix + ["sh", "-c", f"cd '{d}' && {STEPS}"], where, args.timeout)
            libz = which_libz(prefix, d, args.timeout)
            # Names only: objects and logs hold the tree's own path.
            names = [line.split(" ")[0] for line in tree(os.path.join(back, top))]
            results[mode] = (rc, out.replace(d, "DIR"), names, libz)
            print(f"{mode}: exit {rc}, {len(out.splitlines())} lines, examplesh loads {libz}")
        want = results["native"]
        if want[0] != 0 or "test OK" not in want[1]:
            print("FAIL the native build itself failed:\n" + want[1][-3000:])
            return 1
        for mode in ("kernel", "emulated"):
            got = results[mode]
            if got[0] != want[0]:
                ok = False
                print(f"FAIL {mode}: exit {got[0]}, native {want[0]}")
            if got[1] != want[1]:
                ok = False
                import difflib
                print(f"FAIL {mode}: output differs:\n" + "".join(difflib.unified_diff(
                    want[1].splitlines(True), got[1].splitlines(True), "native", mode)))
            if got[2] != want[2]:
                ok = False
                print(f"FAIL {mode}: the built tree differs: "
                      f"{sorted(set(got[2]) ^ set(want[2]))}")
            if not got[3].endswith("/libz.so.1") or got[3].startswith(("/lib", "/usr")):
                ok = False
                print(f"FAIL {mode}: the shared-library test loads {got[3]!r}, "
                      "not the libz.so.1 it built")
        print("ok" if ok else "FAIL")
        return 0 if ok else 1
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
