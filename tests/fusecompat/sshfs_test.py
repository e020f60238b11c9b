#!/usr/bin/env python3
"""sshfs in process: Debian's installed /usr/bin/sshfs (libfuse 3), loaded by
the fuse module, against a real OpenSSH server the test starts on loopback
(tests/common/sshd_server.py: its own keys, port and configuration).

    sshfs_test.py shared  --defuse D    shared:fuse:/usr/bin/sshfs:... (one instance)
    sshfs_test.py process --defuse D    fuse:/usr/bin/sshfs:... (one per process image
                                        and per forked child that uses the mount)
    sshfs_test.py errors  --defuse D    a server that refuses: one line, status 127

shared: one sshfs (one ssh connection) for the whole process tree, behind
the shared module's server.  One workload script runs natively in a
scratch directory and under `defuse run` in the same directory reached
through the mount (the server's directory is another scratch directory):
forks (shell children that use the mount before they exec, or never do:
redirections in subshells, descriptors the parent opened read and
appended to by a child, their offsets shared), tar (an archive of a tree
made by the test extracted, created again, listed and compared), git
(init, add, commit with fixed dates and identity: the same commit ID; log,
status, ls-files, a second commit after a change), make of a small C
project (build with -j2, run, nothing to do the second time, one object
rebuilt after a touch).  What the script prints must be the same, and the
tree it leaves must be the same, both as seen through the mount and in
the server's directory (names, types, modes, sizes, contents, link
targets).

process: each process image starts its own sshfs and its own ssh
connection, and so does each forked child that uses the mount, since
sshfs runs a thread (modules/fuse/restart.c); -o dir_cache=no: sshfs's
own cache would otherwise keep what another process changed since.  The
same workloads as shared (before the fix, the forks script hung at its
first subshell: the child's reply was read by its parent's thread); then
tar run as the program (one process) extracts, creates, lists and
compares as natively, each run a new sshfs that sees what the previous
one left; a shell's exec'd image sees what the shell wrote.

errors: sshfs that cannot log in (a key the server does not know) ends
the program before it runs, with sshfs's line and DEFUSE's, status 127,
and no ssh process is left.

After each run no process of the test is left: no shared server of its
mount point, no ssh client with its key (else the test kills them, by
pid, and fails).  Skipped, saying why, without root, sshd, sshfs, or the
tools.  Exit status: 0 passed, 1 failed, 77 skipped.
"""
import argparse
import hashlib
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'common'))
from sshd_server import SshdServer, why_not  # noqa: E402
from fusecompat_test import check, failures, run as fc_run  # noqa: E402
from shared_test import servers  # noqa: E402

SKIP = 77
SSHFS = '/usr/bin/sshfs'


SANITIZED = bool(os.environ.get('SSHFS_TEST_SANITIZED'))
SANITIZER_NOTES = ('False positive error reports may follow',
                   'For details see https://github.com/google/sanitizers/issues/189')


def own(err):
    """A stderr without what a sanitizer build's runtime adds of its own
    (its warnings about the fuse module's stack switches)."""
    return '\n'.join(x for x in err.splitlines()
                     if not x.startswith('==') and x not in SANITIZER_NOTES)


def run(argv, **kw):
    """fusecompat_test's run, with a guard far above a normal run (a few
    seconds): an ssh connection per image, a busy machine."""
    kw.setdefault('timeout', 600)
    return fc_run(argv, **kw)


def processes_with(marker):
    """Pids of processes whose command line holds marker (the path of the
    client key: the ssh clients sshfs started)."""
    found = []
    for pid in os.listdir('/proc'):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open('/proc/%s/cmdline' % pid, 'rb') as f:
                if marker.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


def nothing_left(point, marker, what):
    """No shared server of the mount point, no ssh client with the test's
    key, a little after the run; else say so and end them by pid."""
    deadline = time.time() + 15
    while (servers(point) or processes_with(marker)) and time.time() < deadline:
        time.sleep(0.1)
    left = servers(point) + processes_with(marker)
    check(not left, '%s: no server or ssh process left' % what, 'left: %s' % left)
    for _ in range(3):
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.2)
        left = servers(point) + processes_with(marker)


# Files whose bytes record more than the tree: compared by size.  The
# index of git caches each file's stat data (times, inode numbers, device),
# which differ between any two runs; the archive tar creates holds the
# symlink's time, which SFTP (version 3) cannot set: sshfs's utimens on a
# symlink sets its target's (through kernel FUSE too).
BY_SIZE = ('repo/.git/index', 're.tar')


