#!/usr/bin/env python3
"""Open files and directories that lost their name answer fstat through
the FUSE mount as on a local file system: unlinked, renamed over, removed
(the kernel sends fstat without the file handle; the bridge answers from an
open handle of the node).  The same steps run on a plain directory and on
the mount, with the passthrough module kernel-backed and emulated, and must
print the same.  Then threads fstat unlinked files while others close
other descriptors of the same files, to catch a handle freed under a
GETATTR.

    unlinked.py DEFUSE
"""
import os
import stat
import sys
import threading

import fuselib


def attempt(f, *a, **kw):
    try:
        return f(*a, **kw)
    except OSError as e:
        return 'error ' + (os.strerror(e.errno) if e.errno else str(e))


def stat_line(st):
    if isinstance(st, str):
        return st
    return 'size %d nlink %d mode %o' % (st.st_size, st.st_nlink, st.st_mode)


def steps(root):
    """What a program sees; the lines to compare."""
    out = []
    p = lambda *n: os.path.join(root, *n)   # noqa: E731

    with open(p('f'), 'w') as f:
        f.write('still here')
    fd = os.open(p('f'), os.O_RDWR)
    ino = os.fstat(fd).st_ino
    os.unlink(p('f'))
    st = attempt(os.fstat, fd)
    out.append('unlinked: fstat %s, same inode %s' % (
        stat_line(st), not isinstance(st, str) and st.st_ino == ino))
    out.append('unlinked: read %r' % os.read(fd, 100))
    os.write(fd, b' and more')
    out.append('unlinked: after write %s' % stat_line(attempt(os.fstat, fd)))
    os.close(fd)

    for name, data in (('a', 'A'), ('b', 'BB')):
        with open(p(name), 'w') as f:
            f.write(data)
    fd = os.open(p('b'), os.O_RDONLY)
    os.rename(p('a'), p('b'))
    out.append('renamed over: fstat %s, read %r' % (stat_line(attempt(os.fstat, fd)),
                                                   os.read(fd, 10)))
    out.append('renamed over: stat of the name %s' % stat_line(os.stat(p('b'))))
    os.close(fd)

    os.mkdir(p('d'))
    dfd = os.open(p('d'), os.O_RDONLY | os.O_DIRECTORY)
    os.rmdir(p('d'))
    st = attempt(os.fstat, dfd)
    out.append('removed dir: fstat %s' % (st if isinstance(st, str) else 'nlink %d dir %s' % (
        st.st_nlink, stat.S_ISDIR(st.st_mode))))
    out.append('removed dir: list %s' % attempt(os.listdir, dfd))
    out.append('removed dir: create %s' % attempt(
        os.open, 'new', os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=dfd))
    out.append('removed dir: mkdir %s' % attempt(os.mkdir, 'new', 0o755, dir_fd=dfd))
    os.close(dfd)

    # Two opens of one file: closing one leaves the other's answers.
    with open(p('two'), 'w') as f:
        f.write('12345')
    one, other = os.open(p('two'), os.O_RDONLY), os.open(p('two'), os.O_RDONLY)
    os.unlink(p('two'))
    os.close(one)
    out.append('two opens, one closed: fstat %s' % stat_line(attempt(os.fstat, other)))
    os.close(other)
    out.append('left: %s' % sorted(os.listdir(root)))
    return out


def race(root, seconds=1.5):
    """fstat of unlinked files while other opens of them are closed."""
    n = 40
    keep, drop = [], []
    for i in range(n):
        path = os.path.join(root, 'r%d' % i)
        with open(path, 'w') as f:
            f.write('x' * i)
        keep.append(os.open(path, os.O_RDONLY))
        drop.append(os.open(path, os.O_RDONLY))
        os.unlink(path)
    bad = []
    stop = threading.Event()

    def stat_loop():
        while not stop.is_set():
            for i, fd in enumerate(keep):
                st = attempt(os.fstat, fd)
                if isinstance(st, str) or st.st_size != i:
                    bad.append('r%d: %s' % (i, stat_line(st)))
                    return

    threads = [threading.Thread(target=stat_loop) for _ in range(3)]
    for t in threads:
        t.start()
    for fd in drop:
        os.close(fd)
        threading.Event().wait(seconds / n)
    stop.set()
    for t in threads:
        t.join()
    for fd in keep:
        os.close(fd)
    return bad


def main():
    defuse = os.path.abspath(sys.argv[1])
    fuselib.require_fuse()
    failed = []
    with fuselib.Scratch(defuse) as s:
        native = s.mkdir('native')
        want = steps(native)
        print('native:\n  ' + '\n  '.join(want))
        for label, spec in (('kernel-backed', ''), ('emulated', 'emulated=')):
            mnt, back = s.mkdir('mnt-' + label), s.mkdir('back-' + label)
            s.mount(mnt, 'passthrough:' + spec + back)
            try:
                got = steps(mnt)
                bad = race(mnt)
            finally:
                s.umount(mnt)
            if got != want:
                failed.append(label)
                print('%s: differs:' % label)
                for w, g in zip(want + [''] * len(got), got + [''] * len(want)):
                    if w != g:
                        print('  native: %s\n  fuse:   %s' % (w, g))
            if bad:
                failed.append(label + ' race')
                print('%s: fstat while other opens closed: %s' % (label, '; '.join(bad[:5])))
            if got == want and not bad:
                print('%s: ok' % label)
    print('unlinked: %s' % ('FAILED: ' + ', '.join(failed) if failed else 'ok'))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
