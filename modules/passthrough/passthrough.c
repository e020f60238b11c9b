/*
 * passthrough: a DEFUSE module that serves a local directory.
 *
 * ARGS (the text after "passthrough:" in a mount specification):
 *
 *   DIR            kernel-backed: open answers with a real kernel descriptor,
 *                  so the program's reads, writes, mmap and locks on it run
 *                  at native speed and never come back to the module.
 *   emulated=DIR   emulated: open keeps the descriptor to itself and serves
 *                  read, write, append, fgetattr, ftruncate, fchmod, fchown,
 *                  futimens, flink, fsync, fallocate, seek_data, readdir and
 *                  release through it (pread and pwrite at the offset the
 *                  host gives), and hands it over for locks (lock_fd)
 *                  and for mmap (map_fd: the program's mappings are the
 *                  kernel's own mappings of the backing file).
 *                  Also what a host that cannot take a kernel descriptor
 *                  (no DEFUSE_CAP_KERNEL_FD) gets.  This is how DEFUSE's emulation
 *                  path is exercised over a real file system.  FIFOs and
 *                  device nodes have no data of their own to emulate and are
 *                  always answered with a kernel descriptor.
 *   emulated-nomap=DIR
 *                  emulated, and no descriptor for mmap: DEFUSE's user-space
 *                  pager serves mappings (docs/paging.md), as for a module
 *                  with no kernel file behind its files (tests, benchmarks).
 *
 * DIR is absolute or relative to the working directory at init, and must be
 * a directory.  (A directory whose name starts with "emulated=" is written
 * "./emulated=...".)
 *
 * Confinement.  The module holds an O_PATH descriptor of DIR and resolves
 * every path beneath it with openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS):
 * whatever the core passes, no symbolic link, ".." or race moves an
 * operation out of DIR (it fails with EXDEV).  Operations on a name (create,
 * remove, rename, link, and everything asked not to follow) open the parent
 * that way and apply the *at call to the last component, so a symbolic link
 * there is never followed.  Operations that follow a last-component link
 * reopen the whole path beneath the root and act on that descriptor.
 * Where the process may make one, most path calls first try the view
 * (view.h): a copy of the root's mount on which no link is followed, where
 * the whole path is one *at call; a link met there sends them the long way.
 *
 * Errors are what the kernel gives for the same call on DIR, as negative
 * errno, including the order in which the kernel checks arguments before it
 * looks at the path.  The root itself ("/") answers name operations as the
 * root of a chroot does (rmdir: EBUSY, rename: EBUSY, mkdir: EEXIST, ...).
 *
 * Every operation is thread-safe and async-signal-safe: no locks (readdir
 * takes a try-lock only, never waits), no allocation outside init.
 */
#include <defuse/module.h>

#include "dircache.h"
#include "kept.h"
#include "view.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/fsuid.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

/* System calls newer than this system's headers. */
#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452	/* Linux 6.6 */
#endif
#ifndef SYS_setxattrat
#define SYS_setxattrat 463	/* Linux 6.13, all four */
#define SYS_getxattrat 464
#define SYS_listxattrat 465
#define SYS_removexattrat 466
#endif

/* struct xattr_args of the *xattrat calls (version 0, 16 bytes). */
struct pt_xattr_args {
	uint64_t value;
	uint32_t size;
	uint32_t flags;
};

/* The kernel's O_LARGEFILE (glibc defines O_LARGEFILE as 0 on 64-bit). */
#define PT_O_LARGEFILE 0100000

/* open(2) ignores unknown flags, openat2(2) rejects them: keep the known. */
#define PT_OPEN_FLAGS (O_ACCMODE | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC |  \
		       O_APPEND | O_NONBLOCK | O_DSYNC | O_ASYNC | O_DIRECT | \
		       PT_O_LARGEFILE | O_DIRECTORY | O_NOFOLLOW | O_NOATIME | \
		       O_CLOEXEC | O_PATH | O_TMPFILE | O_SYNC)
/* The flags open(2) keeps with O_PATH (it drops the others silently). */
#define PT_PATH_FLAGS (O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)

/* fh of an open file the module keeps nothing for (kernel-backed). */
#define PT_NOFH UINT64_MAX

/* readdir try-locks, by descriptor number modulo this (see pt_readdir). */
#define DIR_SLOTS 64

/*
 * "/proc/thread-self/fd/" + an int + "/" + a name.  thread-self, not self:
 * a thread that unshared its descriptor table (unshare(CLONE_FILES)) sees
 * its own table only there.
 */
#define PROC_PATH_MAX (sizeof "/proc/thread-self/fd/" + 12 + NAME_MAX + 1)

#define EXPORT __attribute__((visibility("default")))

struct pt {
	int root;		/* O_PATH | O_DIRECTORY of the backing directory */
	bool emulated;		/* "emulated=DIR": serve file data ourselves */
	bool nomap;		/* "emulated-nomap=DIR": no map_fd */
	struct dircache *dc;	/* kept directories (dircache.h), or NULL */
	struct view *view;	/* the confined view (view.h), or NULL */
	atomic_flag dir_busy[DIR_SLOTS];
};

/* -errno for a libc call that returned -1, else its result. */
static inline long ret(long r)
{
	return r < 0 ? -errno : r;
}

/* The descriptor behind a file handle, or -1 (the kernel says EBADF). */
static inline int fh_fd(uint64_t fh)
{
	return fh <= INT_MAX ? (int)fh : -1;
}

static int close_keep_errno(int fd)
{
	int e = errno;

	if (fd >= 0)
		close(fd);
	errno = e;
	return 0;
}

/* ---- Paths ---------------------------------------------------------- */

/* The path relative to the root: "/a/b" -> "a/b", "/" -> ".". */
static const char *rel_of(const char *path)
{
	while (*path == '/')
		path++;
	return *path ? path : ".";
}

/*
 * openat2 beneath the root.  Returns a descriptor or -errno.
 *
 * With RESOLVE_BENEATH, openat2 fails with EAGAIN when a ".." in the lookup
 * (in the path or in a symbolic link) races with a rename or mount anywhere
 * in the system, and asks the caller to retry; a native lookup never shows
 * that.  An open can also fail with EAGAIN by itself (O_NONBLOCK against a
 * lease, some devices): that answer stands after a bounded number of tries.
 */
