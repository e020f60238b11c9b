"""What the NFS module's tests share: the server tests/nfs/server.sh runs
(DEFUSE_NFS_URL, DEFUSE_NFS_DIR, DEFUSE_NFS_SERVER in the environment),
fresh directories of its export, `defuse run` on one, trees compared.

A test's scratch directories live in one directory on tmpfs (/dev/shm, as
the export), removed at the end whatever happened, with its own lock
directory (the module's lockdir=, where its lock files and change table
go), so nothing of a test outlives it.
"""
import difflib
import hashlib
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'common'))
import difftest  # noqa: E402

SKIP = 77
# A hang guard only: every run here takes seconds.
GUARD = 600


class Env:
    def __init__(self, defuse, module):
        self.defuse = os.path.abspath(defuse)
        self.module = os.path.abspath(module)
        self.url = os.environ.get('DEFUSE_NFS_URL')
        self.export = os.environ.get('DEFUSE_NFS_DIR')
        self.server = os.environ.get('DEFUSE_NFS_SERVER', '').split()
        shm = '/dev/shm' if os.path.isdir('/dev/shm') else None
        self.top = tempfile.mkdtemp(prefix='defuse-nfst.', dir=shm)
        self.locks = os.path.join(self.top, 'locks')
        self.subs = []
        self.failures = []
        self.serial = 0

    def ready(self):
        """None, or why the tests cannot run."""
        if not self.url or not self.export or not os.path.isdir(self.export):
            return 'no NFS server: run under tests/nfs/server.sh run'
        if not os.path.exists(self.module):
            return 'the nfs module was not built (libnfs-dev missing)'
        return None

    def cleanup(self):
        for s in self.subs:
            shutil.rmtree(s, ignore_errors=True)
        shutil.rmtree(self.top, ignore_errors=True)

    def fresh(self, tag):
        """A new directory of the export: (its name, its server-side path)."""
        self.serial += 1
        name = 't%d-%d-%s' % (os.getpid(), self.serial, tag)
        path = os.path.join(self.export, name)
        os.mkdir(path)
        self.subs.append(path)
        return name, path

    def dir(self, name):
        """A new directory under the test's scratch directory."""
        p = os.path.join(self.top, name)
        os.makedirs(p)
        return p

    def spec(self, point, sub, opts=''):
        o = ',lockdir=' + self.locks + (',' + opts if opts else '')
        return '%s=%s:%s/%s%s' % (point, self.module, self.url, sub, o)

    def cmd(self, point, sub, argv, opts=''):
        return [self.defuse, 'run', '-m', self.spec(point, sub, opts), '--'] + argv

    def check(self, what, ok, detail=''):
        print(('ok   ' if ok else 'FAIL ') + what)
        if not ok:
            self.failures.append(what)
            if detail:
                print('    ' + detail.rstrip().replace('\n', '\n    '))
        sys.stdout.flush()
        return ok

    def finish(self):
        if self.failures:
            print('%d failed: %s' % (len(self.failures), ', '.join(self.failures)))
            return 1
        print('all passed')
        return 0


def run(cmd, cwd=None, stdin=None, env=None, timeout=GUARD):
    """(exit code or None if hung, stdout, stderr) of cmd, in a session of
    its own that is killed whole afterwards."""
    p = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.PIPE if stdin is not None else
                         subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, start_new_session=True,
                         env={**os.environ, **(env or {})})
    try:
        out, err = p.communicate(stdin, timeout=timeout)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        rc = None
        out, err = b'', ('hung: killed after %d s; its threads:\n%s\n' %
                         (timeout, '\n'.join(difftest.where(p.pid)) or 'none left')).encode()
    finally:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if p.returncode is None:
            p.kill()
            p.wait()
    return rc, out.decode(errors='replace'), err.decode(errors='replace')


def tree(root, exclude=()):
    """Every entry under root: name, kind, mode, links, size, content, link
    target; sorted.  exclude: names (relative paths) left out, with what is
    below them."""
    out = []
    for d, dirs, files in os.walk(root):
        rel_d = os.path.relpath(d, root)
        dirs[:] = sorted(x for x in dirs if os.path.normpath(os.path.join(rel_d, x))
                         not in exclude)
        for n in sorted(dirs + files):
            p = os.path.join(d, n)
            rel = os.path.normpath(os.path.join(rel_d, n))
            if rel in exclude:
                continue
            st = os.lstat(p)
            s = '%s %04o' % (rel, stat.S_IMODE(st.st_mode))
            if stat.S_ISLNK(st.st_mode):
                s += ' -> ' + os.readlink(p)
            elif stat.S_ISDIR(st.st_mode):
                s += ' dir'
            elif stat.S_ISREG(st.st_mode):
                with open(p, 'rb') as f:
                    data = f.read()
                s += ' nlink=%d size=%d sha=%s' % (st.st_nlink, len(data),
                                                   hashlib.sha256(data).hexdigest()[:16])
            else:
                s += ' kind=%o' % stat.S_IFMT(st.st_mode)
            out.append(s)
    return out


def diff(a, b, what_a='native', what_b='nfs'):
    if isinstance(a, str):
        a, b = a.splitlines(), b.splitlines()
    return '\n'.join(difflib.unified_diff(a, b, what_a, what_b, lineterm=''))


SANITIZER_NOTES = ('False positive error reports may follow',
                   'For details see https://github.com/google/sanitizers/issues/189')


def own_lines(err):
    """The lines of a stderr that are the program's: an ASan build's
    runtime adds warnings of its own (its stack checks around an exit)."""
    return [x for x in err.strip().splitlines()
            if not x.startswith('==') and x not in SANITIZER_NOTES]


def server(env, action):
    """Stops or starts ganesha (the fault test): 0 on success."""
    if not env.server:
        return 1
    return subprocess.run(env.server + [action]).returncode


def wait_for(pred, limit=60.0):
    t = time.time()
    while time.time() - t < limit:
        if pred():
            return True
        time.sleep(0.05)
    return False
