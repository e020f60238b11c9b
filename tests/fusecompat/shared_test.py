#!/usr/bin/env python3
"""The shared module: one instance of a module for a whole process tree
(modules/shared, docs/fuse-compat.md "One shared instance").

    shared_test.py fuse2fs --defuse D          several processes write one fuse2fs image at once
    shared_test.py module  --defuse D          memfs and passthrough:emulated behind `shared`
    shared_test.py ids     --defuse D          a process that switches users, behind `shared`
    shared_test.py locks   --defuse D          a killed client's locks, the server's death, bad input
    shared_test.py bench   --defuse D [--tree DIR] [--reps N]
                                               untar: shared vs per-process vs native (prints)

fuse2fs: four shell writers (create, append, rename, remove) and a tar
extraction run at once in one tree on `shared:fuse:fuse2fs:IMG`, and again
on `fuse:fuse2fs:IMG` (a disk image: the fuse module asks for one instance
itself); then `e2fsck -fn IMG` passes, and the tree read back (by a second
run, which starts a new server) equals the same workload run on a native
directory.

ids: a root process that switches to user 65534 (and back, and to real
65534 with effective root) makes files and is checked on
`shared:passthrough:DIR` and `shared:passthrough:emulated=DIR` exactly as
natively: the server calls the module as the caller; a program it execs
as 65534 is served by the same server (it meets root's flock), as 65534.

module: a script of file operations (the fuse tests' FILE_SCRIPT kind,
with forks and pipes) prints and leaves what it does natively, on memfs and
on passthrough:emulated behind `shared`; a second `defuse run` with the
same mount spec sees the first's server (one instance).

locks: a process holding a record lock and a flock lock through the shared
server is killed with SIGKILL; another process then gets both locks.  The
server killed mid-run: calls fail with EIO, nothing hangs.  A module that
cannot start: one line, status 127, nothing left running.

After every run no server of the test's mount is left (else the test kills
it by pid and fails).  Exit status: 0 passed, 1 failed, 77 skipped.
"""
import argparse
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SKIP = 77
from fusecompat_test import check, failures, run as fc_run

PY = '/usr/bin/python3' if os.path.exists('/usr/bin/python3') else sys.executable


def run(argv, **kw):
    """fusecompat_test's run, with a longer guard: a shared server's
    workloads run longer than one process's."""
    kw.setdefault('timeout', 300)
    return fc_run(argv, **kw)


def servers(point):
    """Pids of shared servers serving mount point `point`."""
    found = []
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            with open('/proc/%s/cmdline' % pid, 'rb') as f:
                argv = f.read().split(b'\0')
        except OSError:
            continue
        if argv and argv[0].endswith(b'defuse-shared-server') and len(argv) > 4 and \
                argv[4] == point.encode():
            try:
                with open('/proc/%s/stat' % pid) as f:
                    if f.read().rsplit(')', 1)[1].split()[0] == 'Z':
                        continue
            except OSError:
                continue
            found.append(int(pid))
    return found


def no_server_left(point, what):
    """The server ends with its last client: wait a little, then say so (and
    kill what is left, by pid)."""
    deadline = time.time() + 10
    while servers(point) and time.time() < deadline:
        time.sleep(0.05)
    left = servers(point)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    check(not left, '%s: no server left running' % what, 'left: %s' % left)


def kill_servers(point):
    """Teardown after an error: no server of ours outlives the test."""
    for pid in servers(point):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def tree(root):
    """Names, kinds, sizes and contents below root (lost+found aside)."""
    out = []
    for d, dirs, files in os.walk(root):
        dirs.sort()
        rel = os.path.relpath(d, root)
        if rel.split(os.sep)[0] == 'lost+found':
            continue
        for n in sorted(files):
            if rel == '.' and n == 'log':
                continue  # the writers' order: compared sorted, below
            p = os.path.join(d, n)
            if os.path.islink(p):
                out.append('%s/%s -> %s' % (rel, n, os.readlink(p)))
            else:
                with open(p, 'rb') as f:
                    out.append('%s/%s %d %s' % (rel, n, os.path.getsize(p), hashlib.sha1(f.read()).hexdigest()))
        for n in dirs:
            if rel == '.' and n == 'lost+found':
                continue
            out.append('%s/%s/' % (rel, n))
    return '\n'.join(sorted(out))


