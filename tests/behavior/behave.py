#!/usr/bin/env python3
"""Behaviour tests: a program run under capture behaves exactly as natively.

Each case prepares a scratch directory, runs its steps (commands) natively in
one scratch directory and under DEFUSE in another prepared the same way, and
compares for every step the exit status, stdout and (where it is
deterministic) stderr, then the files the steps produced (a digest of each
tree: names, types, modes, sizes, contents, link targets, and mtimes where
they are preserved from the inputs).  Inputs that are only read (the sample
tree) are made once and shared, so their times and inode numbers are the same
for both runs.  The only normalisation: the scratch directory's path is
replaced by @SCRATCH@ (the two directories have names of equal length).

    behave.py --defuse PATH [--mode MODE] [--tool NAME=PATH ...] CASE
    behave.py --list

--mode run runs `defuse run -- CMD`; --mode trace runs
`defuse trace -f -c -o /dev/null -- CMD`.

--mode mount-memfs: the defuse side's scratch directory is a memfs mount
(`memfs:NAME`, no kernel file behind any file), filled from B/backng by
`cp -a` after setup and copied out to B/after by `cp -a` for the
comparison; the sample tree is a passthrough mount as in --mode mount.
B is on tmpfs (/dev/shm) there, whose sizes and listing order (newest
first) memfs keeps, and the native scratch directory is filled by the same
`cp -a` from a staging directory, so that both sides made their entries in
the same order.

--mode mount and --mode mount-emulated run the same steps with the working
directory inside DEFUSE passthrough mounts: the defuse side's scratch
directory is the mount point B/defuse of
`defuse run -m B/defuse=passthrough:B/backng -m B/tmount=passthrough:B/shared`
(`passthrough:emulated=...` for mount-emulated), and the shared inputs (the
sample tree) are read through the second mount, as B/tmount/tree.  Setup
writes the inputs straight into the backing directory B/backng, prepared like
the native scratch directory B/native; the files compared afterwards are
those of B/backng.  Each step runs on both sides as
`sh -c 'cd DIR && exec CMD'` (the kernel's directory at the mount point is
empty), and paths are normalised on both sides: the scratch directory (mount
point or native) to @SCRATCH@, the shared directory (tmount or shared) to
@SHARED@.  The backing directory's own path is never normalised: a program
that gets to see it shows up as a difference.  --defuse may name any program that
takes the same arguments: tests/behavior/fake-defuse just execs the command,
which checks that the cases themselves are deterministic.  --keep keeps the
scratch directories and prints where they are.

Exit status: 0 same behaviour, 1 a difference (or the case broke natively),
77 skipped (a program it needs is missing; the reason is printed).
"""

import argparse
import difflib
import hashlib
import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

SKIP = 77

# ---------------------------------------------------------------------------
# Running commands


class Step:
    """One command of a case.

    argv: the command; cwd: relative to the scratch directory;
    stdin: bytes or None (then /dev/null); cmp_stderr: compare stderr;
    sort_stdout: compare stdout as a sorted list of lines (parallel output);
    expect_rc: the exit status the native run must have, or None for any.
    """

    def __init__(self, argv, cwd='.', stdin=None, cmp_stderr=True,
                 sort_stdout=False, expect_rc=0, env=None, label=None):
        self.argv = [str(a) for a in argv]
        self.label = label or ' '.join(self.argv)
        self.cwd = cwd
        self.stdin = stdin
        self.cmp_stderr = cmp_stderr
        self.sort_stdout = sort_stdout
        self.expect_rc = expect_rc
        self.env = env or {}


class Result:
    def __init__(self, rc, out, err):
        self.rc, self.out, self.err = rc, out, err


CD_WRAPPER = ['sh', '-c', 'cd "$1" && shift && exec "$@"', 'sh']


def run_step(step, scratch, env, prefix, cd_from=None):
    """Run one step in its own session; kill whatever it leaves behind.

    cd_from: start in that directory and let `sh` change to the step's
    directory (the mount modes: a mount point is empty to the kernel)."""
    cwd = os.path.normpath(os.path.join(scratch, step.cwd))
    e = dict(env)
    e['PWD'] = cwd      # as a shell would set it (sh wrappers add it anyway)
    e.update(step.env)
    argv = prefix + step.argv
    if cd_from is not None:
        argv = prefix + CD_WRAPPER + [cwd] + step.argv
        e['PWD'] = cd_from
        cwd = cd_from
    p = subprocess.Popen(argv, cwd=cwd, env=e,
                         stdin=subprocess.PIPE if step.stdin is not None
                         else subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         start_new_session=True)
    leftover = False
    try:
        out, err = p.communicate(step.stdin)
        # Anything of the command's still running a moment later?
        for _ in range(40):
            if not group_running(p.pid):
                break
            time.sleep(0.05)
        else:
            leftover = True
    finally:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if p.returncode is None:
            p.kill()
            p.wait()
    r = Result(p.returncode, out, err)
    r.leftover = leftover
    return r


def group_running(pgid):
    """Whether a process of group pgid runs (zombies do not count: orphans
    wait for whoever reaps them, which need not be quick)."""
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % pid) as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rfind(')') + 2:].split()
        if int(fields[2]) == pgid and fields[0] not in 'ZX':
            return True
    return False


def normalize(data, paths):
    """paths: (path, token) pairs, replaced in order."""
    for path, token in paths:
        data = data.replace(path.encode(), token)
    return data


# ---------------------------------------------------------------------------
# Digests of produced trees


def digest(root, mtime=False, exclude=(), paths=()):
    """Lines describing every entry under root, sorted by path.  paths: as
    for normalize(), applied to file contents before they are described."""
    lines = []
    if not os.path.lexists(root):
        return ['<missing>']
    if not os.path.isdir(root) or os.path.islink(root):
        return [describe(root, '.', mtime, paths)]
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        dirnames[:] = [d for d in dirnames
                       if os.path.normpath(os.path.join(rel_dir, d))
                       not in exclude]
        names = [(d, True) for d in dirnames] + [(f, False) for f in filenames]
        if rel_dir == '.':
            names.append(('.', True))
        for name, _ in names:
            rel = os.path.normpath(os.path.join(rel_dir, name))
            if rel in exclude:
                continue
            lines.append(describe(os.path.join(root, rel), rel, mtime, paths))
    return sorted(lines)


def describe(path, rel, mtime, paths=()):
    st = os.lstat(path)
    mode = stat.S_IMODE(st.st_mode)
    kind = stat.S_IFMT(st.st_mode)
    desc = '%s %s %04o' % (rel, {
        stat.S_IFDIR: 'dir', stat.S_IFREG: 'file',
        stat.S_IFLNK: 'link', stat.S_IFIFO: 'fifo',
        stat.S_IFSOCK: 'sock'}.get(kind, 'other'), mode)
    if kind == stat.S_IFREG:
        with open(path, 'rb') as f:
            data = f.read()
        norm = normalize(data, paths)
        h = hashlib.sha256(norm).hexdigest()
        desc += ' size=%d nlink=%d sha256=%s' % (st.st_size, st.st_nlink, h)
        if norm != data:
            desc += ' (paths normalised)'

    elif kind == stat.S_IFLNK:
        desc += ' -> ' + os.readlink(path)
    if mtime and kind != stat.S_IFLNK:
        desc += ' mtime=%d' % st.st_mtime_ns
    return desc


