#!/usr/bin/env python3
"""Prove that DEFUSE captures every system call, using strace as the oracle.

One run does both measurements, so that nondeterministic counts (futex, wait4,
short reads) are the same on both sides:

    DEFUSE_TEST_MARKER=1 strace -f -i -qq -o S.log -- \
        defuse trace -c -f -o D.txt -- PROGRAM ARGS

D.txt is DEFUSE's summary, laid out like `strace -c`.  S.log is strace's view
of every system call that reached the kernel, with the instruction pointer
after the `syscall` instruction (`-i`).

Which strace lines DEFUSE should have seen
------------------------------------------
With DEFUSE_TEST_MARKER=1, DEFUSE ends its start-up in every process image
with the invalid system call 0xdef, made from its "own" gate, with arguments
(own_begin, own_end, forward_begin, forward_end, 0, 0): the address ranges
[begin, end) of its two gate code blocks.  Lines are taken in log order; every
thread id is either "pre" (not captured yet) or "post":

- the first tid in the log (the `defuse` CLI, which is not captured) is pre;
- a tid seen for the first time inherits the state its parent has at that
  moment (the parent is the tid whose clone/clone3/fork/vfork returned it;
  found in a first pass, because strace may print a child's lines before the
  parent's `resumed` line);
- a successful execve/execveat sets its tid to pre (the new image's loader
  runs before DEFUSE does);
- a marker line sets its tid to post and records the two ranges;
- a tid created by a clone from an own gate is a DEFUSE helper (the planner)
  and "own", as are its descendants: nothing in it counts, and its exec needs
  no marker.

A line is counted, under its syscall name, iff its tid is post and it does not
come from an own gate: the `syscall` instruction, which starts 2 bytes before
the IP strace prints, lies in none of the own ranges recorded anywhere in the
log (images have different addresses under ASLR; ranges are tiny).  The marker
itself comes from the own gate, so it is never counted.  `<unfinished ...>`
lines are counted, `resumed` lines never; signal (`--- SIG ---`) and exit
(`+++ ... +++`) lines are not calls.

Calls DEFUSE answers itself never reach the kernel (rt_sigaction of SIGSYS,
prctl of SUD, later calls on DEFUSE mounts), yet `defuse trace` counts them.
DEFUSE announces each with the invalid call 0xdee(nr) from its own gate; in a
post tid such a note counts as one call of nr, named from asm/unistd_64.h.

The test passes iff strace's count equals DEFUSE's for every syscall name, and
the run is not vacuous: the program exited 0, every image a process of the
program exec'ed announced itself with a marker, and calls were counted at all
(plus any --expect minimums).  With --expect-escape NAME (a negative test,
e.g. under DEFUSE_NET=off) the counts must instead differ for exactly the
given names, strace seeing more.

Usage: strace_compare.py --defuse BUILD/src/defuse [--logdir DIR] -- PROGRAM ARGS
Exit status: 0 pass, 1 fail, 77 skip (strace missing or unable to trace).
"""

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile

MARKER_NR = 0xDEF
MARKER_NAMES = frozenset({'syscall_0x%x' % MARKER_NR, 'syscall_%d' % MARKER_NR})

# A call DEFUSE answered itself (the kernel never saw it) is announced, under
# DEFUSE_TEST_MARKER=1, by the invalid call 0xdee(nr) from the own gate.
EMULATED_NR = 0xDEE
EMULATED_NAMES = frozenset({'syscall_0x%x' % EMULATED_NR, 'syscall_%d' % EMULATED_NR})


def _syscall_names(header='/usr/include/x86_64-linux-gnu/asm/unistd_64.h'):
    names = {}
    try:
        for line in open(header):
            m = re.match(r'#define __NR_(\w+)\s+(\d+)', line)
            if m:
                names[int(m.group(2))] = m.group(1)
    except OSError:
        pass
    return names


SYSCALL_NAMES = _syscall_names()


