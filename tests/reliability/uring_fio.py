#!/usr/bin/env python3
"""fio's io_uring engine on a mount file (src/core/uring.c):

    uring_fio.py fio DIR

runs fio jobs that write a file in DIR through io_uring and verify what
they read back (crc32c), as tests/reliability/run.py runs any case:
natively and through DEFUSE, whose output must be the same.  Each job
prints fio's exit status and error; the file is removed afterwards (fio's
verify headers hold times, so its bytes differ from run to run).

  randrw      random reads and writes, 16 in flight (READ/WRITE SQEs)
  vectored    the same with READV/WRITEV (nonvectored=0)
  fixedbufs   registered buffers (READ_FIXED/WRITE_FIXED)
  sizes       a sequential write of mixed block sizes, then its verify
"""
import os
import re
import subprocess
import sys

COMMON = ["--ioengine=io_uring", "--size=4m", "--verify=crc32c", "--do_verify=1",
          "--iodepth=16", "--thread=0", "--output-format=normal",
          # fio would leave its verify state (local-NAME-0-verify.state) in
          # the test's working directory
          "--verify_state_save=0"]
JOBS = [
    ("randrw", ["--rw=randrw", "--bs=4k"]),
    ("vectored", ["--rw=randrw", "--bs=4k", "--nonvectored=0"]),
    ("fixedbufs", ["--rw=randrw", "--bs=4k", "--fixedbufs"]),
    ("sizes", ["--rw=write", "--bsrange=512-64k", "--verify_backlog=16"]),
]


def main():
    d = sys.argv[2]
    for name, extra in JOBS:
        f = os.path.join(d, "fio-" + name)
        p = subprocess.run(["fio", "--name=" + name, "--filename=" + f] + COMMON + extra,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        errs = re.findall(r"err=\s*(\d+)", p.stdout)
        print(f"{name}: exit {p.returncode}, err {' '.join(errs) or '?'}")
        if p.returncode != 0 or errs != ["0"]:
            print("FAIL " + name + ":\n" + p.stdout)
        if os.path.exists(f):
            os.unlink(f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
