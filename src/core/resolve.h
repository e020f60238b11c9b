/*
 * Path resolution: where a path a program names leads, the kernel's file
 * system or a mount, found component by component as the kernel would
 * (resolve.c explains the walk).  The calls in open.c and pathops.c ask,
 * then either give the kernel the call or call the module.
 */
#ifndef DEFUSE_CORE_RESOLVE_H
#define DEFUSE_CORE_RESOLVE_H

#include <limits.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>

/* How a path is resolved: core_resolve's flag word. */
enum core_res_flags {
	/* A symbolic link as the last component is followed (stat, open);
	   without it only a trailing slash follows one (lstat). */
	CORE_RES_FOLLOW = 1 << 0,
	/* The call acts on the name itself (unlink, rmdir, mkdir, rename):
	   the last component is never followed, not even for a trailing
	   slash, and a mount point named from outside is a name in its
	   parent's file system. */
	CORE_RES_NAME = 1 << 1,
	/* The call creates the last component (mkdir, mknod, symlink): an
	   existing non-directory with a slash after it is EEXIST, not
	   ENOTDIR.  With CORE_RES_NAME. */
	CORE_RES_CREATE = 1 << 10,
	/* Resolve inside mounts here, even for a module that resolves paths
	   itself (DEFUSE_MODULE_RESOLVES), which otherwise gets the rest of
	   the path as it is. */
	CORE_RES_STRICT = 1 << 2,
	/* Read the kernel part's symbolic links from the start (otherwise
	   only once the walk has touched a mount: until then the kernel part
	   is lexical, and a path that stays there goes to the kernel as the
	   program wrote it). */
	CORE_RES_PHYSICAL = 1 << 3,
	/* Ask the kernel where a kernel-backed dirfd's directory is now (a
	   rename makes the path the core kept stale). */
	CORE_RES_FRESH = 1 << 4,
	/* openat2's scoping, applied by the core's own walk (strict only):
	   ELOOP at any link to follow; ELOOP at an emulated file's
	   /proc/self/fd link; EXDEV when the walk enters or leaves a mount;
	   EXDEV for an absolute path or link or ".." at the start; those
	   stay at the start instead. */
	CORE_RES_NO_SYMLINKS = 1 << 5,
	CORE_RES_NO_MAGICLINKS = 1 << 6,
	CORE_RES_NO_XDEV = 1 << 7,
	CORE_RES_BENEATH = 1 << 8,
	CORE_RES_IN_ROOT = 1 << 9,
	/* A module's directories are searched as the real user and group
	   (access(2) without AT_EACCESS; perm.c). */
	CORE_RES_REAL_IDS = 1 << 11,
};

/* Any of openat2's scoping. */
#define CORE_RES_SCOPED (CORE_RES_NO_SYMLINKS | CORE_RES_NO_MAGICLINKS | CORE_RES_NO_XDEV | \
			 CORE_RES_BENEATH | CORE_RES_IN_ROOT)

/* openat2's RESOLVE_* bits as the flags above. */
unsigned core_res_from_openat2(unsigned long long resolve);

/* Where a resolved path leads. */
enum core_where {
	CORE_UNTOUCHED,	/* it never met a mount: the program's own call
			   goes to the kernel as it is */
	CORE_KERNEL,	/* the kernel's file system, at path (absolute),
			   after the walk passed through a mount */
	CORE_MOUNT,	/* mount `mount`, at path (mount-relative) */
};

/* Room for a mount-relative path: the mount's root ("/") joined to a
   relative path of PATH_MAX - 1 bytes, which the kernel accepts, and its
   NUL.  A descriptor's remembered path (fdtable.c) has the same room, or
   calls by descriptor that name the file by path (f*xattr) would miss the
   longest ones. */
#define CORE_PATH_ROOM (PATH_MAX + 1)

struct core_loc {
	enum core_where where;
	int mount;		/* CORE_MOUNT: index in core_mounts; else -1 */
	bool strict;		/* resolved fully by the core (CORE_RES_STRICT,
				   or a module that does not resolve) */
	bool mountpoint;	/* CORE_RES_NAME named a mount point: path is
				   the directory underneath, the kernel's */
	/* The walk's own lookup of path (getattr, DEFUSE_NOFOLLOW) in this
	   call, so that the call need not ask the module again
	   (core_loc_getattr): set only when st describes path exactly as
	   resolved; whoever changes path or fills a core_loc by hand leaves
	   it false.  Never kept beyond the call, as the kernel uses its
	   lookup's inode only for the call that looked it up. */
	bool attrs;
	struct stat st;
	/* The attributes of the directory the last name was looked up in,
	   when the walk read them for a permission check (perm.c), so that
	   the check of a call that makes or removes the name need not ask
	   again.  As attrs: for this call only, false in a core_loc filled
	   by hand. */
	bool dir_attrs;
	struct stat dir_st;
	char path[CORE_PATH_ROOM];
};

