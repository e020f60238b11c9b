"""Shared by the FUSE bridge tests: skip checks, scratch directories, and
mounts that are always undone (only the mounts a test made itself)."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

FUSE_MAGIC = 0x65735546


def skip(why):
    print('SKIP: ' + why)
    sys.exit(77)


def require_fuse():
    """Exits 77 with the reason when /dev/fuse cannot be used here."""
    try:
        os.close(os.open('/dev/fuse', os.O_RDWR))
    except OSError as e:
        skip('/dev/fuse cannot be used here: %s' % e.strerror)
    if os.geteuid() != 0 and shutil.which('fusermount3') is None:
        skip('not root and no fusermount3: cannot mount FUSE')


def mount_points():
    """The mount points in this namespace, in mountinfo order."""
    out = []
    with open('/proc/self/mountinfo') as f:
        for line in f:
            p = line.split()[4]
            out.append(p.encode().decode('unicode_escape'))
    return out


def mounted(path):
    return os.path.realpath(path) in mount_points()


def daemon_gone(pid):
    """True once pid has exited (a zombie counts: it is not ours to reap)."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] == 'Z'
    except (OSError, IndexError):
        return True


class Scratch:
    """A temporary directory removed at the end, after unmounting whatever
    the test mounted in it and stopping the daemons it started."""

    def __init__(self, defuse):
        self.defuse = defuse
        self.dir = tempfile.mkdtemp(prefix='defuse-fuse-test-')
        self.mounts = []    # (mount point, pidfile)

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def mkdir(self, name):
        p = self.path(name)
        os.makedirs(p)
        return p

    def mount(self, mnt, spec, *opts, check=True):
        """defuse mount MNT SPEC [-o OPTS]; returns the CompletedProcess."""
        pidfile = self.path('pid.%d' % len(self.mounts))
        o = ','.join(list(opts) + ['pidfile=' + pidfile])
        self.mounts.append((mnt, pidfile))
        r = subprocess.run([self.defuse, 'mount', mnt, spec, '-o', o],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if check and r.returncode:
            raise AssertionError('defuse mount %s %s failed (%d): %s'
                                 % (mnt, spec, r.returncode, r.stderr.strip()))
        return r

    def umount(self, mnt):
        r = subprocess.run([self.defuse, 'umount', mnt], capture_output=True, text=True)
        if r.returncode and mounted(mnt):
            subprocess.run(['umount', '-l', mnt], capture_output=True)
        for m, pidfile in self.mounts:
            if m == mnt:
                self.wait_daemon(pidfile)
        return r

    @staticmethod
    def wait_daemon(pidfile):
        try:
            pid = int(open(pidfile).read())
        except (OSError, ValueError):
            return
        for _ in range(2000):
            if daemon_gone(pid):
                return
            time.sleep(0.005)
        os.kill(pid, signal.SIGKILL)

    def close(self):
        for mnt, _ in reversed(self.mounts):
            if mounted(mnt):
                self.umount(mnt)
        for _, pidfile in self.mounts:
            self.wait_daemon(pidfile)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
