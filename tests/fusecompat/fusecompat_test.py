#!/usr/bin/env python3
"""Tests of the fuse module (modules/fuse): FUSE file systems in process.

    fusecompat_test.py examples  --defuse D --examples DIR [--natives DIR]
    fusecompat_test.py lifecycle --defuse D --lifefs LIFEFS.so
    fusecompat_test.py bad-input --defuse D --lifefs LIFEFS.so --not-fuse SO
    fusecompat_test.py abi --defuse D --standin LIBFUSE3.SO.3 [--real PATH]
    fusecompat_test.py abi2 --defuse D --standin LIBFUSE.SO.2 [--real PATH]
    fusecompat_test.py fuse2 --defuse D --fs PT2.so --fs-old PT2-OLD.so
    fusecompat_test.py installed2 --defuse D PROGRAM   (fuse2fs, fuse-zip, bindfs, encfs...)
    fusecompat_test.py conformance --defuse D --fs FS.so [--native PROG]
                       [--diropt 'source=%s'] [--fs-args ARGS]
                       --fsops F --known-failures K CASEFILE...
    fusecompat_test.py behavior --defuse D --fs FS.so [--diropt ...] [--fs-args ...]
                       CASE [behave.py args]

examples: libfuse's examples built unmodified (modules/fuse/examples) under
`defuse run -m MNT=fuse:EXAMPLE.so[:ARGS]`: hello and null answer what their
source says they answer (and, with --natives and a usable /dev/fuse, the
same as the example built as a program and mounted through kernel FUSE);
passthrough and passthrough_fh run one shell script of file operations on a
subdir mount that must print and leave exactly what it prints and leaves
natively in a twin directory.

lifecycle: lifefs (tests/fusecompat/lifefs.c) logs every call it gets:
init and destroy once per process image (an exec'd image starts again, a
forked child does not), create or mknod + open, flush at every close and a
release, readdir with and without offsets, the caller's identity.

bad-input: what cannot be served ends the program before it runs, with one
line on standard error and status 127, and nothing left running.

abi: the stand-in exports exactly the real libfuse 3's functions, each with
its version (objdump -T), under the soname libfuse3.so.3.

abi2: the libfuse 2 stand-in exports libfuse 2's high-level functions, each
with the real libfuse.so.2's default version, under the soname libfuse.so.2.

fuse2: pt2 (tests/fusecompat/pt2.c, libfuse 2's API: readdir with offsets,
fgetattr, ftruncate, create, utimens) and pt2-old (getdir, utime, mknod +
open) run the file script in process as natively, and list a directory
longer than one readdir call.

installed2: a libfuse 2 program as Debian installs it, on data made by the
test: fuse2fs on an ext4 image from mke2fs (read by several processes;
written by one python3 process, then e2fsck -fn passes), fuse-zip on a zip
archive (listing and contents as the originals), bindfs (its source,
which it names relative to a working directory of its own), and more:
encfs and exfat-fuse (getopt beside the program's), fuseiso (libfuse 2's
FUSE_USE_VERSION 22) and fuseiso9660, disorderfs and loggedfs (C++
programs: static objects, exit handlers), fusefat, convmvfs (version 25),
httpfs2 (libfuse 2's low level), squashfuse_ll, mhddfs, xmount.  Skipped,
saying why, when the program is not installed.

conformance: tests/conformance/run.py on a FUSE file system in process (its
kernel mode through defuse-fuse); with --native, the same cases through
kernel FUSE (kfuse-run), the reference list (skipped without /dev/fuse).

behavior: tests/behavior/behave.py's mount mode with the passthrough mounts
served by the FUSE file system in process (defuse-fuse).

Exit status: 0 passed, 1 failed, 77 skipped (the reason is printed).
"""
import argparse
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
SKIP = 77
failures = []


def check(cond, what, detail=''):
    if cond:
        print('ok   %s' % what)
    else:
        print('FAIL %s%s' % (what, ('\n    ' + detail.replace('\n', '\n    ')) if detail else ''))
        failures.append(what)


def run(argv, **kw):
    kw.setdefault('capture_output', True)
    kw.setdefault('text', True)
    kw.setdefault('timeout', 120)
    kw.setdefault('stdin', subprocess.DEVNULL)
    return subprocess.run(argv, **kw)


def fuse_usable():
    """Why kernel FUSE cannot be used here, or None."""
    try:
        os.close(os.open('/dev/fuse', os.O_RDWR))
    except OSError as e:
        return '/dev/fuse: %s' % e.strerror
    if not shutil.which('fusermount3') and os.geteuid() != 0:
        return 'no fusermount3'
    return None


def unmount(point):
    for cmd in (['fusermount3', '-u', '-z', point], ['umount', '-l', point]):
        try:
            if run(cmd).returncode == 0:
                return
        except FileNotFoundError:
            pass


# ---------------------------------------------------------------------------
# examples

FILE_SCRIPT = r'''
set -e
echo one > a; cat a; echo two >> a; cat a
printf xyz > b; wc -c < b
mkdir d; mv b d/c; cat d/c; echo
ln -s a l; readlink l; cat l
ln a hard; stat -c '%h %s %A' a hard
chmod 600 a; stat -c %A a
truncate -s 2 a; cat a; echo
dd if=/dev/zero of=big bs=65536 count=20 2>/dev/null; wc -c < big
cp big big2; cmp big big2 && echo same
python3 -c "
import os
os.setxattr('a', 'user.k', b'v'); print(os.getxattr('a', 'user.k'))
fd = os.open('a', os.O_RDWR); os.lseek(fd, 5, 0); os.write(fd, b'!')
print(os.fstat(fd).st_size); os.unlink('a'); print(os.fstat(fd).st_size); os.close(fd)
"
rm l big2; rm -r d
ls -A | sort
stat -c '%n %F %a %h %s' * | sort
'''


# Run in process on passthrough_ll: each step's answer after another
# process (a shell) changed the names this one had walked.
# FIONREAD on ioctl's file, then a request of its kind it does not know
IOCTL_PROBE = r"""
import array, fcntl, sys, termios
with open(sys.argv[1]) as f:
    a = array.array('i', [0])
    fcntl.ioctl(f, termios.FIONREAD, a)
    print(a[0])
    try:
        fcntl.ioctl(f, 0x80084507, bytes(8))    # _IOR('E', 7, size_t)
    except OSError as e:
        print(e.strerror)
"""

NAMES_SCRIPT = r"""
import os, subprocess, sys
os.chdir(sys.argv[1])
def sh(cmd):
    subprocess.run(['sh', '-c', cmd], check=True)
os.mkdir('d')
with open('d/f', 'w') as f:
    f.write('old')
os.stat('d/f')
sh('mv d e && mkdir d && echo new > d/f')
print(open('d/f').read().strip(), open('e/f').read().strip())
os.stat('d/f')
sh('mv d/f d/g && echo newer > d/f')
print(open('d/f').read().strip(), sorted(os.listdir('d')))
sh('rm -r d')
print(os.path.exists('d/f'), os.path.exists('d'))
out = 'made-outside/out'
pid = os.posix_spawn('/bin/echo', ['echo', 'spawned'], os.environ,
                     file_actions=[(os.POSIX_SPAWN_OPEN, 1, out,
                                    os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)])
os.waitpid(pid, 0)
print(open(out).read().strip())
with open('made-outside/more', 'w') as f:
    f.write('x')
print(sorted(os.listdir('made-outside')))
"""
# Locks and FIFOs between processes of other users (kernel FUSE keeps one
# lock table and one pipe per FIFO for every process using the mount,
# whoever it runs as): a root process holds a flock and a record lock and
# makes FIFOs; a forked child that changed its uid, and a process of
# another user started on its own, meet them.  argv: directory, role.
IDS_SCRIPT = r"""
import errno, fcntl, os, sys
d, role = sys.argv[1], sys.argv[2]
def path(n): return os.path.join(d, n)
def tell(what, call):
    try:
        call(); print(what, 'ok')
    except OSError as e:
        print(what, errno.errorcode[e.errno])
    sys.stdout.flush()
def attempt():
    f = os.open(path('f'), os.O_RDWR)
    tell('flock', lambda: fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB))
    tell('lockf', lambda: fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB))
    tell('lockf of free bytes', lambda: fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 100))
    r = os.open(path('f'), os.O_RDONLY)
    tell('write lock, read-only', lambda: fcntl.lockf(r, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 200))
    fds = []
    tell('own fifo, read', lambda: fds.append(os.open(path('mine'), os.O_RDONLY | os.O_NONBLOCK)))
    tell('own fifo, write', lambda: fds.append(os.open(path('mine'), os.O_WRONLY | os.O_NONBLOCK)))
    tell('root fifo 0600', lambda: os.open(path('roots'), os.O_RDONLY | os.O_NONBLOCK))
    tell('fifo 0646, write, no reader', lambda: os.open(path('open'), os.O_WRONLY | os.O_NONBLOCK))
    if len(fds) == 2:
        os.write(fds[1], b'through'); print('read', os.read(fds[0], 16))
    w = os.open(path('talk'), os.O_WRONLY)
    os.write(w, b'to the holder'); os.close(w)
if role == 'hold':
    fd = os.open(path('f'), os.O_RDWR | os.O_CREAT, 0o666); os.fchmod(fd, 0o666)
    fcntl.flock(fd, fcntl.LOCK_EX)
    g = os.open(path('f'), os.O_RDWR)
    fcntl.lockf(g, fcntl.LOCK_EX, 10, 0)
    for n, mode, owner in (('mine', 0o600, 65534), ('roots', 0o600, 0), ('open', 0o646, 0),
                           ('talk', 0o622, 0)):
        os.mkfifo(path(n), mode); os.chmod(path(n), mode); os.chown(path(n), owner, owner)
    t = os.open(path('talk'), os.O_RDONLY | os.O_NONBLOCK)
    pid = os.fork()
    if pid == 0:
        os.setgid(65534); os.setuid(65534)
        print('a forked child, now uid 65534:')
        attempt()
        os._exit(0)
    os.waitpid(pid, 0)
    print('holder reads', os.read(t, 64))
    print('held'); sys.stdout.flush()
    sys.stdin.readline()
    print('holder reads', os.read(t, 64))
else:
    print('another process of uid %d:' % os.getuid())
    attempt()
"""

NAMES_WANT = ("new old\nnewer ['f', 'g']\nFalse False\nspawned\n"
              "['more', 'out']\n")


MAPPED_SCRIPT = '''
import mmap, os, sys
m = sys.argv[1]
bad = 0
for size in (6, 4096, 8192, 65536) * 5:
    os.mkdir(m + '/d')
    fd = os.open(m + '/d/f', os.O_RDWR | os.O_CREAT, 0o644)
    os.ftruncate(fd, size)
    mm = mmap.mmap(fd, size)
    mm[0:1] = b'H'
    mm[size - 1:size] = b'T'
    mm.close()
    os.close(fd)
    os.unlink(m + '/d/f')
    try:
        os.rmdir(m + '/d')
    except OSError:
        bad += 1
        break
print('not empty', bad)
'''