def tree(root):
    """Every entry under root: path, type, mode, size, contents' hash or
    link target (no times, owners or inode numbers)."""
    out = []
    for d, dirs, files in os.walk(root):
        dirs.sort()
        for n in sorted(dirs + files):
            p = os.path.join(d, n)
            st = os.lstat(p)
            rel = os.path.relpath(p, root)
            if stat.S_ISLNK(st.st_mode):
                out.append('%s l %s' % (rel, os.readlink(p)))
            elif stat.S_ISDIR(st.st_mode):
                out.append('%s d %o' % (rel, stat.S_IMODE(st.st_mode)))
            else:
                h = '-'
                if rel not in BY_SIZE:
                    with open(p, 'rb') as f:
                        h = hashlib.sha256(f.read()).hexdigest()[:16]
                out.append('%s f %o %d %s' % (rel, stat.S_IMODE(st.st_mode), st.st_size, h))
    return '\n'.join(out)


def make_source(path):
    """The tree tar packs: a few directories, sizes from 0 to 1 MiB, an
    executable, a symlink, a name with a blank.  No hard link: SFTP (version
    3) has no link counts or inode numbers, so tar cannot tell one
    through sshfs, through kernel FUSE as in process (the workload makes
    one with ln and reads it)."""
    os.makedirs(os.path.join(path, 'a', 'b', 'c'))
    os.makedirs(os.path.join(path, 'empty'))
    files = {
        'top.txt': b'top\n',
        'zero': b'',
        'a/mid.bin': bytes(range(256)) * 1000,
        'a/b/big': hashlib.sha256(b'x').digest() * 32768,
        'a/b/c/deep file': b'deep\n' * 100,
        'run.sh': b'#!/bin/sh\necho ran\n',
    }
    for n, data in files.items():
        with open(os.path.join(path, n), 'wb') as f:
            f.write(data)
    os.chmod(os.path.join(path, 'run.sh'), 0o755)
    os.chmod(os.path.join(path, 'a', 'mid.bin'), 0o600)
    os.symlink('a/b/big', os.path.join(path, 'link'))


# The workload, run in W (natively, or the same directory through the mount),
# with the archive TARBALL made by the test; what it prints is compared.
TAR = r'''
set -e
cd "$W"
mkdir x x2
tar xf "$TARBALL" -C x
tar cf re.tar --sort=name -C x .
tar tvf re.tar | awk '{print $1, $3, $6, $7, $8}' | sort
tar xf re.tar -C x2
diff -r x x2 && echo trees-equal
x/run.sh
readlink x/link
stat -c '%s %a %F' x/top.txt x/link x/empty x/a/mid.bin
ln x/top.txt x/hard
cat x/hard
rm -r x2
'''

# Shell children that use the mount before they exec, or never exec: each
# starts sshfs again when it runs per process (restart.c), and opens the
# files it inherited again through its own (adopt.c).  The offsets of a
# description stay shared between parent and child.
FORKS = r'''
set -e
cd "$W"
for i in 1 2 3 4 5 6; do (echo "line $i" > "f$i"); read l < "f$i"; echo "$l"; done
printf 'a\nb\nc\n' > lines
exec 3< lines
read x <&3; echo "parent read $x"
( read y <&3; echo "child read $y" )
read z <&3; echo "parent read $z after the child"
exec 3<&-
exec 4>> log
echo one >&4
( echo two >&4; ( echo three >&4 ); echo four >&4 )
echo five >&4
exec 4>&-
cat log
cat f1 f2 | ( while read l; do echo "piped $l"; done )
echo "substituted $(cat f3)"
'''

GIT = r'''
set -e
cd "$W"
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.org GIT_COMMITTER_NAME=t
export GIT_COMMITTER_EMAIL=t@example.org GIT_AUTHOR_DATE='2020-01-01T00:00:00Z'
export GIT_COMMITTER_DATE='2020-01-01T00:00:00Z' GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
git init -q -b main repo
cd repo
printf 'one\n' > a.txt
mkdir -p sub
printf 'two\n' > sub/b.txt
git add .
git commit -q -m first
git rev-parse HEAD
git status --porcelain
printf 'three\n' >> a.txt
git status --porcelain
git diff --stat
git commit -q -am second
git log --format='%H %s'
git ls-files
git cat-file -p HEAD^{tree}
git fsck --no-progress 2>&1 && echo fsck-ok
'''

MAKE = r'''
set -e
cd "$W"
mkdir proj
cd proj
cat > util.h <<'E'
int twice(int);
E
cat > util.c <<'E'
#include "util.h"
int twice(int x) { return 2 * x; }
E
cat > main.c <<'E'
#include <stdio.h>
#include "util.h"
int main(void) { printf("%d\n", twice(21)); return 0; }
E
printf 'prog: main.o util.o\n\tcc -o prog main.o util.o\n%%.o: %%.c util.h\n\tcc -c -O0 $<\n' > Makefile
make -s -j2
./prog
make | sed 's/make\[[0-9]*\]/make/'
sleep 1.1
touch util.c
make | sort
./prog
'''