def emulated_name(line):
    """The name of the call an 0xdee note stands for."""
    first = re.split(r'[,)]', line.args or '')[0].strip()
    try:
        nr = int(first, 0)
    except ValueError:
        raise LogError('line %d: cannot read the number in %r' % (line.lineno, line.text))
    if not SYSCALL_NAMES:
        raise LogError('line %d: cannot name emulated call %d: no syscall table '
                       '(asm/unistd_64.h, from linux-libc-dev)' % (line.lineno, nr))
    return SYSCALL_NAMES.get(nr, 'syscall_0x%x' % nr)


CLONE_NAMES = frozenset({'clone', 'clone3', 'fork', 'vfork'})
EXEC_NAMES = frozenset({'execve', 'execveat'})
SYSCALL_INSN_LEN = 2        # `syscall` is 0f 05; strace prints the IP after it
SKIP = 77                   # meson's exit code for a skipped test


class LogError(Exception):
    """S.log or D.txt is not what the oracle can reason about."""


# --------------------------------------------------------------------------
# S.log: strace -f -i -qq -o
# --------------------------------------------------------------------------

# "1234  [00007f12345678ab] rest"; the IP is "[????????????????]" where
# strace does not know it (exit lines) and absent without -i.
_LINE_RE = re.compile(r'^(\d+)\s+(?:\[([0-9a-fA-F]+|\?+)\]\s+)?(.*)$')
_RESUMED_RE = re.compile(r'^<\.\.\. ([A-Za-z_][A-Za-z0-9_]*) resumed>(.*)$')
_CALL_RE = re.compile(r'^([A-Za-z_][A-Za-z0-9_]*)\((.*)$')
# The return value: the last " = VALUE" whose VALUE looks like one.  strace
# pads short calls ("brk(NULL)      = 0x..."), and may follow the value with
# an errno name and text, or a decoration in parentheses.
_RESULT_RE = re.compile(r'\s=\s(-?\d+|0x[0-9a-fA-F]+|\?)(?=\s|$)')
_UNFINISHED = '<unfinished ...>'


class Line:
    """One line of S.log.

    kind is one of 'call' (complete), 'unfinished', 'resumed', 'signal',
    'exit'.  result is the return value as printed ('3', '-1', '0x7f..', '?')
    for complete and resumed lines, else None.
    """

    __slots__ = ('lineno', 'tid', 'ip', 'kind', 'name', 'args', 'result',
                 'text')

    def __init__(self, lineno, tid, ip, kind, name=None, args=None,
                 result=None, text=''):
        self.lineno = lineno
        self.tid = tid
        self.ip = ip
        self.kind = kind
        self.name = name
        self.args = args
        self.result = result
        self.text = text

    def int_result(self):
        """The return value as an int, or None ('?', or no result)."""
        if self.result is None or self.result == '?':
            return None
        return int(self.result, 0)

    def errno_name(self):
        """The E... (or ERESTART...) name after the return value, if any."""
        m = re.search(r'\s=\s(?:-1|\?)\s+(E[A-Z0-9_]+)\b', self.text)
        return m.group(1) if m else None

    def __repr__(self):
        return 'Line(%d: %r)' % (self.lineno, self.text)


def _find_result(rest, lineno, text):
    matches = list(_RESULT_RE.finditer(rest))
    if not matches:
        raise LogError('line %d: no return value: %r' % (lineno, text))
    return matches[-1].group(1)


