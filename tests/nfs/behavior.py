#!/usr/bin/env python3
"""Real programs on the NFS module behave as on a native directory.

    behavior.py DEFUSE NFS.so [CASE...]       (under tests/nfs/server.sh run)

Each case is a shell script run twice: natively in a tmpfs directory, and
under `defuse run` in the NFS mount of a fresh directory of the export.
Both read the same inputs (a sample tree outside both), and must give the
same exit status, the same output (the two directories' paths made alike)
and the same tree (the native directory against the export directory as
the server has it; a case may leave out what holds times or inode
numbers, such as git's index).  Cases: tar, cp -r, git init/commit/gc/clone,
make of a small C project (and again after a change), sqlite3 in rollback
mode, python3.  A case whose program is missing is skipped, saying so.
"""
import os
import random
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nfstest  # noqa: E402
from nfstest import run, tree, diff  # noqa: E402

FIXED = 1609459200


def sample(root):
    """A small tree of the kinds of entries tools treat specially."""
    rnd = random.Random(7)
    for d in ('a/b/c', 'empty', 'sub dir', 'deep/1/2/3'):
        os.makedirs(os.path.join(root, d))
    files = {
        'README': b'the sample tree\n',
        'a/one.txt': b'one\n' * 100,
        'a/rand.bin': bytes(rnd.getrandbits(8) for _ in range(70000)),
        'a/b/big.bin': bytes(rnd.getrandbits(8) for _ in range(3 << 20)),
        'a/b/c/empty.txt': b'',
        'sub dir/with space.txt': b'spaces\n',
        'deep/1/2/3/leaf.txt': b'leaf\n',
        'run.sh': b'#!/bin/sh\necho run\n',
    }
    for n, data in files.items():
        with open(os.path.join(root, n), 'wb') as f:
            f.write(data)
    os.chmod(os.path.join(root, 'run.sh'), 0o755)
    os.chmod(os.path.join(root, 'a/one.txt'), 0o640)
    with open(os.path.join(root, 'a/sparse'), 'wb') as f:
        f.seek(2 << 20)
        f.write(b'end')
    os.link(os.path.join(root, 'a/one.txt'), os.path.join(root, 'a/hard.txt'))
    os.symlink('a/b', os.path.join(root, 'dirlink'))
    os.symlink('nowhere', os.path.join(root, 'dangling'))
    t = FIXED
    for d, dirs, fs in sorted(os.walk(root), reverse=True):
        for n in sorted(dirs + fs):
            t += 61
            os.utime(os.path.join(d, n), (t, t), follow_symlinks=False)
        os.utime(d, (t, t))


CASES = {}


def case(name, needs=(), exclude=()):
    def reg(script):
        CASES[name] = (script, needs, exclude)
        return script
    return reg


# nfs-ganesha's VFS backend does not set a symbolic link's times (it says
# it did: known-failures-nfs, utimensat-symlink): listings leave them out,
# and so the archives made of the extracted tree are not compared.
case('tar', needs=('tar',), exclude=('out.tar', 'out.tgz'))(r'''
set -e
tar cf - -C "$S" tree | tar xf -
tar --sort=name --numeric-owner -cf out.tar tree
tar --numeric-owner -tvf out.tar |
	awk '$1 ~ /^l/ { $4 = $5 = "" } { print $1, $3, $4, $5, $6, $7, $8, $9 }'
mkdir x && tar xf out.tar -C x && diff -r --no-dereference tree x/tree && echo same
tar czf out.tgz tree && tar tzf out.tgz | sort | md5sum
rm -r x
''')

# (a link's time is not compared: ganesha's VFS backend does not set it)
case('cp-r', needs=('cp', 'diff', 'du'))(r'''
set -e
cp -r "$S/tree" c1
cp -a "$S/tree" c2
cp -r c2 c3
diff -r --no-dereference "$S/tree" c1 && diff -r --no-dereference c1 c3 && echo same
du -s --apparent-size -B1 c1 c2
find c2 -newer c2/README | sort
stat -c '%n %s %h %a %Y' c2/a/one.txt c2/a/hard.txt c2/a/sparse
stat -c '%n %s %h %a' c2/dirlink
cp -rl c1 links && stat -c '%n %h' links/README c1/README
rm -r c3
''')

case('git', needs=('git',), exclude=('repo/.git', 'clone/.git'))(r'''
set -e
git init -q -b main repo
cd repo
cp -r "$S/tree/." .
git add -A
git commit -q -m one
echo change >> README
git mv a/one.txt a/uno.txt
git rm -q --cached dangling
git commit -q -am two
git log --format='%H %s'
git status --short
git fsck --no-progress 2>&1
git gc -q
git count-objects -v | grep -v size
git clone -q . ../clone
cd ../clone
git log --oneline | wc -l
git rev-parse HEAD
ls
''')

MAKEFILE = '''
CFLAGS = -O1
prog: main.o util.o
\t$(CC) -o $@ main.o util.o
%.o: %.c util.h
\t$(CC) $(CFLAGS) -c $<
clean:
\trm -f prog *.o
'''

case('make', needs=('make', 'cc'))(r'''
set -e
cat > util.h <<'EOF'
int twice(int);
EOF
cat > util.c <<'EOF'
#include "util.h"
int twice(int x) { return 2 * x; }
EOF
cat > main.c <<'EOF'
#include <stdio.h>
#include "util.h"
int main(void) { printf("%d\n", twice(21)); return 0; }
EOF
printf '%s' "$MAKEFILE" > Makefile
touch -d @1600000000 util.h util.c main.c Makefile
make
./prog
make
sed -i 's/2 \* x/3 * x/' util.c
touch -d @1700000000 util.c
make
./prog
make clean
make -j2
./prog
''')