def workload(what):
    return {'forks': FORKS, 'tar': TAR, 'git': GIT, 'make': MAKE}[what]


def compare_run(a, s, spec_of, what, workloads, tmp, remote):
    """Runs the workloads natively in tmp/native and through the mount
    (whose server directory is remote); compares output and trees."""
    native = os.path.join(tmp, 'native')
    mnt = os.path.join(tmp, 'mnt')
    os.mkdir(native)
    os.mkdir(mnt)
    tarball = os.path.join(tmp, 'src.tar')
    script = 'set -e\n' + '\n'.join('( %s )' % workload(w) for w in workloads)
    env = dict(os.environ, TARBALL=tarball, LC_ALL='C')
    env.pop('MAKEFLAGS', None)
    env.pop('MFLAGS', None)
    r = run(['bash', '-c', script], env=dict(env, W=native), cwd=tmp)
    check(r.returncode == 0, '%s: the workload natively' % what, r.stdout + r.stderr)
    spec = '%s=%s' % (mnt, spec_of(remote))
    t0 = time.time()
    m = run([a.defuse, 'run', '-m', spec, '--', 'bash', '-c', script],
            env=dict(env, W=mnt), cwd=tmp)
    took = time.time() - t0
    check(m.returncode == 0 and m.stdout == r.stdout,
          '%s: %s through the mount as natively (%.1f s)' % (what, ', '.join(workloads), took),
          'status %d\n--- native\n%s--- mount\n%s--- stderr\n%s--- sshd\n%s' %
          (m.returncode, r.stdout, m.stdout, m.stderr, s.log()[-3000:]))
    check(own(m.stderr) == own(r.stderr), '%s: nothing more on standard error' % what,
          '--- native\n%s--- mount\n%s' % (r.stderr, m.stderr))
    want = tree(native)
    got = tree(remote)
    check(got == want, "%s: the server's directory holds the same tree" % what,
          '--- native\n%s\n--- server\n%s' % (want, got))
    # read back through a new mount (a new sshfs, a new connection)
    lst = run([a.defuse, 'run', '-m', spec, '--', sys.executable, '-c',
               'import sys; sys.path.insert(0, sys.argv[1]); import sshfs_test; '
               'print(sshfs_test.tree(sys.argv[2]))', HERE, mnt], cwd=tmp)
    check(lst.returncode == 0 and lst.stdout.rstrip('\n') == want,
          '%s: the same tree read back through the mount' % what,
          'status %d\n--- native\n%s\n--- mount\n%s%s\n--- sshd\n%s' %
          (lst.returncode, want, lst.stdout, lst.stderr, s.log()[-3000:]))
    nothing_left(mnt, s.key, what)
    left = os.listdir(mnt)
    check(not left, '%s: nothing written to the mount point\'s own directory' % what,
          ' '.join(sorted(left)))


def prepare(tmp):
    src = os.path.join(tmp, 'src')
    make_source(src)
    # sorted: the symlink after its target.  SFTP (version 3) sets times
    # and owners through symlinks, and tar's for a symlink whose target is
    # not there yet fail (ENOENT): sshfs's own, through kernel FUSE too.
    r = run(['tar', 'cf', os.path.join(tmp, 'src.tar'), '--sort=name', '-C', src, '.'])
    check(r.returncode == 0, 'the archive to extract', r.stderr)
    remote = os.path.join(tmp, 'remote')
    os.mkdir(remote)
    return remote


def workloads_here():
    names = ['forks', 'tar', 'git', 'make']
    if SANITIZED:
        # docs/core.md: a sanitizer build of libdefuse.so cannot run cc1
        print('skip make: cc1 cannot run under a sanitizer build of libdefuse.so '
              '(docs/core.md)')
        names.remove('make')
    return names


def mode_shared(a, s, tmp):
    remote = prepare(tmp)
    compare_run(a, s, lambda d: 'shared:fuse:%s:%s' % (SSHFS, s.sshfs_args(d)),
                'shared', workloads_here(), tmp, remote)


