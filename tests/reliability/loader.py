#!/usr/bin/env python3
"""The dynamic loader and a mount (issue 14, item 2):

    loader.py CASE DIR

builds a small shared library (a name no system has) and programs linked
with it into DIR with the C compiler, then runs them from DIR as a build's
own tests do.  run.py compares the output natively and through DEFUSE; a
program that cannot find its library fails loudly, one that found another
would print something else.

  libpath      LD_LIBRARY_PATH=. and =DIR, the value the program sees, and
               the library rebuilt, then removed
  origin       RUNPATH and RPATH $ORIGIN (the library beside the program),
               and the LD_LIBRARY_PATH the program sees (an emulated one
               is given its $ORIGIN list there: docs/core.md)
  ldso         the loader run as a program on a file in DIR (ld.so ./prog,
               --list, --verify, --argv0, ldd) and the name the program is
               shown; no library of its own, so memfs too
  ldd-libpath  ldd and ld.so --list/--library-path finding the library
               beside the program by LD_LIBRARY_PATH and --library-path
  ldd-origin   ldd of a program with RPATH $ORIGIN
  abs-path     RUNPATH and RPATH naming DIR by its absolute path, as CMake
               links a build tree's programs

ldd prints where each library was found: a library in DIR shows as
"(DIR)" (through DEFUSE the loader names it by its kernel path, the backing
directory or, on memfs, the stand-in of copies: docs/core.md), load
addresses are left out.
"""
import os
import re
import subprocess
import sys

LIB = 'const char *defuse_test_who(void) { return "the library beside it"; }\n'
MAIN = ('#include <stdio.h>\nconst char *defuse_test_who(void);\n'
        'int main(void) { puts(defuse_test_who()); return 0; }\n')


