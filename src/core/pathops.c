/*
 * Calls on one path: stat, access, mkdir, unlink, readlink, chmod, chown,
 * truncate, utimes, statfs, chdir, the xattr calls and exec.  Each is
 * resolved (resolve.c); a path that ends outside every mount goes to the
 * kernel, one inside a mount is one module operation (run_op).
 *
 * Calls on a name (unlink, rmdir, mkdir, mknod, symlink) look up the
 * directory part only and decide on a last ".", ".." or "/" by its kind; a
 * mount point named from outside is a name in its parent's file system
 * (EBUSY, as for a kernel mount).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/inotify.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <unistd.h>
#include <utime.h>
#include "kernel/sys.h"
#include "core/core.h"
#include "core/perm.h"
#include "core/resolve.h"
#include "core/syscalls.h"

/*
 * A mount's root is a mount root (STATX_ATTR_MOUNT_ROOT), as a bind mount's
 * is; the backing directory seldom is.  Known by identity, since a path
 * handed to a resolving module may reach the root by ".." or a link.
 * stx_mnt_id stays the backing file system's (docs/core.md).
 */
static struct { uint64_t dev, ino; int known; } root_id[CORE_MOUNTS_MAX];

static void mount_root_attr(int m, struct statx *x)
{
	x->stx_attributes_mask |= STATX_ATTR_MOUNT_ROOT;
	if (!__atomic_load_n(&root_id[m].known, __ATOMIC_ACQUIRE)) {
		struct stat st;

		if (mod_getattr(CORE_REF(m), "/", &st, 0) < 0)
			return;
		root_id[m].dev = st.st_dev;
		root_id[m].ino = st.st_ino;
		__atomic_store_n(&root_id[m].known, 1, __ATOMIC_RELEASE);
	}
	if (x->stx_ino == root_id[m].ino &&
	    makedev(x->stx_dev_major, x->stx_dev_minor) == root_id[m].dev)
		x->stx_attributes |= STATX_ATTR_MOUNT_ROOT;
}

/* The times of utime, utimes, futimesat and utimensat as timespecs; *tp
   NULL for "now". */
static long times_from_user(const struct core_call *c, struct timespec ts[2],
			    const struct timespec **tp)
{
	const void *src = (const void *)c->arg[0];

	*tp = NULL;
	if (!src)
		return 0;
	switch (c->d->times) {
	case CORE_TIMESPEC:
		if (defuse_copy_in(ts, src, 2 * sizeof(*ts)))
			return -EFAULT;
		break;
	case CORE_UTIMBUF: {
		struct utimbuf u;

		if (defuse_copy_in(&u, src, sizeof(u)))
			return -EFAULT;
		ts[0] = (struct timespec){ u.actime, 0 };
		ts[1] = (struct timespec){ u.modtime, 0 };
		break;
	}
	default: {
		struct timeval tv[2];

		if (defuse_copy_in(tv, src, sizeof(tv)))
			return -EFAULT;
		for (int i = 0; i < 2; i++) {
			if (tv[i].tv_usec < 0 || tv[i].tv_usec >= 1000000)
				return -EINVAL;
			ts[i] = (struct timespec){ tv[i].tv_sec, tv[i].tv_usec * 1000 };
		}
	}
	}
	*tp = ts;
	return 0;
}

/*
 * Extended attributes, through a heap buffer of at most XATTR_SIZE_MAX.
 * The arguments after the path: (name, value, size, flags), or for
 * listxattr (list, size).
 */
