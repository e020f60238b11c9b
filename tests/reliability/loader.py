#!/usr/bin/env python3
"""The dynamic loader and a mount (issue 14, item 2):

    loader.py CASE DIR

builds a small shared library (a name no system has) and programs linked
with it into DIR with the C compiler, then runs them from DIR as a build's
own tests do.  run.py compares the output natively and through DEFUSE; a
program that cannot find its library fails loudly, one that found another
would print something else.

  libpath  LD_LIBRARY_PATH=. and =DIR, and the value the program sees
  origin   RPATH $ORIGIN (the library beside the program)
"""
import os
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
    else:
        print('build:', sh("cc -o prog main.c -L. -ldefusewho -Wl,-rpath,'$ORIGIN'"))
        print('./prog:', sh('./prog'))
        print('DIR/prog:', sh(os.path.join(d, 'prog')))
        os.mkdir('sub')
        print('from a subdirectory:', sh('cd sub && ../prog'))
        os.rmdir('sub')
    for f in os.listdir('.'):
        os.unlink(f)
    return 0


if __name__ == '__main__':
    sys.exit(main())
