/*
 * Serving a call that route.c sent here: resolve its path(s) component by
 * component as the kernel would, then either pass the call on to the kernel
 * (the path ends outside every mount) or call the mount's module.
 *
 * Runs behind defuse_call_xsaved with in_defuse set (see core_call in
 * capture/dispatch.c): ordinary C, and the module's own system calls go
 * straight to the kernel.
 *
 * Resolution (resolve()):
 *   - The kernel part is walked lexically ("." skipped, ".." drops a
 *     component) until the walk touches a mount; after that, or when the
 *     kernel failed a routed call with ENOENT/ENOTDIR, physically: each
 *     component is tried with readlink, so a kernel symbolic link may lead
 *     (back) into a mount.  A path that route.c sends straight to the
 *     kernel is not seen at all (docs/core.md).
 *   - Entering a mount point switches to the mount.  A module that resolves
 *     paths itself (DEFUSE_MODULE_RESOLVES) gets the rest of the path as is;
 *     when it answers -EXDEV (resolution would leave its root) the path is
 *     resolved again strictly.
 *   - Strictly, inside a mount, every component but a last one that is not
 *     to be followed is looked up (getattr); symbolic links are read and
 *     spliced in (absolute ones restart at the kernel's root), ".." at the
 *     mount's root leaves the mount to the mount point's parent, 40 links
 *     give ELOOP, a non-directory in the middle gives ENOTDIR.
 *   - If the path never touched a mount, the original call goes to the
 *     kernel unchanged, so kernel semantics stay exact.
 *   - Calls on a name (unlink, rmdir, mkdir, rename...) look up the
 *     directory part only and decide on a last ".", ".." or "/" by its kind;
 *     a mount point named from outside is a name in its parent's file
 *     system (EBUSY, as for a kernel mount).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <linux/close_range.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <unistd.h>
#include <utime.h>
#include "kernel/sys.h"
#include "core/core.h"

#define MAXLINKS 40

/* resolve_how: walk the kernel part physically from the start. */
#define RES_PHYSICAL 0x10000

/* Where a path leads. */
struct loc {
	int mount;		/* index in core_mounts, or -1: the kernel */
	int touched;		/* resolution went through a mount */
	int strict;		/* resolved fully by the core */
	int mountpoint;		/* a call on a name (follow < 0) names a mount
				   point: the directory underneath, in the
				   kernel's file system (path is its path) */
	char path[PATH_MAX];	/* mount-relative, or absolute for the kernel */
};

static int is_dotdot(const char *c, size_t n) { return n == 2 && c[0] == '.' && c[1] == '.'; }
static int is_dot(const char *c, size_t n) { return n == 1 && c[0] == '.'; }

/* Appends "/name" to a path buffer; "/" stays a single slash. */
static int push(char *buf, const char *c, size_t n)
{
	size_t len = strlen(buf);

	if (len == 1 && buf[0] == '/')
		len = 0;
	if (len + 1 + n + 1 > PATH_MAX)
		return -ENAMETOOLONG;
	buf[len] = '/';
	memcpy(buf + len + 1, c, n);
	buf[len + 1 + n] = 0;
	return 0;
}

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

/*
 * Calls on a name (unlink, rmdir, mkdir, rename, link's new name...) look up
 * only the directory part; the last component's kind decides before the
 * name is ever looked at, as in the kernel.
 */
enum { LAST_NORM, LAST_DOT, LAST_DOTDOT, LAST_ROOT };

/* The kind of path's last component; dir gets the part before it ("." if
   none); *trailing: a slash after it. */