# ---------------------------------------------------------------------------
# Shared inputs

FIXED_TIME = 1609459200  # 2021-01-01T00:00:00Z


def make_tree(root):
    """A small tree with the kinds of entries tools treat specially."""
    rnd = random.Random(42)
    os.makedirs(root)
    dirs = ['a', 'a/b', 'a/b/c', 'empty', 'sub dir', 'caf\u00e9', 'deep/1/2/3/4']
    for d in dirs:
        os.makedirs(os.path.join(root, d), exist_ok=True)
    files = {
        'README.txt': b'hello tree\n',
        'a/one.txt': b'one\n' * 10,
        'a/two.dat': bytes(rnd.getrandbits(8) for _ in range(5000)),
        'a/b/three.txt': b'three\n',
        'a/b/c/big.bin': bytes(rnd.getrandbits(8) for _ in range(300000)),
        'a/b/c/empty.txt': b'',
        'sub dir/with space.txt': b'spaces\n',
        'caf\u00e9/cr\u00e8me.txt': b'unicode name\n',
        'deep/1/2/3/4/leaf.txt': b'leaf\n',
        'script.sh': b'#!/bin/sh\necho script\n',
        '.hidden': b'hidden\n',
    }
    for name, data in sorted(files.items()):
        with open(os.path.join(root, name), 'wb') as f:
            f.write(data)
    os.chmod(os.path.join(root, 'script.sh'), 0o755)
    os.chmod(os.path.join(root, 'a/one.txt'), 0o600)
    os.chmod(os.path.join(root, 'a/b/three.txt'), 0o444)
    os.chmod(os.path.join(root, 'empty'), 0o700)
    # A sparse file.
    with open(os.path.join(root, 'a/sparse.img'), 'wb') as f:
        f.seek(1 << 20)
        f.write(b'end')
    os.link(os.path.join(root, 'a/one.txt'), os.path.join(root, 'a/hardlink.txt'))
    os.symlink('a/b/three.txt', os.path.join(root, 'link-to-three'))
    os.symlink('../README.txt', os.path.join(root, 'a/up-link'))
    os.symlink('nowhere', os.path.join(root, 'dangling'))
    os.symlink('a/b', os.path.join(root, 'dirlink'))
    os.mkfifo(os.path.join(root, 'a/fifo'))
    # Fixed times, deepest first so directory times stick.
    t = FIXED_TIME
    for dirpath, dirnames, filenames in sorted(os.walk(root), reverse=True):
        for n in sorted(filenames + dirnames):
            p = os.path.join(dirpath, n)
            t += 61
            os.utime(p, ns=(t * 10**9 + 123456789, t * 10**9 + 123456789),
                     follow_symlinks=False)
        os.utime(dirpath, ns=(t * 10**9, t * 10**9), follow_symlinks=False)


def tree_files(root):
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        for n in filenames:
            p = os.path.join(dirpath, n)
            if stat.S_ISREG(os.lstat(p).st_mode):
                out.append(p)
    return sorted(out)


def write(path, text, mode=None):
    os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)
    if mode is not None:
        os.chmod(path, mode)


HERE = os.path.dirname(os.path.abspath(__file__))

# ---------------------------------------------------------------------------
# Cases.  Each returns (steps, digests) for a context; setup writes inputs.
# ctx.dir is the scratch directory (the steps' cwd), ctx.tree the shared tree,
# ctx.tool(name) the path of a required program.


class Ctx:
    """dir: where setup writes the inputs (for the mount modes' defuse side
    the backing directory); shared: the shared inputs as the steps see them
    (through a mount in the mount modes); mode: the --mode."""

    def __init__(self, scratch, shared, tools, mode='run', real_shared=None):
        self.dir = scratch
        self.shared = shared
        self.tree = os.path.join(shared, 'tree')
        self.tools = tools
        self.mode = mode
        # The shared tree as setup (this process, not captured) reaches it.
        self.real_tree = os.path.join(real_shared or shared, 'tree')

    def seen(self, path):
        """A path under real_tree as the steps see it."""
        return self.tree + path[len(self.real_tree):]

    def tool(self, name):
        return self.tools[name]


class Skip(Exception):
    """A case that cannot run in this mode (the message says why)."""


CASES = {}


def case(name, needs=()):
    def reg(fn):
        CASES[name] = (fn, tuple(needs))
        return fn
    return reg


@case('ls')
def case_ls(ctx):
    t = ctx.tree
    return [
        Step(['ls', '-lRai', '--time-style=full-iso', t]),
        Step(['ls', '-lRS', '--time-style=+%s', t]),
        Step(['ls', '-1RFt', '--color=always', t]),
        Step(['ls', '-ld', t + '/dangling', t + '/dirlink', t + '/dirlink/']),
        Step(['ls', '-l', t + '/nonexistent', t + '/README.txt'], expect_rc=2),
    ], []


@case('cp')
def case_cp(ctx):
    return [
        Step(['cp', '-a', ctx.tree, 'copy-a']),
        Step(['cp', '-r', ctx.tree, 'copy-r']),
        Step(['cp', '-a', '--sparse=always', ctx.tree + '/a/sparse.img',
              'sparse.img']),
        Step(['du', '-B1', '--apparent-size', 'copy-a/a/sparse.img']),
    ], [('copy-a', True), ('copy-r', False), ('sparse.img', True)]


@case('tar')
def case_tar(ctx):
    t = ctx.tree
    return [
        Step(['tar', '--sort=name', '-C', t, '-cf', 'archive.tar', '.']),
        Step(['sha256sum', 'archive.tar']),
        Step(['tar', '-tvf', 'archive.tar', '--full-time']),
        Step(['mkdir', 'out1', 'out2']),
        Step(['tar', '-C', 'out1', '-xpf', 'archive.tar']),
        Step(['bash', '-c', 'set -o pipefail; tar --sort=name -C "$1" -czf - . '
              '| tar -C out2 -xzpf - && echo round trip ok', 'bash', t]),
        Step(['tar', '--sort=name', '--mtime=@0', '--owner=0', '--group=0',
              '-C', 'out2', '-cf', '-', '.'], cmp_stderr=True),
    ], [('out1', True), ('out2', True), ('archive.tar', False)]


@case('sha256sum')
def case_sha256sum(ctx):
    files = [ctx.seen(p) for p in tree_files(ctx.real_tree)]
    return [
        Step(['sha256sum'] + files),
        Step(['bash', '-c', 'sha256sum "$@" > sums && sha256sum -c sums',
              'bash'] + files),
        Step(['sha256sum', '-'], stdin=b'from stdin\n' * 1000),
        Step(['sha256sum', ctx.tree + '/missing', ctx.tree + '/a'],
             expect_rc=1),
        Step(['b2sum', '--tag'] + files[:3]),
    ], [('sums', False)]


