#!/usr/bin/env python3
"""The defuse command's own behaviour (issue 14, item 8), one case per run:

  in-mount       a program inside a mount, by path (kernel-backed, emulated)
  path-search    a program found through a PATH entry inside a mount
  via-kernel-link a program reached through a kernel symbolic link into a
                 mount: by path, relative, through PATH, from the command
                 and from a captured shell
  relative       relative mount point, module path and passthrough DIR,
                 used after the program changed directory
  conflicts      the same mount point twice, one inside another, /
  help           `defuse run --help` says what modules and ARGS are
  unknown-module the message lists only places that exist; what it finds,
                 the library loads
  trace-in-mount `defuse trace` of a program inside a DEFUSE_MOUNTS mount
  man-pages      groff finds nothing to warn about in docs/man/*
  man-ops        every operation of module.h is in defuse-module(7)
  man-example    defuse-module(7)'s example module builds and works
  static-program a static program is refused while mounts exist (issue 14,
                 item 7), also by an exec inside the tree

Each case checks exit statuses, messages and output, never timings.  Exit
status 0: pass, 1: fail, 77: skipped (reason printed).  By hand:
  python3 tests/cli/run.py --defuse build/src/defuse --source . in-mount
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

SKIP = 77


class Failed(Exception):
    pass


class Case:
    def __init__(self, args, scratch):
        self.defuse = os.path.abspath(args.defuse)
        self.source = os.path.abspath(args.source)
        self.scratch = scratch
        self.static = os.path.abspath(args.static) if args.static else ''
        self.checks = 0

    def run(self, argv, cwd=None, env=None, input=None):
        full = dict(os.environ)
        full.update(env or {})
        for k in [k for k, v in full.items() if v is None]:
            del full[k]
        p = subprocess.run(argv, cwd=cwd or self.scratch, env=full, input=input,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=120)
        return p.returncode, p.stdout, p.stderr

    def expect(self, what, got, want):
        self.checks += 1
        if got != want:
            raise Failed(f"{what}: got {got!r}, expected {want!r}")

    def expect_in(self, what, needle, text):
        self.checks += 1
        if needle not in text:
            shown = text if len(text) < 2000 else text[:2000] + '...'
            raise Failed(f"{what}: {needle!r} not in {shown!r}")

    def defuse_run(self, mounts, prog, cwd=None, env=None):
        argv = [self.defuse, 'run']
        for m in mounts:
            argv += ['-m', m]
        return self.run(argv + ['--'] + prog, cwd=cwd, env=env)

    def tree(self):
        """mnt/ (an empty mount point) and src/ behind it: an ELF program, a
        #! script that exits 3, a file that is not executable."""
        mnt = os.path.join(self.scratch, 'mnt')
        src = os.path.join(self.scratch, 'src')
        os.makedirs(os.path.join(src, 'bin'))
        os.mkdir(mnt)
        shutil.copy2(shutil.which('echo') or '/bin/echo', os.path.join(src, 'bin', 'say'))
        with open(os.path.join(src, 'bin', 'script'), 'w') as f:
            f.write('#!/bin/sh\necho "script $0 $*"\nexit 3\n')
        os.chmod(os.path.join(src, 'bin', 'script'), 0o755)
        with open(os.path.join(src, 'bin', 'plain'), 'w') as f:
            f.write('not a program\n')
        with open(os.path.join(src, 'data'), 'w') as f:
            f.write('served\n')
        return mnt, src


def modes(mnt, src):
    return [('kernel-backed', f'{mnt}=passthrough:{src}'),
            ('emulated', f'{mnt}=passthrough:emulated={src}')]


