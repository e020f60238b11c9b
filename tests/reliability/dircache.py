#!/usr/bin/env python3
"""Lookups stay exact while the backing directory changes behind them:

    dircache.py dircache DIR

(HOSTILE_BACKING names DIR's backing directory, DIR itself natively.)

The passthrough module keeps descriptors of directories a process looks
into often (modules/passthrough/dircache.c).  Each step here looks a path
up many times, so that its directories are kept, then changes the tree
through the backing directory (behind DEFUSE's back, as another program
would), then looks again: renames of a kept directory and of one above it,
a kept directory removed and made again, replaced by a rename over it,
exchanged with another, replaced by a symbolic link, its permissions taken
away from an unprivileged process, and the same after a fork and in
threads.  Also more directories than the cache keeps.  run.py compares the
output natively and through DEFUSE.
"""
import ctypes
import os
import sys
import threading

libc = ctypes.CDLL(None, use_errno=True)
HOT = 24  # lookups of a path before a change: well past the cache's start


def look(path):
    try:
        st = os.stat(path)
        return "dir" if os.path.isdir(path) else "size=%d" % st.st_size
    except OSError as e:
        return os.strerror(e.errno)


def laccess(path):
    return "ok" if os.access(path, os.R_OK) else "refused"


def hot(*paths):
    for _ in range(HOT):
        for p in paths:
            os.stat(p) if os.path.exists(p) else None
            os.access(p, os.R_OK)


def put(path, data=b"x"):
    with open(path, "wb") as f:
        f.write(data)


def outcome(call, path):
    try:
        call(path)
        return "done"
    except OSError as e:
        return os.strerror(e.errno)


def say(step, *paths):
    print(step + ": " + ", ".join("%s %s %s" % (p, look(p), laccess(p)) for p in paths))