def examples(a):
    ex = a.examples
    mnt = tempfile.mkdtemp(prefix='defuse-fc-mnt-')
    tmp = tempfile.mkdtemp(prefix='defuse-fc-')
    try:
        # hello: what its source says (name, contents, modes), options too
        r = run([a.defuse, 'run', '-m', mnt + '=fuse:' + ex + '/hello.so', '--', 'sh', '-c',
                 'ls -la "$1" | sed 1d | awk "{print \\$1, \\$2, \\$5, \\$NF}"; '
                 'cat "$1/hello"; stat -c "%F %a %s %h" "$1/hello" "$1"; '
                 'echo x > "$1/hello" || echo refused', 'sh', mnt])
        want = ('drwxr-xr-x 2 0 .\n', '-r--r--r-- 1 13 hello\n', 'Hello World!\n',
                'regular file 444 13 1\n', 'directory 755 0 2\n', 'refused\n')
        got = r.stdout
        check(r.returncode == 0 and all(w in got for w in want) and '..' in got,
              'hello: ls, cat, stat, refused write', got + r.stderr)
        r = run([a.defuse, 'run', '-m', mnt + "=fuse:hello:--name=greeting "
                 "'--contents=two words'", '--', 'cat', mnt + '/greeting'])
        check(r.returncode == 0 and r.stdout == 'two words', 'hello: its own options (by name)',
              repr(r.stdout) + r.stderr)
        native_compare(a, 'hello', mnt, [], [
            ['sh', '-c', 'ls -la "$1" | sed 1d | grep -v " \\.\\.$" | '
             'awk "{print \\$1, \\$2, \\$5, \\$NF}"; '
             'cat "$1/hello"; stat -c "%F %a %s %h" "$1/hello"', 'sh', mnt]])

        # null: a file system whose root is a regular file
        nf = os.path.join(tmp, 'nullfile')
        open(nf, 'w').close()
        r = run([a.defuse, 'run', '-m', '%s=fuse:--mountpoint=%s:%s/null.so' % (mnt, nf, ex),
                 '--', 'sh', '-c', 'stat -c "%F %s %a" "$1"; head -c 8 "$1" | od -An -tx1; '
                 'echo data > "$1" && echo written; ls "$1"', 'sh', mnt])
        check(r.returncode == 0 and r.stdout == 'regular file 4294967296 644\n'
              ' 00 00 00 00 00 00 00 00\nwritten\n%s\n' % mnt,
              'null: stat, read zeros, write', r.stdout + r.stderr)
        r = run([a.defuse, 'run', '-m', '%s=fuse:%s/null.so' % (mnt, ex), '--', 'true'])
        check(r.returncode == 127 and 'mountpoint is not a regular file' in r.stderr,
              'null: refuses a directory as its mount point (its own check)', r.stderr)

        # hello_ll: the low-level API
        r = run([a.defuse, 'run', '-m', mnt + '=fuse:' + ex + '/hello_ll.so', '--', 'sh', '-c',
                 'ls -a "$1"; cat "$1/hello"; stat -c "%F %a %s %i" "$1/hello" "$1"; '
                 'cat "$1/nothing" 2>/dev/null || echo missing', 'sh', mnt])
        check(r.returncode == 0 and r.stdout == '.\n..\nhello\nHello World!\n'
              'regular file 444 13 2\ndirectory 755 0 1\nmissing\n',
              'hello_ll: ls, cat, stat (its inode numbers)', r.stdout + r.stderr)
        native_compare(a, 'hello_ll', mnt, [], [
            ['sh', '-c', 'ls -a "$1"; cat "$1/hello"; stat -c "%F %a %s %i %h" "$1/hello" "$1"',
             'sh', mnt]])

        # ioctl: a file system's own ioctls (its FIOC_GET_SIZE and
        # FIOC_SET_SIZE, through its client), the kernel's for every file
        # system (FIONREAD) beside them, and its answer to one it does not
        # know; the same through kernel FUSE.  Its file lives in its memory:
        # one instance for the tree (shared:), as through kernel FUSE; the
        # size it sets is its file's (two zero bytes, then).
        client = os.path.join(a.natives or '', 'ioctl_client')
        if os.path.exists(os.path.join(ex, 'ioctl.so')) and os.path.exists(client):
            probe = os.path.join(tmp, 'ioctl_probe.py')
            with open(probe, 'w') as fp:
                fp.write(IOCTL_PROBE)
            cmd = ['sh', '-c', 'c=$0; f=$1/fioc; $c $f; $c $f 4096 && $c $f; '
                   '$c $f 2 && cat $f && echo; python3 "$2" $f', client, mnt, probe]
            r = run([a.defuse, 'run', '-m', mnt + '=shared:fuse:' + ex + '/ioctl.so', '--'] + cmd,
                    env=dict(os.environ, DEFUSE_FUSE_LOCKDIR=tmp))
            check(r.returncode == 0 and r.stdout == '0\n4096\n\0\0\n2\nInvalid argument\n',
                  'ioctl: its own ioctls, FIONREAD, an unknown one', r.stdout + r.stderr)
            # (attributes asked for every time: kernel FUSE's cached size
            # would hide the one the ioctl set)
            native_compare(a, 'ioctl', mnt, ['-o', 'attr_timeout=0'], [cmd], shared=True,
                           env=dict(os.environ, DEFUSE_FUSE_LOCKDIR=tmp))
        else:
            print('SKIP ioctl: libfuse\'s ioctl example or its client was not built')

        # passthrough_ll: the low level's name cache (modules/fuse/names.c)
        # is as coherent as the kernel's one cache between processes, and a
        # vfork child adds nothing to it (its descriptors are its own)
        for cache in ('', 'all', '0'):
            src = os.path.join(tmp, 'names-src' + cache)
            os.mkdir(src)
            os.mkdir(os.path.join(src, 'made-outside'))
            env = dict(os.environ, DEFUSE_FUSE_NAME_CACHE=cache)
            r = run([a.defuse, 'run', '-m', '%s=fuse:%s/passthrough_ll.so:-o source=%s' %
                     (mnt, ex, src), '--', sys.executable, '-c', NAMES_SCRIPT, mnt], env=env)
            check(r.returncode == 0 and r.stdout == NAMES_WANT and r.stderr == '',
                  'passthrough_ll: names seen changed by another process, a vfork child\'s '
                  'open (DEFUSE_FUSE_NAME_CACHE=%r)' % cache, r.stdout + r.stderr)

        # passthrough_fh: a mapped file is released by the munmap and close
        # that end its use, before the program's next call.  The pager's
        # fault thread held the mapping while it served a fault and let go
        # of it a moment later, the release with it: the unlink right after
        # the close found the file still open and hid it (libfuse's
        # .fuse_hidden*), and the rmdir after that failed with ENOTEMPTY.
        src = os.path.join(tmp, 'mapped-src')
        os.mkdir(src)
        r = run([a.defuse, 'run', '-m', '%s=fuse:%s/passthrough_fh.so:-o modules=subdir,subdir=%s'
                 % (mnt, ex, src), '--', sys.executable, '-c', MAPPED_SCRIPT, mnt])
        check(r.returncode == 0 and r.stdout == 'not empty 0\n' and os.listdir(src) == [],
              'passthrough_fh: a mapped file unlinked after its munmap and close leaves its '
              'directory empty', r.stdout + r.stderr)

        # passthrough_fh, passthrough_ll: locks and FIFOs between users
        why = ids_case(a, tmp, mnt, (
            ('passthrough_fh', ex + '/passthrough_fh.so:-o modules=subdir,subdir=%s'),
            ('passthrough_ll', ex + '/passthrough_ll.so:-o source=%s')))
        if why:
            print('SKIP (locks and FIFOs between users): ' + why)

        # installed programs: the examples built as programs and stripped
        # (no main among their symbols), as a distribution ships them
        installed = {}
        if a.natives:
            for name in ('hello', 'passthrough_fh', 'passthrough_ll'):
                prog = os.path.join(tmp, 'installed-' + name)
                shutil.copy(os.path.join(a.natives, name), prog)
                if shutil.which('strip'):
                    run(['strip', prog])
                installed[name] = prog
            r = run([a.defuse, 'run', '-m', mnt + '=fuse:' + installed['hello'], '--', 'sh',
                     '-c', 'ls "$1"; cat "$1/hello"', 'sh', mnt])
            check(r.returncode == 0 and r.stdout == 'hello\nHello World!\n',
                  'hello as an installed program (a stripped PIE executable)',
                  r.stdout + r.stderr)

        # passthrough, passthrough_fh, passthrough_ll: a script, natively
        # and in process; the last two as installed programs too
        for name in ('passthrough', 'passthrough_fh', 'passthrough_ll',
                     'installed-passthrough_fh', 'installed-passthrough_ll'):
            if name.startswith('installed-') and name[10:] not in installed:
                continue
            results = []
            for where in ('native', 'fuse'):
                d = os.path.join(tmp, name + '-' + where)
                os.mkdir(d)
                if where == 'native':
                    argv = ['sh', '-c', 'cd "$1" && sh -c "$2"', 'sh', d, FILE_SCRIPT]
                else:
                    opt = ('source=%s -o xattr' if name.endswith('_ll') else
                           'modules=subdir,subdir=%s') % d
                    fs = installed[name[10:]] if name.startswith('installed-') else \
                        '%s/%s.so' % (ex, name)
                    argv = [a.defuse, 'run', '-m', "%s=fuse:%s:-o %s" %
                            (mnt, fs, opt), '--', 'sh', '-c',
                            'cd "$1" && sh -c "$2"', 'sh', mnt, FILE_SCRIPT]
                r = run(argv)
                tree = sorted(os.listdir(d))
                results.append((r.returncode, r.stdout, tree, r.stderr))
            n, f = results
            check(n[:3] == f[:3], '%s: file operations as native' % name,
                  'native: %r\nfuse:   %r\n%s' % (n[:3], f[:3], f[3]))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        os.rmdir(mnt)


def ids_pair(hold, attempt, env=None, timeout=120):
    """IDS_SCRIPT's holder (argv hold) and, once it holds, another user's
    process (argv attempt); their outputs, or an error text."""
    p = subprocess.Popen(hold, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
                         stderr=subprocess.STDOUT, text=True, start_new_session=True)
    def kill():
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    # a holder that never says it holds is killed: its readline then ends
    stuck = threading.Timer(timeout, kill)
    stuck.start()
    try:
        out = ''
        while not out.endswith('held\n'):
            line = p.stdout.readline()
            if not line:
                break
            out += line
        r = run(attempt, env=env, timeout=timeout) if out.endswith('held\n') else None
        rest, _ = p.communicate('\n', timeout=timeout)
        return out + rest + (r.stdout + r.stderr if r else '(no attempt)\n')
    finally:
        stuck.cancel()
        if p.poll() is None:
            kill()
            p.wait()