def parse_line(text, lineno=0):
    """Parse one line of S.log; None for a blank line.  Raises LogError."""
    text = text.rstrip('\n')
    if not text.strip():
        return None
    m = _LINE_RE.match(text)
    if not m:
        raise LogError('line %d: no tid (was strace run with -f -o?): %r'
                       % (lineno, text))
    tid = int(m.group(1))
    ip = m.group(2)
    ip = int(ip, 16) if ip and not ip.startswith('?') else None
    rest = m.group(3)

    if rest.startswith('--- '):
        return Line(lineno, tid, ip, 'signal', text=text)
    if rest.startswith('+++ '):
        return Line(lineno, tid, ip, 'exit', text=text)
    r = _RESUMED_RE.match(rest)
    if r:
        return Line(lineno, tid, ip, 'resumed', name=r.group(1),
                    result=_find_result(r.group(2), lineno, text), text=text)
    c = _CALL_RE.match(rest)
    if c:
        name, args = c.group(1), c.group(2)
        if rest.endswith(_UNFINISHED):
            return Line(lineno, tid, ip, 'unfinished', name=name,
                        args=args[:-len(_UNFINISHED)].rstrip(), text=text)
        return Line(lineno, tid, ip, 'call', name=name, args=args,
                    result=_find_result(rest, lineno, text), text=text)
    raise LogError('line %d: not a line strace -f -i -qq writes: %r'
                   % (lineno, text))


def parse_marker_args(line):
    """The 4 addresses of a marker line: (own_begin, own_end, fwd_begin, fwd_end)."""
    args = line.args
    end = args.find(')')
    if end >= 0:
        args = args[:end]
    fields = [a.strip() for a in args.split(',')]
    try:
        vals = [int(a, 0) for a in fields[:4]]
    except ValueError:
        vals = []
    if len(vals) != 4:
        raise LogError('line %d: marker without 4 addresses: %r'
                       % (line.lineno, line.text))
    own, fwd = (vals[0], vals[1]), (vals[2], vals[3])
    for r in (own, fwd):
        if not r[0] < r[1]:
            raise LogError('line %d: marker with an empty range [%#x, %#x): %r'
                           % (line.lineno, r[0], r[1], line.text))
    return own, fwd


def insn_in(ip, ranges):
    """Whether the `syscall` instruction that ends at ip lies in one of ranges."""
    if ip is None:
        return False
    insn = ip - SYSCALL_INSN_LEN
    return any(b <= insn < e for b, e in ranges)


class Image:
    """A process image started by a successful exec in a tid of the program."""

    def __init__(self, tid, exec_line):
        self.tid = tid
        self.exec_line = exec_line
        self.marker = None


class Analysis:
    """What S.log says DEFUSE should have counted, and why."""

    def __init__(self):
        self.counts = collections.Counter()     # name -> calls DEFUSE must see
        self.counted = collections.defaultdict(list)    # name -> [Line]
        self.excluded = collections.defaultdict(list)   # name -> [(why, Line)]
        self.own_ranges = set()
        self.forward_ranges = set()
        self.markers = []
        self.images = []                        # [Image], exec'd in the program
        self.outside_forward = collections.Counter()    # name -> counted, not from a forward gate
        self.restarted = collections.Counter()  # name -> counted lines ending in ERESTART*
        self.tids = set()
        self.root_tid = None
        self.lines = 0

    def unmarked_images(self):
        return [im for im in self.images if im.marker is None]


def _successful_exec(line):
    return line.name in EXEC_NAMES and line.int_result() == 0


