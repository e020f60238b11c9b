#!/usr/bin/env python3
"""DEFUSE benchmark suite: the paper's evaluation, every system side by side.

Systems (each on its own backing directory under one scratch directory):
  native          the scratch directory itself
  fuse-default    `defuse mount MNT passthrough:DIR` (the FUSE bridge) with
                  libfuse's default options
  fuse-tuned      the same with caching, writeback, large requests and
                  multithreading (--fuse-tuned-options)
  kernel-backed   `defuse run -m MNT=passthrough:DIR -- ...`
  emulated        `defuse run -m MNT=passthrough:emulated=DIR -- ...`
                  (mmap: the module gives its backing file, map_fd)
  memfs           `defuse run -m MNT=memfs:NAME,size=4G -- ...`: no kernel
                  file behind any file (the trees of the program rows go
                  in through the mount)
  pager           `defuse run -m MNT=passthrough:emulated-nomap=DIR -- ...`:
                  emulated, with mmap served by DEFUSE's user-space pager
                  (docs/paging.md); the mmap rows only
  nfs             `defuse run -m MNT=nfs:URL/DIR -- ...`: the NFS module
                  (modules/nfs) in process, on a directory of a running
                  NFS server's export (DEFUSE_NFS_URL, DEFUSE_NFS_DIR: run
                  the suite under tests/nfs/server.sh run)
  nfs-fuse        the same module through the FUSE bridge (`defuse mount`,
                  libfuse's default options), on the same export
  fuse-fh         libfuse's passthrough_fh example (high-level API), built
                  as a module (modules/fuse/examples), in process: `defuse
                  run -m MNT=fuse:passthrough_fh.so:-o modules=subdir,
                  subdir=DIR -- ...`
  fuse-fh-kernel  the same source built as a program (tests/fusecompat/
                  natives), mounted through kernel FUSE with the real libfuse
                  and its default options, as tests/fusecompat/kfuse-run does
  fuse-ll, fuse-ll-kernel
                  likewise libfuse's passthrough_ll (low-level API,
                  `-o source=DIR`)
  sshfs           Debian's /usr/bin/sshfs in process (`fuse:/usr/bin/sshfs:
                  root@127.0.0.1:DIR -o ...`), against a private sshd on
                  loopback (tests/common/sshd_server.py)
  sshfs-kernel    the same /usr/bin/sshfs with the same arguments mounted
                  through kernel FUSE, against the same sshd
The FUSE rows say "n/a: REASON" when the bridge is not built or /dev/fuse is
unusable, the NFS rows when no NFS server is given, the FUSE file system
rows when their programs, libfuse's examples, sshfs or sshd (root only) are
missing; everything else still runs.  With the NFS systems, the large file is also copied by libnfs's own
nfs-cp to and from the export, each round (the NFS table's baseline).

Workloads (sizes for --full, the issue's; --quick shrinks them):
  fsbench (timed inside one process, bench/fsbench.c): create, stat,
  open+close, access, chmod, unlink of 10,000 files; readdir of 10,000
  entries; 4096 files of 14,129 B and 2048 files of linearly growing sizes
  summing to 128 MiB, each written then read with one call per file; one
  128 MiB file written and read with one call; an mmap scan of a 128 MiB file
  (one byte per KiB), 20,000 random 4 KiB reads through a mapping of a 1 GiB
  file, one byte written into every page of a 256 MiB MAP_SHARED mapping then
  msync, and the cost of one first-touch fault (a 256 MiB mapping touched
  once per 256 KiB);
  whole commands (timed from outside, DEFUSE start-up included): untar of a
  generated source tree, `cp -r` of it, `grep -r` and `find -exec wc -l`
  over it, `make -j2` of a generated C project;
  exec with N inherited descriptors (bench/exec_fds.c) for N = 1, 500, 1000,
  2000, 4000, plus `defuse run` with N kernel descriptors outside the mounts,
  which isolates FD stashing from capture's own start-up.

Every round runs every workload on every system, the system order rotating
from round to round, so that noise hits all alike; medians with min and max
of --runs rounds (at least 5, except --tiny).  Context switches: voluntary and
involuntary, of the application (getrusage, children included) and of the
FUSE daemon (all its threads, /proc/PID/task/*/status), medians per run.

Output, in --out (default bench/results/DATE/): results.md (tables, targets
of DESIGN.md section 5), results.csv (one line per workload and system),
ratios.png, ctxsw.png, exec.png (gnuplot; skipped with a note if gnuplot is
missing), and the .dat/.gp files behind them.  Exit status 1 if any
measurement failed (not for n/a), 2 on bad usage.

  python3 bench/suite.py [--quick|--full|--tiny] [--build build] [--out DIR]
                         [--scratch DIR] [--systems LIST] [--workloads LIST]
--systems and --workloads pick subsets (comma-separated; see --help), for
working on one path; native always runs, since every ratio needs it.
"""

import argparse
import csv
import datetime
import io
import os
import random
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time

from benchlib import cell, describe_machine, fmt, fs_type

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TIMEOUT = 1800  # seconds for any one command

SIZES = {
    'full': dict(meta=10000, readdir=10000, small_n=4096, small_size=14129,
                 grow_n=2048, grow_mib=128, large_mib=128, mmap_mib=128,
                 mmaprand_mib=1024, mmaprand_n=20000, mmapwrite_mib=256,
                 mmapfault_mib=256,
                 tree_dirs=48, tree_files=64, proj_files=64,
                 exec_ns=[1, 500, 1000, 2000, 4000], execs=100, runs=5),
    'quick': dict(meta=2000, readdir=2000, small_n=1024, small_size=14129,
                  grow_n=512, grow_mib=32, large_mib=32, mmap_mib=32,
                  mmaprand_mib=256, mmaprand_n=5000, mmapwrite_mib=64,
                  mmapfault_mib=64,
                  tree_dirs=12, tree_files=32, proj_files=16,
                  exec_ns=[1, 500, 1000, 2000, 4000], execs=20, runs=5),
    'tiny': dict(meta=50, readdir=50, small_n=20, small_size=14129,
                 grow_n=16, grow_mib=1, large_mib=1, mmap_mib=1,
                 mmaprand_mib=4, mmaprand_n=100, mmapwrite_mib=4,
                 mmapfault_mib=4,
                 tree_dirs=2, tree_files=4, proj_files=3,
                 exec_ns=[1, 50], execs=3, runs=1),
}

SYSTEMS = ['native', 'fuse-default', 'fuse-tuned', 'kernel-backed',
           'emulated', 'memfs', 'pager', 'nfs', 'nfs-fuse',
           'fuse-fh', 'fuse-fh-kernel', 'fuse-ll', 'fuse-ll-kernel',
           'sshfs', 'sshfs-kernel']
# Only for the exec rows: `defuse run` with N kernel descriptors.
CAPTURE_ONLY = 'capture-only'
LABEL = {'native': 'native', 'fuse-default': 'FUSE default',
         'fuse-tuned': 'FUSE tuned', 'kernel-backed': 'DEFUSE kernel-backed',
         'emulated': 'DEFUSE emulated', 'memfs': 'DEFUSE memfs',
         'pager': 'DEFUSE emulated, pager',
         'nfs': 'NFS in process',
         'nfs-fuse': 'NFS through FUSE',
         'fuse-fh': 'passthrough_fh in process',
         'fuse-fh-kernel': 'passthrough_fh kernel FUSE',
         'fuse-ll': 'passthrough_ll in process',
         'fuse-ll-kernel': 'passthrough_ll kernel FUSE',
         'sshfs': 'sshfs in process',
         'sshfs-kernel': 'sshfs kernel FUSE',
         CAPTURE_ONLY: 'defuse run, N kernel fds'}
DEFUSE_SYSTEMS = ('kernel-backed', 'emulated')
FUSE_SYSTEMS = ('fuse-default', 'fuse-tuned')
NFS_SYSTEMS = ('nfs', 'nfs-fuse')
# FUSE file systems, the same code both ways (issue 12): in process (the
# fuse module) and through kernel FUSE (the program with the real libfuse).
# (in process, through kernel FUSE, target for metadata and small files)
FUSEFS_PAIRS = (('fuse-fh', 'fuse-fh-kernel', 5),
                ('fuse-ll', 'fuse-ll-kernel', 5),
                ('sshfs', 'sshfs-kernel', 2))
FUSEFS_SYSTEMS = tuple(s for p in FUSEFS_PAIRS for s in p[:2])
FUSEFS_KERNEL = tuple(p[1] for p in FUSEFS_PAIRS)
# Systems with a daemon process whose switches and CPU time are counted.
DAEMON_SYSTEMS = FUSE_SYSTEMS + ('nfs-fuse',) + FUSEFS_KERNEL
# libfuse's passthrough examples: the option that names the backing
# directory (in process as through kernel FUSE).
PASSTHROUGH_EXAMPLES = {'fuse-fh': ('passthrough_fh', 'modules=subdir,subdir=%s'),
                        'fuse-ll': ('passthrough_ll', 'source=%s')}
SSHFS = '/usr/bin/sshfs'