static int open_beneath_as(const struct pt *pt, const char *path, int flags,
			   mode_t mode)
{
	struct open_how how = {
		.flags = (unsigned int)flags,
		.mode = mode,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	/* Without O_NONBLOCK an open cannot fail with EAGAIN by itself (a
	   lease makes it wait), so EAGAIN is the lookup race: keep trying,
	   however busy the rest of the system is with renames. */
	unsigned int tries = (flags & O_PATH) || !(flags & O_NONBLOCK) ? 1u << 20 : 64;
	long fd;

	do
		fd = syscall(SYS_openat2, pt->root, rel_of(path), &how, sizeof how);
	while (fd < 0 && errno == EAGAIN && --tries);
	return (int)ret(fd);
}

/* The module's own descriptors are close-on-exec. */
static int open_beneath(const struct pt *pt, const char *path, int flags,
			mode_t mode)
{
	return open_beneath_as(pt, path, flags | O_CLOEXEC, mode);
}

/* "/proc/thread-self/fd/N" or "/proc/thread-self/fd/N/NAME", without
   snprintf, into buf of PROC_PATH_MAX bytes (or fewer without a name). */
const char *pt_proc_fd_path(char *buf, int fd, const char *name)
{
	char digits[12];
	size_t n = 0, len = sizeof "/proc/thread-self/fd/" - 1;

	memcpy(buf, "/proc/thread-self/fd/", len);
	do
		digits[n++] = (char)('0' + fd % 10);
	while ((fd /= 10) && n < sizeof digits);
	while (n)
		buf[len++] = digits[--n];
	if (name && *name) {
		size_t nl = strnlen(name, NAME_MAX + 1);

		if (nl > NAME_MAX)
			nl = NAME_MAX + 1;	/* the kernel answers ENAMETOOLONG */
		buf[len++] = '/';
		memcpy(buf + len, name, nl);
		len += nl;
	}
	buf[len] = '\0';
	return buf;
}

enum name_kind {
	NAME_PLAIN,	/* an ordinary name */
	NAME_DOT,	/* "." or ".." (maybe with trailing slashes) */
	NAME_SLASH,	/* an ordinary name with trailing slashes */
	NAME_ROOT,	/* the path is the root itself */
};

/* A path split into its parent directory and its last component. */
struct name_at {
	int dirfd;		/* the parent, open beneath the root */
	const char *name;	/* the last component (points into the path) */
	int own;		/* dirfd if we opened it, else -1 */
	struct dc_entry *held;	/* dirfd's entry if the cache gave it, else NULL */
	enum name_kind kind;
};

static void name_done(struct name_at *at)
{
	close_keep_errno(at->own);
	at->own = -1;
	if (at->held)
		dircache_put(at->held);
	at->held = NULL;
}

/* How parent_at_how finds a parent below the root. */
enum parent_how {
	PARENT_OPEN,		/* opens it beneath the root */
	PARENT_CACHED,		/* from the cache (dircache.h), else opens it */
	PARENT_CACHED_ONLY,	/* from the cache, else returns 1 */
};

/*
 * Opens the parent of path beneath the root.  The last component keeps its
 * trailing slashes, so that the *at call sees what the program wrote ("d/"
 * must be a directory).  For "/" the parent is the root and the name ".",
 * which gives the kernel's answers for a path's root (LAST_ROOT is treated
 * like LAST_DOT by every name operation but rmdir).  Returns 0 or -errno,
 * or 1 for PARENT_CACHED_ONLY when the cache has no such parent.
 */

static int parent_at_how(const struct pt *pt, const char *path, struct name_at *at,
			 enum parent_how how)
{
	char parent[PATH_MAX];
	const char *rel = path;
	size_t len, end, start;

	while (*rel == '/')
		rel++;
	len = strnlen(rel, PATH_MAX);
	at->own = -1;
	at->held = NULL;
	at->dirfd = pt->root;
	if (len >= PATH_MAX)
		return -ENAMETOOLONG;
	for (end = len; end && rel[end - 1] == '/'; end--)
		;
	if (end == 0) {
		at->name = ".";
		at->kind = NAME_ROOT;
		return 0;
	}
	for (start = end; start && rel[start - 1] != '/'; start--)
		;
	at->name = rel + start;
	if (rel[start] == '.' && (end - start == 1 || (end - start == 2 && rel[start + 1] == '.')))
		at->kind = NAME_DOT;
	else
		at->kind = end == len ? NAME_PLAIN : NAME_SLASH;
	if (start == 0)
		return 0;

	if (how != PARENT_OPEN) {
		size_t plen = start;
		int fd;

		while (plen && rel[plen - 1] == '/')
			plen--;
		fd = dircache_get(pt->dc, rel, plen, &at->held);
		if (fd >= 0) {
			at->dirfd = fd;
			return 0;
		}
		if (how == PARENT_CACHED_ONLY)
			return 1;
	}
	memcpy(parent, rel, start);
	parent[start] = '\0';
	int fd = open_beneath(pt, parent, O_PATH | O_DIRECTORY, 0);
	if (fd < 0)
		return fd;
	at->dirfd = at->own = fd;
	return 0;
}

static int parent_at(const struct pt *pt, const char *path, struct name_at *at)
{
	return parent_at_how(pt, path, at, PARENT_CACHED);
}

/*
 * The object a path names, as (dirfd, name, atflags) to hand to an *at
 * call: either (parent, plain name, AT_SYMLINK_NOFOLLOW) when the last
 * component is an ordinary name that is not to be followed (or is no
 * symbolic link), or (descriptor, "", AT_EMPTY_PATH) for an O_PATH
 * descriptor of the object, opened beneath the root.  The descriptor form
 * is what follows a symbolic link, and also what resolves ".", ".." and
 * trailing slashes (which follow links) without leaving the root.
 */
struct obj {
	int dirfd;
	const char *name;
	int atflags;
	int own;		/* to close, or -1 */
	struct dc_entry *held;	/* dirfd's cache entry, or NULL */
};

static void obj_done(struct obj *o)
{
	close_keep_errno(o->own);
	o->own = -1;
	if (o->held)
		dircache_put(o->held);
	o->held = NULL;
}

/* Whether a path ("/a/b", "a/b/") has a parent below the root. */
static bool has_parent(const char *path)
{
	const char *rel = rel_of(path), *slash = strchr(rel, '/');

	while (slash && slash[1] == '/')
		slash++;
	return slash && slash[1];
}

/*
 * cached: whether the parent may come from the cache (dircache.h), which
 * skips the search-permission checks of the directories above the parent:
 * not when the lookup is to be checked with other IDs (access).
 */
static int obj_at_how(const struct pt *pt, const char *path, bool follow, bool cached,
		      struct obj *o)
{
	struct name_at at;
	int r;

	/*
	 * A followed path below the root: with its parent kept, a look at
	 * the name and then the name itself; else one openat2 of the object
	 * itself costs less than opening its parent and then asking whether
	 * the name is a symbolic link.
	 */
	if (follow && has_parent(path)) {
		r = cached ? parent_at_how(pt, path, &at, PARENT_CACHED_ONLY) : 1;
		if (r < 0)
			return r;
		if (r > 0) {
			int fd = open_beneath(pt, path, O_PATH, 0);

			if (fd < 0)
				return fd;
			*o = (struct obj){ fd, "", AT_EMPTY_PATH, fd, NULL };
			return 0;
		}
	} else {
		r = parent_at_how(pt, path, &at, cached ? PARENT_CACHED : PARENT_OPEN);
		if (r)
			return r;
	}
	if (at.kind == NAME_ROOT) {
		*o = (struct obj){ pt->root, "", AT_EMPTY_PATH, -1, NULL };
		return 0;
	}
	if (at.kind == NAME_PLAIN) {
		struct stat st;

		if (!follow) {
			*o = (struct obj){ at.dirfd, at.name, AT_SYMLINK_NOFOLLOW, at.own, at.held };
			return 0;
		}
		/*
		 * Not a link: act on the name directly (one call instead
		 * of three).  If it becomes one meanwhile, we act on the
		 * link itself, which is harmless.
		 */
		if (fstatat(at.dirfd, at.name, &st, AT_SYMLINK_NOFOLLOW)) {
			r = -errno;
			name_done(&at);
			return r;
		}
		if (!S_ISLNK(st.st_mode)) {
			*o = (struct obj){ at.dirfd, at.name, AT_SYMLINK_NOFOLLOW, at.own, at.held };
			return 0;
		}
	}
	name_done(&at);
	int fd = open_beneath(pt, path, O_PATH | (follow ? 0 : O_NOFOLLOW), 0);
	if (fd < 0)
		return fd;
	*o = (struct obj){ fd, "", AT_EMPTY_PATH, fd, NULL };
	return 0;
}

static int obj_at(const struct pt *pt, const char *path, bool follow, struct obj *o)
{
	return obj_at_how(pt, path, follow, true, o);
}

/*
 * The view (view.h) for a path below the root: its descriptor, with the
 * whole relative path as the name, one call where the long way takes
 * three.  Returns the descriptor, to be given back with view_put, or -1
 * when the path must take the long way (no view, the root's own names,
 * "." or ".." in it).  A symbolic link on the way, or at the end when it
 * is to be followed, fails the call made on it with ELOOP: then the long
 * way gives the answer.
 */
static int view_of(const struct pt *pt, const char *path, const char **rel)
{
	*rel = rel_of(path);
	if (!pt->view || !has_parent(path) || !view_takes(*rel))
		return -1;
	return view_get(pt->view);
}

/* Whether an answer through the view stands (else: the long way). */
static bool view_answer(const struct pt *pt, long r)
{
	view_put(pt->view);
	return r != -ELOOP;
}

/* The *at flag for a last component followed or not. */
static int at_follow(bool follow)
{
	return follow ? 0 : AT_SYMLINK_NOFOLLOW;
}

/* ---- Life cycle ----------------------------------------------------- */

__attribute__((format(printf, 3, 4)))
static void say(char *why, size_t why_len, const char *fmt, ...)
{
	va_list ap;

	if (!why || !why_len)
		return;
	va_start(ap, fmt);
	vsnprintf(why, why_len, fmt, ap);
	va_end(ap);
}

static int pt_init(const char *args, struct defuse_conn *conn, void **priv, char *why,
		   size_t why_len)
{
	const char *dir = args ? args : "";
	bool emulated = false, nomap = false;
	struct pt *pt;
	int fd, r;

	if (strncmp(dir, "emulated=", 9) == 0) {
		emulated = true;
		dir += 9;
	} else if (strncmp(dir, "emulated-nomap=", 15) == 0) {
		emulated = nomap = true;
		dir += 15;
	}
	if (!(conn->capable & DEFUSE_CAP_KERNEL_FD))
		emulated = true;	/* the host cannot take our descriptors */
	if (!*dir) {
		say(why, why_len, "passthrough: no backing directory (ARGS: DIR or emulated=DIR)");
		return -EINVAL;
	}
	fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		r = errno;
		say(why, why_len, "passthrough: %s: %s", dir, strerror(r));
		return -r;
	}
	pt = calloc(1, sizeof *pt);
	if (!pt) {
		close(fd);
		say(why, why_len, "passthrough: out of memory");
		return -ENOMEM;
	}
	/* Under DEFUSE, out of the program's way (kept.h). */
	r = pt_keep(fd);
	if (r < 0) {
		free(pt);
		say(why, why_len, "passthrough: %s: %s", dir, strerror(-r));
		return r;
	}
	fd = r;
	pt->root = fd;
	pt->emulated = emulated;
	pt->nomap = nomap;
	for (int i = 0; i < DIR_SLOTS; i++)
		atomic_flag_clear(&pt->dir_busy[i]);

	r = open_beneath(pt, "/", O_PATH, 0);
	if (r < 0) {
		say(why, why_len, "passthrough: %s: openat2: %s%s", dir, strerror(-r),
		    r == -ENOSYS ? " (needs Linux 5.6 or later)" : "");
		close(fd);
		free(pt);
		return r;
	}
	close(r);
	pt->dc = dircache_new(pt->root);
	pt->view = view_new(pt->root);
	*priv = pt;
	return 0;
}

