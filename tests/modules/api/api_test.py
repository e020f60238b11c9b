#!/usr/bin/env python3
"""The module API v2 as a contract both hosts keep (include/defuse/module.h).

    api_test.py refuse DEFUSE V1SO      a module built for API v1 is refused,
                                        with what to do, by `defuse run` and
                                        by `defuse mount`
    api_test.py short DEFUSE SHORT TINY a v2 module with an older, shorter
                                        operations table loads (the rest is
                                        NULL); a too short one is refused
    api_test.py exports LIBDEFUSE       libdefuse.so exports the module host
                                        services and nothing else
    api_test.py run DEFUSE CONTRACT     the contract module in process:
    api_test.py fuse DEFUSE CONTRACT    ... and through the FUSE bridge: the
                                        same program gives the same answers,
                                        and the module sees the same calls
                                        (init with its host, the umask applied
                                        to modes, flush at every close before
                                        release, locks by owner, destroy)
    api_test.py probe DIR               the program itself, run in each host

Exit status 77 (skipped, with the reason) where a mode cannot run here.
"""

import errno
import fcntl
import os
import stat
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

REFUSAL = ("module {so} was built for DEFUSE module API v1; this DEFUSE serves v2: "
           "rebuild it against include/defuse/module.h")

EXPORTS = ['defuse_close_kept', 'defuse_fs_ids', 'defuse_fs_ids_are_real',
           'defuse_in_vfork_child', 'defuse_keep_fd', 'defuse_lock_owner_alive',
           'defuse_own_thread', 'defuse_umask', 'defuse_waiting']


# ---- The program: the same in both hosts ---------------------------------

EXPECTED = """mkdir d under umask 027: 0750
create x under umask 027: 0640
mknod n under umask 027: 0640
mkdir e under umask 0: 0777
OFD write lock on fd1: ok
OFD getlk from fd2: write lock
OFD write lock on fd2: EAGAIN
record write lock on fd2: EAGAIN
flock fd1 LOCK_EX: ok
flock fd2 LOCK_EX|LOCK_NB: EWOULDBLOCK
flock fd3 (a dup of fd1) LOCK_EX|LOCK_NB: ok
fd1 and fd3 closed: its description is gone
OFD write lock on fd2: ok
flock fd2 LOCK_EX|LOCK_NB: ok
"""

FLOCK = 'hhqqi4x'   # struct flock on LP64 Linux: type, whence, start, len, pid