def ids_case(a, tmp, mnt, fss):
    """Locks and FIFOs between users, natively and on each of fss (name,
    module argument with %s for the backing directory): the same answers.
    None, or why it was skipped."""
    py = '/usr/bin/python3'
    as_nobody = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups']
    if os.geteuid() != 0 or not shutil.which('setpriv') or not os.path.exists(py):
        return 'needs root, setpriv and %s' % py
    # the other user must reach the scratch tree, and DEFUSE's files
    os.chmod(tmp, 0o755)
    os.chmod(mnt, 0o755)
    lib = os.path.join(os.path.dirname(os.path.abspath(a.defuse)), 'libdefuse.so')
    if run(as_nobody + ['test', '-r', lib]).returncode != 0:
        return 'uid 65534 cannot read %s' % lib
    # the test's lock carriers and FIFOs' stand-ins, shared as the default
    # ones are, go with its scratch tree
    locks = os.path.join(tmp, 'ids-locks')
    special = os.path.join(tmp, 'ids-special')
    for shared in (locks, special):
        os.mkdir(shared)
        os.chmod(shared, 0o1777)
    env = dict(os.environ, DEFUSE_FUSE_LOCKDIR=locks, DEFUSE_SPECIAL_DIR=special)
    d = os.path.join(tmp, 'ids-native')
    os.mkdir(d, 0o755)
    want = ids_pair([py, '-c', IDS_SCRIPT, d, 'hold'],
                    as_nobody + [py, '-c', IDS_SCRIPT, d, 'try'])
    for name, spec in fss:
        src = os.path.join(tmp, 'ids-' + name)
        os.mkdir(src, 0o755)
        under = [a.defuse, 'run', '-m', '%s=fuse:%s' % (mnt, spec % src), '--']
        # the other user's process: an image of its own, started as that
        # user (setpriv drops the IDs before it execs python)
        got = ids_pair(under + [py, '-c', IDS_SCRIPT, mnt, 'hold'],
                       under + as_nobody + [py, '-c', IDS_SCRIPT, mnt, 'try'], env)
        left = os.listdir(special)
        check(got == want, '%s: locks and FIFOs between users as natively' % name,
              'native:\n%s\nin process:\n%s' % (want, got))
        # (the root's 0600 FIFO was never opened: refused before)
        check(len(left) == 3, '%s: one stand-in per FIFO opened' % name, repr(left))
        for n in left:
            os.unlink(os.path.join(special, n))
    return None


def native_compare(a, name, mnt, args, cmds, shared=False, env=None):
    """The same commands on the example built as a program and mounted
    through kernel FUSE (when possible): the same output.  shared: in
    process as one instance for the tree (shared:fuse:)."""
    why = None if a.natives else 'no --natives'
    why = why or fuse_usable()
    if why:
        print('skip %s through kernel FUSE: %s' % (name, why))
        return
    prog = os.path.join(a.natives, name)
    outs = []
    for how in ('fuse', 'kernel'):
        for c in cmds:
            if how == 'fuse':
                r = run([a.defuse, 'run', '-m', '%s=%sfuse:%s/%s.so%s' %
                         (mnt, 'shared:' if shared else '', a.examples, name,
                          (':' + ' '.join(args)) if args else ''),
                         '--'] + c, env=env)
            else:
                m = run([prog] + args + [mnt])
                if m.returncode:
                    check(False, '%s: mounts through kernel FUSE' % name, m.stderr)
                    return
                try:
                    r = run(c)
                finally:
                    unmount(mnt)
            outs.append(r.stdout)
    half = len(outs) // 2
    check(outs[:half] == outs[half:], '%s: as through kernel FUSE' % name,
          'in process:   %r\nkernel FUSE:  %r' % (outs[:half], outs[half:]))


# ---------------------------------------------------------------------------
# lifecycle

def read_log(path):
    lines = []
    try:
        with open(path) as f:
            for line in f:
                pid, _, rest = line.rstrip('\n').partition(' ')
                lines.append((int(pid), rest))
    except FileNotFoundError:
        pass
    return lines


def by_process(L):
    """(parent, children, by) of a log: the first process to log, the
    others, and by(pid, op): the lines of pid that start with op."""
    pids = []
    for p, _ in L:
        if p not in pids:
            pids.append(p)
    parent = pids[0] if pids else None
    return (parent, [p for p in pids if p != parent],
            lambda pid, op: [o for p, o in L if p == pid and o.startswith(op)])


def lifecycle(a):
    mnt = tempfile.mkdtemp(prefix='defuse-fc-mnt-')
    tmp = tempfile.mkdtemp(prefix='defuse-fc-')
    log = os.path.join(tmp, 'log')
    env = dict(os.environ)

    def go(args, script, *extra):
        if os.path.exists(log):
            os.unlink(log)
        spec = '%s=fuse:%s:--log=%s%s' % (mnt, a.lifefs, log, (' ' + args) if args else '')
        # a session of its own: a hang (a forked child waiting for ever)
        # fails the case, and none of its processes is left
        p = subprocess.Popen([a.defuse, 'run', '-m', spec, '--', sys.executable, '-c',
                              script, mnt] + list(extra), env=env, text=True,
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, start_new_session=True)
        try:
            out, err = p.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            out, err = p.communicate()
            err += '(killed after 120 s: it hung)\n'
        return subprocess.CompletedProcess(p.args, p.returncode, out, err), read_log(log)

    try:
        # one image: init, a create, flush at each close, one release, destroy
        r, L = go('', '''
import os, sys
m = sys.argv[1]
os.umask(0o022)
fd = os.open(m + '/new', os.O_CREAT | os.O_WRONLY, 0o666)
fd2 = os.dup(fd)
os.write(fd, b'data')
os.close(fd)
os.close(fd2)
print(open(m + '/new').read())
''')
        ops = [o for _, o in L]
        check(r.returncode == 0 and r.stdout == 'data\n', 'lifefs: written and read back',
              r.stdout + r.stderr)
        check(len(L) > 2 and ops[0].startswith('main argc=') and ops[0].endswith(' last=' + mnt),
              'main() gets ARGS and the mount point last', repr(ops[:1]))
        check(sum(o.startswith('init ') for o in ops) == 1 and 'init use_ino=0' in ops[1],
              'init once, with libfuse\'s default config', repr(ops))
        create = [o for o in ops if o.startswith('create /new ')]
        check(len(create) == 1 and ' 100644 ' in create[0] and 'uid=%d gid=%d umask=022 pidok=1'
              % (os.getuid(), os.getgid()) in create[0],
              'create with the umask applied and the caller in fuse_get_context', repr(create))
        fh = create[0].split()[3] if create else '?'
        check(ops.count('flush /new ' + fh) == 2 and ops.count('release /new ' + fh) == 1 and
              ops.index('release /new ' + fh) > max(i for i, o in enumerate(ops)
                                                   if o == 'flush /new ' + fh),
              'flush at each of two closes, then one release', repr(ops))
        check(ops[-2:] == ['destroy data=ok', 'main returns 0'],
              'destroy at exit with init\'s private_data, then main() returns', repr(ops[-3:]))

        # no create: mknod + open
        r, L = go('--no-create', 'import sys; open(sys.argv[1] + "/n2", "w").write("x")')
        ops = [o for _, o in L]
        i = next((k for k, o in enumerate(ops) if o.startswith('mknod /n2 ')), -1)
        check(r.returncode == 0 and i >= 0 and ops[i] == 'mknod /n2 100644' and
              ops[i + 1].startswith('open /n2 '), 'without create: mknod, then open', repr(ops))

        # readdir with offsets: called again from the last offset taken
        script = '''
import os, sys
m = sys.argv[1]
for i in range(40):
    open('%s/f%02d' % (m, i), 'w').close()
print(len(os.listdir(m)))
'''
        r, L = go('--offsets', script)
        offs = [o for _, o in L if o.startswith('readdir ')]
        check(r.stdout == '41\n' and len(offs) >= 1 and offs[0] == 'readdir off=0',
              'readdir with offsets lists everything', r.stdout + repr(offs) + r.stderr)
        r, L = go('', script)
        offs = [o for _, o in L if o.startswith('readdir ')]
        check(r.stdout == '41\n' and offs == ['readdir off=0'],
              'readdir without offsets: one call, served by position', repr(offs))

        # fork: the child shares the instance (no init), releases its own;
        # exec: a new image starts the file system again
        r, L = go('', '''
import os, sys
m = sys.argv[1]
fd = os.open(m + '/hello', os.O_RDONLY)
pid = os.fork()
if pid == 0:
    os.read(fd, 3)
    os.close(fd)
    os._exit(0)
os.waitpid(pid, 0)
os.close(fd)
os.execv('/bin/cat', ['cat', m + '/hello'])
''')
        parent, child, by = by_process(L)
        check(r.stdout == 'hello\n' and len(child) == 1 and not by(child[0], 'init') and
              len(by(child[0], 'flush')) == 1 and len(by(child[0], 'release')) == 1,
              'forked child: no init, its close flushes and releases', repr(L))
        check(parent and len(by(parent, 'init')) == 2 and len(by(parent, 'destroy')) == 1 and
              len(by(parent, 'main argc')) == 2,
              'exec: the new image runs main() and init again; one destroy at the end',
              repr(L))

        # fork of a file system with a thread of its own (--worker: reads
        # are done by a thread its init starts): the child that uses the
        # mount starts the file system again (its own main() and init,
        # from the globals main() first had: hello only), opens the file
        # it inherited again through its instance, at the offset it shares
        # with its parent, and releases only that; the parent's handle
        # stays the parent's.  A copy without the thread waited for ever.
        r, L = go('--worker', '''
import os, sys
m = sys.argv[1]
fd = os.open(m + '/hello', os.O_RDONLY)
print(os.read(fd, 2).decode())
open(m + '/parents', 'w').write('p')
pid = os.fork()
if pid == 0:
    print(os.read(fd, 3).decode(), os.path.exists(m + '/parents'), flush=True)
    open(m + '/childs', 'w').write('c')
    print(open(m + '/childs').read(), flush=True)
    os.close(fd)
    os._exit(0)
st = os.waitpid(pid, 0)[1]
print(repr(os.read(fd, 9).decode()), os.path.exists(m + '/childs'), 'child status', st)
os.close(fd)
''')
        parent, child, by = by_process(L)
        check(r.returncode == 0 and r.stdout == "he\nllo False\nc\n'\\n' False child status 0\n",
              'a file system with a thread: the forked child reads on at the shared offset '
              'through an instance of its own (the files its parent made are not there), '
              'and exits cleanly (it freed its adopted file twice: SIGABRT)',
              'status %d\n%s%s' % (r.returncode, r.stdout, r.stderr))
        check(len(child) == 1 and len(by(child[0], 'main argc')) == 1 and
              len(by(child[0], 'init')) == 1 and by(child[0], 'worker read /hello'),
              "the forked child runs main() and init again, its reads done by its own thread",
              repr(L))
        opened = by(child[0], 'open /hello ') if child else []
        fh = opened[0].split()[2] if opened else '?'
        check(len(opened) == 1 and by(child[0], 'release /hello ') == ['release /hello ' + fh] and
              parent and len(by(parent, 'open /hello ')) == 1 and
              len(by(parent, 'release /hello ')) == 1,
              "the child opens its inherited file again and releases only that one",
              repr(L))

        # the child's start again finds the lock directory its parent
        # used (the program's environment no longer holds DEFUSE's
        # variables then): the parent's flock keeps the child out
        r, L = go('--worker', '''
import fcntl, os, sys
m = sys.argv[1]
held = os.open(m + '/hello', os.O_RDONLY)
fcntl.flock(held, fcntl.LOCK_EX)
pid = os.fork()
if pid == 0:
    own = os.open(m + '/hello', os.O_RDONLY)
    try:
        fcntl.flock(own, fcntl.LOCK_EX | fcntl.LOCK_NB)
        print('not locked out by the parent', flush=True)
    except BlockingIOError:
        print('locked out', flush=True)
    os._exit(0)
print('child status', os.waitpid(pid, 0)[1])
''')
        check(r.returncode == 0 and r.stdout == 'locked out\nchild status 0\n',
              'a forked child that starts the file system again meets its parent\'s flock',
              'status %d\n%s%s' % (r.returncode, r.stdout, r.stderr))

        # ... and when that start fails (its main() calls exit): one line,
        # the child's calls fail with EIO, nothing else of it ends; the
        # parent goes on with its own instance
        flag = os.path.join(tmp, 'exit-now')
        r, L = go('--worker --exit-if=' + flag, '''
import os, sys
m = sys.argv[1]
fd = os.open(m + '/hello', os.O_RDONLY)
print(os.read(fd, 2).decode())
open(sys.argv[2], 'w').close()
pid = os.fork()
if pid == 0:
    try:
        os.read(fd, 3)
    except OSError as e:
        print('child:', e.strerror, flush=True)
    try:
        open(m + '/hello').read()
    except OSError as e:
        print('child again:', e.strerror, flush=True)
    os._exit(0)
os.waitpid(pid, 0)
print(os.read(fd, 9).decode(), end='')
''', flag)
        ours = [l for l in r.stderr.splitlines() if l.startswith('defuse')]
        check(r.returncode == 0 and r.stdout == 'he\nchild: Input/output error\n'
              'child again: Input/output error\nllo\n' and len(ours) == 1 and
              'cannot start again in forked process' in ours[0] and
              'called exit(4) in its start-up' in ours[0],
              'a forked child whose start again fails: one line, EIO, the parent goes on',
              'status %d\n%s%s' % (r.returncode, r.stdout, r.stderr))

        # the file system's own thread is its own (module.h:
        # defuse_own_thread), as a daemon's: its stat of a path under the
        # mount point is the kernel's (the empty directory); it was routed
        # back into the file system, from the thread its caller waits for
        r, L = go('--worker-stat', 'import sys; print(open(sys.argv[1] + "/hello").read(), end="")')
        stats = [o for _, o in L if o.startswith('worker stat ')]
        check(r.returncode == 0 and r.stdout == 'hello\n' and
              stats and set(stats) == {'worker stat /hello: No such file or directory'},
              'the file system\'s thread: its calls are the kernel\'s, not the mount\'s',
              'status %d\n%s%s\n%r' % (r.returncode, r.stdout, r.stderr, stats))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        os.rmdir(mnt)


