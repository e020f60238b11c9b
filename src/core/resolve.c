/*
 * Path resolution (resolve.h): where a path leads, found component by
 * component as the kernel would.
 *
 *   - The kernel part is walked lexically ("." skipped, ".." drops a
 *     component) until the walk touches a mount; after that, or when the
 *     kernel's answer to a call says a kernel symbolic link may have led
 *     it into a mount (CORE_RES_PHYSICAL: syscalls.c, core_look_after),
 *     physically: each component is tried with readlink, so a kernel
 *     symbolic link may lead (back) into a mount (docs/core.md).
 *   - Entering a mount point switches to the mount.  A module that resolves
 *     paths itself (DEFUSE_MODULE_RESOLVES) gets the rest of the path as is;
 *     when it answers -EXDEV (resolution would leave its root) the caller
 *     resolves again strictly.
 *   - Strictly, inside a mount, every component but a last one that is not
 *     to be followed is looked up (getattr); symbolic links are read and
 *     spliced in (absolute ones restart at the kernel's root), ".." at the
 *     mount's root leaves the mount to the mount point's parent, 40 links
 *     give ELOOP, a non-directory in the middle gives ENOTDIR.  The last
 *     lookup's attributes stay in the result while they are the resolved
 *     path's, so that stat, chdir and the like do not ask the module again
 *     (core_loc_getattr).  For a module that wants the host's permission
 *     checks, each directory a name is looked up in must be searchable
 *     (perm.c), checked from the same lookups.
 *   - If the path never touched a mount, the result says so
 *     (CORE_UNTOUCHED) and the original call goes to the kernel unchanged,
 *     so kernel semantics stay exact.
 *
 * Needs of the rest of the core: the mount table, the descriptor table (a
 * dirfd's mount and path), the cwd of the call (cwd.c) and the modules'
 * getattr and readlink, and perm.c's checks; nothing else, so tests/unit
 * runs it against a fake module.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <linux/openat2.h>
#include "kernel/sys.h"
#include "core/core.h"
#include "core/perm.h"
#include "core/resolve.h"

#define MAXLINKS 40

static bool is_dotdot(const char *c, size_t n) { return n == 2 && c[0] == '.' && c[1] == '.'; }
static bool is_dot(const char *c, size_t n) { return n == 1 && c[0] == '.'; }

int core_path_push(char *buf, size_t cap, const char *c, size_t n)
{
	size_t len = strlen(buf);

	if (len == 1 && buf[0] == '/')
		len = 0;
	if (len + 1 + n + 1 > cap)
		return -ENAMETOOLONG;
	buf[len] = '/';
	memcpy(buf + len + 1, c, n);
	buf[len + 1 + n] = 0;
	return 0;
}

#define PUSH(l, c, n) core_path_push((l)->path, sizeof((l)->path), c, n)

/* Drops the last component; "/" (or "") stays the root. */
static void pop(char *buf)
{
	char *s = strrchr(buf, '/');

	if (!s || s == buf) {
		buf[0] = '/';
		buf[1] = 0;
		return;
	}
	*s = 0;
}

enum core_last core_split_last(const char *path, char dir[PATH_MAX], int *trailing)
{
	size_t len = strnlen(path, PATH_MAX), e = len, b;

	while (e > 0 && path[e - 1] == '/')
		e--;
	*trailing = e < len;
	if (e == 0) {
		strcpy(dir, "/");
		return len ? CORE_LAST_ROOT : CORE_LAST_NORM;	/* "" is ENOENT later */
	}
	for (b = e; b > 0 && path[b - 1] != '/'; b--)
		;
	if (b == 0 || len == PATH_MAX) {
		strcpy(dir, ".");
	} else {
		memcpy(dir, path, b);
		dir[b] = 0;
	}
	if (is_dot(path + b, e - b))
		return CORE_LAST_DOT;
	return is_dotdot(path + b, e - b) ? CORE_LAST_DOTDOT : CORE_LAST_NORM;
}

