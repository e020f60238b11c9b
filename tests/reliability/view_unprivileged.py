#!/usr/bin/env python3
"""An unprivileged process gets passthrough's view, made by the helper:

    view_unprivileged.py DEFUSE PASSTHROUGH.so [--sanitized]

As nobody, a program stats, lstats and accesses files two levels below a
passthrough mount's root 700 times (past VIEW_START_HELPER, view.c), then
renames, removes and makes directories there; its output must be what the
same program prints on the backing directory natively.  Under strace: the
process must have made a view (a clone with CLONE_NEWUSER whose child's
open_tree of the backing directory succeeded), so that a view that is never
made, or made only by root, fails this test although every answer is
right.  Needs root (to become nobody), setpriv and strace; exits 77 saying
why without them.
"""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from difftest import SANITIZED_ENV  # noqa: E402

PROG = r'''
import os, sys
top = sys.argv[1]
for i in range(700):
    st = os.stat(top + "/a/b/f")
    os.lstat(top + "/a/b/l")
    os.access(top + "/a/b/f", os.W_OK)
print("f", st.st_size, oct(st.st_mode & 0o7777))
print("l ->", os.readlink(top + "/a/b/l"), os.stat(top + "/a/b/l").st_size)
os.rename(top + "/a/b", top + "/a/c")
print("after rename:", os.path.exists(top + "/a/b/f"), os.stat(top + "/a/c/f").st_size)
os.mkdir(top + "/a/c/d")
os.rmdir(top + "/a/c/d")
try:
    os.stat(top + "/a/c/d")
except OSError as e:
    print("removed:", e.strerror)
os.rename(top + "/a/c", top + "/a/b")
print("back:", os.stat(top + "/a/b/f").st_size)
'''

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
TIMEOUT = 120  # far above a normal run (about a second)


def tree(top):
    os.makedirs(os.path.join(top, "a", "b"))
    with open(os.path.join(top, "a", "b", "f"), "w") as f:
        f.write("twelve bytes")
    os.symlink("f", os.path.join(top, "a", "b", "l"))
    for d, dirs, files in os.walk(top):
        os.chmod(d, 0o777)


def main():
    defuse, module = sys.argv[1], sys.argv[2]
    if os.geteuid() != 0:
        print("view_unprivileged: skipped: needs root to run as nobody")
        return 77
    for tool in ("setpriv", "strace"):
        if not shutil.which(tool):
            print("view_unprivileged: skipped: no %s" % tool)
            return 77
    # A python3 nobody may run (not one under root's home).
    python = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin")
    if not python:
        print("view_unprivileged: skipped: no python3 in /usr/local/bin, /usr/bin or /bin")
        return 77
    s = tempfile.mkdtemp(prefix="defuse-viewu-")
    try:
        os.chmod(s, 0o755)
        native, backing, point = (os.path.join(s, n) for n in ("n", "b", "m"))
        tree(native)
        tree(backing)
        os.mkdir(point)
        os.chmod(point, 0o777)
        prog = os.path.join(s, "prog.py")
        with open(prog, "w") as f:
            f.write(PROG)
        os.chmod(prog, 0o644)
        env = {k: v for k, v in os.environ.items() if not k.startswith("DEFUSE_PASSTHROUGH")}
        if "--sanitized" in sys.argv[3:]:
            env.update(SANITIZED_ENV)
        want = subprocess.run(NOBODY + [python, prog, native], capture_output=True,
                              text=True, timeout=TIMEOUT, env=env)
        if want.returncode:
            print("native run failed:\n" + want.stdout + want.stderr)
            return 1
        log = os.path.join(s, "strace.log")
        got = subprocess.run(["strace", "-f", "-qq", "-e", "trace=clone,open_tree", "-o", log] +
                             NOBODY + [defuse, "run", "-m", "%s=%s:%s" % (point, module, backing),
                                       "--", python, prog, point],
                             capture_output=True, text=True, timeout=TIMEOUT, env=env)
        ok = True
        if got.returncode or got.stdout != want.stdout:
            print("through DEFUSE (status %d):\n%s%s\nnatively:\n%s" %
                  (got.returncode, got.stdout, got.stderr, want.stdout))
            ok = False
        lines = open(log).read().splitlines()
        made = [ln for ln in lines if "open_tree(AT_FDCWD, \"%s\"" % backing in ln and "= -1" not in ln]
        helper = [ln for ln in lines if "CLONE_NEWUSER" in ln]
        if not helper or not made:
            print("no view was made by the helper: %d clone(CLONE_NEWUSER), %d open_tree of %s:\n%s"
                  % (len(helper), len(made), backing,
                     "\n".join(ln for ln in lines if "open_tree" in ln or "clone" in ln)))
            ok = False
        print(want.stdout + ("ok: the helper made a view (%s)" % made[0].split(" ", 1)[1]
                             if ok else "FAILED"))
        return 0 if ok else 1
    finally:
        shutil.rmtree(s, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