def probe(m):
    j = lambda p: os.path.join(m, p)

    def say(label, fn):
        try:
            r = fn()
            r = 'ok' if r is None else r
        except OSError as e:
            r = errno.errorcode.get(e.errno, str(e.errno))
            if r == 'EWOULDBLOCK' or (e.errno == errno.EAGAIN and 'flock' in label):
                r = 'EWOULDBLOCK'
        print('%s: %s' % (label, r), flush=True)

    def mode(p):
        return '%04o' % stat.S_IMODE(os.lstat(j(p)).st_mode)

    def lock(fd, cmd, kind):
        return fcntl.fcntl(fd, cmd, struct.pack(FLOCK, kind, os.SEEK_SET, 0, 0, 0))

    def soon(fn):
        for _ in range(200):
            try:
                return fn()
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EWOULDBLOCK):
                    raise
            time.sleep(0.01)
        return fn()

    def getlk(fd):
        t = struct.unpack(FLOCK, lock(fd, fcntl.F_OFD_GETLK, fcntl.F_WRLCK))[0]
        return {fcntl.F_UNLCK: 'none', fcntl.F_RDLCK: 'read lock', fcntl.F_WRLCK: 'write lock'}[t]

    os.umask(0o027)
    os.mkdir(j('d'), 0o777)
    say('mkdir d under umask 027', lambda: mode('d'))
    os.close(os.open(j('x'), os.O_CREAT | os.O_WRONLY, 0o666))
    say('create x under umask 027', lambda: mode('x'))
    os.mknod(j('n'), stat.S_IFREG | 0o666)
    say('mknod n under umask 027', lambda: mode('n'))
    os.umask(0)
    os.mkdir(j('e'), 0o777)
    say('mkdir e under umask 0', lambda: mode('e'))

    fd1 = os.open(j('f'), os.O_RDWR)
    fd2 = os.open(j('f'), os.O_RDWR)
    fd3 = os.dup(fd1)
    say('OFD write lock on fd1', lambda: lock(fd1, fcntl.F_OFD_SETLK, fcntl.F_WRLCK) and None)
    say('OFD getlk from fd2', lambda: getlk(fd2))
    say('OFD write lock on fd2', lambda: lock(fd2, fcntl.F_OFD_SETLK, fcntl.F_WRLCK) and None)
    say('record write lock on fd2', lambda: lock(fd2, fcntl.F_SETLK, fcntl.F_WRLCK) and None)
    say('flock fd1 LOCK_EX', lambda: fcntl.flock(fd1, fcntl.LOCK_EX))
    say('flock fd2 LOCK_EX|LOCK_NB', lambda: fcntl.flock(fd2, fcntl.LOCK_EX | fcntl.LOCK_NB))
    say('flock fd3 (a dup of fd1) LOCK_EX|LOCK_NB',
        lambda: fcntl.flock(fd3, fcntl.LOCK_EX | fcntl.LOCK_NB))
    os.close(fd1)
    os.close(fd3)
    print('fd1 and fd3 closed: its description is gone', flush=True)
    # FUSE releases a file after close returned (an asynchronous request),
    # and the locks of its description go with the release: give it time.
    say('OFD write lock on fd2', lambda: soon(lambda: lock(fd2, fcntl.F_OFD_SETLK,
                                                               fcntl.F_WRLCK) and None))
    say('flock fd2 LOCK_EX|LOCK_NB',
        lambda: soon(lambda: fcntl.flock(fd2, fcntl.LOCK_EX | fcntl.LOCK_NB)))
    os.close(fd2)


# ---- Checks of what the module saw ----------------------------------------

def check_log(host, lines):
    """The module's log after one probe in host (1: in process, 2: FUSE)."""
    errors = []
    want_first, want_last = 'init host=%d' % host, 'destroy'
    if not lines or lines[0] != want_first:
        errors.append('first line %r, expected %r' % (lines[:1], want_first))
    if not lines or lines[-1] != want_last:
        errors.append('last line %r, expected %r' % (lines[-1:], want_last))
    # libfuse's high-level API makes a regular file's mknod a create (an
    # open with O_CREAT | O_EXCL) and a release (docs/module-api.md).
    mknod = 'mknod /n 0640' if host == 1 else 'create /n 0640'
    for want in ('mkdir /d 0750', 'create /x 0640', mknod, 'mkdir /e 0777'):
        if want not in lines:
            errors.append('no %r: the host hands modes with the umask applied' % want)
    flushes = lines.count('flush /f')
    releases = lines.count('release /f')
    if flushes != 3 or releases != 2:
        errors.append('/f: %d flushes, %d releases; expected 3 (one per close) and 2 '
                      '(one per open file description)' % (flushes, releases))
    for i, line in enumerate(lines):
        if line == 'release /n' and host == 2:
            continue    # that create's release: no program's descriptor was closed
        if line.startswith('release ') and 'flush ' + line[8:] not in lines[:i]:
            errors.append('%r without a flush before it' % line)
    if lines.count('destroy') != 1:
        errors.append('destroy %d times' % lines.count('destroy'))
    return errors


def read_log(path):
    try:
        with open(path) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def report(label, errors):
    for e in errors:
        print('FAIL %s: %s' % (label, e))
    if not errors:
        print('ok %s' % label)
    return len(errors)


