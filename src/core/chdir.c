/*
 * The calls that change or read the current directory: chdir, fchdir and
 * getcwd.  The cwd itself, and its lock, are cwd.c's; this is how each
 * call asks the kernel and the module, and what cwd.c is to publish.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "kernel/sys.h"
#include "core/core.h"
#include "core/resolve.h"
#include "core/syscalls.h"

/*
 * What a change of directory asks of the kernel (core_cwd_change runs it
 * under the cwd's lock): the program's call, with path if not NULL; else,
 * for a cwd inside mount point, a chdir to that mount point, unless the cwd
 * is in that mount already (always: even then).
 */
struct kchdir {
	const struct core_call *c;
	const char *path;
	int point, always;
};

static long kchdir(const struct core_cwd *now, void *arg)
{
	const struct kchdir *k = arg;

	if (k->c)
		return k->path ? core_kernel_at(k->c->sc, k->c->d, k->path)
			       : defuse_forward(k->c->sc);
	if (k->always || !now || now->mount != k->point)
		sys1(SYS_chdir, core_mounts[k->point].point);
	return 0;
}

long core_chdir_in(const struct core_loc *l)
{
	const struct defuse_mount_ref *ref = CORE_REF(l->mount);
	struct mod_caller who;
	struct stat st;
	long r = core_loc_getattr(l, &st, 0);

	if (r < 0)
		return r;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	/* chdir needs search permission, with the effective IDs */
	if ((r = mod_access(ref, l->path, X_OK, AT_EACCESS, core_caller(1, &who))) < 0)
		return r;
	/* The kernel's cwd: the mount point, for programs not captured
	   (already there when the cwd stays in this mount). */
	return core_cwd_change(l->mount, l->path, kchdir, &(struct kchdir){ .point = l->mount });
}

long core_chdir_kernel(const struct core_call *c, const struct core_loc *l)
{
	/* A kernel symbolic link may have led to a mount point: the
	   kernel's own cwd says (core_cwd_change). */
	struct kchdir k = { .c = c, .path = l->where == CORE_KERNEL ? l->path : NULL };

	return core_cwd_change(-1, NULL, kchdir, &k);
}

/*
 * fchdir: the descriptor's path may have come from a module that resolves
 * paths itself, so it can still hold symbolic links; getcwd must show the
 * directory's own path, so resolve it once more here.
 */
static long chdir_canonical(int mount, const char *path, struct kchdir *k)
{
	char abs[PATH_MAX];
	struct core_loc l;

	if (snprintf(abs, sizeof(abs), "%s%s", core_mounts[mount].point, path) < (int)sizeof(abs) &&
	    core_resolve(AT_FDCWD, abs, CORE_RES_FOLLOW | CORE_RES_STRICT, &l) == 0 &&
	    l.mount == mount)
		path = l.path;
	return core_cwd_change(mount, path, kchdir, k);
}

long core_h_fchdir(struct core_call *c)
{
	long fd = c->sc->a[0];
	struct core_fd *f = core_fd_acquire(fd);
	char now[PATH_MAX];	/* where it is, if it was renamed */
	const char *path = f && core_fd_path_now(fd, f, now) == 0 ? now : f ? f->path : NULL;
	struct kchdir k = { .c = c };
	struct stat st;
	long r;

	if (!f) {
		/* A kernel directory: the kernel's cwd is the truth again. */
		r = core_cwd_change(-1, NULL, kchdir, &k);
	} else if (!f->open) {
		/* Kernel-backed: the kernel checks the descriptor itself. */
		r = chdir_canonical(f->mount, path, &k);
	} else if (mod_getattr(CORE_REF(f->mount), path, &st, 0) == 0 && !S_ISDIR(st.st_mode)) {
		r = -ENOTDIR;
	} else {
		/* Emulated: the kernel's cwd goes to the mount point. */
		r = chdir_canonical(f->mount, path,
				    &(struct kchdir){ .point = f->mount, .always = 1 });
	}
	core_fd_release(f);
	return r;
}

long core_h_getcwd(struct core_call *c)
{
	const struct defuse_syscall *sc = c->sc;
	const struct core_cwd *cwd = core_cwd_snap();
	char buf[PATH_MAX], path[PATH_MAX];
	const char *point;
	size_t n;
	int k;

	if (!cwd)
		return defuse_forward(sc);	/* it left the mounts meanwhile */
	point = core_mounts[cwd->mount].point;
	/* Renamed or removed meanwhile?  The kernel knows. */
	k = core_cwd_path_now(cwd, path);
	if (k == -ENOENT)
		return -ENOENT;
	if (k < 0)
		strcpy(path, cwd->path);
	else if (strcmp(path, cwd->path))
		core_cwd_moved(path);	/* for later calls too, if memory
					   allows (cwd is not the call's then) */
	if (strcmp(path, "/"))
		n = snprintf(buf, sizeof(buf), "%s%s", point, path);
	else
		n = snprintf(buf, sizeof(buf), "%s", point);
	if (n + 1 > (size_t)sc->a[1])
		return -ERANGE;
	return core_copy_out((void *)sc->a[0], buf, n + 1) < 0 ? -EFAULT : (long)(n + 1);
}