static int split_last(const char *path, char dir[PATH_MAX], int *trailing)
{
	size_t len = strnlen(path, PATH_MAX), e = len, b;

	while (e > 0 && path[e - 1] == '/')
		e--;
	*trailing = e < len;
	if (e == 0) {
		strcpy(dir, "/");
		return len ? LAST_ROOT : LAST_NORM;	/* "" is ENOENT later */
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
		return LAST_DOT;
	return is_dotdot(path + b, e - b) ? LAST_DOTDOT : LAST_NORM;
}

/*
 * Need kpath not be read as a possible symbolic link?  A mount point and
 * its ancestors are none (mount points are canonical); /proc holds magic links,
 * which the kernel follows to their object, not to the text readlink gives.
 */
static int on_mount_path(const char *kpath)
{
	size_t n = strlen(kpath);

	if (n == 1 || !strncmp(kpath, "/proc/", 6))
		return 1;
	for (int i = 0; i < core_nmounts; i++)
		if (core_mounts[i].len >= n && !memcmp(core_mounts[i].point, kpath, n) &&
		    (core_mounts[i].point[n] == '/' || !core_mounts[i].point[n]))
			return 1;	/* on the way to a mount point, or one */
	return 0;
}

static int mount_at(const char *kpath)
{
	for (int i = 0; i < core_nmounts; i++)
		if (!strcmp(core_mounts[i].point, kpath))
			return i;
	return -1;
}

static long getattr(int m, const char *path, struct stat *st, int flags)
{
	return mod_getattr(CORE_REF(m), path, st, flags);
}

/*
 * Could a kernel symbolic link on the way of a path that stayed in the
 * kernel have led into a mount?  Not if the kernel walks it without
 * meeting one: one system call spares reading every component.
 */
static int maybe_via_link(long dfd, const char *upath)
{
	struct open_how how = { .flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_NO_SYMLINKS };
	long fd;

	if (!upath)
		return 0;
	fd = sys4(SYS_openat2, dfd, upath, &how, sizeof(how));
	if (fd >= 0)
		sys1(SYS_close, fd);
	return fd == -ELOOP;
}

/* A mount descriptor a relative path starts from: is it a directory? */
static int start_is_dir(long dfd)
{
	struct core_fd *f = core_fd_get(dfd);
	struct stat st;
	long r;

	if (!f->open)
		r = sys2(SYS_fstat, dfd, &st);	/* the kernel-backed file itself */
	else
		r = mod_fgetattr(CORE_REF(f->mount), f->open->fh, f->path, &st);
	if (r < 0)
		return r;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

/*
 * Where a kernel-backed descriptor's directory is in its mount now (the
 * core keeps the path it was opened by, which a rename makes stale): the
 * kernel knows the backing path of the descriptor and of the mount's root.
 * 0, -ENOENT if it was removed, -1 if it cannot be told.
 */
static char *root_kpath[CORE_MOUNTS_MAX];

/* The kernel's path of mount m's backing root, if the module hands out a
   kernel descriptor of it; NULL otherwise. */
static const char *mount_root_kpath(int m)
{
	struct defuse_open o = { 0, -1 };
	char link[64], root[PATH_MAX], *dup, *none = NULL;
	long rn;
	int kfd;

	if (root_kpath[m])
		return root_kpath[m];
	if (mod_open(CORE_REF(m), "/", O_PATH | O_DIRECTORY | O_CLOEXEC, 0, &o) < 0)
		return NULL;
	kfd = o.kernel_fd >= 0 ? o.kernel_fd : core_handle_kfd(m, o.fh);
	rn = -1;
	if (kfd >= 0) {
		snprintf(link, sizeof(link), "/proc/self/fd/%d", kfd);
		rn = sys3(SYS_readlink, link, root, PATH_MAX - 1);
	}
	if (o.kernel_fd >= 0)
		sys1(SYS_close, o.kernel_fd);
	mod_release(CORE_REF(m), o.fh);
	if (rn <= 0 || !(dup = strndup(root, rn)))
		return NULL;
	if (!__atomic_compare_exchange_n(&root_kpath[m], &none, dup, 0, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE))
		free(dup);	/* another thread was first */
	return root_kpath[m];
}

/* Where kernel descriptor kfd's directory is in mount m now. */
static int kfd_path_now(int m, long kfd, char out[PATH_MAX])
{
	const char *root = mount_root_kpath(m);
	char link[64];
	long n, rn;

	if (!root)
		return -1;
	rn = strlen(root);
	snprintf(link, sizeof(link), "/proc/self/fd/%ld", kfd);
	n = sys3(SYS_readlink, link, out, PATH_MAX - 1);
	if (n <= 0)
		return -1;
	out[n] = 0;
	if (n > 10 && !strcmp(out + n - 10, " (deleted)"))
		return -ENOENT;
	if (rn == 1)
		rn = 0;	/* the backing root is "/" */
	if (strncmp(out, root, rn) || (out[rn] && out[rn] != '/'))
		return -1;	/* moved out of the mount's backing tree */
	memmove(out, out + rn, n - rn + 1);
	if (!out[0])
		strcpy(out, "/");
	return 0;
}

/* The same for a mount's descriptor: kernel-backed, its own; emulated,
   the module's behind its handle. */
static int fd_path_now(long fd, const struct core_fd *f, char out[PATH_MAX])
{
	long kfd = !f->open ? fd : f->open->lock_fd >= 0 ? f->open->lock_fd
			     : core_handle_kfd(f->mount, f->open->fh);

	return kfd < 0 ? -1 : kfd_path_now(f->mount, kfd, out);
}

/*
 * A relative path failed while the cwd is in a mount: 1 if the cwd was
 * renamed meanwhile (the call's cwd follows it: walk again), 2 if it was
 * removed, 0 otherwise, -ENOMEM if it cannot follow.
 */
static int cwd_changed(long dfd, const char *upath)
{
	const struct core_cwd *c;
	char now[PATH_MAX];
	int r;

	if ((int)dfd != AT_FDCWD || !upath || !upath[0] || upath[0] == '/' ||
	    !(c = core_cwd_snap()) || core_cwd_kfd(c) < 0)
		return 0;
	r = kfd_path_now(c->mount, core_cwd_kfd(c), now);
	if (r == -ENOENT)
		return 2;
	if (r < 0 || !strcmp(now, c->path))
		return 0;
	return core_cwd_moved(now) < 0 ? -ENOMEM : 1;
}

/* Only "." components: what a removed directory still answers. */
static int only_dots(const char *p)
{
	for (; *p; p++)
		if (*p != '.' && *p != '/')
			return 0;
		else if (p[0] == '.' && p[1] == '.')
			return 0;
	return 1;
}

/*
 * A relative path failed from a kernel-backed directory descriptor: was the
 * directory renamed since it was opened?  Then the walk is worth redoing
 * from where it is now (RES_FRESH).
 */
static int dirfd_moved(long dfd, const char *upath)
{
	struct core_fd *f = (int)dfd == AT_FDCWD ? NULL : core_fd_get(dfd);
	char now[PATH_MAX];

	return f && upath && upath[0] && upath[0] != '/' &&
	       fd_path_now(dfd, f, now) == 0 && strcmp(now, f->path);
}

/* resolve_how: a kernel-backed dirfd's path asked of the kernel. */
#define RES_FRESH 0x20000

/* The starting directory of a relative path. */
static int start_at(long dfd, struct loc *l, unsigned how)
{
	char link[64];
	long n;

	if ((int)dfd == AT_FDCWD) {
		const struct core_cwd *c = core_cwd_snap();

		if (c) {
			l->mount = c->mount;
			l->touched = 1;
			strcpy(l->path, c->path);
			return 0;
		}
		n = sys2(SYS_getcwd, l->path, PATH_MAX);
		return n < 0 ? (int)n : 0;
	}
	if (core_fd_get(dfd)) {
		l->mount = core_fd_get(dfd)->mount;
		l->touched = 1;
		if (!(how & RES_FRESH) || fd_path_now(dfd, core_fd_get(dfd), l->path) < 0)
			strcpy(l->path, core_fd_get(dfd)->path);
		return 0;
	}
	snprintf(link, sizeof(link), "/proc/self/fd/%ld", dfd);
	n = sys3(SYS_readlink, link, l->path, PATH_MAX - 1);
	if (n < 0)
		return n == -ENOENT ? -EBADF : (int)n;
	l->path[n] = 0;
	if (l->path[0] != '/')
		return -ENOTDIR;	/* a pipe, a socket: the kernel will say */
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
static int hand_over(char *path, const char *rest, int trailing)
{
	int want_dir = 0;
	const char *c;
	size_t n;

	for (const char *p = rest; (c = next_name(p, &n)); p = c + n) {
		int r;

		if (is_dot(c, n)) {
			want_dir = 1;
		} else {
			if ((r = push(path, c, n)) < 0)
				return r;
			want_dir = 0;
		}
	}
	if ((want_dir || trailing) && strcmp(path, "/")) {
		size_t len = strlen(path);

		if (len + 2 > PATH_MAX)
			return -ENAMETOOLONG;
		path[len] = '/';
		path[len + 1] = 0;
	}
	return 0;
}

/*
 * Resolves upath relative to dfd.  follow: whether a symbolic link in the
 * last component is followed (1), not followed but for a trailing slash (0),
 * or never: the call acts on the name itself, as unlink and rmdir (-1).  strict: resolve inside mounts here even if
 * the module could.  Returns 0, or -errno.
 */
static int resolve_how(long dfd, const char *upath, int follow, int strict, struct loc *l,
		       unsigned how);

static int resolve(long dfd, const char *upath, int follow, int strict, struct loc *l)
{
	return resolve_how(dfd, upath, follow, strict, l, 0);
}

/*
 * Back at the start of a scoped lookup (RESOLVE_BENEATH, RESOLVE_IN_ROOT)?
 * Such a walk never goes above its start, so the path there is the start's
 * whenever it is in the same place and of the same length.
 */
static int at_root(const struct loc *l, int mount, size_t len)
{
	return l->mount == mount && strlen(l->path) == len;
}

/* The starting directory of a relative path, switched into the mount if it
   is a mount point. */
static int start_in(long dfd, struct loc *l, unsigned how)
{
	int r = start_at(dfd, l, how);

	if (r < 0)
		return r;
	if (l->mount < 0 && (r = mount_at(l->path)) >= 0) {
		l->mount = r;
		l->touched = 1;
		strcpy(l->path, "/");
	}
	return 0;
}

/*
 * how: openat2's RESOLVE_* flags, for a strict resolution:
 * NO_SYMLINKS: ELOOP at a link to follow; NO_MAGICLINKS: ELOOP at an
 * emulated file's /proc/self/fd link; NO_XDEV: EXDEV when the walk enters
 * or leaves a mount; BENEATH: EXDEV for an absolute path or link, or ".."
 * at the starting directory; IN_ROOT: those stay at the starting directory.
 * And the core's own: RES_PHYSICAL reads the kernel part's symbolic links
 * from the start (otherwise only once the walk has touched a mount: until
 * then the kernel part is lexical, and a path that stays there goes to the
 * kernel as it is); RES_FRESH asks the kernel where a kernel-backed dirfd's
 * directory is now.
 */
static int resolve_how(long dfd, const char *upath, int follow, int strict, struct loc *l,
		       unsigned how)
{
	char rest[2 * PATH_MAX], tmp[PATH_MAX];
	size_t plen, rootlen = 0;
	ssize_t tl;
	int links = 0, r, trailing, check_start, rootm = -2;
	int scoped = how & (RESOLVE_BENEATH | RESOLVE_IN_ROOT);

	if (!upath)
		return -EFAULT;
	plen = strnlen(upath, PATH_MAX);
	l->mount = -1;
	l->touched = 0;
	l->strict = strict;
	l->mountpoint = 0;
	/* The kernel wants a directory to start from: a descriptor of a file
	   fails any non-empty path with ENOTDIR.  Inside a mount the lookups
	   find that out, except for a path that starts with "." or "..". */
	check_start = upath[0] && upath[0] != '/' && (int)dfd != AT_FDCWD && core_fd_get(dfd);
	if (plen == PATH_MAX)
		return -ENAMETOOLONG;
	if (plen == 0)
		return -ENOENT;
	trailing = upath[plen - 1] == '/';
	if (upath[0] == '/' && (how & RESOLVE_BENEATH))
		return -EXDEV;
	if (upath[0] == '/' && !(how & RESOLVE_IN_ROOT)) {
		const char *after;
		struct core_fd *e = core_fd_emulated(core_fd_link(upath, &after));

		strcpy(l->path, "/");
		if (e && (how & (RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS)))
			return -ELOOP;
		if (e) {
			/* The magic link of an emulated file: the file itself. */
			l->mount = e->mount;
			l->touched = 1;
			strcpy(l->path, e->path);
			upath = after;
			plen = strlen(after);
		}
	} else if ((r = start_in(dfd, l, how)) < 0) {
		return r;
	}
	memcpy(rest, upath, plen + 1);
	if (l->mount < 0 && (r = mount_at(l->path)) >= 0) {
		l->mount = r;
		l->touched = 1;
		strcpy(l->path, "/");
	}
	if (scoped) {
		rootm = l->mount;
		rootlen = strlen(l->path);
	}

	for (char *p = rest;;) {
		char *c;
		size_t n;
		int last;

		if (!(c = (char *)next_name(p, &n)))
			break;
		for (p = c + n; *p == '/'; p++)
			;
		last = !*p;
		if (check_start) {
			check_start = 0;
			if ((is_dot(c, n) || is_dotdot(c, n)) && (r = start_is_dir(dfd)) < 0)
				return r;
		}
		if (is_dot(c, n))
			continue;

		if (l->mount < 0) {
			if (is_dotdot(c, n)) {
				if (scoped && at_root(l, rootm, rootlen)) {
					if (how & RESOLVE_BENEATH)
						return -EXDEV;
					continue;
				}
				pop(l->path);
				continue;
			}
			if ((r = push(l->path, c, n)) < 0)
				return r;
			if ((l->touched || (how & RES_PHYSICAL)) && !on_mount_path(l->path) &&
			    (!last || follow > 0 || (trailing && follow == 0))) {
				/* A kernel symbolic link, maybe into a mount. */
				tl = sys3(SYS_readlink, l->path, tmp, sizeof(tmp) - 1);
				if (tl >= 0)
					goto splice;
			}
			if ((r = mount_at(l->path)) >= 0) {
				if (last && follow < 0) {
					/* rmdir, rename, unlink... of the mount point
					   itself: a name in the parent's file system. */
					l->mountpoint = 1;
					l->touched = 1;
					continue;
				}
				if (how & RESOLVE_NO_XDEV)
					return -EXDEV;
				l->mount = r;
				l->touched = 1;
				strcpy(l->path, "/");
				if (!strict && core_mounts[r].resolves && *p)
					return hand_over(l->path, p, trailing);
			}
			continue;
		}

		/* Inside mount l->mount. */
		if (!strict && core_mounts[l->mount].resolves)
			/* Started inside the mount (cwd, dirfd): hand the rest over. */
			return hand_over(l->path, c, trailing);
		if (is_dotdot(c, n)) {
			if (scoped && at_root(l, rootm, rootlen)) {
				if (how & RESOLVE_BENEATH)
					return -EXDEV;
				continue;
			}
			if (!strcmp(l->path, "/")) {
				if (how & RESOLVE_NO_XDEV)
					return -EXDEV;
				/* Out of the mount's root, to the mount point's parent. */
				strcpy(l->path, core_mounts[l->mount].point);
				l->mount = -1;
				pop(l->path);
			} else {
				pop(l->path);
			}
			continue;
		}
		if ((r = push(l->path, c, n)) < 0)
			return r;
		if (!last || follow > 0 || trailing) {
			struct stat st;
			long g = getattr(l->mount, l->path, &st, DEFUSE_NOFOLLOW);

			if (g == -ENOENT && last)
				break;	/* to be created */
			if (g < 0)
				return g;
			/* A trailing slash makes a lookup follow the last one too,
			   but not a call on the name itself (follow < 0). */
			if (S_ISLNK(st.st_mode) &&
			    (!last || follow > 0 || (trailing && follow == 0))) {
				tl = mod_readlink(CORE_REF(l->mount), l->path, tmp, sizeof(tmp) - 1);
				if (tl < 0)
					return tl;
splice:
				if (++links > MAXLINKS || (how & RESOLVE_NO_SYMLINKS))
					return -ELOOP;
				tmp[tl] = 0;
				if (tl + 1 + strlen(p) + 1 > sizeof(rest))
					return -ENAMETOOLONG;
				/* rest := target "/" remainder; p points into rest. */
				memmove(rest + tl + 1, p, strlen(p) + 1);
				memcpy(rest, tmp, tl);
				rest[tl] = '/';
				p = rest;
				pop(l->path);
				if (tmp[0] == '/') {
					if (how & RESOLVE_BENEATH)
						return -EXDEV;
					if (how & RESOLVE_IN_ROOT) {
						if ((r = start_in(dfd, l, how)) < 0)
							return r;
						continue;
					}
					if ((how & RESOLVE_NO_XDEV) && l->mount >= 0)
						return -EXDEV;
					l->mount = -1;
					strcpy(l->path, "/");
				}
				continue;
			}
			if (!S_ISDIR(st.st_mode) && (!last || trailing))
				return -ENOTDIR;
		}
	}
	return 0;
}

/* ---- helpers --------------------------------------------------------- */

/*
 * The directory part of a call on a name, which must exist: resolve() lets
 * a missing last component through for calls that create it.
 */
static int resolve_dir(long dfd, const char *dir, struct loc *l)
{
	struct stat st;
	int r = resolve(dfd, dir, 1, 1, l);

	if (r < 0 || l->mount < 0)
		return r;
	if ((r = getattr(l->mount, l->path, &st, 0)) < 0)
		return r;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}



/* The module of the mount a location is in (module/call.h). */
#define REF(l) CORE_REF((l)->mount)

/* Calls op; if a resolving module says -EXDEV, resolves strictly and retries. */
#define WITH_RETRY(res, l, dfd, upath, follow, expr)			\
	do {								\
		res = (expr);						\
		if (res == -EXDEV && !(l)->strict) {			\
			int rr_ = resolve(dfd, upath, follow, 1, l);	\
			if (rr_ < 0) { res = rr_; break; }		\
			if ((l)->mount < 0) { res = -EXDEV_KERNEL; break; } \
			res = (expr);					\
		}							\
	} while (0)

/* Internal: after a strict retry the path left every mount. */
#define EXDEV_KERNEL 100000

/* The call with path argument i (and dirfd argument d, if any) replaced. */
/*
 * exec: the core decides what the kernel is to run, capture runs it with
 * DEFUSE's environment put back (capture/exec.c).  A program inside a
 * mount becomes execveat of the open file (run_op, OP_EXEC); a path that
 * leads out of the mounts becomes the kernel path it leads to.  While
 * core_exec_resolve runs, exec_req collects that call instead of making it.
 */
static __thread struct core_exec *exec_req;

static int collecting_exec(const struct defuse_syscall *k)
{
	return exec_req && (k->nr == SYS_execve || k->nr == SYS_execveat);
}

/* The program's call, or the exec it stands for, goes to the kernel. */
static long kernel_call(const struct defuse_syscall *k)
{
	if (!collecting_exec(k))
		return defuse_forward(k);
	exec_req->call = *k;
	return 0;
}

static long kernel_at(const struct defuse_syscall *sc, int d, int i, const char *path)
{
	struct defuse_syscall k = *sc;

	if (d >= 0)
		k.a[d] = AT_FDCWD;
	if (collecting_exec(&k)) {
		/* path lives in the caller's frame: keep a copy */
		if (strlen(path) >= sizeof(exec_req->path))
			return -ENAMETOOLONG;
		path = strcpy(exec_req->path, path);
	}
	k.a[i] = (long)path;
	return kernel_call(&k);
}

static long fd_forward(const struct defuse_syscall *sc)
{
	return defuse_fd_nreserved ? defuse_fd_guard((struct defuse_syscall *)sc)
				   : defuse_forward(sc);
}

static int nofollow(int at_flags)
{
	return (at_flags & AT_SYMLINK_NOFOLLOW) ? DEFUSE_NOFOLLOW : 0;
}

/*
 * What a change of directory asks of the kernel (core_cwd_change runs it
 * under the cwd's lock): the program's call, with path if not NULL; else,
 * for a cwd inside mount point, a chdir to that mount point, unless the cwd
 * is in that mount already (always: even then).
 */
struct kchdir {
	const struct defuse_syscall *sc;
	const char *path;
	int point, always;
};

static long kchdir(const struct core_cwd *now, void *arg)
{
	const struct kchdir *k = arg;

	if (k->sc)
		return k->path ? kernel_at(k->sc, -1, 0, k->path) : defuse_forward(k->sc);
	if (k->always || !now || now->mount != k->point)
		sys1(SYS_chdir, core_mounts[k->point].point);
	return 0;
}

/*
 * fchdir: the descriptor's path may have come from a module that resolves
 * paths itself, so it can still hold symbolic links; getcwd must show the
 * directory's own path, so resolve it once more here.
 */
static long chdir_canonical(int mount, const char *path, struct kchdir *k)
{
	char abs[PATH_MAX];
	struct loc l;

	if (snprintf(abs, sizeof(abs), "%s%s", core_mounts[mount].point, path) < (int)sizeof(abs) &&
	    resolve(AT_FDCWD, abs, 1, 1, &l) == 0 && l.mount == mount)
		path = l.path;
	return core_cwd_change(mount, path, kchdir, k);
}

/* ---- the calls --------------------------------------------------------- */

/*
 * ksc: the call to give the kernel with a resolved path (openat2: without
 * the scoping RESOLVE_* flags, which the core has applied); how: those
 * flags.
 */
static long do_open_how(const struct defuse_syscall *sc, const struct defuse_syscall *ksc,
			long dfd, int pi, int di, int flags, mode_t mode, unsigned how);

static long do_open(const struct defuse_syscall *sc, const struct defuse_syscall *ksc,
		    long dfd, int pi, int di, int flags, mode_t mode, unsigned how)
{
	long r = do_open_how(sc, ksc, dfd, pi, di, flags, mode, how);

	if (r != -ENOENT && r != -ENOTDIR)
		return r;
	if (dirfd_moved(dfd, (const char *)sc->a[pi]))
		return do_open_how(sc, ksc, dfd, pi, di, flags, mode, how | RES_FRESH);
	switch (cwd_changed(dfd, (const char *)sc->a[pi])) {
	case 1:
		return do_open_how(sc, ksc, dfd, pi, di, flags, mode, how);
	case -ENOMEM:
		return -ENOMEM;
	}
	return r;
}

static long do_open_how(const struct defuse_syscall *sc, const struct defuse_syscall *ksc,
			long dfd, int pi, int di, int flags, mode_t mode, unsigned how)
{
	const char *upath = (const char *)sc->a[pi];
	int follow = !(flags & O_NOFOLLOW) && !((flags & O_CREAT) && (flags & O_EXCL));
	struct defuse_open o = { 0, -1 };
	struct loc l;
	/* A directory's path is kept for *at calls and fchdir: it must be
	   the one the kernel would find, without ".." or symbolic links,
	   which only the core's own resolution gives. */
	long r = resolve_how(dfd, upath, follow, (flags & (O_DIRECTORY | O_PATH)) || how, &l, how);

	if (r < 0)
		return r;
	if (l.mount < 0) {
		r = l.touched ? kernel_at(ksc, di, pi, l.path) : defuse_forward(sc);
		/* Through a kernel symbolic link into a mount (docs/core.md)? */
		if ((r != -ENOENT && r != -ENOTDIR) || (!l.touched && !maybe_via_link(dfd, upath)) ||
		    resolve_how(dfd, upath, follow, 1, &l, how | RES_PHYSICAL) < 0 || !l.touched)
			return r;
		if (l.mount < 0)
			return kernel_at(ksc, di, pi, l.path);
	}
	/* The caller's umask on a new file's mode (module.h: the host's). */
	if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE)
		mode = mod_umasked(mode & 07777, defuse_g.umask);
	WITH_RETRY(r, &l, dfd, upath, follow, mod_open(REF(&l), l.path, flags, mode, &o));
	if (r == -EXDEV_KERNEL)
		return kernel_at(ksc, di, pi, l.path);
	if (r < 0)
		return r;
	if (o.kernel_fd < 0)
		return core_emulated_open(l.mount, l.path, flags, o.fh);
	mod_release(REF(&l), o.fh);
	core_fd_remember(o.kernel_fd, l.mount, l.path, NULL);
	return o.kernel_fd;
}

/* The caller's supplementary groups (module.h's access fallback asks). */
static int caller_groups(void *arg, gid_t *out, int max)
{
	(void)arg;
	return (int)sys2(SYS_getgroups, max, out);
}

/* The caller's IDs: arg non-NULL for the effective ones. */
static void caller_ids(void *arg, uid_t *uid, gid_t *gid)
{
	*uid = sys0(arg ? SYS_geteuid : SYS_getuid);
	*gid = sys0(arg ? SYS_getegid : SYS_getgid);
}

/* Who asks, for the access fallback: the effective IDs (AT_EACCESS, and
   chdir's search permission), else the real ones, as access(2). */
static const struct mod_caller *caller(int effective, struct mod_caller *who)
{
	who->ids = caller_ids;
	who->groups = caller_groups;
	who->arg = effective ? (void *)1 : NULL;
	return who;
}

/*
 * Results go to the program's memory.  A bad pointer must give EFAULT, so
 * in general through process_vm_writev (about 1 us).  A buffer on the
 * calling thread's own stack, between the program's stack pointer and the
 * stack's top, is mapped for sure: most stat buffers are, and get a plain
 * copy.
 */
static __thread uintptr_t stack_lo, stack_hi;

static int on_my_stack(const void *dst, size_t n)
{
	/* The core runs on a stack of DEFUSE's (capture/cold_stack.c): where
	   the program's stack pointer was is kept for it. */
	uintptr_t sp = defuse_self.prog_sp, d = (uintptr_t)dst;

	if (!stack_hi) {
		pthread_attr_t a;
		void *base;
		size_t size;

		stack_hi = 1;	/* unknown: never again */
		if (pthread_getattr_np(pthread_self(), &a) == 0) {
			if (pthread_attr_getstack(&a, &base, &size) == 0) {
				stack_lo = (uintptr_t)base;
				stack_hi = stack_lo + size;
			}
			pthread_attr_destroy(&a);
		}
	}
	/* sp must be on that stack too (not a signal stack elsewhere). */
	return sp >= stack_lo && sp < stack_hi && d >= sp && d + n <= stack_hi && d + n >= d;
}

long core_copy_out(void *dst, const void *src, size_t n)
{
	if (on_my_stack(dst, n)) {
		memcpy(dst, src, n);
		return 0;
	}
	return defuse_copy_out(dst, src, n);
}

/* One path, one module operation: the common shape of most calls. */
enum op {
	OP_STAT, OP_STATX, OP_ACCESS, OP_MKDIR, OP_MKNOD, OP_UNLINK, OP_RMDIR,
	OP_READLINK, OP_CHMOD, OP_CHOWN, OP_TRUNCATE, OP_UTIMENS, OP_STATFS,
	OP_CHDIR, OP_SYMLINK, OP_GETXATTR, OP_SETXATTR, OP_LISTXATTR,
	OP_REMOVEXATTR, OP_EXEC,
};

struct onepath {
	enum op op;
	int dfd_arg, path_arg;	/* dfd_arg -1: AT_FDCWD */
	int follow;
	int flags;		/* DEFUSE_NOFOLLOW for the module */
	const struct defuse_syscall *orig;	/* the program's call, when sc is
						   its path-only twin (*xattrat) */
};

/* What goes to the kernel unchanged: the program's own call. */
#define ORIG(sc, d) ((d)->orig ? (d)->orig : (sc))

static long run_op(const struct defuse_syscall *sc, const struct onepath *d,
		   struct loc *l);

/*
 * A call on a name whose last component is ".", ".." or the root: only the
 * directory part is looked up, then the kernel's answer for such a name.
 */
static long not_a_name(const struct defuse_syscall *sc, const struct onepath *d,
		       long dfd, const char *dir, int type)
{
	struct loc l;
	long r = resolve_dir(dfd, dir, &l);

	if (r < 0)
		return r;
	if (!l.touched)
		return defuse_forward(ORIG(sc, d));
	if (l.mount < 0) {
		if ((r = push(l.path, type == LAST_DOT ? "." : "..", type == LAST_DOT ? 1 : 2)) < 0)
			return r;
		return kernel_at(sc, d->dfd_arg, d->path_arg, l.path);
	}
	switch (d->op) {
	case OP_RMDIR:
		return type == LAST_DOT ? -EINVAL : type == LAST_DOTDOT ? -ENOTEMPTY : -EBUSY;
	case OP_UNLINK:
		return -EISDIR;
	default:	/* mkdir, mknod, symlink */
		return -EEXIST;
	}
}

static long one_path_how(const struct defuse_syscall *sc, const struct onepath *d,
			 unsigned how);

static long one_path(const struct defuse_syscall *sc, const struct onepath *d)
{
	long dfd = d->dfd_arg >= 0 ? sc->a[d->dfd_arg] : AT_FDCWD;
	const char *upath = (const char *)sc->a[d->path_arg];
	long r;

	if (d->follow < 0 && upath) {
		char dir[PATH_MAX];
		int trailing, type = split_last(upath, dir, &trailing);

		if (type != LAST_NORM)
			return not_a_name(sc, d, dfd, dir, type);
	}
	r = one_path_how(sc, d, 0);
	if (r != -ENOENT && r != -ENOTDIR)
		return r;
	if (dirfd_moved(dfd, upath))
		return one_path_how(sc, d, RES_FRESH);
	switch (cwd_changed(dfd, upath)) {
	case -ENOMEM:
		return -ENOMEM;
	case 1:
		return one_path_how(sc, d, 0);
	case 2:
		if (only_dots(upath)) {
			/* The removed cwd itself: the kernel still has it. */
			char p[64];

			snprintf(p, sizeof(p), "/proc/self/fd/%d/.", core_cwd_kfd(core_cwd_snap()));
			return kernel_at(sc, d->dfd_arg, d->path_arg, p);
		}
	}
	return r;
}

static long one_path_how(const struct defuse_syscall *sc, const struct onepath *d,
			 unsigned how)
{
	long dfd = d->dfd_arg >= 0 ? sc->a[d->dfd_arg] : AT_FDCWD;
	const char *upath = (const char *)sc->a[d->path_arg];
	struct loc l;
	long r;

	/* The cwd is kept as a path: chdir needs the kernel's own answer. */
	r = resolve_how(dfd, upath, d->follow, d->op == OP_CHDIR || how, &l, how);
	if (r < 0)
		return r;
	if (l.mount < 0)
		goto kernel;
	WITH_RETRY(r, &l, dfd, upath, d->follow, run_op(sc, d, &l));
	if (r != -EXDEV_KERNEL)
		return r;
kernel:
	/* Underneath is an empty directory the kernel would remove. */
	if (l.mountpoint && d->op == OP_RMDIR)
		return -EBUSY;
	if (d->op == OP_CHDIR) {
		/* A kernel symbolic link may have led to a mount point: the
		   kernel's own cwd says (core_cwd_change). */
		struct kchdir k = { .sc = sc, .path = l.touched ? l.path : NULL };

		r = core_cwd_change(-1, NULL, kchdir, &k);
		if (r == 0 || r == -ENOMEM)
			return r;
	} else {
		r = l.touched ? kernel_at(sc, d->dfd_arg, d->path_arg, l.path)
			      : kernel_call(ORIG(sc, d));
	}
	/* Through a kernel symbolic link into a mount (docs/core.md)? */
	if ((r != -ENOENT && r != -ENOTDIR) || (!l.touched && !maybe_via_link(dfd, upath)) ||
	    resolve_how(dfd, upath, d->follow, 1, &l, how | RES_PHYSICAL) < 0 || !l.touched)
		return r;
	if (l.mount >= 0)
		return run_op(sc, d, &l);
	if (d->op == OP_CHDIR)
		return r;	/* a way in and out again: the kernel knew */
	return kernel_at(sc, d->dfd_arg, d->path_arg, l.path);
}

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

		if (getattr(m, "/", &st, 0) < 0)
			return;
		root_id[m].dev = st.st_dev;
		root_id[m].ino = st.st_ino;
		__atomic_store_n(&root_id[m].known, 1, __ATOMIC_RELEASE);
	}
	if (x->stx_ino == root_id[m].ino &&
	    makedev(x->stx_dev_major, x->stx_dev_minor) == root_id[m].dev)
		x->stx_attributes |= STATX_ATTR_MOUNT_ROOT;
}

