#!/usr/bin/env python3
"""`defuse mount` and `defuse umount` on bad input: a clear message, a
non-zero exit, and nothing left mounted or running afterwards.

    bad_input.py DEFUSE
"""
import os
import shutil
import subprocess
import sys

import fuselib

failures = []


def check(name, r, status, message, s, mnt, pidfile=None):
    """status: the exit status wanted (None: any non-zero)."""
    problems = []
    if r.returncode == 0 or (status is not None and r.returncode != status):
        problems.append('exit status %d, want %s' % (r.returncode, status or 'non-zero'))
    if message not in r.stderr:
        problems.append('message lacks %r' % message)
    if fuselib.mounted(mnt):
        problems.append('%s is mounted afterwards' % mnt)
        s.umount(mnt)
    if pidfile and os.path.exists(pidfile):
        pid = int(open(pidfile).read() or 0)
        if pid and not fuselib.daemon_gone(pid):
            problems.append('a daemon (pid %d) is left running' % pid)
    print('%-4s %-28s status %d: %s' % ('FAIL' if problems else 'ok', name, r.returncode,
                                         r.stderr.strip().replace('\n', ' | ')))
    for p in problems:
        print('       ' + p)
    if problems:
        failures.append(name)


def mount(s, *args):
    return subprocess.run([s.defuse, 'mount'] + list(args), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True)


def main():
    defuse = os.path.abspath(sys.argv[1])
    fuselib.require_fuse()
    with fuselib.Scratch(defuse) as s:
        mnt, back = s.mkdir('mnt'), s.mkdir('back')
        pidfile = s.path('pid')
        spec = 'passthrough:' + back
        pid_o = 'pidfile=' + pidfile

        r = mount(s, s.path('missing'), spec, '-o', pid_o)
        check('missing mount point', r, 1, 'No such file or directory', s,
              s.path('missing'), pidfile)

        open(s.path('file'), 'w').close()
        r = mount(s, s.path('file'), spec, '-o', pid_o)
        check('mount point not a directory', r, 1, 'Not a directory', s, s.path('file'),
              pidfile)

        # busy: a mount of our own is already there
        s.mount(mnt, spec)
        r = mount(s, mnt, spec, '-o', pid_o)
        stacked = fuselib.mount_points().count(os.path.realpath(mnt))
        if stacked != 1:
            print('FAIL busy mount point: %d mounts at %s' % (stacked, mnt))
            failures.append('busy: stacked')
        s.umount(mnt)
        check('busy mount point', r, 1, 'already a mount point', s, mnt, pidfile)

        r = mount(s, mnt, 'nosuchmodule:' + back, '-o', pid_o)
        check('unknown module', r, 1, "unknown module 'nosuchmodule'", s, mnt, pidfile)

        with open(s.path('junk.so'), 'w') as f:
            f.write('not an ELF file\n')
        r = mount(s, mnt, s.path('junk.so') + ':' + back, '-o', pid_o)
        check('module not loadable', r, 1, 'cannot load module', s, mnt, pidfile)

        r = mount(s, mnt, 'passthrough:' + s.path('no-such-dir'), '-o', pid_o)
        check('module init fails', r, 1, "module 'passthrough' failed to start", s, mnt,
              pidfile)

        r = mount(s, mnt, spec, '-o', 'nosuchoption,' + pid_o)
        check('unknown -o option', r, 2, 'nosuchoption', s, mnt, pidfile)
        r = mount(s, mnt, spec, '-o', 'threads=many,' + pid_o)
        check('malformed -o value', r, 2, 'bad -o threads', s, mnt, pidfile)
        r = mount(s, mnt, spec, '-o', 'attr_timeout=soon,' + pid_o)
        check('malformed libfuse -o value', r, 2, 'attr_timeout', s, mnt, pidfile)
        r = mount(s, mnt, spec, '-o')
        check('-o without options', r, 2, '-o needs options', s, mnt)
        r = mount(s, mnt)
        check('no module', r, 2, 'expected MOUNTPOINT MODULE', s, mnt)

        # /dev/fuse unavailable: hidden in a private mount namespace only
        if os.geteuid() != 0 or shutil.which('unshare') is None:
            print('skip /dev/fuse unavailable: needs root and unshare(1) for a private '
                  'mount namespace')
        else:
            for name, hide, msg in (
                    ('/dev/fuse missing', 'mount -t tmpfs tmpfs /dev',
                     'cannot open /dev/fuse: No such file or directory'),
                    ('/dev/fuse not the device', 'mount --bind "$4" /dev/fuse',
                     'not a character device')):
                open(s.path('fake-fuse'), 'w').close()
                r = subprocess.run(
                    ['unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c',
                     hide + ' || exit 99; "$1" mount "$2" "$3" -o "$5"; st=$?; '
                     'grep -q " $2 " /proc/self/mountinfo && echo "mounted in namespace" >&2; '
                     'exit $st', 'sh', defuse, mnt, spec, s.path('fake-fuse'), pid_o],
                    stdin=subprocess.DEVNULL, capture_output=True, text=True)
                if r.returncode == 99:
                    print('skip %s: cannot hide it in a private namespace: %s'
                          % (name, r.stderr.strip()))
                    continue
                check(name, r, 1, msg, s, mnt, pidfile)
                if 'mounted in namespace' in r.stderr:
                    failures.append(name + ': mounted in the namespace')

        r = subprocess.run([defuse, 'umount', mnt], capture_output=True, text=True)
        check('umount of no mount', r, 1, 'is not mounted', s, mnt)
        # a mount that is not ours: a tmpfs, in a private namespace only
        if os.geteuid() == 0 and shutil.which('unshare'):
            r = subprocess.run(
                ['unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c',
                 'mount -t tmpfs tmpfs "$2" || exit 99; "$1" umount "$2"; st=$?; '
                 'grep -q " $2 " /proc/self/mountinfo || echo "tmpfs unmounted" >&2; '
                 'exit $st', 'sh', defuse, mnt],
                stdin=subprocess.DEVNULL, capture_output=True, text=True)
            if r.returncode == 99:
                print('skip umount of a foreign mount: %s' % r.stderr.strip())
            else:
                check('umount of a foreign mount', r, 1, 'not a defuse mount (type tmpfs)',
                      s, mnt)
                if 'tmpfs unmounted' in r.stderr:
                    failures.append('umount of a foreign mount: it was unmounted')
    print('bad input: %s' % ('FAILED: ' + ', '.join(failures) if failures else 'ok'))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
