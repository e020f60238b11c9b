#!/usr/bin/env python3
"""Smoke test of the benchmark suite: tiny sizes, one run, outputs checked.

Runs `bench/suite.py --tiny` into a scratch directory and checks that it
succeeded and that what it wrote is well formed: every workload and system in
the CSV, a number for every measured cell (native and both DEFUSE modes must
be measured; FUSE and NFS may be "n/a: reason", the pager system outside the
mmap rows too, the FUSE file systems of issue 12 when their programs, sshfs
or sshd are missing), the Markdown sections, the plots
(PNG) when gnuplot is installed, and nothing left behind (no mount, no
scratch file).  Never a timing threshold: tiny runs say nothing about speed.

  python3 bench/smoke_test.py [--build build]
"""

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import suite  # noqa: E402  (the sizes and names the suite uses)

HEADER = ['group', 'workload', 'unit', 'system', 'status', 'runs', 'median',
          'min', 'max', 'values', 'ratio_native', 'ratio_fuse_default',
          'ratio_fuse_tuned', 'app_vcs', 'app_ivcs', 'daemon_vcs',
          'daemon_ivcs', 'app_cpu_ms', 'daemon_cpu_ms']


def mounts_under(path):
    with open('/proc/self/mounts') as f:
        return [ln.split()[1] for ln in f
                if ln.split()[1].startswith(path + '/')]


