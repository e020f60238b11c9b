#!/usr/bin/env python3
"""Differential conformance suite: the same cases natively and on DEFUSE.

    run.py --fsops FSOPS --defuse DEFUSE --module PASSTHROUGH.so
           [--modes kernel,emulated] [-k SUBSTRING] [--keep] CASEFILE...
    run.py --fsops FSOPS --defuse DEFUSE --memfs-module MEMFS.so
           --modes memfs [--tmpdir /dev/shm] ... CASEFILE...
    run.py --fsops FSOPS --self-test CASEFILE...

Each case of each CASEFILE (format: the comment at the top of fsops.c) runs
in fresh scratch trees, once per run:

  native    fsops on a kernel bind mount of a native backing directory
            (in a private mount namespace: `unshare -m` + `mount --bind`), so
            that the native run has a real mount boundary at BASE, as a
            DEFUSE mount has: EXDEV across it, RESOLVE_NO_XDEV, EBUSY on
            rmdir of it and so on are then compared like everything else;
  kernel    `defuse run -m BASE=passthrough:BACKING -- fsops BASE ...`,
            path calls through the module's view from the first one
            (DEFUSE_PASSTHROUGH_VIEW=1, modules/passthrough/README.md);
  emulated  the same with `passthrough:emulated=BACKING`, the view made by
            the helper unprivileged processes use
            (DEFUSE_PASSTHROUGH_VIEW=helper);
  fuse      `defuse mount BASE PASSTHROUGH.so:BACKING` (the FUSE bridge),
            then fsops runs plainly, without DEFUSE, on that kernel FUSE
            mount; `defuse umount BASE` before the trees are compared;
  nfs       `defuse run -m BASE=NFS.so:URL/SUB -- fsops BASE ...`: the NFS
            module (modules/nfs) on a directory SUB of a running NFS
            server's export, whose server side (--nfs-dir) is the backing
            directory: setup and tree comparison there, as for kernel;
            scratch directories default to /dev/shm (tests/nfs/server.sh
            exports a tmpfs directory);
  memfs     `defuse run -m BASE=MEMFS.so:NAME -- fsops BASE ...` on a fresh
            memfs segment (docs/memfs.md) of a NAME unique to the run: memfs
            has no backing directory, so the case's setup is done inside the
            mount (this runner's setup code run by python3 under `defuse
            run`, with the mount point's mode first set to what a fresh
            native directory gets), and the "backing tree" compared is the
            mount's tree, walked by the same snapshot code under `defuse
            run`.  The segment (/dev/shm/defuse-memfs.NAME) is removed after
            the case, whatever happened.  memfs mimics tmpfs, so with this
            mode the scratch directories (and so the native run) default to
            /dev/shm; run it apart from the other modes, whose native runs
            are on --tmpdir.

Each mounted run must print exactly what the native run printed (a unified
diff is shown otherwise), exit the same way, and leave the same trees: the
backing directory against the native backing directory, and the directory
around the mount point (TOP) against the native one (names, types,
permissions, owners, link counts, sizes, contents, symbolic link targets,
user xattrs, explicitly set mtimes).  The mount point itself must stay an
empty directory underneath the mount.

Scratch layout of one run (S is a fresh directory per case; n for the native
run, m for a mounted one: k kernel-backed, e emulated, m in the self-test;
one letter each, so that all BASE paths have the same length, as fsops
prints path lengths):

    S/n/base      BASE: the mount point      S/m/base
    S/n/baseb     a sibling: "b" appended    S/m/baseb  (must NOT be served)
    S/n/out       a directory outside        S/m/out
    S/n/klink     -> S/n/base (absolute)     S/m/klink -> S/m/base
    S/n/klinkrel  -> base (relative)         S/m/klinkrel -> base
    S/nb          the backing directory      S/mb

baseb holds a file f ("sibling\\n"), out a file f ("outside\\n") and a
directory d.

Setup lines (in a case, before its operations; done here, natively, in the
backing directory of each run; a path starting with ".." names a path in TOP
instead, so "../out/x" is S/n/out/x or S/m/out/x):

    @dir P [MODE]                @file P [DATA] [MODE]     @fifo P [MODE]
    @symlink TARGET P            @link EXISTING P          @chmod P MODE
    @chown P UID GID             @truncate P SIZE          @xattr P NAME VALUE
    @utime P ATIME MTIME         (SEC or SEC:NSEC; no follow)
    @chain N PREFIX TARGET       PREFIX0 -> PREFIX1 -> ... -> PREFIX{N-1} -> TARGET
    @files PREFIX N [DATA]       files PREFIX0 ... PREFIX{N-1}
    @deepdir NAME N              NAME/NAME/... N levels deep, in BASE (the
                                 path may be longer than PATH_MAX)

DATA is a string as in fsops ("a"*10+"b"); in symbolic link targets $BASE
and $TOP stand for the paths the program sees (the mount point and TOP).

Fields that may differ between native and DEFUSE runs, and so are never
compared (fsops does not print them; the tree comparison skips them):
    st_dev, st_ino, stx_dev_*, stx_ino, stx_mnt_id: the mount is not the
        native directory's device (a bind mount shares it, DEFUSE need not);
    st_ctime, stx_ctime: always "now", not settable;
    statfs f_blocks, f_bfree, f_bavail, f_files, f_ffree, f_fsid: change
        with every write to the file system, including other tests';
    the order of directory entries (listings are sorted) and getdents64's
        byte counts and d_off cookies (they depend on the order);
    lock owners' pids (printed as self, parent, child or other).
Everything else is compared, for both kernel-backed and emulated files;
no other difference is expected from the passthrough module.

--self-test checks this runner without DEFUSE: the "mounted" run is a second
native run (a bind mount of S/mb on S/m/base), and every case must pass;
then fsops is broken on purpose on the mounted side (--break=errno prints
ENOENT as ENOTDIR; --break=tree leaves an extra directory) and exactly the
cases that must notice have to fail.

Exit status: 0 all passed, 1 a failure, 2 bad usage or a broken case,
77 skipped (printed reason: mount namespaces unavailable, or /dev/fuse
unusable with --modes fuse).
"""

