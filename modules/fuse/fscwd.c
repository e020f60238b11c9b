/*
 * The file system's own working directory.  A FUSE daemon has a working
 * directory of its own; bindfs moves into its source directory in init and
 * names every file relative to it ("a/b" for "/a/b").  In process the
 * working directory is the program's, and those names would resolve there.
 * So the path calls of the file system's objects (redirected in their
 * global offset tables, as fdwrap.c does for descriptors) make a relative
 * path absolute from the directory the file system's start-up left it in
 * (start.c notes it), while the module is calling that file system
 * (fscwd_dir, per thread).  Outside such calls, or for a file system that
 * never moved, every call is libc's unchanged.
 */
#define _GNU_SOURCE 1
#include "fscwd.h"
#include "fdwrap.h"

#include <defuse/module.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <utime.h>

__thread const char *fscwd_dir;
__thread int fscwd_umask = -1;
__thread int fscwd_eaccess;

/*
 * The file system's umask.  A FUSE daemon makes its files under its own
 * umask, which many set to 0 in main() (the kernel hands them the caller's
 * umask or a mode masked already), and some make files of their own with
 * modes that count on it: fuse-overlayfs copies a file up to the upper
 * layer with the lower file's mode.  In process the umask is the
 * program's (start.c puts it back), so those modes lost bits (a 0666 file
 * copied up as 0644).  The umask is process-wide: changing it around the
 * file system's calls would change it for the program's other threads.
 * So a file the file system makes gets back, right after, the bits the
 * program's umask took that its own would have left: one fstat and one
 * chmod, only then.  (A directory's inherited set-group-ID bit stays.)
 */
mode_t fscwd_lost(mode_t mode)
{
	if (fscwd_umask < 0 || !defuse_umask)
		return 0;
	return mode & 0777 & defuse_umask() & ~(mode_t)fscwd_umask;
}

void fscwd_mend_at(int dirfd, const char *path, mode_t lost)
{
	struct stat st;
	int e = errno;

	if (fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISLNK(st.st_mode))
		fchmodat(dirfd, path, (st.st_mode & 07777) | lost, 0);
	errno = e;
}

void fscwd_mend_fd(int fd, mode_t lost)
{
	struct stat st;
	int e = errno;

	if (fstat(fd, &st) == 0)
		fchmod(fd, (st.st_mode & 07777) | lost);
	errno = e;
}

/* r, what a call that made path (mkdir, mknod) returned, after its mode
   was mended. */
static int made_at(int r, int dirfd, const char *path, mode_t mode)
{
	mode_t lost = r == 0 ? fscwd_lost(mode) : 0;

	if (lost)
		fscwd_mend_at(dirfd, path, lost);
	return r;
}

const char *fscwd_path(const char *path, char buf[PATH_MAX])
{
	if (!fscwd_dir || !path || !*path || path[0] == '/')
		return path;
	if (snprintf(buf, PATH_MAX, "%s/%s", fscwd_dir, path) >= PATH_MAX)
		return path;	/* too long either way: the call says so */
	return buf;
}

const char *fscwd_at(int dirfd, const char *path, char buf[PATH_MAX])
{
	return dirfd == AT_FDCWD ? fscwd_path(path, buf) : path;
}

#define P(p) fscwd_path(p, (char[PATH_MAX]){ 0 })
#define PAT(d, p) fscwd_at(d, p, (char[PATH_MAX]){ 0 })

static int w_stat(const char *p, struct stat *st) { return stat(P(p), st); }
static int w_lstat(const char *p, struct stat *st) { return lstat(P(p), st); }
static int w_fstatat(int d, const char *p, struct stat *st, int fl)
{
	return fstatat(d, PAT(d, p), st, fl);
}
/* glibc's old stat entry points (programs built before 2.33 import them):
   on x86_64 their struct is struct stat. */
