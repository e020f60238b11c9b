/*
 * FIFOs and Unix sockets in mounts whose files have no kernel directory
 * behind them (memfs, nfs, FUSE file systems: every module whose
 * directories give the core no kernel descriptor).
 *
 * A FIFO or a socket is a kernel object found by path: two processes meet
 * at it only through a kernel inode.  Where the mount has kernel
 * directories (passthrough), the object lives at its backing path
 * (sockets.c).  Elsewhere the module keeps the node (its name, type,
 * owner, mode, links: mknod, bind's S_IFSOCK), and the kernel object it
 * stands for lives in one directory all DEFUSE processes share,
 *
 *     /dev/shm/.defuse-special/KEY-INO
 *
 * KEY naming the file system (a hash of the mount's "MODULE:ARGS", the
 * same in every process that mounts it so), INO the node's inode number
 * as the module gives it.  So a FIFO made by one process is the same pipe
 * for every process that opens the node, and a socket bound by one is
 * reached by every process connecting to it; rename and link keep the
 * inode number and so the stand-in.  The stand-in goes with the node's
 * last name (core_special_unlink, and core_special_rename when a rename
 * replaces it); a node removed behind the host's back leaves its stand-in
 * behind, and a new node that gets its inode number finds it removed
 * first (bind) or reuses it (a FIFO: a pipe nobody holds is empty).
 *
 * The directory is sticky and open to all, as /tmp is: anyone can make a
 * name there before a node is bound, and so receive its connections, the
 * same trust as a socket in /tmp.  DEFUSE_SPECIAL_DIR names another one
 * (the test harnesses' scratch: stand-ins of nodes removed behind the
 * module's back go with it).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include "kernel/sys.h"
#include "core/core.h"
#include "core/perm.h"
#include "core/resolve.h"

/* The directory of the stand-ins: DEFUSE_SPECIAL_DIR if set (read at
   start-up, core_special_init), so that a test run can keep its own. */
static char special[256] = "/dev/shm/.defuse-special";

void core_special_init(const char *dir)
{
	if (dir && dir[0] == '/' && strlen(dir) < sizeof(special))
		strcpy(special, dir);
}

/* Does mount m keep its FIFOs and sockets here?  (It has no kernel
   directories: asked once.) */
int core_special_mount(int m)
{
	if (core_mounts[m].dead)
		return 0;
	if (!__atomic_load_n(&core_mounts[m].no_kdirs, __ATOMIC_RELAXED))
		core_mount_root_kpath(m);	/* finds out, once */
	return __atomic_load_n(&core_mounts[m].no_kdirs, __ATOMIC_RELAXED);
}

/* The stand-in's path for inode ino of mount m, into out (cap bytes). */
static int standin(int m, uint64_t ino, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s/%016llx-%llu", special,
			 (unsigned long long)core_mounts[m].key, (unsigned long long)ino);

	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : n;
}

/* The directory, made if missing: sticky and writable by all, whatever
   the umask. */
static void special_dir(void)
{
	if (sys3(SYS_mkdirat, AT_FDCWD, special, 01777) == 0)
		sys4(SYS_fchmodat, AT_FDCWD, special, 01777, 0);
}

int core_special_path(const char *name, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s/%s", special, name);

	if (n < 0 || (size_t)n >= cap)
		return -ENAMETOOLONG;
	special_dir();
	return n;
}

long core_special_bind(int m, const char *path, char *out, size_t cap)
{
	const struct defuse_mount_ref *ref = CORE_REF(m);
	struct stat st;
	long r;

	r = mod_mknod(ref, path, S_IFSOCK | mod_umasked(0777, defuse_g.umask), 0);
	if (r < 0)
		return r == -EEXIST ? -EADDRINUSE : r;
	if ((r = mod_getattr(ref, path, &st, DEFUSE_NOFOLLOW)) < 0 ||
	    (r = standin(m, st.st_ino, out, cap)) < 0) {
		mod_unlink(ref, path);
		return r;
	}
	special_dir();
	/* A stand-in left by a node that was replaced, not unlinked. */
	sys3(SYS_unlinkat, AT_FDCWD, out, 0);
	return r;
}