def case_in_mount(c):
    mnt, src = c.tree()
    for mode, spec in modes(mnt, src):
        r = c.defuse_run([spec], [f'{mnt}/bin/say', 'hello', mode])
        c.expect(f'{mode}: ELF program by absolute path', r, (0, f'hello {mode}\n', ''))
        r = c.defuse_run([spec], ['mnt/bin/script', 'a', 'b'])
        c.expect(f'{mode}: #! script by relative path (its status)', r,
                 (3, 'script mnt/bin/script a b\n', ''))
        r = c.defuse_run([spec], ['./mnt/bin/../bin/say', 'dotdot'])
        c.expect(f'{mode}: path with ..', r, (0, 'dotdot\n', ''))
        r = c.defuse_run([spec], ['bin/say', 'from', 'inside'], cwd=mnt)
        c.expect(f'{mode}: working directory is the mount point', r, (0, 'from inside\n', ''))
        code, out, err = c.defuse_run([spec], [f'{mnt}/bin/missing'])
        c.expect(f'{mode}: missing program: status', code, 127)
        c.expect_in(f'{mode}: missing program: message', 'No such file or directory', err)
        c.expect_in(f'{mode}: missing program: named', f'{mnt}/bin/missing', err)
        code, out, err = c.defuse_run([spec], [f'{mnt}/bin/plain'])
        c.expect(f'{mode}: not executable: status', code, 126)
        c.expect_in(f'{mode}: not executable: message', 'Permission denied', err)
    # The file underneath the mount point is hidden, never run instead.
    os.mkdir(os.path.join(mnt, 'bin'))
    shutil.copy2(os.path.join(src, 'bin', 'script'), os.path.join(mnt, 'bin', 'say'))
    r = c.defuse_run([modes(mnt, src)[0][1]], [f'{mnt}/bin/say', 'mounted'])
    c.expect('the mount, not the directory under it', r, (0, 'mounted\n', ''))
    # Without mounts, nothing changes: programs run directly.
    r = c.defuse_run([], ['sh', '-c', 'echo plain; exit 5'])
    c.expect('no mounts', r, (5, 'plain\n', ''))


def case_path_search(c):
    mnt, src = c.tree()
    native = os.path.join(c.scratch, 'native')
    os.mkdir(native)
    with open(os.path.join(native, 'say'), 'w') as f:
        f.write('#!/bin/sh\necho native\n')
    os.chmod(os.path.join(native, 'say'), 0o755)
    for mode, spec in modes(mnt, src):
        path = f'{mnt}/bin:/usr/bin:/bin'
        r = c.defuse_run([spec], ['say', 'via', 'PATH'], env={'PATH': path})
        c.expect(f'{mode}: found through PATH', r, (0, 'via PATH\n', ''))
        r = c.defuse_run([spec], ['script'], env={'PATH': 'mnt/bin:/usr/bin:/bin'})
        c.expect(f'{mode}: relative PATH entry', r, (3, 'script mnt/bin/script \n', ''))
        r = c.defuse_run([spec], ['say', 'x'], env={'PATH': f'{native}:{path}'})
        c.expect(f'{mode}: PATH order, native first', r, (0, 'native\n', ''))
        r = c.defuse_run([spec], ['say', 'x'], env={'PATH': f'{path}:{native}'})
        c.expect(f'{mode}: PATH order, mount first', r, (0, 'x\n', ''))
        r = c.defuse_run([spec], ['sh', '-c', 'echo $0'],
                         env={'PATH': f'{mnt}/bin:/usr/bin:/bin'})
        c.expect(f'{mode}: a program outside, PATH through the mount', r, (0, 'sh\n', ''))
        code, out, err = c.defuse_run([spec], ['nothere'], env={'PATH': f'{mnt}/bin'})
        c.expect(f'{mode}: not found in PATH: status', code, 127)
        c.expect_in(f'{mode}: not found in PATH: message', 'nothere', err)


