#!/usr/bin/env python3
"""A static binary (which DEFUSE cannot capture) reads and writes files on
a `defuse mount` of the passthrough module correctly.

    static.py DEFUSE STATIC_RW
"""
import os
import stat
import subprocess
import sys

import fuselib


def is_static(path):
    """No PT_INTERP program header: the kernel runs it without ld.so."""
    with open(path, 'rb') as f:
        elf = f.read(64)
        phoff = int.from_bytes(elf[32:40], 'little')
        phentsize = int.from_bytes(elf[54:56], 'little')
        phnum = int.from_bytes(elf[56:58], 'little')
        f.seek(phoff)
        for _ in range(phnum):
            if int.from_bytes(f.read(phentsize)[:4], 'little') == 3:  # PT_INTERP
                return False
    return True


def main():
    defuse, prog = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    fuselib.require_fuse()
    if not is_static(prog):
        print('FAIL: %s is not statically linked' % prog)
        return 1
    with fuselib.Scratch(defuse) as s:
        mnt, back = s.mkdir('mnt'), s.mkdir('back')
        with open(os.path.join(back, 'in.txt'), 'w') as f:
            f.write('from backing\n')
        s.mount(mnt, 'passthrough:' + back)
        if os.stat(mnt).st_dev == os.stat(back).st_dev:
            print('FAIL: %s is not a separate mount' % mnt)
            return 1
        r = subprocess.run([prog, mnt], capture_output=True, text=True)
        sys.stdout.write(r.stdout + r.stderr)
        bad = r.returncode != 0
        # What it did, seen in the backing directory.
        names = sorted(os.listdir(back))
        if names != ['in.txt', 'out2.txt']:
            print('FAIL: backing directory holds %s' % names)
            bad = True
        else:
            data = open(os.path.join(back, 'out2.txt'), 'rb').read()
            mode = stat.S_IMODE(os.stat(os.path.join(back, 'out2.txt')).st_mode)
            if data != b'0123456789ABCDEF' or mode != 0o600:
                print('FAIL: backing out2.txt is %r mode %o' % (data, mode))
                bad = True
        s.umount(mnt)
        if fuselib.mounted(mnt):
            print('FAIL: still mounted after defuse umount')
            bad = True
    print('static: %s' % ('FAILED' if bad else 'ok'))
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
