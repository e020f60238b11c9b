#!/usr/bin/env python3
"""Where DEFUSE's time goes, for the targets the suite shows missed: the
metadata loops (system calls per operation, CPU profile) and exec with many
inherited descriptors (CPU profile).

  python3 bench/profile.py [--build build] [-n 10000] [--fds 2000] [--out FILE]

1. System calls per operation: `strace -f -c`-style counts taken from a full
   `strace -f` log of `fsbench meta DIR N` (N = --strace-n, default 1000),
   split into the six timed phases at the lines fsbench prints between them
   (create, stat, open+close, access, chmod, unlink), divided by N: natively,
   kernel-backed and emulated.  DEFUSE's own calls (module, core) are
   included, since strace sees every call the process makes.
2. A sampled CPU profile (`perf record -e cpu-clock -g`; this machine has no
   hardware counters) of the kernel-backed loop with N = -n files: the share
   of the kernel, libdefuse.so, the module and the program, the top symbols,
   and the system calls whose kernel time dominates.
3. The same profile of `exec_fds` under `defuse run` with --fds kernel
   descriptors outside the mounts (capture's start-up scan of inherited
   descriptors), by system call.
4. System calls of whole programs (`strace -f -c`): `grep -r` and `cp -r`
   over the suite's generated tree, natively and kernel-backed.

With --fuse, the same for libfuse's passthrough_fh and passthrough_ll
examples served in process by the fuse module (issue 12: the suite's
fuse-fh and fuse-ll systems) instead of the passthrough module: system
calls per operation and of grep -r and cp -r, natively and in process, and
the CPU profile of each one's metadata loop (no exec part).

The report (Markdown) goes to stdout and to --out (default
bench/results/profile-DATE.md).  Needs strace and perf; says which is
missing and skips that part.  Scratch directories are removed on exit.
"""

import argparse
import collections
import datetime
import os
import re
import shutil
import subprocess
import sys
import tempfile

from benchlib import describe_machine
import suite  # the generated source tree

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PHASES = ['create', 'stat', 'open', 'access', 'chmod', 'unlink']
LINE = re.compile(r'^(?:\[pid\s+)?(\d+)\]?\s+([a-z_0-9]+)\(')
# strace prints raw numbers for calls it does not know.
NAMES = {'syscall_0x1c4': 'fchmodat2'}


