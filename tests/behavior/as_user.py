#!/usr/bin/env python3
"""Real programs as a user other than root, on every kind of mount.

    as_user.py --defuse D --passthrough PT.so [--memfs MEMFS.so]
               [--examples DIR] [--nfs NFS.so]

Every other test runs as root, whom no permission check refuses, so a
check made wrongly for everyone else cannot show there (passthrough_ll
with default_permissions refused every user but root the listing of any
directory).  Here user 65534 runs WORK (cp -a, mv, rm -r, chmod, touch,
find, sed -i, sort -o, flock and lockf, a renamed temporary file, mmap,
sqlite3 in WAL mode, a FIFO, a Unix socket, cc and make, git init, commit,
clone and fsck, tar) in a directory of its own: natively, then under
`defuse run` (started by that user, as a user would; once by root, the
user's process an image of its own after setpriv) on kernel-backed
passthrough, emulated, emulated served by the pager, memfs, and libfuse's
passthrough_ll (with and without default_permissions) and passthrough_fh
(with it); with --nfs, under tests/nfs/server.sh, on the NFS module too,
in a directory of the export the user owns.  Each must print what the
native run printed (memfs and NFS, whose test export is on tmpfs, against
a native run on /dev/shm).

Needs root (to become the other user), setpriv, cc, make, git and python3;
skipped, saying why, otherwise.  Exit status: 0 passed, 1 failed, 77
skipped.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'common'))
import difftest  # noqa: E402

SKIP = 77
USER = 65534

WORK = r'''
set -u
cd "$1" || exit 9
umask 022
mkdir w && cd w || exit 9
mkdir -p a/b/c && echo one > a/f && echo two > a/b/g && ln -s f a/lnk && ln a/f a/hard
cp -a a a2 && ls -lan a2 | awk '{print $1, $2, $3, $9}' | sort
mv a2 a3 && rm -r a3 && echo removed
chmod 600 a/f && ls -l a/f | cut -c1-10
touch -d '2001-02-03 04:05:06' a/b/g && stat -c '%y %s' a/b/g
find a | sort
sed -i 's/two/three/' a/b/g && cat a/b/g
printf 'c\nb\na\n' > s && sort -o s s && tr '\n' ' ' < s && echo
python3 - <<'PY'
import fcntl, mmap, os, socket, sqlite3, tempfile
fd = os.open('lockf', os.O_CREAT | os.O_RDWR, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
print('locks taken')
with tempfile.NamedTemporaryFile(dir='.', delete=False) as t:
    t.write(b'x' * 100000)
os.rename(t.name, 'big')
print(os.stat('big').st_size)
with open('big', 'r+b') as f:
    m = mmap.mmap(f.fileno(), 0)
    m[0:5] = b'hello'
    m.flush()
    m.close()
print(open('big', 'rb').read(6))
c = sqlite3.connect('w.db')
c.execute('pragma journal_mode=wal')
c.execute('create table t(a)')
c.executemany('insert into t values (?)', [(i,) for i in range(100)])
c.commit()
print(c.execute('select sum(a) from t').fetchone(), c.execute('pragma integrity_check').fetchone())
os.mkfifo('fifo')
print(oct(os.stat('fifo').st_mode))
s = socket.socket(socket.AF_UNIX)
s.bind('sock')
s.listen()
k = socket.socket(socket.AF_UNIX)
k.connect('sock')
a, _ = s.accept()
k.send(b'ping')
print(a.recv(4))
PY
mkdir proj && printf '#include <stdio.h>\nint main(void){puts("built");return 0;}\n' > proj/m.c
printf 'all: m\nm: m.c\n\tcc -o m m.c\n' > proj/Makefile
make -s -C proj && proj/m
git init -q repo && echo x > repo/x && git -C repo add x &&
  git -C repo -c user.email=u@h -c user.name=u commit -qm m && git clone -q repo clone &&
  cat clone/x && git -C clone fsck 2>&1 | grep -c error
tar cf t.tar proj && mkdir back && tar xf t.tar -C back && diff -r proj back/proj && echo tar
ls -ln | awk '{print $1, $3, $9}'
'''


def run(argv, **kw):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=600, **kw)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--defuse', required=True)
    ap.add_argument('--passthrough', required=True)
    ap.add_argument('--memfs')
    ap.add_argument('--examples')
    ap.add_argument('--nfs')
    a = ap.parse_args()
    defuse = os.path.abspath(a.defuse)
    if os.geteuid() != 0:
        print('SKIP: becoming another user needs root')
        return SKIP
    for tool in ('setpriv', 'cc', 'make', 'git', 'python3', 'sh'):
        if not shutil.which(tool):
            print('SKIP: %s is not installed' % tool)
            return SKIP
    as_user = ['setpriv', '--reuid=%d' % USER, '--regid=%d' % USER, '--clear-groups',
               'env', 'HOME=/nonexistent', 'PATH=/usr/bin:/bin']
    # the user must reach DEFUSE and the modules (a build under /root
    # cannot be run by anyone else)
    lib = os.path.join(os.path.dirname(defuse), 'libdefuse.so')
    for need in [defuse, lib, a.passthrough] + [m for m in (a.memfs, a.nfs) if m]:
        if run(as_user + ['test', '-r', os.path.abspath(need)]).returncode != 0:
            print('SKIP: user %d cannot read %s' % (USER, need))
            return SKIP
    # DEFUSE's shared stand-ins and lock carriers (FUSE's, NFS's) go with
    # the scratch tree
    tmp = tempfile.mkdtemp(prefix='defuse-as-user-')
    shm = tempfile.mkdtemp(prefix='defuse-as-user-', dir='/dev/shm')
    segment = 'as-user-%d' % os.getpid()
    failures = []
    try:
        for d in (tmp, shm):
            os.chmod(d, 0o755)
        shared = os.path.join(tmp, 'shared')
        os.mkdir(shared)
        os.chmod(shared, 0o1777)
        env = dict(os.environ, DEFUSE_SPECIAL_DIR=shared, DEFUSE_FUSE_LOCKDIR=shared)
        env.pop('LD_LIBRARY_PATH', None)

        def fresh(base, name):
            d = os.path.join(base, name)
            os.mkdir(d, 0o755)
            os.chown(d, USER, USER)
            return d

        want = {}
        for base in (tmp, shm):
            r = run(as_user + ['sh', '-c', WORK, 'sh', fresh(base, 'native')], env=env)
            want[base] = r.stdout
        pt = os.path.abspath(a.passthrough)
        systems = [('kernel-backed', pt + ':%s', tmp),
                   ('emulated', pt + ':emulated=%s', tmp),
                   ('pager', pt + ':emulated-nomap=%s', tmp)]
        if a.memfs:
            systems.append(('memfs', '%s:%s' % (os.path.abspath(a.memfs), segment), shm))
        if a.nfs:
            url, export = os.environ.get('DEFUSE_NFS_URL'), os.environ.get('DEFUSE_NFS_DIR')
            if not url or not export:
                print('SKIP: --nfs runs under tests/nfs/server.sh (no DEFUSE_NFS_URL)')
                return SKIP
            fresh(export, 'as-user')
            systems.append(('nfs', '%s:%s/as-user,lockdir=%s/nfs-locks' %
                            (os.path.abspath(a.nfs), url, shared), shm))
        ex = a.examples and os.path.abspath(a.examples)
        if ex and os.path.exists(os.path.join(ex, 'passthrough_ll.so')):
            ll = 'fuse:%s/passthrough_ll.so:-o source=%%s' % ex
            fh = 'fuse:%s/passthrough_fh.so:-o modules=subdir -o subdir=%%s' % ex
            dp = ' -o default_permissions'
            systems += [('passthrough_ll', ll, tmp),
                        ('passthrough_ll default_permissions', ll + dp, tmp),
                        ('passthrough_ll default_permissions (root starts)', ll + dp, tmp),
                        ('passthrough_fh default_permissions', fh + dp, tmp)]
        else:
            print('skip the FUSE examples: no --examples')
        for i, (name, spec, base) in enumerate(systems):
            src = fresh(tmp, 'src%d' % i)
            mnt = fresh(tmp, 'mnt%d' % i)
            if '%s' in spec:
                spec = spec % src
            # the user starts DEFUSE itself, as a user would (a memfs
            # segment is its maker's alone, mode 0600: docs/memfs.md); one
            # system again started by root, the user's process an image of
            # its own after setpriv's exec
            if name.endswith('(root starts)'):
                argv = [defuse, 'run', '-m', '%s=%s' % (mnt, spec), '--'] + as_user
            else:
                argv = as_user + [defuse, 'run', '-m', '%s=%s' % (mnt, spec), '--']
            r = run(argv + ['sh', '-c', WORK, 'sh', mnt], env=env)
            if r.returncode == 0 and r.stdout == want[base]:
                print('ok   %s: as natively' % name)
                continue
            failures.append(name)
            print('FAIL %s (status %d):' % (name, r.returncode))
            print(difftest.side_by_side(want[base], r.stdout))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(shm, ignore_errors=True)
        difftest.drop_memfs(segment)
    print('%d failed%s' % (len(failures), (': ' + ', '.join(failures)) if failures else ''))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