static void pt_destroy(void *priv)
{
	struct pt *pt = priv;

	dircache_free(pt->dc);
	view_free(pt->view);
	pt_close_kept(pt->root);
	free(pt);
}

/* A forked child: the cache's watches are its parent's (dircache.h); a
   readdir try-lock another thread held at the fork is free again. */
static void pt_after_fork_child(void *priv)
{
	struct pt *pt = priv;

	dircache_after_fork_child(pt->dc);
	view_after_fork_child(pt->view);
	for (int i = 0; i < DIR_SLOTS; i++)
		atomic_flag_clear(&pt->dir_busy[i]);
}

/* ---- Metadata by path ----------------------------------------------- */

/*
 * A kept parent (dircache.h) makes a stat one fstatat; a link to follow,
 * ".", ".." and trailing slashes take the whole lookup beneath the root.
 */
static int pt_getattr(void *priv, const char *path, struct stat *st, int flags)
{
	const struct pt *pt = priv;
	bool follow = !(flags & DEFUSE_NOFOLLOW);
	struct name_at at;
	const char *rel;
	int r, fd;

	if (flags & ~DEFUSE_NOFOLLOW)
		return -EINVAL;
	if ((fd = view_of(pt, path, &rel)) >= 0) {
		r = (int)ret(fstatat(fd, rel, st, at_follow(follow)));
		if (view_answer(pt, r))
			return r;
	}
	r = parent_at(pt, path, &at);
	if (r)
		return r;
	if (at.kind == NAME_ROOT)
		return (int)ret(fstat(pt->root, st));
	if (at.kind == NAME_PLAIN) {
		r = (int)ret(fstatat(at.dirfd, at.name, st, AT_SYMLINK_NOFOLLOW));
		name_done(&at);
		if (r || !follow || !S_ISLNK(st->st_mode))
			return r;
	} else {
		name_done(&at);
	}
	fd = open_beneath(pt, path, O_PATH | (follow ? 0 : O_NOFOLLOW), 0);
	if (fd < 0)
		return fd;
	r = (int)ret(fstat(fd, st));
	close_keep_errno(fd);
	return r;
}

/* cached: the lookup runs with the thread's own file-system IDs. */
static int access_as_is(const struct pt *pt, const char *path, int mode, int flags,
			bool cached)
{
	bool follow = !(flags & AT_SYMLINK_NOFOLLOW);
	const char *rel;
	struct obj o;
	int r, fd;

	if ((fd = view_of(pt, path, &rel)) >= 0) {
		r = (int)ret(syscall(SYS_faccessat2, fd, rel, mode,
				     (flags & AT_EACCESS) | at_follow(follow)));
		if (view_answer(pt, r))
			return r;
	}
	r = obj_at_how(pt, path, follow, cached, &o);
	if (r)
		return r;
	r = (int)ret(syscall(SYS_faccessat2, o.dirfd, o.name, mode,
			     (flags & AT_EACCESS) | o.atflags));
	obj_done(&o);
	return r;
}

/*
 * access(2) checks with the real user and group IDs (unless AT_EACCESS),
 * for the whole lookup and not only the last component: the kernel swaps
 * the thread's credentials for the call.  Our lookup happens in our own
 * calls, so we swap too when the IDs differ (a set-user-ID program, or one
 * that called setfsuid): setfsuid and setfsgid act on this thread only.
 * Asynchronous signals stay blocked meanwhile, so that no handler runs
 * with the borrowed IDs.
 */