def mode_process(a, s, tmp):
    """The workloads, with their forks; then one program per run: tar
    extracts, tar creates, tar lists, each a new sshfs."""
    programs = os.path.join(tmp, 'programs')
    os.mkdir(programs)
    compare_run(a, s, lambda d: 'fuse:%s:%s' % (SSHFS, s.sshfs_args(d, 'dir_cache=no')),
                'per process', workloads_here(), programs, prepare(programs))
    remote = prepare(tmp)
    tarball = os.path.join(tmp, 'src.tar')
    native = os.path.join(tmp, 'native')
    mnt = os.path.join(tmp, 'mnt')
    for d in (native, mnt, os.path.join(native, 'x'), os.path.join(remote, 'x')):
        os.mkdir(d)
    spec = '%s=fuse:%s:%s' % (mnt, SSHFS, s.sshfs_args(remote, 'dir_cache=no'))
    steps = [['tar', 'xf', tarball, '-C', '{W}/x'],
             ['tar', 'cf', '{W}/re.tar', '--sort=name', '-C', '{W}/x', '.'],
             ['tar', 'tvf', '{W}/re.tar'],
             ['tar', 'df', '{W}/re.tar', '-C', '{W}/x']]
    for step in steps:
        want = run([w.replace('{W}', native) for w in step], cwd=tmp)
        got = run([a.defuse, 'run', '-m', spec, '--'] + [w.replace('{W}', mnt) for w in step],
                  cwd=tmp)
        check(want.returncode == 0 and got.returncode == want.returncode and
              got.stdout.replace(mnt, native) == want.stdout and
              own(got.stderr) == own(want.stderr),
              'per process: %s as natively' % ' '.join(step[:2]),
              'status %d %d\n--- native\n%s%s--- mount\n%s%s' %
              (want.returncode, got.returncode, want.stdout, want.stderr, got.stdout,
               got.stderr))
    want = tree(native)
    got = tree(remote)
    check(got == want, "per process: the server's directory holds the same tree",
          '--- native\n%s\n--- server\n%s' % (want, got))
    # one image writes, the next (exec'd: its own sshfs, its own connection)
    # reads; the shell forks no child that uses the mount
    r = run([a.defuse, 'run', '-m', spec, '--', 'sh', '-c',
             'echo written > "$1/w" && exec cat "$1/w"', 'sh', mnt])
    check(r.returncode == 0 and r.stdout == 'written\n' and own(r.stderr) == '',
          'per process: an exec\'d image sees what the previous one wrote',
          r.stdout + r.stderr)
    with open(os.path.join(remote, 'w')) as f:
        check(f.read() == 'written\n', "per process: the file is in the server's directory")
    nothing_left(mnt, s.key, 'per process')
    left = os.listdir(mnt)
    check(not left, "per process: nothing written to the mount point's own directory",
          ' '.join(sorted(left)))


def mode_errors(a, s, tmp):
    mnt = os.path.join(tmp, 'mnt')
    os.mkdir(mnt)
    # a key of its own, which the server does not know
    other = os.path.join(tmp, 'other_key')
    subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', other],
                   check=True, capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    args = s.sshfs_args(tmp).replace('IdentityFile=%s' % s.key, 'IdentityFile=%s' % other)
    for prefix in ('fuse:', 'shared:fuse:'):
        r = run([a.defuse, 'run', '-m', '%s=%s%s:%s' % (mnt, prefix, SSHFS, args), '--',
                 'echo', 'ran'])
        lines = r.stderr.splitlines()
        check(r.returncode == 127 and r.stdout == '' and
              any(l.startswith('defuse:') for l in lines) and
              any('read: Connection reset by peer' in l or 'remote host has disconnected' in l
                  for l in lines),
              '%s a refused login: sshfs\'s line and DEFUSE\'s, status 127' % prefix,
              'status %d\n%s%s' % (r.returncode, r.stdout, r.stderr))
        nothing_left(mnt, other, '%s a refused login' % prefix)
    os.rmdir(mnt)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('mode', choices=['shared', 'process', 'errors'])
    ap.add_argument('--defuse', required=True)
    a = ap.parse_args()
    a.defuse = os.path.abspath(a.defuse)  # the runs have a directory of their own
    reason = why_not()
    if not reason and not os.access(SSHFS, os.X_OK):
        reason = '%s is not installed (apt-get install sshfs)' % SSHFS
    for prog in ('tar', 'git', 'make', 'cc'):
        if not reason and not shutil.which(prog):
            reason = '%s is not installed' % prog
    if reason:
        print('SKIP: ' + reason)
        return SKIP
    tmp = tempfile.mkdtemp(prefix='defuse-sshfs-')
    # the fuse module's lock carriers and change counters: the run's own
    os.environ['DEFUSE_FUSE_LOCKDIR'] = os.path.join(tmp, 'locks')
    os.mkdir(os.environ['DEFUSE_FUSE_LOCKDIR'], 0o700)
    try:
        with SshdServer() as s:
            {'shared': mode_shared, 'process': mode_process, 'errors': mode_errors}[a.mode](
                a, s, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print('%d failed' % len(failures))
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