def analyse(lines):
    """Apply the counting rule to the lines of S.log (an iterable of str)."""
    parsed = []
    for n, text in enumerate(lines, 1):
        ln = parse_line(text, n)
        if ln is not None:
            parsed.append(ln)
    a = Analysis()
    a.lines = len(parsed)
    if not parsed:
        raise LogError('empty strace log')

    # Pass 1: who cloned whom, and every own/forward range in the log.
    parent = {}
    clone_ip = {}
    for ln in parsed:
        if ln.kind in ('call', 'resumed') and ln.name in CLONE_NAMES:
            child = ln.int_result()
            if child is not None and child > 0:
                if child in parent:
                    raise LogError(
                        'line %d: tid %d returned by %s a second time (tid '
                        'reuse); the oracle cannot tell the two apart'
                        % (ln.lineno, child, ln.name))
                parent[child] = ln.tid
                clone_ip[child] = ln.ip
        elif ln.kind in ('call', 'unfinished') and ln.name in MARKER_NAMES:
            own, fwd = parse_marker_args(ln)
            a.own_ranges.add(own)
            a.forward_ranges.add(fwd)

    # Processes DEFUSE starts for itself (the planner, on a plan-cache miss)
    # come from an own-gate clone: they and their descendants are not the
    # program's ("own" state, never counted, no marker expected).
    own_children = {c for c, ip in clone_ip.items() if insn_in(ip, a.own_ranges)}

    # Pass 2: states, in log order.
    a.root_tid = parsed[0].tid
    state = {a.root_tid: 'pre'}
    image_of = {}                               # tid -> current Image, if exec'ed
    for ln in parsed:
        tid = ln.tid
        if tid not in state:
            p = parent.get(tid)
            if p is None:
                raise LogError('line %d: tid %d appears without a clone, fork '
                               'or vfork that returned it' % (ln.lineno, tid))
            if p not in state:
                raise LogError('line %d: tid %d appears before its parent %d'
                               % (ln.lineno, tid, p))
            state[tid] = 'own' if tid in own_children else state[p]
        a.tids.add(tid)

        if ln.kind in ('signal', 'exit'):
            continue
        if ln.kind == 'resumed':
            if _successful_exec(ln) and state[tid] != 'own':
                _new_image(a, state, image_of, ln)
            continue
        if state[tid] == 'own':
            a.excluded[ln.name].append(('own', ln))
            continue

        # A call: complete or unfinished.
        if ln.name in MARKER_NAMES:
            a.markers.append(ln)
            state[tid] = 'post'
            im = image_of.get(tid)
            if im is not None and im.marker is None:
                im.marker = ln
        if state[tid] != 'post':
            a.excluded[ln.name].append(('pre', ln))
        elif ln.name in EMULATED_NAMES and insn_in(ln.ip, a.own_ranges):
            name = emulated_name(ln)
            a.counts[name] += 1
            a.counted[name].append(ln)
        elif insn_in(ln.ip, a.own_ranges):
            a.excluded[ln.name].append(('own', ln))
        else:
            a.counts[ln.name] += 1
            a.counted[ln.name].append(ln)
            if not insn_in(ln.ip, a.forward_ranges):
                a.outside_forward[ln.name] += 1
            err = ln.errno_name()
            if err and err.startswith('ERESTART'):
                a.restarted[ln.name] += 1
        if ln.kind == 'call' and _successful_exec(ln):
            _new_image(a, state, image_of, ln)
    return a


def _new_image(a, state, image_of, ln):
    state[ln.tid] = 'pre'
    if ln.tid == a.root_tid:
        return                                  # strace starting the CLI
    im = Image(ln.tid, ln)
    a.images.append(im)
    image_of[ln.tid] = im


# --------------------------------------------------------------------------
# D.txt: the strace -c layout
# --------------------------------------------------------------------------

_HEADER = ['%', 'time', 'seconds', 'usecs/call', 'calls', 'errors', 'syscall']
_DASHES_RE = re.compile(r'^-+( +-+)+\s*$')


def parse_summary(text):
    """Calls per syscall name from a `strace -c` style table.  Raises LogError."""
    lines = text.splitlines()
    starts = [i for i, l in enumerate(lines) if l.split() == _HEADER]
    if len(starts) != 1:
        raise LogError('summary: expected exactly one header line %r, found %d'
                       % (' '.join(_HEADER), len(starts)))
    i = starts[0] + 1
    if i >= len(lines) or not _DASHES_RE.match(lines[i]):
        raise LogError('summary: no dashes line after the header')
    i += 1
    counts = {}
    while i < len(lines) and not _DASHES_RE.match(lines[i]):
        name, calls, _ = _parse_row(lines[i])
        if name in counts:
            raise LogError('summary: %s listed twice' % name)
        counts[name] = calls
        i += 1
    if i >= len(lines):
        raise LogError('summary: no dashes line before the total')
    i += 1
    if i >= len(lines):
        raise LogError('summary: no total row')
    name, calls, _ = _parse_row(lines[i])
    if name != 'total':
        raise LogError('summary: expected the total row, got %r' % lines[i])
    if calls != sum(counts.values()):
        raise LogError('summary: total calls %d != sum of rows %d'
                       % (calls, sum(counts.values())))
    for rest in lines[i + 1:]:
        if rest.strip():
            raise LogError('summary: unexpected text after the total: %r' % rest)
    return counts