/*
 * statx, for what struct stat cannot carry (birth time, attributes): the
 * object opened O_PATH beneath the root, then statx on the descriptor.
 */
static int pt_statx(void *priv, const char *path, int flags, unsigned int mask,
		    struct statx *stx)
{
	const struct pt *pt = priv;
	struct name_at at;
	const char *rel;
	int fd, r;

	if (flags & ~DEFUSE_NOFOLLOW)
		return -EINVAL;
	if ((fd = view_of(pt, path, &rel)) >= 0) {
		r = (int)ret(statx(fd, rel, at_follow(!(flags & DEFUSE_NOFOLLOW)), mask, stx));
		/* the view's mount ID made the root's, or the long way */
		if (!r && !view_fix_statx(pt->view, stx))
			r = -ELOOP;
		if (view_answer(pt, r))
			return r;
	}
	/* With the parent kept, statx of the name, unless it is a link to
	   follow. */
	if (parent_at_how(pt, path, &at, PARENT_CACHED_ONLY) == 0) {
		if (at.kind == NAME_PLAIN) {
			r = (int)ret(statx(at.dirfd, at.name, AT_SYMLINK_NOFOLLOW, mask, stx));
			name_done(&at);
			if (r || (flags & DEFUSE_NOFOLLOW) || !S_ISLNK(stx->stx_mode))
				return r;
		} else {
			name_done(&at);
		}
	}
	fd = open_beneath(pt, path, O_PATH | ((flags & DEFUSE_NOFOLLOW) ? O_NOFOLLOW : 0), 0);
	if (fd < 0)
		return fd;
	r = (int)ret(statx(fd, "", AT_EMPTY_PATH, mask, stx));
	close_keep_errno(fd);
	return r;
}

static int pt_access(void *priv, const char *path, int mode, int flags)
{
	uid_t ruid, fsuid;
	gid_t rgid, fsgid;
	sigset_t block, old;
	int r;

	/* faccessat2 checks these before it looks at the path. */
	if (mode & ~(F_OK | R_OK | W_OK | X_OK))
		return -EINVAL;
	if (flags & ~(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH))
		return -EINVAL;
	if (flags & AT_EACCESS)
		return access_as_is(priv, path, mode, flags, true);
	if (defuse_fs_ids_are_real && defuse_fs_ids_are_real())
		return access_as_is(priv, path, mode, flags, true);	/* the common case */
	ruid = getuid();
	rgid = getgid();
	fsuid = (uid_t)setfsuid((uid_t)-1);	/* an invalid ID: only reads */
	fsgid = (gid_t)setfsgid((gid_t)-1);
	if (ruid == fsuid && rgid == fsgid)
		return access_as_is(priv, path, mode, flags, false);

	sigfillset(&block);
	sigdelset(&block, SIGSEGV);	/* synchronous ones cannot wait */
	sigdelset(&block, SIGBUS);
	sigdelset(&block, SIGILL);
	sigdelset(&block, SIGFPE);
	sigdelset(&block, SIGSYS);
	pthread_sigmask(SIG_SETMASK, &block, &old);
	setfsgid(rgid);
	setfsuid(ruid);
	r = access_as_is(priv, path, mode, flags, false);
	setfsuid(fsuid);
	setfsgid(fsgid);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return r;
}

static ssize_t pt_readlink(void *priv, const char *path, char *buf, size_t size)
{
	const char *rel;
	struct obj o;
	struct stat st;
	ssize_t r;
	int fd;

	if ((int)size <= 0)	/* readlinkat's bufsiz is an int */
		return -EINVAL;
	if ((fd = view_of(priv, path, &rel)) >= 0) {
		r = ret(readlinkat(fd, rel, buf, size));
		if (view_answer(priv, r))
			return r;
	}
	r = obj_at(priv, path, false, &o);
	if (r)
		return r;
	if (o.atflags & AT_EMPTY_PATH) {
		/* readlinkat(fd, "") says ENOENT for a non-link, readlink EINVAL */
		if (fstat(o.dirfd, &st))
			r = -errno;
		else if (!S_ISLNK(st.st_mode))
			r = -EINVAL;
	}
	if (!r)
		r = ret(readlinkat(o.dirfd, o.name, buf, size));
	obj_done(&o);
	return r;
}

static int pt_mknod(void *priv, const char *path, mode_t mode, dev_t dev)
{
	struct name_at at;
	const char *rel;
	int r, fd;

	switch (mode & S_IFMT) {	/* may_mknod(), before the lookup */
	case 0: case S_IFREG: case S_IFCHR: case S_IFBLK: case S_IFIFO: case S_IFSOCK:
		break;
	case S_IFDIR:
		return -EPERM;
	default:
		return -EINVAL;
	}
	if ((fd = view_of(priv, path, &rel)) >= 0) {
		r = (int)ret(mknodat(fd, rel, mode, dev));
		if (view_answer(priv, r))
			return r;
	}
	r = parent_at(priv, path, &at);
	if (r)
		return r;
	r = (int)ret(mknodat(at.dirfd, at.name, mode, dev));
	name_done(&at);
	return r;
}

static int pt_mkdir(void *priv, const char *path, mode_t mode)
{
	struct name_at at;
	const char *rel;
	int r, fd;

	if ((fd = view_of(priv, path, &rel)) >= 0) {
		r = (int)ret(mkdirat(fd, rel, mode));
		if (view_answer(priv, r))
			return r;
	}
	r = parent_at(priv, path, &at);
	if (r)
		return r;
	r = (int)ret(mkdirat(at.dirfd, at.name, mode));
	name_done(&at);
	return r;
}

static int pt_unlink(void *priv, const char *path)
{
	struct name_at at;
	const char *rel;
	int r, fd;

	if ((fd = view_of(priv, path, &rel)) >= 0) {
		r = (int)ret(unlinkat(fd, rel, 0));
		if (view_answer(priv, r))
			return r;
	}
	r = parent_at(priv, path, &at);
	if (r)
		return r;
	r = (int)ret(unlinkat(at.dirfd, at.name, 0));
	name_done(&at);
	return r;
}

static int pt_rmdir(void *priv, const char *path)
{
	struct name_at at;
	const char *rel;
	int r, fd;

	if ((fd = view_of(priv, path, &rel)) >= 0) {
		r = (int)ret(unlinkat(fd, rel, AT_REMOVEDIR));
		if (view_answer(priv, r))
			return r;
	}
	r = parent_at(priv, path, &at);
	if (r)
		return r;
	if (at.kind == NAME_ROOT)
		return -EBUSY;	/* the kernel's answer for a root (LAST_ROOT) */
	r = (int)ret(unlinkat(at.dirfd, at.name, AT_REMOVEDIR));
	name_done(&at);
	return r;
}

