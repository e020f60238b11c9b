/*
 * Libraries in a mount with no kernel directories, for the dynamic loader.
 *
 * The loader of a new image looks for its libraries before DEFUSE runs
 * there, with the kernel's view (docs/core.md, "exec").  For a directory
 * the module hands out as a kernel directory (passthrough), exec gives the
 * loader that directory's kernel path (exec_resolve.c).  A module with no
 * kernel directories (memfs, nfs, FUSE file systems) has none to give: the
 * loader did not find the library the program named by LD_LIBRARY_PATH or
 * $ORIGIN there, went on with the system's search and loaded a system
 * library of that name if there was one (`make test` of a library built
 * on memfs tested the system's copy), a wrong answer with no error.
 *
 * So such a directory gets a kernel stand-in: a directory of copies of its
 * shared objects (names with ".so" in them, what a loader looks for:
 * libz.so.1, libfoo.so), one per user, mount and directory, beside the
 * other stand-ins (special.c), kept between execs.  A copy whose size and
 * modification time are its file's is used again as it is; a changed file
 * is copied afresh (to a temporary name, then renamed over: an exec that
 * runs beside it sees the old copy or the new, whole); a copy whose file
 * is gone is removed.  The directory must be the caller's own, mode 0700,
 * on a file system that allows exec: else there is none (a directory
 * another user made first in the sticky parent is never used).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include "core/core.h"
#include "core/resolve.h"
#include "common/util.h"
#include "kernel/sys.h"

/* Names a loader looks for: shared objects. */
static int is_library_name(const char *name)
{
	return name[0] != '.' && strstr(name, ".so") != NULL;
}

struct names {
	char **v;
	size_t n, cap;
};

static int collect(void *ctx, const char *name, uint64_t ino, unsigned char type, int64_t next)
{
	struct names *ns = ctx;

	(void)ino, (void)next;
	if (type == DT_DIR || !is_library_name(name))
		return 0;
	if (ns->n == ns->cap) {
		size_t cap = ns->cap ? ns->cap * 2 : 16;
		char **v = realloc(ns->v, cap * sizeof(*v));

		if (!v)
			return 0;	/* fewer copies; none wrong */
		ns->v = v;
		ns->cap = cap;
	}
	if ((ns->v[ns->n] = strdup(name)))
		ns->n++;
	return 0;
}

static int listed(const struct names *ns, const char *name)
{
	for (size_t i = 0; i < ns->n; i++)
		if (!strcmp(ns->v[i], name))
			return 1;
	return 0;
}

/* Name i is no library after all: its copy, if any, goes. */
static void forget(struct names *ns, size_t i)
{
	ns->v[i][0] = '/';	/* matches no name */
	ns->v[i][1] = 0;
}

/* A link named name in dfd to kernel path target, unless it is one. */
static void link_to(const char *target, int dfd, const char *name)
{
	char have[PATH_MAX], tmp[NAME_MAX + 32];
	long n = sys4(SYS_readlinkat, dfd, name, have, sizeof(have) - 1);

	if (n >= 0 && (size_t)n == strlen(target) && !memcmp(have, target, n))
		return;
	snprintf(tmp, sizeof(tmp), ".%.200s.%d.tmp", name, (int)getpid());
	if (sys3(SYS_symlinkat, target, dfd, tmp) == 0 &&
	    sys4(SYS_renameat, dfd, tmp, dfd, name))
		sys3(SYS_unlinkat, dfd, tmp, 0);
}

/* The library names in directory dir of the module, into ns. */
static int list_dir(const struct defuse_mount_ref *ref, const char *dir, struct names *ns)
{
	struct defuse_open o = { 0, -1 };
	int r = mod_open(ref, dir, O_RDONLY | O_DIRECTORY, 0, &o);

	if (r < 0)
		return r;
	r = mod_readdir(ref, o.fh, 0, collect, ns);
	if (o.kernel_fd >= 0)
		sys1(SYS_close, o.kernel_fd);
	mod_release(ref, o.fh);
	return r < 0 ? r : 0;
}

/* The file at path of the module (st: its attributes) copied to name in
   kernel directory dfd, whole or not at all. */
