#!/usr/bin/env python3
"""Capture benchmark: what capturing system calls costs, as ratios to native.

Every figure is measured natively and under `defuse run` side by side in one
run (runs alternate native / defuse), repeated --runs times (at least 5);
the table gives the median and (min-max) of each side, the added cost (the
median of the per-run differences) and the ratio of the medians.

  (a) a system call passed to the kernel through a patched glibc site:
      N getppid() and N write(/dev/null, 1 byte), timed inside the program;
  (b) a system call that falls to the SUD net: the same loops with a
      `syscall` instruction in the program's own code, and in a page of code
      made at run time (which load-time patching cannot have seen);
  (c) start-up per exec: 200 sequential fork+exec+wait of /bin/true inside
      one program (the children inherit the preload), and the whole command
      `defuse run -- /bin/true` against `/bin/true` (with the plan cache as
      it is, with a newly built program whose own code is not planned yet
      while the system libraries' plans are cached, and with an empty cache
      for every command).  The newly built program is a copy of
      bench/syscall_loop (it has `syscall` instructions of its own, so the
      planner must run) with a new build-id, made before each command and
      not timed.

DEFUSE caches patch plans in $DEFUSE_CACHE_DIR, else $XDG_CACHE_HOME/defuse
(or $HOME/.cache/defuse).  One warm-up run of each program comes first; the
output says whether the cache was warm before it.

--baseline OTHER_BUILD adds a table of the exec figures for two builds side
by side in one run (native, OTHER_BUILD, this build, alternating), each
build with a plan cache of its own in a temporary directory (warmed up
first), so a change can be measured on a noisy machine against the code
before it.

Usage (after `meson compile -C build`):
  python3 bench/capture_bench.py [--build build] [--runs 5] [--quick]
                                 [--baseline OTHER_BUILD] [--exec-only]
The table goes to stdout and to bench/results/capture-DATE.md.
"""

import argparse
import datetime
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time

from benchlib import cell, describe_machine, fmt

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


class Failed(Exception):
    pass


def run_value(argv, key, env=None):
    """Run argv, return the float printed as KEY=VALUE on stdout."""
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, env=env, text=True)
    if p.returncode != 0:
        raise Failed('`%s` exited %d: %s' % (' '.join(argv), p.returncode,
                                             p.stderr.strip()[-500:]))
    for line in p.stdout.splitlines():
        if line.startswith(key + '='):
            return float(line.split('=', 1)[1])
    raise Failed('`%s` printed no %s: %r' % (' '.join(argv), key,
                                             p.stdout[-300:]))


def new_build_id(src, dst):
    """Copies the program src to dst with a new random GNU build-id, as a
    fresh build of it would have: its plans are not in any cache."""
    with open(src, 'rb') as f:
        data = bytearray(f.read())
    note = struct.pack('<III', 4, 20, 3) + b'GNU\0'
    at = data.find(note)
    if at < 0:
        raise Failed('%s has no 20-byte GNU build-id' % src)
    data[at + len(note):at + len(note) + 20] = os.urandom(20)
    with open(dst, 'wb') as f:
        f.write(data)
    os.chmod(dst, 0o755)


def spawn_loop(argv, count, env=None, fresh_cache=False, fresh_prog=None):
    """Milliseconds per command for `count` sequential runs of argv.
    fresh_prog: (src, path) -- path, which argv names, is made a copy of
    src with a new build-id before each command (not timed)."""
    env = dict(env or os.environ)
    tmp = tempfile.mkdtemp(prefix='defuse-bench-cache-') if fresh_cache else None
    try:
        total = 0.0
        for i in range(count):
            if fresh_cache:
                d = os.path.join(tmp, str(i))
                os.mkdir(d, 0o700)
                env['XDG_CACHE_HOME'] = d
                env['DEFUSE_CACHE_DIR'] = os.path.join(d, 'defuse')
            if fresh_prog:
                if os.path.exists(fresh_prog[1]):
                    os.unlink(fresh_prog[1])
                new_build_id(*fresh_prog)
            t0 = time.perf_counter()
            pid = os.posix_spawn(argv[0], argv, env)
            _, st = os.waitpid(pid, 0)
            total += time.perf_counter() - t0
            if os.waitstatus_to_exitcode(st) != 0:
                raise Failed('`%s` failed: status %#x' % (' '.join(argv), st))
        return total * 1e3 / count
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


class Row:
    def __init__(self, name, unit, target=None, target_value=None):
        self.name, self.unit = name, unit
        self.target, self.target_value = target, target_value
        self.native, self.defuse, self.error = [], [], None