def sh(cmd, env=None):
    p = subprocess.run(cmd, shell=True, env={**os.environ, **(env or {})},
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    first = p.stdout.strip().splitlines()[0] if p.stdout.strip() else ''
    if 'error while loading' in first:
        first = 'error while loading shared libraries'
    return f"{p.returncode} {first}"


# The origin cases' program also says what LD_LIBRARY_PATH it sees.
MAINO = ('#include <stdio.h>\n#include <stdlib.h>\nconst char *defuse_test_who(void);\n'
         'int main(void) {\n  const char *l = getenv("LD_LIBRARY_PATH");\n'
         '  printf("%s (LD_LIBRARY_PATH %s)\\n", defuse_test_who(), l ? l : "unset");\n'
         '  return 0;\n}\n')
A0 = ('#include <stdio.h>\n#include <fcntl.h>\n'
      'int main(int argc, char **argv) {\n'
      '  int fd = open("/dev/null", O_RDONLY);\n'
      '  printf("argv0=%s first free descriptor=%d\\n", argv[0], fd);\n'
      '  return 0;\n}\n')
LDSO = '/lib64/ld-linux-x86-64.so.2'


def listing(cmd, env=None):
    """Exit status and every line of a listing of the loader's objects,
    with the load addresses left out and a library outside the system's
    directories shown as (DIR)."""
    p = subprocess.run(cmd, shell=True, env={**os.environ, **(env or {})},
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = []
    for line in p.stdout.splitlines():
        line = re.sub(r'\s*\(0x[0-9a-f]+\)', '', line.strip())
        m = re.match(r'(\S+) => (\S*/\S*)$', line)
        if m and not m.group(2).startswith(('/lib', '/usr/lib')):
            line = f"{m.group(1)} => (DIR)/{os.path.basename(m.group(2))}"
        out.append(line)
    return f"{p.returncode} " + " | ".join(out)


def main():
    case, d = sys.argv[1], sys.argv[2]
    os.chdir(d)
    with open('who.c', 'w') as f:
        f.write(LIB)
    with open('main.c', 'w') as f:
        f.write(MAIN)
    print('build lib:', sh('cc -shared -fPIC -o libdefusewho.so who.c'))
    if case == 'libpath':
        print('build:', sh('cc -o prog main.c -L. -ldefusewho'))
        print('LD_LIBRARY_PATH=.:', sh('./prog', {'LD_LIBRARY_PATH': '.'}))
        print('LD_LIBRARY_PATH=DIR:', sh('./prog', {'LD_LIBRARY_PATH': d}))
        print('LD_LIBRARY_PATH=/nowhere:.:', sh('./prog', {'LD_LIBRARY_PATH': '/nowhere:.'}))
        print('without:', sh('./prog', {'LD_LIBRARY_PATH': ''}))
        print('the program sees:', sh('echo "$LD_LIBRARY_PATH"', {'LD_LIBRARY_PATH': '.:/x'}))
        # The library changed, then gone (a stand-in's copies follow it)
        with open('who.c', 'w') as f:
            f.write(LIB.replace('beside it', 'built again'))
        print('build lib again:', sh('cc -shared -fPIC -o libdefusewho.so who.c'))
        print('LD_LIBRARY_PATH=. after a rebuild:', sh('./prog', {'LD_LIBRARY_PATH': '.'}))
        os.unlink('libdefusewho.so')
        print('LD_LIBRARY_PATH=. after its removal:', sh('./prog', {'LD_LIBRARY_PATH': '.'}))
    elif case == 'ldso':
        with open('a0.c', 'w') as f:
            f.write(A0)
        print('build:', sh('cc -o a0 a0.c'))
        print('ld.so ./a0 x:', sh(f'{LDSO} ./a0 x'))
        print('ld.so DIR/a0:', sh(f'{LDSO} {os.path.join(d, "a0")}').replace(d, 'DIR'))
        print('ld.so --argv0 NAME ./a0:', sh(f'{LDSO} --argv0 NAME ./a0'))
        print('ld.so --inhibit-cache ./a0:', sh(f'{LDSO} --inhibit-cache ./a0'))
        os.mkdir('sub')
        print('ld.so ../a0 from a subdirectory:', sh(f'cd sub && {LDSO} ../a0'))
        os.rmdir('sub')
        print('ld.so --verify ./a0:', sh(f'{LDSO} --verify ./a0; echo $?'))
        print('ld.so --verify a0.c:', sh(f'{LDSO} --verify ./a0.c; echo $?'))
        print('ld.so --list ./a0:', listing(f'{LDSO} --list ./a0'))
        print('ldd ./a0:', listing('ldd ./a0'))
        print('ldd a0.c:', listing('ldd ./a0.c'))
        print('ldd ./nowhere:', listing('ldd ./nowhere'))
        print('LD_TRACE_LOADED_OBJECTS=1 ./a0:',
              listing('./a0', {'LD_TRACE_LOADED_OBJECTS': '1'}))
    elif case == 'ldd-libpath':
        print('build:', sh('cc -o prog main.c -L. -ldefusewho'))
        print('ldd ./prog:', listing('ldd ./prog'))
        print('LD_LIBRARY_PATH=. ldd ./prog:', listing('ldd ./prog', {'LD_LIBRARY_PATH': '.'}))
        print('LD_LIBRARY_PATH=DIR ldd ./prog:', listing('ldd ./prog', {'LD_LIBRARY_PATH': d}))
        print('ld.so --library-path . ./prog:', sh(f'{LDSO} --library-path . ./prog'))
        print('ld.so --library-path /nowhere:DIR ./prog:',
              sh(f'{LDSO} --library-path /nowhere:{d} ./prog'))
        print('ld.so --library-path . --list ./prog:',
              listing(f'{LDSO} --library-path . --list ./prog'))
        print('ld.so ./prog:', sh(f'{LDSO} ./prog'))
    elif case == 'abs-path':
        # CMake links a build tree's programs with the build directory's
        # absolute path as RUNPATH; older linkers' RPATH
        with open('main.c', 'w') as f:
            f.write(MAINO)
        print('build runpath DIR:', sh(f"cc -o prog main.c -L. -ldefusewho -Wl,-rpath,{d}"))
        print('./prog:', sh('./prog'))
        print('LD_LIBRARY_PATH=/nowhere ./prog:', sh('./prog', {'LD_LIBRARY_PATH': '/nowhere'}))
        print('build rpath /nowhere:DIR:', sh("cc -o prog2 main.c -L. -ldefusewho "
                                               f"-Wl,--disable-new-dtags,-rpath,/nowhere:{d}"))
        print('./prog2:', sh('./prog2'))
        print('ldd ./prog:', listing('ldd ./prog'))
        print('ld.so ./prog:', sh(f'{LDSO} ./prog'))
    elif case == 'ldd-origin':
        with open('main.c', 'w') as f:
            f.write(MAINO)
        print('build:', sh("cc -o prog main.c -L. -ldefusewho -Wl,-rpath,'$ORIGIN'"))
        print('ldd ./prog:', listing('ldd ./prog'))
        print('ld.so ./prog:', sh(f'{LDSO} ./prog'))
        print('ld.so --list DIR/prog:', listing(f'{LDSO} --list {os.path.join(d, "prog")}'))
    else:
        with open('main.c', 'w') as f:
            f.write(MAINO)
        print('build:', sh("cc -o prog main.c -L. -ldefusewho -Wl,-rpath,'$ORIGIN'"))
        print('./prog:', sh('./prog'))
        print('DIR/prog:', sh(os.path.join(d, 'prog')))
        os.mkdir('sub')
        print('from a subdirectory:', sh('cd sub && ../prog'))
        print('LD_LIBRARY_PATH=/nowhere ./prog:', sh('./prog', {'LD_LIBRARY_PATH': '/nowhere'}))
        print('LD_LIBRARY_PATH= ./prog:', sh('./prog', {'LD_LIBRARY_PATH': ''}))
        # DT_RPATH (searched before LD_LIBRARY_PATH), and ${ORIGIN}/sub
        print('build rpath:', sh("cc -o prog2 main.c -L. -ldefusewho "
                                 "-Wl,--disable-new-dtags,-rpath,'/nowhere:${ORIGIN}'"))
        print('./prog2:', sh('./prog2'))
        print('LD_LIBRARY_PATH=/nowhere ./prog2:', sh('./prog2', {'LD_LIBRARY_PATH': '/nowhere'}))
        print('build runpath sub:', sh("cc -o sub/prog3 main.c -L. -ldefusewho "
                                       "-Wl,-rpath,'$ORIGIN/..'"))
        print('sub/prog3:', sh('sub/prog3'))
        os.unlink('sub/prog3')
        os.rmdir('sub')
    for f in os.listdir('.'):
        os.unlink(f)
    return 0


if __name__ == '__main__':
    sys.exit(main())