@case('find')
def case_find(ctx):
    t = ctx.tree
    return [
        Step(['find', t]),
        Step(['find', t, '-type', 'f', '-name', '*.txt']),
        Step(['find', t, '-type', 'd']),
        Step(['find', t, '-type', 'l', '-printf', '%p -> %l %y %Y\n']),
        Step(['find', t, '-name', 'b', '-prune', '-o', '-type', 'f',
              '-print0']),
        Step(['find', t, '-newer', t + '/a/b/three.txt', '-printf',
              '%p %s %m %T@\n']),
        Step(['find', t, '-size', '+1k', '-ls']),
        Step(['find', '-L', t, '-type', 'f', '-iname', '*.TXT']),
        Step(['find', t + '/a', t + '/nonexistent', '-name', '*.dat'],
             expect_rc=1),
        Step(['find', t, '-maxdepth', '2', '-type', 'p', '-o', '-empty']),
        Step(['find', t, '-samefile', t + '/a/one.txt']),
        Step(['bash', '-c', 'find "$1" -type f -print0 | sort -z | '
              'xargs -0 wc -c', 'bash', t]),
    ], []


@case('sort')
def case_sort(ctx):
    rnd = random.Random(7)
    with open(os.path.join(ctx.dir, 'input.txt'), 'w') as f:
        for _ in range(10000):
            f.write('%08x %d word%d\n' % (rnd.getrandbits(32),
                                         rnd.randrange(10**6),
                                         rnd.randrange(100)))
    os.mkdir(os.path.join(ctx.dir, 'tmp'))
    return [
        Step(['sort', '-S', '1K', '-T', 'tmp', 'input.txt', '-o', 'sorted']),
        Step(['sort', '-S', '1K', '-T', 'tmp', '--parallel=2', '-k2,2n',
              '-k1,1', 'input.txt', '-o', 'sorted-n']),
        Step(['sort', '-S', '1K', '-T', 'tmp', '-u', '-k3,3', 'input.txt']),
        Step(['sort', '-c', 'sorted']),
        Step(['sort', '-c', 'input.txt'], expect_rc=1),
        Step(['sha256sum', 'sorted', 'sorted-n']),
    ], [('sorted', False), ('sorted-n', False), ('tmp', False)]


def fixed_times(root):
    """Give everything under root (root too) fixed, distinct mtimes."""
    t = FIXED_TIME + 100000
    for dirpath, dirnames, filenames in sorted(os.walk(root), reverse=True):
        for n in sorted(filenames + dirnames):
            t += 7
            os.utime(os.path.join(dirpath, n), (t, t), follow_symlinks=False)
        os.utime(dirpath, (t, t), follow_symlinks=False)


@case('mv')
def case_mv(ctx):
    d = ctx.dir
    for i in range(1, 9):
        write(os.path.join(d, 'f%d' % i), 'file %d\n' % i)
    write(os.path.join(d, 'd1/inner.txt'), 'inner\n')
    write(os.path.join(d, 'd1/sub/deeper.txt'), 'deeper\n')
    os.mkdir(os.path.join(d, 'target'))
    os.symlink('f8', os.path.join(d, 'link'))
    fixed_times(d)
    return [
        Step(['mv', 'f1', 'f1-renamed']),
        Step(['mv', '-v', 'f2', 'target/']),
        Step(['mv', 'd1', 'd2']),
        Step(['mv', '-T', 'd2', 'd3']),
        Step(['mv', '-n', 'f3', 'f4'], expect_rc=None),
        Step(['mv', '-f', 'f5', 'f4']),
        Step(['mv', '-b', 'f6', 'f4']),
        Step(['mv', 'link', 'link-renamed']),
        Step(['mv', '-t', 'target', 'f7', 'link-renamed']),
        # Out of the directory (a mount: another file system, so mv copies:
        # no -v, which would say so) and back.
        Step(['bash', '-c', 'mv f8 "$HOME/f8-out" && '
              'mv "$HOME/f8-out" f8-back && cat f8-back']),
        Step(['bash', '-c', 'mv d3 "$HOME/d3-out" && mv "$HOME/d3-out" d3-back'
              ' && find d3-back | sort']),
        Step(['mv', 'nonexistent', 'x'], expect_rc=1),
        Step(['mv', 'd3-back', 'd3-back/sub/'], expect_rc=1),
        Step(['mv', 'target', 'f4'], expect_rc=1),
        # Times: those mv keeps (not of the directories the steps changed).
        Step(['bash', '-c', 'find . -type d -printf "%p %y %m %n\n" -o '
              '-printf "%p %y %m %n %s %T@ %l\n" | sort']),
    ], [('.', False)]


def copy_tree(ctx, *names):
    for n in names:
        subprocess.run(['cp', '-a', ctx.real_tree, os.path.join(ctx.dir, n)],
                       check=True)


@case('rm')
def case_rm(ctx):
    copy_tree(ctx, 't1', 't2', 't3')
    return [
        Step(['rm', '-r', 't1']),
        Step(['rm', '-rv', 't2']),
        Step(['rm', '-rf', 't3/a', 't3/nonexistent']),
        Step(['rm', 't3/empty'], expect_rc=1),
        Step(['rm', '-d', 't3/empty']),
        Step(['rm', '-r', 't3/nonexistent'], expect_rc=1),
        Step(['rm', '-i', 't3/README.txt'], stdin=b'n\n'),
        Step(['rm', '-v', 't3/dirlink', 't3/dangling']),
        Step(['rm', '-r', 't3/deep/1/2/../2/3']),
        Step(['rm', '-r', '.'], expect_rc=1),
        Step(['find', '.']),
    ], [('.', False)]


@case('mkdir')
def case_mkdir(ctx):
    write(os.path.join(ctx.dir, 'file'), 'x\n')
    return [
        Step(['mkdir', '-p', 'a/b/c']),
        Step(['mkdir', '-pv', 'x/y/z']),
        Step(['mkdir', '-p', 'a/b/c']),
        Step(['mkdir', 'a'], expect_rc=1),
        Step(['mkdir', '-m', '700', '-p', 'm1/m2']),
        Step(['mkdir', '-p', 'p/../q/./r//s']),
        Step(['mkdir', '-p', 'file/sub'], expect_rc=1),
        Step(['mkdir', 'no/parent'], expect_rc=1),
        Step(['bash', '-c', 'mkdir -p "$PWD/abs/dir" && cd abs/dir && pwd']),
        Step(['bash', '-c', 'mkdir -p $(printf "d%d/" $(seq 1 60)) && '
              'cd $(printf "d%d/" $(seq 1 60)) && pwd && '
              'mkdir ../../../sib && ls ../../..']),
        Step(['bash', '-c', 'umask 077; mkdir -p u1/u2; umask 022; '
              'mkdir -p u3/u4; stat -c "%n %a" u1 u1/u2 u3 u3/u4']),
        Step(['find', '.', '-printf', '%p %y %m\n']),
    ], [('.', False)]


