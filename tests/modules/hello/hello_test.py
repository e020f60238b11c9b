#!/usr/bin/env python3
"""The hello module (modules/hello) as programs see it.

    hello_test.py run DEFUSE      in-process: defuse run -m MNT=hello
    hello_test.py fuse DEFUSE     through the FUSE bridge: defuse mount MNT hello
                                  (then again with -o ro)
    hello_test.py kernel          the reference: a read-only tmpfs holding the
                                  same file, which keeps EXPECTED honest
    hello_test.py standalone DEFUSE 'CC' PKG_CONFIG SRCDIR BUILDDIR
                                  README's recipe: hello.c built on its own
                                  against the pkg-config file, found through
                                  DEFUSE_MODULE_PATH
    hello_test.py probe DIR       the checks themselves, run inside each mode

Each mode compares the probe's answers (one line per call) and a shell
session's output with what Linux answers on a read-only mount of the same
tree.  A difference listed in KNOWN is reported as XFAIL, with its reason;
one that no longer shows is an error (XPASS) until it is taken off the list.
Exit status 77 (skipped, with the reason) where a mode cannot run here.
"""

import ctypes
import difflib
import errno
import fcntl
import mmap
import os
import platform
import shlex
import shutil
import stat
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TEXT = b'Hello, World!\n'

# What Linux answers on a read-only mount of a root directory (0555)
# holding one file, hello (0444, TEXT).  `kernel` mode checks this table
# against a real read-only tmpfs.
EXPECTED = """
read: b'Hello, World!\\n'
pread at 7: b'World!\\n'
pread past the end: b''
mmap private: b'Hello, World!\\n'
lseek SEEK_END: 14
lseek SEEK_DATA from 0: 0
lseek SEEK_HOLE from 0: 14
lseek SEEK_DATA from the end: ENXIO
listdir: ['hello']
readdir types: [('hello', 'reg')]
readdir ino = stat ino: True
getdents 32 bytes a call: ['.', '..', 'hello']
getdents after rewind: ['.', '..', 'hello']
getdents 8-byte buffer: EINVAL
getdents on the file: ENOTDIR
stat hello: reg 0444 size=14 nlink=1
lstat hello: reg 0444 size=14 nlink=1
fstat hello: reg 0444 size=14 nlink=1
stat root: dir 0555 nlink=2
stat missing: ENOENT
stat hello/x: ENOTDIR
stat hello/: ENOTDIR
stat missing/x: ENOENT
readlink hello: EINVAL
realpath hello: ok
open rdonly: ok
open O_PATH: ok
open wronly: EROFS
open rdwr: EROFS
open rdonly O_TRUNC: EROFS
open wronly O_APPEND: EROFS
open O_CREAT new: EROFS
open rdonly O_CREAT new: EROFS
open O_CREAT hello: ok
open O_CREAT|O_EXCL hello: EEXIST
open O_CREAT missing/x: ENOENT
open missing: ENOENT
open hello O_DIRECTORY: ENOTDIR
open root O_DIRECTORY: ok
open root wronly: EISDIR
open root O_CREAT: EISDIR
open root O_TRUNC: EISDIR
open root O_TMPFILE: EROFS
open hello O_TMPFILE: ENOTDIR
read the root: EISDIR
write a read-only descriptor: EBADF
ftruncate a read-only descriptor: EINVAL
fchmod: EROFS
flock: ok
fcntl F_SETLK read lock: ok
exec hello: EACCES
mkdir new: EROFS
mkdir hello: EEXIST
mkdir missing/x: ENOENT
mkdir hello/x: ENOTDIR
rmdir hello: EROFS
rmdir missing: EROFS
unlink hello: EROFS
unlink missing: EROFS
unlink missing/x: ENOENT
rename hello new: EROFS
rename missing new: EROFS
link hello new: EROFS
link hello hello: EEXIST
link missing new: ENOENT
symlink new: EROFS
symlink hello: EEXIST
mkfifo new: EROFS
mkfifo hello: EEXIST
chmod hello: EROFS
chmod root: EROFS
chmod missing: ENOENT
chown hello: EROFS
chown missing: ENOENT
truncate hello: EROFS
truncate root: EISDIR
truncate missing: ENOENT
utime hello: EROFS
utime missing: ENOENT
getxattr hello: ENODATA
listxattr hello: []
setxattr hello: EROFS
removexattr hello: EROFS
setxattr missing: ENOENT
access hello R: ok
access hello W: EROFS
access hello X: EACCES
access hello RX: EACCES
access root W: EROFS
access root X: ok
access missing: ENOENT
statvfs ST_RDONLY: True
ioctl FIONREAD: 14
ioctl FS_IOC_GETFLAGS: 0
ioctl TCGETS: ENOTTY
chdir in, read by a relative name: b'Hello, World!\\n'
fchdir in, read by a relative name: b'Hello, World!\\n'
openat the root's descriptor: b'Hello, World!\\n'
mkdirat the root's descriptor: EROFS
"""

