#!/usr/bin/env python3
"""A real build, timed: zlib's ./configure, make -j2 and make test (the
source package scripts/setup.sh fetches into build-sources/), natively and
under `defuse run` of one or more builds, side by side in one run.

Each round unpacks the tarball afresh for every system and times the three
steps; the order of the systems rotates from round to round, so that the
machine's noise falls on all alike.  One warm-up round comes first and is
not counted (the plan caches fill).  Every DEFUSE build gets a plan cache
of its own in a temporary directory.  Prints, per step and in all, the
median (min-max) of each system and its ratio to native.

  --where capture   the tree on a native directory, the command under
                    `defuse run` with no mount (what capture costs)
  --where memfs     the tree on a memfs mount
  --where kernel    the tree on a kernel-backed passthrough mount

Usage:
  python3 bench/realbuild.py --build build-rel [--build OTHER ...] [--runs 5]
                             [--where capture]
"""
import argparse
import glob
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

STEPS = [("configure", "./configure >/dev/null"), ("make -j2", "make -j2 >/dev/null 2>&1"),
         ("make test", "make test >/dev/null")]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", action="append", required=True, help="a DEFUSE build directory")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--where", choices=["capture", "memfs", "kernel"], default="capture")
    a = ap.parse_args()
    tars = sorted(glob.glob(os.path.join(here, "..", "build-sources", "zlib_*.orig.tar.*")))
    if not tars:
        print("no zlib source in build-sources/ (scripts/setup.sh fetches it)")
        return 1
    with tarfile.open(tars[-1]) as t:
        name_in_tar = t.getnames()[0].split("/")[0]
    tmp = tempfile.mkdtemp(prefix="defuse-realbuild-")
    systems = ["native"] + [os.path.abspath(b) for b in a.build]
    times = {(s, k): [] for s in systems for k, _ in STEPS + [("all", "")]}
    try:
        env = dict(os.environ, DEFUSE_SPECIAL_DIR=tmp, DEFUSE_FUSE_LOCKDIR=tmp)
        for i, s in enumerate(systems[1:]):
            os.mkdir(os.path.join(tmp, "cache%d" % i), 0o700)
        for r in range(a.runs + 1):
            k = r % len(systems)
            for s in systems[k:] + systems[:k]:
                idx = systems.index(s)
                top = os.path.join(tmp, "sys%d" % idx)
                back = os.path.join(tmp, "back%d" % idx)
                segment = "realbuild-%d-%d" % (os.getpid(), idx)
                for d in (top, back):
                    shutil.rmtree(d, ignore_errors=True)
                    os.mkdir(d)
                prefix, e = [], env
                if s != "native":
                    e = dict(env, DEFUSE_CACHE_DIR=os.path.join(tmp, "cache%d" % (idx - 1)))
                    prefix = [os.path.join(s, "src", "defuse"), "run"]
                    if a.where == "memfs":
                        prefix += ["-m", "%s=%s:%s" % (
                            top, os.path.join(s, "modules", "memfs", "memfs.so"), segment)]
                    elif a.where == "kernel":
                        prefix += ["-m", "%s=%s:%s" % (
                            top, os.path.join(s, "modules", "passthrough", "passthrough.so"),
                            back)]
                    prefix += ["--"]
                # unpacked where the build runs, through the mount if any
                subprocess.run(prefix + ["tar", "xf", tars[-1], "-C", top], env=e, check=True)
                src = os.path.join(top, name_in_tar)
                total = 0.0
                for name, cmd in STEPS:
                    t = time.monotonic()
                    subprocess.run(prefix + ["sh", "-c", "cd '%s' && %s" % (src, cmd)], env=e,
                                   check=True)
                    dt = time.monotonic() - t
                    total += dt
                    if r:
                        times[(s, name)].append(dt)
                if r:
                    times[(s, "all")].append(total)
                if os.path.exists("/dev/shm/defuse-memfs." + segment):
                    os.unlink("/dev/shm/defuse-memfs." + segment)
        print("zlib build, %s, %d rounds: median (min-max) s, ratio to native" %
              (a.where, a.runs))
        for name, _ in STEPS + [("all", "")]:
            nat = statistics.median(times[("native", name)])
            cells = []
            for s in systems:
                v = times[(s, name)]
                cells.append("%s %.3f (%.3f-%.3f) %.2fx" % (
                    "native" if s == "native" else os.path.basename(s),
                    statistics.median(v), min(v), max(v), statistics.median(v) / nat))
            print("| %s | %s |" % (name, " | ".join(cells)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