@case('du')
def case_du(ctx):
    t = ctx.tree
    copy_tree(ctx, 'copy')
    return [
        Step(['du', '-a', t]),
        Step(['du', '-s', '--apparent-size', t]),
        Step(['du', '-ab', t]),
        Step(['du', '-sh', t]),
        Step(['du', '-Ls', t], expect_rc=1),   # dangling
        Step(['du', '--inodes', '-s', t]),
        Step(['du', '-c', t + '/a', t + '/a']),
        Step(['du', '-d1', t]),
        Step(['du', '-ab', '--exclude=*.bin', 'copy']),
        Step(['du', '-a']),
        Step(['du', t + '/nonexistent'], expect_rc=1),
    ], []


STAT_FMT = '%n|%F|%a|%A|%s|%b|%B|%h|%i|%u|%g|%Y|%y|%Z|%W|%N|%t|%T'


@case('stat')
def case_stat(ctx):
    t = ctx.tree
    copy_tree(ctx, 'copy')
    paths = []
    for dirpath, dirnames, filenames in sorted(os.walk(ctx.real_tree)):
        for n in sorted(dirnames + filenames):
            paths.append(ctx.seen(os.path.join(dirpath, n)))
    return [
        Step(['stat', '-c', STAT_FMT, t] + paths),
        Step(['stat', '-L', '-c', '%n|%F|%s|%i', t + '/dirlink',
              t + '/link-to-three', t + '/a/up-link']),
        Step(['stat', '-L', t + '/dangling'], expect_rc=1),
        Step(['stat', t + '/nonexistent', t + '/README.txt/x'],
             expect_rc=1),
        Step(['stat', '-c', '%n %d %D', t, t + '/a']),
        Step(['stat', '-f', '-c', '%T %s %S %l', t, '.']),
        Step(['stat', '-c', STAT_FMT.replace('|%i', '').replace('|%Z', '')
              .replace('|%W', '').replace('%y|', ''),
              'copy', 'copy/a', 'copy/a/one.txt', 'copy/dirlink',
              'copy/a/fifo', 'copy/a/sparse.img']),
        Step(['bash', '-c', 'stat -c "%s %F" - < copy/README.txt; '
              'exec 3<copy/a/two.dat; stat -L -c "%s %F" /dev/fd/3']),
        Step(['bash', '-c', 'touch -d @1000000000 copy/a/one.txt; '
              'stat -c "%Y %h" copy/a/one.txt copy/a/hardlink.txt']),
    ], [('copy', True)]


@case('grep')
def case_grep(ctx):
    t = ctx.tree
    write(os.path.join(ctx.dir, 'notes/a.txt'), 'alpha\nbeta\ngamma\n')
    write(os.path.join(ctx.dir, 'notes/b.log'), 'beta log\nerror: x\n')
    write(os.path.join(ctx.dir, 'notes/sub/c.txt'), 'error: y\nalpha beta\n')
    return [
        Step(['grep', '-rn', 'e', t]),
        Step(['grep', '-rl', 'one', t]),
        Step(['grep', '-rc', '.', t + '/a']),
        Step(['grep', '-R', '-D', 'skip', 'three', t], expect_rc=2),
        Step(['grep', '-r', '--include=*.txt', '-h', '.', t]),
        Step(['grep', '-rZl', 'e', t]),
        Step(['grep', '-r', 'nomatchxyz', t], expect_rc=1),
        Step(['grep', '-rs', 'x', t + '/nonexistent'], expect_rc=2),
        Step(['grep', '-r', 'error']),
        Step(['grep', '-rw', '--exclude-dir=sub', 'beta', 'notes']),
        Step(['grep', '-r', '-e', 'alpha', '-e', 'error', '--', 'notes']),
        Step(['bash', '-c', 'cd notes && grep -r beta . | sort']),
    ], []


SQL_SETUP = """
create table t(id integer primary key, name text not null, v real);
with recursive c(i) as (select 1 union all select i + 1 from c where i < 20000)
insert into t select i, 'name' || (i % 97), i * 0.5 from c;
create index t_name on t(name);
select count(*), sum(v), count(distinct name) from t;
"""

SQL_QUERY = """
.headers on
.mode list
select name, count(*) as n, max(v) from t group by name order by n desc, name
limit 5;
pragma integrity_check;
begin; delete from t where id % 3 = 0; update t set v = -v where id % 5 = 0;
commit;
select count(*), sum(v) from t;
"""

SQL_MORE = """
pragma journal_mode = wal;
insert into t(name, v) select name || '-wal', v from t where id < 1000;
select count(*) from t;
attach 'second.db' as s;
create table s.copy as select * from t where id < 100;
select count(*) from s.copy;
pragma temp_store = file;
select name, sum(v) from (select * from t order by random()) group by name
order by name limit 3;
vacuum;
pragma integrity_check;
"""


@case('sqlite', needs=('sqlite3',))
def case_sqlite(ctx):
    s = ctx.tool('sqlite3')
    env = {'SQLITE_TMPDIR': '.'}
    return [
        Step([s, 'test.db'], stdin=SQL_SETUP.encode(), env=env),
        Step([s, 'test.db'], stdin=SQL_QUERY.encode(), env=env),
        Step([s, 'test.db'], stdin=SQL_MORE.encode(), env=env),
        Step([s, '-readonly', 'test.db', 'select count(*) from t;'], env=env),
        Step(['bash', '-c', '"$1" test.db .dump | sha256sum', 'bash', s],
             env=env),
        Step([s, 'test.db', 'select * from nosuchtable;'], expect_rc=1,
             env=env),
        Step(['ls', '-1']),
    ], [('test.db', False), ('second.db', False)]


BASH_SCRIPT = r'''
set -u
echo start
echo one > f1
echo two >> f1
cat < f1
wc -l < f1 > count; cat count
ls nonexistent 2>&1 | sed 's/^/captured: /'
{ echo to-stdout; echo to-stderr >&2; } 2>&1 | sort
{ echo only-err >&2; } 2>err.txt; cat err.txt
exec 3<>rw.txt
echo "via fd 3" >&3
exec 3>&-
cat rw.txt
exec 4<f1; read -r line <&4; echo "read from fd 4: $line"; exec 4<&-
exec 5>>f1; echo three >&5; exec 5>&-; cat f1
cat <<EOF > heredoc.txt
expanded: $((6 * 7)) ${HOME:+home-set}
EOF
cat heredoc.txt
cat <<'EOF'
not expanded: $((6 * 7))
EOF
cat <<< "here-string"
(mkdir -p sub && cd sub && echo "in subshell: ${PWD##*/}" && echo made > file)
[ "${PWD##*/}" != sub ] && echo "after subshell: not in sub"
(echo sub1; (echo sub2; exit 3); echo "inner status $?")
x=$(printf '%s\n' c b a | sort | tr '\n' ' '); echo "sorted: $x"
seq 1 100000 | awk '{s += $1} END {print "sum", s}'
yes | head -n 3
{ for i in 1 2 3 4 5; do echo "job $i" & done; wait; } | sort
diff <(seq 3) <(seq 4); echo "diff status $?"
mkfifo fifo; (echo through-fifo > fifo &); cat fifo
trap 'echo trapped USR1' USR1; kill -USR1 $$; trap - USR1
false; echo "status $?"
set -o pipefail; false | true; echo "pipefail $?"; set +o pipefail
coproc CAT { cat; }
echo hello >&"${CAT[1]}"; read -r r <&"${CAT[0]}"; echo "coproc: $r"
exec {CAT[1]}>&-; wait "$CAT_PID"; echo "coproc exit $?"
f() { local v=$1; echo "func $v"; return 4; }; f arg; echo "func status $?"
printf '%s\n' 3 1 2 > nums; sort -n < nums > nums.sorted; cat nums.sorted
cat nums nonexistent > both.txt 2>&1; echo "cat status $?"; cat both.txt
: > truncated.txt; echo "size $(stat -c %s truncated.txt)"
echo $(( $(wc -c < f1) * 2 ))
bash -c 'exit 7'; echo "child bash $?"
ulimit -n 64; ulimit -n
read -r a b <<< "x y"; echo "$b $a"
echo "stdin line: $(head -n 1)"
echo end >&2
exit 5
'''


