#!/usr/bin/env python3
"""A process under `defuse run` (the in-process fast path) and a process
outside it work on the same files through the same mount point, which is
also a `defuse mount` of the same backing directory, at the same time, and
see each other's changes in both directions.

    coherence.py DEFUSE FSAGENT [MOUNT OPTION...]

Both processes are fsagent, driven step by step over pipes.  The one under
`defuse run` must really take the fast path (statfs in the mount shows the
backing file system, not FUSE) and the other really go through FUSE.
"""
import os
import subprocess
import sys

import fuselib


class Agent:
    def __init__(self, name, cmd, cwd):
        self.name = name
        self.p = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, bufsize=1)

    def send(self, line):
        self.p.stdin.write(line + '\n')
        self.p.stdin.flush()

    def recv(self):
        ans = self.p.stdout.readline()
        if not ans:
            raise AssertionError('%s: agent ended' % self.name)
        return ans.rstrip('\n')

    def do(self, line):
        self.send(line)
        return self.recv()

    def close(self):
        if self.p.poll() is None:
            self.p.stdin.close()
            self.p.wait()


failures = []


def expect(agent, line, want):
    got = agent.do(line)
    ok = got == want
    print('%-4s %-6s %-32s -> %s%s' % ('ok' if ok else 'FAIL', agent.name, line, got,
                                        '' if ok else '   (want %s)' % want))
    if not ok:
        failures.append('%s: %s' % (agent.name, line))


def one_direction(x, y, tag):
    """x changes, y observes; y holds the file open across x's rewrite."""
    f, g, d = 'f-' + tag, 'g-' + tag, 'd-' + tag
    expect(x, 'write %s one' % f, 'ok')
    expect(y, 'cat %s' % f, 'ok one')
    expect(y, 'hold %s' % f, 'ok')
    expect(y, 'pread-held', 'ok one')
    expect(x, 'write %s twotwo' % f, 'ok')
    expect(y, 'pread-held', 'ok twotwo')
    expect(x, 'append %s +more' % f, 'ok')
    expect(y, 'pread-held', 'ok twotwo+more')
    expect(y, 'stat %s' % f, 'ok size=%d' % len('twotwo+more'))
    expect(x, 'rename %s %s' % (f, g), 'ok')
    expect(y, 'stat %s' % f, 'err ENOENT')
    expect(y, 'cat %s' % g, 'ok twotwo+more')
    expect(y, 'pread-held', 'ok twotwo+more')
    expect(x, 'mkdir %s' % d, 'ok')
    expect(y, 'ls .', 'ok %s %s' % (d, g) if d < g else 'ok %s %s' % (g, d))
    expect(x, 'unlink %s' % g, 'ok')
    expect(y, 'stat %s' % g, 'err ENOENT')
    expect(y, 'cat %s' % g, 'err ENOENT')
    expect(y, 'ls .', 'ok %s' % d)
    expect(y, 'release-held', 'ok')
    # y created this name: x removes it, y sees it gone
    expect(y, 'write %s back' % g, 'ok')
    expect(x, 'cat %s' % g, 'ok back')
    expect(x, 'unlink %s' % g, 'ok')
    expect(y, 'stat %s' % g, 'err ENOENT')
    expect(y, 'unlink %s' % g, 'err ENOENT')
    expect(x, 'ls .', 'ok %s' % d)
    os.rmdir(os.path.join(BACK, d))


def concurrent_appends(a, b, n):
    """Both append n lines to one file at the same time, each through its own
    O_APPEND descriptor: no line may be lost or torn."""
    a.send('appendn log %d fast' % n)
    b.send('appendn log %d fuse' % n)
    ra, rb = a.recv(), b.recv()
    lines = open(os.path.join(BACK, 'log')).read().splitlines()
    want = {('fast', i) for i in range(n)} | {('fuse', i) for i in range(n)}
    got = set()
    for l in lines:
        t, _, i = l.partition(' ')
        got.add((t, int(i) if i.isdigit() else -1))
    ok = ra == 'ok' and rb == 'ok' and len(lines) == 2 * n and got == want
    print('%-4s both   appendn log %d (concurrently)   -> %s, %s, %d lines' %
          ('ok' if ok else 'FAIL', n, ra, rb, len(lines)))
    if not ok:
        failures.append('concurrent appends')
    for who in (a, b):
        expect(who, 'stat log', 'ok size=%d' % os.path.getsize(os.path.join(BACK, 'log')))
    expect(a, 'unlink log', 'ok')
    expect(b, 'stat log', 'err ENOENT')


BACK = None


def main():
    global BACK
    defuse, agent = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    opts = sys.argv[3:]
    fuselib.require_fuse()
    with fuselib.Scratch(defuse) as s:
        mnt, BACK = s.mkdir('mnt'), s.mkdir('back')
        s.mount(mnt, 'passthrough:' + BACK, *opts)
        fast = Agent('fast', [defuse, 'run', '-m', '%s=passthrough:%s' % (mnt, BACK),
                              '--', agent], mnt)
        fuse = Agent('fuse', [agent], mnt)
        try:
            kinds = (fast.do('fstype .'), fuse.do('fstype .'))
            print('fstype: fast %s, fuse %s' % kinds)
            if kinds[0] == 'ok %x' % fuselib.FUSE_MAGIC:
                failures.append('the defuse run process did not take the fast path')
            if kinds[1] != 'ok %x' % fuselib.FUSE_MAGIC:
                failures.append('the plain process is not on the FUSE mount')
            if not failures:
                one_direction(fast, fuse, 'a')
                one_direction(fuse, fast, 'b')
                concurrent_appends(fast, fuse, 2000)
        finally:
            fast.close()
            fuse.close()
    print('coherence%s: %s' % (' (-o %s)' % ','.join(opts) if opts else '',
                               'FAILED: ' + '; '.join(failures) if failures else 'ok'))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