void core_special_bind_failed(int m, const char *path)
{
	mod_unlink(CORE_REF(m), path);
}

long core_special_connect(const struct core_loc *l, char *out, size_t cap)
{
	struct stat st;
	long r = core_loc_getattr(l, &st, 0);

	if (r < 0)
		return r;
	if ((r = core_perm_node(l->mount, &st, W_OK)) < 0)
		return r;	/* before the kind of the file, as the kernel */
	if (!S_ISSOCK(st.st_mode))
		return -ECONNREFUSED;	/* as the kernel, for any other file */
	return standin(l->mount, st.st_ino, out, cap);
}

long core_special_open(const struct core_loc *l, int flags, uint64_t *ino)
{
	char k[320];
	struct stat st;
	long r;

	/* The module checked the caller's access before it said ENXIO. */
	if (core_loc_getattr(l, &st, DEFUSE_NOFOLLOW) < 0 || !S_ISFIFO(st.st_mode))
		return -ENXIO;	/* a socket or a device: nothing to open */
	if ((r = standin(l->mount, st.st_ino, k, sizeof(k))) < 0)
		return r;
	*ino = st.st_ino;
	special_dir();
	if (sys4(SYS_mknodat, AT_FDCWD, k, S_IFIFO | 0666, 0) == 0)
		sys4(SYS_fchmodat, AT_FDCWD, k, 0666, 0);
	/* Opening a FIFO waits for the other end: signals are not held. */
	defuse_sig_interruptible(1);
	r = sys4(SYS_openat, AT_FDCWD, k, flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_NOFOLLOW), 0);
	defuse_sig_interruptible(0);
	return r;
}

/*
 * The node is the file, the stand-in only its pipe: fstat, fchmod & co. of
 * a stand-in descriptor are the node's while its name is the one it was
 * opened by (pathops.c).  After a rename or unlink the stand-in answers,
 * as before: the core knows a descriptor by its path only.
 */
int core_special_node(const struct core_fd *f, struct stat *st)
{
	return f->standin && !f->open &&
	       mod_getattr(CORE_REF(f->mount), f->path, st, DEFUSE_NOFOLLOW) == 0 &&
	       S_ISFIFO(st->st_mode) && st->st_ino == f->standin;
}

uint64_t core_special_fifo(const struct core_loc *l)
{
	struct stat st;

	return core_loc_getattr(l, &st, DEFUSE_NOFOLLOW) == 0 && S_ISFIFO(st.st_mode) ? st.st_ino : 0;
}

/* Is path a FIFO or socket with no other name, whose stand-in goes with
   it?  Asked of the module: on memfs 50 ns more per unlink (a check in
   the kernel first, a marker file's faccessat, cost 800). */
static int last_special(int m, const char *path, struct stat *st)
{
	return mod_getattr(CORE_REF(m), path, st, DEFUSE_NOFOLLOW) == 0 &&
	       (S_ISSOCK(st->st_mode) || S_ISFIFO(st->st_mode)) && st->st_nlink <= 1;
}

static void standin_remove(int m, uint64_t ino)
{
	char k[320];

	if (standin(m, ino, k, sizeof(k)) > 0)
		sys3(SYS_unlinkat, AT_FDCWD, k, 0);
}

long core_special_unlink(int m, const char *path)
{
	struct stat st;
	int is_special = last_special(m, path, &st);
	long r = mod_unlink(CORE_REF(m), path);

	if (r == 0 && is_special)
		standin_remove(m, st.st_ino);
	return r;
}

long core_special_rename(int m, const char *from, const char *to, unsigned flags)
{
	struct stat st;
	/* A node with one name is not the source under another name (that
	   rename would replace nothing), unless both names are one. */
	int is_special = !(flags & (RENAME_EXCHANGE | RENAME_NOREPLACE)) && strcmp(from, to) &&
			 last_special(m, to, &st);
	long r = mod_rename(CORE_REF(m), from, to, flags);

	if (r == 0 && is_special)
		standin_remove(m, st.st_ino);
	return r;
}