def compare_probe(label, out):
    if out == EXPECTED:
        return report(label + ': the program\'s answers', [])
    got = out.splitlines()
    errors = []
    for i, want in enumerate(EXPECTED.splitlines()):
        have = got[i] if i < len(got) else '(nothing)'
        if have != want:
            errors.append('%r, expected %r' % (have, want))
    return report(label + ': the program\'s answers', errors)


def run_mode(defuse, contract):
    errors = 0
    with tempfile.TemporaryDirectory(prefix='defuse-api-') as d:
        mnt = os.path.join(d, 'mnt')
        os.mkdir(mnt)

        def run(log, *cmd):
            return subprocess.run([defuse, 'run', '-m', '%s=%s:%s' % (mnt, contract, log),
                                   '--'] + list(cmd), capture_output=True, text=True,
                                  timeout=60)

        log = os.path.join(d, 'probe.log')
        p = run(log, sys.executable, os.path.abspath(__file__), 'probe', mnt)
        if p.returncode or p.stderr:
            print('probe: status %d, stderr %s' % (p.returncode, p.stderr.strip()))
            errors += 1
        errors += compare_probe('in process', p.stdout)
        errors += report('in process: the module\'s log', check_log(1, read_log(log)))

        # destroy: only for a normal end (module.h).
        cases = [
            ('exit(3)', [sys.executable, '-c', 'pass'], ['init host=1', 'destroy']),
            ('_exit(2)', [sys.executable, '-c', 'import os; os._exit(0)'], ['init host=1']),
            ('exit(3) with a second thread running',
             [sys.executable, '-c', 'import threading, time\n'
              'threading.Thread(target=time.sleep, args=(30,), daemon=True).start()'],
             ['init host=1']),
            ('a fatal signal', [sys.executable, '-c', 'import os, signal\n'
                                'os.kill(os.getpid(), signal.SIGKILL)'], ['init host=1']),
            ('exec, then exit(3)', ['sh', '-c', 'exec "$0" -c pass', sys.executable],
             ['init host=1', 'init host=1', 'destroy']),
        ]
        for i, (label, cmd, want) in enumerate(cases):
            log = os.path.join(d, 'life%d.log' % i)
            run(log, *cmd)
            got = read_log(log)
            errors += report('in process, ' + label,
                             [] if got == want else ['log %r, expected %r' % (got, want)])
    return errors


def fuse_mode(defuse, contract):
    sys.path.insert(0, os.path.join(HERE, '..', '..', 'fuse'))
    import fuselib

    fuselib.require_fuse()
    errors = 0
    with fuselib.Scratch(defuse) as s:
        mnt = s.mkdir('mnt')
        log = s.path('probe.log')
        s.mount(mnt, '%s:%s' % (contract, log))
        try:
            p = subprocess.run([sys.executable, os.path.abspath(__file__), 'probe', mnt],
                               capture_output=True, text=True, timeout=60)
            # The kernel sends a release after close returned (in the
            # background), and one still queued at the unmount is dropped
            # with the connection: wait for /f's two (bounded; a missing
            # one is then reported by check_log).
            for _ in range(2000):
                if read_log(log).count('release /f') >= 2:
                    break
                time.sleep(0.005)
        finally:
            r = s.umount(mnt)
        if p.returncode or p.stderr:
            print('probe: status %d, stderr %s' % (p.returncode, p.stderr.strip()))
            errors += 1
        if r.returncode:
            print('FAIL defuse umount: %s' % r.stderr.strip())
            errors += 1
        errors += compare_probe('through FUSE', p.stdout)
        errors += report('through FUSE: the module\'s log', check_log(2, read_log(log)))
    return errors