TREE_PY = ('import sys\nsys.path.insert(0, sys.argv[1])\nimport shared_test\n'
           'print(shared_test.tree(sys.argv[2]))\n')

# Four writers and a tar extraction at once, each in its own process.
WORKLOAD = r'''
set -e
tarball="$1"
w() {
    mkdir -p w$1/sub
    i=0
    while [ $i -lt 40 ]; do
        echo "writer $1 file $i" > w$1/t$i
        head -c $((i * 997)) "$tarball" >> w$1/t$i
        mv w$1/t$i w$1/sub/f$i
        if [ $((i % 5)) -eq 0 ]; then rm w$1/sub/f$i; fi
        if [ $((i % 7)) -eq 0 ]; then ln -s f$i w$1/sub/l$i; fi
        i=$((i + 1))
    done
    echo "writer $1 done" >> log
}
for k in 1 2 3 4; do w $k & done
mkdir x && (cd x && tar xf "$tarball") &
wait
ls -d w1 w2 w3 w4 x >/dev/null
'''


def make_tarball(tmp, tree=None):
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..')
    tb = os.path.join(tmp, 'src.tar')
    if tree:
        tree = os.path.abspath(tree)
        r = run(['tar', 'cf', tb, '-C', os.path.dirname(tree), os.path.basename(tree)])
    else:
        r = run(['tar', 'cf', tb, '-C', os.path.normpath(src), 'src', 'docs'])
    if r.returncode != 0:
        raise SystemExit('tar cf: ' + r.stderr)
    return tb


def fuse2fs_path():
    for p in (shutil.which('fuse2fs'), '/usr/sbin/fuse2fs', '/usr/bin/fuse2fs'):
        if p and os.path.exists(p):
            return p
    return None


def mkimage(tmp, size_mb=128):
    img = os.path.join(tmp, 'ext4.img')
    if os.path.exists(img):
        os.unlink(img)
    with open(img, 'wb') as f:
        f.truncate(size_mb << 20)
    r = run(['mke2fs', '-q', '-t', 'ext4', '-F', img])
    check(r.returncode == 0, 'mke2fs -t ext4', r.stderr)
    return img


def need_fuse2fs():
    f2 = fuse2fs_path()
    if not f2:
        print('SKIP: fuse2fs is not installed (apt-get install fuse2fs)')
        return None
    if not shutil.which('mke2fs') or not shutil.which('e2fsck'):
        print('SKIP: mke2fs and e2fsck are needed (apt-get install e2fsprogs)')
        return None
    return f2


def fuse2fs(a):
    f2 = need_fuse2fs()
    if not f2:
        return SKIP
    mnt = tempfile.mkdtemp(prefix='defuse-sh-mnt-')
    tmp = tempfile.mkdtemp(prefix='defuse-sh-')
    try:
        tb = make_tarball(tmp)
        native = os.path.join(tmp, 'native')
        os.mkdir(native)
        r = run(['sh', '-c', WORKLOAD, 'sh', tb], cwd=native)
        check(r.returncode == 0, 'the workload natively', r.stdout + r.stderr)
        # Named shared:, and as a plain fuse: mount, which the fuse module
        # hands to one server itself (a disk image: DEFUSE_CAP_ONE_INSTANCE)
        for how in ('shared:fuse', 'fuse'):
            fuse2fs_workload(a, f2, tmp, mnt, tb, native, how)
    finally:
        kill_servers(mnt)
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(mnt, ignore_errors=True)
    return 1 if failures else 0


