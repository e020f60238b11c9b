#!/usr/bin/env python3
"""A private OpenSSH server on loopback, for tests and benchmarks that need
a real sshd (sshfs in tests/fusecompat, bench/).

    from sshd_server import SshdServer, why_not

    reason = why_not()                 # None, or why no server can be run here
    if reason:
        print('skip: ' + reason); sys.exit(77)
    with SshdServer() as s:
        s.host, s.port, s.user         # '127.0.0.1', a free port, the user (root)
        s.key                          # the client's private key (a file)
        s.ssh_argv('true')             # ['ssh', '-F', CONFIG, 'sshd-test', 'true']
        s.sshfs_opts                   # 'port=N,IdentityFile=KEY,...' for sshfs -o
        s.sshfs_args('/srv/dir')       # 'root@127.0.0.1:/srv/dir -o port=N,...'
        s.log()                        # what sshd wrote (its -e log)

`SshdServer` starts `/usr/sbin/sshd -D -e -f CONFIG` on 127.0.0.1, on a
port free when it starts (another is tried if the port is taken meanwhile),
with everything of its own in a scratch directory: a host key and a client
key made by ssh-keygen for this server only, the client's public key as the
only authorized key, a pid file, its configuration and log, and a client
configuration (`ssh -F`) that names them.  No PAM (`UsePAM no`, the
server's process is the session), no passwords, and `StrictModes no`: the
authorized key lies in a scratch directory under /tmp, whose mode 1777
sshd's strict checks refuse.  The SFTP subsystem is sshd's internal one
(sshfs's `-s sftp`), so nothing else has to be installed.

sshd needs /run/sshd (its privilege separation directory) when run as
root; it is made if missing (as the package's service would make it) and
left there: servers of tests running at the same time share it, and one
that removed it at its end made the other's next login fail ("Missing
privilege separation directory").

`start()` returns once a real client (`ssh ... true`, with the test's key)
has logged in, within `timeout` seconds (default 60; the server's log in
the exception otherwise).  `stop()` (the context manager's exit, also when
the body raised) sends SIGTERM to the server by its pid, SIGKILL if it
is still there after 10 s, waits for it, and removes the scratch directory.
The sessions sshd forked for its clients end with their connections (a
client's sshfs or ssh); those still open at stop(), and the commands they
run, are ended by pid (SIGKILL) before the server: its descendants, found
in /proc (a command run over ssh without a terminal runs in a session of
its own, which the end of its connection does not stop).

Runs as root only (the user it logs in as is root, as in CI);
`why_not()` says why not otherwise, or when sshd, ssh or ssh-keygen are
missing (Debian: apt-get install openssh-server).
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

SSHD = '/usr/sbin/sshd'
HOST = '127.0.0.1'
PRIVSEP_DIR = '/run/sshd'


def why_not():
    """Why no server can be run here, or None."""
    if os.geteuid() != 0:
        return 'sshd_server runs sshd as root only (and logs in as root); this is uid %d' % \
            os.geteuid()
    if not os.access(SSHD, os.X_OK):
        return '%s is not installed (apt-get install openssh-server)' % SSHD
    for prog in ('ssh', 'ssh-keygen'):
        if not shutil.which(prog):
            return '%s is not installed (apt-get install openssh-client)' % prog
    return None


def free_port():
    """A TCP port free on 127.0.0.1 now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def descendants(pid):
    """Pids of every process below `pid` (from /proc), children first."""
    parent = {}
    for p in os.listdir('/proc'):
        if not p.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % p) as f:
                parent[int(p)] = int(f.read().rsplit(')', 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    found, todo = [], [pid]
    while todo:
        below = [c for c, pp in parent.items() if pp == todo[0]]
        todo = todo[1:] + below
        found += below
    return found


class SshdServer:
    """One private sshd on loopback; see the module's docstring."""

    def __init__(self, timeout=60, user='root'):
        self.timeout = timeout
        self.user = user
        self.host = HOST
        self.port = None
        self.dir = None
        self.key = None
        self.proc = None

    # -- the client's side -------------------------------------------------
    @property
    def client_config(self):
        return os.path.join(self.dir, 'ssh_config')

    @property
    def sshfs_opts(self):
        """sshfs's -o options (comma-separated) that reach this server with
        the test's key and no host key prompt or record."""
        return ','.join([
            'port=%d' % self.port,
            'IdentityFile=%s' % self.key,
            'IdentitiesOnly=yes',
            'StrictHostKeyChecking=no',
            'UserKnownHostsFile=/dev/null',
            'BatchMode=yes',
            'LogLevel=ERROR',
        ])

    def sshfs_args(self, remote_dir, extra_opts=''):
        """sshfs's command line without its mount point, as one string:
        `USER@HOST:DIR -o OPTIONS[,EXTRA]` (DIR without blanks, commas or
        quotes: it is not quoted)."""
        opts = self.sshfs_opts + (',' + extra_opts if extra_opts else '')
        return '%s@%s:%s -o %s' % (self.user, self.host, remote_dir, opts)

    def ssh_argv(self, *command):
        """An ssh command line that runs `command` on this server."""
        return ['ssh', '-F', self.client_config, 'sshd-test'] + list(command)

    def log(self):
        try:
            with open(os.path.join(self.dir, 'sshd.log'), errors='replace') as f:
                return f.read()
        except (OSError, TypeError):
            return ''

    # -- the server ----------------------------------------------------------
    def _write(self, name, text, mode=0o600):
        path = os.path.join(self.dir, name)
        with open(path, 'w') as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def _keygen(self, name):
        path = os.path.join(self.dir, name)
        r = subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'defuse-test',
                            '-f', path], capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise RuntimeError('ssh-keygen failed: %s' % r.stderr.strip())
        return path

    def _config(self):
        d = self.dir
        self._write('sshd_config', '\n'.join([
            'Port %d' % self.port,
            'ListenAddress %s' % HOST,
            'HostKey %s' % os.path.join(d, 'host_key'),
            'PidFile %s' % os.path.join(d, 'sshd.pid'),
            'AuthorizedKeysFile %s' % os.path.join(d, 'authorized_keys'),
            'UsePAM no',
            'StrictModes no',
            'PermitRootLogin prohibit-password',
            'PubkeyAuthentication yes',
            'PasswordAuthentication no',
            'KbdInteractiveAuthentication no',
            'AllowUsers %s' % self.user,
            'AllowTcpForwarding no',
            'X11Forwarding no',
            'PrintMotd no',
            'UseDNS no',
            'MaxStartups 100:30:200',
            'MaxSessions 100',
            'Subsystem sftp internal-sftp',
            'LogLevel INFO',
            '']))
        self._write('ssh_config', '\n'.join([
            'Host sshd-test',
            '  HostName %s' % HOST,
            '  Port %d' % self.port,
            '  User %s' % self.user,
            '  IdentityFile %s' % self.key,
            '  IdentitiesOnly yes',
            '  StrictHostKeyChecking no',
            '  UserKnownHostsFile /dev/null',
            '  BatchMode yes',
            '  LogLevel ERROR',
            '  ConnectTimeout 10',
            '']))

    def _alive(self):
        return self.proc is not None and self.proc.poll() is None

    def _wait_ready(self, deadline):
        """Until a client logs in (True), sshd ends (False) or the time is
        up (False)."""
        while time.time() < deadline:
            if not self._alive():
                return False
            try:
                r = subprocess.run(self.ssh_argv('true'), capture_output=True, text=True,
                                   timeout=max(1, min(20, deadline - time.time())),
                                   stdin=subprocess.DEVNULL)
                if r.returncode == 0:
                    return True
            except subprocess.TimeoutExpired:
                pass
            time.sleep(0.1)
        return False

    def start(self):
        reason = why_not()
        if reason:
            raise RuntimeError(reason)
        self.dir = tempfile.mkdtemp(prefix='defuse-sshd-')
        try:
            os.makedirs(PRIVSEP_DIR, 0o755, exist_ok=True)
            self._keygen('host_key')
            self.key = self._keygen('client_key')
            shutil.copyfile(self.key + '.pub', os.path.join(self.dir, 'authorized_keys'))
            deadline = time.time() + self.timeout
            for _ in range(5):          # another port if this one was taken meanwhile
                self.port = free_port()
                self._config()
                logf = open(os.path.join(self.dir, 'sshd.log'), 'w')
                try:
                    self.proc = subprocess.Popen(
                        [SSHD, '-D', '-e', '-f', os.path.join(self.dir, 'sshd_config')],
                        stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                        start_new_session=True)
                finally:
                    logf.close()
                if self._wait_ready(deadline):
                    return self
                if self._alive() or 'Cannot bind' not in self.log():
                    break
                self.proc.wait()
            raise RuntimeError('sshd did not accept a login on %s:%d within %d s; its log:\n%s'
                               % (HOST, self.port, self.timeout, self.log()))
        except BaseException:
            self.stop()
            raise

    def stop(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                # sessions still open and what they run (a command runs in
                # a session of its own, which no hangup reaches): the
                # server's descendants, ended by pid, the server last
                below = descendants(self.proc.pid)
                for pid in below:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.proc = None
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


if __name__ == '__main__':
    # By hand: start a server, log in once, print what a client needs, stop.
    import sys
    r = why_not()
    if r:
        print('skip: ' + r)
        sys.exit(77)
    with SshdServer() as s:
        out = subprocess.run(s.ssh_argv('id', '-un'), capture_output=True, text=True,
                             timeout=60, stdin=subprocess.DEVNULL)
        print('port %d, user %s, ssh says %s' % (s.port, s.user, out.stdout.strip()))
        print('sshfs %s MNT' % s.sshfs_args('/tmp'))