def case_via_kernel_link(c):
    """The paths name no mount: the kernel fails the exec under the empty
    mount point, and the core looks after it (docs/core.md, "Kernel
    symbolic links into a mount")."""
    mnt, src = c.tree()
    os.symlink(mnt, os.path.join(c.scratch, 'lnk'))
    os.symlink('mnt/bin', os.path.join(c.scratch, 'lbin'))
    for mode, spec in modes(mnt, src):
        lnk = os.path.join(c.scratch, 'lnk')
        r = c.defuse_run([spec], [f'{lnk}/bin/say', 'by', 'path', mode])
        c.expect(f'{mode}: from the command, absolute', r, (0, f'by path {mode}\n', ''))
        r = c.defuse_run([spec], ['lbin/script', 'a'])
        c.expect(f'{mode}: from the command, relative (its status)', r,
                 (3, 'script lbin/script a\n', ''))
        r = c.defuse_run([spec], ['say', 'via', 'PATH'], env={'PATH': f'{lnk}/bin:/usr/bin:/bin'})
        c.expect(f'{mode}: from the command, through PATH', r, (0, 'via PATH\n', ''))
        r = c.defuse_run([spec], ['sh', '-c', f'{lnk}/bin/say in sh; lbin/script b; '
                                  'PATH=lbin:/usr/bin:/bin; say again; echo "status $?"'])
        c.expect(f'{mode}: from a captured shell', r,
                 (0, 'in sh\nscript lbin/script b\nagain\nstatus 0\n', ''))
        code, out, err = c.defuse_run([spec], [f'{lnk}/bin/missing'])
        c.expect(f'{mode}: missing program: status', code, 127)
        c.expect_in(f'{mode}: missing program: message', 'No such file or directory', err)


def case_relative(c):
    mnt, src = c.tree()
    build_module = os.path.join(os.path.dirname(c.defuse), '..', 'modules', 'passthrough',
                                'passthrough.so')
    rel_module = os.path.relpath(build_module, c.scratch)
    # Every image sets the mounts up again: after `cd /` a relative path in
    # DEFUSE_MOUNTS would name something else.
    prog = ['sh', '-c', 'cd / && exec cat "$0/data"', mnt]
    for what, spec in [('relative mount point', f'mnt=passthrough:{src}'),
                       ('relative DIR', f'{mnt}=passthrough:src'),
                       ('relative emulated=DIR', f'{mnt}=passthrough:emulated=./src'),
                       ('all relative', 'mnt/=passthrough:emulated=src/'),
                       ('relative module path', f'mnt={rel_module}:src')]:
        r = c.defuse_run([spec], prog)
        c.expect(what, r, (0, 'served\n', ''))
    # The fuse module's file system by a relative path (modules/fuse).
    hello = os.path.join(os.path.dirname(c.defuse), '..', 'modules', 'fuse', 'examples',
                         'hello.so')
    if os.path.exists(hello):
        rel_hello = os.path.relpath(hello, c.scratch)
        r = c.defuse_run([f'{mnt}=fuse:{rel_hello}'], ['sh', '-c', 'cd / && exec cat "$0/hello"',
                                                       mnt])
        c.expect('relative FUSE file system path', r, (0, 'Hello World!\n', ''))
    else:
        print('(relative FUSE file system path not tried: no fuse module example built)')
    # A mount point through a symbolic link is the directory it leads to.
    os.symlink('mnt', os.path.join(c.scratch, 'link'))
    r = c.defuse_run(['link=passthrough:src'], ['cat', f'{mnt}/data'])
    c.expect('mount point through a symbolic link', r, (0, 'served\n', ''))
    code, out, err = c.defuse_run(['nope=passthrough:src'], ['true'])
    c.expect('missing mount point: status', code, 2)
    c.expect_in('missing mount point: message', 'mount point nope: No such file', err)
    code, out, err = c.defuse_run(['mnt=./nope.so'], ['true'])
    c.expect('missing module file: status', code, 2)
    c.expect_in('missing module file: message', 'module ./nope.so: No such file', err)