static long xattr_op(const struct core_call *c, const struct core_loc *l)
{
	const struct defuse_mount_ref *ref = CORE_REF(l->mount);
	int list = c->op == OP_LISTXATTR;
	size_t size = c->arg[list ? 1 : 2];
	void *uval = (void *)c->arg[list ? 0 : 1];
	const char *name = (const char *)c->arg[0];
	char *buf = NULL;
	long r;

	if (!list && name && defuse_probe_strnlen(name, 256) < 0)
		return -EFAULT;
	if (size > 65536)
		size = 65536;
	if (size && !(buf = malloc(size)))
		return -ENOMEM;
	if (c->op == OP_SETXATTR) {
		if ((size_t)c->arg[2] > 65536)
			r = -E2BIG;
		else if (size && defuse_copy_in(buf, uval, size))
			r = -EFAULT;
		else
			r = mod_setxattr(ref, l->path, name, buf, size, c->arg[3], c->nofollow);
	} else {
		if (list)
			r = mod_listxattr(ref, l->path, buf, size, c->nofollow);
		else
			r = mod_getxattr(ref, l->path, name, buf, size, c->nofollow);
		if (r > 0 && size && core_copy_out(uval, buf, r) < 0)
			r = -EFAULT;
	}
	free(buf);
	return r;
}

/*
 * mknod or symlink of "name/", walked by the core: only a directory may
 * have a slash after it, and these make none, so the kernel's answer,
 * EEXIST or ENOENT (core_resolve found no non-directory there); 0 when the
 * call goes on.
 */
static long slash_refused(const struct core_call *c, const struct core_loc *l)
{
	struct stat st;

	if (!l->strict || !core_slash_last(c->path))
		return 0;
	return core_loc_getattr(l, &st, DEFUSE_NOFOLLOW) == 0 ? -EEXIST : -ENOENT;
}

/*
 * The module's kernel file behind l's path, opened with flags (O_PATH and
 * more), for a call that must reach the kernel's own inode: its descriptor,
 * which the caller closes; -EOPNOTSUPP for an emulated file, which has
 * none; or the open's error.
 */
static long kernel_file_of(const struct core_loc *l, int flags)
{
	const struct defuse_mount_ref *ref = CORE_REF(l->mount);
	struct defuse_open o = { 0, -1 };
	long r = mod_open(ref, l->path, flags, 0, &o);

	if (r < 0)
		return r;
	if (o.kernel_fd < 0) {
		mod_release(ref, o.fh);
		return -EOPNOTSUPP;
	}
	return o.kernel_fd;
}