# The same through the tools (a shell session; stat -c uses statx).  Each
# failing command shows the last part of its message: the strerror text.
SHELL = r'''
m=$1
try() { label=$1; shift; if out=$("$@" 2>&1); then echo "$label: ok"; else echo "$label: ${out##*: }"; fi; }
cat "$m/hello"
ls "$m"
stat -c '%F %s %a %h' "$m/hello"
stat -c '%F %a' "$m"
try 'cat missing' cat "$m/missing"
try 'echo >' sh -c 'echo x > "$1"' sh "$m/hello"
try 'echo >>' sh -c 'echo x >> "$1"' sh "$m/hello"
try 'touch new' touch "$m/new"
try 'touch hello' touch "$m/hello"
try 'mkdir' mkdir "$m/dir"
try 'rm' rm -f "$m/hello"
try 'mv' mv "$m/hello" "$m/new"
try 'ln -s' ln -s hello "$m/link"
try 'chmod' chmod 644 "$m/hello"
if test -w "$m/hello"; then echo 'test -w: writable'; else echo 'test -w: not writable'; fi
lsattr "$m/hello" | cut -d' ' -f1
'''
SHELL_EXPECTED = """Hello, World!
hello
regular file 14 444 1
directory 555
cat missing: No such file or directory
echo >: Read-only file system
echo >>: Read-only file system
touch new: Read-only file system
touch hello: Read-only file system
mkdir: Read-only file system
rm: Read-only file system
mv: Read-only file system
ln -s: Read-only file system
chmod: Read-only file system
test -w: not writable
----------------------
"""

LOCKS = ('hello keeps no locks (no lock_fd, no getlk/setlk/flock): module.h answers '
         'ENOLCK for every lock call, in process and through the bridge alike')
# Differences that do not come from hello: check -> (answer, why).  The
# same in every mode: both hosts read a module alike (module.h, API v2),
# and the bridge mounts a read-only module read-only, -o ro or not.
HOSTS = {
    'flock': ('ENOLCK', LOCKS),
    'fcntl F_SETLK read lock': ('ENOLCK', LOCKS),
}
KNOWN = {'run': HOSTS, 'fuse': HOSTS, 'fuse -o ro': HOSTS}


# ---- The probe: runs inside the mode, one line per check ------------------

