#!/usr/bin/env python3
"""Paired runs of one libfuse example in process under several builds or
settings: `fsbench meta DIR N` (create, stat, open+close, access, chmod,
unlink) on a fuse-module mount, the variants alternating round by round,
medians and minima per operation.  For measuring a change to the fuse
module (or the core) against the build without it, side by side.

  python3 bench/fuse_compare.py [--fs passthrough_ll] [-n 10000] [--runs 5]
      NAME=BUILD[,VAR=VALUE...] NAME=BUILD[,VAR=VALUE...] ...

Each variant is a name, a Meson build directory (its defuse, its fuse
module and example, its fsbench) and environment settings for the run,
e.g.  base=build-bench  fix=build-fix  cache=build-bench,DEFUSE_FUSE_NAME_CACHE=1
Prints a Markdown table (ns per operation, median (min)).
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

OPS = ['create', 'stat', 'open', 'access', 'chmod', 'unlink']
DIROPT = {'passthrough_ll': 'source=%s',
          'passthrough_fh': 'modules=subdir,subdir=%s'}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--fs', default='passthrough_ll', choices=sorted(DIROPT))
    ap.add_argument('-n', type=int, default=10000)
    ap.add_argument('--runs', type=int, default=5)
    ap.add_argument('--scratch', default='/dev/shm')
    ap.add_argument('variants', nargs='+', metavar='NAME=BUILD[,VAR=VALUE...]')
    a = ap.parse_args()
    if a.runs < 5:
        ap.error('--runs must be at least 5 (medians of at least 5 runs)')
    variants = []
    for v in a.variants:
        name, _, rest = v.partition('=')
        build, *settings = rest.split(',')
        env = dict(os.environ)
        env.update(kv.split('=', 1) for kv in settings)
        variants.append((name, os.path.abspath(build), env))
    root = tempfile.mkdtemp(prefix='defuse-fuse-compare-', dir=a.scratch)
    vals = {name: {op: [] for op in OPS} for name, _, _ in variants}
    try:
        for rnd in range(a.runs):
            for name, build, env in variants:
                data, mnt = (os.path.join(root, '%s-%s' % (name, k))
                             for k in ('data', 'mnt'))
                os.makedirs(data, exist_ok=True)
                os.makedirs(mnt, exist_ok=True)
                so = os.path.join(build, 'modules', 'fuse', 'examples',
                                  a.fs + '.so')
                argv = [os.path.join(build, 'src', 'defuse'), 'run', '-m',
                        '%s=fuse:%s:-o %s' % (mnt, so, DIROPT[a.fs] % data),
                        '--', os.path.join(build, 'bench', 'fsbench'), 'meta',
                        mnt, str(a.n)]
                p = subprocess.run(argv, env=env, capture_output=True,
                                   text=True, stdin=subprocess.DEVNULL)
                if p.returncode:
                    sys.stderr.write('%s: exited %d: %s\n' % (
                        name, p.returncode, p.stderr[-500:]))
                    return 1
                got = dict(ln.split('=', 1) for ln in p.stdout.splitlines()
                           if '=' in ln)
                for op in OPS:
                    vals[name][op].append(float(got[op + '_ns']))
            print('round %d/%d' % (rnd + 1, a.runs), file=sys.stderr)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print('%s in process, fsbench meta N = %d, %d alternating rounds; ns per '
          'operation, median (min)' % (a.fs, a.n, a.runs))
    print()
    print('| variant | ' + ' | '.join('open+close' if o == 'open' else o
                                       for o in OPS) + ' |')
    print('|---|' + '---|' * len(OPS))
    for name, _, _ in variants:
        print('| %s | %s |' % (name, ' | '.join(
            '%.0f (%.0f)' % (statistics.median(vals[name][o]),
                             min(vals[name][o])) for o in OPS)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