def case_conflicts(c):
    mnt, src = c.tree()
    inner = os.path.join(mnt, 'inner')
    os.mkdir(inner)
    kb = f'passthrough:{src}'
    for what, specs in [('twice', [f'{mnt}={kb}', f'{mnt}=hello']),
                        ('twice, spelled differently', [f'mnt={kb}', f'./mnt/={kb}'])]:
        code, out, err = c.defuse_run(specs, ['true'])
        c.expect(f'{what}: status', code, 2)
        c.expect_in(f'{what}: message', f'mount point {mnt} given twice', err)
        c.expect(f'{what}: nothing ran', out, '')
    for what, specs in [('inside, outer first', [f'{mnt}={kb}', f'{inner}=hello']),
                        ('inside, inner first', [f'{inner}=hello', f'{mnt}={kb}'])]:
        code, out, err = c.defuse_run(specs, ['echo', 'ran'])
        c.expect(f'{what}: status', code, 2)
        c.expect_in(f'{what}: message', f'mount point {inner}', err)
        c.expect_in(f'{what}: message', f'is inside mount point {mnt}', err)
        c.expect(f'{what}: nothing ran', out, '')
    code, out, err = c.defuse_run(['/=hello'], ['true'])
    c.expect('/ : status', code, 2)
    c.expect_in('/: message', 'cannot mount on /', err)
    # Side by side is fine.
    other = os.path.join(c.scratch, 'other')
    os.mkdir(other)
    r = c.defuse_run([f'{mnt}={kb}', f'{other}=hello'], ['cat', f'{mnt}/data', f'{other}/hello'])
    c.expect('two mounts side by side', r, (0, 'served\nHello, World!\n', ''))


def case_help(c):
    code, out, err = c.run([c.defuse, 'run', '--help'])
    c.expect('status', code, 0)
    for needle in ['-m MOUNTPOINT=MODULE[:ARGS]', 'passthrough:DIR',
                   'passthrough:emulated=DIR', 'hello', 'no ARGS',
                   'DEFUSE_MODULE_PATH', 'NAME.so', 'NAME/NAME.so', 'PROGRAM may be inside a mount',
                   'Exit status']:
        c.expect_in('run --help', needle, out)
    code, out, err = c.run([c.defuse, 'run'])
    c.expect('no program: status', code, 2)
    c.expect_in('no program: message', 'no program given', err)
    code, out, err = c.run([c.defuse, 'run', '-x', 'true'])
    c.expect('unknown option: status', code, 2)
    c.expect_in('unknown option: message', "unknown option '-x'", err)


LOOKED = re.compile(r'^  (/\S*) \(([^)]*)\): (.*)$')


def looked_in(err):
    return [m.groups() for m in map(LOOKED.match, err.splitlines()) if m]


def case_unknown_module(c):
    mnt, src = c.tree()
    mods = os.path.join(c.scratch, 'mods')
    os.makedirs(os.path.join(mods, 'nested'))
    missing = os.path.join(c.scratch, 'no-such-dir')
    env = {'DEFUSE_MODULE_PATH': None}
    code, out, err = c.defuse_run([f'{mnt}=nosuch:x'], ['echo', 'ran'], env=env)
    c.expect('status', code, 127)
    c.expect('nothing ran', out, '')
    c.expect_in('message', "unknown module 'nosuch'", err)
    places = looked_in(err)
    c.expect('some place listed', bool(places), True)
    for d, what, files in places:
        c.expect(f'{d} exists', os.path.isdir(d), True)
        c.expect(f'{d} is canonical', os.path.realpath(d), d)
    build_modules = os.path.realpath(os.path.join(os.path.dirname(c.defuse), '..', 'modules'))
    c.expect('the build tree is listed', (build_modules, 'build tree', 'nosuch/nosuch.so')
             in places, True)
    c.expect_in('modules found are named', 'passthrough', err)
    c.expect_in('modules found are named', 'hello', err)
    c.expect('no nonexistent directory', [p for p in places if 'src/modules' in p[0]], [])

    env = {'DEFUSE_MODULE_PATH': f'{missing}:{mods}'}
    code, out, err = c.defuse_run([f'{mnt}=nosuch'], ['true'], env=env)
    c.expect('with DEFUSE_MODULE_PATH: status', code, 127)
    places = looked_in(err)
    c.expect('DEFUSE_MODULE_PATH dir listed first', places[0],
             (os.path.realpath(mods), 'DEFUSE_MODULE_PATH', 'nosuch.so, nosuch/nosuch.so'))
    c.expect('a missing directory is not among the places',
             [p for p in places if p[0] == missing], [])
    c.expect_in('a missing directory is called so', f'names {missing}, which is not a directory',
                err)

    # What the CLI finds, the library loads: both forms of DEFUSE_MODULE_PATH.
    hello = os.path.join(build_modules, 'hello', 'hello.so')
    shutil.copy(hello, os.path.join(mods, 'flat.so'))
    shutil.copy(hello, os.path.join(mods, 'nested', 'nested.so'))
    for name in ['flat', 'nested']:
        r = c.defuse_run([f'{mnt}={name}'], ['cat', f'{mnt}/hello'], env=env)
        c.expect(f'module {name} found in DEFUSE_MODULE_PATH', r, (0, 'Hello, World!\n', ''))

    bridge = os.path.join(os.path.dirname(c.defuse), 'defuse-fuse')
    if os.access(bridge, os.X_OK):
        code, out, err = c.run([c.defuse, 'mount', mnt, 'nosuch:x', '-f'],
                               env={'DEFUSE_MODULE_PATH': None})
        c.expect('defuse mount: status', code, 1)
        c.expect_in('defuse mount: message', "defuse mount: unknown module 'nosuch'", err)
        for d, what, files in looked_in(err):
            c.expect(f'defuse mount: {d} exists', os.path.isdir(d), True)
    else:
        print('(defuse-fuse not built: defuse mount not checked)')


