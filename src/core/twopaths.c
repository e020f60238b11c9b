/*
 * rename, renameat, renameat2, link and linkat: two paths, both in one
 * mount or neither.  As in the kernel: the two directories are looked up,
 * then EXDEV, then the kinds of the names, then the names themselves.
 * Renaming a mount point, or onto one, is EBUSY (the directory underneath
 * is the kernel's).
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
#include "core/syscalls.h"

/* Does the name l leads to exist (not following a last symbolic link)? */
static long name_exists(const struct core_loc *l)
{
	struct stat st;

	if (core_in_mount(l))
		return core_loc_getattr(l, &st, DEFUSE_NOFOLLOW);
	return sys4(SYS_newfstatat, AT_FDCWD, l->path, &st, AT_SYMLINK_NOFOLLOW);
}

/*
 * linkat(fd, "", ..., AT_EMPTY_PATH) of a kernel-backed file: the kernel
 * links the very file (also an O_TMPFILE one, which has no name) into a
 * descriptor of the new name's directory that the module hands out.  A
 * module that keeps directories to itself gets a link by path.
 */
static long link_fd(long fd, const struct core_loc *a, const struct core_loc *b)
{
	const struct defuse_mount_ref *ref = CORE_REF(b->mount);
	struct defuse_open o = { 0, -1 };
	char dir[PATH_MAX];
	const char *name = strrchr(b->path, '/') + 1;
	long r;

	memcpy(dir, b->path, name - b->path);
	dir[name - b->path] = 0;
	r = mod_open(ref, dir, O_PATH | O_DIRECTORY | O_CLOEXEC, 0, &o);
	if (r < 0)
		return r;
	mod_release(ref, o.fh);
	if (o.kernel_fd < 0)
		return mod_link(ref, a->path, b->path);
	r = sys5(SYS_linkat, fd, "", o.kernel_fd, name, AT_EMPTY_PATH);
	sys1(SYS_close, o.kernel_fd);
	return r;
}

/* A kernel path for a name that is "." or "..": where the kernel says why. */
static int kernel_name(struct core_loc *l, enum core_last type)
{
	if (type == CORE_LAST_NORM)
		return 0;
	return core_path_push(l->path, sizeof(l->path), type == CORE_LAST_DOT ? "." : "..",
			      type == CORE_LAST_DOT ? 1 : 2);
}

/* The first path of a link that names an open file itself (AT_EMPTY_PATH,
   or a followed /proc/self/fd link of an emulated file): its place. */
static void the_open_file(long dfd, struct core_loc *a)
{
	struct core_fd *f = (int)dfd == AT_FDCWD ? NULL : core_fd_acquire(dfd);
	const struct core_cwd *c = (int)dfd == AT_FDCWD ? core_cwd_snap() : NULL;

	a->where = CORE_UNTOUCHED;
	a->mount = -1;
	a->mountpoint = false;
	a->attrs = false;
	a->dir_attrs = false;
	if (c) {
		a->where = CORE_MOUNT;
		a->mount = c->mount;
		strcpy(a->path, c->path);
	} else if (f) {
		a->where = CORE_MOUNT;
		a->mount = f->mount;
		snprintf(a->path, sizeof(a->path), "%s", f->path);
	}
	core_fd_release(f);
}

/*
 * A rename in this process moved the cwd's directory, or one above it, in
 * a mount whose module hands out no kernel descriptor to learn that from
 * later (core_walk_again): the cwd follows it, as a kernel cwd would.
 * (A rename by another process is not seen: the cwd stays a path there.)
 */
static void cwd_follows(int m, const char *from, const char *to, unsigned flags)
{
	const struct core_cwd *c = core_cwd_snap();
	const char *rest, *base = to;
	char now[PATH_MAX];

	if (!c || c->mount != m || core_cwd_kfd(c) >= 0)
		return;
	if (!(rest = core_path_below(c->path, from, strlen(from)))) {
		if (!(flags & RENAME_EXCHANGE) || !(rest = core_path_below(c->path, to, strlen(to))))
			return;
		base = from;
	}
	if (snprintf(now, sizeof(now), "%s%s", base, rest) < (int)sizeof(now))
		core_cwd_moved(now);
}

