#!/usr/bin/env python3
"""Path calls see mounts below the backing directory come and go:

    view.py view DIR

(HOSTILE_BACKING names DIR's backing directory, DIR itself natively.)

The passthrough module looks whole paths up in its view, a private copy of
the backing directory's mount (modules/passthrough/view.c), which has none
of the mounts below it.  Each step here looks paths up many times, then
mounts or unmounts below the backing directory (behind DEFUSE's back, as
an administrator would), then looks and changes again: a tmpfs over a
directory, a file bound over a file, a read-only bind mount, a mount made
by a forked child while its parent looks, and mounts made and removed while
threads look.  run.py compares the output natively and through DEFUSE.

Mounting needs CAP_SYS_ADMIN, and a mount namespace of the test's own that
`defuse run` starts in, as the native run does (run.py --own-mounts: a
namespace entered later leaves the module's descriptor of the backing
directory in the first one, whose mounts are other objects).  Without the
privilege the program exits 77, saying why.
"""
import ctypes
import os
import subprocess
import sys
import threading

from dircache import look, put  # the same looks and writes

libc = ctypes.CDLL(None, use_errno=True)
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                       ctypes.c_ulong, ctypes.c_void_p]
MS_RDONLY, MS_REMOUNT, MS_BIND = 1, 32, 4096
MNT_DETACH = 2  # looking threads may hold the mount for an instant
HOT = 80  # lookups of a path before a change: past the view's start


def mount(src, target, fstype, flags):
    if libc.mount(src and src.encode(), target.encode(), fstype and fstype.encode(),
                  flags, None):
        e = ctypes.get_errno()
        raise OSError(e, "mount %s: %s" % (target, os.strerror(e)))


def umount(target, flags=0):
    if libc.umount2(target.encode(), flags):
        e = ctypes.get_errno()
        raise OSError(e, "umount %s: %s" % (target, os.strerror(e)))


def hot(*paths):
    for _ in range(HOT):
        for p in paths:
            look(p)
            os.access(p, os.R_OK)


def outcome(call, *args):
    try:
        call(*args)
        return "done"
    except OSError as e:
        return os.strerror(e.errno)


def say(step, *paths):
    print(step + ": " + ", ".join("%s %s" % (p, look(p)) for p in paths))


def changes(step):
    """Calls on names and attributes under a/, each undone after."""
    got = [outcome(os.mkdir, "a/new"), outcome(os.rmdir, "a/new"),
           outcome(os.chmod, "a/x", 0o640), outcome(os.utime, "a/x", (1, 2)),
           outcome(os.symlink, "x", "a/l"), outcome(os.unlink, "a/l"),
           outcome(os.rename, "a/y", "a/y2"), outcome(os.rename, "a/y2", "a/y")]
    print(step + ": " + " ".join(got))


def main():
    if os.geteuid() != 0:
        print("view: skipped: mounting needs root", file=sys.stderr)
        return 77
    d, b = sys.argv[2], os.environ["HOSTILE_BACKING"]
    os.chdir(d)
    B = lambda p: os.path.join(b, p)  # noqa: E731 (behind DEFUSE's back)

    os.makedirs("a/s")
    put("a/s/f", b"abc")
    put("a/x", b"x")
    put("a/y", b"yy")
    hot("a/s/f", "a/s", "a/x")
    mount("tmpfs", B("a/s"), "tmpfs", 0)
    put(B("a/s/g"), b"gg")
    say("a tmpfs mounted over a directory", "a/s/f", "a/s/g")
    # A new process, whose first lookups come with the mount already there.
    sys.stdout.flush()
    subprocess.run(["sh", "-c", 'for f in a/s/f a/s/g; do stat -c "$f %s" $f; done 2>&1'])
    print("in it: " + " ".join([outcome(os.mkdir, "a/s/n"), outcome(os.rename, "a/s/n", "a/s/m"),
                                outcome(os.rename, "a/s/m", "a/m"), outcome(os.rmdir, "a/s/m")]))
    hot("a/s/g")
    umount(B("a/s"))
    say("unmounted", "a/s/f", "a/s/g", "a/s/m")

    hot("a/x")
    mount(B("a/y"), B("a/x"), None, MS_BIND)
    say("a file bound over another", "a/x")
    umount(B("a/x"))
    say("unbound", "a/x")

    hot("a/x", "a/y")
    mount(B("a"), B("a"), None, MS_BIND)
    mount(None, B("a"), None, MS_REMOUNT | MS_BIND | MS_RDONLY)
    changes("a/ read-only")
    umount(B("a"))
    changes("a/ writable again")

    # A mount made by a forked child while its parent looks.
    hot("a/s/f")
    r1, w1 = os.pipe()
    r2, w2 = os.pipe()
    pid = os.fork()
    if pid == 0:
        hot("a/s/f")
        mount("tmpfs", B("a/s"), "tmpfs", 0)
        put(B("a/s/c"), b"child")
        mine = look("a/s/c")
        os.write(w1, b"m")
        os.read(r2, 1)
        umount(B("a/s"))
        os._exit(0 if mine == "size=5" else 1)
    os.read(r1, 1)
    say("a forked child's mount", "a/s/c", "a/s/f")
    os.write(w2, b"u")
    _, st = os.waitpid(pid, 0)
    print("the child saw its own mount:", "yes" if st == 0 else "no")
    say("the child's mount gone", "a/s/c", "a/s/f")

    # Threads looking up while mounts come and go; afterwards all agree.
    stop = threading.Event()

    def looker():
        while not stop.is_set():
            look("a/s/f")
            look("a/s/t")
    threads = [threading.Thread(target=looker, daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for i in range(40):
            mount("tmpfs", B("a/s"), "tmpfs", 0)
            put(B("a/s/t"), b"t")
            umount(B("a/s"), MNT_DETACH)
        mount("tmpfs", B("a/s"), "tmpfs", 0)
        put(B("a/s/t"), b"tt")
    finally:
        stop.set()
        for t in threads:
            t.join()
    say("threads, after 41 mounts", "a/s/f", "a/s/t")
    umount(B("a/s"))
    say("the last unmounted", "a/s/f", "a/s/t")
    return 0


if __name__ == "__main__":
    sys.exit(main())