/*
 * statx of an emulated file's descriptor: fgetattr is the truth (the file
 * may have been renamed or unlinked); the module's statx of its path adds
 * what struct stat cannot carry when it still finds the same file.
 */
static long statx_emulated(const struct defuse_syscall *sc, struct core_fd *e)
{
	const struct defuse_mount_ref *ref = CORE_REF(e->mount);
	struct stat st;
	struct statx x;
	long r = mod_fgetattr(ref, e->open->fh, e->path, &st);

	if (r < 0)
		return r;
	if (mod_statx(ref, e->path, DEFUSE_NOFOLLOW, sc->a[3], &x) < 0 ||
	    x.stx_ino != st.st_ino || makedev(x.stx_dev_major, x.stx_dev_minor) != st.st_dev)
		mod_stat_to_statx(&st, &x);
	mount_root_attr(e->mount, &x);
	return core_copy_out((void *)sc->a[4], &x, sizeof(x));
}

/*
 * AT_EMPTY_PATH with an empty path: the call acts on its dirfd itself.  A
 * kernel descriptor (one outside the mounts, or a kernel-backed file's own)
 * is the kernel's business; an emulated file or a cwd inside a mount is
 * the module's, on the object itself (a symbolic link opened O_PATH is not
 * followed).
 */
static long empty_path_of(const struct defuse_syscall *sc, struct onepath *d,
			  struct core_fd *e)
{
	long dfd = sc->a[d->dfd_arg];
	struct loc l = { .touched = 1, .strict = 1 };
	const struct core_cwd *c;