static int pt_symlink(void *priv, const char *target, const char *path)
{
	struct name_at at;
	const char *rel;
	int r, fd;

	/* symlinkat copies the target in before it looks at the path */
	if (!*target)
		return -ENOENT;
	if (strnlen(target, PATH_MAX) >= PATH_MAX)
		return -ENAMETOOLONG;
	if ((fd = view_of(priv, path, &rel)) >= 0) {
		r = (int)ret(symlinkat(target, fd, rel));
		if (view_answer(priv, r))
			return r;
	}
	r = parent_at(priv, path, &at);
	if (r)
		return r;
	r = (int)ret(symlinkat(target, at.dirfd, at.name));
	name_done(&at);
	return r;
}

static int pt_rename(void *priv, const char *from, const char *to, unsigned int flags)
{
	struct name_at f, t;
	const char *frel, *trel;
	int r, fd;

	/* renameat2's own checks, before any lookup */
	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT))
		return -EINVAL;
	if ((flags & RENAME_EXCHANGE) && (flags & (RENAME_NOREPLACE | RENAME_WHITEOUT)))
		return -EINVAL;
	/* Both names in the view (one mount), or neither (EXDEV). */
	if ((fd = view_of(priv, from, &frel)) >= 0) {
		trel = rel_of(to);
		r = view_takes(trel) ? (int)ret(renameat2(fd, frel, fd, trel, flags)) : -ELOOP;
		if (view_answer(priv, r))
			return r;
	}
	r = parent_at(priv, from, &f);
	if (r)
		return r;
	r = parent_at(priv, to, &t);
	if (r) {
		name_done(&f);
		return r;
	}
	r = (int)ret(renameat2(f.dirfd, f.name, t.dirfd, t.name, flags));
	name_done(&t);
	name_done(&f);
	return r;
}

static int pt_link(void *priv, const char *from, const char *to)
{
	const struct pt *pt = priv;
	char proc[PROC_PATH_MAX];
	struct name_at f, t;
	struct stat st;
	int r, fd;

	r = parent_at(pt, from, &f);
	if (r)
		return r;
	if (f.kind != NAME_PLAIN) {
		/*
		 * ".", "..", "x/" or the root: resolve the old name beneath
		 * the root and link what it names (always a directory, so
		 * the kernel answers EPERM, EEXIST or ENOENT in its order).
		 * linkat(fd, "", AT_EMPTY_PATH) would need CAP_DAC_READ_SEARCH.
		 */
		name_done(&f);
		fd = open_beneath(pt, from, O_PATH | O_NOFOLLOW, 0);
		if (fd < 0)
			return fd;
		r = parent_at(pt, to, &t);
		if (!r) {
			r = (int)ret(linkat(AT_FDCWD, pt_proc_fd_path(proc, fd, NULL),
					    t.dirfd, t.name, AT_SYMLINK_FOLLOW));
			name_done(&t);
		}
		close_keep_errno(fd);
		return r;
	}
	r = parent_at(pt, to, &t);
	if (r) {
		/* linkat looks the old name up before the new parent */
		if (fstatat(f.dirfd, f.name, &st, AT_SYMLINK_NOFOLLOW))
			r = -errno;
		name_done(&f);
		return r;
	}
	r = (int)ret(linkat(f.dirfd, f.name, t.dirfd, t.name, 0));
	name_done(&t);
	name_done(&f);
	return r;
}