/* The call's operation on what l names in its mount. */
static long run_op(const struct core_call *c, const struct core_loc *l)
{
	const struct defuse_mount_ref *ref = CORE_REF(l->mount);
	const long *arg = c->arg;
	struct mod_caller who;
	struct stat st;
	long r;

	switch (c->op) {
	case OP_STAT:	/* (path, buf) */
		r = core_loc_getattr(l, &st, c->nofollow);
		return r < 0 ? r : core_copy_out((void *)arg[0], &st, sizeof(st));
	case OP_STATX: {	/* (path, flags, mask, buf) */
		struct statx x;

		/* A module without statx gets it built from getattr
		   (mod_statx), which the walk may have asked already. */
		if (ref->ops->statx)
			r = mod_statx(ref, l->path, c->nofollow, arg[1], &x);
		else if ((r = core_loc_getattr(l, &st, c->nofollow)) == 0)
			mod_stat_to_statx(&st, &x);
		if (r < 0)
			return r;
		mount_root_attr(l->mount, &x);
		return core_copy_out((void *)arg[2], &x, sizeof(x));
	}
	case OP_ACCESS:	/* (path, mode[, flags]) */
		if (arg[0] & ~(R_OK | W_OK | X_OK))
			return -EINVAL;
		/* faccessat2's own flags, as module.h says */
		return mod_access(ref, l->path, arg[0], c->at,
				  core_caller(c->at & AT_EACCESS, &who));
	case OP_MKDIR:	/* (path, mode): the caller's umask applied (module.h) */
		if ((r = core_perm_make(l)) < 0)
			return r;
		return mod_mkdir(ref, l->path, mod_umasked(arg[0] & 07777, defuse_g.umask));
	case OP_MKNOD:	/* (path, mode, dev) */
		if ((r = slash_refused(c, l)) < 0 || (r = core_perm_make(l)) < 0)
			return r;
		return mod_mknod(ref, l->path, mod_umasked(arg[0], defuse_g.umask), arg[1]);
	case OP_UNLINK:
		if ((r = core_perm_remove(l)) < 0)
			return r;
		if (core_special_mount(l->mount))
			return core_special_unlink(l->mount, l->path);
		return mod_unlink(ref, l->path);
	case OP_RMDIR:
		if ((r = core_perm_remove(l)) < 0)
			return r;
		return mod_rmdir(ref, l->path);
	case OP_READLINK: {	/* (path, buf, size) */
		char buf[PATH_MAX];

		if ((long)arg[1] <= 0)
			return -EINVAL;
		r = mod_readlink(ref, l->path, buf, sizeof(buf));
		if (r < 0)
			return r;
		if (r > arg[1])
			r = arg[1];
		return core_copy_out((void *)arg[0], buf, r) < 0 ? -EFAULT : r;
	}
	case OP_CHMOD:	/* (path, mode) */
		return mod_chmod(ref, l->path, arg[0] & 07777, c->nofollow);
	case OP_CHOWN:	/* (path, uid, gid) */
		return mod_chown(ref, l->path, arg[0], arg[1], c->nofollow);
	case OP_TRUNCATE:	/* (path, length) */
		return mod_truncate(ref, l->path, arg[0]);
	case OP_UTIMENS: {	/* (path, times) */
		struct timespec ts[2];
		const struct timespec *tp;

		if ((r = times_from_user(c, ts, &tp)) < 0)
			return r;
		return mod_utimens(ref, l->path, tp, c->nofollow);
	}
	case OP_WATCH: {	/* (fd, path, mask) */
		/* inotify watches kernel inodes: where the module has a kernel
		   file behind this one (kernel-backed, or its lock_fd), the
		   watch goes on that file, and every change made through the
		   mount reaches it; a module without one has nothing to watch
		   (EOPNOTSUPP, never a silent watch on the hidden mount point).
		   The path was resolved following links (IN_DONT_FOLLOW is
		   not kept). */
		struct defuse_open o = { 0, -1 };
		char link[40];
		int k;

		r = mod_open(ref, l->path, O_PATH | ((arg[0] & IN_ONLYDIR) ? O_DIRECTORY : 0), 0, &o);
		if (r < 0)
			return r;
		k = o.kernel_fd >= 0 ? o.kernel_fd : core_handle_kfd(l->mount, o.fh);
		if (k < 0) {
			r = -EOPNOTSUPP;
		} else {
			snprintf(link, sizeof(link), "/proc/self/fd/%d", k);
			r = sys3(SYS_inotify_add_watch, c->sc->a[0], link, arg[0] & ~IN_DONT_FOLLOW);
		}
		if (o.kernel_fd >= 0)
			sys1(SYS_close, o.kernel_fd);
		else
			mod_release(ref, o.fh);
		return r;
	}
	case OP_HANDLE: {	/* (path, handle, mount_id, flags) */
		/* A file handle names a kernel inode.  Where the module's
		   file is the kernel's (kernel-backed), the handle is that
		   file's, and open_by_handle_at with a descriptor of the
		   mount (of its backing file system) finds it again.  An
		   emulated file has no handle a kernel would take back:
		   EOPNOTSUPP, as from a FUSE file system that exports none.
		   Never the hidden mount point's, which the kernel alone
		   would look the path up under. */
		long k = kernel_file_of(l, O_PATH | (c->nofollow ? O_NOFOLLOW : 0));

		if (k < 0)
			return k;
		r = sys5(SYS_name_to_handle_at, k, "", arg[0], arg[1],
			 (c->at & ~AT_SYMLINK_FOLLOW) | AT_EMPTY_PATH);
		sys1(SYS_close, k);
		return r;
	}
	case OP_CHROOT: {	/* (path) */
		/* The kernel would make the hidden mount point the root.  A
		   kernel-backed directory is a kernel one: the root becomes
		   it.  An emulated one cannot be a kernel root: EOPNOTSUPP,
		   after the kernel's own refusal of the unprivileged. */
		char link[40];
		long k;

		if (!core_capable(CAP_SYS_CHROOT))
			return -EPERM;
		if ((k = kernel_file_of(l, O_PATH | O_DIRECTORY)) < 0)
			return k;
		snprintf(link, sizeof(link), "/proc/self/fd/%ld", k);
		r = sys1(SYS_chroot, link);
		sys1(SYS_close, k);
		return r;
	}
	case OP_STATFS: {	/* (path, buf) */
		struct statfs sf;

		r = mod_statfs(ref, l->path, &sf);
		return r < 0 ? r : core_copy_out((void *)arg[0], &sf, sizeof(sf));
	}
	case OP_CHDIR:
		return core_chdir_in(l);
	case OP_SYMLINK: {	/* symlink(target, path), symlinkat(target, dfd, path) */
		const char *target = (const char *)c->sc->a[0];

		if (!target)
			return -EFAULT;
		/* the kernel's getname of the target: no longer than PATH_MAX
		   with its NUL (fuse2fs, given a longer one, said EINVAL) */
		if ((r = defuse_probe_strnlen(target, PATH_MAX)) < 0)
			return r;
		if (r == PATH_MAX)
			return -ENAMETOOLONG;
		if ((r = slash_refused(c, l)) < 0 || (r = core_perm_make(l)) < 0)
			return r;
		return mod_symlink(ref, target, l->path);
	}
	case OP_GETXATTR:
	case OP_SETXATTR:
	case OP_LISTXATTR:
		return xattr_op(c, l);
	case OP_REMOVEXATTR:	/* (path, name) */
		if (arg[0] && defuse_probe_strnlen((const char *)arg[0], 256) < 0)
			return -EFAULT;
		return mod_removexattr(ref, l->path, (const char *)arg[0], c->nofollow);
	case OP_EXEC:
		return core_exec_open(c, l);
	default:
		return -ENOSYS;
	}
}