SQL = '''
pragma journal_mode = delete;
create table t(id integer primary key, name text not null, v real);
with recursive c(i) as (select 1 union all select i + 1 from c where i < 20000)
insert into t select i, 'name' || (i % 97), i * 0.5 from c;
create index t_name on t(name);
select count(*), sum(v), count(distinct name) from t;
begin; delete from t where id % 3 = 0; update t set v = -v where id % 5 = 0; commit;
begin; insert into t(name, v) values ('rolled back', 1); rollback;
select count(*), sum(v) from t;
pragma integrity_check;
'''

case('sqlite3', needs=('sqlite3',))(r'''
set -e
printf '%s' "$SQL" | sqlite3 test.db
sqlite3 test.db 'select name, count(*) from t group by name order by 2 desc, 1 limit 3;'
sqlite3 test.db .dump | sha256sum
sqlite3 test.db 'vacuum; pragma integrity_check;'
ls
''')

PY = r'''
import glob, hashlib, json, os, pathlib, shutil, zipfile
src = os.environ['S'] + '/tree'
shutil.copytree(src, 'copy', symlinks=True)
for d, dirs, files in sorted(os.walk('copy')):
    print(d, sorted(dirs), sorted(files))
json.dump({'k': list(range(1000))}, open('data.json', 'w'))
print(sum(json.load(open('data.json'))['k']))
with zipfile.ZipFile('z.zip', 'w', zipfile.ZIP_DEFLATED) as z:
    for p in sorted(glob.glob('copy/**/*.txt', recursive=True)):
        z.write(p)
with zipfile.ZipFile('z.zip') as z:
    print(z.namelist())
    z.extractall('unz')
p = pathlib.Path('copy/README')
p.rename('copy/README.moved')
pathlib.Path('copy/README.moved').replace('copy/README2')
print(sorted(os.listdir('copy'))[:5])
with open('copy/a/b/big.bin', 'rb') as f:
    print(hashlib.sha256(f.read()).hexdigest())
with open('copy/a/b/big.bin', 'r+b') as f:
    f.seek(1000000)
    f.write(b'patched')
    f.seek(0, 2)
    print(f.tell())
shutil.rmtree('unz')
print(os.path.exists('unz'))
'''

case('python3', needs=('python3',))(r'''
set -e
python3 -c "$PY"
''')


def main():
    env = nfstest.Env(sys.argv[1], sys.argv[2])
    names = sys.argv[3:] or list(CASES)
    why = env.ready()
    if why:
        print('SKIP: ' + why)
        return nfstest.SKIP
    shared = env.dir('s')
    sample(os.path.join(shared, 'tree'))
    genv = {'S': shared, 'MAKEFILE': MAKEFILE, 'SQL': SQL, 'PY': PY, 'LC_ALL': 'C',
            'TZ': 'UTC', 'GIT_CONFIG_NOSYSTEM': '1', 'GIT_CONFIG_GLOBAL': '/dev/null',
            'GIT_AUTHOR_NAME': 'a', 'GIT_AUTHOR_EMAIL': 'a@x', 'GIT_AUTHOR_DATE': '@1600000000 +0000',
            'GIT_COMMITTER_NAME': 'c', 'GIT_COMMITTER_EMAIL': 'c@x',
            'GIT_COMMITTER_DATE': '@1600000000 +0000', 'HOME': shared}
    ran = 0
    try:
        for name in names:
            script, needs, exclude = CASES[name]
            missing = [n for n in needs if not shutil.which(n)]
            if missing:
                print('skip %s: %s not installed' % (name, ', '.join(missing)))
                continue
            if 'cc' in needs and os.environ.get('NFS_TEST_SANITIZED'):
                # docs/core.md: a sanitizer build of libdefuse.so cannot run
                # non-PIE programs (cc1): its runtime fails in its start-up
                print('skip %s: cc1 cannot run under a sanitizer build of '
                      'libdefuse.so (docs/core.md)' % name)
                continue
            ran += 1
            native = env.dir('n-' + name)
            point = env.dir('m-' + name)
            sub, export = env.fresh(name)
            want = run(['sh', '-c', script], cwd=native, env=genv)
            got = run(env.cmd(point, sub, ['sh', '-c', 'cd "$1" && exec sh -c "$2"', 'sh',
                                           point, script]), env=genv)
            wo = want[1].replace(native, '@D')
            go = got[1].replace(point, '@D')
            bad = []
            if want[0] != 0:
                bad.append('native run failed (%s): %s' % (want[0], want[2]))
            if got[0] != want[0]:
                bad.append('exit %s, native %s' % (got[0], want[0]))
            if wo != go:
                bad.append('output:\n' + diff(wo, go))
            tn, te = tree(native, exclude), tree(export, exclude)
            if tn != te:
                bad.append('tree:\n' + diff(tn, te))
            if os.listdir(point):
                bad.append('mount point not empty')
            env.check(name, not bad, '\n'.join(bad) + '\n' + got[2][-3000:])
    finally:
        env.cleanup()
    if not ran:
        print('SKIP: no program of any case is installed')
        return nfstest.SKIP
    return env.finish()


if __name__ == '__main__':
    sys.exit(main())