static int copy_file(const struct defuse_mount_ref *ref, const char *path,
		     const struct stat *st, int dfd, const char *name)
{
	char tmp[NAME_MAX + 32];
	struct defuse_open o = { 0, -1 };
	struct timespec times[2] = { st->st_atim, st->st_mtim };
	long kfd, n = -EIO;

	snprintf(tmp, sizeof(tmp), ".%.200s.%d.tmp", name, (int)getpid());
	if (mod_open(ref, path, O_RDONLY, 0, &o) < 0)
		return -EIO;
	kfd = sys4(SYS_openat, dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (kfd >= 0)
		n = core_copy_whole(ref, &o, (int)kfd);
	if (o.kernel_fd >= 0)
		sys1(SYS_close, o.kernel_fd);
	mod_release(ref, o.fh);
	if (kfd < 0)
		return (int)kfd;
	/* whole (the size it said), its mode, its time: then the name */
	if (n != st->st_size || sys2(SYS_fchmod, kfd, (st->st_mode & 0755) | 0400) ||
	    sys4(SYS_utimensat, kfd, NULL, times, 0) ||
	    sys4(SYS_renameat, dfd, tmp, dfd, name)) {
		sys1(SYS_close, kfd);
		sys3(SYS_unlinkat, dfd, tmp, 0);
		return -EIO;
	}
	sys1(SYS_close, kfd);
	return 0;
}

/* The stand-in directory's kernel path for directory dir of mount m, made
   if missing and checked: the caller's, 0700, where code may be mapped. */
static int standin_dir(int m, const char *dir, char *out, size_t cap)
{
	uint64_t h = d_fnv1a_str(D_FNV1A_INIT, dir);
	char name[96];
	struct stat st;
	struct statfs sf;

	snprintf(name, sizeof(name), "ld-%u-%016llx-%016llx", (unsigned)sys0(SYS_geteuid),
		 (unsigned long long)core_mounts[m].key, (unsigned long long)h);
	if (core_special_path(name, out, cap) < 0)
		return -ENAMETOOLONG;
	sys3(SYS_mkdirat, AT_FDCWD, out, 0700);
	if (sys4(SYS_newfstatat, AT_FDCWD, out, &st, AT_SYMLINK_NOFOLLOW) ||
	    !S_ISDIR(st.st_mode) || st.st_uid != (uid_t)sys0(SYS_geteuid) ||
	    (st.st_mode & 07777) != 0700 || sys2(SYS_statfs, out, &sf) ||
	    (sf.f_flags & ST_NOEXEC))
		return -EPERM;
	return 0;
}

long core_lib_standin(int m, const char *dir, char *out, size_t cap)
{
	const struct defuse_mount_ref *ref = CORE_REF(m);
	struct names ns = { 0 };
	char path[PATH_MAX], buf[4096];
	struct stat st, have;
	long dfd, n;
	int r;

	/* listed first: nothing is made for what is no directory */
	if ((r = list_dir(ref, dir, &ns)) < 0 || (r = standin_dir(m, dir, out, cap)) < 0) {
		if (defuse_g.debug)
			defuse_log("no stand-in for the loader of ", dir,
				   r == -EPERM ? ": its directory is not ours, 0700, exec" :
						 ": the directory cannot be listed");
		goto done;
	}
	dfd = sys3(SYS_open, out, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (dfd < 0) {
		r = (int)dfd;
		goto done;
	}
	for (size_t i = 0; i < ns.n; i++) {
		struct core_loc l;

		/* The file a name leads to, as the loader's open follows links
		   (libz.so.1 -> libz.so.1.2.13): a copy of it, or a link to it
		   when it is the kernel's. */
		if ((size_t)snprintf(path, sizeof(path), "%s%s/%s", core_mounts[m].point,
				     strcmp(dir, "/") ? dir : "", ns.v[i]) >= sizeof(path) ||
		    core_resolve(AT_FDCWD, path, CORE_RES_FOLLOW, &l) < 0) {
			forget(&ns, i);
			continue;
		}
		if (l.where == CORE_KERNEL) {
			link_to(l.path, (int)dfd, ns.v[i]);
			continue;
		}
		/* (a module that resolves paths itself, nfs, follows here) */
		if (!core_in_mount(&l) || l.mount != m ||
		    mod_getattr(ref, l.path, &st, 0) < 0 || !S_ISREG(st.st_mode)) {
			forget(&ns, i);
			continue;
		}
		if (sys4(SYS_newfstatat, dfd, ns.v[i], &have, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(have.st_mode) && have.st_size == st.st_size &&
		    have.st_mtim.tv_sec == st.st_mtim.tv_sec &&
		    have.st_mtim.tv_nsec == st.st_mtim.tv_nsec)
			continue;
		copy_file(ref, l.path, &st, (int)dfd, ns.v[i]);
	}
	/* copies of files gone since */
	while ((n = sys3(SYS_getdents64, dfd, buf, sizeof(buf))) > 0)
		for (long at = 0; at < n;) {
			struct dirent64 *d = (struct dirent64 *)(buf + at);

			if (d->d_name[0] != '.' && !listed(&ns, d->d_name))
				sys3(SYS_unlinkat, dfd, d->d_name, 0);
			at += d->d_reclen;
		}
	sys1(SYS_close, dfd);
	r = 0;
done:
	for (size_t i = 0; i < ns.n; i++)
		free(ns.v[i]);
	free(ns.v);
	return r < 0 ? r : (long)strlen(out);
}