def probe(m):
    libc = ctypes.CDLL(None, use_errno=True)
    j = lambda p: os.path.join(m, p)

    def fd_of(p, flags, fn):
        fd = os.open(j(p), flags)
        try:
            return fn(fd)
        finally:
            os.close(fd)

    def fd_of_at(dfd, p, fn):
        fd = os.open(p, RD, dir_fd=dfd)
        try:
            return fn(fd)
        finally:
            os.close(fd)

    def opens(p, flags):
        os.close(os.open(j(p), flags, 0o644))

    def kind(s):
        t = 'dir' if stat.S_ISDIR(s.st_mode) else 'reg' if stat.S_ISREG(s.st_mode) else '?'
        size = ' size=%d' % s.st_size if t == 'reg' else ''
        return '%s %04o%s nlink=%d' % (t, stat.S_IMODE(s.st_mode), size, s.st_nlink)

    def libc_call(fn, *args):
        if fn(*args) != 0:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))

    def getdents(fd, size):
        """Names from getdents64 with a size-byte buffer, until the end."""
        nr = {'x86_64': 217, 'aarch64': 61, 'riscv64': 61}.get(platform.machine())
        if nr is None:
            return 'skipped'
        buf = ctypes.create_string_buffer(size)
        names = []
        while True:
            n = libc.syscall(nr, fd, buf, size)
            if n < 0:
                e = ctypes.get_errno()
                raise OSError(e, os.strerror(e))
            if n == 0:
                return names
            i = 0
            while i < n:
                reclen = struct.unpack_from('<H', buf.raw, i + 16)[0]
                names.append(buf.raw[i + 19:i + reclen].split(b'\0')[0].decode())
                i += reclen

    def rewound(fd):
        getdents(fd, 4096)
        os.lseek(fd, 0, os.SEEK_SET)
        return getdents(fd, 4096)

    def mapped(fd):
        with mmap.mmap(fd, 0, mmap.MAP_PRIVATE, mmap.PROT_READ) as mm:
            return mm[:]

    def lock(fd):
        fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)

    def execs():
        pid = os.fork()
        if pid == 0:
            try:
                os.execv(j('hello'), ['hello'])
            except OSError as e:
                os._exit(e.errno)
            os._exit(0)
        return os.waitpid(pid, 0)[1] >> 8

    def in_cwd(fd=None):
        old = os.getcwd()
        os.chdir(m) if fd is None else os.fchdir(fd)
        try:
            with open('hello', 'rb') as f:
                return f.read()
        finally:
            os.chdir(old)

    def realpath():
        libc.realpath.restype = ctypes.c_void_p
        p = libc.realpath(j('hello').encode(), None)
        if not p:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))
        libc.free(ctypes.c_void_p(p))

    RD, ACC = os.O_RDONLY, lambda p, mode: libc_call(libc.access, j(p).encode(), mode)
    checks = [
        ('read', lambda: open(j('hello'), 'rb').read()),
        ('pread at 7', lambda: fd_of('hello', RD, lambda fd: os.pread(fd, 100, 7))),
        ('pread past the end', lambda: fd_of('hello', RD, lambda fd: os.pread(fd, 100, 99))),
        ('mmap private', lambda: fd_of('hello', RD, mapped)),
        ('lseek SEEK_END', lambda: fd_of('hello', RD, lambda fd: os.lseek(fd, 0, os.SEEK_END))),
        ('lseek SEEK_DATA from 0', lambda: fd_of('hello', RD,
                                                 lambda fd: os.lseek(fd, 0, os.SEEK_DATA))),
        ('lseek SEEK_HOLE from 0', lambda: fd_of('hello', RD,
                                                 lambda fd: os.lseek(fd, 0, os.SEEK_HOLE))),
        ('lseek SEEK_DATA from the end', lambda: fd_of('hello', RD,
                                                       lambda fd: os.lseek(fd, 14, os.SEEK_DATA))),
        ('listdir', lambda: sorted(os.listdir(m))),
        ('readdir types', lambda: [(e.name, 'reg' if e.is_file(follow_symlinks=False) else '?')
                                   for e in os.scandir(m)]),
        ('readdir ino = stat ino', lambda: [e.inode() for e in os.scandir(m)]
         == [os.lstat(j('hello')).st_ino]),
        ('getdents 32 bytes a call', lambda: fd_of('.', RD, lambda fd: getdents(fd, 32))),
        ('getdents after rewind', lambda: fd_of('.', RD, rewound)),
        ('getdents 8-byte buffer', lambda: fd_of('.', RD, lambda fd: getdents(fd, 8))),
        ('getdents on the file', lambda: fd_of('hello', RD, lambda fd: getdents(fd, 4096))),
        ('stat hello', lambda: kind(os.stat(j('hello')))),
        ('lstat hello', lambda: kind(os.lstat(j('hello')))),
        ('fstat hello', lambda: fd_of('hello', RD, lambda fd: kind(os.fstat(fd)))),
        ('stat root', lambda: kind(os.stat(m))),
        ('stat missing', lambda: os.stat(j('missing'))),
        ('stat hello/x', lambda: os.stat(j('hello/x'))),
        ('stat hello/', lambda: os.stat(j('hello/'))),
        ('stat missing/x', lambda: os.stat(j('missing/x'))),
        ('readlink hello', lambda: os.readlink(j('hello'))),
        ('realpath hello', realpath),
        ('open rdonly', lambda: opens('hello', RD)),
        ('open O_PATH', lambda: opens('hello', os.O_PATH)),
        ('open wronly', lambda: opens('hello', os.O_WRONLY)),
        ('open rdwr', lambda: opens('hello', os.O_RDWR)),
        ('open rdonly O_TRUNC', lambda: opens('hello', RD | os.O_TRUNC)),
        ('open wronly O_APPEND', lambda: opens('hello', os.O_WRONLY | os.O_APPEND)),
        ('open O_CREAT new', lambda: opens('new', os.O_WRONLY | os.O_CREAT)),
        ('open rdonly O_CREAT new', lambda: opens('new', RD | os.O_CREAT)),
        ('open O_CREAT hello', lambda: opens('hello', RD | os.O_CREAT)),
        ('open O_CREAT|O_EXCL hello', lambda: opens('hello', os.O_WRONLY | os.O_CREAT | os.O_EXCL)),
        ('open O_CREAT missing/x', lambda: opens('missing/x', os.O_WRONLY | os.O_CREAT)),
        ('open missing', lambda: opens('missing', RD)),
        ('open hello O_DIRECTORY', lambda: opens('hello', RD | os.O_DIRECTORY)),
        ('open root O_DIRECTORY', lambda: opens('.', RD | os.O_DIRECTORY)),
        ('open root wronly', lambda: opens('.', os.O_WRONLY)),
        ('open root O_CREAT', lambda: opens('.', RD | os.O_CREAT)),
        ('open root O_TRUNC', lambda: opens('.', RD | os.O_TRUNC)),
        ('open root O_TMPFILE', lambda: opens('.', os.O_RDWR | os.O_TMPFILE)),
        ('open hello O_TMPFILE', lambda: opens('hello', os.O_RDWR | os.O_TMPFILE)),
        ('read the root', lambda: fd_of('.', RD, lambda fd: os.read(fd, 10))),
        ('write a read-only descriptor', lambda: fd_of('hello', RD, lambda fd: os.write(fd, b'x'))),
        ('ftruncate a read-only descriptor', lambda: fd_of('hello', RD, lambda fd: os.ftruncate(fd, 0))),
        ('fchmod', lambda: fd_of('hello', RD, lambda fd: os.fchmod(fd, 0o644))),
        ('flock', lambda: fd_of('hello', RD, lambda fd: fcntl.flock(fd, fcntl.LOCK_SH))),
        ('fcntl F_SETLK read lock', lambda: fd_of('hello', RD, lock)),
        ('exec hello', lambda: errno.errorcode.get(execs(), 'ok')),
        ('mkdir new', lambda: os.mkdir(j('new'))),
        ('mkdir hello', lambda: os.mkdir(j('hello'))),
        ('mkdir missing/x', lambda: os.mkdir(j('missing/x'))),
        ('mkdir hello/x', lambda: os.mkdir(j('hello/x'))),
        ('rmdir hello', lambda: os.rmdir(j('hello'))),
        ('rmdir missing', lambda: os.rmdir(j('missing'))),
        ('unlink hello', lambda: os.unlink(j('hello'))),
        ('unlink missing', lambda: os.unlink(j('missing'))),
        ('unlink missing/x', lambda: os.unlink(j('missing/x'))),
        ('rename hello new', lambda: os.rename(j('hello'), j('new'))),
        ('rename missing new', lambda: os.rename(j('missing'), j('new'))),
        ('link hello new', lambda: os.link(j('hello'), j('new'))),
        ('link hello hello', lambda: os.link(j('hello'), j('hello'))),
        ('link missing new', lambda: os.link(j('missing'), j('new'))),
        ('symlink new', lambda: os.symlink('hello', j('new'))),
        ('symlink hello', lambda: os.symlink('x', j('hello'))),
        ('mkfifo new', lambda: os.mkfifo(j('new'))),
        ('mkfifo hello', lambda: os.mkfifo(j('hello'))),
        ('chmod hello', lambda: os.chmod(j('hello'), 0o644)),
        ('chmod root', lambda: os.chmod(m, 0o755)),
        ('chmod missing', lambda: os.chmod(j('missing'), 0o644)),
        ('chown hello', lambda: os.chown(j('hello'), os.getuid(), os.getgid())),
        ('chown missing', lambda: os.chown(j('missing'), os.getuid(), os.getgid())),
        ('truncate hello', lambda: os.truncate(j('hello'), 0)),
        ('truncate root', lambda: os.truncate(m, 0)),
        ('truncate missing', lambda: os.truncate(j('missing'), 0)),
        ('utime hello', lambda: os.utime(j('hello'))),
        ('utime missing', lambda: os.utime(j('missing'))),
        ('getxattr hello', lambda: os.getxattr(j('hello'), 'user.x')),
        ('listxattr hello', lambda: os.listxattr(j('hello'))),
        ('setxattr hello', lambda: os.setxattr(j('hello'), 'user.x', b'1')),
        ('removexattr hello', lambda: os.removexattr(j('hello'), 'user.x')),
        ('setxattr missing', lambda: os.setxattr(j('missing'), 'user.x', b'1')),
        ('access hello R', lambda: ACC('hello', os.R_OK)),
        ('access hello W', lambda: ACC('hello', os.W_OK)),
        ('access hello X', lambda: ACC('hello', os.X_OK)),
        ('access hello RX', lambda: ACC('hello', os.R_OK | os.X_OK)),
        ('access root W', lambda: ACC('.', os.W_OK)),
        ('access root X', lambda: ACC('.', os.X_OK)),
        ('access missing', lambda: ACC('missing', os.F_OK)),
        ('statvfs ST_RDONLY', lambda: bool(os.statvfs(m).f_flag & os.ST_RDONLY)),
        ('ioctl FIONREAD', lambda: fd_of('hello', RD, lambda fd: struct.unpack(
            'i', fcntl.ioctl(fd, 0x541B, bytes(4)))[0])),
        ('ioctl FS_IOC_GETFLAGS', lambda: fd_of('hello', RD, lambda fd: struct.unpack(
            'i', fcntl.ioctl(fd, 0x80086601, bytes(4)))[0])),
        ('ioctl TCGETS', lambda: fd_of('hello', RD, lambda fd: fcntl.ioctl(fd, 0x5401,
                                                                            bytes(60)))),
        ('chdir in, read by a relative name', in_cwd),
        ('fchdir in, read by a relative name', lambda: fd_of('.', RD, in_cwd)),
        ("openat the root's descriptor",
         lambda: fd_of('.', RD, lambda d: fd_of_at(d, 'hello', lambda fd: os.read(fd, 100)))),
        ("mkdirat the root's descriptor", lambda: fd_of('.', RD, lambda d: os.mkdir('x', dir_fd=d))),
    ]
    for name, fn in checks:
        try:
            r = fn()
            r = 'ok' if r is None else r
        except OSError as e:
            r = errno.errorcode.get(e.errno, str(e.errno))
        print('%s: %s' % (name, r), flush=True)