/* fchmodat2 (Linux 6.6), or what glibc did before it: chmod via /proc. */
static int chmod_at(const struct obj *o, mode_t mode)
{
	char proc[PROC_PATH_MAX];
	struct stat st;
	int r, fd;

	r = (int)ret(syscall(SYS_fchmodat2, o->dirfd, o->name, mode, o->atflags));
	if (r != -ENOSYS)
		return r;
	fd = o->dirfd;
	if (!(o->atflags & AT_EMPTY_PATH)) {
		fd = openat(o->dirfd, o->name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return -errno;
	}
	if (fstat(fd, &st))
		r = -errno;
	else if (S_ISLNK(st.st_mode))
		r = -EOPNOTSUPP;
	else
		r = (int)ret(chmod(pt_proc_fd_path(proc, fd, NULL), mode));
	if (fd != o->dirfd)
		close_keep_errno(fd);
	return r;
}

static int pt_chmod(void *priv, const char *path, mode_t mode, int flags)
{
	const char *rel;
	struct obj o;
	int r, fd;

	if (flags & ~DEFUSE_NOFOLLOW)
		return -EINVAL;
	if ((fd = view_of(priv, path, &rel)) >= 0) {
		r = (int)ret(syscall(SYS_fchmodat2, fd, rel, mode,
				     at_follow(!(flags & DEFUSE_NOFOLLOW))));
		if (view_answer(priv, r == -ENOSYS ? -ELOOP : r))
			return r;
	}
	if (!(flags & DEFUSE_NOFOLLOW)) {
		/* Through a kept parent, one call: fchmodat2 refuses a
		   symbolic link not to be followed (EOPNOTSUPP), and only
		   then is the name looked at to follow it. */
		struct name_at at;

		if (parent_at_how(priv, path, &at, PARENT_CACHED_ONLY) == 0) {
			r = -EOPNOTSUPP;
			if (at.kind == NAME_PLAIN)
				r = (int)ret(syscall(SYS_fchmodat2, at.dirfd, at.name, mode,
						     AT_SYMLINK_NOFOLLOW));
			name_done(&at);
			if (r != -EOPNOTSUPP && r != -ENOSYS)
				return r;
		}
	}
	r = obj_at(priv, path, !(flags & DEFUSE_NOFOLLOW), &o);
	if (r)
		return r;
	r = chmod_at(&o, mode);
	obj_done(&o);
	return r;
}

static int pt_chown(void *priv, const char *path, uid_t uid, gid_t gid, int flags)
{
	const char *rel;
	struct obj o;
	int r, fd;

	if (flags & ~DEFUSE_NOFOLLOW)
		return -EINVAL;
	if ((fd = view_of(priv, path, &rel)) >= 0) {
		r = (int)ret(fchownat(fd, rel, uid, gid, at_follow(!(flags & DEFUSE_NOFOLLOW))));
		if (view_answer(priv, r))
			return r;
	}
	r = obj_at(priv, path, !(flags & DEFUSE_NOFOLLOW), &o);
	if (r)
		return r;
	r = (int)ret(fchownat(o.dirfd, o.name, uid, gid, o.atflags));
	obj_done(&o);
	return r;
}

static int pt_truncate(void *priv, const char *path, off_t size)
{
	const struct pt *pt = priv;
	char proc[PROC_PATH_MAX];
	struct stat st;
	int r, fd, wfd;

	if (size < 0)		/* checked before the lookup */
		return -EINVAL;
	fd = open_beneath(pt, path, O_PATH, 0);
	if (fd < 0)
		return fd;
	/* truncate(2) itself, on the very file we resolved */
	r = (int)ret(truncate(pt_proc_fd_path(proc, fd, NULL), size));
	if (r == -ENOENT) {
		/* no /proc: the same checks, then write access and ftruncate */
		if (fstat(fd, &st))
			r = -errno;
		else if (S_ISDIR(st.st_mode))
			r = -EISDIR;
		else if (!S_ISREG(st.st_mode))
			r = -EINVAL;
		else if ((wfd = open_beneath(pt, path, O_WRONLY | O_NOCTTY | O_NONBLOCK, 0)) < 0)
			r = wfd;
		else {
			r = (int)ret(ftruncate(wfd, size));
			close_keep_errno(wfd);
		}
	}
	close_keep_errno(fd);
	return r;
}

static int pt_utimens(void *priv, const char *path, const struct timespec times[2],
		      int flags)
{
	const char *rel;
	struct obj o;
	int r, fd;

	if (flags & ~DEFUSE_NOFOLLOW)
		return -EINVAL;
	/* utimensat does nothing, not even the lookup, when both are omitted */
	if (times && times[0].tv_nsec == UTIME_OMIT && times[1].tv_nsec == UTIME_OMIT)
		return 0;
	if ((fd = view_of(priv, path, &rel)) >= 0) {
		r = (int)ret(utimensat(fd, rel, times, at_follow(!(flags & DEFUSE_NOFOLLOW))));
		if (view_answer(priv, r))
			return r;
	}
	r = obj_at(priv, path, !(flags & DEFUSE_NOFOLLOW), &o);
	if (r)
		return r;
	r = (int)ret(utimensat(o.dirfd, o.name, times, o.atflags));
	obj_done(&o);
	return r;
}

static int pt_statfs(void *priv, const char *path, struct statfs *st)
{
	int r, fd = open_beneath(priv, path, O_PATH, 0);

	if (fd < 0)
		return fd;
	r = (int)ret(fstatfs(fd, st));
	close_keep_errno(fd);
	return r;
}

/* ---- Extended attributes -------------------------------------------- */

/*
 * By name: the *xattrat calls (Linux 6.13) with AT_SYMLINK_NOFOLLOW, else
 * l*xattr on /proc/thread-self/fd/PARENT/NAME.  By descriptor: *xattr on
 * /proc/thread-self/fd/N, which resolves to exactly the object N was opened on
 * (f*xattr and AT_EMPTY_PATH refuse O_PATH descriptors).
 */

/* Whether getxattrat and listxattrat are to be had (Linux 6.13): the view
   needs them, the long way has /proc. */
static atomic_bool xattrat = true;

/* An answer of the *xattrat calls through the view: ENOSYS sends this and
   every later call the long way. */
static long xattrat_answer(long r)
{
	if (r != -ENOSYS)
		return r;
	atomic_store_explicit(&xattrat, false, memory_order_relaxed);
	return -ELOOP;
}

/* Name checks the kernel makes before the lookup. */
static int xattr_name_ok(const char *name)
{
	size_t n = strnlen(name, XATTR_NAME_MAX + 1);

	return n == 0 || n > XATTR_NAME_MAX ? -ERANGE : 0;
}

static ssize_t pt_getxattr(void *priv, const char *path, const char *name,
			   void *value, size_t size, int flags)
{
	char proc[PROC_PATH_MAX];
	const char *rel;
	struct obj o;
	ssize_t r;
	int fd;

	if (flags & ~DEFUSE_NOFOLLOW)
		return -EINVAL;
	if ((r = xattr_name_ok(name)))
		return r;
	if (xattrat && (fd = view_of(priv, path, &rel)) >= 0) {
		struct pt_xattr_args a = {
			.value = (uintptr_t)value,
			.size = size > XATTR_SIZE_MAX ? XATTR_SIZE_MAX : (uint32_t)size,
		};

		r = ret(syscall(SYS_getxattrat, fd, rel, at_follow(!(flags & DEFUSE_NOFOLLOW)),
				name, &a, sizeof a));
		if (view_answer(priv, xattrat_answer(r)))
			return r;
	}
	if ((r = obj_at(priv, path, !(flags & DEFUSE_NOFOLLOW), &o)))
		return r;
	if (o.atflags & AT_EMPTY_PATH) {
		r = ret(getxattr(pt_proc_fd_path(proc, o.dirfd, NULL), name, value, size));
	} else {
		struct pt_xattr_args a = {
			.value = (uintptr_t)value,
			.size = size > XATTR_SIZE_MAX ? XATTR_SIZE_MAX : (uint32_t)size,
		};

		r = ret(syscall(SYS_getxattrat, o.dirfd, o.name, AT_SYMLINK_NOFOLLOW,
				name, &a, sizeof a));
		if (r == -ENOSYS)
			r = ret(lgetxattr(pt_proc_fd_path(proc, o.dirfd, o.name), name,
					  value, size));
	}
	obj_done(&o);
	return r;
}

static int pt_setxattr(void *priv, const char *path, const char *name,
		       const void *value, size_t size, int xflags, int flags)
{
	char proc[PROC_PATH_MAX];
	const char *rel;
	struct obj o;
	int r, fd;

	if (flags & ~DEFUSE_NOFOLLOW)
		return -EINVAL;
	if (xflags & ~(XATTR_CREATE | XATTR_REPLACE))
		return -EINVAL;
	if ((r = xattr_name_ok(name)))
		return r;
	if (size > XATTR_SIZE_MAX)
		return -E2BIG;
	if (xattrat && (fd = view_of(priv, path, &rel)) >= 0) {
		struct pt_xattr_args a = {
			.value = (uintptr_t)value,
			.size = (uint32_t)size,
			.flags = (uint32_t)xflags,
		};

		r = (int)ret(syscall(SYS_setxattrat, fd, rel, at_follow(!(flags & DEFUSE_NOFOLLOW)),
				     name, &a, sizeof a));
		if (view_answer(priv, xattrat_answer(r)))
			return r;
	}
	if ((r = obj_at(priv, path, !(flags & DEFUSE_NOFOLLOW), &o)))
		return r;
	if (o.atflags & AT_EMPTY_PATH) {
		r = (int)ret(setxattr(pt_proc_fd_path(proc, o.dirfd, NULL), name, value,
				      size, xflags));
	} else {
		struct pt_xattr_args a = {
			.value = (uintptr_t)value,
			.size = (uint32_t)size,
			.flags = (uint32_t)xflags,
		};

		r = (int)ret(syscall(SYS_setxattrat, o.dirfd, o.name, AT_SYMLINK_NOFOLLOW,
				     name, &a, sizeof a));
		if (r == -ENOSYS)
			r = (int)ret(lsetxattr(pt_proc_fd_path(proc, o.dirfd, o.name), name,
					       value, size, xflags));
	}
	obj_done(&o);
	return r;
}

static ssize_t pt_listxattr(void *priv, const char *path, char *list, size_t size,
			    int flags)
{
	char proc[PROC_PATH_MAX];
	const char *rel;
	struct obj o;
	ssize_t r;
	int fd;

	if (flags & ~DEFUSE_NOFOLLOW)
		return -EINVAL;
	if (xattrat && (fd = view_of(priv, path, &rel)) >= 0) {
		r = ret(syscall(SYS_listxattrat, fd, rel, at_follow(!(flags & DEFUSE_NOFOLLOW)),
				list, size));
		if (view_answer(priv, xattrat_answer(r)))
			return r;
	}
	if ((r = obj_at(priv, path, !(flags & DEFUSE_NOFOLLOW), &o)))
		return r;
	if (o.atflags & AT_EMPTY_PATH) {
		r = ret(listxattr(pt_proc_fd_path(proc, o.dirfd, NULL), list, size));
	} else {
		r = ret(syscall(SYS_listxattrat, o.dirfd, o.name, AT_SYMLINK_NOFOLLOW,
				list, size));
		if (r == -ENOSYS)
			r = ret(llistxattr(pt_proc_fd_path(proc, o.dirfd, o.name), list, size));
	}
	obj_done(&o);
	return r;
}

static int pt_removexattr(void *priv, const char *path, const char *name, int flags)
{
	char proc[PROC_PATH_MAX];
	const char *rel;
	struct obj o;
	int r, fd;

	if (flags & ~DEFUSE_NOFOLLOW)
		return -EINVAL;
	if ((r = xattr_name_ok(name)))
		return r;
	if (xattrat && (fd = view_of(priv, path, &rel)) >= 0) {
		r = (int)ret(syscall(SYS_removexattrat, fd, rel,
				     at_follow(!(flags & DEFUSE_NOFOLLOW)), name));
		if (view_answer(priv, xattrat_answer(r)))
			return r;
	}
	if ((r = obj_at(priv, path, !(flags & DEFUSE_NOFOLLOW), &o)))
		return r;
	if (o.atflags & AT_EMPTY_PATH) {
		r = (int)ret(removexattr(pt_proc_fd_path(proc, o.dirfd, NULL), name));
	} else {
		r = (int)ret(syscall(SYS_removexattrat, o.dirfd, o.name,
				     AT_SYMLINK_NOFOLLOW, name));
		if (r == -ENOSYS)
			r = (int)ret(lremovexattr(pt_proc_fd_path(proc, o.dirfd, o.name), name));
	}
	obj_done(&o);
	return r;
}

/* ---- Open files ----------------------------------------------------- */

/*
 * Kernel-backed: out->kernel_fd is the descriptor openat2 gave (the core
 * owns it from here; the module keeps no copy) and fh is PT_NOFH, for which
 * release does nothing and the file operations say EBADF.
 *
 * Emulated: fh is the module's own descriptor, opened without O_APPEND (the
 * core places appending writes; with O_APPEND, pwrite would ignore the
 * offset).  Directories and O_PATH opens are emulated too (fh also works
 * with readdir); FIFOs and devices get a kernel descriptor.
 *
 * A kernel-backed descriptor is the program's, opened with its flags
 * (O_CLOEXEC included); the module's own descriptors are close-on-exec.
 */
static int opened(const struct pt *pt, int fd, int flags, struct defuse_open *out);

static int pt_open(void *priv, const char *path, int flags, mode_t mode,
		   struct defuse_open *out)
{
	const struct pt *pt = priv;
	int fd;

	/* What open(2) does with flags and mode before openat2 would see them. */
	flags &= PT_OPEN_FLAGS;
	if (flags & O_PATH)
		flags &= PT_PATH_FLAGS;
	if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE)
		mode &= 07777;
	else
		mode = 0;

	/* Without O_NONBLOCK, opening a FIFO waits for its other end, which
	   a signal of the caller's must be able to end (stress-ng's dup
	   stressor: a 1 ms timer's signal, held back while DEFUSE prepared
	   the open, stayed blocked through the wait for ever). */
	if (!(flags & O_NONBLOCK) && defuse_waiting)
		defuse_waiting(1);
	/* Kernel-backed, the descriptor becomes the program's: its flags,
	   O_CLOEXEC or not, are the program's. */
	fd = pt->emulated ? open_beneath(pt, path, flags & ~O_APPEND, mode)
			  : open_beneath_as(pt, path, flags, mode);
	if (!(flags & O_NONBLOCK) && defuse_waiting)
		defuse_waiting(0);
	if (fd < 0)
		return fd;
	return opened(pt, fd, flags, out);
}