	if (e && d->op == OP_STATX)
		return statx_emulated(sc, e);
	if (e) {
		l.mount = e->mount;
		snprintf(l.path, sizeof(l.path), "%s", e->path);
	} else if ((int)dfd == AT_FDCWD && (c = core_cwd_snap())) {
		l.mount = c->mount;
		snprintf(l.path, sizeof(l.path), "%s", c->path);
	} else if (d->op == OP_STATX && (int)dfd != AT_FDCWD && core_fd_get(dfd)) {
		/* A kernel-backed descriptor, maybe of the mount's root: the
		   kernel sees the backing directory, which is no mount root. */
		struct defuse_syscall k = *sc;
		struct statx x;
		long r;

		k.a[4] = (long)&x;
		if ((r = defuse_forward(&k)) < 0)
			return r;
		mount_root_attr(core_fd_get(dfd)->mount, &x);
		return core_copy_out((void *)sc->a[4], &x, sizeof(x)) < 0 ? -EFAULT : r;
	} else {
		return defuse_forward(ORIG(sc, d));
	}
	d->follow = 0;
	d->flags = DEFUSE_NOFOLLOW;
	return run_op(sc, d, &l);
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

static long empty_path(const struct defuse_syscall *sc, struct onepath *d)
{
	struct core_fd *e = emulated_held(sc->a[d->dfd_arg]);
	long r = empty_path_of(sc, d, e);

	core_fd_release(e);
	return r;
}

/*
 * readlinkat(fd, "") reads the symbolic link fd was opened on (O_PATH |
 * O_NOFOLLOW); anything else has no link to read: ENOENT.
 */
static long readlink_empty_of(const struct defuse_syscall *sc, const struct onepath *d,
			      const struct core_fd *e)
{
	long dfd = sc->a[0];
	struct loc l = { .touched = 1, .strict = 1 };
	int cwd_in = (int)dfd == AT_FDCWD && core_cwd_snap();
	long r;

	if ((long)sc->a[3] <= 0 && ((int)dfd == AT_FDCWD ? cwd_in : e != NULL))
		return -EINVAL;
	if (cwd_in)
		return -ENOENT;	/* the cwd is a directory */
	if (!e)
		return defuse_forward(sc);	/* a kernel descriptor, maybe kernel-backed */
	l.mount = e->mount;
	snprintf(l.path, sizeof(l.path), "%s", e->path);
	r = run_op(sc, d, &l);
	return r == -EINVAL ? -ENOENT : r;
}

static long readlink_empty(const struct defuse_syscall *sc, const struct onepath *d)
{
	struct core_fd *e = emulated_held(sc->a[0]);
	long r = readlink_empty_of(sc, d, e);

	core_fd_release(e);
	return r;
}

static long times_from_user(const struct defuse_syscall *sc, struct timespec ts[2],
			    const struct timespec **tp)
{
	switch (sc->nr) {
	case SYS_utimensat:
		if (!sc->a[2]) {
			*tp = NULL;
			return 0;
		}
		if (defuse_copy_in(ts, (void *)sc->a[2], 2 * sizeof(*ts)))
			return -EFAULT;
		break;
	case SYS_utime: {
		struct utimbuf u;

		if (!sc->a[1]) {
			*tp = NULL;
			return 0;
		}
		if (defuse_copy_in(&u, (void *)sc->a[1], sizeof(u)))
			return -EFAULT;
		ts[0] = (struct timespec){ u.actime, 0 };
		ts[1] = (struct timespec){ u.modtime, 0 };
		break;
	}
	default: {	/* utimes, futimesat: struct timeval[2] */
		struct timeval tv[2];
		const void *src = (void *)sc->a[sc->nr == SYS_utimes ? 1 : 2];

		if (!src) {
			*tp = NULL;
			return 0;
		}
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

/* Extended attributes, through a heap buffer of at most XATTR_SIZE_MAX. */
static long xattr_op(const struct defuse_syscall *sc, const struct onepath *d,
		     const struct loc *l)
{
	int list = d->op == OP_LISTXATTR;
	size_t size = sc->a[list ? 2 : 3];
	void *uval = (void *)sc->a[list ? 1 : 2];
	const char *name = (const char *)sc->a[1];
	char *buf = NULL;
	long r;

	if (size > 65536)
		size = 65536;
	if (size && !(buf = malloc(size)))
		return -ENOMEM;
	if (d->op == OP_SETXATTR) {
		if ((size_t)sc->a[3] > 65536)
			r = -E2BIG;
		else if (size && defuse_copy_in(buf, uval, size))
			r = -EFAULT;
		else
			r = mod_setxattr(REF(l), l->path, name, buf, size, sc->a[4], d->flags);
	} else {
		if (list)
			r = mod_listxattr(REF(l), l->path, buf, size, d->flags);
		else
			r = mod_getxattr(REF(l), l->path, name, buf, size, d->flags);
		if (r > 0 && size && core_copy_out(uval, buf, r) < 0)
			r = -EFAULT;
	}
	free(buf);
	return r;
}

/*
 * f*xattr on an emulated file: the module's xattr operations on its path
 * (the arguments after the descriptor are those of the path calls).
 */
static long fd_xattr(const struct defuse_syscall *sc, const struct core_fd *e)
{
	struct onepath d = { .follow = 1 };
	struct loc l = { .mount = e->mount, .touched = 1, .strict = 1 };

	if (e->open->ofd->flags & O_PATH)
		return -EBADF;
	switch (sc->nr) {
	case SYS_fgetxattr: d.op = OP_GETXATTR; break;
	case SYS_fsetxattr: d.op = OP_SETXATTR; break;
	case SYS_flistxattr: d.op = OP_LISTXATTR; break;
	default: d.op = OP_REMOVEXATTR; break;
	}
	snprintf(l.path, sizeof(l.path), "%s", e->path);
	return run_op(sc, &d, &l);
}

/*
 * The content of an emulated file in a memfd, for execveat: the kernel can
 * only run what it can read.  The mode bits come along so the kernel's
 * execute permission check sees the file's.
 */
static long copy_to_memfd(int mount, uint64_t fh, const char *path, long *err)
{
	const struct defuse_mount_ref *ref = CORE_REF(mount);
	char *buf = malloc(65536);
	struct stat st;
	long mfd, n;
	off_t off = 0;

	*err = 0;
	if (!buf || mod_fgetattr(ref, fh, path, &st) < 0) {
		free(buf);
		return -EACCES;
	}
	mfd = sys2(SYS_memfd_create, "defuse-exec", 0);
	if (mfd < 0) {
		free(buf);
		return mfd;
	}
	while ((n = mod_read(ref, fh, buf, 65536, off)) > 0) {
		if (sys4(SYS_pwrite64, mfd, buf, n, off) != n) {
			n = -EIO;
			break;
		}
		off += n;
	}
	free(buf);
	if (n < 0 || sys_failed(sys2(SYS_fchmod, mfd, st.st_mode & 07777))) {
		sys1(SYS_close, mfd);
		return n < 0 ? n : -EACCES;
	}
	return mfd;
}

static long handle(void *arg);

/*
 * A "#!" script in a mount is run as the kernel runs one (binfmt_script),
 * but here: the interpreter gets the path the program named, so "$0" is
 * "./configure", not the "/dev/fd/N" an execveat of the open file would
 * give, and the interpreter opens the script through DEFUSE by that path.
 * -ENOEXEC: not a script (exec the file itself).
 */
static long exec_script(const struct defuse_syscall *sc, long kfd)
{
	char line[256], *p, *end, *interp, *arg = NULL;
	int argi = sc->nr == SYS_execve ? 1 : 2;
	const char *name = (const char *)sc->a[argi - 1];
	char *const *uargv = (char *const *)sc->a[argi];
	struct core_exec *x = exec_req;
	long n = sys4(SYS_pread64, kfd, line, sizeof(line) - 1, 0), argc = 0, k = 0;
	struct defuse_syscall run = { .nr = SYS_execve };

	if (n < 2 || line[0] != '#' || line[1] != '!')
		return -ENOEXEC;
	/* The script itself must be executable, as the kernel checks. */
	if (sys5(SYS_faccessat2, kfd, "", X_OK, AT_EMPTY_PATH | AT_EACCESS, 0) < 0)
		return -EACCES;
	line[n] = 0;
	end = memchr(line, '\n', n);
	if (!end) {
		if (n == sizeof(line) - 1)
			return -ENOEXEC;	/* the interpreter may be cut short */
		end = line + n;
	}
	while (end > line + 2 && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*end = 0;
	for (p = line + 2; *p == ' ' || *p == '\t'; p++)
		;
	if (!*p)
		return -ENOEXEC;
	interp = p;
	while (*p && *p != ' ' && *p != '\t')
		p++;
	if (*p) {
		*p++ = 0;
		while (*p == ' ' || *p == '\t')
			p++;
		arg = *p ? p : NULL;
	}
	/* What the interpreter is handed as the script's name: the path as
	   the program gave it (relative to a dirfd: through /dev/fd). */
	if (sc->nr == SYS_execveat && (int)sc->a[0] != AT_FDCWD && name[0] != '/')
		snprintf(x->script, sizeof(x->script), "/dev/fd/%d/%s", (int)sc->a[0], name);
	else if (strlen(name) < sizeof(x->script))
		strcpy(x->script, name);
	else
		return -ENAMETOOLONG;
	if (strlen(interp) >= sizeof(x->interp) || (arg && strlen(arg) >= sizeof(x->iarg)))
		return -ENOEXEC;
	strcpy(x->interp, interp);
	if (arg)
		strcpy(x->iarg, arg);
	/* interp [arg] script argv[1]... */
	while (uargv && uargv[argc])
		argc++;
	char **argv = (char **)sys6(SYS_mmap, 0, (argc + 4) * sizeof(char *),
				    PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (sys_failed((long)argv))
		return (long)argv;
	argv[k++] = x->interp;
	if (arg)
		argv[k++] = x->iarg;
	argv[k++] = x->script;
	for (long i = 1; i < argc; i++)
		argv[k++] = uargv[i];
	argv[k] = NULL;
	if (x->argv)
		sys2(SYS_munmap, x->argv, x->argv_size);
	x->argv = argv;
	x->argv_size = (argc + 4) * sizeof(char *);
	run.a[0] = (long)x->interp;
	run.a[1] = (long)argv;
	run.a[2] = sc->a[argi + 1];
	x->call = run;
	/* The interpreter may be in a mount, or a script itself (as deep as
	   the kernel goes: BINPRM's 5 levels). */
	if (++x->depth > 4)
		return -ELOOP;
	return handle(&run);
}

static long run_op(const struct defuse_syscall *sc, const struct onepath *d, struct loc *l)
{
	const struct defuse_mount_ref *ref = REF(l);
	struct mod_caller who;
	struct stat st;
	long r;

	switch (d->op) {
	case OP_STAT:
		r = mod_getattr(ref, l->path, &st, d->flags);
		if (r < 0)
			return r;
		return core_copy_out((void *)sc->a[sc->nr == SYS_newfstatat ? 2 : 1], &st, sizeof(st));
	case OP_STATX: {
		struct statx x;

		r = mod_statx(ref, l->path, d->flags, sc->a[3], &x);
		if (r < 0)
			return r;
		mount_root_attr(l->mount, &x);
		return core_copy_out((void *)sc->a[4], &x, sizeof(x));
	}
	case OP_ACCESS: {
		int mode = sc->a[sc->nr == SYS_access ? 1 : 2];

		if (mode & ~(R_OK | W_OK | X_OK))
			return -EINVAL;
		/* faccessat2's own flags, as module.h says */
		return mod_access(ref, l->path, mode, sc->nr == SYS_faccessat2 ? (int)sc->a[3] : 0,
				  caller(sc->nr == SYS_faccessat2 && (sc->a[3] & AT_EACCESS),
					 &who));
	}
	case OP_MKDIR:	/* the caller's umask applied (module.h) */
		return mod_mkdir(ref, l->path, mod_umasked(sc->a[sc->nr == SYS_mkdir ? 1 : 2] & 07777,
							   defuse_g.umask));
	case OP_MKNOD: {
		mode_t mode = sc->a[sc->nr == SYS_mknod ? 1 : 2];
		dev_t dev = sc->a[sc->nr == SYS_mknod ? 2 : 3];

		return mod_mknod(ref, l->path, mod_umasked(mode, defuse_g.umask), dev);
	}
	case OP_UNLINK:
		return mod_unlink(ref, l->path);
	case OP_RMDIR:
		return mod_rmdir(ref, l->path);
	case OP_READLINK: {
		char buf[PATH_MAX];
		long size = sc->a[sc->nr == SYS_readlink ? 2 : 3];
		void *ubuf = (void *)sc->a[sc->nr == SYS_readlink ? 1 : 2];

		if (size <= 0)
			return -EINVAL;
		r = mod_readlink(ref, l->path, buf, sizeof(buf));
		if (r < 0)
			return r;
		if (r > size)
			r = size;
		return core_copy_out(ubuf, buf, r) < 0 ? -EFAULT : r;
	}
	case OP_CHMOD:
		return mod_chmod(ref, l->path, sc->a[sc->nr == SYS_chmod ? 1 : 2] & 07777, d->flags);
	case OP_CHOWN: {
		int at = sc->nr == SYS_fchownat;

		return mod_chown(ref, l->path, sc->a[at ? 2 : 1], sc->a[at ? 3 : 2], d->flags);
	}
	case OP_TRUNCATE:
		return mod_truncate(ref, l->path, sc->a[1]);
	case OP_UTIMENS: {
		struct timespec ts[2];
		const struct timespec *tp;

		if ((r = times_from_user(sc, ts, &tp)) < 0)
			return r;
		return mod_utimens(ref, l->path, tp, d->flags);
	}
	case OP_STATFS: {
		struct statfs sf;

		r = mod_statfs(ref, l->path, &sf);
		return r < 0 ? r : core_copy_out((void *)sc->a[1], &sf, sizeof(sf));
	}
	case OP_CHDIR:
		r = getattr(l->mount, l->path, &st, 0);
		if (r < 0)
			return r;
		if (!S_ISDIR(st.st_mode))
			return -ENOTDIR;
		/* chdir needs search permission, with the effective IDs */
		if ((r = mod_access(ref, l->path, X_OK, AT_EACCESS, caller(1, &who))) < 0)
			return r;
		/* The kernel's cwd: the mount point, for programs not captured
		   (already there when the cwd stays in this mount). */
		return core_cwd_change(l->mount, l->path, kchdir,
				       &(struct kchdir){ .point = l->mount });
	case OP_SYMLINK: {
		const char *target = (const char *)sc->a[0];

		if (!target)
			return -EFAULT;
		return mod_symlink(ref, target, l->path);
	}
	case OP_GETXATTR:
	case OP_SETXATTR:
	case OP_LISTXATTR:
		return xattr_op(sc, d, l);
	case OP_REMOVEXATTR:
		return mod_removexattr(ref, l->path, (const char *)sc->a[1], d->flags);
	case OP_EXEC: {
		/* The kernel cannot see into the mount: exec the open file. */
		struct defuse_open o = { 0, -1 };
		struct defuse_syscall x = { .nr = SYS_execveat };
		int argi = sc->nr == SYS_execve ? 1 : 2;

		r = mod_open(ref, l->path, O_RDONLY, 0, &o);
		if (r < 0)
			return r;
		if (o.kernel_fd < 0) {
			/* An emulated file: the kernel gets a copy to run. */
			long mfd = copy_to_memfd(l->mount, o.fh, l->path, &r);

			mod_release(ref, o.fh);
			if (mfd < 0)
				return mfd;
			o.kernel_fd = mfd;
		} else {
			mod_release(ref, o.fh);
		}
		if (!exec_req) {	/* only core_exec_resolve asks */
			sys1(SYS_close, o.kernel_fd);
			return -ENOSYS;
		}
		r = exec_script(sc, o.kernel_fd);
		if (r != -ENOEXEC) {
			sys1(SYS_close, o.kernel_fd);
			return r;
		}
		x.a[0] = o.kernel_fd;
		x.a[1] = (long)"";
		x.a[2] = sc->a[argi];
		x.a[3] = sc->a[argi + 1];
		x.a[4] = AT_EMPTY_PATH;
		exec_req->call = x;
		exec_req->fd = o.kernel_fd;
		return 0;
	}
	}
	return -ENOSYS;
}

/* Does the name l leads to exist (not following a last symbolic link)? */
static long name_exists(const struct loc *l)
{
	struct stat st;

	if (l->mount >= 0)
		return getattr(l->mount, l->path, &st, DEFUSE_NOFOLLOW);
	return sys4(SYS_newfstatat, AT_FDCWD, l->path, &st, AT_SYMLINK_NOFOLLOW);
}

/*
 * linkat(fd, "", ..., AT_EMPTY_PATH) of a kernel-backed file: the kernel
 * links the very file (also an O_TMPFILE one, which has no name) into a
 * descriptor of the new name's directory that the module hands out.  A
 * module that keeps directories to itself gets a link by path.
 */
static long link_fd(long fd, const struct loc *a, const struct loc *b)
{
	struct defuse_open o = { 0, -1 };
	char dir[PATH_MAX];
	const char *name = strrchr(b->path, '/') + 1;
	long r;

	memcpy(dir, b->path, name - b->path);
	dir[name - b->path] = 0;
	r = mod_open(REF(b), dir, O_PATH | O_DIRECTORY | O_CLOEXEC, 0, &o);
	if (r < 0)
		return r;
	mod_release(REF(b), o.fh);
	if (o.kernel_fd < 0)
		return mod_link(REF(b), a->path, b->path);
	r = sys5(SYS_linkat, fd, "", o.kernel_fd, name, AT_EMPTY_PATH);
	sys1(SYS_close, o.kernel_fd);
	return r;
}

/* A kernel path for a name that is "." or "..": where the kernel says why. */
static int kernel_name(struct loc *l, int type)
{
	return type == LAST_NORM ? 0 : push(l->path, type == LAST_DOT ? "." : "..",
					    type == LAST_DOT ? 1 : 2);
}

/*
 * rename, link and friends: two paths, both in one mount or neither.  As in
 * the kernel: the two directories are looked up, then EXDEV, then the kinds
 * of the names, then the names themselves.  Renaming a mount point, or onto
 * one, is EBUSY (the directory underneath is the kernel's).
 */
static long two_paths(const struct defuse_syscall *sc, int d1, int p1, int d2, int p2,
		      int follow1, int is_link)
{
	long dfd1 = d1 >= 0 ? sc->a[d1] : AT_FDCWD, dfd2 = d2 >= 0 ? sc->a[d2] : AT_FDCWD;
	const char *u1 = (const char *)sc->a[p1], *u2 = (const char *)sc->a[p2];
	char dir[PATH_MAX];
	struct loc a, b;
	unsigned flags = sc->nr == SYS_renameat2 ? sc->a[4] : 0;
	int ta = LAST_NORM, tb = LAST_NORM, trail1 = 0, trail2 = 0, empty = 0, magic = 0;
	long r;

	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT))
		return -EINVAL;
	if ((flags & (RENAME_NOREPLACE | RENAME_WHITEOUT)) && (flags & RENAME_EXCHANGE))
		return -EINVAL;

	if (is_link && follow1 && u1 && u1[0] == '/') {
		/* linkat of /proc/self/fd/N, followed, of an emulated file: the
		   open file itself, as with AT_EMPTY_PATH (O_TMPFILE's way to a
		   name, with no privilege needed). */
		const char *after;
		long n = core_fd_link(u1, &after);

		if (n >= 0 && !*after && core_fd_emulated(n)) {
			dfd1 = n;
			u1 = "";
			magic = 1;
		}
	}
	if (is_link && ((sc->a[4] & AT_EMPTY_PATH) || magic) && u1 && !*u1) {
		/* The file dfd1 refers to itself. */
		struct core_fd *f = (int)dfd1 == AT_FDCWD ? NULL : core_fd_get(dfd1);
		const struct core_cwd *c = (int)dfd1 == AT_FDCWD ? core_cwd_snap() : NULL;

		empty = 1;
		a.mount = -1;
		a.touched = 0;
		a.mountpoint = 0;
		if (c) {
			a.mount = c->mount;
			strcpy(a.path, c->path);
		} else if (f) {
			a.mount = f->mount;
			snprintf(a.path, sizeof(a.path), "%s", f->path);
		}
	} else {
		if (!is_link && u1 && (ta = split_last(u1, dir, &trail1)) != LAST_NORM)
			r = resolve_dir(dfd1, dir, &a);
		else
			r = resolve(dfd1, u1, is_link ? follow1 : -1, 1, &a);
		if (r < 0)
			return r;
	}
	if (u2 && (tb = split_last(u2, dir, &trail2)) != LAST_NORM)
		r = resolve_dir(dfd2, dir, &b);
	else
		r = resolve(dfd2, u2, -1, 1, &b);
	if (r < 0)
		return r;

	/* A kernel part may hold kernel symbolic links into a mount. */
	if (a.mount != b.mount || (a.mount < 0 && !a.touched && !b.touched)) {
		struct loc p;

		if (a.mount < 0 && !a.touched && !empty && ta == LAST_NORM &&
		    maybe_via_link(dfd1, u1) &&
		    resolve_how(dfd1, u1, is_link ? follow1 : -1, 1, &p, RES_PHYSICAL) == 0 &&
		    p.touched)
			a = p;
		if (b.mount < 0 && !b.touched && tb == LAST_NORM && maybe_via_link(dfd2, u2) &&
		    resolve_how(dfd2, u2, -1, 1, &p, RES_PHYSICAL) == 0 && p.touched)
			b = p;
	}
	if (a.mount < 0 && b.mount < 0) {
		struct defuse_syscall k = *sc;
		struct stat st;

		if (!a.touched && !b.touched)
			return defuse_forward(sc);
		if (!is_link && (a.mountpoint || b.mountpoint) && !ta && !tb) {
			r = sys4(SYS_newfstatat, AT_FDCWD, a.path, &st, AT_SYMLINK_NOFOLLOW);
			return r < 0 ? r : -EBUSY;
		}
		if ((r = kernel_name(&a, ta)) < 0 || (r = kernel_name(&b, tb)) < 0)
			return r;
		if (!empty) {
			if (d1 >= 0)
				k.a[d1] = AT_FDCWD;
			k.a[p1] = (long)a.path;
		}
		if (d2 >= 0)
			k.a[d2] = AT_FDCWD;
		k.a[p2] = (long)b.path;
		return defuse_forward(&k);
	}
	if (is_link) {
		/* The new name is checked before the two file systems. */
		if (tb != LAST_NORM || b.mountpoint)
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
		struct core_fd *f = empty && (int)dfd1 != AT_FDCWD ? core_fd_acquire(dfd1) : NULL;

		if (f && !f->open)
			r = link_fd(dfd1, &a, &b);
		else if (f)	/* an emulated file: the module links the open file */
			r = mod_flink(REF(&a), f->open->fh, f->path,
				      (f->open->ofd->flags & O_TMPFILE) == O_TMPFILE, b.path);
		else
			r = mod_link(REF(&a), a.path, b.path);
		core_fd_release(f);
		return r;
	}
	if (ta != LAST_NORM)
		return -EBUSY;
	if (tb != LAST_NORM)
		return (flags & RENAME_NOREPLACE) ? -EEXIST : -EBUSY;
	if (trail1 || trail2) {
		/* Trailing slashes are for directories only. */
		struct stat st;

		if ((r = getattr(a.mount, a.path, &st, DEFUSE_NOFOLLOW)) < 0)
			return r;
		if (!S_ISDIR(st.st_mode))
			return -ENOTDIR;
	}
	return mod_rename(REF(&a), a.path, b.path, flags);
}

/* ---- descriptors and the current directory ---------------------------- */

/* fchdir of a kernel-backed directory, or of a kernel one. */
static long fchdir_kernel(const struct defuse_syscall *sc)
{
	struct core_fd *f = core_fd_acquire(sc->a[0]);
	struct kchdir k = { .sc = sc };
	char now[PATH_MAX];	/* where it is, if it was renamed */
	long r;

	if (f)
		r = chdir_canonical(f->mount, fd_path_now(sc->a[0], f, now) == 0 ? now : f->path, &k);
	else
		r = core_cwd_change(-1, NULL, kchdir, &k);
	core_fd_release(f);
	return r;
}

/* getcwd with c, the call's cwd. */
static long getcwd_of(const struct defuse_syscall *sc, const struct core_cwd *c)
{
	char buf[PATH_MAX], path[PATH_MAX];
	const char *point;
	size_t n;
	int k;

	if (!c)
		return defuse_forward(sc);	/* it left the mounts meanwhile */
	point = core_mounts[c->mount].point;
	/* Renamed or removed meanwhile?  The kernel knows. */
	k = core_cwd_kfd(c) >= 0 ? kfd_path_now(c->mount, core_cwd_kfd(c), path) : -1;
	if (k == -ENOENT)
		return -ENOENT;
	if (k < 0)
		strcpy(path, c->path);
	else if (strcmp(path, c->path))
		core_cwd_moved(path);	/* for later calls too, if memory
					   allows (c is not the call's then) */
	if (strcmp(path, "/"))
		n = snprintf(buf, sizeof(buf), "%s%s", point, path);
	else
		n = snprintf(buf, sizeof(buf), "%s", point);
	if (n + 1 > (size_t)sc->a[1])
		return -ERANGE;
	return core_copy_out((void *)sc->a[0], buf, n + 1) < 0 ? -EFAULT : (long)(n + 1);
}

static long do_fd_call(const struct defuse_syscall *sc)
{
	long r;

	switch (sc->nr) {
	case SYS_close: {
		/* Out of the table before the kernel frees the number, which
		   another thread's open may take at once (fdtable.c).  An
		   emulated file's flush says what close returns (module.h). */
		long flushed = core_fd_forget(sc->a[0]);

		r = fd_forward(sc);
		return r < 0 ? r : flushed < 0 ? flushed : r;
	}
	case SYS_dup:
		r = defuse_forward(sc);
		if (r >= 0)
			core_fd_copy(sc->a[0], r);
		return r;
	case SYS_dup2:
	case SYS_dup3:
		r = fd_forward(sc);
		if (r >= 0)
			core_fd_copy(sc->a[0], sc->a[1]);
		return r;
	case SYS_fcntl:
		r = defuse_forward(sc);
		if (r >= 0)
			core_fd_copy(sc->a[0], r);
		return r;
	case SYS_close_range:
		r = fd_forward(sc);
		if (r == 0 && !(sc->a[2] & CLOSE_RANGE_CLOEXEC))
			for (unsigned long fd = sc->a[0];
			     fd <= (unsigned long)sc->a[1] && fd < CORE_FD_MAX; fd++)
				core_fd_forget(fd);
		return r;
	case SYS_fchdir:
		return fchdir_kernel(sc);
	case SYS_getcwd:
		return getcwd_of(sc, core_cwd_snap());
	}
	return defuse_forward(sc);
}

/* ---- entry ------------------------------------------------------------- */

/* open(2)'s flags as the kernel knows them (glibc's O_LARGEFILE is 0). */
#define KERNEL_O_LARGEFILE 0100000
#define VALID_OPEN_FLAGS							\
	(O_ACCMODE | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_APPEND |	\
	 O_NONBLOCK | O_SYNC | O_DSYNC | O_ASYNC | O_DIRECT |		\
	 KERNEL_O_LARGEFILE | O_DIRECTORY | O_NOFOLLOW | O_NOATIME |	\
	 O_CLOEXEC | O_PATH | O_TMPFILE)
#define VALID_RESOLVE_FLAGS						\
	(RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS |	\
	 RESOLVE_BENEATH | RESOLVE_IN_ROOT | RESOLVE_CACHED)

/*
 * openat2: struct open_how checked as the kernel does, in its order, before
 * any lookup; then the RESOLVE_* flags applied by the core's own walk.
 * RESOLVE_CACHED means nothing in-process: the kernel may fail it with
 * EAGAIN, and does at once for calls that would create or truncate.
 */
static long open_how_call(const struct defuse_syscall *sc)
{
	struct open_how how, kh;
	struct defuse_syscall k = *sc;
	size_t size = sc->a[3];
	uint64_t fl;

	if (size < sizeof(how))
		return -EINVAL;
	if (size > 4096)
		return -E2BIG;
	if (defuse_copy_in(&how, (void *)sc->a[2], sizeof(how)))
		return -EFAULT;
	for (size_t off = sizeof(how); off < size; off += sizeof(uint64_t)) {
		/* A newer, larger struct: what we do not know must be zero. */
		uint64_t extra = 0;
		size_t n = size - off < sizeof(extra) ? size - off : sizeof(extra);

		if (defuse_copy_in(&extra, (const char *)sc->a[2] + off, n))
			return -EFAULT;
		if (extra)
			return -E2BIG;
	}
	fl = how.flags;
	if (fl & ~(uint64_t)VALID_OPEN_FLAGS)
		return -EINVAL;
	if (how.resolve & ~(uint64_t)VALID_RESOLVE_FLAGS)
		return -EINVAL;
	if ((how.resolve & RESOLVE_BENEATH) && (how.resolve & RESOLVE_IN_ROOT))
		return -EINVAL;
	if ((fl & O_CREAT) || (fl & O_TMPFILE) == O_TMPFILE) {
		if (how.mode & ~(uint64_t)07777)
			return -EINVAL;
	} else if (how.mode) {
		return -EINVAL;
	}
	if ((fl & (O_DIRECTORY | O_CREAT)) == (O_DIRECTORY | O_CREAT))
		return -EINVAL;
	if (fl & (O_TMPFILE & ~O_DIRECTORY)) {
		if ((fl & (O_TMPFILE | O_CREAT)) != O_TMPFILE || (fl & O_ACCMODE) == O_RDONLY)
			return -EINVAL;
	} else if ((fl & O_PATH) && (fl & ~(uint64_t)(O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC))) {
		return -EINVAL;
	}
	if ((how.resolve & RESOLVE_CACHED) && (fl & (O_TRUNC | O_CREAT | (O_TMPFILE & ~O_DIRECTORY))))
		return -EAGAIN;
	kh = how;
	kh.resolve &= ~(uint64_t)(RESOLVE_BENEATH | RESOLVE_IN_ROOT);
	k.a[2] = (long)&kh;
	k.a[3] = sizeof(kh);
	return do_open(sc, &k, sc->a[0], 1, 0, (int)fl, how.mode,
		       how.resolve & ~(uint64_t)RESOLVE_CACHED);
}

/*
 * setxattrat & co. (Linux 6.13): the same as the path calls, on a dirfd and
 * with AT_* flags; served as their path-only twin (dirfd in argument 5).
 */
struct xattr_args_v0 {
	uint64_t value;
	uint32_t size;
	uint32_t flags;
};

static long xattrat_call(const struct defuse_syscall *sc)
{
	struct defuse_syscall t = { .a = { sc->a[1], sc->a[3], 0, 0, 0, sc->a[0] } };
	struct onepath d = { .dfd_arg = 5, .path_arg = 0, .orig = sc };
	unsigned at = sc->a[2];
	struct xattr_args_v0 x;

	if (at & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH))
		return -EINVAL;
	switch (sc->nr) {
	case SYS_setxattrat_:
	case SYS_getxattrat_:
		if ((unsigned long)sc->a[5] < sizeof(x))
			return -EINVAL;
		if ((unsigned long)sc->a[5] > 4096)
			return -E2BIG;
		if (defuse_copy_in(&x, (void *)sc->a[4], sizeof(x)))
			return -EFAULT;
		t.a[2] = x.value;
		t.a[3] = x.size;
		if (sc->nr == SYS_setxattrat_) {
			t.nr = (at & AT_SYMLINK_NOFOLLOW) ? SYS_lsetxattr : SYS_setxattr;
			t.a[4] = x.flags;
			d.op = OP_SETXATTR;
		} else {
			if (x.flags)
				return -EINVAL;
			t.nr = (at & AT_SYMLINK_NOFOLLOW) ? SYS_lgetxattr : SYS_getxattr;
			d.op = OP_GETXATTR;
		}
		break;
	case SYS_listxattrat_:
		t.nr = (at & AT_SYMLINK_NOFOLLOW) ? SYS_llistxattr : SYS_listxattr;
		t.a[2] = sc->a[4];
		d.op = OP_LISTXATTR;
		break;
	default:
		t.nr = (at & AT_SYMLINK_NOFOLLOW) ? SYS_lremovexattr : SYS_removexattr;
		d.op = OP_REMOVEXATTR;
	}
	d.follow = !(at & AT_SYMLINK_NOFOLLOW);
	d.flags = nofollow(at);
	if ((at & AT_EMPTY_PATH) && (!sc->a[1] || !*(const char *)sc->a[1]))
		return empty_path(&t, &d);
	return one_path(&t, &d);
}

/* The flags each *at call accepts; others give EINVAL, before the lookup. */
static long valid_at_flags(long nr)
{
	switch (nr) {
	case SYS_newfstatat:
		return AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT;
	case SYS_statx:
		return AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT |
		       AT_STATX_SYNC_TYPE;
	case SYS_faccessat2:
		return AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH;
	case SYS_fchownat:
	case SYS_fchmodat2_:
	case SYS_utimensat:
		return AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH;
	}
	return ~0L;
}

/* fchdir to an emulated directory (held by the caller). */
static long fchdir_emulated(const struct defuse_syscall *sc, const struct core_fd *e)
{
	struct stat st;
	char now[PATH_MAX];	/* where it is, if it was renamed */
	const char *path = fd_path_now(sc->a[0], e, now) == 0 ? now : e->path;

	if (getattr(e->mount, path, &st, 0) == 0 && !S_ISDIR(st.st_mode))
		return -ENOTDIR;
	return chdir_canonical(e->mount, path, &(struct kchdir){ .point = e->mount, .always = 1 });
}

/* futimens (utimensat with a NULL path) on an emulated file (held). */
static long futimens_emulated(const struct defuse_syscall *sc, const struct core_fd *e)
{
	struct timespec ts[2];
	const struct timespec *tp;
	long r = times_from_user(sc, ts, &tp);

	if (r < 0)
		return r;
	if (e->open->ofd->flags & O_PATH)
		return -EBADF;	/* futimens needs an open file */
	return mod_futimens(CORE_REF(e->mount), e->open->fh, e->path, tp);
}

static long handle(void *arg)
{
	const struct defuse_syscall *sc = arg;
	long nr = sc->nr;
	struct onepath d = { .dfd_arg = -1, .path_arg = 0, .follow = 1 };
	int at = -1;
	struct core_fd *e;

	switch (nr) {
	case SYS_mmap:
		if ((e = core_fd_emulated(sc->a[4])))
			return core_emulated_call(sc, e);
		return defuse_forward(sc);
	case SYS_sendfile: case SYS_copy_file_range: case SYS_splice: case SYS_tee:
		/* Routed: one end is an emulated file (copy.c). */
		return core_copy_call(sc);
	case SYS_fgetxattr: case SYS_fsetxattr: case SYS_flistxattr: case SYS_fremovexattr:
		if ((e = core_fd_acquire(sc->a[0])) && e->open) {
			long r = fd_xattr(sc, e);

			core_fd_release(e);
			return r;
		}
		core_fd_release(e);
		break;
	case SYS_fchdir:
		if ((e = emulated_held(sc->a[0]))) {
			long r = fchdir_emulated(sc, e);

			core_fd_release(e);
			return r;
		}
		break;
	case SYS_newfstatat:
		if ((sc->a[3] & AT_EMPTY_PATH) && (!sc->a[1] || !*(const char *)sc->a[1]) &&
		    (e = core_fd_emulated(sc->a[0]))) {
			struct defuse_syscall f = { .nr = SYS_fstat, .a = { sc->a[0], sc->a[2] } };

			return core_emulated_call(&f, e);
		}
		break;
	case SYS_utimensat:
		if (!sc->a[1] && (e = emulated_held(sc->a[0]))) {
			long r = futimens_emulated(sc, e);

			core_fd_release(e);
			return r;
		}
		break;
	case SYS_fcntl:
		if ((e = core_fd_emulated(sc->a[0])))
			return core_emulated_call(sc, e);
		break;
	default:
		if (nr != SYS_close && nr != SYS_dup && nr != SYS_dup2 && nr != SYS_dup3 &&
		    nr != SYS_close_range && (e = core_fd_emulated(sc->a[0])) &&
		    !(nr >= 0 && core_is_path_call(nr)))
			return core_emulated_call(sc, e);
	}

	switch (nr) {
	case SYS_open:
		return do_open(sc, sc, AT_FDCWD, 0, -1, sc->a[1], sc->a[2], 0);
	case SYS_creat:
		return do_open(sc, sc, AT_FDCWD, 0, -1, O_CREAT | O_WRONLY | O_TRUNC, sc->a[1], 0);
	case SYS_openat:
		return do_open(sc, sc, sc->a[0], 1, 0, sc->a[2], sc->a[3], 0);
	case SYS_openat2:
		return open_how_call(sc);
	case SYS_setxattrat_: case SYS_getxattrat_: case SYS_listxattrat_:
	case SYS_removexattrat_:
		return xattrat_call(sc);

	case SYS_close: case SYS_dup: case SYS_dup2: case SYS_dup3: case SYS_fcntl:
	case SYS_close_range: case SYS_fchdir: case SYS_getcwd:
		return do_fd_call(sc);

	case SYS_rename:
		return two_paths(sc, -1, 0, -1, 1, 0, 0);
	case SYS_renameat: case SYS_renameat2:
		return two_paths(sc, 0, 1, 2, 3, 0, 0);
	case SYS_link:
		return two_paths(sc, -1, 0, -1, 1, 0, 1);
	case SYS_linkat:
		if (sc->a[4] & ~(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH))
			return -EINVAL;
		return two_paths(sc, 0, 1, 2, 3, (sc->a[4] & AT_SYMLINK_FOLLOW) != 0, 1);

	case SYS_stat: d.op = OP_STAT; break;
	case SYS_lstat: d.op = OP_STAT; d.follow = 0; break;
	case SYS_newfstatat: d.op = OP_STAT; at = 3; break;
	case SYS_statx: d.op = OP_STATX; at = 2; break;
	case SYS_access: d.op = OP_ACCESS; break;
	case SYS_faccessat: d.op = OP_ACCESS; d.dfd_arg = 0; d.path_arg = 1; break;
	case SYS_faccessat2: d.op = OP_ACCESS; at = 3; break;
	case SYS_mkdir: d.op = OP_MKDIR; d.follow = 0; break;
	case SYS_mkdirat: d.op = OP_MKDIR; d.dfd_arg = 0; d.path_arg = 1; d.follow = 0; break;
	case SYS_mknod: d.op = OP_MKNOD; d.follow = 0; break;
	case SYS_mknodat: d.op = OP_MKNOD; d.dfd_arg = 0; d.path_arg = 1; d.follow = 0; break;
	case SYS_rmdir: d.op = OP_RMDIR; d.follow = 0; break;
	case SYS_unlink: d.op = OP_UNLINK; d.follow = 0; break;
	case SYS_unlinkat:
		d.op = (sc->a[2] & AT_REMOVEDIR) ? OP_RMDIR : OP_UNLINK;
		if (sc->a[2] & ~AT_REMOVEDIR)
			return -EINVAL;
		d.dfd_arg = 0; d.path_arg = 1; d.follow = 0;
		break;
	case SYS_symlink: d.op = OP_SYMLINK; d.path_arg = 1; d.follow = 0; break;
	case SYS_symlinkat: d.op = OP_SYMLINK; d.dfd_arg = 1; d.path_arg = 2; d.follow = 0; break;
	case SYS_readlink: d.op = OP_READLINK; d.follow = 0; break;
	case SYS_readlinkat:
		d.op = OP_READLINK; d.dfd_arg = 0; d.path_arg = 1; d.follow = 0;
		if (sc->a[1] && !*(const char *)sc->a[1])
			return readlink_empty(sc, &d);
		break;
	case SYS_chmod: d.op = OP_CHMOD; break;
	case SYS_fchmodat: d.op = OP_CHMOD; d.dfd_arg = 0; d.path_arg = 1; break;
	case SYS_fchmodat2_: d.op = OP_CHMOD; at = 3; break;
	case SYS_chown: d.op = OP_CHOWN; break;
	case SYS_lchown: d.op = OP_CHOWN; d.follow = 0; d.flags = DEFUSE_NOFOLLOW; break;
	case SYS_fchownat: d.op = OP_CHOWN; at = 4; break;
	case SYS_truncate: d.op = OP_TRUNCATE; break;
	case SYS_utime: case SYS_utimes: d.op = OP_UTIMENS; break;
	case SYS_futimesat: d.op = OP_UTIMENS; d.dfd_arg = 0; d.path_arg = 1; break;
	case SYS_utimensat:
		if (!sc->a[1])
			return defuse_forward(sc);	/* futimens on a kernel fd */
		d.op = OP_UTIMENS; at = 3;
		break;
	case SYS_statfs: d.op = OP_STATFS; break;
	case SYS_chdir: d.op = OP_CHDIR; break;
	case SYS_getxattr: d.op = OP_GETXATTR; break;
	case SYS_lgetxattr: d.op = OP_GETXATTR; d.follow = 0; d.flags = DEFUSE_NOFOLLOW; break;
	case SYS_setxattr: d.op = OP_SETXATTR; break;
	case SYS_lsetxattr: d.op = OP_SETXATTR; d.follow = 0; d.flags = DEFUSE_NOFOLLOW; break;
	case SYS_listxattr: d.op = OP_LISTXATTR; break;
	case SYS_llistxattr: d.op = OP_LISTXATTR; d.follow = 0; d.flags = DEFUSE_NOFOLLOW; break;
	case SYS_removexattr: d.op = OP_REMOVEXATTR; break;
	case SYS_lremovexattr: d.op = OP_REMOVEXATTR; d.follow = 0; d.flags = DEFUSE_NOFOLLOW; break;
	case SYS_execve: d.op = OP_EXEC; break;
	case SYS_execveat:
		if ((sc->a[4] & AT_EMPTY_PATH) && sc->a[1] && !*(const char *)sc->a[1])
			return kernel_call(sc);	/* the descriptor is the kernel's */
		d.op = OP_EXEC; d.dfd_arg = 0; d.path_arg = 1;
		d.follow = !(sc->a[4] & AT_SYMLINK_NOFOLLOW);
		break;
	default:
		return defuse_forward(sc);
	}
	if (at >= 0) {
		/* *at calls with a flags argument, checked before any lookup. */
		long f = sc->a[at];

		if (f & ~valid_at_flags(nr))
			return -EINVAL;
		if (nr == SYS_statx && (((unsigned)sc->a[3] & STATX__RESERVED) ||
					(f & AT_STATX_SYNC_TYPE) == AT_STATX_SYNC_TYPE))
			return -EINVAL;

		d.dfd_arg = 0;
		d.path_arg = 1;
		d.follow = !(f & AT_SYMLINK_NOFOLLOW);
		d.flags = nofollow(f);
		if ((f & AT_EMPTY_PATH) && (!sc->a[1] || !*(const char *)sc->a[1]))
			return empty_path(sc, &d);
	}
	if (d.op == OP_UNLINK || d.op == OP_RMDIR || d.op == OP_MKDIR ||
	    d.op == OP_MKNOD || d.op == OP_SYMLINK)
		d.follow = -1;
	if (!d.follow && !d.flags &&
	    (d.op == OP_STAT || d.op == OP_STATX || d.op == OP_CHMOD || d.op == OP_UTIMENS))
		d.flags = DEFUSE_NOFOLLOW;
	return one_path(sc, &d);
}

long core_exec_resolve(const struct defuse_syscall *sc, struct core_exec *x)
{
	long r;

	x->call = *sc;
	x->fd = -1;
	x->argv = NULL;
	x->depth = 0;
	exec_req = x;
	r = core_handle((void *)sc);
	exec_req = NULL;
	if (r < 0)
		core_exec_undo(x);
	return r;
}

void core_exec_undo(struct core_exec *x)
{
	if (x->fd >= 0)
		sys1(SYS_close, x->fd);
	if (x->argv)
		sys2(SYS_munmap, x->argv, x->argv_size);
	x->fd = -1;
	x->argv = NULL;
}

/* One call, one cwd: a chdir in another thread meanwhile is after it. */
long core_handle(void *arg)
{
	return core_cwd_call(handle, arg);
}
