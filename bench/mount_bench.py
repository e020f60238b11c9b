#!/usr/bin/env python3
"""Mount benchmark: file-system workloads natively and on DEFUSE mounts.

The issue-3 benchmark.  Every workload runs natively on a scratch directory
and through `defuse run -m MNT=passthrough:TWIN` (kernel-backed files) and
`defuse run -m MNT=passthrough:emulated=TWIN` (module-served I/O) on a mount
of a twin directory, in one run; within each run the three systems alternate
(the order rotates from run to run), repeated --runs times (at least 5).

Workloads (bench/fsbench.c times them inside one process):
  create, stat, open+close, access, chmod, unlink of N files (N = 10000);
  readdir of a directory of N entries (5 passes, ns per entry);
  4096 files of 14,129 B written, then read (us per file);
  one 128 MiB file written, then read, in 1 MiB requests (MB/s);
and, timed as a whole command, `tar xf` of a tarball of /usr/include (the
tarball itself sits on tmpfs; the DEFUSE figure includes `defuse run`'s own
start-up).  Writes are not fsync'ed: these are interface costs.

Each workload runs on two file systems: a tmpfs directory (/dev/shm: the
interface cost, nothing hides it) and an ext4 directory (/tmp: realism; the
root file system here is ext4 without a journal, slow to create files after
mass deletes, DESIGN.md section 4).

The tables give median (min-max) per system, the ratio of DEFUSE's median
time to native's (for MB/s rows, native MB/s over DEFUSE MB/s, so a ratio
above 1 is always "slower"), and the DESIGN.md section 5 target: kernel-
backed passthrough at most 1.10x native on every workload; emulated I/O at
most 1.10x native on large sequential read/write.

Usage (after `meson compile -C build`):
  python3 bench/mount_bench.py [--build build] [--runs 5] [--quick]
  ninja -C build bench-mount
--quick: N = 2000 and 3 runs, a smoke run.  The tables go to stdout and to
bench/results/mount-DATE.md.  Scratch directories are removed on exit, also
after a failure or SIGINT/SIGTERM.
"""

import argparse
import datetime
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import cell, describe_machine

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

SYSTEMS = ('native', 'kernel-backed', 'emulated')
TIMEOUT = 900  # seconds for any one command


class Failed(Exception):
    pass


# (key printed by fsbench, workload label, unit, fsbench group, bigger is
# better, emulated target applies)
METRICS = [
    ('create_ns', 'create', 'ns/op', 'meta', False, False),
    ('stat_ns', 'stat', 'ns/op', 'meta', False, False),
    ('open_ns', 'open+close', 'ns/op', 'meta', False, False),
    ('access_ns', 'access', 'ns/op', 'meta', False, False),
    ('chmod_ns', 'chmod', 'ns/op', 'meta', False, False),
    ('unlink_ns', 'unlink', 'ns/op', 'meta', False, False),
    ('readdir_ns', 'readdir', 'ns/entry', 'readdir', False, False),
    ('small_write_us', 'small files: write', 'us/file', 'small', False, False),
    ('small_read_us', 'small files: read', 'us/file', 'small', False, False),
    ('large_write_mbs', '128 MiB file: write', 'MB/s', 'large', True, True),
    ('large_read_mbs', '128 MiB file: read', 'MB/s', 'large', True, True),
]
UNTAR = 'untar /usr/include'


def fs_type(path):
    """The type of the file system holding path, from /proc/self/mounts."""
    best, typ = '', '?'
    real = os.path.realpath(path)
    try:
        with open('/proc/self/mounts') as f:
            for line in f:
                parts = line.split()
                if len(parts) < 3:
                    continue
                mnt = parts[1].replace('\\040', ' ')
                if (real == mnt or real.startswith(mnt.rstrip('/') + '/')) \
                        and len(mnt) >= len(best):
                    best, typ = mnt, parts[2]
    except OSError:
        pass
    return typ


