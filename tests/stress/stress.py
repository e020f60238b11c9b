#!/usr/bin/env python3
"""stress-ng's file-system stressors on DEFUSE mounts, against the native run.

    stress.py DEFUSE PASSTHROUGH.so MEMFS.so [--modes M,...] [--nfs NFS.so]
              [STRESSOR...]

Each stressor runs one worker for a second (`stress-ng --NAME 1 -t 1s
--temp-path DIR`) in a native scratch directory, then in the same way on a
kernel-backed and an emulated passthrough mount and on a memfs mount
(--modes: any of kernel, emulated, memfs, nfs; nfs needs --nfs and the
server of tests/nfs/server.sh, whose export gets a directory of the run's
own, and the module a lock directory in the scratch).  A
stressor that completes natively must complete through DEFUSE too
("successful run completed", exit 0), unless KNOWN lists it for that mode
with the reason.  These stressors found the fcntl commands, sync_file_range,
RLIMIT_FSIZE, inotify and memfs space that the emulated path lacked.

Skips (exit 77) with the reason when stress-ng is not installed.  Each run
has a time limit far above its second (60 s): a hang fails.  Scratch
directories and memfs segments are removed at the end, also after a failure.
"""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'common'))
from difftest import where  # noqa: E402

STRESSORS = ['access', 'chdir', 'chmod', 'chown', 'copy-file', 'dentry', 'dir', 'dirdeep',
             'dirmany', 'dup', 'fallocate', 'fcntl', 'filename', 'flock', 'fpunch', 'fsize',
             'fstat', 'getdent', 'hdd', 'io', 'iomix', 'link', 'locka', 'lockf', 'lockofd',
             'mknod', 'open', 'rename', 'symlink', 'sync-file', 'touch', 'utime', 'xattr',
             'lease', 'handle', 'file-ioctl', 'procfs', 'inotify', 'dnotify']

# Sizes that fit memfs's default segment (256 MiB) beside the others.
EXTRA = {'iomix': ['--iomix-bytes', '64M'], 'hdd': ['--hdd-bytes', '64M'],
         'fallocate': ['--fallocate-bytes', '64M']}

# (stressor, mode): why DEFUSE cannot do what the kernel does there.
KNOWN = {
    ('inotify', 'memfs'): 'memfs has no kernel inode to watch: inotify_add_watch gives '
                          'EOPNOTSUPP',
    ('dnotify', 'emulated'): 'the module\'s changes raise no kernel event: F_NOTIFY on an '
                             'emulated directory gives EINVAL (off)',
    ('dnotify', 'memfs'): 'as emulated: F_NOTIFY gives EINVAL',
    ('inotify', 'nfs'): 'as memfs: no kernel inode to watch',
    ('dnotify', 'nfs'): 'as emulated: F_NOTIFY gives EINVAL',
    ('xattr', 'nfs'): 'NFSv3 has no extended attributes (EOPNOTSUPP, as over the kernel '
                      'client): stress-ng skips the stressor, with a non-zero exit',
}


def run(argv, cwd):
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         cwd=cwd, start_new_session=True)
    try:
        out, _ = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        # Where it hangs, then the whole group goes (stress-ng's workers
        # too, not only defuse run's process).
        state = where(p.pid)
        try:
            os.killpg(p.pid, 9)
        except ProcessLookupError:
            pass
        p.communicate()
        return None, ['hung (60 s); its processes: ' + (' | '.join(state) or 'none left')]
    ok = p.returncode == 0 and 'successful run completed' in out
    return ok, out.strip().splitlines()[-3:]


def main():
    if len(sys.argv) < 4:
        print(__doc__)
        return 2
    defuse, pt, memfs = (os.path.abspath(p) for p in sys.argv[1:4])
    rest, modes, nfs = sys.argv[4:], ['kernel', 'emulated', 'memfs'], None
    while rest and rest[0] in ('--modes', '--nfs') and len(rest) > 1:
        if rest[0] == '--modes':
            modes = rest[1].split(',')
        else:
            nfs = os.path.abspath(rest[1])
        rest = rest[2:]
    stressors = rest or STRESSORS
    export = None
    if 'nfs' in modes:
        url, top = os.environ.get('DEFUSE_NFS_URL'), os.environ.get('DEFUSE_NFS_DIR')
        if not nfs or not url or not top:
            print('SKIP: the nfs mode needs --nfs NFS.so and tests/nfs/server.sh run')
            return 77
        export = os.path.join(top, 'stress-%d' % os.getpid())
    ng = shutil.which('stress-ng')
    if not ng:
        print('SKIP: stress-ng is not installed (scripts/setup.sh installs it)')
        return 77
    scratch = tempfile.mkdtemp(prefix='defuse-stress-')
    segment = 'stress-%d' % os.getpid()
    failures = 0
    try:
        dirs = {}
        for d in ('native', 'kernel', 'kb', 'emulated', 'eb', 'memfs', 'nfs', 'locks'):
            dirs[d] = os.path.join(scratch, d)
            os.mkdir(dirs[d])
        mounts = {
            'kernel': '%s=%s:%s' % (dirs['kernel'], pt, dirs['kb']),
            'emulated': '%s=%s:emulated=%s' % (dirs['emulated'], pt, dirs['eb']),
            'memfs': '%s=%s:%s' % (dirs['memfs'], memfs, segment),
        }
        if export:
            os.mkdir(export)
            mounts['nfs'] = '%s=%s:%s/%s,lockdir=%s' % (
                dirs['nfs'], nfs, os.environ['DEFUSE_NFS_URL'], os.path.basename(export),
                dirs['locks'])
        mounts = {m: spec for m, spec in mounts.items() if m in modes}
        for s in stressors:
            args = [ng, '--' + s, '1', '-t', '1s'] + EXTRA.get(s, []) + ['--temp-path']
            ok, tail = run(args + [dirs['native']], dirs['native'])
            if not ok:
                print('%-10s native: does not complete here, not compared (%s)' %
                      (s, ' / '.join(tail) if isinstance(tail, list) else tail))
                continue
            line = []
            for mode, spec in mounts.items():
                ok, tail = run([defuse, 'run', '-m', spec, '--'] + args + [dirs[mode]],
                               scratch)
                if ok:
                    line.append('%s ok' % mode)
                elif (s, mode) in KNOWN:
                    line.append('%s known (%s)' % (mode, KNOWN[(s, mode)]))
                else:
                    failures += 1
                    line.append('%s FAIL: %s' % (mode, ' / '.join(tail)
                                                 if isinstance(tail, list) else tail))
            print('%-10s %s' % (s, '; '.join(line)))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if export:
            shutil.rmtree(export, ignore_errors=True)
        try:
            os.unlink('/dev/shm/defuse-memfs.' + segment)
        except FileNotFoundError:
            pass
    print('%d failed' % failures)
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