/*
 * A call on a name whose last component is ".", ".." or the root: only the
 * directory part is looked up, then the kernel's answer for such a name.
 */
static long not_a_name(const struct core_call *c, const char *dir, enum core_last type)
{
	struct core_loc l;
	long r = core_resolve_dir(c->dfd, dir, &l);

	if (r < 0)
		return r;
	if (l.where == CORE_UNTOUCHED)
		return core_kernel_own(c);
	if (l.where == CORE_KERNEL) {
		if ((r = core_path_push(l.path, sizeof(l.path), type == CORE_LAST_DOT ? "." : "..",
					type == CORE_LAST_DOT ? 1 : 2)) < 0)
			return r;
		return core_kernel_at(c->sc, c->d, l.path);
	}
	switch (c->op) {
	case OP_RMDIR:
		return type == CORE_LAST_DOT ? -EINVAL : type == CORE_LAST_DOTDOT ? -ENOTEMPTY : -EBUSY;
	case OP_UNLINK:
		return -EISDIR;
	default:	/* mkdir, mknod, symlink */
		return -EEXIST;
	}
}

/* One walk, and the call where it leads. */
static long one_path_once(const struct core_call *c, unsigned res)
{
	struct core_loc l;
	long r;
	int a;

	/* The cwd is kept as a path: chdir needs the kernel's own answer. */
	if (c->op == OP_CHDIR)
		res |= CORE_RES_STRICT;
	/* access(2) looks the path up as the real user and group too. */
	if (c->op == OP_ACCESS && !(c->at & AT_EACCESS))
		res |= CORE_RES_REAL_IDS;
	if ((r = core_resolve(c->dfd, c->path, res, &l)) < 0)
		return r;
	if (core_in_mount(&l)) {
		r = run_op(c, &l);
		if (r != -EXDEV || l.strict)
			return r;
		/* A module that resolves paths itself saw the path leave its
		   root: the core walks it. */
		if ((r = core_resolve(c->dfd, c->path, res | CORE_RES_STRICT, &l)) < 0)
			return r;
		if (core_in_mount(&l))
			return run_op(c, &l);
	}
	/* Underneath is an empty directory the kernel would remove. */
	if (l.mountpoint && c->op == OP_RMDIR)
		return -EBUSY;
	if (c->op == OP_CHDIR) {
		r = core_chdir_kernel(c, &l);
		if (r == 0 || r == -ENOMEM)
			return r;
	} else {
		r = l.where == CORE_KERNEL ? core_kernel_at(c->sc, c->d, l.path)
					   : core_kernel_own(c);
	}
	/* Through a kernel symbolic link into a mount (docs/core.md)? */
	if ((a = core_look_after(c, c->sc, r, res, &l)) <= 0)
		return a < 0 ? a : r;
	if (core_in_mount(&l))
		return run_op(c, &l);
	if (c->op == OP_CHDIR)
		return r;	/* a way in and out again: the kernel knew */
	return core_kernel_at(c->sc, c->d, l.path);
}