@case('bash')
def case_bash(ctx):
    write(os.path.join(ctx.dir, 'script.sh'), BASH_SCRIPT)
    return [
        Step(['bash', 'script.sh'], stdin=b'first stdin line\nsecond\n',
             expect_rc=5),
        Step(['bash', '-c', 'cat > in.txt; tr a-z A-Z < in.txt >> in.txt; '
              'cat in.txt; exec 6<in.txt; cat <&6 | wc -l; '
              'exec >out.txt 2>&1; echo redirected; ls /nonexistent'],
             stdin=b'abc\ndef\n', expect_rc=2),
        # /dev/stdout, /dev/stderr and /dev/fd/N are the file a descriptor
        # is: opening one opens that file again, O_APPEND or O_TRUNC as
        # asked (the truncation leaves fd 1's offset, so a hole).
        Step(['bash', '-c', '{ echo one; echo two >> /dev/stdout; echo three >> /dev/fd/1; '
              'echo four; } > std.txt; cat std.txt; '
              '{ echo five; echo six > /dev/stdout; echo seven; } > trunc.txt; od -c trunc.txt; '
              'sh -c "echo e1 >&2; echo e2 >> /dev/stderr; echo e3 >&2" 2> err.txt; '
              'sh -c "cat /dev/stdin" < err.txt']),
    ], [('.', False)]


PY_SCRIPT = r'''
import concurrent.futures, hashlib, mmap, multiprocessing, os, select, signal
import subprocess, sys, tempfile, threading

def h(b):
    return hashlib.sha256(b).hexdigest()[:16]

os.makedirs('data/sub', exist_ok=True)
with open('data/lines.txt', 'w') as f:
    for i in range(20000):
        f.write('line %d\n' % i)
with open('data/lines.txt', 'rb') as f:
    d = f.read()
print('lines.txt', len(d), h(d))

with open('data/b.bin', 'wb+') as f:
    f.write(b'x' * 100000)
    f.seek(50000)
    f.write(b'y' * 10)
    f.truncate(70000)
    f.seek(0)
    print('b.bin', h(f.read()), os.fstat(f.fileno()).st_size)

fd = os.open('data/raw', os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o640)
os.pwrite(fd, b'ABCDEFGH', 100)
print('pread', os.pread(fd, 4, 102), os.lseek(fd, 0, os.SEEK_END))
os.close(fd)
try:
    os.open('data/raw', os.O_CREAT | os.O_EXCL | os.O_RDWR)
except FileExistsError as e:
    print('O_EXCL:', e.errno)
fd = os.open('data/raw', os.O_WRONLY | os.O_APPEND)
os.write(fd, b'appended')
os.close(fd)
print('size', os.stat('data/raw').st_size, oct(os.stat('data/raw').st_mode))

os.rename('data/raw', 'data/sub/renamed')
os.link('data/sub/renamed', 'data/hard')
os.symlink('sub/renamed', 'data/sym')
print('readlink', os.readlink('data/sym'), os.path.realpath('data/sym') ==
      os.path.abspath('data/sub/renamed'))
os.utime('data/hard', (1000000000, 1000000000))
os.chmod('data/hard', 0o600)
print('listdir', sorted(os.listdir('data')))
print('scandir', sorted((e.name, e.is_dir(), e.is_symlink())
                        for e in os.scandir('data')))
print('walk', [(p, sorted(d), sorted(f)) for p, d, f in sorted(os.walk('data'))])

with open('data/mm', 'wb') as f:
    f.write(b'\0' * 8192)
if os.environ.get('BEHAVE_SHARED_MMAP') == 'no':
    # Both sides skip it, so outputs still compare; the reason is printed.
    print('mmap skipped: MAP_SHARED of emulated files is not implemented yet')
else:
    with open('data/mm', 'r+b') as f:
        m = mmap.mmap(f.fileno(), 0)
        m[100:105] = b'hello'
        m.flush()
        m.close()
    with open('data/mm', 'rb') as f:
        print('mmap', f.read()[100:105])

with tempfile.TemporaryDirectory(dir='.') as td:
    with open(os.path.join(td, 't'), 'w') as f:
        f.write('temp')
    print('tempdir entries', os.listdir(td))
print('tempdir removed', [n for n in os.listdir('.') if n.startswith('tmp')])

# Threads, each with its own file, plus a shared counter.
lock = threading.Lock()
count = [0]
barrier = threading.Barrier(8)
def worker(n):
    barrier.wait()
    with open('data/thread-%d' % n, 'w') as f:
        for i in range(500):
            f.write('%d:%d\n' % (n, i))
            with lock:
                count[0] += 1
    return n
ts = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print('threads', count[0], sorted(os.path.getsize('data/thread-%d' % i)
                                  for i in range(8)))

def hash_file(p):
    with open(p, 'rb') as f:
        return p, h(f.read())
with concurrent.futures.ThreadPoolExecutor(4) as ex:
    print('pool', sorted(ex.map(hash_file, ['data/thread-%d' % i
                                            for i in range(8)])))

# Subprocesses, some started from several threads at once.
r = subprocess.run([sys.executable, '-c', 'import sys; print(sum(range(1000))); '
                    'sys.stderr.write("err\\n"); sys.exit(3)'],
                   capture_output=True, text=True)
print('subprocess', r.returncode, r.stdout.strip(), r.stderr.strip())
r = subprocess.run(['sort', '-r'], input='a\nc\nb\n', capture_output=True,
                   text=True)
print('sort via stdin', r.stdout.split())
p1 = subprocess.Popen(['seq', '1000'], stdout=subprocess.PIPE)
p2 = subprocess.Popen(['wc', '-l'], stdin=p1.stdout, stdout=subprocess.PIPE)
p1.stdout.close()
print('pipeline', p2.communicate()[0].strip(), p1.wait(), p2.returncode)
r = subprocess.run('echo $FOO; exit 9', shell=True, env=dict(os.environ,
                   FOO='from-env'), capture_output=True, text=True)
print('shell', r.stdout.strip(), r.returncode)
def spawn(n):
    return subprocess.check_output(['echo', str(n)], text=True).strip()
with concurrent.futures.ThreadPoolExecutor(4) as ex:
    print('spawn from threads', sorted(ex.map(spawn, range(16)), key=int))

# fork with a thread running, pipes and select.
rd, wr = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(rd)
    os.write(wr, b'from child')
    os._exit(7)
os.close(wr)
ready, _, _ = select.select([rd], [], [], 30)
print('select', ready == [rd], os.read(rd, 100))
os.close(rd)
_, st = os.waitpid(pid, 0)
print('child status', os.waitstatus_to_exitcode(st))

got = []
signal.signal(signal.SIGUSR1, lambda s, f: got.append(s))
os.kill(os.getpid(), signal.SIGUSR1)
print('signal handled', got == [signal.SIGUSR1])

def square(x):
    return x * x
ctx = multiprocessing.get_context('fork')
with ctx.Pool(2) as pool:
    print('multiprocessing', sum(pool.map(square, range(100))))

print('environ', os.environ.get('BEHAVE_VAR'))
sys.stderr.write('done\n')
sys.exit(4)
'''