# ---- The driver -------------------------------------------------------------

def parse(text):
    out = {}
    for line in text.strip('\n').split('\n'):
        name, _, answer = line.partition(': ')
        out[name] = answer
    return out


def same_errno(a, b):
    """EOPNOTSUPP and ENOTSUP are one value; Python names it either way."""
    alias = {'ENOTSUP': 'EOPNOTSUPP'}
    return alias.get(a, a) == alias.get(b, b)


def compare(mode, probe_out):
    """Prints one line per difference from EXPECTED; returns the number of errors."""
    want, got = parse(EXPECTED), parse(probe_out)
    known = KNOWN.get(mode, {})
    errors = 0
    for name, answer in want.items():
        have = got.get(name, '(no answer: the probe stopped)')
        if name in known:
            k, why = known[name]
            if same_errno(have, k):
                print('XFAIL %s: %s, not %s: %s' % (name, have, answer, why))
                continue
            if same_errno(have, answer):
                print('XPASS %s: passes now; take it off KNOWN[%r]' % (name, mode))
                errors += 1
                continue
        if not same_errno(have, answer):
            print('FAIL %s: %s, expected %s' % (name, have, answer))
            errors += 1
    return errors


def show_diff(expected, got):
    for line in difflib.unified_diff(expected.splitlines(), got.splitlines(),
                                     'expected', 'got', lineterm=''):
        print('  ' + line)


