#!/usr/bin/env python3
"""Locks and exec (issue 11's flock idiom), one case:

    locks_exec.py flock-inherited DIR

A flock lock belongs to the open file description, so one taken by an
exec'd program on a descriptor it inherited stays held after that program
exits, for as long as the description is open anywhere: the shell idiom
`( flock -x 9; ... ) 9>lockf` relies on it.  Synchronised by waiting for
each program, never by time.  run.py compares the output natively and
through DEFUSE.
"""
import os
import subprocess
import sys


def run(argv, **kw):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          text=True, **kw)


def main():
    d = sys.argv[2]
    os.chdir(d)
    fd = os.open("lockf", os.O_CREAT | os.O_RDWR, 0o644)
    r = run(["flock", "-x", str(fd)], pass_fds=[fd])
    print("flock -x on the inherited descriptor: exit", r.returncode)
    r = run(["flock", "-n", "lockf", "-c", "echo WRONG: not held"])
    print("another flock -n while it is open here: exit", r.returncode, r.stdout.strip())
    dup = os.dup(fd)
    os.close(fd)
    r = run(["flock", "-n", "lockf", "-c", "echo WRONG: not held"])
    print("with only a dup of it left: exit", r.returncode, r.stdout.strip())
    os.close(dup)
    r = run(["flock", "-n", "lockf", "-c", "echo free"])
    print("once closed everywhere: exit", r.returncode, r.stdout.strip())
    # The idiom itself, in a shell: the lock taken by the exec'd flock on
    # the shell's descriptor 9 holds until the shell closes it.
    r = run(["sh", "-c", "exec 9<lockf; flock -s 9; "
             "flock -n -x lockf -c 'echo WRONG: exclusive' || echo exclusive refused; "
             "flock -n -s lockf -c 'echo shared granted'; exec 9<&-; "
             "flock -n -x lockf -c 'echo exclusive once closed'"])
    print("the shell idiom:", r.stdout.strip().replace("\n", "; "))
    os.unlink("lockf")
    return 0


if __name__ == "__main__":
    sys.exit(main())
