#!/usr/bin/env python3
"""Threads of one process on the NFS module, and descriptors an exec hands
down (reopened by the server's file handle).

    threads.py DEFUSE NFS.so NFSLOAD          (under tests/nfs/server.sh run)

- `nfsload threads`: 4 and then 8 threads (more than a mount's connections,
  modules/nfs/nfs.h NFS_CONNS) create, write, stat, read back, rename,
  list, chmod, mkdir/rmdir and unlink at once, each in a directory of its
  own and all reading a shared one; every answer is checked against what
  was written, natively first and then on the mount, while the main thread
  forks children that write, read back and remove files of their own (a
  child connects anew); afterwards the export holds nothing (the server's
  side).
- descriptors inherited through exec are the very files they were: one
  renamed and one removed by the process holding them before `cat` reads
  them through its stdin (a reopen by path gave EBADF for both), as
  natively; no hidden .nfs name is left once that process exits.
- `nfsload execfds`: 40 files and 40 descriptors of one file, each read by
  the exec'd image through every descriptor.
- `nfsload bench`: open + fstat + read + close of small files by 1, 2 and 4
  threads, printed (a measurement, not a check: the machine is shared).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nfstest  # noqa: E402
from nfstest import run, diff  # noqa: E402

# One process opens two files, renames one and removes the other (its own
# silly rename keeps that one on the server, as the kernel client's), and
# its children read both through the descriptors they inherit.
# One process opens two files, renames one and removes the other (its own
# silly rename keeps that one on the server, as the kernel client's), and
# its children (fork, exec) read both through the descriptors they inherit.
# (Python's subprocess is not used: its vfork child hands descriptors down
# without their handles, and they are reopened by path: noticed, the
# host's.)
SCRIPT = r'''
import os, sys
for name, text in (('a', 'first\n'), ('c', 'second\n')):
    with open(name, 'w') as f:
        f.write(text)
fa, fc = os.open('a', os.O_RDONLY), os.open('c', os.O_RDONLY)
os.rename('a', 'b')
os.unlink('c')
sys.stdout.flush()
for fd in (fa, fc):
    pid = os.fork()
    if pid == 0:
        os.dup2(fd, 0)
        os.execvp('cat', ['cat'])
    os.waitpid(pid, 0)
print(os.path.exists('a'), os.path.exists('b'), os.path.exists('c'))
'''


def main():
    env = nfstest.Env(sys.argv[1], sys.argv[2])
    load = os.path.abspath(sys.argv[3])
    why = env.ready()
    if why:
        print('SKIP: ' + why)
        return nfstest.SKIP
    try:
        for n, rounds in ((4, 25), (8, 10)):
            native = env.dir('n-threads%d' % n)
            want = run([load, 'threads', native, str(n), str(rounds)])
            if not env.check('threads %d: native run' % n, want[0] == 0, want[1] + want[2]):
                continue
            point = env.dir('m-threads%d' % n)
            sub, export = env.fresh('threads%d' % n)
            got = run(env.cmd(point, sub, [load, 'threads', point, str(n), str(rounds)]))
            env.check('threads %d x %d rounds: every answer checked' % (n, rounds),
                      got[0] == 0, got[1] + got[2])
            env.check('threads %d: nothing left on the server' % n, os.listdir(export) == [],
                      str(os.listdir(export)))

        native = env.dir('n-exec')
        want = run([sys.executable, '-c', SCRIPT], cwd=native)
        point = env.dir('m-exec')
        sub, export = env.fresh('exec')
        got = run(env.cmd(point, sub, [sys.executable, '-c', SCRIPT]), cwd=point)
        env.check('inherited descriptors of a renamed and a removed file read as natively',
                  got[:2] == want[:2], 'native %r\nnfs    %r\n%s' % (want[:2], got[:2], got[2]))
        env.check('no hidden name left after the process', sorted(os.listdir(export)) == ['b'],
                  str(os.listdir(export)))

        for same in (0, 1):
            point = env.dir('m-execfds%d' % same)
            sub, export = env.fresh('execfds%d' % same)
            got = run(env.cmd(point, sub, [load, 'execfds', point, '40', str(same), '3']))
            env.check('execfds 40 %s: every descriptor read in the new image' %
                      ('of one file' if same else 'files'), got[0] == 0, got[1] + got[2])
            print('    ' + got[1].strip())

        point = env.dir('m-bench')
        sub, export = env.fresh('bench')
        got = run(env.cmd(point, sub, [load, 'bench', point, '64', '2000', '1', '2', '4']))
        env.check('bench runs', got[0] == 0, got[1] + got[2])
        print('    ' + got[1].strip().replace('\n', '\n    '))
    finally:
        env.cleanup()
    return env.finish()


if __name__ == '__main__':
    sys.exit(main())