import argparse
import difflib
import hashlib
import os
import posixpath
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

TIMEOUT = 60


class CaseError(Exception):
    """A case file that cannot be run (a bug in the case, not in DEFUSE)."""


# --------------------------------------------------------------------------
# Case files


def parse_string(s, i):
    """Parses "..."[*N][+"..."...] at s[i]; returns (bytes, next index)."""
    out = bytearray()
    while True:
        if i >= len(s) or s[i] != '"':
            raise CaseError('expected a string at: ' + s[i:])
        i += 1
        piece = bytearray()
        while i < len(s) and s[i] != '"':
            c = s[i]
            i += 1
            if c == '\\':
                c = s[i]
                i += 1
                esc = {'n': b'\n', 't': b'\t', 'r': b'\r', '0': b'\0',
                       '\\': b'\\', '"': b'"'}
                if c in esc:
                    piece += esc[c]
                elif c == 'x':
                    piece.append(int(s[i:i + 2], 16))
                    i += 2
                else:
                    raise CaseError('bad escape \\' + c)
            else:
                piece += c.encode()
        if i >= len(s):
            raise CaseError('unterminated string')
        i += 1
        rep = 1
        if i < len(s) and s[i] == '*':
            j = i + 1
            while j < len(s) and s[j].isdigit():
                j += 1
            rep = int(s[i + 1:j])
            i = j
        out += piece * rep
        if s[i:i + 2] == '+"':
            i += 1
            continue
        return bytes(out), i


def tokenize(line):
    toks = []
    i = 0
    while True:
        while i < len(line) and line[i] in ' \t':
            i += 1
        if i >= len(line):
            return toks
        if line[i] == '"':
            b, i = parse_string(line, i)
            toks.append(b)
        else:
            j = i
            while j < len(line) and line[j] not in ' \t':
                j += 1
            toks.append(line[i:j])
            i = j


class Case:
    def __init__(self, file, name, lineno):
        self.file = file
        self.name = name
        self.lineno = lineno
        self.setup = []     # (lineno, tokens)
        self.nops = 0


def load_cases(path):
    cases = []
    seen = set()
    with open(path, encoding='utf-8') as f:
        for n, raw in enumerate(f, 1):
            line = raw.strip()
            if not line or line.startswith('#'):
                continue
            if line.startswith('case '):
                name = line[5:].strip()
                if name in seen:
                    raise CaseError('%s:%d: case %s twice' % (path, n, name))
                seen.add(name)
                cases.append(Case(path, name, n))
            elif not cases:
                raise CaseError('%s:%d: a line before the first case' % (path, n))
            elif line.startswith('@'):
                if cases[-1].nops:
                    raise CaseError('%s:%d: setup after operations' % (path, n))
                try:
                    cases[-1].setup.append((n, tokenize(line[1:])))
                except (CaseError, ValueError, IndexError) as e:
                    raise CaseError('%s:%d: %s' % (path, n, e))
            else:
                cases[-1].nops += 1
    return cases


# --------------------------------------------------------------------------
# Scratch trees