def strace_counts(prefix, fsbench, workdir, n, log):
    """{phase: Counter(syscall -> calls per op)} from one strace'd run."""
    subprocess.run(['strace', '-f', '-qq', '-o', log] + prefix +
                   [fsbench, 'meta', workdir, str(n)], check=True,
                   stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    counts = {p: collections.Counter() for p in PHASES}
    phase = 0
    with open(log) as f:
        for line in f:
            m = LINE.match(line)
            if not m or phase >= len(PHASES):
                continue
            name = NAMES.get(m.group(2), m.group(2))
            if name == 'write' and '_ns=' in line:
                phase += 1
            elif name == 'getrusage':
                # The last getrusage before "PHASE_ns=" starts the phase.
                counts[PHASES[phase]].clear()
            else:
                counts[PHASES[phase]][name] += 1
    return {p: {k: v / n for k, v in c.items() if v / n >= 0.01}
            for p, c in counts.items()}


def total_calls(argv, log):
    """{syscall: calls} of argv and its children, from strace -f -c."""
    subprocess.run(['strace', '-f', '-qq', '-c', '-o', log] + argv,
                   check=True, stdout=subprocess.DEVNULL,
                   stdin=subprocess.DEVNULL)
    calls = {}
    with open(log) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 5 and parts[0][0].isdigit() and \
                    parts[-1] != 'total':
                calls[NAMES.get(parts[-1], parts[-1])] = int(parts[3])
    return calls


def program_counts(systems, views, root, profiled=(1,)):
    """grep -r and cp -r over the suite's generated tree: the system calls
    of the whole command, natively and on each system; the CPU profile of
    grep -r on each of systems[profiled]."""
    tarball = os.path.join(root, 'tree.tar')
    entries = suite.gen_tree(tarball, 48, 64)
    out = ['## System calls of whole programs (strace -f -c), over the '
           "suite's tree (%d entries)" % entries, '',
           '| program | ' + ' | '.join(s for s, _, _ in systems) + ' |',
           '|---|' + '---|' * len(systems)]
    for view in views:
        subprocess.run(['tar', 'xf', tarball, '-C', view], check=True)
    for label, argv in (
            ('grep -r', lambda w: ['grep', '-r', '-l', suite.GREP_PATTERN,
                                   os.path.join(w, 'tree')]),
            ('cp -r', lambda w: ['cp', '-r', os.path.join(w, 'tree'),
                                 os.path.join(w, 'copy')])):
        cells = []
        for name, prefix, work in systems:
            c = total_calls(prefix + argv(work), os.path.join(
                root, 'prog.log'))
            top = sorted(c.items(), key=lambda x: -x[1])[:7]
            cells.append('%d: %s' % (sum(c.values()), ', '.join(
                '%s %d' % kv for kv in top)))
        out.append('| %s | %s |' % (label, ' | '.join(cells)))
    out.append('')
    for k in profiled if shutil.which('perf') else ():
        pname, prefix, work = systems[k]
        # Ten greps in one shell: enough samples at 10 kHz.
        dsos, syms, _ = perf_profile(
            prefix + ['sh', '-c', 'for i in 1 2 3 4 5 6 7 8 9 10; do '
                      'grep -r -l %s "$0" >/dev/null; done'
                      % suite.GREP_PATTERN, os.path.join(work, 'tree')],
            os.path.join(root, 'perf-grep.data'))
        ours = [r for r in syms if r[1] in ('libdefuse.so', 'passthrough.so',
                                            'fuse.so', 'libfuse3.so.3',
                                            'passthrough_fh.so',
                                            'passthrough_ll.so')]
        out.append('CPU profile of `grep -r` (10 runs), %s: ' % pname + ', '.join(
            '%s %s' % (r[1], r[0]) for r in dsos[:6]))
        out.append('')
        out.append('Top DEFUSE symbols: ' + ', '.join(
            '%s %s' % (' '.join(r[3:]), r[0]) for r in ours[:8]))
        out.append('')
    return out


def perf_profile(argv, data):
    subprocess.run(['perf', 'record', '-q', '-F', '10000', '-e', 'cpu-clock',
                    '-g', '-o', data, '--'] + argv, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   stdin=subprocess.DEVNULL)

    def report(*extra):
        p = subprocess.run(['perf', 'report', '-i', data, '--stdio',
                            '-g', 'none'] + list(extra),
                           capture_output=True, text=True)
        rows = []
        for line in p.stdout.splitlines():
            parts = line.split()
            if parts and parts[0].endswith('%'):
                rows.append(parts)
        return rows

    dsos = report('--no-children', '--sort', 'dso')
    syms = report('--no-children', '--sort', 'dso,sym')
    calls = [r for r in report('--children', '--sort', 'sym')
             if r[-1].startswith(('__x64_sys_', '__do_sys_'))]
    return dsos, syms, calls


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--build', default=os.path.join(ROOT, 'build'))
    ap.add_argument('-n', type=int, default=10000,
                    help='files in the profiled loop (default 10000)')
    ap.add_argument('--strace-n', type=int, default=1000,
                    help='files in the strace\'d loops (default 1000)')
    ap.add_argument('--fds', type=int, default=2000,
                    help='inherited descriptors in the exec profile')
    ap.add_argument('--fuse', action='store_true',
                    help="libfuse's passthrough_fh and passthrough_ll in "
                    'process instead of the passthrough module')
    ap.add_argument('--scratch', default='/dev/shm')
    ap.add_argument('--out')
    args = ap.parse_args()
    defuse = os.path.abspath(os.path.join(args.build, 'src', 'defuse'))
    fsbench = os.path.abspath(os.path.join(args.build, 'bench', 'fsbench'))
    exec_fds = os.path.abspath(os.path.join(args.build, 'bench', 'exec_fds'))
    for p in (defuse, fsbench, exec_fds):
        if not os.access(p, os.X_OK):
            print('profile: %s is missing; build first' % p,
                  file=sys.stderr)
            return 2

    root = tempfile.mkdtemp(prefix='defuse-profile-', dir=args.scratch)
    out = ['# Where the time goes, %s' %
           datetime.datetime.now().strftime('%Y-%m-%d %H:%M'), '',
           '- machine: %s' % describe_machine(),
           '- command: `python3 bench/profile.py %s`' %
           ' '.join(sys.argv[1:]), '']
    try:
        dirs = {}
        for name in ('native', 'kb-mnt', 'kb-data', 'em-mnt', 'em-data'):
            dirs[name] = os.path.join(root, name)
            os.mkdir(dirs[name])
        systems = [
            ('native', [], dirs['native']),
            ('kernel-backed', [defuse, 'run', '-m', '%s=passthrough:%s' % (
                dirs['kb-mnt'], dirs['kb-data']), '--'], dirs['kb-mnt']),
            ('emulated', [defuse, 'run', '-m',
                          '%s=passthrough:emulated=%s' % (
                              dirs['em-mnt'], dirs['em-data']), '--'],
             dirs['em-mnt']),
        ]
        views = [dirs['native'], dirs['kb-data']]
        if args.fuse:
            ex = os.path.abspath(os.path.join(args.build, 'modules', 'fuse',
                                              'examples'))
            systems = [systems[0]]
            views = [dirs['native']]
            for name, so, opt in (
                    ('passthrough_fh in process', 'passthrough_fh.so',
                     'modules=subdir,subdir=%s'),
                    ('passthrough_ll in process', 'passthrough_ll.so',
                     'source=%s')):
                tag = so.split('.')[0]
                mnt, data = (os.path.join(root, tag + '-' + k)
                             for k in ('mnt', 'data'))
                os.mkdir(mnt)
                os.mkdir(data)
                if not os.path.exists(os.path.join(ex, so)):
                    print('profile: %s is missing; build first' % so,
                          file=sys.stderr)
                    return 2
                systems.append((name, [defuse, 'run', '-m', '%s=fuse:%s:-o %s'
                                       % (mnt, os.path.join(ex, so),
                                          opt % data), '--'], mnt))
                views.append(data)
        if shutil.which('strace'):
            out.append('## System calls per operation (strace -f, N = %d)'
                       % args.strace_n)
            out.append('')
            out.append('| operation | ' + ' | '.join(s for s, _, _ in systems)
                       + ' |')
            out.append('|---|' + '---|' * len(systems))
            got = {}
            for name, prefix, work in systems:
                got[name] = strace_counts(prefix, fsbench, work,
                                          args.strace_n,
                                          os.path.join(root, name + '.log'))
            for ph in PHASES:
                cells = []
                for name, _, _ in systems:
                    c = got[name][ph]
                    cells.append('%.1f: %s' % (sum(c.values()), ', '.join(
                        '%s %s' % (k, ('%.2f' % v).rstrip('0').rstrip('.'))
                        for k, v in sorted(c.items(), key=lambda x: -x[1]))))
                out.append('| %s | %s |' % ('open+close' if ph == 'open'
                                            else ph, ' | '.join(cells)))
            out.append('')
            if args.fuse:
                out.extend(program_counts(systems, views, root,
                                          range(1, len(systems))))
            else:
                out.extend(program_counts(systems[:2], views, root))
        else:
            out.append('- strace not installed: no system call counts')
        if not shutil.which('perf'):
            out.append('- perf not installed: no CPU profile')
        for pname, prefix, work in (systems[1:] if args.fuse else systems[1:2]
                                    ) if shutil.which('perf') else ():
            dsos, syms, calls = perf_profile(
                prefix + [fsbench, 'meta', work, str(args.n)],
                os.path.join(root, 'perf.data'))
            out.append('## CPU profile, %s, N = %d (perf record '
                       '-e cpu-clock)' % (pname, args.n))
            out.append('')
            out.append('Share of samples by object: ' + ', '.join(
                '%s %s' % (r[1], r[0]) for r in dsos[:6]))
            out.append('')
            out.append('Kernel time by system call (children included): ' +
                       ', '.join('%s %s' % (r[-1].replace('__x64_sys_', '')
                                            .replace('__do_sys_', ''), r[0])
                                 for r in calls[:8]))
            out.append('')
            out.append('| self | object | symbol |')
            out.append('|---|---|---|')
            for r in syms[:20]:
                out.append('| %s | %s | %s |' % (r[0], r[1], ' '.join(r[3:])))
            out.append('')
        if shutil.which('perf') and not args.fuse:
            _, prefix, work = systems[1]
            outside = os.path.join(root, 'outside')
            os.mkdir(outside)
            dsos, syms, calls = perf_profile(
                prefix + [exec_fds, outside, str(args.fds), '20'],
                os.path.join(root, 'perf-exec.data'))
            out.append('## CPU profile, exec with %d kernel descriptors under '
                       '`defuse run` (20 execs)' % args.fds)
            out.append('')
            out.append('Share of samples by object: ' + ', '.join(
                '%s %s' % (r[1], r[0]) for r in dsos[:6]))
            out.append('')
            out.append('Kernel time by system call (children included): ' +
                       ', '.join('%s %s' % (r[-1].replace('__x64_sys_', '')
                                            .replace('__do_sys_', ''), r[0])
                                 for r in calls[:8]))
            out.append('')
    finally:
        shutil.rmtree(root, ignore_errors=True)
    text = '\n'.join(out) + '\n'
    sys.stdout.write(text)
    path = args.out or os.path.join(HERE, 'results', 'profile-%s.md' %
                                    datetime.datetime.now().strftime(
                                        '%Y%m%d-%H%M%S'))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)
    print('\nwritten to %s' % path, file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