# ---------------------------------------------------------------------------
# bad input

def bad_input(a):
    mnt = tempfile.mkdtemp(prefix='defuse-fc-mnt-')
    # a program linked at fixed addresses (ET_EXEC: gocryptfs, static Go):
    # /bin/true with that type, all the module reads of it
    fixed = os.path.join(tempfile.mkdtemp(prefix='defuse-fc-'), 'fixed')
    shutil.copy('/bin/true', fixed)
    with open(fixed, 'r+b') as f:
        f.seek(16)
        f.write(b'\x02\x00')
    try:
        cases = [
            ('not a FUSE file system', 'fuse:' + a.not_fuse,
             'is not a FUSE file system (it links neither libfuse3.so.3 nor libfuse.so.2)'),
            ('not a shared object', 'fuse:/etc/hostname',
             'is not a FUSE file system (not a 64-bit ELF shared object)'),
            ('option parsing fails', 'fuse:%s:--no-such-option' % a.lifefs,
             "main() returned 3 without serving a file system"),
            ('main() exits', 'fuse:%s:--exit-in-main=3' % a.lifefs,
             'called exit(3) in its start-up, before it served a file system'),
            ('init fails', 'fuse:%s:--fail-init' % a.lifefs,
             'its init ended the file system (fuse_exit)'),
            ('init asks for too much', 'fuse:%s:--bad-caps' % a.lifefs,
             'its init asked for FUSE capabilities 0x80000000'),
            ('no such file system', 'fuse:no-such-fs',
             "no FUSE file system named 'no-such-fs'"),
            ('a quote left open', "fuse:%s:'open" % a.lifefs, 'a quote is not closed'),
            ('a program with thread-local storage', 'fuse:%s' % a.tls_program,
             'is a program with thread-local storage of its own'),
            ('a program at fixed addresses', 'fuse:' + fixed,
             'is a program linked at fixed addresses (not position-independent)'),
        ]
        for what, spec, msg in cases:
            r = run([a.defuse, 'run', '-m', mnt + '=' + spec, '--', 'echo', 'program ran'])
            ours = [l for l in r.stderr.splitlines() if l.startswith('defuse')]
            check(r.returncode == 127 and 'program ran' not in r.stdout and len(ours) == 1 and
                  msg in ours[0], 'bad input: %s: one line, status 127' % what,
                  'status %s\n%s' % (r.returncode, r.stderr))
        # the FUSE bridge links the real libfuse 3: the module says it cannot
        # serve there, and nothing is mounted
        if a.bridge:
            r = run([a.defuse, 'mount', mnt, 'fuse:' + a.lifefs])
            mounted = any(l.split()[4] == mnt for l in open('/proc/self/mountinfo'))
            if mounted:
                unmount(mnt)
            check(r.returncode != 0 and not mounted and
                  'already has libfuse 3 loaded' in r.stderr,
                  'bad input: the fuse module in the FUSE bridge (real libfuse) refuses',
                  'status %s\n%s' % (r.returncode, r.stderr))
        # nothing left running: no process of ours has the mount point in argv
        left = []
        for pid in os.listdir('/proc'):
            try:
                with open('/proc/%s/cmdline' % pid, 'rb') as f:
                    if mnt.encode() in f.read():
                        left.append(pid)
            except OSError:
                pass
        check(not left, 'bad input: nothing left running', repr(left))
    finally:
        os.rmdir(mnt)
        shutil.rmtree(os.path.dirname(fixed), ignore_errors=True)


# ---------------------------------------------------------------------------
# the stand-in's ABI

def exported(path):
    """{(name, version)} of the fuse_ and cuse_ functions path exports
    (objdump -T; a version in parentheses is a non-default one)."""
    r = run(['objdump', '-T', path])
    out = set()
    for line in r.stdout.splitlines():
        f = line.split()
        if len(f) >= 2 and f[-1].startswith(('fuse_', 'cuse_')) and 'UND' not in f:
            out.add((f[-1], f[-2]))
    return out


def symbols(a, real, package):
    """(ours, theirs): the stand-in's exports and the real library's, or SKIP."""
    if not shutil.which('objdump'):
        print('SKIP: objdump (binutils) is needed to read the symbol tables')
        return SKIP
    if not os.path.exists(real):
        print('SKIP: no real library to compare with at %s (apt-get install %s)' %
              (real, package))
        return SKIP
    return exported(a.standin), exported(real)


def check_soname(a, soname):
    r = run(['readelf', '-d', a.standin])
    check('Library soname: [%s]' % soname in r.stdout and 'libfuse' not in
          ''.join(l for l in r.stdout.splitlines(True) if 'NEEDED' in l),
          'soname %s, and no libfuse among its dependencies' % soname, r.stdout)


def abi(a):
    got = symbols(a, a.real or '/lib/x86_64-linux-gnu/libfuse3.so.3', 'libfuse3-3')
    if got == SKIP:
        return SKIP
    ours, theirs = got
    check(len(theirs) > 100 and ours == theirs,
          'the stand-in exports every libfuse 3 symbol with its version, and no other',
          'missing: %s\nextra: %s' % (sorted(theirs - ours), sorted(ours - theirs)))
    check_soname(a, 'libfuse3.so.3')
    return None


def abi2(a):
    got = symbols(a, a.real or '/lib/x86_64-linux-gnu/libfuse.so.2', 'libfuse2')
    if got == SKIP:
        return SKIP
    ours, theirs = got
    check(len(ours) >= 40 and ours <= theirs,
          'the libfuse 2 stand-in exports libfuse 2 functions only, each with its version',
          'not in libfuse 2: %s' % sorted(ours - theirs))
    # what 2.x programs of the high-level API import (bindfs, fuse2fs,
    # fuse-zip, archivemount and more)
    hl = {('fuse_main_real', 'FUSE_2.6'), ('fuse_new', 'FUSE_2.6'), ('fuse_mount', 'FUSE_2.6'),
          ('fuse_unmount', 'FUSE_2.6'), ('fuse_setup', 'FUSE_2.6'),
          ('fuse_teardown', 'FUSE_2.6'), ('fuse_loop', 'FUSE_2.2'),
          ('fuse_loop_mt', 'FUSE_2.2'), ('fuse_get_context', 'FUSE_2.8'),
          ('fuse_parse_cmdline', 'FUSE_2.5'), ('fuse_opt_parse', 'FUSE_2.5'),
          ('fuse_daemonize', 'FUSE_2.6'), ('fuse_get_session', 'FUSE_2.6'),
          ('fuse_set_signal_handlers', 'FUSE_2.5'), ('fuse_exit', 'FUSE_2.2'),
          ('fuse_destroy', 'FUSE_2.2'), ('fuse_version', 'FUSE_2.7'),
          ('fuse_chan_fd', 'FUSE_2.4')}
    check(hl <= ours, 'the high-level API libfuse 2 programs use is there',
          'missing: %s' % sorted(hl - ours))
    # what 2.x programs of the low-level API import (httpfs2, vmfs-fuse), and
    # the older high-level tables (fuseiso: 22; afuse, convmvfs: 25)
    ll = {('fuse_lowlevel_new', 'FUSE_2.6'), ('fuse_session_add_chan', 'FUSE_2.4'),
          ('fuse_session_remove_chan', 'FUSE_2.6'), ('fuse_session_loop', 'FUSE_2.4'),
          ('fuse_session_destroy', 'FUSE_2.4'), ('fuse_reply_open', 'FUSE_2.5'),
          ('fuse_reply_create', 'FUSE_2.5'), ('fuse_reply_entry', 'FUSE_2.4'),
          ('fuse_reply_attr', 'FUSE_2.4'), ('fuse_reply_buf', 'FUSE_2.4'),
          ('fuse_reply_err', 'FUSE_2.4'), ('fuse_reply_statfs', 'FUSE_2.5'),
          ('fuse_add_direntry', 'FUSE_2.6'), ('fuse_req_userdata', 'FUSE_2.4'),
          ('fuse_main_real_compat22', 'FUSE_2.5'), ('fuse_main_real_compat25', 'FUSE_2.6')}
    check(ll <= ours, 'the low-level API and the older tables libfuse 2 programs use are there',
          'missing: %s' % sorted(ll - ours))
    print('not served (fuse_fs_*, channels, notifications, CUSE, older versions): %d of %d' %
          (len(theirs - ours), len(theirs)))
    check_soname(a, 'libfuse.so.2')
    return None


# ---------------------------------------------------------------------------
# libfuse 2 file systems

def script_as_native(a, name, what, fs, args_fmt, tmp, mnt, script):
    """script in a directory natively and on fs serving a twin directory."""
    results = []
    for where in ('native', 'fuse'):
        d = tempfile.mkdtemp(prefix=name + '-' + where + '-', dir=tmp)
        if where == 'native':
            argv = ['sh', '-c', 'cd "$1" && sh -c "$2"', 'sh', d, script]
        else:
            argv = [a.defuse, 'run', '-m', '%s=fuse:%s:%s' % (mnt, fs, args_fmt % d), '--',
                    'sh', '-c', 'cd "$1" && sh -c "$2"', 'sh', mnt, script]
        r = run(argv)
        results.append((r.returncode, r.stdout, sorted(os.listdir(d)), r.stderr))
    n, f = results
    check(n[:3] == f[:3], '%s: %s as native' % (name, what),
          'native: %r\nfuse:   %r\n%s' % (n[:3], f[:3], f[3]))