def fuse2fs_workload(a, f2, tmp, mnt, tb, native, how):
    img = mkimage(tmp)
    spec = '%s=%s:%s:%s' % (mnt, how, f2, img)
    t = time.time()
    r = run([a.defuse, 'run', '-m', spec, '--', 'sh', '-c',
             'cd "$1" && shift && sh -c "$@"', 'sh', mnt, WORKLOAD, 'sh', tb])
    took = time.time() - t
    check(r.returncode == 0, '%s: four writers and tar at once on one fuse2fs '
          '(%.2fs)' % (how, took), r.stdout + r.stderr)
    no_server_left(mnt, how + ' fuse2fs writers')
    r = run(['e2fsck', '-fn', img])
    check(r.returncode == 0, how + ': e2fsck -fn passes after the concurrent writes',
          r.stdout + r.stderr)
    # Read back through a new server (the first one has ended and
    # written everything back).
    here = os.path.dirname(os.path.abspath(__file__))
    r = run([a.defuse, 'run', '-m', spec, '--', PY, '-c', TREE_PY, here, mnt])
    want = tree(native)
    check(r.returncode == 0 and r.stdout.strip() == want.strip(),
          how + ': the image holds what the workload leaves natively',
          r.stderr + '\n' + diff(want, r.stdout))
    no_server_left(mnt, how + ' fuse2fs read back')
    # The log the four appended to: four lines, none lost
    r = run([a.defuse, 'run', '-m', spec, '--', 'sort', mnt + '/log'])
    check(r.stdout == ''.join('writer %d done\n' % k for k in range(1, 5)),
          how + ': appends of four processes to one file: none lost', r.stdout + r.stderr)
    no_server_left(mnt, how + ' fuse2fs log')
    # Nothing holds the command's output: it still returns only once
    # fuse2fs has written the image back (its last client waits).
    r = run([a.defuse, 'run', '-m', spec, '--', 'sh', '-c',
             'cp -r "$1/x" "$1/y" && rm -r "$1/w1"', 'sh', mnt],
            capture_output=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    e = run(['e2fsck', '-fn', img])
    check(r.returncode == 0 and e.returncode == 0,
          how + ': e2fsck -fn passes right after the command returns (output not held)',
          e.stdout + e.stderr)
    no_server_left(mnt, how + ' fuse2fs returns after destroy')


def diff(a, b):
    al, bl = a.strip().split('\n'), b.strip().split('\n')
    out = ['- ' + x for x in al if x not in set(bl)][:10]
    out += ['+ ' + x for x in bl if x not in set(al)][:10]
    return '\n'.join(out)


# File operations, with forks, pipes and exec in between.
MODULE_SCRIPT = r'''
set -e
echo one > a; cat a; echo two >> a; cat a
printf xyz > b; wc -c < b
mkdir d; mv b d/c; cat d/c; echo
ln -s a l; readlink l; cat l
ln a hard; stat -c '%h %s' a hard
chmod 600 a; stat -c %a a
truncate -s 2 a; cat a; echo
dd if=/dev/zero of=big bs=65536 count=20 2>/dev/null; wc -c < big
cp big big2; cmp big big2 && echo same
(echo from-child > child) & wait; cat child
seq 1 2000 > nums; sort -rn nums | head -c 30 | od -c | head -2 >/dev/null; tail -1 nums
mkdir -p e/f/g; touch e/f/g/h; find e | sort
for i in $(seq 1 300); do echo $i > "many$i"; done; ls | grep -c many; rm many*
python3 -c "
import os, fcntl
fd = os.open('a', os.O_RDWR); os.lseek(fd, 5, 0); os.write(fd, b'!')
print(os.fstat(fd).st_size)
fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB); print('locked')
os.unlink('hard'); os.close(fd)
"
rm l big2; rm -r d
ls -A | sort
stat -c '%n %F %a %h' * | sort
find . -type f -exec stat -c '%n %s' {} + | sort
'''


def module(a):
    mnt = tempfile.mkdtemp(prefix='defuse-sh-mnt-')
    tmp = tempfile.mkdtemp(prefix='defuse-sh-')
    memfs = 'shtest%d' % os.getpid()
    try:
        native = os.path.join(tmp, 'native')
        os.mkdir(native)
        want = run(['sh', '-c', MODULE_SCRIPT], cwd=native)
        check(want.returncode == 0, 'the script natively', want.stdout + want.stderr)
        back = os.path.join(tmp, 'back')
        for name, spec in (('passthrough:emulated', 'passthrough:emulated=' + back),
                           ('memfs', 'memfs:' + memfs)):
            os.makedirs(back, exist_ok=True)
            r = run([a.defuse, 'run', '-m', '%s=shared:%s' % (mnt, spec), '--', 'sh', '-c',
                     'cd "$1" && sh -c "$2"', 'sh', mnt, MODULE_SCRIPT])
            check(r.returncode == 0 and r.stdout == want.stdout,
                  'shared:%s: the script as natively' % name,
                  'native:\n%s\nshared:\n%s%s' % (want.stdout, r.stdout, r.stderr))
            no_server_left(mnt, 'shared:' + name)
        # A parent that ends right after fork: its child, which shares
        # its connection until it has its own, keeps its files.
        r = run([a.defuse, 'run', '-m', '%s=shared:passthrough:emulated=%s' % (mnt, back), '--',
                 'sh', '-c', 'cd "$1"; echo kept > k; exec 3< k; '
                 '(sleep 0.3; cat <&3; cat k; rm k) & exit 0', 'sh', mnt])
        check(r.stdout == 'kept\nkept\n', 'a child outlives its parent, which exits right '
              'after the fork', r.stdout + r.stderr)
        no_server_left(mnt, 'parent exits after fork')
        # An exec chain keeps its server: the image that exec'd comes
        # back within the server's grace, which does not end meanwhile.
        if shutil.which('pgrep'):
            find = 'pgrep -f "defuse-shared-serve[r] .* $1 "'
            r = run([a.defuse, 'run', '-m', '%s=shared:passthrough:emulated=%s' % (mnt, back),
                     '--', 'sh', '-c', 'echo x > "$1/ex"; %s > "$2/p1"; exec sh -c '
                     '\'cat "$1/ex"; exec sh -c "%s > \\"\\$2/p2\\"; cmp -s \\"\\$2/p1\\" '
                     '\\"\\$2/p2\\" && echo same-server" sh "$1" "$2"\' sh "$1" "$2"'
                     % (find, find.replace('"', '\\"').replace('$1', '\\$1')),
                     'sh', mnt, tmp])
            check(r.stdout == 'x\nsame-server\n', 'an exec chain keeps its server',
                  r.stdout + r.stderr)
            no_server_left(mnt, 'exec chain')
        # Two runs naming the same mount share one server: the second sees
        # the first's open file's data through the one instance.
        spec = '%s=shared:passthrough:emulated=%s' % (mnt, back)
        p = subprocess.Popen([a.defuse, 'run', '-m', spec, '--', 'sh', '-c',
                              'echo started > "$1/flag"; sleep 3', 'sh', mnt],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 30
        while not os.path.exists(os.path.join(back, 'flag')) and time.time() < deadline:
            time.sleep(0.05)
        first = servers(mnt)
        r = run([a.defuse, 'run', '-m', spec, '--', 'cat', mnt + '/flag'])
        second = servers(mnt)
        p.communicate(timeout=60)
        check(r.stdout == 'started\n' and len(first) == 1 and first == second,
              'two runs naming one mount share one server', '%s %s %s' % (first, second,
                                                                         r.stdout + r.stderr))
        no_server_left(mnt, 'two runs')
    finally:
        kill_servers(mnt)
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(mnt, ignore_errors=True)
        try:
            os.unlink('/dev/shm/defuse-memfs.' + memfs)
        except OSError:
            pass
    return 1 if failures else 0


HOLDER = r'''
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 0)
fd2 = os.open(sys.argv[1], os.O_RDONLY)
fcntl.flock(fd2, fcntl.LOCK_EX | fcntl.LOCK_NB)
open(sys.argv[2], 'w').write('held')
time.sleep(120)
'''

TRY = r'''
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
res = []
try:
    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 0); res.append('record:got')
except OSError:
    res.append('record:busy')
fd2 = os.open(sys.argv[1], os.O_RDONLY)
try:
    fcntl.flock(fd2, fcntl.LOCK_EX | fcntl.LOCK_NB); res.append('flock:got')
except OSError:
    res.append('flock:busy')
print(' '.join(res))
'''

KILL_SCRIPT = r'''
py="$1"; m="$2"; ready="$3"
"$py" -c "$HOLDER" "$m/locked" "$ready" &
holder=$!
i=0; while [ ! -s "$ready" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done
"$py" -c "$TRY" "$m/locked"
kill -9 $holder; wait $holder 2>/dev/null
"$py" -c "$TRY" "$m/locked"
'''

DIE_SCRIPT = r'''
m="$1"; ready="$2"; go="$3"
echo data > "$m/f"; cat "$m/f"
exec 3< "$m/f"
: > "$ready"
i=0; while [ ! -e "$go" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done
read line <&3 2>&1 || echo "read failed"
echo x 2>&1 > "$m/g" || echo "create failed"
[ -e "$m/f" ] || echo "stat failed"
cat "$m/f"
'''


# One process switching users, as programs run as root do (su, install,
# test suites): what it makes belongs to whom it is at the moment, and its
# access checks are by its real or effective IDs.  Then a program exec'd as
# user 65534 (as su and setpriv start one), while root holds a flock: it
# meets root's lock (one instance of the file system, whose locks are its
# own), makes its file as itself and is refused what 65534 is refused.
# argv[1]: the directory.  Both scripts begin with IDS_PRELUDE.
IDS_PRELUDE = r"""
import fcntl, os, subprocess, sys
os.chdir(sys.argv[1])
def attempt(what, f):
    try:
        r = f()
        print(what, 'ok' if r is None else r)
    except OSError as e:
        print(what, os.strerror(e.errno))
"""

IDS_CHILD = IDS_PRELUDE + r"""
print('child ids', os.getresuid(), os.getresgid(), os.getgroups())
attempt('child create open/child', lambda: os.close(os.open('open/child', os.O_CREAT | os.O_WRONLY, 0o644)))
fd = os.open('open/lockf', os.O_RDWR)
attempt('child flock open/lockf', lambda: fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB))
attempt('child listdir locked', lambda: os.listdir('locked'))
attempt('child chmod locked 777', lambda: os.chmod('locked', 0o777))
attempt('child chown open/child', lambda: os.chown('open/child', 0, 0))
st = os.lstat('open/child')
print('child open/child', oct(st.st_mode), st.st_uid, st.st_gid)
"""

IDS_SCRIPT = IDS_PRELUDE + r"""
os.mkdir('open', 0o777); os.chmod('open', 0o777)
os.mkdir('locked', 0o700)
open('locked/f', 'w').close()
os.setgroups([4242])
os.setresgid(65534, 65534, 0)
os.setresuid(65534, 65534, 0)
attempt('create open/mine', lambda: os.close(os.open('open/mine', os.O_CREAT | os.O_WRONLY, 0o640)))
attempt('mkdir open/mydir', lambda: os.mkdir('open/mydir', 0o750))
attempt('symlink open/myln', lambda: os.symlink('mine', 'open/myln'))
attempt('listdir locked', lambda: os.listdir('locked'))
attempt('create locked/x', lambda: os.close(os.open('locked/x', os.O_CREAT | os.O_WRONLY)))
attempt('chmod locked 777', lambda: os.chmod('locked', 0o777))
os.setresuid(65534, 0, 0)
attempt('access real locked/f', lambda: os.access('locked/f', os.F_OK))
attempt('access effective locked/f', lambda: os.access('locked/f', os.F_OK, effective_ids=True))
attempt('create as effective root open/rootf', lambda: os.close(os.open('open/rootf', os.O_CREAT | os.O_WRONLY, 0o600)))
os.setresuid(0, 0, 0)
os.setresgid(0, 0, 0)
os.setgroups([0])
attempt('listdir locked as root', lambda: os.listdir('locked'))
for n in ('open/mine', 'open/mydir', 'open/myln', 'open/rootf'):
    st = os.lstat(n)
    print(n, oct(st.st_mode), st.st_uid, st.st_gid)
lk = os.open('open/lockf', os.O_CREAT | os.O_RDWR, 0o666)
os.fchmod(lk, 0o666)
fcntl.flock(lk, fcntl.LOCK_EX)
sys.stdout.flush()
r = subprocess.run([sys.executable, '-c', sys.argv[2], sys.argv[1]], user=65534, group=65534,
                   extra_groups=[], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
print(r.stdout.decode(), 'child exit', r.returncode)
"""


def ids(a):
    """A root process that switches users, on passthrough (kernel-backed,
    then emulated) behind `shared`: the server (root) calls the module as
    the caller, so files are made as the caller and checks made by its IDs,
    as natively; a program exec'd as another user joins the same server."""
    if os.geteuid() != 0:
        print('SKIP: needs root (the calls of another user)')
        return SKIP
    mnt = tempfile.mkdtemp(prefix='defuse-sh-mnt-')
    tmp = tempfile.mkdtemp(prefix='defuse-sh-')
    try:
        os.chmod(tmp, 0o755)	# user 65534 reaches the trees under it
        native, back = os.path.join(tmp, 'native'), os.path.join(tmp, 'back')
        os.mkdir(native, 0o755)
        os.mkdir(back, 0o755)
        want = run([PY, '-c', IDS_SCRIPT, native, IDS_CHILD])
        check(want.returncode == 0 and 'child exit 0' in want.stdout, 'the script natively',
              want.stdout + want.stderr)
        for kind in ('', 'emulated='):
            shutil.rmtree(back)
            os.mkdir(back, 0o755)
            r = run([a.defuse, 'run', '-m', '%s=shared:passthrough:%s%s' % (mnt, kind, back),
                     '--', PY, '-c', IDS_SCRIPT, mnt, IDS_CHILD])
            check(r.returncode == 0 and r.stdout == want.stdout,
                  'shared:passthrough:%s: made as, and checked by, the caller\'s IDs as '
                  'natively, also in a program exec\'d as another user' % kind,
                  r.stderr + '\n' + diff(want.stdout, r.stdout))
            no_server_left(mnt, 'ids')
    finally:
        kill_servers(mnt)
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(mnt, ignore_errors=True)
    return 1 if failures else 0


def locks(a):
    mnt = tempfile.mkdtemp(prefix='defuse-sh-mnt-')
    tmp = tempfile.mkdtemp(prefix='defuse-sh-')
    try:
        back = os.path.join(tmp, 'back')
        os.mkdir(back)
        spec = '%s=shared:passthrough:emulated=%s' % (mnt, back)
        ready = os.path.join(tmp, 'ready')
        env = dict(os.environ, HOLDER=HOLDER, TRY=TRY)
        r = run([a.defuse, 'run', '-m', spec, '--', 'sh', '-c', KILL_SCRIPT, 'sh', PY, mnt,
                 ready], env=env)
        check(r.returncode == 0 and r.stdout == 'record:busy flock:busy\nrecord:got flock:got\n',
              'a killed client\'s record and flock locks are released; another process '
              'takes them', r.stdout + r.stderr)
        no_server_left(mnt, 'killed client')

        f2 = fuse2fs_path()
        if f2 and shutil.which('mke2fs'):
            img = mkimage(tmp, 32)
            spec = '%s=shared:fuse:%s:%s' % (mnt, f2, img)
            r = run([a.defuse, 'run', '-m', spec, '--', 'sh', '-c', KILL_SCRIPT, 'sh', PY, mnt,
                     ready + '2'], env=env)
            check(r.returncode == 0 and
                  r.stdout == 'record:busy flock:busy\nrecord:got flock:got\n',
                  'the same on shared fuse2fs (locks kept by the server, not fuse2fs)',
                  r.stdout + r.stderr)
            no_server_left(mnt, 'killed client, fuse2fs')

        # The server killed mid-run: EIO, no hang.
        spec = '%s=shared:passthrough:emulated=%s' % (mnt, back)
        go = os.path.join(tmp, 'go')
        ready3 = ready + '3'
        p = subprocess.Popen([a.defuse, 'run', '-m', spec, '--', 'sh', '-c', DIE_SCRIPT, 'sh',
                              mnt, ready3, go],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 30
        while not os.path.exists(ready3) and time.time() < deadline:
            time.sleep(0.05)
        pids = servers(mnt)
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        open(go, 'w').close()
        try:
            out, err = p.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            out += '(hung)'
        said = [ln for ln in out.split('\n') if 'cannot create' in ln]
        rest = '\n'.join(ln for ln in out.split('\n') if 'cannot create' not in ln)
        check(len(pids) == 1 and len(said) == 1 and said[0].endswith('Input/output error') and
              rest == 'data\nread failed\ncreate failed\nstat failed\ndata\n',
              'the server killed mid-run: the calls of its clients fail with EIO, nothing '
              'hangs; a new image starts a new server', '%s %r %r' % (pids, out, err))
        no_server_left(mnt, 'server killed')

        # Bad input: one line, status 127, nothing left.
        for what, spec, says in (
                ('an unknown module', '%s=shared:nosuchmodule' % mnt, 'unknown module'),
                ('a module whose init fails', '%s=shared:fuse:/nonexistent/fs.so' % mnt,
                 'nonexistent'),
                ('no module at all', '%s=shared' % mnt, 'expected shared:MODULE')):
            r = run([a.defuse, 'run', '-m', spec, '--', 'echo', 'ran'])
            lines = r.stderr.strip().split('\n')
            check(r.returncode == 127 and 'ran' not in r.stdout and len(lines) == 1 and
                  says in r.stderr,
                  'shared: %s: one line, status 127' % what, '%d %r' % (r.returncode, r.stderr))
            no_server_left(mnt, 'shared: ' + what)
    finally:
        kill_servers(mnt)
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(mnt, ignore_errors=True)
    return 1 if failures else 0


def bench(a):
    f2 = need_fuse2fs()
    if not f2:
        return SKIP
    mnt = tempfile.mkdtemp(prefix='defuse-sh-mnt-')
    tmp = tempfile.mkdtemp(prefix='defuse-sh-')
    try:
        tb = make_tarball(tmp, a.tree)
        native = os.path.join(tmp, 'native')
        os.mkdir(native)
        size_mb = max(128, 3 * os.path.getsize(tb) // (1 << 20))
        res = {}
        for name in ('native', 'fuse2fs per process', 'fuse2fs shared'):
            best = None
            for _ in range(a.reps):
                if name == 'native':
                    shutil.rmtree(native)
                    os.mkdir(native)
                    argv = ['tar', 'xf', tb, '-C', native]
                else:
                    img = mkimage(tmp, size_mb)
                    # per process by its own option: an image is one
                    # instance by itself (one tar writes here)
                    mod = 'shared:fuse' if 'shared' in name else 'fuse:--per-process'
                    argv = [a.defuse, 'run', '-m', '%s=%s:%s:%s' % (mnt, mod, f2, img), '--',
                            'tar', 'xf', tb, '-C', mnt]
                t = time.time()
                r = run(argv)
                took = time.time() - t
                check(r.returncode == 0, '%s: untar' % name, r.stderr)
                best = took if best is None else min(best, took)
                no_server_left(mnt, name)
            res[name] = best
        size = os.path.getsize(tb)
        for name, t in res.items():
            print('untar %.1f MB (%s): %-22s %.3f s' % (size / 1e6, a.tree or 'src+docs', name, t))
    finally:
        kill_servers(mnt)
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(mnt, ignore_errors=True)
    return 1 if failures else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('mode', choices=['fuse2fs', 'module', 'ids', 'locks', 'bench'])
    ap.add_argument('--defuse', required=True)
    ap.add_argument('--reps', type=int, default=3)
    ap.add_argument('--tree', help='bench: the directory to untar (default: src and docs)')
    a = ap.parse_args()
    a.defuse = os.path.abspath(a.defuse)
    # the fuse module's lock carriers and change counters: the run's own
    lockdir = tempfile.mkdtemp(prefix='defuse-sh-locks-')
    os.environ['DEFUSE_FUSE_LOCKDIR'] = lockdir
    try:
        rc = globals()[a.mode](a)
    finally:
        shutil.rmtree(lockdir, ignore_errors=True)
    if rc == SKIP:
        return SKIP
    print('%d failed' % len(failures) if failures else 'all passed')
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
