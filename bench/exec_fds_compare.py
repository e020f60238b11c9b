#!/usr/bin/env python3
"""Exec with N inherited descriptors, two builds side by side in one run.

    python3 bench/exec_fds_compare.py BEFORE_BUILD AFTER_BUILD ROUNDS EXECS N...

Runs bench/exec_fds (`exec_fds DIR N EXECS`: fork + exec + wait of a program
that exits at once, with N descriptors of one file open) natively and under
`defuse run -m DIR=passthrough.so:[emulated=]BACKING` of each build
(kernel-backed and emulated), in scratch directories under /dev/shm.  Each
of ROUNDS rounds runs every system for every N, the order of the systems
rotating from round to round, so that a busy machine's noise hits all
alike.  Prints a markdown table of medians (min-max) in us per exec, and
the per-descriptor cost of emulated descriptors over kernel-backed ones.
Both builds need src/defuse, modules/passthrough/passthrough.so and
bench/exec_fds.  Exit status 0, or 1 when a run failed (its stderr shown).
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile


def main():
    if len(sys.argv) < 6:
        print(__doc__.split("\n\n")[1].strip(), file=sys.stderr)
        return 2
    before, after = (os.path.abspath(b) for b in sys.argv[1:3])
    rounds, execs = int(sys.argv[3]), sys.argv[4]
    ns = [int(x) for x in sys.argv[5:]]
    systems = ["native", "kernel-before", "kernel-after", "emulated-before", "emulated-after"]
    s = tempfile.mkdtemp(prefix="exec-fds-", dir="/dev/shm")

    def cmd(m, n):
        b = before if m.endswith("before") else after
        ex = os.path.join(b, "bench", "exec_fds")
        if m == "native":
            return [ex, f"{s}/native", str(n), execs]
        spec = "" if m.startswith("kernel") else "emulated="
        module = os.path.join(b, "modules", "passthrough", "passthrough.so")
        return [os.path.join(b, "src", "defuse"), "run", "-m",
                f"{s}/{m}={module}:{spec}{s}/{m}b", "--", ex, f"{s}/{m}", str(n), execs]

    res = {}
    try:
        for m in systems:
            os.mkdir(f"{s}/{m}")
            os.mkdir(f"{s}/{m}b")
        for r in range(rounds):
            for n in ns:
                for m in systems[r % len(systems):] + systems[:r % len(systems)]:
                    p = subprocess.run(cmd(m, n), stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True)
                    if p.returncode or "exec_us=" not in p.stdout:
                        print(f"{m}, N={n}: exit {p.returncode}\n{p.stderr}", file=sys.stderr)
                        return 1
                    us = float(p.stdout.split("exec_us=")[1].split()[0])
                    res.setdefault((m, n), []).append(us)
    finally:
        shutil.rmtree(s, ignore_errors=True)
    print("| N | " + " | ".join(systems) + " |")
    print("|---|" + "---|" * len(systems))
    for n in ns:
        print(f"| {n} | " + " | ".join(
            f"{statistics.median(res[(m, n)]):.0f} "
            f"({min(res[(m, n)]):.0f}-{max(res[(m, n)]):.0f})" for m in systems) + " |")
    med = {k: statistics.median(v) for k, v in res.items()}
    lo, hi = min(ns), max(ns)
    for w in ("before", "after"):
        line = (f"emulated-{w} minus kernel-{w}, per descriptor at N={hi}: "
                f"{(med[('emulated-' + w, hi)] - med[('kernel-' + w, hi)]) / hi:.2f} us")
        if hi > lo:
            line += (f"; slope of emulated-{w} from N={lo} to {hi}: "
                     f"{(med[('emulated-' + w, hi)] - med[('emulated-' + w, lo)]) / (hi - lo):.2f} us")
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