def check(outdir, problems):
    def bad(msg):
        problems.append(msg)

    tiny = suite.SIZES['tiny']
    csv_path = os.path.join(outdir, 'results.csv')
    md_path = os.path.join(outdir, 'results.md')
    for p in (csv_path, md_path):
        if not os.path.isfile(p):
            bad('%s missing' % p)
            return
    with open(csv_path, newline='') as f:
        lines = list(csv.reader(f))
    if not lines or lines[0] != HEADER:
        bad('CSV header %r, expected %r' % (lines[:1], HEADER))
        return
    rows = [dict(zip(HEADER, ln)) for ln in lines[1:]]
    if any(len(ln) != len(HEADER) for ln in lines[1:]):
        bad('CSV lines of the wrong width')
    workloads = {}
    for r in rows:
        workloads.setdefault((r['group'], r['workload']), set()).add(
            r['system'])
    groups = [g for g, _ in workloads]
    # files: 7, and the three mmap rows of the paging issue.
    want = {'metadata': 7, 'files': 10, 'programs': 5,
            'exec': len(tiny['exec_ns'])}
    for g, n in want.items():
        if groups.count(g) != n:
            bad('%d %s workloads in the CSV, expected %d'
                % (groups.count(g), g, n))
    for (g, w), systems in workloads.items():
        expect = set(suite.SYSTEMS) | ({suite.CAPTURE_ONLY} if g == 'exec'
                                       else set())
        if systems != expect:
            bad('%s: systems %s, expected %s' % (w, sorted(systems),
                                                 sorted(expect)))
    fuse_status = set()
    for r in rows:
        where = '%s / %s' % (r['workload'], r['system'])
        st = r['status']
        if r['system'] in suite.FUSE_SYSTEMS and st.startswith('n/a: '):
            fuse_status.add(st)
            if r['median']:
                bad('%s: n/a but has a median' % where)
            continue
        # The NFS systems need a server (tests/nfs/server.sh), the pager
        # system measures mmap rows only: n/a with its reason elsewhere.
        # The FUSE file systems (issue 12) need libfuse's examples, /dev/fuse,
        # sshfs and sshd (root only).
        if st.startswith('n/a: ') and (
                r['system'] in getattr(suite, 'NFS_SYSTEMS', ()) or
                r['system'] in getattr(suite, 'FUSEFS_SYSTEMS', ()) or
                (r['system'] == 'pager' and 'mmap' not in r['workload'])):
            if r['median']:
                bad('%s: n/a but has a median' % where)
            continue
        if st != 'ok':
            bad('%s: %s' % (where, st))
            continue
        try:
            vals = [float(v) for v in r['values'].split(';')]
            med, lo, hi = float(r['median']), float(r['min']), float(r['max'])
            runs = int(r['runs'])
        except ValueError:
            bad('%s: a value is not a number: %r' % (where, r))
            continue
        if runs != tiny['runs'] or len(vals) != runs:
            bad('%s: %d runs, %d values, expected %d' % (
                where, runs, len(vals), tiny['runs']))
        if not (0 < lo <= med <= hi):
            bad('%s: median %g not within (0, %g..%g]' % (where, med, lo, hi))
        if r['system'] != 'native' and not r['ratio_native']:
            bad('%s: no ratio to native' % where)
        try:
            if float(r['app_vcs']) < 0 or float(r['app_ivcs']) < 0:
                bad('%s: negative context switches' % where)
        except ValueError:
            bad('%s: no context switches of the application' % where)
        daemon = r['system'] in getattr(suite, 'DAEMON_SYSTEMS',
                                        suite.FUSE_SYSTEMS) and \
            r['group'] != 'exec'
        for col in ('daemon_vcs', 'daemon_cpu_ms'):
            if daemon != bool(r[col]):
                bad('%s: %s %r where %s expected' % (
                    where, col, r[col], 'some' if daemon else 'none'))
        if r['group'] != 'exec':
            try:
                if float(r['app_cpu_ms']) < 0:
                    bad('%s: negative CPU time' % where)
            except ValueError:
                bad('%s: no CPU time of the application' % where)
    with open(md_path) as f:
        md = f.read()
    for head in ('## Times', '## Ratios and targets', '## Emulated files (issue 11)',
                 '## Context switches',
                 '## CPU time',
                 '## Exec with N inherited descriptors', '- machine: Linux'):
        if head not in md:
            bad('results.md has no "%s"' % head)
    for st in fuse_status:
        if st not in md:
            bad('results.md does not say why FUSE is missing (%s)' % st)
    width = None
    for ln in md.splitlines():
        if not ln.startswith('|'):
            width = None
            continue
        if width is None:
            width = ln.count('|')
        elif ln.count('|') != width:
            bad('results.md: a table line of the wrong width: %s' % ln)
    if shutil.which('gnuplot'):
        for png in ('ratios.png', 'ctxsw.png', 'exec.png'):
            p = os.path.join(outdir, png)
            try:
                with open(p, 'rb') as f:
                    if f.read(8) != b'\x89PNG\r\n\x1a\n':
                        bad('%s is not a PNG' % png)
            except OSError:
                bad('%s missing' % png)
    elif 'gnuplot not installed' not in md:
        bad('no gnuplot, and results.md does not say so')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--build', default=os.path.join(os.path.dirname(HERE),
                                                    'build'))
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix='defuse-suite-smoke-')
    problems = []
    try:
        scratch = os.path.join(tmp, 'scratch')
        outdir = os.path.join(tmp, 'out')
        os.mkdir(scratch)
        p = subprocess.run([sys.executable, os.path.join(HERE, 'suite.py'),
                            '--tiny', '--build', args.build, '--out', outdir,
                            '--scratch', scratch],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           text=True)
        sys.stdout.write(p.stdout)
        sys.stderr.write(p.stderr)
        if p.returncode != 0:
            problems.append('suite.py exited %d' % p.returncode)
        check(outdir, problems)
        left = os.listdir(scratch)
        if left:
            problems.append('scratch left behind: %s' % left)
        if mounts_under(tmp):
            problems.append('mounts left behind: %s' % mounts_under(tmp))
    finally:
        for m in mounts_under(tmp):
            subprocess.run(['fusermount3', '-u', m], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
    for msg in problems:
        print('FAIL: %s' % msg)
    print('suite smoke test: %s' % ('%d problems' % len(problems)
                                     if problems else 'ok'))
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