def _parse_row(line):
    f = line.split()
    if len(f) not in (5, 6):
        raise LogError('summary: malformed row %r' % line)
    try:
        float(f[0]), float(f[1]), int(f[2])
        calls = int(f[3])
        errors = int(f[4]) if len(f) == 6 else 0
    except ValueError:
        raise LogError('summary: malformed row %r' % line) from None
    return f[-1], calls, errors


# --------------------------------------------------------------------------
# Comparison and report
# --------------------------------------------------------------------------

def compare(expected, actual):
    """[(name, strace, defuse)] for every name whose counts differ, by name."""
    names = sorted(set(expected) | set(actual))
    return [(n, expected.get(n, 0), actual.get(n, 0)) for n in names
            if expected.get(n, 0) != actual.get(n, 0)]


def format_table(expected, actual, only_diff=False):
    names = sorted(set(expected) | set(actual))
    rows = []
    for n in names:
        s, d = expected.get(n, 0), actual.get(n, 0)
        if only_diff and s == d:
            continue
        rows.append('%-24s %8d %8d%s' % (n, s, d, '   <-- differs' if s != d else ''))
    head = '%-24s %8s %8s' % ('syscall', 'strace', 'defuse')
    return '\n'.join([head, '-' * len(head)] + rows)


def explain(analysis, name, defuse_count, limit=25):
    """The S.log lines behind the strace count of one syscall name.

    When DEFUSE saw fewer calls, one of the counted lines escaped it; when it
    saw more, it counted something the rule excludes: the lines it may have
    taken (from before the marker of their image, or from an own gate) are
    listed too, own ones first.
    """
    out = []
    counted = analysis.counted.get(name, [])
    out.append('%s: strace %d, defuse %d; counted S.log lines%s'
               % (name, len(counted), defuse_count,
                  ' (first %d)' % limit if len(counted) > limit else ''))
    for ln in counted[:limit]:
        out.append('  %7d: %s' % (ln.lineno, ln.text))
    if defuse_count > len(counted):
        excl = analysis.excluded.get(name, [])
        own = [ln for why, ln in excl if why == 'own']
        pre = [ln for why, ln in excl if why == 'pre']
        if own:
            out.append('  from an own gate, not counted%s:'
                       % (' (first %d)' % limit if len(own) > limit else ''))
            out += ['  %7d: %s' % (ln.lineno, ln.text) for ln in own[:limit]]
        if pre:
            out.append('  before the marker of their image, not counted%s:'
                       % (' (last %d)' % limit if len(pre) > limit else ''))
            out += ['  %7d: %s' % (ln.lineno, ln.text) for ln in pre[-limit:]]
    if analysis.restarted.get(name):
        out.append('  note: %d counted %s line(s) returned ERESTART*: the '
                   'kernel restarts those by re-executing the same syscall '
                   'instruction' % (analysis.restarted[name], name))
    return '\n'.join(out)


