#!/bin/sh
# Real programs that map files (issue 10), run by run.py natively and on
# DEFUSE mounts:  real.sh CASE DIR
#   sqlite-wal   three sqlite3 processes writing one database at once in WAL
#                mode (its -shm file is mapped MAP_SHARED by each), then
#                PRAGMA integrity_check
#   python-mmap  Python's mmap module across two processes: each sees the
#                other's writes through its own mapping and through read()
#   git-pack     a repository packed (git gc), checked (git fsck) and read
#                through its pack files, which git maps
# Prints the same wherever it runs; exit 77 with a reason when a program
# is missing.
set -u
case_=$1
cd "$2" || exit 1
case $case_ in
sqlite-wal)
	command -v sqlite3 >/dev/null || { echo "sqlite3 not installed"; exit 77; }
	sqlite3 t.db "pragma journal_mode=wal; create table t(id integer primary key, w int, v text);"
	for w in 1 2 3; do
		( i=0
		  while [ $i -lt 300 ]; do
			i=$((i + 1))
			echo "begin immediate; insert into t(w, v) values($w, '$w-$i');"
			echo "update t set v = v || '+' where id = (select max(id) from t where w = $w); commit;"
		  done | sqlite3 -cmd ".timeout 60000" t.db ) &
	done
	# a reader meanwhile
	( i=0; while [ $i -lt 100 ]; do i=$((i + 1)); echo "select count(*) >= 0 from t;"; done |
	  sqlite3 -cmd ".timeout 60000" t.db >/dev/null ) &
	wait
	sqlite3 t.db "pragma integrity_check; select w, count(*), sum(length(v)) from t group by w;
		      pragma journal_mode;"
	sqlite3 t.db "pragma wal_checkpoint(truncate); pragma integrity_check; select count(*) from t;"
	;;
python-mmap)
	command -v python3 >/dev/null || { echo "python3 not installed"; exit 77; }
	python3 - <<'PY'
import mmap, os, subprocess, sys
with open("m.bin", "wb") as f:
    f.write(bytes(range(256)) * 64)          # 16 KiB
f = open("m.bin", "r+b")
m = mmap.mmap(f.fileno(), 0)
m[0:5] = b"first"
child = r'''
import mmap, sys
f = open("m.bin", "r+b")
m = mmap.mmap(f.fileno(), 0)
print("child sees", bytes(m[0:5]), m[9000])
m[8192:8197] = b"child"
m.flush()
m.close()
f.close()
'''
out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True)
print(out.stdout.strip(), out.stderr.strip())
print("parent mapping sees", bytes(m[8192:8197]))
f.seek(8192)
print("parent read sees", f.read(5))
m.resize(20000)                              # grows the file (ftruncate, mremap)
m[19999] = 7
m.flush()
m.close()
f.close()
st = os.stat("m.bin")
data = open("m.bin", "rb").read()
print("size", st.st_size, "tail", data[19999], "head", data[:5], data[8192:8197])
PY
	;;
git-pack)
	command -v git >/dev/null || { echo "git not installed"; exit 77; }
	export GIT_CONFIG_NOSYSTEM=1 HOME=$PWD GIT_AUTHOR_DATE=1700000000 \
		GIT_COMMITTER_DATE=1700000000
	git init -q -b main repo && cd repo || exit 1
	git config user.name t && git config user.email t@t
	i=0
	while [ $i -lt 40 ]; do
		i=$((i + 1))
		seq $i 1000 > "f$i"
		git add "f$i" && git commit -q -m "file $i"
	done
	# pack files, read through mappings from here on
	git gc -q --aggressive && git fsck --strict 2>&1 && echo fsck ok
	ls .git/objects/pack | sed 's/-[0-9a-f]*\./-X./' | sort
	git log --oneline | wc -l
	git rev-list --all --objects | wc -l
	git cat-file -p HEAD~20:f5 | sha256sum
	git repack -q -a -d && git verify-pack .git/objects/pack/*.idx >/dev/null && echo verify ok
	;;
*)
	echo "no case $case_" >&2
	exit 2
	;;
esac