def run_values(argv):
    """Run argv, return the KEY=VALUE floats it printed on stdout."""
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        raise Failed('`%s` timed out after %d s' % (' '.join(argv), TIMEOUT))
    if p.returncode != 0:
        raise Failed('`%s` exited %d: %s' % (' '.join(argv), p.returncode,
                                             p.stderr.strip()[-500:]))
    vals = {}
    for line in p.stdout.splitlines():
        if '=' in line:
            k, v = line.split('=', 1)
            try:
                vals[k] = float(v)
            except ValueError:
                pass
    return vals


def timed(argv):
    """Milliseconds for one run of argv (which must succeed)."""
    t0 = time.perf_counter()
    try:
        p = subprocess.run(argv, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                           text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        raise Failed('`%s` timed out after %d s' % (' '.join(argv), TIMEOUT))
    ms = (time.perf_counter() - t0) * 1e3
    if p.returncode != 0:
        raise Failed('`%s` exited %d: %s' % (' '.join(argv), p.returncode,
                                             p.stderr.strip()[-500:]))
    return ms


def clear_dir(d):
    for name in os.listdir(d):
        p = os.path.join(d, name)
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p)
        else:
            os.unlink(p)


def count_tree(d):
    n = 0
    for _, dirs, files in os.walk(d):
        n += len(dirs) + len(files)
    return n


class Row:
    def __init__(self, label, unit, bigger_better=False, em_target=False):
        self.label, self.unit = label, unit
        self.bigger_better, self.em_target = bigger_better, em_target
        self.vals = {s: [] for s in SYSTEMS}
        self.errors = {}






def ratio(r, system):
    """DEFUSE time / native time, from the medians (None if missing)."""
    if r.errors.get(system) or r.errors.get('native'):
        return None
    if not r.vals[system] or not r.vals['native']:
        return None
    n, d = statistics.median(r.vals['native']), statistics.median(r.vals[system])
    if n <= 0 or d <= 0:
        return None
    return n / d if r.bigger_better else d / n


def row_line(r):
    kb, em = ratio(r, 'kernel-backed'), ratio(r, 'emulated')
    rs = lambda x: '%.2fx' % x if x is not None else '-'
    verdict = lambda x: '-' if x is None else ('met' if x <= 1.10 else 'NOT met')
    target = 'kernel-backed <= 1.10x: %s' % verdict(kb)
    if r.em_target:
        target += '; emulated <= 1.10x: %s' % verdict(em)
    return '| %s | %s | %s | %s | %s | %s | %s | %s |' % (
        r.label, r.unit, cell(r.vals['native'], r.errors.get('native')),
        cell(r.vals['kernel-backed'], r.errors.get('kernel-backed')),
        cell(r.vals['emulated'], r.errors.get('emulated')), rs(kb), rs(em),
        target)




