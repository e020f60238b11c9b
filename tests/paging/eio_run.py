#!/usr/bin/env python3
"""A module's read error under a mapping gives SIGBUS (issue 10).

    eio_run.py --prog EIO --defuse DEFUSE --badpage BADPAGE.so [--sanitized]

Runs `EIO bad POINT` on a mount of the test module badpage.so:3,5 (pages 3
and 5 of POINT/bad fail with EIO), with the pager on userfaultfd and in its
eager fallback (DEFUSE_PAGING=eager).  No native counterpart: an I/O error
on demand under a kernel file needs root (dm-error); `eio eof` (run.py)
checks the kernel's siginfo for SIGBUS past the end, which the pager must
match.  Each line of the program is checked against WANT; a hang or a
crash fails.  The scratch directory is removed whatever happened.
"""
import argparse
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from difftest import SANITIZED_ENV, how, run_guarded  # noqa: E402

# What the kernel would give for an I/O error on a mapped file: SIGBUS,
# BUS_ADRERR, si_addr the byte touched, in the thread that touched it; the
# good pages stay usable.
WANT = """pread of page 3: Input/output error
pread of page 4: read
shared, page 0 byte 5: none {b5}
shared, page 3 byte 123: SIGBUS BUS_ADRERR addr exact
good pages after the SIGBUS: 0 bytes wrong
shared, page 3 again, byte 7: SIGBUS BUS_ADRERR addr exact
a thread, page 5 byte 2049: SIGBUS BUS_ADRERR addr exact
private, page 5 byte 1: SIGBUS BUS_ADRERR addr exact
private, page 6 written, reads W, byte 1 none {b6}
bad done
"""


def byte(i):
    return ord('a') + (i // 4096 + i * 7) % 26


# mode -> (why, {line of WANT: the line it is instead}): those lines must
# differ just so; a KNOWN entry that no longer differs fails, so the list
# stays true.
KNOWN = {}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prog", required=True)
    ap.add_argument("--defuse", required=True)
    ap.add_argument("--badpage", required=True)
    ap.add_argument("--sanitized", action="store_true")
    ap.add_argument("--timeout", type=int, default=120)
    a = ap.parse_args()
    want = WANT.format(b5=byte(5), b6=byte(6 * 4096 + 1))
    ok = True
    s = tempfile.mkdtemp(prefix="defuse-eio-")
    try:
        for mode in ("uffd", "eager"):
            env = dict(SANITIZED_ENV) if a.sanitized else {}
            if mode == "eager":
                env["DEFUSE_PAGING"] = "eager"
            point = os.path.join(s, mode)
            os.mkdir(point)
            cmd = [a.defuse, "run", "-m", f"{point}={a.badpage}:3,5", "--",
                   a.prog, "bad", point]
            rc, out, err = run_guarded(cmd, a.timeout, env)
            bad = []
            known = KNOWN.get(mode)
            expect = want
            if known:
                expect = "".join(known[1].get(x, x) + "\n" for x in want.splitlines())
                if out == want:
                    bad.append(f"as the kernel would, but KNOWN says it differs "
                               f"({known[0]}): take it off")
            if rc != 0:
                bad.append(how(rc))
            if out != expect and out != want:
                bad.append("output differs:\n" + "".join(
                    f"  want: {x}\n  got:  {y}\n"
                    for x, y in zip(expect.splitlines() + ["<end>"] * 99,
                                    out.splitlines() + ["<end>"] * 99) if x != y))
            if not bad and known:
                print(f"bad [{mode}]: known difference: {known[0]}")
            elif bad:
                print(f"bad [{mode}]: " + "; ".join(bad))
                if err.strip():
                    print("  stderr: " + err.strip()[-2000:])
                ok = False
            else:
                print(f"bad [{mode}]: as the kernel would")
    finally:
        shutil.rmtree(s, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