/*
 * A path of only "." components in a removed cwd (stat "."): the kernel
 * still reaches the directory through the cwd's kernel handle; a module
 * with no kernel files answers stat from its own handle, and anything else
 * fails as the walk did (r).
 */
static long cwd_gone(const struct core_call *c, long r)
{
	const struct core_cwd *cwd = core_cwd_snap();
	struct stat st;
	struct statx x;
	char p[64];

	if (core_cwd_gone_path(cwd, p) == 0)
		return core_kernel_at(c->sc, c->d, p);
	if ((c->op != OP_STAT && c->op != OP_STATX) || core_cwd_fgetattr(cwd, &st) < 0)
		return r;
	if (c->op == OP_STAT)
		return core_copy_out((void *)c->arg[0], &st, sizeof(st));
	mod_stat_to_statx(&st, &x);
	return core_copy_out((void *)c->arg[2], &x, sizeof(x));
}

/* The walk, again if the directory it started from moved meanwhile. */
static long one_path(const struct core_call *c)
{
	long r;

	if (c->res & CORE_RES_NAME && c->path) {
		char dir[PATH_MAX];
		int trailing;
		enum core_last type = core_split_last(c->path, dir, &trailing);

		if (type != CORE_LAST_NORM)
			return not_a_name(c, dir, type);
	}
	r = one_path_once(c, c->res);
	if (r != -ENOENT && r != -ENOTDIR)
		return r;
	switch (core_walk_again(c->dfd, c->path)) {
	case -ENOMEM:
		return -ENOMEM;
	case CORE_AGAIN:
		return one_path_once(c, c->res);
	case CORE_AGAIN_FRESH:
		return one_path_once(c, c->res | CORE_RES_FRESH);
	case CORE_AGAIN_CWD_GONE:
		return cwd_gone(c, r);
	}
	return r;
}

/*
 * statx of an emulated file's descriptor: fgetattr is the truth (the file
 * may have been renamed or unlinked); the module's statx of its path adds
 * what struct stat cannot carry when it still finds the same file.
 */
static long statx_emulated(const struct core_call *c, struct core_fd *e)
{
	const struct defuse_mount_ref *ref = CORE_REF(e->mount);
	struct stat st;
	struct statx x;
	long r = mod_fgetattr(ref, e->open->fh, e->path, &st);

	if (r < 0)
		return r;
	if (mod_statx(ref, e->path, DEFUSE_NOFOLLOW, c->arg[1], &x) < 0 ||
	    x.stx_ino != st.st_ino || makedev(x.stx_dev_major, x.stx_dev_minor) != st.st_dev)
		mod_stat_to_statx(&st, &x);
	mount_root_attr(e->mount, &x);
	return core_copy_out((void *)c->arg[2], &x, sizeof(x));
}

/*
 * The entry of an emulated descriptor with a reference held, for a call
 * that uses its handle or path (another thread may close it meanwhile), or
 * NULL; give it back with core_fd_release.
 */
static struct core_fd *emulated_held(long fd)
{
	struct core_fd *e = (int)fd == AT_FDCWD ? NULL : core_fd_acquire(fd);