/* Both paths outside the mounts: the kernel's call, with the paths the
   walk found if it passed through a mount. */
static long in_kernel(const struct core_call *c, struct core_loc *a, struct core_loc *b,
		      enum core_last ta, enum core_last tb, bool empty)
{
	const struct core_sysdesc *d = c->d;
	struct defuse_syscall k = *c->sc;
	long r;

	if (a->where == CORE_UNTOUCHED && b->where == CORE_UNTOUCHED)
		return core_kernel_own(c);	/* (sc is orig here: no translation) */
	if (c->op == OP_RENAME && (a->mountpoint || b->mountpoint) && !ta && !tb) {
		struct stat st;

		r = sys4(SYS_newfstatat, AT_FDCWD, a->path, &st, AT_SYMLINK_NOFOLLOW);
		return r < 0 ? r : -EBUSY;
	}
	if ((r = kernel_name(a, ta)) < 0 || (r = kernel_name(b, tb)) < 0)
		return r;
	if (!empty) {
		if (d->dfd >= 0)
			k.a[d->dfd] = AT_FDCWD;
		k.a[d->path] = (long)a->path;
	}
	if (d->dfd2 >= 0)
		k.a[d->dfd2] = AT_FDCWD;
	k.a[d->path2] = (long)b->path;
	return defuse_forward(&k);
}

/*
 * A directory moved into itself: the kernel's check in lock_rename, made
 * before the file system is asked (EINVAL for a source that is an
 * ancestor of the target; ENOTEMPTY for a target that is one of the
 * source's, EINVAL with RENAME_EXCHANGE).  A file system that trusts the
 * kernel for it (fuse2fs) moved the directory under itself, where nothing
 * could reach it again.  The paths are the walk's, every link followed.
 */
static long rename_into_itself(const char *from, const char *to, unsigned flags)
{
	const char *rest;

	/* (the root is never either: EBUSY before) */
	if ((rest = core_path_below(to, from, strlen(from))) && *rest)
		return -EINVAL;
	if ((rest = core_path_below(from, to, strlen(to))) && *rest)
		return (flags & RENAME_EXCHANGE) ? -EINVAL : -ENOTEMPTY;
	return 0;
}

