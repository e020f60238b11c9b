"""What the differential runners share (tests/lifecycle/run.py,
tests/reliability/run.py, tests/copy/run.py, and the outputs compared by
tests/fusecompat/perms_test.py and tests/behavior/as_user.py): one run with
a hang guard, how a run's resulting tree is compared, two outputs shown
side by side, a memfs segment removed, and the sanitizer settings of runs
in an ASan/UBSan build."""
import difflib
import hashlib
import os
import signal
import subprocess
import sys

SANITIZED_ENV = {
    # libdefuse.so is preloaded before the runtime; leaks are not these
    # suites' business (the patch planner keeps its plan to the end).
    "ASAN_OPTIONS": "verify_asan_link_order=0:detect_leaks=0:abort_on_error=1",
    "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1",
}


def tree(root):
    """Everything comparable under root, as a sorted list of lines."""
    out = []
    for d, dirs, files in os.walk(root):
        dirs.sort()
        rel = os.path.relpath(d, root)
        for name in sorted(dirs + files):
            p = os.path.join(d, name)
            r = os.path.normpath(os.path.join(rel, name))
            if os.path.islink(p):
                out.append(f"{r} -> {os.readlink(p)}")
            elif os.path.isdir(p):
                out.append(f"{r}/")
            else:
                with open(p, "rb") as f:
                    data = f.read()
                shown = data if len(data) <= 64 else (
                    "sha256:" + hashlib.sha256(data).hexdigest()[:16])
                out.append(f"{r} {len(data)} {shown!r}")
    return out


def _in_maps(pid, addr):
    """addr as FILE+0xOFFSET from /proc/pid/maps, or hex if unmapped."""
    try:
        with open('/proc/%d/maps' % pid) as f:
            for line in f:
                parts = line.split()
                lo, hi = (int(x, 16) for x in parts[0].split('-'))
                if lo <= addr < hi:
                    name = os.path.basename(parts[5]) if len(parts) > 5 else '?'
                    return '%s+0x%x' % (name, addr - lo + int(parts[2], 16))
    except (OSError, ValueError, IndexError):
        pass
    return hex(addr)


def where(pgid):
    """What each thread of process group pgid waits in, for the report of
    a hang: its state, wchan, system call and the program counter it was
    made from (/proc; no debugger needed)."""
    lines = []
    for pid in sorted(int(p) for p in os.listdir('/proc') if p.isdigit()):
        try:
            if os.getpgid(pid) != pgid:
                continue
            for tid in sorted(os.listdir('/proc/%d/task' % pid), key=int):
                t = '/proc/%d/task/%s/' % (pid, tid)
                with open(t + 'stat') as f:
                    stat = f.read()
                comm = stat[stat.index('(') + 1:stat.rindex(')')]
                state = stat[stat.rindex(')') + 2]
                with open(t + 'wchan') as f:
                    wchan = f.read().strip()
                with open(t + 'syscall') as f:
                    call = f.read().split()
                pc = _in_maps(pid, int(call[-1], 16)) if len(call) > 2 else ''
                lines.append('%d/%s %s %s wchan=%s syscall=%s %s' %
                             (pid, tid, comm, state, wchan, ' '.join(call[:3]), pc))
        except (OSError, ValueError):
            continue
    return lines


def _exit_on_sigterm(signum, frame):
    sys.exit(128 + signum)


# meson's timeout ends a test with SIGTERM: ending by SystemExit instead
# runs the runners' finally blocks, which remove their scratch trees and
# kill the sessions they started (run_guarded).
signal.signal(signal.SIGTERM, _exit_on_sigterm)


def run_guarded(cmd, timeout, extra_env=None, preexec_fn=None):
    """(exit code, or None if it hung, stdout, stderr) of one run in a
    session of its own, which is killed whole afterwards, hung or not: a
    hang fails the case instead of stalling the suite, and nothing it
    started outlives it."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL, start_new_session=True,
                         preexec_fn=preexec_fn, env={**os.environ, **(extra_env or {})})
    hung = None
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # Either the program itself, or something it started that still
        # holds its output; both count as hung.
        hung = (f"hung: still running after {timeout} s, killed"
                if p.poll() is None else
                f"hung: exited {p.returncode}, but a process it started was "
                f"still running after {timeout} s, killed")
        hung += "; its threads:\n" + ("\n".join(where(p.pid)) or "none left")
    finally:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if hung:
        try:
            out, err = p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            # Held open by a process outside the group: give up on it.
            out, err = b"", b""
        err = err + f"\n{hung}\n".encode()
    return (None if hung else p.returncode,
            out.decode(errors="replace"), err.decode(errors="replace"))


def how(rc):
    """An exit code as people read it (None: the run hung)."""
    if rc is None:
        return "hung"
    return f"killed by signal {-rc}" if rc < 0 else f"exit {rc}"


def differences(mode, native, got, trees, point, limit=40):
    """What a mode's run did otherwise than the native one, as lines (none:
    the same).  native and got: (exit code, stdout); trees: (what, native
    tree, the mode's tree) for each tree compared, not for a hung run;
    point: the mount point, which must be left empty."""
    bad = []
    if got[0] != native[0]:
        bad.append(f"{how(got[0])}, native {how(native[0])}")
    if got[1] != native[1]:
        bad.append("output differs:\n" + "".join(difflib.unified_diff(
            native[1].splitlines(True), got[1].splitlines(True), "native", mode)))
    for what, want, have in (trees if got[0] is not None else ()):
        if want != have:
            d = list(difflib.unified_diff(want, have, "native", mode, lineterm=""))
            if len(d) > limit:
                d = d[:limit] + [f"... {len(d) - limit} more lines"]
            bad.append(f"{what} differs:\n" + "\n".join(d))
    if os.listdir(point):
        bad.append(f"mount point not empty: {os.listdir(point)}")
    return bad


def side_by_side(want, got, width=40):
    """Two outputs line by line, each line marked '!' where they differ."""
    wl, gl = want.splitlines(), got.splitlines()
    rows = []
    for k in range(max(len(wl), len(gl))):
        w = wl[k] if k < len(wl) else '(none)'
        g = gl[k] if k < len(gl) else '(none)'
        rows.append('  %s %-*s | %s' % (' ' if w == g else '!', width, w, g))
    return '\n'.join(rows)


def drop_memfs(name):
    """Removes memfs segment name (docs/memfs.md: /dev/shm/defuse-memfs.NAME),
    if there is one."""
    try:
        os.unlink('/dev/shm/defuse-memfs.' + name)
    except FileNotFoundError:
        pass