def check(mode, prefix, mnt):
    """Runs the probe and the shell session (each under prefix) on mnt."""
    me = [sys.executable, os.path.abspath(__file__), 'probe', mnt]
    p = subprocess.run(prefix + me, capture_output=True, text=True, timeout=60)
    s = subprocess.run(prefix + ['sh', '-c', SHELL, 'sh', mnt], capture_output=True,
                       text=True, timeout=60)
    if p.returncode or p.stderr:
        print('probe (%s): status %d, stderr: %s' % (mode, p.returncode, p.stderr.strip()))
    errors = compare(mode, p.stdout) + (p.returncode != 0)
    if s.stdout != SHELL_EXPECTED:
        print('FAIL the shell session (%s) differs:' % mode)
        show_diff(SHELL_EXPECTED, s.stdout)
        if s.stderr:
            print('  stderr: ' + s.stderr.strip())
        errors += 1
    print('%s: %d checks and a shell session, %d errors'
          % (mode, len(parse(EXPECTED)), errors))
    return errors


def env_without_module_path():
    """The module must come from the build tree, not a DEFUSE_MODULE_PATH."""
    os.environ.pop('DEFUSE_MODULE_PATH', None)


def run_mode(defuse):
    env_without_module_path()
    with tempfile.TemporaryDirectory(prefix='defuse-hello-') as d:
        mnt = os.path.join(d, 'mnt')
        os.mkdir(mnt)
        errors = check('run', [defuse, 'run', '-m', mnt + '=hello', '--'], mnt)
        # init's refusal reaches the user, with its reason.
        r = subprocess.run([defuse, 'run', '-m', mnt + '=hello:x', '--', 'true'],
                           capture_output=True, text=True, timeout=60)
        if r.returncode == 0 or 'hello: takes no arguments' not in r.stderr:
            print('FAIL hello:x: status %d, stderr %r' % (r.returncode, r.stderr))
            errors += 1
    return errors