static inline bool core_in_mount(const struct core_loc *l)
{
	return l->where == CORE_MOUNT;
}

/*
 * Resolves upath relative to dfd (AT_FDCWD: the cwd of the call being
 * served, core_cwd_snap).  A missing last component inside a mount is no
 * error (a call may create it).  0, or -errno (-EFAULT for a NULL path).
 */
int core_resolve(long dfd, const char *upath, unsigned flags, struct core_loc *l);

/* The directory part of a call on a name: it must exist and be a
   directory (strict). */
int core_resolve_dir(long dfd, const char *dir, struct core_loc *l);

/* getattr of l's path in its mount (flags: DEFUSE_NOFOLLOW or 0): what the
   walk found if it looked that path up (a symbolic link's attributes
   answer only a call that does not follow it), else the module's answer. */
int core_loc_getattr(const struct core_loc *l, struct stat *st, int flags);

/*
 * A lookup of upath relative to dfd failed with ENOENT or ENOTDIR: may the
 * directory it started from have moved meanwhile?  (A module's directory
 * renamed, or the cwd renamed or removed: the kernel knows.)
 */
enum core_again {
	CORE_AGAIN_NO,		/* no: the error stands */
	CORE_AGAIN,		/* the cwd was renamed (followed): walk again */
	CORE_AGAIN_FRESH,	/* the dirfd was renamed: walk again with
				   CORE_RES_FRESH */
	CORE_AGAIN_CWD_GONE,	/* the cwd was removed */
};
/* One of those, or -ENOMEM when the cwd cannot follow. */
int core_walk_again(long dfd, const char *upath);

/* The last component of a path, for calls on a name: the kind decides
   before the name is looked at, as in the kernel. */
enum core_last { CORE_LAST_NORM, CORE_LAST_DOT, CORE_LAST_DOTDOT, CORE_LAST_ROOT };
/* Its kind; dir gets the part before it ("." if none); *trailing: a slash
   follows it. */
enum core_last core_split_last(const char *path, char dir[PATH_MAX], int *trailing);

/* The rest of path below directory dir, of n bytes, by whole components
   ("" for dir itself), or NULL when path is not there. */
static inline const char *core_path_below(const char *path, const char *dir, size_t n)
{
	if (strncmp(path, dir, n) || (path[n] && path[n] != '/'))
		return NULL;
	return path + n;
}

/* A slash at the end of path (a path the program gave, or NULL). */
static inline bool core_slash_last(const char *path)
{
	size_t n = path ? strlen(path) : 0;

	return n && path[n - 1] == '/';
}

/* Appends "/name" (n bytes) to path (of cap bytes); "/" stays one slash.
   0 or -ENAMETOOLONG. */
int core_path_push(char *path, size_t cap, const char *name, size_t n);

/* The kernel's path of kernel descriptor kfd (its /proc/self/fd link),
   NUL-terminated in out: its length, or -errno. */
long core_fd_kpath(long kfd, char *out, size_t cap);

/* Directory dir of mount m opened through the module (O_PATH), and the
   kernel descriptor it hands out for it (its own, or the one behind its
   handle): 0, the module's -errno, or -EOPNOTSUPP when it hands out none
   (nothing is then held; kfd is -1 whenever nothing is).  Closed, and its
   handle released, by core_kdir_close (once, or again: a no-op). */
struct core_kdir {
	struct defuse_open o;
	long kfd;
};
int core_kdir_open(int m, const char *dir, struct core_kdir *d);
void core_kdir_close(int m, struct core_kdir *d);

/* The kernel's path of directory dir in mount m, as the module hands it
   out (a kernel descriptor, or the one behind its handle), in out: its
   length, or the module's -errno, -EOPNOTSUPP when it hands out none, or
   -EIO when the kernel cannot say. */
long core_dir_kpath(int m, const char *dir, char *out, size_t cap);

/* The kernel's path of mount m's backing root, if the module hands out a
   kernel descriptor of it (or of a handle's: lock_fd); NULL otherwise. */
const char *core_mount_root_kpath(int m);

/* Where kernel descriptor kfd's directory is in mount m now: 0 (out:
   mount-relative), -ENOENT if it was removed, -1 if it cannot be told. */
int core_kfd_path_now(int m, long kfd, char out[PATH_MAX]);
/* The same for a mount's descriptor fd with entry f. */
struct core_fd;
int core_fd_path_now(long fd, const struct core_fd *f, char out[PATH_MAX]);

#endif