def check(analysis, defuse_counts, expects=(), allow_unmarked=False,
          escapes=()):
    """Every reason the run fails, and the count differences.

    escapes: names whose calls are meant to escape DEFUSE in this run (a
    negative test of the oracle): then the counts must differ for exactly
    those names, with strace seeing more, and agree everywhere else.
    """
    problems = []
    if not analysis.markers:
        problems.append('no marker (syscall 0x%x) in S.log: DEFUSE never finished '
                        'its start-up, or ignored DEFUSE_TEST_MARKER' % MARKER_NR)
    for m in analysis.markers:
        own, _ = parse_marker_args(m)
        if not insn_in(m.ip, [own]):
            problems.append('marker at line %d comes from %s, outside the own '
                            'range it reports [%#x, %#x)'
                            % (m.lineno, hex(m.ip) if m.ip is not None else '?',
                               own[0], own[1]))
    if not allow_unmarked:
        for im in analysis.unmarked_images():
            problems.append('image exec\'ed by tid %d at S.log line %d has no '
                            'marker: DEFUSE did not start in it (line: %s)'
                            % (im.tid, im.exec_line.lineno, im.exec_line.text))
    if sum(analysis.counts.values()) == 0:
        problems.append('strace saw no call to count: the comparison would be vacuous')
    for name, least in expects:
        if analysis.counts.get(name, 0) < least:
            problems.append('expected at least %d %s call(s) after start-up, '
                            'strace saw %d' % (least, name, analysis.counts.get(name, 0)))
    diff = compare(analysis.counts, defuse_counts)
    if escapes:
        escaped = {n for n, s, d in diff if s > d}
        if escaped != set(escapes) or len(diff) != len(escaped):
            problems.append('expected calls of exactly %s to escape DEFUSE '
                            '(strace > defuse), got differences in %s'
                            % (', '.join(sorted(escapes)),
                               ', '.join(n for n, _, _ in diff) or 'nothing'))
            return problems, diff
        return problems, []
    if diff:
        problems.append('%d syscall name(s) counted differently'
                        % len(diff))
    return problems, diff


# --------------------------------------------------------------------------
# Running it
# --------------------------------------------------------------------------

def _strace_usable(strace):
    """None if strace can trace here, else the reason why not."""
    try:
        p = subprocess.run([strace, '-f', '-qq', '-o', os.devnull, '--', 'true'],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True)
    except OSError as e:
        return str(e)
    if p.returncode != 0:
        return 'strace cannot trace here: %s' % p.stdout.strip()
    return None


def _tail(path, n=40):
    try:
        with open(path, errors='replace') as f:
            lines = f.read().splitlines()
    except OSError:
        return '(none)'
    if not lines:
        return '(empty)'
    cut = ['  ... %d line(s) cut ...' % (len(lines) - n)] if len(lines) > n else []
    return '\n'.join(cut + ['  ' + l for l in lines[-n:]])