/*
 * An open that got descriptor fd: kernel-backed, the program's; emulated,
 * ours for regular files and directories (the program gets a
 * placeholder), the program's for the rest (FIFOs, devices).
 */
static int opened(const struct pt *pt, int fd, int flags, struct defuse_open *out)
{
	struct stat st;

	out->fh = PT_NOFH;
	out->kernel_fd = fd;
	if (!pt->emulated)
		return 0;
	if (fstat(fd, &st)) {
		int r = -errno;

		close(fd);
		return r;
	}
	if ((flags & O_PATH) || S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
		/* Under DEFUSE, the module's descriptor must not take the number
		   the program's placeholder should get (module.h). */
		if ((fd = pt_keep(fd)) < 0)
			return fd;
		out->fh = (uint64_t)fd;
		out->kernel_fd = -1;
	} else if (flags & O_APPEND) {
		fcntl(fd, F_SETFL, flags);	/* give it back its O_APPEND */
	}
	return 0;
}

static ssize_t pt_read(void *priv, uint64_t fh, void *buf, size_t size, off_t off)
{
	(void)priv;
	return ret(pread(fh_fd(fh), buf, size, off));
}

static ssize_t pt_write(void *priv, uint64_t fh, const void *buf, size_t size, off_t off)
{
	(void)priv;
	return ret(pwrite(fh_fd(fh), buf, size, off));
}

/* The kernel appends atomically (RWF_APPEND) and moves our offset past it. */
static ssize_t pt_append(void *priv, uint64_t fh, const void *buf, size_t size, off_t *end)
{
	struct iovec iov = { (void *)buf, size };
	ssize_t n;

	(void)priv;
	n = pwritev2(fh_fd(fh), &iov, 1, -1, RWF_APPEND);
	if (n >= 0)
		*end = lseek(fh_fd(fh), 0, SEEK_CUR);
	return ret(n);
}

static int pt_fgetattr(void *priv, uint64_t fh, struct stat *st)
{
	(void)priv;
	return (int)ret(fstat(fh_fd(fh), st));
}

static int pt_ftruncate(void *priv, uint64_t fh, off_t size)
{
	(void)priv;
	return (int)ret(ftruncate(fh_fd(fh), size));
}

static int pt_fsync(void *priv, uint64_t fh, int datasync)
{
	(void)priv;
	return (int)ret(datasync ? fdatasync(fh_fd(fh)) : fsync(fh_fd(fh)));
}

static int pt_fallocate(void *priv, uint64_t fh, int mode, off_t off, off_t len)
{
	(void)priv;
	return (int)ret(fallocate(fh_fd(fh), mode, off, len));
}

static off_t pt_seek_data(void *priv, uint64_t fh, off_t off, int whence)
{
	(void)priv;
	if (whence != SEEK_DATA && whence != SEEK_HOLE)
		return -EINVAL;
	/* Moves our descriptor's offset, which nothing else uses. */
	return (off_t)ret(lseek(fh_fd(fh), off, whence));
}

static void pt_release(void *priv, uint64_t fh)
{
	(void)priv;
	if (fh == PT_NOFH)
		return;
	pt_close_kept(fh_fd(fh));
}

/* fchmod, fchown, futimens of an emulated file: on our descriptor of it. */
static int pt_fchmod(void *priv, uint64_t fh, mode_t mode)
{
	(void)priv;
	return (int)ret(fchmod(fh_fd(fh), mode));
}

static int pt_fchown(void *priv, uint64_t fh, uid_t uid, gid_t gid)
{
	(void)priv;
	return (int)ret(fchown(fh_fd(fh), uid, gid));
}

static int pt_futimens(void *priv, uint64_t fh, const struct timespec times[2])
{
	(void)priv;
	return (int)ret(futimens(fh_fd(fh), times));
}