static int w_xstat(int ver, const char *p, struct stat *st)
{
	(void)ver;
	return stat(P(p), st);
}
static int w_lxstat(int ver, const char *p, struct stat *st)
{
	(void)ver;
	return lstat(P(p), st);
}
static int w_fxstatat(int ver, int d, const char *p, struct stat *st, int fl)
{
	(void)ver;
	return fstatat(d, PAT(d, p), st, fl);
}
static int w_mknodat(int d, const char *p, mode_t m, dev_t dev)
{
	const char *q = PAT(d, p);

	return made_at(mknodat(d, q, m, dev), d, q, m);
}
static int w_xmknod(int ver, const char *p, mode_t m, dev_t *dev)
{
	(void)ver;
	return w_mknodat(AT_FDCWD, p, m, *dev);
}
static int w_statx(int d, const char *p, int fl, unsigned int mask, struct statx *st)
{
	return statx(d, PAT(d, p), fl, mask, st);
}
static int w_mkdirat(int d, const char *p, mode_t m)
{
	const char *q = PAT(d, p);

	return made_at(mkdirat(d, q, m), d, q, m);
}
static int w_mkdir(const char *p, mode_t m) { return w_mkdirat(AT_FDCWD, p, m); }
static int w_rmdir(const char *p) { return rmdir(P(p)); }
static int w_unlink(const char *p) { return unlink(P(p)); }
static int w_unlinkat(int d, const char *p, int fl) { return unlinkat(d, PAT(d, p), fl); }
static int w_rename(const char *a, const char *b) { return rename(P(a), P(b)); }
static int w_renameat(int da, const char *a, int db, const char *b)
{
	return renameat(da, PAT(da, a), db, PAT(db, b));
}
static int w_renameat2(int da, const char *a, int db, const char *b, unsigned int fl)
{
	return renameat2(da, PAT(da, a), db, PAT(db, b), fl);
}
static int w_link(const char *a, const char *b) { return link(P(a), P(b)); }
static int w_linkat(int da, const char *a, int db, const char *b, int fl)
{
	return linkat(da, PAT(da, a), db, PAT(db, b), fl);
}
/* a symbolic link's target is its contents, never resolved here */
static int w_symlink(const char *t, const char *p) { return symlink(t, P(p)); }
static int w_symlinkat(const char *t, int d, const char *p)
{
	return symlinkat(t, d, PAT(d, p));
}
static ssize_t w_readlink(const char *p, char *b, size_t n) { return readlink(P(p), b, n); }
static ssize_t w_readlinkat(int d, const char *p, char *b, size_t n)
{
	return readlinkat(d, PAT(d, p), b, n);
}
static int w_chmod(const char *p, mode_t m) { return chmod(P(p), m); }
static int w_fchmodat(int d, const char *p, mode_t m, int fl)
{
	return fchmodat(d, PAT(d, p), m, fl);
}
static int w_chown(const char *p, uid_t u, gid_t g) { return chown(P(p), u, g); }
static int w_lchown(const char *p, uid_t u, gid_t g) { return lchown(P(p), u, g); }
static int w_fchownat(int d, const char *p, uid_t u, gid_t g, int fl)
{
	return fchownat(d, PAT(d, p), u, g, fl);
}
static int w_truncate(const char *p, off_t n) { return truncate(P(p), n); }
static int w_utime(const char *p, const struct utimbuf *t) { return utime(P(p), t); }
static int w_utimes(const char *p, const struct timeval t[2]) { return utimes(P(p), t); }
static int w_lutimes(const char *p, const struct timeval t[2]) { return lutimes(P(p), t); }
static int w_utimensat(int d, const char *p, const struct timespec t[2], int fl)
{
	return utimensat(d, PAT(d, p), t, fl);
}
static int w_access(const char *p, int m)
{
	return fscwd_eaccess ? faccessat(AT_FDCWD, P(p), m, AT_EACCESS) : access(P(p), m);
}
static int w_euidaccess(const char *p, int m) { return euidaccess(P(p), m); }
static int w_faccessat(int d, const char *p, int m, int fl)
{
	return faccessat(d, PAT(d, p), m, fl | (fscwd_eaccess ? AT_EACCESS : 0));
}
static int w_mknod(const char *p, mode_t m, dev_t dev) { return w_mknodat(AT_FDCWD, p, m, dev); }
/* mkfifo is mknod of a FIFO, in glibc too */
static int w_mkfifoat(int d, const char *p, mode_t m)
{
	return w_mknodat(d, p, m | S_IFIFO, 0);
}
static int w_mkfifo(const char *p, mode_t m) { return w_mkfifoat(AT_FDCWD, p, m); }
static int w_statvfs(const char *p, struct statvfs *st) { return statvfs(P(p), st); }
static int w_statfs(const char *p, struct statfs *st) { return statfs(P(p), st); }
static long w_pathconf(const char *p, int n) { return pathconf(P(p), n); }
static int w_setxattr(const char *p, const char *n, const void *v, size_t s, int fl)
{
	return setxattr(P(p), n, v, s, fl);
}
static int w_lsetxattr(const char *p, const char *n, const void *v, size_t s, int fl)
{
	return lsetxattr(P(p), n, v, s, fl);
}
static ssize_t w_getxattr(const char *p, const char *n, void *v, size_t s)
{
	return getxattr(P(p), n, v, s);
}
static ssize_t w_lgetxattr(const char *p, const char *n, void *v, size_t s)
{
	return lgetxattr(P(p), n, v, s);
}
static ssize_t w_listxattr(const char *p, char *l, size_t s) { return listxattr(P(p), l, s); }
static ssize_t w_llistxattr(const char *p, char *l, size_t s) { return llistxattr(P(p), l, s); }
static int w_removexattr(const char *p, const char *n) { return removexattr(P(p), n); }
static int w_lremovexattr(const char *p, const char *n) { return lremovexattr(P(p), n); }