def case_trace_in_mount(c):
    mnt, src = c.tree()
    env = {'DEFUSE_MOUNTS': f'{mnt}=passthrough:emulated={src}'}
    code, out, err = c.run([c.defuse, 'trace', '-o', 'log', '--', f'{mnt}/bin/say', 'traced'],
                           env=env)
    c.expect('status and output', (code, out, err), (0, 'traced\n', ''))
    with open(os.path.join(c.scratch, 'log')) as f:
        log = f.read()
    c.expect_in('the exec is traced', f'execve("{mnt}/bin/say"', log)


def man_pages(c):
    d = os.path.join(c.source, 'docs', 'man')
    return [os.path.join(d, n) for n in sorted(os.listdir(d))]


def case_man_pages(c):
    groff = shutil.which('groff')
    if not groff:
        print('SKIP: groff is not installed (apt-get install groff-base)')
        return SKIP
    pages = man_pages(c)
    c.expect('pages', [os.path.basename(p) for p in pages], ['defuse-module.7', 'defuse.1'])
    for p in pages:
        for dev in ['utf8', 'ascii']:
            code, out, err = c.run([groff, '-man', '-ww', '-z', '-T' + dev, p])
            c.expect(f'{os.path.basename(p)} -T{dev}', (code, err), (0, ''))
        name, section = os.path.basename(p).rsplit('.', 1)
        code, out, err = c.run([groff, '-man', '-Tutf8', '-P-cbou', p])
        c.expect_in(f'{os.path.basename(p)} renders', f'{name.upper()}({section})', out)
        c.expect_in(f'{os.path.basename(p)} renders', '\nNAME\n', out)


def ops_of_header(source):
    with open(os.path.join(source, 'include', 'defuse', 'module.h')) as f:
        text = f.read()
    body = text[text.index('struct defuse_ops {'):]
    body = body[:body.index('\n};')]
    return re.findall(r'\(\*(\w+)\)\(', body)


def case_man_ops(c):
    ops = ops_of_header(c.source)
    c.expect('module.h has operations', len(ops) > 30, True)
    with open(os.path.join(c.source, 'docs', 'man', 'defuse-module.7')) as f:
        page = f.read()
    section = page[page.index('.SH OPERATIONS'):page.index('.SH STRUCTURES')]
    documented = re.findall(r'^\.BI "[^"]*?\b(\w+)\(void \*" priv', section, re.M)
    documented += re.findall(r'^\.BI "int (init)\(', section, re.M)
    c.expect('operations without a prototype in defuse-module(7)',
             sorted(set(ops) - set(documented)), [])
    c.expect('prototypes of operations module.h does not have',
             sorted(set(documented) - set(ops)), [])


