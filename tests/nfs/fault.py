#!/usr/bin/env python3
"""The server goes away in the middle of a workload, and comes back.

    fault.py DEFUSE NFS.so        (under tests/nfs/server.sh run)

A program under `defuse run` writes files one after another (each written
whole and closed, its content known); meanwhile ganesha is stopped, left
down a few seconds, and started again (DEFUSE_NFS_SERVER).  What docs/nfs.md
promises:

  hard (the default)  every operation waits for the server and completes:
                      the program ends well, every file is whole;
  soft                an operation fails with EIO after (1 + retrans) tries
                      of timeo each (softerr: ETIMEDOUT), never later (no
                      hang); the program goes on once the server is back;
                      every file it was told was written is whole.

Then: a large file written across a restart is whole (writes kept until
COMMIT, sent again if the server's verifier changed); a directory replaced
on the server's side gives ESTALE through an old descriptor and is found
again once cached attributes expire (actimeo=);
and with the server stopped for good, `defuse run` refuses to start at
once (status 127, one line).
"""
import hashlib
import os
import shutil
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nfstest  # noqa: E402
from nfstest import run  # noqa: E402

WORKLOAD = r'''
import errno, hashlib, os, sys, time
p, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    data = hashlib.sha256(b'%d' % i).digest() * 2048
    t = time.monotonic()
    try:
        with open('%s/f%03d' % (p, i), 'wb') as f:
            f.write(data)
        r = 'ok'
    except OSError as e:
        r = errno.errorcode[e.errno]
    print(i, r, '%.2f' % (time.monotonic() - t), flush=True)
    time.sleep(0.05)
'''


def content(i):
    return hashlib.sha256(b'%d' % i).digest() * 2048


def workload(env, tag, opts, n=80, down=3.0):
    """Runs the workload with the server stopped after a few files, for
    down seconds.  Returns (exit code, [(i, result, seconds)], export dir)."""
    point = env.dir('p-' + tag)
    sub, export = env.fresh(tag)
    p = subprocess.Popen(env.cmd(point, sub, [sys.executable, '-c', WORKLOAD, point, str(n)],
                                 opts), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, start_new_session=True)
    # Every line through one reader: lines the program wrote ahead while
    # this test was slow sit in the reader's buffer, where a later
    # communicate() (which reads the pipe itself) would not see them.
    err = []
    drain = threading.Thread(target=lambda: err.append(p.stderr.read()), daemon=True)
    drain.start()
    hung = []

    def kill():
        hung.append(1)
        os.killpg(p.pid, 9)
    guard = threading.Timer(nfstest.GUARD, kill)
    guard.start()
    lines = []
    try:
        for line in p.stdout:
            lines.append(line)
            if len(lines) == 10:
                nfstest.server(env, 'stop')
                time.sleep(down)
                nfstest.server(env, 'start')
        rc = p.wait()
        if hung:
            rc = None
            err.append('hung: killed after %d s' % nfstest.GUARD)
    finally:
        guard.cancel()
        try:
            os.killpg(p.pid, 9)
        except ProcessLookupError:
            pass
        p.wait()
        drain.join(10)
    err = ''.join(err)
    res = []
    for line in lines:
        i, r, t = line.split()
        res.append((int(i), r, float(t)))
    if err.strip():
        print('    stderr: ' + err.strip()[-2000:])
    return rc, res, export


def whole(export, res):
    """Files the program was told were written, that are not whole."""
    bad = []
    for i, r, _ in res:
        if r == 'ok':
            try:
                data = open('%s/f%03d' % (export, i), 'rb').read()
            except OSError:
                data = None
            if data != content(i):
                bad.append(i)
    return bad


def hard(env):
    rc, res, export = workload(env, 'hard', 'timeo=10')
    env.check('hard: the program ends well', rc == 0 and len(res) == 80, 'rc %s, %d lines' %
              (rc, len(res)))
    env.check('hard: every operation completed', all(r == 'ok' for _, r, _ in res),
              str([x for x in res if x[1] != 'ok']))
    env.check('hard: one waited for the server', any(t >= 1.0 for _, _, t in res),
              str(max((t for _, _, t in res), default=0)))
    env.check('hard: every file is whole', not whole(export, res), str(whole(export, res)))


def soft(env, err, opts):
    rc, res, export = workload(env, err, opts)
    errors = [x for x in res if x[1] != 'ok']
    env.check('%s: the program ends well' % opts, rc == 0 and len(res) == 80,
              'rc %s, %d lines' % (rc, len(res)))
    env.check('%s: operations failed while the server was down, with %s only' % (opts, err),
              errors and all(r == err for _, r, _ in errors), str(errors))
    # timeo=5 (0.5 s), retrans=1: 1 s; far above it would be a hang
    env.check('%s: a failing operation returned within its timeout' % opts,
              all(t < 20 for _, _, t in res), str(max(t for _, _, t in res)))
    env.check('%s: operations succeed again once the server is back' % opts,
              res and res[-1][1] == 'ok', str(res[-3:]))
    env.check('%s: every file the program was told was written is whole' % opts,
              not whole(export, res), str(whole(export, res)))