unsigned core_res_from_openat2(unsigned long long resolve)
{
	return ((resolve & RESOLVE_NO_SYMLINKS) ? CORE_RES_NO_SYMLINKS : 0) |
	       ((resolve & RESOLVE_NO_MAGICLINKS) ? CORE_RES_NO_MAGICLINKS : 0) |
	       ((resolve & RESOLVE_NO_XDEV) ? CORE_RES_NO_XDEV : 0) |
	       ((resolve & RESOLVE_BENEATH) ? CORE_RES_BENEATH : 0) |
	       ((resolve & RESOLVE_IN_ROOT) ? CORE_RES_IN_ROOT : 0);
}

/*
 * Need kpath not be read as a possible symbolic link?  A mount point and
 * its ancestors are none (mount points are canonical); /proc holds magic
 * links, which the kernel follows to their object, not to the text
 * readlink gives.
 */
static bool on_mount_path(const char *kpath)
{
	size_t n = strlen(kpath);

	if (n == 1 || !strncmp(kpath, "/proc/", 6))
		return true;
	for (int i = 0; i < core_nmounts; i++)
		if (core_mounts[i].len >= n && !memcmp(core_mounts[i].point, kpath, n) &&
		    (core_mounts[i].point[n] == '/' || !core_mounts[i].point[n]))
			return true;	/* on the way to a mount point, or one */
	return false;
}

static int mount_at(const char *kpath)
{
	for (int i = 0; i < core_nmounts; i++)
		if (!strcmp(core_mounts[i].point, kpath))
			return i;
	return -1;
}

/* Into mount m, at its root. */
static void enter(struct core_loc *l, int m)
{
	l->where = CORE_MOUNT;
	l->mount = m;
	strcpy(l->path, "/");
}

/* Out of any mount, to the kernel's path l->path. */
static void to_kernel(struct core_loc *l)
{
	if (l->where == CORE_MOUNT)
		l->where = CORE_KERNEL;
	l->mount = -1;
}