long core_h_two_paths(struct core_call *c)
{
	const struct defuse_syscall *sc = c->sc;
	const struct core_sysdesc *d = c->d;
	bool is_link = c->op == OP_LINK;
	long dfd1 = c->dfd, dfd2 = d->dfd2 >= 0 ? sc->a[d->dfd2] : AT_FDCWD;
	const char *u1 = c->path, *u2 = (const char *)sc->a[d->path2];
	/* linkat follows a last symbolic link only when asked */
	unsigned res1 = is_link ? ((c->at & AT_SYMLINK_FOLLOW) ? CORE_RES_FOLLOW : 0)
				: CORE_RES_NAME;
	unsigned flags = sc->nr == SYS_renameat2 ? sc->a[4] : 0;
	enum core_last ta = CORE_LAST_NORM, tb = CORE_LAST_NORM;
	int trail1 = 0, trail2 = 0;
	bool empty = false, magic = false;
	char dir[PATH_MAX];
	struct core_loc a, b;
	long r;

	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT))
		return -EINVAL;
	if ((flags & (RENAME_NOREPLACE | RENAME_WHITEOUT)) && (flags & RENAME_EXCHANGE))
		return -EINVAL;

	if (is_link && (res1 & CORE_RES_FOLLOW) && u1 && u1[0] == '/') {
		/* linkat of /proc/self/fd/N, followed, of an emulated file: the
		   open file itself, as with AT_EMPTY_PATH (O_TMPFILE's way to a
		   name, with no privilege needed). */
		const char *after;
		long n = core_fd_link_emulated(u1, &after);

		if (n >= 0 && !*after) {
			dfd1 = n;
			u1 = "";
			magic = true;
		}
	}
	if (is_link && ((c->at & AT_EMPTY_PATH) || magic) && u1 && !*u1) {
		empty = true;
		the_open_file(dfd1, &a);
	} else {
		if (!is_link && u1 && (ta = core_split_last(u1, dir, &trail1)) != CORE_LAST_NORM)
			r = core_resolve_dir(dfd1, dir, &a);
		else
			r = core_resolve(dfd1, u1, res1 | CORE_RES_STRICT, &a);
		if (r < 0)
			return r;
	}
	if (u2 && (tb = core_split_last(u2, dir, &trail2)) != CORE_LAST_NORM)
		r = core_resolve_dir(dfd2, dir, &b);
	else
		r = core_resolve(dfd2, u2, CORE_RES_NAME | CORE_RES_STRICT, &b);
	if (r < 0)
		return r;

	/* A kernel part may hold kernel symbolic links into a mount: a path
	   that names none is resolved physically before the two are found
	   in different places (or, both in the kernel, before the kernel is
	   asked; an unrouted call the kernel failed comes here again). */
	if (a.mount != b.mount || (a.where == CORE_UNTOUCHED && b.where == CORE_UNTOUCHED)) {
		struct core_loc p;

		if (a.where == CORE_UNTOUCHED && !empty && ta == CORE_LAST_NORM &&
		    (r = core_resolve_physically(dfd1, u1, res1, false, &p)) != 0) {
			if (r < 0)
				return r;
			a = p;
		}
		if (b.where == CORE_UNTOUCHED && tb == CORE_LAST_NORM &&
		    (r = core_resolve_physically(dfd2, u2, CORE_RES_NAME, false, &p)) != 0) {
			if (r < 0)
				return r;
			b = p;
		}
	}
	if (!core_in_mount(&a) && !core_in_mount(&b))
		return in_kernel(c, &a, &b, ta, tb, empty);
	if (is_link) {
		/* The new name is checked before the two file systems. */
		if (tb != CORE_LAST_NORM || b.mountpoint)
			return -EEXIST;
		if (trail2 || a.mount != b.mount) {
			r = name_exists(&b);
			if (r == 0)
				return -EEXIST;
			if (trail2 || r != -ENOENT)
				return r;
		}
	}
	if (a.mount != b.mount)
		return -EXDEV;
	if (is_link) {
		struct core_fd *f;

		if ((r = core_perm_link(empty ? NULL : &a, &b)) < 0)
			return r;
		f = empty && (int)dfd1 != AT_FDCWD ? core_fd_acquire(dfd1) : NULL;
		if (f && !f->open)
			r = link_fd(dfd1, &a, &b);
		else if (f)	/* an emulated file: the module links the open file */
			r = mod_flink(CORE_REF(a.mount), f->open->fh, f->path,
				      (f->open->ofd->flags & O_TMPFILE) == O_TMPFILE, b.path);
		else
			r = mod_link(CORE_REF(a.mount), a.path, b.path);
		core_fd_release(f);
		return r;
	}
	if (ta != CORE_LAST_NORM)
		return -EBUSY;
	if (tb != CORE_LAST_NORM)
		return (flags & RENAME_NOREPLACE) ? -EEXIST : -EBUSY;
	if (trail1 || trail2) {
		/* Trailing slashes are for directories only. */
		struct stat st;

		if ((r = core_loc_getattr(&a, &st, DEFUSE_NOFOLLOW)) < 0)
			return r;
		if (!S_ISDIR(st.st_mode))
			return -ENOTDIR;
	}
	if (!core_mounts[a.mount].resolves && (r = rename_into_itself(a.path, b.path, flags)) < 0)
		return r;
	if ((r = core_perm_rename(&a, &b, flags)) < 0)
		return r;
	r = core_special_mount(a.mount) ? core_special_rename(a.mount, a.path, b.path, flags)
					: mod_rename(CORE_REF(a.mount), a.path, b.path, flags);
	if (r == 0)
		cwd_follows(a.mount, a.path, b.path, flags);
	return r;
}