class Layout:
    """One run's trees: TOP (with BASE, the mount point, in it) and BACKING."""

    def __init__(self, scratch, tag):
        self.top = os.path.join(scratch, tag)
        self.base = os.path.join(self.top, 'base')
        self.backing = os.path.join(scratch, tag + 'b')

    def create(self):
        os.makedirs(self.base)
        os.mkdir(self.backing)
        os.mkdir(self.top + '/baseb')
        os.mkdir(self.top + '/out')
        os.mkdir(self.top + '/out/d')
        with open(self.top + '/baseb/f', 'w') as f:
            f.write('sibling\n')
        with open(self.top + '/out/f', 'w') as f:
            f.write('outside\n')
        os.symlink(self.base, self.top + '/klink')
        os.symlink('base', self.top + '/klinkrel')

    def real(self, p):
        """A setup path (relative to BASE) -> where it is created."""
        p = txt(p)
        if p.startswith('/'):
            raise CaseError('setup paths are relative: ' + p)
        n = posixpath.normpath(posixpath.join('base', p))
        if n == 'base':
            return self.backing
        if n.startswith('base/'):
            return os.path.join(self.backing, n[5:])
        if n.startswith('..'):
            raise CaseError('setup path out of TOP: ' + p)
        return os.path.join(self.top, n)

    def target(self, t):
        """A symbolic link target: $BASE and $TOP as the program sees them."""
        t = txt(t)
        return t.replace('$BASE', self.base).replace('$TOP', self.top)

    def relativise(self, p):
        for prefix, name in ((self.base, '$BASE'), (self.top, '$TOP')):
            if p == prefix or p.startswith(prefix + '/'):
                return name + p[len(prefix):]
        return p


def cnum(x):
    """A number as C writes it: 0644 is octal."""
    x = txt(x)
    if len(x) > 1 and x[0] == '0' and x[1] not in 'xX':
        return int(x, 8)
    return int(x, 0)


def txt(x):
    return os.fsdecode(x)


def show(name):
    """A file name as printable text."""
    return (os.fsencode(name).decode('utf-8', 'backslashreplace')
            .replace('\n', '\\n').replace('\t', '\\t'))


def parse_time(t):
    if ':' in t:
        s, n = t.split(':')
        return int(s) * 10**9 + int(n)
    return int(t) * 10**9


def setup(case, lay):
    for lineno, t in case.setup:
        try:
            op, a = t[0], t[1:]

            def mode(i, default):
                return cnum(a[i]) if len(a) > i else default
            if op == 'dir':
                os.makedirs(lay.real(a[0]), exist_ok=True)
                os.chmod(lay.real(a[0]), mode(1, 0o755))
            elif op == 'file':
                p = lay.real(a[0])
                data = a[1] if len(a) > 1 else b''
                if isinstance(data, str):
                    raise CaseError('@file P "DATA" [MODE]')
                with open(p, 'wb') as f:
                    f.write(data)
                os.chmod(p, mode(2, 0o644))
            elif op == 'fifo':
                os.mkfifo(lay.real(a[0]))
                os.chmod(lay.real(a[0]), mode(1, 0o644))
            elif op == 'symlink':
                os.symlink(lay.target(a[0]), lay.real(a[1]))
            elif op == 'link':
                os.link(lay.real(a[0]), lay.real(a[1]), follow_symlinks=False)
            elif op == 'chmod':
                os.chmod(lay.real(a[0]), cnum(a[1]))
            elif op == 'chown':
                os.chown(lay.real(a[0]), int(a[1]), int(a[2]), follow_symlinks=False)
            elif op == 'truncate':
                os.truncate(lay.real(a[0]), cnum(a[1]))
            elif op == 'xattr':
                os.setxattr(lay.real(a[0]), txt(a[1]), a[2], follow_symlinks=False)
            elif op == 'utime':
                os.utime(lay.real(a[0]), ns=(parse_time(a[1]), parse_time(a[2])),
                         follow_symlinks=False)
            elif op == 'files':
                prefix, n = a[0], int(a[1])
                data = a[2] if len(a) > 2 else b''
                for k in range(n):
                    with open(lay.real(txt(prefix) + str(k)), 'wb') as f:
                        f.write(data)
            elif op == 'deepdir':
                name, n = txt(a[0]), int(a[1])
                fd = os.open(lay.real('.'), os.O_RDONLY | os.O_DIRECTORY)
                try:
                    for k in range(n):
                        os.mkdir(name, dir_fd=fd)
                        nfd = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
                        os.close(fd)
                        fd = nfd
                finally:
                    os.close(fd)
            elif op == 'chain':
                n, prefix, target = int(a[0]), txt(a[1]), lay.target(a[2])
                for k in range(n):
                    to = target if k == n - 1 else posixpath.basename(prefix) + str(k + 1)
                    os.symlink(to, lay.real(prefix + str(k)))
            else:
                raise CaseError('unknown setup @' + op)
        except CaseError as e:
            raise CaseError('%s:%d: %s' % (case.file, lineno, e))
        except (OSError, IndexError, ValueError, AttributeError) as e:
            raise CaseError('%s:%d: setup failed: %r' % (case.file, lineno, e))