@case('python', needs=('python3',))
def case_python(ctx):
    write(os.path.join(ctx.dir, 'script.py'), PY_SCRIPT)
    return [
        Step([ctx.tool('python3'), 'script.py'], expect_rc=4,
             env={'BEHAVE_VAR': 'set',
                  'BEHAVE_SHARED_MMAP': 'no' if ctx.mode == 'mount-emulated' else 'yes'}),
        Step([ctx.tool('python3'), '-c',
              'import sys; d = sys.stdin.buffer.read(); '
              'open("copy", "wb").write(d); print(len(d))'],
             stdin=bytes(range(256)) * 4000),
    ], [('data', False), ('copy', False)]


GIT_ENV = {
    'GIT_AUTHOR_NAME': 'Behave Test', 'GIT_AUTHOR_EMAIL': 'behave@example.org',
    'GIT_COMMITTER_NAME': 'Behave Test',
    'GIT_COMMITTER_EMAIL': 'behave@example.org',
    'GIT_AUTHOR_DATE': '2021-01-02T03:04:05Z',
    'GIT_COMMITTER_DATE': '2021-01-02T03:04:05Z',
    'GIT_CONFIG_NOSYSTEM': '1', 'GIT_CONFIG_GLOBAL': '/dev/null',
    'GIT_TERMINAL_PROMPT': '0', 'GIT_PAGER': 'cat', 'PAGER': 'cat',
}


@case('git', needs=('git',))
def case_git(ctx):
    g = ctx.tool('git')
    cfg = ['-c', 'commit.gpgsign=false', '-c', 'gc.auto=0',
           '-c', 'maintenance.auto=false', '-c', 'init.defaultBranch=main',
           '-c', 'core.fsync=none']

    def git(*args, **kw):
        return Step([g] + cfg + list(args), env=GIT_ENV,
                    label='git ' + ' '.join(args), **kw)
    write(os.path.join(ctx.dir, 'repo/README'), 'readme\n')
    write(os.path.join(ctx.dir, 'repo/src/main.c'), 'int main(void) { return 0; }\n')
    write(os.path.join(ctx.dir, 'repo/src/data.txt'), ''.join(
        'data %d\n' % i for i in range(5000)))
    write(os.path.join(ctx.dir, 'change.sh'),
          'echo changed >> README; rm src/data.txt; echo new > new.txt\n')
    return [
        git('init', '-q', 'repo'),
        git('-C', 'repo', 'status', '--porcelain=v2', '--branch'),
        git('-C', 'repo', 'add', '-A'),
        git('-C', 'repo', 'commit', '-q', '-m', 'first'),
        git('-C', 'repo', 'rev-parse', 'HEAD', 'HEAD^{tree}'),
        Step(['sh', '../change.sh'], cwd='repo'),
        git('-C', 'repo', 'status', '--porcelain=v2', '--branch',
            '--untracked-files=all'),
        git('-C', 'repo', 'diff', '--stat'),
        git('-C', 'repo', 'add', '-A'),
        git('-C', 'repo', 'commit', '-m', 'second'),
        git('-C', 'repo', 'log', '--format=%H %an %ad %s', '--stat'),
        git('-C', 'repo', 'tag', '-a', 'v1', '-m', 'tag'),
        git('clone', '-q', 'repo', 'clone'),
        git('-C', 'clone', 'log', '--oneline', '--decorate'),
        git('-C', 'repo', 'gc', '-q'),
        git('-C', 'repo', 'fsck', '--full', '--strict'),
        git('-C', 'repo', 'count-objects', '-v'),
        git('-C', 'repo', 'archive', '--format=tar', 'HEAD', '-o', '../head.tar'),
        git('-C', 'repo', 'show', 'HEAD~1:src/data.txt', '--', cmp_stderr=True),
        git('-C', 'repo', 'checkout', '-q', 'nonexistent', expect_rc=1),
    ], [('repo', False, ('.git',)), ('clone', False, ('.git',)),
        ('head.tar', False)]


MAKEFILE = '''\
CC ?= cc
CFLAGS = -O2 -Wall
OBJS = main.o util.o msg.o

all: prog

prog: $(OBJS)
\t$(CC) -o $@ $(OBJS)

%.o: %.c util.h
\t$(CC) $(CFLAGS) -c $< -o $@

gen.h: gen.sh
\tsh gen.sh > $@

msg.o: gen.h

check: prog
\t./prog 5 > check.out
\t@echo check done

clean:
\trm -f prog $(OBJS) gen.h check.out

.PHONY: all check clean
'''

MAIN_C = '''\
#include <stdio.h>
#include <stdlib.h>
#include "util.h"

int main(int argc, char **argv)
{
\tint n = argc > 1 ? atoi(argv[1]) : 10;
\tfor (int i = 1; i <= n; i++)
\t\tprintf("%d! = %llu\\n", i, factorial(i));
\tputs(message());
\treturn 0;
}
'''

UTIL_C = '''\
#include "util.h"

unsigned long long factorial(int n)
{
\treturn n <= 1 ? 1 : n * factorial(n - 1);
}
'''

MSG_C = '''\
#include "util.h"
#include "gen.h"

const char *message(void)
{
\treturn GENERATED;
}
'''

UTIL_H = '''\
unsigned long long factorial(int n);
const char *message(void);
'''