def run(defuse, argv, logdir, name='capture', expects=(), allow_unmarked=False,
        keep=False, out=sys.stdout, escapes=()):
    """Run one case; returns the exit status (0 pass, 1 fail, 77 skip)."""
    def say(*a):
        print(*a, file=out)
        out.flush()

    strace = shutil.which('strace')
    if strace is None:
        say('SKIP: strace is not installed (apt-get install strace); it is '
            'the oracle of this test')
        return SKIP
    why = _strace_usable(strace)
    if why:
        say('SKIP: %s' % why)
        return SKIP
    if not (os.path.isfile(defuse) and os.access(defuse, os.X_OK)):
        say('FAIL: no defuse binary at %s' % defuse)
        return 1

    argv = list(argv)
    os.makedirs(logdir, exist_ok=True)
    work = tempfile.mkdtemp(prefix=name + '-', dir=logdir)
    tmp = os.path.join(work, 'tmp')
    os.mkdir(tmp)
    slog = os.path.join(work, 'S.log')
    dtxt = os.path.join(work, 'D.txt')
    stdout = os.path.join(work, 'stdout.txt')
    stderr = os.path.join(work, 'stderr.txt')
    cmd = [strace, '-f', '-i', '-qq', '-o', slog, '--',
           os.path.abspath(defuse), 'trace', '-c', '-f', '-o', dtxt, '--'] + argv
    env = dict(os.environ, DEFUSE_TEST_MARKER='1', TMPDIR=tmp)

    say('run: DEFUSE_TEST_MARKER=1 TMPDIR=%s %s' % (tmp, ' '.join(cmd)))
    with open(stdout, 'wb') as so, open(stderr, 'wb') as se:
        rc = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL,
                            stdout=so, stderr=se).returncode

    problems = []
    analysis = None
    diff = []
    if rc != 0:
        problems.append('the traced command exited with status %d' % rc)
    leftover = sorted(os.listdir(tmp))
    if leftover:
        problems.append('the program left files in its TMPDIR: %s'
                        % ', '.join(leftover))
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        with open(slog, errors='replace') as f:
            analysis = analyse(f)
    except (OSError, LogError) as e:
        problems.append('S.log: %s' % e)
    try:
        with open(dtxt, errors='replace') as f:
            defuse_counts = parse_summary(f.read())
    except (OSError, LogError) as e:
        problems.append('D.txt: %s' % e)
        defuse_counts = None
    if analysis is not None and defuse_counts is not None:
        more, diff = check(analysis, defuse_counts, expects, allow_unmarked,
                           escapes)
        problems += more

    if analysis is not None:
        say('S.log: %d lines, %d tids, %d exec\'ed images, %d markers, %d calls '
            'counted over %d names'
            % (analysis.lines, len(analysis.tids), len(analysis.images),
               len(analysis.markers), sum(analysis.counts.values()),
               len(analysis.counts)))
        off = sum(analysis.outside_forward.values())
        if off and analysis.forward_ranges:
            say('note: %d counted call(s) did not enter the kernel from a '
                'forward gate: %s' % (off, ', '.join(
                    '%s %d' % kv for kv in sorted(analysis.outside_forward.items()))))
    if not problems:
        say(format_table(analysis.counts, defuse_counts))
        say('PASS: %s' % name)
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            say('logs kept in %s' % work)
        return 0

    for p in problems:
        say('FAIL: %s' % p)
    if diff:
        say('')
        say(format_table(analysis.counts, defuse_counts, only_diff=True))
        for n, _, d in diff:
            say('')
            say(explain(analysis, n, d))
    say('')
    say('stdout of the run:')
    say(_tail(stdout))
    say('stderr of the run:')
    say(_tail(stderr))
    say('')
    say('logs kept in %s (S.log, D.txt, stdout.txt, stderr.txt)' % work)
    return 1


def _parse_expect(text):
    m = re.match(r'^([A-Za-z_][A-Za-z0-9_]*)>=(\d+)$', text)
    if not m:
        raise argparse.ArgumentTypeError('expected NAME>=N, got %r' % text)
    return m.group(1), int(m.group(2))


def main(argv=None):
    ap = argparse.ArgumentParser(
        description='Compare `defuse trace -c -f` with strace in the same run.',
        usage='%(prog)s --defuse PATH [options] -- PROGRAM [ARGS...]')
    ap.add_argument('--defuse', required=True, help='the defuse CLI binary')
    ap.add_argument('--logdir', default=os.path.join(os.getcwd(), 'capture-logs'),
                    help='where the run directory goes; kept there on failure')
    ap.add_argument('--name', default='capture', help='name of the case')
    ap.add_argument('--expect', action='append', type=_parse_expect, default=[],
                    metavar='NAME>=N',
                    help='strace must count at least N calls of NAME')
    ap.add_argument('--allow-unmarked', action='store_true',
                    help='accept exec\'ed images without a marker (static binaries)')
    ap.add_argument('--expect-escape', action='append', default=[],
                    metavar='NAME',
                    help='negative test: calls of NAME must escape DEFUSE '
                         '(strace counts more), and only those')
    ap.add_argument('--keep', action='store_true', help='keep the logs on success too')
    ap.add_argument('command', nargs=argparse.REMAINDER)
    args = ap.parse_args(argv)
    cmd = args.command
    if cmd and cmd[0] == '--':
        cmd = cmd[1:]
    if not cmd:
        ap.error('no PROGRAM after --')
    return run(args.defuse, cmd, args.logdir, args.name, args.expect,
               args.allow_unmarked, args.keep, escapes=args.expect_escape)


if __name__ == '__main__':
    sys.exit(main())