# more entries than one readdir call takes: the listing goes on from the
# offsets the file system gave (pt2), or from the kept listing (pt2-old)
LONG_DIR_SCRIPT = r'''
mkdir many; i=0; while [ $i -lt 600 ]; do : > many/file-with-a-long-name-$i; i=$((i+1)); done
ls many | wc -l; ls many | sort | md5sum; find many -type f | wc -l
rm many/*; rmdir many
'''


def fuse2(a):
    mnt = tempfile.mkdtemp(prefix='defuse-fc-mnt-')
    tmp = tempfile.mkdtemp(prefix='defuse-fc-')
    try:
        for name, fs in (('pt2', a.fs), ('pt2-old', a.fs_old)):
            script_as_native(a, name, 'file operations', fs, "-o root=%s", tmp, mnt,
                             FILE_SCRIPT)
            script_as_native(a, name, 'a long directory', fs, "-o root=%s", tmp, mnt,
                             LONG_DIR_SCRIPT)
        # libfuse 2's options that libfuse 3 dropped (refused as unknown before)
        script_as_native(a, 'pt2', 'file operations with -o large_read,nopath,big_writes', a.fs,
                         "-o root=%s -o large_read,nopath,big_writes", tmp, mnt, FILE_SCRIPT)
        # bad input: one line of ours, status 127, as for libfuse 3
        for what, spec, msg in (
                ('an unknown option', '%s:-o root=/ -o no_such_option' % a.fs,
                 'main() returned 1 without serving a file system'),
                ('its own check fails', a.fs_old,
                 'main() returned 1 without serving a file system')):
            r = run([a.defuse, 'run', '-m', mnt + '=fuse:' + spec, '--', 'echo', 'program ran'])
            ours = [l for l in r.stderr.splitlines() if l.startswith('defuse')]
            check(r.returncode == 127 and 'program ran' not in r.stdout and len(ours) == 1 and
                  msg in ours[0], 'bad input (libfuse 2): %s: one line, status 127' % what,
                  'status %s\n%s' % (r.returncode, r.stderr))
        # libfuse 2's own options: -h prints and refuses, -V too
        r = run([a.defuse, 'run', '-m', mnt + '=fuse:%s:-o root=/ -h' % a.fs, '--', 'true'])
        check(r.returncode == 127 and 'usage:' in r.stdout + r.stderr,
              'pt2 -h: libfuse\'s help, and the mount refused', r.stdout + r.stderr)
        if a.fs_ll:
            fuse2_ll(a, mnt)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        os.rmdir(mnt)


# ll2fs (libfuse 2's low level): every call with a handle checks its 64-bit
# tag, which a handle given back in the wrong layout would lose
LL2_SCRIPT = r'''
import ctypes, errno, os, sys
m = sys.argv[1]
fd = os.open(m + '/a', os.O_CREAT | os.O_WRONLY, 0o640)
os.write(fd, b'hello world')
os.close(fd)
print(open(m + '/a').read())
with open(m + '/a', 'r+b') as f:
    f.seek(6)
    f.write(b'there')
    f.flush()
    os.ftruncate(f.fileno(), 9)
print(open(m + '/a', 'rb').read(), os.stat(m + '/a').st_size)
with open(m + '/a', 'w') as f:
    f.write('new')
print(open(m + '/a').read())
os.rename(m + '/a', m + '/b')
os.chmod(m + '/b', 0o600)
print(sorted(os.listdir(m)), oct(os.stat(m + '/b').st_mode))
libc = ctypes.CDLL(None, use_errno=True)
r = libc.syscall(316, -100, (m + '/b').encode(), -100, (m + '/c').encode(), 1)
print('renameat2 NOREPLACE:', r, errno.errorcode.get(ctypes.get_errno()))
try:
    open(m + '/nope')
except FileNotFoundError:
    print('ENOENT')
import fcntl, struct
with open(m + '/b') as f:
    size = fcntl.ioctl(f, 0x80084c01, bytes(8))                     # _IOR('L', 1, u64)
    buf = bytearray(struct.pack('Q', 0x0f0f))
    r = fcntl.ioctl(f, 0xc0084c02, buf, True)                       # _IOWR('L', 2, u64)
    print('ioctl:', struct.unpack('Q', size)[0], r, hex(struct.unpack('Q', buf)[0]))
    try:
        fcntl.ioctl(f, 0x80084c03, bytes(8))
    except OSError as e:
        print('ioctl:', errno.errorcode[e.errno])
os.unlink(m + '/b')
print(os.listdir(m), os.statvfs(m).f_namemax)
'''
LL2_WANT = ("hello world\nb'hello the' 9\nnew\n['b'] 0o100600\n"
            "renameat2 NOREPLACE: -1 EINVAL\nENOENT\n"
            "ioctl: 3 7 0xfffffffffffff0f0\nioctl: ENOTTY\n[] 63\n")


def fuse2_ll(a, mnt):
    py = '/usr/bin/python3' if os.path.exists('/usr/bin/python3') else sys.executable
    # and with options of libfuse 2's low level and mount that libfuse 3
    # took elsewhere or dropped (refused as unknown before)
    for opts in ('', ':-o large_read,big_writes,max_write=65536,max_readahead=65536,'
                 'async_read,no_remote_lock,atomic_o_trunc,max_background=8'):
        r = run([a.defuse, 'run', '-m', '%s=fuse:%s%s' % (mnt, a.fs_ll, opts), '--', py, '-c',
                 LL2_SCRIPT, mnt])
        check(r.returncode == 0 and r.stdout == LL2_WANT,
              'll2fs (libfuse 2\'s low level): files by handle, rename, chmod, statfs, ioctl%s' %
              (', with 2.x options' if opts else ''),
              'status %s\n%s%s' % (r.returncode, r.stdout, r.stderr))


