"""What the benchmark drivers share: number formatting and the machine line.

Medians with (min-max) for every figure, as DESIGN.md section 5 asks.
"""

import os
import platform
import statistics
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fmt(v):
    if v is None:
        return '-'
    if abs(v) >= 100:
        return '%.0f' % v
    if abs(v) >= 10:
        return '%.1f' % v
    if abs(v) >= 1:
        return '%.2f' % v
    return '%.3f' % v


def cell(vals, err=None):
    """'median (min-max)' of a list of runs; 'error' if they failed."""
    if err:
        return 'error'
    if not vals:
        return '-'
    return '%s (%s-%s)' % (fmt(statistics.median(vals)), fmt(min(vals)),
                           fmt(max(vals)))


def describe_machine():
    cpu = platform.processor() or '?'
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    cpu = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        rev = subprocess.run(['git', '-C', ROOT, 'rev-parse', '--short', 'HEAD'],
                             capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(['git', '-C', ROOT, 'status', '--porcelain'],
                               capture_output=True, text=True).stdout.strip()
    except OSError:
        rev, dirty = '', ''
    return 'Linux %s, %s, %d CPUs; DEFUSE %s' % (
        platform.release(), cpu, os.cpu_count() or 0,
        ('commit %s%s' % (rev, ' + uncommitted changes' if dirty else ''))
        if rev else 'uncommitted tree')


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