def fuse_mode(defuse):
    sys.path.insert(0, os.path.join(HERE, '..', '..', 'fuse'))
    import fuselib

    env_without_module_path()
    fuselib.require_fuse()
    errors = 0
    with fuselib.Scratch(defuse) as s:
        mnt = s.mkdir('mnt')
        r = s.mount(mnt, 'hello:x', check=False)
        if r.returncode == 0 or 'hello: takes no arguments' not in r.stderr or \
           fuselib.mounted(mnt):
            print('FAIL mount hello:x: status %d, stderr %r' % (r.returncode, r.stderr))
            errors += 1
        for mode, opts in (('fuse', ()), ('fuse -o ro', ('ro',))):
            s.mount(mnt, 'hello', *opts)
            try:
                errors += check(mode, [], mnt)
            finally:
                r = s.umount(mnt)
            if r.returncode or fuselib.mounted(mnt):
                print('FAIL defuse umount: status %d, %s' % (r.returncode, r.stderr.strip()))
                errors += 1
    return errors


def kernel_mode():
    """EXPECTED against the kernel: a tmpfs made like hello, then read-only,
    in a mount namespace of its own (it vanishes with the namespace)."""
    unshare = shutil.which('unshare')
    if not unshare:
        print('SKIP: no unshare(1)')
        return 77
    ns = [unshare, '--mount'] if os.geteuid() == 0 else [unshare, '--user', '--map-root-user',
                                                         '--mount']
    # sh -c SETUP sh DIR PROGRAM...: mounts on DIR, then runs PROGRAM.  In a
    # user namespace only the mount can be made read-only (bind), which
    # gives the same answers.
    setup = ('mount -t tmpfs -o size=64k,mode=0555 hello "$1" && '
             'printf "Hello, World!\\n" > "$1/hello" && chmod 0444 "$1/hello" && '
             '{ mount -o remount,ro "$1" 2>/dev/null || mount -o remount,bind,ro "$1"; } && '
             'shift && exec "$@"')
    with tempfile.TemporaryDirectory(prefix='defuse-hello-ref-') as d:
        r = subprocess.run(ns + ['sh', '-c', setup, 'sh', d, 'true'],
                           capture_output=True, text=True, timeout=60)
        if r.returncode:
            print('SKIP: cannot mount a read-only tmpfs in a new mount namespace here: %s'
                  % r.stderr.strip())
            return 77
        return check('kernel', ns + ['sh', '-c', setup, 'sh', d], d)