def row_line(r):
    if r.error:
        return '| %s | %s | %s | %s | error | - | %s |' % (
            r.name, r.unit, cell(r.native), cell(r.defuse), r.target or '')
    n = len(min(r.native, r.defuse, key=len))
    diffs = [d - x for x, d in zip(r.native[:n], r.defuse[:n])]
    added = statistics.median(diffs)
    ratio = statistics.median(r.defuse) / statistics.median(r.native)
    verdict = ''
    if r.target_value is not None:
        verdict = ' (%s)' % ('met' if added <= r.target_value else 'NOT met')
    return '| %s | %s | %s | %s | %s | %.2fx | %s |' % (
        r.name, r.unit, cell(r.native), cell(r.defuse),
        ('+' if added >= 0 else '') + fmt(added), ratio,
        (r.target or '') + (verdict if r.target else ''))


def cache_dir():
    if os.environ.get('DEFUSE_CACHE_DIR'):
        return os.environ['DEFUSE_CACHE_DIR']
    base = os.environ.get('XDG_CACHE_HOME') or os.path.join(
        os.environ.get('HOME', '/root'), '.cache')
    return os.path.join(base, 'defuse')


class Row3(Row):
    def __init__(self, name, unit, target=None, target_value=None):
        Row.__init__(self, name, unit, target, target_value)
        self.base = []


def added(native, other):
    n = min(len(native), len(other))
    return statistics.median([o - x for x, o in zip(native[:n], other[:n])])


def three_line(r):
    if r.error:
        return '| %s | %s | %s | %s | %s | error | - | %s |' % (
            r.name, r.unit, cell(r.native), cell(r.base), cell(r.defuse),
            r.target or '')
    a, b = added(r.native, r.base), added(r.native, r.defuse)
    sign = lambda v: ('+' if v >= 0 else '') + fmt(v)
    target = r.target or ''
    if r.target and r.target_value is not None:
        verdict = lambda v: 'met' if v <= r.target_value else 'NOT met'
        target += ' (before: %s; after: %s)' % (verdict(a), verdict(b))
    return '| %s | %s | %s | %s | %s | %s | %s | %s |' % (
        r.name, r.unit, cell(r.native), cell(r.base), cell(r.defuse),
        sign(a), sign(b), target)


def compare_builds(args, true, sloop, eloop, defuse, work):
    """The exec figures of --baseline and this build, alternating with
    native in one run; each build has a private, warmed-up plan cache."""
    base = os.path.abspath(args.baseline)
    builds = []
    for name, cli in (('before', os.path.join(base, 'src', 'defuse')),
                      ('after', defuse)):
        if not os.access(cli, os.X_OK):
            raise SystemExit('capture_bench: %s is missing' % cli)
        d = os.path.join(work, 'cache-' + name)
        os.mkdir(d, 0o700)
        env = dict(os.environ, DEFUSE_CACHE_DIR=d)
        # Two warm-ups: the first plans, the second can make what a
        # build keeps beyond plans (images) from the cached plans.
        for _ in range(2):
            subprocess.run([cli, 'run', '--', eloop, '2', true], env=env,
                           check=True, stdout=subprocess.DEVNULL)
        builds.append((cli, env))
    fresh = os.path.join(work, 'new-program-2')
    fresh_argv = [fresh, 'getppid', '1']
    argv = [eloop, str(args.execs), true]
    cases = (
        (Row3('(c) fork+exec+wait /bin/true, inside one program', 'ms/exec',
              '<= 0.15 ms added', 0.15),
         lambda: run_value(argv, 'ms_per_exec'),
         lambda cli, env: run_value([cli, 'run', '--'] + argv, 'ms_per_exec',
                                    env=env)),
        (Row3('(c) `defuse run -- /bin/true` vs `/bin/true`', 'ms/command'),
         lambda: spawn_loop([true], args.execs),
         lambda cli, env: spawn_loop([cli, 'run', '--', true], args.execs,
                                     env=env)),
        (Row3('(c) a newly built program (own code unplanned)', 'ms/command',
              '<= 5 ms added', 5.0),
         lambda: spawn_loop(fresh_argv, args.cold_execs,
                            fresh_prog=(sloop, fresh)),
         lambda cli, env: spawn_loop([cli, 'run', '--'] + fresh_argv,
                                     args.cold_execs, env=env,
                                     fresh_prog=(sloop, fresh))),
        (Row3('(c) `defuse run -- /bin/true`, empty plan cache', 'ms/command',
              '<= 50 ms added', 50.0),
         lambda: spawn_loop([true], args.cold_execs, fresh_cache=True),
         lambda cli, env: spawn_loop([cli, 'run', '--', true],
                                     args.cold_execs, env=env,
                                     fresh_cache=True)),
    )
    rows = []
    for row, native_fn, defuse_fn in cases:
        rows.append(row)
        print('measuring (two builds): %s ...' % row.name, file=sys.stderr,
              flush=True)
        for i in range(args.runs):
            try:
                # The order rotates, so neither build always follows the
                # other or native.
                order = [('n', None), ('b', builds[0]), ('a', builds[1])]
                order = order[i % 3:] + order[:i % 3]
                for who, b in order:
                    if who == 'n':
                        row.native.append(native_fn())
                    elif who == 'b':
                        row.base.append(defuse_fn(*b))
                    else:
                        row.defuse.append(defuse_fn(*b))
            except Failed as e:
                row.error = str(e)
                print('  error: %s' % e, file=sys.stderr)
                break
    return rows