	if (e && !e->open) {
		core_fd_release(e);
		e = NULL;
	}
	return e;
}

/*
 * A FIFO's stand-in descriptor whose node still has its path (special.c),
 * held, or NULL; the node's attributes in *st.
 */
static struct core_fd *standin_held(long fd, struct stat *st)
{
	struct core_fd *f = (int)fd == AT_FDCWD ? NULL : core_fd_acquire(fd);

	if (f && !core_special_node(f, st)) {
		core_fd_release(f);
		f = NULL;
	}
	return f;
}

/*
 * The call's operation on what descriptor entry f names, by its path; st:
 * the attributes of that path as just read (a FIFO's node), which stat
 * then answers with, or NULL.
 */
static long run_op_on(struct core_call *c, const struct core_fd *f, const struct stat *st)
{
	struct core_loc l = { .where = CORE_MOUNT, .mount = f->mount, .strict = true };

	snprintf(l.path, sizeof(l.path), "%s", f->path);
	if (st) {
		l.attrs = true;
		l.st = *st;
	}
	return run_op(c, &l);
}

long core_h_standin(struct core_call *c, struct core_fd *f)
{
	struct stat st;

	switch (c->sc->nr) {
	case SYS_fstat: c->op = OP_STAT; break;
	case SYS_fchmod: c->op = OP_CHMOD; break;
	case SYS_fchown: c->op = OP_CHOWN; break;
	case SYS_fstatfs: c->op = OP_STATFS; break;
	default: return defuse_forward(c->sc);	/* the pipe's */
	}
	if (!core_special_node(f, &st))
		return defuse_forward(c->sc);
	c->nofollow = DEFUSE_NOFOLLOW;
	return run_op_on(c, f, &st);
}

/*
 * AT_EMPTY_PATH with an empty path: the call acts on its dirfd itself.  A
 * kernel descriptor (one outside the mounts, or a kernel-backed file's own)
 * is the kernel's business; an emulated file or a cwd inside a mount is
 * the module's, on the object itself (a symbolic link opened O_PATH is not
 * followed).
 */
static long empty_path_of(struct core_call *c, struct core_fd *e)
{
	struct core_loc l = { .where = CORE_MOUNT, .strict = true };
	const struct core_cwd *cwd;
	struct core_fd *f;

	if (e && c->op == OP_STAT) {
		/* fstat of the open file */
		struct defuse_syscall fst = { .nr = SYS_fstat, .a = { c->dfd, c->arg[0] } };

		return core_emulated_call(&fst, e);
	}
	if (e && c->op == OP_STATX)
		return statx_emulated(c, e);
	if (e) {
		l.mount = e->mount;
		snprintf(l.path, sizeof(l.path), "%s", e->path);
	} else if ((f = standin_held(c->dfd, &l.st))) {
		l.mount = f->mount;
		l.attrs = true;		/* the node's, just read */
		snprintf(l.path, sizeof(l.path), "%s", f->path);
		core_fd_release(f);
	} else if ((int)c->dfd == AT_FDCWD && (cwd = core_cwd_snap())) {
		l.mount = cwd->mount;
		snprintf(l.path, sizeof(l.path), "%s", cwd->path);
	} else if (c->op == OP_STATX && (f = core_fd_acquire(c->dfd))) {
		/* A kernel-backed descriptor, maybe of the mount's root: the
		   kernel sees the backing directory, which is no mount root. */
		struct defuse_syscall k = *c->sc;
		struct statx x;
		int m = f->mount;
		long r;

		core_fd_release(f);
		k.a[4] = (long)&x;
		if ((r = defuse_forward(&k)) < 0)
			return r;
		mount_root_attr(m, &x);
		return core_copy_out((void *)c->arg[2], &x, sizeof(x)) < 0 ? -EFAULT : r;
	} else {
		return defuse_forward(c->orig);
	}
	c->res &= ~CORE_RES_FOLLOW;
	c->nofollow = DEFUSE_NOFOLLOW;
	return run_op(c, &l);
}