static const struct fdwrap_entry wraps[] = {
	{ "stat", (void *)w_stat }, { "stat64", (void *)w_stat },
	{ "lstat", (void *)w_lstat }, { "lstat64", (void *)w_lstat },
	{ "fstatat", (void *)w_fstatat }, { "fstatat64", (void *)w_fstatat },
	{ "__xstat", (void *)w_xstat }, { "__xstat64", (void *)w_xstat },
	{ "__lxstat", (void *)w_lxstat }, { "__lxstat64", (void *)w_lxstat },
	{ "__fxstatat", (void *)w_fxstatat }, { "__fxstatat64", (void *)w_fxstatat },
	{ "__xmknod", (void *)w_xmknod }, { "statx", (void *)w_statx },
	{ "mkdir", (void *)w_mkdir }, { "mkdirat", (void *)w_mkdirat },
	{ "rmdir", (void *)w_rmdir }, { "unlink", (void *)w_unlink },
	{ "unlinkat", (void *)w_unlinkat }, { "rename", (void *)w_rename },
	{ "renameat", (void *)w_renameat }, { "renameat2", (void *)w_renameat2 },
	{ "link", (void *)w_link }, { "linkat", (void *)w_linkat },
	{ "symlink", (void *)w_symlink }, { "symlinkat", (void *)w_symlinkat },
	{ "readlink", (void *)w_readlink }, { "readlinkat", (void *)w_readlinkat },
	{ "chmod", (void *)w_chmod }, { "fchmodat", (void *)w_fchmodat },
	{ "chown", (void *)w_chown }, { "lchown", (void *)w_lchown },
	{ "fchownat", (void *)w_fchownat },
	{ "truncate", (void *)w_truncate }, { "truncate64", (void *)w_truncate },
	{ "utime", (void *)w_utime }, { "utimes", (void *)w_utimes },
	{ "lutimes", (void *)w_lutimes }, { "utimensat", (void *)w_utimensat },
	{ "access", (void *)w_access }, { "euidaccess", (void *)w_euidaccess },
	{ "eaccess", (void *)w_euidaccess }, { "faccessat", (void *)w_faccessat },
	{ "mknod", (void *)w_mknod }, { "mknodat", (void *)w_mknodat },
	{ "mkfifo", (void *)w_mkfifo }, { "mkfifoat", (void *)w_mkfifoat },
	{ "statvfs", (void *)w_statvfs }, { "statvfs64", (void *)w_statvfs },
	{ "statfs", (void *)w_statfs }, { "statfs64", (void *)w_statfs },
	{ "pathconf", (void *)w_pathconf },
	{ "setxattr", (void *)w_setxattr }, { "lsetxattr", (void *)w_lsetxattr },
	{ "getxattr", (void *)w_getxattr }, { "lgetxattr", (void *)w_lgetxattr },
	{ "listxattr", (void *)w_listxattr }, { "llistxattr", (void *)w_llistxattr },
	{ "removexattr", (void *)w_removexattr }, { "lremovexattr", (void *)w_lremovexattr },
};

void *fscwd_wrapper_for(const char *name)
{
	return fdwrap_find(wraps, sizeof(wraps) / sizeof(wraps[0]), name);
}
