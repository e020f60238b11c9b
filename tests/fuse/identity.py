#!/usr/bin/env python3
"""With allow_other, a root bridge serves each user as that user: what
another user creates is theirs, and what they may not read stays unread,
as if the module ran in their own process.

    identity.py DEFUSE
"""
import os
import shutil
import subprocess
import sys

import fuselib

NOBODY = 65534


def main():
    defuse = os.path.abspath(sys.argv[1])
    fuselib.require_fuse()
    if os.geteuid() != 0 or shutil.which('setpriv') is None:
        fuselib.skip('needs root and setpriv(1) to act as another user')
    bad = []
    with fuselib.Scratch(defuse) as s:
        os.chmod(s.dir, 0o755)
        mnt, back = s.mkdir('mnt'), s.mkdir('back')
        os.chmod(back, 0o777)
        with open(os.path.join(back, 'secret'), 'w') as f:
            f.write('root only\n')
        os.chmod(os.path.join(back, 'secret'), 0o600)
        s.mount(mnt, 'passthrough:' + back, 'allow_other')
        r = subprocess.run(
            ['setpriv', '--reuid=%d' % NOBODY, '--regid=%d' % NOBODY, '--clear-groups',
             'sh', '-c', 'echo mine > "$1/new" && mkdir "$1/dir"; cat "$1/secret"',
             'sh', mnt], capture_output=True, text=True)
        print(r.stdout + r.stderr, end='')
        for name in ('new', 'dir'):
            p = os.path.join(back, name)
            st = os.lstat(p) if os.path.lexists(p) else None
            if not st or (st.st_uid, st.st_gid) != (NOBODY, NOBODY):
                bad.append('%s owned by %s' % (name, st and (st.st_uid, st.st_gid)))
        if r.returncode == 0 or 'Permission denied' not in r.stderr or 'root only' in r.stdout:
            bad.append('the other user read a 0600 root file')
        s.umount(mnt)
    print('identity: %s' % ('FAILED: ' + '; '.join(bad) if bad else 'ok'))
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