def standalone_mode(defuse, cc, pkg_config, srcdir, builddir):
    """README's recipe: hello.c compiled on its own, with the cflags of the
    pkg-config file the build generates (its prefix pointed at the source
    tree, whose include/ is what an install puts under PREFIX/include)."""
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(builddir, 'meson-private'))
    r = subprocess.run([pkg_config, '--define-variable=prefix=' + srcdir, '--cflags', 'defuse'],
                       env=env, capture_output=True, text=True, timeout=60)
    if r.returncode:
        print('FAIL pkg-config --cflags defuse: %s' % r.stderr.strip())
        return 1
    with tempfile.TemporaryDirectory(prefix='defuse-hello-alone-') as d:
        so = os.path.join(d, 'hello.so')
        cmd = shlex.split(cc) + ['-shared', '-fPIC', '-std=c11', '-Wall', '-Wextra', '-Werror'] + \
            shlex.split(r.stdout) + ['-o', so, os.path.join(srcdir, 'modules', 'hello', 'hello.c')]
        print('$ ' + ' '.join(cmd))
        c = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if c.returncode:
            print('FAIL the module does not build on its own:\n' + c.stderr)
            return 1
        mnt = os.path.join(d, 'mnt')
        os.mkdir(mnt)
        # The shell shows the text, then proves it is this hello.so that
        # serves it (the build tree's would answer the same).
        t = subprocess.run([defuse, 'run', '-m', mnt + '=hello', '--', 'sh', '-c',
                            'cat "$1/hello" && grep -c "$2" /proc/$$/maps', 'sh', mnt, so],
                           env=dict(os.environ, DEFUSE_MODULE_PATH=d),
                           capture_output=True, text=True, timeout=60)
        if t.returncode or not t.stdout.startswith(TEXT.decode()):
            print('FAIL DEFUSE_MODULE_PATH=%s defuse run -m MNT=hello: status %d\n%s%s'
                  % (d, t.returncode, t.stdout, t.stderr))
            return 1
    print('standalone: built with the pkg-config cflags, served through DEFUSE_MODULE_PATH')
    return 0


def main(argv):
    mode = argv[1] if len(argv) > 1 else ''
    if mode == 'probe' and len(argv) == 3:
        probe(argv[2])
        return 0
    if mode == 'run' and len(argv) == 3:
        return 1 if run_mode(argv[2]) else 0
    if mode == 'fuse' and len(argv) == 3:
        return 1 if fuse_mode(argv[2]) else 0
    if mode == 'kernel' and len(argv) == 2:
        r = kernel_mode()
        return r if r == 77 else (1 if r else 0)
    if mode == 'standalone' and len(argv) == 7:
        return standalone_mode(*argv[2:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv))