def refuse_mode(defuse, so):
    errors = 0
    so = os.path.abspath(so)    # defuse run passes module paths on absolute
    want = REFUSAL.format(so=so)
    with tempfile.TemporaryDirectory(prefix='defuse-api-') as d:
        mnt = os.path.join(d, 'mnt')
        os.mkdir(mnt)
        r = subprocess.run([defuse, 'run', '-m', mnt + '=' + so, '--', 'true'],
                           capture_output=True, text=True, timeout=60)
        line = "defuse: mount '%s=%s': %s" % (mnt, so, want)
        errors += report('defuse run refuses a v1 module',
                         [] if r.returncode != 0 and r.stderr.strip() == line else
                         ['status %d, stderr %r, expected %r' % (r.returncode, r.stderr, line)])
        try:
            os.close(os.open('/dev/fuse', os.O_RDWR))
        except OSError as e:
            print('(defuse mount not tried: /dev/fuse: %s)' % e.strerror)
            return errors
        sys.path.insert(0, os.path.join(HERE, '..', '..', 'fuse'))
        import fuselib
        with fuselib.Scratch(defuse) as s:
            m2 = s.mkdir('mnt')
            r = s.mount(m2, so, check=False)
            line = 'defuse mount: ' + want
            errors += report('defuse mount refuses a v1 module',
                             [] if r.returncode != 0 and r.stderr.strip() == line and
                             not fuselib.mounted(m2) else
                             ['status %d, stderr %r, expected %r' % (r.returncode, r.stderr,
                                                                     line)])
    return errors


def short_mode(defuse, short_so, tiny_so):
    """A v2 module with an older, shorter operations table loads, and the
    operations it lacks are NULL (an exec hands an open file down, which
    would call file_handle); one below v2's first table is refused."""
    errors = 0
    with tempfile.TemporaryDirectory(prefix='defuse-api-') as d:
        mnt = os.path.join(d, 'mnt')
        os.mkdir(mnt)
        r = subprocess.run([defuse, 'run', '-m', mnt + '=' + os.path.abspath(short_so), '--',
                            'sh', '-c', 'exec 3<"$1"/f; cat <&3; stat -c %F "$1"', 'sh', mnt],
                           capture_output=True, text=True, timeout=60)
        errors += report('a v2 module with v2\'s first table loads and serves',
                         [] if r.returncode == 0 and r.stdout == 'ok\ndirectory\n' else
                         ['status %d, stdout %r, stderr %r' % (r.returncode, r.stdout,
                                                               r.stderr)])
        tiny = os.path.abspath(tiny_so)
        r = subprocess.run([defuse, 'run', '-m', mnt + '=' + tiny, '--', 'true'],
                           capture_output=True, text=True, timeout=60)
        errors += report('a table smaller than v2\'s first is refused',
                         [] if r.returncode != 0 and 'operations of 8 bytes' in r.stderr else
                         ['status %d, stderr %r' % (r.returncode, r.stderr)])
    return errors


def exports_mode(lib):
    r = subprocess.run(['nm', '-D', '--defined-only', lib], capture_output=True, text=True)
    if r.returncode:
        print('SKIP: nm: %s' % r.stderr.strip())
        return 77
    names = sorted(l.split()[-1].split('@')[0] for l in r.stdout.splitlines() if l.strip())
    names = [n for n in names if n not in ('_init', '_fini') and not n.startswith('DEFUSE_')]
    return report('libdefuse.so exports the host services only',
                  [] if names == EXPORTS else ['exports %s, expected %s' % (names, EXPORTS)])


def main(argv):
    mode = argv[1] if len(argv) > 1 else ''
    if mode == 'probe' and len(argv) == 3:
        probe(argv[2])
        return 0
    if mode == 'refuse' and len(argv) == 4:
        return 1 if refuse_mode(argv[2], argv[3]) else 0
    if mode == 'short' and len(argv) == 5:
        return 1 if short_mode(argv[2], argv[3], argv[4]) else 0
    if mode == 'exports' and len(argv) == 3:
        r = exports_mode(argv[2])
        return r if r == 77 else (1 if r else 0)
    if mode == 'run' and len(argv) == 4:
        return 1 if run_mode(argv[2], argv[3]) else 0
    if mode == 'fuse' and len(argv) == 4:
        return 1 if fuse_mode(argv[2], argv[3]) else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv))