def unroff(line):
    for a, b in [('\\(aq', "'"), ('\\(dq', '"'), ('\\-', '-'), ('\\&', ''), ('\\e', '\\')]:
        line = line.replace(a, b)
    return line


def case_man_example(c):
    cc = shutil.which('cc')
    if not cc:
        print('SKIP: no C compiler (cc)')
        return SKIP
    with open(os.path.join(c.source, 'docs', 'man', 'defuse-module.7')) as f:
        page = f.read()
    ex = page[page.index('.SH EXAMPLES'):]
    code = ex[ex.index('.EX\n') + 4:ex.index('.EE\n')]
    src = os.path.join(c.scratch, 'note.c')
    with open(src, 'w') as f:
        f.write('\n'.join(unroff(l) for l in code.split('\n')))
    r = c.run([cc, '-shared', '-fPIC', '-fvisibility=hidden', '-Wall', '-Wextra', '-Werror',
               '-I', os.path.join(c.source, 'include'), '-o', 'note.so', src])
    c.expect('the example builds without a warning', r, (0, '', ''))
    os.mkdir(os.path.join(c.scratch, 'n'))
    r = c.defuse_run(['n=./note.so:hello: there'],
                     ['sh', '-c', 'cat n/note; echo; ls n; touch n/x 2>/dev/null || echo ro'])
    c.expect('the example serves its ARGS', r, (0, 'hello: there\nnote\nro\n', ''))


def case_static_program(c):
    """A program libdefuse.so cannot be loaded into would see the mount
    points' empty directories: refused with one line while mounts exist,
    by the CLI and by libdefuse.so's exec, unless DEFUSE_ALLOW_UNCAPTURED."""
    if not c.static:
        print('static-program: skipped: no static test program (no static libc, '
              'or a sanitizer build)')
        return SKIP
    mnt, src = c.tree()
    why = 'a statically linked or 32-bit program cannot be served the mounts'
    for mode, spec in modes(mnt, src):
        code, out, err = c.defuse_run([spec], [c.static])
        c.expect(f'{mode}: the CLI refuses it: status', (code, out), (126, ''))
        c.expect_in(f'{mode}: the CLI refuses it: message', why, err)
        c.expect(f'{mode}: one line', err.count('\n'), 1)
        code, out, err = c.defuse_run([spec], ['sh', '-c', f'{c.static}; echo "rc=$?"'])
        c.expect(f'{mode}: an exec in the tree is refused: status', (code, out), (0, 'rc=126\n'))
        c.expect_in(f'{mode}: an exec in the tree is refused: message', why, err)
        r = c.defuse_run([spec], ['sh', '-c', c.static],
                         env={'DEFUSE_ALLOW_UNCAPTURED': '1'})
        c.expect(f'{mode}: DEFUSE_ALLOW_UNCAPTURED runs it', r, (0, 'static ran\n', ''))
    r = c.defuse_run([], [c.static])
    c.expect('without mounts it runs', r, (0, 'static ran\n', ''))


CASES = {
    'static-program': case_static_program,
    'in-mount': case_in_mount,
    'path-search': case_path_search,
    'via-kernel-link': case_via_kernel_link,
    'relative': case_relative,
    'conflicts': case_conflicts,
    'help': case_help,
    'unknown-module': case_unknown_module,
    'trace-in-mount': case_trace_in_mount,
    'man-pages': case_man_pages,
    'man-ops': case_man_ops,
    'man-example': case_man_example,
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--defuse', required=True)
    ap.add_argument('--source', required=True, help='the source tree')
    ap.add_argument('--static', default='', help='a statically linked test program')
    ap.add_argument('case', choices=sorted(CASES))
    args = ap.parse_args()
    scratch = tempfile.mkdtemp(prefix='defuse-cli-')
    c = None
    try:
        c = Case(args, os.path.realpath(scratch))
        r = CASES[args.case](c)
        if r == SKIP:
            return SKIP
        print(f'{args.case}: {c.checks} checks passed')
        return 0
    except Failed as e:
        print(f'FAIL {args.case}: {e}')
        return 1
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