def installed2(a, prog):
    paths = {'fuse2fs': '/usr/bin/fuse2fs', 'fuse-zip': '/usr/bin/fuse-zip',
             'bindfs': '/usr/bin/bindfs', 'exfat-fuse': '/usr/sbin/mount.exfat-fuse',
             'squashfuse_ll': '/usr/bin/squashfuse_ll'}
    path = shutil.which(prog) or paths.get(prog)
    if not path or not os.path.exists(path):
        print('SKIP: %s is not installed (apt-get install %s)' % (prog, prog))
        return SKIP
    mnt = tempfile.mkdtemp(prefix='defuse-fc-mnt-')
    tmp = tempfile.mkdtemp(prefix='defuse-fc-')
    py = '/usr/bin/python3' if os.path.exists('/usr/bin/python3') else sys.executable
    try:
        if prog == 'fuse2fs':
            if not shutil.which('mke2fs') or not shutil.which('e2fsck'):
                print('SKIP: mke2fs and e2fsck are needed (apt-get install e2fsprogs)')
                return SKIP
            img = os.path.join(tmp, 'ext4.img')
            with open(img, 'wb') as f:
                f.truncate(64 << 20)
            r = run(['mke2fs', '-q', '-t', 'ext4', '-F', img])
            check(r.returncode == 0, 'mke2fs -t ext4', r.stderr)
            # written by one process (one instance: the image is a file); a
            # file written after its unlink (stress-ng's hdd) leaves no block,
            # a name of 256 bytes is ENAMETOOLONG (fuse2fs itself stores it so
            # that e2fsck finds an empty name), a directory is not moved into
            # itself (EINVAL; fuse2fs itself loses it), another user's write
            # takes the set-ID bits (the kernel sends FUSE the mode for it;
            # fuse2fs kept them), also bits set after the writer's first
            # write through its open file
            write = ('import os, sys\n'
                     'm = sys.argv[1]\n'
                     'os.makedirs(m + "/d/e")\n'
                     'open(m + "/d/e/f", "w").write("ext4 " * 20000)\n'
                     'open(m + "/small", "w").write("small\\n")\n'
                     'os.symlink("small", m + "/link")\n'
                     'os.rename(m + "/small", m + "/small2")\n'
                     'os.truncate(m + "/d/e/f", 50000)\n'
                     'fd = os.open(m + "/gone", os.O_CREAT | os.O_RDWR, 0o600)\n'
                     'os.unlink(m + "/gone")\n'
                     'os.write(fd, b"x" * 300000)\n'
                     'assert os.fstat(fd).st_nlink == 0\n'
                     'os.close(fd)\n'
                     'e = None\n'
                     'try: os.mkdir(m + "/" + "n" * 256)\n'
                     'except OSError as x: e = x.errno\n'
                     'assert e == 36, e\n'
                     'os.makedirs(m + "/p/q")\n'
                     'e = None\n'
                     'try: os.rename(m + "/p", m + "/p/q/r")\n'
                     'except OSError as x: e = x.errno\n'
                     'assert e == 22, e\n'
                     'os.rmdir(m + "/p/q")\n'
                     'os.rmdir(m + "/p")\n'
                     'os.mkdir(m + "/s")\n'
                     'os.chmod(m + "/s", 0o777)\n'
                     'open(m + "/s/x", "w").close()\n'
                     'os.chmod(m + "/s/x", 0o6777)\n'
                     'pid = os.fork()\n'
                     'if pid == 0:\n'
                     '    os.setgid(65534)\n'
                     '    os.setuid(65534)\n'
                     '    os._exit(os.write(os.open(m + "/s/x", os.O_WRONLY), b"y") != 1)\n'
                     'assert os.waitpid(pid, 0)[1] == 0\n'
                     'mode = os.stat(m + "/s/x").st_mode & 0o7777\n'
                     'assert mode == 0o777, oct(mode)\n'
                     'open(m + "/s/y", "w").close()\n'
                     'os.chmod(m + "/s/y", 0o666)\n'
                     'def be(u): os.setresgid(-1, u, -1) if u else os.setresuid(-1, 0, -1); '
                     'os.setresuid(-1, u, -1) if u else os.setresgid(-1, 0, -1)\n'
                     'be(65534)\n'
                     'fd = os.open(m + "/s/y", os.O_WRONLY)\n'
                     'os.write(fd, b"x")\n'
                     'be(0)\n'
                     'os.chmod(m + "/s/y", 0o6777)\n'
                     'be(65534)\n'
                     'os.write(fd, b"y")\n'
                     'be(0)\n'
                     'os.close(fd)\n'
                     'mode = os.stat(m + "/s/y").st_mode & 0o7777\n'
                     'assert mode == 0o777, "set while open: " + oct(mode)\n'
                     'os.unlink(m + "/s/y")\n'
                     'os.unlink(m + "/s/x")\n'
                     'os.rmdir(m + "/s")\n'
                     'print(sorted(os.listdir(m)), os.stat(m + "/d/e/f").st_size)\n')
            r = run([a.defuse, 'run', '-m', '%s=fuse:%s:%s' % (mnt, path, img), '--',
                     py, '-c', write, mnt])
            check(r.returncode == 0 and
                  "['d', 'link', 'lost+found', 'small2'] 50000" in r.stdout,
                  'fuse2fs: written by one process', r.stdout + r.stderr)
            r = run(['e2fsck', '-fn', img])
            check(r.returncode == 0, 'fuse2fs: e2fsck -fn passes after the writes',
                  r.stdout + r.stderr)
            # read by several processes (each its own read-only instance)
            r = run([a.defuse, 'run', '-m', '%s=fuse:%s:%s -o ro' % (mnt, path, img), '--',
                     'sh', '-c', 'cd "$1" && find . | sort && cat small2 && readlink link && '
                     'head -c 10 d/e/f && echo && wc -c < d/e/f && '
                     '(echo x > new) 2>/dev/null || echo refused', 'sh', mnt])
            out = r.stdout.replace('Mounting read-only.\n', '')
            check(r.returncode == 0 and out ==
                  '.\n./d\n./d/e\n./d/e/f\n./link\n./lost+found\n./small2\n'
                  'small\nsmall\next4 ext4 \n50000\nrefused\n',
                  'fuse2fs: read by several processes (-o ro)', r.stdout + r.stderr)
            r = run(['e2fsck', '-fn', img])
            check(r.returncode == 0, 'fuse2fs: e2fsck -fn passes after the reads',
                  r.stdout + r.stderr)
        elif prog == 'fuse-zip':
            import zipfile
            src = os.path.join(tmp, 'src')
            os.makedirs(os.path.join(src, 'sub', 'deeper'))
            files = {'a.txt': b'one\n', 'sub/b.bin': os.urandom(300000),
                     'sub/deeper/c': b'three' * 1000}
            for n, data in files.items():
                with open(os.path.join(src, n), 'wb') as f:
                    f.write(data)
            arc = os.path.join(tmp, 'a.zip')
            with zipfile.ZipFile(arc, 'w', zipfile.ZIP_DEFLATED) as z:
                for n in sorted(files):
                    z.write(os.path.join(src, n), n)
            r = run([a.defuse, 'run', '-m', '%s=fuse:%s:-r %s' % (mnt, path, arc), '--',
                     'sh', '-c', 'cd "$1" && find . -type f | sort && '
                     'for f in $(find . -type f | sort); do cmp "$f" "$2/$f" && echo same; done',
                     'sh', mnt, src])
            want = ''.join('./%s\n' % n for n in sorted(files)) + 'same\n' * len(files)
            check(r.returncode == 0 and r.stdout == want,
                  'fuse-zip: the listing and contents of the archive', r.stdout + r.stderr)
            # Read-write, written by a shell and the processes it starts: one
            # instance for the tree (an archive named read-write), so the
            # archive holds every process's file, and the old ones
            r = run([a.defuse, 'run', '-m', '%s=fuse:%s:%s' % (mnt, path, arc), '--',
                     'sh', '-c', 'cd "$1" && echo one > new1 && (echo two > new2) && '
                     'sh -c "echo three > new3" && cat new1 new2 new3', 'sh', mnt])
            with zipfile.ZipFile(arc) as z:
                names = sorted(z.namelist())
                same = z.read('sub/b.bin') == files['sub/b.bin']
            check(r.returncode == 0 and r.stdout == 'one\ntwo\nthree\n' and same and
                  names == sorted(list(files) + ['new1', 'new2', 'new3']),
                  'fuse-zip: written by three processes, each one\'s file in the archive',
                  r.stdout + r.stderr + ' '.join(names))
        elif prog == 'bindfs':
            # it moves into its source and names files relative to it: served
            # from its own working directory, the program's staying its own
            src = os.path.join(tmp, 'src')
            os.mkdir(src)
            with open(os.path.join(src, 'a'), 'w') as f:
                f.write('from the source\n')
            r = run([a.defuse, 'run', '-m', '%s=fuse:%s:%s' % (mnt, path, src), '--',
                     'sh', '-c', 'cd "$1" && cat a && echo b > b && mkdir d && ls && pwd && '
                     'rm -r d b', 'sh', mnt], cwd=tmp)
            check(r.returncode == 0 and r.stdout == 'from the source\na\nb\nd\n%s\n' % mnt
                  and sorted(os.listdir(src)) == ['a'],
                  'bindfs: its source, from a program in another directory', r.stdout + r.stderr)
            # two instances in one process, each its own (each had been the
            # first: one bindfs for both, which freed its strings twice at exit)
            src2, mnt2 = os.path.join(tmp, 'src2'), os.path.join(tmp, 'mnt2')
            os.mkdir(src2)
            os.mkdir(mnt2)
            with open(os.path.join(src2, 'c'), 'w') as f:
                f.write('from the second\n')
            r = run([a.defuse, 'run', '-m', '%s=fuse:%s:%s' % (mnt, path, src),
                     '-m', '%s=fuse:%s:%s' % (mnt2, path, src2), '--',
                     'sh', '-c', 'ls "$1" && ls "$2" && cat "$1/a" "$2/c"', 'sh', mnt, mnt2],
                    cwd=tmp)
            check(r.returncode == 0 and r.stdout == 'a\nc\nfrom the source\nfrom the second\n',
                  'bindfs: two mounts in one process, each its own source, a clean exit',
                  r.stdout + r.stderr)
        elif prog == 'archivemount':
            # a libfuse 2 program that sets FD_CLOEXEC on fuse_chan_fd's
            # descriptor without looking whether it got one (it warned, on
            # stderr, at every start); each process reads its own instance,
            # and writes go to the archive at the end of the one instance
            # of shared:
            src = os.path.join(tmp, 'src')
            os.makedirs(os.path.join(src, 'sub'))
            with open(os.path.join(src, 'n'), 'w') as f:
                f.write(''.join('%d\n' % i for i in range(5000)))
            with open(os.path.join(src, 'sub', 'h'), 'w') as f:
                f.write('hi\n')
            arc = os.path.join(tmp, 't.tgz')
            r = run(['tar', '-C', src, '-czf', arc, 'n', 'sub'])
            check(r.returncode == 0, 'tar -czf', r.stderr)
            r = run([a.defuse, 'run', '-m', '%s=fuse:%s:%s' % (mnt, path, arc), '--',
                     'sh', '-c', 'cd "$1" && ls && cmp n "$2/n" && cat sub/h', 'sh', mnt, src])
            check(r.returncode == 0 and r.stdout == 'n\nsub\nhi\n' and r.stderr == '',
                  'archivemount: read by several processes, nothing on stderr',
                  r.stdout + r.stderr)
            r = run([a.defuse, 'run', '-m', '%s=shared:fuse:%s:%s' % (mnt, path, arc), '--',
                     'sh', '-c', 'cd "$1" && echo new > new && mkdir d && rm sub/h', 'sh', mnt])
            listing = run(['tar', '-tzf', arc])
            names = sorted(n.rstrip('/').lstrip('./') for n in listing.stdout.split())
            check(r.returncode == 0 and names == ['d', 'n', 'new', 'sub'],
                  'archivemount (shared:): the changes of several processes in the archive',
                  r.stdout + r.stderr + listing.stdout + listing.stderr)
        elif prog in ('squashfuse', 'squashfuse_ll'):
            # a libfuse 3 program of Debian's, read-only (squashfuse_ll: on
            # libfuse 3's low level)
            if not shutil.which('mksquashfs'):
                print('SKIP: mksquashfs is needed (apt-get install squashfs-tools)')
                return SKIP
            src = os.path.join(tmp, 'src')
            os.makedirs(os.path.join(src, 'sub'))
            with open(os.path.join(src, 'big'), 'wb') as f:
                f.write(os.urandom(1 << 20))
            with open(os.path.join(src, 'sub', 'small'), 'w') as f:
                f.write('small\n')
            os.symlink('sub/small', os.path.join(src, 'link'))
            img = os.path.join(tmp, 'img.sqfs')
            r = run(['mksquashfs', src, img, '-quiet', '-noappend'])
            check(r.returncode == 0, 'mksquashfs', r.stdout + r.stderr)
            r = run([a.defuse, 'run', '-m', '%s=fuse:%s:%s' % (mnt, path, img), '--',
                     'sh', '-c', 'cd "$1" && find . | sort && cmp big "$2/big" && cat link && '
                     'readlink link && (echo x > new) 2>/dev/null || echo refused',
                     'sh', mnt, src])
            check(r.returncode == 0 and r.stdout ==
                  '.\n./big\n./link\n./sub\n./sub/small\nsmall\nsub/small\nrefused\n' and
                  r.stderr == '', '%s: listing, contents, a link, a refused write' % prog,
                  r.stdout + r.stderr)
        elif prog == 'fuse-overlayfs':
            # a libfuse 3 program that asks init for the splice
            # capabilities (refused before: 0x380 not offered in process)
            lower, upper, work = (os.path.join(tmp, n) for n in ('lower', 'upper', 'work'))
            for d in (lower, upper, work, os.path.join(lower, 'd')):
                os.makedirs(d)
            for n, data in (('a', 'low a\n'), ('b', 'low b\n'), ('d/x', 'x\n')):
                with open(os.path.join(lower, n), 'w') as f:
                    f.write(data)
            # modes its copy up must keep, whatever the program's umask
            os.chmod(os.path.join(lower, 'a'), 0o666)
            os.chmod(os.path.join(lower, 'd'), 0o777)
            r = run([a.defuse, 'run', '-m', '%s=fuse:%s:-o lowerdir=%s,upperdir=%s,workdir=%s' %
                     (mnt, path, lower, upper, work), '--',
                     'sh', '-c', 'cd "$1" && echo more >> a && rm b && mkdir e && '
                     'echo y > e/y && mv d/x e/ && ls && ls d e && cat a e/x', 'sh', mnt])
            out = r.stdout
            check(r.returncode == 0 and out == 'a\nd\ne\nd:\n\ne:\nx\ny\nlow a\nmore\nx\n',
                  'fuse-overlayfs: copy up, a whiteout, a new directory, a rename across',
                  r.stdout + r.stderr)
            check(sorted(os.listdir(lower)) == ['a', 'b', 'd'] and
                  os.listdir(os.path.join(lower, 'd')) == ['x'] and
                  open(os.path.join(upper, 'a')).read() == 'low a\nmore\n' and
                  sorted(os.listdir(os.path.join(upper, 'e'))) and
                  open(os.path.join(upper, 'e', 'x')).read() == 'x\n',
                  'fuse-overlayfs: the lower layer untouched, the changes in the upper one',
                  repr((os.listdir(lower), os.listdir(upper))))
            modes = [oct(os.stat(os.path.join(upper, n)).st_mode & 0o7777) for n in ('a', 'd')]
            check(modes == ['0o666', '0o777'],
                  'fuse-overlayfs: copied up with the lower files\' modes (its umask 0, '
                  'not the program\'s)', repr(modes))
        elif prog == 'unionfs':
            # unionfs-fuse (libfuse 2): copy on write over a read-only branch;
            # every process its own instance, the state on disk
            rw, ro = os.path.join(tmp, 'rw'), os.path.join(tmp, 'ro')
            os.mkdir(rw)
            os.mkdir(ro)
            for n in ('a', 'b'):
                with open(os.path.join(ro, n), 'w') as f:
                    f.write('ro %s\n' % n)
            r = run([a.defuse, 'run', '-m', '%s=fuse:%s:-o cow %s=RW:%s=RO' % (mnt, path, rw, ro),
                     '--', 'sh', '-c', 'cd "$1" && echo more >> a && rm b && mkdir d && '
                     'echo c > d/c && ls && cat a', 'sh', mnt])
            check(r.returncode == 0 and r.stdout == 'a\nd\nro a\nmore\n' and r.stderr == '',
                  'unionfs: copy on write, a removal hidden, a new directory',
                  r.stdout + r.stderr)
            meta = os.path.join(rw, '.unionfs-fuse')
            check(os.path.isdir(meta) and os.stat(meta).st_mode & 0o7777 == 0o770,
                  'unionfs: its own directory made under its own umask (0770)',
                  oct(os.stat(meta).st_mode) if os.path.exists(meta) else 'missing')
            check(sorted(os.listdir(ro)) == ['a', 'b'] and
                  open(os.path.join(ro, 'a')).read() == 'ro a\n' and
                  open(os.path.join(rw, 'a')).read() == 'ro a\nmore\n' and
                  open(os.path.join(rw, 'd', 'c')).read() == 'c\n',
                  'unionfs: the read-only branch untouched, the changes in the other',
                  repr((os.listdir(ro), os.listdir(rw))))
        elif prog == 'encfs':
            # a C++ program that parses its options with getopt_long: under
            # its mount every program's own parse failed ("Try 'ls --help'":
            # encfs left libc's optind past the arguments)
            raw = os.path.join(tmp, 'raw')
            os.mkdir(raw)
            r = run([a.defuse, 'run', '-m', "%s=fuse:%s:--standard --extpass='echo pw' %s" %
                     (mnt, path, raw), '--', 'sh', '-c',
                     'cd "$1" && echo secret text > a && mkdir -p d/e && ls -l -d d | cut -c1 '
                     '&& timeout 60 cat a && env -u NOTHING ls -a && ls -R -1 d', 'sh', mnt])
            check(r.returncode == 0 and
                  r.stdout.endswith('d\nsecret text\n.\n..\na\nd\nd:\ne\n\nd/e:\n'),
                  'encfs: programs with options of their own under its mount',
                  r.stdout + r.stderr)
            names = sorted(os.listdir(raw))
            data = b''.join(open(os.path.join(raw, n), 'rb').read() for n in names
                            if os.path.isfile(os.path.join(raw, n)))
            check('.encfs6.xml' in names and len(names) == 3 and 'a' not in names and
                  b'secret' not in data, 'encfs: names and contents encrypted in its source',
                  repr(names))
            # its setlocale(LC_ALL, "") stays its own: a program's main()
            # begins in the "C" locale (python3 sets LC_CTYPE only)
            query = 'import locale; print(locale.setlocale(locale.LC_NUMERIC))'
            native = run([py, '-c', query], env=dict(os.environ, LC_ALL='C.UTF-8'))
            r = run([a.defuse, 'run', '-m', "%s=fuse:%s:--standard --extpass='echo pw' %s" %
                     (mnt, path, raw), '--', py, '-c', query],
                    env=dict(os.environ, LC_ALL='C.UTF-8'))
            check(r.returncode == 0 and r.stdout == native.stdout == 'C\n',
                  'encfs: the program\'s locale as natively', repr((native.stdout, r.stdout,
                                                                   r.stderr)))
        elif prog == 'exfat-fuse':
            # getopt with the program's own copies of optind and optarg (copy
            # relocations): its -o was not seen; and `timeout` ('+' options)
            # took -l for its own under the mount
            if not shutil.which('mkfs.exfat'):
                print('SKIP: mkfs.exfat is needed (apt-get install exfatprogs)')
                return SKIP
            img = os.path.join(tmp, 'exfat.img')
            with open(img, 'wb') as f:
                f.truncate(32 << 20)
            r = run(['mkfs.exfat', img])
            check(r.returncode == 0, 'mkfs.exfat', r.stdout + r.stderr)
            r = run([a.defuse, 'run', '-m', '%s=shared:fuse:%s:%s' % (mnt, path, img), '--',
                     'sh', '-c', 'cd "$1" && mkdir d && echo hi > d/f && timeout 60 ls -l -d d '
                     '| cut -c1 && cat d/f', 'sh', mnt])
            check(r.returncode == 0 and r.stdout == 'd\nhi\n',
                  'exfat-fuse (shared:): written by several processes', r.stdout + r.stderr)
            r = run([a.defuse, 'run', '-m', '%s=fuse:%s:-o ro %s' % (mnt, path, img), '--',
                     'sh', '-c', 'cd "$1" && ls && timeout 60 ls -l -d d | cut -c1 && cat d/f '
                     '&& (echo x > g) 2>/dev/null || echo refused', 'sh', mnt])
            check(r.returncode == 0 and r.stdout == 'd\nd\nhi\nrefused\n',
                  'exfat-fuse -o ro: its own option seen, and timeout\'s own',
                  r.stdout + r.stderr)
        elif prog in ('fuseiso', 'fuseiso9660'):
            # fuseiso: libfuse 2's FUSE_USE_VERSION 22 table; fuseiso9660 (C++)
            # aborted at every exit (it puts pointers of its own in argv);
            # both print their start-up on standard output, which must not
            # reach the program's
            mkiso = shutil.which('genisoimage') or shutil.which('xorrisofs')
            if not mkiso:
                print('SKIP: genisoimage is needed (apt-get install genisoimage)')
                return SKIP
            src = os.path.join(tmp, 'src')
            os.makedirs(os.path.join(src, 'sub'))
            with open(os.path.join(src, 'sub', 'big'), 'wb') as f:
                f.write(os.urandom(700000))
            with open(os.path.join(src, 'a.txt'), 'w') as f:
                f.write('one\n')
            img = os.path.join(tmp, 'img.iso')
            r = run([mkiso, '-quiet', '-R', '-J', '-o', img, src])
            check(r.returncode == 0, os.path.basename(mkiso), r.stdout + r.stderr)
            args = '-n %s' % img if prog == 'fuseiso' else img
            out = os.path.join(tmp, 'listing')
            r = run([a.defuse, 'run', '-m', '%s=fuse:%s:%s' % (mnt, path, args), '--',
                     'sh', '-c', 'cd "$1" && ls -R > "$3" && cmp sub/big "$2/sub/big" && '
                     'cat a.txt', 'sh', mnt, src, out])
            listing = open(out).read() if os.path.exists(out) else ''
            check(r.returncode == 0 and r.stdout == 'one\n' and
                  listing == '.:\na.txt\nsub\n\n./sub:\nbig\n',
                  '%s: listing and contents; its start-up output not in the program\'s' %
                  prog, 'status %s\n%r\n%s%s' % (r.returncode, listing, r.stdout, r.stderr))
        elif prog == 'disorderfs':
            # a C++ program whose std::cout libstdc++ builds in the program's
            # own copy (it crashed at load when the copy was taken again)
            src = os.path.join(tmp, 'src')
            os.mkdir(src)
            for n in 'abcdef':
                open(os.path.join(src, n), 'w').close()
            native = run(['ls', '-f', src]).stdout.split()
            r = run([a.defuse, 'run', '-m', '%s=fuse:%s:--reverse-dirents=yes %s' %
                     (mnt, path, src), '--', 'sh', '-c', 'ls -f "$1" > "$2"; echo x > "$1/g"',
                     'sh', mnt, os.path.join(tmp, 'listing')])
            listing, g = (os.path.join(tmp, 'listing'), os.path.join(src, 'g'))
            listing = open(listing).read().split() if os.path.exists(listing) else None
            check(r.returncode == 0 and listing == native[::-1] and os.path.exists(g) and
                  open(g).read() == 'x\n',
                  'disorderfs: its directory entries reversed, a write through',
                  'status %s\nnative %r\nlisting %r\n%s' % (r.returncode, native, listing,
                                                           r.stderr))
            # a second copy in the same process: libstdc++, loaded with the
            # first, builds std::cout in the first's copy, whence the second
            # takes its own (it crashed: its copy stayed empty); and a C++
            # program (apt-cache) writing into the mount
            mnt2 = os.path.join(tmp, 'mnt2')
            os.mkdir(mnt2)
            r = run([a.defuse, 'run', '-m', '%s=fuse:%s:--reverse-dirents=yes %s' %
                     (mnt, path, src), '-m', '%s=fuse:%s:--reverse-dirents=no %s' %
                     (mnt2, path, src), '--', 'sh', '-c', 'ls -f "$1" > "$3/l1"; '
                     'ls -f "$2" > "$3/l2"; apt-cache show apt > "$1/apt" && test -s "$2/apt" '
                     '&& echo ok', 'sh', mnt, mnt2, tmp])
            l1, l2 = (open(os.path.join(tmp, n)).read().split()
                      if os.path.exists(os.path.join(tmp, n)) else None for n in ('l1', 'l2'))
            check(r.returncode == 0 and r.stdout == 'ok\n' and l1 == l2[::-1] and
                  sorted(l1) == sorted(native + ['g']),
                  'disorderfs: two copies in one process, and a C++ program writing',
                  'status %s\n%r %r\n%s%s' % (r.returncode, l1, l2, r.stdout, r.stderr))
        elif prog == 'loggedfs':
            # a C++ program with static objects built by its constructors (it
            # crashed at load) and used after fuse_main returns (every exit
            # waited for ever on its destroyed logger's lock)
            d = os.path.join(tmp, 'd')
            os.mkdir(d)
            with open(os.path.join(d, 'q'), 'w') as f:
                f.write('q\n')
            log = os.path.join(tmp, 'log')
            r = run([a.defuse, 'run', '-m', '%s=fuse:%s:-f -l %s' % (d, path, log), '--',
                     'sh', '-c', 'cat "$1/q"; echo y > "$1/y"; cat "$1/y"; ls "$1"', 'sh', d])
            text = open(log).read() if os.path.exists(log) else ''
            check(r.returncode == 0 and r.stdout == 'q\ny\nq\ny\n' and
                  text.count('LoggedFS closing') >= 3 and 'write 2 bytes to ' + d in text,
                  'loggedfs: served and logged, each process ends cleanly',
                  'status %s\n%s%s\n%s' % (r.returncode, r.stdout, r.stderr, text[-2000:]))
        elif prog == 'fusefat':
            # it fails a read at the end of a file (EPERM: "cant seek beyond
            # EOF"), which kernel FUSE never sends: cmp read to the end
            if not shutil.which('mkfs.vfat') or not shutil.which('fsck.vfat'):
                print('SKIP: mkfs.vfat and fsck.vfat are needed (apt-get install dosfstools)')
                return SKIP
            img = os.path.join(tmp, 'fat.img')
            r = run(['mkfs.vfat', '-C', img, '16384'])
            check(r.returncode == 0, 'mkfs.vfat', r.stdout + r.stderr)
            data = os.path.join(tmp, 'data')
            with open(data, 'wb') as f:
                f.write(os.urandom(300000))
            r = run([a.defuse, 'run', '-m', '%s=shared:fuse:%s:-o rw+ %s' % (mnt, path, img),
                     '--', 'sh', '-c', 'cd "$1" && mkdir d && echo hi > d/f && cp "$2" big && '
                     'cmp big "$2" && cat d/f', 'sh', mnt, data])
            check(r.returncode == 0 and r.stdout == 'hi\n',
                  'fusefat (shared:): written, and read to the end', r.stdout + r.stderr[-2000:])
            r = run(['fsck.vfat', '-n', img])
            check(r.returncode == 0, 'fusefat: fsck.vfat -n passes after the writes',
                  r.stdout + r.stderr)
            r = run([a.defuse, 'run', '-m', '%s=fuse:%s:-o ro %s' % (mnt, path, img), '--',
                     'sh', '-c', 'cd "$1" && ls && cmp big "$2" && cat d/f', 'sh', mnt, data])
            check(r.returncode == 0 and r.stdout == 'big\nd\nhi\n',
                  'fusefat: read by several processes', r.stdout + r.stderr[-2000:])
        elif prog == 'convmvfs':
            # libfuse 2's FUSE_USE_VERSION 25 table, and an option whose
            # default is a string constant (libfuse 2 does not free it)
            src = os.path.join(tmp, 'src')
            os.mkdir(src)
            with open(os.path.join(src.encode(), b'caf\xc3\xa9'), 'w') as f:
                f.write('utf-8 name\n')
            prog_py = ('import os, sys\n'
                       'm = sys.argv[1].encode()\n'
                       'print(sorted(os.listdir(m)))\n'
                       'print(open(m + b"/caf\\xe9").read(), end="")\n'
                       'open(m + b"/na\\xefve", "w").write("x")\n')
            r = run([a.defuse, 'run', '-m', '%s=fuse:%s:-o srcdir=%s,icharset=utf-8,'
                     'ocharset=latin1' % (mnt, path, src), '--', py, '-c', prog_py, mnt])
            check(r.returncode == 0 and r.stdout == "[b'caf\\xe9']\nutf-8 name\n" and
                  sorted(os.listdir(src.encode())) == [b'caf\xc3\xa9', b'na\xc3\xafve'],
                  'convmvfs: names in another charset, both ways', r.stdout + r.stderr)
        elif prog == 'httpfs2':
            # libfuse 2's low level, as installed; and a program that puts
            # itself in the background (a fork during its start) without -f
            www = os.path.join(tmp, 'www')
            os.mkdir(www)
            data = os.urandom(2500000)
            with open(os.path.join(www, 'data.bin'), 'wb') as f:
                f.write(data)
            srv = subprocess.Popen([py, os.path.join(HERE, 'range_server.py'), www],
                                   stdout=subprocess.PIPE, text=True)
            try:
                port = int(srv.stdout.readline())
                url = 'http://127.0.0.1:%d/data.bin' % port
                # -c /dev/null: its start-up points its standard descriptors
                # at /dev/null (dup2), which in process are the program's
                r = run([a.defuse, 'run', '-m', '%s=fuse:%s:-f -c /dev/null %s' %
                         (mnt, path, url), '--', 'sh', '-c', 'ls "$1" && cmp "$1/data.bin" '
                         '"$2" && echo same && echo to-stderr >&2 && read x && echo "read $x"',
                         'sh', mnt, os.path.join(www, 'data.bin')],
                        stdin=None, input='a line\n')
                check(r.returncode == 0 and r.stdout == 'data.bin\nsame\nread a line\n' and
                      'to-stderr' in r.stderr,
                      'httpfs2 -f: its file, read by ranges; the program\'s standard '
                      'descriptors stay the program\'s', r.stdout + r.stderr)
                r = run([a.defuse, 'run', '-m', '%s=fuse:%s:-c /dev/null %s' % (mnt, path, url),
                         '--', 'echo', 'program ran'])
                ours = [l for l in r.stderr.splitlines() if l.startswith('defuse')]
                check(r.returncode == 127 and 'program ran' not in r.stdout and
                      len(ours) == 1 and 'forked during its start-up' in ours[0],
                      'httpfs2 without -f: refused, saying why, and the program never ran',
                      'status %s\n%s%s' % (r.returncode, r.stdout, r.stderr))
            finally:
                srv.kill()
                srv.wait()
        elif prog == 'mhddfs':
            # several directories as one (libfuse 2): new files go to the
            # first with room
            d1, d2 = os.path.join(tmp, 'd1'), os.path.join(tmp, 'd2')
            for d, n in ((d1, 'a'), (d2, 'b')):
                os.mkdir(d)
                with open(os.path.join(d, n), 'w') as f:
                    f.write(n + '\n')
            r = run([a.defuse, 'run', '-m', '%s=fuse:%s:%s,%s' % (mnt, path, d1, d2), '--',
                     'sh', '-c', 'cd "$1" && ls && cat a b && echo c > c', 'sh', mnt])
            check(r.returncode == 0 and r.stdout == 'a\nb\na\nb\n' and
                  os.path.exists(os.path.join(d1, 'c')),
                  'mhddfs: two directories as one, a new file in the first',
                  r.stdout + r.stderr)
        elif prog == 'xmount':
            # an image file served as another format (here raw as raw)
            img = os.path.join(tmp, 'disk.img')
            data = os.urandom(1 << 20)
            with open(img, 'wb') as f:
                f.write(data)
            r = run([a.defuse, 'run', '-m', '%s=fuse:%s:--in raw %s' % (mnt, path, img), '--',
                     'sh', '-c', 'ls "$1" && cmp "$1/disk.dd" "$2" && echo same', 'sh', mnt,
                     img])
            check(r.returncode == 0 and r.stdout == 'disk.dd\ndisk.info\nsame\n',
                  'xmount: the image as its output file', r.stdout + r.stderr)
        else:
            print('SKIP: no test for %s' % prog)
            return SKIP
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        os.rmdir(mnt)
    return None