@case('make', needs=('make', 'gcc'))
def case_make(ctx):
    d = os.path.join(ctx.dir, 'proj')
    write(os.path.join(d, 'Makefile'), MAKEFILE)
    write(os.path.join(d, 'main.c'), MAIN_C)
    write(os.path.join(d, 'util.c'), UTIL_C)
    write(os.path.join(d, 'msg.c'), MSG_C)
    write(os.path.join(d, 'util.h'), UTIL_H)
    write(os.path.join(d, 'gen.sh'),
          'echo "#define GENERATED \\"generated $(echo hi | tr a-z A-Z)\\""\n')
    mk = [ctx.tool('make'), 'CC=' + ctx.tool('gcc')]
    return [
        Step(mk, cwd='proj'),
        Step(['./prog'], cwd='proj'),
        Step(mk, cwd='proj'),
        Step(['touch', 'util.h'], cwd='proj'),
        Step(mk + ['check'], cwd='proj'),
        Step(mk + ['clean'], cwd='proj'),
        Step(mk + ['-j2', 'all'], cwd='proj', sort_stdout=True),
        Step(['./prog', '3'], cwd='proj'),
        Step(mk + ['nosuchtarget'], cwd='proj', expect_rc=2),
    ], [('proj', False)]


@case('strace', needs=('strace',))
def case_strace(ctx):
    # A captured strace tracing captured children.
    return [
        Step([ctx.tool('strace'), '-f', '-qq', '-o', 'trace.out', '--',
              'ls', '-lai', '--time-style=full-iso', ctx.tree]),
        Step([ctx.tool('strace'), '-f', '-qq', '-e', 'trace=none',
              '-e', 'signal=none', '--',
              'bash', '-c', 'cat /etc/hostname >/dev/null; '
              '(echo sub; exit 3); echo "status $?"']),
        Step(['grep', '-c', 'execve("/usr/bin/ls"', 'trace.out']),
    ], []


FDS_PY = r'''
import os, subprocess, sys
# The lowest free numbers go to the program: 0-2 are stdio, so 3 comes next.
a = os.open('/dev/null', os.O_RDONLY)
b = os.dup(a)
print('open ->', a, 'dup ->', b)
os.dup2(a, 7)
print('dup2 onto 7 ->', os.readlink('/proc/self/fd/7'))
os.close(7)
try:
    os.close(7)
except OSError as e:
    print('second close:', e.errno)
print('fcntl F_DUPFD from 0 ->', __import__('fcntl').fcntl(a, 0, 0))
r, w = os.pipe()
print('pipe ->', r, w)
# A child started with close_fds sees only stdio; one without sees ours too.
out = subprocess.check_output([sys.executable, '-c',
    'import os; print(os.open("/dev/null", os.O_RDONLY))'])
print('child with close_fds opens ->', out.decode().strip())
out = subprocess.check_output([sys.executable, '-c',
    'import os; print(os.open("/dev/null", os.O_RDONLY))'], close_fds=False)
print('child without close_fds opens ->', out.decode().strip())
'''


@case('fds', needs=('python3',))
def case_fds(ctx):
    # Descriptor numbers are the kernel's and the program's alone.
    write(os.path.join(ctx.dir, 'fds.py'), FDS_PY)
    return [
        Step([ctx.tool('python3'), 'fds.py']),
        Step(['bash', '-c', 'exec 3</dev/null 4>out.txt; '
              'readlink /proc/$$/fd/3 /proc/$$/fd/4; exec {n}<fds.py; '
              'echo "next named fd: $n"']),
    ], []


@case('environ', needs=('python3',))
def case_environ(ctx):
    # The environment a program sees is the one it was given: nothing added
    # (LD_PRELOAD included), also after `env -i` and across exec.
    return [
        Step(['env', '-i', '/usr/bin/env']),
        Step(['env', '-i', 'A=1', 'B=2', '/usr/bin/env']),
        Step(['/usr/bin/env'], sort_stdout=True),
        Step(['bash', '-c', 'env | sort; exec env -u HOME /usr/bin/env | sort']),
        Step([ctx.tool('python3'), '-c',
              'import os; print(sorted(os.environ))'],
             env={'PYENV_VERSION': os.environ.get('PYENV_VERSION', '')}),
    ], []


def sig_case(mode, restart):
    def fn(ctx):
        return [Step([ctx.tool('sigloop'), mode, restart],
                     cmp_stderr=False)], []
    return fn


for _m in ('thread', 'child'):
    for _r in ('restart', 'norestart'):
        case('sigloop-%s-%s' % (_m, _r), needs=('sigloop',))(sig_case(_m, _r))


def sigsys_case(via):
    def fn(ctx):
        return [Step([ctx.tool('sigsys'), via])], []
    return fn


case('sigsys', needs=('sigsys',))(sigsys_case('inline'))
case('sigsys-jit', needs=('sigsys',))(sigsys_case('jit'))


# ---------------------------------------------------------------------------
# Driver


def show_diff(label, a, b, limit=60):
    al = a.decode(errors='replace').splitlines(keepends=True)
    bl = b.decode(errors='replace').splitlines(keepends=True)
    d = list(difflib.unified_diff(al, bl, 'native ' + label,
                                  'defuse ' + label))
    sys.stdout.write(''.join(d[:limit]))
    if d and not d[-1].endswith('\n'):
        sys.stdout.write('\n')
    if len(d) > limit:
        print('... (%d more diff lines)' % (len(d) - limit))


# memfs segments made by the mount-memfs mode, removed at the end.
memfs_segments = []


def memfs_copy(prefix, src, dst):
    """cp -a src dst under `defuse run` with the mounts of prefix (one of
    them memfs): a memfs scratch directory filled or read back; with no
    prefix, natively."""
    r = subprocess.run(prefix + ['cp', '-a', src, dst], capture_output=True, timeout=300)
    if r.returncode:
        raise RuntimeError('copying %s to %s: %s' % (src, dst, r.stderr.decode()))