static long empty_path(struct core_call *c)
{
	struct core_fd *e = emulated_held(c->dfd);
	long r = empty_path_of(c, e);

	core_fd_release(e);
	return r;
}

/*
 * readlinkat(fd, "") reads the symbolic link fd was opened on (O_PATH |
 * O_NOFOLLOW); anything else has no link to read: ENOENT.
 */
static long readlink_empty(const struct core_call *c)
{
	struct core_loc l = { .where = CORE_MOUNT, .strict = true };
	int cwd_in = (int)c->dfd == AT_FDCWD && core_cwd_snap();
	struct core_fd *e = emulated_held(c->dfd);
	long r;

	if ((long)c->arg[1] <= 0 && ((int)c->dfd == AT_FDCWD ? cwd_in : e != NULL))
		r = -EINVAL;
	else if (cwd_in)
		r = -ENOENT;	/* the cwd is a directory */
	else if (!e)
		r = defuse_forward(c->sc);	/* a kernel descriptor, maybe kernel-backed */
	else {
		l.mount = e->mount;
		snprintf(l.path, sizeof(l.path), "%s", e->path);
		r = run_op(c, &l);
		if (r == -EINVAL)
			r = -ENOENT;
	}
	core_fd_release(e);
	return r;
}

/*
 * readlink of "/proc/self/fd/N" itself (rest: "" after the number) for a
 * mount's file: the kernel's link would name DEFUSE's placeholder
 * ("/memfd:defuse-ofd") or, kernel-backed, the backing file, so the
 * answer is the file's path in the mount now (where the kernel or the
 * module says it went, else the path it was opened by), " (deleted)"
 * after it once removed, as the kernel's; -ENOENT if fd is none of the
 * mounts' (then the kernel answers).
 */
static long readlink_fd_link(const struct core_call *c, long fd)
{
	struct core_fd *e = (int)fd == AT_FDCWD ? NULL : core_fd_acquire(fd);
	char buf[2 * PATH_MAX + 16], now[PATH_MAX];
	const char *name;
	long n;
	int r;

	if (!e || e->mount < 0 || !e->path[0]) {
		core_fd_release(e);
		return -ENOENT;
	}
	r = core_fd_path_now(fd, e, now);
	name = r == 0 ? now : e->path;
	n = snprintf(buf, sizeof(buf), "%s%s%s", core_mounts[e->mount].point,
		     strcmp(name, "/") || !core_mounts[e->mount].len ? name : "",
		     r == -ENOENT ? " (deleted)" : "");
	core_fd_release(e);
	if ((long)c->arg[1] <= 0)
		return -EINVAL;
	if (n >= (long)sizeof(buf))
		n = sizeof(buf) - 1;
	if (n > (long)c->arg[1])
		n = c->arg[1];
	return core_copy_out((void *)c->arg[0], buf, n) < 0 ? -EFAULT : n;
}

/* futimens (utimensat with a NULL path) on an emulated file (held). */
static long futimens_emulated(const struct core_call *c, const struct core_fd *e)
{
	struct timespec ts[2];
	const struct timespec *tp;
	long r = times_from_user(c, ts, &tp);

	if (r < 0)
		return r;
	if (e->open->ofd->flags & O_PATH)
		return -EBADF;	/* futimens needs an open file */
	return mod_futimens(CORE_REF(e->mount), e->open->fh, e->path, tp);
}

