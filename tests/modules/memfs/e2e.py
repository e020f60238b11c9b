"""memfs under `defuse run`: programs see what they see natively.

  e2e.py DEFUSE MEMFS.so

1. diff: one shell script run in a native tmpfs directory and in a memfs
   mount; outputs (paths made alike) and the resulting trees must match.
2. coherence: a process started separately with the same NAME sees what
   another wrote, also while both run.
3. locks: flock -x held in one process makes flock -n fail in another;
   the holder's exit, or its death by SIGKILL, frees it.
4. space: a removed file's space comes back when its last holder goes,
   also when that holder is killed, and with it the blocks fallocate put
   past its end; natively (tmpfs) and in memfs alike.
5. bigdir: a directory of thousands of entries, most then removed (which
   compacts memfs's array and makes its name index again), renamed and
   looked up, listed whole and while entries go (each one that stays is
   listed): the same as on tmpfs.
6. shm-full: /dev/shm itself full (a 16 MiB tmpfs over it, in a mount
   namespace of the test's own) under a memfs of 64 MiB: a writer gets
   ENOSPC, as on the full tmpfs natively, and is not killed by SIGBUS.
   Skipped, saying why, where no mount namespace can be made.

Every segment (/dev/shm/defuse-memfs.NAME) and scratch directory made here
is removed at the end, also after a failure.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', '..', 'common'))
import difftest  # noqa: E402

DEFUSE, MODULE = sys.argv[1], os.path.abspath(sys.argv[2])
SHM = '/dev/shm' if os.path.isdir('/dev/shm') else None
names = []
failures = []

SCRIPT = r'''
set -e
mkdir -p a/b/c
echo hello > a/f
echo more >> a/f
cat a/f
mv a/f a/b/g
ln a/b/g a/h
ln -s b/g a/s
cat a/s
chmod 600 a/h
chmod 1777 a/b/c
ls -l --time-style=+ a a/b
stat -c '%n %s %h %a %F %b' a/b/g a/s a a/b a/b/c
rm a/h
stat -c '%n %h' a/b/g
ls -ld a/h 2>&1 || true
tar cf t.tar a
mkdir x
tar xf t.tar -C x
ls -lR --time-style=+ x
rm -r x t.tar
python3 - <<'EOF'
import errno, os
os.makedirs('p/q')
with open('p/q/f', 'wb') as f:
    f.write(b'x' * 10000)
    f.seek(100000)
    f.write(b'y')
st = os.stat('p/q/f')
print(st.st_size, st.st_blocks)
os.rename('p/q/f', 'p/g')
print(sorted(os.listdir('p')))
os.truncate('p/g', 5)
print(open('p/g', 'rb').read())
os.setxattr('p/g', 'user.k', b'v')
print(os.getxattr('p/g', 'user.k'), os.listxattr('p/g'))
fd = os.open('p', os.O_TMPFILE | os.O_RDWR, 0o600)
os.write(fd, b'tmp')
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
print(libc.linkat(fd, b'', -100, b'p/t', 0x1000))  # AT_EMPTY_PATH
os.close(fd)
print(open('p/t').read())
for f, exc in ((lambda: os.rmdir('p'), OSError), (lambda: os.mkdir('p'), OSError),
               (lambda: os.rename('p', 'p/q/r'), OSError)):
    try:
        f()
    except exc as e:
        print(errno.errorcode[e.errno])
os.rename('p/g', 'p/t')
print(sorted(os.listdir('p')), open('p/t', 'rb').read())
fd = os.open('p/t', os.O_RDWR)
os.unlink('p/t')
os.write(fd, b'still')
os.lseek(fd, 0, 0)
print(os.read(fd, 100), os.fstat(fd).st_nlink)
os.close(fd)
EOF
echo end; ls
find . | sort
'''


def segment(tag):
    name = 'e2e-%d-%s' % (os.getpid(), tag)
    names.append(name)
    return name


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)


def defuse(mnt, name, argv, **kw):
    return [DEFUSE, 'run', '-m', '%s=%s:%s' % (mnt, MODULE, name), '--'] + argv


def check(what, ok, detail=''):
    print(('ok   ' if ok else 'FAIL ') + what)
    if not ok:
        failures.append(what)
        if detail:
            print(detail)


def tree_in_mount(mnt, name):
    code = ('import sys; sys.path.insert(0, %r); import difftest; '
            'print("\\n".join(difftest.tree(%r)))'
            % (os.path.dirname(difftest.__file__), mnt))
    r = run(defuse(mnt, name, [sys.executable, '-c', code]))
    return r.stdout.splitlines(), r


def t_diff(scratch):
    nat = os.path.join(SHM or scratch, 'memfs-native-%d' % os.getpid())
    os.mkdir(nat)
    try:
        want = run(['sh', '-c', SCRIPT], cwd=nat)
        want_tree = difftest.tree(nat)
    finally:
        shutil.rmtree(nat, ignore_errors=True)
    mnt = os.path.join(scratch, 'mnt')
    os.mkdir(mnt)
    name = segment('diff')
    got = run(defuse(mnt, name, ['sh', '-c', 'cd %s && %s' % (mnt, SCRIPT)]))
    out_w, out_g = want.stdout.replace(nat, 'DIR'), got.stdout.replace(mnt, 'DIR')
    check('diff: exit status %d' % got.returncode, got.returncode == want.returncode,
          'native %d\n%s\nmemfs:\n%s' % (want.returncode, want.stderr, got.stderr))
    if out_w != out_g:
        import difflib
        d = '\n'.join(difflib.unified_diff(out_w.splitlines(), out_g.splitlines(),
                                           'native', 'memfs', lineterm=''))
        check('diff: output', False, d + '\n' + got.stderr)
    else:
        check('diff: output (%d lines)' % len(out_w.splitlines()), True)
    got_tree, r = tree_in_mount(mnt, name)
    check('diff: tree (%d entries)' % len(want_tree), got_tree == want_tree,
          'native %s\nmemfs  %s\n%s' % (want_tree, got_tree, r.stderr))


def t_coherence(scratch):
    mnt = os.path.join(scratch, 'co')
    os.mkdir(mnt)
    name = segment('co')
    r = run(defuse(mnt, name, ['sh', '-c', 'mkdir %s/d && echo shared > %s/d/x' % (mnt, mnt)]))
    check('coherence: writer', r.returncode == 0, r.stderr)
    r = run(defuse(mnt, name, ['cat', mnt + '/d/x']))
    check('coherence: a later process reads it', r.stdout == 'shared\n', repr(r.stdout) + r.stderr)
    # Both alive: the reader waits for a flag file the writer makes.
    reader = subprocess.Popen(defuse(mnt, name, ['sh', '-c',
        'exec 3<%s/d/x; i=0; while [ ! -e %s/go ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done;'
        ' cat %s/data; cat <&3' % (mnt, mnt, mnt)]), stdout=subprocess.PIPE, text=True)
    time.sleep(0.3)
    r = run(defuse(mnt, name, ['sh', '-c',
        'echo payload > %s/data && echo changed > %s/d/x && touch %s/go' % (mnt, mnt, mnt)]))
    out, _ = reader.communicate(timeout=60)
    check('coherence: a running process sees another\'s writes',
          out == 'payload\nchanged\n', repr(out))
    r = run(defuse(mnt, name, ['sh', '-c', 'ls %s | wc -l; df -k %s | tail -1' % (mnt, mnt)]))
    check('coherence: listing', r.stdout.split('\n')[0].strip() == '3', r.stdout + r.stderr)


def t_locks(scratch):
    mnt = os.path.join(scratch, 'lk')
    os.mkdir(mnt)
    name = segment('lk')
    lk, held = mnt + '/lock', mnt + '/held'

    def holder(after):
        # Its own session, so that the whole group (flock, the shell, and
        # whatever the shell starts) can be killed at once.
        return subprocess.Popen(defuse(mnt, name, ['flock', '-x', lk, '-c',
                                                   'touch %s; %s' % (held, after)]),
                                start_new_session=True)

    def wait_held():
        for _ in range(400):
            if run(defuse(mnt, name, ['test', '-e', held])).returncode == 0:
                return True
            time.sleep(0.05)
        return False

    def try_lock(opt='-x'):
        return run(defuse(mnt, name, ['flock', '-n', opt, lk, 'true'])).returncode

    h = holder('sleep 3')
    check('locks: holder took it', wait_held())
    check('locks: flock -n -x fails in another process', try_lock() == 1)
    check('locks: flock -n -s fails in another process', try_lock('-s') == 1)
    h.wait(timeout=60)
    check('locks: free after the holder exits', try_lock() == 0)
    run(defuse(mnt, name, ['rm', '-f', held]))
    h = holder('sleep 60')
    check('locks: holder took it again', wait_held())
    check('locks: still held', try_lock() == 1)
    # flock(1) runs the command in a shell, which may run sleep in a child
    # of its own: every one of them shares the locked description (as
    # natively), so kill the whole group and wait (bounded) until none is
    # left before trying the lock.
    os.killpg(h.pid, 9)
    h.wait()
    for _ in range(500):
        if run(['pgrep', '-g', str(h.pid)]).returncode != 0:
            break
        time.sleep(0.02)
    check('locks: a SIGKILLed holder\'s lock is dropped', try_lock() == 0)


SPACE = r'''
import ctypes, os, signal, sys
d = sys.argv[1]
libc = ctypes.CDLL(None, use_errno=True)
def free():
    return os.statvfs(d).f_bfree
base = free()
fd = os.open(d + '/pre', os.O_CREAT | os.O_RDWR, 0o644)
os.write(fd, b'x' * 8192)
libc.fallocate(fd, 1, ctypes.c_long(0), ctypes.c_long(1 << 20))   # KEEP_SIZE
print('fallocate past the end takes blocks:', free() < base)
os.close(fd)
os.unlink(d + '/pre')
print('all back once the file is removed:', free() == base)
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    fd = os.open(d + '/held', os.O_CREAT | os.O_RDWR, 0o644)
    os.write(fd, b'x' * (4 << 20))
    os.unlink(d + '/held')
    os.write(w, b'k')
    signal.pause()
os.read(r, 1)
print('a removed file held open keeps its blocks:', free() < base)
os.kill(pid, signal.SIGKILL)
os.waitpid(pid, 0)
# The kernel may finish closing a dead process's files just after it is
# reaped: look again a few times (bounded) before answering.
import time
for _ in range(100):
    if free() == base:
        break
    time.sleep(0.02)
print('all back once its holder is killed:', free() == base)
'''


def t_space(scratch):
    mnt = os.path.join(scratch, 'sp')
    os.mkdir(mnt)
    name = segment('sp')
    if SHM:
        native_dir = tempfile.mkdtemp(prefix='memfs-e2e-', dir=SHM)
        try:
            want = run([sys.executable, '-c', SPACE, native_dir]).stdout
        finally:
            shutil.rmtree(native_dir, ignore_errors=True)
    else:
        want = None
    r = run(defuse(mnt, name, [sys.executable, '-c', SPACE, mnt]))
    lines = r.stdout.splitlines()
    check('space: removed and killed-holder files give their blocks back',
          r.returncode == 0 and len(lines) == 4 and all(l.endswith('True') for l in lines) and
          (want is None or r.stdout == want),
          'memfs:\n%s%s\nnative tmpfs:\n%s' % (r.stdout, r.stderr, want))


BIGDIR = r'''
import os, sys
d = sys.argv[1] + '/big'
os.mkdir(d)
N = 3000
for i in range(N):
    with open('%s/f%05d' % (d, i), 'w') as f:
        f.write(str(i))
for i in range(0, N, 3):
    os.unlink('%s/f%05d' % (d, i))
for i in range(1, N, 30):
    os.rename('%s/f%05d' % (d, i), '%s/r%05d' % (d, i))
print('listing in order:', ' '.join(os.listdir(d)))
found = sum(os.path.exists('%s/f%05d' % (d, i)) for i in range(N))
print('found by name:', found, 'renamed:', sum(os.path.exists('%s/r%05d' % (d, i)) for i in range(N)))
with open('%s/f00002' % d) as f:
    print('content:', f.read())
# Removals during a listing: every entry that stays is seen (tmpfs may
# show some twice then, so that is not compared).
fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
it = os.scandir(fd)
seen = []
for k, e in enumerate(it):
    seen.append(e.name)
    if k == 100:
        for name in sorted(os.listdir(d))[:1500]:
            if name not in seen:
                os.unlink(d + '/' + name)
it.close()
os.close(fd)
left = set(os.listdir(d))
print('during removals: stayed', len(left), 'all seen:', left <= set(seen))
for name in os.listdir(d):
    os.unlink(d + '/' + name)
os.rmdir(d)
print('emptied and removed:', not os.path.exists(d))
'''


def t_bigdir(scratch):
    mnt = os.path.join(scratch, 'bd')
    os.mkdir(mnt)
    name = segment('bd')
    native_dir = tempfile.mkdtemp(prefix='memfs-e2e-', dir=SHM) if SHM else scratch
    try:
        want = run([sys.executable, '-c', BIGDIR, native_dir]).stdout
    finally:
        if SHM:
            shutil.rmtree(native_dir, ignore_errors=True)
    r = run(defuse(mnt, name, [sys.executable, '-c', BIGDIR, mnt]))
    got = r.stdout
    check('bigdir: thousands of entries, removed, renamed, listed (%d lines)' % len(want.splitlines()),
          r.returncode == 0 and got == want and len(want.splitlines()) == 5,
          'native:\n%s\nmemfs:\n%s%s' % (want[-600:], got[-600:], r.stderr[-2000:]))


# Writes 40 MiB into DIR/f through head, then says how head ended.
FILL = 'head -c 40M /dev/zero > "$1/f"; echo "exit $?"'


def t_shm_full(scratch):
    probe = run(['unshare', '-m', 'sh', '-c', 'mount -t tmpfs -o size=16M tmpfs /dev/shm'])
    if probe.returncode != 0:
        print('SKIP shm-full: no mount namespace with a tmpfs of its own here (%s)'
              % probe.stderr.strip())
        return
    mnt = os.path.join(scratch, 'full')
    os.mkdir(mnt)
    inner = ('mount -t tmpfs -o size=16M tmpfs /dev/shm && mkdir /dev/shm/n && '
             'sh -c \'%s\' fill /dev/shm/n && rm -r /dev/shm/n && '
             '%s run -m %s=%s:full,size=64M -- sh -c \'%s\' fill %s'
             % (FILL, DEFUSE, mnt, MODULE, FILL, mnt))
    r = run(['unshare', '-m', 'sh', '-c', inner])
    said = r.stderr.splitlines()
    check('shm-full: a full /dev/shm under memfs is ENOSPC for the writer, as natively',
          r.returncode == 0 and r.stdout.splitlines() == ['exit 1', 'exit 1'] and
          len(said) == 2 and said[0] == said[1] and 'No space left on device' in said[0],
          'exit %d:\n%s%s' % (r.returncode, r.stdout, r.stderr))


def main():
    scratch = tempfile.mkdtemp(prefix='memfs-e2e-')
    try:
        t_diff(scratch)
        t_coherence(scratch)
        t_locks(scratch)
        t_space(scratch)
        t_bigdir(scratch)
        t_shm_full(scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        for n in names:
            try:
                os.unlink('/dev/shm/defuse-memfs.' + n)
            except FileNotFoundError:
                pass
    print('%d failed' % len(failures))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