def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--build', default=os.path.join(ROOT, 'build'),
                    help='the Meson build directory (default: build)')
    ap.add_argument('--defuse', help='the defuse CLI (default BUILD/src/defuse)')
    ap.add_argument('--fsbench', help='default BUILD/bench/fsbench')
    ap.add_argument('--runs', type=int, default=5, help='runs (>= 5)')
    ap.add_argument('-n', type=int, default=10000,
                    help='files for the metadata and readdir workloads')
    ap.add_argument('--small-files', type=int, default=4096)
    ap.add_argument('--small-size', type=int, default=14129)
    ap.add_argument('--large-mib', type=int, default=128)
    ap.add_argument('--tmpfs-dir', default='/dev/shm',
                    help='where the interface-cost scratch goes (tmpfs)')
    ap.add_argument('--ext4-dir', default='/tmp',
                    help='where the realism scratch goes (ext4)')
    ap.add_argument('--only', choices=('tmpfs', 'ext4'),
                    help='only one of the two file systems')
    ap.add_argument('--tar-source', default='/usr/include',
                    help='the tree whose tarball is untarred')
    ap.add_argument('--no-untar', action='store_true')
    ap.add_argument('--quick', action='store_true',
                    help='N = 2000 and 3 runs, for a smoke run')
    ap.add_argument('--out', help='results file (default '
                    'bench/results/mount-DATE.md)')
    args = ap.parse_args()
    if args.quick:
        args.n = 2000
        args.runs = 3
    elif args.runs < 5:
        ap.error('--runs must be at least 5 (medians of at least 5 runs)')

    defuse = os.path.abspath(args.defuse or os.path.join(args.build, 'src', 'defuse'))
    fsbench = os.path.abspath(args.fsbench or
                              os.path.join(args.build, 'bench', 'fsbench'))
    for p in (defuse, fsbench):
        if not os.access(p, os.X_OK):
            sys.exit('mount_bench: %s is missing; build first '
                     '(meson compile -C %s)' % (p, args.build))

    # Scratch removal on every way out, SIGTERM/SIGHUP included.
    scratch = []

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    filesystems = [('tmpfs', args.tmpfs_dir), ('ext4', args.ext4_dir)]
    if args.only:
        filesystems = [f for f in filesystems if f[0] == args.only]

    tables = []   # (title, fstype, rows)
    notes = []
    try:
        tarball = None
        if not args.no_untar:
            tdir = tempfile.mkdtemp(prefix='defuse-mount-bench-tar-',
                                    dir=args.tmpfs_dir)
            scratch.append(tdir)
            tarball = os.path.join(tdir, 'src.tar')
            src = os.path.abspath(args.tar_source)
            subprocess.run(['tar', 'cf', tarball, '-C', os.path.dirname(src),
                            os.path.basename(src)], check=True,
                           stderr=subprocess.DEVNULL)
            notes.append('untar: `tar xf` of a %.1f MB tarball of %s '
                         '(%d entries)' % (os.path.getsize(tarball) / 1e6, src,
                                           count_tree(src) + 1))

        for fsname, base in filesystems:
            root = tempfile.mkdtemp(prefix='defuse-mount-bench-', dir=base)
            scratch.append(root)
            typ = fs_type(root)
            dirs = {'native': os.path.join(root, 'native'),
                    'twin': os.path.join(root, 'twin'),
                    'mnt': os.path.join(root, 'mnt')}
            for d in dirs.values():
                os.mkdir(d)
            prefix = {
                'native': [],
                'kernel-backed': [defuse, 'run', '-m', '%s=passthrough:%s'
                                  % (dirs['mnt'], dirs['twin']), '--'],
                'emulated': [defuse, 'run', '-m', '%s=passthrough:emulated=%s'
                             % (dirs['mnt'], dirs['twin']), '--'],
            }
            workdir = {'native': dirs['native'], 'kernel-backed': dirs['mnt'],
                       'emulated': dirs['mnt']}
            # What a workload leaves behind is removed from the directory
            # that holds it (the twin for DEFUSE), untimed.
            backing = {'native': dirs['native'], 'kernel-backed': dirs['twin'],
                       'emulated': dirs['twin']}
            groups = {
                'meta': ['meta', '%d' % args.n],
                'readdir': ['readdir', '%d' % args.n],
                'small': ['small', '%d' % args.small_files,
                          '%d' % args.small_size],
                'large': ['large', '%d' % args.large_mib],
            }
            rows = [Row(m[1], m[2], m[4], m[5]) for m in METRICS]
            byname = {m[0]: r for m, r in zip(METRICS, rows)}
            untar_row = Row(UNTAR, 'ms/command')
            if tarball:
                rows.append(untar_row)
            title = '%s (%s, %s)' % (fsname, base, typ)
            tables.append((title, rows))
            if fsname == 'tmpfs' and typ != 'tmpfs' or \
                    fsname == 'ext4' and typ != 'ext4':
                notes.append('WARNING: %s is %s, not %s' % (base, typ, fsname))

            for run in range(args.runs):
                order = SYSTEMS[run % 3:] + SYSTEMS[:run % 3]
                print('%s: run %d/%d (%s)' % (fsname, run + 1, args.runs,
                                             ', '.join(order)),
                      file=sys.stderr, flush=True)
                for gname, gargs in groups.items():
                    for system in order:
                        keys = [m[0] for m in METRICS if m[3] == gname]
                        if any(byname[k].errors.get(system) for k in keys):
                            continue
                        try:
                            vals = run_values(prefix[system] + [fsbench]
                                              + [gargs[0], workdir[system]]
                                              + gargs[1:])
                            for k in keys:
                                if k not in vals:
                                    raise Failed('fsbench printed no %s' % k)
                                byname[k].vals[system].append(vals[k])
                        except Failed as e:
                            print('  error (%s, %s): %s' % (gname, system, e),
                                  file=sys.stderr)
                            for k in keys:
                                byname[k].errors[system] = str(e)
                        clear_dir(backing[system])
                if tarball:
                    for system in order:
                        if untar_row.errors.get(system):
                            continue
                        try:
                            untar_row.vals[system].append(timed(
                                prefix[system] + ['tar', 'xf', tarball, '-C',
                                                  workdir[system]]))
                            if run == 0 and system != 'native':
                                # The untarred tree must match the source.
                                want = count_tree(os.path.abspath(
                                    args.tar_source)) + 1
                                got = count_tree(backing[system])
                                if got != want:
                                    raise Failed('untar through DEFUSE gave '
                                                 '%d entries, expected %d'
                                                 % (got, want))
                        except Failed as e:
                            print('  error (untar, %s): %s' % (system, e),
                                  file=sys.stderr)
                            untar_row.errors[system] = str(e)
                        clear_dir(backing[system])
            shutil.rmtree(root, ignore_errors=True)
    except KeyboardInterrupt:
        print('mount_bench: interrupted', file=sys.stderr)
        return 130
    finally:
        for d in scratch:
            shutil.rmtree(d, ignore_errors=True)

    now = datetime.datetime.now()
    out = []
    out.append('# DEFUSE mount benchmark, %s' % now.strftime('%Y-%m-%d %H:%M'))
    out.append('')
    out.append('- machine: %s' % describe_machine())
    out.append('- %d runs%s; in each run native, `defuse run -m '
               'MNT=passthrough:TWIN` (kernel-backed) and `-m '
               'MNT=passthrough:emulated=TWIN` (emulated) alternate, the order '
               'rotating; median (min-max)' % (args.runs,
                                               ' (--quick)' if args.quick else ''))
    out.append('- N = %d files (metadata, readdir: 5 passes); %d files of %d B; '
               'one %d MiB file in 1 MiB requests; no fsync'
               % (args.n, args.small_files, args.small_size, args.large_mib))
    out.append('- ratios: DEFUSE median time / native median time (for MB/s, '
               'native MB/s / DEFUSE MB/s); target from DESIGN.md section 5')
    out.append('- untar is a whole command: the DEFUSE figure includes '
               '`defuse run` start-up')
    for n in notes:
        out.append('- %s' % n)
    for title, rows in tables:
        out.append('')
        out.append('## %s' % title)
        out.append('')
        out.append('| workload | unit | native | DEFUSE kernel-backed | '
                   'DEFUSE emulated | kernel-backed / native | '
                   'emulated / native | target |')
        out.append('|---|---|---|---|---|---|---|---|')
        for r in rows:
            out.append(row_line(r))
    errors = [(t, r, s, e) for t, rows in tables for r in rows
              for s, e in r.errors.items()]
    if errors:
        out.append('')
        for t, r, s, e in errors:
            out.append('- error in "%s", %s, %s: %s' % (r.label, t, s, e))
    text = '\n'.join(out) + '\n'
    sys.stdout.write(text)

    path = args.out or os.path.join(HERE, 'results', 'mount-%s%s.md' % (
        now.strftime('%Y%m%d-%H%M%S'), '-quick' if args.quick else ''))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)
    print('\nwritten to %s' % path, file=sys.stderr)
    return 1 if errors else 0


if __name__ == '__main__':
    sys.exit(main())