/*
 * A name for the open file (O_TMPFILE's way to one): linkat of our
 * descriptor.  AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH (ENOENT without);
 * the /proc magic link, followed, links the same file without it.
 */
static int pt_flink(void *priv, uint64_t fh, const char *newpath)
{
	char proc[PROC_PATH_MAX];
	struct name_at t;
	int r, fd = fh_fd(fh);

	if (fd < 0)
		return -EBADF;
	r = parent_at(priv, newpath, &t);
	if (r)
		return r;
	r = (int)ret(linkat(fd, "", t.dirfd, t.name, AT_EMPTY_PATH));
	if (r == -ENOENT)
		r = (int)ret(linkat(AT_FDCWD, pt_proc_fd_path(proc, fd, NULL), t.dirfd, t.name,
				    AT_SYMLINK_FOLLOW));
	name_done(&t);
	return r;
}

/* ---- Directories ---------------------------------------------------- */

/* getdents64 from pos on fd, handing each entry to fill. */
static int list_from(int fd, int64_t pos, defuse_fill_dir fill, void *ctx)
{
	/* Small: we may run on a signal stack.  Costs a call per ~100 names. */
	char buf[4096] __attribute__((aligned(8)));
	ssize_t n;

	if (lseek(fd, pos, SEEK_SET) < 0)
		return -errno;
	while ((n = getdents64(fd, buf, sizeof buf)) > 0) {
		for (ssize_t i = 0; i < n;) {
			const struct dirent64 *d = (const void *)(buf + i);

			if (fill(ctx, d->d_name, d->d_ino, d->d_type, d->d_off))
				return 0;
			i += d->d_reclen;
		}
	}
	return n < 0 ? -errno : 0;
}

/*
 * The handle is a directory descriptor (from an emulated open).  Its offset is shared, so lseek + getdents64 must not interleave
 * with another readdir of the same handle: we try-lock a slot for the
 * descriptor, and if it is taken (another thread, or a signal handler that
 * interrupted us) read through a private descriptor of the same directory
 * instead of waiting.  Positions are the file system's d_off cookies, valid
 * on any descriptor of the directory.
 */
static int pt_readdir(void *priv, uint64_t fh, int64_t pos, defuse_fill_dir fill,
		      void *ctx)
{
	struct pt *pt = priv;
	int fd = fh_fd(fh), r;
	atomic_flag *slot;

	if (fd < 0)
		return -EBADF;
	slot = &pt->dir_busy[(unsigned int)fd % DIR_SLOTS];
	if (!atomic_flag_test_and_set_explicit(slot, memory_order_acquire)) {
		r = list_from(fd, pos, fill, ctx);
		atomic_flag_clear_explicit(slot, memory_order_release);
		return r;
	}
	int own = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (own < 0)
		return -errno;
	r = list_from(own, pos, fill, ctx);
	close_keep_errno(own);
	return r;
}

/* Emulated: fh is our own descriptor of the file, one per open. */
static int pt_lock_fd(void *priv, uint64_t fh)
{
	(void)priv;
	return fh == PT_NOFH ? -EBADF : fh_fd(fh);
}

/* Emulated: mmap maps the backing file itself (same access mode as fh). */
static int pt_map_fd(void *priv, uint64_t fh)
{
	const struct pt *pt = priv;

	if (pt->nomap)
		return -ENODEV;
	return fh == PT_NOFH ? -EBADF : fh_fd(fh);
}

/*
 * A file's handle is its device and inode.  Opening by handle needs a
 * descriptor of the file (kfd: the host lends the lock descriptor an earlier
 * open of it gave), reopened through /proc as the kernel reopens
 * /proc/self/fd/N: a new open file description of the same inode, with the
 * caller's permissions checked again.  Without one there is no unprivileged
 * way from a handle to a file: ESTALE.
 */
struct pt_handle {
	uint64_t dev, ino;
};

static ssize_t pt_file_handle(void *priv, uint64_t fh, void *buf, size_t size)
{
	struct pt_handle h;
	struct stat st;

	(void)priv;
	if (fh == PT_NOFH || size < sizeof(h))
		return -EBADF;
	if (fstat(fh_fd(fh), &st))
		return -errno;
	h = (struct pt_handle){ st.st_dev, st.st_ino };
	memcpy(buf, &h, sizeof(h));
	return sizeof(h);
}

static int pt_open_handle(void *priv, const void *handle, size_t len, int kfd, int flags,
			  struct defuse_open *out)
{
	const struct pt *pt = priv;
	char self[40];
	struct pt_handle h;
	struct stat st;
	int fd;

	if (len != sizeof(h) || kfd < 0)
		return -ESTALE;
	memcpy(&h, handle, sizeof(h));
	flags &= PT_OPEN_FLAGS & ~(O_CREAT | O_EXCL);
	if (flags & O_PATH)
		flags &= PT_PATH_FLAGS;
	if (pt->emulated)
		flags &= ~O_APPEND;	/* the host places appends (pt_append) */
	snprintf(self, sizeof(self), "/proc/self/fd/%d", kfd);
	fd = open(self, (flags & ~O_NOFOLLOW) | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || st.st_dev != h.dev || st.st_ino != h.ino) {
		close(fd);
		return -ESTALE;
	}
	return opened(pt, fd, flags, out);
}

/* ---- The module ----------------------------------------------------- */

static const struct defuse_ops pt_ops = {
	.init = pt_init,
	.destroy = pt_destroy,
	.after_fork_child = pt_after_fork_child,
	.getattr = pt_getattr,
	.statx = pt_statx,
	.access = pt_access,
	.readlink = pt_readlink,
	.mknod = pt_mknod,
	.mkdir = pt_mkdir,
	.unlink = pt_unlink,
	.rmdir = pt_rmdir,
	.symlink = pt_symlink,
	.rename = pt_rename,
	.link = pt_link,
	.chmod = pt_chmod,
	.chown = pt_chown,
	.truncate = pt_truncate,
	.utimens = pt_utimens,
	.statfs = pt_statfs,
	.getxattr = pt_getxattr,
	.setxattr = pt_setxattr,
	.listxattr = pt_listxattr,
	.removexattr = pt_removexattr,
	.open = pt_open,
	.read = pt_read,
	.write = pt_write,
	.fgetattr = pt_fgetattr,
	.ftruncate = pt_ftruncate,
	.fsync = pt_fsync,
	.fallocate = pt_fallocate,
	.seek_data = pt_seek_data,
	.fchmod = pt_fchmod,
	.fchown = pt_fchown,
	.futimens = pt_futimens,
	.flink = pt_flink,
	.release = pt_release,
	.readdir = pt_readdir,
	.lock_fd = pt_lock_fd,
	.map_fd = pt_map_fd,
	.file_handle = pt_file_handle,
	.open_handle = pt_open_handle,
	.append = pt_append,
};

EXPORT const struct defuse_module defuse_module_v2 = {
	.api_version = DEFUSE_API_VERSION,
	.ops_size = sizeof(struct defuse_ops),
	.name = "passthrough",
	.description = "a local directory (ARGS: DIR, or emulated=DIR to serve file data in the module, "
		       "emulated-nomap=DIR to leave mmap to DEFUSE's pager)",
	.flags = DEFUSE_MODULE_RESOLVES,
	.ops = &pt_ops,
};
