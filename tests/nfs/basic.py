#!/usr/bin/env python3
"""The NFS module against a real server: operations, consistency, start-up.

    basic.py DEFUSE NFS.so        (under tests/nfs/server.sh run)

1. ops: one shell script (and a python part) run in a native tmpfs
   directory and on the NFS mount of a fresh directory of the export;
   outputs (paths made alike) must be equal, and the trees too: the native
   one against the export directory as the server has it.
2. consistency: two `defuse run` processes, each with its own mount of
   the same export directory: what one writes and closes the other reads
   at its next open (close-to-open), also while both run, and sees at its
   next stat (this machine's processes share a table of changes, gen.c);
   a file written through NFS is in the export directory, one written in
   the export directory is read through NFS; appends of two processes at
   once are all kept; flock excludes between them.
3. start-up: a wrong export, an unreachable server, a bad option each stop
   `defuse run` at once (status 127) with one line that says why.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nfstest  # noqa: E402
from nfstest import run, tree, diff  # noqa: E402

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
ls -l --time-style=+ a a/b | sed 's/^total .*/total/'
stat -c '%n %s %h %a %F %u %g' a/b/g a/s a a/b a/b/c
rm a/h
stat -c '%n %h' a/b/g
ls -ld a/h 2>&1 || true
tar cf t.tar a
mkdir x
tar xf t.tar -C x
ls -lR --time-style=+ x | sed 's/^total .*/total/'
rm -r x t.tar
mkfifo p
stat -c '%n %F %a' p
touch -d @1500000000 a/b/g
stat -c '%n %Y %X' a/b/g
truncate -s 100000 sparse
truncate -s 10 sparse
stat -c '%n %s' sparse
dd if=/dev/zero of=big bs=64k count=40 status=none
sha256sum big
cp big big2 && cmp big big2 && echo same
python3 - <<'EOF'
import errno, os
os.makedirs('p2/q')
with open('p2/q/f', 'wb') as f:
    f.write(b'x' * 10000)
    f.seek(100000)
    f.write(b'y')
st = os.stat('p2/q/f')
print(st.st_size)
os.rename('p2/q/f', 'p2/g')
print(sorted(os.listdir('p2')))
os.truncate('p2/g', 5)
print(open('p2/g', 'rb').read())
for f in (lambda: os.rmdir('p2'), lambda: os.mkdir('p2'),
          lambda: os.rename('p2', 'p2/q/r'), lambda: os.unlink('p2'),
          lambda: os.rmdir('p2/g'), lambda: open('p2/g/x'),
          lambda: os.link('p2', 'p3'), lambda: os.symlink('x', 'p2/g')):
    try:
        f()
    except OSError as e:
        print(errno.errorcode[e.errno])
fd = os.open('p2/g', os.O_RDWR)
os.write(fd, b'AB')
os.lseek(fd, 0, 0)
print(os.read(fd, 100))
fd2 = os.open('p2/g', os.O_RDONLY)
os.close(fd)
print(os.read(fd2, 100))
os.close(fd2)
fd = os.open('p2/ap', os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o640)
for i in range(5):
    os.write(fd, b'line %d\n' % i)
os.close(fd)
print(open('p2/ap').read().count('line'), oct(os.stat('p2/ap').st_mode))
os.chmod('p2/ap', 0o444)
os.chown('p2/ap', 123, 456)
st = os.stat('p2/ap')
print(oct(st.st_mode), st.st_uid, st.st_gid)
os.utime('p2/ap', (1000000000, 1200000000))
print(os.stat('p2/ap').st_mtime, os.stat('p2/ap').st_atime)
d = os.open('p2', os.O_RDONLY | os.O_DIRECTORY)
print(sorted(os.listdir(d)))
print(os.stat('q', dir_fd=d) if False else os.stat('g', dir_fd=d).st_size)
os.close(d)
many = 'p2/many'
os.mkdir(many)
for i in range(300):
    open('%s/f%03d' % (many, i), 'w').write(str(i))
print(len(os.listdir(many)), sum(int(open('%s/%s' % (many, n)).read())
                                for n in os.listdir(many)))
for n in os.listdir(many):
    os.unlink('%s/%s' % (many, n))
os.rmdir(many)
sv = os.statvfs('.')
print(sv.f_namemax > 0, sv.f_bsize > 0)
EOF
echo end
ls -a
find . | sort
'''


def ops(env):
    native = env.dir('n')
    point = env.dir('m')
    sub, export = env.fresh('ops')
    want = run(['sh', '-c', SCRIPT], cwd=native)
    got = run(env.cmd(point, sub, ['sh', '-c', 'cd "$1" && sh -c "$2"', 'sh', point, SCRIPT]))
    env.check('ops: same exit status', want[0] == got[0],
              'native %s, nfs %s\n%s' % (want[0], got[0], got[2]))
    env.check('ops: same output', want[1] == got[1], diff(want[1], got[1]) + '\n' + got[2])
    # the fifo is the server's object: its kind and mode are compared
    env.check('ops: same tree (native, and the export directory on the server)',
              tree(native) == tree(export), diff(tree(native), tree(export)))
    env.check('ops: the mount point stays empty', os.listdir(point) == [])


READER = r'''
import os, sys, time
p = sys.argv[1]
def show(tag):
    with open(p + '/f') as f:
        data = f.read()
    print(tag, data.strip(), os.stat(p + '/f').st_size, flush=True)
show('first')
print('h', os.path.exists(p + '/h'), flush=True)
sys.stdin.readline()          # the writer has written and closed
print('stat', os.stat(p + '/f').st_size, os.path.exists(p + '/h'), flush=True)
show('again')
sys.stdin.readline()          # the server's side changed the file
show('server')
print('names', sorted(os.listdir(p)), flush=True)
'''


def consistency(env):
    a = env.dir('ca')
    b = env.dir('cb')
    sub, export = env.fresh('coh')
    # 1. one process writes and closes, a second one reads
    r = run(env.cmd(a, sub, ['sh', '-c', 'echo one > "$1/f" && echo two > "$1/g"', 'sh', a]))
    env.check('consistency: the writer ran', r[0] == 0, r[2])
    r2 = run(env.cmd(b, sub, ['cat', b + '/f', b + '/g']))
    env.check('consistency: a second process on its own mount reads it',
              r2[0] == 0 and r2[1] == 'one\ntwo\n', repr(r2))
    env.check('consistency: written through NFS, in the export directory',
              open(export + '/f').read() == 'one\n' and open(export + '/g').read() == 'two\n')
    # 2. both running: the reader opens again after the writer closed
    reader = nfstest.subprocess.Popen(
        env.cmd(b, sub, [sys.executable, '-c', READER, b]),
        stdin=nfstest.subprocess.PIPE, stdout=nfstest.subprocess.PIPE,
        stderr=nfstest.subprocess.PIPE, text=True, start_new_session=True)
    try:
        first = reader.stdout.readline() + reader.stdout.readline()
        r = run(env.cmd(a, sub, ['sh', '-c', 'printf "second version\\n" > "$1/f" && '
                                 'echo h > "$1/h"', 'sh', a]))
        reader.stdin.write('\n')
        reader.stdin.flush()
        st = reader.stdout.readline()
        again = reader.stdout.readline()
        # 3. the server's side changes the file (not through the module)
        with open(export + '/f', 'w') as f:
            f.write('from the server side, longer\n')
        with open(export + '/new', 'w') as f:
            f.write('n\n')
        reader.stdin.write('\n')
        reader.stdin.flush()
        server = reader.stdout.readline()
        names = reader.stdout.readline()
        reader.stdin.close()
        rc = reader.wait(timeout=nfstest.GUARD)
        err = reader.stderr.read()
    finally:
        try:
            os.killpg(reader.pid, 9)
        except ProcessLookupError:
            pass
    env.check('consistency: reader started', first == 'first one 4\nh False\n', first + err)
    env.check('consistency: reader sees the other process\'s size, and a name it found '
              'missing before, at its next stat', st == 'stat 15 True\n', st + err)
    env.check('consistency: reader reads the other process\'s data at its next open',
              again == 'again second version 15\n', again + err)
    env.check('consistency: reader reads the server side\'s change at its next open',
              server == 'server from the server side, longer 29\n', server + err)
    env.check('consistency: a new name made on the server is listed at once',
              names == "names ['f', 'g', 'h', 'new']\n", names + err)
    env.check('consistency: reader exits 0', rc == 0, err)
    # 4. appends of two processes at once: none lost
    prog = ('import os,sys\nfd = os.open(sys.argv[1], os.O_WRONLY|os.O_CREAT|os.O_APPEND, 0o644)\n'
            'for i in range(200):\n    os.write(fd, (sys.argv[2] * 9 + "\\n").encode())\n')
    procs = [nfstest.subprocess.Popen(env.cmd(p, sub, [sys.executable, '-c', prog, p + '/log', t]))
             for p, t in ((a, 'a'), (b, 'b'))]
    rcs = [p.wait(timeout=nfstest.GUARD) for p in procs]
    data = open(export + '/log').read().split('\n')[:-1]
    env.check('consistency: concurrent O_APPEND writers of two processes lose nothing',
              rcs == [0, 0] and len(data) == 400 and data.count('a' * 9) == 200 and
              data.count('b' * 9) == 200, 'rcs %s, %d lines' % (rcs, len(data)))
    # 5. flock between two processes
    hold = ('import fcntl,sys,time\nf = open(sys.argv[1], "w")\nfcntl.flock(f, fcntl.LOCK_EX)\n'
            'print("locked", flush=True)\nsys.stdin.readline()\n')
    try_ = ('import fcntl,sys\nf = open(sys.argv[1], "a")\n'
            'try:\n    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\n    print("got it")\n'
            'except BlockingIOError:\n    print("busy")\n')
    holder = nfstest.subprocess.Popen(env.cmd(a, sub, [sys.executable, '-c', hold, a + '/lk']),
                                      stdin=nfstest.subprocess.PIPE,
                                      stdout=nfstest.subprocess.PIPE, text=True)
    try:
        locked = holder.stdout.readline()
        busy = run(env.cmd(b, sub, [sys.executable, '-c', try_, b + '/lk']))
        holder.stdin.write('\n')
        holder.stdin.close()
        holder.wait(timeout=nfstest.GUARD)
        free = run(env.cmd(b, sub, [sys.executable, '-c', try_, b + '/lk']))
    finally:
        if holder.poll() is None:
            holder.kill()
    env.check('consistency: flock held by one process excludes the other',
              locked == 'locked\n' and busy[1] == 'busy\n', repr((locked, busy)))
    env.check('consistency: the holder\'s exit frees it', free[1] == 'got it\n', repr(free))
    env.check('consistency: mount points stay empty', os.listdir(a) == [] and os.listdir(b) == [])


READS = r'''
import os, random, sys
p = sys.argv[1]
rnd = random.Random(5)
fd = os.open(p + '/data', os.O_RDONLY)
want = open(sys.argv[2], 'rb').read()
bad = 0
for trial in range(6):
    # sequential reads of large pieces (read-ahead), with jumps between
    off = rnd.randrange(len(want)) if trial else 0
    while off < len(want) + 100:
        n = rnd.choice([1, 4096, 40000, 65536, 131072, 300000, 1 << 20, 3 << 20])
        got = os.pread(fd, n, off)
        if got != want[off:off + n]:
            bad += 1
        off += len(got) if got else n
        if rnd.random() < 0.1:
            off = rnd.randrange(len(want))
    # a write in between: what was read ahead must not be served
    wfd = os.open(p + '/data', os.O_WRONLY)
    at = rnd.randrange(len(want) - 10)
    os.pwrite(wfd, b'W' * 10, at)
    os.close(wfd)
    want = want[:at] + b'W' * 10 + want[at + 10:]
print('bad', bad)
'''


def reads(env):
    point = env.dir('r')
    sub, export = env.fresh('reads')
    data = os.urandom(9 << 20) + b'tail'
    with open(export + '/data', 'wb') as f:
        f.write(data)
    copy = os.path.join(env.top, 'data.copy')
    with open(copy, 'wb') as f:
        f.write(data)
    r = run(env.cmd(point, sub, [sys.executable, '-c', READS, point, copy]))
    env.check('reads of every size and place (read-ahead included) give the file\'s bytes',
              r[0] == 0 and r[1] == 'bad 0\n', repr(r))


ERRNO = r'''
import ctypes, os, sys
p = sys.argv[1]
libc = ctypes.CDLL(None, use_errno=True)
libc.opendir.restype = ctypes.c_void_p
libc.readdir.restype = ctypes.c_void_p
libc.readdir.argtypes = [ctypes.c_void_p]
libc.closedir.argtypes = [ctypes.c_void_p]
os.mkdir(p + '/d')
for i in range(2000):
    open('%s/d/f%04d' % (p, i), 'w').write('x' * (i % 300))
bad = []
for rnd in range(40):
    ctypes.set_errno(0)
    d = libc.opendir((p + '/d').encode())
    n = 0
    while libc.readdir(d):
        n += 1
    e = ctypes.get_errno()
    libc.closedir(d)
    if e or n != 2002:
        bad.append(('readdir', n, e))
    ctypes.set_errno(0)
    fd = os.open('%s/d/f%04d' % (p, rnd), os.O_RDONLY)
    os.read(fd, 1000)
    os.close(fd)
    os.stat(p + '/d')
    if ctypes.get_errno():
        bad.append(('open, read, stat', ctypes.get_errno()))
print(bad)
'''


def errno_kept(env):
    point = env.dir('e')
    sub, export = env.fresh('errno')
    r = run(env.cmd(point, sub, [sys.executable, '-c', ERRNO, point]))
    env.check('errno stays as the program left it across calls that succeed',
              r[0] == 0 and r[1] == '[]\n', repr(r))


def startup(env):
    point = env.dir('s')
    good = env.url
    host = good.split('/')[2]
    cases = [
        ('a wrong export', good.rsplit('/', 1)[0] + '/no-such-export', 'refused to mount'),
        ('an unreachable server (a closed port)', 'nfs://127.0.0.3/export', 'cannot reach'),
        ('a bad option', good + ',bogus', "unknown NFS option 'bogus'"),
        ('no URL', 'hello', 'expected nfs://SERVER/EXPORT'),
    ]
    for what, url, said in cases:
        t = time.time()
        r = run([env.defuse, 'run', '-m', '%s=%s:%s,lockdir=%s' % (point, env.module, url,
                                                                  env.locks),
                 '--', 'echo', 'ran'])
        took = time.time() - t
        lines = nfstest.own_lines(r[2])
        env.check('start-up: %s stops defuse run at once with one line' % what,
                  r[0] == 127 and r[1] == '' and len(lines) == 1 and said in lines[0] and
                  took < 30, 'status %s in %.1f s: %r' % (r[0], took, r[2]))
    r = run([env.defuse, 'run', '-m', '%s=%s:nfs://%s/%s,lockdir=%s' % (
        point, env.module, host, env.url.split('/', 3)[3], env.locks), '--', 'true'])
    env.check('start-up: the right export starts', r[0] == 0, r[2])


def main():
    env = nfstest.Env(sys.argv[1], sys.argv[2])
    why = env.ready()
    if why:
        print('SKIP: ' + why)
        return nfstest.SKIP
    try:
        ops(env)
        consistency(env)
        reads(env)
        errno_kept(env)
        startup(env)
    finally:
        env.cleanup()
    return env.finish()


if __name__ == '__main__':
    sys.exit(main())
