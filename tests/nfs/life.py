#!/usr/bin/env python3
"""The process-lifecycle cases (tests/lifecycle/life.c) on the NFS module.

    life.py DEFUSE NFS.so LIFE CASE...        (under tests/nfs/server.sh run)

Each CASE runs natively in a tmpfs directory and under `defuse run` on the
NFS mount of a fresh directory of the export; the output, the exit status
and the trees (the native directory against the export directory as the
server has it) must be the same, and the mount point must stay empty: fork,
exec, vfork, threads, descriptors passed over sockets and locks, with the
module's per-process connection (a forked child connects anew).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nfstest  # noqa: E402
from nfstest import run, tree, diff  # noqa: E402

# (case) -> why it differs on NFS; such a case must still differ.
KNOWN = {
    'lock-reopen':
        "opening a file again drops the process's record locks on it: the new "
        "lock file descriptor (modules/nfs/locks.c) moves to DEFUSE's band by dup "
        "and close (defuse_keep_fd), and closing any descriptor of a file drops "
        "them; as passthrough's emulated mode (tests/lifecycle/run.py)",
}


def main():
    env = nfstest.Env(sys.argv[1], sys.argv[2])
    life = os.path.abspath(sys.argv[3])
    why = env.ready()
    if why:
        print('SKIP: ' + why)
        return nfstest.SKIP
    try:
        for case in sys.argv[4:]:
            native = env.dir('n-' + case)
            point = env.dir('m-' + case)
            sub, export = env.fresh(case)
            want = run([life, case, native])
            if want[0] != 0 or 'FAIL' in want[1]:
                env.check('%s: native run' % case, False, want[1] + want[2])
                continue
            got = run(env.cmd(point, sub, [life, case, point]))
            bad = []
            if got[0] != want[0]:
                bad.append('exit %s, native %s' % (got[0], want[0]))
            if got[1] != want[1]:
                bad.append('output:\n' + diff(want[1], got[1]))
            if tree(native) != tree(export):
                bad.append('tree:\n' + diff(tree(native), tree(export)))
            if os.listdir(point):
                bad.append('mount point not empty: %s' % os.listdir(point))
            if case in KNOWN:
                env.check('%s: differs as known (%s)' % (case, KNOWN[case]), bool(bad))
            else:
                env.check(case, not bad, '\n'.join(bad) + '\n' + got[2])
    finally:
        env.cleanup()
    return env.finish()


if __name__ == '__main__':
    sys.exit(main())
