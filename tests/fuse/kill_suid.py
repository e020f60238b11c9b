#!/usr/bin/env python3
"""A write by another user to a set-user-ID file clears the bit and
succeeds, as on a local file system (the kernel asks FUSE for the mode
change, which the bridge ran as that user, who does not own the file:
EPERM, and the write failed).  The same steps run as another user on a
plain directory and on a root bridge with allow_other (passthrough
kernel-backed and emulated), and must print the same and leave the same
modes and sizes.

Not compared: a set-group-ID file without group execute.  The kernel clears
that bit too when the writer is not in the file's group, but FUSE's kernel
module only asks to clear it with group execute (fuse_setattr), so through
any FUSE file system it stays (docs/fuse.md).

    kill_suid.py DEFUSE
"""
import os
import shutil
import subprocess
import sys

import fuselib

NOBODY = 65534

# name, mode; every file root's, holding 'hi\n'
FILES = [('suid-sgid-x', 0o6777),     # both bits go (group execute)
         ('suid', 0o4666),
         ('sgid-x', 0o2676),
         ('trunc', 0o6766),           # opened O_TRUNC
         ('truncate', 0o4666),        # truncate(2) by path
         ('not-writable', 0o4644),    # the write is refused: nothing changes
         ('chmod', 0o4644)]           # chmod by a non-owner: EPERM

SCRIPT = r'''
cd "$1"
echo more >> suid-sgid-x; echo "append suid-sgid-x: $?"
echo more >> suid; echo "append suid: $?"
echo more >> sgid-x; echo "append sgid-x: $?"
: > trunc; echo "O_TRUNC trunc: $?"
truncate -s 1 truncate; echo "truncate truncate: $?"
echo more >> not-writable 2>/dev/null; echo "append not-writable: $?"
chmod u-s chmod 2>/dev/null; echo "chmod chmod: $?"
'''


def prepare(d):
    os.chmod(d, 0o777)
    for name, mode in FILES:
        p = os.path.join(d, name)
        with open(p, 'w') as f:
            f.write('hi\n')
        os.chmod(p, mode)


def run_as_nobody(d):
    r = subprocess.run(['setpriv', '--reuid=%d' % NOBODY, '--regid=%d' % NOBODY,
                        '--clear-groups', 'sh', '-c', SCRIPT, 'sh', d],
                       capture_output=True, text=True, timeout=60)
    return r.stdout.splitlines()


def result(d):
    out = []
    for name, _ in FILES:
        st = os.lstat(os.path.join(d, name))
        out.append('%s: mode %o size %d' % (name, st.st_mode & 0o7777, st.st_size))
    return out


def main():
    defuse = os.path.abspath(sys.argv[1])
    fuselib.require_fuse()
    if os.geteuid() != 0 or shutil.which('setpriv') is None:
        fuselib.skip('needs root and setpriv(1) to act as another user (uid %d)' % NOBODY)
    failed = []
    with fuselib.Scratch(defuse) as s:
        os.chmod(s.dir, 0o755)
        native = s.mkdir('native')
        prepare(native)
        want = run_as_nobody(native) + result(native)
        print('native:\n  ' + '\n  '.join(want))
        for label, spec in (('kernel-backed', ''), ('emulated', 'emulated=')):
            mnt, back = s.mkdir('mnt-' + label), s.mkdir('back-' + label)
            prepare(back)
            s.mount(mnt, 'passthrough:' + spec + back, 'allow_other')
            try:
                got = run_as_nobody(mnt)
            finally:
                s.umount(mnt)
            got += result(back)
            if got != want:
                failed.append(label)
                print('%s: differs:' % label)
                for w, g in zip(want, got):
                    print('  %s %s | %s' % ('  ' if w == g else '!=', w, g))
            else:
                print('%s: ok' % label)
    print('kill_suid: %s' % ('FAILED: ' + ', '.join(failed) if failed else 'ok'))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