def cache_entries(d):
    n = 0
    for _, _, files in os.walk(d):
        n += len(files)
    return n




def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--build', default=os.path.join(ROOT, 'build'),
                    help='the Meson build directory (default: build)')
    ap.add_argument('--defuse', help='the defuse CLI (default BUILD/src/defuse)')
    ap.add_argument('--syscall-loop', help='default BUILD/bench/syscall_loop')
    ap.add_argument('--exec-loop', help='default BUILD/bench/exec_loop')
    ap.add_argument('--runs', type=int, default=5, help='runs per figure (>= 5)')
    ap.add_argument('--calls', type=int, default=1000000,
                    help='system calls per loop through glibc (default 1e6)')
    ap.add_argument('--sud-calls', type=int, default=1000000,
                    help='system calls per loop that trap (default 1e6)')
    ap.add_argument('--execs', type=int, default=200,
                    help='fork+exec per loop, commands per run (default 200)')
    ap.add_argument('--cold-execs', type=int, default=20,
                    help='commands per run with an empty cache (default 20)')
    ap.add_argument('--quick', action='store_true',
                    help='a tenth of the calls and execs, for a smoke run')
    ap.add_argument('--out', help='results file (default '
                    'bench/results/capture-DATE.md)')
    ap.add_argument('--baseline', help='another build directory: its exec '
                    'figures side by side with this build\'s, in one run')
    ap.add_argument('--exec-only', action='store_true',
                    help='only the start-up (c) figures')
    args = ap.parse_args()
    if args.runs < 5 and not args.quick:
        ap.error('--runs must be at least 5 (medians of at least 5 runs)')
    if args.quick:
        args.calls //= 10
        args.sud_calls //= 10
        args.execs = max(args.execs // 10, 5)
        args.cold_execs = max(args.cold_execs // 4, 3)

    defuse = os.path.abspath(args.defuse or os.path.join(args.build, 'src', 'defuse'))
    sloop = os.path.abspath(args.syscall_loop or
                            os.path.join(args.build, 'bench', 'syscall_loop'))
    eloop = os.path.abspath(args.exec_loop or
                            os.path.join(args.build, 'bench', 'exec_loop'))
    true = shutil.which('true', path='/bin:/usr/bin') or '/bin/true'
    true = '/bin/true' if os.path.exists('/bin/true') else true
    for p in (defuse, sloop, eloop):
        if not os.access(p, os.X_OK):
            sys.exit('capture_bench: %s is missing; build first '
                     '(meson compile -C %s)' % (p, args.build))
    run = [defuse, 'run', '--']

    # Warm-up: one run of everything under capture, noting the cache first.
    cdir = cache_dir()
    before = cache_entries(cdir) if os.path.isdir(cdir) else 0
    warmup_error = None
    try:
        subprocess.run(run + [true], check=True)
        subprocess.run(run + [sloop, 'getppid', '1000'], check=True,
                       stdout=subprocess.DEVNULL)
        subprocess.run(run + [eloop, '3', true], check=True,
                       stdout=subprocess.DEVNULL)
    except subprocess.CalledProcessError as e:
        warmup_error = str(e)
    after = cache_entries(cdir) if os.path.isdir(cdir) else 0
    if before:
        cache_note = 'warm before the run (%d files in %s)' % (before, cdir)
    elif after:
        cache_note = ('cold before the run; the warm-up filled it '
                      '(%d files in %s), so the figures are for a warm cache'
                      % (after, cdir))
    else:
        cache_note = 'no plan cache found in %s (none used?)' % cdir

    rows = []
    work = tempfile.mkdtemp(prefix='defuse-bench-')
    fresh = os.path.join(work, 'new-program')
    fresh_argv = [fresh, 'getppid', '1']

    def measure(row, native_fn, defuse_fn):
        rows.append(row)
        print('measuring: %s ...' % row.name, file=sys.stderr, flush=True)
        for _ in range(args.runs):
            try:
                row.native.append(native_fn())
                row.defuse.append(defuse_fn())
            except Failed as e:
                row.error = str(e)
                print('  error: %s' % e, file=sys.stderr)
                return

    for mode, label, n, target, tv in () if args.exec_only else (
            ('getppid', '(a) getppid() via glibc (patched site)', args.calls,
             '<= 30 ns added', 30),
            ('write', '(a) write(/dev/null, 1) via glibc (patched site)',
             args.calls, '<= 30 ns added', 30),
            ('raw-getppid', '(b) getppid, inline `syscall` in the program',
             args.sud_calls, None, None),
            ('raw-write', '(b) write, inline `syscall` in the program',
             args.sud_calls, None, None),
            ('jit-getppid', '(b) getppid, `syscall` in run-time code (SUD net)',
             args.sud_calls, None, None),
            ('jit-write', '(b) write, `syscall` in run-time code (SUD net)',
             args.sud_calls, None, None)):
        argv = [sloop, mode, str(n)]
        measure(Row(label, 'ns/call', target, tv),
                lambda a=argv: run_value(a, 'ns_per_call'),
                lambda a=argv: run_value(run + a, 'ns_per_call'))

    argv = [eloop, str(args.execs), true]
    # Issue 11's target; DESIGN.md's own was 1 ms.
    measure(Row('(c) fork+exec+wait /bin/true, inside one program',
                'ms/exec', '<= 0.15 ms added', 0.15),
            lambda: run_value(argv, 'ms_per_exec'),
            lambda: run_value(run + argv, 'ms_per_exec'))
    measure(Row('(c) `defuse run -- /bin/true` vs `/bin/true`',
                'ms/command', '<= 1 ms added', 1.0),
            lambda: spawn_loop([true], args.execs),
            lambda: spawn_loop(run + [true], args.execs))
    measure(Row('(c) a newly built program (its own code not planned, '
                'the libraries\' plans cached)', 'ms/command', '<= 5 ms added', 5.0),
            lambda: spawn_loop(fresh_argv, args.cold_execs,
                               fresh_prog=(sloop, fresh)),
            lambda: spawn_loop(run + fresh_argv, args.cold_execs,
                               fresh_prog=(sloop, fresh)))
    measure(Row('(c) `defuse run -- /bin/true`, empty plan cache for every '
                'command', 'ms/command', '<= 50 ms added', 50.0),
            lambda: spawn_loop([true], args.cold_execs, fresh_cache=True),
            lambda: spawn_loop(run + [true], args.cold_execs, fresh_cache=True))

    base_rows = []
    if args.baseline:
        base_rows = compare_builds(args, true, sloop, eloop, defuse, work)
    shutil.rmtree(work, ignore_errors=True)

    now = datetime.datetime.now()
    out = []
    out.append('# DEFUSE capture benchmark, %s' % now.strftime('%Y-%m-%d %H:%M'))
    out.append('')
    out.append('- machine: %s' % describe_machine())
    out.append('- %d runs per figure, native and `defuse run` alternating; '
               'median (min-max); "added" is the median of the per-run '
               'differences, "ratio" defuse/native medians' % args.runs)
    out.append('- loops: %d calls through glibc, %d trapping calls, %d execs; '
               '%d commands per run with an empty cache'
               % (args.calls, args.sud_calls, args.execs, args.cold_execs))
    out.append('- plan cache: %s' % cache_note)
    if warmup_error:
        out.append('- warm-up FAILED: %s' % warmup_error)
    out.append('')
    out.append('| measurement | unit | native | defuse run | added | ratio | target |')
    out.append('|---|---|---|---|---|---|---|')
    for r in rows:
        out.append(row_line(r))
    out.append('')
    out.append('An inline `syscall` in the program is trapped by the SUD net '
               'unless DEFUSE also patches the program\'s own code at load; '
               'a `syscall` in a page made at run time is always trapped.')
    if base_rows:
        out.append('')
        out.append('Exec, two builds in one run (native, `%s`, `%s` '
                   'alternating; each build with its own plan cache, warm '
                   'where not said otherwise):' % (args.baseline, args.build))
        out.append('')
        out.append('| measurement | unit | native | before | after | before '
                   'added | after added | target |')
        out.append('|---|---|---|---|---|---|---|---|')
        for r in base_rows:
            out.append(three_line(r))
        rows += base_rows
    errors = [r for r in rows if r.error]
    if errors:
        out.append('')
        for r in errors:
            out.append('- error in "%s": %s' % (r.name, r.error))
    text = '\n'.join(out) + '\n'
    sys.stdout.write(text)

    path = args.out or os.path.join(HERE, 'results', 'capture-%s.md' %
                                    now.strftime('%Y%m%d-%H%M%S'))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)
    print('\nwritten to %s' % path, file=sys.stderr)
    return 1 if errors or warmup_error else 0


if __name__ == '__main__':
    sys.exit(main())