/* A mount descriptor a relative path starts from: is it a directory? */
static int start_is_dir(long dfd)
{
	struct core_fd *f = core_fd_acquire(dfd);
	struct stat st;
	long r;

	if (!f)
		return -EBADF;	/* closed meanwhile */
	if (!f->open)
		r = sys2(SYS_fstat, dfd, &st);	/* the kernel-backed file itself */
	else
		r = mod_fgetattr(CORE_REF(f->mount), f->open->fh, f->path, &st);
	core_fd_release(f);
	if (r < 0)
		return r;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

/*
 * Where a kernel-backed descriptor's directory is in its mount now (the
 * core keeps the path it was opened by, which a rename makes stale): the
 * kernel knows the backing path of the descriptor and of the mount's root.
 */
static char *root_kpath[CORE_MOUNTS_MAX];

long core_fd_kpath(long kfd, char *out, size_t cap)
{
	char link[64];
	long n;

	snprintf(link, sizeof(link), "/proc/self/fd/%ld", kfd);
	n = sys3(SYS_readlink, link, out, cap - 1);
	if (n >= 0)
		out[n] = 0;
	return n;
}

int core_kdir_open(int m, const char *dir, struct core_kdir *d)
{
	int r;

	d->o = (struct defuse_open){ 0, -1 };
	d->kfd = -1;
	if ((r = mod_open(CORE_REF(m), dir, O_PATH | O_DIRECTORY | O_CLOEXEC, 0, &d->o)) < 0)
		return r;
	d->kfd = d->o.kernel_fd >= 0 ? d->o.kernel_fd : core_handle_kfd(m, d->o.fh);
	if (d->kfd < 0) {
		mod_release(CORE_REF(m), d->o.fh);
		return -EOPNOTSUPP;
	}
	return 0;
}

void core_kdir_close(int m, struct core_kdir *d)
{
	if (d->kfd < 0)
		return;
	if (d->o.kernel_fd >= 0)
		sys1(SYS_close, d->o.kernel_fd);
	mod_release(CORE_REF(m), d->o.fh);
	d->kfd = -1;
}

long core_dir_kpath(int m, const char *dir, char *out, size_t cap)
{
	struct core_kdir d;
	long n;

	if ((n = core_kdir_open(m, dir, &d)) < 0)
		return n;
	n = core_fd_kpath(d.kfd, out, cap) <= 0 ? -EIO : (long)strlen(out);
	core_kdir_close(m, &d);
	return n;
}

const char *core_mount_root_kpath(int m)
{
	char root[PATH_MAX], *dup, *none = NULL;
	long rn;

	if (root_kpath[m])
		return root_kpath[m];
	if (__atomic_load_n(&core_mounts[m].no_kdirs, __ATOMIC_RELAXED))
		return NULL;
	rn = core_dir_kpath(m, "/", root, sizeof(root));
	if (rn == -EOPNOTSUPP)	/* for good: the module has no kernel files */
		__atomic_store_n(&core_mounts[m].no_kdirs, 1, __ATOMIC_RELAXED);
	if (rn <= 0 || !(dup = strndup(root, rn)))
		return NULL;
	if (!__atomic_compare_exchange_n(&root_kpath[m], &none, dup, 0, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE))
		free(dup);	/* another thread was first */
	return root_kpath[m];
}

int core_kfd_path_now(int m, long kfd, char out[PATH_MAX])
{
	const char *root = core_mount_root_kpath(m);
	long n, rn;

	if (!root)
		return -1;
	rn = strlen(root);
	if ((n = core_fd_kpath(kfd, out, PATH_MAX)) <= 0)
		return -1;
	if (n > 10 && !strcmp(out + n - 10, " (deleted)"))
		return -ENOENT;
	if (rn == 1)
		rn = 0;	/* the backing root is "/" */
	if (!core_path_below(out, root, rn))
		return -1;	/* moved out of the mount's backing tree */
	memmove(out, out + rn, n - rn + 1);
	if (!out[0])
		strcpy(out, "/");
	return 0;
}

/* Kernel-backed: the descriptor itself; emulated: the module's kernel
   descriptor behind its handle, or the module's own answer when it has
   no kernel files (module.h, fh_path). */
int core_fd_path_now(long fd, const struct core_fd *f, char out[PATH_MAX])
{
	long kfd = !f->open ? fd : f->open->lock_fd >= 0 ? f->open->lock_fd
			     : core_handle_kfd(f->mount, f->open->fh);
	int r;

	if (kfd >= 0)
		return core_kfd_path_now(f->mount, kfd, out);
	if (!f->open || (r = mod_fh_path(CORE_REF(f->mount), f->open->fh, out, PATH_MAX)) == -ENOSYS)
		return -1;
	return r == -ENOENT ? -ENOENT : r < 0 ? -1 : 0;
}

/* Only "." components: what a removed directory still answers. */
static bool only_dots(const char *p)
{
	for (; *p; p++)
		if (*p != '.' && *p != '/')
			return false;
		else if (p[0] == '.' && p[1] == '.')
			return false;
	return true;
}

int core_walk_again(long dfd, const char *upath)
{
	const struct core_cwd *c;
	char now[PATH_MAX];
	int r;

	if (!upath || !upath[0] || upath[0] == '/')
		return CORE_AGAIN_NO;
	if ((int)dfd != AT_FDCWD) {
		/* A kernel-backed directory descriptor renamed since it was
		   opened: redo the walk from where it is now. */
		struct core_fd *f = core_fd_acquire(dfd);

		r = f && core_fd_path_now(dfd, f, now) == 0 && strcmp(now, f->path);
		core_fd_release(f);
		return r ? CORE_AGAIN_FRESH : CORE_AGAIN_NO;
	}
	if (!(c = core_cwd_snap()))
		return CORE_AGAIN_NO;
	r = core_cwd_path_now(c, now);
	if (r == -ENOENT)
		return only_dots(upath) ? CORE_AGAIN_CWD_GONE : CORE_AGAIN_NO;
	if (r < 0 || !strcmp(now, c->path))
		return CORE_AGAIN_NO;
	/* The call's cwd follows the rename. */
	return core_cwd_moved(now) < 0 ? -ENOMEM : CORE_AGAIN;
}

/* The starting directory of a relative path (a kernel one leaves l's
   where as it was, or CORE_KERNEL if it was in a mount). */
static int start_at(long dfd, struct core_loc *l, unsigned flags)
{
	struct core_fd *f;
	long n;

	if ((int)dfd == AT_FDCWD) {
		const struct core_cwd *c = core_cwd_snap();

		if (c) {
			l->where = CORE_MOUNT;
			l->mount = c->mount;
			strcpy(l->path, c->path);
			return 0;
		}
		to_kernel(l);
		n = sys2(SYS_getcwd, l->path, PATH_MAX);
		return n < 0 ? (int)n : 0;
	}
	if ((f = core_fd_acquire(dfd))) {
		l->where = CORE_MOUNT;
		l->mount = f->mount;
		if (!(flags & CORE_RES_FRESH) || core_fd_path_now(dfd, f, l->path) < 0)
			snprintf(l->path, sizeof(l->path), "%s", f->path);
		core_fd_release(f);
		return 0;
	}
	to_kernel(l);
	n = core_fd_kpath(dfd, l->path, PATH_MAX);
	if (n < 0)
		return n == -ENOENT ? -EBADF : (int)n;
	if (l->path[0] != '/')
		return -ENOTDIR;	/* a pipe, a socket: the kernel will say */
	return 0;
}

/* The same, switched into the mount if it is a mount point. */
static int start_in(long dfd, struct core_loc *l, unsigned flags)
{
	int r = start_at(dfd, l, flags);

	if (r < 0)
		return r;
	if (l->mount < 0 && (r = mount_at(l->path)) >= 0)
		enter(l, r);
	return 0;
}

/* The next component of a path from p on: its start (NULL: none left). */
static const char *next_name(const char *p, size_t *n)
{
	const char *c;

	while (*p == '/')
		p++;
	if (!*p)
		return NULL;
	for (c = p; *p && *p != '/'; p++)
		;
	*n = p - c;
	return c;
}

/*
 * Appends the rest of a path, from component rest on, to a mount-relative
 * path for a module that resolves paths itself: "." and empty components
 * dropped, ".." and symbolic links left for the module, a trailing slash
 * kept (it asks for a directory, as does a last "." component, which
 * becomes one).
 */
static int hand_over(struct core_loc *l, const char *rest)
{
	size_t len = strlen(rest);
	bool want_dir = false, trailing = len && rest[len - 1] == '/';
	const char *c;
	size_t n;

	for (const char *p = rest; (c = next_name(p, &n)); p = c + n) {
		int r;

		if (is_dot(c, n)) {
			want_dir = true;
		} else {
			if ((r = PUSH(l, c, n)) < 0)
				return r;
			want_dir = false;
		}
	}
	if ((want_dir || trailing) && strcmp(l->path, "/")) {
		len = strlen(l->path);
		if (len + 2 > sizeof(l->path))
			return -ENAMETOOLONG;
		l->path[len] = '/';
		l->path[len + 1] = 0;
	}
	return 0;
}

/*
 * Back at the start of a scoped lookup (BENEATH, IN_ROOT)?  Such a walk
 * never goes above its start, so the path there is the start's whenever
 * it is in the same place and of the same length.
 */
static bool at_root(const struct core_loc *l, int mount, size_t len)
{
	return l->mount == mount && strlen(l->path) == len;
}

/* core_resolve's walk; the result may be in a dead mount (mounts.c). */
static int walk(long dfd, const char *upath, unsigned flags, struct core_loc *l)
{
	char rest[2 * PATH_MAX], tmp[PATH_MAX];
	size_t plen, rootlen = 0;
	ssize_t tl;
	int links = 0, r, check_start, rootm = -2;
	bool scoped = flags & (CORE_RES_BENEATH | CORE_RES_IN_ROOT);
	bool real = flags & CORE_RES_REAL_IDS;
	bool strict, searched = false, perm = false;
	struct stat here;	/* searched: the directory's attributes */
	int perm_m = -1;	/* the mount perm was asked for */

	/* Every flag but these asks for the core's own walk. */
	if (flags & ~(CORE_RES_FOLLOW | CORE_RES_NAME | CORE_RES_CREATE | CORE_RES_REAL_IDS))
		flags |= CORE_RES_STRICT;
	strict = flags & CORE_RES_STRICT;
	l->where = CORE_UNTOUCHED;
	l->mount = -1;
	l->strict = strict;
	l->mountpoint = false;
	l->attrs = false;
	l->dir_attrs = false;
	if (!upath)
		return -EFAULT;
	plen = strnlen(upath, PATH_MAX);
	/* The kernel wants a directory to start from: a descriptor of a file
	   fails any non-empty path with ENOTDIR.  Inside a mount the lookups
	   find that out, except for a path that starts with "." or "..". */
	check_start = upath[0] && upath[0] != '/' && (int)dfd != AT_FDCWD && core_fd_get(dfd);
	if (plen == PATH_MAX)
		return -ENAMETOOLONG;
	if (plen == 0)
		return -ENOENT;
	if (upath[0] == '/' && (flags & CORE_RES_BENEATH))
		return -EXDEV;
	if (upath[0] == '/' && !(flags & CORE_RES_IN_ROOT)) {
		const char *after;
		long n = core_fd_link_emulated(upath, &after);
		struct core_fd *e = core_fd_emulated(n);

		strcpy(l->path, "/");
		if (n == -ESTALE)
			return -ESTALE;
		if (e && (flags & (CORE_RES_NO_MAGICLINKS | CORE_RES_NO_SYMLINKS)))
			return -ELOOP;
		if (e) {
			/* The magic link of an emulated file: the file itself. */
			l->where = CORE_MOUNT;
			l->mount = e->mount;
			snprintf(l->path, sizeof(l->path), "%s", e->path);
			upath = after;
			plen = strlen(after);
		}
	} else if ((r = start_in(dfd, l, flags)) < 0) {
		return r;
	}
	memcpy(rest, upath, plen + 1);
	if (l->mount < 0 && (r = mount_at(l->path)) >= 0)
		enter(l, r);
	if (scoped) {
		rootm = l->mount;
		rootlen = strlen(l->path);
	}

	for (char *p = rest;;) {
		char *c;
		size_t n;
		bool last, slashed, follow_last, dir_known;

		if (!(c = (char *)next_name(p, &n)))
			break;
		/* A slash after the last component (the program's, or a link
		   target's) asks for a directory. */
		slashed = c[n] == '/';
		for (p = c + n; *p == '/'; p++)
			;
		last = !*p;
		/* Is a symbolic link as the last component followed?  A slash
		   after it makes a lookup follow it, not a call on the name. */
		follow_last = (flags & CORE_RES_FOLLOW) || (slashed && !(flags & CORE_RES_NAME));
		if (check_start) {
			check_start = 0;
			if ((is_dot(c, n) || is_dotdot(c, n)) && (r = start_is_dir(dfd)) < 0)
				return r;
		}
		/* A name looked up in a directory of a mount whose module
		   wants the host's checks needs search permission there, "."
		   and ".." too (may_lookup; perm.c). */
		if (l->mount >= 0 && l->mount != perm_m) {
			perm_m = l->mount;
			perm = core_perm_on(perm_m, real);
		}
		if (!searched && l->mount >= 0 && perm) {
			if ((r = core_perm_search(l, real, &here)) < 0)
				return r;
			searched = true;
		}
		if (is_dot(c, n))
			continue;
		/* Whatever this component does to the path (push, pop, a link
		   spliced, a mount entered or left, the rest handed over), the
		   attributes of the last lookup are no longer its own, nor is
		   the directory searched any more the one it is in. */
		l->attrs = false;
		l->dir_attrs = false;
		dir_known = searched;
		searched = false;

		if (l->mount < 0) {
			/* In the kernel's file system. */
			if (is_dotdot(c, n)) {
				if (scoped && at_root(l, rootm, rootlen)) {
					if (flags & CORE_RES_BENEATH)
						return -EXDEV;
					continue;
				}
				pop(l->path);
				continue;
			}
			if ((r = PUSH(l, c, n)) < 0)
				return r;
			if ((l->where != CORE_UNTOUCHED || (flags & CORE_RES_PHYSICAL)) &&
			    !on_mount_path(l->path) && (!last || follow_last)) {
				/* A kernel symbolic link, maybe into a mount. */
				tl = sys3(SYS_readlink, l->path, tmp, sizeof(tmp) - 1);
				if (tl >= 0)
					goto splice;
			}
			if ((r = mount_at(l->path)) >= 0) {
				if (last && (flags & CORE_RES_NAME)) {
					/* rmdir, rename, unlink... of the mount point
					   itself: a name in the parent's file system. */
					l->mountpoint = true;
					l->where = CORE_KERNEL;
					continue;
				}
				if (flags & CORE_RES_NO_XDEV)
					return -EXDEV;
				enter(l, r);
				if (!strict && core_mounts[r].resolves && *p)
					return hand_over(l, p);
			}
			continue;
		}

		/* Inside mount l->mount, whose module must be there to ask. */
		if (core_mounts[l->mount].dead)
			return core_mounts[l->mount].dead;
		if (!strict && core_mounts[l->mount].resolves)
			/* Started inside the mount (cwd, dirfd): hand the rest over. */
			return hand_over(l, c);
		if (is_dotdot(c, n)) {
			if (scoped && at_root(l, rootm, rootlen)) {
				if (flags & CORE_RES_BENEATH)
					return -EXDEV;
				continue;
			}
			if (!strcmp(l->path, "/")) {
				if (flags & CORE_RES_NO_XDEV)
					return -EXDEV;
				/* Out of the mount's root, to the mount point's parent. */
				strcpy(l->path, core_mounts[l->mount].point);
				to_kernel(l);
			}
			pop(l->path);
			continue;
		}
		if ((r = PUSH(l, c, n)) < 0)
			return r;
		if (dir_known) {
			l->dir_st = here;	/* the directory of l->path's name */
			l->dir_attrs = true;
		}
		if (!last || follow_last || slashed) {
			long g = mod_getattr(CORE_REF(l->mount), l->path, &l->st, DEFUSE_NOFOLLOW);

			if (g == -ENOENT && last)
				break;	/* to be created */
			if (g < 0)
				return g;
			if (S_ISLNK(l->st.st_mode) && (!last || follow_last)) {
				tl = mod_readlink(CORE_REF(l->mount), l->path, tmp, sizeof(tmp) - 1);
				if (tl < 0)
					return tl;
				if (tl == 0)
					return -ENOENT;	/* an empty target, as the kernel */
splice:
				if (++links > MAXLINKS || (flags & CORE_RES_NO_SYMLINKS))
					return -ELOOP;
				tmp[tl] = 0;
				if (tl + strlen(c + n) + 1 > sizeof(rest))
					return -ENAMETOOLONG;
				/* rest := target, then what followed the link's
				   name, slashes and all (c + n points into rest). */
				memmove(rest + tl, c + n, strlen(c + n) + 1);
				memcpy(rest, tmp, tl);
				p = rest;
				pop(l->path);
				if (tmp[0] == '/') {
					if (flags & CORE_RES_BENEATH)
						return -EXDEV;
					if (flags & CORE_RES_IN_ROOT) {
						if ((r = start_in(dfd, l, flags)) < 0)
							return r;
						continue;
					}
					if ((flags & CORE_RES_NO_XDEV) && l->mount >= 0)
						return -EXDEV;
					to_kernel(l);
					strcpy(l->path, "/");
				}
				continue;
			}
			if (!S_ISDIR(l->st.st_mode) && (!last || slashed)) {
				/* A call that creates the name finds it taken
				   first (mkdir "f/": EEXIST, as the kernel). */
				if (last && (flags & CORE_RES_CREATE))
					return -EEXIST;
				return -ENOTDIR;
			}
			l->attrs = true;	/* l->path's, until the next component */
		}
	}
	return 0;
}

int core_resolve(long dfd, const char *upath, unsigned flags, struct core_loc *l)
{
	int r = walk(dfd, upath, flags, l);

	if (r == 0 && core_in_mount(l) && core_mounts[l->mount].dead)
		return core_mounts[l->mount].dead;
	/* The core walked it all when the module does not resolve. */
	if (r == 0 && core_in_mount(l) && !core_mounts[l->mount].resolves)
		l->strict = true;
	return r;
}

int core_resolve_dir(long dfd, const char *dir, struct core_loc *l)
{
	struct stat st;
	int r = core_resolve(dfd, dir, CORE_RES_FOLLOW | CORE_RES_STRICT, l);

	if (r < 0 || !core_in_mount(l))
		return r;
	/* The walk's own lookup of the directory, when it made one (none
	   for the mount's root, a "." of the cwd, a ".." it ended on). */
	if ((r = core_loc_getattr(l, &st, 0)) < 0)
		return r;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int core_loc_getattr(const struct core_loc *l, struct stat *st, int flags)
{
	/* The walk asks without following: for anything but a symbolic
	   link that is the followed answer too. */
	if (l->attrs && ((flags & DEFUSE_NOFOLLOW) || !S_ISLNK(l->st.st_mode))) {
		*st = l->st;
		return 0;
	}
	return mod_getattr(CORE_REF(l->mount), l->path, st, flags);
}