# libfuse's own defaults (high-level API): one second of entry and attribute
# caching, no negative caching, a multithreaded loop.  The bridge itself
# defaults to no caching at all (coherence with captured processes,
# docs/fuse.md), so they are given explicitly.
DEFAULT_OPTIONS = 'entry_timeout=1,attr_timeout=1,negative_timeout=0'
# The knobs of a fast FUSE file system: long entry, attribute and negative
# caching, page cache kept across opens, writeback caching, 1 MiB requests
# and read-ahead, one /dev/fuse clone per worker thread, idle workers kept.
TUNED_OPTIONS = ('entry_timeout=60,attr_timeout=60,negative_timeout=60,'
                 'kernel_cache,writeback_cache,max_read=1048576,'
                 'max_write=1048576,max_readahead=1048576,clone_fd,'
                 'max_idle_threads=16')

WORKLOADS = ['meta', 'readdir', 'small', 'growing', 'large', 'mmap', 'mmaprand',
             'mmapwrite', 'mmapfault', 'untar',
             'cp', 'grep', 'wc', 'make', 'exec']

GREP_PATTERN = 'TODO'


class Failed(Exception):
    pass


# --- rows -----------------------------------------------------------------

class Row:
    """One workload figure: values, context switches and status per system."""

    def __init__(self, key, group, label, unit, targets):
        self.key, self.group, self.label, self.unit = key, group, label, unit
        self.targets = targets  # names of DESIGN.md section 5 targets
        self.vals = {}     # system -> [time per run]
        # system -> [(vcs, ivcs, dvcs, divcs, cpu_ms, dcpu_ms) per run]:
        # context switches and CPU time (user + system) of the application
        # and of the FUSE daemon (None where there is none)
        self.ctx = {}
        self.status = {}   # system -> 'error: ...' or 'n/a: ...'

    def add(self, system, value, ctx):
        self.vals.setdefault(system, []).append(value)
        self.ctx.setdefault(system, []).append(ctx)

    def median(self, system):
        if self.status.get(system) or not self.vals.get(system):
            return None
        return statistics.median(self.vals[system])

    def ctx_median(self, system, i):
        if self.status.get(system) or not self.ctx.get(system):
            return None
        got = [c[i] for c in self.ctx[system] if c[i] is not None]
        return statistics.median(got) if got else None

    def ratio(self, system, base):
        a, b = self.median(system), self.median(base)
        if a is None or b is None or b <= 0:
            return None
        return a / b


# --- the source tree and the C project ------------------------------------

WORDS = ('buffer length inode offset cache entry mount module path lookup '
         'descriptor request reply flags mode owner group size block page '
         'read write open close flush sync lock unlock error retry').split()


def c_file(rng, tag, nfun):
    out = ['/* %s: generated for the DEFUSE benchmark */' % tag,
           '#include "common.h"', '']
    for i in range(nfun):
        w = rng.sample(WORDS, 3)
        out.append('/* %s the %s of the %s%s */' % (
            w[0], w[1], w[2], ' (%s: %s)' % (GREP_PATTERN, rng.choice(WORDS))
            if rng.random() < 0.1 else ''))
        out.append('int %s_%s_%d(int x)' % (tag, w[0], i))
        out.append('{')
        for j in range(rng.randint(2, 12)):
            out.append('    x = x * %d + %d; /* %s */' % (
                rng.randint(2, 97), rng.randint(0, 999), rng.choice(WORDS)))
        out.append('    return x;')
        out.append('}')
        out.append('')
    return '\n'.join(out) + '\n'


def make_tarball(path, top, files):
    """A tarball with fixed names, order, owners and times: deterministic."""
    with tarfile.open(path, 'w', format=tarfile.GNU_FORMAT) as tar:
        dirs = set()
        for name, _ in files:
            parts = name.split('/')[:-1]
            for k in range(1, len(parts) + 1):
                dirs.add('/'.join(parts[:k]))
        entries = sorted([(d, None) for d in dirs] + list(files))
        for name, data in [(top, None)] + [(top + '/' + n, d)
                                           for n, d in entries]:
            info = tarfile.TarInfo(name)
            info.mtime = 1700000000
            info.uid = info.gid = 0
            info.uname = info.gname = 'root'
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                raw = data.encode()
                info.size, info.mode = len(raw), 0o644
                tar.addfile(info, io.BytesIO(raw))
    return 1 + len(dirs) + len(files)


def gen_tree(path, ndirs, nfiles):
    """A source tree: ndirs directories of nfiles C files and a README."""
    rng = random.Random(5)
    files = []
    for d in range(ndirs):
        for f in range(nfiles):
            tag = 'd%02d_f%02d' % (d, f)
            files.append(('dir%02d/sub/file%02d.c' % (d, f)
                          if f % 4 == 3 else 'dir%02d/file%02d.c' % (d, f),
                          c_file(rng, tag, rng.randint(3, 40))))
    files.append(('README', 'A generated tree.\n' * 20))
    return make_tarball(path, 'tree', files)


def gen_project(path, nfiles):
    """A C project whose Makefile builds prog from src/*.c with make -j2."""
    rng = random.Random(7)
    files = [('include/common.h', '#include <stdio.h>\n')]
    calls = []
    for i in range(nfiles):
        tag = 'u%03d' % i
        text = c_file(rng, tag, 30)
        files.append(('src/%s.c' % tag, text))
        first = [ln for ln in text.splitlines() if ln.startswith('int ')][0]
        name = first.split()[1].split('(')[0]
        calls.append((name, first))
    main = ['#include "common.h"']
    main += ['%s;' % decl for _, decl in calls]
    main += ['int main(void)', '{', '    unsigned long s = 0;']
    main += ['    s += (unsigned)%s(%d);' % (n, k) for k, (n, _) in
             enumerate(calls)]
    main += ['    printf("%lu\\n", s);', '    return 0;', '}']
    files.append(('main.c', '\n'.join(main) + '\n'))
    files.append(('Makefile',
                  'CC ?= cc\n'
                  'CFLAGS ?= -O1 -Iinclude\n'
                  'OBJS = main.o $(patsubst %.c,%.o,$(wildcard src/*.c))\n'
                  'prog: $(OBJS)\n\t$(CC) -o $@ $(OBJS)\n'
                  '%.o: %.c include/common.h\n\t$(CC) $(CFLAGS) -c -o $@ $<\n'
                  'clean:\n\trm -f prog $(OBJS)\n'))
    return make_tarball(path, 'proj', files)