# ---------------------------------------------------------------------------
# the suites of the passthrough module, on a FUSE file system

def fs_env(a, env):
    """How the wrappers give the file system its backing directory."""
    if a.diropt:
        env['FUSECOMPAT_DIROPT'] = a.diropt
    if a.fs_args:
        env['FUSECOMPAT_ARGS'] = a.fs_args
    if a.dirarg:
        env['FUSECOMPAT_DIRARG'] = a.dirarg
    if a.fs and not a.fs.endswith('.so'):
        env['FUSECOMPAT_PROGRAM'] = a.fs
    return env


def installed_or_skip(a):
    """SKIP, saying why, when the file system is a program not installed here."""
    if not os.path.exists(a.fs):
        print('SKIP: %s is not installed (apt-get install %s)' %
              (a.fs, os.path.basename(a.fs)))
        return SKIP
    return None


def conformance(a, rest):
    if installed_or_skip(a):
        return SKIP
    env = fs_env(a, dict(os.environ, FUSECOMPAT_DEFUSE=os.path.abspath(a.defuse)))
    lockdir = tempfile.mkdtemp(prefix='defuse-fc-locks-')
    env['DEFUSE_FUSE_LOCKDIR'] = lockdir
    wrapper = os.path.join(HERE, 'defuse-fuse')
    if a.native:
        why = fuse_usable()
        if why:
            print('SKIP: the kernel FUSE reference needs kernel FUSE: ' + why)
            return SKIP
        env['FUSECOMPAT_NATIVE'] = os.path.abspath(a.native)
        wrapper = os.path.join(HERE, 'kfuse-run')
    try:
        r = subprocess.run([sys.executable, os.path.join(HERE, '..', 'conformance', 'run.py'),
                            '--fsops', a.fsops, '--defuse', wrapper, '--module', a.fs,
                            '--modes', 'kernel', '--known-failures', a.known_failures] + rest,
                           env=env)
    finally:
        shutil.rmtree(lockdir, ignore_errors=True)
    return r.returncode