def run_case(name, args, tools, base):
    fn, _ = CASES[name]
    shared = os.path.join(base, 'shared')
    make_tree(os.path.join(shared, 'tree'))
    mount = args.mode.startswith('mount')
    os.mkdir(os.path.join(base, 'home'))
    env = {
        'PATH': os.environ.get('PATH', '/usr/bin:/bin'),
        'HOME': os.path.join(base, 'home'),
        'LC_ALL': 'C.UTF-8', 'LANG': 'C.UTF-8', 'TZ': 'UTC',
        'TERM': 'dumb', 'TMPDIR': os.path.join(base, 'home'),
        'XDG_CACHE_HOME': os.environ.get('XDG_CACHE_HOME') or os.path.join(
            os.environ.get('HOME', '/root'), '.cache'),
    }
    for k in ('DEFUSE_DEBUG', 'DEFUSE_LOG', 'DEFUSE_NET'):
        if k in os.environ:
            env[k] = os.environ[k]
    if args.mode == 'run':
        prefix = [args.defuse, 'run', '--']
    elif args.mode == 'trace':
        prefix = [args.defuse, 'trace', '-f', '-c', '-o', '/dev/null', '--']
    else:
        # Mount points and backing directories: names as long as the native
        # ones (native, shared), so that output widths do not change.
        mnt = os.path.join(base, 'defuse')
        backing = os.path.join(base, 'backng')
        tmount = os.path.join(base, 'tmount')
        for d in (mnt, backing, tmount):
            os.mkdir(d)
        kind = 'passthrough:emulated=' if args.mode == 'mount-emulated' \
            else 'passthrough:'
        if args.mode == 'mount-memfs':
            # No backing directory: the scratch directory is a memfs
            # segment of its own, filled from B/backng after setup and
            # copied out to B/after for the comparison (cp -a keeps
            # modes and times); the sample tree stays a passthrough mount.
            segment = 'behave-%d' % os.getpid()
            memfs_segments.append('/dev/shm/defuse-memfs.' + segment)
            scratch_mount = mnt + '=memfs:' + segment
            kind = 'passthrough:'
        else:
            scratch_mount = mnt + '=' + kind + backing
        prefix = [args.defuse, 'run', '-m', scratch_mount,
                  '-m', tmount + '=' + kind + shared, '--']

    results = {}
    digests = {}
    for side, pre in (('native', []), ('defuse', prefix)):
        if mount and side == 'defuse':
            scratch, setup_dir, shared_seen = mnt, backing, tmount
        else:
            scratch = setup_dir = os.path.join(base, side)
            shared_seen = shared
            os.mkdir(scratch)
            if args.mode == 'mount-memfs':
                # Filled by the same cp -a as the memfs side, so that
                # both have their entries made in the same order.
                setup_dir = os.path.join(base, 'stagen')
                os.mkdir(setup_dir)
        paths = [(scratch, b'@SCRATCH@')]
        if mount:
            paths.append((shared_seen, b'@SHARED@'))
        ctx = Ctx(setup_dir, shared_seen, tools, args.mode, shared)
        try:
            steps, dgs = fn(ctx)
        except Skip as e:
            print('SKIP: %s in mode %s: %s' % (name, args.mode, e))
            return SKIP
        digest_dir = setup_dir
        if side == 'defuse' and args.mode == 'mount-memfs':
            memfs_copy(prefix, setup_dir + '/.', mnt)
        elif args.mode == 'mount-memfs':
            memfs_copy([], setup_dir + '/.', scratch)
            digest_dir = scratch
        results[side] = []
        for st in steps:
            r = run_step(st, scratch, env, pre, base if mount else None)
            r.out = normalize(r.out, paths)
            r.err = normalize(r.err, paths)
            if st.sort_stdout:
                r.out = b''.join(sorted(r.out.splitlines(keepends=True)))
            results[side].append(r)
        if side == 'defuse' and args.mode == 'mount-memfs':
            digest_dir = os.path.join(base, 'after')
            os.mkdir(digest_dir)
            memfs_copy(prefix, mnt + '/.', digest_dir)
        digests[side] = []
        for dg in dgs:
            rel, mtime = dg[0], dg[1]
            excl = dg[2] if len(dg) > 2 else ()
            digests[side].append((rel, digest(os.path.join(digest_dir, rel),
                                              mtime, excl,
                                              paths if mount else ())))

    failed = False
    broken = False
    for i, st in enumerate(steps):
        n, c = results['native'][i], results['defuse'][i]
        label = 'step %d `%s`' % (i + 1, st.label[:100])
        if st.expect_rc is not None and n.rc != st.expect_rc:
            print('BROKEN NATIVELY: %s exited %s, expected %s\n'
                  'stderr: %s' % (label, n.rc, st.expect_rc,
                                  n.err.decode(errors='replace')[-2000:]))
            broken = True
        problems = []
        if n.rc != c.rc:
            problems.append('exit status: native %s, defuse %s' % (n.rc, c.rc))
        if n.out != c.out:
            problems.append('stdout differs')
        if st.cmp_stderr and n.err != c.err:
            problems.append('stderr differs')
        if n.leftover != c.leftover:
            problems.append('processes left running after the command: '
                            'native %s, defuse %s' % (n.leftover, c.leftover))
        if problems:
            failed = True
            print('DIFFERENT: %s: %s' % (label, '; '.join(problems)))
            if n.out != c.out:
                show_diff('stdout', n.out, c.out)
            if (st.cmp_stderr and n.err != c.err) or n.rc != c.rc:
                show_diff('stderr', n.err, c.err)
        else:
            print('same: %s (exit %s, %d bytes out)' % (label, n.rc, len(n.out)))
    for (rel, dn), (_, dc) in zip(digests['native'], digests['defuse']):
        if dn != dc:
            failed = True
            print('DIFFERENT: files under %s' % rel)
            show_diff(rel, '\n'.join(dn).encode() + b'\n',
                      '\n'.join(dc).encode() + b'\n')
        else:
            print('same: files under %s (%d entries)' % (rel, len(dn)))
    if broken:
        print('%s: the case does not behave as expected natively' % name)
        return 1
    if failed:
        print('%s: FAILED (mode %s)' % (name, args.mode))
        return 1
    print('%s: same behaviour natively and under `defuse %s`' % (name, args.mode))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--defuse', help='the defuse CLI (or a stand-in)')
    ap.add_argument('--mode', default='run',
                    choices=('run', 'trace', 'mount', 'mount-emulated', 'mount-memfs'))
    ap.add_argument('--tool', action='append', default=[],
                    help='NAME=PATH of a program a case needs; empty PATH '
                    'means missing')
    ap.add_argument('--keep', action='store_true',
                    help='keep the scratch directories')
    ap.add_argument('--list', action='store_true')
    ap.add_argument('case', nargs='?')
    args = ap.parse_args()
    if args.list:
        print('\n'.join(CASES))
        return 0
    if not args.case or args.case not in CASES or not args.defuse:
        ap.error('need --defuse and one of: ' + ', '.join(CASES))

    # Steps run in scratch directories: make every program path absolute.
    args.defuse = os.path.abspath(args.defuse)
    tools = {}
    for t in args.tool:
        k, _, v = t.partition('=')
        tools[k] = os.path.abspath(v) if v else ''
    for k in CASES[args.case][1]:
        if k not in tools:
            tools[k] = shutil.which(k) or ''
        if not tools[k]:
            print('SKIP: %s needs %s, which was not found' % (args.case, k))
            return SKIP
    if not os.access(args.defuse, os.X_OK):
        print('%s is not an executable' % args.defuse)
        return 1

    # Turn SIGTERM/SIGINT (from meson test) into an exception so that the
    # scratch directories are removed.
    def stop(sig, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, stop)

    # memfs lists and counts as tmpfs does: the native side runs on tmpfs.
    tmpfs = '/dev/shm' if args.mode == 'mount-memfs' and os.path.isdir('/dev/shm') else None
    base = tempfile.mkdtemp(prefix='defuse-behave-%s-' % args.case, dir=tmpfs)
    try:
        rc = run_case(args.case, args, tools, base)
    finally:
        if args.keep:
            print('kept', base)
        else:
            shutil.rmtree(base, ignore_errors=True)
        for seg in memfs_segments:
            if os.path.exists(seg) and not args.keep:
                os.unlink(seg)
    return rc


if __name__ == '__main__':
    sys.exit(main())