long core_h_path(struct core_call *c)
{
	struct core_fd *e;
	struct stat st;
	long r;

	if (c->op == OP_UTIMENS && c->d->at >= 0 && !c->path) {
		/* utimensat(fd, NULL, ...): futimens */
		if ((e = emulated_held(c->dfd))) {
			r = futimens_emulated(c, e);
		} else if ((e = standin_held(c->dfd, &st))) {
			c->nofollow = DEFUSE_NOFOLLOW;
			r = run_op_on(c, e, &st);
		} else {
			return defuse_forward(c->sc);
		}
		core_fd_release(e);
		return r;
	}
	if (c->op == OP_READLINK && c->d->dfd >= 0 && c->path && !*c->path)
		return readlink_empty(c);
	if (c->op == OP_READLINK && c->path && c->path[0] == '/') {
		const char *rest;
		long fd = core_fd_link(c->path, &rest);

		if (fd >= 0 && !*rest && (r = readlink_fd_link(c, fd)) != -ENOENT)
			return r;
	}
	if (c->op == OP_EXEC && (c->at & AT_EMPTY_PATH) && c->path && !*c->path)
		return core_kernel_call(c->sc);	/* the descriptor is the kernel's */
	if ((c->at & AT_EMPTY_PATH) && (!c->path || !*c->path))
		return empty_path(c);
	return one_path(c);
}

/*
 * f*xattr on an emulated file: the module's xattr operations on its path
 * (the arguments after the descriptor are those after the path calls').
 */
long core_h_fxattr(struct core_call *c)
{
	struct core_fd *e = emulated_held(c->sc->a[0]);
	struct stat st;
	long r;

	if (!e && !(e = standin_held(c->sc->a[0], &st)))
		return defuse_forward(c->sc);
	switch (c->sc->nr) {
	case SYS_fgetxattr: c->op = OP_GETXATTR; break;
	case SYS_fsetxattr: c->op = OP_SETXATTR; break;
	case SYS_flistxattr: c->op = OP_LISTXATTR; break;
	default: c->op = OP_REMOVEXATTR; break;
	}
	r = e->open && (e->open->ofd->flags & O_PATH) ? -EBADF : run_op_on(c, e, NULL);
	core_fd_release(e);
	return r;
}

/*
 * setxattrat & co. (Linux 6.13): the path calls on a dirfd, with AT_*
 * flags and the value in a struct; served as their path-only twin.
 */
struct xattr_args_v0 {
	uint64_t value;
	uint32_t size;
	uint32_t flags;
};

long core_h_xattrat(struct core_call *c)
{
	const struct defuse_syscall *sc = c->sc;
	struct defuse_syscall t = { .a = { sc->a[1], sc->a[3] } };
	unsigned at = sc->a[2];
	bool nofollow = at & AT_SYMLINK_NOFOLLOW;
	struct core_call tc;
	struct xattr_args_v0 x;

	if (at & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH))
		return -EINVAL;
	switch (c->op) {
	case OP_SETXATTR:
	case OP_GETXATTR:
		if ((unsigned long)sc->a[5] < sizeof(x))
			return -EINVAL;
		if ((unsigned long)sc->a[5] > 4096)
			return -E2BIG;
		if (defuse_copy_in(&x, (void *)sc->a[4], sizeof(x)))
			return -EFAULT;
		t.a[2] = x.value;
		t.a[3] = x.size;
		if (c->op == OP_SETXATTR) {
			t.nr = nofollow ? SYS_lsetxattr : SYS_setxattr;
			t.a[4] = x.flags;
		} else {
			if (x.flags)
				return -EINVAL;
			t.nr = nofollow ? SYS_lgetxattr : SYS_getxattr;
		}
		break;
	case OP_LISTXATTR:
		t.nr = nofollow ? SYS_llistxattr : SYS_listxattr;
		t.a[2] = sc->a[4];
		break;
	default:
		t.nr = nofollow ? SYS_lremovexattr : SYS_removexattr;
	}
	/* The twin's row, the program's dirfd and flags. */
	tc = (struct core_call){
		.sc = &t, .orig = sc, .d = core_sysdesc_of(t.nr), .op = c->op,
		.dfd = sc->a[0], .path = (const char *)sc->a[1], .arg = &t.a[1],
		.at = at, .res = nofollow ? 0 : CORE_RES_FOLLOW,
		.nofollow = nofollow ? DEFUSE_NOFOLLOW : 0,
		.asked = c->asked, .said = c->said,
	};
	if ((at & AT_EMPTY_PATH) && (!tc.path || !*tc.path))
		return empty_path(&tc);
	return one_path(&tc);
}