def behavior(a, rest):
    if installed_or_skip(a):
        return SKIP
    # behave.py runs its steps with an environment of its own: the settings
    # for defuse-fuse travel in a script that stands in for defuse
    tmp = tempfile.mkdtemp(prefix='defuse-fc-behave-')
    lockdir = os.path.join(tmp, 'locks')
    os.mkdir(lockdir, 0o700)
    # FIFOs' stand-ins (src/core/special.c) go with the scratch tree too:
    # the steps' trees are removed through the kernel, behind the module
    special = os.path.join(tmp, 'special')
    os.mkdir(special)
    os.chmod(special, 0o1777)
    stand_in = os.path.join(tmp, 'defuse')
    with open(stand_in, 'w') as f:
        f.write('#!/bin/sh\nexport FUSECOMPAT_DEFUSE=%s FUSECOMPAT_FS=%s '
                'DEFUSE_FUSE_LOCKDIR=%s DEFUSE_SPECIAL_DIR=%s FUSECOMPAT_DIROPT=%s '
                'FUSECOMPAT_ARGS=%s FUSECOMPAT_DIRARG=%s\n'
                'exec %s %s "$@"\n' %
                (shlex.quote(a.defuse), shlex.quote(a.fs), shlex.quote(lockdir),
                 shlex.quote(special),
                 shlex.quote(a.diropt or ''), shlex.quote(a.fs_args or ''),
                 shlex.quote(a.dirarg or ''),
                 shlex.quote(sys.executable), shlex.quote(os.path.join(HERE, 'defuse-fuse'))))
    os.chmod(stand_in, 0o755)
    try:
        r = subprocess.run([sys.executable, os.path.join(HERE, '..', 'behavior', 'behave.py'),
                            '--defuse', stand_in, '--mode', 'mount'] + rest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return r.returncode


def main():
    # meson points LD_LIBRARY_PATH at the build directories of a test's
    # dependencies, the libfuse stand-in's among them: a real FUSE program
    # (the kernel FUSE reference) must get the real libfuse.
    os.environ.pop('LD_LIBRARY_PATH', None)
    ap = argparse.ArgumentParser()
    ap.add_argument('what')
    ap.add_argument('--defuse', required=True)
    ap.add_argument('--examples')
    ap.add_argument('--natives')
    ap.add_argument('--lifefs')
    ap.add_argument('--not-fuse')
    ap.add_argument('--fs')
    ap.add_argument('--native')
    ap.add_argument('--fsops')
    ap.add_argument('--known-failures')
    ap.add_argument('--standin')
    ap.add_argument('--tls-program')
    ap.add_argument('--bridge', action='store_true', help='defuse mount exists')
    ap.add_argument('--diropt', help='the option giving the backing directory, '
                    'with %%s for it (default: libfuse\'s subdir module)')
    ap.add_argument('--fs-args', help='more ARGS for the file system')
    ap.add_argument('--real')
    ap.add_argument('--fs-old')
    ap.add_argument('--fs-ll')
    ap.add_argument('--dirarg', help='the backing directory as a word of the file '
                    'system\'s command line, with %%s for it (bindfs: %%s)')
    a, rest = ap.parse_known_args()
    for k in ('defuse', 'examples', 'natives', 'lifefs', 'not_fuse', 'fs', 'native', 'fsops',
              'known_failures', 'standin', 'tls_program', 'fs_old', 'fs_ll'):
        if getattr(a, k):
            setattr(a, k, os.path.abspath(getattr(a, k)))
    if a.what == 'conformance':
        return conformance(a, rest)
    if a.what == 'behavior':
        return behavior(a, rest)
    lockdir = tempfile.mkdtemp(prefix='defuse-fc-locks-')
    os.environ['DEFUSE_FUSE_LOCKDIR'] = lockdir
    try:
        if a.what == 'installed2':
            r = installed2(a, rest[0])
        else:
            r = {'examples': examples, 'lifecycle': lifecycle, 'bad-input': bad_input,
                 'abi': abi, 'abi2': abi2, 'fuse2': fuse2}[a.what](a)
        if r == SKIP:
            return SKIP
    finally:
        shutil.rmtree(lockdir, ignore_errors=True)
    print('%d failed%s' % (len(failures), (': ' + ', '.join(failures)) if failures else ''))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