def main():
    d, b = sys.argv[2], os.environ["HOSTILE_BACKING"]
    os.chdir(d)
    B = lambda p: os.path.join(b, p)  # noqa: E731 (behind DEFUSE's back)

    os.makedirs("a/s")
    put("a/s/f", b"abc")
    hot("a/s/f", "a/s", "a")
    os.rename(B("a"), B("b"))
    say("a directory above renamed", "a/s/f", "b/s/f")

    hot("b/s/f")
    os.rename(B("b/s"), B("b/t"))
    say("the directory itself renamed", "b/s/f", "b/t/f")

    # Calls on names (through the kept parent too) after a rename.
    os.makedirs("n/o")
    put("n/o/f", b"nof")
    hot("n/o/f", "n/o")
    for call in (lambda p: os.chmod(p + "/f", 0o600), lambda p: os.mkdir(p + "/sub"),
                 lambda p: os.rename(p + "/f", p + "/g"), lambda p: os.rename(p + "/g", p + "/f"),
                 lambda p: os.symlink("f", p + "/l"), lambda p: os.unlink(p + "/l"),
                 lambda p: os.rmdir(p + "/sub")):
        hot("n/o/f")
        os.rename(B("n/o"), B("n/p"))
        old = outcome(call, "n/o")
        os.rename(B("n/p"), B("n/o"))
        new = outcome(call, "n/o")
        print("a call on a name: after the rename %s, once back %s" % (old, new))
    say("names done", "n/o/f", "n/o/g", "n/o/sub", "n/p")

    hot("b/t/f")
    os.unlink(B("b/t/f"))
    os.rmdir(B("b/t"))
    os.mkdir(B("b/t"))
    put(B("b/t/g"), b"gg")
    say("removed and made again", "b/t/f", "b/t/g")

    hot("b/t/g")
    os.mkdir(B("x"))
    put(B("x/h"), b"hhhh")
    os.unlink(B("b/t/g"))
    os.rename(B("x"), B("b/t"))
    say("replaced by a rename over it", "b/t/g", "b/t/h")

    os.makedirs("p/in")
    os.makedirs("q/in")
    put("p/in/pf", b"p")
    put("q/in/qf", b"qq")
    hot("p/in/pf", "q/in/qf")
    r = libc.renameat2(-100, B("p").encode(), -100, B("q").encode(), 2)  # RENAME_EXCHANGE
    if r == 0:
        say("exchanged", "p/in/pf", "p/in/qf", "q/in/pf")
    else:
        print("exchanged: skipped, renameat2: %s" % os.strerror(ctypes.get_errno()))

    os.makedirs("c/d")
    put("c/d/f", b"cdf")
    hot("c/d/f")
    os.rename(B("c"), B("c2"))
    os.symlink("c2", B("c"))
    say("replaced by a symbolic link", "c/d/f")
    hot("c/d/f")
    os.unlink(B("c"))
    os.symlink("/nonexistent-dir", B("c"))
    say("the link changed", "c/d/f")

    # A fork child's lookups after its parent's change.
    os.makedirs("e/f")
    put("e/f/g", b"e")
    hot("e/f/g")
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(wfd)
        os.read(rfd, 1)
        ok = look("e/f/g") != "size=1" and look("e2/f/g") == "size=1"
        os._exit(0 if ok else 1)
    os.close(rfd)
    os.rename(B("e"), B("e2"))
    os.write(wfd, b"g")
    os.close(wfd)
    _, st = os.waitpid(pid, 0)
    print("a fork child sees its parent's rename:", "yes" if st == 0 else "no")

    # Threads looking up while the tree changes; afterwards all agree.
    os.makedirs("t/u")
    put("t/u/v", b"tt")
    stop = threading.Event()

    def looker():
        while not stop.is_set():
            look("t/u/v")
            look("t2/u/v")
    threads = [threading.Thread(target=looker) for _ in range(4)]
    for t in threads:
        t.start()
    for i in range(50):
        os.rename(B("t"), B("t2"))
        os.rename(B("t2"), B("t"))
    os.rename(B("t"), B("t2"))
    stop.set()
    for t in threads:
        t.join()
    say("threads, after 101 renames", "t/u/v", "t2/u/v")

    # More directories than the cache keeps, each looked up twice.
    for i in range(300):
        os.makedirs("many/%03d/in" % i)
        put("many/%03d/in/f" % i)
    for _ in range(2):
        for i in range(300):
            look("many/%03d/in/f" % i)
    for i in range(0, 300, 7):
        os.rename(B("many/%03d" % i), B("many/%03d-moved" % i))
    gone = sum(look("many/%03d/in/f" % i) != "size=1" for i in range(0, 300, 7))
    there = sum(look("many/%03d-moved/in/f" % i) == "size=1" for i in range(0, 300, 7))
    kept = sum(look("many/%03d/in/f" % i) == "size=1" for i in range(300) if i % 7)
    print("300 directories, 43 renamed: %d gone, %d found moved, %d unmoved found"
          % (gone, there, kept))

    # Search permission taken away from a directory above a kept one: an
    # unprivileged process is refused at once (root bypasses the check,
    # so it runs as nobody when this is root).
    os.makedirs("perm/q")
    put("perm/q/f", b"pf")
    os.chmod(os.path.dirname(d), 0o755)     # the scratch directory: reachable
    rfd, wfd = os.pipe()
    rfd2, wfd2 = os.pipe()
    pid = os.fork()
    if pid == 0:
        if os.geteuid() == 0:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
        hot("perm/q/f")
        before = look("perm/q/f")
        os.write(wfd, b"r")
        os.read(rfd2, 1)
        after = look("perm/q/f")
        os.write(wfd, ("%s|%s" % (before, after)).encode())
        os._exit(0)
    os.read(rfd, 1)
    os.chmod(B("perm"), 0o700 if os.geteuid() == 0 else 0)
    os.write(wfd2, b"g")
    os.waitpid(pid, 0)
    before, after = os.read(rfd, 200).decode().split("|")
    os.chmod(B("perm"), 0o755)
    print("unprivileged, before chmod: %s; after: %s" % (before, after))


if __name__ == "__main__":
    main()
