#!/usr/bin/env python3
"""The user-space pager's benchmarks (issue 10), side by side with native.

    python3 bench/paging_bench.py [--build build-pager2] [--runs 5]
                                  [--scratch /dev/shm] [--workloads LIST]
                                  [--systems LIST] [--base OTHER_BUILD]

Runs bench/fsbench.c's mmap workloads (mmap scan of 128 MiB at 1 B/KiB,
20,000 random 4 KiB reads through a mapping of 1 GiB, one byte into every
page of a 256 MiB MAP_SHARED mapping then msync, one first-touch fault)
on every system in turn, each round in a rotated order so that the load
of this shared machine hits all alike:

  native   the scratch directory
  pager    defuse run -m MNT=passthrough:emulated-nomap=DIR: the module
           gives no mappable descriptor, the user-space pager does it all
  memfs    defuse run -m MNT=memfs:NAME: no kernel file behind any file

Prints, per workload, the median (min-max) of every system and its ratio
to native's median.  The full suite (bench/suite.py) has the same rows
for its "pager" system; this is the quick loop for working on the pager.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import uuid

WORK = {  # workload -> (fsbench arguments after DIR, key printed)
    'mmap': (['128'], 'mmap_ms'),
    'mmaprand': (['1024', '20000'], 'mmaprand_us'),
    'mmapwrite': (['256'], 'mmapwrite_ms'),
    'mmapfault': (['256'], 'mmapfault_us'),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--build', default='build-pager2')
    ap.add_argument('--runs', type=int, default=5)
    ap.add_argument('--scratch', default='/dev/shm')
    ap.add_argument('--workloads', default=','.join(WORK))
    ap.add_argument('--systems', default='native,pager,memfs')
    ap.add_argument('--base', help='another build (of an older commit): '
                    'adds its pager and memfs as pager-base and memfs-base')
    a = ap.parse_args()
    fsbench = os.path.join(a.build, 'bench', 'fsbench')
    if a.base:
        a.systems += ',pager-base,memfs-base'
    systems = a.systems.split(',')
    works = a.workloads.split(',')
    root = tempfile.mkdtemp(prefix='defuse-pgbench-', dir=a.scratch)
    seg = 'pgbench-' + uuid.uuid4().hex[:12]
    res = {(w, s): [] for w in works for s in systems}
    try:
        pre = {}
        for s in systems:
            d = os.path.join(root, s)
            os.mkdir(d)
            b = a.base if s.endswith('-base') else a.build
            defuse = os.path.join(b, 'src', 'defuse')
            pt = os.path.join(b, 'modules', 'passthrough', 'passthrough.so')
            memfs = os.path.join(b, 'modules', 'memfs', 'memfs.so')
            if s == 'native':
                pre[s] = ([], d)
            elif s.startswith('pager'):
                os.mkdir(d + '-b')
                pre[s] = ([defuse, 'run', '-m', '%s=%s:emulated-nomap=%s-b'
                           % (d, pt, d), '--'], d)
            elif s.startswith('memfs'):
                pre[s] = ([defuse, 'run', '-m', '%s=%s:%s,size=3G'
                           % (d, memfs, seg + s), '--'], d)
            else:
                sys.exit('unknown system ' + s)
        for rnd in range(a.runs):
            order = systems[rnd % len(systems):] + systems[:rnd % len(systems)]
            for w in works:
                args, key = WORK[w]
                for s in order:
                    p, d = pre[s]
                    out = subprocess.run(p + [fsbench, w, d] + args, check=True,
                                         capture_output=True, text=True,
                                         timeout=1800).stdout
                    v = [float(x.split('=')[1]) for x in out.split()
                         if x.startswith(key + '=')]
                    res[(w, s)].append(v[0])
            print('round %d done' % (rnd + 1), file=sys.stderr)
        print('| workload | ' + ' | '.join(systems) + ' | ' +
              ' | '.join(s + '/native' for s in systems if s != 'native') + ' |')
        print('|---' * (2 * len(systems)) + '|')
        for w in works:
            med = {s: statistics.median(res[(w, s)]) for s in systems}
            cells = ['%.3g (%.3g-%.3g)' % (med[s], min(res[(w, s)]),
                                          max(res[(w, s)])) for s in systems]
            ratios = ['%.2fx (min %.2fx)' % (med[s] / med['native'],
                                              min(res[(w, s)]) / min(res[(w, 'native')]))
                      for s in systems if s != 'native' and 'native' in med]
            print('| %s %s | %s | %s |' % (w, WORK[w][1].split('_')[1],
                                            ' | '.join(cells), ' | '.join(ratios)))
    finally:
        shutil.rmtree(root, ignore_errors=True)
        for s in systems:
            try:
                os.unlink('/dev/shm/defuse-memfs.' + seg + s)
            except OSError:
                pass


if __name__ == '__main__':
    main()