def snapshot(root, lay):
    """The comparable state of a tree, one line per entry (walked with
    directory descriptors: paths in it may be longer than PATH_MAX)."""
    now = time.time()
    lines = []
    kinds = {stat.S_IFREG: 'reg', stat.S_IFDIR: 'dir', stat.S_IFLNK: 'lnk',
             stat.S_IFIFO: 'fifo', stat.S_IFCHR: 'chr', stat.S_IFBLK: 'blk',
             stat.S_IFSOCK: 'sock'}

    def entry(rel, dfd, name):
        st = os.lstat(name, dir_fd=dfd)
        kind = kinds.get(stat.S_IFMT(st.st_mode), '?')
        s = '%s %s %04o %d:%d' % (show(rel), kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
        if kind != 'dir':
            s += ' nlink=%d' % st.st_nlink
        fd = None
        if kind in ('reg', 'dir'):
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
        try:
            if kind == 'reg':
                h = hashlib.sha256()
                while True:
                    blk = os.read(fd, 1 << 20)
                    if not blk:
                        break
                    h.update(blk)
                s += ' size=%d sha256=%s' % (st.st_size, h.hexdigest()[:16])
            elif kind == 'lnk':
                s += ' -> ' + show(lay.relativise(os.readlink(name, dir_fd=dfd)))
            elif kind in ('chr', 'blk'):
                s += ' rdev=%d:%d' % (os.major(st.st_rdev), os.minor(st.st_rdev))
            if abs(st.st_mtime - now) > 86400:
                s += ' mtime=%d' % st.st_mtime_ns
            if fd is not None:
                for x in sorted(os.listxattr(fd)):
                    if x.startswith('user.') or x.startswith('trusted.'):
                        s += ' %s=%r' % (x, os.getxattr(fd, x))
            lines.append(s)
            if kind == 'dir':
                for n in sorted(os.listdir(fd)):
                    entry(n if rel == '.' else rel + '/' + n, fd, n)
        finally:
            if fd is not None:
                os.close(fd)

    parent, name = os.path.split(root)
    pfd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        entry('.', pfd, name)
    finally:
        os.close(pfd)
    return lines


# --------------------------------------------------------------------------
# Runs


def run(cmd, cwd):
    """Runs cmd in its own session; returns (status, stdout, stderr)."""
    p = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         start_new_session=True, close_fds=True)
    try:
        out, err = p.communicate(timeout=TIMEOUT)
        status = p.returncode
    except subprocess.TimeoutExpired:
        status = 'timeout after %ds' % TIMEOUT
        out, err = b'', b''
    finally:
        # whatever is left of the process group goes
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if p.returncode is None:
            p.kill()
            out2, err2 = p.communicate()
            out += out2
            err += err2
    return status, out.decode('utf-8', 'replace'), err.decode('utf-8', 'replace')


def native_cmd(opts, lay, case, brk=None):
    fsops = [opts.fsops] + (['--break=' + brk] if brk else [])
    return ['unshare', '--mount', '--propagation', 'private', '--',
            'sh', '-c', 'mount --bind "$1" "$2" && shift 2 && exec "$@"', 'sh',
            lay.backing, lay.base] + fsops + [lay.base, case.file, case.name]


def defuse_cmd(opts, lay, case, mode):
    arg = lay.backing if mode == 'kernel' else 'emulated=' + lay.backing
    # Path calls through passthrough's view (modules/passthrough/view.h)
    # from the first lookup: made by the process itself in kernel mode, by
    # the helper unprivileged processes use in emulated mode (the long way
    # answers every process's first calls in the other suites, and every
    # symbolic link here).
    view = '1' if mode == 'kernel' else 'helper'
    return ['env', 'DEFUSE_PASSTHROUGH_VIEW=' + view,
            opts.defuse, 'run', '-m', '%s=%s:%s' % (lay.base, opts.module, arg),
            '--', opts.fsops, lay.base, case.file, case.name]