def rm(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


# --- systems ----------------------------------------------------------------

class System:
    def __init__(self, name):
        self.name = name
        self.prefix = []      # argv prefix that runs a command on the system
        self.work = None      # the directory programs use
        self.view = None      # the same directory, as the suite sees it
        self.outside = None   # for capture-only: a directory outside mounts
        self.env = {}
        self.daemon = None    # FUSE daemon pid
        self.na = None        # reason when the system cannot run here
        self.mounted = None   # FUSE mount point to undo


def bridge_help(defuse):
    try:
        p = subprocess.run([defuse, 'mount', '--help'], capture_output=True,
                           text=True, timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        return str(e)
    return p.stdout + p.stderr


def bridge_reason(defuse):
    """None if `defuse mount` exists and FUSE is usable, else why not."""
    text = bridge_help(defuse)
    if 'unknown command' in text or 'MOUNTPOINT' not in text:
        return 'n/a: bridge not built (`defuse mount` unknown)'
    return fuse_dev_reason()


def find_daemon(mnt, prog=b'defuse'):
    """The pid of the process serving mnt: the one whose command line names
    it and, in its first two words, prog (the bridge and FUSE programs
    daemonize, so it is not our child)."""
    me = os.getpid()
    for pid in os.listdir('/proc'):
        if not pid.isdigit() or int(pid) == me:
            continue
        try:
            with open('/proc/%s/cmdline' % pid, 'rb') as f:
                args = f.read().split(b'\0')
        except OSError:
            continue
        if mnt.encode() in args and any(prog in a for a in args[:2]):
            return int(pid)
    return None


def daemon_cpu_ms(pid):
    """The daemon's user + system time, exited threads included."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            fields = f.read().rsplit(')', 1)[1].split()
    except OSError:
        raise Failed('FUSE daemon %d is gone' % pid)
    return (int(fields[11]) + int(fields[12])) * 1e3 / os.sysconf(
        'SC_CLK_TCK')


def daemon_ctx(pid):
    """(voluntary, involuntary, cpu ms) of pid, switches summed over its
    threads."""
    v = iv = 0
    base = '/proc/%d/task' % pid
    try:
        tids = os.listdir(base)
    except OSError:
        raise Failed('FUSE daemon %d is gone' % pid)
    for tid in tids:
        try:
            with open('%s/%s/status' % (base, tid)) as f:
                for line in f:
                    if line.startswith('voluntary_ctxt_switches:'):
                        v += int(line.split()[1])
                    elif line.startswith('nonvoluntary_ctxt_switches:'):
                        iv += int(line.split()[1])
        except OSError:
            pass  # the thread ended meanwhile
    return v, iv, daemon_cpu_ms(pid)


def fuse_mount(defuse, system, data, mnt, options, pidfile, spec=None):
    """Mount; pidfile (None if the bridge has no such option) names the
    daemon, else it is found by its command line."""
    opts = ','.join(o for o in (options, pidfile and 'pidfile=' + pidfile)
                    if o)
    argv = [defuse, 'mount', mnt, spec or 'passthrough:%s' % data]
    if opts:
        argv += ['-o', opts]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    if os.path.ismount(mnt):
        system.mounted = mnt
    if p.returncode != 0 or not system.mounted:
        raise Failed('`%s` failed (%d): %s' % (' '.join(argv), p.returncode,
                                               p.stderr.strip()[-400:]))
    try:
        with open(pidfile) as f:
            system.daemon = int(f.read().strip())
    except (TypeError, OSError, ValueError):
        system.daemon = find_daemon(mnt)
    if system.daemon is None or not os.path.isdir('/proc/%d' % system.daemon):
        raise Failed('no daemon process found for %s' % mnt)


def fuse_dev_reason():
    """None if /dev/fuse is usable, else why not."""
    if not os.path.exists('/dev/fuse'):
        return 'n/a: /dev/fuse unavailable'
    try:
        os.close(os.open('/dev/fuse', os.O_RDWR))
    except OSError as e:
        return 'n/a: /dev/fuse unusable (%s)' % e.strerror
    return None


def fuse_spawns_clean(build):
    """Whether the build's fuse module redirects the exec calls of a file
    system (modules/fuse/spawn.c names them in its table), so that a helper
    it starts (sshfs's ssh) runs without DEFUSE.  Without it, in-process
    sshfs started ssh after ssh."""
    try:
        with open(os.path.join(build, 'modules', 'fuse', 'fuse.so'),
                  'rb') as f:
            image = f.read()
    except OSError:
        return False
    return b'\0execvp\0' in image and b'\0posix_spawnp\0' in image


def program_mount(system, argv, mnt):
    """Mount a FUSE program through kernel FUSE (argv ends with mnt; the
    program daemonizes once mounted) with the real libfuse: nothing of
    DEFUSE in its environment."""
    env = {k: v for k, v in os.environ.items()
           if k not in ('LD_PRELOAD', 'LD_LIBRARY_PATH')
           and not k.startswith('DEFUSE_')}
    p = subprocess.run(argv, capture_output=True, text=True, timeout=120,
                       stdin=subprocess.DEVNULL, env=env)
    if os.path.ismount(mnt):
        system.mounted = mnt
    if p.returncode != 0 or not system.mounted:
        raise Failed('`%s` failed (%d): %s' % (' '.join(argv), p.returncode,
                                               p.stderr.strip()[-400:]))
    system.daemon = find_daemon(mnt, os.path.basename(argv[0]).encode())
    if system.daemon is None:
        raise Failed('no daemon process found for %s' % mnt)


def fuse_umount(defuse, mnt):
    for argv in ([defuse, 'umount', mnt], ['fusermount3', '-u', mnt],
                 ['umount', mnt]):
        try:
            subprocess.run(argv, capture_output=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if not os.path.ismount(mnt):
            return True
    print('suite: could not unmount %s' % mnt, file=sys.stderr)
    return False


# --- running things -----------------------------------------------------------

def run(argv, env=None, capture=False):
    """Run argv; return (ms, rusage, stdout).  Raise Failed on failure."""
    with tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as out:
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                             stdout=out if capture else subprocess.DEVNULL,
                             stderr=err, env=env, start_new_session=True)
        timer = threading.Timer(TIMEOUT, lambda: os.killpg(p.pid,
                                                           signal.SIGKILL))
        timer.start()
        try:
            _, status, ru = os.wait4(p.pid, 0)
        finally:
            timer.cancel()
        ms = (time.perf_counter() - t0) * 1e3
        p.returncode = os.waitstatus_to_exitcode(status)
        if p.returncode != 0:
            err.seek(0)
            raise Failed('`%s` exited %d: %s' % (
                ' '.join(argv)[:300], p.returncode,
                err.read().decode(errors='replace').strip()[-500:]))
        out.seek(0)
        return ms, ru, out.read().decode(errors='replace')


def keyvals(text):
    vals = {}
    for line in text.splitlines():
        if '=' in line:
            k, v = line.split('=', 1)
            try:
                vals[k] = float(v)
            except ValueError:
                pass
    return vals


class Suite:
    def __init__(self, args, sizes):
        self.args, self.s = args, sizes
        self.defuse = os.path.abspath(os.path.join(args.build, 'src',
                                                   'defuse'))
        self.fsbench = os.path.abspath(os.path.join(args.build, 'bench',
                                                    'fsbench'))
        self.exec_fds = os.path.abspath(os.path.join(args.build, 'bench',
                                                     'exec_fds'))
        self.rows = {}
        self.order = []
        self.notes = []
        self.systems = {}
        self.capture_table, self.capture_error = [], None
        self.nfs_dirs = []          # directories made in the NFS export
        self.sshd = None            # sshfs systems' server, or why none
        self.memfs_segments = []    # the memfs system's segment, to remove
        self.nfscp = {'write': [], 'read': []}

    def row(self, key, group, label, unit, targets=()):
        if key not in self.rows:
            self.rows[key] = Row(key, group, label, unit, targets)
            self.order.append(key)
        return self.rows[key]

    def env_for(self, system):
        env = dict(os.environ)
        env.update(system.env)
        return env

    # -- set-up --

    def setup(self, root):
        s = self.s
        self.tarball = os.path.join(root, 'tree.tar')
        self.tree_entries = gen_tree(self.tarball, s['tree_dirs'],
                                     s['tree_files'])
        self.projball = os.path.join(root, 'proj.tar')
        gen_project(self.projball, s['proj_files'])
        self.notes.append('source tree: %d entries, %.1f MB as a tarball '
                          '(generated, deterministic)' % (
                              self.tree_entries,
                              os.path.getsize(self.tarball) / 1e6))
        self.notes.append('C project: %d units + main.c, `make -j2` '
                          '(cc -O1)' % s['proj_files'])
        fuse_na = bridge_reason(self.defuse)
        for name in SYSTEMS + [CAPTURE_ONLY]:
            sy = System(name)
            self.systems[name] = sy
            data = os.path.join(root, name + '-data')
            mnt = os.path.join(root, name + '-mnt')
            if name not in self.args.systems and not (
                    name == CAPTURE_ONLY and 'kernel-backed' in
                    self.args.systems):
                sy.na = 'n/a: not selected (--systems)'
                continue
            if name == 'native':
                os.mkdir(data)
                sy.work = sy.view = data
            elif name in NFS_SYSTEMS:
                if not self.nfs_setup(sy, root, data, mnt, fuse_na):
                    continue
            elif name in FUSEFS_SYSTEMS:
                if not self.fusefs_setup(sy, root, data, mnt):
                    continue
            elif name == 'memfs':
                module = os.path.join(self.args.build, 'modules', 'memfs',
                                      'memfs.so')
                if not os.path.exists(module):
                    sy.na = 'n/a: the memfs module is not built'
                    continue
                os.mkdir(mnt)
                segment = 'bench-%d' % os.getpid()
                self.memfs_segments.append('/dev/shm/defuse-memfs.' + segment)
                sy.prefix = [self.defuse, 'run', '-m', '%s=%s:%s,size=4G'
                             % (mnt, module, segment), '--']
                sy.work = mnt
            elif name in FUSE_SYSTEMS:
                if fuse_na:
                    sy.na = fuse_na
                    continue
                os.mkdir(data)
                os.mkdir(mnt)
                opts = (self.args.fuse_default_options if name ==
                        'fuse-default' else self.args.fuse_tuned_options)
                pidfile = (os.path.join(root, name + '.pid')
                           if 'pidfile' in bridge_help(self.defuse) else None)
                try:
                    fuse_mount(self.defuse, sy, data, mnt, opts, pidfile)
                except (Failed, subprocess.TimeoutExpired) as e:
                    sy.na = 'error: %s' % e
                    if os.path.ismount(mnt):
                        fuse_umount(self.defuse, mnt)
                    continue
                sy.work = sy.view = mnt
                sy.env = {'FSBENCH_DAEMON_PID': str(sy.daemon)}
                self.notes.append('%s: `defuse mount %s passthrough:%s%s`' % (
                    LABEL[name], os.path.basename(mnt), os.path.basename(data),
                    ' -o %s' % opts if opts else ''))
            else:
                os.mkdir(data)
                os.mkdir(mnt)
                spec = ('emulated=' + data if name == 'emulated' else
                        'emulated-nomap=' + data if name == 'pager' else data)
                if name == CAPTURE_ONLY:
                    spec = data
                sy.prefix = [self.defuse, 'run', '-m', '%s=passthrough:%s'
                             % (mnt, spec), '--']
                sy.work, sy.view = mnt, data
                if name == CAPTURE_ONLY:
                    sy.outside = os.path.join(root, 'outside')
                    os.mkdir(sy.outside)
            if sy.prefix:
                try:
                    run(sy.prefix + ['true'])
                except Failed as e:
                    sy.na = 'error: cannot start: %s' % e
                    continue
            if name != CAPTURE_ONLY and sy.view:
                for ball in (self.tarball, self.projball):
                    subprocess.run(['tar', 'xf', ball, '-C', sy.view],
                                   check=True)
            elif name == 'memfs':
                # no backing directory: the trees go in through the mount
                try:
                    for ball in (self.tarball, self.projball):
                        run(sy.prefix + ['tar', 'xf', ball, '-C', sy.work])
                except Failed as e:
                    sy.na = 'error: cannot prepare its trees: %s' % e

    def nfs_setup(self, sy, root, data, mnt, fuse_na):
        """An NFS system on its own directory of the export; False (and
        sy.na) when it cannot run."""
        url, export = os.environ.get('DEFUSE_NFS_URL'), os.environ.get(
            'DEFUSE_NFS_DIR')
        module = os.path.join(self.args.build, 'modules', 'nfs', 'nfs.so')
        if not url or not export:
            sy.na = ('n/a: no NFS server (run the suite under '
                     'tests/nfs/server.sh run)')
        elif not os.path.exists(module):
            sy.na = 'n/a: the nfs module is not built (libnfs-dev)'
        elif sy.name == 'nfs-fuse' and fuse_na:
            sy.na = fuse_na
        if sy.na:
            return False
        data = os.path.join(export, os.path.basename(root) + '-' + sy.name)
        os.mkdir(data)
        self.nfs_dirs.append(data)
        os.mkdir(mnt)
        spec = '%s:%s/%s,lockdir=%s' % (module, url, os.path.basename(data),
                                        os.path.join(root, 'nfs-locks'))
        sy.view = data
        sy.work = mnt
        if sy.name == 'nfs':
            sy.prefix = [self.defuse, 'run', '-m', '%s=%s' % (mnt, spec), '--']
            return True
        pidfile = os.path.join(root, sy.name + '.pid')
        try:
            fuse_mount(self.defuse, sy, data, mnt, self.args.fuse_default_options,
                       pidfile, spec)
        except (Failed, subprocess.TimeoutExpired) as e:
            sy.na = 'error: %s' % e
            if os.path.ismount(mnt):
                fuse_umount(self.defuse, mnt)
            return False
        sy.env = {'FSBENCH_DAEMON_PID': str(sy.daemon)}
        # the suite's own changes between rounds go through the mount too:
        # made on the server's side, the daemon's caches would see them
        # only when their attributes expire, as any NFS client
        sy.view = mnt
        return True

    def fusefs_setup(self, sy, root, data, mnt):
        """A FUSE file system, in process or through kernel FUSE (issue
        12); False (and sy.na) when it cannot run."""
        name = sy.name
        kernel = name in FUSEFS_KERNEL
        base = name[:-len('-kernel')] if kernel else name
        if kernel:
            sy.na = fuse_dev_reason()
        if not sy.na and not os.path.exists(os.path.join(
                self.args.build, 'modules', 'fuse', 'fuse.so')):
            sy.na = 'n/a: the fuse module is not built (libfuse3-dev)'
        if sy.na:
            return False
        if base in PASSTHROUGH_EXAMPLES:
            ex, diropt = PASSTHROUGH_EXAMPLES[base]
            if kernel:
                prog = os.path.join(self.args.build, 'tests', 'fusecompat',
                                    'natives', ex)
            else:
                prog = os.path.join(self.args.build, 'modules', 'fuse',
                                    'examples', ex + '.so')
            if not os.path.exists(prog):
                sy.na = ('n/a: %s is not built (libfuse3-dev ships the '
                         "examples' sources)" % os.path.relpath(
                             prog, self.args.build))
                return False
            args = '-o ' + diropt % data    # the scratch path: no commas
            extra = getattr(self.args, base.replace('-', '_') + '_args', '')
            if extra:
                args += ' ' + extra
            self.notes.append('%s: %s' % (LABEL[name], (
                '`%s %s MNT` (tests/fusecompat/natives)' if kernel else
                '`defuse run -m MNT=fuse:%s.so:%s` (modules/fuse/examples)')
                % (ex, args.replace(os.path.dirname(data) + '/', ''))))
        else:
            if not os.access(SSHFS, os.X_OK):
                sy.na = 'n/a: %s is not installed (apt-get install sshfs)' \
                    % SSHFS
                return False
            if self.sshd is None:
                sys.path.insert(0, os.path.join(ROOT, 'tests', 'common'))
                try:
                    import sshd_server
                except ImportError as e:
                    sy.na = 'n/a: tests/common/sshd_server.py: %s' % e
                    return False
                reason = sshd_server.why_not()
                if reason:
                    self.sshd = 'n/a: ' + reason
                else:
                    try:
                        self.sshd = sshd_server.SshdServer().start()
                    except (RuntimeError, OSError,
                            subprocess.TimeoutExpired) as e:
                        self.sshd = 'error: sshd: %s' % str(e)[:300]
            if isinstance(self.sshd, str):
                sy.na = self.sshd
                return False
            if not kernel and not fuse_spawns_clean(self.args.build):
                sy.na = ("n/a: this build's fuse module does not give the "
                         "file system's helpers an environment without "
                         'DEFUSE (modules/fuse/spawn.c): the ssh that sshfs '
                         'starts would start the mount again, and so on')
                return False
            prog = SSHFS
            args = self.sshd.sshfs_args(data)
            self.notes.append('%s: `sshfs %s MNT` (sshd on loopback: '
                              'tests/common/sshd_server.py)' % (
                                  LABEL[name], args.replace(
                                      os.path.dirname(data) + '/', '')))
        os.mkdir(data)
        os.mkdir(mnt)
        if not kernel:
            sy.prefix = [self.defuse, 'run', '-m', '%s=fuse:%s:%s'
                         % (mnt, prog, args), '--']
            sy.work, sy.view = mnt, data
            return True
        try:
            program_mount(sy, [prog] + shlex.split(args) + [mnt], mnt)
        except (Failed, subprocess.TimeoutExpired, OSError) as e:
            sy.na = 'error: %s' % e
            if os.path.ismount(mnt):
                fuse_umount(self.defuse, mnt)
            return False
        sy.env = {'FSBENCH_DAEMON_PID': str(sy.daemon)}
        # the suite's own changes between rounds go through the mount, so
        # that the kernel's caches (and sshfs's) see them
        sy.work = sy.view = mnt
        return True

    def nfs_cp(self, root):
        """libnfs's own copy of the large file to and from the export: the
        baseline of the NFS large-file rows."""
        url, export = os.environ['DEFUSE_NFS_URL'], self.nfs_dirs[0]
        local = os.path.join(root, 'nfscp.bin')
        with open(local, 'wb') as f:
            f.write(os.urandom(1 << 20) * self.s['large_mib'])
        back = local + '.back'      # nfs-cp makes its target anew
        remote = '%s/%s/nfscp.bin' % (url, os.path.basename(export))
        try:
            for what, argv in (('write', ['nfs-cp', local, remote]),
                               ('read', ['nfs-cp', remote, back])):
                ms, _, _ = run(argv)
                self.nfscp[what].append(ms)
        except (Failed, OSError) as e:
            self.notes.append('nfs-cp failed: %s' % e)
        finally:
            rm(local)
            rm(back)
            rm(os.path.join(export, 'nfscp.bin'))

    def teardown(self):
        for sy in self.systems.values():
            if sy.mounted:
                if fuse_umount(self.defuse, sy.mounted):
                    sy.mounted = None
        if self.sshd is not None and not isinstance(self.sshd, str):
            self.sshd.stop()
            self.sshd = None
        for d in self.nfs_dirs:
            shutil.rmtree(d, ignore_errors=True)
        for f in self.memfs_segments:
            rm(f)

    # -- one measurement --

    def fsbench_group(self, sy, gname, gargs, phases):
        """phases: (row key, fsbench time key, phase name)."""
        rows = [self.rows[k] for k, _, _ in phases]
        if any(r.status.get(sy.name) for r in rows):
            return
        try:
            _, _, text = run(sy.prefix + [self.fsbench, gname, sy.work]
                             + gargs, env=self.env_for(sy), capture=True)
            vals = keyvals(text)
            for r, (_, tkey, ph) in zip(rows, phases):
                if tkey not in vals:
                    raise Failed('fsbench printed no %s' % tkey)
                r.add(sy.name, vals[tkey], tuple(
                    vals.get(ph + k) for k in ('_vcs', '_ivcs', '_dvcs',
                                               '_divcs', '_cpu_ms',
                                               '_dcpu_ms')))
        except Failed as e:
            self.fail(rows, sy, e)

    def command(self, sy, r, argv, before=None, after=None, check=None,
                rnd=0):
        if r.status.get(sy.name):
            return
        try:
            if before:
                before(sy)
            d0 = daemon_ctx(sy.daemon) if sy.daemon else None
            ms, ru, _ = run(sy.prefix + argv(sy), env=self.env_for(sy))
            d1 = daemon_ctx(sy.daemon) if sy.daemon else None
            if check and rnd == 0:
                check(sy)
            r.add(sy.name, ms, (ru.ru_nvcsw, ru.ru_nivcsw,
                                d1[0] - d0[0] if d0 else None,
                                d1[1] - d0[1] if d0 else None,
                                (ru.ru_utime + ru.ru_stime) * 1e3,
                                d1[2] - d0[2] if d0 else None))
        except (Failed, OSError, subprocess.CalledProcessError) as e:
            self.fail([r], sy, e)
        finally:
            if after:
                try:
                    after(sy)
                except OSError as e:
                    self.fail([r], sy, 'cleaning up: %s' % e)

    def fail(self, rows, sy, e):
        print('  error (%s, %s): %s' % (rows[0].label, sy.name, e),
              file=sys.stderr, flush=True)
        if sy.name.startswith('sshfs') and hasattr(self.sshd, 'log'):
            print('  sshd\'s log ends: %s' % self.sshd.log()[-600:],
                  file=sys.stderr, flush=True)
        for r in rows:
            r.status[sy.name] = 'error: %s' % str(e).replace('\n', ' ')[:400]

    # -- the workloads --

    def define(self):
        s = self.s
        self.groups = []
        mphases = []
        for ph, lbl in (('create', 'create'), ('stat', 'stat'),
                        ('open', 'open+close'), ('access', 'access'),
                        ('chmod', 'chmod'), ('unlink', 'unlink')):
            self.row('meta-' + ph, 'metadata', '%s x%d' % (lbl, s['meta']),
                     'ns/op', ('native', 'fuse10'))
            mphases.append(('meta-' + ph, ph + '_ns', ph))
        self.groups.append(('meta', [str(s['meta'])], mphases))
        self.row('readdir', 'metadata', 'readdir of %d' % s['readdir'],
                 'ns/entry', ('native',))
        self.groups.append(('readdir', [str(s['readdir'])],
                            [('readdir', 'readdir_ns', 'readdir')]))
        small = '%d x %d B' % (s['small_n'], s['small_size'])
        self.row('small-write', 'files', small + ': write', 'us/file',
                 ('native', 'fuse5'))
        self.row('small-read', 'files', small + ': read', 'us/file',
                 ('native', 'fuse5'))
        self.groups.append(('small', [str(s['small_n']), str(s['small_size'])],
                            [('small-write', 'small_write_us', 'small_write'),
                             ('small-read', 'small_read_us', 'small_read')]))
        grow = '%d growing files, %d MiB' % (s['grow_n'], s['grow_mib'])
        self.row('grow-write', 'files', grow + ': write', 'ms', ('native',))
        self.row('grow-read', 'files', grow + ': read', 'ms', ('native',))
        self.groups.append(('growing', [str(s['grow_n']), str(s['grow_mib'])],
                            [('grow-write', 'grow_write_ms', 'grow_write'),
                             ('grow-read', 'grow_read_ms', 'grow_read')]))
        large = 'one %d MiB file' % s['large_mib']
        self.row('large-write', 'files', large + ': write', 'ms',
                 ('native', 'emulated'))
        self.row('large-read', 'files', large + ': read', 'ms',
                 ('native', 'emulated'))
        self.groups.append(('large', [str(s['large_mib']),
                                      str(s['large_mib'] * 1024)],
                            [('large-write', 'large_write_ms', 'large_write'),
                             ('large-read', 'large_read_ms', 'large_read')]))
        self.row('mmap', 'files', 'mmap scan, %d MiB, 1 B/KiB' % s['mmap_mib'],
                 'ms', ('native',))
        self.groups.append(('mmap', [str(s['mmap_mib'])],
                            [('mmap', 'mmap_ms', 'mmap')]))
        self.row('mmap-rand', 'files', 'mmap: %d random 4 KiB reads, %d MiB'
                 % (s['mmaprand_n'], s['mmaprand_mib']), 'us/read', ('mmap2',))
        self.groups.append(('mmaprand', [str(s['mmaprand_mib']),
                                         str(s['mmaprand_n'])],
                            [('mmap-rand', 'mmaprand_us', 'mmaprand')]))
        self.row('mmap-write', 'files', 'mmap: write every page of %d MiB, '
                 'msync' % s['mmapwrite_mib'], 'ms', ('mmap2',))
        self.groups.append(('mmapwrite', [str(s['mmapwrite_mib'])],
                            [('mmap-write', 'mmapwrite_ms', 'mmapwrite')]))
        self.row('mmap-fault', 'files', 'mmap: one first-touch fault (%d MiB, '
                 '1 per 256 KiB)' % s['mmapfault_mib'], 'us/fault', ())
        self.groups.append(('mmapfault', [str(s['mmapfault_mib'])],
                            [('mmap-fault', 'mmapfault_us', 'mmapfault')]))

        self.cmds = []
        t = os.path.join

        def files(sy, script, *args):
            """sh -c script ($1: the system's directory, then args) on a
            system's files, outside the measured run: straight in its
            backing directory, or through the mount when it has none
            (memfs).  Returns what it printed."""
            prefix = [] if sy.view else sy.prefix
            _, _, out = run(prefix + ['sh', '-c', script, 'sh', sy.view or sy.work]
                            + list(args), capture=True)
            return out

        def entries(sy, rel):
            # the directory itself and everything below it
            return int(files(sy, 'find "$1/$2" | wc -l', rel))

        def untar_before(sy):
            files(sy, 'mkdir "$1/untar"')

        def untar_check(sy):
            got = entries(sy, 'untar/tree')
            if got != self.tree_entries:
                raise Failed('untar gave %d entries, expected %d'
                             % (got, self.tree_entries))

        def copy_check(sy):
            got = entries(sy, 'copy')
            if got != self.tree_entries:
                raise Failed('cp -r gave %d entries, expected %d'
                             % (got, self.tree_entries))

        def make_after(sy):
            files(sy, 'rm -f "$1"/proj/src/*.o "$1/proj/main.o" "$1/proj/prog"')

        def make_check(sy):
            # a copy: an NFS server may hold the built program open for
            # writing (ETXTBSY)
            prog = t(os.path.dirname(self.tarball), 'prog-' + sy.name)
            files(sy, 'cp "$1/proj/prog" "$2"', prog)
            _, _, out = run([prog], capture=True)
            rm(prog)
            if self.prog_out is None:
                self.prog_out = out
            elif out != self.prog_out:
                raise Failed('the built program printed %r, natively %r'
                             % (out, self.prog_out))

        self.prog_out = None
        self.cmds = [
            ('untar', 'untar of the tree (%d entries)' % self.tree_entries,
             lambda sy: ['tar', 'xf', self.tarball, '-C',
                         t(sy.work, 'untar')],
             untar_before, lambda sy: files(sy, 'rm -rf "$1/untar"'), untar_check),
            ('cp', 'cp -r of the tree',
             lambda sy: ['cp', '-r', t(sy.work, 'tree'), t(sy.work, 'copy')],
             None, lambda sy: files(sy, 'rm -rf "$1/copy"'), copy_check),
            ('grep', 'grep -r over the tree',
             lambda sy: ['grep', '-r', '-l', GREP_PATTERN, t(sy.work, 'tree')],
             None, None, None),
            ('wc', 'find -exec wc -l over the tree',
             lambda sy: ['find', t(sy.work, 'tree'), '-type', 'f', '-exec',
                         'wc', '-l', '{}', '+'],
             None, None, None),
            ('make', 'make -j2 of a C project',
             lambda sy: ['make', '-s', '-j2', '-C', t(sy.work, 'proj')],
             None, make_after, make_check),
        ]
        for key, label, *_ in self.cmds:
            self.row(key, 'programs', label, 'ms', ('native', 'fuse2'))
        for n in s['exec_ns']:
            self.row('exec-%d' % n, 'exec', 'exec, %d inherited fds' % n,
                     'us/exec', ('paper',))

        # --workloads: keep only what was asked for.
        want = set(self.args.workloads)
        self.groups = [g for g in self.groups if g[0] in want]
        self.cmds = [c for c in self.cmds if c[0] in want]
        if 'exec' not in want:
            s['exec_ns'] = []
        kept = {k for _, _, phases in self.groups for k, _, _ in phases}
        kept |= {c[0] for c in self.cmds}
        kept |= {'exec-%d' % n for n in s['exec_ns']}
        self.order = [k for k in self.order if k in kept]
        self.rows = {k: self.rows[k] for k in self.order}
        # The pager system differs from emulated only in its mappings.
        for k, r in self.rows.items():
            if not k.startswith('mmap'):
                r.status['pager'] = 'n/a: mmap rows only'
        # sshfs in process is one instance per process image, each with its
        # own ssh login (docs/fuse-compat.md): make -j2's processes write
        # at once through separate instances, and every exec logs in again.
        for k, r in self.rows.items():
            if k == 'make':
                r.status['sshfs'] = ('n/a: processes writing at once, each '
                                     'with its own sshfs instance (one per '
                                     'process image in process)')
            elif r.group == 'exec':
                r.status['sshfs'] = ('n/a: every exec\'d image starts sshfs '
                                     'and logs in again')

    def round(self, rnd):
        names = [n for n in SYSTEMS if not self.systems[n].na]
        k = rnd % len(names)
        order = names[k:] + names[:k]
        print('round %d/%d (%s)' % (rnd + 1, self.s['runs'],
                                    ', '.join(order)),
              file=sys.stderr, flush=True)
        for gname, gargs, phases in self.groups:
            for n in order:
                self.fsbench_group(self.systems[n], gname, gargs, phases)
            if gname == 'large' and 'nfs' in names and shutil.which('nfs-cp'):
                self.nfs_cp(os.path.dirname(self.systems['native'].view))
        for key, _, argv, before, after, check in self.cmds:
            for n in order:
                self.command(self.systems[n], self.rows[key], argv, before,
                             after, check, rnd)
        for n in self.s['exec_ns']:
            r = self.rows['exec-%d' % n]
            for name in order + [CAPTURE_ONLY]:
                sy = self.systems[name]
                if r.status.get(name) or sy.na:
                    continue
                where = sy.outside or sy.work
                try:
                    _, _, text = run(sy.prefix + [self.exec_fds, where, str(n),
                                                  str(self.s['execs'])],
                                     env=self.env_for(sy), capture=True)
                    v = keyvals(text)
                    r.add(name, v['exec_us'], (v.get('exec_vcs'),
                                               v.get('exec_ivcs'), None, None,
                                               None, None))
                except (Failed, KeyError) as e:
                    self.fail([r], sy, e)

    def mark_na(self):
        for sy in self.systems.values():
            if sy.na:
                for r in self.rows.values():
                    r.status[sy.name] = sy.na


# --- reporting ----------------------------------------------------------------

def speedup(r, fuse, system):
    """How many times faster system is than fuse (FUSE median / median)."""
    return r.ratio(fuse, system)


def verdicts(r):
    """The DESIGN.md section 5 targets that apply to row r, judged."""
    out = []
    # Three decimals, so that 1.103x does not read as 1.10x and NOT met.
    x = lambda v: '%.3fx' % v

    def judge(ok):
        return 'met' if ok else 'NOT met'

    kb = r.ratio('kernel-backed', 'native')
    if 'native' in r.targets:
        out.append('kernel-backed <= 1.10x native: %s' % (
            '-' if kb is None else '%s (%s)' % (judge(kb <= 1.10), x(kb))))
    if 'mmap2' in r.targets or r.key == 'mmap':
        for sy in ('emulated', 'pager'):
            v = r.ratio(sy, 'native')
            out.append('%s <= 2x native: %s' % (LABEL[sy], '-' if v is None
                                                 else '%s (%s)' % (judge(v <= 2),
                                                                   x(v))))
    if 'emulated' in r.targets:
        em = r.ratio('emulated', 'native')
        out.append('emulated <= 1.10x native: %s' % (
            '-' if em is None else '%s (%s)' % (judge(em <= 1.10), x(em))))
    for tag, want in (('fuse10', 10), ('fuse5', 5), ('fuse2', 2)):
        if tag in r.targets:
            parts = []
            for f in FUSE_SYSTEMS:
                s = speedup(r, f, 'kernel-backed')
                parts.append('%s %s' % (LABEL[f].split()[1], '-' if s is None
                                        else '%s (%.1fx)' % (judge(s >= want),
                                                             s)))
            out.append('kernel-backed >= %dx faster than FUSE: %s'
                       % (want, ', '.join(parts)))
    if 'paper' in r.targets:
        out.append('paper: ~3.8 us + 0.004 us/fd added')
    return out


def cnt(v):
    """A count or a median of counts: whole numbers without decimals."""
    return '%d' % v if v == int(v) else '%.1f' % v


def ctx_cell(r, system):
    v, iv = r.ctx_median(system, 0), r.ctx_median(system, 1)
    if r.status.get(system):
        return r.status[system].split(':')[0]
    if v is None:
        return '-'
    s = '%s/%s' % (cnt(v), cnt(iv))
    dv, div = r.ctx_median(system, 2), r.ctx_median(system, 3)
    if dv is not None:
        s += ' + daemon %s/%s' % (cnt(dv), cnt(div))
    return s


def cpu_cell(r, system):
    if r.status.get(system):
        return r.status[system].split(':')[0]
    a, d = r.ctx_median(system, 4), r.ctx_median(system, 5)
    if a is None:
        return '-'
    return fmt(a) + ('' if d is None else ' + daemon %s' % fmt(d))


def val_cell(r, system):
    st = r.status.get(system)
    if st:
        return st.split(':')[0]  # the reason is under the table
    return cell(r.vals.get(system, []))


def linear_fit(xs, ys):
    if len(xs) < 2:
        return None
    mx, my = statistics.mean(xs), statistics.mean(ys)
    sxx = sum((a - mx) ** 2 for a in xs)
    if sxx == 0:
        return None
    b = sum((a - mx) * (c - my) for a, c in zip(xs, ys)) / sxx
    return my - b * mx, b


def fusefs_table(suite, rows):
    """FUSE file systems in process against the same code through kernel
    FUSE (issue 12), with the issue's targets."""
    out = ['', '## FUSE file systems: in process against through kernel '
           'FUSE (issue 12)', '',
           'The same file system code both ways: libfuse\'s passthrough_fh '
           'and passthrough_ll examples (a module in process, the program '
           'with the real libfuse through kernel FUSE), Debian\'s sshfs '
           '(the same program both ways, the same sshd on loopback).  '
           'Cells: median; "x": how many times faster in process (kernel '
           'FUSE median / in-process median).  Targets: metadata and small '
           'files >= 5x (passthroughs), >= 2x (sshfs); untar and grep -r '
           '>= 2x.', '']
    pairs = [p for p in FUSEFS_PAIRS
             if not (suite.systems[p[0]].na and suite.systems[p[1]].na)]
    head, line = '| workload |', '|---|'
    for inp, ker, _ in pairs:
        head += ' %s | %s | x |' % (LABEL[inp], LABEL[ker])
        line += '---|---|---|'
    out += [head + ' targets |', line + '---|']
    for r in rows:
        if r.group == 'exec':
            continue
        cells, verdict = [], []
        for inp, ker, want in pairs:
            sp = speedup(r, ker, inp)
            cells += [val_cell(r, inp), val_cell(r, ker),
                      '-' if sp is None else '%.2fx' % sp]
            if r.key.startswith(('meta-', 'small-')):
                goal = want
            elif r.key in ('untar', 'grep'):
                goal = 2
            else:
                continue
            verdict.append('%s >= %dx: %s' % (
                inp, goal, '-' if sp is None else
                'met' if sp >= goal else 'NOT met'))
        out.append('| %s | %s | %s |' % (r.label, ' | '.join(cells),
                                          '; '.join(verdict) or '-'))
    return out


# Issue 11's targets for emulated files (passthrough emulated and memfs):
# row key -> (at most this many times native, at least this many times
# faster than FUSE default, or None).
EMULATED_TARGETS = {
    'meta-open': (2, 10), 'meta-create': (2, None),
    'small-write': (1.5, 5), 'small-read': (1.5, 5),
    'untar': (1.5, None), 'cp': (1.5, None), 'grep': (1.5, None),
}
EMULATED_SYSTEMS = ('emulated', 'memfs')


def emulated_table(suite, rows):
    """Emulated files against native and FUSE default, with issue 11's
    targets, and the exec cost per inherited emulated descriptor (the
    slope of a line through the exec rows)."""
    systems = [s for s in EMULATED_SYSTEMS if not suite.systems[s].na]
    if not systems:
        return []
    out = ['', '## Emulated files (issue 11)', '',
           'Time / native time, and how many times faster than FUSE default '
           '(FUSE time / time), for the modules that serve every file '
           'themselves.', '']
    head, line = '| workload |', '|---|'
    for sy in systems:
        head += ' %s / native | %s vs FUSE default |' % (LABEL[sy], LABEL[sy])
        line += '---|---|'
    out += [head + ' targets |', line + '---|']
    rs = lambda v: '-' if v is None else '%.2fx' % v
    for r in rows:
        goal = EMULATED_TARGETS.get(r.key)
        if not goal:
            continue
        cells, verdict = [], []
        for sy in systems:
            nat, fast = r.ratio(sy, 'native'), speedup(r, 'fuse-default', sy)
            cells += [rs(nat), rs(fast)]
            v = '<= %gx native: %s' % (goal[0], '-' if nat is None else
                                        'met' if nat <= goal[0] else 'NOT met')
            if goal[1]:
                v += ', >= %dx FUSE: %s' % (goal[1], '-' if fast is None else
                                           'met' if fast >= goal[1] else 'NOT met')
            verdict.append('%s %s' % (sy, v))
        out.append('| %s | %s | %s |' % (r.label, ' | '.join(cells),
                                          '; '.join(verdict)))
    execs = [r for r in rows if r.group == 'exec']
    for sy in systems:
        pts = [(int(r.key.split('-')[1]), r.median(sy)) for r in execs
               if r.median(sy) is not None]
        fit = linear_fit([n for n, _ in pts], [v for _, v in pts])
        if fit:
            out.append('')
            out.append('%s: exec with N inherited descriptors, %.2f us per '
                       'descriptor (fit over N = %s); target <= 2 us: %s' % (
                           LABEL[sy], fit[1], ', '.join(str(n) for n, _ in pts),
                           'met' if fit[1] <= 2 else 'NOT met'))
    return out


def report(suite, args, mode, started, elapsed):
    rows = [suite.rows[k] for k in suite.order]
    # the systems asked for (--systems); the CSV has every one
    systems = [s for s in SYSTEMS if not (suite.systems[s].na or '')
               .startswith('n/a: not selected')]
    out = []
    out.append('# DEFUSE benchmark suite, %s' % started.strftime(
        '%Y-%m-%d %H:%M'))
    out.append('')
    out.append('- machine: %s' % describe_machine())
    out.append('- command: `%s`' % ' '.join(['python3', 'bench/suite.py']
                                            + sys.argv[1:]))
    out.append('- mode %s: %d runs; each round runs every workload on every '
               'system, the order rotating; median (min-max); %.0f s in all'
               % (mode, suite.s['runs'], elapsed))
    out.append('- scratch: %s (%s)' % (args.scratch, fs_type(args.scratch)))
    for n in suite.notes:
        out.append('- %s' % n)
    out.append('- fsbench rows are timed inside the program (no start-up); '
               'program rows are whole commands (DEFUSE rows include '
               '`defuse run` start-up)')
    for sy in SYSTEMS + [CAPTURE_ONLY]:
        if suite.systems[sy].na:
            out.append('- %s: %s' % (LABEL[sy], suite.systems[sy].na))

    out.append('')
    out.append('## Times')
    out.append('')
    out.append('| workload | unit | ' + ' | '.join(LABEL[s] for s in systems)
               + ' |')
    out.append('|---|---|' + '---|' * len(systems))
    for r in rows:
        out.append('| %s | %s | %s |' % (r.label, r.unit, ' | '.join(
            val_cell(r, s) for s in systems)))

    out.append('')
    out.append('## Ratios and targets (DESIGN.md section 5)')
    out.append('')
    out.append('Time / native time (lower is better), and how many times '
               'faster than FUSE (FUSE time / time).')
    out.append('')
    rs = lambda v: '-' if v is None else '%.2fx' % v
    out.append('| workload | FUSE default / native | FUSE tuned / native | '
               'kernel-backed / native | emulated / native | '
               'kernel-backed vs FUSE default, tuned | '
               'emulated vs FUSE default, tuned | targets |')
    out.append('|---|---|---|---|---|---|---|---|')
    for r in rows:
        if r.group == 'exec':
            continue
        out.append('| %s | %s | %s | %s | %s | %s, %s | %s, %s | %s |' % (
            r.label, rs(r.ratio('fuse-default', 'native')),
            rs(r.ratio('fuse-tuned', 'native')),
            rs(r.ratio('kernel-backed', 'native')),
            rs(r.ratio('emulated', 'native')),
            rs(speedup(r, 'fuse-default', 'kernel-backed')),
            rs(speedup(r, 'fuse-tuned', 'kernel-backed')),
            rs(speedup(r, 'fuse-default', 'emulated')),
            rs(speedup(r, 'fuse-tuned', 'emulated')),
            '; '.join(verdicts(r))))

    if any(not suite.systems[s].na for s in NFS_SYSTEMS):
        out.append('')
        out.append('## NFS: in process against through FUSE (DESIGN.md section 5)')
        out.append('')
        out.append('The same module (modules/nfs) on the same export; how many '
                   'times faster in process than through the FUSE bridge, and '
                   'large files against libnfs\'s own nfs-cp (its median, '
                   'ms; target: at least 80% of its speed).  Target: at '
                   'least 2x on metadata and small files.')
        out.append('')
        out.append('| workload | NFS in process | NFS through FUSE | in process vs '
                   'FUSE | target |')
        out.append('|---|---|---|---|---|')
        cp = {w: statistics.median(v) for w, v in suite.nfscp.items() if v}
        for r in rows:
            if r.group == 'exec':
                continue
            sp = speedup(r, 'nfs-fuse', 'nfs')
            t = '-'
            if r.key.startswith('meta-') or r.key.startswith('small-'):
                t = '-' if sp is None else '>= 2x: %s' % (
                    'met' if sp >= 2 else 'NOT met')
            elif r.key in ('large-write', 'large-read') and r.median('nfs'):
                base = cp.get(r.key.split('-')[1])
                if base:
                    share = base / r.median('nfs')
                    t = 'nfs-cp %s ms: %.0f%% of its speed, %s' % (
                        fmt(base), 100 * share, 'met' if share >= 0.8 else 'NOT met')
            out.append('| %s | %s | %s | %s | %s |' % (
                r.label, val_cell(r, 'nfs'), val_cell(r, 'nfs-fuse'),
                rs(sp), t))

    out.extend(emulated_table(suite, rows))

    if any(not suite.systems[s].na for s in FUSEFS_SYSTEMS):
        out.extend(fusefs_table(suite, rows))

    out.append('')
    out.append('## Context switches')
    out.append('')
    out.append('Voluntary/involuntary, median per run: of the application '
               '(for fsbench rows, the timed phase only; for programs, the '
               'command and its children), and of the FUSE daemon (all '
               'threads).  Target: app + file system voluntary <= native + '
               '10.')
    out.append('')
    out.append('| workload | ' + ' | '.join(LABEL[s] for s in systems) +
               ' | target |')
    out.append('|---|' + '---|' * (len(systems) + 1))
    for r in rows:
        if r.group == 'exec':
            continue
        nat = r.ctx_median('native', 0)
        ver = []
        for s in DEFUSE_SYSTEMS:
            v = r.ctx_median(s, 0)
            if v is None or nat is None:
                ver.append('%s -' % s)
            else:
                ver.append('%s %s' % (s, 'met' if v <= nat + 10 else
                                      'NOT met'))
        out.append('| %s | %s | %s |' % (r.label, ' | '.join(
            ctx_cell(r, s) for s in systems), ', '.join(ver)))

    out.append('')
    out.append('## CPU time')
    out.append('')
    out.append('User + system time, ms, median per run: of the application '
               '(as above) + of the FUSE daemon (whole process, in clock '
               'ticks).  Beside the wall time, it tells working from '
               'waiting.')
    out.append('')
    out.append('| workload | ' + ' | '.join(LABEL[s] for s in systems) + ' |')
    out.append('|---|' + '---|' * len(systems))
    for r in rows:
        if r.group == 'exec':
            continue
        out.append('| %s | %s |' % (r.label, ' | '.join(
            cpu_cell(r, s) for s in systems)))

    out.append('')
    out.append('## Exec with N inherited descriptors (FD stashing)')
    out.append('')
    out.append('us per fork + exec + wait of a program that exits at once, '
               'with N descriptors of one file open (%d execs per run).  '
               '"capture-only" is `defuse run` with N kernel descriptors '
               'outside the mounts: the difference to it is what stashing '
               'costs; the difference to native adds capture\'s start-up.'
               % suite.s['execs'])
    out.append('')
    esys = systems + [CAPTURE_ONLY]
    out.append('| N | ' + ' | '.join(LABEL[s] for s in esys) +
               ' | kernel-backed - native | emulated - native | '
               'kernel-backed - capture-only | emulated - capture-only |')
    out.append('|---|' + '---|' * (len(esys) + 4))
    diffs = {s: [] for s in DEFUSE_SYSTEMS}
    for n in suite.s['exec_ns']:
        r = suite.rows['exec-%d' % n]
        d = []
        for base in ('native', CAPTURE_ONLY):
            for s in DEFUSE_SYSTEMS:
                a, b = r.median(s), r.median(base)
                d.append(None if a is None or b is None else a - b)
                if base == CAPTURE_ONLY and a is not None and b is not None:
                    diffs[s].append((n, a - b))
        out.append('| %d | %s | %s |' % (n, ' | '.join(
            val_cell(r, s) for s in esys), ' | '.join(
                '-' if v is None else ('+' if v >= 0 else '') + fmt(v)
                for v in d)))
    out.append('')
    for s in DEFUSE_SYSTEMS:
        fit = linear_fit([a for a, _ in diffs[s]], [b for _, b in diffs[s]])
        if fit:
            out.append('- %s minus capture-only, fitted (least squares '
                       'over N): %.1f us %s %.4f us per descriptor (the '
                       'paper: about 3.8 us + 0.004 us per descriptor)'
                       % (s, fit[0], '-' if fit[1] < 0 else '+',
                          abs(fit[1])))
    if suite.capture_table or suite.capture_error:
        out.append('')
        out.append('## Capture costs (bench/capture_bench.py, paired runs)')
        out.append('')
        out.extend(suite.capture_table)
        if suite.capture_error:
            out.append('')
            out.append('- error: %s' % suite.capture_error)
    out.append('')
    out.append('![time / native](ratios.png)')
    out.append('![context switches](ctxsw.png)')
    out.append('![exec with N descriptors](exec.png)')

    errors = [(r, s, st) for r in rows for s, st in r.status.items()
              if st.startswith('error') and not suite.systems[s].na]
    if errors:
        out.append('')
        out.append('## Errors')
        out.append('')
        for r, s, st in errors:
            out.append('- %s, %s: %s' % (r.label, LABEL[s], st[:300]))
    errors += [s for s in suite.systems.values()
               if s.na and s.na.startswith('error')]
    return '\n'.join(out) + '\n', bool(errors or suite.capture_error)


def write_csv(suite, path):
    with open(path, 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(['group', 'workload', 'unit', 'system', 'status', 'runs',
                    'median', 'min', 'max', 'values', 'ratio_native',
                    'ratio_fuse_default', 'ratio_fuse_tuned', 'app_vcs',
                    'app_ivcs', 'daemon_vcs', 'daemon_ivcs', 'app_cpu_ms',
                    'daemon_cpu_ms'])
        num = lambda v: '' if v is None else '%.6g' % v
        for k in suite.order:
            r = suite.rows[k]
            systems = SYSTEMS + ([CAPTURE_ONLY] if r.group == 'exec' else [])
            for s in systems:
                vals = r.vals.get(s, []) if not r.status.get(s) else []
                w.writerow([r.group, r.label, r.unit, s,
                            r.status.get(s, 'ok'), len(vals),
                            num(r.median(s)),
                            num(min(vals)) if vals else '',
                            num(max(vals)) if vals else '',
                            ';'.join('%.6g' % v for v in vals),
                            num(r.ratio(s, 'native')),
                            num(r.ratio(s, 'fuse-default')),
                            num(r.ratio(s, 'fuse-tuned'))]
                           + [num(r.ctx_median(s, i)) for i in range(6)])


def plots(suite, outdir):
    """gnuplot PNGs; returns a note if they could not be made."""
    rows = [suite.rows[k] for k in suite.order]
    others = [s for s in SYSTEMS if s != 'native']
    cols = list(others)
    q = lambda v: '?' if v is None else '%.6g' % v
    with open(os.path.join(outdir, 'ratios.dat'), 'w') as f:
        f.write('# workload ' + ' '.join(others) + '\n')
        for r in rows:
            if r.group != 'exec':
                f.write('"%s" %s\n' % (r.label, ' '.join(
                    q(r.ratio(s, 'native')) for s in others)))
    with open(os.path.join(outdir, 'ctxsw.dat'), 'w') as f:
        f.write('# workload, 1 + voluntary switches (app + daemon): '
                + ' '.join(SYSTEMS) + '\n')
        for r in rows:
            if r.group == 'exec':
                continue
            vals = []
            for s in SYSTEMS:
                a, d = r.ctx_median(s, 0), r.ctx_median(s, 2)
                vals.append(q(None if a is None else 1 + a + (d or 0)))
            f.write('"%s" %s\n' % (r.label, ' '.join(vals)))
    esys = SYSTEMS + [CAPTURE_ONLY]
    with open(os.path.join(outdir, 'exec.dat'), 'w') as f:
        f.write('# N ' + ' '.join(esys) + '\n')
        for n in suite.s['exec_ns']:
            r = suite.rows['exec-%d' % n]
            f.write('%d %s\n' % (n, ' '.join(q(r.median(s)) for s in esys)))

    title = lambda s: LABEL[s].replace('_', ' ')
    has = lambda s, group: any(
        suite.rows[k].median(s) is not None for k in suite.order
        if (suite.rows[k].group == 'exec') == (group == 'exec'))
    others = [s for s in others if has(s, '') and has('native', '')]
    esys_plot = [s for s in esys if has(s, 'exec')]
    csys = [s for s in SYSTEMS if has(s, '')]
    gp = ['set terminal pngcairo size 1400,700 noenhanced font ",10"',
          'set datafile missing "?"',
          'set style data histogram',
          'set style histogram clustered gap 1',
          'set style fill solid 0.8 border -1',
          'set xtics rotate by -40 scale 0',
          'set key top left',
          'set bmargin 12',
          'set rmargin 10',
          'set grid ytics',
          'set logscale y']
    made = []
    if others:
        made.append('ratios.png')
        gp += ['set output "ratios.png"',
               'set title "time / native time (log scale; 1 = native)"',
               'plot ' + ', '.join('"ratios.dat" using %d:xtic(1) title "%s"'
                                   % (cols.index(s) + 2, title(s))
                                   for s in others)]
    if csys:
        made.append('ctxsw.png')
        gp += ['set output "ctxsw.png"',
               'set title "1 + voluntary context switches, application + '
               'FUSE daemon (log scale)"',
               'plot ' + ', '.join('"ctxsw.dat" using %d:xtic(1) title "%s"'
                                   % (SYSTEMS.index(s) + 2, title(s))
                                   for s in csys)]
    if esys_plot:
        made.append('exec.png')
        gp += ['set bmargin',
               'set rmargin',
               'set style data linespoints',
               'set xtics norotate',
               'set xlabel "inherited descriptors"',
               'set ylabel "us per fork + exec + wait (log scale)"',
               'set output "exec.png"',
               'set title "exec with N inherited descriptors"',
               'plot ' + ', '.join('"exec.dat" using 1:%d title "%s"'
                                   % (esys.index(s) + 2, title(s))
                                   for s in esys_plot)]
    gp.append('set output')
    if not made:
        return 'plots: nothing measured to plot'
    with open(os.path.join(outdir, 'plots.gp'), 'w') as f:
        f.write('\n'.join(gp) + '\n')
    gnuplot = shutil.which('gnuplot')
    if not gnuplot:
        return 'plots: gnuplot not installed (scripts/setup.sh installs ' \
               'gnuplot-nox); the data and plots.gp are in the results'
    p = subprocess.run([gnuplot, 'plots.gp'], cwd=outdir, capture_output=True,
                       text=True)
    if p.returncode != 0:
        return 'plots: gnuplot failed: %s' % p.stderr.strip()[-300:]
    return None


def capture_costs(suite, args, mode, outdir):
    """The capture benchmark's own paired runs (a captured call, start-up
    per exec), its table taken into the report."""
    print('capture costs: bench/capture_bench.py ...', file=sys.stderr,
          flush=True)
    path = os.path.join(outdir, 'capture.md')
    argv = [sys.executable, os.path.join(HERE, 'capture_bench.py'),
            '--build', args.build, '--out', path]
    if mode == 'quick':
        argv.append('--quick')
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                       text=True)
    try:
        with open(path) as f:
            suite.capture_table = [ln.rstrip('\n') for ln in f
                                   if ln.startswith('|')]
    except OSError:
        suite.capture_table = []
    if p.returncode != 0:
        suite.capture_error = 'bench/capture_bench.py exited %d: %s' % (
            p.returncode, p.stderr.strip()[-300:])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    m = ap.add_mutually_exclusive_group()
    m.add_argument('--quick', action='store_true',
                   help='smaller counts, 5 runs: a few minutes (default)')
    m.add_argument('--full', action='store_true', help="the issue's sizes")
    m.add_argument('--tiny', action='store_true',
                   help='tiny sizes and 1 run: a smoke run, not figures')
    ap.add_argument('--build', default=os.path.join(ROOT, 'build'),
                    help='the Meson build directory (default: build)')
    ap.add_argument('--out', help='results directory (default '
                    'bench/results/DATE)')
    ap.add_argument('--runs', type=int, help='rounds (default 5; >= 5 '
                    'except with --tiny)')
    ap.add_argument('--scratch', default='/dev/shm' if os.path.isdir(
        '/dev/shm') else tempfile.gettempdir(),
        help='where the backing directories go (default /dev/shm: tmpfs '
             'shows interface costs; give an ext4 directory for realism)')
    ap.add_argument('--fuse-default-options', default=DEFAULT_OPTIONS,
                    help="-o options of the FUSE default system (libfuse's "
                    'defaults: %s)' % DEFAULT_OPTIONS)
    ap.add_argument('--fuse-tuned-options', default=TUNED_OPTIONS,
                    help='-o options of the FUSE tuned system (default %s)'
                    % TUNED_OPTIONS)
    for base, (ex, _) in PASSTHROUGH_EXAMPLES.items():
        ap.add_argument('--%s-args' % base, default='', metavar='ARGS',
                        help="more arguments for %s, the same in process "
                        'and through kernel FUSE (e.g. "-o cache=never" '
                        'for passthrough_ll)' % ex)
    ap.add_argument('--systems', default=','.join(SYSTEMS),
                    help='comma-separated subset of %s (native is always '
                    'run: ratios need it)' % ','.join(SYSTEMS))
    ap.add_argument('--workloads', default=','.join(WORKLOADS),
                    help='comma-separated subset of %s' % ','.join(WORKLOADS))
    ap.add_argument('--no-capture', action='store_true',
                    help='skip the capture costs (bench/capture_bench.py; '
                    'never run with --tiny)')
    args = ap.parse_args()
    for opt, known in (('systems', SYSTEMS), ('workloads', WORKLOADS)):
        got = [w for w in getattr(args, opt).split(',') if w]
        bad = [w for w in got if w not in known]
        if bad or not got:
            ap.error('--%s: unknown %s (known: %s)' % (
                opt, ', '.join(bad) or 'empty list', ', '.join(known)))
        setattr(args, opt, got)
    if 'native' not in args.systems:
        args.systems.append('native')
    mode = 'full' if args.full else 'tiny' if args.tiny else 'quick'
    sizes = dict(SIZES[mode])
    if args.runs is not None:
        if args.runs < 5 and mode != 'tiny':
            ap.error('--runs must be at least 5 (medians of at least 5 runs)')
        if args.runs < 1:
            ap.error('--runs must be at least 1')
        sizes['runs'] = args.runs
    args.build = os.path.abspath(args.build)
    args.scratch = os.path.abspath(args.scratch)

    suite = Suite(args, sizes)
    for p in (suite.defuse, suite.fsbench, suite.exec_fds):
        if not os.access(p, os.X_OK):
            print('suite: %s is missing; build first (meson setup %s && '
                  'ninja -C %s)' % (p, args.build, args.build),
                  file=sys.stderr)
            return 2
    started = datetime.datetime.now()
    outdir = os.path.abspath(args.out or os.path.join(
        HERE, 'results', started.strftime('%Y%m%d-%H%M%S') +
        ('' if mode == 'full' else '-' + mode)))
    os.makedirs(outdir, exist_ok=True)

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    root = tempfile.mkdtemp(prefix='defuse-suite-', dir=args.scratch)
    # The FUSE systems' lock carriers and change counters (modules/fuse/
    # lock.c): in a directory of the run's own on tmpfs, as the default one
    # is, removed with the run (a test must leave nothing behind).
    locks = None
    if not os.environ.get('DEFUSE_FUSE_LOCKDIR'):
        locks = tempfile.mkdtemp(prefix='defuse-suite-locks-',
                                 dir='/dev/shm' if os.path.isdir('/dev/shm') else None)
        os.environ['DEFUSE_FUSE_LOCKDIR'] = locks
    t0 = time.monotonic()
    try:
        suite.setup(root)
        suite.define()
        suite.mark_na()
        for rnd in range(sizes['runs']):
            suite.round(rnd)
    except KeyboardInterrupt:
        print('suite: interrupted', file=sys.stderr)
        return 130
    finally:
        suite.teardown()
        if locks:
            shutil.rmtree(locks, ignore_errors=True)
        if not any(sy.mounted for sy in suite.systems.values()):
            shutil.rmtree(root, ignore_errors=True)
        else:
            print('suite: left %s (a FUSE mount is still there)' % root,
                  file=sys.stderr)
    elapsed = time.monotonic() - t0
    if mode != 'tiny' and not args.no_capture:
        capture_costs(suite, args, mode, outdir)

    note = plots(suite, outdir)
    if note:
        suite.notes.append(note)
    text, errors = report(suite, args, mode, started, elapsed)
    with open(os.path.join(outdir, 'results.md'), 'w') as f:
        f.write(text)
    write_csv(suite, os.path.join(outdir, 'results.csv'))
    sys.stdout.write(text)
    print('\nwritten to %s' % outdir, file=sys.stderr)
    return 1 if errors else 0


if __name__ == '__main__':
    sys.exit(main())
