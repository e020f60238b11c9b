#!/usr/bin/env python3
"""The layers of libdefuse.so point one way (docs/architecture.md).

    check.py --src SRC_DIR --build BUILD_SRC_DIR

Bottom up: common, kernel, module (the module adapter), trace, core,
capture.  A layer may use only the
layers below it, and capture may reach the core only through the core's
entry header (core/entry.h).  Checked two ways, so that neither a header
nor a stray symbol can sneak an arrow upwards:

  includes  every `#include "DIR/..."` in src/LAYER/ names a header of the
            same or a lower layer; capture includes nothing of the core's
            but core/entry.h;
  symbols   every symbol an object of a layer's static library
            (libdefuse_LAYER_{hot,cold}.a) leaves undefined is defined in
            the same or a lower layer, or outside libdefuse (libc); capture
            uses only core symbols that core/entry.h declares.

Exit status 0 when every arrow points down, 1 with each upward one listed.
"""
import argparse
import glob
import os
import re
import subprocess
import sys

LAYERS = ["common", "kernel", "module", "trace", "core", "capture"]
RANK = {name: i for i, name in enumerate(LAYERS)}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/([^"]+)"', re.M)


def entry_names(src):
    """Identifiers core/entry.h declares: the core's face to capture."""
    with open(os.path.join(src, "core", "entry.h")) as f:
        text = f.read()
    return set(re.findall(r"\b(core_[a-z_0-9]+)\b", text))


def check_includes(src, entry):
    bad = []
    for layer in LAYERS:
        for path in sorted(glob.glob(os.path.join(src, layer, "*.[chS]"))):
            with open(path) as f:
                for m in INCLUDE.finditer(f.read()):
                    target, header = m.group(1), m.group(2)
                    if target not in RANK:
                        continue        # generated headers (defuse_config.h)
                    rel = os.path.relpath(path, src)
                    if RANK[target] > RANK[layer]:
                        bad.append(f"{rel}: includes {target}/{header}, a layer above")
                    elif layer == "capture" and target == "core" and header != "entry.h":
                        bad.append(f"{rel}: includes core/{header}; capture sees only "
                                   f"core/entry.h")
    return bad


def symbols(archive):
    """(defined, undefined) symbol sets of every object in a static library."""
    out = subprocess.run(["nm", "--defined-only", "-g", archive], capture_output=True,
                         text=True, check=True).stdout
    defined = {l.split()[-1] for l in out.splitlines() if len(l.split()) == 3}
    out = subprocess.run(["nm", "--undefined-only", "-g", archive], capture_output=True,
                         text=True, check=True).stdout
    undefined = {l.split()[-1] for l in out.splitlines() if l.strip() and ":" not in l}
    return defined, undefined


def check_symbols(build, entry):
    owner, uses = {}, {}
    for layer in LAYERS:
        libs = glob.glob(os.path.join(build, f"libdefuse_{layer}_*.a"))
        if not libs:
            return [f"no static library of layer {layer} in {build}"]
        uses[layer] = set()
        for lib in libs:
            defined, undefined = symbols(lib)
            for s in defined:
                owner.setdefault(s, layer)
            uses[layer] |= undefined
    bad = []
    for layer in LAYERS:
        for s in sorted(uses[layer]):
            o = owner.get(s)
            if o is None or o == layer:
                continue        # libc, or the layer's own
            if RANK[o] > RANK[layer]:
                bad.append(f"layer {layer} uses {s}, defined in {o}, a layer above")
            elif layer == "capture" and o == "core" and s not in entry:
                bad.append(f"capture uses {s}, which core/entry.h does not offer")
    return bad


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--src", required=True, help="the source tree's src/")
    ap.add_argument("--build", required=True, help="the build tree's src/")
    args = ap.parse_args()
    entry = entry_names(args.src)
    bad = check_includes(args.src, entry) + check_symbols(args.build, entry)
    for b in bad:
        print(b)
    if not bad:
        print("every arrow points down: " + " < ".join(LAYERS))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