def fuse_one_run(opts, scratch, case):
    """Like one_run, on a FUSE mount of the backing directory that lives
    only as long as the case's program runs (unmounted even on failure)."""
    lay = Layout(scratch, 'f')
    lay.create()
    setup(case, lay)
    pidfile = os.path.join(scratch, 'fuse.pid')
    m = subprocess.run([opts.defuse, 'mount', lay.base,
                        '%s:%s' % (opts.module, lay.backing), '-o', 'pidfile=' + pidfile],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if m.returncode:
        status, out, err = 'defuse mount failed (%s)' % m.returncode, '', m.stderr
    else:
        try:
            status, out, err = run([opts.fsops, lay.base, case.file, case.name], scratch)
        finally:
            err += fuse_unmount(opts, lay.base, pidfile)
    return Result(status, out, err, snapshot(lay.top, lay), snapshot(lay.backing, lay))


def fuse_unmount(opts, base, pidfile):
    """Unmounts base and waits for the bridge to end; returns any complaint."""
    said = ''
    u = subprocess.run([opts.defuse, 'umount', base], capture_output=True, text=True)
    if u.returncode:
        said += u.stderr
        subprocess.run(['umount', '-l', base], capture_output=True)
    try:
        pid = int(open(pidfile).read())
    except (OSError, ValueError):
        return said
    # The bridge is no child of ours: it has gone once it is a zombie or
    # has been reaped.
    deadline = time.time() + TIMEOUT
    while time.time() < deadline:
        try:
            with open('/proc/%d/stat' % pid) as f:
                if f.read().rsplit(')', 1)[1].split()[0] == 'Z':
                    return said
        except (OSError, IndexError):
            return said
        time.sleep(0.005)
    os.kill(pid, signal.SIGKILL)
    return said + 'defuse-fuse %d did not exit after the unmount: killed\n' % pid


def nfs_one_run(opts, scratch, case, serial):
    """Like one_run, on the NFS module: the backing directory is a fresh
    directory of the export (the server's side of it), mounted by its own
    path; it is removed after the case, whatever happened."""
    lay = Layout(scratch, 'v')
    sub = 'conf-%d-%d' % (os.getpid(), serial)
    lay.backing = os.path.join(opts.nfs_dir, sub)
    try:
        lay.create()
        setup(case, lay)
        # the module's lock files and change table in the scratch
        # directory, removed with it
        url = '%s/%s,lockdir=%s%s' % (opts.nfs_url.rstrip('/'), sub,
                                      os.path.join(scratch, 'nfs-locks'),
                                      (',' + opts.nfs_options) if opts.nfs_options else '')
        status, out, err = run([opts.defuse, 'run', '-m', '%s=%s:%s' % (lay.base, opts.nfs_module, url),
                                '--', opts.fsops, lay.base, case.file, case.name], scratch)
        return Result(status, out, err, snapshot(lay.top, lay), snapshot(lay.backing, lay))
    finally:
        shutil.rmtree(lay.backing, ignore_errors=True)


class MemfsSetupFailed(Exception):
    pass


def memfs_one_run(opts, scratch, case, serial):
    """Like one_run, on a fresh memfs segment: setup inside the mount, the
    mount's tree as the backing tree; the segment is removed at the end."""
    lay = Layout(scratch, 's')
    lay.create()
    name = 'conf-%d-%d' % (os.getpid(), serial)
    segment = '/dev/shm/defuse-memfs.' + name

    def under(argv):
        return [opts.defuse, 'run', '-m', '%s=%s:%s' % (lay.base, opts.memfs_module, name),
                '--'] + argv
    me = [sys.executable, os.path.abspath(__file__)]
    try:
        status, out, err = run(under(me + ['--inside-setup', scratch, 's', case.file,
                                           case.name]), scratch)
        if status != 0:
            return Result('setup inside memfs failed (%s)' % status, out, err,
                          snapshot(lay.top, lay), [])
        status, out, err = run(under([opts.fsops, lay.base, case.file, case.name]), scratch)
        s, sout, serr = run(under(me + ['--inside-snapshot', scratch, 's']), scratch)
        if s != 0:
            err += 'snapshot of the memfs tree failed (%s):\n%s%s' % (s, sout, serr)
            tree = ['(no snapshot)']
        else:
            tree = sout.splitlines()
        return Result(status, out, err, snapshot(lay.top, lay), tree)
    finally:
        try:
            os.unlink(segment)
        except FileNotFoundError:
            pass


def inside(argv):
    """The helpers memfs_one_run runs under `defuse run` (argv[0] is
    --inside-setup or --inside-snapshot): the setup of a case done in the
    mount, or the mount's tree printed one line per entry."""
    scratch, tag = argv[1], argv[2]
    lay = Layout(scratch, tag)
    try:
        if argv[0] == '--inside-setup':
            um = os.umask(0)
            os.umask(um)
            os.chmod(lay.base, 0o777 & ~um)     # as os.mkdir of a backing directory
            lay.backing = lay.base
            case = [c for c in load_cases(argv[3]) if c.name == argv[4]][0]
            setup(case, lay)
        else:
            for line in snapshot(lay.base, lay):
                sys.stdout.write(line + '\n')
    except CaseError as e:
        sys.stderr.write('%s\n' % e)
        return 1
    return 0


def check_fuse():
    """Why the fuse mode cannot run here, or None."""
    try:
        os.close(os.open('/dev/fuse', os.O_RDWR))
    except OSError as e:
        return '/dev/fuse: %s' % e.strerror
    return None


class Result:
    def __init__(self, status, out, err, tops, backing):
        self.status, self.out, self.err = status, out, err
        self.top, self.backing = tops, backing


def one_run(scratch, tag, case, cmd_for):
    lay = Layout(scratch, tag)
    lay.create()
    setup(case, lay)
    status, out, err = run(cmd_for(lay), scratch)
    return Result(status, out, err, snapshot(lay.top, lay), snapshot(lay.backing, lay))


def compare(case, want, got, what):
    """Differences of got from want, as text lines (empty: same)."""
    msgs = []
    if want.out != got.out:
        msgs.append('output differs (--- native, +++ %s):' % what)
        msgs += [l.rstrip('\n') for l in difflib.unified_diff(
            want.out.splitlines(True), got.out.splitlines(True),
            'native', what, n=3)]
    if want.status != got.status:
        msgs.append('exit status: native %s, %s %s' % (want.status, what, got.status))
    for name, a, b in (('backing tree', want.backing, got.backing),
                       ('tree around the mount point', want.top, got.top)):
        if a != b:
            msgs.append('%s differs (--- native, +++ %s):' % (name, what))
            msgs += [l.rstrip('\n') for l in difflib.unified_diff(a, b, 'native', what, n=1)
                     if not l.startswith(('---', '+++'))]
    if msgs and got.err.strip():
        msgs.append('%s stderr:' % what)
        msgs += ['  ' + l for l in got.err.rstrip().splitlines()[-30:]]
    return msgs


def check_native(case, r):
    if r.status != 0 or 'TIMEOUT' in r.out:
        raise CaseError('%s:%d: case %s: native run failed (status %s):\n%s%s' % (
            case.file, case.lineno, case.name, r.status, r.out, r.err))


def check_namespaces(tmp):
    d = tempfile.mkdtemp(prefix='defuse-conf-ns-', dir=tmp)
    try:
        os.mkdir(d + '/a')
        os.mkdir(d + '/b')
        r = subprocess.run(['unshare', '--mount', '--propagation', 'private', '--',
                            'mount', '--bind', d + '/a', d + '/b'],
                           capture_output=True, text=True)
        if r.returncode:
            return (r.stderr.strip() or 'status %d' % r.returncode)
    except OSError as e:
        return str(e)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    return None


def main():
    global TIMEOUT
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--fsops', required=True)
    ap.add_argument('--defuse')
    ap.add_argument('--module')
    ap.add_argument('--memfs-module', help='memfs.so, for --modes memfs')
    ap.add_argument('--nfs-module', help='nfs.so, for --modes nfs')
    ap.add_argument('--nfs-url', default=os.environ.get('DEFUSE_NFS_URL'),
                    help='the export, nfs://SERVER/EXPORT ($DEFUSE_NFS_URL)')
    ap.add_argument('--nfs-dir', default=os.environ.get('DEFUSE_NFS_DIR'),
                    help="the export's directory on the server ($DEFUSE_NFS_DIR)")
    ap.add_argument('--nfs-options', default='', help='options after the URL')
    ap.add_argument('--modes', default='kernel,emulated')
    ap.add_argument('-k', dest='pattern', help='only cases whose name contains this')
    ap.add_argument('--keep', action='store_true', help='keep the scratch directories')
    ap.add_argument('--known-failures', default=None,
                    help='file of "CASE MODE reason" lines (CASE may be *): '
                         'those fail as expected (XFAIL); one that passes is '
                         'an error (XPASS) until it is taken off the list, '
                         'unless its reason starts with [races] (a bug that '
                         'shows only under some interleavings)')
    ap.add_argument('--self-test', action='store_true')
    ap.add_argument('--show', action='store_true',
                    help='only print what each case prints natively (for writing cases)')
    ap.add_argument('--tmpdir', default=None)
    ap.add_argument('--timeout', type=int, default=TIMEOUT)
    ap.add_argument('casefiles', nargs='+')
    opts = ap.parse_args()
    TIMEOUT = opts.timeout
    opts.fsops = os.path.abspath(opts.fsops)
    modes = [m for m in opts.modes.split(',') if m]
    for m in modes:
        if m not in ('kernel', 'emulated', 'fuse', 'memfs', 'nfs'):
            ap.error('unknown mode ' + m)
    if ('memfs' in modes or 'nfs' in modes) and opts.tmpdir is None and os.path.isdir('/dev/shm'):
        opts.tmpdir = '/dev/shm'
    if not opts.self_test and not opts.show:
        need = [('defuse', 'defuse')]
        if [m for m in modes if m not in ('memfs', 'nfs')]:
            need.append(('module', 'module'))
        if 'memfs' in modes:
            need.append(('memfs_module', 'memfs module'))
        if 'nfs' in modes:
            need.append(('nfs_module', 'nfs module'))
            if not opts.nfs_url or not opts.nfs_dir or not os.path.isdir(opts.nfs_dir):
                ap.error('--modes nfs needs --nfs-url and --nfs-dir (a running server: '
                         'tests/nfs/server.sh)')
        if any(not getattr(opts, a) for a, _ in need):
            ap.error('--defuse and --module (--memfs-module for the memfs mode) '
                     'are needed (or --self-test)')
        for a, what in need:
            p = os.path.abspath(getattr(opts, a))
            setattr(opts, a, p)
            if not os.path.isfile(p):
                print('error: %s not found: %s' % (what, p))
                return 2
    if shutil.which('unshare') is None or shutil.which('mount') is None:
        print('SKIP: the native runs need unshare(1) and mount(1)')
        return 77
    why = check_namespaces(opts.tmpdir)
    if why:
        print('SKIP: the native runs need a private mount namespace with a bind '
              'mount (root or CAP_SYS_ADMIN): ' + why)
        return 77
    why = 'fuse' in modes and not opts.self_test and not opts.show and check_fuse()
    if why:
        print('SKIP: the fuse mode needs a usable FUSE device: ' + why)
        return 77

    try:
        cases = []
        for f in opts.casefiles:
            cases += load_cases(os.path.abspath(f))
    except CaseError as e:
        print('error: %s' % e)
        return 2
    if opts.pattern:
        cases = [c for c in cases if opts.pattern in c.name]
    if not cases:
        print('error: no cases')
        return 2

    root = tempfile.mkdtemp(prefix='defuse-conf-', dir=opts.tmpdir)
    # The kernel stand-ins of FIFOs and sockets of modules with no kernel
    # directories (src/core/special.c) go with the scratch tree: a case's
    # tree removed through the kernel leaves its nodes' stand-ins behind.
    # Every user must reach it, as /dev/shm/.defuse-special, the default,
    # sticky and open to all (cases that change their IDs open FIFOs:
    # creds.cases); the scratch trees below are searchable by all, as a
    # backing directory usually is.
    os.chmod(root, 0o711)
    special = os.path.join(root, 'special')
    os.mkdir(special)
    os.chmod(special, 0o1777)
    os.environ['DEFUSE_SPECIAL_DIR'] = special
    failed = []
    try:
        if opts.show:
            for i, case in enumerate(cases):
                scratch = case_dir(root, i, case)
                r = one_run(scratch, 'n', case, lambda lay: native_cmd(opts, lay, case))
                sys.stdout.write(r.out + r.err)
                if r.status:
                    print('(status %s)' % r.status)
                shutil.rmtree(scratch, ignore_errors=True)
        elif opts.self_test:
            failed = self_test(opts, cases, root)
        else:
            failed = differential(opts, cases, root, modes)
    except CaseError as e:
        print('error: %s' % e)
        failed = ['(broken case)']
        return 2
    finally:
        if opts.keep:
            print('scratch directories kept in %s' % root)
        else:
            shutil.rmtree(root, ignore_errors=True)
        print('%d cases, %d failed%s' % (len(cases), len(failed),
                                         (': ' + ' '.join(failed)) if failed else ''))
    return 1 if failed else 0


def case_dir(root, i, case):
    d = os.path.join(root, '%03d' % i)
    os.mkdir(d)
    return d


def load_known_failures(path):
    """{(case or '*', mode): reason} from a known-failures file."""
    known = {}
    if not path:
        return known
    for n, line in enumerate(open(path), 1):
        line = line.strip()
        if not line or line.startswith('#'):
            continue
        parts = line.split(None, 2)
        if len(parts) < 3:
            raise CaseError('%s:%d: expected "CASE MODE reason"' % (path, n))
        known[(parts[0], parts[1])] = parts[2]
    return known


def differential(opts, cases, root, modes):
    failed = []
    known = load_known_failures(opts.known_failures)
    xfail = 0
    for i, case in enumerate(cases):
        scratch = case_dir(root, i, case)
        want = one_run(scratch, 'n', case, lambda lay: native_cmd(opts, lay, case))
        check_native(case, want)
        bad = []
        for k, mode in enumerate(modes):
            if mode == 'fuse':
                got = fuse_one_run(opts, scratch, case)
            elif mode == 'memfs':
                got = memfs_one_run(opts, scratch, case, i)
            elif mode == 'nfs':
                got = nfs_one_run(opts, scratch, case, i)
            else:
                got = one_run(scratch, mode[0], case,
                              lambda lay: defuse_cmd(opts, lay, case, mode))
            msgs = compare(case, want, got, mode)
            reason = known.get((case.name, mode)) or known.get(('*', mode))
            if reason and msgs:
                xfail += 1
                print('XFAIL %s [%s]: %s' % (case.name, mode, reason))
                continue
            if reason and not msgs and reason.startswith('[races]'):
                print('ok   %s [%s] (listed as racing, passed this time): %s'
                      % (case.name, mode, reason))
                continue
            if reason and not msgs:
                bad.append(mode)
                print('XPASS %s [%s]: passes now; take it off %s' %
                      (case.name, mode, opts.known_failures))
                continue
            if msgs:
                bad.append(mode)
                print('FAIL %s [%s] (%s:%d)' % (case.name, mode,
                                               os.path.basename(case.file), case.lineno))
                for m in msgs:
                    print('    ' + m)
        if bad:
            failed.append('%s[%s]' % (case.name, ','.join(bad)))
            if opts.keep:
                print('    scratch: %s (n: native; k: kernel, e: emulated, f: fuse)' % scratch)
        else:
            print('ok   %s' % case.name)
        if not (bad and opts.keep):
            shutil.rmtree(scratch, ignore_errors=True)
        sys.stdout.flush()
    if xfail:
        print('%d known failures (XFAIL), listed in %s' % (xfail, opts.known_failures))
    return failed


def self_test(opts, cases, root):
    """The runner and fsops against themselves: see the module comment."""
    failed = []
    errno_fail = errno_should = tree_fail = 0
    for i, case in enumerate(cases):
        scratch = case_dir(root, i, case)
        want = one_run(scratch, 'n', case, lambda lay: native_cmd(opts, lay, case))
        check_native(case, want)
        problems = []
        # 1. the same thing twice gives the same answers
        got = one_run(scratch, 'm', case, lambda lay: native_cmd(opts, lay, case))
        msgs = compare(case, want, got, 'native-again')
        if msgs:
            problems.append('not deterministic:')
            problems += msgs
        # 2. a flipped errno is noticed exactly where ENOENT is printed
        shutil.rmtree(scratch + '/m')
        shutil.rmtree(scratch + '/mb')
        got = one_run(scratch, 'm', case, lambda lay: native_cmd(opts, lay, case, 'errno'))
        should = ' ENOENT' in want.out
        noticed = bool(compare(case, want, got, 'broken-errno'))
        errno_should += should
        errno_fail += noticed
        if should != noticed:
            problems.append('--break=errno: %s' % ('not noticed' if should else
                                                  'noticed where no ENOENT is printed'))
        # 3. an extra directory in the backing tree is noticed
        shutil.rmtree(scratch + '/m')
        shutil.rmtree(scratch + '/mb')
        got = one_run(scratch, 'm', case, lambda lay: native_cmd(opts, lay, case, 'tree'))
        msgs = compare(case, want, got, 'broken-tree')
        if msgs:
            tree_fail += 1
        if not any('backing tree differs' in m for m in msgs):
            problems.append('--break=tree: not noticed')
        if problems:
            failed.append(case.name)
            print('FAIL %s (%s:%d)' % (case.name, os.path.basename(case.file), case.lineno))
            for m in problems:
                print('    ' + m)
        else:
            print('ok   %s' % case.name)
        if not (problems and opts.keep):
            shutil.rmtree(scratch, ignore_errors=True)
        sys.stdout.flush()
    print('self-test: %d cases print ENOENT, --break=errno failed %d; '
          '--break=tree failed %d of %d' % (errno_should, errno_fail, tree_fail, len(cases)))
    if errno_should == 0 and not opts.pattern:
        failed.append('(no case prints ENOENT: --break=errno proves nothing)')
    return failed


if __name__ == '__main__':
    if len(sys.argv) > 1 and sys.argv[1] in ('--inside-setup', '--inside-snapshot'):
        sys.exit(inside(sys.argv[1:]))
    sys.exit(main())
