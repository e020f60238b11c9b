"""What the differential runners share (tests/lifecycle/run.py,
tests/reliability/run.py): how a run's resulting tree is compared, and the
sanitizer settings of runs in an ASan/UBSan build."""
import hashlib
import os

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
