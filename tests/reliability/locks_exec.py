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

    # Taken here, then shared with a child that outlives this process's
    # own descriptor: the description, and so the lock, is still held.
    fd = os.open("lockf", os.O_RDWR)
    r = run(["flock", "-x", str(fd)], pass_fds=[fd])
    holder = subprocess.Popen(["sh", "-c", "read x"], stdin=subprocess.PIPE, pass_fds=[fd])
    os.close(fd)
    r = run(["flock", "-n", "lockf", "-c", "echo WRONG: not held"])
    print("closed here, held by a child: exit", r.returncode, r.stdout.strip())
    holder.communicate(b"go\n")
    r = run(["flock", "-n", "lockf", "-c", "echo free"])
    print("after the child: exit", r.returncode, r.stdout.strip())

    # Each lock type held by a process that is then killed: the lock goes
    # with it, and until then another process is refused.
    for kind, take in (("flock", "import fcntl; fcntl.flock(f, fcntl.LOCK_EX)"),
                       ("record", "import fcntl; fcntl.lockf(f, fcntl.LOCK_EX)"),
                       ("OFD", "import fcntl, struct; fcntl.fcntl(f, 37, "
                               "struct.pack('hhqqi4x', fcntl.F_WRLCK, 0, 0, 0, 0))")):
        child = subprocess.Popen(
            [sys.executable, "-c", "import sys; f = open('lockf', 'r+'); " + take +
             "; print('locked', flush=True); sys.stdin.read()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        print(kind, "held by another process:", child.stdout.readline().strip())
        probe = ("import fcntl, struct, sys; f = open('lockf', 'r+')\n"
                 "try:\n"
                 "    if sys.argv[1] == 'flock': fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
                 "    elif sys.argv[1] == 'record': fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
                 "    else: fcntl.fcntl(f, 37, struct.pack('hhqqi4x', fcntl.F_WRLCK, 0, 0, 0, 0))\n"
                 "    print('granted')\n"
                 "except OSError as e:\n"
                 "    print('refused', e.errno)\n")
        print(" ", "a try meanwhile:", run([sys.executable, "-c", probe, kind]).stdout.strip())
        child.kill()
        child.wait()
        print(" ", "a try once it was killed:", run([sys.executable, "-c", probe, kind]).stdout.strip())
    os.unlink("lockf")
    return 0


if __name__ == "__main__":
    sys.exit(main())