BIG = r'''
import hashlib, os, sys
p = sys.argv[1]
block = bytes(range(256)) * 4096
with open(p + '/big', 'wb') as f:
    for i in range(48):
        f.write(hashlib.sha256(b'%d' % i).digest() + block[32:])
        if i == 8:
            print('started', flush=True)
            sys.stdin.readline()
print('done', flush=True)
'''


def big(env):
    point = env.dir('big')
    sub, export = env.fresh('big')
    p = subprocess.Popen(env.cmd(point, sub, [sys.executable, '-c', BIG, point], 'timeo=10'),
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, start_new_session=True)
    try:
        started = p.stdout.readline()
        nfstest.server(env, 'stop')
        time.sleep(1)
        nfstest.server(env, 'start')
        out, err = p.communicate('\n', timeout=nfstest.GUARD)
    finally:
        try:
            os.killpg(p.pid, 9)
        except ProcessLookupError:
            pass
    block = bytes(range(256)) * 4096
    want = b''.join(hashlib.sha256(b'%d' % i).digest() + block[32:] for i in range(48))
    got = open(export + '/big', 'rb').read()
    env.check('a large file written across a restart is whole',
              started == 'started\n' and out == 'done\n' and p.returncode == 0 and got == want,
              'rc %s, %r %r, %d of %d bytes, %s' % (p.returncode, started, out, len(got),
                                                    len(want), err[-1000:]))


STALE = r'''
import errno, os, sys, time
p = sys.argv[1]
dfd = os.open(p + '/d', os.O_RDONLY | os.O_DIRECTORY)
fd = os.open(p + '/d/f', os.O_RDONLY)
print(os.read(fd, 100).decode().strip(), flush=True)
sys.stdin.readline()
try:
    print(os.listdir(dfd))
except OSError as e:
    print(errno.errorcode[e.errno])
time.sleep(1.5)
print(open(p + '/d/f').read().strip(), sorted(os.listdir(p + '/d')), flush=True)
'''


def stale(env):
    point = env.dir('stale')
    sub, export = env.fresh('stale')
    os.mkdir(export + '/d')
    open(export + '/d/f', 'w').write('old\n')
    p = subprocess.Popen(env.cmd(point, sub, [sys.executable, '-c', STALE, point], 'actimeo=1'),
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, start_new_session=True)
    try:
        first = p.stdout.readline()
        # the server's side replaces the directory: the old one's handle
        # goes stale
        os.rename(export + '/d', export + '/gone')
        os.mkdir(export + '/d')
        open(export + '/d/f', 'w').write('new\n')
        open(export + '/d/g', 'w').write('g\n')
        shutil.rmtree(export + '/gone')
        out, err = p.communicate('\n', timeout=nfstest.GUARD)
    finally:
        try:
            os.killpg(p.pid, 9)
        except ProcessLookupError:
            pass
    # the old directory through its descriptor: ESTALE, or (ganesha still
    # holding the removed directory) empty; never the new one's entries
    env.check('a stale handle: the old directory is gone (ESTALE or empty), the new one '
              'is found once the cached attributes expire',
              first == 'old\n' and out in ("ESTALE\nnew ['f', 'g']\n", "[]\nnew ['f', 'g']\n")
              and p.returncode == 0, repr((first, out, err[-1000:])))


def down_at_start(env):
    point = env.dir('down')
    nfstest.server(env, 'stop')
    try:
        t = time.time()
        r = run([env.defuse, 'run', '-m', env.spec(point, '', 'timeo=50'), '--', 'true'])
        took = time.time() - t
    finally:
        nfstest.server(env, 'start')
    lines = nfstest.own_lines(r[2])
    env.check('server down: defuse run refuses to start at once, with one line',
              r[0] == 127 and len(lines) == 1 and took < 30, '%s in %.1f s: %r' %
              (r[0], took, r[2]))


def main():
    env = nfstest.Env(sys.argv[1], sys.argv[2])
    why = env.ready()
    if not why and not env.server:
        why = 'DEFUSE_NFS_SERVER is not set (tests/nfs/server.sh sets it)'
    if why:
        print('SKIP: ' + why)
        return nfstest.SKIP
    try:
        hard(env)
        soft(env, 'EIO', 'soft,timeo=5,retrans=1')
        soft(env, 'ETIMEDOUT', 'softerr,timeo=5,retrans=1')
        big(env)
        stale(env)
        down_at_start(env)
    finally:
        env.cleanup()
    return env.finish()


if __name__ == '__main__':
    sys.exit(main())
